#pragma once
// Internals of the sandbox's kubelet (runtime.h), shared by the runtime_*.cpp files:
// small helpers (time, base64), the sandbox layout of a container (bubblewrap arguments or the
// plain fallback), one spawned process with its pipes (ProcessRunner), the log files (LogFile,
// LogReader) and the probes. Nothing here is part of the public API.
#include "sandbox/runtime.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace iterdeck::sandbox::detail {

using SysClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;

// --- small helpers (runtime_util.cpp) ---

std::string rfc3339(SysClock::time_point t); // 2025-01-01T12:00:00Z
std::string rfc3339Nano(SysClock::time_point t); // 2025-01-01T12:00:00.123456789Z (always 9 digits)
std::optional<SysClock::time_point> parseRfc3339(std::string_view text);
std::optional<std::string> base64Decode(std::string_view text);
std::string sha256Hex(std::string_view data);
std::string randomHex(std::size_t chars);
// Go's time.Duration formatting, as kubelet messages show it: "10s", "5m0s", "200ms".
std::string goDuration(std::chrono::milliseconds d);
// "[a b c]", as Go prints a []string.
std::string goList(const std::vector<std::string> &items);
// Kubernetes $(VAR) expansion in command, args, env values and subPathExpr.
std::string expandVars(const std::string &text, const std::map<std::string, std::string> &vars);
// Lexically normalised absolute path ("/a/./b/../c" -> "/a/c"); relative paths are taken from "/".
std::string cleanPath(const std::string &path);
bool pathIsUnder(const std::string &path, const std::string &dir); // dir itself counts

// --- the sandbox of one container (runtime_process.cpp) ---

// How the processes of one container run: its main process and every exec or exec probe use
// the same layout, so they all see the same root, mounts, environment and working directory.
struct Sandbox
{
    bool bubblewrap = false;
    std::string bwrapPath; // host path of bwrap
    std::string root; // host directory that is the container's "/"
    std::string workingDir = "/"; // inside the container
    std::vector<std::string> bwrapArgs; // everything between "bwrap" and "--" (includes --chdir)
    std::vector<std::string> env; // "NAME=value"
    // Container path -> host path of every bind (host directories, volumes), for resolving a
    // command to the file it names before starting it.
    std::vector<std::pair<std::string, std::string>> binds;

    // Where a path of the container lives on the host (following the container's symlinks).
    std::string hostPath(const std::string &containerPath) const;
    std::string hostWorkingDir() const;
    // The executable `command` names, as execvp inside the container would find it, or an error
    // worded like the container runtime's: exec: "x": executable file not found in $PATH.
    std::optional<std::string> resolveCommand(const std::string &command, std::string *error) const;
};

struct MountSpec
{
    std::string containerPath;
    std::string hostPath;
    bool readOnly = false;
};

struct SandboxSpec
{
    bool bubblewrap = false;
    std::string bwrapPath;
    std::string root; // prepared already (template copied)
    std::string workingDir;
    std::string hostname;
    std::vector<MountSpec> mounts;
    std::vector<std::string> env;
};

// Creates the standard directories and links in `spec.root` (tmp, root, bin -> usr/bin, ...) and
// computes the bubblewrap arguments; in plain mode it links each mount path inside the root to
// the volume (processes can then reach volumes by paths relative to the working directory).
Sandbox makeSandbox(const SandboxSpec &spec, std::vector<std::string> *warnings);

// Copies an image template into a fresh root (the previous root, if any, is removed first).
bool prepareRoot(const std::string &root, const std::string &templateDir, std::string *error);

// --- one process (runtime_process.cpp) ---

struct SpawnOptions
{
    bool stdinPipe = false; // else stdin is /dev/null
    bool tty = false; // a pseudo terminal for stdin/stdout/stderr
    int width = 0, height = 0;
};

// A process started in a sandbox: reads its output, feeds its stdin, reaps it through a pidfd.
// onFinished fires once, after the process exited and all its output was read (or a short
// grace after the exit when a leftover process keeps the pipes open).
class ProcessRunner : public std::enable_shared_from_this<ProcessRunner>
{
public:
    static std::shared_ptr<ProcessRunner> start(boost::asio::io_context &io, const Sandbox &sandbox,
                                                const std::vector<std::string> &command, const SpawnOptions &options,
                                                std::string *error);
    ~ProcessRunner();
    ProcessRunner(const ProcessRunner &) = delete;
    ProcessRunner &operator=(const ProcessRunner &) = delete;

    std::function<void(int stream, std::string_view data)> onOutput;
    std::function<void(int exitCode)> onFinished;

    void writeStdin(std::string data, std::function<void()> consumed);
    void closeStdin();
    void resize(int width, int height);
    void setPaused(bool paused);
    void terminate(); // SIGTERM to the processes of the tree (not to bubblewrap itself)
    void kill(); // SIGKILL to everything
    void killSync(); // SIGKILL, reap at once, never call back (shutdown)
    bool finished() const { return m_finished; }
    pid_t pid() const { return m_pid; }

    explicit ProcessRunner(boost::asio::io_context &io);

private:
    void readMore(int index);
    void onExited(int exitCode);
    void checkFinished();
    void writeNext();
    void closeAll();

    boost::asio::io_context &m_io;
    bool m_bubblewrap = false;
    bool m_tty = false;
    pid_t m_pid = -1;
    boost::asio::posix::stream_descriptor m_pidfd;
    std::array<boost::asio::posix::stream_descriptor, 2> m_out;
    std::array<bool, 2> m_eof {true, true};
    std::array<bool, 2> m_reading {false, false};
    std::array<std::vector<char>, 2> m_buffers;
    boost::asio::posix::stream_descriptor m_in;
    std::deque<std::pair<std::string, std::function<void()>>> m_stdinQueue;
    bool m_writing = false;
    bool m_closeStdinRequested = false;
    boost::asio::steady_timer m_drainTimer;
    boost::asio::steady_timer m_termTimer;
    bool m_paused = false;
    bool m_exited = false;
    bool m_reaped = false;
    bool m_finished = false;
    int m_exitCode = 0;
};

// --- logs (runtime_logs.cpp) ---

class LogReader;

// The log file of one container run, CRI format: "<RFC3339Nano> stdout|stderr F|P <text>\n".
class LogFile : public std::enable_shared_from_this<LogFile>
{
public:
    static std::shared_ptr<LogFile> create(const std::string &path, std::string *error);
    ~LogFile();
    void append(int stream, std::string_view data);
    void finish(); // writes what is left of partial lines and ends every follower
    bool finished() const { return m_finished; }
    const std::string &path() const { return m_path; }
    void addFollower(const std::shared_ptr<LogReader> &reader);

private:
    void writeRecord(int stream, char tag, std::string_view text, const std::string &time);
    void notify();

    std::string m_path;
    int m_fd = -1;
    std::array<std::string, 2> m_partial;
    bool m_finished = false;
    std::vector<std::weak_ptr<LogReader>> m_followers;
};

// A LogStream over one log file (optionally following its LogFile until the run ends).
class LogReader : public LogStream, public std::enable_shared_from_this<LogReader>
{
public:
    LogReader(boost::asio::io_context &io, std::string path, std::shared_ptr<LogFile> live, const LogOptions &options);
    ~LogReader() override;
    void start() override;
    void cancel() override;
    void setPaused(bool paused) override;
    void wake(); // called by the LogFile after writing or finishing

private:
    void step();
    void schedule();
    void finish();
    void emit(const std::string &chunk);

    boost::asio::io_context &m_io;
    std::string m_path;
    std::shared_ptr<LogFile> m_live; // null when the file no longer grows
    LogOptions m_options;
    int m_fd = -1;
    long m_remaining = -1; // limitBytes left, -1 = unlimited
    std::string m_pending; // bytes of an incomplete record
    bool m_atLineStart = true;
    bool m_started = false, m_paused = false, m_scheduled = false, m_ended = false, m_following = false;
};

// Offset where the last `lines` lines of a CRI log file begin.
long long tailOffset(int fd, long lines);

// --- probes (runtime_probe.cpp) ---

using ProbeCallback = std::function<void(bool success, const std::string &message)>;
void probeHttp(boost::asio::io_context &io, const std::string &host, int port, const std::string &path,
               const std::vector<std::pair<std::string, std::string>> &headers, std::chrono::milliseconds timeout,
               ProbeCallback done);
void probeTcp(boost::asio::io_context &io, const std::string &host, int port, std::chrono::milliseconds timeout,
              ProbeCallback done);

} // namespace iterdeck::sandbox::detail
