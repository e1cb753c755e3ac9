#include "synccommand.h"

#include "sync/scanner.h"
#include "sync/source.h"

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <climits>
#include <cstdlib>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace iterdeck::ctl {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void onSignal(int)
{
    g_stop = 1;
}

// JSON string content: escapes, and U+FFFD for bytes that are not UTF-8 (file names may be any bytes).
std::string jsonEscape(const std::string &in)
{
    std::string s;
    for (size_t i = 0; i < in.size();) {
        const auto c = static_cast<unsigned char>(in[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= in.size();
        for (size_t k = 1; ok && k < len; ++k)
            ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
        if (ok) {
            s.append(in, i, len);
            i += len;
        } else {
            s += "\xEF\xBF\xBD";
            ++i;
        }
    }
    std::string out;
    for (char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out;
}

// Where two-way sync keeps the state both sides agreed on, per (folder, remote command).
std::string statePath(const SyncOptions &o)
{
    const char *xdg = std::getenv("XDG_STATE_HOME");
    const char *home = std::getenv("HOME");
    std::string dir = xdg && *xdg ? std::string(xdg) : std::string(home ? home : "/tmp") + "/.local/state";
    dir += "/iterdeck/sync";
    iterdeck::sync::makeDirectories(dir);
    char real[PATH_MAX];
    const std::string local = ::realpath(o.localDir.c_str(), real) ? std::string(real) : o.localDir;
    const std::string key = local + '\0' + o.remoteCommand;
    return dir + '/' + iterdeck::sync::hashHex(iterdeck::sync::hashBytes(key.data(), key.size())).substr(0, 32)
        + ".state";
}

} // namespace

int runSync(const SyncOptions &o)
{
    using namespace iterdeck::sync;
    std::string mode;
    for (char c : o.mode)
        mode += char(std::tolower(static_cast<unsigned char>(c)));
    const bool twoWay = mode == "sendreceive";
    if (!twoWay && mode != "send" && mode != "sendonly") {
        std::fprintf(stderr, "iterdeckctl sync: unknown mode \"%s\": use send or sendreceive\n", o.mode.c_str());
        return 2;
    }
    FsError fsError;
    auto root = SafeRoot::open(o.localDir, &fsError);
    if (!root) {
        std::fprintf(stderr, "iterdeckctl sync: %s\n", fsError.message.c_str());
        return 1;
    }
    if (o.gitIgnore && !o.ignore.empty()) {
        std::fprintf(stderr,
                     "iterdeckctl sync: --ignore and --git-ignore cannot be combined: with --git-ignore the "
                     ".gitignore files decide\n");
        return 2;
    }
    std::unique_ptr<IgnoreRules> rules;
    if (o.gitIgnore) {
        rules = makeGitIgnoreRules(o.localDir, o.syncGit);
    } else {
        std::string error;
        rules = makePatternRules({}, o.ignore, o.syncGit, &error);
        if (!rules) {
            std::fprintf(stderr, "iterdeckctl sync: %s\n", error.c_str());
            return 2;
        }
    }

    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    int readFd = -1, writeFd = -1;
    std::string error;
    const int pid = spawnCommand(o.remoteCommand, &readFd, &writeFd, &error);
    if (pid < 0) {
        std::fprintf(stderr, "iterdeckctl sync: cannot start the remote command: %s\n", error.c_str());
        return 1;
    }
    const bool json = o.status == "json";
    auto status = [&](const SyncStatus &s) {
        if (json) {
            std::string conflicts;
            for (const auto &c : s.conflicts)
                conflicts += (conflicts.empty() ? "\"" : ",\"") + jsonEscape(c) + "\"";
            std::printf(
                "{\"phase\":\"%s\",\"filesDone\":%llu,\"filesTotal\":%llu,\"bytesDone\":%llu,\"bytesTotal\":%llu,"
                "\"conflicts\":[%s],\"message\":\"%s\"}\n",
                phaseName(s.phase), (unsigned long long)s.filesDone, (unsigned long long)s.filesTotal,
                (unsigned long long)s.bytesDone, (unsigned long long)s.bytesTotal, conflicts.c_str(),
                jsonEscape(s.message).c_str());
            std::fflush(stdout);
        }
        // Without --status json, halts and errors are printed once, where they end the run.
    };
    auto log = [](const std::string &line) { std::fprintf(stderr, "iterdeckctl sync: %s\n", line.c_str()); };

    int rc = 0;
    {
        Channel channel(readFd, writeFd);
        SourceOptions options;
        options.ignore = rules.get();
        options.twoWay = twoWay;
        options.once = o.once;
        options.compress = o.compress != "no";
        options.deleteProtection = !o.noDeleteProtection;
        options.settingsFingerprint = std::string("ignore v1\n") + (o.gitIgnore ? "git-ignore\n" : "")
            + (o.syncGit ? "sync-git\n" : "") + mode + '\n';
        for (const std::string &pattern : o.ignore)
            options.settingsFingerprint += pattern + '\n';
        SourceSession session(*root, channel, options, status, log);
        const std::string state = statePath(o);
        session.setIndexPath(state.substr(0, state.size() - 6) + ".index");
        if (twoWay)
            session.setStatePath(state);
        SyncReport report;
        if (!session.handshake(&error) || !session.fullSync(&report, &error)) {
            std::fprintf(stderr, "iterdeckctl sync: %s\n", error.c_str());
            rc = 1;
        } else {
            if (!json) {
                std::fprintf(
                    stderr,
                    "iterdeckctl sync: initial sync done: %llu created, %llu updated, %llu removed, %llu renamed, "
                    "%llu bytes of content, %llu bytes sent%s\n",
                    (unsigned long long)report.created, (unsigned long long)report.updated,
                    (unsigned long long)report.removed, (unsigned long long)report.renamed,
                    (unsigned long long)report.dataBytes, (unsigned long long)report.bytesSent,
                    twoWay ? (", " + std::to_string(report.pulled) + " fetched, " + std::to_string(report.conflicts)
                              + " conflicts")
                                 .c_str()
                           : "");
            }
            if (o.once) {
                // Settling one change can reveal the next (a conflict copy to send, a folder that
                // became free): a few more passes, as a watching session would make by itself.
                // (Two-way only: in one-way mode a remote change found meanwhile is reported and
                // kept, not overwritten by another pass.)
                for (int pass = 0; twoWay && pass < 3 && !session.inSync(nullptr); ++pass) {
                    if (!session.reconcile({std::string()}, &report, &error)) {
                        std::fprintf(stderr, "iterdeckctl sync: %s\n", error.c_str());
                        rc = 1;
                        break;
                    }
                }
                session.saveState(nullptr);
                session.saveRemoteIndex();
                std::vector<std::string> diffs;
                if (rc == 0 && !session.inSync(&diffs)) {
                    for (const auto &d : diffs)
                        std::fprintf(stderr, "iterdeckctl sync: not in sync: %s\n", d.c_str());
                    rc = 1;
                }
            } else {
                if (!session.watch(&g_stop, &error)) {
                    std::fprintf(stderr, "iterdeckctl sync: %s\n", error.c_str());
                    rc = 1;
                }
                session.saveRemoteIndex();
            }
        }
    }
    ::close(writeFd);
    ::close(readFd);
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    if (rc == 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0 && !g_stop) {
        std::fprintf(stderr, "iterdeckctl sync: the remote command exited with status %d\n", WEXITSTATUS(wstatus));
        rc = 1;
    }
    return rc;
}

} // namespace iterdeck::ctl
