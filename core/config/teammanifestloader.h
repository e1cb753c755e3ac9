#pragma once

#include "common/diagnostic.h"
#include "model/teammanifest.h"
#include "sourcetext.h"

#include <optional>

namespace iterdeck::config {

// Loads and checks a team manifest (iterdeck.yaml). Every problem found is reported
// with its position; the manifest is returned only when there is no error.
class TeamManifestLoader
{
public:
    explicit TeamManifestLoader(const LoadLimits &limits = {})
        : m_limits(limits)
    { }

    std::optional<model::TeamManifest> loadFile(const QString &path, Diagnostics &diag) const;
    // `name` is used in messages; relative paths in the manifest resolve against `baseDir`.
    std::optional<model::TeamManifest> loadText(const QByteArray &text, const QString &name, const QString &baseDir,
                                                Diagnostics &diag) const;

private:
    LoadLimits m_limits;
};

// Parses a duration such as "90s", "15m", "24h", "7d" or "1h30m" into seconds.
std::optional<qint64> parseDuration(const QString &text);

} // namespace iterdeck::config
