#include "manifests.h"

#include "config/yamlreader.h"

#include <QJsonArray>

#include <yaml-cpp/yaml.h>

namespace iterdeck::kube {

namespace {

QString metaOf(const QJsonObject &o, const char *key)
{
    return o.value(QLatin1String("metadata")).toObject().value(QLatin1String(key)).toString();
}

} // namespace

bool parseManifests(const config::SourceText &src, QList<Manifest> &manifests, Diagnostics &diag)
{
    Diagnostics local;
    std::vector<YAML::Node> docs;
    if (!config::parseYamlDocuments(src, docs, local)) {
        diag.append(local);
        return false;
    }
    config::ReadContext ctx(src, local);
    for (const YAML::Node &doc : docs) {
        if (config::isNullNode(doc))
            continue;
        const QJsonValue v = ctx.toJson(doc);
        if (!v.isObject()) {
            ctx.error(doc, QStringLiteral("a manifest must be a mapping, not %1").arg(config::describeNode(doc)));
            continue;
        }
        const QJsonObject o = v.toObject();
        const auto addOne = [&](const QJsonObject &obj, const YAML::Node &node) {
            if (!obj.value(QLatin1String("apiVersion")).isString()
                || obj.value(QLatin1String("apiVersion")).toString().isEmpty())
                ctx.error(node, QStringLiteral("apiVersion not set"));
            else if (!obj.value(QLatin1String("kind")).isString()
                     || obj.value(QLatin1String("kind")).toString().isEmpty())
                ctx.error(node, QStringLiteral("kind not set"));
            else if (metaOf(obj, "name").isEmpty() && metaOf(obj, "generateName").isEmpty())
                ctx.error(node, QStringLiteral("metadata.name not set"));
            else
                manifests.append({obj, ctx.at(node)});
        };
        if (o.value(QLatin1String("kind")).toString().endsWith(QLatin1String("List"))
            && o.value(QLatin1String("items")).isArray()) {
            const YAML::Node items = doc["items"];
            int i = 0;
            for (const QJsonValue &item : o.value(QLatin1String("items")).toArray()) {
                addOne(item.toObject(), items.IsSequence() && i < int(items.size()) ? items[std::size_t(i)] : doc);
                ++i;
            }
        } else {
            addOne(o, doc);
        }
    }
    const bool ok = !local.hasErrors();
    diag.append(local);
    return ok;
}

} // namespace iterdeck::kube
