#pragma once

#include "common/diagnostic.h"
#include "model/devconfig.h"
#include "sourcetext.h"

#include <QHash>
#include <optional>

namespace iterdeck::config {

// Loads a Nocalhost-compatible dev config: the single-service form (one or more YAML
// documents, or a list), the application form (configProperties.version v2) and the
// v1 application form (converted). Nocalhost ignored unknown keys, so they are warnings
// here; Iterdeck's own keys under `dev.iterdeck` are checked strictly.
class DevConfigLoader
{
public:
    struct Options
    {
        // Variables for ${VAR} substitution; Nocalhost lets the process environment win
        // over the envFile. Tests pass their own.
        QHash<QString, QString> environment;
        LoadLimits limits;
    };

    DevConfigLoader();
    explicit DevConfigLoader(Options options);

    // A local file (.nocalhost/config.yaml): envFile and includes resolve against its folder.
    std::optional<model::DevConfig> loadFile(const QString &path, Diagnostics &diag) const;
    // Text from an annotation or a ConfigMap: substitution from the environment only, no includes.
    std::optional<model::DevConfig> loadText(const QByteArray &text, const QString &origin, Diagnostics &diag) const;

    // The process environment as a variable table.
    static QHash<QString, QString> processEnvironment();

private:
    std::optional<model::DevConfig> loadRendered(const SourceText &src, const QString &baseDir,
                                                 Diagnostics &diag) const;

    Options m_options;
};

// Reports U+00A0 (no-break space) where YAML would misread it: in indentation (an error)
// or glued to the end of a value before a comment (a warning).
void checkNoBreakSpaces(const QByteArray &text, const QString &file, Diagnostics &diag);

// Kubernetes resource quantity syntax ("100m", "0.5", "2Gi", "1e3").
bool isQuantity(const QString &s);

} // namespace iterdeck::config
