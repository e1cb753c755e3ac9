#pragma once
// The sandbox speaks Kubernetes JSON; nlohmann::json is its object model.
#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

namespace iterdeck::sandbox {

using Json = nlohmann::json;

// An API error as the Kubernetes apiserver reports it: HTTP code + Status.reason + message,
// optionally with field causes (for 422 Invalid).
struct ApiError
{
    int code = 500;
    std::string reason = "InternalError";
    std::string message;
    Json causes = Json::array(); // [{reason, message, field}]
    Json details = Json::object(); // Status.details besides causes: name, group, kind
};

// The value at a path of object keys, or null when any step is missing or not an object.
inline const Json &jsonAt(const Json &o, std::initializer_list<const char *> path)
{
    static const Json null;
    const Json *cur = &o;
    for (const char *k : path) {
        if (!cur->is_object())
            return null;
        auto it = cur->find(k);
        if (it == cur->end())
            return null;
        cur = &*it;
    }
    return *cur;
}

// Standard base64 (Secret data, kubeconfig *-data fields, the base64 channel protocols).
std::string toBase64(std::string_view in);
std::string fromBase64(std::string_view in); // stops at the first invalid character

} // namespace iterdeck::sandbox
