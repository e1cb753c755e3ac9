// The PATCH flavours of the Kubernetes API on plain JSON: RFC 6902 JSON patch, RFC 7386 merge
// patch and the strategic merge patch of k8s.io/apimachinery/pkg/util/strategicpatch, driven by a
// small built-in table of the patch strategies and merge keys of the kinds the sandbox serves.
#include "sandbox/patch.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace iterdeck::sandbox {

namespace {

// Patches nest far less than this; the bound keeps the recursive merges off the stack limit.
constexpr int kMaxDepth = 1000;
// The apiserver refuses JSON patches with more operations than this (413).
constexpr std::size_t kMaxJsonPatchOperations = 10000;
// How much the "copy" operations of one patch may add to the document, in approximate bytes.
constexpr std::size_t kMaxAccumulatedCopySize = 4u << 20;

// Thrown inside this file only; every public function turns it into an ApiError.
struct Failure
{
    int code;
    std::string reason;
    std::string message;
};

[[noreturn]] void badRequest(std::string message)
{
    throw Failure {400, "BadRequest", std::move(message)};
}

[[noreturn]] void invalid(std::string message)
{
    throw Failure {422, "Invalid", std::move(message)};
}

ApiError toApiError(const Failure &f)
{
    ApiError e;
    e.code = f.code;
    e.reason = f.reason;
    e.message = f.message;
    return e;
}

ApiError internalError(const char *what)
{
    ApiError e;
    e.code = 500;
    e.reason = "InternalError";
    e.message = std::string("patch failed: ") + what;
    return e;
}

bool startsWith(std::string_view s, std::string_view prefix)
{
    return s.substr(0, prefix.size()) == prefix;
}

// A short, bounded rendering of a JSON value for error messages.
std::string brief(const Json &value)
{
    std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (s.size() > 200)
        s = s.substr(0, 197) + "...";
    return s;
}

// How deeply objects and arrays nest in `value` (0 for a scalar), without recursion.
std::size_t nesting(const Json &value)
{
    std::size_t deepest = 0;
    std::vector<std::pair<const Json *, std::size_t>> stack {{&value, 0}};
    while (!stack.empty()) {
        const auto [node, depth] = stack.back();
        stack.pop_back();
        if (!node->is_structured())
            continue;
        deepest = std::max(deepest, depth + 1);
        for (const Json &child : *node)
            stack.emplace_back(&child, depth + 1);
    }
    return deepest;
}

// Patches nest a few dozen levels at most; copying, comparing or merging a deeper one would
// recurse that deep.
void checkPatchNesting(const Json &patch)
{
    if (nesting(patch) > std::size_t(kMaxDepth))
        badRequest("the patch is nested too deeply (more than " + std::to_string(kMaxDepth) + " levels)");
}

// ---------------------------------------------------------------------------------------------
// RFC 6901 JSON pointers and RFC 6902 JSON patch

using Pointer = std::vector<std::string>;

std::optional<Pointer> parsePointer(const std::string &text)
{
    Pointer tokens;
    if (text.empty())
        return tokens;
    if (text.front() != '/')
        return std::nullopt;
    std::string token;
    for (std::size_t i = 1; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '/') {
            tokens.push_back(std::move(token));
            token.clear();
            continue;
        }
        if (text[i] == '~') {
            if (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1'))
                return std::nullopt;
            token.push_back(text[i + 1] == '0' ? '~' : '/');
            ++i;
            continue;
        }
        token.push_back(text[i]);
    }
    return tokens;
}

// An array index as RFC 6901 spells it: "0" or a decimal without leading zeros.
std::optional<std::size_t> parseIndex(const std::string &token)
{
    if (token.empty() || token.size() > 18 || (token.size() > 1 && token.front() == '0'))
        return std::nullopt;
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc() || end != token.data() + token.size())
        return std::nullopt;
    return value;
}

Json *resolve(Json &doc, const Pointer &tokens, std::size_t count)
{
    Json *node = &doc;
    for (std::size_t i = 0; i < count; ++i) {
        const std::string &token = tokens[i];
        if (node->is_object()) {
            const auto it = node->find(token);
            if (it == node->end())
                return nullptr;
            node = &*it;
        } else if (node->is_array()) {
            const auto index = parseIndex(token);
            if (!index || *index >= node->size())
                return nullptr;
            node = &(*node)[*index];
        } else {
            return nullptr;
        }
    }
    return node;
}

// Roughly how many bytes a value serialises to (bounded work: used on copied values only).
std::size_t approximateSize(const Json &value)
{
    std::size_t size = 0;
    std::vector<const Json *> stack {&value};
    while (!stack.empty()) {
        const Json *node = stack.back();
        stack.pop_back();
        size += 2;
        if (node->is_object()) {
            for (auto it = node->begin(); it != node->end(); ++it) {
                size += it.key().size() + 3;
                stack.push_back(&it.value());
            }
        } else if (node->is_array()) {
            for (const Json &child : *node)
                stack.push_back(&child);
        } else if (node->is_string()) {
            size += node->get_ref<const std::string &>().size();
        } else {
            size += 6;
        }
    }
    return size;
}

struct Operation
{
    enum Kind { Add, Remove, Replace, Move, Copy, Test } kind;
    std::string name;
    std::string pathText;
    Pointer path;
    std::string fromText;
    Pointer from;
    Json value;
};

std::vector<Operation> decodeJsonPatch(const Json &patch)
{
    if (!patch.is_array())
        badRequest("json: cannot unmarshal " + std::string(patch.type_name())
                   + " into Go value of type jsonpatch.Patch: a JSON patch must be an array of operations");
    if (patch.size() > kMaxJsonPatchOperations)
        throw Failure {413, "RequestEntityTooLarge",
                       "The allowed maximum operations in a JSON patch is " + std::to_string(kMaxJsonPatchOperations)
                           + ", got " + std::to_string(patch.size())};
    static const std::map<std::string, Operation::Kind, std::less<>> kinds
        = {{"add", Operation::Add},   {"remove", Operation::Remove}, {"replace", Operation::Replace},
           {"move", Operation::Move}, {"copy", Operation::Copy},     {"test", Operation::Test}};
    std::vector<Operation> ops;
    ops.reserve(patch.size());
    for (std::size_t i = 0; i < patch.size(); ++i) {
        const Json &item = patch[i];
        const std::string where = "operation " + std::to_string(i) + ": ";
        if (!item.is_object())
            badRequest(where + "expected an object, got " + brief(item));
        const auto op = item.find("op");
        if (op == item.end() || !op->is_string())
            badRequest(where + "missing or non-string \"op\"");
        const auto kind = kinds.find(op->get_ref<const std::string &>());
        if (kind == kinds.end())
            badRequest(where + "Unexpected kind: " + op->get<std::string>());
        Operation o {kind->second, kind->first, {}, {}, {}, {}, {}};
        const auto path = item.find("path");
        if (path == item.end() || !path->is_string())
            badRequest(where + o.name + " operation missing or non-string \"path\"");
        o.pathText = path->get<std::string>();
        auto parsed = parsePointer(o.pathText);
        if (!parsed)
            badRequest(where + "invalid JSON pointer \"" + o.pathText + "\"");
        o.path = std::move(*parsed);
        if (o.kind == Operation::Add || o.kind == Operation::Replace || o.kind == Operation::Test) {
            const auto value = item.find("value");
            if (value == item.end())
                badRequest(where + o.name + " operation missing \"value\"");
            o.value = *value;
        }
        if (o.kind == Operation::Move || o.kind == Operation::Copy) {
            const auto from = item.find("from");
            if (from == item.end() || !from->is_string())
                badRequest(where + o.name + " operation missing or non-string \"from\"");
            o.fromText = from->get<std::string>();
            auto parsedFrom = parsePointer(o.fromText);
            if (!parsedFrom)
                badRequest(where + "invalid JSON pointer \"" + o.fromText + "\"");
            o.from = std::move(*parsedFrom);
        }
        ops.push_back(std::move(o));
    }
    return ops;
}

void addAt(Json &doc, const Pointer &path, const std::string &pathText, Json value, const std::string &opName)
{
    if (path.empty()) {
        doc = std::move(value);
        return;
    }
    Json *parent = resolve(doc, path, path.size() - 1);
    if (!parent || !(parent->is_object() || parent->is_array()))
        invalid(opName + " operation does not apply: doc is missing path: \"" + pathText + "\"");
    const std::string &last = path.back();
    if (parent->is_object()) {
        (*parent)[last] = std::move(value);
        return;
    }
    if (last == "-") {
        parent->push_back(std::move(value));
        return;
    }
    const auto index = parseIndex(last);
    if (!index || *index > parent->size())
        invalid(opName + " operation does not apply: index out of bounds in \"" + pathText + "\"");
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(*index), std::move(value));
}

void removeAt(Json &doc, const Pointer &path, const std::string &pathText, const std::string &opName)
{
    if (path.empty())
        invalid(opName + " operation does not apply: cannot remove the whole document");
    Json *parent = resolve(doc, path, path.size() - 1);
    const std::string &last = path.back();
    if (parent && parent->is_object()) {
        const auto it = parent->find(last);
        if (it != parent->end()) {
            parent->erase(it);
            return;
        }
    } else if (parent && parent->is_array()) {
        const auto index = parseIndex(last);
        if (index && *index < parent->size()) {
            parent->erase(static_cast<std::size_t>(*index));
            return;
        }
    }
    invalid(opName + " operation does not apply: doc is missing path: \"" + pathText + "\"");
}

Json applyOperations(const Json &target, const std::vector<Operation> &ops)
{
    Json doc = target;
    std::size_t copied = 0;
    for (const Operation &op : ops) {
        switch (op.kind) {
        case Operation::Add:
            addAt(doc, op.path, op.pathText, op.value, op.name);
            break;
        case Operation::Remove:
            removeAt(doc, op.path, op.pathText, op.name);
            break;
        case Operation::Replace: {
            Json *node = resolve(doc, op.path, op.path.size());
            if (!node)
                invalid("replace operation does not apply: doc is missing key: \"" + op.pathText + "\"");
            *node = op.value;
            break;
        }
        case Operation::Move: {
            Json *source = resolve(doc, op.from, op.from.size());
            if (!source)
                invalid("move operation does not apply: doc is missing from path: \"" + op.fromText + "\"");
            if (op.from == op.path)
                break;
            if (op.path.size() > op.from.size() && std::equal(op.from.begin(), op.from.end(), op.path.begin()))
                invalid("move operation does not apply: \"" + op.fromText + "\" cannot be moved into its own child \""
                        + op.pathText + "\"");
            Json value = std::move(*source);
            removeAt(doc, op.from, op.fromText, op.name);
            addAt(doc, op.path, op.pathText, std::move(value), op.name);
            break;
        }
        case Operation::Copy: {
            const Json *source = resolve(doc, op.from, op.from.size());
            if (!source)
                invalid("copy operation does not apply: doc is missing from path: \"" + op.fromText + "\"");
            copied += approximateSize(*source);
            if (copied > kMaxAccumulatedCopySize)
                invalid("Unable to complete the copy, the accumulated size increase of copy is "
                        + std::to_string(copied) + ", exceeding the limit " + std::to_string(kMaxAccumulatedCopySize));
            addAt(doc, op.path, op.pathText, Json(*source), op.name);
            break;
        }
        case Operation::Test: {
            const Json *node = resolve(doc, op.path, op.path.size());
            if (!node)
                invalid("testing value " + op.pathText + " failed: doc is missing path");
            if (*node != op.value)
                invalid("testing value " + op.pathText + " failed: test failed");
            break;
        }
        }
    }
    return doc;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386 merge patch

void mergePatchInto(Json &target, const Json &patch, int depth)
{
    if (depth > kMaxDepth)
        badRequest("the patch is nested too deeply");
    if (!patch.is_object()) {
        target = patch;
        return;
    }
    if (!target.is_object())
        target = Json::object();
    for (auto it = patch.begin(); it != patch.end(); ++it) {
        if (it.value().is_null())
            target.erase(it.key());
        else
            mergePatchInto(target[it.key()], it.value(), depth + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the patch metadata of the built-in types (patchStrategy/patchMergeKey
// struct tags in k8s.io/api) for the fields whose lists merge.

struct TypeInfo;

// What is known about one position in an object: a nested struct type and, for lists, whether
// they merge (patchStrategy:"merge") and on which key (empty: a set of primitives).
struct FieldInfo
{
    bool mergeList = false;
    std::string mergeKey;
    const TypeInfo *type = nullptr; // the struct type of the value, or of each list element
};

struct TypeInfo
{
    std::map<std::string, FieldInfo, std::less<>> fields;

    const FieldInfo *field(std::string_view name) const
    {
        const auto it = fields.find(name);
        return it == fields.end() ? nullptr : &it->second;
    }
};

FieldInfo nested(const TypeInfo &type)
{
    return FieldInfo {false, {}, &type};
}

FieldInfo mergeBy(std::string key, const TypeInfo *element = nullptr)
{
    return FieldInfo {true, std::move(key), element};
}

struct Schema
{
    TypeInfo objectMeta, container, podSpec, podTemplateSpec, podStatus, conditionsStatus, workloadSpec,
        jobTemplateSpec, cronJobSpec, serviceSpec, nodeSpec, nodeStatus;
    TypeInfo pod, workload, cronJob, service, node, podTemplate, generic;

    Schema()
    {
        objectMeta.fields = {{"finalizers", mergeBy("")}, {"ownerReferences", mergeBy("uid")}};
        container.fields = {{"ports", mergeBy("containerPort")},
                            {"env", mergeBy("name")},
                            {"volumeMounts", mergeBy("mountPath")},
                            {"volumeDevices", mergeBy("devicePath")}};
        podSpec.fields = {{"containers", mergeBy("name", &container)},
                          {"initContainers", mergeBy("name", &container)},
                          {"ephemeralContainers", mergeBy("name", &container)},
                          {"volumes", mergeBy("name")},
                          {"imagePullSecrets", mergeBy("name")},
                          {"hostAliases", mergeBy("ip")},
                          {"topologySpreadConstraints", mergeBy("topologyKey")},
                          {"schedulingGates", mergeBy("name")},
                          {"resourceClaims", mergeBy("name")}};
        podTemplateSpec.fields = {{"metadata", nested(objectMeta)}, {"spec", nested(podSpec)}};
        podStatus.fields = {{"conditions", mergeBy("type")}, {"podIPs", mergeBy("ip")}, {"hostIPs", mergeBy("ip")}};
        conditionsStatus.fields = {{"conditions", mergeBy("type")}};
        workloadSpec.fields = {{"template", nested(podTemplateSpec)}};
        jobTemplateSpec.fields = {{"metadata", nested(objectMeta)}, {"spec", nested(workloadSpec)}};
        cronJobSpec.fields = {{"jobTemplate", nested(jobTemplateSpec)}};
        serviceSpec.fields = {{"ports", mergeBy("port")}};
        nodeSpec.fields = {{"podCIDRs", mergeBy("")}};
        nodeStatus.fields = {{"conditions", mergeBy("type")}, {"addresses", mergeBy("type")}};

        pod.fields = {{"metadata", nested(objectMeta)}, {"spec", nested(podSpec)}, {"status", nested(podStatus)}};
        workload.fields
            = {{"metadata", nested(objectMeta)}, {"spec", nested(workloadSpec)}, {"status", nested(conditionsStatus)}};
        cronJob.fields = {{"metadata", nested(objectMeta)}, {"spec", nested(cronJobSpec)}};
        service.fields
            = {{"metadata", nested(objectMeta)}, {"spec", nested(serviceSpec)}, {"status", nested(conditionsStatus)}};
        node.fields = {{"metadata", nested(objectMeta)}, {"spec", nested(nodeSpec)}, {"status", nested(nodeStatus)}};
        podTemplate.fields = {{"metadata", nested(objectMeta)}, {"template", nested(podTemplateSpec)}};
        generic.fields = {{"metadata", nested(objectMeta)}, {"status", nested(conditionsStatus)}};
    }

    const TypeInfo *forKind(std::string_view kind) const
    {
        if (kind == "Pod")
            return &pod;
        if (kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" || kind == "DaemonSet"
            || kind == "ReplicationController" || kind == "Job")
            return &workload;
        if (kind == "CronJob")
            return &cronJob;
        if (kind == "Service")
            return &service;
        if (kind == "Node")
            return &node;
        if (kind == "PodTemplate")
            return &podTemplate;
        return &generic;
    }
};

const Schema &schema()
{
    static const Schema s;
    return s;
}

constexpr std::string_view kDirectiveMarker = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList";

// "$setElementOrder/containers" -> "containers" (apimachinery's extractKey).
std::optional<std::string> directiveTarget(const std::string &key, std::string_view prefix)
{
    const auto slash = key.find('/');
    if (slash == std::string::npos || std::string_view(key).substr(0, slash) != prefix)
        return std::nullopt;
    return key.substr(slash + 1);
}

[[noreturn]] void noMergeKey(const Json &element, const std::string &mergeKey)
{
    badRequest("map: " + brief(element) + " does not contain declared merge key: " + mergeKey);
}

// The value a list element is identified by: its merge key for maps of a keyed list, else itself.
const Json *identity(const Json &element, const std::string &mergeKey)
{
    if (mergeKey.empty())
        return &element;
    if (!element.is_object())
        return nullptr;
    const auto it = element.find(mergeKey);
    return it == element.end() ? nullptr : &*it;
}

bool sameIdentity(const Json &a, const Json &b, const std::string &mergeKey)
{
    const Json *ia = identity(a, mergeKey);
    const Json *ib = identity(b, mergeKey);
    return ia && ib && *ia == *ib;
}

// An unambiguous string that is the same for values comparing equal as JSON (numbers by value,
// as Go compares decoded JSON, where integral numbers are int64), for hashing list identities.
void appendCanonical(std::string &out, const Json &value, int depth)
{
    if (depth > kMaxDepth)
        badRequest("the patch is nested too deeply");
    switch (value.type()) {
    case Json::value_t::object:
        out += '{';
        for (auto it = value.begin(); it != value.end(); ++it) {
            out += std::to_string(it.key().size()) + ':' + it.key();
            appendCanonical(out, it.value(), depth + 1);
        }
        out += '}';
        break;
    case Json::value_t::array:
        out += '[';
        for (const Json &item : value)
            appendCanonical(out, item, depth + 1);
        out += ']';
        break;
    case Json::value_t::string: {
        const auto &text = value.get_ref<const std::string &>();
        out += 's' + std::to_string(text.size()) + ':' + text;
        break;
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
        out += 'i' + value.dump() + ';';
        break;
    case Json::value_t::number_float: {
        const double d = value.get<double>();
        if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.2e18)
            out += 'i' + std::to_string(static_cast<long long>(d)) + ';';
        else
            out += 'd' + value.dump() + ';';
        break;
    }
    case Json::value_t::boolean:
        out += value.get<bool>() ? "T" : "F";
        break;
    default:
        out += 'n';
    }
}

std::optional<std::string> identityKey(const Json &element, const std::string &mergeKey)
{
    const Json *id = identity(element, mergeKey);
    if (!id)
        return std::nullopt;
    std::string key;
    appendCanonical(key, *id, 0);
    return key;
}

// Where each identity first appears in a list (apimachinery's index(), without the linear scan).
class IdentityIndex
{
public:
    IdentityIndex(const std::vector<Json> &items, std::string mergeKey)
        : m_mergeKey(std::move(mergeKey))
    {
        for (std::size_t i = 0; i < items.size(); ++i)
            add(items[i], i);
    }

    void add(const Json &item, std::size_t index)
    {
        if (auto key = identityKey(item, m_mergeKey))
            m_first.emplace(std::move(*key), index);
    }

    std::ptrdiff_t find(const Json &item) const
    {
        const auto key = identityKey(item, m_mergeKey);
        if (!key)
            return -1;
        const auto it = m_first.find(*key);
        return it == m_first.end() ? -1 : static_cast<std::ptrdiff_t>(it->second);
    }

private:
    std::string m_mergeKey;
    std::unordered_map<std::string, std::size_t> m_first;
};

std::vector<Json> elements(const Json &array)
{
    return std::vector<Json>(array.begin(), array.end());
}

// normalizeSliceOrder: items found in `order` sorted by their place there (stable); the others
// keep their relative order behind them.
void sortByOrder(std::vector<Json> &items, const std::vector<Json> &order, const std::string &mergeKey)
{
    const IdentityIndex orderIndex(order, mergeKey);
    std::vector<std::pair<std::ptrdiff_t, Json>> keyed;
    keyed.reserve(items.size());
    for (Json &item : items) {
        std::ptrdiff_t index = orderIndex.find(item);
        if (index < 0)
            index = std::ptrdiff_t(order.size());
        keyed.emplace_back(index, std::move(item));
    }
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
    items.clear();
    for (auto &entry : keyed)
        items.push_back(std::move(entry.second));
}

// normalizeElementOrder + mergeSortedSlice: patch items in patch order, server-only items in
// server order, interleaved by their places in the server's list where both are known; otherwise
// the patch item comes first.
Json normalizeElementOrder(std::vector<Json> patchItems, std::vector<Json> serverOnly,
                           const std::vector<Json> &patchOrder, const std::vector<Json> &serverOrder,
                           const std::string &mergeKey)
{
    sortByOrder(patchItems, patchOrder, mergeKey);
    sortByOrder(serverOnly, serverOrder, mergeKey);
    const IdentityIndex serverIndex(serverOrder, mergeKey);
    std::vector<std::ptrdiff_t> serverPlaces, patchPlaces;
    for (const Json &item : serverOnly)
        serverPlaces.push_back(serverIndex.find(item));
    for (const Json &item : patchItems)
        patchPlaces.push_back(serverIndex.find(item));
    Json result = Json::array();
    std::size_t i = 0, j = 0;
    while (i < serverOnly.size() || j < patchItems.size()) {
        if (j >= patchItems.size()) {
            result.push_back(std::move(serverOnly[i++]));
        } else if (i >= serverOnly.size()) {
            result.push_back(std::move(patchItems[j++]));
        } else {
            const std::ptrdiff_t li = serverPlaces[i];
            const std::ptrdiff_t ri = patchPlaces[j];
            if (li >= 0 && ri >= 0 && li < ri)
                result.push_back(std::move(serverOnly[i++]));
            else
                result.push_back(std::move(patchItems[j++]));
        }
    }
    return result;
}

// Splits `merged` into the items present in `by` (by identity) and the others.
void partition(const Json &merged, const std::vector<Json> &by, const std::string &mergeKey, std::vector<Json> &present,
               std::vector<Json> &absent)
{
    const IdentityIndex index(by, mergeKey);
    for (const Json &item : merged) {
        if (index.find(item) >= 0)
            present.push_back(item);
        else
            absent.push_back(item);
    }
}

class StrategicMerger
{
public:
    // Merges `patch` (an object) into `original` (an object). Returns false when the patch says
    // "$patch: delete": `original` is then {} (what apimachinery leaves for an existing map); a
    // caller merging into nothing drops the value instead.
    bool mergeMap(Json &original, Json patch, const TypeInfo *type, int depth)
    {
        checkDepth(depth);
        if (!original.is_object())
            original = Json::object();
        if (const auto marker = patch.find(kDirectiveMarker); marker != patch.end()) {
            const Json directive = *marker;
            patch.erase(marker);
            if (directive == "delete") {
                original = Json::object();
                return false;
            }
            if (directive == "replace") {
                original = Json::object();
                mergeMap(original, std::move(patch), type, depth);
                return true;
            }
            if (directive != "merge")
                badRequest("unknown patch type: " + brief(directive) + " in map: " + brief(patch));
        }

        applyRetainKeys(original, patch);

        std::vector<std::string> orderKeys;
        for (auto it = patch.begin(); it != patch.end(); ++it) {
            if (startsWith(it.key(), kSetElementOrder))
                orderKeys.push_back(it.key());
        }
        for (const std::string &key : orderKeys)
            applySetElementOrder(original, patch, key, type, depth);

        std::vector<std::pair<std::string, Json>> deletions;
        for (auto it = patch.begin(); it != patch.end(); ++it) {
            const std::string &key = it.key();
            Json &value = it.value();
            if (startsWith(key, kDeleteFromPrimitiveList)) {
                auto target = directiveTarget(key, kDeleteFromPrimitiveList);
                if (!target)
                    badRequest("invalid patch format of primitive list");
                deletions.emplace_back(std::move(*target), std::move(value));
                continue;
            }
            if (startsWith(key, "$"))
                continue; // directives are consumed above; unknown ones are not fields of built-in kinds
            const FieldInfo *field = type ? type->field(key) : nullptr;
            if (value.is_null()) {
                original.erase(key);
                continue;
            }
            const auto existing = original.find(key);
            if (existing != original.end() && existing->is_object() && value.is_object()) {
                mergeMap(*existing, std::move(value), field ? field->type : nullptr, depth + 1);
            } else if (existing != original.end() && existing->is_array() && value.is_array()) {
                *existing = mergeList(*existing, std::move(value), field, depth + 1);
            } else if (auto clean = cleanValue(std::move(value), field, depth + 1)) {
                original[key] = std::move(*clean);
            } else {
                original.erase(key);
            }
        }

        for (auto &[key, values] : deletions) {
            if (values.is_null())
                continue;
            if (!values.is_array())
                badRequest("invalid patch format of primitive list");
            const auto existing = original.find(key);
            if (existing == original.end() || !existing->is_array())
                continue;
            const IdentityIndex doomed(elements(values), {});
            Json kept = Json::array();
            for (Json &item : *existing) {
                if (doomed.find(item) < 0)
                    kept.push_back(std::move(item));
            }
            *existing = std::move(kept);
        }
        return true;
    }

    // A value with no counterpart in the original: merged into nothing, which processes the
    // directives inside it and drops its nulls (apimachinery's discardNullValuesFromPatch and
    // removeDirectives). nullopt: a map saying "$patch: delete", which is dropped.
    std::optional<Json> cleanValue(Json value, const FieldInfo *field, int depth)
    {
        if (value.is_object()) {
            Json result = Json::object();
            if (!mergeMap(result, std::move(value), field ? field->type : nullptr, depth))
                return std::nullopt;
            return result;
        }
        if (value.is_array())
            return mergeList(Json::array(), std::move(value), field, depth);
        return value;
    }

    // mergeSliceHandler: merge lists merge, the others are replaced by the (cleaned) patch.
    // `serverOrder` (optional) receives the live order $setElementOrder interleaves with; see
    // mergeSlice.
    Json mergeList(const Json &original, Json patch, const FieldInfo *field, int depth,
                   std::vector<Json> *serverOrder = nullptr)
    {
        checkDepth(depth);
        if (serverOrder)
            *serverOrder = elements(original);
        if (field && field->mergeList)
            return mergeSlice(original, std::move(patch), field->mergeKey, field->type, depth, serverOrder);
        FieldInfo element;
        if (field)
            element.type = field->type;
        Json result = Json::array();
        for (Json &item : patch) {
            if (auto clean = cleanValue(std::move(item), &element, depth + 1))
                result.push_back(std::move(*clean));
        }
        return result;
    }

private:
    static void checkDepth(int depth)
    {
        if (depth > kMaxDepth)
            badRequest("the patch is nested too deeply");
    }

    enum class ElementKind { None, Object, String, Number, Boolean };

    static ElementKind elementKind(const Json &original, const Json &patch)
    {
        ElementKind kind = ElementKind::None;
        for (const Json *list : {&original, &patch}) {
            for (const Json &item : *list) {
                ElementKind k = ElementKind::None;
                if (item.is_array())
                    throw Failure {422, "Invalid", "lists of lists are not supported"};
                if (item.is_object())
                    k = ElementKind::Object;
                else if (item.is_string())
                    k = ElementKind::String;
                else if (item.is_number())
                    k = ElementKind::Number;
                else if (item.is_boolean())
                    k = ElementKind::Boolean;
                if (k == ElementKind::None)
                    continue;
                if (kind != ElementKind::None && kind != k)
                    invalid("list element types are not identical: " + brief(original) + " and " + brief(patch));
                kind = k;
            }
        }
        return kind;
    }

    // `serverOrder`, for keyed lists: apimachinery deletes entries in place, so the live list the
    // caller keeps (same backing array, same length) ends up holding the remaining entries
    // followed by the first appended new ones; $setElementOrder then interleaves server-only
    // items by that order. Reproduced here as (kept ++ appended)[:len(original)].
    Json mergeSlice(const Json &original, Json patch, const std::string &mergeKey, const TypeInfo *elementType,
                    int depth, std::vector<Json> *serverOrder)
    {
        if (original.empty() && patch.empty())
            return Json::array();
        const ElementKind kind = elementKind(original, patch);
        if (kind != ElementKind::Object) {
            // A set of primitives: the union, ordered like the patch and the live list.
            Json merged = Json::array();
            std::unordered_set<std::string> seen;
            const Json *lists[] = {&original, &patch};
            for (const Json *list : lists) {
                for (const Json &item : *list) {
                    if (seen.insert(*identityKey(item, {})).second)
                        merged.push_back(item);
                }
            }
            const std::vector<Json> patchOrder = elements(patch);
            std::vector<Json> patchItems, serverOnly;
            partition(merged, patchOrder, {}, patchItems, serverOnly);
            return normalizeElementOrder(std::move(patchItems), std::move(serverOnly), patchOrder, elements(original),
                                         {});
        }
        if (mergeKey.empty())
            invalid("cannot merge lists of maps without a merge key: " + brief(patch));

        FieldInfo elementField;
        elementField.type = elementType;

        // mergeSliceWithSpecialElements
        std::unordered_set<std::string> deleted;
        std::vector<Json> plain;
        bool replace = false;
        for (Json &item : patch) {
            const auto marker = item.find(kDirectiveMarker);
            if (marker == item.end()) {
                plain.push_back(std::move(item));
                continue;
            }
            if (*marker == "delete") {
                const auto key = identityKey(item, mergeKey);
                if (!key)
                    noMergeKey(item, mergeKey);
                deleted.insert(*key);
            } else if (*marker == "replace") {
                replace = true;
            } else if (*marker == "merge") {
                item.erase(marker);
                plain.push_back(std::move(item));
            } else {
                badRequest("unknown patch type: " + brief(*marker) + " in map: " + brief(item));
            }
        }
        Json base = Json::array();
        for (const Json &existing : original) {
            const auto key = identityKey(existing, mergeKey);
            if (!key || !deleted.count(*key))
                base.push_back(existing);
        }
        if (serverOrder)
            *serverOrder = elements(base);
        if (replace) {
            Json result = Json::array();
            for (Json &item : plain) {
                if (auto clean = cleanValue(std::move(item), &elementField, depth + 1))
                    result.push_back(std::move(*clean));
            }
            return result;
        }

        // mergeSliceWithoutSpecialElements
        Json merged = base;
        for (const Json &item : plain) {
            if (!item.contains(mergeKey))
                noMergeKey(item, mergeKey);
        }
        IdentityIndex mergedIndex(elements(merged), mergeKey);
        for (const Json &item : plain) {
            if (const std::ptrdiff_t match = mergedIndex.find(item); match >= 0) {
                mergeMap(merged[std::size_t(match)], item, elementType, depth + 1);
            } else if (auto clean = cleanValue(item, &elementField, depth + 1)) {
                if (serverOrder && serverOrder->size() < original.size())
                    serverOrder->push_back(*clean);
                mergedIndex.add(*clean, merged.size());
                merged.push_back(std::move(*clean));
            }
        }
        std::vector<Json> patchItems, serverOnly;
        partition(merged, plain, mergeKey, patchItems, serverOnly);
        return normalizeElementOrder(std::move(patchItems), std::move(serverOnly), plain, elements(base), mergeKey);
    }

    // applyRetainKeysDirective: keep only the listed keys of the original map.
    static void applyRetainKeys(Json &original, Json &patch)
    {
        const auto it = patch.find(kRetainKeys);
        if (it == patch.end())
            return;
        const Json retain = *it;
        patch.erase(it);
        if (!retain.is_array())
            badRequest("invalid patch format of retainKeys");
        std::unordered_set<std::string> keys;
        for (const Json &key : retain) {
            if (key.is_string())
                keys.insert(key.get<std::string>());
        }
        const auto retained = [&keys](const std::string &key) { return keys.count(key) > 0; };
        for (auto p = patch.begin(); p != patch.end(); ++p) {
            if (p.value().is_null() || startsWith(p.key(), "$"))
                continue;
            if (!retained(p.key()))
                invalid("patch content doesn't match retainKeys list");
        }
        for (auto o = original.begin(); o != original.end();) {
            if (retained(o.key()))
                ++o;
            else
                o = original.erase(o);
        }
    }

    // validatePatchWithSetOrderList: the patch items must appear in the order list, in order.
    static void validateOrder(const Json &patchList, const Json &order, const std::string &mergeKey)
    {
        if (order.empty() || patchList.empty())
            return;
        std::vector<const Json *> items;
        for (const Json &item : patchList) {
            if (item.is_object() && item.contains(kDirectiveMarker))
                continue;
            items.push_back(&item);
        }
        std::size_t p = 0, o = 0;
        while (p < items.size() && o < order.size()) {
            const Json &item = *items[p];
            if (!mergeKey.empty()) {
                if (!item.is_object() || !order[o].is_object())
                    badRequest("invalid patch format of setElementOrder list: expected maps in " + brief(order));
                if (!item.contains(mergeKey))
                    noMergeKey(item, mergeKey);
                if (!order[o].contains(mergeKey))
                    noMergeKey(order[o], mergeKey);
            }
            if (sameIdentity(item, order[o], mergeKey))
                ++p;
            ++o;
        }
        if (p < items.size())
            badRequest("The order in patch list:\n" + brief(patchList) + "\n doesn't match $setElementOrder list:\n"
                       + brief(order));
    }

    // mergePatchIntoOriginal for one "$setElementOrder/<list>" directive: merges the list now and
    // orders the result by the directive, then by the patch, then by the live list.
    void applySetElementOrder(Json &original, Json &patch, const std::string &key, const TypeInfo *type, int depth)
    {
        Json order = std::move(patch[key]);
        patch.erase(key);
        const auto name = directiveTarget(key, kSetElementOrder);
        if (!name || !order.is_array())
            badRequest("invalid patch format of setElementOrder list");
        const FieldInfo *field = type ? type->field(*name) : nullptr;
        const std::string mergeKey = field && field->mergeList ? field->mergeKey : std::string();
        if (!mergeKey.empty()) {
            for (const Json &item : order) {
                if (!item.is_object())
                    badRequest("invalid patch format of setElementOrder list: expected maps in " + brief(order));
                if (!item.contains(mergeKey))
                    noMergeKey(item, mergeKey);
            }
        }

        const auto originalIt = original.find(*name);
        const bool foundOriginal = originalIt != original.end() && originalIt->is_array();
        const auto patchIt = patch.find(*name);
        if (patchIt != patch.end() && !patchIt->is_array())
            return; // not a list (e.g. null): the ordinary merge handles it
        const bool foundPatch = patchIt != patch.end();
        if (!foundOriginal && !foundPatch)
            return;
        if (foundPatch)
            validateOrder(*patchIt, order, mergeKey);

        const Json originalList = foundOriginal ? *originalIt : Json::array();
        std::vector<Json> serverOrder = elements(originalList);
        Json merged;
        if (foundPatch) {
            merged = mergeList(originalList, std::move(*patchIt), field, depth + 1, &serverOrder);
            patch.erase(*name);
        } else {
            merged = originalList;
        }
        const std::vector<Json> orderItems = elements(order);
        std::vector<Json> patchItems, serverOnly;
        partition(merged, orderItems, mergeKey, patchItems, serverOnly);
        original[*name]
            = normalizeElementOrder(std::move(patchItems), std::move(serverOnly), orderItems, serverOrder, mergeKey);
    }
};

template<typename F> PatchResult guarded(F &&body)
{
    try {
        return body();
    } catch (const Failure &f) {
        return toApiError(f);
    } catch (const std::exception &e) {
        return internalError(e.what());
    } catch (...) {
        return internalError("unknown error");
    }
}

} // namespace

PatchResult applyJsonPatch(const Json &target, const Json &patch)
{
    return guarded([&]() -> PatchResult {
        checkPatchNesting(patch);
        return applyOperations(target, decodeJsonPatch(patch));
    });
}

PatchResult applyMergePatch(const Json &target, const Json &patch)
{
    return guarded([&]() -> PatchResult {
        checkPatchNesting(patch);
        Json result = target;
        mergePatchInto(result, patch, 0);
        return result;
    });
}

PatchResult applyStrategicMergePatch(const Json &target, const Json &patch, std::string_view kind)
{
    return guarded([&]() -> PatchResult {
        if (!patch.is_object())
            badRequest("json: cannot unmarshal " + std::string(patch.type_name())
                       + " into Go value of type map[string]interface {}: a strategic merge patch must be an object");
        checkPatchNesting(patch);
        Json result = target.is_object() ? target : Json::object();
        StrategicMerger merger;
        if (!merger.mergeMap(result, patch, schema().forKind(kind), 0))
            result = Json::object();
        return result;
    });
}

} // namespace iterdeck::sandbox
