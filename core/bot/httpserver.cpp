#include "httpserver.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace iterdeck::bot {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

std::string HttpRequest::header(const std::string &lowerName) const
{
    const auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
}

bool percentDecodePath(const std::string &in, std::string *out)
{
    out->clear();
    out->reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out->push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1]))
            || !std::isxdigit(static_cast<unsigned char>(in[i + 2])))
            return false;
        out->push_back(static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
        i += 2;
    }
    return true;
}

namespace {

const char *reasonJson(int status)
{
    switch (status) {
    case 400:
        return R"({"error":"bad-request","message":"the request is not valid HTTP/1.1"})";
    case 413:
        return R"({"error":"too-large","message":"the request body is larger than the server accepts"})";
    case 431:
        return R"({"error":"headers-too-large","message":"the request head is larger than the server accepts"})";
    case 503:
        return R"({"error":"unavailable","message":"the request could not be handled in time"})";
    default:
        return R"({"error":"error"})";
    }
}

// Every live connection, so that stop() can close them: a stopped server must not leave
// clients waiting on sockets nobody reads.
class Closable
{
public:
    virtual ~Closable() = default;
    virtual void abort() = 0; // on the connection's own strand
    virtual net::any_io_executor executor() = 0; // that strand
};

struct Countdown
{
    explicit Countdown(std::size_t n)
        : left(n)
    { }
    void done()
    {
        std::lock_guard lock(mutex);
        if (left > 0 && --left == 0)
            zero.notify_all();
    }
    void wait(std::chrono::milliseconds timeout)
    {
        std::unique_lock lock(mutex);
        zero.wait_for(lock, timeout, [this]() { return left == 0; });
    }
    std::mutex mutex;
    std::condition_variable zero;
    std::size_t left;
};

struct Registry
{
    std::mutex mutex;
    std::map<std::uint64_t, std::weak_ptr<Closable>> live;
    std::uint64_t next = 1;

    std::uint64_t add(std::weak_ptr<Closable> c)
    {
        std::lock_guard lock(mutex);
        live.emplace(next, std::move(c));
        return next++;
    }
    void remove(std::uint64_t id)
    {
        std::lock_guard lock(mutex);
        live.erase(id);
    }
    void abortAll()
    {
        std::vector<std::shared_ptr<Closable>> all;
        {
            std::lock_guard lock(mutex);
            for (auto &[id, w] : live) {
                if (auto c = w.lock())
                    all.push_back(std::move(c));
            }
        }
        // Each on its own strand: the server may run on several threads. The count tells stop()
        // when every one has been closed.
        auto left = std::make_shared<Countdown>(all.size());
        for (auto &c : all)
            net::dispatch(c->executor(), [c, left]() {
                c->abort();
                left->done();
            });
        left->wait(std::chrono::seconds(2));
    }
};

// Shared by the sessions of one server.
struct Shared
{
    std::shared_ptr<Registry> registry = std::make_shared<Registry>();
    HttpHandler handler;
    WebSocketHandler webSocketHandler;
    HttpServerOptions options;
    bool tls = false;
    net::io_context *webSocketIo = nullptr; // plain WebSocket connections move here after the upgrade
};

template<class Stream> constexpr bool isTlsStream = std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>;

// One WebSocket connection after the handshake: a read loop, a write queue, Beast's idle pings.
template<class Stream>
class WsSession : public WebSocketConnection, public Closable, public std::enable_shared_from_this<WsSession<Stream>>
{
public:
    ~WsSession() override
    {
        if (m_registered)
            m_shared->registry->remove(m_registered);
    }

    void abort() override
    {
        beast::error_code ignored;
        beast::get_lowest_layer(m_ws).socket().close(ignored);
    }
    net::any_io_executor executor() override { return m_ws.get_executor(); }

    WsSession(std::shared_ptr<void> keep, std::shared_ptr<const Shared> shared, std::string remote, Stream &&stream)
        : m_keep(std::move(keep))
        , m_ws(std::move(stream))
        , m_shared(std::move(shared))
        , m_remote(std::move(remote))
    { }

    void run(http::request<http::string_body> request, std::shared_ptr<WebSocketPeer> peer, std::string subprotocol)
    {
        m_peer = std::move(peer);
        m_registered = m_shared->registry->add(this->weak_from_this());
        beast::get_lowest_layer(m_ws).expires_never();
        websocket::stream_base::timeout timeouts;
        timeouts.handshake_timeout = std::chrono::seconds(m_shared->options.requestTimeoutSeconds);
        timeouts.idle_timeout = std::chrono::seconds(m_shared->options.webSocketIdleSeconds);
        timeouts.keep_alive_pings = true;
        m_ws.set_option(timeouts);
        m_ws.read_message_max(m_shared->options.webSocketMaxMessageBytes);
        // One frame a message: a batch of events is one write, not one per 4 KiB.
        m_ws.auto_fragment(false);
        m_ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type &res) {
            res.set(http::field::server, "iterdeck-bot");
            if (!subprotocol.empty())
                res.set(http::field::sec_websocket_protocol, subprotocol);
        }));
        m_ws.async_accept(request, [self = this->shared_from_this()](beast::error_code ec) {
            if (ec)
                return self->finish(ec);
            self->m_open = true;
            self->m_peer->opened(self);
            self->read();
            if (!self->m_queue.empty())
                self->writeNext();
            else if (self->m_closeWanted)
                self->sendClose();
        });
    }

    using WebSocketConnection::send;
    void send(std::shared_ptr<const std::string> text) override
    {
        // Counted when sent, not when the server thread gets to it: a server that falls behind
        // must not buffer without bound either.
        const std::size_t n = text->size();
        if (m_queuedBytes.fetch_add(n) + n > m_shared->options.webSocketMaxQueuedBytes) {
            m_queuedBytes.fetch_sub(n);
            net::post(m_ws.get_executor(), [self = this->shared_from_this()]() { self->dropSlowReader(); });
            return;
        }
        net::post(m_ws.get_executor(), [self = this->shared_from_this(), text = std::move(text)]() mutable {
            self->enqueue(std::move(text));
        });
    }

    void close(int code, std::string reason) override
    {
        net::post(m_ws.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)]() {
            if (self->m_finished || self->m_closeWanted)
                return;
            self->m_closeWanted = true;
            self->m_closeReason = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
            if (self->m_open && !self->m_writing)
                self->sendClose();
        });
    }

    const std::string &remoteAddress() const override { return m_remote; }
    std::size_t queuedBytes() const override { return m_queuedBytes.load(std::memory_order_relaxed); }

private:
    void dropSlowReader()
    {
        if (m_finished)
            return;
        // The peer does not read: no close frame would get through either.
        m_finishCode = 1008;
        m_finishReason = "the client reads too slowly";
        beast::error_code ignored;
        beast::get_lowest_layer(m_ws).socket().close(ignored);
    }

    void enqueue(std::shared_ptr<const std::string> text)
    {
        if (m_finished || m_closeWanted) {
            m_queuedBytes.fetch_sub(text->size());
            return;
        }
        m_queue.push_back(std::move(text));
        if (m_open && !m_writing)
            writeNext();
    }

    void writeNext()
    {
        m_writing = true;
        m_ws.text(true);
        m_ws.async_write(net::buffer(*m_queue.front()),
                         [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                             self->m_writing = false;
                             if (self->m_queue.empty())
                                 return; // finished meanwhile: the queue was dropped
                             self->m_queuedBytes.fetch_sub(self->m_queue.front()->size());
                             self->m_queue.pop_front();
                             if (ec)
                                 return self->finish(ec);
                             if (!self->m_queue.empty())
                                 self->writeNext();
                             else if (self->m_closeWanted)
                                 self->sendClose();
                         });
    }

    void sendClose()
    {
        if (m_closeSent || m_finished)
            return;
        m_closeSent = true;
        m_finishCode = m_closeReason.code;
        m_finishReason = std::string(m_closeReason.reason.data(), m_closeReason.reason.size());
        m_ws.async_close(m_closeReason, [self = this->shared_from_this()](beast::error_code) {
            // The read loop ends with `closed` and reports.
        });
    }

    void read()
    {
        m_ws.async_read(m_buffer, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
                return self->finish(ec);
            if (!self->m_ws.got_text()) {
                self->m_buffer.consume(self->m_buffer.size());
                self->m_closeWanted = false;
                self->close(1003, "text messages only");
                return self->read();
            }
            std::string text = beast::buffers_to_string(self->m_buffer.data());
            self->m_buffer.consume(self->m_buffer.size());
            self->m_peer->message(std::move(text));
            self->read();
        });
    }

    void finish(beast::error_code ec)
    {
        if (m_finished)
            return;
        m_finished = true;
        int code = m_finishCode;
        std::string reason = m_finishReason;
        if (code == 0) {
            const auto &r = m_ws.reason();
            if (ec == websocket::error::closed && r.code != 0) {
                code = r.code;
                reason = std::string(r.reason.data(), r.reason.size());
            } else if (ec == websocket::error::message_too_big) {
                code = 1009;
                reason = "message too big";
            } else {
                code = 1006;
                reason = ec.message();
            }
        }
        beast::error_code ignored;
        beast::get_lowest_layer(m_ws).socket().close(ignored);
        for (const auto &t : m_queue)
            m_queuedBytes.fetch_sub(t->size());
        m_queue.clear();
        if (m_peer)
            m_peer->closed(code, reason);
        m_peer.reset();
    }

    std::shared_ptr<void> m_keep;
    websocket::stream<Stream> m_ws;
    std::shared_ptr<const Shared> m_shared;
    std::string m_remote;
    std::shared_ptr<WebSocketPeer> m_peer;
    std::uint64_t m_registered = 0;
    beast::flat_buffer m_buffer;
    std::deque<std::shared_ptr<const std::string>> m_queue;
    std::atomic<std::size_t> m_queuedBytes {0};
    websocket::close_reason m_closeReason;
    int m_finishCode = 0;
    std::string m_finishReason;
    bool m_open = false;
    bool m_writing = false;
    bool m_closeWanted = false;
    bool m_closeSent = false;
    bool m_finished = false;
};

template<class Stream> class Session : public Closable, public std::enable_shared_from_this<Session<Stream>>
{
public:
    ~Session() override
    {
        if (m_registered)
            m_shared->registry->remove(m_registered);
    }

    void abort() override
    {
        if (m_upgraded)
            return;
        beast::error_code ignored;
        lowest().socket().close(ignored);
    }
    net::any_io_executor executor() override { return m_stream.get_executor(); }

    // `keep` keeps the io_context alive as long as the session: a handler may hold Respond
    // (and so the session) after the server stopped.
    template<class... Args>
    Session(std::shared_ptr<void> keep, std::shared_ptr<const Shared> shared, std::string remote, Args &&...args)
        : m_keep(std::move(keep))
        , m_stream(std::forward<Args>(args)...)
        , m_shared(std::move(shared))
        , m_remote(std::move(remote))
    { }

    void start()
    {
        m_registered = m_shared->registry->add(this->weak_from_this());
        if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
            beast::get_lowest_layer(m_stream).expires_after(
                std::chrono::seconds(m_shared->options.requestTimeoutSeconds));
            m_stream.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
                if (!ec)
                    self->readHead(true);
            });
        } else {
            readHead(true);
        }
    }

private:
    auto &lowest() { return beast::get_lowest_layer(m_stream); }

    void readHead(bool first)
    {
        m_parser.emplace();
        m_parser->header_limit(static_cast<std::uint32_t>(m_shared->options.maxHeaderBytes));
        m_parser->body_limit(m_shared->options.maxBodyBytes);
        lowest().expires_after(std::chrono::seconds(first ? m_shared->options.requestTimeoutSeconds
                                                          : m_shared->options.idleTimeoutSeconds));
        http::async_read_header(
            m_stream, m_buffer, *m_parser,
            [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->onHead(ec); });
    }

    void onHead(beast::error_code ec)
    {
        if (ec) {
            if (ec == http::error::header_limit)
                return fail(431);
            if (ec == http::error::body_limit) // Content-Length over the limit, seen in the head
                return fail(413);
            if (ec == net::error::eof || ec == beast::error::timeout || ec == net::ssl::error::stream_truncated
                || ec == net::error::connection_reset || ec == net::error::operation_aborted)
                return close();
            return fail(400);
        }
        // The size is known before the body is read: refuse it unread.
        const auto length = m_parser->content_length();
        if (length && *length > m_shared->options.maxBodyBytes)
            return fail(413);
        lowest().expires_after(std::chrono::seconds(m_shared->options.requestTimeoutSeconds));
        if (m_parser->get()[http::field::expect] == "100-continue" && !m_parser->is_done()) {
            auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                           m_parser->get().version());
            http::async_write(m_stream, *cont,
                              [self = this->shared_from_this(), cont](beast::error_code wec, std::size_t) {
                                  if (wec)
                                      return self->close();
                                  self->readBody();
                              });
            return;
        }
        readBody();
    }

    void readBody()
    {
        http::async_read(m_stream, m_buffer, *m_parser,
                         [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->onRequest(ec); });
    }

    void onRequest(beast::error_code ec)
    {
        if (ec) {
            if (ec == http::error::body_limit)
                return fail(413);
            // A timed out Beast stream is already closed: there is no 408 to send.
            if (ec == beast::error::timeout || ec == net::error::eof || ec == net::ssl::error::stream_truncated
                || ec == net::error::connection_reset)
                return close();
            return fail(400);
        }
        auto &msg = m_parser->get();
        m_keepAlive = msg.keep_alive();
        m_version = msg.version();
        m_head = msg.method() == http::verb::head;
        HttpRequest req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        const auto q = req.target.find('?');
        const std::string rawPath = req.target.substr(0, q);
        if (q != std::string::npos)
            req.query = req.target.substr(q + 1);
        if (!percentDecodePath(rawPath, &req.path) || req.path.empty() || req.path.front() != '/')
            return fail(400);
        for (const auto &f : msg) {
            std::string name(f.name_string());
            for (auto &c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto [it, inserted] = req.headers.emplace(name, std::string(f.value()));
            if (!inserted)
                it->second += ", " + std::string(f.value());
        }
        req.body = std::move(msg.body());
        req.remoteAddress = m_remote;
        req.tls = m_shared->tls;
        if (m_shared->webSocketHandler && websocket::is_upgrade(msg))
            return decideUpgrade(std::move(req));
        // No read while the handler works: HTTP/1.1 answers in order; pipelined bytes wait in m_buffer.
        lowest().expires_never();
        m_answered = std::make_shared<std::atomic_bool>(false);
        auto self = this->shared_from_this();
        auto answered = m_answered;
        Respond respond = [self, answered](HttpResponse response) {
            if (answered->exchange(true))
                return;
            net::post(self->m_stream.get_executor(),
                      [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
        };
        // A handler that never answers must not hold the connection forever.
        m_handlerTimer = std::make_shared<net::steady_timer>(m_stream.get_executor());
        m_handlerTimer->expires_after(std::chrono::seconds(m_shared->options.handlerTimeoutSeconds));
        m_handlerTimer->async_wait([respond](beast::error_code tec) {
            if (!tec)
                respond(HttpResponse {503, "application/json", reasonJson(503), {}});
        });
        try {
            m_shared->handler(std::move(req), respond);
        } catch (...) {
            respond(HttpResponse {500, "application/json", R"({"error":"internal"})", {}});
        }
    }

    void decideUpgrade(HttpRequest req)
    {
        lowest().expires_never();
        auto self = this->shared_from_this();
        auto decided = std::make_shared<std::atomic_bool>(false);
        std::function<void(WebSocketDecision)> decide = [self, decided](WebSocketDecision decision) {
            if (decided->exchange(true))
                return;
            net::post(self->m_stream.get_executor(),
                      [self, decision = std::move(decision)]() mutable { self->upgrade(std::move(decision)); });
        };
        m_handlerTimer = std::make_shared<net::steady_timer>(m_stream.get_executor());
        m_handlerTimer->expires_after(std::chrono::seconds(m_shared->options.handlerTimeoutSeconds));
        m_handlerTimer->async_wait([decide](beast::error_code tec) {
            if (!tec)
                decide(WebSocketDecision {nullptr, {}, HttpResponse {503, "application/json", reasonJson(503), {}}});
        });
        try {
            m_shared->webSocketHandler(std::move(req), decide);
        } catch (...) {
            decide(
                WebSocketDecision {nullptr, {}, HttpResponse {500, "application/json", R"({"error":"internal"})", {}}});
        }
    }

    void upgrade(WebSocketDecision decision)
    {
        if (m_handlerTimer)
            m_handlerTimer->cancel();
        if (!decision.peer) {
            m_keepAlive = false;
            m_answered = std::make_shared<std::atomic_bool>(true);
            return write(std::move(decision.refusal));
        }
        m_upgraded = true;
        if constexpr (!isTlsStream<Stream>) {
            // The connection moves to the WebSocket threads: the stream's writes then never queue
            // ahead of an HTTP answer. (A TLS connection's state cannot move; it stays here.)
            if (m_shared->webSocketIo && m_buffer.size() == 0) {
                beast::error_code ec;
                tcp::socket old = m_stream.release_socket();
                const auto endpoint = old.local_endpoint(ec);
                const auto fd = ec ? -1 : old.release(ec);
                if (!ec) {
                    tcp::socket moved(net::make_strand(*m_shared->webSocketIo));
                    moved.assign(endpoint.protocol(), fd, ec);
                    if (!ec) {
                        std::make_shared<WsSession<Stream>>(m_keep, m_shared, m_remote, Stream(std::move(moved)))
                            ->run(m_parser->release(), std::move(decision.peer), std::move(decision.subprotocol));
                        return;
                    }
                    ::close(fd);
                }
                return; // the socket is gone: the client sees the connection closed
            }
        }
        std::make_shared<WsSession<Stream>>(m_keep, m_shared, m_remote, std::move(m_stream))
            ->run(m_parser->release(), std::move(decision.peer), std::move(decision.subprotocol));
    }

    void write(HttpResponse response)
    {
        if (m_handlerTimer)
            m_handlerTimer->cancel();
        auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status),
                                                                       m_version);
        res->set(http::field::server, "iterdeck-bot");
        res->set(http::field::content_type, response.contentType);
        for (const auto &[k, v] : response.headers)
            res->insert(k, v);
        res->keep_alive(m_keepAlive);
        if (m_head) {
            // The length of the GET answer, without its body.
            res->content_length(response.body.size());
        } else {
            res->body() = std::move(response.body);
            res->prepare_payload();
        }
        lowest().expires_after(std::chrono::seconds(m_shared->options.requestTimeoutSeconds));
        http::async_write(m_stream, *res, [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
            if (ec)
                return self->close();
            if (!self->m_keepAlive)
                return self->lingeringClose();
            self->readHead(false);
        });
    }

    // Answers an error the server found itself, then closes: the rest of the request is unread.
    void fail(int status)
    {
        m_keepAlive = false;
        if (m_version == 0)
            m_version = 11;
        write(HttpResponse {status, "application/json", reasonJson(status), {}});
    }

    // After an answer that leaves the request unread (413 and the like): stop sending, then read
    // and drop what the client still sends for a while, so that closing does not reset the
    // connection before the client has read the answer.
    void lingeringClose()
    {
        if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
            close();
        } else {
            beast::error_code ignored;
            lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
            lowest().expires_after(std::chrono::seconds(5));
            m_drained = 0;
            drain();
        }
    }

    void drain()
    {
        m_buffer.consume(m_buffer.size());
        lowest().async_read_some(m_buffer.prepare(64 * 1024),
                                 [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                                     self->m_drained += n;
                                     if (ec || self->m_drained > 64 * 1024 * 1024)
                                         return self->close();
                                     self->drain();
                                 });
    }

    void close()
    {
        if (m_closed)
            return;
        m_closed = true;
        if (m_handlerTimer)
            m_handlerTimer->cancel();
        if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
            lowest().expires_after(std::chrono::seconds(5));
            m_stream.async_shutdown([self = this->shared_from_this()](beast::error_code) {
                beast::error_code ignored;
                self->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
            });
        } else {
            beast::error_code ignored;
            lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
        }
    }

    std::shared_ptr<void> m_keep;
    std::uint64_t m_registered = 0;
    bool m_upgraded = false;
    Stream m_stream;
    std::shared_ptr<const Shared> m_shared;
    std::string m_remote;
    beast::flat_buffer m_buffer;
    std::optional<http::request_parser<http::string_body>> m_parser;
    std::shared_ptr<std::atomic_bool> m_answered;
    std::shared_ptr<net::steady_timer> m_handlerTimer;
    unsigned m_version = 0;
    bool m_keepAlive = false;
    bool m_head = false;
    bool m_closed = false;
    std::size_t m_drained = 0;
};

} // namespace

class HttpServer::Private : public std::enable_shared_from_this<HttpServer::Private>
{
public:
    explicit Private(int threadCount, int webSocketThreads)
        : io(threadCount)
        , webSocketIo(std::max(1, webSocketThreads))
        , acceptor(net::make_strand(io))
    { }
    net::io_context io;
    net::io_context webSocketIo;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> webSocketWork;
    tcp::acceptor acceptor; // on a strand of its own
    std::unique_ptr<ssl::context> tls;
    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    std::vector<std::thread> threads;
    std::uint16_t port = 0;
    std::mutex mutex;

    void accept()
    {
        acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
            if (ec == net::error::operation_aborted || !self->acceptor.is_open())
                return;
            if (!ec) {
                // Answers and stream messages are small and written as they come: Nagle's
                // algorithm would hold one back until the peer acknowledges the one before.
                beast::error_code ignored;
                s.set_option(tcp::no_delay(true), ignored);
                beast::error_code rec;
                const auto ep = s.remote_endpoint(rec);
                std::string remote = rec ? std::string() : ep.address().to_string() + ':' + std::to_string(ep.port());
                if (self->tls) {
                    std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
                        self, self->shared, std::move(remote), std::move(s), *self->tls)
                        ->start();
                } else {
                    std::make_shared<Session<beast::tcp_stream>>(self, self->shared, std::move(remote), std::move(s))
                        ->start();
                }
            }
            self->accept();
        });
    }
};

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options)
    : HttpServer(std::move(handler), {}, options)
{ }

HttpServer::HttpServer(HttpHandler handler, WebSocketHandler webSocketHandler, HttpServerOptions options)
    : d(std::make_shared<Private>(std::max(1, options.threads), options.webSocketThreads))
{
    d->shared->handler = std::move(handler);
    d->shared->webSocketHandler = std::move(webSocketHandler);
    d->shared->options = options;
}

HttpServer::~HttpServer()
{
    stop();
}

bool HttpServer::useTls(const std::string &certificateFile, const std::string &keyFile, std::string *error)
{
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    beast::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3
                         | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    ctx->use_certificate_chain_file(certificateFile, ec);
    if (ec) {
        *error = "cannot use the certificate " + certificateFile + ": " + ec.message();
        return false;
    }
    ctx->use_private_key_file(keyFile, ssl::context::pem, ec);
    if (ec) {
        *error = "cannot use the private key " + keyFile + ": " + ec.message();
        return false;
    }
    d->tls = std::move(ctx);
    d->shared->tls = true;
    return true;
}

bool HttpServer::listen(const std::string &address, std::uint16_t port, std::string *error)
{
    beast::error_code ec;
    const auto addr = net::ip::make_address(address, ec);
    if (ec) {
        *error = "\"" + address + "\" is not an IP address";
        return false;
    }
    const tcp::endpoint ep(addr, port);
    d->acceptor.open(ep.protocol(), ec);
    if (!ec)
        d->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
        d->acceptor.bind(ep, ec);
    if (!ec)
        d->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        *error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message();
        beast::error_code ignored;
        d->acceptor.close(ignored);
        return false;
    }
    d->port = d->acceptor.local_endpoint().port();
    d->accept();
    for (int i = 0; i < std::max(1, d->shared->options.threads); ++i)
        d->threads.emplace_back([p = d]() { p->io.run(); });
    if (d->shared->options.webSocketThreads > 0 && d->shared->webSocketHandler) {
        d->webSocketWork.emplace(d->webSocketIo.get_executor());
        d->shared->webSocketIo = &d->webSocketIo;
        for (int i = 0; i < d->shared->options.webSocketThreads; ++i)
            d->threads.emplace_back([p = d]() { p->webSocketIo.run(); });
    }
    return true;
}

std::uint16_t HttpServer::port() const
{
    return d->port;
}

bool HttpServer::isTls() const
{
    return d->shared->tls;
}

void HttpServer::stop()
{
    if (d->threads.empty())
        return;
    std::promise<void> closed;
    net::post(d->acceptor.get_executor(), [p = d, &closed]() {
        beast::error_code ignored;
        p->acceptor.close(ignored);
        closed.set_value();
    });
    closed.get_future().wait();
    // Every live connection is closed on its strand (the threads still run them), then the
    // threads stop.
    d->shared->registry->abortAll();
    d->io.stop();
    d->webSocketWork.reset();
    d->webSocketIo.stop();
    for (auto &t : d->threads)
        t.join();
    d->threads.clear();
}

} // namespace iterdeck::bot
