#include "channel.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace iterdeck::sync {

Channel::Channel(int readFd, int writeFd)
    : m_in(readFd)
    , m_out(writeFd)
{
    const int flags = ::fcntl(m_out, F_GETFL);
    if (flags >= 0)
        ::fcntl(m_out, F_SETFL, flags | O_NONBLOCK);
}

bool Channel::send(FrameWriter &frame)
{
    if (!flush())
        return false;
    const std::vector<uint8_t> &buf = frame.finish();
    return writeAll(buf.data(), buf.size());
}

bool Channel::queue(FrameWriter &frame)
{
    const std::vector<uint8_t> &buf = frame.finish();
    m_pending.insert(m_pending.end(), buf.begin(), buf.end());
    return m_pending.size() < (256u << 10) || flush();
}

bool Channel::flush()
{
    if (m_pending.empty())
        return true;
    const bool ok = writeAll(m_pending.data(), m_pending.size());
    m_pending.clear();
    return ok;
}

bool Channel::writeAll(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const ssize_t n = ::write(m_out, data + off, size - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                // The peer is not reading: read what it sends meanwhile, so that two
                // peers writing to each other never wait for one another.
                pollfd p[2] = {{m_out, POLLOUT, 0}, {m_in, POLLIN, 0}};
                ::poll(p, 2, -1);
                if (p[1].revents & (POLLIN | POLLHUP)) {
                    uint8_t in[1 << 16];
                    const ssize_t r = ::read(m_in, in, sizeof in);
                    if (r > 0) {
                        m_received += uint64_t(r);
                        m_decoder.feed(in, size_t(r));
                    } else if (r == 0 && !(p[0].revents & POLLOUT)) {
                        m_error = "connection closed";
                        return false;
                    }
                }
                continue;
            }
            m_peerClosed = errno == EPIPE;
            m_error = std::string("connection lost: ") + std::strerror(errno);
            return false;
        }
        off += size_t(n);
    }
    m_sent += size;
    return true;
}

bool Channel::hasBufferedFrame()
{
    if (m_peeked)
        return true;
    m_peeked = m_decoder.next();
    return m_peeked.has_value();
}

std::optional<std::pair<MsgType, std::vector<uint8_t>>> Channel::receive(int timeoutMs)
{
    m_timedOut = false;
    if (m_peeked) {
        auto f = std::move(m_peeked);
        m_peeked.reset();
        return f;
    }
    for (;;) {
        if (auto f = m_decoder.next())
            return f;
        if (!m_decoder.error().empty()) {
            m_error = m_decoder.error();
            return std::nullopt;
        }
        if (timeoutMs >= 0) {
            pollfd p {m_in, POLLIN, 0};
            const int rc = ::poll(&p, 1, timeoutMs);
            if (rc == 0) {
                m_timedOut = true;
                return std::nullopt;
            }
        }
        uint8_t buf[1 << 16];
        const ssize_t n = ::read(m_in, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            m_error = std::string("connection lost: ") + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) {
            m_error
                = m_decoder.buffered() > 0 ? "protocol error: the stream ended inside a frame" : "connection closed";
            return std::nullopt;
        }
        m_received += uint64_t(n);
        m_decoder.feed(buf, size_t(n));
    }
}

} // namespace iterdeck::sync
