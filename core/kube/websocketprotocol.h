#pragma once
// The client side of RFC 6455 without sockets: the HTTP answer to the upgrade request, a
// parser for the server's frames and the encoder for our (masked) frames. Everything works on
// byte slices of any size, so tests and the fuzz target drive it directly; WebSocketClient
// puts it on a socket.
#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QPair>
#include <QString>

namespace iterdeck::kube::ws {

enum class Opcode : quint8 { Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA };

// Close codes (RFC 6455 §7.4.1).
enum CloseCode : quint16 {
    CloseNormal = 1000,
    CloseGoingAway = 1001,
    CloseProtocolError = 1002,
    CloseNoStatus = 1005, // never sent: the close frame had no code
    CloseAbnormal = 1006, // never sent: the connection ended without a close frame
    CloseTooBig = 1009,
};

// base64(SHA-1(key + the RFC's GUID)): what the server must send in Sec-WebSocket-Accept.
QByteArray acceptKeyFor(const QByteArray &key);

// ---- the answer to the upgrade request --------------------------------------------------

struct HttpResponseHead
{
    int status = 0;
    QByteArray reasonPhrase;
    QList<QPair<QByteArray, QByteArray>> headers; // names lower-case, values trimmed, in order
    // All values of a header joined with ", " (RFC 9110 §5.3), empty when absent.
    QByteArray header(QByteArrayView lowerName) const;
    bool hasToken(QByteArrayView lowerName, QByteArrayView token) const; // Connection: keep-alive, Upgrade
};

// Reads the status line and header fields of an HTTP/1.x response from the start of `data`.
class HttpResponseHeadParser
{
public:
    enum class Result { NeedMore, Done, Error };
    static constexpr qsizetype MaxHeadSize = 64 * 1024;

    // `data` is everything received so far. On Done, *headSize is the length of the head
    // (through the empty line); the rest of `data` belongs to the body or the frames.
    Result parse(QByteArrayView data, HttpResponseHead *head, qsizetype *headSize);
    QString errorString() const { return m_error; }

private:
    QString m_error;
};

// The body of a non-101 answer: Content-Length, chunked, or up to the connection's end;
// at most `limit` bytes are kept.
class HttpBodyReader
{
public:
    explicit HttpBodyReader(const HttpResponseHead &head, qsizetype limit = 1024 * 1024);
    void append(QByteArrayView data);
    bool isComplete() const; // by its framing (a body delimited by the connection's end never is)
    QByteArray body() const; // decoded so far
    bool failed() const { return m_failed; } // malformed chunked framing

private:
    void decodeChunks();
    enum class Mode { Length, Chunked, UntilClose } m_mode = Mode::UntilClose;
    qsizetype m_length = 0;
    qsizetype m_limit;
    QByteArray m_raw; // chunked: undecoded input
    QByteArray m_body;
    bool m_complete = false;
    bool m_failed = false;
};

// ---- frames from the server ---------------------------------------------------------------

struct Message
{
    Opcode opcode = Opcode::Binary; // Text, Binary (whole messages) or Close, Ping, Pong
    QByteArray payload;
};

class FrameParser
{
public:
    explicit FrameParser(qint64 maxMessageSize = 16 * 1024 * 1024);

    // Consumes bytes up to the end of the next complete message (data or control), or all of
    // them; returns how many. After it: hasMessage(), hasError(), or more input is needed.
    qsizetype feed(const char *data, qsizetype size);
    bool hasMessage() const { return m_ready; }
    Message takeMessage();
    bool hasError() const { return !m_error.isEmpty(); }
    QString errorString() const { return m_error; }
    quint16 errorCloseCode() const { return m_errorCode; } // what to send in our close frame
    // Payload bytes held for an unfinished message (the fragments so far and the current frame).
    qint64 pendingBytes() const { return m_message.size() + m_control.size(); }
    qint64 maxMessageSize() const { return m_maxMessageSize; }

private:
    bool fail(quint16 code, const QString &message); // returns false
    bool headerComplete();
    void frameDone();

    qint64 m_maxMessageSize;
    unsigned char m_head[14] = {};
    int m_headLength = 0;
    bool m_inPayload = false;
    quint64 m_remaining = 0; // payload bytes of the current frame not yet read
    Opcode m_frameOpcode = Opcode::Binary;
    bool m_fin = false;
    bool m_inMessage = false; // between a non-final Text/Binary frame and its final continuation
    Opcode m_messageOpcode = Opcode::Binary;
    QByteArray m_message; // data message being assembled
    QByteArray m_control; // control frame payload being read
    bool m_ready = false;
    Message m_out;
    QString m_error;
    quint16 m_errorCode = 0;
};

// A Close frame's payload: the code (CloseNoStatus when empty) and reason. False with *error
// set for a 1-byte payload, a code that must not be sent, or a reason that is not UTF-8.
bool parseClosePayload(QByteArrayView payload, quint16 *code, QString *reason, QString *error);

// ---- frames to the server ---------------------------------------------------------------

// XORs `size` bytes of `src` with the 4-byte masking key (as sent on the wire) into `dst`,
// starting at key position `phase` (0..3). dst may equal src. Eight bytes at a time.
void maskBytes(char *dst, const char *src, qsizetype size, const unsigned char key[4], int phase = 0);

// Appends one final, masked frame whose payload is `prefix` followed by `payload` (the
// channel byte of the Kubernetes protocols goes in `prefix`, so no joined copy is made).
void appendFrame(QByteArray &out, Opcode opcode, QByteArrayView prefix, QByteArrayView payload,
                 const unsigned char key[4]);
qsizetype frameSize(qsizetype payloadSize); // header + mask + payload of a client frame

} // namespace iterdeck::kube::ws
