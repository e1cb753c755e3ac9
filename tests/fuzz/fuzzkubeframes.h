#pragma once

// One fuzz iteration over the socket-free parts of the kube streams: the HTTP answer to a
// WebSocket upgrade, the server frame parser, the Close payload, our frame encoder and the
// channel protocols (exec status, port prefix). Shared by the libFuzzer target and
// tst_kubewebsocket, which replays the corpus and the regressions.
//
// Input: byte 0 picks the part (0 upgrade answer, 1 frame encoder, anything else frames), byte 1
// seeds how the rest is split into feeds; the rest is the bytes.
#include "kube/channelprotocol.h"
#include "kube/websocketprotocol.h"

#include <QList>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace iterdeck::fuzz {

namespace detail {

struct FrameRun
{
    QList<kube::ws::Message> messages;
    QString error;
    quint16 errorCode = 0;
};

// Feeds `data` in slices whose sizes follow `seed`; false if the parser stops making progress.
inline bool runFrames(const char *data, qsizetype size, unsigned seed, qint64 maxMessage, FrameRun *out)
{
    kube::ws::FrameParser parser(maxMessage);
    qsizetype pos = 0;
    unsigned step = seed;
    while (pos < size) {
        step = step * 1103515245u + 12345u;
        const qsizetype slice = seed == 0 ? size - pos : std::min<qsizetype>(size - pos, 1 + (step >> 16) % 300);
        qsizetype done = 0;
        while (done < slice) {
            const qsizetype used = parser.feed(data + pos + done, slice - done);
            if (used < 0 || used > slice - done)
                return false;
            done += used;
            if (parser.hasError()) {
                out->error = parser.errorString();
                out->errorCode = parser.errorCloseCode();
                return parser.feed(data, size) == 0; // sticky
            }
            if (parser.hasMessage()) {
                if (parser.feed(data, size) != 0) // nothing more until the message is taken
                    return false;
                out->messages.append(parser.takeMessage());
            } else if (used == 0) {
                return false; // no message, no error, no progress
            }
        }
        pos += slice;
    }
    return parser.pendingBytes() <= maxMessage + 125;
}

inline bool sameRun(const FrameRun &a, const FrameRun &b)
{
    if (a.error != b.error || a.errorCode != b.errorCode || a.messages.size() != b.messages.size())
        return false;
    for (qsizetype i = 0; i < a.messages.size(); ++i)
        if (a.messages[i].opcode != b.messages[i].opcode || a.messages[i].payload != b.messages[i].payload)
            return false;
    return true;
}

inline bool checkMessage(const kube::ws::Message &m, qint64 maxMessage)
{
    using kube::ws::Opcode;
    switch (m.opcode) {
    case Opcode::Close: {
        quint16 code = 0;
        QString reason, error;
        if (m.payload.size() > 125)
            return false;
        if (kube::ws::parseClosePayload(m.payload, &code, &reason, &error))
            return code == kube::ws::CloseNoStatus || (code >= 1000 && code < 5000);
        return !error.isEmpty();
    }
    case Opcode::Ping:
    case Opcode::Pong:
        return m.payload.size() <= 125;
    case Opcode::Text:
    case Opcode::Binary: {
        if (m.payload.size() > maxMessage)
            return false;
        if (m.payload.isEmpty())
            return true;
        const QByteArrayView rest = QByteArrayView(m.payload).sliced(1);
        switch (quint8(m.payload[0])) {
        case kube::channel::Status: {
            const kube::channel::ExecResult r = kube::channel::parseExecStatus(rest);
            if (r.error.isError())
                return r.exitCode == -1 && !r.error.message.isEmpty();
            return r.exitCode >= 0 && r.exitCode <= 255;
        }
        case 0:
        case 1: {
            quint16 port = 0;
            return kube::channel::parsePortPrefix(rest, &port) == (rest.size() == 2);
        }
        default:
            return true;
        }
    }
    case Opcode::Continuation:
        return false; // never delivered
    }
    return false;
}

inline bool upgradeAnswerOnce(const char *data, qsizetype size)
{
    kube::ws::HttpResponseHeadParser parser;
    kube::ws::HttpResponseHead head;
    qsizetype headSize = 0;
    switch (parser.parse(QByteArrayView(data, size), &head, &headSize)) {
    case kube::ws::HttpResponseHeadParser::Result::NeedMore:
        return size <= kube::ws::HttpResponseHeadParser::MaxHeadSize;
    case kube::ws::HttpResponseHeadParser::Result::Error:
        return !parser.errorString().isEmpty();
    case kube::ws::HttpResponseHeadParser::Result::Done:
        break;
    }
    if (headSize <= 0 || headSize > size || head.status < 0 || head.status > 999)
        return false;
    (void)head.hasToken("connection", "upgrade");
    kube::ws::HttpBodyReader body(head, 4096);
    for (qsizetype pos = headSize; pos < size; pos += 7)
        body.append(QByteArrayView(data + pos, std::min<qsizetype>(7, size - pos)));
    return body.body().size() <= 4096;
}

inline bool encoderOnce(const char *data, qsizetype size)
{
    if (size < 5)
        return true;
    const unsigned char key[4] = {quint8(data[0]), quint8(data[1]), quint8(data[2]), quint8(data[3])};
    const qsizetype split = quint8(data[4]) % 8;
    const QByteArrayView all(data + 5, size - 5);
    const QByteArrayView prefix = all.first(std::min(split, all.size()));
    const QByteArrayView payload = all.sliced(prefix.size());
    QByteArray frame;
    kube::ws::appendFrame(frame, kube::ws::Opcode::Binary, prefix, payload, key);
    if (frame.size() != kube::ws::frameSize(all.size()))
        return false;
    // Undo it the way a server does.
    const auto *p = reinterpret_cast<const unsigned char *>(frame.constData());
    if (p[0] != 0x82 || !(p[1] & 0x80))
        return false;
    qsizetype header = 2;
    quint64 length = p[1] & 0x7f;
    if (length == 126) {
        length = (quint64(p[2]) << 8) | p[3];
        header = 4;
    } else if (length == 127) {
        length = 0;
        for (int i = 2; i < 10; ++i)
            length = (length << 8) | p[i];
        header = 10;
    }
    if (length != quint64(all.size()) || std::memcmp(p + header, key, 4) != 0)
        return false;
    QByteArray unmasked(all.size(), Qt::Uninitialized);
    kube::ws::maskBytes(unmasked.data(), frame.constData() + header + 4, all.size(), key, 0);
    return unmasked == all;
}

} // namespace detail

inline bool kubeFramesOnce(const uint8_t *bytes, size_t n)
{
    if (n < 2)
        return true;
    const auto *data = reinterpret_cast<const char *>(bytes) + 2;
    const auto size = qsizetype(n - 2);
    switch (bytes[0]) {
    case 0:
        return detail::upgradeAnswerOnce(data, size);
    case 1:
        return detail::encoderOnce(data, size);
    default:
        break;
    }
    constexpr qint64 maxMessage = 64 * 1024;
    detail::FrameRun whole, sliced;
    if (!detail::runFrames(data, size, 0, maxMessage, &whole)
        || !detail::runFrames(data, size, bytes[1] | 1u, maxMessage, &sliced))
        return false;
    // However the bytes arrive, the same messages (and the same error) come out.
    if (!detail::sameRun(whole, sliced))
        return false;
    for (const kube::ws::Message &m : std::as_const(whole.messages))
        if (!detail::checkMessage(m, maxMessage))
            return false;
    return true;
}

} // namespace iterdeck::fuzz
