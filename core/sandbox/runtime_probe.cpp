// httpGet and tcpSocket probes, as the kubelet runs them: a plain HTTP/1.1 GET (success for
// 200-399) or a TCP connect, each bounded by the probe's timeout.
#include "sandbox/runtime_p.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace iterdeck::sandbox::detail {

namespace {

using boost::asio::ip::tcp;

class Probe : public std::enable_shared_from_this<Probe>
{
public:
    Probe(boost::asio::io_context &io, std::string host, int port, std::chrono::milliseconds timeout,
          ProbeCallback done)
        : m_resolver(io)
        , m_socket(io)
        , m_timer(io)
        , m_host(std::move(host))
        , m_port(port)
        , m_timeout(timeout)
        , m_done(std::move(done))
    { }

    // Empty request = a TCP probe.
    void run(std::string request, std::string url)
    {
        m_request = std::move(request);
        m_url = std::move(url);
        m_timer.expires_after(m_timeout);
        m_timer.async_wait([self = shared_from_this()](const boost::system::error_code &ec) {
            if (ec)
                return;
            self->finish(false,
                         self->m_request.empty() ? "dial tcp " + self->address() + ": i/o timeout"
                                                 : "Get \"" + self->m_url
                                 + "\": context deadline exceeded (Client.Timeout exceeded while "
                                   "awaiting headers)");
        });
        boost::system::error_code ec;
        const auto address = boost::asio::ip::make_address(m_host == "localhost" ? "127.0.0.1" : m_host, ec);
        if (!ec) {
            connect({tcp::endpoint(address, static_cast<unsigned short>(m_port))});
            return;
        }
        m_resolver.async_resolve(m_host, std::to_string(m_port),
                                 [self = shared_from_this()](const boost::system::error_code &error,
                                                             const tcp::resolver::results_type &results) {
                                     if (error) {
                                         self->fail("dial tcp: lookup " + self->m_host + ": no such host");
                                         return;
                                     }
                                     std::vector<tcp::endpoint> endpoints;
                                     for (const auto &r : results)
                                         endpoints.push_back(r.endpoint());
                                     self->connect(endpoints);
                                 });
    }

private:
    std::string address() const { return m_host + ":" + std::to_string(m_port); }

    void fail(const std::string &what) { finish(false, m_request.empty() ? what : "Get \"" + m_url + "\": " + what); }

    void connect(const std::vector<tcp::endpoint> &endpoints)
    {
        boost::asio::async_connect(
            m_socket, endpoints,
            [self = shared_from_this()](const boost::system::error_code &ec, const tcp::endpoint &) {
                if (self->m_finished)
                    return;
                if (ec) {
                    self->fail("dial tcp " + self->address() + ": connect: "
                               + (ec == boost::asio::error::connection_refused ? std::string("connection refused")
                                                                               : ec.message()));
                    return;
                }
                if (self->m_request.empty()) {
                    self->finish(true, {});
                    return;
                }
                self->send();
            });
    }

    void send()
    {
        boost::asio::async_write(m_socket, boost::asio::buffer(m_request),
                                 [self = shared_from_this()](const boost::system::error_code &ec, std::size_t) {
                                     if (self->m_finished)
                                         return;
                                     if (ec) {
                                         self->fail(ec.message());
                                         return;
                                     }
                                     self->readStatus();
                                 });
    }

    void readStatus()
    {
        m_socket.async_read_some(
            boost::asio::buffer(m_buffer),
            [self = shared_from_this()](const boost::system::error_code &ec, std::size_t n) {
                if (self->m_finished)
                    return;
                self->m_response.append(self->m_buffer.data(), n);
                const auto eol = self->m_response.find("\r\n");
                if (eol == std::string::npos) {
                    if (ec || self->m_response.size() > 8192) {
                        self->fail(ec ? std::string("EOF") : std::string("malformed HTTP response"));
                        return;
                    }
                    self->readStatus();
                    return;
                }
                // "HTTP/1.1 200 OK"
                const std::string line = self->m_response.substr(0, eol);
                const auto space = line.find(' ');
                int code = 0;
                if (line.rfind("HTTP/", 0) == 0 && space != std::string::npos)
                    code = std::atoi(line.c_str() + space + 1);
                if (code >= 200 && code < 400)
                    self->finish(true, {});
                else if (code > 0)
                    self->finish(false, "HTTP probe failed with statuscode: " + std::to_string(code));
                else
                    self->fail("malformed HTTP response " + line);
            });
    }

    void finish(bool success, const std::string &message)
    {
        if (m_finished)
            return;
        m_finished = true;
        boost::system::error_code ignored;
        m_socket.close(ignored);
        m_resolver.cancel();
        m_timer.cancel();
        auto done = std::move(m_done);
        if (done)
            done(success, message);
    }

    tcp::resolver m_resolver;
    tcp::socket m_socket;
    boost::asio::steady_timer m_timer;
    std::string m_host;
    int m_port;
    std::chrono::milliseconds m_timeout;
    ProbeCallback m_done;
    std::string m_request, m_url, m_response;
    std::array<char, 4096> m_buffer {};
    bool m_finished = false;
};

} // namespace

void probeHttp(boost::asio::io_context &io, const std::string &host, int port, const std::string &path,
               const std::vector<std::pair<std::string, std::string>> &headers, std::chrono::milliseconds timeout,
               ProbeCallback done)
{
    const std::string hostPort = host + ":" + std::to_string(port);
    const std::string target = path.empty() ? std::string("/") : (path[0] == '/' ? path : "/" + path);
    std::string request = "GET " + target + " HTTP/1.1\r\n";
    bool hasHost = false, hasAgent = false, hasAccept = false;
    for (const auto &h : headers) {
        std::string lower = h.first;
        for (auto &c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        hasHost |= lower == "host";
        hasAgent |= lower == "user-agent";
        hasAccept |= lower == "accept";
        request += h.first + ": " + h.second + "\r\n";
    }
    if (!hasHost)
        request += "Host: " + hostPort + "\r\n";
    if (!hasAgent)
        request += "User-Agent: kube-probe/1.32\r\n";
    if (!hasAccept)
        request += "Accept: */*\r\n";
    request += "Connection: close\r\n\r\n";
    auto probe = std::make_shared<Probe>(io, host, port, timeout, std::move(done));
    probe->run(std::move(request), "http://" + hostPort + target);
}

void probeTcp(boost::asio::io_context &io, const std::string &host, int port, std::chrono::milliseconds timeout,
              ProbeCallback done)
{
    auto probe = std::make_shared<Probe>(io, host, port, timeout, std::move(done));
    probe->run({}, {});
}

} // namespace iterdeck::sandbox::detail
