#pragma once

// The receiving end of a sync (what iterdeck-agent runs): applies the source's operations
// beneath its root, refusing anything that would leave it. No Qt.

#include "channel.h"
#include "safefs.h"
#include "scanner.h"
#include "watcher.h"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace iterdeck::sync {

class Replica
{
public:
    explicit Replica(SafeRoot &root);
    ~Replica();
    Replica(const Replica &) = delete;
    Replica &operator=(const Replica &) = delete;
    // Where the replica keeps its scan between runs (outside the root), so that a restart
    // re-hashes only what changed. Empty: none.
    void setIndexPath(const std::string &path) { m_indexPath = path; }
    // Serves one connection until the peer closes (returns 0) or a protocol error (returns 1,
    // after telling the peer with a Fatal frame when it can). `log` gets one line per problem.
    // The index (the scan, kept up to date with every change made here) is saved when it ends.
    int serve(Channel &channel, const std::function<void(const std::string &)> &log);

private:
    struct EarlyCheck;
    // Compares the tree with the saved index (stat only) on a thread of its own, from the start
    // of the connection on, so that a source offering that index's digest gets its answer without
    // waiting for a walk. takeEarlyCheck waits for it; only the first frame after Hello may use
    // the outcome (any other operation may have changed the tree since).
    void startEarlyCheck();
    std::unique_ptr<EarlyCheck> takeEarlyCheck();
    int serveFrames(Channel &channel, const std::function<void(const std::string &)> &log);
    // Records the outcome of an operation at `path` in the index. `carried`: the content hash
    // the entry keeps when the operation left the content as it was.
    void noteInIndex(const std::string &path, const Entry &now, const Hash128 *hash);
    void forgetInIndex(const std::string &path); // the path and everything below it
    // The index as entries (it may still be only the saved file, when the tree matched it).
    void materializeIndex();
    bool reportChanges(Channel &ch, const std::function<void(const std::string &)> &log);
    bool sendFile(Channel &ch, uint32_t id, const std::string &path, const FileState &expected);
    void refreshWatches();

    SafeRoot &m_root;
    std::string m_indexPath;
    size_t m_opsSinceTrim = 0; // frames handled since memory was last given back
    std::unique_ptr<Watcher> m_watcher;
    std::set<std::string> m_dirs; // directories known to exist (watched)
    std::map<std::string, FileState> m_ownWrites; // states this replica produced itself
    Manifest m_index; // the tree as last scanned, with every change made since
    int64_t m_indexScanNs = 0;
    bool m_indexValid = false; // a scan was made this session
    bool m_indexDirty = false; // differs from the saved one
    SavedManifest m_savedIndex; // the tree as saved, not parsed yet (m_index is empty meanwhile)
    bool m_indexLazy = false;
    std::unique_ptr<EarlyCheck> m_earlyCheck;
};

} // namespace iterdeck::sync
