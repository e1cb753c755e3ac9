// iterdeck: the desktop tray app. This version answers --version and --help only.
#include "common/i18n.h"
#include "common/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include <cstdio>
#include <cstring>

namespace {

void describe(QCommandLineParser &parser)
{
    parser.setApplicationDescription(QCoreApplication::translate(
        "iterdeck", "Iterdeck desktop app. The tray and its windows are not part of this version yet."));
    parser.addHelpOption();
    parser.addVersionOption();
}

bool wantsOnlyText(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i) {
        for (const char *flag : {"-h", "--help", "-?", "--help-all", "-v", "--version"}) {
            if (std::strcmp(argv[i], flag) == 0)
                return true;
        }
    }
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    // --help and --version must work without a display: answer them before any GUI exists.
    if (wantsOnlyText(argc, argv)) {
        QCoreApplication app(argc, argv);
        QCoreApplication::setApplicationName(QStringLiteral("iterdeck"));
        QCoreApplication::setApplicationVersion(iterdeck::version());
        iterdeck::installTranslations(app);
        QCommandLineParser parser;
        describe(parser);
        parser.process(app);
        return 0;
    }

    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("iterdeck"));
    QApplication::setApplicationDisplayName(QStringLiteral("Iterdeck"));
    QApplication::setApplicationVersion(iterdeck::version());
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/iterdeck.svg")));
    iterdeck::installTranslations(app);

    QCommandLineParser parser;
    describe(parser);
    parser.process(app);

    std::fprintf(stderr, "iterdeck: %s\n",
                 qPrintable(QApplication::translate("iterdeck",
                                                    "the tray app is not part of this version yet; "
                                                    "use iterdeckctl")));
    return 2;
}
