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
    // Builds a frame in place in the outgoing batch, without a copy: beginFrame() returns room
    // for up to `maxPayload` bytes of payload, endFrame() queues the first `payload` of them.
    // Nothing else may be queued or sent in between.
    uint8_t *beginFrame(MsgType type, size_t maxPayload);
    bool endFrame(size_t payload);
    // Blocks until a frame arrives (or `timeoutMs` passes when >= 0: then returns nullopt with
    // timedOut() set). nullopt with error() set when the stream ends or is malformed.
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> receive(int timeoutMs = -1);
    // The same without copying the payload. The view is valid until the next receiveView(),
    // receive(), buffered() or hasBufferedFrame() call; sending meanwhile is fine.
    bool receiveView(FrameView *out);
    // A frame already received and buffered, without reading.
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> buffered()
    {
        absorbInbox();
        return m_decoder.next();
    }
    bool timedOut() const { return m_timedOut; }
    // True when a whole frame is already buffered (receive() will not block).
    bool hasBufferedFrame()
    {
        absorbInbox();
        return m_decoder.hasFrame();
    }
    const std::string &error() const { return m_error; }
    // True when the peer closed its end (a write found no reader): an ordinary end, not a failure.
    bool peerClosed() const { return m_peerClosed; }
    int readFd() const { return m_in; }
    uint64_t bytesSent() const { return m_sent; }
    uint64_t bytesReceived() const { return m_received; }

private:
    bool writeAll(const uint8_t *data, size_t size);
    // Reads what is there into the decoder. -1: error or end (error() set), 0: would time out.
    int readMore(int timeoutMs);
    void absorbInbox();
    ByteBuffer m_pending;
    size_t m_frameStart = 0; // of the frame being built in place
    ByteBuffer m_inbox; // read while a write was blocked; decoded at the next receive
    int m_in;
    int m_out;
    FrameDecoder m_decoder;
    std::string m_error;
    bool m_timedOut = false;
    bool m_peerClosed = false;
    uint64_t m_sent = 0;
    uint64_t m_received = 0;
};

} // namespace iterdeck::sync
