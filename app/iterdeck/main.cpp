// iterdeck: the desktop tray app. This version answers --version and --help only.
#include "common/i18n.h"
#include "common/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include <cstdio>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("iterdeck"));
    QApplication::setApplicationDisplayName(QStringLiteral("Iterdeck"));
    QApplication::setApplicationVersion(iterdeck::version());
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/iterdeck.svg")));
    iterdeck::installTranslations(app);

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QApplication::translate("iterdeck", "Iterdeck desktop app. The tray and its windows are not part of this version yet."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.process(app);

    std::fprintf(stderr, "iterdeck: %s\n",
                 qPrintable(QApplication::translate("iterdeck", "the tray app is not part of this version yet; "
                                                                "use iterdeckctl")));
    return 2;
}
