// bot-loadgen: load for a running iterdeck-bot. N desktop WebSocket clients say hello and wait
// for their snapshot; then signed generic artifact.published webhooks are posted at a fixed rate
// over keep-alive connections. Each webhook's delivery id is its tag: the ack latency is measured
// by its sender, and every client notes when the tag's event arrives (fan-out latency = arrival
// - send, one steady clock in one process). At the end every client must have every acknowledged
// webhook's event exactly once and in sequence order. Prints one table (bench/bot/run).
//
// Boost.Beast over Asio rather than QWebSocket: 1,000 clients x 200 events/s is 200,000 messages
// a second to read in this process, on the same 2 cores as the bot. The clients run on a few Asio
// threads and find the tag and the sequence with two substring searches (no JSON parse), and the
// senders are blocking threads of their own, so the generator's lag shows as its own column
// ("sender lag") and its CPU is reported next to the bot's.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options
{
    std::string host = "127.0.0.1";
    unsigned short port = 8080;
    std::string hook = "generic";
    std::string secret;
    std::string tokensFile;
    std::string component = "web";
    int connections = 1000;
    int rate = 200;
    int duration = 60;
    int senders = 16;
    int threads = 2;
    int drainSeconds = 20;
    int botPid = 0;
};

[[noreturn]] void usage(const char *why)
{
    std::fprintf(stderr,
                 "bot-loadgen: %s\n"
                 "usage: bot-loadgen --port PORT --secret S --tokens FILE [--host H] [--hook NAME] [--component C]\n"
                 "                   [--connections N] [--rate R] [--duration S] [--senders N] [--threads N]\n"
                 "                   [--drain S] [--bot-pid PID]\n",
                 why);
    std::exit(2);
}

Options parse(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc)
            usage(("missing value for " + a).c_str());
        const std::string v = argv[++i];
        if (a == "--host")
            o.host = v;
        else if (a == "--port")
            o.port = static_cast<unsigned short>(std::stoi(v));
        else if (a == "--hook")
            o.hook = v;
        else if (a == "--secret")
            o.secret = v;
        else if (a == "--tokens")
            o.tokensFile = v;
        else if (a == "--component")
            o.component = v;
        else if (a == "--connections")
            o.connections = std::stoi(v);
        else if (a == "--rate")
            o.rate = std::stoi(v);
        else if (a == "--duration")
            o.duration = std::stoi(v);
        else if (a == "--senders")
            o.senders = std::stoi(v);
        else if (a == "--threads")
            o.threads = std::stoi(v);
        else if (a == "--drain")
            o.drainSeconds = std::stoi(v);
        else if (a == "--bot-pid")
            o.botPid = std::stoi(v);
        else
            usage(("unknown option " + a).c_str());
    }
    if (o.secret.empty() || o.tokensFile.empty())
        usage("--secret and --tokens are required");
    if (o.connections < 0 || o.rate <= 0 || o.duration <= 0 || o.senders <= 0 || o.threads <= 0)
        usage("counts must be positive");
    return o;
}

std::string hmacHex(const std::string &key, const std::string &body)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char *>(body.data()), body.size(),
         mac, &len);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 15];
    }
    return out;
}

// /proc/PID/stat utime + stime in clock ticks; /proc/PID/status VmRSS and VmHWM in KiB.
long long cpuTicks(int pid)
{
    std::ifstream f("/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto paren = s.rfind(')');
    if (paren == std::string::npos)
        return 0;
    std::istringstream in(s.substr(paren + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 3; in >> field; ++i) {
        if (i == 14)
            utime = std::stoll(field);
        if (i == 15) {
            stime = std::stoll(field);
            break;
        }
    }
    return utime + stime;
}

long statusKb(int pid, const char *key)
{
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind(key, 0) == 0)
            return std::atol(line.c_str() + std::strlen(key));
    }
    return 0;
}

// Idle and total jiffies of the whole machine (/proc/stat "cpu" line).
std::pair<long long, long long> machineTicks()
{
    std::ifstream f("/proc/stat");
    std::string cpu;
    f >> cpu;
    long long v, total = 0, idle = 0;
    for (int i = 0; i < 8 && f >> v; ++i) {
        total += v;
        if (i == 3 || i == 4)
            idle += v;
    }
    return {idle, total};
}

double percentile(std::vector<double> &v, double p)
{
    if (v.empty())
        return 0;
    const std::size_t k = std::min(v.size() - 1, std::size_t(p / 100.0 * double(v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
    return v[k];
}

// Shared by senders (write) and clients (read).
struct Run
{
    Options options;
    std::string runId;
    int total = 0; // webhooks
    std::unique_ptr<std::atomic<long long>[]> sentNs; // send time, ns since t0 (0: not yet)
    std::vector<float> ackMs;
    std::vector<int> ackStatus; // 0: never acknowledged
    std::vector<long long> ackSeq; // the event's sequence number from the answer
    std::vector<float> lagMs; // how late the sender started, against the schedule
    std::atomic<int> sendErrors {0};
    Clock::time_point t0;
};

long long sinceNs(Clock::time_point t0)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

// One desktop client.
class Client : public std::enable_shared_from_this<Client>
{
public:
    Client(net::io_context &io, Run &run, std::string token)
        : m_ws(net::make_strand(io))
        , m_run(run)
        , m_token(std::move(token))
    { }

    std::atomic<bool> ready {false};
    std::atomic<bool> closed {false};
    std::atomic<long long> received {0}; // events of this run
    std::vector<float> fanoutMs; // per webhook; < 0: not received
    std::vector<unsigned char> count; // per webhook
    long long lastSeq = 0;
    long long outOfOrder = 0;
    std::string closeReason;

    void start(const tcp::endpoint &ep)
    {
        fanoutMs.assign(std::size_t(m_run.total), -1.f);
        count.assign(std::size_t(m_run.total), 0);
        beast::get_lowest_layer(m_ws).async_connect(
            ep, [self = shared_from_this()](beast::error_code ec) { self->connected(ec); });
    }

private:
    void connected(beast::error_code ec)
    {
        if (ec)
            return fail("connect", ec);
        m_ws.set_option(websocket::stream_base::decorator([token = m_token](websocket::request_type &req) {
            req.set(http::field::authorization, "Bearer " + token);
            req.set(http::field::sec_websocket_protocol, "iterdeck.v1");
        }));
        m_ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        m_ws.read_message_max(64 * 1024 * 1024);
        m_ws.async_handshake(m_run.options.host, "/v1/stream", [self = shared_from_this()](beast::error_code hec) {
            if (hec)
                return self->fail("handshake", hec);
            self->m_ws.text(true);
            self->m_ws.async_write(
                net::buffer(std::string_view(R"({"type":"hello","protocol":1,"client":"bot-loadgen"})")),
                [self](beast::error_code wec, std::size_t) {
                    if (wec)
                        return self->fail("hello", wec);
                    self->read();
                });
        });
    }

    void read()
    {
        m_ws.async_read(m_buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
                return self->fail("read", ec);
            self->message(
                std::string_view(static_cast<const char *>(self->m_buffer.data().data()), self->m_buffer.size()));
            self->m_buffer.consume(self->m_buffer.size());
            self->read();
        });
    }

    // QJsonDocument writes keys sorted: {"event":{"at":…,"payload":{…,"delivery":"…",…},"seq":N,…},"type":"event"}
    void message(std::string_view m)
    {
        if (!ready.load(std::memory_order_relaxed)) {
            if (m.find(R"("type":"snapshot")") != std::string_view::npos)
                ready = true;
            return;
        }
        // One event ("type":"event") or a batch of them ("type":"events"): every delivery in it.
        const std::string_view key = R"("delivery":"lgw-)";
        const long long at = sinceNs(m_run.t0);
        for (auto d = m.find(key); d != std::string_view::npos; d = m.find(key, d + key.size())) {
            const auto dash = m.find('-', d + key.size());
            const auto s = m.find(R"("seq":)", d);
            if (dash == std::string_view::npos || s == std::string_view::npos)
                return;
            if (m.substr(d + key.size(), dash - d - key.size()) != m_run.runId)
                continue; // an earlier run's
            const long n = std::strtol(m.data() + dash + 1, nullptr, 10);
            const long long seq = std::strtoll(m.data() + s + 6, nullptr, 10);
            if (n < 0 || n >= m_run.total)
                continue;
            if (seq <= lastSeq)
                ++outOfOrder;
            lastSeq = seq;
            if (count[std::size_t(n)]++ == 0)
                fanoutMs[std::size_t(n)] = float(double(at - m_run.sentNs[std::size_t(n)].load()) / 1e6);
            received.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void fail(const char *what, beast::error_code ec)
    {
        if (!closed.exchange(true)) {
            closeReason = std::string(what) + ": " + ec.message();
            if (m_ws.reason().code)
                closeReason += " (" + std::to_string(m_ws.reason().code) + " "
                    + std::string(m_ws.reason().reason.c_str()) + ")";
        }
    }

    websocket::stream<beast::tcp_stream> m_ws;
    beast::flat_buffer m_buffer;
    Run &m_run;
    std::string m_token;
};

// One keep-alive HTTP connection posting webhooks n = k, k + S, k + 2S, … on schedule.
void sender(Run &run, int k)
{
    const Options &o = run.options;
    net::io_context io;
    std::unique_ptr<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    const tcp::endpoint ep(net::ip::make_address(o.host), o.port);
    for (int n = k; n < run.total; n += o.senders) {
        const auto due = run.t0 + std::chrono::nanoseconds(static_cast<long long>(n) * 1000000000LL / o.rate);
        std::this_thread::sleep_until(due);
        const std::string body = R"({"id":"lgw-)" + run.runId + "-" + std::to_string(n)
            + R"(","type":"artifact.published","artifact":{"component":")" + o.component
            + R"(","branch":"bench","build":")" + std::to_string(n) + R"(","tag":"bench-)" + std::to_string(n)
            + R"("}})";
        http::request<http::string_body> req {http::verb::post, "/hooks/" + o.hook, 11};
        req.set(http::field::host, o.host);
        req.set(http::field::content_type, "application/json");
        req.set("X-Iterdeck-Signature", "sha256=" + hmacHex(o.secret, body));
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        for (int attempt = 0; attempt < 20; ++attempt) {
            try {
                if (!stream) {
                    stream = std::make_unique<beast::tcp_stream>(io);
                    stream->connect(ep);
                    stream->socket().set_option(tcp::no_delay(true));
                }
                const auto start = Clock::now();
                if (attempt == 0) {
                    run.lagMs[std::size_t(n)] = float(std::chrono::duration<double, std::milli>(start - due).count());
                    run.sentNs[std::size_t(n)].store(sinceNs(run.t0));
                }
                http::write(*stream, req);
                http::response<http::string_body> res;
                http::read(*stream, buffer, res);
                const int status = int(res.result_int());
                if (status >= 500) {
                    run.sendErrors.fetch_add(1);
                    continue;
                }
                // From the first attempt: a retry's wait is part of what the sender lived through.
                run.ackMs[std::size_t(n)] = float(double(sinceNs(run.t0) - run.sentNs[std::size_t(n)].load()) / 1e6);
                run.ackStatus[std::size_t(n)] = status;
                const std::string &b = res.body();
                if (const auto e = b.find(R"("events":[)"); e != std::string::npos)
                    run.ackSeq[std::size_t(n)] = std::strtoll(b.c_str() + e + 10, nullptr, 10);
                if (!res.keep_alive())
                    stream.reset();
                break;
            } catch (const std::exception &) {
                run.sendErrors.fetch_add(1);
                stream.reset();
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
    }
}

std::vector<std::string> readTokens(const std::string &file)
{
    std::ifstream f(file);
    std::vector<std::string> out;
    std::string line;
    while (std::getline(f, line)) {
        if (!line.empty())
            out.push_back(line);
    }
    return out;
}

} // namespace

int main(int argc, char **argv)
{
    Run run;
    run.options = parse(argc, argv);
    const Options &o = run.options;
    const std::vector<std::string> tokens = readTokens(o.tokensFile);
    if (tokens.empty())
        usage("no tokens in the tokens file");
    run.runId = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 100000000000LL);
    run.total = o.rate * o.duration;
    run.sentNs = std::make_unique<std::atomic<long long>[]>(std::size_t(run.total));
    run.ackMs.assign(std::size_t(run.total), 0);
    run.ackStatus.assign(std::size_t(run.total), 0);
    run.ackSeq.assign(std::size_t(run.total), 0);
    run.lagMs.assign(std::size_t(run.total), 0);
    run.t0 = Clock::now();

    // 1. The clients, at most 100 handshakes at a time.
    net::io_context io;
    auto work = net::make_work_guard(io);
    std::vector<std::thread> ioThreads;
    for (int i = 0; i < o.threads; ++i)
        ioThreads.emplace_back([&io]() { io.run(); });
    const tcp::endpoint ep(net::ip::make_address(o.host), o.port);
    std::vector<std::shared_ptr<Client>> clients;
    const auto connectStart = Clock::now();
    for (int i = 0; i < o.connections; ++i) {
        auto c = std::make_shared<Client>(io, run, tokens[std::size_t(i) % tokens.size()]);
        clients.push_back(c);
        c->start(ep);
        while (true) {
            int pending = 0;
            for (const auto &x : clients)
                pending += !x->ready && !x->closed;
            if (pending < 100)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    for (;;) {
        int ready = 0, closed = 0;
        for (const auto &c : clients) {
            ready += c->ready;
            closed += c->closed;
        }
        if (ready + closed == o.connections) {
            if (closed) {
                for (const auto &c : clients) {
                    if (c->closed) {
                        std::fprintf(stderr, "bot-loadgen: %d of %d clients failed to connect, e.g. %s\n", closed,
                                     o.connections, c->closeReason.c_str());
                        break;
                    }
                }
                return 1;
            }
            break;
        }
        if (Clock::now() - connectStart > std::chrono::seconds(120)) {
            std::fprintf(stderr, "bot-loadgen: only %d of %d clients got their snapshot in 120 s\n", ready,
                         o.connections);
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double connectSeconds = std::chrono::duration<double>(Clock::now() - connectStart).count();
    std::fprintf(stderr,
                 "bot-loadgen: %d clients connected in %.1f s; posting %d webhooks/s for %d s over %d connections\n",
                 o.connections, connectSeconds, o.rate, o.duration, o.senders);
    std::this_thread::sleep_for(std::chrono::seconds(1));

    // 2. The load, with the bot's RSS and CPU sampled.
    const long rssBefore = o.botPid ? statusKb(o.botPid, "VmRSS:") : 0;
    std::atomic<bool> sampling {true};
    std::atomic<long> peakRss {rssBefore};
    std::thread sampler([&]() {
        while (sampling && o.botPid) {
            peakRss = std::max(peakRss.load(), statusKb(o.botPid, "VmRSS:"));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    });
    const long long botCpu0 = o.botPid ? cpuTicks(o.botPid) : 0, selfCpu0 = cpuTicks(0);
    const auto machine0 = machineTicks();
    run.t0 = Clock::now();
    std::vector<std::thread> senders;
    for (int k = 0; k < o.senders; ++k)
        senders.emplace_back(sender, std::ref(run), k);
    for (auto &t : senders)
        t.join();
    const auto sendEnd = Clock::now();
    long long expected = 0;
    for (int n = 0; n < run.total; ++n)
        expected += run.ackStatus[std::size_t(n)] == 200 && run.ackSeq[std::size_t(n)] > 0;
    // 3. Drain: until every client has every acknowledged event, or the drain time is over.
    for (;;) {
        bool all = true;
        for (const auto &c : clients)
            all = all && (c->closed || c->received >= expected);
        if (all || Clock::now() - sendEnd > std::chrono::seconds(o.drainSeconds))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double wall = std::chrono::duration<double>(Clock::now() - run.t0).count();
    const long long botCpu1 = o.botPid ? cpuTicks(o.botPid) : 0, selfCpu1 = cpuTicks(0);
    const auto machine1 = machineTicks();
    sampling = false;
    sampler.join();
    const long hwm = o.botPid ? statusKb(o.botPid, "VmHWM:") : 0;
    work.reset();
    io.stop();
    for (auto &t : ioThreads)
        t.join();

    // 4. The figures.
    const double tick = double(sysconf(_SC_CLK_TCK));
    const double botCpu = double(botCpu1 - botCpu0) / tick / wall * 100;
    const double selfCpu = double(selfCpu1 - selfCpu0) / tick / wall * 100;
    const double machineBusy = 100.0
        * (1.0 - double(machine1.first - machine0.first) / double(std::max(1LL, machine1.second - machine0.second)));
    std::vector<double> acks, lags, fanout;
    int acked = 0, unacked = 0, processed = 0;
    for (int n = 0; n < run.total; ++n) {
        const int st = run.ackStatus[std::size_t(n)];
        if (st == 200 || st == 202) {
            ++acked;
            acks.push_back(run.ackMs[std::size_t(n)]);
        } else {
            ++unacked;
        }
        processed += st == 200 && run.ackSeq[std::size_t(n)] > 0;
        lags.push_back(run.lagMs[std::size_t(n)]);
    }
    long long lost = 0, duplicates = 0, outOfOrder = 0;
    int dropped = 0;
    std::string dropReason;
    fanout.reserve(std::size_t(processed) * clients.size());
    for (const auto &c : clients) {
        if (c->closed) {
            ++dropped;
            dropReason = c->closeReason;
        }
        outOfOrder += c->outOfOrder;
        for (int n = 0; n < run.total; ++n) {
            if (!(run.ackStatus[std::size_t(n)] == 200 && run.ackSeq[std::size_t(n)] > 0))
                continue;
            const unsigned char k = c->count[std::size_t(n)];
            if (k == 0)
                ++lost;
            else
                fanout.push_back(c->fanoutMs[std::size_t(n)]);
            if (k > 1)
                duplicates += k - 1;
        }
    }
    const double ack50 = percentile(acks, 50), ack99 = percentile(acks, 99), ackMax = percentile(acks, 100);
    const double fan50 = percentile(fanout, 50), fan99 = percentile(fanout, 99), fanMax = percentile(fanout, 100);
    const double lag99 = percentile(lags, 99), lagMax = percentile(lags, 100);
    const double rssMb = double(std::max(peakRss.load(), hwm)) / 1024.0;
    auto verdict = [](bool ok) { return ok ? "pass" : "FAIL"; };

    double load1 = 0;
    if (std::ifstream la("/proc/loadavg"); la)
        la >> load1;
    std::printf("\n## iterdeck-bot under load (%u CPUs, load %.2f; %d desktop clients on loopback, "
                "%d webhooks/s for %d s)\n\n",
                std::thread::hardware_concurrency(), load1, o.connections, o.rate, o.duration);
    std::printf("| measure | value | target | result |\n|---|---|---|---|\n");
    std::printf("| webhooks acknowledged (of %d sent) | %d (%d unacknowledged, %d send errors) | all | %s |\n",
                run.total, acked, unacked, run.sendErrors.load(), verdict(unacked == 0));
    std::printf("| webhook ack p50 / p99 / max | %.1f / %.1f / %.1f ms | p99 <= 50 ms | %s |\n", ack50, ack99, ackMax,
                verdict(ack99 <= 50));
    std::printf("| event fan-out p50 / p99 / max (%zu deliveries) | %.1f / %.1f / %.1f ms | p99 <= 100 ms | %s |\n",
                fanout.size(), fan50, fan99, fanMax, verdict(fan99 <= 100));
    std::printf("| events lost (acknowledged, not received %d s after the last answer) | %lld | 0 | %s |\n",
                o.drainSeconds, lost, verdict(lost == 0));
    std::printf("| events received twice | %lld | 0 | %s |\n", duplicates, verdict(duplicates == 0));
    std::printf("| events out of sequence order | %lld | 0 | %s |\n", outOfOrder, verdict(outOfOrder == 0));
    std::printf("| clients disconnected during the run | %d%s | 0 | %s |\n", dropped,
                dropped ? (" (" + dropReason + ")").c_str() : "", verdict(dropped == 0));
    if (o.botPid) {
        std::printf("| bot peak RSS (before the load: %.1f MB) | %.1f MB | <= 200 MB | %s |\n",
                    double(rssBefore) / 1024.0, rssMb, verdict(rssMb <= 200));
        std::printf("| bot CPU over the run (%.0f s) | %.0f %% of a core | - | - |\n", wall, botCpu);
    }
    std::printf("| generator CPU (same run) | %.0f %% of a core | - | - |\n", selfCpu);
    std::printf("| machine busy (all processes) | %.0f %% of %u cores | - | - |\n", machineBusy,
                std::thread::hardware_concurrency());
    std::printf("| sender lag behind schedule p99 / max (generator health) | %.1f / %.1f ms | - | - |\n", lag99,
                lagMax);
    const bool ok = unacked == 0 && ack99 <= 50 && fan99 <= 100 && lost == 0 && duplicates == 0 && outOfOrder == 0
        && dropped == 0 && (!o.botPid || rssMb <= 200);
    return ok ? 0 : 3;
}
