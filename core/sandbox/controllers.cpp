// The control loops of the sandbox: pods handed to the runtime, deployments -> replicasets ->
// pods, statefulsets, service endpoints, namespace deletion, owner-reference garbage
// collection, HPA bounds and PVC binding. Work is queued by key and run after the change that
// caused it, so a burst of changes costs one pass.
#include "sandbox/api_p.h"

#include <algorithm>
#include <cmath>

namespace iterdeck::sandbox {

namespace {

int intAt(const Json &o, std::initializer_list<const char *> path, int fallback = 0)
{
    const Json &v = jsonAt(o, path);
    return v.is_number_integer() ? v.get<int>() : fallback;
}

std::string strAt(const Json &o, std::initializer_list<const char *> path)
{
    const Json &v = jsonAt(o, path);
    return v.is_string() ? v.get<std::string>() : std::string();
}

bool terminating(const Json &o)
{
    return jsonAt(o, {"metadata", "deletionTimestamp"}).is_string();
}

const Json *controllerRef(const Json &o)
{
    const Json &refs = jsonAt(o, {"metadata", "ownerReferences"});
    if (refs.is_array())
        for (const auto &r : refs)
            if (r.value("controller", false))
                return &r;
    return nullptr;
}

bool ownedBy(const Json &o, const std::string &uid)
{
    const Json *r = controllerRef(o);
    return r && r->value("uid", "") == uid;
}

bool podReady(const Json &pod)
{
    const Json &conds = jsonAt(pod, {"status", "conditions"});
    if (conds.is_array())
        for (const auto &c : conds)
            if (c.value("type", "") == "Ready")
                return c.value("status", "") == "True";
    return false;
}

bool podActive(const Json &pod)
{
    std::string phase = strAt(pod, {"status", "phase"});
    return !terminating(pod) && phase != "Succeeded" && phase != "Failed";
}

Json ownerRef(const Json &owner, const std::string &apiVersion, const std::string &kind)
{
    return Json {{"apiVersion", apiVersion}, {"kind", kind},       {"name", objectName(owner)},
                 {"uid", objectUid(owner)},  {"controller", true}, {"blockOwnerDeletion", true}};
}

// A short stable hash, spelled like Kubernetes' pod-template-hash (safe alphanumerics).
std::string templateHash(const Json &tpl)
{
    std::uint32_t h = 2166136261u;
    for (unsigned char c : tpl.dump()) {
        h ^= c;
        h *= 16777619u;
    }
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::string out;
    for (int i = 0; i < 10; ++i) {
        out += alphabet[h % 27];
        h = h / 27 + (h << 7) + std::uint32_t(i);
    }
    return out;
}

int resolveIntOrPercent(const Json &v, int total, bool roundUp)
{
    if (v.is_number_integer())
        return v.get<int>();
    if (v.is_string()) {
        std::string s = v.get<std::string>();
        if (!s.empty() && s.back() == '%') {
            double pct = std::atof(s.c_str()) / 100.0 * total;
            return roundUp ? int(std::ceil(pct)) : int(std::floor(pct));
        }
        return std::atoi(s.c_str());
    }
    return 0;
}

Json condition(const std::string &type, bool status, const std::string &reason, const std::string &message,
               const Json *previous)
{
    std::string now = nowRfc3339();
    Json c = {{"type", type},          {"status", status ? "True" : "False"},
              {"reason", reason},      {"message", message},
              {"lastUpdateTime", now}, {"lastTransitionTime", now}};
    if (previous && previous->is_array())
        for (const auto &p : *previous)
            if (p.value("type", "") == type) {
                if (p.value("status", "") == c["status"])
                    c["lastTransitionTime"] = p.value("lastTransitionTime", now);
                if (p.value("status", "") == c["status"] && p.value("reason", "") == reason
                    && p.value("message", "") == message)
                    c["lastUpdateTime"] = p.value("lastUpdateTime", now);
            }
    return c;
}

} // namespace

void Api::schedule(const std::string &what)
{
    m_queue.insert(what);
    if (!m_queuePosted) {
        m_queuePosted = true;
        boost::asio::post(m_io, [this] { runQueue(); });
    }
}

void Api::runQueue()
{
    m_queuePosted = false;
    // Work created while running goes into the next pass.
    auto queue = std::move(m_queue);
    m_queue.clear();
    for (const auto &item : queue) {
        if (m_shuttingDown)
            return;
        auto s1 = item.find('/');
        auto s2 = item.find('/', s1 + 1);
        std::string kind = item.substr(0, s1);
        std::string ns = item.substr(s1 + 1, s2 - s1 - 1);
        std::string name = item.substr(s2 + 1);
        if (kind == "deploy")
            reconcileDeployment(ns, name);
        else if (kind == "rs")
            reconcileReplicaSet(ns, name);
        else if (kind == "sts")
            reconcileStatefulSet(ns, name);
        else if (kind == "ep")
            reconcileEndpoints(ns, name);
        else if (kind == "ns")
            reconcileNamespace(name);
        else if (kind == "hpa")
            reconcileHpa(ns, name);
        else if (kind == "pvc")
            reconcilePvc(ns, name);
        else if (kind == "pod")
            reconcilePod(ns, name);
        else if (kind == "gc")
            collectGarbage(name, ns);
    }
}

void Api::onStoreEvent(const StoreEvent &e)
{
    fanOutWatch(e);
    if (m_shuttingDown)
        return;
    const Json &o = *e.object;
    std::string ns = objectNamespace(o), name = objectName(o);
    const std::string &r = e.resource;
    if (e.type == EventType::Deleted) {
        schedule("gc/" + ns + "/" + objectUid(o));
        if (!ns.empty())
            if (auto nsObj = m_store.get("namespaces", "", ns); nsObj && terminating(*nsObj))
                schedule("ns//" + ns);
    }
    if (r == "deployments.apps")
        schedule("deploy/" + ns + "/" + name);
    else if (r == "replicasets.apps") {
        schedule("rs/" + ns + "/" + name);
        if (const Json *ref = controllerRef(o); ref && ref->value("kind", "") == "Deployment")
            schedule("deploy/" + ns + "/" + ref->value("name", ""));
    } else if (r == "statefulsets.apps")
        schedule("sts/" + ns + "/" + name);
    else if (r == "services")
        schedule("ep/" + ns + "/" + name);
    else if (r == "horizontalpodautoscalers.autoscaling")
        schedule("hpa/" + ns + "/" + name);
    else if (r == "persistentvolumeclaims" && e.type != EventType::Deleted)
        schedule("pvc/" + ns + "/" + name);
    else if (r == "namespaces" && e.type == EventType::Added)
        schedule("ns//" + name);
    else if (r == "namespaces" && terminating(o))
        schedule("ns//" + name);
    else if (r == "pods") {
        if (e.type == EventType::Deleted)
            m_podsByUid.erase(objectUid(o));
        else
            schedule("pod/" + ns + "/" + name);
        for (const Json *v : {e.object.get(), e.previous.get()}) {
            if (!v)
                continue;
            if (const Json *ref = controllerRef(*v)) {
                std::string kind = ref->value("kind", "");
                if (kind == "ReplicaSet") {
                    schedule("rs/" + ns + "/" + ref->value("name", ""));
                    // A Recreate rollout waits for the last old pod to be gone: its deletion may
                    // not change the replica set's status (already 0), so tell the deployment.
                    if (e.type == EventType::Deleted) {
                        if (auto rs = m_store.get("replicasets.apps", ns, ref->value("name", ""))) {
                            if (const Json *owner = controllerRef(*rs);
                                owner && owner->value("kind", "") == "Deployment")
                                schedule("deploy/" + ns + "/" + owner->value("name", ""));
                        }
                    }
                } else if (kind == "StatefulSet")
                    schedule("sts/" + ns + "/" + ref->value("name", ""));
            }
        }
        // Endpoints of the services whose selector may pick this pod.
        for (const auto &svc : m_store.list("services", ns))
            schedule("ep/" + ns + "/" + objectName(*svc));
    }
}

void Api::putIfChanged(const ResourceType &t, const ObjectPtr &old, Json updated)
{
    if (old && *old == updated)
        return;
    m_store.put(t.qualified(), std::move(updated));
}

// ---- pods ----------------------------------------------------------------------------------

void Api::reconcilePod(const std::string &ns, const std::string &name)
{
    auto pod = m_store.get("pods", ns, name);
    if (!pod || terminating(*pod))
        return;
    std::string uid = objectUid(*pod);
    m_podsByUid[uid] = {ns, name};
    if (!jsonAt(*pod, {"spec", "nodeName"}).is_string()) {
        // The scheduler's part: bind to the sandbox's only node.
        Json o = *pod;
        o["spec"]["nodeName"] = "sandbox";
        o["status"]["conditions"] = Json::array({condition("PodScheduled", true, "", "", nullptr)});
        o["status"]["conditions"][0].erase("lastUpdateTime");
        o["status"]["conditions"][0].erase("reason");
        o["status"]["conditions"][0].erase("message");
        o["status"]["conditions"][0]["lastProbeTime"] = nullptr;
        m_store.put("pods", std::move(o)); // the runtime reports the Scheduled event
        return; // the MODIFIED event brings us back here
    }
    if (!m_startedPods.count(uid)) {
        m_startedPods.insert(uid);
        m_runtime.startPod(*pod);
    }
}

void Api::onPodStatus(const std::string &uid, const Json &status)
{
    auto it = m_podsByUid.find(uid);
    if (it == m_podsByUid.end())
        return;
    auto pod = m_store.get("pods", it->second.first, it->second.second);
    if (!pod || objectUid(*pod) != uid)
        return;
    Json o = *pod;
    o["status"] = status;
    putIfChanged(*findResourceByQualified("pods"), pod, std::move(o));
}

void Api::onPodEvent(const std::string &uid, const RuntimeEvent &event)
{
    auto it = m_podsByUid.find(uid);
    if (it == m_podsByUid.end())
        return;
    auto pod = m_store.get("pods", it->second.first, it->second.second);
    if (pod && objectUid(*pod) == uid)
        recordEvent(*pod, event.type, event.reason, event.message, event.fieldPath, "kubelet");
}

void Api::recordEvent(const Json &involved, const std::string &type, const std::string &reason,
                      const std::string &message, const std::string &fieldPath, const std::string &component)
{
    const ResourceType *t = findResourceByKind(involved.value("apiVersion", ""), involved.value("kind", ""));
    std::string ns = objectNamespace(involved), name = objectName(involved), uid = objectUid(involved);
    if (!t || ns.empty())
        return;
    std::uint32_t h = 2166136261u;
    for (unsigned char c : uid + "\n" + reason + "\n" + message + "\n" + fieldPath) {
        h ^= c;
        h *= 16777619u;
    }
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, ".%08x", h);
    std::string eventName = name + suffix;
    std::string now = nowRfc3339();
    const ResourceType &events = *findResourceByQualified("events");
    if (auto old = m_store.get("events", ns, eventName)) {
        Json o = *old;
        o["count"] = o.value("count", 1) + 1;
        o["lastTimestamp"] = now;
        m_store.put("events", std::move(o));
        return;
    }
    Json ref = {{"kind", t->kind},
                {"namespace", ns},
                {"name", name},
                {"uid", uid},
                {"apiVersion", t->apiVersion()},
                {"resourceVersion", jsonAt(involved, {"metadata", "resourceVersion"})}};
    if (!fieldPath.empty())
        ref["fieldPath"] = fieldPath;
    createObject(events,
                 Json {{"apiVersion", "v1"},
                       {"kind", "Event"},
                       {"metadata", {{"name", eventName}}},
                       {"involvedObject", ref},
                       {"reason", reason},
                       {"message", message},
                       {"type", type},
                       {"source", {{"component", component}, {"host", "sandbox"}}},
                       {"firstTimestamp", now},
                       {"lastTimestamp", now},
                       {"count", 1},
                       {"reportingComponent", component},
                       {"reportingInstance", "sandbox"}},
                 ns);
}

void Api::startExistingPods()
{
    for (const auto &pod : m_store.list("pods")) {
        if (terminating(*pod)) {
            m_store.remove("pods", objectNamespace(*pod), objectName(*pod));
            continue;
        }
        schedule("pod/" + objectNamespace(*pod) + "/" + objectName(*pod));
    }
    for (const auto &ns : m_store.list("namespaces"))
        schedule("ns//" + objectName(*ns));
}

void Api::removePodNow(const std::string &ns, const std::string &name)
{
    deleteObject(*findResourceByQualified("pods"), ns, name, Json {{"gracePeriodSeconds", 0}});
}

// ---- replicasets -------------------------------------------------------------------------

void Api::reconcileReplicaSet(const std::string &ns, const std::string &name)
{
    auto rs = m_store.get("replicasets.apps", ns, name);
    if (!rs || terminating(*rs))
        return;
    std::string uid = objectUid(*rs);
    std::vector<ObjectPtr> pods;
    for (const auto &p : m_store.list("pods", ns))
        if (ownedBy(*p, uid) && podActive(*p))
            pods.push_back(p);
    int want = intAt(*rs, {"spec", "replicas"}, 1);
    int have = int(pods.size());
    const ResourceType &podType = *findResourceByQualified("pods");
    if (have < want) {
        const Json &tpl = jsonAt(*rs, {"spec", "template"});
        for (int i = have; i < want; ++i) {
            Json pod = {{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", tpl.value("metadata", Json::object())},
                        {"spec", tpl.value("spec", Json::object())}};
            pod["metadata"]["generateName"] = name + "-";
            pod["metadata"].erase("name");
            pod["metadata"]["ownerReferences"] = Json::array({ownerRef(*rs, "apps/v1", "ReplicaSet")});
            createObject(podType, std::move(pod), ns);
        }
    } else if (have > want) {
        // Remove the least useful first: not ready, then the youngest.
        std::sort(pods.begin(), pods.end(), [](const ObjectPtr &a, const ObjectPtr &b) {
            bool ra = podReady(*a), rb = podReady(*b);
            if (ra != rb)
                return !ra;
            return strAt(*a, {"metadata", "creationTimestamp"}) > strAt(*b, {"metadata", "creationTimestamp"});
        });
        for (int i = 0; i < have - want; ++i)
            deleteObject(podType, ns, objectName(*pods[std::size_t(i)]), Json::object());
        pods.erase(pods.begin(), pods.begin() + (have - want));
    }
    int ready = 0;
    for (const auto &p : pods)
        if (podReady(*p))
            ++ready;
    int replicas = 0;
    for (const auto &p : m_store.list("pods", ns))
        if (ownedBy(*p, uid) && podActive(*p))
            ++replicas;
    auto cur = m_store.get("replicasets.apps", ns, name);
    if (!cur)
        return;
    Json o = *cur;
    Json status = {{"replicas", replicas},
                   {"fullyLabeledReplicas", replicas},
                   {"readyReplicas", ready},
                   {"availableReplicas", ready},
                   {"observedGeneration", intAt(*cur, {"metadata", "generation"}, 1)}};
    if (ready == 0)
        status.erase("readyReplicas"), status.erase("availableReplicas");
    if (replicas == 0)
        status.erase("fullyLabeledReplicas");
    o["status"] = status;
    putIfChanged(*findResourceByQualified("replicasets.apps"), cur, std::move(o));
}

// ---- deployments -------------------------------------------------------------------------

void Api::reconcileDeployment(const std::string &ns, const std::string &name)
{
    const ResourceType &rsType = *findResourceByQualified("replicasets.apps");
    const ResourceType &dType = *findResourceByQualified("deployments.apps");
    auto d = m_store.get("deployments.apps", ns, name);
    if (!d || terminating(*d))
        return;
    std::string uid = objectUid(*d);
    int replicas = intAt(*d, {"spec", "replicas"}, 1);
    Json tpl = jsonAt(*d, {"spec", "template"});
    std::string hash = templateHash(tpl);
    std::vector<ObjectPtr> owned;
    ObjectPtr newRs;
    int maxRevision = 0;
    for (const auto &rs : m_store.list("replicasets.apps", ns)) {
        if (!ownedBy(*rs, uid))
            continue;
        owned.push_back(rs);
        maxRevision
            = std::max(maxRevision,
                       std::atoi(strAt(*rs, {"metadata", "annotations", "deployment.kubernetes.io/revision"}).c_str()));
        if (strAt(*rs, {"metadata", "labels", "pod-template-hash"}) == hash)
            newRs = rs;
    }
    bool created = false;
    std::string revision;
    if (!newRs) {
        Json rs = {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}};
        Json labels
            = jsonAt(tpl, {"metadata", "labels"}).is_object() ? jsonAt(tpl, {"metadata", "labels"}) : Json::object();
        labels["pod-template-hash"] = hash;
        rs["metadata"] = {{"name", name + "-" + hash},
                          {"labels", labels},
                          {"annotations",
                           {{"deployment.kubernetes.io/revision", std::to_string(maxRevision + 1)},
                            {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)}}},
                          {"ownerReferences", Json::array({ownerRef(*d, "apps/v1", "Deployment")})}};
        Json sel = jsonAt(*d, {"spec", "selector"});
        sel["matchLabels"]["pod-template-hash"] = hash;
        Json rsTpl = tpl;
        rsTpl["metadata"]["labels"] = labels;
        rs["spec"] = {{"replicas", 0}, {"selector", sel}, {"template", rsTpl}};
        auto res = createObject(rsType, std::move(rs), ns);
        if (auto *p = std::get_if<ObjectPtr>(&res)) {
            newRs = *p;
            owned.push_back(newRs);
            created = true;
        } else {
            return;
        }
    }
    revision = strAt(*newRs, {"metadata", "annotations", "deployment.kubernetes.io/revision"});
    std::vector<ObjectPtr> olds;
    for (const auto &rs : owned)
        if (rs != newRs && objectName(*rs) != objectName(*newRs))
            olds.push_back(rs);
    auto scaleRs = [&](const ObjectPtr &rs, int to) {
        if (intAt(*rs, {"spec", "replicas"}) == to)
            return;
        Json o = *rs;
        o["spec"]["replicas"] = to;
        o["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = std::to_string(replicas);
        updateObject(rsType, std::move(o), ns, objectName(*rs), "");
    };
    std::string strategy = strAt(*d, {"spec", "strategy", "type"});
    int oldSpecTotal = 0, oldPods = 0;
    for (const auto &rs : olds) {
        oldSpecTotal += intAt(*rs, {"spec", "replicas"});
        oldPods += intAt(*rs, {"status", "replicas"});
    }
    int newSpec = intAt(*newRs, {"spec", "replicas"});
    if (strategy == "Recreate") {
        for (const auto &rs : olds)
            scaleRs(rs, 0);
        // New pods only once every old one is gone.
        bool oldGone = oldPods == 0;
        for (const auto &p : m_store.list("pods", ns))
            for (const auto &rs : olds)
                if (ownedBy(*p, objectUid(*rs)))
                    oldGone = false;
        if (oldGone)
            scaleRs(newRs, replicas);
    } else {
        const Json &ru = jsonAt(*d, {"spec", "strategy", "rollingUpdate"});
        int maxSurge = resolveIntOrPercent(jsonAt(ru, {"maxSurge"}), replicas, true);
        int maxUnavailable = resolveIntOrPercent(jsonAt(ru, {"maxUnavailable"}), replicas, false);
        if (maxSurge == 0 && maxUnavailable == 0)
            maxUnavailable = 1;
        if (oldSpecTotal == 0) {
            scaleRs(newRs, replicas);
        } else {
            int total = oldSpecTotal + newSpec;
            int allowed = replicas + maxSurge - total;
            int newWant = newSpec;
            if (newSpec < replicas && allowed > 0)
                newWant = std::min(replicas, newSpec + allowed);
            if (newWant > replicas)
                newWant = replicas;
            scaleRs(newRs, newWant);
            // Scale down old replica sets as the deployment controller does: first unhealthy
            // replicas within what availability allows, then available ones down to minAvailable.
            auto cur = [&](const ObjectPtr &rs) { return m_store.get("replicasets.apps", ns, objectName(*rs)); };
            int minAvailable = replicas - maxUnavailable;
            int allPods = 0;
            for (const auto &rs : owned)
                if (auto c = cur(rs))
                    allPods += intAt(*c, {"spec", "replicas"});
            auto nrs = cur(newRs);
            int newUnavailable
                = std::max(0, intAt(*nrs, {"spec", "replicas"}) - intAt(*nrs, {"status", "availableReplicas"}));
            int maxScaledDown = allPods - minAvailable - newUnavailable;
            std::vector<ObjectPtr> sorted = olds;
            std::sort(sorted.begin(), sorted.end(), [](const ObjectPtr &a, const ObjectPtr &b) {
                return strAt(*a, {"metadata", "creationTimestamp"}) < strAt(*b, {"metadata", "creationTimestamp"});
            });
            if (maxScaledDown > 0) {
                for (const auto &rs : sorted) {
                    auto c = cur(rs);
                    int spec = intAt(*c, {"spec", "replicas"});
                    int unhealthy = spec - std::min(spec, intAt(*c, {"status", "availableReplicas"}));
                    int remove = std::min(maxScaledDown, unhealthy);
                    if (remove > 0) {
                        scaleRs(c, spec - remove);
                        maxScaledDown -= remove;
                    }
                }
                int totalAvailable = 0;
                for (const auto &rs : owned)
                    if (auto c = cur(rs))
                        totalAvailable
                            += std::min(intAt(*c, {"spec", "replicas"}), intAt(*c, {"status", "availableReplicas"}));
                int scaleDown = totalAvailable - minAvailable;
                for (const auto &rs : sorted) {
                    if (scaleDown <= 0)
                        break;
                    auto c = cur(rs);
                    int spec = intAt(*c, {"spec", "replicas"});
                    int remove = std::min(spec, scaleDown);
                    if (remove > 0) {
                        scaleRs(c, spec - remove);
                        scaleDown -= remove;
                    }
                }
            }
        }
    }
    // Old replica sets beyond the history limit, once empty.
    int historyLimit = intAt(*d, {"spec", "revisionHistoryLimit"}, 10);
    std::vector<ObjectPtr> emptyOld;
    for (const auto &rs : olds)
        if (auto cur = m_store.get("replicasets.apps", ns, objectName(*rs));
            cur && intAt(*cur, {"spec", "replicas"}) == 0 && intAt(*cur, {"status", "replicas"}) == 0)
            emptyOld.push_back(cur);
    if (int(emptyOld.size()) > historyLimit) {
        std::sort(emptyOld.begin(), emptyOld.end(), [](const ObjectPtr &a, const ObjectPtr &b) {
            return std::atoi(strAt(*a, {"metadata", "annotations", "deployment.kubernetes.io/revision"}).c_str())
                < std::atoi(strAt(*b, {"metadata", "annotations", "deployment.kubernetes.io/revision"}).c_str());
        });
        for (std::size_t i = 0; i + std::size_t(historyLimit) < emptyOld.size(); ++i)
            deleteObject(rsType, ns, objectName(*emptyOld[i]), Json::object());
    }

    // Status from the replica sets as they are now.
    int statusReplicas = 0, ready = 0, available = 0, updated = 0;
    for (const auto &rs : m_store.list("replicasets.apps", ns)) {
        if (!ownedBy(*rs, uid))
            continue;
        statusReplicas += intAt(*rs, {"status", "replicas"});
        ready += intAt(*rs, {"status", "readyReplicas"});
        available += intAt(*rs, {"status", "availableReplicas"});
        if (objectName(*rs) == objectName(*newRs))
            updated = intAt(*rs, {"status", "replicas"});
    }
    auto cur = m_store.get("deployments.apps", ns, name);
    if (!cur)
        return;
    Json o = *cur;
    const Json prevConds = jsonAt(*cur, {"status", "conditions"});
    int maxUnavailable = strategy == "Recreate"
        ? replicas
        : resolveIntOrPercent(jsonAt(*cur, {"spec", "strategy", "rollingUpdate", "maxUnavailable"}), replicas, false);
    bool availableOk = available >= replicas - maxUnavailable;
    bool complete = updated == replicas && statusReplicas == replicas && available >= replicas;
    std::string rsName = objectName(*newRs);
    Json conds = Json::array();
    conds.push_back(availableOk ? condition("Available", true, "MinimumReplicasAvailable",
                                            "Deployment has minimum availability.", &prevConds)
                                : condition("Available", false, "MinimumReplicasUnavailable",
                                            "Deployment does not have minimum availability.", &prevConds));
    if (complete)
        conds.push_back(condition("Progressing", true, "NewReplicaSetAvailable",
                                  "ReplicaSet \"" + rsName + "\" has successfully progressed.", &prevConds));
    else if (created)
        conds.push_back(condition("Progressing", true, "NewReplicaSetCreated",
                                  "Created new replica set \"" + rsName + "\"", &prevConds));
    else
        conds.push_back(condition("Progressing", true, "ReplicaSetUpdated",
                                  "ReplicaSet \"" + rsName + "\" is progressing.", &prevConds));
    Json status = {{"observedGeneration", intAt(*cur, {"metadata", "generation"}, 1)},
                   {"replicas", statusReplicas},
                   {"updatedReplicas", updated},
                   {"readyReplicas", ready},
                   {"availableReplicas", available},
                   {"conditions", conds}};
    if (replicas - available > 0)
        status["unavailableReplicas"] = replicas - available;
    for (const char *k : {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas"})
        if (status[k] == 0)
            status.erase(k);
    o["status"] = status;
    o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = revision;
    if (o != *cur)
        m_store.put(dType.qualified(), std::move(o));
}

// ---- statefulsets ------------------------------------------------------------------------

void Api::reconcileStatefulSet(const std::string &ns, const std::string &name)
{
    const ResourceType &podType = *findResourceByQualified("pods");
    auto sts = m_store.get("statefulsets.apps", ns, name);
    if (!sts || terminating(*sts))
        return;
    std::string uid = objectUid(*sts);
    int replicas = intAt(*sts, {"spec", "replicas"}, 1);
    bool ordered = strAt(*sts, {"spec", "podManagementPolicy"}) != "Parallel";
    const Json &tpl = jsonAt(*sts, {"spec", "template"});
    std::string revision = name + "-" + templateHash(tpl);
    bool blocked = false;
    for (int i = 0; i < replicas && !blocked; ++i) {
        std::string podName = name + "-" + std::to_string(i);
        auto pod = m_store.get("pods", ns, podName);
        if (!pod) {
            for (const auto &vct : jsonAt(*sts, {"spec", "volumeClaimTemplates"}).is_array()
                     ? jsonAt(*sts, {"spec", "volumeClaimTemplates"})
                     : Json::array()) {
                std::string claim = vct["metadata"].value("name", "") + "-" + podName;
                if (!m_store.get("persistentvolumeclaims", ns, claim)) {
                    Json pvc = {{"apiVersion", "v1"},
                                {"kind", "PersistentVolumeClaim"},
                                {"metadata", {{"name", claim}, {"labels", jsonAt(tpl, {"metadata", "labels"})}}},
                                {"spec", vct.value("spec", Json::object())}};
                    if (pvc["metadata"]["labels"].is_null())
                        pvc["metadata"].erase("labels");
                    createObject(*findResourceByQualified("persistentvolumeclaims"), std::move(pvc), ns);
                }
            }
            Json p = {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", tpl.value("metadata", Json::object())},
                      {"spec", tpl.value("spec", Json::object())}};
            p["metadata"]["name"] = podName;
            p["metadata"]["labels"]["controller-revision-hash"] = revision;
            p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = podName;
            p["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = std::to_string(i);
            p["metadata"]["ownerReferences"] = Json::array({ownerRef(*sts, "apps/v1", "StatefulSet")});
            p["spec"]["hostname"] = podName;
            if (!strAt(*sts, {"spec", "serviceName"}).empty())
                p["spec"]["subdomain"] = strAt(*sts, {"spec", "serviceName"});
            // Claims from the templates replace same-named volumes.
            for (const auto &vct : jsonAt(*sts, {"spec", "volumeClaimTemplates"}).is_array()
                     ? jsonAt(*sts, {"spec", "volumeClaimTemplates"})
                     : Json::array()) {
                std::string vname = vct["metadata"].value("name", "");
                Json vols = Json::array();
                for (const auto &v : p["spec"].value("volumes", Json::array()))
                    if (v.value("name", "") != vname)
                        vols.push_back(v);
                vols.push_back({{"name", vname}, {"persistentVolumeClaim", {{"claimName", vname + "-" + podName}}}});
                p["spec"]["volumes"] = vols;
            }
            createObject(podType, std::move(p), ns);
            if (ordered)
                blocked = true;
        } else if (ordered && (!podReady(*pod) || terminating(*pod))) {
            blocked = true;
        }
    }
    // Scale down from the highest ordinal, one at a time when ordered.
    std::vector<ObjectPtr> mine;
    for (const auto &p : m_store.list("pods", ns))
        if (ownedBy(*p, uid))
            mine.push_back(p);
    auto ordinal = [&](const Json &p) {
        std::string n = objectName(p);
        return std::atoi(n.substr(name.size() + 1).c_str());
    };
    std::sort(mine.begin(), mine.end(),
              [&](const ObjectPtr &a, const ObjectPtr &b) { return ordinal(*a) > ordinal(*b); });
    bool anyTerminating = false;
    for (const auto &p : mine)
        if (terminating(*p))
            anyTerminating = true;
    for (const auto &p : mine) {
        if (ordinal(*p) >= replicas && !terminating(*p)) {
            if (ordered && anyTerminating)
                break;
            deleteObject(podType, ns, objectName(*p), Json::object());
            anyTerminating = true;
            if (ordered)
                break;
        }
    }
    // Rolling update: replace the highest outdated pod once all are ready.
    if (!blocked && !anyTerminating && strAt(*sts, {"spec", "updateStrategy", "type"}) != "OnDelete") {
        bool allReady = int(mine.size()) == replicas;
        for (const auto &p : mine)
            allReady = allReady && podReady(*p);
        if (allReady)
            for (const auto &p : mine)
                if (strAt(*p, {"metadata", "labels", "controller-revision-hash"}) != revision) {
                    deleteObject(podType, ns, objectName(*p), Json::object());
                    break;
                }
    }
    int ready = 0, current = 0, total = 0;
    for (const auto &p : m_store.list("pods", ns)) {
        if (!ownedBy(*p, uid) || !podActive(*p))
            continue;
        ++total;
        if (podReady(*p))
            ++ready;
        if (strAt(*p, {"metadata", "labels", "controller-revision-hash"}) == revision)
            ++current;
    }
    auto cur = m_store.get("statefulsets.apps", ns, name);
    if (!cur)
        return;
    Json o = *cur;
    std::string currentRevision = strAt(*cur, {"status", "currentRevision"});
    if (current == replicas && total == replicas)
        currentRevision = revision;
    Json status = {{"observedGeneration", intAt(*cur, {"metadata", "generation"}, 1)},
                   {"replicas", total},
                   {"readyReplicas", ready},
                   {"currentReplicas", current == replicas ? current : total - current},
                   {"updatedReplicas", current},
                   {"availableReplicas", ready},
                   {"currentRevision", currentRevision.empty() ? revision : currentRevision},
                   {"updateRevision", revision},
                   {"collisionCount", 0}};
    o["status"] = status;
    putIfChanged(*findResourceByQualified("statefulsets.apps"), cur, std::move(o));
}

// ---- endpoints ---------------------------------------------------------------------------

void Api::reconcileEndpoints(const std::string &ns, const std::string &name)
{
    const ResourceType &epType = *findResourceByQualified("endpoints");
    auto svc = m_store.get("services", ns, name);
    auto ep = m_store.get("endpoints", ns, name);
    if (!svc) {
        if (ep)
            m_store.remove("endpoints", ns, name);
        return;
    }
    const Json &selector = jsonAt(*svc, {"spec", "selector"});
    if (!selector.is_object() || selector.empty())
        return; // endpoints of selector-less services are the user's
    std::string err;
    auto sel = LabelSelector::fromObject(Json {{"matchLabels", selector}}, &err);
    if (!sel)
        return;
    Json addresses = Json::array(), notReady = Json::array();
    std::vector<ObjectPtr> pods;
    for (const auto &p : m_store.list("pods", ns)) {
        if (!sel->matches(jsonAt(*p, {"metadata", "labels"})) || terminating(*p)
            || strAt(*p, {"status", "podIP"}).empty())
            continue;
        pods.push_back(p);
        Json a
            = {{"ip", strAt(*p, {"status", "podIP"})},
               {"nodeName", "sandbox"},
               {"targetRef", {{"kind", "Pod"}, {"namespace", ns}, {"name", objectName(*p)}, {"uid", objectUid(*p)}}}};
        (podReady(*p) ? addresses : notReady).push_back(a);
    }
    Json ports = Json::array();
    for (const auto &sp :
         jsonAt(*svc, {"spec", "ports"}).is_array() ? jsonAt(*svc, {"spec", "ports"}) : Json::array()) {
        int port = 0;
        const Json &target = sp.contains("targetPort") ? sp["targetPort"] : sp["port"];
        if (target.is_number_integer())
            port = target.get<int>();
        else if (target.is_string()) {
            for (const auto &p : pods)
                for (const auto &c : jsonAt(*p, {"spec", "containers"}))
                    for (const auto &cp : c.value("ports", Json::array()))
                        if (cp.value("name", "") == target.get<std::string>())
                            port = cp.value("containerPort", 0);
        }
        if (port == 0)
            continue;
        Json pj = {{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
        if (sp.contains("name"))
            pj["name"] = sp["name"];
        ports.push_back(pj);
    }
    Json subsets = Json::array();
    if ((!addresses.empty() || !notReady.empty()) && !ports.empty()) {
        Json s = {{"ports", ports}};
        if (!addresses.empty())
            s["addresses"] = addresses;
        if (!notReady.empty())
            s["notReadyAddresses"] = notReady;
        subsets.push_back(s);
    }
    Json o = ep ? *ep
                : Json {{"apiVersion", "v1"}, {"kind", "Endpoints"}, {"metadata", {{"name", name}, {"namespace", ns}}}};
    if (jsonAt(*svc, {"metadata", "labels"}).is_object())
        o["metadata"]["labels"] = jsonAt(*svc, {"metadata", "labels"});
    if (subsets.empty())
        o.erase("subsets");
    else
        o["subsets"] = subsets;
    if (!ep)
        createObject(epType, std::move(o), ns);
    else
        putIfChanged(epType, ep, std::move(o));
}

// ---- namespaces --------------------------------------------------------------------------

void Api::reconcileNamespace(const std::string &name)
{
    auto ns = m_store.get("namespaces", "", name);
    if (!ns)
        return;
    if (!terminating(*ns)) {
        // Every namespace has a default service account.
        if (!m_store.get("serviceaccounts", name, "default"))
            createObject(*findResourceByQualified("serviceaccounts"),
                         Json {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "default"}}}},
                         name);
        return;
    }
    bool empty = true;
    for (const auto &t : resourceTypes()) {
        if (!t.namespaced)
            continue;
        for (const auto &o : m_store.list(t.qualified(), name)) {
            empty = false;
            if (!terminating(*o))
                deleteObject(t, name, objectName(*o), Json {{"propagationPolicy", "Background"}});
        }
    }
    bool stillThere = false;
    for (const auto &t : resourceTypes())
        if (t.namespaced && !m_store.list(t.qualified(), name).empty())
            stillThere = true;
    if (!stillThere || (empty && !stillThere))
        m_store.remove("namespaces", "", name);
}

// ---- garbage collection --------------------------------------------------------------------

void Api::collectGarbage(const std::string &ownerUid, const std::string &ns)
{
    if (ownerUid.empty())
        return;
    for (const auto &t : resourceTypes()) {
        if (!t.namespaced)
            continue;
        for (const auto &o : m_store.list(t.qualified(), ns)) {
            const Json &refs = jsonAt(*o, {"metadata", "ownerReferences"});
            if (!refs.is_array() || terminating(*o))
                continue;
            bool owned = false, otherOwner = false;
            for (const auto &r : refs) {
                if (r.value("uid", "") == ownerUid)
                    owned = true;
                else if (m_store.get(
                             findResourceByKind(r.value("apiVersion", ""), r.value("kind", ""))
                                 ? findResourceByKind(r.value("apiVersion", ""), r.value("kind", ""))->qualified()
                                 : std::string(),
                             ns, r.value("name", "")))
                    otherOwner = true;
            }
            if (owned && !otherOwner)
                deleteObject(t, ns, objectName(*o), Json::object());
        }
    }
}

// ---- HPA and PVC ---------------------------------------------------------------------------

void Api::reconcileHpa(const std::string &ns, const std::string &name)
{
    auto hpa = m_store.get("horizontalpodautoscalers.autoscaling", ns, name);
    if (!hpa)
        return;
    const Json &ref = jsonAt(*hpa, {"spec", "scaleTargetRef"});
    const ResourceType *t = findResourceByKind(ref.value("apiVersion", "apps/v1"), ref.value("kind", ""));
    ObjectPtr target = t ? m_store.get(t->qualified(), ns, ref.value("name", "")) : nullptr;
    int minR = intAt(*hpa, {"spec", "minReplicas"}, 1), maxR = intAt(*hpa, {"spec", "maxReplicas"}, 1);
    Json o = *hpa;
    const Json prev = jsonAt(*hpa, {"status", "conditions"});
    if (!target) {
        o["status"]["conditions"]
            = Json::array({condition("AbleToScale", false, "FailedGetScale",
                                     "the HPA controller was unable to get the target's current scale: "
                                         + ref.value("kind", "") + " \"" + ref.value("name", "") + "\" not found",
                                     &prev)});
    } else {
        int current = intAt(*target, {"spec", "replicas"}, 1);
        int desired = std::clamp(current, minR, maxR);
        if (desired != current) {
            Json to = *target;
            to["spec"]["replicas"] = desired;
            updateObject(*t, std::move(to), ns, objectName(*target), "");
            o["status"]["lastScaleTime"] = nowRfc3339();
        }
        o["status"]["currentReplicas"] = current;
        o["status"]["desiredReplicas"] = desired;
        o["status"]["conditions"] = Json::array(
            {condition("AbleToScale", true, "SucceededGetScale",
                       "the HPA controller was able to get the target's current scale", &prev),
             condition("ScalingActive", false, "FailedGetResourceMetric",
                       "the sandbox has no metrics server: replicas are only kept within minReplicas and maxReplicas",
                       &prev)});
    }
    o["status"]["observedGeneration"] = intAt(*hpa, {"metadata", "generation"}, 1);
    for (auto &c : o["status"]["conditions"])
        c.erase("lastUpdateTime");
    putIfChanged(*findResourceByQualified("horizontalpodautoscalers.autoscaling"), hpa, std::move(o));
}

void Api::reconcilePvc(const std::string &ns, const std::string &name)
{
    auto pvc = m_store.get("persistentvolumeclaims", ns, name);
    if (!pvc || strAt(*pvc, {"status", "phase"}) == "Bound")
        return;
    Json o = *pvc;
    o["spec"]["volumeName"] = "pvc-" + objectUid(*pvc);
    if (!o["spec"].contains("storageClassName"))
        o["spec"]["storageClassName"] = "sandbox-directory";
    o["status"] = {{"phase", "Bound"},
                   {"accessModes", jsonAt(*pvc, {"spec", "accessModes"})},
                   {"capacity", {{"storage", jsonAt(*pvc, {"spec", "resources", "requests", "storage"})}}}};
    o["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = "yes";
    m_store.put("persistentvolumeclaims", std::move(o));
}

} // namespace iterdeck::sandbox
