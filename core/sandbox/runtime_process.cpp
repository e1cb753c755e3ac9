// The sandbox of a container (root directory, bubblewrap arguments) and one process running in
// it: fork/exec, output pipes or a pseudo terminal, stdin, reaping through a pidfd.
#include "sandbox/runtime_p.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <pty.h>
#include <set>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace iterdeck::sandbox::detail {

namespace {

constexpr const char *kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool isSymlink(const std::string &path)
{
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool lexists(const std::string &path)
{
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

std::string readLink(const std::string &path)
{
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

void makeDir(const std::string &path, mode_t mode)
{
    std::error_code ec;
    fs::create_directories(path, ec);
    ::chmod(path.c_str(), mode);
}

void writeTextFile(const std::string &path, const std::string &text)
{
    std::error_code ec;
    if (isSymlink(path))
        fs::remove(path, ec);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// Builds the bubblewrap arguments that show host directories read-only inside the container.
class BwrapLayout
{
public:
    BwrapLayout(const SandboxSpec &spec, Sandbox &sandbox)
        : m_spec(spec)
        , m_sandbox(sandbox)
    {
        for (const auto &m : spec.mounts)
            m_mountPaths.push_back(cleanPath(m.containerPath));
    }

    // Host directory `dir` at the same path, read-only: one bind, unless volumes are mounted
    // beneath it or `split` is asked. Then the whole directory is bound once at /run/host<dir>
    // and `dir` becomes a writable directory of the root holding a link per entry (bubblewrap
    // slows down a lot with one bind per entry), so that mount points can be created there and
    // files the image or the runtime put there (/etc/hosts) win over the host's.
    void expose(const std::string &dir, bool split)
    {
        if (std::find(m_mountPaths.begin(), m_mountPaths.end(), dir) != m_mountPaths.end())
            return; // a volume replaces it entirely
        if (!split && !mountBeneath(dir)) {
            bind(dir, dir);
            return;
        }
        bind(dir, "/run/host" + dir);
        linkEntries(dir);
    }

    void bind(const std::string &host, const std::string &inside, bool readOnly = true)
    {
        arg(readOnly ? "--ro-bind" : "--bind", host, inside);
        m_sandbox.binds.emplace_back(inside, host);
    }

    void arg(const std::string &a, const std::string &b = {}, const std::string &c = {})
    {
        m_sandbox.bwrapArgs.push_back(a);
        if (!b.empty())
            m_sandbox.bwrapArgs.push_back(b);
        if (!c.empty())
            m_sandbox.bwrapArgs.push_back(c);
    }

private:
    bool mountBeneath(const std::string &dir) const
    {
        return std::any_of(m_mountPaths.begin(), m_mountPaths.end(),
                           [&](const std::string &m) { return m != dir && pathIsUnder(m, dir); });
    }

    void linkEntries(const std::string &dir)
    {
        std::error_code ec;
        fs::create_directories(m_spec.root + dir, ec);
        for (const auto &entry : fs::directory_iterator(dir, ec)) {
            const std::string name = entry.path().filename().string();
            const std::string child = dir + "/" + name;
            const std::string inRoot = m_spec.root + child;
            if (std::find(m_mountPaths.begin(), m_mountPaths.end(), child) != m_mountPaths.end())
                continue; // bubblewrap creates the mount point
            if (isSymlink(child)) {
                hostLink(child);
                continue;
            }
            struct stat st;
            if (::stat(child.c_str(), &st) != 0)
                continue;
            if (S_ISDIR(st.st_mode) && mountBeneath(child) && (!lexists(inRoot) || fs::is_directory(inRoot, ec))) {
                linkEntries(child);
                continue;
            }
            if (!lexists(inRoot)) // the image's own file wins
                fs::create_symlink("/run/host" + child, inRoot, ec);
        }
    }

    // A host symlink: recreated in the root when it points into what the container sees of the
    // host; else the container gets its target (a copy of a file, as Docker does with
    // /etc/resolv.conf, or a bind of a directory).
    void hostLink(const std::string &path)
    {
        const std::string inRoot = m_spec.root + path;
        if (lexists(inRoot))
            return;
        const std::string target = readLink(path);
        const std::string resolved
            = cleanPath(!target.empty() && target[0] == '/' ? target : path.substr(0, path.rfind('/')) + "/" + target);
        std::error_code ec;
        if (pathIsUnder(resolved, "/usr") || pathIsUnder(resolved, "/etc") || pathIsUnder(resolved, "/proc")
            || pathIsUnder(resolved, "/dev")) {
            fs::create_symlink(target, inRoot, ec);
            return;
        }
        struct stat st;
        if (::stat(path.c_str(), &st) != 0)
            return;
        if (S_ISREG(st.st_mode))
            fs::copy_file(path, inRoot, ec);
        else if (S_ISDIR(st.st_mode))
            bind(path, path);
    }

    const SandboxSpec &m_spec;
    Sandbox &m_sandbox;
    std::vector<std::string> m_mountPaths;
};

} // namespace

bool prepareRoot(const std::string &root, const std::string &templateDir, std::string *error)
{
    std::error_code ec;
    fs::remove_all(root, ec);
    fs::create_directories(root, ec);
    if (ec) {
        *error = "cannot create the container root " + root + ": " + ec.message();
        return false;
    }
    if (!templateDir.empty()) {
        fs::copy(templateDir, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
        if (ec) {
            *error = "cannot copy the image template " + templateDir + ": " + ec.message();
            return false;
        }
    }
    return true;
}

Sandbox makeSandbox(const SandboxSpec &spec, std::vector<std::string> *warnings)
{
    Sandbox sb;
    sb.bubblewrap = spec.bubblewrap;
    sb.bwrapPath = spec.bwrapPath;
    sb.root = spec.root;
    sb.workingDir = cleanPath(spec.workingDir.empty() ? "/" : spec.workingDir);
    sb.env = spec.env;

    const std::string &root = spec.root;
    makeDir(root + "/tmp", 01777);
    makeDir(root + "/var/tmp", 01777);
    makeDir(root + "/root", 0700);
    makeDir(root + "/run", 0755);
    makeDir(root + "/etc", 0755);
    makeDir(root + sb.workingDir, 0755);
    // The host's top-level links (bin -> usr/bin on merged-/usr systems) become links of the root.
    std::vector<std::string> topDirs = {"/usr"};
    for (const char *name : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
        if (isSymlink(name)) {
            if (!lexists(root + name)) {
                std::error_code ec;
                fs::create_symlink(readLink(name), root + name, ec);
            }
        } else if (fs::is_directory(name)) {
            topDirs.push_back(name);
        }
    }
    // Kubernetes manages /etc/hosts and /etc/hostname.
    std::string ip;
    for (const auto &e : spec.env) {
        if (e.rfind("POD_IP=", 0) == 0)
            ip = e.substr(7);
    }
    writeTextFile(root + "/etc/hosts",
                  "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                  "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                  "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
                      + (ip.empty() ? std::string() : ip + "\t" + spec.hostname + "\n"));
    writeTextFile(root + "/etc/hostname", spec.hostname + "\n");

    if (!spec.bubblewrap) {
        // No mount namespace: a mount path becomes a link inside the root to the volume, which a
        // process reaches through paths relative to its working directory (the root's).
        for (const auto &m : spec.mounts) {
            const std::string at = root + cleanPath(m.containerPath);
            std::error_code ec;
            fs::create_directories(fs::path(at).parent_path(), ec);
            if (lexists(at) && !isSymlink(at)) {
                fs::remove(at, ec); // only succeeds for an empty directory or a file
                if (ec) {
                    warnings->push_back("cannot mount " + m.containerPath
                                        + " in plain mode: the image has files there");
                    continue;
                }
            }
            fs::remove(at, ec);
            fs::create_symlink(m.hostPath, at, ec);
            if (ec)
                warnings->push_back("cannot link " + m.containerPath + " to its volume: " + ec.message());
        }
        return sb;
    }

    makeDir(root + "/usr", 0755);
    makeDir(root + "/proc", 0555);
    makeDir(root + "/dev", 0755);
    BwrapLayout layout(spec, sb);
    layout.arg("--die-with-parent");
    layout.arg("--unshare-pid");
    layout.arg("--unshare-uts");
    layout.arg("--hostname", spec.hostname.empty() ? std::string("sandbox") : spec.hostname);
    layout.bind(root, "/", false);
    for (const auto &dir : topDirs)
        layout.expose(dir, false);
    // /etc is the root's own (writable, like a container's): the image's files, the generated
    // hosts file, mount points, and links to the host's entries for everything else.
    layout.expose("/etc", true);
    layout.arg("--proc", "/proc");
    layout.arg("--dev", "/dev");
    std::vector<MountSpec> mounts = spec.mounts;
    for (auto &m : mounts)
        m.containerPath = cleanPath(m.containerPath);
    std::stable_sort(mounts.begin(), mounts.end(), [](const MountSpec &a, const MountSpec &b) {
        return std::count(a.containerPath.begin(), a.containerPath.end(), '/')
            < std::count(b.containerPath.begin(), b.containerPath.end(), '/');
    });
    for (const auto &m : mounts)
        layout.bind(m.hostPath, m.containerPath, m.readOnly);
    layout.arg("--chdir", sb.workingDir);
    return sb;
}

std::string Sandbox::hostPath(const std::string &containerPath) const
{
    if (!bubblewrap) {
        const std::string p = cleanPath(containerPath);
        return lexists(root + p) ? root + p : p;
    }
    // Longest bind that contains the path, else the root directory.
    auto mapDirect = [this](const std::string &p) {
        const std::pair<std::string, std::string> *best = nullptr;
        for (const auto &b : binds) {
            if (b.first != "/" && pathIsUnder(p, b.first) && (!best || b.first.size() > best->first.size()))
                best = &b;
        }
        if (!best)
            return p == "/" ? root : root + p;
        return best->second + p.substr(best->first.size());
    };
    // Walk the path one component at a time, following symlinks as the container sees them.
    std::vector<std::string> pending;
    {
        const std::string p = cleanPath(containerPath);
        std::size_t i = 1;
        while (i < p.size()) {
            auto slash = p.find('/', i);
            if (slash == std::string::npos)
                slash = p.size();
            pending.push_back(p.substr(i, slash - i));
            i = slash + 1;
        }
        std::reverse(pending.begin(), pending.end());
    }
    std::string current = "/";
    int links = 0;
    while (!pending.empty()) {
        const std::string part = pending.back();
        pending.pop_back();
        const std::string candidate = cleanPath(current + "/" + part);
        const std::string host = mapDirect(candidate);
        if (isSymlink(host) && ++links < 40) {
            const std::string target = readLink(host);
            std::vector<std::string> parts;
            std::size_t i = 0;
            while (i <= target.size()) {
                auto slash = target.find('/', i);
                if (slash == std::string::npos)
                    slash = target.size();
                if (slash > i)
                    parts.push_back(target.substr(i, slash - i));
                i = slash + 1;
            }
            for (auto it = parts.rbegin(); it != parts.rend(); ++it)
                pending.push_back(*it);
            if (!target.empty() && target[0] == '/')
                current = "/";
            continue;
        }
        current = candidate;
    }
    return mapDirect(current);
}

std::string Sandbox::hostWorkingDir() const
{
    return bubblewrap ? std::string("/") : root + workingDir;
}

std::optional<std::string> Sandbox::resolveCommand(const std::string &command, std::string *error) const
{
    auto executable = [](const std::string &path) {
        struct stat st;
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
    };
    if (command.empty()) {
        *error = "no command specified";
        return std::nullopt;
    }
    if (command.find('/') != std::string::npos) {
        const std::string inside = cleanPath(command[0] == '/' ? command : workingDir + "/" + command);
        const std::string host = hostPath(inside);
        if (executable(host))
            return host;
        *error = "exec: \"" + command + "\": stat " + command + ": no such file or directory";
        return std::nullopt;
    }
    std::string path = kDefaultPath;
    for (const auto &e : env) {
        if (e.rfind("PATH=", 0) == 0)
            path = e.substr(5);
    }
    std::size_t i = 0;
    while (i <= path.size()) {
        auto colon = path.find(':', i);
        if (colon == std::string::npos)
            colon = path.size();
        std::string dir = path.substr(i, colon - i);
        i = colon + 1;
        if (dir.empty())
            dir = ".";
        if (dir[0] != '/')
            dir = workingDir + "/" + dir;
        const std::string host = hostPath(cleanPath(dir + "/" + command));
        if (executable(host))
            return host;
    }
    *error = "exec: \"" + command + "\": executable file not found in $PATH";
    return std::nullopt;
}

// --- ProcessRunner ---

ProcessRunner::ProcessRunner(boost::asio::io_context &io)
    : m_io(io)
    , m_pidfd(io)
    , m_out {boost::asio::posix::stream_descriptor(io), boost::asio::posix::stream_descriptor(io)}
    , m_in(io)
    , m_drainTimer(io)
    , m_termTimer(io)
{
    m_buffers[0].resize(64 * 1024);
    m_buffers[1].resize(64 * 1024);
}

ProcessRunner::~ProcessRunner()
{
    if (!m_reaped)
        killSync();
}

std::shared_ptr<ProcessRunner> ProcessRunner::start(boost::asio::io_context &io, const Sandbox &sandbox,
                                                    const std::vector<std::string> &command,
                                                    const SpawnOptions &options, std::string *error)
{
    if (command.empty()) {
        *error = "no command specified";
        return nullptr;
    }
    const auto resolved = sandbox.resolveCommand(command[0], error);
    if (!resolved)
        return nullptr;

    std::vector<std::string> argv;
    std::string exe;
    bool ttyInside = false; // the controlling terminal is set up inside the sandbox
    if (sandbox.bubblewrap) {
        argv.push_back(sandbox.bwrapPath);
        argv.insert(argv.end(), sandbox.bwrapArgs.begin(), sandbox.bwrapArgs.end());
        argv.push_back("--");
        // In its own PID namespace the command cannot see the session that owns the terminal
        // outside, so a shell's job control fails ("Cannot set tty process group") and spoils its
        // exit status. setsid(1) gives it a session of its own with the pty as its controlling
        // terminal, and waits to pass the exit status on.
        if (options.tty && ::access("/usr/bin/setsid", X_OK) == 0) {
            argv.insert(argv.end(), {"/usr/bin/setsid", "--ctty", "--wait"});
            ttyInside = true;
        }
        argv.insert(argv.end(), command.begin(), command.end());
        exe = sandbox.bwrapPath;
    } else {
        argv = command;
        exe = *resolved;
    }
    const std::string cwd = sandbox.hostWorkingDir();
    std::vector<char *> argvp, envp;
    for (auto &a : argv)
        argvp.push_back(a.data());
    argvp.push_back(nullptr);
    std::vector<std::string> env = sandbox.env;
    for (auto &e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    // The child's ends (in, out, err) and ours.
    int childFds[3] = {-1, -1, -1};
    int ourIn = -1, ourOut = -1, ourErr = -1;
    auto closeFd = [](int &fd) {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    };
    auto fail = [&](const std::string &what) {
        *error = what + ": " + std::strerror(errno);
        for (int &fd : childFds)
            closeFd(fd);
        closeFd(ourIn);
        closeFd(ourOut);
        closeFd(ourErr);
        return nullptr;
    };
    if (options.tty) {
        int master = -1, slave = -1;
        struct winsize ws
        {
        };
        ws.ws_col = static_cast<unsigned short>(options.width > 0 ? options.width : 80);
        ws.ws_row = static_cast<unsigned short>(options.height > 0 ? options.height : 24);
        if (::openpty(&master, &slave, nullptr, nullptr, &ws) != 0)
            return fail("openpty");
        ::fcntl(master, F_SETFD, FD_CLOEXEC);
        ::fcntl(slave, F_SETFD, FD_CLOEXEC);
        ourOut = master;
        ourIn = ::fcntl(master, F_DUPFD_CLOEXEC, 3);
        childFds[0] = slave;
        childFds[1] = ::fcntl(slave, F_DUPFD_CLOEXEC, 3);
        childFds[2] = ::fcntl(slave, F_DUPFD_CLOEXEC, 3);
        if (ourIn < 0 || childFds[1] < 0 || childFds[2] < 0)
            return fail("dup");
    } else {
        int p[2];
        if (options.stdinPipe) {
            if (::pipe2(p, O_CLOEXEC) != 0)
                return fail("pipe");
            childFds[0] = p[0];
            ourIn = p[1];
        } else {
            childFds[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (childFds[0] < 0)
                return fail("open /dev/null");
        }
        if (::pipe2(p, O_CLOEXEC) != 0)
            return fail("pipe");
        ourOut = p[0];
        childFds[1] = p[1];
        if (::pipe2(p, O_CLOEXEC) != 0)
            return fail("pipe");
        ourErr = p[0];
        childFds[2] = p[1];
    }
    int errPipe[2];
    if (::pipe2(errPipe, O_CLOEXEC) != 0)
        return fail("pipe");

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(errPipe[0]);
        ::close(errPipe[1]);
        return fail("fork");
    }
    if (pid == 0) {
        // Child: async-signal-safe calls only.
        auto die = [&](int stage) {
            int report[2] = {stage, errno};
            (void)!::write(errPipe[1], report, sizeof report);
            ::_exit(127);
        };
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig = 1; sig < NSIG; ++sig)
            ::signal(sig, SIG_DFL);
        ::setsid();
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(137);
        int high[3];
        for (int i = 0; i < 3; ++i) {
            high[i] = ::fcntl(childFds[i], F_DUPFD, 10);
            if (high[i] < 0)
                die(1);
        }
        for (int i = 0; i < 3; ++i) {
            if (::dup2(high[i], i) < 0)
                die(1);
        }
        if (options.tty && !ttyInside && ::ioctl(0, TIOCSCTTY, 0) != 0)
            die(2);
        if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0) {
            for (int fd = 3; fd < 4096; ++fd) {
                if (fd != errPipe[1])
                    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        if (::chdir(cwd.c_str()) != 0)
            die(3);
        ::execve(exe.c_str(), argvp.data(), envp.data());
        die(4);
    }
    ::close(errPipe[1]);
    for (int &fd : childFds)
        closeFd(fd);
    int report[2] = {0, 0};
    ssize_t n;
    do {
        n = ::read(errPipe[0], report, sizeof report);
    } while (n < 0 && errno == EINTR);
    ::close(errPipe[0]);
    if (n > 0) {
        int status;
        ::waitpid(pid, &status, 0);
        errno = report[1];
        static const char *const stages[]
            = {"cannot start the process", "cannot set up the standard streams", "cannot set the controlling terminal",
               "cannot change to the working directory"};
        const std::string what = report[0] == 4 ? "exec: \"" + command[0] + "\"" : std::string(stages[report[0] & 3]);
        return fail(what);
    }
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        const int saved = errno;
        ::kill(pid, SIGKILL);
        int status;
        ::waitpid(pid, &status, 0);
        errno = saved;
        return fail("pidfd_open");
    }

    auto runner = std::make_shared<ProcessRunner>(io);
    runner->m_pid = pid;
    runner->m_bubblewrap = sandbox.bubblewrap;
    runner->m_tty = options.tty;
    runner->m_pidfd.assign(pidfd);
    runner->m_out[0].assign(ourOut);
    runner->m_eof[0] = false;
    if (ourErr >= 0) {
        runner->m_out[1].assign(ourErr);
        runner->m_eof[1] = false;
    }
    if (ourIn >= 0)
        runner->m_in.assign(ourIn);
    runner->readMore(0);
    runner->readMore(1);
    runner->m_pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                               [self = runner->shared_from_this()](const boost::system::error_code &ec) {
                                   if (ec || self->m_reaped)
                                       return;
                                   // Leftovers of the process group go with it (a container's
                                   // processes end with its main process).
                                   ::kill(-self->m_pid, SIGKILL);
                                   int status = 0;
                                   pid_t r;
                                   do {
                                       r = ::waitpid(self->m_pid, &status, 0);
                                   } while (r < 0 && errno == EINTR);
                                   self->m_reaped = true;
                                   boost::system::error_code ignored;
                                   self->m_pidfd.close(ignored);
                                   int code = 0;
                                   if (r == self->m_pid) {
                                       if (WIFEXITED(status))
                                           code = WEXITSTATUS(status);
                                       else if (WIFSIGNALED(status))
                                           code = 128 + WTERMSIG(status);
                                   }
                                   self->onExited(code);
                               });
    return runner;
}

void ProcessRunner::readMore(int index)
{
    if (m_eof[index] || m_reading[index] || m_paused || m_finished)
        return;
    m_reading[index] = true;
    m_out[index].async_read_some(
        boost::asio::buffer(m_buffers[index]),
        [self = shared_from_this(), index](const boost::system::error_code &ec, std::size_t n) {
            self->m_reading[index] = false;
            if (self->m_finished)
                return;
            if (ec) {
                // EOF, or EIO from a pty whose other side is gone, or cancelled by the drain timer.
                self->m_eof[index] = true;
                boost::system::error_code ignored;
                self->m_out[index].close(ignored);
                self->checkFinished();
                return;
            }
            // A copy: the callback may replace or clear onOutput while it runs.
            if (auto callback = self->onOutput)
                callback(self->m_tty ? 1 : index + 1, std::string_view(self->m_buffers[index].data(), n));
            self->readMore(index);
        });
}

void ProcessRunner::onExited(int exitCode)
{
    m_exited = true;
    m_exitCode = exitCode;
    if (!m_tty) {
        boost::system::error_code ignored;
        m_in.close(ignored);
    }
    if (m_eof[0] && m_eof[1]) {
        checkFinished();
        return;
    }
    // A process that outlived the one we started may keep the pipes open: give the output a
    // moment, then stop waiting for it.
    auto weak = weak_from_this();
    m_drainTimer.expires_after(std::chrono::seconds(2));
    m_drainTimer.async_wait([weak](const boost::system::error_code &ec) {
        auto self = weak.lock();
        if (ec || !self || self->m_finished)
            return;
        if (self->m_paused) {
            self->onExited(self->m_exitCode);
            return;
        }
        for (int i = 0; i < 2; ++i) {
            boost::system::error_code ignored;
            self->m_out[i].close(ignored);
            if (!self->m_reading[i])
                self->m_eof[i] = true;
        }
        self->checkFinished();
    });
}

void ProcessRunner::checkFinished()
{
    if (!m_exited || !m_eof[0] || !m_eof[1] || m_finished)
        return;
    m_finished = true;
    closeAll();
    auto callback = std::move(onFinished);
    onFinished = nullptr;
    onOutput = nullptr;
    if (callback)
        callback(m_exitCode);
}

void ProcessRunner::closeAll()
{
    boost::system::error_code ignored;
    m_out[0].close(ignored);
    m_out[1].close(ignored);
    m_in.close(ignored);
    m_pidfd.close(ignored);
    m_drainTimer.cancel();
    m_termTimer.cancel();
    auto queue = std::move(m_stdinQueue);
    m_stdinQueue.clear();
    for (auto &item : queue) {
        if (item.second)
            boost::asio::post(m_io, std::move(item.second));
    }
}

void ProcessRunner::writeStdin(std::string data, std::function<void()> consumed)
{
    if (m_finished || m_exited || !m_in.is_open() || m_closeStdinRequested) {
        if (consumed)
            boost::asio::post(m_io, std::move(consumed));
        return;
    }
    m_stdinQueue.emplace_back(std::move(data), std::move(consumed));
    writeNext();
}

void ProcessRunner::writeNext()
{
    if (m_writing)
        return;
    if (m_stdinQueue.empty()) {
        if (m_closeStdinRequested && !m_tty) {
            boost::system::error_code ignored;
            m_in.close(ignored);
        }
        return;
    }
    m_writing = true;
    boost::asio::async_write(m_in, boost::asio::buffer(m_stdinQueue.front().first),
                             [self = shared_from_this()](const boost::system::error_code &ec, std::size_t) {
                                 self->m_writing = false;
                                 if (self->m_stdinQueue.empty())
                                     return;
                                 auto consumed = std::move(self->m_stdinQueue.front().second);
                                 self->m_stdinQueue.pop_front();
                                 if (ec) {
                                     // The process closed its stdin: drop what is queued.
                                     boost::system::error_code ignored;
                                     self->m_in.close(ignored);
                                     auto queue = std::move(self->m_stdinQueue);
                                     self->m_stdinQueue.clear();
                                     if (consumed)
                                         consumed();
                                     for (auto &item : queue) {
                                         if (item.second)
                                             item.second();
                                     }
                                     return;
                                 }
                                 if (consumed)
                                     consumed();
                                 self->writeNext();
                             });
}

void ProcessRunner::closeStdin()
{
    if (m_tty) {
        // A terminal has no half-close: end of input is the EOF character.
        writeStdin(std::string(1, '\x04'), {});
        return;
    }
    m_closeStdinRequested = true;
    writeNext();
}

void ProcessRunner::resize(int width, int height)
{
    if (!m_tty || !m_in.is_open() || width <= 0 || height <= 0)
        return;
    struct winsize ws
    {
    };
    ws.ws_col = static_cast<unsigned short>(width);
    ws.ws_row = static_cast<unsigned short>(height);
    ::ioctl(m_in.native_handle(), TIOCSWINSZ, &ws);
}

void ProcessRunner::setPaused(bool paused)
{
    if (m_paused == paused)
        return;
    m_paused = paused;
    if (!paused) {
        readMore(0);
        readMore(1);
    }
}

void ProcessRunner::terminate()
{
    if (m_reaped || m_pid <= 0)
        return;
    if (!m_bubblewrap) {
        ::kill(-m_pid, SIGTERM);
        return;
    }
    // SIGTERM would end bubblewrap itself (and so kill everything at once): signal the processes
    // of the container's PID namespace instead, except its init, which exits with the command.
    std::ifstream childrenFile("/proc/" + std::to_string(m_pid) + "/task/" + std::to_string(m_pid) + "/children");
    pid_t init = 0;
    childrenFile >> init;
    const std::string ns = init > 0 ? readLink("/proc/" + std::to_string(init) + "/ns/pid") : std::string();
    int signalled = 0;
    // Only ever a namespace of the sandbox's own, never ours (bwrap may not have made it yet).
    if (!ns.empty() && ns != readLink("/proc/self/ns/pid")) {
        if (DIR *proc = ::opendir("/proc")) {
            while (auto *entry = ::readdir(proc)) {
                char *end = nullptr;
                const long pid = std::strtol(entry->d_name, &end, 10);
                if (pid <= 0 || *end || pid == init)
                    continue;
                if (readLink(std::string("/proc/") + entry->d_name + "/ns/pid") == ns
                    && ::kill(static_cast<pid_t>(pid), SIGTERM) == 0)
                    ++signalled;
            }
            ::closedir(proc);
        }
    }
    if (signalled > 0)
        return;
    // bubblewrap is still setting the sandbox up: the command does not run yet. Try again soon
    // (the caller's SIGKILL after the grace period bounds this).
    m_termTimer.expires_after(std::chrono::milliseconds(20));
    m_termTimer.async_wait([weak = weak_from_this()](const boost::system::error_code &ec) {
        auto self = weak.lock();
        if (!ec && self && !self->m_reaped)
            self->terminate();
    });
}

void ProcessRunner::kill()
{
    if (m_reaped || m_pid <= 0) // kill(-1) or kill(0) would hit far more than our child
        return;
    ::kill(-m_pid, SIGKILL);
    ::kill(m_pid, SIGKILL);
}

void ProcessRunner::killSync()
{
    onOutput = nullptr;
    onFinished = nullptr;
    if (!m_reaped && m_pid > 0) {
        kill();
        int status;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) { }
        m_reaped = true;
    }
    m_finished = true;
    closeAll();
}

} // namespace iterdeck::sandbox::detail
