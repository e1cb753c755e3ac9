// iterdeck-agent: the in-container end of Iterdeck's file sync. Static, no Qt.
#include "sync/channel.h"
#include "sync/protocol.h"
#include "sync/replica.h"
#include "sync/scanner.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    CLI::App cli {"iterdeck-agent: the in-container end of Iterdeck's file sync.", "iterdeck-agent"};
    cli.set_version_flag("--version", std::string("iterdeck-agent ") + ITERDECK_VERSION, "Print the version and exit");
    cli.set_help_flag("-h,--help", "Print this help and exit");
    cli.require_subcommand(1);
    std::string root;
    auto *serve
        = cli.add_subcommand("serve", "Speak the sync protocol on stdin/stdout, applying changes beneath --root");
    serve->add_option("--root", root, "The folder to keep in sync (created when missing)")->required();
    std::string checksumPath;
    auto *checksum = cli.add_subcommand(
        "checksum", "Print the content hash (xxh3-128, hex) of FILE: how dev mode checks an uploaded agent");
    checksum->add_option("FILE", checksumPath, "The file to hash")->required();
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        if (e.get_exit_code() == 0)
            return cli.exit(e);
        std::cerr << "iterdeck-agent: " << e.what() << "\nRun with --help for usage.\n";
        return 2;
    }
    if (checksum->parsed()) {
        const int fd = ::open(checksumPath.c_str(), O_RDONLY | O_CLOEXEC);
        const auto hash = fd >= 0 ? iterdeck::sync::hashFile(fd) : std::nullopt;
        if (fd >= 0)
            ::close(fd);
        if (!hash) {
            std::cerr << "iterdeck-agent: cannot read " << checksumPath << ": " << std::strerror(errno) << "\n";
            return 1;
        }
        std::cout << iterdeck::sync::hashHex(*hash) << "\n";
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) {
        std::cerr << "iterdeck-agent: cannot create " << root << ": " << std::strerror(errno) << "\n";
        return 1;
    }
    iterdeck::sync::FsError err;
    auto safeRoot = iterdeck::sync::SafeRoot::open(root, &err);
    if (!safeRoot) {
        std::cerr << "iterdeck-agent: " << err.message << "\n";
        return 1;
    }
    // Larger pipes (when stdio is a pipe) mean fewer wake-ups while files stream through.
    for (int fd : {0, 1}) {
        struct stat st
        {
        };
        if (::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
            ::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
    }
    iterdeck::sync::Channel channel(0, 1);
    iterdeck::sync::Replica replica(*safeRoot);
    // The scan index lives outside the synced folder: $XDG_CACHE_HOME, $HOME/.cache, or a private
    // folder in /tmp when those are unset or inside the root. It is only a cache: when no safe
    // place exists, the agent runs without one.
    {
        char real[PATH_MAX];
        const std::string absRoot = ::realpath(root.c_str(), real) ? std::string(real) : root;
        const char *xdg = std::getenv("XDG_CACHE_HOME");
        const char *home = std::getenv("HOME");
        std::string dir
            = xdg && *xdg ? std::string(xdg) : (home && *home ? std::string(home) + "/.cache" : std::string());
        if (!dir.empty())
            dir += "/iterdeck-agent";
        auto inside = [&](const std::string &d) {
            char buf[PATH_MAX];
            const std::string parent = d.substr(0, d.rfind('/'));
            const std::string abs = ::realpath(parent.c_str(), buf) ? std::string(buf) : parent;
            return abs == absRoot || abs.compare(0, absRoot.size() + 1, absRoot + '/') == 0;
        };
        if (dir.empty() || inside(dir))
            dir = "/tmp/iterdeck-agent-" + std::to_string(::getuid());
        // $HOME/.cache may not exist yet (a fresh container): made as needed.
        iterdeck::sync::makeDirectories(dir);
        struct stat st
        {
        };
        if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() && !inside(dir)) {
            replica.setIndexPath(
                dir + '/'
                + iterdeck::sync::hashHex(iterdeck::sync::hashBytes(absRoot.data(), absRoot.size())).substr(0, 32)
                + ".index");
        }
    }
    return replica.serve(channel, [](const std::string &line) { std::cerr << "iterdeck-agent: " << line << "\n"; });
}
