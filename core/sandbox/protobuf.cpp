#include "sandbox/protobuf.h"

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace iterdeck::sandbox {

namespace {

struct Field
{
    std::uint32_t number = 0;
    int wire = 0;
    std::uint64_t varint = 0;
    std::string_view bytes;
};

class Reader
{
public:
    explicit Reader(std::string_view data)
        : m_data(data)
    { }
    bool atEnd() const { return m_pos >= m_data.size(); }
    bool next(Field &f, std::string *error)
    {
        std::uint64_t key;
        if (!varint(key))
            return fail(error, "truncated field key");
        f.number = std::uint32_t(key >> 3);
        f.wire = int(key & 7);
        switch (f.wire) {
        case 0:
            return varint(f.varint) || fail(error, "truncated varint");
        case 1:
            if (m_data.size() - m_pos < 8)
                return fail(error, "truncated fixed64");
            m_pos += 8;
            return true;
        case 5:
            if (m_data.size() - m_pos < 4)
                return fail(error, "truncated fixed32");
            m_pos += 4;
            return true;
        case 2: {
            std::uint64_t len;
            if (!varint(len) || len > m_data.size() - m_pos)
                return fail(error, "truncated length-delimited field");
            f.bytes = m_data.substr(m_pos, std::size_t(len));
            m_pos += std::size_t(len);
            return true;
        }
        default:
            return fail(error, "unsupported wire type " + std::to_string(f.wire));
        }
    }

private:
    bool varint(std::uint64_t &out)
    {
        out = 0;
        for (int shift = 0; shift < 64 && m_pos < m_data.size(); shift += 7) {
            auto b = static_cast<unsigned char>(m_data[m_pos++]);
            out |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80))
                return true;
        }
        return false;
    }
    static bool fail(std::string *error, const std::string &what)
    {
        *error = "malformed protobuf body: " + what;
        return false;
    }
    std::string_view m_data;
    std::size_t m_pos = 0;
};

using Handler = std::function<bool(const Field &, Json &, std::string *)>;

bool decode(std::string_view data, Json &out, const Handler &h, std::string *error, int depth = 0)
{
    if (depth > 32) {
        *error = "malformed protobuf body: nested too deeply";
        return false;
    }
    if (!out.is_object())
        out = Json::object();
    Reader r(data);
    Field f;
    while (!r.atEnd()) {
        if (!r.next(f, error))
            return false;
        if (!h(f, out, error))
            return false;
    }
    return true;
}

// The messages kubectl's typed commands send, by field number (k8s.io/api generated.proto).
enum class Type { Str, Int, Bool, Msg, MapStr, MapBytes, MapQuantity, IntOrStr };

struct FieldSpec
{
    std::uint32_t number;
    const char *name;
    Type type = Type::Str;
    bool repeated = false;
    const char *message = nullptr;
};

const std::map<std::string, std::vector<FieldSpec>> &schemas()
{
    using T = Type;
    static const std::map<std::string, std::vector<FieldSpec>> s = {
        {"ObjectMeta",
         {{1, "name"},
          {2, "generateName"},
          {3, "namespace"},
          {6, "resourceVersion"},
          {11, "labels", T::MapStr},
          {12, "annotations", T::MapStr},
          {14, "finalizers", T::Str, true}}},
        {"Namespace", {{1, "metadata", T::Msg, false, "ObjectMeta"}, {2, "spec", T::Msg, false, "NamespaceSpec"}}},
        {"NamespaceSpec", {{1, "finalizers", T::Str, true}}},
        {"ConfigMap",
         {{1, "metadata", T::Msg, false, "ObjectMeta"},
          {2, "data", T::MapStr},
          {3, "binaryData", T::MapBytes},
          {4, "immutable", T::Bool}}},
        {"Secret",
         {{1, "metadata", T::Msg, false, "ObjectMeta"},
          {2, "data", T::MapBytes},
          {3, "type"},
          {4, "stringData", T::MapStr},
          {5, "immutable", T::Bool}}},
        {"ServiceAccount",
         {{1, "metadata", T::Msg, false, "ObjectMeta"}, {4, "automountServiceAccountToken", T::Bool}}},
        {"SelfSubjectAccessReview",
         {{1, "metadata", T::Msg, false, "ObjectMeta"}, {2, "spec", T::Msg, false, "SelfSubjectAccessReviewSpec"}}},
        {"SelfSubjectAccessReviewSpec",
         {{1, "resourceAttributes", T::Msg, false, "ResourceAttributes"},
          {2, "nonResourceAttributes", T::Msg, false, "NonResourceAttributes"}}},
        {"ResourceAttributes",
         {{1, "namespace"},
          {2, "verb"},
          {3, "group"},
          {4, "version"},
          {5, "resource"},
          {6, "subresource"},
          {7, "name"}}},
        {"NonResourceAttributes", {{1, "path"}, {2, "verb"}}},
        {"Deployment", {{1, "metadata", T::Msg, false, "ObjectMeta"}, {2, "spec", T::Msg, false, "DeploymentSpec"}}},
        {"DeploymentSpec",
         {{1, "replicas", T::Int},
          {2, "selector", T::Msg, false, "LabelSelector"},
          {3, "template", T::Msg, false, "PodTemplateSpec"},
          {4, "strategy", T::Msg, false, "DeploymentStrategy"},
          {5, "minReadySeconds", T::Int},
          {6, "revisionHistoryLimit", T::Int},
          {7, "paused", T::Bool},
          {9, "progressDeadlineSeconds", T::Int}}},
        {"LabelSelector",
         {{1, "matchLabels", T::MapStr}, {2, "matchExpressions", T::Msg, true, "LabelSelectorRequirement"}}},
        {"LabelSelectorRequirement", {{1, "key"}, {2, "operator"}, {3, "values", T::Str, true}}},
        {"DeploymentStrategy", {{1, "type"}, {2, "rollingUpdate", T::Msg, false, "RollingUpdateDeployment"}}},
        {"RollingUpdateDeployment", {{1, "maxUnavailable", T::IntOrStr}, {2, "maxSurge", T::IntOrStr}}},
        {"PodTemplateSpec", {{1, "metadata", T::Msg, false, "ObjectMeta"}, {2, "spec", T::Msg, false, "PodSpec"}}},
        {"PodSpec",
         {{2, "containers", T::Msg, true, "Container"},
          {3, "restartPolicy"},
          {4, "terminationGracePeriodSeconds", T::Int},
          {6, "dnsPolicy"},
          {7, "nodeSelector", T::MapStr},
          {8, "serviceAccountName"},
          {20, "initContainers", T::Msg, true, "Container"}}},
        {"Container",
         {{1, "name"},
          {2, "image"},
          {3, "command", T::Str, true},
          {4, "args", T::Str, true},
          {5, "workingDir"},
          {6, "ports", T::Msg, true, "ContainerPort"},
          {7, "env", T::Msg, true, "EnvVar"},
          {8, "resources", T::Msg, false, "ResourceRequirements"},
          {13, "terminationMessagePath"},
          {14, "imagePullPolicy"},
          {16, "stdin", T::Bool},
          {17, "stdinOnce", T::Bool},
          {18, "tty", T::Bool},
          {20, "terminationMessagePolicy"}}},
        {"ContainerPort",
         {{1, "name"}, {2, "hostPort", T::Int}, {3, "containerPort", T::Int}, {4, "protocol"}, {5, "hostIP"}}},
        {"EnvVar", {{1, "name"}, {2, "value"}}},
        {"ResourceRequirements", {{1, "limits", T::MapQuantity}, {2, "requests", T::MapQuantity}}},
        {"Service", {{1, "metadata", T::Msg, false, "ObjectMeta"}, {2, "spec", T::Msg, false, "ServiceSpec"}}},
        {"ServiceSpec",
         {{1, "ports", T::Msg, true, "ServicePort"},
          {2, "selector", T::MapStr},
          {3, "clusterIP"},
          {4, "type"},
          {7, "sessionAffinity"},
          {18, "clusterIPs", T::Str, true}}},
        {"ServicePort",
         {{1, "name"}, {2, "protocol"}, {3, "port", T::Int}, {4, "targetPort", T::IntOrStr}, {5, "nodePort", T::Int}}},
    };
    return s;
}

bool decodeMessage(std::string_view data, const std::string &message, Json &out, std::string *error, int depth);

bool decodeField(const Field &f, const FieldSpec &spec, Json &out, std::string *error, int depth)
{
    auto expectWire = [&](int wire) {
        if (f.wire == wire)
            return true;
        *error
            = std::string("malformed protobuf body: field ") + spec.name + " has wire type " + std::to_string(f.wire);
        return false;
    };
    Json value;
    switch (spec.type) {
    case Type::Str:
        if (!expectWire(2))
            return false;
        if (f.bytes.empty() && !spec.repeated)
            return true; // an empty string is how gogo-protobuf spells "unset"
        value = std::string(f.bytes);
        break;
    case Type::Int:
        if (!expectWire(0))
            return false;
        value = static_cast<std::int64_t>(static_cast<std::int32_t>(f.varint));
        break;
    case Type::Bool:
        if (!expectWire(0))
            return false;
        value = f.varint != 0;
        break;
    case Type::Msg:
        if (!expectWire(2) || !decodeMessage(f.bytes, spec.message, value, error, depth + 1))
            return false;
        break;
    case Type::MapStr:
    case Type::MapBytes:
    case Type::MapQuantity: {
        if (!expectWire(2))
            return false;
        std::string key, raw;
        Json ignored;
        if (!decode(
                f.bytes, ignored,
                [&](const Field &e, Json &, std::string *) {
                    if (e.number == 1 && e.wire == 2)
                        key = std::string(e.bytes);
                    else if (e.number == 2 && e.wire == 2)
                        raw = std::string(e.bytes);
                    return true;
                },
                error))
            return false;
        if (spec.type == Type::MapQuantity) {
            std::string q;
            if (!decode(
                    raw, ignored,
                    [&](const Field &e, Json &, std::string *) {
                        if (e.number == 1 && e.wire == 2)
                            q = std::string(e.bytes);
                        return true;
                    },
                    error))
                return false;
            raw = q;
        }
        Json &map = out[spec.name];
        if (!map.is_object())
            map = Json::object();
        map[key] = spec.type == Type::MapBytes ? toBase64(raw) : raw;
        return true;
    }
    case Type::IntOrStr: {
        if (!expectWire(2))
            return false;
        std::int64_t kind = 0, intVal = 0;
        std::string strVal;
        Json ignored;
        if (!decode(
                f.bytes, ignored,
                [&](const Field &e, Json &, std::string *) {
                    if (e.number == 1 && e.wire == 0)
                        kind = std::int64_t(e.varint);
                    else if (e.number == 2 && e.wire == 0)
                        intVal = static_cast<std::int32_t>(e.varint);
                    else if (e.number == 3 && e.wire == 2)
                        strVal = std::string(e.bytes);
                    return true;
                },
                error))
            return false;
        value = kind == 1 ? Json(strVal) : Json(intVal);
        break;
    }
    }
    if (spec.repeated)
        out[spec.name].push_back(std::move(value));
    else
        out[spec.name] = std::move(value);
    return true;
}

bool decodeMessage(std::string_view data, const std::string &message, Json &out, std::string *error, int depth)
{
    const auto &all = schemas();
    auto it = all.find(message);
    if (it == all.end()) {
        *error = "malformed protobuf body: unknown message " + message;
        return false;
    }
    const auto &fields = it->second;
    return decode(
        data, out,
        [&](const Field &f, Json &o, std::string *err) {
            for (const auto &spec : fields)
                if (spec.number == f.number)
                    return decodeField(f, spec, o, err, depth);
            return true; // fields the sandbox does not use are skipped, as an old server would
        },
        error, depth);
}

} // namespace

std::optional<Json> decodeKubeProtobuf(std::string_view body, std::string *error)
{
    static constexpr std::string_view magic("k8s\0", 4);
    if (body.substr(0, 4) != magic) {
        *error = "malformed protobuf body: the k8s magic prefix is missing";
        return std::nullopt;
    }
    std::string apiVersion, kind;
    std::string_view raw;
    Json envelope;
    bool ok = decode(
        body.substr(4), envelope,
        [&](const Field &f, Json &, std::string *err) {
            if (f.number == 1 && f.wire == 2) {
                Json tm;
                return decode(
                    f.bytes, tm,
                    [&](const Field &t, Json &, std::string *) {
                        if (t.number == 1 && t.wire == 2)
                            apiVersion = std::string(t.bytes);
                        else if (t.number == 2 && t.wire == 2)
                            kind = std::string(t.bytes);
                        return true;
                    },
                    err);
            }
            if (f.number == 2 && f.wire == 2)
                raw = f.bytes;
            return true;
        },
        error);
    if (!ok)
        return std::nullopt;
    Json obj = {{"apiVersion", apiVersion}, {"kind", kind}, {"metadata", Json::object()}};
    if (!schemas().count(kind) || kind.find("Spec") != std::string::npos || kind == "ObjectMeta") {
        *error = "the sandbox decodes protobuf bodies only for Namespace, ConfigMap, Secret, ServiceAccount, Service, "
                 "Deployment and SelfSubjectAccessReview, not "
            + (kind.empty() ? std::string("an unnamed kind") : kind) + "; send JSON (application/json) instead";
        return std::nullopt;
    }
    if (!decodeMessage(raw, kind, obj, error, 0))
        return std::nullopt;
    return obj;
}
} // namespace iterdeck::sandbox
