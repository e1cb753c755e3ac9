// iterdeck-bot: the ChatOps controller. Thin: parse arguments, build the server from core/bot, run.
#include "bot/botserver.h"
#include "bot/botservice.h"
#include "bot/clusterconfig.h"
#include "bot/store.h"
#include "common/i18n.h"
#include "common/version.h"
#include "config/teammanifestloader.h"
#include "kube/kubeclient.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QSocketNotifier>
#include <QStandardPaths>

#include <csignal>
#include <cstdio>

#include <sys/socket.h>
#include <unistd.h>

namespace {

void fail(const QString &message)
{
    std::fprintf(stderr, "iterdeck-bot: %s\n", qPrintable(message));
}

// SIGTERM and SIGINT end the event loop through a socket pair, so that the server stops cleanly
// (the handler itself only writes one byte, which is async-signal-safe).
int g_signalFd[2] = {-1, -1};

void onSignal(int)
{
    const char b = 1;
    [[maybe_unused]] const auto n = ::write(g_signalFd[0], &b, 1);
}

void quitOnSignals(QCoreApplication &app)
{
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalFd) != 0)
        return;
    auto *notifier = new QSocketNotifier(g_signalFd[1], QSocketNotifier::Read, &app);
    QObject::connect(notifier, &QSocketNotifier::activated, &app, [&app]() {
        char b;
        [[maybe_unused]] const auto n = ::read(g_signalFd[1], &b, 1);
        app.quit();
    });
    struct sigaction sa = {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
}

// "ADDR:PORT", "[v6]:PORT" or ":PORT" (all addresses).
bool parseListen(const QString &text, QString *address, quint16 *port)
{
    const qsizetype colon = text.lastIndexOf(u':');
    if (colon < 0)
        return false;
    QString host = text.left(colon);
    bool ok = false;
    const uint p = text.mid(colon + 1).toUInt(&ok);
    if (!ok || p > 65535)
        return false;
    if (host.startsWith(u'[') && host.endsWith(u']'))
        host = host.mid(1, host.size() - 2);
    *address = host.isEmpty() ? QStringLiteral("0.0.0.0") : host;
    *port = quint16(p);
    return true;
}

int tokenCommand(const QStringList &args, const iterdeck::bot::StoreOptions &storeOptions, bool admin)
{
    using namespace iterdeck::bot;
    const QString verb = args.value(1);
    const bool known
        = verb == QLatin1String("create") || verb == QLatin1String("revoke") || verb == QLatin1String("list");
    const qsizetype wanted = verb == QLatin1String("list") ? 2 : 3;
    if (!known || args.size() != wanted) {
        fail(QCoreApplication::translate(
            "iterdeck-bot", "usage: iterdeck-bot token create USER [--admin] | token revoke TOKEN_ID | token list"));
        return 2;
    }
    auto store = Store::open(storeOptions);
    if (!store) {
        fail(store.error().message);
        return 1;
    }
    if (verb == QLatin1String("create")) {
        auto t = (*store)->createToken(args.at(2), admin);
        if (!t) {
            fail(t.error().message);
            return 1;
        }
        std::printf("%s\n",
                    qPrintable(QCoreApplication::translate(
                                   "iterdeck-bot", "Created token %1 for %2%3. It is shown only now; keep it secret:")
                                   .arg(t->token.id, t->token.user,
                                        admin ? QCoreApplication::translate("iterdeck-bot", " (admin)") : QString())));
        std::printf("%s\n", qPrintable(t->secret));
        return 0;
    }
    if (verb == QLatin1String("revoke")) {
        auto t = (*store)->revokeToken(args.at(2));
        if (!t) {
            fail(t.error().message);
            return 1;
        }
        std::printf(
            "%s\n",
            qPrintable(QCoreApplication::translate("iterdeck-bot", "Revoked token %1 of %2.").arg(t->id, t->user)));
        return 0;
    }
    auto list = (*store)->tokens();
    if (!list) {
        fail(list.error().message);
        return 1;
    }
    std::printf("%-14s %-20s %-6s %-20s %s\n", "ID", qPrintable(QCoreApplication::translate("iterdeck-bot", "USER")),
                qPrintable(QCoreApplication::translate("iterdeck-bot", "ADMIN")),
                qPrintable(QCoreApplication::translate("iterdeck-bot", "CREATED")),
                qPrintable(QCoreApplication::translate("iterdeck-bot", "REVOKED")));
    for (const auto &t : std::as_const(*list)) {
        std::printf("%-14s %-20s %-6s %-20s %s\n", qPrintable(t.id), qPrintable(t.user),
                    t.admin ? qPrintable(QCoreApplication::translate("iterdeck-bot", "yes"))
                            : qPrintable(QCoreApplication::translate("iterdeck-bot", "no")),
                    qPrintable(t.createdAt.toUTC().toString(Qt::ISODate)),
                    t.revokedAt.isValid() ? qPrintable(t.revokedAt.toUTC().toString(Qt::ISODate)) : "-");
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("iterdeck-bot"));
    QCoreApplication::setApplicationVersion(iterdeck::version());
    iterdeck::installTranslations(app);

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QCoreApplication::translate("iterdeck-bot",
                                    "The Iterdeck ChatOps controller: receives the collaboration tool's and CI's "
                                    "webhooks and keeps iterations and artifacts in its store.\n\n"
                                    "Commands:\n"
                                    "  (none)                  serve\n"
                                    "  token create USER       create a desktop token (--admin for an admin)\n"
                                    "  token revoke TOKEN_ID   revoke a desktop token\n"
                                    "  token list              list desktop tokens"));
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
    const QCommandLineOption dataDirOption(
        QStringLiteral("data-dir"),
        QCoreApplication::translate("iterdeck-bot", "Where the SQLite store lives (default: %1).")
            .arg(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)),
        QStringLiteral("DIR"));
    const QCommandLineOption storeOption(
        QStringLiteral("store"),
        QCoreApplication::translate(
            "iterdeck-bot",
            "The store instead of SQLite in the data directory: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB "
            "or sqlite:///PATH. Default: the environment variable ITERDECK_STORE, if set."),
        QStringLiteral("DSN"));
    const QCommandLineOption listenOption(
        QStringLiteral("listen"),
        QCoreApplication::translate("iterdeck-bot",
                                    "Address and port to serve on (default: 127.0.0.1:8080; :8080 for all)."),
        QStringLiteral("ADDR:PORT"), QStringLiteral("127.0.0.1:8080"));
    const QCommandLineOption certOption(
        QStringLiteral("tls-cert"),
        QCoreApplication::translate("iterdeck-bot", "Serve HTTPS with this PEM certificate chain."),
        QStringLiteral("FILE"));
    const QCommandLineOption keyOption(
        QStringLiteral("tls-key"), QCoreApplication::translate("iterdeck-bot", "The PEM private key of --tls-cert."),
        QStringLiteral("FILE"));
    const QCommandLineOption maxBodyOption(
        QStringLiteral("max-body"),
        QCoreApplication::translate("iterdeck-bot", "Largest webhook body accepted, in bytes (default: 1048576)."),
        QStringLiteral("BYTES"), QStringLiteral("1048576"));
    const QCommandLineOption adminOption(
        QStringLiteral("admin"),
        QCoreApplication::translate("iterdeck-bot", "With token create: the token is an admin's."));
    parser.addOptions({configOption, checkOption, dataDirOption, storeOption, listenOption, certOption, keyOption,
                       maxBodyOption, adminOption});
    if (!parser.parse(QCoreApplication::arguments())) {
        fail(parser.errorText());
        return 2;
    }
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);
    if (parser.isSet(QStringLiteral("version")))
        parser.showVersion();

    iterdeck::bot::StoreOptions storeOptions;
    storeOptions.dsn = parser.isSet(storeOption) ? parser.value(storeOption) : qEnvironmentVariable("ITERDECK_STORE");
    storeOptions.dataDir = parser.isSet(dataDirOption)
        ? parser.value(dataDirOption)
        : QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);

    const QStringList args = parser.positionalArguments();
    if (!args.isEmpty()) {
        if (args.constFirst() == QLatin1String("token"))
            return tokenCommand(args, storeOptions, parser.isSet(adminOption));
        fail(QCoreApplication::translate("iterdeck-bot", "unexpected argument: %1").arg(args.constFirst()));
        return 2;
    }
    if (parser.isSet(adminOption)) {
        fail(QCoreApplication::translate("iterdeck-bot", "--admin belongs to \"token create\""));
        return 2;
    }

    const QString path = parser.value(configOption);
    iterdeck::Diagnostics diag;
    auto manifest = iterdeck::config::TeamManifestLoader().loadFile(path, diag);
    for (const iterdeck::Diagnostic &d : diag.sorted())
        std::fprintf(stderr, "%s\n", qPrintable(d.toString()));
    if (!manifest)
        return 1;
    if (parser.isSet(checkOption)) {
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

    iterdeck::bot::BotServerOptions serverOptions;
    if (!parseListen(parser.value(listenOption), &serverOptions.address, &serverOptions.port)) {
        fail(QCoreApplication::translate("iterdeck-bot", "--listen wants ADDR:PORT, not \"%1\"")
                 .arg(parser.value(listenOption)));
        return 2;
    }
    bool ok = false;
    serverOptions.maxBodyBytes = parser.value(maxBodyOption).toULongLong(&ok);
    if (!ok || serverOptions.maxBodyBytes == 0) {
        fail(QCoreApplication::translate("iterdeck-bot", "--max-body wants a positive number of bytes, not \"%1\"")
                 .arg(parser.value(maxBodyOption)));
        return 2;
    }
    serverOptions.tlsCertificate = parser.value(certOption);
    serverOptions.tlsKey = parser.value(keyOption);

    // Environments need a cluster; without one the bot still records webhooks.
    std::unique_ptr<iterdeck::kube::KubeClient> kube;
    if (auto cluster = iterdeck::bot::loadClusterConfig(manifest->cluster)) {
        kube = std::make_unique<iterdeck::kube::KubeClient>(*cluster);
    } else {
        fail(QCoreApplication::translate("iterdeck-bot", "environments are disabled: %1").arg(cluster.error()));
    }
    iterdeck::bot::BotServiceOptions botOptions;
    botOptions.store = storeOptions;
    botOptions.environments.manifestDir = QFileInfo(path).absolutePath();
    auto service = iterdeck::bot::BotService::create(*manifest, kube.get(), botOptions);
    if (!service) {
        fail(service.error());
        return 1;
    }
    QString error;
    if (!(*service)->start(serverOptions, &error)) {
        fail(error);
        return 1;
    }
    iterdeck::bot::BotServer &server = (*service)->server();
    // Scripts and tests read the port from this line when --listen asked for port 0.
    std::printf("iterdeck-bot: listening on %s\n", qPrintable(server.url())); // not translated: read by scripts
    std::fflush(stdout);
    quitOnSignals(app);
    const int rc = QCoreApplication::exec();
    (*service)->stop();
    service->reset();
    return rc;
}
