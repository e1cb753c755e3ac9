#pragma once
// A WebSocket client (RFC 6455) for the Kubernetes streaming endpoints, over QTcpSocket or
// QSslSocket with the Transport's TLS settings, proxy and headers.
//
// Why not QWebSocket: it drains its socket whatever the reader does, so a slow consumer cannot
// push back and memory grows without bound. Here the owner pauses reading (setReadPaused) while
// its own unread data is over a limit; the socket's read buffer is bounded too, so TCP
// back-pressure reaches the server. In the other direction bytesToWrite() and bytesWritten()
// let the owner pace what it sends.
#include "kubeerror.h"
#include "transport.h"
#include "websocketprotocol.h"

#include <QAbstractSocket>
#include <QObject>
#include <QSslError>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <optional>

namespace iterdeck::kube {

struct WebSocketOptions
{
    QStringList protocols; // Sec-WebSocket-Protocol in preference order; the 101 must pick one of them
    int handshakeTimeoutMs = 30000; // connecting, TLS and the 101 answer
    qint64 maxMessageSize = 16 * 1024 * 1024; // larger messages from the server are a protocol error
    qint64 socketReadBufferSize = 1024 * 1024; // what the socket takes from the kernel unread
    // Sends a ping after this long without sending anything (keeps idle streams alive through
    // servers' idle timeouts); 0 = never. A connection that is not paused and receives nothing
    // (not even a pong) for pongTimeoutMs after a ping ends with a Timeout error.
    int pingIntervalMs = 30000;
    int pongTimeoutMs = 60000;
};

class WebSocketClient : public QObject
{
    Q_OBJECT
public:
    enum class State { Idle, Connecting, Open, Closing, Closed };
    Q_ENUM(State)

    explicit WebSocketClient(QObject *parent = nullptr);
    ~WebSocketClient() override;

    // GET `target` (an absolute API path with its percent-encoded query; the server URL's own
    // path, if any, is put in front). opened() or closed() with an error follows.
    void open(const Transport &transport, const QByteArray &target, const WebSocketOptions &options = {});
    State state() const { return m_state; }
    QString protocol() const { return m_protocol; } // the subprotocol the server chose
    QString peer() const { return m_peer; } // host:port, for messages

    // Sends one binary message whose payload is `prefix` followed by `payload` (masked into a
    // single frame; no joined copy). False unless Open.
    bool sendBinary(QByteArrayView prefix, QByteArrayView payload = {});
    // Framed bytes still in the socket's buffers (plain and, with TLS, encrypted).
    qint64 bytesToWrite() const;

    // While paused no data is taken from the socket (at most one message is delivered after
    // the call that paused it returns to the event loop: none, messages are delivered one by one
    // and the pause takes effect before the next). Resuming delivers what was held, later.
    void setReadPaused(bool paused);
    bool isReadPaused() const { return m_paused; }

    // Sends a close frame after everything queued; closed() follows the server's answer, or
    // after 5 s without one.
    void close(quint16 code = ws::CloseNormal, const QByteArray &reason = {});
    // Drops the connection now. closed() is not emitted.
    void abort();

    // Why the connection ended: kind None after a close frame from the server (see closeCode).
    const KubeError &error() const { return m_error; }
    // The code of the server's close frame (ws::CloseNoStatus when it had none), -1 when the
    // connection ended without one.
    int closeCode() const { return m_closeCode; }
    QString closeReason() const { return m_closeReason; }

Q_SIGNALS:
    void opened();
    void messageReceived(const QByteArray &payload, bool text);
    void bytesWritten(); // the socket's buffers shrank
    void closed(); // exactly once per open(): a failed upgrade, the close handshake, or a broken connection

private:
    void onConnected();
    void onReadyRead();
    void onDisconnected();
    void onSocketError(QAbstractSocket::SocketError error);
    void onHandshakeTimeout();
    void readHandshake();
    void handshakeFailed(const KubeError &error);
    bool validateUpgrade(const ws::HttpResponseHead &head, QString *why);
    void processIncoming();
    bool handleMessage(ws::Message message); // false when the client was destroyed
    void sendControl(ws::Opcode opcode, QByteArrayView payload);
    void protocolFailure(quint16 code, const QString &message);
    void finish(const KubeError &error);
    void maybeFinishAfterDisconnect();
    void onPingTimer();

    Transport m_transport;
    WebSocketOptions m_options;
    QByteArray m_target;
    QByteArray m_key;
    QString m_peer;
    QString m_protocol;
    State m_state = State::Idle;
    QAbstractSocket *m_socket = nullptr;
    bool m_tls = false;
    bool m_transportReady = false; // TCP (and TLS) up, request sent
    QList<QSslError> m_sslErrors;
    QTimer m_handshakeTimer;
    QTimer m_closeTimer;
    QTimer m_pingTimer;
    qint64 m_lastReceiveMs = 0;
    qint64 m_lastSendMs = 0;
    qint64 m_pingSentMs = -1;

    // Handshake
    QByteArray m_handshakeBuffer;
    std::optional<ws::HttpResponseHead> m_failedHead; // a non-101 answer whose body is being read
    std::unique_ptr<ws::HttpBodyReader> m_failedBody;

    // Frames
    ws::FrameParser m_parser;
    QByteArray m_chunk; // bytes taken from the socket, fed to the parser from m_chunkPos
    qsizetype m_chunkPos = 0;
    qsizetype m_chunkLength = 0;
    bool m_paused = false;
    bool m_processing = false;
    bool m_resumeScheduled = false;
    bool m_socketGone = false;
    bool m_closeSent = false;
    bool m_closeReceived = false;

    KubeError m_error;
    int m_closeCode = -1;
    QString m_closeReason;
};

} // namespace iterdeck::kube
