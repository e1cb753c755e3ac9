#include "websocketprotocol.h"

#include <QCryptographicHash>
#include <QStringDecoder>

#include <algorithm>
#include <cstring>

namespace iterdeck::kube::ws {

namespace {

bool isControl(Opcode op)
{
    return (static_cast<quint8>(op) & 0x8) != 0;
}

// A line of the peer's answer for an error message: at most 60 bytes, control and non-ASCII
// bytes escaped, so garbage cannot mangle logs or terminals.
QString printable(QByteArrayView line)
{
    QString out;
    const qsizetype n = std::min<qsizetype>(line.size(), 60);
    for (qsizetype i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out += QLatin1Char(char(c));
        else
            out += QStringLiteral("\\x%1").arg(uint(c), 2, 16, QLatin1Char('0'));
    }
    if (line.size() > n)
        out += QStringLiteral("...");
    return out;
}

bool isTokenChar(char c)
{
    // RFC 9110 tchar
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

QByteArrayView trimmed(QByteArrayView v)
{
    while (!v.isEmpty() && (v.front() == ' ' || v.front() == '\t'))
        v = v.sliced(1);
    while (!v.isEmpty() && (v.back() == ' ' || v.back() == '\t'))
        v.chop(1);
    return v;
}

} // namespace

QByteArray acceptKeyFor(const QByteArray &key)
{
    const QByteArray input = key + QByteArrayLiteral("258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    return QCryptographicHash::hash(input, QCryptographicHash::Sha1).toBase64();
}

// ---- HTTP ---------------------------------------------------------------------------------

QByteArray HttpResponseHead::header(QByteArrayView lowerName) const
{
    QByteArray out;
    for (const auto &[name, value] : headers) {
        if (name != lowerName)
            continue;
        if (!out.isEmpty())
            out += ", ";
        out += value;
    }
    return out;
}

bool HttpResponseHead::hasToken(QByteArrayView lowerName, QByteArrayView token) const
{
    const QByteArray value = header(lowerName);
    for (const QByteArray &part : value.split(',')) {
        const QByteArrayView t = trimmed(part);
        if (t.size() == token.size() && t.compare(token, Qt::CaseInsensitive) == 0)
            return true;
    }
    return false;
}

HttpResponseHeadParser::Result HttpResponseHeadParser::parse(QByteArrayView data, HttpResponseHead *head,
                                                             qsizetype *headSize)
{
    constexpr QByteArrayView prefix("HTTP/");
    const qsizetype n = std::min(data.size(), prefix.size());
    if (data.first(n) != prefix.first(n)) {
        const qsizetype eol = data.indexOf('\n');
        QByteArrayView line = eol < 0 ? data : data.first(eol);
        if (line.endsWith('\r'))
            line.chop(1);
        m_error = QStringLiteral("not an HTTP response: \"%1\"").arg(printable(line));
        return Result::Error;
    }
    const qsizetype end = data.indexOf("\r\n\r\n");
    if (end < 0) {
        if (data.size() > MaxHeadSize) {
            m_error = QStringLiteral("the response header is larger than %1 bytes").arg(MaxHeadSize);
            return Result::Error;
        }
        return Result::NeedMore;
    }
    if (end + 4 > MaxHeadSize) {
        m_error = QStringLiteral("the response header is larger than %1 bytes").arg(MaxHeadSize);
        return Result::Error;
    }
    HttpResponseHead h;
    QByteArrayView rest = data.first(end + 2);
    qsizetype eol = rest.indexOf("\r\n");
    const QByteArrayView statusLine = rest.first(eol);
    rest = rest.sliced(eol + 2);
    // HTTP/1.x SP 3DIGIT [SP reason-phrase]
    const bool versionOk = statusLine.startsWith("HTTP/1.1 ") || statusLine.startsWith("HTTP/1.0 ");
    const QByteArrayView code
        = versionOk ? statusLine.sliced(9).first(std::min<qsizetype>(3, statusLine.size() - 9)) : QByteArrayView();
    const bool codeOk = code.size() == 3
        && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })
        && (statusLine.size() == 12 || statusLine[12] == ' ');
    if (!versionOk || !codeOk) {
        m_error = QStringLiteral("malformed status line: \"%1\"").arg(printable(statusLine));
        return Result::Error;
    }
    h.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (statusLine.size() > 13)
        h.reasonPhrase = statusLine.sliced(13).toByteArray();
    while (!rest.isEmpty()) {
        eol = rest.indexOf("\r\n");
        const QByteArrayView line = rest.first(eol);
        rest = rest.sliced(eol + 2);
        const qsizetype colon = line.indexOf(':');
        const QByteArrayView name = colon > 0 ? line.first(colon) : QByteArrayView();
        if (name.isEmpty() || !std::all_of(name.begin(), name.end(), isTokenChar)) {
            m_error = QStringLiteral("malformed header line: \"%1\"").arg(printable(line));
            return Result::Error;
        }
        h.headers.append({name.toByteArray().toLower(), trimmed(line.sliced(colon + 1)).toByteArray()});
    }
    *head = std::move(h);
    *headSize = end + 4;
    return Result::Done;
}

HttpBodyReader::HttpBodyReader(const HttpResponseHead &head, qsizetype limit)
    : m_limit(limit)
{
    bool ok = false;
    const qlonglong length = head.header("content-length").toLongLong(&ok);
    if (head.hasToken("transfer-encoding", "chunked")) {
        m_mode = Mode::Chunked;
    } else if (head.status == 204 || head.status == 304 || (head.status >= 100 && head.status < 200)) {
        m_mode = Mode::Length;
        m_complete = true;
    } else if (ok && length >= 0) {
        m_mode = Mode::Length;
        m_length = length;
        m_complete = length == 0;
    }
}

void HttpBodyReader::append(QByteArrayView data)
{
    if (m_complete || m_failed)
        return;
    switch (m_mode) {
    case Mode::Length: {
        const qsizetype take = std::min<qsizetype>(data.size(), m_length);
        m_length -= take;
        m_body.append(data.first(std::min<qsizetype>(take, std::max<qsizetype>(0, m_limit - m_body.size()))));
        m_complete = m_length == 0;
        break;
    }
    case Mode::UntilClose:
        m_body.append(data.first(std::min<qsizetype>(data.size(), std::max<qsizetype>(0, m_limit - m_body.size()))));
        break;
    case Mode::Chunked:
        m_raw.append(data.first(std::min<qsizetype>(data.size(), std::max<qsizetype>(0, 2 * m_limit - m_raw.size()))));
        decodeChunks();
        break;
    }
}

void HttpBodyReader::decodeChunks()
{
    for (;;) {
        const qsizetype eol = m_raw.indexOf("\r\n");
        if (eol < 0) {
            m_failed = m_raw.size() > 1024;
            return;
        }
        QByteArrayView sizeText = QByteArrayView(m_raw).first(eol);
        if (const qsizetype semi = sizeText.indexOf(';'); semi >= 0)
            sizeText = sizeText.first(semi);
        sizeText = trimmed(sizeText);
        bool ok = false;
        const qlonglong size = sizeText.size() <= 8 ? sizeText.toLongLong(&ok, 16) : -1;
        if (!ok || size < 0) {
            m_failed = true;
            return;
        }
        if (size == 0) {
            m_complete = true; // trailers, if any, are not needed
            return;
        }
        if (m_raw.size() < eol + 2 + size + 2)
            return;
        if (QByteArrayView(m_raw).sliced(eol + 2 + size, 2) != "\r\n") {
            m_failed = true;
            return;
        }
        m_body.append(QByteArrayView(m_raw).sliced(eol + 2, std::min<qsizetype>(size, m_limit - m_body.size())));
        m_raw.remove(0, eol + 2 + size + 2);
        if (m_body.size() >= m_limit) {
            m_complete = true;
            return;
        }
    }
}

bool HttpBodyReader::isComplete() const
{
    return m_complete;
}

QByteArray HttpBodyReader::body() const
{
    return m_body;
}

// ---- frames from the server ---------------------------------------------------------------

FrameParser::FrameParser(qint64 maxMessageSize)
    : m_maxMessageSize(maxMessageSize)
{ }

bool FrameParser::fail(quint16 code, const QString &message)
{
    m_error = message;
    m_errorCode = code;
    return false;
}

bool FrameParser::headerComplete()
{
    if (m_headLength < 2)
        return false;
    const unsigned char b0 = m_head[0];
    const unsigned char b1 = m_head[1];
    const auto opcode = static_cast<Opcode>(b0 & 0x0f);
    const bool fin = (b0 & 0x80) != 0;
    const unsigned len7 = b1 & 0x7f;
    if (m_headLength == 2) {
        // Everything that the first two bytes decide is checked before waiting for more.
        if (b0 & 0x70)
            return fail(CloseProtocolError,
                        QStringLiteral("a frame has reserved bits set (no extension was negotiated)"));
        switch (opcode) {
        case Opcode::Continuation:
        case Opcode::Text:
        case Opcode::Binary:
        case Opcode::Close:
        case Opcode::Ping:
        case Opcode::Pong:
            break;
        default:
            return fail(CloseProtocolError,
                        QStringLiteral("a frame has the unknown opcode 0x%1").arg(b0 & 0x0f, 0, 16));
        }
        if (b1 & 0x80)
            return fail(CloseProtocolError, QStringLiteral("the server sent a masked frame"));
        if (isControl(opcode) && !fin)
            return fail(CloseProtocolError, QStringLiteral("a control frame is fragmented"));
        if (isControl(opcode) && len7 > 125)
            return fail(CloseProtocolError, QStringLiteral("a control frame is longer than 125 bytes"));
        if (opcode == Opcode::Continuation && !m_inMessage)
            return fail(CloseProtocolError, QStringLiteral("a continuation frame without a message to continue"));
        if ((opcode == Opcode::Text || opcode == Opcode::Binary) && m_inMessage)
            return fail(CloseProtocolError, QStringLiteral("a new message started inside a fragmented one"));
    }
    const int needed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    if (m_headLength < needed)
        return false;
    quint64 length = len7;
    if (len7 == 126) {
        length = (quint64(m_head[2]) << 8) | m_head[3];
        if (length < 126)
            return fail(CloseProtocolError, QStringLiteral("a frame length is not minimally encoded"));
    } else if (len7 == 127) {
        length = 0;
        for (int i = 2; i < 10; ++i)
            length = (length << 8) | m_head[i];
        if (length >> 63)
            return fail(CloseProtocolError, QStringLiteral("a frame length has its most significant bit set"));
        if (length <= 0xffff)
            return fail(CloseProtocolError, QStringLiteral("a frame length is not minimally encoded"));
    }
    if (!isControl(opcode)) {
        if (length > quint64(m_maxMessageSize) || quint64(m_message.size()) + length > quint64(m_maxMessageSize))
            return fail(
                CloseTooBig,
                QStringLiteral("a message from the server is larger than the limit of %1 bytes").arg(m_maxMessageSize));
        if (opcode != Opcode::Continuation) {
            m_inMessage = true;
            m_messageOpcode = opcode;
            if (fin)
                m_message.reserve(qsizetype(length));
        }
    }
    m_frameOpcode = opcode;
    m_fin = fin;
    m_remaining = length;
    m_inPayload = true;
    m_headLength = 0;
    return true;
}

void FrameParser::frameDone()
{
    m_inPayload = false;
    if (isControl(m_frameOpcode)) {
        m_out = {m_frameOpcode, std::move(m_control)};
        m_control = QByteArray();
        m_ready = true;
    } else if (m_fin) {
        m_out = {m_messageOpcode, std::move(m_message)};
        m_message = QByteArray();
        m_inMessage = false;
        m_ready = true;
    }
}

qsizetype FrameParser::feed(const char *data, qsizetype size)
{
    qsizetype used = 0;
    if (hasError() || m_ready)
        return 0;
    while (used < size) {
        if (!m_inPayload) {
            m_head[m_headLength++] = static_cast<unsigned char>(data[used++]);
            if (!headerComplete()) {
                if (hasError())
                    return used;
                continue;
            }
            if (m_remaining == 0) {
                frameDone();
                if (m_ready)
                    return used;
            }
            continue;
        }
        const qsizetype take = qsizetype(std::min<quint64>(m_remaining, quint64(size - used)));
        (isControl(m_frameOpcode) ? m_control : m_message).append(data + used, take);
        used += take;
        m_remaining -= quint64(take);
        if (m_remaining == 0) {
            frameDone();
            if (m_ready)
                return used;
        }
    }
    return used;
}

Message FrameParser::takeMessage()
{
    m_ready = false;
    Message out = std::move(m_out);
    m_out = Message();
    return out;
}

bool parseClosePayload(QByteArrayView payload, quint16 *code, QString *reason, QString *error)
{
    *code = CloseNoStatus;
    reason->clear();
    if (payload.isEmpty())
        return true;
    if (payload.size() == 1) {
        *error = QStringLiteral("a close frame has a 1-byte payload");
        return false;
    }
    const quint16 c = quint16((quint8(payload[0]) << 8) | quint8(payload[1]));
    const bool valid = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    if (!valid) {
        *error = QStringLiteral("a close frame has the invalid code %1").arg(c);
        return false;
    }
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    *reason = decoder(payload.sliced(2));
    if (decoder.hasError()) {
        *error = QStringLiteral("a close frame's reason is not UTF-8");
        reason->clear();
        return false;
    }
    *code = c;
    return true;
}

// ---- frames to the server ---------------------------------------------------------------

void maskBytes(char *dst, const char *src, qsizetype size, const unsigned char key[4], int phase)
{
    unsigned char k[8];
    for (int i = 0; i < 8; ++i)
        k[i] = key[(phase + i) & 3];
    quint64 mask;
    std::memcpy(&mask, k, 8);
    qsizetype i = 0;
    for (; i + 32 <= size; i += 32) {
        quint64 v[4];
        std::memcpy(v, src + i, 32);
        v[0] ^= mask;
        v[1] ^= mask;
        v[2] ^= mask;
        v[3] ^= mask;
        std::memcpy(dst + i, v, 32);
    }
    for (; i + 8 <= size; i += 8) {
        quint64 v;
        std::memcpy(&v, src + i, 8);
        v ^= mask;
        std::memcpy(dst + i, &v, 8);
    }
    for (; i < size; ++i)
        dst[i] = char(src[i] ^ k[i & 7]);
}

qsizetype frameSize(qsizetype payloadSize)
{
    return 2 + (payloadSize > 0xffff ? 8 : payloadSize >= 126 ? 2 : 0) + 4 + payloadSize;
}

void appendFrame(QByteArray &out, Opcode opcode, QByteArrayView prefix, QByteArrayView payload,
                 const unsigned char key[4])
{
    const qsizetype length = prefix.size() + payload.size();
    const qsizetype start = out.size();
    out.resize(start + frameSize(length));
    auto *p = reinterpret_cast<unsigned char *>(out.data() + start);
    *p++ = 0x80 | static_cast<quint8>(opcode);
    if (length > 0xffff) {
        *p++ = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            *p++ = static_cast<unsigned char>(quint64(length) >> shift);
    } else if (length >= 126) {
        *p++ = 0x80 | 126;
        *p++ = static_cast<unsigned char>(length >> 8);
        *p++ = static_cast<unsigned char>(length);
    } else {
        *p++ = static_cast<unsigned char>(0x80 | length);
    }
    std::memcpy(p, key, 4);
    p += 4;
    auto *dst = reinterpret_cast<char *>(p);
    maskBytes(dst, prefix.data(), prefix.size(), key, 0);
    maskBytes(dst + prefix.size(), payload.data(), payload.size(), key, int(prefix.size() & 3));
}

} // namespace iterdeck::kube::ws
