#pragma once

// A framed connection over two file descriptors (a pipe pair, a socket, a process's stdio).

#include "protocol.h"

#include <string>

namespace iterdeck::sync {

class Channel
{
public:
    // Makes `writeFd` non-blocking: a blocked write reads incoming frames meanwhile.
    Channel(int readFd, int writeFd);
    // Sends one frame now; false when the peer is gone.
    bool send(FrameWriter &frame);
    // Adds a frame to the outgoing batch, written when it grows past 256 KiB or on flush().
    bool queue(FrameWriter &frame);
    bool flush();
    // Blocks until a frame arrives (or `timeoutMs` passes when >= 0: then returns nullopt with
    // timedOut() set). nullopt with error() set when the stream ends or is malformed.
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> receive(int timeoutMs = -1);
    // A frame already received and buffered, without reading.
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> buffered()
    {
        if (m_peeked) {
            auto f = std::move(m_peeked);
            m_peeked.reset();
            return f;
        }
        return m_decoder.next();
    }
    bool timedOut() const { return m_timedOut; }
    // True when a whole frame is already buffered (receive() will not block).
    bool hasBufferedFrame();
    const std::string &error() const { return m_error; }
    // True when the peer closed its end (a write found no reader): an ordinary end, not a failure.
    bool peerClosed() const { return m_peerClosed; }
    int readFd() const { return m_in; }
    uint64_t bytesSent() const { return m_sent; }
    uint64_t bytesReceived() const { return m_received; }

private:
    bool writeAll(const uint8_t *data, size_t size);
    std::vector<uint8_t> m_pending;
    int m_in;
    int m_out;
    FrameDecoder m_decoder;
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> m_peeked;
    std::string m_error;
    bool m_timedOut = false;
    bool m_peerClosed = false;
    uint64_t m_sent = 0;
    uint64_t m_received = 0;
};

} // namespace iterdeck::sync
