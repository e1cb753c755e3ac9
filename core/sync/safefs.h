#pragma once

// File operations confined to a sync root. Plain C++20 and POSIX, no Qt.
//
// Every path is relative to the root and checked (no "..", ".", empty components, NUL,
// leading '/'); every directory on the way is opened beneath the root without following
// symlinks (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk where
// openat2 is missing). Files are written to a staged name and renamed into place, so no
// partial file is ever visible, and a replacement or deletion only happens when the
// target is still what the caller last saw: a change made meanwhile is never clobbered.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

namespace iterdeck::sync {

enum class EntryType : uint8_t { Missing = 0, File = 1, Directory = 2, Symlink = 3, Other = 4 };

// What a path was when last seen. Two observations are "the same" when type, size,
// mtime (ns), inode and ctime match.
struct FileState
{
    EntryType type = EntryType::Missing;
    uint64_t size = 0;
    int64_t mtimeNs = 0;
    int64_t ctimeNs = 0;
    uint64_t inode = 0;
    uint32_t mode = 0; // permission bits

    bool exists() const { return type != EntryType::Missing; }
    bool executable() const { return (mode & 0111) != 0; }
    bool sameAs(const FileState &o) const
    {
        return type == o.type && size == o.size && mtimeNs == o.mtimeNs && inode == o.inode && ctimeNs == o.ctimeNs;
    }
    // For checks after a rename, which itself updates ctime.
    bool sameIgnoringCtime(const FileState &o) const
    {
        return type == o.type && size == o.size && mtimeNs == o.mtimeNs && inode == o.inode && mode == o.mode;
    }
};

struct FsError
{
    int code = 0; // errno, or 0 for a refused path / a detected change
    std::string message; // complete, human-readable: "a/b: refused: path contains \"..\""
    bool refused = false; // the safety rules refused it (a bad path, a symlink on the way)
};

// True when `rel` may be used beneath a root; otherwise sets `why`.
bool isSafeRelativePath(std::string_view rel, std::string *why = nullptr);

class SafeRoot
{
public:
    ~SafeRoot();
    SafeRoot(const SafeRoot &) = delete;
    SafeRoot &operator=(const SafeRoot &) = delete;

    // Opens an existing directory as the root.
    static std::unique_ptr<SafeRoot> open(const std::string &path, FsError *error);

    const std::string &path() const { return m_path; }
    int fd() const { return m_fd; }
    bool usesOpenat2() const { return m_openat2; }

    // The state of `rel` (symlinks are not followed). Missing is not an error.
    std::optional<FileState> stat(std::string_view rel, FsError *error) const;
    std::optional<std::string> readLink(std::string_view rel, FsError *error) const;
    // Opens a directory beneath the root for listing ("" is the root). Returns -1 on error.
    int openDirectoryForReading(std::string_view rel, FsError *error) const { return openDirectory(rel, error, false); }
    // Opens a regular file beneath the root for reading (O_NOFOLLOW). Returns -1 on error.
    int openRead(std::string_view rel, FsError *error) const;

    // With the cache on, beginWrite() and makeDirectory() reuse the directories they opened
    // for the last few paths (each was opened beneath the root, as always) instead of resolving
    // them again. The caller bounds how long that lasts with dropDirCache(): the replica drops it
    // whenever it waits for input, so a directory is reused only within one burst of operations.
    // Removals, renames and symlinks drop it themselves.
    void setDirCache(bool on)
    {
        m_dirCacheOn = on;
        dropDirCache();
    }
    void dropDirCache() const { m_dirCache.clear(); }

    // A file being written to a staged name in the target's directory.
    class StagedFile
    {
    public:
        ~StagedFile(); // removes the staged file unless committed
        bool write(const void *data, size_t size, FsError *error);
        int fd() const { return m_fd; }
        // Sets the mode and moves the file into place, but only if the target is still
        // `expected` (Missing: it must not exist). On a mismatch nothing changes, returns
        // false with code 0 and a message saying the target changed.
        bool commit(const FileState &expected, uint32_t mode, int64_t mtimeNs, FsError *error);
        // After a successful commit: the state of the file now in place.
        const FileState &committedState() const { return m_state; }

    private:
        void recordState();
        FileState m_state;
        friend class SafeRoot;
        StagedFile() = default;
        int dirFd() const { return m_dir ? *m_dir : -1; }
        std::shared_ptr<const int> m_dir;
        int m_fd = -1;
        std::string m_tmpName;
        std::string m_leaf;
        std::string m_rel;
        uint32_t m_createdMode = 0600;
        bool m_committed = false;
    };
    // `mode` is the mode commit() will set: the staged file is created with it when the umask
    // leaves it unchanged, which saves the commit a chmod.
    std::unique_ptr<StagedFile> beginWrite(std::string_view rel, FsError *error, uint32_t mode = 0600) const;

    // Creates a directory (parents must exist). An existing directory is fine. `state`, when
    // given, receives the directory's state (Missing when it could not be seen).
    bool makeDirectory(std::string_view rel, uint32_t mode, FsError *error, FileState *state = nullptr) const;
    // Creates a symlink in place of `expected`. `target` must stay inside the root.
    bool makeSymlink(std::string_view rel, const std::string &target, const FileState &expected, FsError *error) const;
    // Removes a file or symlink, only if it is still `expected`.
    bool removeFile(std::string_view rel, const FileState &expected, FsError *error) const;
    // Removes an empty directory. A non-empty one is an error (ENOTEMPTY).
    bool removeDirectory(std::string_view rel, FsError *error) const;
    // Sets or clears the executable bits of a regular file that is still `expected`.
    bool setExecutable(std::string_view rel, bool executable, const FileState &expected, FsError *error) const;
    // Renames `from` to `to` (which must not exist), only if `from` is still `expected`.
    bool rename(std::string_view from, std::string_view to, const FileState &expected, FsError *error) const;

    // True when a symlink at `rel` pointing to `target` resolves inside the root (lexically).
    static bool symlinkStaysInside(std::string_view rel, std::string_view target);

private:
    SafeRoot() = default;
    // Opens the directory holding `rel` and returns its fd (caller closes), leaf in `leaf`.
    int openParent(std::string_view rel, std::string *leaf, FsError *error) const;
    int openDirectory(std::string_view rel, FsError *error, bool pathOnly = true) const;
    // The same as openParent, shared, and from the cache when it is on.
    std::shared_ptr<const int> parentDir(std::string_view rel, std::string *leaf, FsError *error) const;
    struct CachedDir
    {
        std::string rel;
        std::shared_ptr<const int> fd;
    };
    mutable std::vector<CachedDir> m_dirCache; // most recently opened last
    bool m_dirCacheOn = false;

    std::string m_path;
    int m_fd = -1;
    bool m_openat2 = true;
};

FileState stateFromStat(const struct stat &st);

} // namespace iterdeck::sync
