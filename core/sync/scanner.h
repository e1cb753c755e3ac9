#pragma once

// Walks a tree beneath a SafeRoot and describes every entry (no Qt).

#include "ignore.h"
#include "protocol.h"
#include "safefs.h"

#include <functional>
#include <map>
#include <string>

namespace iterdeck::sync {

// path -> entry, ordered so that a directory comes before its contents.
using Manifest = std::map<std::string, Entry>;

struct ScanOptions
{
    const IgnoreRules *ignore = nullptr; // nullptr: everything (the replica lists all it has)
    // Hashes known from an earlier scan; reused when the file's state is unchanged and
    // not "racy" (modified within 2 s of that scan), as git does for its index.
    const Manifest *previous = nullptr;
    int64_t previousScanNs = 0;
    // Remove staged files left by an interrupted transfer (the replica does this; they are
    // never visible as entries either way).
    bool removeStaleStaged = false;
    // False: describe files by their state only, leaving the hash zero (the caller knows it).
    bool hashFiles = true;
    // When set, a file whose hash cannot be reused is hashed only if this says so; the others
    // keep a zero hash ("unknown"), to be filled in by whoever reads the file anyway.
    std::function<bool(const Entry &)> needHash;
    // treeMatchesSaved: a folder whose state is the saved one (and not changed within the racy
    // window of the saved scan) is not listed; its saved entries are checked one by one instead.
    // Only for a saved manifest made with the same ignore rules, which depend on paths alone: the
    // entries a folder holds are the same, but which of them are ignored is not looked at again.
    bool trustUnchangedFolders = false;
};

// A zero hash means "not computed".
bool hashKnown(const Hash128 &h);

struct ScanStats
{
    uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0, hashedBytes = 0, skipped = 0;
};

// Scans `subtree` ("" for the whole root) into `out` (entries below it are replaced).
// Unreadable entries are reported through `warn` and skipped; a failure to open the
// root itself returns false.
bool scanTree(const SafeRoot &root, const std::string &subtree, const ScanOptions &options, Manifest &out,
              ScanStats *stats, const std::function<void(const std::string &)> &warn);

// Describes one path (not recursing). Missing paths give a Missing entry.
std::optional<Entry> describe(const SafeRoot &root, const std::string &rel, const ScanOptions &options, FsError *error);

int64_t nowNs();

// A digest of what a manifest says about the tree: every path with its type, and for files and
// symlinks their full state (mode included), content hash and target. A directory's state is left
// out: its times change with every entry made in it, and none of it plays a part in syncing.
Hash128 manifestDigest(const Manifest &manifest);

// A manifest kept on disk between runs (with the time of the scan that produced it), so that
// a restart re-hashes only files whose state changed. Damaged or foreign files load as empty.
// The file also holds the manifest's digest (manifestDigest), returned in `digest` when given.
// Creates `dir` and any missing parent, each private to this user (0700), as `mkdir -p` does;
// for the folders the index and state files live in. True when `dir` is a folder afterwards.
bool makeDirectories(const std::string &dir);

bool saveManifest(const std::string &path, const Manifest &manifest, int64_t scanNs, Hash128 *digest = nullptr);
bool loadManifest(const std::string &path, Manifest &manifest, int64_t *scanNs);

// A saved manifest as it is on disk, not parsed into entries.
struct SavedManifest
{
    std::vector<uint8_t> bytes;
    int64_t scanNs = 0;
    uint64_t count = 0;
    Hash128 digest {}; // zero when the file predates digests
    size_t entriesAt = 0;
};
bool readSavedManifest(const std::string &path, SavedManifest &out);
// Only the digest from a saved manifest's header (zero when the file has none or is not one).
Hash128 readSavedManifestDigest(const std::string &path);
bool parseSavedManifest(const SavedManifest &saved, Manifest &out);
// True when a stat-only walk finds the tree exactly as `saved` describes it: the same paths (after
// the ignore rules), each in the same state, every file with a known hash and not modified within
// the racy window of the saved scan. Builds no manifest; stops at the first difference.
// (options: ignore, removeStaleStaged and trustUnchangedFolders are used.)
// With trustUnchangedFolders and `refreshed`: when the tree matches but some folders had to be
// listed (their state changed, or was too recent to trust), `saved` is updated in place with the
// folder states read before listing them and this check's start as its scan time, and
// `*refreshed` set: the caller may write it back (writeSavedManifest) so that the next check
// lists fewer folders. The digest does not change.
bool treeMatchesSaved(const SafeRoot &root, const ScanOptions &options, SavedManifest &saved,
                      bool *refreshed = nullptr);
bool writeSavedManifest(const std::string &path, const SavedManifest &saved);

} // namespace iterdeck::sync
