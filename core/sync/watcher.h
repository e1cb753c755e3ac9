#pragma once

// Change notification for a tree, behind an interface: inotify on Linux today; FSEvents and
// ReadDirectoryChangesW fit the same shape (a pollable handle, directories to watch, events
// turned into dirty paths). No polling while idle. No Qt.

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace iterdeck::sync {

class Watcher
{
public:
    virtual ~Watcher() = default;
    // A descriptor that becomes readable when events are pending (for poll()).
    virtual int fd() const = 0;
    // Watches exactly these directories (relative to the root; "" is the root itself).
    // Ignored subtrees are simply not listed.
    virtual void setDirectories(const std::vector<std::string> &dirs) = 0;
    // Reads what is pending without blocking. Paths that changed go to `dirty`; `rescanAll`
    // is set when events were lost (queue overflow) and `rootGone` when the root itself was
    // removed or moved.
    virtual void readEvents(std::set<std::string> &dirty, bool &rescanAll, bool &rootGone) = 0;
    // Directories that could not be watched (e.g. the watch limit was reached).
    virtual std::vector<std::string> unwatched() const { return {}; }
};

std::unique_ptr<Watcher> makeWatcher(const std::string &root, std::string *error);

} // namespace iterdeck::sync
