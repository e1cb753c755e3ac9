#pragma once
// Kubernetes' protobuf wire format, for the request bodies that kubectl's typed clients send
// as application/vnd.kubernetes.protobuf (`kubectl create namespace|configmap|secret|deployment|service|
// serviceaccount`, `kubectl auth can-i`). Only those kinds are decoded; others are refused.
#include "sandbox/json.h"

#include <optional>
#include <string>
#include <string_view>

namespace iterdeck::sandbox {

// Decodes the "k8s\0" + runtime.Unknown envelope into the JSON form of the object. Returns
// nullopt and sets *error for malformed input or a kind the sandbox does not decode.
std::optional<Json> decodeKubeProtobuf(std::string_view body, std::string *error);

} // namespace iterdeck::sandbox
