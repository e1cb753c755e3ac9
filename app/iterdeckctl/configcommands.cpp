#include "configcommands.h"
#include "text.h"

#include "config/configfile.h"

#include <QCoreApplication>
#include <QJsonDocument>

#include <unistd.h>

namespace iterdeck::ctl {

namespace {

void print(FILE *out, const QString &s)
{
    const QByteArray b = s.toUtf8();
    std::fwrite(b.constData(), 1, size_t(b.size()), out);
}

QString colored(const Diagnostic &d, bool color)
{
    const QString text = d.toString();
    if (!color)
        return text;
    const QString kind = d.isError() ? QStringLiteral("error:") : QStringLiteral("warning:");
    const QString paint = d.isError() ? QStringLiteral("\x1b[1;31m") : QStringLiteral("\x1b[1;35m");
    QString out = text;
    const qsizetype at = out.indexOf(kind);
    if (at >= 0)
        out.replace(at, kind.size(), paint + kind + QStringLiteral("\x1b[0m"));
    return out;
}

} // namespace

int runConfigCheck(const ConfigCheckOptions &options, FILE *out)
{
    std::optional<config::ConfigKind> forced;
    if (!options.kind.isEmpty())
        forced = config::parseKind(options.kind);
    const bool color = isatty(fileno(out)) && qEnvironmentVariableIsEmpty("NO_COLOR");
    int invalid = 0;
    for (const QString &file : options.files) {
        const config::ConfigCheck result = config::checkConfigFile(file, forced);
        for (const Diagnostic &d : result.diagnostics.sorted())
            print(out, colored(d, color) + u'\n');
        if (!result.valid)
            ++invalid;
        if (options.quiet)
            continue;
        const qsizetype errors = result.diagnostics.errorCount();
        const qsizetype warnings = result.diagnostics.warningCount();
        const QString kind = result.kind == config::ConfigKind::Team ? IterdeckCtl::tr("team manifest")
                                                                     : IterdeckCtl::tr("dev config");
        if (result.valid) {
            print(out, IterdeckCtl::tr("%1: valid %2 (%3 warning(s))\n").arg(file, kind).arg(warnings));
        } else {
            print(out,
                  IterdeckCtl::tr("%1: invalid %2 (%3 error(s), %4 warning(s))\n")
                      .arg(file, kind)
                      .arg(errors)
                      .arg(warnings));
        }
    }
    return invalid > 0 ? 1 : 0;
}

int runConfigShow(const ConfigShowOptions &options, FILE *out)
{
    std::optional<config::ConfigKind> forced;
    if (!options.kind.isEmpty())
        forced = config::parseKind(options.kind);
    const config::ConfigCheck result = config::checkConfigFile(options.file, forced);
    for (const Diagnostic &d : result.diagnostics.sorted())
        print(stderr, colored(d, isatty(fileno(stderr)) != 0) + u'\n');
    if (!result.valid)
        return 1;
    print(out, QString::fromUtf8(QJsonDocument(result.normalized).toJson(QJsonDocument::Indented)));
    return 0;
}

} // namespace iterdeck::ctl
