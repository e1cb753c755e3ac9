#include "sandbox/protobuf.h"

#include <boost/beast/core/detail/base64.hpp>

#include <cstdint>
#include <functional>

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
    if (depth > 16) {
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

std::string base64(std::string_view in)
{
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::encoded_size(in.size()), '\0');
    out.resize(b64::encode(out.data(), in.data(), in.size()));
    return out;
}

// map<string, string|bytes> entries: key = 1, value = 2.
bool mapEntry(const Field &f, Json &map, bool bytesValue, std::string *error)
{
    if (f.wire != 2) {
        *error = "malformed protobuf body: map entry";
        return false;
    }
    std::string key, value;
    Json ignored;
    bool ok = decode(f.bytes, ignored, [&](const Field &e, Json &, std::string *) {
        if (e.number == 1 && e.wire == 2)
            key = std::string(e.bytes);
        else if (e.number == 2 && e.wire == 2)
            value = std::string(e.bytes);
        return true;
    }, error);
    if (!ok)
        return false;
    map[key] = bytesValue ? base64(value) : value;
    return true;
}

bool str(const Field &f, Json &out, const char *name)
{
    if (f.wire == 2)
        out[name] = std::string(f.bytes);
    return true;
}

bool objectMeta(const Field &f, Json &meta, std::string *error)
{
    switch (f.number) {
    case 1:
        return str(f, meta, "name");
    case 2:
        return str(f, meta, "generateName");
    case 3:
        return str(f, meta, "namespace");
    case 6:
        return str(f, meta, "resourceVersion");
    case 11:
        return mapEntry(f, meta["labels"], false, error);
    case 12:
        return mapEntry(f, meta["annotations"], false, error);
    case 14:
        if (f.wire == 2)
            meta["finalizers"].push_back(std::string(f.bytes));
        return true;
    default:
        return true; // server-set fields (uid, timestamps...) are ignored on input
    }
}

bool metadataField(const Field &f, Json &obj, std::string *error)
{
    return f.wire == 2 && decode(f.bytes, obj["metadata"], objectMeta, error);
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
    bool ok = decode(body.substr(4), envelope, [&](const Field &f, Json &, std::string *err) {
        if (f.number == 1 && f.wire == 2) {
            Json tm;
            return decode(f.bytes, tm, [&](const Field &t, Json &, std::string *) {
                if (t.number == 1 && t.wire == 2)
                    apiVersion = std::string(t.bytes);
                else if (t.number == 2 && t.wire == 2)
                    kind = std::string(t.bytes);
                return true;
            }, err);
        }
        if (f.number == 2 && f.wire == 2)
            raw = f.bytes;
        return true;
    }, error);
    if (!ok)
        return std::nullopt;
    Json obj = {{"apiVersion", apiVersion}, {"kind", kind}, {"metadata", Json::object()}};
    Handler h;
    if (kind == "Namespace") {
        h = [](const Field &f, Json &o, std::string *err) {
            if (f.number == 1)
                return metadataField(f, o, err);
            if (f.number == 2 && f.wire == 2)
                return decode(f.bytes, o["spec"], [](const Field &s, Json &spec, std::string *) {
                    if (s.number == 1 && s.wire == 2)
                        spec["finalizers"].push_back(std::string(s.bytes));
                    return true;
                }, err);
            return true;
        };
    } else if (kind == "ConfigMap") {
        h = [](const Field &f, Json &o, std::string *err) {
            if (f.number == 1)
                return metadataField(f, o, err);
            if (f.number == 2)
                return mapEntry(f, o["data"], false, err);
            if (f.number == 3)
                return mapEntry(f, o["binaryData"], true, err);
            if (f.number == 4 && f.wire == 0)
                o["immutable"] = f.varint != 0;
            return true;
        };
    } else if (kind == "Secret") {
        h = [](const Field &f, Json &o, std::string *err) {
            if (f.number == 1)
                return metadataField(f, o, err);
            if (f.number == 2)
                return mapEntry(f, o["data"], true, err);
            if (f.number == 3)
                return str(f, o, "type");
            if (f.number == 4)
                return mapEntry(f, o["stringData"], false, err);
            if (f.number == 5 && f.wire == 0)
                o["immutable"] = f.varint != 0;
            return true;
        };
    } else if (kind == "ServiceAccount") {
        h = [](const Field &f, Json &o, std::string *err) {
            if (f.number == 1)
                return metadataField(f, o, err);
            if (f.number == 4 && f.wire == 0)
                o["automountServiceAccountToken"] = f.varint != 0;
            return true;
        };
    } else if (kind == "SelfSubjectAccessReview") {
        h = [](const Field &f, Json &o, std::string *err) {
            if (f.number == 1)
                return metadataField(f, o, err);
            if (f.number != 2 || f.wire != 2)
                return true;
            return decode(f.bytes, o["spec"], [](const Field &s, Json &spec, std::string *e2) {
                if (s.number == 1 && s.wire == 2)
                    return decode(s.bytes, spec["resourceAttributes"], [](const Field &a, Json &ra, std::string *) {
                        static const char *names[] = {"", "namespace", "verb", "group", "version", "resource",
                                                      "subresource", "name"};
                        if (a.number >= 1 && a.number <= 7)
                            return str(a, ra, names[a.number]);
                        return true;
                    }, e2);
                if (s.number == 2 && s.wire == 2)
                    return decode(s.bytes, spec["nonResourceAttributes"], [](const Field &a, Json &na, std::string *) {
                        if (a.number == 1)
                            return str(a, na, "path");
                        if (a.number == 2)
                            return str(a, na, "verb");
                        return true;
                    }, e2);
                return true;
            }, err);
        };
    } else {
        *error = "the sandbox decodes protobuf bodies only for Namespace, ConfigMap, Secret, ServiceAccount and "
                 "SelfSubjectAccessReview, not " + (kind.empty() ? std::string("an unnamed kind") : kind)
            + "; send JSON (application/json) instead";
        return std::nullopt;
    }
    if (!decode(raw, obj, h, error))
        return std::nullopt;
    return obj;
}

} // namespace iterdeck::sandbox
