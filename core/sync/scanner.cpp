#include "scanner.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace iterdeck::sync {

namespace {

constexpr int64_t kRacyWindowNs = 2'000'000'000;

bool isStageName(const char *name)
{
    return std::strncmp(name, ".iterdeck-stage-", 16) == 0;
}

// Fills hash/link target for `e` (whose state is known) from the open parent `dir`.
bool complete(int dir, const char *leaf, Entry &e, const ScanOptions &options, ScanStats *stats)
{
    if (e.state.type == EntryType::File) {
        if (!options.hashFiles)
            return true;
        if (options.previous) {
            auto it = options.previous->find(e.path);
            if (it != options.previous->end() && it->second.state.sameAs(e.state) && hashKnown(it->second.hash)
                && e.state.mtimeNs + kRacyWindowNs < options.previousScanNs) {
                e.hash = it->second.hash;
                return true;
            }
        }
        if (options.needHash && !options.needHash(e))
            return true;
        const int fd = ::openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
            return false;
        uint64_t size = 0;
        const auto h = hashFile(fd, &size);
        ::close(fd);
        if (!h)
            return false;
        e.hash = *h;
        if (stats)
            stats->hashedBytes += size;
        return true;
    }
    if (e.state.type == EntryType::Symlink) {
        std::vector<char> buf(4097);
        const ssize_t n = ::readlinkat(dir, leaf, buf.data(), buf.size());
        if (n < 0 || size_t(n) >= buf.size())
            return false;
        e.linkTarget.assign(buf.data(), size_t(n));
    }
    return true;
}

void walk(int dirFd, const std::string &prefix, const ScanOptions &options, Manifest &out, ScanStats *stats,
          const std::function<void(const std::string &)> &warn)
{
    const int dupFd = ::openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dupFd < 0) {
        warn(prefix + ": cannot read directory: " + std::strerror(errno));
        return;
    }
    DIR *d = ::fdopendir(dupFd);
    if (!d) {
        ::close(dupFd);
        return;
    }
    std::vector<std::string> subdirs;
    while (dirent *de = ::readdir(d)) {
        const char *name = de->d_name;
        if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
            continue;
        if (isStageName(name)) {
            if (options.removeStaleStaged)
                ::unlinkat(dirFd, name, 0);
            continue;
        }
        struct stat st
        {
        };
        if (::fstatat(dirFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; // vanished meanwhile
        Entry e;
        e.path = prefix.empty() ? std::string(name) : prefix + '/' + name;
        if (e.path.size() > 4096) {
            warn(e.path.substr(0, 80) + "...: skipped: the path is longer than 4096 bytes");
            continue;
        }
        e.state = stateFromStat(st);
        const bool isDir = e.state.type == EntryType::Directory;
        if (options.ignore && options.ignore->isIgnored(e.path, isDir)) {
            if (stats)
                ++stats->skipped;
            continue;
        }
        if (e.state.type == EntryType::Other) {
            warn(e.path + ": skipped: not a file, directory or symlink");
            continue;
        }
        if (e.state.type == EntryType::Symlink) {
            if (!complete(dirFd, name, e, options, stats))
                continue;
            if (!SafeRoot::symlinkStaysInside(e.path, e.linkTarget)) {
                warn(e.path + ": skipped: the symlink points outside the folder (" + e.linkTarget + ")");
                continue;
            }
            if (stats)
                ++stats->symlinks;
        } else if (e.state.type == EntryType::File) {
            if (!complete(dirFd, name, e, options, stats)) {
                warn(e.path + ": skipped: cannot read: " + std::strerror(errno));
                continue;
            }
            if (stats) {
                ++stats->files;
                stats->bytes += e.state.size;
            }
        } else {
            if (stats)
                ++stats->dirs;
            subdirs.emplace_back(name);
        }
        out[e.path] = std::move(e);
    }
    ::closedir(d);
    for (const std::string &name : subdirs) {
        const int sub = ::openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            warn((prefix.empty() ? name : prefix + '/' + name) + ": cannot open directory: " + std::strerror(errno));
            continue;
        }
        walk(sub, prefix.empty() ? name : prefix + '/' + name, options, out, stats, warn);
        ::close(sub);
    }
}

} // namespace

bool saveManifest(const std::string &path, const Manifest &manifest, int64_t scanNs)
{
    FrameWriter w(MsgType::ManifestEntries);
    w.u32(0x58445449).u32(1).i64(scanNs).u64(manifest.size()); // "ITDX", version 1
    for (const auto &[p, e] : manifest)
        w.entry(e);
    const auto &bytes = w.finish();
    const std::string tmp = path + ".tmp";
    FILE *f = std::fopen(tmp.c_str(), "wb");
    if (!f)
        return false;
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    if (std::fclose(f) != 0 || !ok) {
        std::remove(tmp.c_str());
        return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

bool loadManifest(const std::string &path, Manifest &manifest, int64_t *scanNs)
{
    manifest.clear();
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
        return false;
    std::vector<uint8_t> bytes;
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        bytes.insert(bytes.end(), buf, buf + n);
    std::fclose(f);
    if (bytes.size() < 5)
        return false;
    FrameReader r(bytes.data() + 5, bytes.size() - 5);
    if (r.u32() != 0x58445449 || r.u32() != 1)
        return false;
    const int64_t when = r.i64();
    const uint64_t count = r.u64();
    for (uint64_t i = 0; i < count && r.ok(); ++i) {
        Entry e = r.entry();
        if (r.ok() && isSafeRelativePath(e.path))
            manifest.insert_or_assign(manifest.end(), e.path, std::move(e)); // saved in order: O(1) each
    }
    if (!r.ok()) {
        manifest.clear();
        return false;
    }
    if (scanNs)
        *scanNs = when;
    return true;
}

bool hashKnown(const Hash128 &h)
{
    for (uint8_t b : h) {
        if (b)
            return true;
    }
    return false;
}

Hash128 manifestDigest(const Manifest &manifest)
{
    Hasher hasher;
    std::vector<uint8_t> buf;
    buf.reserve(1 << 16);
    auto le = [&](uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i)
            buf.push_back(uint8_t(v >> (8 * i)));
    };
    auto put = [&](const void *p, size_t n) {
        const auto *b = static_cast<const uint8_t *>(p);
        buf.insert(buf.end(), b, b + n);
    };
    for (const auto &[path, e] : manifest) {
        le(path.size(), 4);
        put(path.data(), path.size());
        le(uint8_t(e.state.type), 1);
        le(e.state.mode, 4);
        if (e.state.type != EntryType::Directory) {
            le(e.state.size, 8);
            le(uint64_t(e.state.mtimeNs), 8);
            le(uint64_t(e.state.ctimeNs), 8);
            le(e.state.inode, 8);
        }
        if (e.state.type == EntryType::File)
            put(e.hash.data(), e.hash.size());
        if (e.state.type == EntryType::Symlink) {
            le(e.linkTarget.size(), 4);
            put(e.linkTarget.data(), e.linkTarget.size());
        }
        if (buf.size() > (1u << 16) - 8192) {
            hasher.update(buf.data(), buf.size());
            buf.clear();
        }
    }
    hasher.update(buf.data(), buf.size());
    return hasher.digest();
}

int64_t nowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool scanTree(const SafeRoot &root, const std::string &subtree, const ScanOptions &options, Manifest &out,
              ScanStats *stats, const std::function<void(const std::string &)> &warn)
{
    // Drop what was known below the subtree.
    if (subtree.empty()) {
        out.clear();
    } else {
        const std::string prefix = subtree + '/';
        for (auto it = out.lower_bound(prefix); it != out.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
            it = out.erase(it);
    }
    int dir = -1;
    if (subtree.empty()) {
        dir = ::fcntl(root.fd(), F_DUPFD_CLOEXEC, 0);
    } else {
        FsError err;
        dir = root.openDirectoryForReading(subtree, &err);
        if (dir < 0)
            return err.code == ENOENT || err.code == ENOTDIR; // gone or replaced: nothing to list
    }
    if (dir < 0)
        return false;
    walk(dir, subtree, options, out, stats, warn);
    ::close(dir);
    return true;
}

std::optional<Entry> describe(const SafeRoot &root, const std::string &rel, const ScanOptions &options, FsError *error)
{
    Entry e;
    e.path = rel;
    const auto st = root.stat(rel, error);
    if (!st)
        return std::nullopt;
    e.state = *st;
    if (e.state.type == EntryType::File || e.state.type == EntryType::Symlink) {
        const size_t slash = rel.rfind('/');
        const std::string parent = slash == std::string::npos ? std::string() : rel.substr(0, slash);
        const std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
        const int dir = root.openDirectoryForReading(parent, error);
        if (dir < 0)
            return std::nullopt;
        const bool ok = complete(dir, leaf.c_str(), e, options, nullptr);
        ::close(dir);
        if (!ok) {
            if (error)
                *error = {errno, rel + ": cannot read"};
            return std::nullopt;
        }
    }
    return e;
}

} // namespace iterdeck::sync
