#include "sandbox/store.h"

namespace iterdeck::sandbox {

namespace {
std::string metaString(const Json &o, const char *key)
{
    auto m = o.find("metadata");
    if (m == o.end() || !m->is_object())
        return {};
    auto v = m->find(key);
    return v != m->end() && v->is_string() ? v->get<std::string>() : std::string();
}
} // namespace

std::string objectNamespace(const Json &o)
{
    return metaString(o, "namespace");
}
std::string objectName(const Json &o)
{
    return metaString(o, "name");
}
std::string objectUid(const Json &o)
{
    return metaString(o, "uid");
}

std::uint64_t Store::oldestResumableRv() const
{
    return m_oldestRv;
}

ObjectPtr Store::get(const std::string &resource, const std::string &ns, const std::string &name) const
{
    auto t = m_objects.find(resource);
    if (t == m_objects.end())
        return nullptr;
    auto it = t->second.find(ObjectKey {ns, name});
    return it == t->second.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::list(const std::string &resource, const std::string &ns) const
{
    std::vector<ObjectPtr> out;
    auto t = m_objects.find(resource);
    if (t == m_objects.end())
        return out;
    if (ns.empty()) {
        out.reserve(t->second.size());
        for (const auto &[k, v] : t->second)
            out.push_back(v);
        return out;
    }
    for (auto it = t->second.lower_bound(ObjectKey {ns, {}}); it != t->second.end() && it->first.ns == ns; ++it)
        out.push_back(it->second);
    return out;
}

std::vector<std::string> Store::resources() const
{
    std::vector<std::string> out;
    for (const auto &[r, t] : m_objects)
        if (!t.empty())
            out.push_back(r);
    return out;
}

const std::map<ObjectKey, ObjectPtr> *Store::table(const std::string &resource) const
{
    auto t = m_objects.find(resource);
    return t == m_objects.end() ? nullptr : &t->second;
}

ObjectPtr Store::put(const std::string &resource, Json object)
{
    ++m_rv;
    object["metadata"]["resourceVersion"] = std::to_string(m_rv);
    ObjectKey key {objectNamespace(object), objectName(object)};
    auto ptr = std::make_shared<const Json>(std::move(object));
    auto &slot = m_objects[resource][key];
    StoreEvent ev;
    ev.rv = m_rv;
    ev.type = slot ? EventType::Modified : EventType::Added;
    ev.resource = resource;
    ev.object = ptr;
    ev.previous = slot;
    slot = ptr;
    record(std::move(ev));
    return ptr;
}

ObjectPtr Store::remove(const std::string &resource, const std::string &ns, const std::string &name)
{
    auto t = m_objects.find(resource);
    if (t == m_objects.end())
        return nullptr;
    auto it = t->second.find(ObjectKey {ns, name});
    if (it == t->second.end())
        return nullptr;
    ++m_rv;
    Json last = *it->second;
    last["metadata"]["resourceVersion"] = std::to_string(m_rv);
    StoreEvent ev;
    ev.rv = m_rv;
    ev.type = EventType::Deleted;
    ev.resource = resource;
    ev.previous = it->second;
    ev.object = std::make_shared<const Json>(std::move(last));
    t->second.erase(it);
    auto out = ev.object;
    record(std::move(ev));
    return out;
}

void Store::record(StoreEvent event)
{
    m_history.push_back(std::move(event));
    while (m_history.size() > m_historyLimit) {
        m_oldestRv = m_history.front().rv;
        m_history.pop_front();
    }
    // Listeners may change the store (controllers post their work instead, but be safe):
    // copy the event out of the deque first.
    const StoreEvent ev = m_history.back();
    auto listeners = m_listeners;
    for (auto &[id, l] : listeners)
        if (m_listeners.count(id))
            l(ev);
}

std::optional<std::vector<const StoreEvent *>> Store::eventsSince(std::uint64_t rv) const
{
    if (rv < m_oldestRv)
        return std::nullopt;
    std::vector<const StoreEvent *> out;
    // History is sorted by rv: binary search for the first event after rv.
    auto it = std::upper_bound(m_history.begin(), m_history.end(), rv,
                               [](std::uint64_t v, const StoreEvent &e) { return v < e.rv; });
    for (; it != m_history.end(); ++it)
        out.push_back(&*it);
    return out;
}

const std::string &Store::serialized(const ObjectPtr &object) const
{
    // Now and then, forget the texts of objects nobody holds any more.
    if (++m_textInserts % 4096 == 0)
        for (auto it = m_text.begin(); it != m_text.end();)
            it = it->second.first.expired() ? m_text.erase(it) : std::next(it);
    auto &slot = m_text[object.get()];
    // The address may have been reused by a newer object: the weak pointer tells.
    if (slot.second.empty() || slot.first.lock() != object) {
        slot.first = object;
        slot.second = object->dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    return slot.second;
}

int Store::addListener(Listener listener)
{
    int id = m_nextListener++;
    m_listeners.emplace(id, std::move(listener));
    return id;
}

void Store::removeListener(int id)
{
    m_listeners.erase(id);
}

Json Store::snapshot() const
{
    Json objects = Json::object();
    for (const auto &[r, t] : m_objects) {
        Json arr = Json::array();
        for (const auto &[k, v] : t)
            arr.push_back(*v);
        if (!arr.empty())
            objects[r] = std::move(arr);
    }
    return Json {{"resourceVersion", m_rv}, {"objects", std::move(objects)}};
}

std::string Store::snapshotText() const
{
    std::string out = "{\"resourceVersion\":" + std::to_string(m_rv) + ",\"objects\":{";
    bool firstTable = true;
    for (const auto &[r, t] : m_objects) {
        if (t.empty())
            continue;
        out += (firstTable ? "\"" : ",\"") + r + "\":[";
        firstTable = false;
        bool first = true;
        for (const auto &[k, v] : t) {
            if (!first)
                out += ',';
            first = false;
            out += serialized(v);
        }
        out += ']';
    }
    return out + "}}";
}

void Store::restore(const Json &snapshot)
{
    m_objects.clear();
    m_history.clear();
    m_rv = snapshot.value("resourceVersion", std::uint64_t(1));
    m_oldestRv = m_rv;
    if (auto o = snapshot.find("objects"); o != snapshot.end() && o->is_object())
        for (const auto &[r, arr] : o->items())
            for (const auto &obj : arr)
                m_objects[r][ObjectKey {objectNamespace(obj), objectName(obj)}] = std::make_shared<const Json>(obj);
}

} // namespace iterdeck::sandbox
