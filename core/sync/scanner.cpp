#include "scanner.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace iterdeck::sync {

namespace {

constexpr int64_t kRacyWindowNs = 2'000'000'000;

bool isStageName(const char *name)
{
    return std::strncmp(name, ".iterdeck-stage-", 16) == 0;
}

// Finds paths in the previous scan. A walk visits paths mostly in sorted order, so the entry
// after the last one found is tried first; a lookup is the fallback.
struct PreviousCursor
{
    const Manifest *previous = nullptr;
    Manifest::const_iterator next;
    explicit PreviousCursor(const Manifest *m)
        : previous(m)
    {
        if (m)
            next = m->begin();
    }
    const Entry *find(const std::string &path)
    {
        if (!previous)
            return nullptr;
        if (next != previous->end() && next->first == path)
            return &(next++)->second;
        auto it = previous->find(path);
        if (it == previous->end())
            return nullptr;
        next = std::next(it);
        return &it->second;
    }
};

// Fills hash/link target for `e` (whose state is known) from the open parent `dir`.
bool complete(int dir, const char *leaf, Entry &e, const ScanOptions &options, ScanStats *stats, PreviousCursor &cursor)
{
    if (e.state.type == EntryType::File) {
        if (!options.hashFiles)
            return true;
        if (const Entry *prev = cursor.find(e.path)) {
            if (prev->state.sameAs(e.state) && hashKnown(prev->hash)
                && e.state.mtimeNs + kRacyWindowNs < options.previousScanNs) {
                e.hash = prev->hash;
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

// The fixed part of a getdents64 record; the NUL-terminated name follows it.
struct LinuxDirent64
{
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
};
constexpr size_t kDirentNameOffset = 19; // after d_type: the kernel's layout, no padding before the name

bool listDirectory(int dirFd, const ScanOptions &options, std::vector<std::string> &names,
                   std::vector<unsigned char> *types = nullptr);

void walk(int dirFd, const std::string &prefix, const ScanOptions &options, Manifest &out, ScanStats *stats,
          const std::function<void(const std::string &)> &warn, PreviousCursor &cursor)
{
    // The entries straight from getdents64 on the directory's own descriptor (no second open).
    std::vector<std::string> names;
    if (!listDirectory(dirFd, options, names)) {
        warn((prefix.empty() ? std::string(".") : prefix) + ": cannot read directory: " + std::strerror(errno));
        return;
    }
    // In name order, each folder's contents right after it: the paths come out (nearly) sorted,
    // so they are appended to the manifest and looked up in the previous scan without a search.
    std::sort(names.begin(), names.end());
    for (const std::string &leaf : names) {
        const char *name = leaf.c_str();
        struct stat st
        {
        };
        if (::fstatat(dirFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; // vanished meanwhile
        Entry e;
        e.path = prefix.empty() ? leaf : prefix + '/' + leaf;
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
            if (!complete(dirFd, name, e, options, stats, cursor))
                continue;
            if (!SafeRoot::symlinkStaysInside(e.path, e.linkTarget)) {
                warn(e.path + ": skipped: the symlink points outside the folder (" + e.linkTarget + ")");
                continue;
            }
            if (stats)
                ++stats->symlinks;
        } else if (e.state.type == EntryType::File) {
            if (!complete(dirFd, name, e, options, stats, cursor)) {
                warn(e.path + ": skipped: cannot read: " + std::strerror(errno));
                continue;
            }
            if (stats) {
                ++stats->files;
                stats->bytes += e.state.size;
            }
        } else if (stats) {
            ++stats->dirs;
        }
        const std::string path = e.path;
        out.insert_or_assign(out.end(), path, std::move(e)); // the hint is right unless out of order
        if (isDir) {
            const int sub = ::openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                warn(path + ": cannot open directory: " + std::strerror(errno));
                continue;
            }
            walk(sub, path, options, out, stats, warn, cursor);
            ::close(sub);
        }
    }
}

} // namespace

namespace {

constexpr uint32_t kManifestMagic = 0x58445449; // "ITDX"
// The saved file: a ManifestEntries frame (5-byte header) holding magic, version, scan time,
// count and digest, then the entries.
constexpr size_t kFrameHeader = 5;
constexpr size_t kScanNsAt = kFrameHeader + 4 + 4;
constexpr size_t kSavedHeader = kScanNsAt + 8 + 8 + 16;

// Writes `size` bytes to `path` through a file beside it and a rename: never half a file.
bool replaceFile(const std::string &path, const uint8_t *data, size_t size)
{
    const std::string tmp = path + ".tmp";
    FILE *f = std::fopen(tmp.c_str(), "wbe");
    if (!f)
        return false;
    const bool ok = std::fwrite(data, 1, size, f) == size;
    if (std::fclose(f) != 0 || !ok) {
        std::remove(tmp.c_str());
        return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

} // namespace

bool makeDirectories(const std::string &dir)
{
    for (size_t i = 1; i <= dir.size(); ++i) {
        if (i == dir.size() || dir[i] == '/')
            ::mkdir(dir.substr(0, i).c_str(), 0700); // (an existing one is fine)
    }
    struct stat st
    {
    };
    return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool saveManifest(const std::string &path, const Manifest &manifest, int64_t scanNs, Hash128 *digestOut)
{
    const Hash128 digest = manifestDigest(manifest);
    FrameWriter w(MsgType::ManifestEntries);
    w.u32(kManifestMagic).u32(2).i64(scanNs).u64(manifest.size()).hash(digest); // version 2: with the digest
    for (const auto &[p, e] : manifest)
        w.entry(e);
    const auto &bytes = w.finish();
    if (!replaceFile(path, bytes.data(), bytes.size()))
        return false;
    if (digestOut)
        *digestOut = digest;
    return true;
}

bool readSavedManifest(const std::string &path, SavedManifest &out)
{
    out = SavedManifest {};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st
    {
    };
    bool ok = ::fstat(fd, &st) == 0 && st.st_size >= 5 && st.st_size < (1ll << 32);
    if (ok) {
        out.bytes.resize(size_t(st.st_size));
        size_t got = 0;
        while (got < out.bytes.size()) {
            const ssize_t n = ::read(fd, out.bytes.data() + got, out.bytes.size() - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += size_t(n);
        }
        ok = got == out.bytes.size();
    }
    ::close(fd);
    if (!ok)
        return false;
    FrameReader r(out.bytes.data() + 5, out.bytes.size() - 5);
    const uint32_t magic = r.u32();
    const uint32_t version = r.u32();
    if (magic != kManifestMagic || (version != 1 && version != 2))
        return false;
    out.scanNs = r.i64();
    out.count = r.u64();
    if (version == 2)
        out.digest = r.hash();
    if (!r.ok())
        return false;
    out.entriesAt = out.bytes.size() - r.rest().size();
    return true;
}

Hash128 readSavedManifestDigest(const std::string &path)
{
    constexpr size_t kHeader = kSavedHeader;
    uint8_t buf[kHeader];
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return {};
    size_t got = 0;
    while (got < kHeader) {
        const ssize_t n = ::read(fd, buf + got, kHeader - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += size_t(n);
    }
    ::close(fd);
    if (got < kHeader)
        return {};
    FrameReader r(buf + kFrameHeader, kHeader - kFrameHeader);
    const uint32_t magic = r.u32();
    const uint32_t version = r.u32();
    r.i64();
    r.u64();
    const Hash128 digest = r.hash();
    return r.ok() && magic == kManifestMagic && version == 2 ? digest : Hash128 {};
}

bool parseSavedManifest(const SavedManifest &saved, Manifest &manifest)
{
    manifest.clear();
    FrameReader r(saved.bytes.data() + saved.entriesAt, saved.bytes.size() - saved.entriesAt);
    for (uint64_t i = 0; i < saved.count && r.ok(); ++i) {
        Entry e = r.entry();
        if (r.ok() && isSafeRelativePath(e.path))
            manifest.insert_or_assign(manifest.end(), e.path, std::move(e)); // saved in order: O(1) each
    }
    if (!r.ok()) {
        manifest.clear();
        return false;
    }
    return true;
}

bool loadManifest(const std::string &path, Manifest &manifest, int64_t *scanNs)
{
    manifest.clear();
    SavedManifest saved;
    if (!readSavedManifest(path, saved) || !parseSavedManifest(saved, manifest))
        return false;
    if (scanNs)
        *scanNs = saved.scanNs;
    return true;
}

namespace {

// Reads a directory's entries (without "." and ".."; staged names are skipped, and removed when
// asked). False when it cannot be read.
bool listDirectory(int dirFd, const ScanOptions &options, std::vector<std::string> &names,
                   std::vector<unsigned char> *types)
{
    constexpr size_t kDentsBuf = 1 << 16;
    thread_local std::unique_ptr<char[]> dents(new char[kDentsBuf]);
    for (;;) {
        const long n = ::syscall(SYS_getdents64, dirFd, dents.get(), kDentsBuf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (n == 0)
            return true;
        for (long off = 0; off < n;) {
            const char *record = dents.get() + off;
            unsigned short reclen = 0;
            std::memcpy(&reclen, record + offsetof(LinuxDirent64, d_reclen), sizeof reclen);
            off += reclen;
            const char *name = record + kDirentNameOffset;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
                continue;
            if (isStageName(name)) {
                if (options.removeStaleStaged)
                    ::unlinkat(dirFd, name, 0);
                continue;
            }
            names.emplace_back(name);
            if (types)
                types->push_back(static_cast<unsigned char>(record[offsetof(LinuxDirent64, d_type)]));
        }
        // A reply that left room for another entry was the last one.
        if (size_t(n) + sizeof(LinuxDirent64) + 256 < kDentsBuf)
            return true;
    }
}

// With folders trusted: a folder whose state (inode, size, mtime, ctime) is the saved one, and
// whose last change is outside the racy window of the saved scan, still holds exactly the entries
// saved below it (adding, removing or renaming an entry changes its mtime and ctime; setting the
// mtime back changes the ctime). Its entries are then checked from the saved index (one lstat each)
// instead of listing it.
bool folderTrusted(const FileState &now, const FileState &saved, int64_t scanNs)
{
    return now.sameAs(saved) && std::max(now.mtimeNs, now.ctimeNs) + kRacyWindowNs < scanNs;
}

struct Matcher
{
    const SafeRoot &root;
    const ScanOptions &options;
    FrameReader reader;
    uint64_t left;
    int64_t scanNs;
    const uint8_t *bytes; // the saved file (the offsets of folder states to refresh)
    bool trustFolders = false;
    // Folders listed because their state changed, with the state read before listing them.
    std::vector<std::pair<size_t, FileState>> *changedFolders = nullptr;
    bool listedFolder = false; // a folder was listed (its contents not taken on trust)
    std::string path;

    // The next saved entry must be `path` in the state `now`. For a folder, `trusted` (when
    // given) tells whether its contents may be checked without listing it.
    bool next(const FileState &now, bool *trusted = nullptr)
    {
        if (left == 0)
            return false;
        --left;
        const std::string_view savedPath = reader.strView(4096);
        const size_t stateAt = size_t(reader.position() - bytes);
        const FileState saved = reader.state();
        if (!reader.ok() || savedPath != path)
            return false;
        if (now.type != saved.type)
            return false;
        switch (now.type) {
        case EntryType::File: {
            const Hash128 h = reader.hash();
            return reader.ok() && now.sameAs(saved) && now.mode == saved.mode && hashKnown(h)
                && now.mtimeNs + kRacyWindowNs < scanNs;
        }
        case EntryType::Directory:
            // (A folder's state is not part of the digest: it decides only how it is checked.)
            if (trusted) {
                *trusted = folderTrusted(now, saved, scanNs);
                if (changedFolders && !now.sameAs(saved))
                    changedFolders->emplace_back(stateAt, now);
            }
            return true;
        case EntryType::Symlink:
            reader.strView(4096);
            return reader.ok() && now.sameAs(saved);
        default:
            return false;
        }
    }

    // The contents of the folder at `path`, which is `rel` beneath the open folder `dirFd`:
    // listed, or taken from the saved index.
    bool contents(int dirFd, const std::string &rel, bool trusted)
    {
        if (trusted)
            return walkSaved(dirFd, rel + '/'); // (nothing opened: paths relative to dirFd)
        listedFolder = true;
        // `path` is the folder's path from the root: opened beneath it, following no symlink on
        // the way (a listing may remove staged files in it).
        const int sub = rel.find('/') == std::string::npos
            ? ::openat(dirFd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            : root.openDirectoryForReading(path, nullptr);
        if (sub < 0)
            return false;
        const bool same = walk(sub);
        ::close(sub);
        return same;
    }

    // A folder that is listed: every entry found must be the next saved one.
    bool walk(int dirFd)
    {
        std::vector<std::string> names;
        std::vector<unsigned char> types;
        if (!listDirectory(dirFd, options, names, &types))
            return false;
        struct Item
        {
            std::string key; // the name, with a '/' when it stands for the folder's contents
            size_t index;
            bool contents;
        };
        std::vector<struct stat> stats(names.size());
        std::vector<char> trusted(names.size(), 0);
        std::vector<Item> items;
        items.reserve(names.size() + 8);
        for (size_t i = 0; i < names.size(); ++i) {
            if (types[i] == DT_DIR && !trustFolders) {
                // A folder needs no lstat: only its name and type count, and opening it below
                // (O_DIRECTORY | O_NOFOLLOW) fails if it is not one any more.
                stats[i] = {};
                stats[i].st_mode = S_IFDIR;
            } else if (::fstatat(dirFd, names[i].c_str(), &stats[i], AT_SYMLINK_NOFOLLOW) != 0) {
                return false; // vanished meanwhile: not as saved
            }
            items.push_back({names[i], i, false});
            if (S_ISDIR(stats[i].st_mode))
                items.push_back({names[i] + '/', i, true});
        }
        // Exactly the saved (std::map) order: "a", "a.js", then what is in "a/".
        std::sort(items.begin(), items.end(), [](const Item &a, const Item &b) { return a.key < b.key; });
        const size_t base = path.size();
        for (const Item &item : items) {
            const std::string &name = names[item.index];
            path.resize(base);
            if (base > 0)
                path += '/';
            path += name;
            if (path.size() > 4096)
                return false;
            const bool isDir = S_ISDIR(stats[item.index].st_mode);
            if (options.ignore && options.ignore->isIgnored(path, isDir))
                continue;
            if (!item.contents) {
                bool folderOk = false;
                if (!next(stateFromStat(stats[item.index]), isDir && trustFolders ? &folderOk : nullptr))
                    return false;
                trusted[item.index] = folderOk;
                continue;
            }
            if (!contents(dirFd, name, trusted[item.index] != 0))
                return false;
        }
        path.resize(base);
        return true;
    }

    // A trusted folder, `rel` ("sub/dir/") beneath the open folder `dirFd`: its saved entries,
    // each checked with one lstat.
    bool walkSaved(int dirFd, const std::string &rel)
    {
        const size_t base = path.size();
        struct Sub
        {
            std::string name;
            bool trusted;
            bool done;
        };
        std::vector<Sub> subs;
        std::string name, relName;
        for (;;) {
            path.resize(base);
            if (left == 0)
                break;
            FrameReader peek = reader;
            const std::string_view p = peek.strView(4096);
            if (!peek.ok())
                return false;
            if (p.size() <= base + 1 || p.compare(0, base, path) != 0 || p[base] != '/')
                break; // past this folder (saved in order: its contents come together)
            const std::string_view rest = p.substr(base + 1);
            const size_t slash = rest.find('/');
            if (slash == std::string_view::npos) {
                name.assign(rest);
                if (isStageName(name.c_str()))
                    return false;
                struct stat st
                {
                };
                relName.assign(rel).append(name);
                if (::fstatat(dirFd, relName.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                    return false;
                const FileState now = stateFromStat(st);
                const bool isDir = now.type == EntryType::Directory;
                path.resize(base);
                path += '/';
                path += name;
                if (options.ignore && options.ignore->isIgnored(path, isDir))
                    return false; // (the rules changed since it was saved)
                bool folderOk = false;
                if (!next(now, isDir ? &folderOk : nullptr))
                    return false;
                if (isDir)
                    subs.push_back({name, folderOk, false});
                continue;
            }
            // Inside a subfolder, whose own entry came first.
            const std::string_view child = rest.substr(0, slash);
            Sub *sub = nullptr;
            for (auto it = subs.rbegin(); it != subs.rend() && !sub; ++it) {
                if (it->name == child)
                    sub = &*it;
            }
            if (!sub || sub->done)
                return false;
            sub->done = true;
            path.resize(base);
            path += '/';
            path += sub->name;
            if (!contents(dirFd, rel + sub->name, sub->trusted))
                return false;
        }
        // A changed subfolder with nothing saved below it must still be empty.
        for (Sub &sub : subs) {
            if (sub.done || sub.trusted)
                continue;
            path.resize(base);
            path += '/';
            path += sub.name;
            if (!contents(dirFd, rel + sub.name, false))
                return false;
        }
        path.resize(base);
        return true;
    }
};

} // namespace

bool treeMatchesSaved(const SafeRoot &root, const ScanOptions &options, SavedManifest &saved, bool *refreshed)
{
    if (refreshed)
        *refreshed = false;
    if (saved.entriesAt == 0 || saved.entriesAt > saved.bytes.size())
        return false;
    const int64_t start = nowNs();
    const int dir = ::openat(root.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return false;
    std::vector<std::pair<size_t, FileState>> changedFolders;
    const bool trust = options.trustUnchangedFolders;
    Matcher m {root,
               options,
               FrameReader(saved.bytes.data() + saved.entriesAt, saved.bytes.size() - saved.entriesAt),
               saved.count,
               saved.scanNs,
               saved.bytes.data(),
               trust,
               refreshed && trust ? &changedFolders : nullptr,
               false,
               {}};
    const bool same = m.walk(dir) && m.left == 0;
    ::close(dir);
    if (!same || !refreshed || !m.trustFolders || !m.listedFolder)
        return same;
    // The tree is as saved, and every folder listed was read after its state: the saved file
    // can say so, with this check's start as its scan time, so that the next check trusts them.
    // (Every file passed the racy test against the older scan time, so also against this one;
    // folder states are not part of the digest, which stays as it is.)
    for (const auto &[at, state] : changedFolders) {
        FrameWriter w(MsgType::ManifestEntries);
        w.state(state);
        const auto &b = w.finish();
        if (at + (b.size() - kFrameHeader) > saved.bytes.size())
            return same;
        std::memcpy(saved.bytes.data() + at, b.data() + kFrameHeader, b.size() - kFrameHeader);
    }
    for (int i = 0; i < 8; ++i)
        saved.bytes[kScanNsAt + size_t(i)] = uint8_t(uint64_t(start) >> (8 * i));
    saved.scanNs = start;
    *refreshed = true;
    return same;
}

bool writeSavedManifest(const std::string &path, const SavedManifest &saved)
{
    return replaceFile(path, saved.bytes.data(), saved.bytes.size());
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
        if (e.state.type != EntryType::Directory) {
            le(e.state.mode, 4);
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
        // A description of its own: the walk reads the directory from its start.
        dir = ::openat(root.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        FsError err;
        dir = root.openDirectoryForReading(subtree, &err);
        if (dir < 0)
            return err.code == ENOENT || err.code == ENOTDIR; // gone or replaced: nothing to list
    }
    if (dir < 0)
        return false;
    PreviousCursor cursor(options.previous);
    walk(dir, subtree, options, out, stats, warn, cursor);
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
        PreviousCursor cursor(options.previous);
        const bool ok = complete(dir, leaf.c_str(), e, options, nullptr, cursor);
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
