#pragma once
// HTTPS/1.1 server for the sandbox (Boost.Beast over Asio, single io_context thread):
// keep-alive requests, chunked streams (watch, logs -f) and WebSocket upgrades (exec,
// port-forward), bearer-token and client-certificate identities, body limits and timeouts so
// that a slow, silent or vanished client never blocks the others.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iterdeck::sandbox {

struct HttpRequest
{
    std::string method;
    std::string target; // raw target, path + query
    std::string path; // percent-decoded path
    std::vector<std::pair<std::string, std::string>> query; // decoded, in order
    std::map<std::string, std::string> headers; // lower-case names
    std::string body;
    bool upgrade = false; // a WebSocket upgrade request
    // From the TLS layer: the verified client certificate's CN and O values, if any.
    std::optional<std::pair<std::string, std::vector<std::string>>> certificateIdentity;

    std::string header(const std::string &lowerName) const;
    std::optional<std::string> queryValue(const std::string &key) const;
    std::vector<std::string> queryValues(const std::string &key) const;
};

struct HttpResponse
{
    int status = 200;
    std::string contentType = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// A chunked response body written over time. write() queues; when the client does not keep
// up and more than maxQueued bytes wait, the connection is dropped (onClose fires).
class StreamWriter
{
public:
    virtual ~StreamWriter() = default;
    virtual void write(std::string data) = 0;
    virtual void finish() = 0; // last chunk; keeps the connection alive for the next request
    virtual void abort() = 0; // drops the connection
    virtual std::size_t queuedBytes() const = 0;
    virtual bool closed() const = 0;
    std::function<void()> onClose; // the client went away (or abort/overflow)
    std::function<void()> onDrained; // everything queued was written
};

// An accepted WebSocket. Messages are sent binary or text as chosen at the upgrade.
class WebSocketChannel
{
public:
    virtual ~WebSocketChannel() = default;
    virtual void send(std::string data) = 0;
    virtual void close(std::uint16_t code = 1000, std::string reason = {}) = 0; // after queued data
    virtual std::size_t queuedBytes() const = 0;
    virtual bool closed() const = 0;
    virtual void setReadPaused(bool paused) = 0; // back-pressure towards the client
    std::function<void(std::string data, bool text)> onMessage;
    std::function<void()> onClose;
    std::function<void()> onDrained;
};

// The raw byte stream of a connection after an HTTP/1.1 protocol switch (101), such as
// `Upgrade: SPDY/3.1`. Bytes arrive through onData in arbitrary pieces; send() queues them.
// When the client does not keep up and more than maxQueued bytes wait, the connection is
// dropped (onClose fires).
class ByteChannel
{
public:
    virtual ~ByteChannel() = default;
    virtual void send(std::string data) = 0;
    virtual void close() = 0; // after queued data
    virtual std::size_t queuedBytes() const = 0;
    virtual bool closed() const = 0;
    virtual void setReadPaused(bool paused) = 0; // back-pressure towards the client
    std::function<void(std::string data)> onData;
    std::function<void()> onClose;
    std::function<void()> onDrained;
};

// The handler's side of one request: call exactly one of respond, stream, upgrade or
// switchProtocols.
class HttpReply
{
public:
    virtual ~HttpReply() = default;
    virtual void respond(HttpResponse response) = 0;
    virtual std::shared_ptr<StreamWriter> stream(int status, const std::string &contentType) = 0;
    // Accepts the WebSocket with `subprotocol` (echoed; empty = none); `text` sends text frames.
    // `ready` gets the channel once the handshake completed (not called if it failed).
    virtual void upgrade(const std::string &subprotocol, bool text,
                         std::function<void(std::shared_ptr<WebSocketChannel>)> ready)
        = 0;
    // Answers 101 Switching Protocols with `headers` (Connection and Upgrade among them); the
    // bytes after it belong to the handler. `ready` gets the channel once the 101 was written.
    // Transports that cannot switch answer 500.
    virtual void switchProtocols(std::vector<std::pair<std::string, std::string>> headers,
                                 std::function<void(std::shared_ptr<ByteChannel>)> ready);
};

using HttpHandler = std::function<void(HttpRequest &request, const std::shared_ptr<HttpReply> &reply)>;

struct HttpServerOptions
{
    std::size_t maxBodyBytes = 3 * 1024 * 1024; // larger bodies get 413
    std::size_t maxQueuedBytes = 16 * 1024 * 1024; // per streaming connection
    int requestTimeoutSeconds = 30; // to read one request once it started (slowloris)
    int idleTimeoutSeconds = 300; // keep-alive connection with no request
};

class HttpServer
{
public:
    HttpServer(boost::asio::io_context &io, boost::asio::ssl::context &tls, HttpHandler handler,
               HttpServerOptions options = {});
    ~HttpServer();
    // Binds and starts accepting; port 0 picks a free one. Returns false and sets *error.
    bool listen(const std::string &address, std::uint16_t port, std::string *error);
    std::uint16_t port() const;
    void stop();
    std::size_t connectionCount() const;

private:
    class Private;
    std::shared_ptr<Private> d;
};

// Percent-decoding for paths and query values ('+' means space only in queries).
std::string percentDecode(std::string_view in, bool plusIsSpace);

} // namespace iterdeck::sandbox
