#include "channel.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace iterdeck::sync {

namespace {

constexpr size_t kBatch = 256u << 10; // the outgoing batch is written once it is this big
constexpr size_t kReadSize = 1u << 20;

} // namespace

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
    m_pending.append(buf.data(), buf.size());
    return m_pending.size() < kBatch || flush();
}

uint8_t *Channel::beginFrame(MsgType type, size_t maxPayload)
{
    m_frameStart = m_pending.size();
    uint8_t *p = m_pending.reserveMore(5 + maxPayload);
    p[4] = uint8_t(type);
    return p + 5;
}

bool Channel::endFrame(size_t payload)
{
    uint8_t *p = m_pending.data() + m_frameStart;
    const uint32_t len = uint32_t(payload + 1);
    for (int i = 0; i < 4; ++i)
        p[i] = uint8_t(len >> (8 * i));
    m_pending.grow(5 + payload);
    return m_pending.size() < kBatch || flush();
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
                // peers writing to each other never wait for one another. (Kept aside and
                // decoded at the next receive, so that a frame being handled stays valid.)
                pollfd p[2] = {{m_out, POLLOUT, 0}, {m_in, POLLIN, 0}};
                ::poll(p, 2, -1);
                if (p[1].revents & (POLLIN | POLLHUP)) {
                    const ssize_t r = ::read(m_in, m_inbox.reserveMore(1 << 16), 1 << 16);
                    if (r > 0) {
                        m_received += uint64_t(r);
                        m_inbox.grow(size_t(r));
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

void Channel::absorbInbox()
{
    if (m_inbox.empty())
        return;
    m_decoder.feed(m_inbox.data(), m_inbox.size());
    m_inbox.clear();
}

int Channel::readMore(int timeoutMs)
{
    for (;;) {
        if (timeoutMs >= 0) {
            pollfd p {m_in, POLLIN, 0};
            const int rc = ::poll(&p, 1, timeoutMs);
            if (rc == 0) {
                m_timedOut = true;
                return 0;
            }
        }
        const ssize_t n = ::read(m_in, m_decoder.space(kReadSize), kReadSize);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            m_error = std::string("connection lost: ") + std::strerror(errno);
            return -1;
        }
        if (n == 0) {
            m_error
                = m_decoder.buffered() > 0 ? "protocol error: the stream ended inside a frame" : "connection closed";
            return -1;
        }
        m_received += uint64_t(n);
        m_decoder.commit(size_t(n));
        return 1;
    }
}

std::optional<std::pair<MsgType, std::vector<uint8_t>>> Channel::receive(int timeoutMs)
{
    m_timedOut = false;
    absorbInbox();
    for (;;) {
        if (auto f = m_decoder.next())
            return f;
        if (!m_decoder.error().empty()) {
            m_error = m_decoder.error();
            return std::nullopt;
        }
        if (readMore(timeoutMs) <= 0)
            return std::nullopt;
    }
}

bool Channel::receiveView(FrameView *out)
{
    m_timedOut = false;
    absorbInbox();
    for (;;) {
        if (m_decoder.nextView(out))
            return true;
        if (!m_decoder.error().empty()) {
            m_error = m_decoder.error();
            return false;
        }
        if (readMore(-1) <= 0)
            return false;
    }
}

} // namespace iterdeck::sync
