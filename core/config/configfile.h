#pragma once

#include "common/diagnostic.h"
#include "devconfigloader.h"

#include <QJsonObject>
#include <optional>

namespace iterdeck::config {

enum class ConfigKind { Team, Dev };

QString kindName(ConfigKind kind);
std::optional<ConfigKind> parseKind(const QString &name);

// Guesses what a file is: a dev config when it sits in a .nocalhost folder; a team manifest
// when its first document has "project", "components", "im", "people" or "webhooks" at the
// top, or when it is named iterdeck*.yaml; a dev config otherwise.
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
