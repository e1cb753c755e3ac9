#include "sandbox/spdyforward.h"

#include "sandbox/spdy.h"

#include <boost/asio.hpp>

#include <array>
#include <cctype>
#include <deque>
#include <map>
#include <set>

namespace iterdeck::sandbox {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Go words errno texts in lower case ("connection refused"), kubectl users see Go's wording.
std::string goError(const boost::system::error_code &ec)
{
    std::string m = ec.message();
    if (!m.empty())
        m[0] = char(std::tolower(static_cast<unsigned char>(m[0])));
    return m;
}

// strconv.ParseUint(s, 10, 16), then > 0: what the kubelet accepts as a port header.
std::optional<std::uint16_t> parsePort(const std::string &s)
{
    if (s.empty() || s.size() > 5)
        return std::nullopt;
    unsigned long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return std::nullopt;
        v = v * 10 + unsigned(c - '0');
    }
    if (v < 1 || v > 65535)
        return std::nullopt;
    return std::uint16_t(v);
}

class WsBytes : public ByteChannel, public std::enable_shared_from_this<WsBytes>
{
public:
    explicit WsBytes(std::shared_ptr<WebSocketChannel> ws)
        : m_ws(std::move(ws))
    { }

    void attach()
    {
        std::weak_ptr<WsBytes> weak = shared_from_this();
        m_ws->onMessage = [weak](std::string data, bool) {
            if (auto s = weak.lock(); s && s->onData)
                s->onData(std::move(data));
        };
        m_ws->onDrained = [weak] {
            if (auto s = weak.lock(); s && s->onDrained)
                s->onDrained();
        };
        m_ws->onClose = [weak] {
            if (auto s = weak.lock()) {
                auto cb = std::move(s->onClose);
                s->onData = nullptr;
                s->onDrained = nullptr;
                if (cb)
                    cb();
            }
        };
    }

    void send(std::string data) override
    {
        if (!data.empty())
            m_ws->send(std::move(data));
    }
    void close() override { m_ws->close(1000, {}); }
    std::size_t queuedBytes() const override { return m_ws->queuedBytes(); }
    bool closed() const override { return m_ws->closed(); }
    void setReadPaused(bool paused) override { m_ws->setReadPaused(paused); }

private:
    std::shared_ptr<WebSocketChannel> m_ws;
};

class Forwarder : public std::enable_shared_from_this<Forwarder>
{
public:
    Forwarder(net::io_context &io, std::shared_ptr<ByteChannel> channel, PortForwardTarget target,
              SpdyForwardOptions options)
        : m_io(io)
        , m_channel(std::move(channel))
        , m_target(std::move(target))
        , m_options(options)
    { }

    void start()
    {
        m_session.onOutput = [this](std::string bytes) {
            if (!m_closed)
                m_channel->send(std::move(bytes));
        };
        m_session.onStream = [this](std::uint32_t id, const spdy::Headers &h, bool fin) { onStream(id, h, fin); };
        m_session.onData = [this](std::uint32_t id, std::string data, bool fin) { onData(id, std::move(data), fin); };
        m_session.onReset = [this](std::uint32_t id, std::uint32_t) { onReset(id); };
        m_session.onGoAway = [this] { checkGoneAway(); };
        m_session.onSessionError = [this](const spdy::Error &) { m_closeAfterFlush = true; };
        m_session.onWindow = [this] { resumeReaders(); };
        auto self = shared_from_this();
        m_channel->onData = [self](std::string data) {
            if (self->m_closed)
                return;
            self->m_session.feed(data);
            if (self->m_closeAfterFlush && !self->m_closed)
                self->m_channel->close();
        };
        m_channel->onDrained = [self] { self->resumeReaders(); };
        m_channel->onClose = [self] { self->teardown(); };
    }

private:
    struct Pair
    {
        explicit Pair(net::io_context &io)
            : socket(io)
            , timer(io)
        { }
        std::string requestId;
        std::uint16_t port = 0;
        std::uint32_t dataId = 0;
        std::uint32_t errorId = 0;
        tcp::socket socket;
        net::steady_timer timer;
        bool dialing = false;
        bool connected = false;
        bool socketClosed = false;
        bool podEof = false;
        bool clientFin = false; // the client half-closed the data stream
        bool shutdownSent = false;
        bool reading = false;
        bool writing = false;
        bool finished = false; // FIN sent on both streams
        std::deque<std::string> toPod;
        std::size_t toPodBytes = 0;
        std::unique_ptr<std::array<char, 64 * 1024>> buffer;
    };
    using PairPtr = std::shared_ptr<Pair>;

    void onStream(std::uint32_t id, const spdy::Headers &headers, bool fin)
    {
        // As the kubelet's httpStreamReceived: a bad port or stream type rejects the stream.
        const auto port = parsePort(spdy::headerValue(headers, "port").value_or(""));
        const std::string type = spdy::headerValue(headers, "streamtype").value_or("");
        if (!port || (type != "error" && type != "data")) {
            m_session.reset(id, spdy::Cancel);
            return;
        }
        m_session.reply(id);
        std::string requestId = spdy::headerValue(headers, "requestid").value_or("");
        if (requestId.empty()) // clients older than request ids: error stream N, data stream N+2
            requestId = std::to_string(type == "error" ? id : id - 2);
        PairPtr &slot = m_pairs[requestId];
        if (!slot) {
            slot = std::make_shared<Pair>(m_io);
            slot->requestId = requestId;
            startPairTimer(slot);
        }
        PairPtr pair = slot;
        std::uint32_t &mine = type == "error" ? pair->errorId : pair->dataId;
        if (mine != 0) {
            printError(pair,
                       "error processing stream for request " + requestId + ": " + type + " stream already assigned");
            m_session.reset(id, spdy::Cancel);
            return;
        }
        mine = id;
        if (type == "data" || pair->port == 0)
            pair->port = *port;
        if (type == "data" && fin) // opened half-closed: nothing to send to the pod
            pair->clientFin = true;
        m_byStream[id] = pair;
        if (pair->errorId && pair->dataId && !pair->dialing) {
            pair->timer.cancel();
            dial(pair);
        }
    }

    void startPairTimer(const PairPtr &pair)
    {
        pair->timer.expires_after(std::chrono::seconds(m_options.streamPairTimeoutSeconds));
        std::weak_ptr<Forwarder> weakSelf = shared_from_this();
        std::weak_ptr<Pair> weakPair = pair;
        pair->timer.async_wait([weakSelf, weakPair](boost::system::error_code ec) {
            auto self = weakSelf.lock();
            auto p = weakPair.lock();
            if (ec || !self || !p || self->m_closed || p->dialing)
                return;
            self->printError(p, "(request " + p->requestId + ") timed out waiting for streams");
            if (p->errorId)
                self->m_session.send(p->errorId, {}, true);
            if (p->dataId)
                self->m_session.reset(p->dataId, spdy::Cancel);
            self->retire(p);
        });
    }

    void printError(const PairPtr &pair, const std::string &message)
    {
        if (pair->errorId)
            m_session.send(pair->errorId, message);
    }

    void dial(const PairPtr &pair)
    {
        pair->dialing = true;
        boost::system::error_code ec;
        const auto address = net::ip::make_address(m_target.ip, ec);
        if (ec) {
            fail(pair, "invalid pod address \"" + m_target.ip + "\"");
            return;
        }
        std::weak_ptr<Forwarder> weakSelf = shared_from_this();
        pair->socket.async_connect(tcp::endpoint(address, pair->port), [weakSelf, pair](boost::system::error_code e) {
            auto self = weakSelf.lock();
            if (!self || self->m_closed || pair->socketClosed)
                return;
            if (e) {
                self->fail(pair,
                           "dial tcp " + self->m_target.ip + ":" + std::to_string(pair->port)
                               + ": connect: " + goError(e));
                return;
            }
            pair->connected = true;
            boost::system::error_code ignored;
            pair->socket.set_option(tcp::no_delay(true), ignored);
            pair->buffer = std::make_unique<std::array<char, 64 * 1024>>();
            self->pumpToPod(pair);
            self->readPod(pair);
        });
    }

    // The forwarding failed: the kubelet's words on the error stream, then both streams end.
    void fail(const PairPtr &pair, const std::string &reason)
    {
        printError(pair,
                   "error forwarding port " + std::to_string(pair->port) + " to pod " + m_target.pod + ", uid "
                       + m_target.uid + ": " + reason);
        closeSocket(pair);
        finishStreams(pair);
    }

    void onData(std::uint32_t id, std::string data, bool fin)
    {
        auto it = m_byStream.find(id);
        if (it == m_byStream.end()) {
            m_session.consumed(id, data.size());
            return;
        }
        PairPtr pair = it->second;
        if (id != pair->dataId) { // the error stream carries nothing from the client
            m_session.consumed(id, data.size());
            return;
        }
        if (!data.empty()) {
            if (pair->socketClosed || pair->shutdownSent) {
                m_session.consumed(id, data.size());
            } else {
                pair->toPodBytes += data.size();
                pair->toPod.push_back(std::move(data));
                if (pair->toPodBytes > m_options.podQueueHigh && !m_readPaused) {
                    m_readPaused = true;
                    m_channel->setReadPaused(true);
                }
            }
        }
        if (fin)
            pair->clientFin = true;
        pumpToPod(pair);
    }

    void pumpToPod(const PairPtr &pair)
    {
        if (pair->writing || !pair->connected || pair->socketClosed || m_closed)
            return;
        if (pair->toPod.empty()) {
            if (pair->clientFin && !pair->shutdownSent) {
                pair->shutdownSent = true;
                boost::system::error_code ignored;
                pair->socket.shutdown(tcp::socket::shutdown_send, ignored);
            }
            return;
        }
        pair->writing = true;
        std::weak_ptr<Forwarder> weakSelf = shared_from_this();
        net::async_write(pair->socket, net::buffer(pair->toPod.front()),
                         [weakSelf, pair](boost::system::error_code ec, std::size_t) {
                             pair->writing = false;
                             auto self = weakSelf.lock();
                             if (!self || self->m_closed || pair->socketClosed)
                                 return;
                             if (ec) { // the pod's side is gone: the forwarding ends
                                 self->closeSocket(pair);
                                 self->finishStreams(pair);
                                 return;
                             }
                             const std::size_t n = pair->toPod.front().size();
                             pair->toPod.pop_front();
                             pair->toPodBytes -= n;
                             self->m_session.consumed(pair->dataId, n);
                             self->maybeResumeInput();
                             self->pumpToPod(pair);
                         });
    }

    void maybeResumeInput()
    {
        if (!m_readPaused || m_closed)
            return;
        for (const auto &[id, p] : m_pairs)
            if (p->toPodBytes > m_options.podQueueHigh / 2)
                return;
        m_readPaused = false;
        m_channel->setReadPaused(false);
    }

    bool canSendToClient(const PairPtr &pair) const
    {
        return m_channel->queuedBytes() < m_options.clientQueueHigh && m_session.heldBack(pair->dataId) == 0;
    }

    void readPod(const PairPtr &pair)
    {
        if (m_closed || pair->reading || !pair->connected || pair->socketClosed || pair->podEof || pair->finished)
            return;
        if (!canSendToClient(pair)) {
            m_blocked.insert(pair);
            return;
        }
        pair->reading = true;
        std::weak_ptr<Forwarder> weakSelf = shared_from_this();
        pair->socket.async_read_some(net::buffer(*pair->buffer),
                                     [weakSelf, pair](boost::system::error_code ec, std::size_t n) {
                                         pair->reading = false;
                                         auto self = weakSelf.lock();
                                         if (!self || self->m_closed || pair->socketClosed)
                                             return;
                                         if (ec) {
                                             // The pod closed its end (or reset it): no more data comes from it.
                                             pair->podEof = true;
                                             self->finishStreams(pair);
                                             return;
                                         }
                                         self->m_session.send(pair->dataId, std::string_view(pair->buffer->data(), n));
                                         self->readPod(pair);
                                     });
    }

    void resumeReaders()
    {
        if (m_closed || m_blocked.empty())
            return;
        auto blocked = std::exchange(m_blocked, {});
        for (const auto &p : blocked)
            readPod(p);
    }

    // Our side of both streams ends (the kubelet closes them when PortForward returns).
    void finishStreams(const PairPtr &pair)
    {
        if (pair->finished)
            return;
        pair->finished = true;
        if (pair->dataId)
            m_session.send(pair->dataId, {}, true);
        if (pair->errorId)
            m_session.send(pair->errorId, {}, true);
        maybeRetire(pair);
    }

    void onReset(std::uint32_t id)
    {
        auto it = m_byStream.find(id);
        if (it == m_byStream.end())
            return;
        PairPtr pair = it->second;
        if (id == pair->dataId) {
            closeSocket(pair);
            finishStreams(pair);
        }
        maybeRetire(pair);
    }

    void closeSocket(const PairPtr &pair)
    {
        if (pair->socketClosed)
            return;
        pair->socketClosed = true;
        boost::system::error_code ignored;
        pair->socket.close(ignored);
        pair->timer.cancel();
        // What was never written still counts as consumed for the session's window.
        if (pair->toPodBytes)
            m_session.consumed(pair->dataId, pair->toPodBytes);
        pair->toPod.clear();
        pair->toPodBytes = 0;
        m_blocked.erase(pair);
        maybeResumeInput();
    }

    void maybeRetire(const PairPtr &pair)
    {
        const bool dataOpen = pair->dataId && m_session.isOpen(pair->dataId);
        const bool errorOpen = pair->errorId && m_session.isOpen(pair->errorId);
        if (dataOpen || errorOpen || !pair->dialing)
            return;
        retire(pair);
    }

    void retire(const PairPtr &pair)
    {
        closeSocket(pair);
        if (pair->dataId)
            m_byStream.erase(pair->dataId);
        if (pair->errorId)
            m_byStream.erase(pair->errorId);
        if (auto it = m_pairs.find(pair->requestId); it != m_pairs.end() && it->second == pair)
            m_pairs.erase(it);
        checkGoneAway();
    }

    void checkGoneAway()
    {
        if (!m_closed && m_session.goneAway() && m_session.openStreams() == 0)
            m_channel->close();
    }

    void teardown()
    {
        if (m_closed)
            return;
        m_closed = true;
        for (auto &[id, pair] : m_pairs) {
            pair->socketClosed = true;
            boost::system::error_code ignored;
            pair->socket.close(ignored);
            pair->timer.cancel();
        }
        m_pairs.clear();
        m_byStream.clear();
        m_blocked.clear();
    }

    net::io_context &m_io;
    std::shared_ptr<ByteChannel> m_channel;
    PortForwardTarget m_target;
    SpdyForwardOptions m_options;
    spdy::ServerSession m_session;
    std::map<std::string, PairPtr> m_pairs; // by request id
    std::map<std::uint32_t, PairPtr> m_byStream;
    std::set<PairPtr> m_blocked; // pod readers waiting for the client side to drain
    bool m_readPaused = false;
    bool m_closeAfterFlush = false;
    bool m_closed = false;
};

} // namespace

void serveSpdyPortForward(net::io_context &io, std::shared_ptr<ByteChannel> channel, PortForwardTarget target,
                          SpdyForwardOptions options)
{
    auto f = std::make_shared<Forwarder>(io, std::move(channel), std::move(target), options);
    f->start();
}

std::shared_ptr<ByteChannel> byteChannelOverWebSocket(std::shared_ptr<WebSocketChannel> ws)
{
    auto b = std::make_shared<WsBytes>(std::move(ws));
    b->attach();
    return b;
}

} // namespace iterdeck::sandbox
