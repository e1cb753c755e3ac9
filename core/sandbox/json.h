#pragma once
// The sandbox speaks Kubernetes JSON; nlohmann::json is its object model.
#include <nlohmann/json.hpp>

#include <string>

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

} // namespace iterdeck::sandbox
