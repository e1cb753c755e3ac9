#pragma once
// The sandbox's object store: every API object by (resource, namespace, name), one global
// resourceVersion counter (as etcd's revision), a bounded history of changes for watches that
// resume from a resourceVersion, and watchers that get each change as a ready-to-send line.
// Single-threaded: used from the server's io_context only.
#include "sandbox/json.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace iterdeck::sandbox {

using ObjectPtr = std::shared_ptr<const Json>;

struct ObjectKey
{
    std::string ns;
    std::string name;
    auto operator<=>(const ObjectKey &) const = default;
};

enum class EventType { Added, Modified, Deleted };

struct StoreEvent
{
    std::uint64_t rv = 0;
    EventType type = EventType::Added;
    std::string resource; // "pods", "deployments.apps"
    ObjectPtr object; // new state (last state with the new RV for Deleted)
    ObjectPtr previous; // old state for Modified/Deleted
};

class Store
{
public:
    // Called after every change, synchronously (watch fan-out, controllers, persistence).
    using Listener = std::function<void(const StoreEvent &)>;

    std::uint64_t currentRv() const { return m_rv; }
    // The oldest resourceVersion a watch can resume from (older ones are "too old": 410 Expired).
    std::uint64_t oldestResumableRv() const;

    ObjectPtr get(const std::string &resource, const std::string &ns, const std::string &name) const;
    // Objects of a resource in key order (ns, name); ns empty = all namespaces.
    std::vector<ObjectPtr> list(const std::string &resource, const std::string &ns = {}) const;
    // Every resource name that has objects.
    std::vector<std::string> resources() const;
    const std::map<ObjectKey, ObjectPtr> *table(const std::string &resource) const;

    // Stores the object (setting metadata.resourceVersion to the next RV) and returns it.
    ObjectPtr put(const std::string &resource, Json object);
    // Removes it; the DELETED event carries the last state with a new resourceVersion.
    ObjectPtr remove(const std::string &resource, const std::string &ns, const std::string &name);

    // Changes after `rv`, oldest first, or nullopt when history no longer reaches back that far.
    std::optional<std::vector<const StoreEvent *>> eventsSince(std::uint64_t rv) const;

    // The compact JSON text of a stored object, made once per version (LIST and watch reuse it).
    const std::string &serialized(const ObjectPtr &object) const;

    int addListener(Listener listener);
    void removeListener(int id);

    // Persistence: the whole state as one JSON document, and back.
    Json snapshot() const;
    // The same document as text, built from the cached object texts (cheap to repeat).
    std::string snapshotText() const;
    void restore(const Json &snapshot);

    static constexpr std::size_t kHistory = 20000;
    // How many changes watches can resume from (kHistory by default; tests make it small to
    // force 410 Expired).
    void setHistoryLimit(std::size_t limit) { m_historyLimit = limit ? limit : 1; }

private:
    void record(StoreEvent event);

    std::map<std::string, std::map<ObjectKey, ObjectPtr>> m_objects;
    std::deque<StoreEvent> m_history;
    std::size_t m_historyLimit = kHistory;
    std::uint64_t m_rv = 1;
    std::uint64_t m_oldestRv = 1;
    std::map<int, Listener> m_listeners;
    mutable std::unordered_map<const Json *, std::pair<std::weak_ptr<const Json>, std::string>> m_text;
    mutable std::uint64_t m_textInserts = 0;
    int m_nextListener = 1;
};

std::string objectNamespace(const Json &o);
std::string objectName(const Json &o);
std::string objectUid(const Json &o);

} // namespace iterdeck::sandbox
