// Table output for `kubectl get` (meta.k8s.io/v1 Table), for the kinds people list most.
#include "sandbox/api_p.h"

#include <ctime>

namespace iterdeck::sandbox {

namespace {

std::string age(const Json &o)
{
    const Json &m = o["metadata"];
    std::string ts = m.value("creationTimestamp", "");
    std::tm tm {};
    if (ts.empty() || !strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm))
        return "<unknown>";
    long s = long(std::time(nullptr) - timegm(&tm));
    if (s < 0)
        s = 0;
    if (s < 120)
        return std::to_string(s) + "s";
    if (s < 600)
        return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
    if (s < 3 * 3600)
        return std::to_string(s / 60) + "m";
    if (s < 8 * 3600)
        return std::to_string(s / 3600) + "h" + (s % 3600 / 60 ? std::to_string(s % 3600 / 60) + "m" : "");
    if (s < 48 * 3600)
        return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

Json col(const char *name, const char *type = "string", int priority = 0, const char *format = "")
{
    return Json {{"name", name}, {"type", type}, {"format", format}, {"description", ""}, {"priority", priority}};
}

int num(const Json &o, std::initializer_list<const char *> path)
{
    const Json *c = &o;
    for (const char *k : path) {
        if (!c->is_object() || !c->contains(k))
            return 0;
        c = &(*c)[k];
    }
    return c->is_number_integer() ? c->get<int>() : 0;
}

std::string podStatus(const Json &pod, int &ready, int &total, int &restarts)
{
    const Json &st = pod.value("status", Json::object());
    std::string reason = st.value("reason", st.value("phase", "Unknown"));
    total = int(pod["spec"].value("containers", Json::array()).size());
    ready = 0;
    restarts = 0;
    for (const auto &cs : st.value("containerStatuses", Json::array())) {
        restarts += cs.value("restartCount", 0);
        if (cs.value("ready", false))
            ++ready;
        const Json &state = cs.value("state", Json::object());
        if (state.contains("waiting") && !state["waiting"].value("reason", "").empty())
            reason = state["waiting"]["reason"];
        else if (state.contains("terminated"))
            reason = state["terminated"].value("reason", "Completed");
    }
    for (const auto &cs : st.value("initContainerStatuses", Json::array())) {
        const Json &state = cs.value("state", Json::object());
        if (state.contains("waiting") || state.contains("running"))
            reason = "Init:0/" + std::to_string(pod["spec"].value("initContainers", Json::array()).size());
    }
    if (pod["metadata"].contains("deletionTimestamp"))
        reason = "Terminating";
    return reason;
}

std::string joinSelector(const Json &sel)
{
    std::string s;
    if (sel.is_object())
        for (auto &[k, v] : sel.items())
            if (v.is_string())
                s += (s.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    return s.empty() ? "<none>" : s;
}

std::string containersOf(const Json &podSpec, const char *field)
{
    std::string s;
    for (const auto &c : podSpec.value("containers", Json::array()))
        s += (s.empty() ? "" : ",") + c.value(field, std::string());
    return s;
}

} // namespace

Json Api::toTable(const ResourceType &t, const std::vector<ObjectPtr> &items, const std::string &rv, bool)
{
    Json columns;
    std::function<Json(const Json &)> cells;
    const std::string &k = t.kind;
    if (k == "Pod") {
        columns = {col("Name", "string", 0, "name"),
                   col("Ready"),
                   col("Status"),
                   col("Restarts", "string"),
                   col("Age"),
                   col("IP", "string", 1),
                   col("Node", "string", 1),
                   col("Nominated Node", "string", 1),
                   col("Readiness Gates", "string", 1)};
        cells = [](const Json &o) {
            int ready, total, restarts;
            std::string status = podStatus(o, ready, total, restarts);
            return Json {objectName(o),
                         std::to_string(ready) + "/" + std::to_string(total),
                         status,
                         std::to_string(restarts),
                         age(o),
                         o["status"].value("podIP", "<none>"),
                         o["spec"].value("nodeName", "<none>"),
                         "<none>",
                         "<none>"};
        };
    } else if (k == "Deployment") {
        columns = {col("Name", "string", 0, "name"),
                   col("Ready"),
                   col("Up-to-date", "integer"),
                   col("Available", "integer"),
                   col("Age"),
                   col("Containers", "string", 1),
                   col("Images", "string", 1),
                   col("Selector", "string", 1)};
        cells = [](const Json &o) {
            const Json &tpl = o["spec"].value("template", Json::object()).value("spec", Json::object());
            return Json {
                objectName(o),
                std::to_string(num(o, {"status", "readyReplicas"})) + "/"
                    + std::to_string(num(o, {"spec", "replicas"})),
                num(o, {"status", "updatedReplicas"}),
                num(o, {"status", "availableReplicas"}),
                age(o),
                containersOf(tpl, "name"),
                containersOf(tpl, "image"),
                joinSelector(o["spec"].value("selector", Json::object()).value("matchLabels", Json::object()))};
        };
    } else if (k == "ReplicaSet") {
        columns = {col("Name", "string", 0, "name"),
                   col("Desired", "integer"),
                   col("Current", "integer"),
                   col("Ready", "integer"),
                   col("Age"),
                   col("Containers", "string", 1),
                   col("Images", "string", 1),
                   col("Selector", "string", 1)};
        cells = [](const Json &o) {
            const Json &tpl = o["spec"].value("template", Json::object()).value("spec", Json::object());
            return Json {
                objectName(o),
                num(o, {"spec", "replicas"}),
                num(o, {"status", "replicas"}),
                num(o, {"status", "readyReplicas"}),
                age(o),
                containersOf(tpl, "name"),
                containersOf(tpl, "image"),
                joinSelector(o["spec"].value("selector", Json::object()).value("matchLabels", Json::object()))};
        };
    } else if (k == "StatefulSet") {
        columns = {col("Name", "string", 0, "name"), col("Ready"), col("Age"), col("Containers", "string", 1),
                   col("Images", "string", 1)};
        cells = [](const Json &o) {
            const Json &tpl = o["spec"].value("template", Json::object()).value("spec", Json::object());
            return Json {objectName(o),
                         std::to_string(num(o, {"status", "readyReplicas"})) + "/"
                             + std::to_string(num(o, {"spec", "replicas"})),
                         age(o), containersOf(tpl, "name"), containersOf(tpl, "image")};
        };
    } else if (k == "Service") {
        columns = {col("Name", "string", 0, "name"),
                   col("Type"),
                   col("Cluster-IP"),
                   col("External-IP"),
                   col("Port(s)"),
                   col("Age"),
                   col("Selector", "string", 1)};
        cells = [](const Json &o) {
            std::string ports;
            for (const auto &p : o["spec"].value("ports", Json::array())) {
                std::string one = std::to_string(p.value("port", 0));
                if (p.value("nodePort", 0) > 0)
                    one += ":" + std::to_string(p.value("nodePort", 0));
                ports += (ports.empty() ? "" : ",") + one + "/" + p.value("protocol", "TCP");
            }
            return Json {objectName(o),
                         o["spec"].value("type", "ClusterIP"),
                         o["spec"].value("clusterIP", "None"),
                         "<none>",
                         ports.empty() ? "<none>" : ports,
                         age(o),
                         joinSelector(o["spec"].value("selector", Json::object()))};
        };
    } else if (k == "Namespace") {
        columns = {col("Name", "string", 0, "name"), col("Status"), col("Age")};
        cells = [](const Json &o) { return Json {objectName(o), o["status"].value("phase", "Active"), age(o)}; };
    } else if (k == "ConfigMap" || k == "Secret") {
        bool secret = k == "Secret";
        columns = secret ? Json {col("Name", "string", 0, "name"), col("Type"), col("Data", "integer"), col("Age")}
                         : Json {col("Name", "string", 0, "name"), col("Data", "integer"), col("Age")};
        cells = [secret](const Json &o) {
            int n = int(o.value("data", Json::object()).size() + o.value("binaryData", Json::object()).size());
            return secret ? Json {objectName(o), o.value("type", "Opaque"), n, age(o)}
                          : Json {objectName(o), n, age(o)};
        };
    } else if (k == "PersistentVolumeClaim") {
        columns = {col("Name", "string", 0, "name"),
                   col("Status"),
                   col("Volume"),
                   col("Capacity"),
                   col("Access Modes"),
                   col("Age")};
        cells = [](const Json &o) {
            std::string modes;
            for (const auto &m : o["spec"].value("accessModes", Json::array()))
                modes += (modes.empty() ? "" : ",")
                    + std::string(m == "ReadWriteOnce"      ? "RWO"
                                      : m == "ReadOnlyMany" ? "ROX"
                                                            : "RWX");
            return Json {objectName(o),
                         o["status"].value("phase", "Pending"),
                         o["spec"].value("volumeName", ""),
                         o["status"].value("capacity", Json::object()).value("storage", ""),
                         modes,
                         age(o)};
        };
    } else {
        return nullptr; // kubectl prints NAME and AGE from the plain list
    }
    Json rows = Json::array();
    for (const auto &o : items) {
        Json meta = {{"name", objectName(*o)}, {"creationTimestamp", (*o)["metadata"].value("creationTimestamp", "")}};
        if (t.namespaced)
            meta["namespace"] = objectNamespace(*o);
        if ((*o)["metadata"].contains("labels"))
            meta["labels"] = (*o)["metadata"]["labels"];
        meta["uid"] = objectUid(*o);
        meta["resourceVersion"] = (*o)["metadata"].value("resourceVersion", "");
        rows.push_back(
            {{"cells", cells(*o)},
             {"object", {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}}}});
    }
    return Json {{"kind", "Table"},
                 {"apiVersion", "meta.k8s.io/v1"},
                 {"metadata", {{"resourceVersion", rv}}},
                 {"columnDefinitions", columns},
                 {"rows", rows}};
}

} // namespace iterdeck::sandbox
