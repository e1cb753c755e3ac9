#pragma once

// The receiving end of a sync (what iterdeck-agent runs): applies the source's operations
// beneath its root, refusing anything that would leave it. No Qt.

#include "channel.h"
#include "safefs.h"
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
    // Where the replica keeps its scan between runs (outside the root), so that a restart
    // re-hashes only what changed. Empty: none.
    void setIndexPath(const std::string &path) { m_indexPath = path; }
    // Serves one connection until the peer closes (returns 0) or a protocol error (returns 1,
    // after telling the peer with a Fatal frame when it can). `log` gets one line per problem.
    int serve(Channel &channel, const std::function<void(const std::string &)> &log);

private:
    bool reportChanges(Channel &ch, const std::function<void(const std::string &)> &log);
    bool sendFile(Channel &ch, uint32_t id, const std::string &path, const FileState &expected);
    void refreshWatches();

    SafeRoot &m_root;
    std::string m_indexPath;
    std::unique_ptr<Watcher> m_watcher;
    std::set<std::string> m_dirs; // directories known to exist (watched)
    std::map<std::string, FileState> m_ownWrites; // states this replica produced itself
};

} // namespace iterdeck::sync
