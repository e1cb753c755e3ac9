#pragma once
// The bot's HTTP/1.1 server: Boost.Beast over Asio on one thread of its own, plain or TLS.
// Why Beast: the request head is read first, so a body over the limit is refused with 413
// before it is read (Qt 6.4's QHttpServer buffers whole bodies), and the same connection
// types serve WebSocket upgrades with a chosen subprotocol and endless streams later on.
// Qt-free: handlers run on the server thread and answer through Respond from any thread.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace iterdeck::bot {

struct HttpRequest
{
    std::string method;
    std::string target; // as sent: path and query
    std::string path; // percent-decoded
    std::string query; // raw, after '?'
    std::map<std::string, std::string> headers; // lower-case names; repeated headers joined with ", "
    std::string body;
    std::string remoteAddress;
    bool tls = false;

    std::string header(const std::string &lowerName) const;
};

struct HttpResponse
{
    int status = 200;
    std::string contentType = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// Answers one request; call it exactly once, from any thread. Later calls are ignored.
using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest request, Respond respond)>;

// An accepted WebSocket connection. send() and close() may be called from any thread; messages
// go out in the order they were sent. A peer that reads slower than it is written to is closed
// (code 1008) once `maxQueuedBytes` wait: a client resumes from its last sequence anyway.
class WebSocketConnection
{
public:
    virtual ~WebSocketConnection() = default;
    // One text message; a message shared by many connections is serialised once.
    virtual void send(std::shared_ptr<const std::string> text) = 0;
    void send(std::string text) { send(std::make_shared<const std::string>(std::move(text))); }
    virtual void close(int code, std::string reason) = 0;
    virtual const std::string &remoteAddress() const = 0;
    // What was handed to send() and is not yet written to the socket, in bytes.
    virtual std::size_t queuedBytes() const = 0;
};

// The application's side of one WebSocket connection. Called on the server thread, in order:
// opened once, then messages, then closed once (not when the server stops: the
// connections are dropped with it).
class WebSocketPeer
{
public:
    virtual ~WebSocketPeer() = default;
    virtual void opened(std::shared_ptr<WebSocketConnection> connection) = 0;
    virtual void message(std::string text) = 0;
    virtual void closed(int code, std::string reason) = 0;
};

// The answer to an upgrade request: a peer to accept it, or an HTTP response that refuses it.
struct WebSocketDecision
{
    std::shared_ptr<WebSocketPeer> peer; // null: refuse with `refusal`
    std::string subprotocol; // echoed in Sec-WebSocket-Protocol when not empty
    HttpResponse refusal {400, "application/json", R"({"error":"bad-request"})", {}};
};
// Decides one upgrade request (a GET with "Upgrade: websocket"); call `decide` exactly once,
// from any thread. Without a WebSocket handler, upgrades go to the HTTP handler as plain GETs.
using WebSocketHandler = std::function<void(HttpRequest request, std::function<void(WebSocketDecision)> decide)>;

struct HttpServerOptions
{
    std::size_t maxBodyBytes = 1024 * 1024; // larger bodies get 413, unread
    std::size_t maxHeaderBytes = 16 * 1024; // larger heads get 431
    int requestTimeoutSeconds = 30; // to read one request once it started (slowloris)
    int idleTimeoutSeconds = 75; // keep-alive connection without a request
    int handlerTimeoutSeconds = 60; // a handler that never answers: 503
    // WebSocket: the server pings a connection silent for half this long and closes it when
    // nothing comes back within the other half.
    int webSocketIdleSeconds = 30;
    std::size_t webSocketMaxMessageBytes = 1024 * 1024;
    std::size_t webSocketMaxQueuedBytes = 16 * 1024 * 1024;
    // Threads that run the HTTP connections (each on a strand of its own), and the threads that
    // plain WebSocket connections move to once upgraded, so that an HTTP answer never waits
    // behind the stream's writes (0: they stay on the HTTP threads).
    int threads = 1;
    int webSocketThreads = 1;
};

class HttpServer
{
public:
    HttpServer(HttpHandler handler, HttpServerOptions options = {});
    HttpServer(HttpHandler handler, WebSocketHandler webSocketHandler, HttpServerOptions options = {});
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer &operator=(const HttpServer &) = delete;

    // Serves HTTPS with this PEM certificate chain and key; call before listen().
    bool useTls(const std::string &certificateFile, const std::string &keyFile, std::string *error);
    // Binds (port 0 picks a free one) and starts serving on the server thread.
    bool listen(const std::string &address, std::uint16_t port, std::string *error);
    std::uint16_t port() const;
    bool isTls() const;
    // Stops accepting, drops connections and joins the server thread.
    void stop();

private:
    class Private;
    std::shared_ptr<Private> d;
};

// Percent-decoding of a path ('+' stays '+'); false for a truncated or invalid escape.
bool percentDecodePath(const std::string &in, std::string *out);

} // namespace iterdeck::bot
