#pragma once

#include "common/diagnostic.h"
#include "sourcetext.h"

#include <QHash>
#include <QString>
#include <QStringList>

namespace iterdeck::config {

// Nocalhost's template rendering of dev config files, done before YAML parsing:
//   $$                 a literal $
//   $NAME, ${NAME}     the variable's value (empty when unset)
//   ${NAME:-def}       def when NAME is unset or empty   (also ${NAME:=def})
//   ${NAME-def}        def when NAME is unset            (also ${NAME=def})
//   ${NAME:+alt}       alt when NAME is set, else empty  (also ${NAME+alt})
//   ${_INCLUDE_:-path | nindent N}
//                      the rendered contents of `path` (relative to the including file),
//                      starting on a new line, every line indented N spaces
// Variables come from the process environment first, then the config's envFile.
// The result keeps, for each output line, the file and line it came from.
class EnvSubst
{
public:
    EnvSubst(QHash<QString, QString> variables, const LoadLimits &limits = {});

    // Text that does not come from a local file (an annotation, a ConfigMap) may not read files.
    void setIncludesAllowed(bool allowed) { m_includesAllowed = allowed; }

    // Renders `text` (the contents of `file`). Problems go to `diag`; rendering goes on after
    // a failed include (an error) but stops at an unterminated "${" (an error, as in Nocalhost).
    SourceText render(const QString &file, const QByteArray &text, Diagnostics &diag);

    // KEY=VALUE lines of an env file (Nocalhost rules: lines without '=' and '#' comments are skipped,
    // values are taken verbatim).
    static QHash<QString, QString> parseEnvFile(const QByteArray &text);
    // The `configProperties.envFile` value, found the way Nocalhost finds it: by scanning the raw text.
    static QString findEnvFileDirective(const QByteArray &rawText);

private:
    SourceText renderFile(const QString &file, const QByteArray &text, Diagnostics &diag, QStringList chain);

    QHash<QString, QString> m_vars;
    LoadLimits m_limits;
    bool m_includesAllowed = true;
};

} // namespace iterdeck::config
