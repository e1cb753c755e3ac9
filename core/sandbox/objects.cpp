// REST verbs on objects: get, list, create, update, patch, delete; defaulting and validation.
#include "sandbox/api_p.h"
#include "sandbox/patch.h"

#include <algorithm>

namespace iterdeck::sandbox {

namespace {

Json cause(const std::string &reason, const std::string &field, const std::string &message)
{
    return Json {{"reason", reason}, {"message", message}, {"field", field}};
}

void defaultContainer(Json &c)
{
    if (!c.contains("imagePullPolicy")) {
        std::string image = c.value("image", "");
        bool latest = image.find(':') == std::string::npos || image.ends_with(":latest");
        c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
    }
    if (!c.contains("terminationMessagePath"))
        c["terminationMessagePath"] = "/dev/termination-log";
    if (!c.contains("terminationMessagePolicy"))
        c["terminationMessagePolicy"] = "File";
    if (!c.contains("resources"))
        c["resources"] = Json::object();
    if (c.contains("ports") && c["ports"].is_array())
        for (auto &p : c["ports"])
            if (p.is_object() && !p.contains("protocol"))
                p["protocol"] = "TCP";
}

void defaultPodSpec(Json &spec)
{
    if (!spec.is_object())
        return;
    if (!spec.contains("restartPolicy"))
        spec["restartPolicy"] = "Always";
    if (!spec.contains("terminationGracePeriodSeconds"))
        spec["terminationGracePeriodSeconds"] = 30;
    if (!spec.contains("dnsPolicy"))
        spec["dnsPolicy"] = "ClusterFirst";
    if (!spec.contains("schedulerName"))
        spec["schedulerName"] = "default-scheduler";
    if (!spec.contains("securityContext"))
        spec["securityContext"] = Json::object();
    for (const char *list : {"containers", "initContainers"})
        if (spec.contains(list) && spec[list].is_array())
            for (auto &c : spec[list])
                if (c.is_object())
                    defaultContainer(c);
}

void validateContainers(const Json &spec, const std::string &prefix, std::vector<Json> &causes)
{
    const Json &containers = jsonAt(spec, {"containers"});
    if (!containers.is_array() || containers.empty()) {
        causes.push_back(cause("FieldValueRequired", prefix + ".containers", "Required value"));
        return;
    }
    std::set<std::string> names;
    for (const char *list : {"initContainers", "containers"}) {
        const Json &cs = jsonAt(spec, {list});
        if (!cs.is_array())
            continue;
        for (std::size_t i = 0; i < cs.size(); ++i) {
            std::string field = prefix + "." + list + "[" + std::to_string(i) + "]";
            const Json &c = cs[i];
            if (!c.is_object()) {
                causes.push_back(cause("FieldValueInvalid", field, "Invalid value: must be an object"));
                continue;
            }
            std::string name = c.value("name", "");
            if (name.empty())
                causes.push_back(cause("FieldValueRequired", field + ".name", "Required value"));
            else if (!isDnsLabel(name))
                causes.push_back(
                    cause("FieldValueInvalid", field + ".name",
                          "Invalid value: \"" + name
                              + "\": a lowercase RFC 1123 label must consist of "
                                "lower case alphanumeric characters or '-', and must start and end with an "
                                "alphanumeric character"));
            else if (!names.insert(name).second)
                causes.push_back(cause("FieldValueDuplicate", field + ".name", "Duplicate value: \"" + name + "\""));
            if (!c.contains("image") || !c["image"].is_string() || c["image"].get<std::string>().empty())
                causes.push_back(cause("FieldValueRequired", field + ".image", "Required value"));
        }
    }
}

int intOr(const Json &v, int fallback)
{
    return v.is_number_integer() ? v.get<int>() : fallback;
}

} // namespace

void Api::defaultAndValidate(const ResourceType &t, Json &obj, const Json *old, std::vector<Json> &causes)
{
    const std::string kind = t.kind;
    Json &meta = obj["metadata"];
    std::string name = meta.value("name", "");
    if (name.empty())
        causes.push_back(
            cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"));
    else if (kind == "Namespace" || kind == "Service") {
        if (!isDnsLabel(name))
            causes.push_back(
                cause("FieldValueInvalid", "metadata.name",
                      "Invalid value: \"" + name
                          + "\": a lowercase RFC 1123 label must consist of lower "
                            "case alphanumeric characters or '-', and must start and end with an alphanumeric "
                            "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"));
    } else if (!isDnsSubdomain(name)) {
        causes.push_back(
            cause("FieldValueInvalid", "metadata.name",
                  "Invalid value: \"" + name
                      + "\": a lowercase RFC 1123 subdomain must consist of lower "
                        "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                        "character (e.g. 'example.com', regex used for validation is "
                        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
    }
    for (const char *m : {"labels", "annotations"})
        if (meta.contains(m) && !meta[m].is_null()) {
            if (!meta[m].is_object())
                causes.push_back(
                    cause("FieldValueInvalid", std::string("metadata.") + m, "Invalid value: must be a map"));
            else
                for (auto &[k, v] : meta[m].items())
                    if (!v.is_string())
                        causes.push_back(cause("FieldValueInvalid", std::string("metadata.") + m + "." + k,
                                               "Invalid value: must be a string"));
        }

    if (kind == "Pod") {
        Json &spec = obj["spec"];
        if (!old)
            defaultPodSpec(spec);
        validateContainers(spec, "spec", causes);
        if (!obj.contains("status") || !obj["status"].is_object() || obj["status"].empty())
            obj["status"] = Json {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
        if (!spec.contains("serviceAccountName") && !old)
            spec["serviceAccountName"] = "default";
        if (old) {
            // Most of a pod's spec is immutable; the image of a container may change.
            Json a = jsonAt(*old, {"spec"}), b = spec;
            for (Json *s : {&a, &b})
                for (const char *list : {"containers", "initContainers"})
                    if (s->contains(list) && (*s)[list].is_array())
                        for (auto &c : (*s)[list])
                            if (c.is_object())
                                c.erase("image");
            for (Json *s : {&a, &b})
                for (const char *f : {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"})
                    s->erase(f);
            if (a != b)
                causes.push_back(
                    cause("FieldValueForbidden", "spec",
                          "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                          "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
                          "`spec.tolerations` (only additions to existing tolerations) or "
                          "`spec.terminationGracePeriodSeconds`"));
        }
    } else if (kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet") {
        Json &spec = obj["spec"];
        if (!spec.is_object()) {
            causes.push_back(cause("FieldValueRequired", "spec", "Required value"));
            return;
        }
        if (!spec.contains("replicas"))
            spec["replicas"] = 1;
        else if (!spec["replicas"].is_number_integer() || spec["replicas"].get<long>() < 0)
            causes.push_back(
                cause("FieldValueInvalid", "spec.replicas", "Invalid value: must be greater than or equal to 0"));
        if (!spec.contains("revisionHistoryLimit"))
            spec["revisionHistoryLimit"] = 10;
        if (kind == "Deployment") {
            if (!spec.contains("progressDeadlineSeconds"))
                spec["progressDeadlineSeconds"] = 600;
            Json &st = spec["strategy"];
            if (!st.is_object() || !st.contains("type"))
                st["type"] = "RollingUpdate";
            if (st["type"] == "RollingUpdate") {
                Json &ru = st["rollingUpdate"];
                if (!ru.is_object())
                    ru = Json::object();
                if (!ru.contains("maxSurge"))
                    ru["maxSurge"] = "25%";
                if (!ru.contains("maxUnavailable"))
                    ru["maxUnavailable"] = "25%";
            } else if (st["type"] == "Recreate") {
                st.erase("rollingUpdate");
            } else {
                causes.push_back(cause("FieldValueNotSupported", "spec.strategy.type",
                                       "Unsupported value: " + st["type"].dump()
                                           + ": supported values: \"Recreate\", \"RollingUpdate\""));
            }
        }
        if (kind == "StatefulSet") {
            if (!spec.contains("podManagementPolicy"))
                spec["podManagementPolicy"] = "OrderedReady";
            if (!spec.contains("updateStrategy"))
                spec["updateStrategy"] = Json {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}};
            if (!spec.contains("serviceName"))
                spec["serviceName"] = "";
        }
        Json &tpl = spec["template"];
        if (!tpl.is_object()) {
            causes.push_back(cause("FieldValueRequired", "spec.template", "Required value"));
        } else {
            defaultPodSpec(tpl["spec"]);
            validateContainers(tpl["spec"], "spec.template.spec", causes);
            std::string err;
            auto sel = LabelSelector::fromObject(jsonAt(spec, {"selector"}), &err);
            if (!spec.contains("selector") || !spec["selector"].is_object())
                causes.push_back(cause("FieldValueRequired", "spec.selector", "Required value"));
            else if (!sel)
                causes.push_back(cause("FieldValueInvalid", "spec.selector", "Invalid value: " + err));
            else if (sel->empty())
                causes.push_back(cause("FieldValueInvalid", "spec.selector",
                                       "Invalid value: empty selector is invalid for deployment"));
            else if (!sel->matches(jsonAt(tpl, {"metadata", "labels"})))
                causes.push_back(cause("FieldValueInvalid", "spec.template.metadata.labels",
                                       "Invalid value: " + jsonAt(tpl, {"metadata", "labels"}).dump()
                                           + ": `selector` does not match template `labels`"));
            if (old && jsonAt(*old, {"spec", "selector"}) != spec["selector"])
                causes.push_back(cause("FieldValueInvalid", "spec.selector", "Invalid value: field is immutable"));
        }
        if (!obj.contains("status"))
            obj["status"] = Json::object();
    } else if (kind == "Service") {
        Json &spec = obj["spec"];
        if (!spec.is_object())
            spec = Json::object();
        if (!spec.contains("type"))
            spec["type"] = "ClusterIP";
        if (!spec.contains("sessionAffinity"))
            spec["sessionAffinity"] = "None";
        std::string type = spec["type"].is_string() ? spec["type"].get<std::string>() : "";
        if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" && type != "ExternalName")
            causes.push_back(cause("FieldValueNotSupported", "spec.type", "Unsupported value: " + spec["type"].dump()));
        if (old && jsonAt(*old, {"spec", "clusterIP"}).is_string())
            spec["clusterIP"] = jsonAt(*old, {"spec", "clusterIP"});
        else if (!spec.contains("clusterIP") && type != "ExternalName") {
            unsigned h = 0;
            for (char c : objectNamespace(obj) + "/" + objectName(obj))
                h = h * 31 + static_cast<unsigned char>(c);
            spec["clusterIP"] = "10.96." + std::to_string((h >> 8) % 254 + 1) + "." + std::to_string(h % 254 + 1);
        }
        if (spec.contains("clusterIP") && spec["clusterIP"].is_string())
            spec["clusterIPs"] = Json::array({spec["clusterIP"]});
        if (!spec.contains("ports") || !spec["ports"].is_array() || spec["ports"].empty()) {
            if (type != "ExternalName")
                causes.push_back(cause("FieldValueRequired", "spec.ports", "Required value"));
        } else {
            int nodePort = 30000;
            for (std::size_t i = 0; i < spec["ports"].size(); ++i) {
                Json &p = spec["ports"][i];
                std::string field = "spec.ports[" + std::to_string(i) + "]";
                if (!p.is_object() || !p.contains("port") || !p["port"].is_number_integer()) {
                    causes.push_back(cause("FieldValueRequired", field + ".port", "Required value"));
                    continue;
                }
                int port = p["port"].get<int>();
                if (port < 1 || port > 65535)
                    causes.push_back(
                        cause("FieldValueInvalid", field + ".port",
                              "Invalid value: " + std::to_string(port) + ": must be between 1 and 65535, inclusive"));
                if (!p.contains("protocol"))
                    p["protocol"] = "TCP";
                if (p.value("nodePort", 0) == 0 || type == "ClusterIP")
                    p.erase("nodePort");
                if (!p.contains("targetPort") || p["targetPort"] == 0 || p["targetPort"] == "")
                    p["targetPort"] = port;
                if ((type == "NodePort" || type == "LoadBalancer") && !p.contains("nodePort"))
                    p["nodePort"] = nodePort + int((std::hash<std::string>()(objectName(obj)) + i) % 2000);
            }
        }
        if (!obj.contains("status"))
            obj["status"] = Json {{"loadBalancer", Json::object()}};
    } else if (kind == "Namespace") {
        meta["labels"]["kubernetes.io/metadata.name"] = name;
        if (!obj.contains("spec"))
            obj["spec"] = Json {{"finalizers", {"kubernetes"}}};
        if (!old)
            obj["status"] = Json {{"phase", "Active"}};
    } else if (kind == "ConfigMap" || kind == "Secret") {
        for (const char *f : {"data", "binaryData", "stringData"})
            if (obj.contains(f) && !obj[f].is_null()) {
                if (!obj[f].is_object()) {
                    causes.push_back(cause("FieldValueInvalid", f, "Invalid value: must be a map of strings"));
                    continue;
                }
                for (auto &[k, v] : obj[f].items())
                    if (!v.is_string())
                        causes.push_back(cause("FieldValueInvalid", std::string(f) + "[" + k + "]",
                                               "Invalid value: must be a string"));
            }
        if (kind == "Secret") {
            if (!obj.contains("type") || obj["type"] == "")
                obj["type"] = "Opaque";
            if (obj.contains("stringData") && obj["stringData"].is_object()) {
                for (auto &[k, v] : obj["stringData"].items())
                    if (v.is_string())
                        obj["data"][k] = toBase64(v.get<std::string>());
                obj.erase("stringData");
            }
            if (obj.contains("data") && obj["data"].is_object())
                for (auto &[k, v] : obj["data"].items())
                    if (v.is_string()) {
                        std::string s = v.get<std::string>();
                        if (s.size() % 4 != 0 || toBase64(fromBase64(s)) != s)
                            causes.push_back(
                                cause("FieldValueInvalid", "data[" + k + "]", "Invalid value: illegal base64 data"));
                    }
        }
    } else if (kind == "PersistentVolumeClaim") {
        Json &spec = obj["spec"];
        if (!spec.is_object() || !jsonAt(spec, {"accessModes"}).is_array() || spec["accessModes"].empty())
            causes.push_back(
                cause("FieldValueRequired", "spec.accessModes", "Required value: at least 1 access mode is required"));
        if (!jsonAt(spec, {"resources", "requests", "storage"}).is_string()
            && !jsonAt(spec, {"resources", "requests", "storage"}).is_number())
            causes.push_back(cause("FieldValueRequired", "spec.resources[storage]", "Required value"));
        if (!spec.contains("volumeMode"))
            spec["volumeMode"] = "Filesystem";
        if (!obj.contains("status") || !old)
            obj["status"] = Json {{"phase", "Pending"}};
    } else if (kind == "HorizontalPodAutoscaler") {
        Json &spec = obj["spec"];
        if (!jsonAt(spec, {"scaleTargetRef", "name"}).is_string())
            causes.push_back(cause("FieldValueRequired", "spec.scaleTargetRef.name", "Required value"));
        if (!jsonAt(spec, {"maxReplicas"}).is_number_integer() || spec["maxReplicas"].get<int>() < 1)
            causes.push_back(
                cause("FieldValueInvalid", "spec.maxReplicas", "Invalid value: must be greater than or equal to 1"));
        if (!spec.contains("minReplicas"))
            spec["minReplicas"] = 1;
        if (intOr(spec["minReplicas"], 1) > intOr(jsonAt(spec, {"maxReplicas"}), 1))
            causes.push_back(cause("FieldValueInvalid", "spec.minReplicas",
                                   "Invalid value: must be less than or equal to maxReplicas"));
        if (!obj.contains("status"))
            obj["status"] = Json {{"currentReplicas", 0}, {"desiredReplicas", 0}};
    } else if (kind == "Event") {
        if (!obj.contains("involvedObject"))
            causes.push_back(cause("FieldValueRequired", "involvedObject", "Required value"));
    }
}

std::variant<ObjectPtr, ApiError> Api::createObject(const ResourceType &t, Json obj, const std::string &ns)
{
    if (!obj.is_object())
        return badRequest("the object must be a JSON object");
    // Like the apiserver's decoder, the URL supplies a missing kind and apiVersion.
    if (!obj.contains("kind") || obj["kind"] == "")
        obj["kind"] = t.kind;
    if (!obj.contains("apiVersion") || obj["apiVersion"] == "")
        obj["apiVersion"] = t.apiVersion();
    if (!obj["kind"].is_string() || !obj["apiVersion"].is_string())
        return badRequest("kind and apiVersion must be strings");
    std::string kind = obj["kind"];
    std::string apiVersion = obj["apiVersion"];
    if (kind != t.kind || apiVersion != t.apiVersion())
        return badRequest(
            "the API version in the data (" + apiVersion + ") does not match the expected API version ("
            + t.apiVersion() + ")"
            + (kind != t.kind ? ": kind " + kind + " does not belong at " + t.qualified() : std::string()));
    if (!obj.contains("metadata") || !obj["metadata"].is_object())
        obj["metadata"] = Json::object();
    Json &meta = obj["metadata"];
    if (t.namespaced) {
        std::string given = meta.value("namespace", "");
        if (!given.empty() && given != ns)
            return badRequest("the namespace of the provided object does not match the namespace sent on the request");
        meta["namespace"] = ns;
        auto nsObj = m_store.get("namespaces", "", ns);
        if (!nsObj)
            return ApiError {404, "NotFound", "namespaces \"" + ns + "\" not found", Json::array()};
        if (jsonAt(*nsObj, {"metadata", "deletionTimestamp"}).is_string())
            return ApiError {403, "Forbidden",
                             t.plural + " \"" + meta.value("name", meta.value("generateName", ""))
                                 + "\" is forbidden: unable to create new content in namespace " + ns
                                 + " because it is being terminated",
                             Json::array()};
    } else {
        meta.erase("namespace");
    }
    if ((!meta.contains("name") || meta["name"] == "") && meta.contains("generateName")
        && meta["generateName"].is_string()) {
        for (int attempt = 0; attempt < 8; ++attempt) {
            std::string candidate = meta["generateName"].get<std::string>() + randomSuffix();
            if (!m_store.get(t.qualified(), t.namespaced ? ns : "", candidate)) {
                meta["name"] = candidate;
                break;
            }
        }
    }
    if (meta.contains("name") && !meta["name"].is_string())
        return badRequest("metadata.name must be a string");
    std::vector<Json> causes;
    defaultAndValidate(t, obj, nullptr, causes);
    std::string name = meta.value("name", "");
    if (!causes.empty())
        return invalid(t, name, Json(causes));
    if (m_store.get(t.qualified(), t.namespaced ? ns : "", name)) {
        ApiError e {409, "AlreadyExists", t.qualified() + " \"" + name + "\" already exists", Json::array()};
        e.details = Json {{"name", name}, {"group", t.group}, {"kind", t.plural}};
        return e;
    }
    meta["uid"] = newUid();
    meta["creationTimestamp"] = nowRfc3339();
    meta.erase("resourceVersion");
    meta.erase("deletionTimestamp");
    meta.erase("managedFields");
    if (t.kind == "Deployment" || t.kind == "ReplicaSet" || t.kind == "StatefulSet"
        || t.kind == "HorizontalPodAutoscaler")
        meta["generation"] = 1;
    return m_store.put(t.qualified(), std::move(obj));
}

std::variant<ObjectPtr, ApiError> Api::updateObject(const ResourceType &t, Json obj, const std::string &ns,
                                                    const std::string &name, const std::string &subresource)
{
    auto old = m_store.get(t.qualified(), t.namespaced ? ns : "", name);
    if (!old)
        return notFound(t, name);
    if (!obj.is_object())
        return badRequest("the object must be a JSON object");
    if (!obj.contains("metadata") || !obj["metadata"].is_object())
        obj["metadata"] = Json::object();
    Json &meta = obj["metadata"];
    if (meta.value("name", name) != name)
        return badRequest("the name of the object (" + meta.value("name", "") + ") does not match the name on the URL ("
                          + name + ")");
    std::string rv = meta.value("resourceVersion", "");
    const Json &oldMeta = (*old)["metadata"];
    if (!rv.empty() && rv != oldMeta.value("resourceVersion", ""))
        return ApiError {409, "Conflict",
                         "Operation cannot be fulfilled on " + t.qualified() + " \"" + name
                             + "\": the object has been modified; please apply your changes to the latest version and "
                               "try again",
                         Json::array()};
    if (obj.value("kind", t.kind) != t.kind)
        return badRequest("kind " + obj.value("kind", "") + " does not match " + t.kind);
    obj["kind"] = t.kind;
    obj["apiVersion"] = t.apiVersion();
    for (const char *k :
         {"uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"})
        if (oldMeta.contains(k))
            meta[k] = oldMeta[k];
        else
            meta.erase(k);
    meta["name"] = name;
    meta.erase("managedFields");
    if (subresource == "status") {
        Json merged = *old;
        merged["status"] = obj.value("status", Json::object());
        obj = std::move(merged);
    } else {
        if (old->contains("status") && t.kind != "Namespace" && t.kind != "ConfigMap" && t.kind != "Secret")
            obj["status"] = (*old)["status"];
        std::vector<Json> causes;
        defaultAndValidate(t, obj, old.get(), causes);
        if (!causes.empty())
            return invalid(t, name, Json(causes));
        if (oldMeta.contains("generation") && jsonAt(*old, {"spec"}) != jsonAt(obj, {"spec"}))
            obj["metadata"]["generation"] = oldMeta["generation"].get<long>() + 1;
    }
    // A no-op update keeps the resourceVersion, as the apiserver does.
    Json a = *old, b = obj;
    a["metadata"].erase("resourceVersion");
    b["metadata"].erase("resourceVersion");
    if (a == b)
        return old;
    return m_store.put(t.qualified(), std::move(obj));
}

std::variant<ObjectPtr, ApiError> Api::deleteObject(const ResourceType &t, const std::string &ns,
                                                    const std::string &name, const Json &options)
{
    std::string key = t.namespaced ? ns : "";
    auto old = m_store.get(t.qualified(), key, name);
    if (!old)
        return notFound(t, name);
    if (options.is_object()) {
        if (auto pre = options.find("preconditions"); pre != options.end() && pre->is_object()) {
            if (pre->contains("uid") && (*pre)["uid"].is_string() && (*pre)["uid"] != jsonAt(*old, {"metadata", "uid"}))
                return ApiError {409, "Conflict",
                                 "Precondition failed: UID in precondition: " + (*pre)["uid"].get<std::string>()
                                     + ", UID in object meta: " + objectUid(*old),
                                 Json::array()};
            if (pre->contains("resourceVersion") && (*pre)["resourceVersion"].is_string()
                && (*pre)["resourceVersion"] != jsonAt(*old, {"metadata", "resourceVersion"}))
                return ApiError {409, "Conflict", "Precondition failed: resourceVersion does not match", Json::array()};
        }
    }
    std::string propagation = options.is_object() ? options.value("propagationPolicy", "") : "";
    if (t.kind == "Pod") {
        int grace = intOr(jsonAt(*old, {"spec", "terminationGracePeriodSeconds"}), 30);
        if (options.is_object() && options.contains("gracePeriodSeconds")
            && options["gracePeriodSeconds"].is_number_integer())
            grace = options["gracePeriodSeconds"].get<int>();
        std::string phase
            = jsonAt(*old, {"status", "phase"}).is_string() ? jsonAt(*old, {"status", "phase"}).get<std::string>() : "";
        if (jsonAt(*old, {"metadata", "deletionTimestamp"}).is_string() && grace > 0)
            return old;
        if (grace <= 0 || !jsonAt(*old, {"spec", "nodeName"}).is_string() || phase == "Succeeded"
            || phase == "Failed") {
            std::string uid = objectUid(*old);
            if (m_startedPods.count(uid))
                m_runtime.stopPod(uid, 0, [] {});
            m_startedPods.erase(uid);
            return m_store.remove(t.qualified(), key, name);
        }
        Json o = *old;
        o["metadata"]["deletionTimestamp"] = nowRfc3339();
        o["metadata"]["deletionGracePeriodSeconds"] = grace;
        auto marked = m_store.put(t.qualified(), std::move(o));
        std::string uid = objectUid(*marked);
        if (!m_stoppingPods.count(uid)) {
            m_stoppingPods.insert(uid);
            m_runtime.stopPod(uid, grace, [this, ns, name, uid] {
                m_stoppingPods.erase(uid);
                m_startedPods.erase(uid);
                auto cur = m_store.get("pods", ns, name);
                if (cur && objectUid(*cur) == uid)
                    m_store.remove("pods", ns, name);
            });
        }
        return marked;
    }
    if (t.kind == "Namespace") {
        if (jsonAt(*old, {"metadata", "deletionTimestamp"}).is_string())
            return old;
        Json o = *old;
        o["metadata"]["deletionTimestamp"] = nowRfc3339();
        o["status"]["phase"] = "Terminating";
        auto marked = m_store.put(t.qualified(), std::move(o));
        schedule("ns//" + name);
        return marked;
    }
    if (propagation == "Orphan") {
        std::string uid = objectUid(*old);
        for (const auto &rt : resourceTypes()) {
            if (!rt.namespaced)
                continue;
            for (const auto &dep : m_store.list(rt.qualified(), ns)) {
                const Json &refs = jsonAt(*dep, {"metadata", "ownerReferences"});
                if (!refs.is_array())
                    continue;
                Json kept = Json::array();
                for (const auto &ref : refs)
                    if (ref.value("uid", "") != uid)
                        kept.push_back(ref);
                if (kept.size() != refs.size()) {
                    Json o = *dep;
                    if (kept.empty())
                        o["metadata"].erase("ownerReferences");
                    else
                        o["metadata"]["ownerReferences"] = kept;
                    m_store.put(rt.qualified(), std::move(o));
                }
            }
        }
    }
    auto removed = m_store.remove(t.qualified(), key, name);
    return removed;
}

HttpResponse Api::handleList(const HttpRequest &r, const RequestInfo &info)
{
    const ResourceType &t = *info.type;
    std::string err;
    std::optional<LabelSelector> labels;
    std::optional<FieldSelector> fields;
    if (auto ls = r.queryValue("labelSelector"); ls && !ls->empty()) {
        labels = LabelSelector::parse(*ls, &err);
        if (!labels)
            return statusResponse(badRequest(err));
    }
    if (auto fs = r.queryValue("fieldSelector"); fs && !fs->empty()) {
        fields = FieldSelector::parse(*fs, t.kind, &err);
        if (!fields)
            return statusResponse(badRequest(err));
    }
    long limit = 0;
    if (auto l = r.queryValue("limit"); l && !l->empty()) {
        try {
            limit = std::stol(*l);
        } catch (...) {
            return statusResponse(badRequest("limit: Invalid value: \"" + *l + "\": must be an integer"));
        }
    }
    std::string startAfterNs, startAfterName;
    bool hasContinue = false;
    if (auto c = r.queryValue("continue"); c && !c->empty()) {
        Json token;
        try {
            token = Json::parse(fromBase64(*c));
        } catch (...) {
            return statusResponse(badRequest("continue key is not valid: incorrect encoded start resourceVersion"));
        }
        if (!token.is_object() || !token.contains("ns") || !token.contains("name"))
            return statusResponse(badRequest("continue key is not valid"));
        startAfterNs = token.value("ns", "");
        startAfterName = token.value("name", "");
        hasContinue = true;
    }
    std::string ns = t.namespaced ? info.ns : "";
    if (fields) {
        if (auto v = fields->exactValue("metadata.namespace"); v && t.namespaced && ns.empty())
            ns = *v;
    }
    std::vector<ObjectPtr> items;
    const auto *table = m_store.table(t.qualified());
    std::string next;
    long remaining = 0;
    if (table) {
        auto it = ns.empty() ? table->begin() : table->lower_bound(ObjectKey {ns, {}});
        if (hasContinue)
            it = table->upper_bound(ObjectKey {startAfterNs, startAfterName});
        std::optional<std::string> exactName = fields ? fields->exactValue("metadata.name") : std::nullopt;
        for (; it != table->end(); ++it) {
            if (!ns.empty() && it->first.ns != ns)
                break;
            if (exactName && it->first.name != *exactName)
                continue;
            const Json &o = *it->second;
            if (labels && !labels->matches(jsonAt(o, {"metadata", "labels"})))
                continue;
            if (fields && !fields->matches(o))
                continue;
            if (limit > 0 && long(items.size()) >= limit) {
                ++remaining;
                continue;
            }
            items.push_back(it->second);
        }
        if (remaining > 0 && !items.empty()) {
            const Json &last = *items.back();
            next = toBase64(Json {{"ns", objectNamespace(last)}, {"name", objectName(last)}}.dump());
        }
    }
    std::string rv = std::to_string(m_store.currentRv());
    if (r.header("accept").find("as=Table") != std::string::npos) {
        Json tbl = toTable(t, items, rv, false);
        if (!tbl.is_null()) {
            if (!next.empty())
                tbl["metadata"]["continue"] = next;
            return jsonResponse(200, tbl);
        }
    }
    // Serialise item by item: a list of a thousand pods is built as text, not as a Json tree.
    std::string body = "{\"kind\":\"" + t.kind + "List\",\"apiVersion\":\"" + t.apiVersion()
        + "\",\"metadata\":{\"resourceVersion\":\"" + rv + "\"";
    if (!next.empty())
        body += ",\"continue\":\"" + next + "\",\"remainingItemCount\":" + std::to_string(remaining);
    body += "},\"items\":[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i)
            body += ',';
        body += m_store.serialized(items[i]);
    }
    body += "]}";
    return HttpResponse {200, "application/json", std::move(body), {}};
}

HttpResponse Api::handlePatch(const HttpRequest &r, const RequestInfo &info)
{
    const ResourceType &t = *info.type;
    std::string ct = r.header("content-type");
    if (auto semi = ct.find(';'); semi != std::string::npos)
        ct.resize(semi);
    bool apply = ct == "application/apply-patch+yaml";
    if (ct != "application/json-patch+json" && ct != "application/merge-patch+json"
        && ct != "application/strategic-merge-patch+json" && !apply)
        return statusResponse(ApiError {415, "UnsupportedMediaType",
                                        "the body of the request was in an unknown format - accepted media types "
                                        "include: application/json-patch+json, application/merge-patch+json, "
                                        "application/apply-patch+yaml, application/strategic-merge-patch+json",
                                        Json::array()});
    if (!apply && r.queryValue("force"))
        return statusResponse(badRequest("force: Invalid value: true: may not be specified for non-apply patch"));
    if (apply && r.queryValue("fieldManager").value_or("").empty())
        return statusResponse(badRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                                         "required for apply patch"));
    auto body = parseBody(r);
    if (auto *e = std::get_if<ApiError>(&body))
        return statusResponse(*e);
    Json patch = std::get<Json>(std::move(body));
    std::string key = t.namespaced ? info.ns : "";
    auto old = m_store.get(t.qualified(), key, info.name);
    bool dryRun = r.queryValue("dryRun").has_value();
    if (!old) {
        if (!apply || !info.subresource.empty())
            return statusResponse(notFound(t, info.name));
        // Server-side apply creates what is absent.
        if (!patch.is_object())
            return statusResponse(badRequest("the applied configuration must be an object"));
        patch["metadata"]["name"] = info.name;
        if (dryRun)
            return jsonResponse(201, patch);
        auto created = createObject(t, std::move(patch), info.ns);
        if (auto *e = std::get_if<ApiError>(&created))
            return statusResponse(*e);
        return jsonResponse(201, *std::get<ObjectPtr>(created));
    }
    if (info.subresource == "scale")
        return handleScale(r, info);
    PatchResult result;
    if (ct == "application/json-patch+json")
        result = applyJsonPatch(*old, patch);
    else if (ct == "application/merge-patch+json")
        result = applyMergePatch(*old, patch);
    else {
        // Server-side apply is simplified to a strategic merge of the applied configuration: fields
        // the manifest sets win, others stay (no managedFields, so no conflicts between managers).
        if (apply && patch.is_object()) {
            if (patch.value("kind", t.kind) != t.kind || patch.value("apiVersion", t.apiVersion()) != t.apiVersion())
                return statusResponse(badRequest("the applied configuration's kind/apiVersion ("
                                                 + patch.value("apiVersion", "") + ", " + patch.value("kind", "")
                                                 + ") does not match " + t.apiVersion() + ", " + t.kind));
            patch["metadata"].erase("resourceVersion");
        }
        result = applyStrategicMergePatch(*old, patch, t.kind);
    }
    if (auto *e = std::get_if<ApiError>(&result))
        return statusResponse(*e);
    Json updated = std::get<Json>(std::move(result));
    if (!updated.is_object())
        return statusResponse(badRequest("the patched object is not a JSON object"));
    // A patch carries the resourceVersion only when the client wants a precondition.
    if (!jsonAt(patch, {"metadata", "resourceVersion"}).is_string() && updated.contains("metadata")
        && updated["metadata"].is_object())
        updated["metadata"]["resourceVersion"] = jsonAt(*old, {"metadata", "resourceVersion"});
    if (dryRun)
        return jsonResponse(200, updated);
    auto stored = updateObject(t, std::move(updated), info.ns, info.name, info.subresource);
    if (auto *e = std::get_if<ApiError>(&stored))
        return statusResponse(*e);
    return jsonResponse(200, *std::get<ObjectPtr>(stored));
}

HttpResponse Api::handleScale(const HttpRequest &r, const RequestInfo &info)
{
    const ResourceType &t = *info.type;
    auto old = m_store.get(t.qualified(), info.ns, info.name);
    if (!old)
        return statusResponse(notFound(t, info.name));
    auto scaleOf = [&](const Json &o) {
        std::string selector;
        if (const Json &ml = jsonAt(o, {"spec", "selector", "matchLabels"}); ml.is_object())
            for (auto &[k, v] : ml.items())
                selector += (selector.empty() ? "" : ",") + k + "=" + v.get<std::string>();
        return Json {{"kind", "Scale"},
                     {"apiVersion", "autoscaling/v1"},
                     {"metadata",
                      {{"name", info.name},
                       {"namespace", info.ns},
                       {"uid", objectUid(o)},
                       {"resourceVersion", jsonAt(o, {"metadata", "resourceVersion"})},
                       {"creationTimestamp", jsonAt(o, {"metadata", "creationTimestamp"})}}},
                     {"spec", {{"replicas", intOr(jsonAt(o, {"spec", "replicas"}), 1)}}},
                     {"status", {{"replicas", intOr(jsonAt(o, {"status", "replicas"}), 0)}, {"selector", selector}}}};
    };
    if (r.method == "GET")
        return jsonResponse(200, scaleOf(*old));
    Json scale = scaleOf(*old);
    if (r.method == "PUT" || r.method == "PATCH") {
        auto body = parseBody(r);
        if (auto *e = std::get_if<ApiError>(&body))
            return statusResponse(*e);
        Json in = std::get<Json>(std::move(body));
        std::string ct = r.header("content-type");
        PatchResult res;
        if (r.method == "PUT")
            res = in;
        else if (ct.rfind("application/json-patch+json", 0) == 0)
            res = applyJsonPatch(scale, in);
        else if (ct.rfind("application/merge-patch+json", 0) == 0)
            res = applyMergePatch(scale, in);
        else
            res = applyStrategicMergePatch(scale, in, "Scale");
        if (auto *e = std::get_if<ApiError>(&res))
            return statusResponse(*e);
        Json s = std::get<Json>(res);
        if (!jsonAt(s, {"spec", "replicas"}).is_number_integer() || jsonAt(s, {"spec", "replicas"}).get<int>() < 0)
            return statusResponse(invalid(t, info.name,
                                          Json::array({cause("FieldValueInvalid", "spec.replicas",
                                                             "Invalid value: must be greater than or equal to 0")})));
        Json o = *old;
        o["spec"]["replicas"] = s["spec"]["replicas"];
        auto stored = updateObject(t, std::move(o), info.ns, info.name, "");
        if (auto *e = std::get_if<ApiError>(&stored))
            return statusResponse(*e);
        return jsonResponse(200, scaleOf(*std::get<ObjectPtr>(stored)));
    }
    return statusResponse(
        ApiError {405, "MethodNotAllowed", "the server does not allow this method on scale", Json::array()});
}

void Api::handleResource(HttpRequest &r, const RequestInfo &info, const Identity &,
                         const std::shared_ptr<HttpReply> &reply)
{
    const ResourceType &t = *info.type;
    if (info.subresource == "exec" || info.subresource == "attach")
        return handleExec(r, info, reply);
    if (info.subresource == "portforward")
        return handlePortForward(r, info, reply);
    if (info.subresource == "log")
        return handleLogs(r, info, reply);
    if (info.subresource == "scale")
        return reply->respond(info.verb == "patch" ? handlePatch(r, info) : handleScale(r, info));
    if (info.verb == "watch" || (info.verb == "get" && truthy(r.queryValue("watch"))))
        return handleWatch(r, info, reply);
    std::string key = t.namespaced ? info.ns : "";
    if (info.verb == "get") {
        auto o = m_store.get(t.qualified(), key, info.name);
        if (!o)
            return reply->respond(statusResponse(notFound(t, info.name)));
        if (r.header("accept").find("as=Table") != std::string::npos) {
            Json tbl = toTable(t, {o}, jsonAt(*o, {"metadata", "resourceVersion"}).get<std::string>(), true);
            if (!tbl.is_null())
                return reply->respond(jsonResponse(200, tbl));
        }
        return reply->respond(HttpResponse {200, "application/json", m_store.serialized(o), {}});
    }
    if (info.verb == "list")
        return reply->respond(handleList(r, info));
    if (info.verb == "create") {
        auto body = parseBody(r);
        if (auto *e = std::get_if<ApiError>(&body))
            return reply->respond(statusResponse(*e));
        if (r.queryValue("dryRun")) {
            Json o = std::get<Json>(body);
            std::vector<Json> causes;
            if (o.is_object() && o.value("kind", "") == t.kind) {
                o["metadata"]["namespace"] = info.ns;
                defaultAndValidate(t, o, nullptr, causes);
                if (!causes.empty())
                    return reply->respond(statusResponse(invalid(
                        t, jsonAt(o, {"metadata", "name"}).is_string() ? o["metadata"]["name"].get<std::string>() : "",
                        Json(causes))));
                return reply->respond(jsonResponse(201, o));
            }
        }
        auto created = createObject(t, std::get<Json>(std::move(body)), info.ns);
        if (auto *e = std::get_if<ApiError>(&created))
            return reply->respond(statusResponse(*e));
        return reply->respond(jsonResponse(201, *std::get<ObjectPtr>(created)));
    }
    if (info.verb == "update") {
        auto body = parseBody(r);
        if (auto *e = std::get_if<ApiError>(&body))
            return reply->respond(statusResponse(*e));
        Json &in = std::get<Json>(body);
        if (in.is_object() && !in.contains("apiVersion"))
            in["apiVersion"] = t.apiVersion();
        if (!in.is_object() || in.value("kind", t.kind) != t.kind)
            return reply->respond(statusResponse(badRequest("the body must be a " + t.kind)));
        auto updated = updateObject(t, std::get<Json>(std::move(body)), info.ns, info.name, info.subresource);
        if (auto *e = std::get_if<ApiError>(&updated))
            return reply->respond(statusResponse(*e));
        return reply->respond(jsonResponse(200, *std::get<ObjectPtr>(updated)));
    }
    if (info.verb == "patch")
        return reply->respond(handlePatch(r, info));
    if (info.verb == "delete" || info.verb == "deletecollection") {
        Json options = Json::object();
        if (!r.body.empty()) {
            auto body = parseBody(r);
            if (auto *e = std::get_if<ApiError>(&body))
                return reply->respond(statusResponse(*e));
            options = std::get<Json>(std::move(body));
        }
        if (auto g = r.queryValue("gracePeriodSeconds"))
            try {
                options["gracePeriodSeconds"] = std::stoi(*g);
            } catch (...) {
                return reply->respond(statusResponse(badRequest("gracePeriodSeconds must be an integer")));
            }
        if (auto p = r.queryValue("propagationPolicy"))
            options["propagationPolicy"] = *p;
        if (info.verb == "delete") {
            auto deleted = deleteObject(t, info.ns, info.name, options);
            if (auto *e = std::get_if<ApiError>(&deleted))
                return reply->respond(statusResponse(*e));
            return reply->respond(jsonResponse(200, *std::get<ObjectPtr>(deleted)));
        }
        // deletecollection: the selection of a list, then each deleted.
        HttpRequest listReq = r;
        listReq.query.erase(
            std::remove_if(listReq.query.begin(), listReq.query.end(),
                           [](const auto &kv) { return kv.first == "limit" || kv.first == "continue"; }),
            listReq.query.end());
        HttpResponse listed = handleList(listReq, info);
        if (listed.status != 200)
            return reply->respond(std::move(listed));
        Json list = Json::parse(listed.body);
        Json items = Json::array();
        for (const auto &o : list["items"]) {
            auto deleted = deleteObject(t, objectNamespace(o), objectName(o), options);
            if (auto *p = std::get_if<ObjectPtr>(&deleted))
                items.push_back(**p);
        }
        list["items"] = items;
        return reply->respond(jsonResponse(200, list));
    }
    reply->respond(statusResponse(ApiError {405, "MethodNotAllowed", "method not allowed", Json::array()}));
}

} // namespace iterdeck::sandbox
