// Long-lived requests: watch, logs, exec and port-forward.
#include "sandbox/api_p.h"
#include "sandbox/spdyforward.h"

namespace iterdeck::sandbox {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Api::Watcher
{
    const ResourceType *type = nullptr;
    std::string ns;
    std::optional<LabelSelector> labels;
    std::optional<FieldSelector> fields;
    std::shared_ptr<StreamWriter> writer;
    std::unique_ptr<net::steady_timer> timeout;
    std::unique_ptr<net::steady_timer> bookmark;
    bool bookmarks = false;
    bool table = false; // kubectl's human-readable output: events carry Table rows

    bool matches(const Json &o) const
    {
        if (!ns.empty() && objectNamespace(o) != ns)
            return false;
        if (labels) {
            const Json *l = nullptr;
            if (auto m = o.find("metadata"); m != o.end())
                if (auto it = m->find("labels"); it != m->end())
                    l = &*it;
            static const Json none;
            if (!labels->matches(l ? *l : none))
                return false;
        }
        return !fields || fields->matches(o);
    }
};

namespace {

std::string eventLine(const char *type, const std::string &objectJson)
{
    std::string s = "{\"type\":\"";
    s += type;
    s += "\",\"object\":";
    s += objectJson;
    s += "}\n";
    return s;
}

std::string eventLine(const char *type, const Json &object)
{
    return eventLine(type, object.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// One message of the channel protocols: [channel][payload], or in the base64 variants
// '0'+channel followed by the payload in base64.
std::string channelFrame(int channel, std::string_view data, bool base64)
{
    if (base64)
        return std::string(1, char('0' + channel)) + toBase64(data);
    std::string f(1, char(channel));
    f.append(data);
    return f;
}

std::pair<int, std::string> parseChannelFrame(const std::string &data, bool base64)
{
    if (base64)
        return {data[0] - '0', fromBase64(std::string_view(data).substr(1))};
    return {static_cast<unsigned char>(data[0]), data.substr(1)};
}

std::vector<std::string> splitProtocols(const std::string &header)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= header.size()) {
        auto comma = header.find(',', start);
        std::string p = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        auto b = p.find_first_not_of(" \t");
        auto e = p.find_last_not_of(" \t");
        if (b != std::string::npos)
            out.push_back(p.substr(b, e - b + 1));
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return out;
}

// The container a request means: ?container=, else the default-container annotation, else the
// only (or first, for exec) container.
std::variant<std::string, ApiError> pickContainer(const Json &pod, const std::string &requested, bool requireSingle)
{
    std::vector<std::string> names;
    for (const char *list : {"containers", "initContainers"})
        if (auto s = pod.find("spec"); s != pod.end())
            if (auto cs = s->find(list); cs != s->end() && cs->is_array())
                for (const auto &c : *cs)
                    names.push_back(c.value("name", ""));
    std::string podName = objectName(pod);
    if (!requested.empty()) {
        if (std::find(names.begin(), names.end(), requested) == names.end())
            return badRequest("container " + requested + " is not valid for pod " + podName);
        return requested;
    }
    const Json &ann = pod["metadata"].value("annotations", Json::object());
    if (ann.is_object() && ann.contains("kubectl.kubernetes.io/default-container"))
        return ann["kubectl.kubernetes.io/default-container"].get<std::string>();
    std::size_t regular = pod["spec"].value("containers", Json::array()).size();
    if (requireSingle && regular > 1) {
        std::string list;
        for (std::size_t i = 0; i < regular; ++i)
            list += (i ? " " : "") + names[i];
        return badRequest("a container name must be specified for pod " + podName + ", choose one of: [" + list + "]");
    }
    if (names.empty())
        return badRequest("pod " + podName + " has no containers");
    return names.front();
}

} // namespace

// ---- watch ---------------------------------------------------------------------------------

void Api::handleWatch(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply)
{
    auto w = std::make_shared<Watcher>();
    w->type = info.type;
    w->ns = info.type->namespaced ? info.ns : "";
    std::string err;
    if (auto ls = r.queryValue("labelSelector"); ls && !ls->empty()) {
        w->labels = LabelSelector::parse(*ls, &err);
        if (!w->labels)
            return reply->respond(statusResponse(badRequest(err)));
    }
    std::string fs = r.queryValue("fieldSelector").value_or("");
    if (!info.name.empty())
        fs = fs.empty() ? "metadata.name=" + info.name : fs + ",metadata.name=" + info.name;
    if (!fs.empty()) {
        w->fields = FieldSelector::parse(fs, info.type->kind, &err);
        if (!w->fields)
            return reply->respond(statusResponse(badRequest(err)));
    }
    long timeoutSeconds = 1800;
    if (auto t = r.queryValue("timeoutSeconds"); t && !t->empty()) {
        try {
            timeoutSeconds = std::stol(*t);
        } catch (...) {
            return reply->respond(statusResponse(badRequest("timeoutSeconds must be an integer")));
        }
    }
    w->bookmarks = truthy(r.queryValue("allowWatchBookmarks"));
    w->table
        = r.header("accept").find("as=Table") != std::string::npos && !toTable(*info.type, {}, "0", false).is_null();
    std::string rvText = r.queryValue("resourceVersion").value_or("");
    std::optional<std::vector<const StoreEvent *>> replay;
    bool initial = rvText.empty() || rvText == "0";
    std::uint64_t fromRv = 0;
    if (!initial) {
        try {
            fromRv = std::stoull(rvText);
        } catch (...) {
            return reply->respond(
                statusResponse(badRequest("resourceVersion: Invalid value: \"" + rvText + "\": must be an integer")));
        }
    }

    w->writer = reply->stream(200, "application/json");
    const std::string qualified = info.type->qualified();
    if (initial) {
        for (const auto &o : m_store.list(qualified, w->ns))
            if (w->matches(*o))
                w->writer->write(
                    w->table ? eventLine("ADDED", toTable(*w->type, {o}, std::to_string(m_store.currentRv()), true))
                             : eventLine("ADDED", m_store.serialized(o)));
    } else if (fromRv < m_store.currentRv()) {
        replay = m_store.eventsSince(fromRv);
        if (!replay) {
            Json status
                = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", Json::object()},
                   {"status", "Failure"},
                   {"message",
                    "too old resource version: " + rvText + " (" + std::to_string(m_store.oldestResumableRv()) + ")"},
                   {"reason", "Expired"},
                   {"code", 410}};
            w->writer->write(eventLine("ERROR", status));
            w->writer->finish();
            return;
        }
        for (const StoreEvent *e : *replay)
            if (e->resource == qualified) {
                // Only the matching transitions, as live delivery does.
                StoreEvent copy = *e;
                auto set = std::set<std::shared_ptr<Watcher>> {w};
                std::swap(m_watchers[qualified], set);
                fanOutWatch(copy);
                std::swap(m_watchers[qualified], set);
            }
    }
    m_watchers[qualified].insert(w);
    std::weak_ptr<Watcher> weak = w;
    auto drop = [this, qualified, weak] {
        if (auto s = weak.lock()) {
            if (s->timeout)
                s->timeout->cancel();
            if (s->bookmark)
                s->bookmark->cancel();
            m_watchers[qualified].erase(s);
        }
    };
    w->writer->onClose = drop;
    w->timeout = std::make_unique<net::steady_timer>(m_io, std::chrono::seconds(std::max(0L, timeoutSeconds)));
    w->timeout->async_wait([weak, drop](boost::system::error_code ec) {
        if (ec)
            return;
        if (auto s = weak.lock()) {
            s->writer->finish();
            drop();
        }
    });
    if (w->bookmarks) {
        w->bookmark = std::make_unique<net::steady_timer>(m_io);
        auto tick = std::make_shared<std::function<void()>>();
        *tick = [this, weak, tick]() {
            auto s = weak.lock();
            if (!s)
                return;
            s->bookmark->expires_after(std::chrono::seconds(bookmarkIntervalSeconds));
            s->bookmark->async_wait([this, weak, tick](boost::system::error_code ec) {
                auto s2 = weak.lock();
                if (ec || !s2 || s2->writer->closed())
                    return;
                Json b = {{"kind", s2->type->kind},
                          {"apiVersion", s2->type->apiVersion()},
                          {"metadata", {{"resourceVersion", std::to_string(m_store.currentRv())}}}};
                s2->writer->write(eventLine("BOOKMARK", b));
                (*tick)();
            });
        };
        (*tick)();
    }
}

void Api::fanOutWatch(const StoreEvent &e)
{
    auto it = m_watchers.find(e.resource);
    if (it == m_watchers.end() || it->second.empty())
        return;
    // Each distinct line is serialised once for all the watchers that get it.
    std::string added, modified, deletedNew, deletedPrev;
    std::string tableLines[3];
    auto watchers = it->second;
    for (const auto &w : watchers) {
        if (w->writer->closed())
            continue;
        auto line = [&](std::string &cache, const char *type, const Json &) -> const std::string & {
            if (w->table) {
                std::string &t = tableLines[type[0] == 'A' ? 0 : type[0] == 'M' ? 1 : 2];
                if (t.empty())
                    t = eventLine(type, toTable(*w->type, {e.object}, std::to_string(e.rv), true));
                return t;
            }
            if (cache.empty())
                cache = eventLine(type, m_store.serialized(e.object));
            return cache;
        };
        bool now = e.type != EventType::Deleted && w->matches(*e.object);
        bool before = e.previous && w->matches(*e.previous);
        if (e.type == EventType::Added && now)
            w->writer->write(line(added, "ADDED", *e.object));
        else if (e.type == EventType::Modified) {
            if (now && before)
                w->writer->write(line(modified, "MODIFIED", *e.object));
            else if (now)
                w->writer->write(line(added, "ADDED", *e.object));
            else if (before)
                w->writer->write(line(deletedNew, "DELETED", *e.object));
        } else if (e.type == EventType::Deleted && before)
            w->writer->write(line(deletedPrev, "DELETED", *e.object));
    }
}

void Api::shutdown()
{
    m_shuttingDown = true;
    for (auto &[r, set] : m_watchers)
        for (auto &w : set)
            w->writer->abort();
    m_watchers.clear();
}

// ---- logs ----------------------------------------------------------------------------------

void Api::handleLogs(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply)
{
    auto pod = m_store.get("pods", info.ns, info.name);
    if (!pod)
        return reply->respond(statusResponse(notFound(*info.type, info.name)));
    auto picked = pickContainer(*pod, r.queryValue("container").value_or(""), true);
    if (auto *e = std::get_if<ApiError>(&picked))
        return reply->respond(statusResponse(*e));
    LogOptions o;
    o.container = std::get<std::string>(picked);
    o.follow = truthy(r.queryValue("follow"));
    o.previous = truthy(r.queryValue("previous"));
    o.timestamps = truthy(r.queryValue("timestamps"));
    try {
        if (auto v = r.queryValue("tailLines"))
            o.tailLines = std::stol(*v);
        if (auto v = r.queryValue("limitBytes"))
            o.limitBytes = std::stol(*v);
        if (auto v = r.queryValue("sinceSeconds")) {
            if (r.queryValue("sinceTime"))
                return reply->respond(
                    statusResponse(badRequest("at most one of `sinceTime` or `sinceSeconds` may be specified")));
            long s = std::stol(*v);
            if (s < 1)
                return reply->respond(
                    statusResponse(badRequest("sinceSeconds: Invalid value: must be greater than 0")));
            o.since = std::chrono::system_clock::now() - std::chrono::seconds(s);
        }
    } catch (...) {
        return reply->respond(statusResponse(badRequest("tailLines, limitBytes and sinceSeconds must be integers")));
    }
    if (auto v = r.queryValue("sinceTime")) {
        std::tm tm {};
        if (!strptime(v->c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
            return reply->respond(
                statusResponse(badRequest("sinceTime: Invalid value: \"" + *v + "\": must be RFC 3339")));
        o.since = std::chrono::system_clock::from_time_t(timegm(&tm));
    }
    std::string err;
    auto stream = m_runtime.logs(objectUid(*pod), o, &err);
    if (!stream)
        return reply->respond(statusResponse(badRequest(err)));
    auto writer = reply->stream(200, "text/plain");
    std::weak_ptr<StreamWriter> weakWriter = writer;
    std::weak_ptr<LogStream> weakStream = stream;
    stream->onData = [weakWriter, weakStream](std::string_view chunk) {
        auto w = weakWriter.lock();
        if (!w)
            return;
        w->write(std::string(chunk));
        if (w->queuedBytes() > 1024 * 1024)
            if (auto s = weakStream.lock())
                s->setPaused(true);
    };
    stream->onEnd = [weakWriter] {
        if (auto w = weakWriter.lock())
            w->finish();
    };
    writer->onDrained = [weakStream] {
        if (auto s = weakStream.lock())
            s->setPaused(false);
    };
    // The stream lives as long as the client does.
    writer->onClose = [stream] { stream->cancel(); };
    stream->start();
}

// ---- exec ----------------------------------------------------------------------------------

void Api::handleExec(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply)
{
    auto pod = m_store.get("pods", info.ns, info.name);
    if (!pod)
        return reply->respond(statusResponse(notFound(*info.type, info.name)));
    if (info.subresource == "attach")
        return reply->respond(statusResponse(badRequest("attach is not supported by the sandbox; use exec")));
    auto picked = pickContainer(*pod, r.queryValue("container").value_or(""), false);
    if (auto *e = std::get_if<ApiError>(&picked))
        return reply->respond(statusResponse(*e));
    ExecOptions opts;
    opts.container = std::get<std::string>(picked);
    opts.command = r.queryValues("command");
    opts.stdinOpen = truthy(r.queryValue("stdin"));
    opts.tty = truthy(r.queryValue("tty"));
    bool wantStdout = truthy(r.queryValue("stdout"));
    bool wantStderr = truthy(r.queryValue("stderr")) && !opts.tty;
    if (opts.command.empty())
        return reply->respond(statusResponse(badRequest("you must specify at least 1 command")));
    if (!wantStdout && !wantStderr && !opts.stdinOpen)
        return reply->respond(statusResponse(badRequest("you must specify at least one of stdin, stdout, stderr")));
    std::string phase = (*pod)["status"].value("phase", "");
    if (phase != "Running")
        return reply->respond(statusResponse(
            badRequest("unable to upgrade connection: pod " + info.name + " is not running (phase " + phase + ")")));
    if (!r.upgrade)
        return reply->respond(statusResponse(
            badRequest("the sandbox serves exec over WebSocket only (v5.channel.k8s.io, v4.channel.k8s.io, "
                       "v4.base64.channel.k8s.io, channel.k8s.io); SPDY is not supported")));
    static const std::vector<std::string> supported
        = {"v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "base64.channel.k8s.io",
           "channel.k8s.io"};
    auto offered = splitProtocols(r.header("sec-websocket-protocol"));
    std::string protocol;
    for (const auto &p : offered)
        if (std::find(supported.begin(), supported.end(), p) != supported.end()) {
            protocol = p;
            break;
        }
    if (!offered.empty() && protocol.empty())
        return reply->respond(statusResponse(
            badRequest("none of the offered subprotocols is supported: " + r.header("sec-websocket-protocol"))));
    std::string err;
    auto proc = m_runtime.exec(objectUid(*pod), opts, &err);
    if (!proc)
        return reply->respond(
            statusResponse(ApiError {500, "InternalError", "Internal error occurred: " + err, Json::array()}));
    // The command runs before the WebSocket handshake is done: a quick one (echo) may print and
    // exit meanwhile. Its output and its end are held until the channel is ready.
    struct Early
    {
        std::vector<std::pair<int, std::string>> output;
        std::size_t bytes = 0;
        bool paused = false;
        std::optional<std::pair<int, std::string>> exit;
    };
    auto early = std::make_shared<Early>();
    std::weak_ptr<ExecProcess> weakProc = proc;
    proc->onOutput = [early, weakProc](int stream, std::string_view data) {
        early->output.emplace_back(stream, std::string(data));
        early->bytes += data.size();
        if (early->bytes > 1024 * 1024 && !early->paused)
            if (auto p = weakProc.lock()) {
                early->paused = true;
                p->setOutputPaused(true);
            }
    };
    proc->onExit = [early](int code, const std::string &error) { early->exit.emplace(code, error); };
    const bool base64 = protocol.find("base64") != std::string::npos;
    const bool v5 = protocol == "v5.channel.k8s.io";
    const bool statusJson = protocol.rfind("v4.", 0) == 0 || v5;
    const std::string cmdText = [&] {
        std::string s;
        for (const auto &c : opts.command)
            s += (s.empty() ? "" : " ") + c;
        return s;
    }();
    reply->upgrade(
        protocol, base64,
        [proc, early, base64, v5, statusJson, wantStdout, wantStderr, cmdText](std::shared_ptr<WebSocketChannel> ws) {
            auto frame = [base64](int ch, std::string_view data) { return channelFrame(ch, data, base64); };
            std::weak_ptr<WebSocketChannel> weak = ws;
            // The "connected" signal real servers send first.
            ws->send(frame(wantStdout ? 1 : wantStderr ? 2 : 3, {}));
            proc->onOutput = [weak, frame, proc](int stream, std::string_view data) {
                auto w = weak.lock();
                if (!w)
                    return;
                w->send(frame(stream, data));
                if (w->queuedBytes() > 1024 * 1024)
                    proc->setOutputPaused(true);
            };
            ws->onDrained = [proc] { proc->setOutputPaused(false); };
            proc->onExit = [weak, frame, statusJson, cmdText](int code, const std::string &error) {
                auto w = weak.lock();
                if (!w)
                    return;
                if (statusJson) {
                    Json st = {{"metadata", Json::object()}, {"status", "Success"}};
                    if (!error.empty())
                        st = Json {{"metadata", Json::object()},
                                   {"status", "Failure"},
                                   {"message", "Internal error occurred: " + error},
                                   {"reason", "InternalError"},
                                   {"code", 500}};
                    else if (code != 0)
                        st = Json {
                            {"metadata", Json::object()},
                            {"status", "Failure"},
                            {"message",
                             "command terminated with non-zero exit code: error executing command [" + cmdText
                                 + "], exit code " + std::to_string(code)},
                            {"reason", "NonZeroExitCode"},
                            {"details", {{"causes", {{{"reason", "ExitCode"}, {"message", std::to_string(code)}}}}}}};
                    w->send(frame(3, st.dump()));
                } else if (!error.empty() || code != 0) {
                    w->send(
                        frame(3, !error.empty() ? error : "command terminated with exit code " + std::to_string(code)));
                }
                w->close(1000);
            };
            auto pendingStdin = std::make_shared<std::size_t>(0);
            ws->onMessage = [proc, base64, v5, weak, pendingStdin](std::string data, bool text) {
                if (data.empty())
                    return;
                auto [ch, payload] = parseChannelFrame(data, base64);
                (void)text;
                if (ch == 0) {
                    *pendingStdin += payload.size();
                    if (*pendingStdin > 4 * 1024 * 1024)
                        if (auto w = weak.lock())
                            w->setReadPaused(true);
                    std::size_t n = payload.size();
                    proc->writeStdin(std::move(payload), [weak, pendingStdin, n] {
                        *pendingStdin -= n;
                        if (*pendingStdin < 1024 * 1024)
                            if (auto w = weak.lock())
                                w->setReadPaused(false);
                    });
                } else if (ch == 4) {
                    try {
                        Json size = Json::parse(payload);
                        proc->resize(size.value("Width", 80), size.value("Height", 24));
                    } catch (...) { }
                } else if (ch == 255 && v5) {
                    if (payload.size() == 1 && payload[0] == 0)
                        proc->closeStdin();
                }
            };
            ws->onClose = [proc] { proc->kill(); };
            // What came before the handshake, in order, then the end if it came too.
            if (early->paused)
                proc->setOutputPaused(false);
            for (auto &[stream, data] : early->output)
                proc->onOutput(stream, data);
            early->output.clear();
            if (early->exit)
                proc->onExit(early->exit->first, early->exit->second);
        });
}

// ---- port-forward --------------------------------------------------------------------------

namespace {

struct ForwardedPort : std::enable_shared_from_this<ForwardedPort>
{
    explicit ForwardedPort(net::io_context &io)
        : socket(io)
    { }
    tcp::socket socket;
    int index = 0;
    std::uint16_t port = 0;
    std::array<char, 64 * 1024> buffer {};
    std::deque<std::string> out;
    std::size_t outBytes = 0; // queued for the pod
    bool writing = false;
    bool connected = false;
    std::vector<std::string> early; // client data that came before the connection
    // Back-pressure: the pod is not read while the WebSocket holds too much for the client;
    // resumeRead restarts the read loop (cleared on close, which ends the cycle it holds).
    bool readPaused = false;
    std::function<void()> resumeRead;
    std::weak_ptr<WebSocketChannel> ws;
};

} // namespace

void Api::handlePortForward(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply)
{
    auto pod = m_store.get("pods", info.ns, info.name);
    if (!pod)
        return reply->respond(statusResponse(notFound(*info.type, info.name)));
    std::vector<std::uint16_t> ports;
    for (const auto &v : r.queryValues("ports")) {
        std::size_t start = 0;
        while (start <= v.size()) {
            auto comma = v.find(',', start);
            std::string p = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            long n = 0;
            try {
                std::size_t used = 0;
                n = std::stol(p, &used);
                if (used != p.size())
                    n = 0;
            } catch (...) {
                n = 0;
            }
            if (n < 1 || n > 65535)
                return reply->respond(
                    statusResponse(badRequest("invalid port \"" + p + "\": must be between 1 and 65535")));
            ports.push_back(std::uint16_t(n));
            if (comma == std::string::npos)
                break;
            start = comma + 1;
        }
    }
    // kubectl 1.32: SPDY/3.1 inside a WebSocket, or after `Upgrade: SPDY/3.1` (its fallback and
    // KUBECTL_PORT_FORWARD_WEBSOCKETS=false). The Python client and iterdeckctl: the channel
    // protocol over WebSocket.
    static const std::string spdyTunnel = "SPDY/3.1+portforward.k8s.io";
    auto offered = splitProtocols(r.header("sec-websocket-protocol"));
    std::string protocol;
    for (const auto &p : offered)
        if (p == spdyTunnel || p == "v4.channel.k8s.io" || p == "v4.base64.channel.k8s.io" || p == "channel.k8s.io"
            || p == "base64.channel.k8s.io") {
            protocol = p;
            break;
        }
    auto lower = [](std::string v) {
        for (auto &c : v)
            c = char(std::tolower(static_cast<unsigned char>(c)));
        return v;
    };
    const bool spdyUpgrade = !r.upgrade && lower(r.header("upgrade")).find("spdy/3.1") != std::string::npos
        && lower(r.header("connection")).find("upgrade") != std::string::npos;
    if (spdyUpgrade) {
        // httpstream.Handshake: the client names its protocol versions.
        auto versions = splitProtocols(r.header("x-stream-protocol-version"));
        if (versions.empty())
            return reply->respond(
                statusResponse(badRequest("unable to upgrade: X-Stream-Protocol-Version is required")));
        if (std::find(versions.begin(), versions.end(), "portforward.k8s.io") == versions.end()) {
            std::string list;
            for (const auto &v : versions)
                list += (list.empty() ? "" : " ") + v;
            auto response = statusResponse(ApiError {403, "Forbidden",
                                                     "unable to upgrade: unable to negotiate protocol: client "
                                                     "supports ["
                                                         + list + "], server accepts [portforward.k8s.io]",
                                                     Json::array()});
            response.headers.emplace_back("X-Accepted-Stream-Protocol-Versions", "portforward.k8s.io");
            return reply->respond(response);
        }
    }
    if (!spdyUpgrade && (!r.upgrade || (!offered.empty() && protocol.empty())))
        return reply->respond(
            statusResponse(badRequest("port-forward needs a WebSocket upgrade with SPDY/3.1+portforward.k8s.io or "
                                      "v4.channel.k8s.io, or Upgrade: SPDY/3.1 with X-Stream-Protocol-Version: "
                                      "portforward.k8s.io")));
    const bool spdy = spdyUpgrade || protocol == spdyTunnel;
    if (ports.empty() && !spdy) // SPDY clients name the port of each stream in its headers
        return reply->respond(statusResponse(badRequest("at least one port must be specified")));
    if ((*pod)["status"].value("phase", "") != "Running")
        return reply->respond(statusResponse(badRequest("unable to forward port because pod is not running")));
    std::string ip = m_runtime.podIP(objectUid(*pod));
    if (ip.empty())
        ip = (*pod)["status"].value("podIP", "127.0.0.1");
    if (spdy) {
        PortForwardTarget target {info.name, objectUid(*pod), ip};
        if (spdyUpgrade)
            return reply->switchProtocols({{"Connection", "Upgrade"},
                                           {"Upgrade", "SPDY/3.1"},
                                           {"X-Stream-Protocol-Version", "portforward.k8s.io"}},
                                          [this, target](std::shared_ptr<ByteChannel> channel) {
                                              serveSpdyPortForward(m_io, std::move(channel), target);
                                          });
        return reply->upgrade(spdyTunnel, false, [this, target](std::shared_ptr<WebSocketChannel> ws) {
            serveSpdyPortForward(m_io, byteChannelOverWebSocket(std::move(ws)), target);
        });
    }
    const bool base64 = protocol.find("base64") != std::string::npos;
    std::string podName = info.name, uid = objectUid(*pod);
    reply->upgrade(protocol, base64, [this, ports, ip, base64, podName, uid](std::shared_ptr<WebSocketChannel> ws) {
        auto frame = [base64](int ch, std::string_view data) { return channelFrame(ch, data, base64); };
        std::weak_ptr<WebSocketChannel> weak = ws;
        auto conns = std::make_shared<std::vector<std::shared_ptr<ForwardedPort>>>();
        for (std::size_t i = 0; i < ports.size(); ++i) {
            std::string prefix;
            prefix += char(ports[i] & 0xff);
            prefix += char(ports[i] >> 8);
            ws->send(frame(int(2 * i), prefix));
            ws->send(frame(int(2 * i + 1), prefix));
            auto c = std::make_shared<ForwardedPort>(m_io);
            c->index = int(i);
            c->port = ports[i];
            c->ws = ws;
            conns->push_back(c);
        }
        auto fail = [weak, frame, podName, uid](const std::shared_ptr<ForwardedPort> &c, const std::string &why) {
            if (auto w = weak.lock()) {
                w->send(frame(2 * c->index + 1,
                              "error forwarding port " + std::to_string(c->port) + " to pod " + podName + ", uid " + uid
                                  + ": " + why));
                w->close(1000);
            }
        };
        auto pumpOut = std::make_shared<std::function<void(std::shared_ptr<ForwardedPort>)>>();
        *pumpOut = [pumpOut, fail](std::shared_ptr<ForwardedPort> c) {
            if (c->writing || c->out.empty() || !c->connected)
                return;
            c->writing = true;
            net::async_write(c->socket, net::buffer(c->out.front()),
                             [c, pumpOut, fail](boost::system::error_code ec, std::size_t) {
                                 c->writing = false;
                                 if (ec) {
                                     fail(c, ec.message());
                                     return;
                                 }
                                 c->outBytes -= c->out.front().size();
                                 c->out.pop_front();
                                 // The client is read again once the pod has taken most of it.
                                 if (c->outBytes < 1024 * 1024)
                                     if (auto w = c->ws.lock())
                                         w->setReadPaused(false);
                                 (*pumpOut)(c);
                             });
        };
        for (auto &c : *conns) {
            tcp::endpoint ep(net::ip::make_address(ip), c->port);
            c->socket.async_connect(ep, [c, weak, frame, fail, pumpOut](boost::system::error_code ec) {
                if (ec) {
                    fail(c, "dial tcp: connect: " + ec.message());
                    return;
                }
                c->connected = true;
                (*pumpOut)(c);
                auto readLoop = std::make_shared<std::function<void()>>();
                *readLoop = [c, weak, frame, readLoop] {
                    c->socket.async_read_some(net::buffer(c->buffer),
                                              [c, weak, frame, readLoop](boost::system::error_code ec2, std::size_t n) {
                                                  auto w = weak.lock();
                                                  if (!w)
                                                      return;
                                                  if (ec2) {
                                                      // The pod closed its end: one WebSocket carries one connection.
                                                      w->close(1000);
                                                      return;
                                                  }
                                                  w->send(frame(2 * c->index, std::string_view(c->buffer.data(), n)));
                                                  if (w->queuedBytes() > 1024 * 1024) {
                                                      c->readPaused = true; // until onDrained
                                                      return;
                                                  }
                                                  (*readLoop)();
                                              });
                };
                c->resumeRead = [readLoop] { (*readLoop)(); };
                (*readLoop)();
            });
        }
        ws->onDrained = [conns] {
            for (auto &c : *conns)
                if (c->readPaused && c->resumeRead) {
                    c->readPaused = false;
                    c->resumeRead();
                }
        };
        ws->onMessage = [conns, base64, pumpOut, weak](std::string data, bool) {
            if (data.empty())
                return;
            auto [ch, payload] = parseChannelFrame(data, base64);
            if (ch < 0 || ch % 2 != 0 || std::size_t(ch / 2) >= conns->size() || payload.empty())
                return;
            auto &c = (*conns)[std::size_t(ch / 2)];
            c->outBytes += payload.size();
            c->out.push_back(std::move(payload));
            if (c->outBytes > 4 * 1024 * 1024)
                if (auto w = weak.lock())
                    w->setReadPaused(true);
            (*pumpOut)(c);
        };
        ws->onClose = [conns] {
            for (auto &c : *conns) {
                boost::system::error_code ec;
                c->socket.close(ec);
                c->resumeRead = nullptr;
            }
        };
    });
}

} // namespace iterdeck::sandbox
