// iterdeck-bot: the ChatOps controller. This version checks the team manifest it would run on.
#include "common/i18n.h"
#include "common/version.h"
#include "config/teammanifestloader.h"

#include <QCommandLineParser>
#include <QCoreApplication>

#include <cstdio>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("iterdeck-bot"));
    QCoreApplication::setApplicationVersion(iterdeck::version());
    iterdeck::installTranslations(app);

    QCommandLineParser parser;
    parser.setApplicationDescription(QCoreApplication::translate(
        "iterdeck-bot", "The Iterdeck ChatOps controller. This version checks the team manifest (iterdeck.yaml)."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption configOption(
        QStringList {QStringLiteral("c"), QStringLiteral("config")},
        QCoreApplication::translate("iterdeck-bot", "The team manifest to use (default: ./iterdeck.yaml)."),
        QStringLiteral("FILE"), QStringLiteral("iterdeck.yaml"));
    const QCommandLineOption checkOption(
        QStringLiteral("check-config"),
        QCoreApplication::translate(
            "iterdeck-bot", "Check the team manifest, print every problem, and exit: 0 when valid, 1 when not."));
    parser.addOption(configOption);
    parser.addOption(checkOption);
    if (!parser.parse(QCoreApplication::arguments())) {
        std::fprintf(stderr, "iterdeck-bot: %s\n", qPrintable(parser.errorText()));
        return 2;
    }
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();
    if (!parser.positionalArguments().isEmpty()) {
        std::fprintf(stderr, "iterdeck-bot: %s\n",
                     qPrintable(QCoreApplication::translate("iterdeck-bot", "unexpected argument: %1")
                                    .arg(parser.positionalArguments().constFirst())));
        return 2;
    }
    if (!parser.isSet(checkOption)) {
        std::fprintf(stderr, "iterdeck-bot: %s\n",
                     qPrintable(QCoreApplication::translate(
                         "iterdeck-bot", "this version can only check a manifest: run with --check-config")));
        return 2;
    }

    const QString path = parser.value(configOption);
    iterdeck::Diagnostics diag;
    const auto manifest = iterdeck::config::TeamManifestLoader().loadFile(path, diag);
    for (const iterdeck::Diagnostic &d : diag.sorted())
        std::fprintf(stderr, "%s\n", qPrintable(d.toString()));
    if (!manifest)
        return 1;
    std::printf("%s\n",
                qPrintable(QCoreApplication::translate("iterdeck-bot",
                                                       "%1: valid team manifest for project \"%2\" "
                                                       "(%3 components, %4 webhook sources, %5 people)")
                               .arg(path, manifest->project)
                               .arg(manifest->components.size())
                               .arg(manifest->webhooks.size())
                               .arg(manifest->people.size())));
    return 0;
}
