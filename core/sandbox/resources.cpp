#include "sandbox/resources.h"

#include <algorithm>

namespace iterdeck::sandbox {

bool ResourceType::hasVerb(const std::string &v) const
{
    return std::find(verbs.begin(), verbs.end(), v) != verbs.end();
}

const Subresource *ResourceType::subresource(const std::string &name) const
{
    for (const auto &s : subresources)
        if (s.name == name)
            return &s;
    return nullptr;
}

const std::vector<ResourceType> &resourceTypes()
{
    static const std::vector<std::string> all
        = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
    static const std::vector<std::string> noCollection
        = {"create", "delete", "get", "list", "patch", "update", "watch"};
    static const std::vector<std::string> readOnly = {"get", "list", "watch"};
    static const std::vector<std::string> rw = {"get", "patch", "update"};
    static const std::vector<ResourceType> types = {
        {"",
         "v1",
         "namespaces",
         "namespace",
         "Namespace",
         false,
         {"ns"},
         noCollection,
         {},
         {{"status", "Namespace", "", "v1", rw}}},
        {"", "v1", "nodes", "node", "Node", false, {"no"}, readOnly, {}, {{"status", "Node", "", "v1", rw}}},
        {"",
         "v1",
         "pods",
         "pod",
         "Pod",
         true,
         {"po"},
         all,
         {"all"},
         {{"status", "Pod", "", "v1", rw},
          {"exec", "PodExecOptions", "", "v1", {"create", "get"}},
          {"log", "Pod", "", "v1", {"get"}},
          {"portforward", "PodPortForwardOptions", "", "v1", {"create", "get"}}}},
        {"",
         "v1",
         "services",
         "service",
         "Service",
         true,
         {"svc"},
         noCollection,
         {"all"},
         {{"status", "Service", "", "v1", rw}}},
        {"", "v1", "endpoints", "endpoints", "Endpoints", true, {"ep"}, all, {}, {}},
        {"", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}, all, {}, {}},
        {"", "v1", "secrets", "secret", "Secret", true, {}, all, {}, {}},
        {"", "v1", "events", "event", "Event", true, {"ev"}, all, {}, {}},
        {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, {"sa"}, all, {}, {}},
        {"",
         "v1",
         "persistentvolumeclaims",
         "persistentvolumeclaim",
         "PersistentVolumeClaim",
         true,
         {"pvc"},
         all,
         {},
         {{"status", "PersistentVolumeClaim", "", "v1", rw}}},
        {"apps",
         "v1",
         "deployments",
         "deployment",
         "Deployment",
         true,
         {"deploy"},
         all,
         {"all"},
         {{"status", "Deployment", "apps", "v1", rw}, {"scale", "Scale", "autoscaling", "v1", rw}}},
        {"apps",
         "v1",
         "replicasets",
         "replicaset",
         "ReplicaSet",
         true,
         {"rs"},
         all,
         {"all"},
         {{"status", "ReplicaSet", "apps", "v1", rw}, {"scale", "Scale", "autoscaling", "v1", rw}}},
        {"apps",
         "v1",
         "statefulsets",
         "statefulset",
         "StatefulSet",
         true,
         {"sts"},
         all,
         {"all"},
         {{"status", "StatefulSet", "apps", "v1", rw}, {"scale", "Scale", "autoscaling", "v1", rw}}},
        {"autoscaling",
         "v2",
         "horizontalpodautoscalers",
         "horizontalpodautoscaler",
         "HorizontalPodAutoscaler",
         true,
         {"hpa"},
         all,
         {"all"},
         {{"status", "HorizontalPodAutoscaler", "autoscaling", "v2", rw}}},
        {"authorization.k8s.io",
         "v1",
         "selfsubjectaccessreviews",
         "selfsubjectaccessreview",
         "SelfSubjectAccessReview",
         false,
         {},
         {"create"},
         {},
         {}},
    };
    return types;
}

const ResourceType *findResource(const std::string &group, const std::string &version, const std::string &plural)
{
    for (const auto &t : resourceTypes())
        if (t.group == group && t.version == version && t.plural == plural)
            return &t;
    return nullptr;
}

const ResourceType *findResourceByKind(const std::string &apiVersion, const std::string &kind)
{
    for (const auto &t : resourceTypes())
        if (t.apiVersion() == apiVersion && t.kind == kind)
            return &t;
    return nullptr;
}

const ResourceType *findResourceByQualified(const std::string &qualified)
{
    for (const auto &t : resourceTypes())
        if (t.qualified() == qualified)
            return &t;
    return nullptr;
}

} // namespace iterdeck::sandbox
