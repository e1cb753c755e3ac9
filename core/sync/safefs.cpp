#include "safefs.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace iterdeck::sync {

namespace {

constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxName = 255;
constexpr std::string_view kStagePrefix = ".iterdeck-stage-";

FsError makeError(int code, std::string_view rel, std::string_view what)
{
    std::string msg(rel);
    msg += ": ";
    msg += what;
    if (code != 0) {
        msg += ": ";
        msg += std::strerror(code);
    }
    return {code, msg};
}

void setError(FsError *out, int code, std::string_view rel, std::string_view what)
{
    if (out) {
        *out = makeError(code, rel, what);
        out->refused = what.substr(0, 8) == "refused:";
    }
}

std::string stageName()
{
    static std::atomic<uint64_t> counter {0};
    static const uint64_t seed = std::random_device {}();
    static const std::string prefix
        = std::string(kStagePrefix) + std::to_string(::getpid()) + '-' + std::to_string(seed % 1000000) + '-';
    return prefix + std::to_string(counter++);
}

std::string asideName()
{
    static std::atomic<uint64_t> counter {0};
    static const std::string prefix = ".iterdeck-aside-" + std::to_string(::getpid()) + '-';
    return prefix + std::to_string(counter++);
}

long sysOpenat2(int dirfd, const char *path, const open_how *how)
{
    return ::syscall(SYS_openat2, dirfd, path, how, sizeof(open_how));
}

int renameat2(int olddir, const char *oldname, int newdir, const char *newname, unsigned flags)
{
    return int(::syscall(SYS_renameat2, olddir, oldname, newdir, newname, flags));
}

constexpr unsigned kRenameNoReplace = 1; // RENAME_NOREPLACE
constexpr unsigned kRenameExchange = 2; // RENAME_EXCHANGE

} // namespace

FileState stateFromStat(const struct stat &st)
{
    FileState s;
    if (S_ISREG(st.st_mode))
        s.type = EntryType::File;
    else if (S_ISDIR(st.st_mode))
        s.type = EntryType::Directory;
    else if (S_ISLNK(st.st_mode))
        s.type = EntryType::Symlink;
    else
        s.type = EntryType::Other;
    s.size = uint64_t(st.st_size);
    s.mtimeNs = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.ctimeNs = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    s.inode = uint64_t(st.st_ino);
    s.mode = uint32_t(st.st_mode & 07777);
    return s;
}

bool isSafeRelativePath(std::string_view rel, std::string *why)
{
    auto fail = [&](const char *reason) {
        if (why)
            *why = reason;
        return false;
    };
    if (rel.empty())
        return fail("empty path");
    if (rel.size() > kMaxPath)
        return fail("path too long");
    if (rel.find('\0') != std::string_view::npos)
        return fail("path contains a NUL byte");
    if (rel.front() == '/')
        return fail("absolute path");
    size_t start = 0;
    while (start <= rel.size()) {
        const size_t slash = rel.find('/', start);
        const std::string_view comp
            = rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (comp.empty())
            return fail("empty path component");
        if (comp == ".")
            return fail("path contains \".\"");
        if (comp == "..")
            return fail("path contains \"..\"");
        if (comp.size() > kMaxName)
            return fail("name too long");
        if (comp.substr(0, kStagePrefix.size()) == kStagePrefix)
            return fail("reserved name");
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return true;
}

SafeRoot::~SafeRoot()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

std::unique_ptr<SafeRoot> SafeRoot::open(const std::string &path, FsError *error)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        setError(error, errno, path, "cannot open sync root");
        return nullptr;
    }
    std::unique_ptr<SafeRoot> root(new SafeRoot);
    root->m_path = path;
    root->m_fd = fd;
    // Probe openat2 once (kernels before 5.6 and some sandboxes lack it). The fallback can be
    // forced, so that tests cover it on kernels that have openat2.
    if (const char *force = std::getenv("ITERDECK_SYNC_NO_OPENAT2"); force && *force == '1') {
        root->m_openat2 = false;
        return root;
    }
    open_how how {};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const long probe = sysOpenat2(fd, ".", &how);
    if (probe >= 0)
        ::close(int(probe));
    else
        root->m_openat2 = !(errno == ENOSYS || errno == EPERM);
    return root;
}

int SafeRoot::openDirectory(std::string_view rel, FsError *error, bool pathOnly) const
{
    if (rel.empty())
        return pathOnly ? ::fcntl(m_fd, F_DUPFD_CLOEXEC, 0) : ::openat(m_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const std::string relStr(rel);
    const int openFlags = (pathOnly ? O_PATH : O_RDONLY) | O_DIRECTORY | O_CLOEXEC;
    if (m_openat2) {
        open_how how {};
        how.flags = uint64_t(openFlags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        const long fd = sysOpenat2(m_fd, relStr.c_str(), &how);
        if (fd < 0) {
            const int e = errno;
            setError(error, e, rel, e == ELOOP ? "refused: a symlink on the way" : "cannot open directory");
            return -1;
        }
        return int(fd);
    }
    // Fallback: one component at a time, never following a symlink.
    int dir = ::fcntl(m_fd, F_DUPFD_CLOEXEC, 0);
    size_t start = 0;
    while (dir >= 0 && start < relStr.size()) {
        const size_t slash = relStr.find('/', start);
        const std::string comp = relStr.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        const bool last = slash == std::string::npos;
        const int next
            = ::openat(dir, comp.c_str(), (last ? openFlags : O_PATH | O_DIRECTORY | O_CLOEXEC) | O_NOFOLLOW);
        const int e = errno;
        ::close(dir);
        if (next < 0) {
            setError(error, e, rel,
                     e == ELOOP || e == ENOTDIR ? "refused: a symlink on the way" : "cannot open directory");
            return -1;
        }
        dir = next;
        if (slash == std::string::npos)
            break;
        start = slash + 1;
    }
    return dir;
}

std::shared_ptr<const int> SafeRoot::parentDir(std::string_view rel, std::string *leaf, FsError *error) const
{
    std::string why;
    if (!isSafeRelativePath(rel, &why)) {
        setError(error, 0, rel, "refused: " + why);
        return nullptr;
    }
    const size_t slash = rel.rfind('/');
    *leaf = std::string(slash == std::string_view::npos ? rel : rel.substr(slash + 1));
    const std::string_view dirRel = slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
    if (m_dirCacheOn) {
        for (auto it = m_dirCache.rbegin(); it != m_dirCache.rend(); ++it) {
            if (it->rel == dirRel)
                return it->fd;
        }
    }
    const int fd = openDirectory(dirRel, error);
    if (fd < 0)
        return nullptr;
    std::shared_ptr<const int> shared(new int(fd), [](const int *f) {
        ::close(*f);
        delete f;
    });
    if (m_dirCacheOn) {
        if (m_dirCache.size() >= 4)
            m_dirCache.erase(m_dirCache.begin());
        m_dirCache.push_back({std::string(dirRel), shared});
    }
    return shared;
}

int SafeRoot::openParent(std::string_view rel, std::string *leaf, FsError *error) const
{
    std::string why;
    if (!isSafeRelativePath(rel, &why)) {
        setError(error, 0, rel, "refused: " + why);
        return -1;
    }
    const size_t slash = rel.rfind('/');
    *leaf = std::string(slash == std::string_view::npos ? rel : rel.substr(slash + 1));
    return openDirectory(slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash), error);
}

std::optional<FileState> SafeRoot::stat(std::string_view rel, FsError *error) const
{
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0) {
        if (error && error->code == ENOENT)
            return FileState {};
        return std::nullopt;
    }
    struct stat st
    {
    };
    const int rc = ::fstatat(dir, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW);
    const int e = errno;
    ::close(dir);
    if (rc != 0) {
        if (e == ENOENT)
            return FileState {};
        setError(error, e, rel, "cannot stat");
        return std::nullopt;
    }
    return stateFromStat(st);
}

std::optional<std::string> SafeRoot::readLink(std::string_view rel, FsError *error) const
{
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0)
        return std::nullopt;
    std::vector<char> buf(kMaxPath + 1);
    const ssize_t n = ::readlinkat(dir, leaf.c_str(), buf.data(), buf.size());
    const int e = errno;
    ::close(dir);
    if (n < 0 || size_t(n) >= buf.size()) {
        setError(error, n < 0 ? e : ENAMETOOLONG, rel, "cannot read symlink");
        return std::nullopt;
    }
    return std::string(buf.data(), size_t(n));
}

int SafeRoot::openRead(std::string_view rel, FsError *error) const
{
    constexpr int kReadFlags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (m_openat2) {
        // One call: the whole path resolved beneath the root, no symlink anywhere on it.
        std::string why;
        if (!isSafeRelativePath(rel, &why)) {
            setError(error, 0, rel, "refused: " + why);
            return -1;
        }
        const std::string relStr(rel);
        open_how how {};
        how.flags = uint64_t(kReadFlags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        const long fd = sysOpenat2(m_fd, relStr.c_str(), &how);
        if (fd < 0) {
            const int e = errno;
            setError(error, e, rel, e == ELOOP ? "refused: a symlink on the way" : "cannot open for reading");
            return -1;
        }
        return int(fd);
    }
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0)
        return -1;
    const int fd = ::openat(dir, leaf.c_str(), kReadFlags);
    const int e = errno;
    ::close(dir);
    if (fd < 0)
        setError(error, e, rel, "cannot open for reading");
    return fd;
}

SafeRoot::StagedFile::~StagedFile()
{
    if (m_fd >= 0)
        ::close(m_fd);
    if (!m_committed && m_dir)
        ::unlinkat(*m_dir, m_tmpName.c_str(), 0);
}

bool SafeRoot::StagedFile::write(const void *data, size_t size, FsError *error)
{
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(m_fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            setError(error, errno, m_rel, "cannot write");
            return false;
        }
        p += n;
        size -= size_t(n);
    }
    return true;
}

bool SafeRoot::StagedFile::commit(const FileState &expected, uint32_t mode, int64_t mtimeNs, FsError *error)
{
    // The file was created with the wanted mode when the umask let it through unchanged.
    if ((mode & 07777) != m_createdMode && ::fchmod(m_fd, mode & 07777) != 0) {
        setError(error, errno, m_rel, "cannot set mode");
        return false;
    }
    if (mtimeNs > 0) {
        const timespec times[2] = {{0, UTIME_OMIT}, {time_t(mtimeNs / 1000000000), long(mtimeNs % 1000000000)}};
        ::futimens(m_fd, times);
    }
    if (!expected.exists()) {
        // A new file: must not appear meanwhile.
        if (renameat2(dirFd(), m_tmpName.c_str(), dirFd(), m_leaf.c_str(), kRenameNoReplace) != 0) {
            const int e = errno;
            setError(error, e == EEXIST ? 0 : e, m_rel,
                     e == EEXIST ? "not written: the file appeared meanwhile"
                                 : "cannot move the staged file into place");
            return false;
        }
        m_committed = true;
        recordState();
        return true;
    }
    if (expected.type != EntryType::File && expected.type != EntryType::Symlink) {
        setError(error, 0, m_rel, "not written: a directory is in the way");
        return false;
    }
    // Swap atomically, then check that what was swapped out is what the caller saw.
    if (renameat2(dirFd(), m_tmpName.c_str(), dirFd(), m_leaf.c_str(), kRenameExchange) != 0) {
        const int e = errno;
        setError(error, e == ENOENT ? 0 : e, m_rel,
                 e == ENOENT ? "not written: the file was removed meanwhile"
                             : "cannot move the staged file into place");
        return false;
    }
    struct stat st
    {
    };
    if (::fstatat(dirFd(), m_tmpName.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
        && stateFromStat(st).sameIgnoringCtime(expected)) {
        ::unlinkat(dirFd(), m_tmpName.c_str(), 0);
        m_committed = true;
        recordState();
        return true;
    }
    // Changed meanwhile: put it back, keep ours out of sight.
    renameat2(dirFd(), m_tmpName.c_str(), dirFd(), m_leaf.c_str(), kRenameExchange);
    setError(error, 0, m_rel, "not written: the file changed since it was last seen");
    return false;
}

void SafeRoot::StagedFile::recordState()
{
    // The file just moved into place, through its still open descriptor (the rename changed its ctime).
    struct stat st
    {
    };
    if (::fstat(m_fd, &st) == 0)
        m_state = stateFromStat(st);
    ::close(m_fd);
    m_fd = -1;
}

namespace {

// The process umask, read without changing it (umask(2) would, for a moment, for every thread).
mode_t currentUmask()
{
    static const mode_t mask = [] {
        mode_t m = 07777; // unknown: no mode is ever taken for granted
        if (FILE *f = std::fopen("/proc/self/status", "re")) {
            char line[256];
            while (std::fgets(line, sizeof line, f)) {
                unsigned v = 0;
                if (std::sscanf(line, "Umask: %o", &v) == 1) {
                    m = mode_t(v);
                    break;
                }
            }
            std::fclose(f);
        }
        return m;
    }();
    return mask;
}

} // namespace

std::unique_ptr<SafeRoot::StagedFile> SafeRoot::beginWrite(std::string_view rel, FsError *error, uint32_t mode) const
{
    std::unique_ptr<StagedFile> f(new StagedFile);
    f->m_rel = std::string(rel);
    f->m_dir = parentDir(rel, &f->m_leaf, error);
    if (!f->m_dir)
        return nullptr;
    f->m_tmpName = stageName();
    // Created with its final permissions when the umask keeps them as they are, else private
    // until commit() sets them.
    const uint32_t wanted = mode & 0777;
    const bool asWanted
        = (mode & 07000) == 0 && (wanted & ~uint32_t(currentUmask())) == wanted && (wanted & 0600) == 0600;
    f->m_createdMode = asWanted ? wanted : 0600 & ~uint32_t(currentUmask());
    f->m_fd = ::openat(*f->m_dir, f->m_tmpName.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       asWanted ? wanted : 0600);
    if (f->m_fd < 0) {
        dropDirCache();
        setError(error, errno, rel, "cannot create the staged file");
        f->m_dir.reset(); // nothing to clean up
        return nullptr;
    }
    if (currentUmask() == 07777)
        f->m_createdMode = 0xffffffff; // unknown: commit() always sets the mode
    return f;
}

bool SafeRoot::makeDirectory(std::string_view rel, uint32_t mode, FsError *error, FileState *state) const
{
    std::string leaf;
    const auto dirRef = parentDir(rel, &leaf, error);
    if (!dirRef)
        return false;
    const int dir = *dirRef;
    int rc = ::mkdirat(dir, leaf.c_str(), mode & 07777);
    int e = errno;
    if (rc == 0 || e == EEXIST) {
        struct stat st
        {
        };
        const bool isDir = ::fstatat(dir, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        if (isDir && state)
            *state = stateFromStat(st);
        if (rc != 0 && isDir)
            rc = 0;
        else if (state && !isDir)
            *state = FileState {}; // not known: the caller looks again
    }
    if (rc != 0)
        dropDirCache();
    if (rc != 0)
        setError(error, e, rel, "cannot create directory");
    return rc == 0;
}

bool SafeRoot::symlinkStaysInside(std::string_view rel, std::string_view target)
{
    if (target.empty() || target.front() == '/')
        return false;
    // Depth of the link's directory, then walk the target lexically.
    long depth = 0;
    for (char c : rel)
        depth += c == '/' ? 1 : 0;
    // ".." only at the start: after a name, ".." would climb out of whatever that name is,
    // and a name may itself be a symlink ("d/up/.." with d/up -> ".." leaves the folder).
    bool descended = false;
    size_t start = 0;
    while (start <= target.size()) {
        const size_t slash = target.find('/', start);
        const std::string_view comp
            = target.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (comp == "..") {
            if (descended || --depth < 0)
                return false;
        } else if (!comp.empty() && comp != ".") {
            ++depth;
            descended = true;
        }
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return true;
}

bool SafeRoot::makeSymlink(std::string_view rel, const std::string &target, const FileState &expected,
                           FsError *error) const
{
    dropDirCache(); // the tree changes shape: resolve every directory afresh from here on
    if (!symlinkStaysInside(rel, target)) {
        setError(error, 0, rel, "refused: the symlink points outside the root");
        return false;
    }
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0)
        return false;
    const std::string tmp = stageName();
    bool ok = ::symlinkat(target.c_str(), dir, tmp.c_str()) == 0;
    if (!ok) {
        setError(error, errno, rel, "cannot create symlink");
    } else if (!expected.exists()) {
        ok = renameat2(dir, tmp.c_str(), dir, leaf.c_str(), kRenameNoReplace) == 0;
        if (!ok)
            setError(error, errno == EEXIST ? 0 : errno, rel, "not created: something appeared there meanwhile");
    } else if (renameat2(dir, tmp.c_str(), dir, leaf.c_str(), kRenameExchange) == 0) {
        struct stat st
        {
        };
        ok = ::fstatat(dir, tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && stateFromStat(st).sameIgnoringCtime(expected)
            && !S_ISDIR(st.st_mode);
        if (!ok) {
            renameat2(dir, tmp.c_str(), dir, leaf.c_str(), kRenameExchange);
            setError(error, 0, rel, "not replaced: it changed since it was last seen");
        }
    } else {
        ok = false;
        setError(error, errno, rel, "cannot replace with a symlink");
    }
    ::unlinkat(dir, tmp.c_str(), 0);
    ::close(dir);
    return ok;
}

bool SafeRoot::removeFile(std::string_view rel, const FileState &expected, FsError *error) const
{
    dropDirCache(); // the tree changes shape: resolve every directory afresh from here on
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0)
        return false;
    // Move it aside first, check it is what the caller saw, then unlink; else move it back.
    // The aside name is not a stage name: if this process dies in between, the file stays
    // visible (and is synced) instead of being cleaned up as an abandoned transfer.
    const std::string tmp = asideName();
    bool ok = renameat2(dir, leaf.c_str(), dir, tmp.c_str(), kRenameNoReplace) == 0;
    if (!ok) {
        const int e = errno;
        ::close(dir);
        if (e == ENOENT)
            return true; // already gone: the goal is reached
        setError(error, e, rel, "cannot remove");
        return false;
    }
    struct stat st
    {
    };
    ok = ::fstatat(dir, tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && stateFromStat(st).sameIgnoringCtime(expected)
        && !S_ISDIR(st.st_mode);
    if (ok) {
        ::unlinkat(dir, tmp.c_str(), 0);
    } else {
        if (renameat2(dir, tmp.c_str(), dir, leaf.c_str(), kRenameNoReplace) != 0) {
            // Something new took its place meanwhile: keep both, never lose one.
            const std::string keep = leaf + ".sync-conflict-kept";
            renameat2(dir, tmp.c_str(), dir, keep.c_str(), kRenameNoReplace);
        }
        setError(error, 0, rel, "not removed: it changed since it was last seen");
    }
    ::close(dir);
    return ok;
}

bool SafeRoot::removeDirectory(std::string_view rel, FsError *error) const
{
    dropDirCache(); // the tree changes shape: resolve every directory afresh from here on
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0)
        return false;
    const int rc = ::unlinkat(dir, leaf.c_str(), AT_REMOVEDIR);
    const int e = errno;
    ::close(dir);
    if (rc != 0 && e != ENOENT) {
        setError(error, e, rel, e == ENOTEMPTY ? "not removed: the directory is not empty" : "cannot remove directory");
        return false;
    }
    return true;
}

bool SafeRoot::setExecutable(std::string_view rel, bool executable, const FileState &expected, FsError *error) const
{
    std::string leaf;
    const int dir = openParent(rel, &leaf, error);
    if (dir < 0)
        return false;
    const int fd = ::openat(dir, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    const int e = errno;
    ::close(dir);
    if (fd < 0) {
        setError(error, e, rel, "cannot open to change mode");
        return false;
    }
    struct stat st
    {
    };
    bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && stateFromStat(st).sameAs(expected);
    if (!ok) {
        setError(error, 0, rel, "mode not changed: the file changed since it was last seen");
    } else {
        uint32_t mode = st.st_mode & 07777;
        mode = executable ? mode | ((mode & 0444) >> 2) : mode & ~0111u;
        ok = ::fchmod(fd, mode) == 0;
        if (!ok)
            setError(error, errno, rel, "cannot change mode");
    }
    ::close(fd);
    return ok;
}

bool SafeRoot::rename(std::string_view from, std::string_view to, const FileState &expected, FsError *error) const
{
    dropDirCache(); // the tree changes shape: resolve every directory afresh from here on
    std::string fromLeaf, toLeaf;
    const int fromDir = openParent(from, &fromLeaf, error);
    if (fromDir < 0)
        return false;
    const int toDir = openParent(to, &toLeaf, error);
    if (toDir < 0) {
        ::close(fromDir);
        return false;
    }
    struct stat st
    {
    };
    bool ok = ::fstatat(fromDir, fromLeaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && stateFromStat(st).sameAs(expected);
    if (!ok) {
        setError(error, 0, from, "not renamed: it changed since it was last seen");
    } else if (renameat2(fromDir, fromLeaf.c_str(), toDir, toLeaf.c_str(), kRenameNoReplace) != 0) {
        ok = false;
        setError(error, errno == EEXIST ? 0 : errno, to,
                 errno == EEXIST ? "not renamed: the target exists" : "cannot rename");
    }
    ::close(fromDir);
    ::close(toDir);
    return ok;
}

} // namespace iterdeck::sync
