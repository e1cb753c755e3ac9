// The sandbox's kubelet: pod lifecycle (volumes, init containers, containers, restarts with
// back-off, probes), truthful Pod status, logs and exec. See runtime.h for the model.
#include "sandbox/runtime.h"
#include "sandbox/runtime_p.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace fs = std::filesystem;

namespace iterdeck::sandbox {

using namespace detail;

namespace {

const Json &sub(const Json &j, const char *key)
{
    static const Json null;
    if (j.is_object()) {
        const auto it = j.find(key);
        if (it != j.end())
            return *it;
    }
    return null;
}

std::string str(const Json &j, const char *key, const std::string &fallback = {})
{
    const Json &v = sub(j, key);
    return v.is_string() ? v.get<std::string>() : fallback;
}

long num(const Json &j, const char *key, long fallback)
{
    const Json &v = sub(j, key);
    if (v.is_number_integer())
        return v.get<long>();
    if (v.is_number())
        return static_cast<long>(v.get<double>());
    return fallback;
}

bool flag(const Json &j, const char *key, bool fallback = false)
{
    const Json &v = sub(j, key);
    return v.is_boolean() ? v.get<bool>() : fallback;
}

std::string jsonText(const Json &v)
{
    return v.is_string() ? v.get<std::string>() : (v.is_null() ? std::string() : v.dump());
}

std::vector<int> logIndices(const std::string &dir)
{
    std::vector<int> out;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 5 || name.compare(name.size() - 4, 4, ".log") != 0)
            continue;
        char *end = nullptr;
        const long v = std::strtol(name.c_str(), &end, 10);
        if (end == name.c_str() + name.size() - 4 && v >= 0)
            out.push_back(static_cast<int>(v));
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool writeFileAtomically(const std::string &path, const std::string &data, mode_t mode)
{
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return false;
    const char *p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    ::fchmod(fd, mode);
    ::close(fd);
    return ::rename(tmp.c_str(), path.c_str()) == 0;
}

// Synchronously checks that bubblewrap can create its namespaces here.
std::string bwrapProblem(const std::string &bwrap)
{
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0)
        return "pipe failed";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipeFds[1], 2);
    std::vector<std::string> args = {
        bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid", "--die-with-parent", "true"};
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, bwrap.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipeFds[1]);
    if (rc != 0) {
        ::close(pipeFds[0]);
        return std::string("cannot run bwrap: ") + std::strerror(rc);
    }
    std::string err;
    char buf[512];
    ssize_t n;
    while ((n = ::read(pipeFds[0], buf, sizeof buf)) > 0 && err.size() < 4096)
        err.append(buf, static_cast<std::size_t>(n));
    ::close(pipeFds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r'))
        err.pop_back();
    return err.empty() ? std::string("bwrap failed") : err;
}

// --- pod state ---

struct Run
{
    int index = 0;
    std::string id;
    std::shared_ptr<ProcessRunner> proc;
    std::shared_ptr<LogFile> log;
    Sandbox sandbox;
    SysClock::time_point startedAt, finishedAt;
    bool finished = false;
    int exitCode = 0;
    std::string reason, message;
    std::unique_ptr<boost::asio::steady_timer> killTimer;
    std::vector<std::weak_ptr<ProcessRunner>> execs; // exec'd processes and exec probes
};

enum class ProbeKind { Startup, Liveness, Readiness };

struct ProbeState
{
    ProbeKind kind;
    Json spec;
    int generation = 0;
    int successes = 0, failures = 0;
    boost::asio::steady_timer timer;
    ProbeState(boost::asio::io_context &io, ProbeKind k, Json s, int g)
        : kind(k)
        , spec(std::move(s))
        , generation(g)
        , timer(io)
    { }
};

struct Container
{
    Json spec;
    std::string name;
    std::string image;
    bool init = false;
    bool sidecar = false; // an init container with restartPolicy Always
    std::string imageID;
    enum class State { Waiting, Running, Terminated } state = State::Waiting;
    std::string waitingReason, waitingMessage;
    Json lastTerminated; // null, or the terminated state of the previous run
    int restartCount = 0;
    int nextRun = 0;
    bool started = false;
    bool readinessOk = false;
    int generation = 0;
    std::shared_ptr<Run> run; // the current or last run
    std::unique_ptr<boost::asio::steady_timer> timer;
    bool timerPending = false;
    bool hasBackoff = false;
    std::chrono::milliseconds backoff {0};
    SysClock::time_point backoffUpdated;
    bool hasPullBackoff = false;
    std::chrono::milliseconds pullBackoff {0};
    std::vector<std::shared_ptr<ProbeState>> probes;
    Json storedStatus; // this container's status from a previous life of the server

    std::string fieldPath() const
    {
        return std::string(init ? "spec.initContainers{" : "spec.containers{") + name + "}";
    }
    bool hasReadinessProbe() const { return sub(spec, "readinessProbe").is_object(); }
    bool ready() const
    {
        if (init && !sidecar)
            return state == State::Terminated && run && run->exitCode == 0;
        return state == State::Running && started && (!hasReadinessProbe() || readinessOk);
    }
    bool succeeded() const { return state == State::Terminated && run && run->exitCode == 0; }
};

struct VolumeInfo
{
    std::string hostPath;
    bool readOnly = false;
};

struct Condition
{
    bool status = false;
    SysClock::time_point since;
    bool known = false;
};

struct Pod
{
    std::weak_ptr<void> guard; // expires with the Runtime
    bool active = true; // false once removed or shut down
    std::string uid, name, ns, hostname;
    Json object;
    std::string ip;
    std::string dir;
    std::string restartPolicy = "Always";
    long graceSeconds = 30;
    SysClock::time_point startTime;
    std::vector<std::unique_ptr<Container>> inits, apps;
    bool volumesReady = false;
    std::string volumeError;
    std::map<std::string, VolumeInfo> volumes;
    std::unique_ptr<boost::asio::steady_timer> volumeTimer;
    bool volumeTimerPending = false;
    bool initialized = false;
    bool stopping = false;
    bool terminal = false;
    bool shutDown = false;
    std::vector<std::function<void()>> stopDone;
    std::map<std::string, Condition> conditions;
    Json adoptedStatus; // a finished pod from a previous life: its stored status, verbatim
    Json lastStatus;
    bool flushQueued = false;
    std::vector<RuntimeEvent> events;
    std::string qosClass;

    bool alive() const { return active && !guard.expired(); }
    std::string podRef() const { return name + "_" + ns + "(" + uid + ")"; }
    Container *find(const std::string &containerName)
    {
        for (auto &c : inits) {
            if (c->name == containerName)
                return c.get();
        }
        for (auto &c : apps) {
            if (c->name == containerName)
                return c.get();
        }
        return nullptr;
    }
    template<typename F> void forEach(F f)
    {
        for (auto &c : inits)
            f(*c);
        for (auto &c : apps)
            f(*c);
    }
};

std::string qosClassOf(const Json &spec)
{
    bool any = false, guaranteed = true;
    for (const char *list : {"initContainers", "containers"}) {
        for (const auto &c : sub(spec, list).is_array() ? sub(spec, list) : Json::array()) {
            const Json &res = sub(c, "resources");
            const Json &req = sub(res, "requests");
            const Json &lim = sub(res, "limits");
            for (const char *r : {"cpu", "memory"}) {
                const bool hasReq = req.is_object() && req.contains(r);
                const bool hasLim = lim.is_object() && lim.contains(r);
                any |= hasReq || hasLim;
                if (!hasLim || (hasReq && req.at(r) != lim.at(r)))
                    guaranteed = false;
            }
        }
    }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}

// --- exec ---

class ExecHandle : public ExecProcess, public std::enable_shared_from_this<ExecHandle>
{
public:
    explicit ExecHandle(boost::asio::io_context &io)
        : m_io(io)
    { }
    ~ExecHandle() override
    {
        if (m_runner) {
            m_runner->onOutput = nullptr;
            m_runner->onFinished = nullptr;
            m_runner->kill();
        }
    }

    void attach(std::shared_ptr<ProcessRunner> runner)
    {
        m_runner = std::move(runner);
        m_runner->onOutput = [this](int stream, std::string_view data) {
            auto callback = onOutput;
            if (callback)
                callback(stream, data);
        };
        m_runner->onFinished = [this](int exitCode) { finish(exitCode, {}); };
    }

    void failLater(int exitCode, std::string error)
    {
        boost::asio::post(m_io, [weak = weak_from_this(), exitCode, error] {
            if (auto self = weak.lock())
                self->finish(exitCode, error);
        });
    }

    void writeStdin(std::string data, std::function<void()> consumed) override
    {
        if (m_runner) {
            m_runner->writeStdin(std::move(data), std::move(consumed));
        } else if (consumed) {
            boost::asio::post(m_io, std::move(consumed));
        }
    }
    void closeStdin() override
    {
        if (m_runner)
            m_runner->closeStdin();
    }
    void resize(int width, int height) override
    {
        if (m_runner)
            m_runner->resize(width, height);
    }
    void setOutputPaused(bool paused) override
    {
        if (m_runner)
            m_runner->setPaused(paused);
    }
    void kill() override
    {
        if (m_runner)
            m_runner->kill();
    }

private:
    void finish(int exitCode, const std::string &error)
    {
        if (m_exited)
            return;
        m_exited = true;
        auto callback = onExit;
        if (callback)
            callback(exitCode, error); // may destroy this handle: touch nothing afterwards
    }

    boost::asio::io_context &m_io;
    std::shared_ptr<ProcessRunner> m_runner;
    bool m_exited = false;
};

} // namespace

// --- the runtime ---

class Runtime::Private
{
public:
    Private(Runtime *q, boost::asio::io_context &io, RuntimeOptions options)
        : q(q)
        , io(io)
        , options(std::move(options))
        , guard(std::make_shared<int>(0))
    {
        if (const char *env = std::getenv("ITERDECK_SANDBOX_BACKOFF_MS")) {
            const long ms = std::atol(env);
            if (ms > 0)
                backoffBase = std::chrono::milliseconds(ms);
        }
        backoffMax = backoffBase * 30;
        // A process that closes its stdin must not take the server down with SIGPIPE.
        std::signal(SIGPIPE, SIG_IGN);
        std::error_code ec;
        fs::create_directories(this->options.dataDir + "/pods", ec);
        detectIsolation();
    }

    void detectIsolation()
    {
        using Isolation = RuntimeOptions::Isolation;
        if (options.isolation == Isolation::Plain) {
            bubblewrap = false;
            isolation = "plain (no isolation: plain processes were requested)";
            return;
        }
        std::string found;
        const char *path = std::getenv("PATH");
        std::string dirs = std::string(path ? path : "") + ":/usr/bin:/bin:/usr/local/bin";
        std::size_t i = 0;
        while (i <= dirs.size() && found.empty()) {
            auto colon = dirs.find(':', i);
            if (colon == std::string::npos)
                colon = dirs.size();
            const std::string candidate = dirs.substr(i, colon - i) + "/bwrap";
            if (colon > i && ::access(candidate.c_str(), X_OK) == 0)
                found = candidate;
            i = colon + 1;
        }
        bwrapPath = found.empty() ? std::string("/usr/bin/bwrap") : found;
        if (options.isolation == Isolation::Bubblewrap) {
            bubblewrap = true;
            isolation = "bubblewrap";
            return;
        }
        if (found.empty()) {
            bubblewrap = false;
            isolation = "plain (no isolation: bwrap not found; install bubblewrap)";
            return;
        }
        const std::string problem = bwrapProblem(found);
        bubblewrap = problem.empty();
        isolation = bubblewrap ? std::string("bubblewrap")
                               : "plain (no isolation: bwrap does not work here: " + problem + ")";
    }

    Runtime *q;
    boost::asio::io_context &io;
    RuntimeOptions options;
    std::shared_ptr<void> guard;
    bool bubblewrap = false;
    std::string bwrapPath;
    std::string isolation;
    std::chrono::milliseconds backoffBase {10000};
    std::chrono::milliseconds backoffMax {300000};
    std::map<std::string, std::shared_ptr<Pod>> pods;
    std::set<std::uint32_t> usedIps;
    // Each sandbox starts at its own 127.N.0.1 (N random in 1..254), so that two sandboxes on one
    // machine (parallel tests, a demo beside a test run) rarely hand out the same address and port.
    std::uint32_t nextIp = (127u << 24) | ((1u + std::random_device {}() % 254u) << 16) | 1u;
    bool isShutDown = false;

    // --- IPs ---

    static std::string ipText(std::uint32_t ip)
    {
        return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xFF) + "."
            + std::to_string((ip >> 8) & 0xFF) + "." + std::to_string(ip & 0xFF);
    }

    static bool usable(std::uint32_t ip)
    {
        const std::uint32_t last = ip & 0xFF;
        return (ip >> 24) == 127 && ((ip >> 16) & 0xFF) != 0 && last != 0 && last != 255;
    }

    // From the starting address upward, round robin, so an address just released is not handed out again
    // at once (clients of the old pod may still be talking to it). A pod keeps its address across
    // restarts of the server.
    std::string allocateIp(const std::string &preferred)
    {
        in_addr a {};
        if (!preferred.empty() && ::inet_pton(AF_INET, preferred.c_str(), &a) == 1) {
            const std::uint32_t ip = ntohl(a.s_addr);
            if (usable(ip) && !usedIps.count(ip)) {
                usedIps.insert(ip);
                return ipText(ip);
            }
        }
        for (std::uint32_t tries = 0; tries < (1u << 24); ++tries) {
            const std::uint32_t ip = nextIp;
            nextIp = ip + 1;
            if ((nextIp >> 24) != 127)
                nextIp = (127u << 24) | (1u << 16) | 1u;
            if (usable(ip) && !usedIps.count(ip)) {
                usedIps.insert(ip);
                return ipText(ip);
            }
        }
        return "127.0.0.1";
    }

    void releaseIp(const std::string &text)
    {
        in_addr a {};
        if (::inet_pton(AF_INET, text.c_str(), &a) == 1)
            usedIps.erase(ntohl(a.s_addr));
    }

    std::weak_ptr<Pod> weakOf(const Pod &pod)
    {
        const auto it = pods.find(pod.uid);
        return it != pods.end() && it->second.get() == &pod ? std::weak_ptr<Pod>(it->second) : std::weak_ptr<Pod>();
    }

    // --- events and status ---

    void event(Pod &pod, const std::string &type, const std::string &reason, const std::string &message,
               const std::string &fieldPath = {})
    {
        pod.events.push_back(RuntimeEvent {type, reason, message, fieldPath});
        markDirty(pod);
    }

    void markDirty(Pod &pod)
    {
        if (pod.flushQueued || pod.shutDown)
            return;
        pod.flushQueued = true;
        boost::asio::post(io, [this, weak = weakOf(pod), g = std::weak_ptr<void>(guard)] {
            if (g.expired())
                return;
            auto p = weak.lock();
            if (!p)
                return;
            p->flushQueued = false;
            flush(p);
        });
    }

    void flush(const std::shared_ptr<Pod> &p)
    {
        if (p->shutDown || p->guard.expired())
            return;
        auto events = std::move(p->events);
        p->events.clear();
        for (const auto &e : events) {
            if (p->shutDown || p->guard.expired())
                return;
            if (q->onEvent)
                q->onEvent(p->uid, e);
        }
        if (p->shutDown || p->guard.expired())
            return;
        Json status = buildStatus(*p);
        if (status == p->lastStatus)
            return;
        p->lastStatus = status;
        if (q->onStatus)
            q->onStatus(p->uid, status);
    }

    static Json terminatedJson(const Run &run)
    {
        Json t = {{"exitCode", run.exitCode}, {"reason", run.reason}};
        if (!run.message.empty())
            t["message"] = run.message;
        t["startedAt"] = rfc3339(run.startedAt);
        t["finishedAt"] = rfc3339(run.finishedAt);
        t["containerID"] = "sandbox://" + run.id;
        return t;
    }

    Json containerStatus(const Pod &pod, const Container &c) const
    {
        Json s = Json::object();
        s["name"] = c.name;
        Json state = Json::object();
        switch (c.state) {
        case Container::State::Waiting: {
            Json w
                = {{"reason",
                    c.waitingReason.empty() ? std::string(pod.inits.empty() ? "ContainerCreating" : "PodInitializing")
                                            : c.waitingReason}};
            if (!c.waitingMessage.empty())
                w["message"] = c.waitingMessage;
            state["waiting"] = w;
            break;
        }
        case Container::State::Running:
            state["running"] = {{"startedAt", rfc3339(c.run->startedAt)}};
            break;
        case Container::State::Terminated:
            state["terminated"] = terminatedJson(*c.run);
            break;
        }
        s["state"] = state;
        s["lastState"] = c.lastTerminated.is_object() ? Json {{"terminated", c.lastTerminated}} : Json::object();
        s["ready"] = c.ready();
        s["restartCount"] = c.restartCount;
        s["image"] = c.image;
        s["imageID"] = c.imageID;
        if (c.run)
            s["containerID"] = "sandbox://" + c.run->id;
        s["started"] = c.state == Container::State::Running && c.started;
        return s;
    }

    std::string computePhase(const Pod &pod) const
    {
        bool pendingInit = false;
        for (const auto &c : pod.inits) {
            if (c->sidecar) {
                if (!pod.initialized && !c->started)
                    pendingInit = true;
                continue;
            }
            if (c->succeeded())
                continue;
            if (c->state == Container::State::Terminated && pod.restartPolicy == "Never")
                return "Failed";
            pendingInit = true;
        }
        if (pendingInit && !pod.initialized)
            return "Pending";
        int running = 0, waiting = 0, stopped = 0, succeeded = 0;
        for (const auto &c : pod.apps) {
            switch (c->state) {
            case Container::State::Running:
                ++running;
                break;
            case Container::State::Terminated:
                ++stopped;
                if (c->run && c->run->exitCode == 0)
                    ++succeeded;
                break;
            case Container::State::Waiting:
                if (c->lastTerminated.is_object())
                    ++stopped;
                else
                    ++waiting;
                break;
            }
        }
        if (waiting > 0)
            return "Pending";
        if (running > 0)
            return "Running";
        if (stopped > 0) {
            if (pod.stopping)
                return stopped == succeeded ? "Succeeded" : "Failed";
            if (pod.restartPolicy == "Always")
                return "Running";
            if (stopped == succeeded)
                return "Succeeded";
            if (pod.restartPolicy == "Never")
                return "Failed";
            return "Running";
        }
        return "Pending";
    }

    Json condition(Pod &pod, const std::string &type, bool status, const std::string &reason = {},
                   const std::string &message = {})
    {
        Condition &c = pod.conditions[type];
        if (!c.known || c.status != status) {
            c.known = true;
            c.status = status;
            c.since = SysClock::now();
        }
        Json j = {{"type", type},
                  {"status", status ? "True" : "False"},
                  {"lastProbeTime", nullptr},
                  {"lastTransitionTime", rfc3339(c.since)}};
        if (!reason.empty())
            j["reason"] = reason;
        if (!message.empty())
            j["message"] = message;
        return j;
    }

    Json buildStatus(Pod &pod)
    {
        if (pod.adoptedStatus.is_object())
            return pod.adoptedStatus;
        const std::string phase = computePhase(pod);
        Json status = Json::object();
        status["phase"] = phase;
        Json conditions = Json::array();
        conditions.push_back(condition(pod, "PodReadyToStartContainers", true));
        std::vector<std::string> incomplete, unready;
        for (const auto &c : pod.inits) {
            if (c->sidecar ? !c->started && !pod.initialized : !c->succeeded())
                incomplete.push_back(c->name);
        }
        const bool initialized = pod.initialized || incomplete.empty();
        conditions.push_back(initialized ? condition(pod, "Initialized", true)
                                         : condition(pod, "Initialized", false, "ContainersNotInitialized",
                                                     "containers with incomplete status: " + goList(incomplete)));
        for (const auto &c : pod.apps) {
            if (!c->ready())
                unready.push_back(c->name);
        }
        for (const auto &c : pod.inits) {
            if (c->sidecar && !c->ready())
                unready.push_back(c->name);
        }
        Json ready, containersReady;
        if (unready.empty()) {
            ready = condition(pod, "Ready", true);
            containersReady = condition(pod, "ContainersReady", true);
        } else if (phase == "Succeeded") {
            ready = condition(pod, "Ready", false, "PodCompleted");
            containersReady = condition(pod, "ContainersReady", false, "PodCompleted");
        } else {
            const std::string message = "containers with unready status: " + goList(unready);
            ready = condition(pod, "Ready", false, "ContainersNotReady", message);
            containersReady = condition(pod, "ContainersReady", false, "ContainersNotReady", message);
        }
        conditions.push_back(ready);
        conditions.push_back(containersReady);
        conditions.push_back(condition(pod, "PodScheduled", true));
        status["conditions"] = conditions;
        status["hostIP"] = "127.0.0.1";
        status["hostIPs"] = Json::array({{{"ip", "127.0.0.1"}}});
        status["podIP"] = pod.ip;
        status["podIPs"] = Json::array({{{"ip", pod.ip}}});
        status["startTime"] = rfc3339(pod.startTime);
        if (!pod.inits.empty()) {
            Json list = Json::array();
            for (const auto &c : pod.inits)
                list.push_back(containerStatus(pod, *c));
            status["initContainerStatuses"] = list;
        }
        Json list = Json::array();
        for (const auto &c : pod.apps)
            list.push_back(containerStatus(pod, *c));
        status["containerStatuses"] = list;
        status["qosClass"] = pod.qosClass;
        return status;
    }

    // --- objects the pod refers to ---

    Json lookup(const std::string &kind, const std::string &ns, const std::string &name) const
    {
        if (!options.lookup || name.empty())
            return nullptr;
        Json obj = options.lookup(kind, ns, name);
        return obj.is_object() ? obj : Json(nullptr);
    }

    // Decoded data of a ConfigMap (data + binaryData) or Secret (data base64, stringData).
    static std::map<std::string, std::string> objectData(const std::string &kind, const Json &obj)
    {
        std::map<std::string, std::string> out;
        if (kind == "Secret") {
            const Json &data = sub(obj, "data");
            if (data.is_object()) {
                for (auto it = data.begin(); it != data.end(); ++it) {
                    const auto decoded = base64Decode(jsonText(it.value()));
                    out[it.key()] = decoded ? *decoded : jsonText(it.value());
                }
            }
            const Json &stringData = sub(obj, "stringData");
            if (stringData.is_object()) {
                for (auto it = stringData.begin(); it != stringData.end(); ++it)
                    out[it.key()] = jsonText(it.value());
            }
            return out;
        }
        const Json &data = sub(obj, "data");
        if (data.is_object()) {
            for (auto it = data.begin(); it != data.end(); ++it)
                out[it.key()] = jsonText(it.value());
        }
        const Json &binary = sub(obj, "binaryData");
        if (binary.is_object()) {
            for (auto it = binary.begin(); it != binary.end(); ++it) {
                const auto decoded = base64Decode(jsonText(it.value()));
                if (decoded)
                    out[it.key()] = *decoded;
            }
        }
        return out;
    }

    std::optional<std::string> fieldValue(const Pod &pod, const std::string &path) const
    {
        const Json &meta = sub(pod.object, "metadata");
        const Json &spec = sub(pod.object, "spec");
        if (path == "metadata.name")
            return pod.name;
        if (path == "metadata.namespace")
            return pod.ns;
        if (path == "metadata.uid")
            return pod.uid;
        if (path == "spec.nodeName")
            return str(spec, "nodeName");
        if (path == "spec.serviceAccountName")
            return str(spec, "serviceAccountName", "default");
        if (path == "status.hostIP" || path == "status.hostIPs")
            return std::string("127.0.0.1");
        if (path == "status.podIP" || path == "status.podIPs")
            return pod.ip;
        for (const char *map : {"labels", "annotations"}) {
            const std::string prefix = std::string("metadata.") + map;
            const Json &m = sub(meta, map);
            if (path == prefix) {
                std::string out;
                if (m.is_object()) {
                    for (auto it = m.begin(); it != m.end(); ++it)
                        out += it.key() + "=\"" + jsonText(it.value()) + "\"\n";
                }
                return out;
            }
            if (path.rfind(prefix + "['", 0) == 0 && path.size() > prefix.size() + 4
                && path.substr(path.size() - 2) == "']") {
                const std::string key = path.substr(prefix.size() + 2, path.size() - prefix.size() - 4);
                return m.is_object() && m.contains(key) ? jsonText(m.at(key)) : std::string();
            }
        }
        return std::nullopt;
    }

    std::string resourceValue(const Container &c, const Json &ref) const
    {
        const std::string resource = str(ref, "resource");
        const Json &res = sub(c.spec, "resources");
        const auto dot = resource.find('.');
        if (dot != std::string::npos) {
            const Json &group = sub(res, resource.substr(0, dot).c_str());
            const Json &v = sub(group, resource.substr(dot + 1).c_str());
            if (!v.is_null())
                return jsonText(v);
        }
        // Without a limit the kubelet reports the node's capacity.
        if (resource == "limits.cpu")
            return std::to_string(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
        if (resource == "limits.memory")
            return std::to_string(::sysconf(_SC_PHYS_PAGES) * ::sysconf(_SC_PAGE_SIZE));
        return "0";
    }

    // The container's environment, in Kubernetes order; nullopt + *error (the kubelet's
    // CreateContainerConfigError message) when a reference cannot be resolved.
    std::optional<std::vector<std::pair<std::string, std::string>>>
    buildEnv(const Pod &pod, const Container &c, const ImageEntry &image, std::string *error) const
    {
        std::vector<std::pair<std::string, std::string>> env;
        std::map<std::string, std::string> values;
        auto set = [&](const std::string &name, const std::string &value) {
            if (name.empty())
                return;
            if (values.count(name)) {
                for (auto &e : env) {
                    if (e.first == name)
                        e.second = value;
                }
            } else {
                env.emplace_back(name, value);
            }
            values[name] = value;
        };
        set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        set("HOSTNAME", pod.hostname);
        const std::string root = pod.dir + "/" + c.name + "/root";
        if (bubblewrap) {
            set("HOME", "/root");
        } else {
            // Plain processes see the host's file system: keep their writes inside the root.
            set("HOME", root + "/root");
            set("TMPDIR", root + "/tmp");
            set("ITERDECK_SANDBOX_ROOT", root);
        }
        set("POD_IP", pod.ip);
        for (const auto &e : image.env)
            set(e.first, e.second);
        const Json &envFrom = sub(c.spec, "envFrom");
        if (envFrom.is_array()) {
            for (const auto &source : envFrom) {
                const std::string prefix = str(source, "prefix");
                for (const char *kind : {"ConfigMap", "Secret"}) {
                    const Json &ref = sub(source, kind == std::string("ConfigMap") ? "configMapRef" : "secretRef");
                    if (!ref.is_object())
                        continue;
                    const std::string name = str(ref, "name");
                    const Json obj = lookup(kind, pod.ns, name);
                    if (obj.is_null()) {
                        if (flag(ref, "optional"))
                            continue;
                        *error = std::string(kind == std::string("ConfigMap") ? "configmap" : "secret") + " \"" + name
                            + "\" not found";
                        return std::nullopt;
                    }
                    for (const auto &[key, value] : objectData(kind, obj))
                        set(prefix + key, value);
                }
            }
        }
        const Json &list = sub(c.spec, "env");
        if (list.is_array()) {
            for (const auto &e : list) {
                const std::string name = str(e, "name");
                const Json &from = sub(e, "valueFrom");
                if (!from.is_object()) {
                    set(name, expandVars(str(e, "value"), values));
                    continue;
                }
                bool handled = false;
                for (const char *kind : {"ConfigMap", "Secret"}) {
                    const bool isMap = kind == std::string("ConfigMap");
                    const Json &ref = sub(from, isMap ? "configMapKeyRef" : "secretKeyRef");
                    if (!ref.is_object())
                        continue;
                    handled = true;
                    const std::string objName = str(ref, "name"), key = str(ref, "key");
                    const Json obj = lookup(kind, pod.ns, objName);
                    if (obj.is_null()) {
                        if (flag(ref, "optional"))
                            break;
                        *error = std::string(isMap ? "configmap" : "secret") + " \"" + objName + "\" not found";
                        return std::nullopt;
                    }
                    const auto data = objectData(kind, obj);
                    const auto it = data.find(key);
                    if (it == data.end()) {
                        if (flag(ref, "optional"))
                            break;
                        *error = "couldn't find key " + key + " in " + kind + " " + pod.ns + "/" + objName;
                        return std::nullopt;
                    }
                    set(name, it->second);
                }
                if (handled)
                    continue;
                if (const Json &ref = sub(from, "fieldRef"); ref.is_object()) {
                    const auto v = fieldValue(pod, str(ref, "fieldPath"));
                    if (!v) {
                        *error = "unsupported fieldPath: " + str(ref, "fieldPath");
                        return std::nullopt;
                    }
                    set(name, *v);
                } else if (const Json &rref = sub(from, "resourceFieldRef"); rref.is_object()) {
                    set(name, resourceValue(c, rref));
                }
            }
        }
        return env;
    }

    // --- volumes ---

    static bool safeRelative(const std::string &path)
    {
        if (path.empty() || path[0] == '/')
            return false;
        return cleanPath("/" + path) == "/" + path && path.find("..") == std::string::npos;
    }

    static mode_t modeOf(const Json &j, const char *key, mode_t fallback)
    {
        const long m = num(j, key, -1);
        return m >= 0 ? static_cast<mode_t>(m & 0777) : fallback;
    }

    struct Projection
    {
        std::map<std::string, std::pair<std::string, mode_t>> files;
    };

    // Files of a configMap or secret source (a volume or a projected source).
    bool projectObject(const Pod &pod, const std::string &kind, const Json &source, const std::string &name,
                       mode_t defaultMode, Projection &out, std::string *error) const
    {
        const Json obj = lookup(kind, pod.ns, name);
        const bool optional = flag(source, "optional");
        const bool isMap = kind == "ConfigMap";
        if (obj.is_null()) {
            if (optional)
                return true;
            *error = std::string(isMap ? "configmap" : "secret") + " \"" + name + "\" not found";
            return false;
        }
        const auto data = objectData(kind, obj);
        const Json &items = sub(source, "items");
        if (items.is_array() && !items.empty()) {
            for (const auto &item : items) {
                const std::string key = str(item, "key"), path = str(item, "path", key);
                const auto it = data.find(key);
                if (it == data.end()) {
                    if (optional)
                        continue;
                    *error = std::string(isMap ? "configmap references non-existent config key: "
                                               : "references non-existent secret key: ")
                        + key;
                    return false;
                }
                if (safeRelative(path))
                    out.files[path] = {it->second, modeOf(item, "mode", defaultMode)};
            }
            return true;
        }
        for (const auto &[key, value] : data) {
            if (safeRelative(key))
                out.files[key] = {value, defaultMode};
        }
        return true;
    }

    bool projectDownward(const Pod &pod, const Json &source, mode_t defaultMode, Projection &out,
                         std::string *error) const
    {
        const Json &items = sub(source, "items");
        if (!items.is_array())
            return true;
        for (const auto &item : items) {
            const std::string path = str(item, "path");
            std::string value;
            if (const Json &ref = sub(item, "fieldRef"); ref.is_object()) {
                const auto v = fieldValue(pod, str(ref, "fieldPath"));
                if (!v) {
                    *error = "unsupported fieldPath: " + str(ref, "fieldPath");
                    return false;
                }
                value = *v;
            } else if (const Json &rref = sub(item, "resourceFieldRef"); rref.is_object()) {
                const Container *c = nullptr;
                for (const auto &a : pod.apps) {
                    if (a->name == str(rref, "containerName"))
                        c = a.get();
                }
                value = c ? resourceValue(*c, rref) : std::string("0");
            }
            if (safeRelative(path))
                out.files[path] = {value, modeOf(item, "mode", defaultMode)};
        }
        return true;
    }

    static void writeProjection(const std::string &dir, const Projection &p)
    {
        std::error_code ec;
        fs::create_directories(dir, ec);
        // Remove what is no longer projected, then write (atomically per file).
        std::set<std::string> tops;
        for (const auto &f : p.files)
            tops.insert(f.first.substr(0, f.first.find('/')));
        for (const auto &entry : fs::directory_iterator(dir, ec)) {
            if (!tops.count(entry.path().filename().string())) {
                std::error_code ignored;
                fs::remove_all(entry.path(), ignored);
            }
        }
        for (const auto &[path, file] : p.files)
            writeFileAtomically(dir + "/" + path, file.first, file.second);
    }

    // Prepares every volume of the pod. `initial`: the first time, failures keep the pod from
    // starting (as FailedMount does); later refreshes (at each container start) keep old files.
    bool setupVolumes(Pod &pod, bool initial, std::string *error)
    {
        const Json &list = sub(sub(pod.object, "spec"), "volumes");
        if (!list.is_array())
            return true;
        for (const auto &v : list) {
            const std::string name = str(v, "name");
            if (name.empty())
                continue;
            const std::string dir = pod.dir + "/_volumes/" + name;
            VolumeInfo info {dir, false};
            std::error_code ec;
            auto fail = [&](const std::string &why) {
                *error = "MountVolume.SetUp failed for volume \"" + name + "\" : " + why;
                return false;
            };
            if (v.contains("emptyDir") || v.contains("ephemeral")) {
                fs::create_directories(dir, ec);
            } else if (const Json &cm = sub(v, "configMap"); cm.is_object()) {
                Projection p;
                std::string why;
                if (!projectObject(pod, "ConfigMap", cm, str(cm, "name"), modeOf(cm, "defaultMode", 0644), p, &why)) {
                    if (initial)
                        return fail(why);
                    continue;
                }
                writeProjection(dir, p);
                info.readOnly = true;
            } else if (const Json &secret = sub(v, "secret"); secret.is_object()) {
                Projection p;
                std::string why;
                if (!projectObject(pod, "Secret", secret, str(secret, "secretName"),
                                   modeOf(secret, "defaultMode", 0644), p, &why)) {
                    if (initial)
                        return fail(why);
                    continue;
                }
                writeProjection(dir, p);
                info.readOnly = true;
            } else if (const Json &down = sub(v, "downwardAPI"); down.is_object()) {
                Projection p;
                std::string why;
                if (!projectDownward(pod, down, modeOf(down, "defaultMode", 0644), p, &why)) {
                    if (initial)
                        return fail(why);
                    continue;
                }
                writeProjection(dir, p);
                info.readOnly = true;
            } else if (const Json &projected = sub(v, "projected"); projected.is_object()) {
                Projection p;
                std::string why;
                const mode_t mode = modeOf(projected, "defaultMode", 0644);
                bool ok = true;
                for (const auto &source :
                     sub(projected, "sources").is_array() ? sub(projected, "sources") : Json::array()) {
                    if (const Json &s = sub(source, "configMap"); s.is_object())
                        ok = ok && projectObject(pod, "ConfigMap", s, str(s, "name"), mode, p, &why);
                    else if (const Json &s2 = sub(source, "secret"); s2.is_object())
                        ok = ok && projectObject(pod, "Secret", s2, str(s2, "name"), mode, p, &why);
                    else if (const Json &s3 = sub(source, "downwardAPI"); s3.is_object())
                        ok = ok && projectDownward(pod, s3, mode, p, &why);
                    else if (const Json &s4 = sub(source, "serviceAccountToken"); s4.is_object()) {
                        // The sandbox mints no service account tokens: the file exists, empty.
                        const std::string path = str(s4, "path", "token");
                        if (safeRelative(path))
                            p.files[path] = {std::string(), mode};
                    }
                }
                if (!ok) {
                    if (initial)
                        return fail(why);
                    continue;
                }
                writeProjection(dir, p);
                info.readOnly = true;
            } else if (const Json &pvc = sub(v, "persistentVolumeClaim"); pvc.is_object()) {
                const std::string claim = str(pvc, "claimName");
                const std::string claimDir
                    = options.claimDirectory ? options.claimDirectory(pod.ns, claim) : std::string();
                if (claimDir.empty())
                    return fail("persistentvolumeclaim \"" + claim + "\" is not bound");
                fs::create_directories(claimDir, ec);
                info = {claimDir, flag(pvc, "readOnly")};
            } else if (const Json &host = sub(v, "hostPath"); host.is_object()) {
                const std::string path = str(host, "path");
                const std::string type = str(host, "type");
                struct stat st;
                const bool exists = ::stat(path.c_str(), &st) == 0;
                if (type == "DirectoryOrCreate" || (type.empty() && !exists)) {
                    fs::create_directories(path, ec);
                } else if (type == "FileOrCreate") {
                    if (!exists) {
                        fs::create_directories(fs::path(path).parent_path(), ec);
                        std::ofstream touch(path, std::ios::app);
                    }
                } else if (type == "Directory" && !(exists && S_ISDIR(st.st_mode))) {
                    return fail("hostPath type check failed: " + path + " is not a directory");
                } else if (type == "File" && !(exists && S_ISREG(st.st_mode))) {
                    return fail("hostPath type check failed: " + path + " is not a file");
                } else if (type == "Socket" && !(exists && S_ISSOCK(st.st_mode))) {
                    return fail("hostPath type check failed: " + path + " is not a socket file");
                } else if ((type == "CharDevice" || type == "BlockDevice") && !exists) {
                    return fail("hostPath type check failed: " + path + " is not a device");
                }
                info = {path, false};
            } else {
                fs::create_directories(dir, ec);
                if (initial)
                    event(pod, "Warning", "FailedMount",
                          "volume \"" + name
                              + "\": this volume type is not supported by the sandbox; it is an empty directory");
            }
            pod.volumes[name] = info;
        }
        return true;
    }

    // --- the pod's life ---

    std::chrono::milliseconds retryInterval() const { return backoffBase; }

    void armTimer(Pod &pod, Container &c, std::chrono::milliseconds delay, std::function<void(Pod &, Container &)> then)
    {
        if (!c.timer)
            c.timer = std::make_unique<boost::asio::steady_timer>(io);
        c.timer->expires_after(delay);
        c.timerPending = true;
        auto weak = weakOf(pod);
        Container *cp = &c;
        c.timer->async_wait([this, weak, cp, then = std::move(then)](const boost::system::error_code &ec) {
            auto p = weak.lock();
            if (ec || !p || !p->alive())
                return;
            cp->timerPending = false;
            if (p->stopping || p->terminal)
                return;
            then(*p, *cp);
        });
    }

    void sync(Pod &pod)
    {
        if (!pod.alive() || pod.stopping || pod.terminal)
            return;
        markDirty(pod);
        if (!pod.volumesReady) {
            if (pod.volumeTimerPending)
                return;
            std::string error;
            if (!setupVolumes(pod, true, &error)) {
                if (error != pod.volumeError)
                    event(pod, "Warning", "FailedMount", error);
                pod.volumeError = error;
                if (!pod.volumeTimer)
                    pod.volumeTimer = std::make_unique<boost::asio::steady_timer>(io);
                pod.volumeTimer->expires_after(retryInterval());
                pod.volumeTimerPending = true;
                pod.volumeTimer->async_wait([this, weak = weakOf(pod)](const boost::system::error_code &ec) {
                    auto p = weak.lock();
                    if (ec || !p || !p->alive())
                        return;
                    p->volumeTimerPending = false;
                    sync(*p);
                });
                return;
            }
            pod.volumesReady = true;
        }
        if (!pod.initialized) {
            for (auto &c : pod.inits) {
                if (c->sidecar) {
                    if (c->state == Container::State::Waiting && !c->timerPending)
                        startContainer(pod, *c);
                    if (!c->started)
                        return;
                    continue;
                }
                if (c->succeeded())
                    continue;
                if (c->state == Container::State::Waiting && !c->timerPending)
                    startContainer(pod, *c);
                return;
            }
            pod.initialized = true;
        }
        for (auto &c : pod.apps) {
            if (c->state == Container::State::Waiting && !c->timerPending)
                startContainer(pod, *c);
        }
        checkTerminal(pod);
    }

    void checkTerminal(Pod &pod)
    {
        if (pod.terminal || pod.stopping)
            return;
        const std::string phase = computePhase(pod);
        if (phase != "Succeeded" && phase != "Failed")
            return;
        pod.terminal = true;
        // Sidecars end with the pod's main containers; nothing restarts any more.
        pod.forEach([&](Container &c) {
            if (c.timer)
                c.timer->cancel();
            c.timerPending = false;
            stopProbes(c);
            if (c.state == Container::State::Running)
                killRun(pod, c, pod.graceSeconds);
        });
        markDirty(pod);
    }

    void setWaiting(Container &c, const std::string &reason, const std::string &message)
    {
        c.state = Container::State::Waiting;
        c.waitingReason = reason;
        c.waitingMessage = message;
    }

    void pullFailed(Pod &pod, Container &c)
    {
        const std::string message = "Failed to pull image \"" + c.image + "\": image not found in the sandbox catalog";
        setWaiting(c, "ErrImagePull", message);
        event(pod, "Normal", "Pulling", "Pulling image \"" + c.image + "\"", c.fieldPath());
        event(pod, "Warning", "Failed", message, c.fieldPath());
        event(pod, "Warning", "Failed", "Error: ErrImagePull", c.fieldPath());
        c.pullBackoff = c.hasPullBackoff ? std::min(c.pullBackoff * 2, backoffMax) : backoffBase;
        c.hasPullBackoff = true;
        const auto delay = c.pullBackoff;
        // The next sync reports the back-off; the pull is retried when it has passed.
        armTimer(pod, c, std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(1)),
                 [this, delay](Pod &p, Container &cc) {
                     const std::string backoff = "Back-off pulling image \"" + cc.image + "\"";
                     setWaiting(cc, "ImagePullBackOff", backoff);
                     event(p, "Normal", "BackOff", backoff, cc.fieldPath());
                     event(p, "Warning", "Failed", "Error: ImagePullBackOff", cc.fieldPath());
                     armTimer(p, cc, delay, [this](Pod &p2, Container &) { sync(p2); });
                 });
        markDirty(pod);
    }

    void configError(Pod &pod, Container &c, const std::string &reason, const std::string &message)
    {
        if (c.waitingReason != reason || c.waitingMessage != message)
            event(pod, "Warning", "Failed", "Error: " + message, c.fieldPath());
        setWaiting(c, reason, message);
        armTimer(pod, c, retryInterval(), [this](Pod &p, Container &) { sync(p); });
        markDirty(pod);
    }

    std::vector<std::string> commandOf(const Container &c, const ImageEntry &image,
                                       const std::map<std::string, std::string> &vars) const
    {
        auto strings = [](const Json &j) {
            std::vector<std::string> out;
            if (j.is_array()) {
                for (const auto &s : j)
                    out.push_back(jsonText(s));
            }
            return out;
        };
        std::vector<std::string> command = strings(sub(c.spec, "command"));
        const std::vector<std::string> args = strings(sub(c.spec, "args"));
        std::vector<std::string> out;
        if (!command.empty()) {
            out = command;
            out.insert(out.end(), args.begin(), args.end());
        } else {
            out = image.command;
            const auto &a = sub(c.spec, "args").is_array() ? args : image.args;
            out.insert(out.end(), a.begin(), a.end());
        }
        for (auto &s : out)
            s = expandVars(s, vars);
        return out;
    }

    void startContainer(Pod &pod, Container &c)
    {
        const ImageEntry *image = options.catalog.find(c.image);
        if (!image) {
            pullFailed(pod, c);
            return;
        }
        if (c.imageID.empty()) {
            event(pod, "Normal", "Pulled", "Container image \"" + c.image + "\" already present on machine",
                  c.fieldPath());
            std::string identity = image->reference + "\n" + image->rootTemplate + "\n";
            for (const auto &s : image->command)
                identity += s + "\n";
            c.imageID = "sandbox://sha256:" + sha256Hex(identity);
        }
        c.hasPullBackoff = false;
        std::string error;
        const auto env = buildEnv(pod, c, *image, &error);
        if (!env) {
            configError(pod, c, "CreateContainerConfigError", error);
            return;
        }
        std::map<std::string, std::string> vars(env->begin(), env->end());
        const auto command = commandOf(c, *image, vars);
        if (command.empty()) {
            configError(pod, c, "CreateContainerError", "no command specified");
            return;
        }
        // configMap and secret volumes follow their objects from one start to the next.
        std::string ignored;
        setupVolumes(pod, false, &ignored);
        std::vector<MountSpec> mounts;
        const Json &volumeMounts = sub(c.spec, "volumeMounts");
        if (volumeMounts.is_array()) {
            for (const auto &m : volumeMounts) {
                const std::string name = str(m, "name");
                const auto it = pod.volumes.find(name);
                if (it == pod.volumes.end()) {
                    configError(pod, c, "CreateContainerConfigError", "volume \"" + name + "\" not found");
                    return;
                }
                std::string host = it->second.hostPath;
                std::string subPath = str(m, "subPath");
                if (subPath.empty() && !str(m, "subPathExpr").empty())
                    subPath = expandVars(str(m, "subPathExpr"), vars);
                if (!subPath.empty()) {
                    if (!safeRelative(subPath)) {
                        configError(pod, c, "CreateContainerConfigError", "invalid subPath \"" + subPath + "\"");
                        return;
                    }
                    host += "/" + subPath;
                    std::error_code ec;
                    if (!fs::exists(host, ec))
                        fs::create_directories(host, ec);
                }
                const std::string mountPath = str(m, "mountPath");
                if (mountPath.empty() || mountPath[0] != '/')
                    continue;
                mounts.push_back({mountPath, host, flag(m, "readOnly") || it->second.readOnly});
            }
        }

        auto run = std::make_shared<Run>();
        run->index = c.nextRun;
        run->id = randomHex(64);
        const std::string containerDir = pod.dir + "/" + c.name;
        const std::string root = containerDir + "/root";
        if (!prepareRoot(root, image->rootTemplate, &error)) {
            configError(pod, c, "CreateContainerError", error);
            return;
        }
        SandboxSpec spec;
        spec.bubblewrap = bubblewrap;
        spec.bwrapPath = bwrapPath;
        spec.root = root;
        spec.workingDir = str(c.spec, "workingDir", image->workingDir.empty() ? std::string("/") : image->workingDir);
        spec.hostname = pod.hostname;
        spec.mounts = mounts;
        for (const auto &[k, v] : *env)
            spec.env.push_back(k + "=" + v);
        std::vector<std::string> warnings;
        run->sandbox = makeSandbox(spec, &warnings);
        for (const auto &w : warnings)
            event(pod, "Warning", "FailedMount", w, c.fieldPath());
        run->log = LogFile::create(containerDir + "/" + std::to_string(run->index) + ".log", &error);
        if (!run->log) {
            configError(pod, c, "CreateContainerError", error);
            return;
        }
        ++c.nextRun;
        if (c.run && c.run->finished)
            c.lastTerminated = terminatedJson(*c.run);
        else if (c.storedStatus.is_object() && c.lastTerminated.is_null())
            c.lastTerminated = previousLifeTermination(c.storedStatus);
        c.restartCount = run->index;
        c.run = run;
        c.waitingReason.clear();
        c.waitingMessage.clear();
        event(pod, "Normal", "Created", "Created container " + c.name, c.fieldPath());
        run->startedAt = SysClock::now();
        run->proc = ProcessRunner::start(io, run->sandbox, command, {}, &error);
        if (!run->proc) {
            // As runc's StartError: the container exists, its process never ran.
            run->log->append(2, error + "\n");
            event(pod, "Warning", "Failed", "Error: " + error, c.fieldPath());
            c.state = Container::State::Running; // and finished at once, like any other exit
            run->reason = "StartError";
            run->message = error;
            runFinished(pod, c, run, 128);
            return;
        }
        c.state = Container::State::Running;
        c.generation++;
        c.started = !sub(c.spec, "startupProbe").is_object();
        c.readinessOk = false;
        event(pod, "Normal", "Started", "Started container " + c.name, c.fieldPath());
        auto log = run->log;
        run->proc->onOutput = [log](int stream, std::string_view data) { log->append(stream, data); };
        run->proc->onFinished = [this, weak = weakOf(pod), cp = &c, weakRun = std::weak_ptr<Run>(run)](int exitCode) {
            auto p = weak.lock();
            auto r = weakRun.lock();
            if (!p || !r || !p->alive())
                return;
            runFinished(*p, *cp, r, exitCode);
        };
        startProbes(pod, c);
        markDirty(pod);
    }

    static Json previousLifeTermination(const Json &stored)
    {
        const Json &state = sub(stored, "state");
        if (const Json &t = sub(state, "terminated"); t.is_object())
            return t;
        if (const Json &r = sub(state, "running"); r.is_object()) {
            // The server stopped while the container ran: like a node reboot.
            return Json {{"exitCode", 255},
                         {"reason", "Unknown"},
                         {"startedAt", str(r, "startedAt")},
                         {"finishedAt", rfc3339(SysClock::now())},
                         {"containerID", str(stored, "containerID")}};
        }
        if (const Json &t = sub(sub(stored, "lastState"), "terminated"); t.is_object())
            return t;
        return nullptr;
    }

    void runFinished(Pod &pod, Container &c, const std::shared_ptr<Run> &run, int exitCode)
    {
        if (run->finished)
            return;
        run->finished = true;
        run->finishedAt = SysClock::now();
        run->exitCode = exitCode;
        if (run->reason.empty())
            run->reason = exitCode == 0 ? "Completed" : "Error";
        run->log->finish();
        if (run->killTimer)
            run->killTimer->cancel();
        for (const auto &weak : run->execs) {
            if (auto e = weak.lock())
                e->kill();
        }
        if (c.run != run)
            return;
        stopProbes(c);
        c.state = Container::State::Terminated;
        c.started = false;
        c.readinessOk = false;
        markDirty(pod);
        if (pod.stopping) {
            checkStopped(pod);
            return;
        }
        if (pod.terminal)
            return;
        std::string policy = pod.restartPolicy;
        if (c.sidecar)
            policy = "Always";
        else if (c.init)
            policy = pod.restartPolicy == "Never" ? "Never" : "OnFailure";
        const bool restart = policy == "Always" || (policy == "OnFailure" && exitCode != 0);
        if (!restart) {
            sync(pod);
            checkTerminal(pod);
            return;
        }
        // The kubelet's back-off: the first restart is immediate, then 10s, 20s, ... 5m; it
        // resets once the container ran well for twice the maximum.
        if (c.hasBackoff && run->finishedAt - c.backoffUpdated <= 2 * backoffMax) {
            c.lastTerminated = terminatedJson(*run);
            setWaiting(c, "CrashLoopBackOff",
                       "back-off " + goDuration(c.backoff) + " restarting failed container=" + c.name
                           + " pod=" + pod.podRef());
            event(pod, "Warning", "BackOff",
                  "Back-off restarting failed container " + c.name + " in pod " + pod.podRef(), c.fieldPath());
            const auto finishedAt = run->finishedAt;
            armTimer(pod, c, c.backoff, [this, finishedAt](Pod &p, Container &cc) {
                cc.backoff = std::min(cc.backoff * 2, backoffMax);
                cc.backoffUpdated = finishedAt;
                sync(p);
            });
            markDirty(pod);
            return;
        }
        c.hasBackoff = true;
        c.backoff = backoffBase;
        c.backoffUpdated = run->finishedAt;
        c.lastTerminated = terminatedJson(*run);
        setWaiting(c, "ContainerCreating", {});
        sync(pod);
    }

    void killRun(Pod &pod, Container &c, long graceSeconds, bool announce = true)
    {
        auto run = c.run;
        if (!run || run->finished || !run->proc)
            return;
        if (announce)
            event(pod, "Normal", "Killing", "Stopping container " + c.name, c.fieldPath());
        run->proc->terminate();
        if (graceSeconds <= 0) {
            run->proc->kill();
            return;
        }
        run->killTimer = std::make_unique<boost::asio::steady_timer>(io);
        run->killTimer->expires_after(std::chrono::seconds(graceSeconds));
        run->killTimer->async_wait([weakRun = std::weak_ptr<Run>(run)](const boost::system::error_code &ec) {
            auto r = weakRun.lock();
            if (!ec && r && !r->finished && r->proc)
                r->proc->kill();
        });
    }

    // --- probes ---

    void startProbes(Pod &pod, Container &c)
    {
        stopProbes(c);
        const std::pair<const char *, ProbeKind> kinds[] = {{"startupProbe", ProbeKind::Startup},
                                                            {"livenessProbe", ProbeKind::Liveness},
                                                            {"readinessProbe", ProbeKind::Readiness}};
        for (const auto &[key, kind] : kinds) {
            const Json &spec = sub(c.spec, key);
            if (!spec.is_object())
                continue;
            auto probe = std::make_shared<ProbeState>(io, kind, spec, c.generation);
            c.probes.push_back(probe);
            scheduleProbe(pod, c, probe, std::chrono::seconds(std::max(0L, num(spec, "initialDelaySeconds", 0))));
        }
    }

    void stopProbes(Container &c)
    {
        for (auto &p : c.probes)
            p->timer.cancel();
        c.probes.clear();
    }

    void scheduleProbe(Pod &pod, Container &c, const std::shared_ptr<ProbeState> &probe,
                       std::chrono::milliseconds delay)
    {
        probe->timer.expires_after(delay);
        probe->timer.async_wait([this, weak = weakOf(pod), cp = &c, probe](const boost::system::error_code &ec) {
            auto p = weak.lock();
            if (ec || !p || !p->alive() || p->stopping || cp->generation != probe->generation
                || cp->state != Container::State::Running)
                return;
            runProbe(*p, *cp, probe);
        });
    }

    void runProbe(Pod &pod, Container &c, const std::shared_ptr<ProbeState> &probe)
    {
        const auto period = std::chrono::seconds(std::max(1L, num(probe->spec, "periodSeconds", 10)));
        if (probe->kind == ProbeKind::Startup && c.started)
            return;
        if (probe->kind != ProbeKind::Startup && !c.started) {
            scheduleProbe(pod, c, probe, period); // liveness and readiness wait for the startup probe
            return;
        }
        const auto timeout = std::chrono::seconds(std::max(1L, num(probe->spec, "timeoutSeconds", 1)));
        auto done = [this, weak = weakOf(pod), cp = &c, probe, period](bool success, const std::string &message) {
            auto p = weak.lock();
            if (!p || !p->alive() || p->stopping || cp->generation != probe->generation
                || cp->state != Container::State::Running)
                return;
            probeResult(*p, *cp, probe, success, message);
            if (cp->generation == probe->generation && cp->state == Container::State::Running
                && std::find(cp->probes.begin(), cp->probes.end(), probe) != cp->probes.end())
                scheduleProbe(*p, *cp, probe, period);
        };
        const Json &spec = probe->spec;
        auto portOf = [&](const Json &handler) {
            const Json &port = sub(handler, "port");
            if (port.is_number_integer())
                return port.get<int>();
            const std::string name = jsonText(port);
            for (const auto &cp : sub(c.spec, "ports").is_array() ? sub(c.spec, "ports") : Json::array()) {
                if (str(cp, "name") == name)
                    return static_cast<int>(num(cp, "containerPort", 0));
            }
            return std::atoi(name.c_str());
        };
        if (const Json &http = sub(spec, "httpGet"); http.is_object()) {
            std::vector<std::pair<std::string, std::string>> headers;
            for (const auto &h : sub(http, "httpHeaders").is_array() ? sub(http, "httpHeaders") : Json::array())
                headers.emplace_back(str(h, "name"), str(h, "value"));
            if (str(http, "scheme", "HTTP") != "HTTP") {
                done(false, "HTTPS probes are not supported by the sandbox");
                return;
            }
            probeHttp(io, str(http, "host", pod.ip), portOf(http), str(http, "path", "/"), headers, timeout, done);
        } else if (const Json &tcp = sub(spec, "tcpSocket"); tcp.is_object()) {
            probeTcp(io, str(tcp, "host", pod.ip), portOf(tcp), timeout, done);
        } else if (const Json &exec = sub(spec, "exec"); exec.is_object()) {
            std::vector<std::string> command;
            for (const auto &s : sub(exec, "command").is_array() ? sub(exec, "command") : Json::array())
                command.push_back(jsonText(s));
            std::string error;
            auto runner = ProcessRunner::start(io, c.run->sandbox, command, {}, &error);
            if (!runner) {
                done(false, error);
                return;
            }
            track(c.run->execs, runner);
            auto output = std::make_shared<std::string>();
            auto timer = std::make_shared<boost::asio::steady_timer>(io, timeout);
            auto timedOut = std::make_shared<bool>(false);
            timer->async_wait(
                [weakRunner = std::weak_ptr<ProcessRunner>(runner), timedOut](const boost::system::error_code &ec) {
                    auto r = weakRunner.lock();
                    if (!ec && r && !r->finished()) {
                        *timedOut = true;
                        r->kill();
                    }
                });
            runner->onOutput = [output](int, std::string_view data) {
                if (output->size() < 10 * 1024)
                    output->append(data.substr(0, 10 * 1024 - output->size()));
            };
            runner->onFinished = [output, timer, timedOut, done, command, timeout](int exitCode) {
                timer->cancel();
                if (*timedOut)
                    done(false, "command " + goList(command) + " timed out after " + goDuration(timeout));
                else
                    done(exitCode == 0,
                         exitCode == 0 ? *output
                                       : (output->empty() ? "command " + goList(command) + " exited with "
                                                  + std::to_string(exitCode)
                                                          : *output));
            };
        } else {
            done(false, "probe has no supported handler (grpc probes are not supported by the sandbox)");
        }
    }

    void probeResult(Pod &pod, Container &c, const std::shared_ptr<ProbeState> &probe, bool success,
                     std::string message)
    {
        while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
            message.pop_back();
        const long successThreshold = std::max(1L, num(probe->spec, "successThreshold", 1));
        const long failureThreshold = std::max(1L, num(probe->spec, "failureThreshold", 3));
        if (success) {
            probe->successes++;
            probe->failures = 0;
        } else {
            probe->failures++;
            probe->successes = 0;
        }
        const char *names[] = {"Startup", "Liveness", "Readiness"};
        const char *name = names[static_cast<int>(probe->kind)];
        if (!success)
            event(pod, "Warning", "Unhealthy", std::string(name) + " probe failed: " + message, c.fieldPath());
        switch (probe->kind) {
        case ProbeKind::Startup:
            if (success) {
                c.started = true;
                markDirty(pod);
                sync(pod); // a sidecar that started lets the next init container run
            } else if (probe->failures >= failureThreshold) {
                failedProbeKill(pod, c, probe, "startup");
            }
            break;
        case ProbeKind::Liveness:
            if (!success && probe->failures >= failureThreshold)
                failedProbeKill(pod, c, probe, "liveness");
            break;
        case ProbeKind::Readiness:
            if (success && probe->successes >= successThreshold && !c.readinessOk) {
                c.readinessOk = true;
                markDirty(pod);
            } else if (!success && probe->failures >= failureThreshold && c.readinessOk) {
                c.readinessOk = false;
                markDirty(pod);
            }
            break;
        }
    }

    void failedProbeKill(Pod &pod, Container &c, const std::shared_ptr<ProbeState> &probe, const char *what)
    {
        event(pod, "Normal", "Killing", "Container " + c.name + " failed " + what + " probe, will be restarted",
              c.fieldPath());
        stopProbes(c);
        killRun(pod, c, num(probe->spec, "terminationGracePeriodSeconds", pod.graceSeconds), false);
    }

    // --- stopping ---

    void checkStopped(Pod &pod)
    {
        bool running = false;
        pod.forEach([&](Container &c) {
            if (c.run && !c.run->finished && c.run->proc)
                running = true;
        });
        if (running)
            return;
        auto self = pods.count(pod.uid) ? pods[pod.uid] : nullptr;
        if (!self || self.get() != &pod)
            return;
        std::error_code ec;
        fs::remove_all(pod.dir, ec);
        releaseIp(pod.ip);
        pod.active = false;
        pods.erase(pod.uid);
        auto done = std::move(pod.stopDone);
        for (auto &d : done) {
            if (d)
                boost::asio::post(io, std::move(d));
        }
    }

    // --- startPod ---

    void startPod(const Json &object)
    {
        const Json &meta = sub(object, "metadata");
        const std::string uid = str(meta, "uid");
        if (uid.empty() || isShutDown)
            return;
        if (auto it = pods.find(uid); it != pods.end()) {
            Pod &pod = *it->second;
            if (pod.stopping)
                return;
            // Metadata may have changed (labels for the downward API); a pending retry runs now.
            pod.object = object;
            pod.forEach([&](Container &c) {
                if (c.timerPending
                    && (c.waitingReason == "CreateContainerConfigError" || c.waitingReason == "CreateContainerError")) {
                    c.timer->cancel();
                    c.timerPending = false;
                }
            });
            if (pod.volumeTimerPending && pod.volumeTimer) {
                pod.volumeTimer->cancel();
                pod.volumeTimerPending = false;
            }
            sync(pod);
            return;
        }
        auto pod = std::make_shared<Pod>();
        pods[uid] = pod;
        pod->guard = guard;
        pod->uid = uid;
        pod->name = str(meta, "name");
        pod->ns = str(meta, "namespace", "default");
        pod->object = object;
        const Json &spec = sub(object, "spec");
        const Json &stored = sub(object, "status");
        pod->hostname = str(spec, "hostname", pod->name);
        pod->restartPolicy = str(spec, "restartPolicy", "Always");
        pod->graceSeconds = num(spec, "terminationGracePeriodSeconds", 30);
        pod->qosClass = qosClassOf(spec);
        pod->dir = options.dataDir + "/pods/" + uid;
        std::error_code ec;
        fs::create_directories(pod->dir, ec);
        std::string preferredIp;
        {
            std::ifstream in(pod->dir + "/podip.txt");
            std::getline(in, preferredIp);
        }
        if (preferredIp.empty())
            preferredIp = str(stored, "podIP");
        pod->ip = allocateIp(preferredIp);
        writeFileAtomically(pod->dir + "/podip.txt", pod->ip + "\n", 0644);
        writeFileAtomically(pod->dir + "/pod.json", object.dump(2) + "\n", 0644);
        pod->startTime = parseRfc3339(str(stored, "startTime")).value_or(SysClock::now());

        auto addContainers = [&](const char *list, bool init, const char *statusList) {
            for (const auto &cs : sub(spec, list).is_array() ? sub(spec, list) : Json::array()) {
                auto c = std::make_unique<Container>();
                c->spec = cs;
                c->name = str(cs, "name");
                c->image = str(cs, "image");
                c->init = init;
                c->sidecar = init && str(cs, "restartPolicy") == "Always";
                const auto indices = logIndices(pod->dir + "/" + c->name);
                c->nextRun = indices.empty() ? 0 : indices.back() + 1;
                c->restartCount = c->nextRun;
                for (const auto &s : sub(stored, statusList).is_array() ? sub(stored, statusList) : Json::array()) {
                    if (str(s, "name") == c->name)
                        c->storedStatus = s;
                }
                (init ? pod->inits : pod->apps).push_back(std::move(c));
            }
        };
        addContainers("initContainers", true, "initContainerStatuses");
        addContainers("containers", false, "containerStatuses");

        // A pod that had finished before the server restarted stays finished.
        const std::string storedPhase = str(stored, "phase");
        if (storedPhase == "Succeeded" || storedPhase == "Failed") {
            pod->adoptedStatus = stored;
            pod->terminal = true;
            pod->lastStatus = stored;
            return;
        }
        event(*pod, "Normal", "Scheduled",
              "Successfully assigned " + pod->ns + "/" + pod->name + " to the sandbox (" + isolation + ")");
        sync(*pod);
    }

    void stopPod(const std::string &uid, int graceSeconds, std::function<void()> done)
    {
        auto it = pods.find(uid);
        if (it == pods.end()) {
            // Not running here (e.g. stored by a previous life of the server): only its files.
            std::error_code ec;
            if (!uid.empty() && uid.find('/') == std::string::npos && uid != "." && uid != "..")
                fs::remove_all(options.dataDir + "/pods/" + uid, ec);
            if (done)
                boost::asio::post(io, std::move(done));
            return;
        }
        auto pod = it->second;
        if (graceSeconds < 0)
            graceSeconds = static_cast<int>(pod->graceSeconds);
        pod->stopDone.push_back(std::move(done));
        if (pod->stopping && graceSeconds > 0)
            return;
        pod->stopping = true;
        if (pod->volumeTimer)
            pod->volumeTimer->cancel();
        pod->forEach([&](Container &c) {
            if (c.timer)
                c.timer->cancel();
            c.timerPending = false;
            stopProbes(c);
            if (c.run && !c.run->finished) {
                for (const auto &weak : c.run->execs) {
                    if (auto e = weak.lock())
                        e->kill();
                }
                killRun(*pod, c, graceSeconds);
            }
        });
        markDirty(*pod);
        checkStopped(*pod);
    }

    void shutdown()
    {
        isShutDown = true;
        for (auto &[uid, pod] : pods) {
            pod->shutDown = true;
            pod->active = false;
            if (pod->volumeTimer)
                pod->volumeTimer->cancel();
            pod->forEach([&](Container &c) {
                if (c.timer)
                    c.timer->cancel();
                stopProbes(c);
                if (!c.run)
                    return;
                for (const auto &weak : c.run->execs) {
                    if (auto e = weak.lock())
                        e->killSync();
                }
                if (c.run->proc)
                    c.run->proc->killSync();
                if (c.run->killTimer)
                    c.run->killTimer->cancel();
                if (c.run->log)
                    c.run->log->finish();
            });
        }
        pods.clear();
        for (auto &weak : execs) {
            if (auto e = weak.lock())
                e->killSync();
        }
        execs.clear();
    }

    std::vector<std::weak_ptr<ProcessRunner>> execs; // every exec, for shutdown

    // Remembers a process (exec probes run every period: forget the finished ones).
    static void track(std::vector<std::weak_ptr<ProcessRunner>> &list, const std::shared_ptr<ProcessRunner> &runner)
    {
        std::erase_if(list, [](const std::weak_ptr<ProcessRunner> &w) {
            auto r = w.lock();
            return !r || r->finished();
        });
        list.push_back(runner);
    }

    Container *containerFor(Pod &pod, const std::string &name, std::string *error)
    {
        if (name.empty()) {
            if (pod.apps.size() == 1)
                return pod.apps.front().get();
            std::vector<std::string> names, initNames;
            for (const auto &c : pod.apps)
                names.push_back(c->name);
            for (const auto &c : pod.inits)
                initNames.push_back(c->name);
            *error = "a container name must be specified for pod " + pod.name + ", choose one of: " + goList(names);
            if (!initNames.empty())
                *error += " or one of the init containers: " + goList(initNames);
            return nullptr;
        }
        Container *c = pod.find(name);
        if (!c)
            *error = "container " + name + " is not valid for pod " + pod.name;
        return c;
    }
};

// --- Runtime ---

Runtime::Runtime(boost::asio::io_context &io, RuntimeOptions options)
    : d(std::make_unique<Private>(this, io, std::move(options)))
{ }

Runtime::~Runtime()
{
    shutdown();
    d->guard.reset();
}

std::string Runtime::isolationDescription() const
{
    return d->isolation;
}

void Runtime::startPod(const Json &pod)
{
    d->startPod(pod);
}

void Runtime::stopPod(const std::string &uid, int gracePeriodSeconds, std::function<void()> done)
{
    d->stopPod(uid, gracePeriodSeconds, std::move(done));
}

void Runtime::shutdown()
{
    d->shutdown();
}

std::shared_ptr<ExecProcess> Runtime::exec(const std::string &uid, const ExecOptions &options, std::string *error)
{
    std::string message;
    auto it = d->pods.find(uid);
    if (it == d->pods.end()) {
        if (error)
            *error = "pod with UID " + uid + " is not running in the sandbox";
        return nullptr;
    }
    Pod &pod = *it->second;
    Container *c = d->containerFor(pod, options.container, &message);
    if (!c) {
        if (error)
            *error = message;
        return nullptr;
    }
    if (c->state != Container::State::Running || !c->run || c->run->finished || !c->run->proc) {
        if (error)
            *error = "container \"" + c->name + "\" in pod \"" + pod.name + "\" is not running";
        return nullptr;
    }
    auto handle = std::make_shared<ExecHandle>(d->io);
    Sandbox sandbox = c->run->sandbox;
    if (options.tty) {
        const bool hasTerm = std::any_of(sandbox.env.begin(), sandbox.env.end(),
                                         [](const std::string &e) { return e.rfind("TERM=", 0) == 0; });
        if (!hasTerm)
            sandbox.env.push_back("TERM=xterm");
    }
    SpawnOptions spawn;
    spawn.stdinPipe = options.stdinOpen;
    spawn.tty = options.tty;
    auto runner = ProcessRunner::start(d->io, sandbox, options.command, spawn, &message);
    if (!runner) {
        // The runtime's wording; 126/127 as a shell reports a command it cannot run or find.
        handle->failLater(
            message.find("not found") != std::string::npos || message.find("no such file") != std::string::npos ? 127
                                                                                                                : 126,
            message);
        return handle;
    }
    Private::track(c->run->execs, runner);
    Private::track(d->execs, runner);
    handle->attach(std::move(runner));
    return handle;
}

std::shared_ptr<LogStream> Runtime::logs(const std::string &uid, const LogOptions &options, std::string *error)
{
    std::string message;
    auto it = d->pods.find(uid);
    if (it == d->pods.end()) {
        if (error)
            *error = "pod with UID " + uid + " is not known to the sandbox";
        return nullptr;
    }
    Pod &pod = *it->second;
    Container *c = d->containerFor(pod, options.container, &message);
    if (!c) {
        if (error)
            *error = message;
        return nullptr;
    }
    const std::string dir = pod.dir + "/" + c->name;
    const auto indices = logIndices(dir);
    const int current = c->run ? c->run->index : (indices.empty() ? -1 : indices.back());
    if (options.previous) {
        int previous = -1;
        for (int i : indices) {
            if (i < current)
                previous = i;
        }
        if (previous < 0) {
            if (error)
                *error = "previous terminated container \"" + c->name + "\" in pod \"" + pod.name + "\" not found";
            return nullptr;
        }
        return std::make_shared<LogReader>(d->io, dir + "/" + std::to_string(previous) + ".log", nullptr, options);
    }
    if (current < 0) {
        if (error) {
            std::string reason = c->waitingReason;
            if (reason.empty())
                reason = pod.inits.empty() ? "ContainerCreating" : "PodInitializing";
            *error = "container \"" + c->name + "\" in pod \"" + pod.name + "\" is waiting to start: " + reason;
        }
        return nullptr;
    }
    std::shared_ptr<LogFile> live;
    if (c->run && !c->run->finished)
        live = c->run->log;
    return std::make_shared<LogReader>(d->io, dir + "/" + std::to_string(current) + ".log", live, options);
}

std::string Runtime::podIP(const std::string &uid) const
{
    auto it = d->pods.find(uid);
    return it == d->pods.end() ? std::string() : it->second->ip;
}

} // namespace iterdeck::sandbox
