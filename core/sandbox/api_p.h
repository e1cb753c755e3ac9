#pragma once
// Internals of the sandbox API server, shared by its .cpp files (not a public header).
#include "sandbox/httpserver.h"
#include "sandbox/json.h"
#include "sandbox/resources.h"
#include "sandbox/runtime.h"
#include "sandbox/selector.h"
#include "sandbox/store.h"

#include <boost/asio.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace iterdeck::sandbox {

struct PolicyRule
{
    std::vector<std::string> verbs; // "*" = all
    std::vector<std::string> resources; // "pods", "pods/exec", "deployments", "*"
    std::vector<std::string> namespaces; // patterns ("dev-*"); empty = every namespace and cluster scope
};

struct SandboxUser
{
    std::string name;
    std::vector<std::string> groups;
    std::string token; // empty: client certificate only
    std::vector<PolicyRule> rules;
};

struct Identity
{
    const SandboxUser *user = nullptr;
    std::string name;
    std::vector<std::string> groups;
};

// What a request is about, once its path is parsed.
struct RequestInfo
{
    bool resourceRequest = false;
    std::string verb; // get list watch create update patch delete deletecollection
    const ResourceType *type = nullptr;
    std::string ns;
    std::string name;
    std::string subresource;
};

ApiError notFound(const ResourceType &t, const std::string &name);
ApiError badRequest(const std::string &message);
ApiError invalid(const ResourceType &t, const std::string &name, Json causes);
HttpResponse statusResponse(const ApiError &e);
HttpResponse jsonResponse(int code, const Json &body);
std::string rfc3339(std::chrono::system_clock::time_point t);
std::string nowRfc3339();
std::string randomSuffix(int n = 5);
std::string newUid();
bool isDnsSubdomain(const std::string &s);
bool isDnsLabel(const std::string &s);
bool truthy(const std::optional<std::string> &v); // Kubernetes' boolean query parsing

class Api
{
public:
    Api(boost::asio::io_context &io, Store &store, Runtime &runtime);
    ~Api();

    void handle(HttpRequest &request, const std::shared_ptr<HttpReply> &reply);

    std::vector<SandboxUser> users;
    int bookmarkIntervalSeconds = 10;
    std::string caPem;
    std::string serverAddress;

    // Reacting to changes: controllers (deployments, replicasets, statefulsets, endpoints,
    // namespaces, garbage collection, HPA, PVC binding) and the pod lifecycle.
    void onStoreEvent(const StoreEvent &e);
    void onPodStatus(const std::string &uid, const Json &status);
    void onPodEvent(const std::string &uid, const RuntimeEvent &event);
    // An Event about an object, aggregated as the kubelet's recorder does (same object, reason
    // and message: the count goes up).
    void recordEvent(const Json &involved, const std::string &type, const std::string &reason,
                     const std::string &message, const std::string &fieldPath, const std::string &component);
    void startExistingPods();
    void shutdown();

    // Object operations used by handlers and controllers.
    std::variant<ObjectPtr, ApiError> createObject(const ResourceType &t, Json obj, const std::string &ns);
    std::variant<ObjectPtr, ApiError> updateObject(const ResourceType &t, Json obj, const std::string &ns,
                                                   const std::string &name, const std::string &subresource);
    std::variant<ObjectPtr, ApiError> deleteObject(const ResourceType &t, const std::string &ns,
                                                   const std::string &name, const Json &options);

private:
    // apiserver.cpp
    void handleRequest(HttpRequest &r, const std::shared_ptr<HttpReply> &reply);
    std::optional<Identity> authenticate(const HttpRequest &r);
    bool allowed(const Identity &id, const std::string &verb, const std::string &resource, const std::string &sub,
                 const std::string &ns) const;
    std::variant<RequestInfo, ApiError> parsePath(const HttpRequest &r);
    void handleResource(HttpRequest &r, const RequestInfo &info, const Identity &id,
                        const std::shared_ptr<HttpReply> &reply);
    HttpResponse discovery(const HttpRequest &r, bool &handled);
    HttpResponse handleList(const HttpRequest &r, const RequestInfo &info);
    HttpResponse handlePatch(const HttpRequest &r, const RequestInfo &info);
    HttpResponse handleAccessReview(const HttpRequest &r, const Identity &id);
    HttpResponse handleScale(const HttpRequest &r, const RequestInfo &info);
    std::variant<Json, ApiError> parseBody(const HttpRequest &r);
    void defaultAndValidate(const ResourceType &t, Json &obj, const Json *old, std::vector<Json> &causes);

    // tables.cpp
    Json toTable(const ResourceType &t, const std::vector<ObjectPtr> &items, const std::string &rv, bool single);

    // streams.cpp
    void handleWatch(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply);
    void handleLogs(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply);
    void handleExec(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply);
    void handlePortForward(const HttpRequest &r, const RequestInfo &info, const std::shared_ptr<HttpReply> &reply);
    void fanOutWatch(const StoreEvent &e);

    // controllers.cpp
    void schedule(const std::string &what);
    void runQueue();
    void reconcileDeployment(const std::string &ns, const std::string &name);
    void reconcileReplicaSet(const std::string &ns, const std::string &name);
    void reconcileStatefulSet(const std::string &ns, const std::string &name);
    void reconcileEndpoints(const std::string &ns, const std::string &name);
    void reconcileNamespace(const std::string &name);
    void reconcileHpa(const std::string &ns, const std::string &name);
    void reconcilePvc(const std::string &ns, const std::string &name);
    void reconcilePod(const std::string &ns, const std::string &name);
    void collectGarbage(const std::string &ownerUid, const std::string &ns);
    void putIfChanged(const ResourceType &t, const ObjectPtr &old, Json updated);
    void removePodNow(const std::string &ns, const std::string &name);

public:
    struct Watcher;

private:
    boost::asio::io_context &m_io;
    Store &m_store;
    Runtime &m_runtime;
    std::map<std::string, std::set<std::shared_ptr<Watcher>>> m_watchers; // by qualified resource
    std::set<std::string> m_queue;
    bool m_queuePosted = false;
    std::map<std::string, std::pair<std::string, std::string>> m_podsByUid; // uid -> ns/name
    std::set<std::string> m_startedPods; // uids handed to the runtime
    std::set<std::string> m_stoppingPods;
    bool m_shuttingDown = false;
};

} // namespace iterdeck::sandbox
