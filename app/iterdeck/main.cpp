// iterdeck: the desktop tray app. Thin: arguments, single instance, then the Application.
#include "application.h"
#include "common/i18n.h"
#include "common/version.h"
#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QLocale>
#include <QMessageBox>
#include <QSettings>
#include <QSocketNotifier>

#include <csignal>

#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace {

struct Parsed
{
    QCommandLineOption sandbox {
        QStringLiteral("sandbox"),
        QCoreApplication::translate("iterdeck",
                                    "Run the demo: a sandbox cluster on this machine with a demo "
                                    "application, no setup needed.")};
    QCommandLineOption show {
        QStringLiteral("show"),
        QCoreApplication::translate("iterdeck", "Open the main window at start (else only the tray icon).")};
    QCommandLineOption kubeconfig {
        QStringLiteral("kubeconfig"),
        QCoreApplication::translate("iterdeck", "The kubeconfig to use (default: the settings, then $KUBECONFIG)."),
        QStringLiteral("FILE")};
    QCommandLineOption ns {QStringList {QStringLiteral("n"), QStringLiteral("namespace")},
                           QCoreApplication::translate("iterdeck", "The namespace to show."), QStringLiteral("NS")};
};

void describe(QCommandLineParser &parser, Parsed &o)
{
    parser.setApplicationDescription(QCoreApplication::translate(
        "iterdeck",
        "Iterdeck desktop app: your workloads with their pods, one-click dev mode with sync, "
        "port-forwards, shell and logs, in the system tray."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addOption(o.sandbox);
    parser.addOption(o.show);
    parser.addOption(o.kubeconfig);
    parser.addOption(o.ns);
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
        Parsed o;
        describe(parser, o);
        parser.process(app);
        return 0;
    }

    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("iterdeck"));
    QApplication::setOrganizationName(QStringLiteral("iterdeck"));
    QApplication::setApplicationDisplayName(QStringLiteral("Iterdeck"));
    QApplication::setApplicationVersion(iterdeck::version());
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/iterdeck.svg")));
    QApplication::setQuitOnLastWindowClosed(false);
    // The language chosen in the settings, else the system's.
    const QString language = QSettings().value(QStringLiteral("ui/language")).toString();
    if (!language.isEmpty())
        QLocale::setDefault(QLocale(language));
    app.setProperty("iterdeck.language", language); // what this run shows (the settings dialog compares)
    iterdeck::installTranslations(app);

    QCommandLineParser parser;
    Parsed o;
    describe(parser, o);
    parser.process(app);

    // Single instance: a second launch shows the first one's window and ends.
    if (iterdeck::app::Application::forwardToRunningInstance()) {
        std::fprintf(stderr, "iterdeck: %s\n",
                     qPrintable(QApplication::translate("iterdeck", "already running: its window is shown")));
        return 0;
    }

    iterdeck::app::Application::Options options;
    options.sandbox = parser.isSet(o.sandbox);
    options.showWindow = parser.isSet(o.show) || options.sandbox;
    options.kubeconfig = parser.value(o.kubeconfig);
    options.ns = parser.value(o.ns);
    iterdeck::app::Application application(options);
    QObject::connect(&application, &iterdeck::app::Application::failed, &app, [](const QString &message) {
        std::fprintf(stderr, "iterdeck: %s\n", qPrintable(message));
        QMessageBox::critical(nullptr, QStringLiteral("Iterdeck"), message);
        QApplication::exit(1);
    });
    // SIGINT and SIGTERM quit through the event loop, so that dev sessions stop cleanly and the
    // demo cluster is stopped (a self-pipe: nothing else is safe in a signal handler).
    static int signalPipe[2] = {-1, -1};
    if (::pipe2(signalPipe, O_CLOEXEC | O_NONBLOCK) == 0) {
        auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, &app);
        QObject::connect(notifier, &QSocketNotifier::activated, &app, [] { QApplication::quit(); });
        struct sigaction sa = {};
        sa.sa_handler = [](int) {
            const char c = 1;
            [[maybe_unused]] const auto n = ::write(signalPipe[1], &c, 1);
        };
        ::sigaction(SIGINT, &sa, nullptr);
        ::sigaction(SIGTERM, &sa, nullptr);
    }
    application.start();
    return QApplication::exec();
}
