#pragma once
// The resources the sandbox serves, with what discovery says about them.
#include <string>
#include <vector>

namespace iterdeck::sandbox {

struct Subresource
{
    std::string name; // "status", "scale", "exec", "log", "portforward"
    std::string kind; // "Pod", "Scale", "PodExecOptions"...
    std::string group;
    std::string version;
    std::vector<std::string> verbs;
};

struct ResourceType
{
    std::string group; // "" for core
    std::string version;
    std::string plural;
    std::string singular;
    std::string kind;
    bool namespaced = true;
    std::vector<std::string> shortNames;
    std::vector<std::string> verbs;
    std::vector<std::string> categories;
    std::vector<Subresource> subresources;

    std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
    // The store key and the name used in messages: "pods", "deployments.apps".
    std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
    bool hasVerb(const std::string &v) const;
    const Subresource *subresource(const std::string &name) const;
};

const std::vector<ResourceType> &resourceTypes();
const ResourceType *findResource(const std::string &group, const std::string &version, const std::string &plural);
const ResourceType *findResourceByKind(const std::string &apiVersion, const std::string &kind);
const ResourceType *findResourceByQualified(const std::string &qualified);

} // namespace iterdeck::sandbox
