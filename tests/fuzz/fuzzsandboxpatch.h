#pragma once

// One fuzz iteration over the sandbox's PATCH flavours and selector parsers; shared by the
// libFuzzer target and tst_sandboxpatch, which replays the corpus and the regressions.
//
// Input: byte 0 picks the kind; the rest is "<target JSON>\n<patch JSON>" (or only a patch,
// applied to a built-in Deployment/Pod) and is also parsed as label and field selectors.
#include "sandbox/patch.h"
#include "sandbox/selector.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iterdeck::fuzz {

namespace detail {

using sandbox::Json;

inline bool hasDirective(const Json &value)
{
    if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) {
            const std::string &key = it.key();
            if (key == "$patch" || key == "$retainKeys" || key.rfind("$setElementOrder", 0) == 0
                || key.rfind("$deleteFromPrimitiveList", 0) == 0 || hasDirective(it.value()))
                return true;
        }
    } else if (value.is_array()) {
        for (const Json &item : value) {
            if (hasDirective(item))
                return true;
        }
    }
    return false;
}

// A patch function may refuse, but only the way the apiserver does, with a message.
inline bool wellFormedError(const sandbox::PatchResult &result)
{
    const auto *error = std::get_if<sandbox::ApiError>(&result);
    if (!error)
        return true;
    return (error->code == 400 || error->code == 413 || error->code == 422) && !error->message.empty()
        && !error->reason.empty();
}

inline Json sampleObject(std::string_view kind)
{
    if (kind == "Pod")
        return Json::parse(R"({"kind":"Pod","metadata":{"name":"p","namespace":"d","labels":{"app":"web"},
            "finalizers":["a","b"]},"spec":{"nodeName":"n1","containers":[{"name":"web","image":"x",
            "env":[{"name":"A","value":"1"}],"ports":[{"containerPort":80}],"volumeMounts":[{"mountPath":"/d"}]}],
            "volumes":[{"name":"d","emptyDir":{}}]},"status":{"phase":"Running","conditions":[{"type":"Ready"}]}})");
    return Json::parse(R"({"kind":"Deployment","metadata":{"name":"d","labels":{"app":"web"}},"spec":{"replicas":1,
        "selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"x",
        "args":["a"],"env":[{"name":"A"},{"name":"B"}]},{"name":"side"}],"tolerations":[{"key":"k"}]}}}})");
}

// The canonical query form of a parsed label selector.
inline std::string render(const sandbox::LabelSelector &selector)
{
    using Op = sandbox::LabelSelector::Op;
    std::string out;
    for (const auto &r : selector.requirements()) {
        if (!out.empty())
            out += ',';
        std::string values;
        for (std::size_t i = 0; i < r.values.size(); ++i)
            values += (i ? "," : "") + r.values[i];
        switch (r.op) {
        case Op::Equals:
            out += r.key + "=" + values;
            break;
        case Op::NotEquals:
            out += r.key + "!=" + values;
            break;
        case Op::In:
            out += r.key + " in (" + values + ")";
            break;
        case Op::NotIn:
            out += r.key + " notin (" + values + ")";
            break;
        case Op::Exists:
            out += r.key;
            break;
        case Op::DoesNotExist:
            out += "!" + r.key;
            break;
        case Op::GreaterThan:
            out += r.key + ">" + values;
            break;
        case Op::LessThan:
            out += r.key + "<" + values;
            break;
        }
    }
    return out;
}

inline bool selectorsOnce(std::string_view text, std::string_view kind, const Json &object, const Json &patch)
{
    std::string error;
    if (const auto selector = sandbox::LabelSelector::parse(text, &error)) {
        // What parses renders back to the same requirements.
        const std::string canonical = render(*selector);
        std::string again;
        const auto reparsed = sandbox::LabelSelector::parse(canonical, &again);
        if (!reparsed || render(*reparsed) != canonical)
            return false;
        const Json *labels = object.is_object() && object.contains("metadata") && object["metadata"].is_object()
                && object["metadata"].contains("labels")
            ? &object["metadata"]["labels"]
            : &object;
        (void)selector->matches(*labels);
    } else if (error.empty()) {
        return false;
    }
    error.clear();
    if (const auto selector = sandbox::FieldSelector::parse(text, kind, &error)) {
        (void)selector->matches(object);
        (void)selector->exactValue("metadata.name");
    } else if (error.empty()) {
        return false;
    }
    for (const Json *candidate :
         {&patch, patch.is_object() && patch.contains("selector") ? &patch["selector"] : &patch}) {
        error.clear();
        if (const auto selector = sandbox::LabelSelector::fromObject(*candidate, &error))
            (void)selector->matches(object);
        else if (error.empty())
            return false;
    }
    return true;
}

} // namespace detail

// Returns false when an invariant breaks (a bug); crashes, sanitizer reports and hangs are bugs too.
inline bool sandboxPatchOnce(const uint8_t *data, size_t size)
{
    using sandbox::Json;
    if (size < 1)
        return true;
    static constexpr std::string_view kinds[] = {"Pod", "Deployment", "Service", "Node", "CronJob", "ConfigMap"};
    const std::string_view kind = kinds[data[0] % std::size(kinds)];
    const std::string_view text(reinterpret_cast<const char *>(data + 1), size - 1);

    Json target;
    Json patch;
    const std::size_t newline = text.find('\n');
    if (newline != std::string_view::npos) {
        target = Json::parse(text.substr(0, newline), nullptr, false);
        patch = Json::parse(text.substr(newline + 1), nullptr, false);
    } else {
        patch = Json::parse(text, nullptr, false);
    }
    if (newline == std::string_view::npos || target.is_discarded())
        target = detail::sampleObject(kind);

    if (!detail::selectorsOnce(text, kind, target, patch.is_discarded() ? Json() : patch))
        return false;
    if (patch.is_discarded())
        return true;

    const Json before = target;
    const sandbox::PatchResult smp = sandbox::applyStrategicMergePatch(target, patch, kind);
    if (!detail::wellFormedError(smp))
        return false;
    if (const Json *doc = std::get_if<Json>(&smp); doc && !detail::hasDirective(target) && detail::hasDirective(*doc))
        return false;

    // RFC 7386 against nlohmann's own implementation.
    const sandbox::PatchResult merge = sandbox::applyMergePatch(target, patch);
    if (!detail::wellFormedError(merge))
        return false;
    if (const Json *doc = std::get_if<Json>(&merge)) {
        Json expected = target;
        expected.merge_patch(patch);
        if (*doc != expected)
            return false;
    }

    // RFC 6902 against nlohmann's implementation where both succeed.
    const sandbox::PatchResult json = sandbox::applyJsonPatch(target, patch);
    if (!detail::wellFormedError(json))
        return false;
    if (const Json *doc = std::get_if<Json>(&json)) {
        Json expected;
        bool nlohmannApplied = true;
        try {
            expected = target.patch(patch);
        } catch (const Json::exception &) {
            nlohmannApplied = false;
        }
        if (nlohmannApplied && *doc != expected)
            return false;
    }
    return target == before; // pure
}

} // namespace iterdeck::fuzz
