#include "sandbox/httpserver.h"

#include "sandbox/tls.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <deque>
#include <iostream>

namespace iterdeck::sandbox {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

std::string percentDecode(std::string_view in, bool plusIsSpace)
{
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%' && i + 2 < in.size()) {
            int h = hex(in[i + 1]);
            int l = hex(in[i + 2]);
            if (h >= 0 && l >= 0) {
                out.push_back(char(h * 16 + l));
                i += 2;
                continue;
            }
        }
        out.push_back(plusIsSpace && c == '+' ? ' ' : c);
    }
    return out;
}

std::string HttpRequest::header(const std::string &lowerName) const
{
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> HttpRequest::queryValue(const std::string &key) const
{
    for (const auto &[k, v] : query)
        if (k == key)
            return v;
    return std::nullopt;
}

std::vector<std::string> HttpRequest::queryValues(const std::string &key) const
{
    std::vector<std::string> out;
    for (const auto &[k, v] : query)
        if (k == key)
            out.push_back(v);
    return out;
}

namespace {

std::optional<std::pair<std::string, std::vector<std::string>>> peerIdentity(SSL *ssl)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return std::nullopt;
    std::optional<std::pair<std::string, std::vector<std::string>>> out;
    if (SSL_get_verify_result(ssl) == X509_V_OK) {
        BIO *bio = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(bio, cert);
        char *data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        if (auto id = identityOfPem(std::string(data, std::size_t(len))); id && !id->user.empty())
            out = std::make_pair(id->user, id->groups);
        BIO_free(bio);
    }
    X509_free(cert);
    return out;
}

class Session;

// ---- WebSocket ---------------------------------------------------------------------------

class WsSession : public WebSocketChannel, public std::enable_shared_from_this<WsSession>
{
public:
    WsSession(TlsStream &&stream, bool text, std::size_t maxQueued)
        : m_ws(std::move(stream))
        , m_text(text)
        , m_maxQueued(maxQueued)
    { }

    void accept(http::request<http::string_body> req, const std::string &subprotocol,
                std::function<void(std::shared_ptr<WebSocketChannel>)> ready)
    {
        beast::get_lowest_layer(m_ws).expires_never();
        m_ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        m_ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type &res) {
            if (!subprotocol.empty())
                res.set(http::field::sec_websocket_protocol, subprotocol);
            res.set(http::field::server, "iterdeck-sandbox");
        }));
        m_ws.read_message_max(16 * 1024 * 1024);
        m_ws.auto_fragment(false);
        auto self = shared_from_this();
        m_ws.async_accept(req, [self, ready = std::move(ready)](beast::error_code ec) {
            if (ec) {
                self->m_closed = true;
                return;
            }
            self->m_accepted = true;
            ready(self);
            self->doRead();
            self->doWrite();
        });
    }

    void send(std::string data) override
    {
        if (m_closed || m_closing)
            return;
        m_queued += data.size();
        m_queue.push_back(std::move(data));
        if (m_queued > m_maxQueued) {
            abortNow();
            return;
        }
        doWrite();
    }

    void close(std::uint16_t code, std::string reason) override
    {
        if (m_closed || m_closing)
            return;
        m_closing = true;
        m_closeCode = code;
        m_closeReason = std::move(reason);
        doWrite();
    }

    std::size_t queuedBytes() const override { return m_queued; }
    bool closed() const override { return m_closed; }
    void setReadPaused(bool paused) override
    {
        m_readPaused = paused;
        // Handlers hold only weak references and a pending read is what normally keeps the
        // session alive: while reading is paused (and nothing is being written) it would be
        // destroyed, dropping the connection without a close frame.
        if (paused && !m_closed)
            m_pausedSelf = shared_from_this();
        if (!paused && !m_reading && !m_closed && m_accepted)
            doRead();
        if (!paused)
            m_pausedSelf.reset();
    }

private:
    void doRead()
    {
        if (m_readPaused || m_reading)
            return;
        m_reading = true;
        auto self = shared_from_this();
        m_ws.async_read(m_readBuffer, [self](beast::error_code ec, std::size_t) {
            self->m_reading = false;
            if (ec) {
                self->finish();
                return;
            }
            std::string data = beast::buffers_to_string(self->m_readBuffer.data());
            self->m_readBuffer.consume(self->m_readBuffer.size());
            bool text = self->m_ws.got_text();
            if (self->onMessage)
                self->onMessage(std::move(data), text);
            if (!self->m_closed)
                self->doRead();
        });
    }

    void doWrite()
    {
        if (m_writing || m_closed)
            return;
        if (m_queue.empty()) {
            if (m_closing && !m_closeSent) {
                m_closeSent = true;
                m_writing = true;
                auto self = shared_from_this();
                websocket::close_reason cr(static_cast<websocket::close_code>(m_closeCode), m_closeReason);
                m_ws.async_close(cr, [self](beast::error_code) {
                    self->m_writing = false;
                    self->finish();
                });
            }
            return;
        }
        m_writing = true;
        m_ws.text(m_text);
        auto self = shared_from_this();
        m_ws.async_write(net::buffer(m_queue.front()), [self](beast::error_code ec, std::size_t) {
            self->m_writing = false;
            if (ec) {
                self->finish();
                return;
            }
            self->m_queued -= self->m_queue.front().size();
            self->m_queue.pop_front();
            if (self->m_queue.empty() && self->onDrained)
                self->onDrained();
            self->doWrite();
        });
    }

    void abortNow()
    {
        beast::error_code ec;
        beast::get_lowest_layer(m_ws).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(m_ws).close();
        finish();
    }

    void finish()
    {
        if (m_closed)
            return;
        m_closed = true;
        m_queue.clear();
        m_queued = 0;
        if (!m_closeSent) {
            beast::error_code ec;
            beast::get_lowest_layer(m_ws).close();
        }
        auto cb = std::move(onClose);
        onMessage = nullptr;
        onDrained = nullptr;
        auto keep = std::move(m_pausedSelf); // released after the callback
        if (cb)
            cb();
    }

    websocket::stream<TlsStream> m_ws;
    std::shared_ptr<WsSession> m_pausedSelf; // set while reading is paused
    beast::flat_buffer m_readBuffer;
    std::deque<std::string> m_queue;
    std::size_t m_queued = 0;
    bool m_text = false;
    std::size_t m_maxQueued;
    bool m_writing = false;
    bool m_reading = false;
    bool m_readPaused = false;
    bool m_accepted = false;
    bool m_closing = false;
    bool m_closeSent = false;
    bool m_closed = false;
    std::uint16_t m_closeCode = 1000;
    std::string m_closeReason;
};

// ---- raw byte stream after 101 Switching Protocols ----------------------------------------

class RawSession : public ByteChannel, public std::enable_shared_from_this<RawSession>
{
public:
    RawSession(TlsStream &&stream, std::size_t maxQueued)
        : m_stream(std::move(stream))
        , m_maxQueued(maxQueued)
    { }

    // `early`: bytes the client sent right behind its request, already read.
    void start(std::string early)
    {
        beast::get_lowest_layer(m_stream).expires_never();
        if (!early.empty() && onData)
            onData(std::move(early));
        doRead();
        doWrite();
    }

    void send(std::string data) override
    {
        if (m_closed || m_closing || data.empty())
            return;
        m_queued += data.size();
        m_queue.push_back(std::move(data));
        if (m_queued > m_maxQueued) {
            abortNow();
            return;
        }
        doWrite();
    }

    void close() override
    {
        if (m_closed || m_closing)
            return;
        m_closing = true;
        doWrite();
    }

    std::size_t queuedBytes() const override { return m_queued; }
    bool closed() const override { return m_closed; }
    void setReadPaused(bool paused) override
    {
        m_readPaused = paused;
        if (!paused)
            doRead();
    }

private:
    void doRead()
    {
        if (m_readPaused || m_reading || m_closed || m_closing)
            return;
        m_reading = true;
        auto self = shared_from_this();
        m_stream.async_read_some(net::buffer(m_readBuffer), [self](beast::error_code ec, std::size_t n) {
            self->m_reading = false;
            if (self->m_closed)
                return;
            if (ec) {
                self->finish();
                return;
            }
            if (self->onData)
                self->onData(std::string(self->m_readBuffer.data(), n));
            self->doRead();
        });
    }

    void doWrite()
    {
        if (m_writing || m_closed)
            return;
        if (m_queue.empty()) {
            if (m_closing && !m_shutdown) {
                m_shutdown = true;
                m_writing = true;
                beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(5));
                auto self = shared_from_this();
                m_stream.async_shutdown([self](beast::error_code) {
                    self->m_writing = false;
                    self->finish();
                });
            }
            return;
        }
        // Pieces are written together (a TLS record per piece otherwise) into a buffer that
        // keeps its capacity: no large allocation per write.
        m_chunk.clear();
        while (!m_queue.empty() && (m_chunk.empty() || m_chunk.size() + m_queue.front().size() <= kChunk)) {
            m_chunk += m_queue.front();
            m_queue.pop_front();
        }
        m_writing = true;
        auto self = shared_from_this();
        net::async_write(m_stream, net::buffer(m_chunk), [self](beast::error_code ec, std::size_t) {
            self->m_writing = false;
            if (self->m_closed)
                return;
            if (ec) {
                self->finish();
                return;
            }
            self->m_queued -= self->m_chunk.size();
            self->m_chunk.clear();
            if (self->m_queue.empty() && self->onDrained)
                self->onDrained();
            self->doWrite();
        });
    }

    void abortNow()
    {
        beast::error_code ec;
        beast::get_lowest_layer(m_stream).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(m_stream).close();
        finish();
    }

    void finish()
    {
        if (m_closed)
            return;
        m_closed = true;
        m_queue.clear();
        m_queued = 0;
        beast::get_lowest_layer(m_stream).close();
        auto cb = std::move(onClose);
        onData = nullptr;
        onDrained = nullptr;
        if (cb)
            cb();
    }

    static constexpr std::size_t kChunk = 256 * 1024;
    TlsStream m_stream;
    std::array<char, 64 * 1024> m_readBuffer {};
    std::deque<std::string> m_queue;
    std::string m_chunk;
    std::size_t m_queued = 0;
    std::size_t m_maxQueued;
    bool m_writing = false;
    bool m_reading = false;
    bool m_readPaused = false;
    bool m_closing = false;
    bool m_shutdown = false;
    bool m_closed = false;
};

// ---- HTTP session ------------------------------------------------------------------------

class Session : public std::enable_shared_from_this<Session>
{
public:
    Session(tcp::socket &&socket, ssl::context &tls, const HttpHandler &handler, const HttpServerOptions &options,
            std::shared_ptr<std::size_t> counter)
        : m_stream(std::move(socket), tls)
        , m_handler(handler)
        , m_options(options)
        , m_counter(std::move(counter))
    {
        ++*m_counter;
    }
    ~Session() { --*m_counter; }

    void run()
    {
        beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(m_options.requestTimeoutSeconds));
        auto self = shared_from_this();
        m_stream.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
            if (ec)
                return; // scanners, wrong CA on the client side...: nothing to answer
            self->m_identity = peerIdentity(self->m_stream.native_handle());
            self->doRead();
        });
    }

    // HttpReply implementation, one per request.
    class Reply : public HttpReply
    {
    public:
        Reply(std::shared_ptr<Session> s, bool keepAlive, unsigned version)
            : m_session(std::move(s))
            , m_keepAlive(keepAlive)
            , m_version(version)
        { }
        ~Reply() override
        {
            if (!m_used && m_session) // a handler that forgot to answer: answer for it
                m_session->sendResponse(HttpResponse {500, "text/plain", "no response\n", {}}, false, m_version);
        }
        void respond(HttpResponse response) override
        {
            if (std::exchange(m_used, true))
                return;
            m_session->sendResponse(std::move(response), m_keepAlive, m_version);
        }
        std::shared_ptr<StreamWriter> stream(int status, const std::string &contentType) override;
        void upgrade(const std::string &subprotocol, bool text,
                     std::function<void(std::shared_ptr<WebSocketChannel>)> ready) override
        {
            if (std::exchange(m_used, true))
                return;
            m_session->doUpgrade(subprotocol, text, std::move(ready));
        }
        void switchProtocols(std::vector<std::pair<std::string, std::string>> headers,
                             std::function<void(std::shared_ptr<ByteChannel>)> ready) override
        {
            if (std::exchange(m_used, true))
                return;
            m_session->doSwitch(std::move(headers), m_version, std::move(ready));
        }

    private:
        std::shared_ptr<Session> m_session;
        bool m_keepAlive;
        unsigned m_version;
        bool m_used = false;
    };

    class ChunkWriter : public StreamWriter, public std::enable_shared_from_this<ChunkWriter>
    {
    public:
        explicit ChunkWriter(std::shared_ptr<Session> s)
            : m_session(std::move(s))
        { }
        void write(std::string data) override
        {
            if (m_closed || m_finished || data.empty())
                return;
            m_queued += data.size();
            m_queue.push_back(std::move(data));
            if (m_queued > m_session->m_options.maxQueuedBytes) {
                abort();
                return;
            }
            pump();
        }
        void finish() override
        {
            if (m_closed || m_finished)
                return;
            m_finished = true;
            pump();
        }
        void abort() override
        {
            if (m_closed)
                return;
            beast::error_code ec;
            beast::get_lowest_layer(m_session->m_stream).socket().shutdown(tcp::socket::shutdown_both, ec);
            beast::get_lowest_layer(m_session->m_stream).close();
            closeNow();
        }
        std::size_t queuedBytes() const override { return m_queued; }
        bool closed() const override { return m_closed; }

        void start(http::response<http::empty_body> header)
        {
            m_header = std::make_unique<http::response<http::empty_body>>(std::move(header));
            m_serializer = std::make_unique<http::response_serializer<http::empty_body>>(*m_header);
            m_writing = true;
            auto self = shared_from_this();
            http::async_write_header(m_session->m_stream, *m_serializer, [self](beast::error_code ec, std::size_t) {
                self->m_writing = false;
                if (ec) {
                    self->closeNow();
                    return;
                }
                self->pump();
            });
            watchForClose();
        }

    private:
        // The client sends nothing while it reads a stream; a read that ends means it left.
        void watchForClose()
        {
            auto self = shared_from_this();
            m_session->m_stream.async_read_some(net::buffer(m_sink), [self](beast::error_code ec, std::size_t) {
                if (self->m_closed || self->m_doneWriting)
                    return;
                if (ec) {
                    self->closeNow();
                    return;
                }
                self->watchForClose();
            });
        }

        void pump()
        {
            if (m_writing || m_closed)
                return;
            auto self = shared_from_this();
            if (!m_queue.empty()) {
                m_writing = true;
                m_chunk = std::move(m_queue.front());
                m_queue.pop_front();
                net::async_write(m_session->m_stream, http::make_chunk(net::buffer(m_chunk)),
                                 [self](beast::error_code ec, std::size_t) {
                                     self->m_writing = false;
                                     self->m_queued -= self->m_chunk.size();
                                     if (ec) {
                                         self->closeNow();
                                         return;
                                     }
                                     if (self->m_queue.empty() && self->onDrained)
                                         self->onDrained();
                                     self->pump();
                                 });
                return;
            }
            if (m_finished && !m_doneWriting) {
                m_doneWriting = true;
                m_writing = true;
                net::async_write(m_session->m_stream, http::make_chunk_last(),
                                 [self](beast::error_code ec, std::size_t) {
                                     self->m_writing = false;
                                     // The session goes on reading requests only if our close-watch read is not
                                     // pending; it is, so simply close this connection after the stream (clients
                                     // reconnect).
                                     (void)ec;
                                     self->m_session->shutdownAfterStream();
                                     self->closeNow();
                                 });
            }
        }

        void closeNow()
        {
            if (m_closed)
                return;
            m_closed = true;
            m_queue.clear();
            auto cb = std::move(onClose);
            onDrained = nullptr;
            if (cb)
                cb();
        }

        std::shared_ptr<Session> m_session;
        std::unique_ptr<http::response<http::empty_body>> m_header;
        std::unique_ptr<http::response_serializer<http::empty_body>> m_serializer;
        std::deque<std::string> m_queue;
        std::string m_chunk;
        std::size_t m_queued = 0;
        std::array<char, 512> m_sink {};
        bool m_writing = false;
        bool m_finished = false;
        bool m_doneWriting = false;
        bool m_closed = false;
    };

private:
    void doRead()
    {
        m_parser.emplace();
        m_parser->body_limit(m_options.maxBodyBytes);
        m_parser->header_limit(64 * 1024);
        // Idle until the first byte, then the request timeout: approximated by the idle one for
        // the header wait and a shorter deadline once the header arrived (see onHeader).
        beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(m_options.idleTimeoutSeconds));
        auto self = shared_from_this();
        http::async_read_header(m_stream, m_buffer, *m_parser,
                                [self](beast::error_code ec, std::size_t) { self->onHeader(ec); });
    }

    void onHeader(beast::error_code ec)
    {
        if (ec) {
            if (ec == http::error::header_limit)
                sendError(431, "request header too large");
            else if (ec == http::error::body_limit)
                sendError(413,
                          "the request body is larger than the limit of " + std::to_string(m_options.maxBodyBytes)
                              + " bytes");
            else if (ec != http::error::end_of_stream && ec != net::error::operation_aborted
                     && ec != beast::error::timeout && ec != net::ssl::error::stream_truncated && ec != net::error::eof
                     && ec != net::error::connection_reset)
                sendError(400, "malformed HTTP request: " + ec.message());
            return;
        }
        // The content-length is known now: refuse oversized bodies before reading them.
        if (auto len = m_parser->content_length(); len && *len > m_options.maxBodyBytes) {
            sendError(413,
                      "the request body of " + std::to_string(*len) + " bytes is larger than the limit of "
                          + std::to_string(m_options.maxBodyBytes) + " bytes");
            return;
        }
        beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(m_options.requestTimeoutSeconds));
        auto self = shared_from_this();
        http::async_read(m_stream, m_buffer, *m_parser,
                         [self](beast::error_code ec2, std::size_t) { self->onRead(ec2); });
    }

    void sendError(int status, const std::string &message)
    {
        std::string reason = status == 413 ? "RequestEntityTooLarge"
            : status == 431                ? "RequestHeaderFieldsTooLarge"
                                           : "BadRequest";
        std::string body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)"
            + nlohmannQuote(message) + R"(,"reason":")" + reason + R"(","code":)" + std::to_string(status) + "}";
        sendResponse(HttpResponse {status, "application/json", body, {}}, false, 11);
    }

    static std::string nlohmannQuote(const std::string &s)
    {
        std::string out = "\"";
        for (unsigned char c : s) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += char(c);
            } else if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += char(c);
            }
        }
        return out + "\"";
    }

    void onRead(beast::error_code ec)
    {
        if (ec) {
            if (ec == http::error::body_limit)
                sendError(413,
                          "the request body is larger than the limit of " + std::to_string(m_options.maxBodyBytes)
                              + " bytes");
            else if (ec != beast::error::timeout && ec != net::error::eof && ec != net::ssl::error::stream_truncated
                     && ec != http::error::end_of_stream)
                sendError(400, "malformed HTTP request: " + ec.message());
            return;
        }
        beast::get_lowest_layer(m_stream).expires_never();
        m_request = m_parser->release();
        HttpRequest req;
        req.method = std::string(m_request.method_string());
        req.target = std::string(m_request.target());
        auto q = req.target.find('?');
        req.path = percentDecode(std::string_view(req.target).substr(0, q), false);
        if (q != std::string::npos) {
            std::string_view qs = std::string_view(req.target).substr(q + 1);
            while (!qs.empty()) {
                auto amp = qs.find('&');
                std::string_view kv = qs.substr(0, amp);
                qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
                if (kv.empty())
                    continue;
                auto eq = kv.find('=');
                req.query.emplace_back(percentDecode(kv.substr(0, eq), true),
                                       eq == std::string_view::npos ? std::string()
                                                                    : percentDecode(kv.substr(eq + 1), true));
            }
        }
        for (const auto &f : m_request) {
            std::string name(f.name_string());
            for (auto &c : name)
                c = char(std::tolower(static_cast<unsigned char>(c)));
            auto &slot = req.headers[name];
            slot = slot.empty() ? std::string(f.value()) : slot + "," + std::string(f.value());
        }
        req.body = std::move(m_request.body());
        req.upgrade = websocket::is_upgrade(m_request);
        req.certificateIdentity = m_identity;
        auto reply = std::make_shared<Reply>(shared_from_this(), m_request.keep_alive(), m_request.version());
        m_handler(req, reply);
    }

    void sendResponse(HttpResponse r, bool keepAlive, unsigned version)
    {
        auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
        res->set(http::field::server, "iterdeck-sandbox");
        res->set(http::field::content_type, r.contentType);
        res->set("Cache-Control", "no-cache, private");
        for (auto &[k, v] : r.headers)
            res->set(k, v);
        res->body() = std::move(r.body);
        res->keep_alive(keepAlive);
        res->prepare_payload();
        auto self = shared_from_this();
        beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(m_options.idleTimeoutSeconds));
        http::async_write(m_stream, *res, [self, res](beast::error_code ec, std::size_t) {
            if (ec)
                return;
            if (!res->keep_alive()) {
                self->shutdown();
                return;
            }
            self->doRead();
        });
    }

    void shutdown()
    {
        beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(5));
        auto self = shared_from_this();
        m_stream.async_shutdown([self](beast::error_code) { beast::get_lowest_layer(self->m_stream).close(); });
    }

    void shutdownAfterStream()
    {
        beast::error_code ec;
        beast::get_lowest_layer(m_stream).socket().shutdown(tcp::socket::shutdown_send, ec);
        beast::get_lowest_layer(m_stream).close();
    }

    void doUpgrade(const std::string &subprotocol, bool text,
                   std::function<void(std::shared_ptr<WebSocketChannel>)> ready)
    {
        auto ws = std::make_shared<WsSession>(std::move(m_stream), text, m_options.maxQueuedBytes);
        ws->accept(std::move(m_request), subprotocol, std::move(ready));
    }

    void doSwitch(std::vector<std::pair<std::string, std::string>> headers, unsigned version,
                  std::function<void(std::shared_ptr<ByteChannel>)> ready)
    {
        auto res = std::make_shared<http::response<http::empty_body>>(http::status::switching_protocols, version);
        res->set(http::field::server, "iterdeck-sandbox");
        for (auto &[k, v] : headers)
            res->set(k, v);
        auto self = shared_from_this();
        beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(m_options.requestTimeoutSeconds));
        http::async_write(m_stream, *res, [self, res, ready = std::move(ready)](beast::error_code ec, std::size_t) {
            if (ec)
                return;
            std::string early = beast::buffers_to_string(self->m_buffer.data());
            self->m_buffer.consume(self->m_buffer.size());
            auto raw = std::make_shared<RawSession>(std::move(self->m_stream), self->m_options.maxQueuedBytes);
            ready(raw);
            raw->start(std::move(early));
        });
    }

    friend class ChunkWriter;
    TlsStream m_stream;
    beast::flat_buffer m_buffer;
    std::optional<http::request_parser<http::string_body>> m_parser;
    http::request<http::string_body> m_request;
    const HttpHandler &m_handler;
    const HttpServerOptions &m_options;
    std::optional<std::pair<std::string, std::vector<std::string>>> m_identity;
    std::shared_ptr<std::size_t> m_counter;
};

std::shared_ptr<StreamWriter> Session::Reply::stream(int status, const std::string &contentType)
{
    m_used = true;
    auto w = std::make_shared<ChunkWriter>(m_session);
    http::response<http::empty_body> header(static_cast<http::status>(status), m_version);
    header.set(http::field::server, "iterdeck-sandbox");
    header.set(http::field::content_type, contentType);
    header.set("Cache-Control", "no-cache, private");
    header.chunked(true);
    header.keep_alive(false);
    w->start(std::move(header));
    return w;
}

} // namespace

void HttpReply::switchProtocols(std::vector<std::pair<std::string, std::string>>,
                                std::function<void(std::shared_ptr<ByteChannel>)>)
{
    respond(HttpResponse {500, "text/plain", "this transport cannot switch protocols\n", {}});
}

class HttpServer::Private : public std::enable_shared_from_this<HttpServer::Private>
{
public:
    Private(net::io_context &io, ssl::context &tls, HttpHandler handler, HttpServerOptions options)
        : io(io)
        , tls(tls)
        , handler(std::move(handler))
        , options(options)
        , acceptor(io)
    { }

    void doAccept()
    {
        auto self = shared_from_this();
        acceptor.async_accept(net::make_strand(io), [self](beast::error_code ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted || !self->acceptor.is_open())
                return;
            if (!ec) {
                socket.set_option(tcp::no_delay(true), ec);
                std::make_shared<Session>(std::move(socket), self->tls, self->handler, self->options, self->counter)
                    ->run();
            }
            self->doAccept();
        });
    }

    net::io_context &io;
    ssl::context &tls;
    HttpHandler handler;
    HttpServerOptions options;
    tcp::acceptor acceptor;
    std::shared_ptr<std::size_t> counter = std::make_shared<std::size_t>(0);
};

HttpServer::HttpServer(net::io_context &io, ssl::context &tls, HttpHandler handler, HttpServerOptions options)
    : d(std::make_shared<Private>(io, tls, std::move(handler), options))
{ }

HttpServer::~HttpServer()
{
    stop();
}

bool HttpServer::listen(const std::string &address, std::uint16_t port, std::string *error)
{
    beast::error_code ec;
    auto addr = net::ip::make_address(address, ec);
    if (ec) {
        *error = "invalid address " + address + ": " + ec.message();
        return false;
    }
    tcp::endpoint ep(addr, port);
    d->acceptor.open(ep.protocol(), ec);
    if (!ec)
        d->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
        d->acceptor.bind(ep, ec);
    if (!ec)
        d->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        *error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message();
        return false;
    }
    d->doAccept();
    return true;
}

std::uint16_t HttpServer::port() const
{
    beast::error_code ec;
    auto ep = d->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void HttpServer::stop()
{
    beast::error_code ec;
    d->acceptor.close(ec);
}

std::size_t HttpServer::connectionCount() const
{
    return *d->counter;
}

} // namespace iterdeck::sandbox
