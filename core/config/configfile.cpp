#include "configfile.h"

#include "teammanifestloader.h"
#include "yamlreader.h"

#include <QDir>
#include <QFileInfo>

#include <yaml-cpp/yaml.h>

namespace iterdeck::config {

QString kindName(ConfigKind kind)
{
    return kind == ConfigKind::Team ? QStringLiteral("team") : QStringLiteral("dev");
}

std::optional<ConfigKind> parseKind(const QString &name)
{
    if (name == u"team")
        return ConfigKind::Team;
    if (name == u"dev")
        return ConfigKind::Dev;
    return std::nullopt;
}

ConfigKind detectConfigKind(const QString &path)
{
    const QString base = QFileInfo(path).fileName().toLower();
    const bool teamName = base.startsWith(u"iterdeck") && (base.endsWith(u".yaml") || base.endsWith(u".yml"));
    auto bytes = readTextFile(path);
    if (!bytes)
        return teamName ? ConfigKind::Team : ConfigKind::Dev;
    if (QFileInfo(path).dir().dirName() == u".nocalhost")
        return ConfigKind::Dev;
    std::vector<YAML::Node> docs;
    Diagnostics ignored; // the loader reports syntax errors
    if (parseYamlDocuments(SourceText(path, *bytes), docs, ignored)) {
        for (const YAML::Node &d : docs) {
            if (isPlainNull(d))
                continue;
            if (d.IsMap()) {
                for (const auto &kv : d) {
                    if (!kv.first.IsScalar())
                        continue;
                    const std::string &k = kv.first.Scalar();
                    if (k == "project" || k == "components" || k == "im" || k == "people" || k == "webhooks")
                        return ConfigKind::Team;
                }
            }
            break;
        }
    }
    return teamName ? ConfigKind::Team : ConfigKind::Dev;
}

ConfigCheck checkConfigFile(const QString &path, std::optional<ConfigKind> forcedKind,
                            const DevConfigLoader::Options &devOptions)
{
    ConfigCheck out;
    out.kind = forcedKind ? *forcedKind : detectConfigKind(path);
    if (out.kind == ConfigKind::Team) {
        TeamManifestLoader loader(devOptions.limits);
        if (auto m = loader.loadFile(path, out.diagnostics)) {
            out.valid = true;
            out.normalized = m->toJson();
        }
    } else {
        DevConfigLoader loader(devOptions);
        if (auto c = loader.loadFile(path, out.diagnostics)) {
            out.valid = true;
            out.normalized = c->toJson();
        }
    }
    out.valid = out.valid && !out.diagnostics.hasErrors();
    if (!out.valid)
        out.normalized = {};
    return out;
}

} // namespace iterdeck::config
