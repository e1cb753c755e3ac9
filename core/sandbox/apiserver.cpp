#include "sandbox/api_p.h"
#include "sandbox/patch.h"
#include "sandbox/protobuf.h"

#include <yaml-cpp/yaml.h>

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>

namespace iterdeck::sandbox {

// ---- helpers -------------------------------------------------------------------------------

ApiError notFound(const ResourceType &t, const std::string &name)
{
    ApiError e {404, "NotFound", t.qualified() + " \"" + name + "\" not found", Json::array()};
    e.details = Json {{"name", name}, {"group", t.group}, {"kind", t.plural}};
    return e;
}

ApiError badRequest(const std::string &message)
{
    return ApiError {400, "BadRequest", message, Json::array()};
}

ApiError invalid(const ResourceType &t, const std::string &name, Json causes)
{
    std::string msg = t.kind + " \"" + name + "\" is invalid: ";
    bool first = true;
    for (const auto &c : causes) {
        msg += (first ? "" : ", ") + c.value("field", std::string()) + ": " + c.value("message", std::string());
        first = false;
    }
    if (causes.size() > 1)
        msg = t.kind + " \"" + name + "\" is invalid: [" + msg.substr(t.kind.size() + name.size() + 16) + "]";
    ApiError e {422, "Invalid", msg, std::move(causes)};
    e.details = Json {{"name", name}, {"group", t.group}, {"kind", t.kind}};
    return e;
}

HttpResponse jsonResponse(int code, const Json &body)
{
    return HttpResponse {code, "application/json", body.dump(-1, ' ', false, Json::error_handler_t::replace), {}};
}

HttpResponse statusResponse(const ApiError &e)
{
    Json s = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", Json::object()},
              {"status", "Failure"}, {"message", e.message}, {"reason", e.reason},
              {"code", e.code}};
    Json details = e.details.is_object() ? e.details : Json::object();
    if (!e.causes.empty())
        details["causes"] = e.causes;
    if (!details.empty())
        s["details"] = details;
    return jsonResponse(e.code, s);
}

std::string rfc3339(std::chrono::system_clock::time_point t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm {};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string nowRfc3339()
{
    return rfc3339(std::chrono::system_clock::now());
}

std::string randomSuffix(int n)
{
    // Kubernetes' generated names avoid vowels and confusable characters.
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char bytes[32];
    RAND_bytes(bytes, n);
    std::string out;
    for (int i = 0; i < n; ++i)
        out += alphabet[bytes[i] % (sizeof alphabet - 1)];
    return out;
}

std::string newUid()
{
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                  b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return buf;
}

bool isDnsLabel(const std::string &s)
{
    if (s.empty() || s.size() > 63)
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i + 1 < s.size()))
            return false;
    }
    return true;
}

bool isDnsSubdomain(const std::string &s)
{
    if (s.empty() || s.size() > 253)
        return false;
    std::size_t start = 0;
    while (true) {
        auto dot = s.find('.', start);
        std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!isDnsLabel(part))
            return false;
        if (dot == std::string::npos)
            return true;
        start = dot + 1;
    }
}

bool truthy(const std::optional<std::string> &v)
{
    if (!v)
        return false;
    std::string l = *v;
    for (auto &c : l)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return !(l == "0" || l == "false");
}

namespace {

Json yamlToJson(const YAML::Node &n)
{
    switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
        return nullptr;
    case YAML::NodeType::Sequence: {
        Json a = Json::array();
        for (const auto &c : n)
            a.push_back(yamlToJson(c));
        return a;
    }
    case YAML::NodeType::Map: {
        Json o = Json::object();
        for (const auto &kv : n)
            o[kv.first.as<std::string>()] = yamlToJson(kv.second);
        return o;
    }
    case YAML::NodeType::Scalar:
    default: {
        const std::string &s = n.Scalar();
        if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str")
            return s;
        if (s == "true" || s == "True" || s == "TRUE")
            return true;
        if (s == "false" || s == "False" || s == "FALSE")
            return false;
        if (s == "null" || s == "~" || s == "Null" || s == "NULL")
            return nullptr;
        if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+')) {
            try {
                std::size_t used = 0;
                long long v = std::stoll(s, &used);
                if (used == s.size())
                    return v;
                double d = std::stod(s, &used);
                if (used == s.size())
                    return d;
            } catch (...) { }
        }
        return s;
    }
    }
}

bool globMatch(const std::string &pattern, const std::string &value)
{
    if (pattern == "*")
        return true;
    if (!pattern.empty() && pattern.back() == '*')
        return value.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
    return pattern == value;
}

bool contains(const std::vector<std::string> &v, const std::string &s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

} // namespace

// ---- Api -----------------------------------------------------------------------------------

Api::Api(boost::asio::io_context &io, Store &store, Runtime &runtime)
    : m_io(io)
    , m_store(store)
    , m_runtime(runtime)
{ }

Api::~Api() = default;

std::optional<Identity> Api::authenticate(const HttpRequest &r)
{
    std::string auth = r.header("authorization");
    if (auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0) {
        std::string token = auth.substr(7);
        for (const auto &u : users)
            if (!u.token.empty() && u.token.size() == token.size()
                && CRYPTO_memcmp(u.token.data(), token.data(), token.size()) == 0)
                return Identity {&u, u.name, u.groups};
        return std::nullopt; // a wrong token is refused even with a certificate, as the apiserver does
    }
    if (r.certificateIdentity) {
        Identity id;
        id.name = r.certificateIdentity->first;
        id.groups = r.certificateIdentity->second;
        for (const auto &u : users)
            if (u.name == id.name)
                id.user = &u;
        return id;
    }
    return std::nullopt;
}

bool Api::allowed(const Identity &id, const std::string &verb, const std::string &resource, const std::string &sub,
                  const std::string &ns) const
{
    if (!id.user)
        return false;
    std::string full = sub.empty() ? resource : resource + "/" + sub;
    for (const auto &rule : id.user->rules) {
        bool verbOk = contains(rule.verbs, "*") || contains(rule.verbs, verb);
        bool resOk = false;
        for (const auto &res : rule.resources)
            if (res == "*" || res == full || (sub.empty() && res == resource) || res == resource + "/*")
                resOk = true;
        bool nsOk = rule.namespaces.empty();
        for (const auto &p : rule.namespaces)
            if (!ns.empty() && globMatch(p, ns))
                nsOk = true;
        if (verbOk && resOk && nsOk)
            return true;
    }
    return false;
}

std::variant<Json, ApiError> Api::parseBody(const HttpRequest &r)
{
    std::string ct = r.header("content-type");
    if (auto semi = ct.find(';'); semi != std::string::npos)
        ct.resize(semi);
    while (!ct.empty() && ct.back() == ' ')
        ct.pop_back();
    if (r.body.empty())
        return badRequest("the request body is empty");
    if (ct == "application/vnd.kubernetes.protobuf") {
        std::string err;
        if (auto decoded = decodeKubeProtobuf(r.body, &err))
            return *decoded;
        return ApiError {415, "UnsupportedMediaType", err, Json::array()};
    }
    if (ct == "application/cbor")
        return ApiError {415, "UnsupportedMediaType",
                         "the body of the request was in an unknown format - accepted media types include: "
                         "application/json, application/yaml, application/vnd.kubernetes.protobuf",
                         Json::array()};
    bool yaml = ct == "application/yaml" || ct == "application/apply-patch+yaml" || ct == "text/yaml";
    if (yaml) {
        try {
            YAML::Node n = YAML::Load(r.body);
            return yamlToJson(n);
        } catch (const YAML::Exception &e) {
            return badRequest("error converting YAML to JSON: yaml: line " + std::to_string(e.mark.line + 1) + ": "
                              + e.msg);
        }
    }
    try {
        return Json::parse(r.body);
    } catch (const Json::parse_error &e) {
        return badRequest(std::string("the request body is not valid JSON: ") + e.what());
    }
}

std::variant<RequestInfo, ApiError> Api::parsePath(const HttpRequest &r)
{
    RequestInfo info;
    std::vector<std::string> parts;
    std::size_t start = 1;
    const std::string &p = r.path;
    while (start <= p.size()) {
        auto slash = p.find('/', start);
        std::string seg = p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!seg.empty())
            parts.push_back(seg);
        if (slash == std::string::npos)
            break;
        start = slash + 1;
    }
    std::string group, version;
    std::size_t i = 0;
    if (parts.size() >= 2 && parts[0] == "api") {
        version = parts[1];
        i = 2;
    } else if (parts.size() >= 3 && parts[0] == "apis") {
        group = parts[1];
        version = parts[2];
        i = 3;
    } else {
        return info; // not a resource request
    }
    if (i >= parts.size())
        return info;
    info.resourceRequest = true;
    std::vector<std::string> rest(parts.begin() + long(i), parts.end());
    // namespaces/{ns}/{resource}/... ; namespaces/{name}[/status] is the namespace itself
    if (rest.size() >= 3 && rest[0] == "namespaces") {
        info.ns = rest[1];
        rest.erase(rest.begin(), rest.begin() + 2);
    }
    const std::string &plural = rest[0];
    info.type = findResource(group, version, plural);
    if (!info.type) {
        std::string gv = group.empty() ? version : group + "/" + version;
        return ApiError {404, "NotFound", "the server could not find the requested resource", Json::array()};
    }
    if (rest.size() >= 2)
        info.name = rest[1];
    if (rest.size() >= 3)
        info.subresource = rest[2];
    if (rest.size() > 3 || (!info.subresource.empty() && !info.type->subresource(info.subresource)))
        return ApiError {404, "NotFound", "the server could not find the requested resource", Json::array()};
    if (info.type->namespaced && info.ns.empty() && !info.name.empty())
        return ApiError {404, "NotFound", "the server could not find the requested resource", Json::array()};
    if (!info.type->namespaced && !info.ns.empty() && info.type->plural != "namespaces")
        return ApiError {404, "NotFound", "the server could not find the requested resource", Json::array()};

    const std::string &m = r.method;
    if (info.subresource == "exec" || info.subresource == "portforward" || info.subresource == "attach")
        info.verb = "create";
    else if (m == "GET" || m == "HEAD")
        info.verb = info.name.empty() ? (truthy(r.queryValue("watch")) ? "watch" : "list") : "get";
    else if (m == "POST")
        info.verb = "create";
    else if (m == "PUT")
        info.verb = "update";
    else if (m == "PATCH")
        info.verb = "patch";
    else if (m == "DELETE")
        info.verb = info.name.empty() ? "deletecollection" : "delete";
    else
        return ApiError {405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                         Json::array()};
    if ((info.verb == "update" || info.verb == "patch") && info.name.empty())
        return ApiError {405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                         Json::array()};
    if (info.verb == "create" && !info.name.empty() && info.subresource.empty())
        return ApiError {405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                         Json::array()};
    if (info.subresource.empty() && info.verb != "create" && !info.type->hasVerb(info.verb))
        return ApiError {405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                         Json::array()};
    return info;
}

void Api::handle(HttpRequest &r, const std::shared_ptr<HttpReply> &reply)
{
    // nlohmann::json throws on a value of an unexpected type (a number where a string belongs,
    // found by fuzz_sandbox_api); the request boundary turns that into a 400, once.
    try {
        handleRequest(r, reply);
    } catch (const Json::exception &e) {
        reply->respond(
            statusResponse(badRequest(std::string("the object has a value of the wrong type: ") + e.what())));
    }
}

void Api::handleRequest(HttpRequest &r, const std::shared_ptr<HttpReply> &reply)
{
    if (r.path == "/healthz" || r.path == "/livez" || r.path == "/readyz") {
        reply->respond(HttpResponse {200, "text/plain", "ok", {}});
        return;
    }
    auto id = authenticate(r);
    if (!id) {
        reply->respond(statusResponse(ApiError {401, "Unauthorized", "Unauthorized", Json::array()}));
        return;
    }
    auto parsed = parsePath(r);
    if (auto *e = std::get_if<ApiError>(&parsed)) {
        reply->respond(statusResponse(*e));
        return;
    }
    auto &info = std::get<RequestInfo>(parsed);
    if (!info.resourceRequest) {
        bool handled = false;
        HttpResponse resp = discovery(r, handled);
        if (handled) {
            reply->respond(std::move(resp));
            return;
        }
        reply->respond(statusResponse(
            ApiError {404, "NotFound", "the server could not find the requested resource", Json::array()}));
        return;
    }
    if (info.type->plural == "selfsubjectaccessreviews") {
        if (info.verb != "create") {
            reply->respond(statusResponse(ApiError {405, "MethodNotAllowed",
                                                    "the server does not allow this method on the requested resource",
                                                    Json::array()}));
            return;
        }
        reply->respond(handleAccessReview(r, *id));
        return;
    }
    std::string authzNs = info.type->plural == "namespaces" ? std::string() : info.ns;
    if (!allowed(*id, info.verb, info.type->plural, info.subresource, authzNs)) {
        std::string what = info.type->plural + (info.subresource.empty() ? "" : "/" + info.subresource);
        std::string msg = info.type->plural + (info.name.empty() ? "" : " \"" + info.name + "\"")
            + " is forbidden: User \"" + id->name + "\" cannot " + info.verb + " resource \"" + what
            + "\" in API group \"" + info.type->group + "\"";
        msg += authzNs.empty() ? " at the cluster scope" : " in the namespace \"" + authzNs + "\"";
        ApiError e {403, "Forbidden", msg, Json::array()};
        reply->respond(statusResponse(e));
        return;
    }
    handleResource(r, info, *id, reply);
}

HttpResponse Api::discovery(const HttpRequest &r, bool &handled)
{
    handled = true;
    const std::string &p = r.path;
    if (r.method != "GET")
        return statusResponse(ApiError {405, "MethodNotAllowed", "only GET is allowed here", Json::array()});
    auto resourceList = [](const std::string &group, const std::string &version) {
        Json res = Json::array();
        for (const auto &t : resourceTypes()) {
            if (t.group != group || t.version != version)
                continue;
            Json o = {{"name", t.plural},
                      {"singularName", t.singular},
                      {"namespaced", t.namespaced},
                      {"kind", t.kind},
                      {"verbs", t.verbs}};
            if (!t.shortNames.empty())
                o["shortNames"] = t.shortNames;
            if (!t.categories.empty())
                o["categories"] = t.categories;
            res.push_back(o);
            for (const auto &s : t.subresources) {
                Json so = {{"name", t.plural + "/" + s.name},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"kind", s.kind},
                           {"verbs", s.verbs}};
                if (s.group != t.group || s.version != t.version) {
                    so["group"] = s.group;
                    so["version"] = s.version;
                }
                res.push_back(so);
            }
        }
        return Json {{"kind", "APIResourceList"},
                     {"apiVersion", "v1"},
                     {"groupVersion", group.empty() ? version : group + "/" + version},
                     {"resources", res}};
    };
    if (p == "/version" || p == "/version/")
        return jsonResponse(200,
                            {{"major", "1"},
                             {"minor", "32"},
                             {"gitVersion", "v1.32.0-iterdeck-sandbox"},
                             {"gitCommit", "0000000000000000000000000000000000000000"},
                             {"gitTreeState", "clean"},
                             {"buildDate", "2026-01-01T00:00:00Z"},
                             {"goVersion", "go1.23.4"},
                             {"compiler", "gc"},
                             {"platform", "linux/amd64"}});
    if (p == "/api" || p == "/api/")
        return jsonResponse(
            200,
            {{"kind", "APIVersions"},
             {"versions", {"v1"}},
             {"serverAddressByClientCIDRs", {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", serverAddress}}}}});
    if (p == "/api/v1" || p == "/api/v1/")
        return jsonResponse(200, resourceList("", "v1"));
    if (p == "/apis" || p == "/apis/") {
        Json groups = Json::array();
        std::vector<std::pair<std::string, std::string>> seen;
        for (const auto &t : resourceTypes()) {
            if (t.group.empty())
                continue;
            std::pair<std::string, std::string> gv {t.group, t.version};
            if (std::find(seen.begin(), seen.end(), gv) != seen.end())
                continue;
            seen.push_back(gv);
            Json v = {{"groupVersion", t.group + "/" + t.version}, {"version", t.version}};
            groups.push_back({{"name", t.group}, {"versions", {v}}, {"preferredVersion", v}});
        }
        return jsonResponse(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
    }
    if (p.rfind("/apis/", 0) == 0) {
        std::string rest = p.substr(6);
        while (!rest.empty() && rest.back() == '/')
            rest.pop_back();
        auto slash = rest.find('/');
        std::string group = rest.substr(0, slash);
        for (const auto &t : resourceTypes()) {
            if (t.group != group || group.empty())
                continue;
            if (slash == std::string::npos) {
                Json v = {{"groupVersion", t.group + "/" + t.version}, {"version", t.version}};
                return jsonResponse(200,
                                    {{"kind", "APIGroup"},
                                     {"apiVersion", "v1"},
                                     {"name", group},
                                     {"versions", {v}},
                                     {"preferredVersion", v}});
            }
            if (rest.substr(slash + 1) == t.version)
                return jsonResponse(200, resourceList(group, t.version));
        }
    }
    if (p == "/openapi/v3" || p == "/openapi/v3/")
        return jsonResponse(200, {{"paths", Json::object()}});
    if (p == "/openapi/v2" || p == "/openapi/v2/") {
        // An empty protobuf document: kubectl then finds no schema for any kind, skips client-side
        // validation and uses its compiled-in types for strategic merge patches.
        return HttpResponse {200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", std::string(), {}};
    }
    handled = false;
    return {};
}

HttpResponse Api::handleAccessReview(const HttpRequest &r, const Identity &id)
{
    auto body = parseBody(r);
    if (auto *e = std::get_if<ApiError>(&body))
        return statusResponse(*e);
    Json review = std::get<Json>(body);
    if (!review.is_object() || review.value("kind", "") != "SelfSubjectAccessReview")
        return statusResponse(badRequest("the body must be a SelfSubjectAccessReview"));
    Json spec = review.value("spec", Json::object());
    bool ok = false;
    std::string reason;
    if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
        const Json &a = spec["resourceAttributes"];
        std::string verb = a.value("verb", "");
        std::string resource = a.value("resource", "");
        std::string sub = a.value("subresource", "");
        std::string ns = a.value("namespace", "");
        if (resource == "namespaces")
            ns.clear();
        ok = allowed(id, verb, resource, sub, ns);
        if (!ok && verb == "*") // "can-i '*' '*'": every verb must be allowed
            ok = false;
        if (ok)
            reason = "allowed by the sandbox policy of user \"" + id.name + "\"";
    } else if (spec.contains("nonResourceAttributes")) {
        ok = id.user != nullptr;
        reason = ok ? "non-resource URLs are open to known users" : "";
    } else {
        return statusResponse(badRequest("spec.resourceAttributes or spec.nonResourceAttributes is required"));
    }
    review["apiVersion"] = "authorization.k8s.io/v1";
    review["metadata"] = Json {{"creationTimestamp", nullptr}};
    review["status"] = Json {{"allowed", ok}};
    if (!reason.empty())
        review["status"]["reason"] = reason;
    return jsonResponse(201, review);
}

} // namespace iterdeck::sandbox
