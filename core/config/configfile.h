#pragma once

#include "common/diagnostic.h"
#include "devconfigloader.h"

#include <QJsonObject>
#include <optional>

namespace iterdeck::config {

enum class ConfigKind { Team, Dev };

QString kindName(ConfigKind kind);
std::optional<ConfigKind> parseKind(const QString &name);

// Guesses what a file is: a team manifest (iterdeck*.yaml, or a mapping with "project",
// "components" or "im" at the top) or a dev config (everything else).
ConfigKind detectConfigKind(const QString &path);

struct ConfigCheck
{
    ConfigKind kind = ConfigKind::Dev;
    Diagnostics diagnostics;
    bool valid = false;
    QJsonObject normalized; // the config as Iterdeck will use it; empty when invalid
};

// Loads one file of either kind and reports everything wrong with it.
ConfigCheck checkConfigFile(const QString &path, std::optional<ConfigKind> forcedKind = std::nullopt,
                            const DevConfigLoader::Options &devOptions = {DevConfigLoader::processEnvironment(), {}});

} // namespace iterdeck::config
