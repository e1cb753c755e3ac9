#include "watcher.h"

#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>

#include <sys/inotify.h>
#include <unistd.h>

namespace iterdeck::sync {

namespace {

class InotifyWatcher final : public Watcher
{
public:
    InotifyWatcher(std::string root, int fd)
        : m_root(std::move(root))
        , m_fd(fd)
    { }
    ~InotifyWatcher() override { ::close(m_fd); }

    int fd() const override { return m_fd; }

    void setDirectories(const std::vector<std::string> &dirs) override
    {
        std::set<std::string> wanted(dirs.begin(), dirs.end());
        for (auto it = m_byPath.begin(); it != m_byPath.end();) {
            if (!wanted.count(it->first)) {
                ::inotify_rm_watch(m_fd, it->second);
                m_byWd.erase(it->second);
                it = m_byPath.erase(it);
            } else {
                ++it;
            }
        }
        m_unwatched.clear();
        for (const std::string &rel : wanted) {
            if (m_byPath.count(rel))
                continue;
            const std::string abs = rel.empty() ? m_root : m_root + '/' + rel;
            const int wd = ::inotify_add_watch(m_fd, abs.c_str(), kMask);
            if (wd >= 0) {
                // The same wd may come back for a directory that was renamed: remap it.
                auto old = m_byWd.find(wd);
                if (old != m_byWd.end())
                    m_byPath.erase(old->second);
                m_byWd[wd] = rel;
                m_byPath[rel] = wd;
            } else if (errno == ENOSPC) {
                m_unwatched.push_back(rel);
            }
        }
    }

    void readEvents(std::set<std::string> &dirty, bool &rescanAll, bool &rootGone) override
    {
        alignas(inotify_event) char buf[1 << 16];
        for (;;) {
            const ssize_t n = ::read(m_fd, buf, sizeof buf);
            if (n <= 0)
                return;
            for (char *q = buf; q < buf + n;) {
                auto *ev = reinterpret_cast<inotify_event *>(q);
                q += sizeof(inotify_event) + ev->len;
                if (ev->mask & IN_Q_OVERFLOW) {
                    rescanAll = true;
                    continue;
                }
                auto it = m_byWd.find(ev->wd);
                if (it == m_byWd.end())
                    continue;
                if (ev->mask & IN_IGNORED) {
                    m_byPath.erase(it->second);
                    m_byWd.erase(it);
                    continue;
                }
                if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && it->second.empty()) {
                    rootGone = true;
                    continue;
                }
                if (ev->len == 0)
                    continue;
                const std::string name(ev->name);
                if (name.compare(0, 16, ".iterdeck-stage-") == 0)
                    continue;
                dirty.insert(it->second.empty() ? name : it->second + '/' + name);
            }
        }
    }

    std::vector<std::string> unwatched() const override { return m_unwatched; }

private:
    static constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_MODIFY | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK;
    std::string m_root;
    int m_fd;
    std::unordered_map<int, std::string> m_byWd;
    std::map<std::string, int> m_byPath;
    std::vector<std::string> m_unwatched;
};

} // namespace

std::unique_ptr<Watcher> makeWatcher(const std::string &root, std::string *error)
{
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        if (error)
            *error = std::string("cannot watch the folder: ") + std::strerror(errno);
        return nullptr;
    }
    return std::make_unique<InotifyWatcher>(root, fd);
}

} // namespace iterdeck::sync
