#include "websocketclient.h"

#include "logging.h"

#include <QDateTime>
#include <QPointer>
#include <QRandomGenerator>
#include <QSslSocket>
#include <QTcpSocket>

#include <cstring>

namespace iterdeck::kube {

namespace {

// How much is taken from the socket per read; the parser copies payloads out of it.
constexpr qsizetype ReadChunk = 256 * 1024;
constexpr int CloseTimeoutMs = 5000;

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

bool isSafeHeaderValue(QByteArrayView v)
{
    return !v.contains('\r') && !v.contains('\n') && !v.contains('\0');
}

} // namespace

WebSocketClient::WebSocketClient(QObject *parent)
    : QObject(parent)
{
    m_handshakeTimer.setSingleShot(true);
    m_closeTimer.setSingleShot(true);
    connect(&m_handshakeTimer, &QTimer::timeout, this, &WebSocketClient::onHandshakeTimeout);
    connect(&m_closeTimer, &QTimer::timeout, this, [this] {
        // The server did not answer our close frame (or did not close the connection after it).
        finish({});
    });
    connect(&m_pingTimer, &QTimer::timeout, this, &WebSocketClient::onPingTimer);
}

WebSocketClient::~WebSocketClient()
{
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void WebSocketClient::open(const Transport &transport, const QByteArray &target, const WebSocketOptions &options)
{
    Q_ASSERT(m_state == State::Idle);
    m_transport = transport;
    m_options = options;
    m_target = target;
    m_parser = ws::FrameParser(options.maxMessageSize);
    m_state = State::Connecting;
    m_tls = transport.isHttps();
    const QString host = transport.server.host();
    const quint16 port = quint16(transport.server.port(m_tls ? 443 : 80));
    m_peer = (host.contains(QLatin1Char(':')) ? QLatin1Char('[') + host + QLatin1Char(']') : host) + QLatin1Char(':')
        + QString::number(port);

    QByteArray nonce(16, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(nonce.data()), 4);
    m_key = nonce.toBase64();

    if (m_tls) {
        auto *ssl = new QSslSocket(this);
        QSslConfiguration config = transport.ssl;
        // The upgrade is an HTTP/1.1 request whatever the REST client negotiates.
        config.setAllowedNextProtocols({QByteArray(QSslConfiguration::NextProtocolHttp1_1)});
        ssl->setSslConfiguration(config);
        if (!transport.peerVerifyName.isEmpty())
            ssl->setPeerVerifyName(transport.peerVerifyName);
        connect(ssl, &QSslSocket::encrypted, this, &WebSocketClient::onConnected);
        connect(ssl, &QSslSocket::sslErrors, this, [this](const QList<QSslError> &errors) { m_sslErrors = errors; });
        connect(ssl, &QSslSocket::encryptedBytesWritten, this, [this] { Q_EMIT bytesWritten(); });
        m_socket = ssl;
    } else {
        m_socket = new QTcpSocket(this);
        connect(m_socket, &QAbstractSocket::connected, this, &WebSocketClient::onConnected);
    }
    m_socket->setProxy(transport.proxy);
    connect(m_socket, &QAbstractSocket::readyRead, this, &WebSocketClient::onReadyRead);
    connect(m_socket, &QAbstractSocket::disconnected, this, &WebSocketClient::onDisconnected);
    connect(m_socket, &QAbstractSocket::errorOccurred, this, &WebSocketClient::onSocketError);
    connect(m_socket, &QAbstractSocket::bytesWritten, this, [this] { Q_EMIT bytesWritten(); });

    if (options.handshakeTimeoutMs > 0)
        m_handshakeTimer.start(options.handshakeTimeoutMs);
    qCDebug(lcKube) << "WebSocket: connecting to" << m_peer << "for" << target;
    if (m_tls)
        static_cast<QSslSocket *>(m_socket)->connectToHostEncrypted(host, port);
    else
        m_socket->connectToHost(host, port);
}

void WebSocketClient::onConnected()
{
    if (m_state != State::Connecting)
        return;
    m_transportReady = true;
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);

    QByteArray path = m_transport.server.path(QUrl::FullyEncoded).toUtf8();
    while (path.endsWith('/'))
        path.chop(1);
    const QString host = m_transport.server.host();
    const int port = m_transport.server.port();
    QByteArray hostHeader = (host.contains(QLatin1Char(':')) ? '[' + host.toUtf8() + ']' : host.toUtf8());
    if (port > 0)
        hostHeader += ':' + QByteArray::number(port);

    QByteArray request;
    request.reserve(1024);
    request += "GET " + path + m_target + " HTTP/1.1\r\n";
    request += "Host: " + hostHeader + "\r\n";
    request += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    request += "Sec-WebSocket-Key: " + m_key + "\r\nSec-WebSocket-Version: 13\r\n";
    if (!m_options.protocols.isEmpty())
        request += "Sec-WebSocket-Protocol: " + m_options.protocols.join(QStringLiteral(", ")).toUtf8() + "\r\n";
    for (const auto &[name, value] : std::as_const(m_transport.headers)) {
        if (!isSafeHeaderValue(name) || !isSafeHeaderValue(value) || name.contains(':')) {
            qCWarning(lcKube) << "WebSocket: dropped a header with a line break or colon in its name:" << name;
            continue;
        }
        request += name + ": " + value + "\r\n";
    }
    request += "\r\n";
    m_socket->write(request);
    m_lastSendMs = nowMs();
}

void WebSocketClient::onReadyRead()
{
    if (m_state == State::Connecting)
        readHandshake();
    else if (m_state == State::Open || m_state == State::Closing)
        processIncoming();
}

void WebSocketClient::handshakeFailed(const KubeError &error)
{
    qCDebug(lcKube) << "WebSocket: upgrade at" << m_peer << "failed:" << error.message;
    finish(error);
}

bool WebSocketClient::validateUpgrade(const ws::HttpResponseHead &head, QString *why)
{
    if (!head.hasToken("upgrade", "websocket")) {
        *why = QStringLiteral("the 101 answer has no \"Upgrade: websocket\" header");
        return false;
    }
    if (!head.hasToken("connection", "upgrade")) {
        *why = QStringLiteral("the 101 answer has no \"Connection: Upgrade\" header");
        return false;
    }
    if (head.header("sec-websocket-accept") != ws::acceptKeyFor(m_key)) {
        *why = QStringLiteral("the 101 answer's Sec-WebSocket-Accept does not match our key");
        return false;
    }
    if (!head.header("sec-websocket-extensions").isEmpty()) {
        *why = QStringLiteral("the server chose WebSocket extensions we did not offer: %1")
                   .arg(QString::fromLatin1(head.header("sec-websocket-extensions")));
        return false;
    }
    const QString chosen = QString::fromLatin1(head.header("sec-websocket-protocol"));
    if (!m_options.protocols.isEmpty()) {
        if (chosen.isEmpty()) {
            *why = QStringLiteral("the server chose no subprotocol (offered: %1)")
                       .arg(m_options.protocols.join(QStringLiteral(", ")));
            return false;
        }
        if (!m_options.protocols.contains(chosen)) {
            *why = QStringLiteral("the server chose the subprotocol \"%1\", which was not offered (offered: %2)")
                       .arg(chosen, m_options.protocols.join(QStringLiteral(", ")));
            return false;
        }
    } else if (!chosen.isEmpty()) {
        *why = QStringLiteral("the server chose the subprotocol \"%1\", but none was offered").arg(chosen);
        return false;
    }
    m_protocol = chosen;
    return true;
}

void WebSocketClient::readHandshake()
{
    const QByteArray data = m_socket->readAll();
    if (m_failedBody) {
        m_failedBody->append(data);
        if (m_failedBody->isComplete() || m_failedBody->failed())
            handshakeFailed(KubeError::fromHttp(m_failedHead->status, m_failedBody->body()));
        return;
    }
    m_handshakeBuffer += data;
    ws::HttpResponseHead head;
    qsizetype headSize = 0;
    ws::HttpResponseHeadParser parser;
    switch (parser.parse(m_handshakeBuffer, &head, &headSize)) {
    case ws::HttpResponseHeadParser::Result::NeedMore:
        return;
    case ws::HttpResponseHeadParser::Result::Error:
        return handshakeFailed(KubeError::make(
            KubeError::Kind::Protocol,
            QStringLiteral("invalid answer to the WebSocket upgrade from %1: %2").arg(m_peer, parser.errorString())));
    case ws::HttpResponseHeadParser::Result::Done:
        break;
    }
    const QByteArray rest = m_handshakeBuffer.sliced(headSize);
    m_handshakeBuffer.clear();
    if (head.status != 101) {
        if (head.status < 400) {
            // Not an error the API server would send; no body needed to explain it.
            return handshakeFailed(
                KubeError::make(KubeError::Kind::Protocol,
                                QStringLiteral("the server at %1 answered the WebSocket upgrade with HTTP "
                                               "%2 %3 instead of 101 Switching Protocols")
                                    .arg(m_peer)
                                    .arg(head.status)
                                    .arg(QString::fromLatin1(head.reasonPhrase))));
        }
        m_failedBody = std::make_unique<ws::HttpBodyReader>(head);
        m_failedHead = std::move(head);
        m_failedBody->append(rest);
        if (m_failedBody->isComplete() || m_failedBody->failed())
            handshakeFailed(KubeError::fromHttp(m_failedHead->status, m_failedBody->body()));
        return;
    }
    QString why;
    if (!validateUpgrade(head, &why)) {
        return handshakeFailed(
            KubeError::make(KubeError::Kind::Protocol,
                            QStringLiteral("invalid answer to the WebSocket upgrade from %1: %2").arg(m_peer, why)));
    }
    m_handshakeTimer.stop();
    m_state = State::Open;
    m_chunk = QByteArray(std::max(ReadChunk, rest.size()), Qt::Uninitialized);
    std::memcpy(m_chunk.data(), rest.constData(), size_t(rest.size()));
    m_chunkPos = 0;
    m_chunkLength = rest.size();
    // From now on the socket holds at most this much unread: beyond it TCP pushes back.
    m_socket->setReadBufferSize(m_options.socketReadBufferSize);
    m_lastReceiveMs = nowMs();
    if (m_options.pingIntervalMs > 0)
        m_pingTimer.start(std::min(m_options.pingIntervalMs, 1000));
    qCDebug(lcKube) << "WebSocket: open to" << m_peer << "with" << m_protocol;
    QPointer<WebSocketClient> guard(this);
    Q_EMIT opened();
    if (guard && m_state == State::Open)
        processIncoming();
}

void WebSocketClient::processIncoming()
{
    if (m_processing)
        return;
    m_processing = true;
    QPointer<WebSocketClient> guard(this);
    while (!m_paused && (m_state == State::Open || m_state == State::Closing) && !m_closeReceived) {
        if (m_chunkPos >= m_chunkLength) {
            if (m_chunk.size() < ReadChunk)
                m_chunk.resize(ReadChunk);
            const qint64 n = m_socket->read(m_chunk.data(), ReadChunk);
            m_chunkPos = 0;
            m_chunkLength = n > 0 ? qsizetype(n) : 0;
            if (n <= 0)
                break;
            m_lastReceiveMs = nowMs();
            m_pingSentMs = -1;
        }
        const qsizetype used = m_parser.feed(m_chunk.constData() + m_chunkPos, m_chunkLength - m_chunkPos);
        m_chunkPos += used;
        if (m_parser.hasError()) {
            protocolFailure(m_parser.errorCloseCode(), m_parser.errorString());
            break;
        }
        if (m_parser.hasMessage() && !handleMessage(m_parser.takeMessage()))
            return; // destroyed by a slot
    }
    if (!guard)
        return;
    m_processing = false;
    maybeFinishAfterDisconnect();
}

bool WebSocketClient::handleMessage(ws::Message message)
{
    switch (message.opcode) {
    case ws::Opcode::Text:
    case ws::Opcode::Binary: {
        QPointer<WebSocketClient> guard(this);
        Q_EMIT messageReceived(message.payload, message.opcode == ws::Opcode::Text);
        return !guard.isNull();
    }
    case ws::Opcode::Ping:
        if (!m_closeSent)
            sendControl(ws::Opcode::Pong, message.payload);
        return true;
    case ws::Opcode::Pong:
        return true;
    case ws::Opcode::Close: {
        quint16 code = 0;
        QString reason, error;
        if (!ws::parseClosePayload(message.payload, &code, &reason, &error)) {
            protocolFailure(ws::CloseProtocolError, error);
            return true;
        }
        m_closeReceived = true;
        m_closeCode = code;
        m_closeReason = reason;
        if (!m_closeSent) {
            // Echo the code (RFC 6455 §5.5.1); a close without a code is answered without one.
            QByteArray echo;
            if (code != ws::CloseNoStatus)
                echo = QByteArray({char(code >> 8), char(code & 0xff)});
            sendControl(ws::Opcode::Close, echo);
            m_closeSent = true;
        }
        m_state = State::Closing;
        // The server closes the TCP connection now; disconnecting from our side (after the echo
        // is flushed) covers one that does not.
        m_closeTimer.start(CloseTimeoutMs);
        m_socket->disconnectFromHost();
        return true;
    }
    case ws::Opcode::Continuation:
        break;
    }
    return true;
}

void WebSocketClient::sendControl(ws::Opcode opcode, QByteArrayView payload)
{
    unsigned char key[4];
    const quint32 k = QRandomGenerator::global()->generate();
    std::memcpy(key, &k, 4);
    QByteArray frame;
    frame.reserve(ws::frameSize(payload.size()));
    ws::appendFrame(frame, opcode, {}, payload, key);
    m_socket->write(frame);
    m_lastSendMs = nowMs();
}

bool WebSocketClient::sendBinary(QByteArrayView prefix, QByteArrayView payload)
{
    if (m_state != State::Open || m_closeSent)
        return false;
    unsigned char key[4];
    const quint32 k = QRandomGenerator::global()->generate();
    std::memcpy(key, &k, 4);
    QByteArray frame;
    frame.reserve(ws::frameSize(prefix.size() + payload.size()));
    ws::appendFrame(frame, ws::Opcode::Binary, prefix, payload, key);
    m_socket->write(frame);
    m_lastSendMs = nowMs();
    return true;
}

qint64 WebSocketClient::bytesToWrite() const
{
    if (!m_socket)
        return 0;
    qint64 n = m_socket->bytesToWrite();
    if (m_tls)
        n += static_cast<QSslSocket *>(m_socket)->encryptedBytesToWrite();
    return n;
}

void WebSocketClient::setReadPaused(bool paused)
{
    if (m_paused == paused)
        return;
    m_paused = paused;
    if (paused || m_resumeScheduled)
        return;
    // Later, not from inside the caller (often a slot of messageReceived or a read call).
    m_resumeScheduled = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_resumeScheduled = false;
            m_lastReceiveMs = nowMs(); // time spent paused does not count against the server
            m_pingSentMs = -1;
            if (!m_paused && (m_state == State::Open || m_state == State::Closing))
                processIncoming();
        },
        Qt::QueuedConnection);
}

void WebSocketClient::close(quint16 code, const QByteArray &reason)
{
    if (m_state == State::Connecting || m_state == State::Idle) {
        abort();
        return;
    }
    if (m_state != State::Open || m_closeSent)
        return;
    QByteArray payload({char(code >> 8), char(code & 0xff)});
    payload += reason.left(123);
    sendControl(ws::Opcode::Close, payload);
    m_closeSent = true;
    m_state = State::Closing;
    m_closeTimer.start(CloseTimeoutMs);
}

void WebSocketClient::abort()
{
    m_handshakeTimer.stop();
    m_closeTimer.stop();
    m_pingTimer.stop();
    if (m_state == State::Closed || m_state == State::Idle) {
        m_state = State::Closed;
        return;
    }
    m_state = State::Closed;
    m_error = KubeError::make(KubeError::Kind::Cancelled, QStringLiteral("cancelled"));
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void WebSocketClient::protocolFailure(quint16 code, const QString &message)
{
    if (m_state == State::Closed)
        return;
    qCWarning(lcKube) << "WebSocket:" << m_peer << "broke the protocol:" << message;
    if (!m_closeSent && m_socket->state() == QAbstractSocket::ConnectedState) {
        sendControl(ws::Opcode::Close, QByteArray({char(code >> 8), char(code & 0xff)}));
        m_closeSent = true;
        m_socket->flush();
    }
    finish(KubeError::make(KubeError::Kind::Protocol,
                           QStringLiteral("the WebSocket stream from %1 broke the protocol: %2").arg(m_peer, message)));
}

void WebSocketClient::onDisconnected()
{
    qCDebug(lcKube) << "WebSocket:" << m_peer << "disconnected with" << m_socket->bytesAvailable()
                    << "bytes unread, paused" << m_paused << "close received" << m_closeReceived;
    m_socketGone = true;
    switch (m_state) {
    case State::Connecting:
        if (m_failedBody) {
            handshakeFailed(KubeError::fromHttp(m_failedHead->status, m_failedBody->body()));
        } else if (!m_handshakeBuffer.isEmpty()) {
            handshakeFailed(KubeError::make(
                KubeError::Kind::Protocol,
                QStringLiteral("invalid answer to the WebSocket upgrade from %1: the connection closed after an "
                               "incomplete HTTP header")
                    .arg(m_peer)));
        } else {
            handshakeFailed(KubeError::make(
                KubeError::Kind::Network,
                QStringLiteral("%1 closed the connection without answering the WebSocket upgrade").arg(m_peer)));
        }
        return;
    case State::Open:
    case State::Closing:
        // Frames may still wait in the socket's buffer (held back while paused).
        if (!m_paused)
            processIncoming();
        else
            maybeFinishAfterDisconnect();
        return;
    case State::Idle:
    case State::Closed:
        return;
    }
}

void WebSocketClient::maybeFinishAfterDisconnect()
{
    if (!m_socketGone || m_state == State::Closed || m_processing)
        return;
    const bool drained = m_closeReceived || (m_chunkPos >= m_chunkLength && m_socket->bytesAvailable() == 0);
    if (!drained)
        return;
    if (m_closeReceived || m_closeSent) {
        finish({});
        return;
    }
    finish(KubeError::make(KubeError::Kind::Network,
                           QStringLiteral("the connection to %1 ended without a WebSocket close frame").arg(m_peer)));
}

void WebSocketClient::onSocketError(QAbstractSocket::SocketError error)
{
    if (m_state == State::Closed || m_state == State::Idle)
        return;
    qCDebug(lcKube) << "WebSocket:" << m_peer << "socket error" << error << m_socket->errorString();
    if (error == QAbstractSocket::RemoteHostClosedError)
        return; // disconnected() follows and decides
    const bool tlsError = m_tls
        && (error == QAbstractSocket::SslHandshakeFailedError || error == QAbstractSocket::SslInternalError
            || error == QAbstractSocket::SslInvalidUserDataError || !m_sslErrors.isEmpty());
    if (tlsError) {
        QStringList why;
        for (const QSslError &e : std::as_const(m_sslErrors))
            why << e.errorString();
        if (why.isEmpty())
            why << m_socket->errorString();
        finish(KubeError::make(
            KubeError::Kind::Tls,
            QStringLiteral("TLS handshake with %1 failed: %2").arg(m_peer, why.join(QStringLiteral("; ")))));
        return;
    }
    if (m_state == State::Connecting && !m_transportReady) {
        finish(KubeError::make(KubeError::Kind::Network,
                               QStringLiteral("cannot connect to %1: %2").arg(m_peer, m_socket->errorString())));
        return;
    }
    if (m_closeReceived) {
        finish({});
        return;
    }
    finish(KubeError::make(KubeError::Kind::Network,
                           QStringLiteral("the connection to %1 failed: %2").arg(m_peer, m_socket->errorString())));
}

void WebSocketClient::onHandshakeTimeout()
{
    if (m_state != State::Connecting)
        return;
    const int ms = m_options.handshakeTimeoutMs;
    QString what;
    if (m_transportReady)
        what = QStringLiteral("no answer to the WebSocket upgrade from %1 within %2 ms").arg(m_peer).arg(ms);
    else if (m_socket->state() == QAbstractSocket::ConnectedState)
        what = QStringLiteral("the TLS handshake with %1 did not complete within %2 ms").arg(m_peer).arg(ms);
    else
        what = QStringLiteral("connecting to %1 timed out after %2 ms").arg(m_peer).arg(ms);
    finish(KubeError::make(KubeError::Kind::Timeout, what));
}

void WebSocketClient::onPingTimer()
{
    if (m_state != State::Open || m_closeSent)
        return;
    const qint64 now = nowMs();
    if (m_paused) {
        m_lastReceiveMs = now;
        m_pingSentMs = -1;
        return;
    }
    if (m_pingSentMs >= 0 && now - m_lastReceiveMs > m_options.pongTimeoutMs) {
        finish(KubeError::make(
            KubeError::Kind::Timeout,
            QStringLiteral("%1 sent nothing (not even a pong) for %2 ms").arg(m_peer).arg(m_options.pongTimeoutMs)));
        return;
    }
    if (now - m_lastSendMs >= m_options.pingIntervalMs && m_pingSentMs < 0) {
        sendControl(ws::Opcode::Ping, {});
        m_pingSentMs = now;
    }
}

void WebSocketClient::finish(const KubeError &error)
{
    if (m_state == State::Closed)
        return;
    m_state = State::Closed;
    m_error = error;
    m_handshakeTimer.stop();
    m_closeTimer.stop();
    m_pingTimer.stop();
    if (m_socket) {
        m_socket->disconnect(this);
        if (m_socket->state() != QAbstractSocket::UnconnectedState) {
            if (error.isError())
                m_socket->abort();
            else
                m_socket->disconnectFromHost();
        }
    }
    Q_EMIT closed();
}

} // namespace iterdeck::kube
