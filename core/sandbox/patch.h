#pragma once
// The four PATCH flavours of the Kubernetes API, applied to plain JSON objects.
// All functions are pure; on bad input they return an ApiError (400 BadRequest for a malformed
// patch, 422 Invalid for a patch that does not apply, e.g. a JSON-patch "test" that fails or a
// path that does not exist) and never throw.
#include "sandbox/json.h"

#include <string_view>
#include <variant>

namespace iterdeck::sandbox {

using PatchResult = std::variant<Json, ApiError>;

// RFC 6902 (application/json-patch+json): ops add, remove, replace, move, copy, test.
PatchResult applyJsonPatch(const Json &target, const Json &patch);

// RFC 7386 (application/merge-patch+json): null deletes, lists are replaced wholesale.
PatchResult applyMergePatch(const Json &target, const Json &patch);

// Strategic merge patch (application/strategic-merge-patch+json) for the built-in kinds the
// sandbox serves (`kind` is the object's kind: Pod, Deployment, ReplicaSet, StatefulSet, Service,
// ConfigMap, Secret, Namespace, ...). Lists with a patch merge key merge element by element;
// directives: $patch (replace|merge|delete) in maps and list elements, $setElementOrder/<list>,
// $retainKeys, $deleteFromPrimitiveList/<list>; null deletes a key.
PatchResult applyStrategicMergePatch(const Json &target, const Json &patch, std::string_view kind);

} // namespace iterdeck::sandbox
