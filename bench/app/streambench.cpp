// The tray app's bot side under a team-sized load: 50 iterations of this user, each with an
// environment of 10 components (a selection and a deployed build each), then 10,000 events
// (deploys under way and done, new builds). Two processes, so that each one's numbers are its
// own:
//
//   app-streambench                 the bot (BotService over SQLite, in-process like the demo's),
//                                   seeds the store, starts the app half, sends the events, and
//                                   prints the table
//   app-streambench --app URL TOKEN the app's side: BotSession (the real WebSocket client and
//                                   StreamState), IterationsModel and WorkloadsModel following the
//                                   first environment; reports its RSS and CPU time on stdout
//
// The app half reads its numbers from /proc/self/status (VmRSS) and CLOCK_PROCESS_CPUTIME_ID.
// Not a test: bench/app/run --stream runs it.
#include "bot/botservice.h"
#include "bot/desktopstream.h"
#include "bot/store.h"
#include "botsession.h"
#include "config/teammanifestloader.h"
#include "iterationsmodel.h"
#include "kube/kubeclient.h"
#include "workloadsmodel.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QProcess>
#include <QSettings>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

using namespace iterdeck;

namespace {

constexpr int Iterations = 50;
constexpr int Components = 10;

long rssKb()
{
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLong();
    }
    return 0;
}

double cpuSeconds()
{
    timespec ts {};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void say(const QString &line)
{
    std::fputs(qPrintable(line + u'\n'), stdout);
    std::fflush(stdout);
}

// ---- the app's side ------------------------------------------------------------------------

int runApp(const QUrl &url, const QString &token, qint64 events)
{
    QTemporaryDir home;
    QSettings settings(home.filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
    // No cluster: the workloads' rows come from the cluster's watches (bench/app's other rows);
    // here the model follows the bot's view of one environment.
    kube::ClientConfig config;
    config.cluster.server = QUrl(QStringLiteral("https://127.0.0.1:1"));
    kube::KubeClient client(config);
    app::DevController dev(&client, &settings);
    app::WorkloadsModel workloads(&client, &dev);
    app::BotSession session(&settings);
    app::IterationsModel iterations(session.state());
    const long rssBefore = rssKb();
    QElapsedTimer clock;
    bool snapshotTold = false;
    double cpuAtSnapshot = 0;
    qint64 seqAtSnapshot = 0;
    auto check = [&] {
        chatops::StreamState *state = session.state();
        if (!snapshotTold && state->hasSnapshot() && iterations.rowCount() == Iterations) {
            snapshotTold = true;
            const model::Environment *env = state->environmentOfIteration(state->iterations().first().id);
            if (env)
                workloads.setEnvironment(state, env->id);
            seqAtSnapshot = state->seq();
            cpuAtSnapshot = cpuSeconds();
            say(QStringLiteral("snapshot %1 %2 %3 %4")
                    .arg(clock.nsecsElapsed() / 1e6, 0, 'f', 1)
                    .arg(rssBefore)
                    .arg(rssKb())
                    .arg(std::count_if(state->iterations().cbegin(), state->iterations().cend(),
                                       [state](const model::Iteration &it) {
                                           return state->environmentOfIteration(it.id) != nullptr;
                                       })));
        }
        if (snapshotTold && state->seq() >= seqAtSnapshot + events) {
            const double cpu = cpuSeconds() - cpuAtSnapshot;
            say(QStringLiteral("events %1 %2 %3").arg(state->seq() - seqAtSnapshot).arg(rssKb()).arg(cpu, 0, 'f', 4));
            QCoreApplication::quit();
        }
    };
    QObject::connect(session.state(), &chatops::StreamState::changed, &session, check);
    QObject::connect(session.state(), &chatops::StreamState::activityChanged, &session, check);
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, &session, check);
    poll.start(50);
    clock.start();
    session.start(url, token);
    return QCoreApplication::exec();
}

// ---- the bot's side ------------------------------------------------------------------------

QByteArray manifestText()
{
    QByteArray yaml = "version: 1\nproject: bench\nim:\n  adapter: none\nwebhooks:\n  - source: generic\n"
                      "    secret: {env: ITERDECK_WEBHOOK_SECRET}\ncomponents:\n";
    for (int c = 0; c < Components; ++c) {
        const QByteArray n = "svc" + QByteArray::number(c);
        yaml += "  - name: " + n + "\n    repository: https://git.example.com/bench/" + n + ".git\n    image: bench/"
            + n + "\n    defaultBranch: main\n    deploy:\n      driver: manifests\n      path: deploy\n";
    }
    return yaml;
}

model::Event deployEvent(const QString &state, const model::Environment &env, const QString &component,
                         const model::Artifact &artifact)
{
    model::Event e;
    e.type = QStringLiteral("deploy.") + state;
    e.iterationId = env.iterationId;
    e.environmentId = env.id;
    e.payload = {{QStringLiteral("component"), component},
                 {QStringLiteral("artifact"), artifact.toJson()},
                 {QStringLiteral("image"), QStringLiteral("bench/%1:%2").arg(component, artifact.imageTag)}};
    return e;
}

int runBot(const QString &self, qint64 events, int batch, int intervalMs)
{
    QTemporaryDir dir;
    qputenv("ITERDECK_WEBHOOK_SECRET", "bench-secret");
    QDir().mkpath(dir.filePath(QStringLiteral("deploy")));
    QFile mf(dir.filePath(QStringLiteral("iterdeck.yaml")));
    if (!mf.open(QIODevice::WriteOnly))
        return 1;
    mf.write(manifestText());
    mf.close();
    Diagnostics diag;
    auto manifest = config::TeamManifestLoader().loadFile(mf.fileName(), diag);
    if (!manifest) {
        say(QStringLiteral("manifest: ") + diag.toString());
        return 1;
    }
    bot::BotServiceOptions options;
    options.store.dataDir = dir.path();
    auto service = bot::BotService::create(*manifest, nullptr, options);
    if (!service) {
        say(service.error());
        return 1;
    }
    std::unique_ptr<bot::BotService> botService = std::move(*service);
    bot::Store &store = botService->store();

    // 50 iterations of this user, each with its environment: 10 selections and deployed builds.
    const QString user = QStringLiteral("benchuser");
    QList<model::Environment> envs;
    QList<model::Artifact> builds;
    QList<model::Event> seeded;
    QElapsedTimer seedClock;
    seedClock.start();
    auto seed = store.transact([&](bot::StoreTransaction &tx) -> Expected<bool, bot::StoreError> {
        for (int c = 0; c < Components; ++c) {
            model::Artifact a;
            a.component = QStringLiteral("svc%1").arg(c);
            a.branch = QStringLiteral("main");
            a.build = QStringLiteral("100");
            a.commit = QStringLiteral("abcdef%1").arg(c);
            a.imageTag = QStringLiteral("1.0.%1").arg(c);
            a.publishedAt = QDateTime::currentDateTimeUtc();
            auto stored = tx.addArtifact(a);
            if (!stored)
                return unexpected(stored.error());
            builds << *stored;
        }
        for (int i = 0; i < Iterations; ++i) {
            const QString key = QStringLiteral("generic:it-%1").arg(i, 2, 10, QLatin1Char('0'));
            auto it
                = tx.openIteration(key, QStringLiteral("Iteration %1").arg(i + 1), {}, QDateTime::currentDateTimeUtc());
            if (!it)
                return unexpected(it.error());
            if (auto m = tx.setMembers(key, {user, QStringLiteral("alice"), QStringLiteral("bob")}); !m)
                return unexpected(m.error());
            model::Event started;
            started.type = QStringLiteral("iteration.started");
            started.iterationId = it->id;
            started.payload = {{QStringLiteral("name"), it->name}};
            auto se = tx.appendEvent(started);
            if (!se)
                return unexpected(se.error());
            seeded << *se;
            model::Environment env;
            env.iterationId = it->id;
            env.nameSpace = QStringLiteral("bench-it-%1").arg(i, 2, 10, QLatin1Char('0'));
            env.domain = env.nameSpace + QStringLiteral(".bench.localhost");
            env.state = QStringLiteral("ready");
            env.createdAt = env.updatedAt = QDateTime::currentDateTimeUtc();
            auto created = tx.createEnvironment(env);
            if (!created)
                return unexpected(created.error());
            envs << *created;
            for (int c = 0; c < Components; ++c) {
                model::Selection sel;
                sel.environmentId = created->id;
                sel.component = QStringLiteral("svc%1").arg(c);
                sel.branch = QStringLiteral("main");
                sel.updatedBy = user;
                sel.updatedAt = QDateTime::currentDateTimeUtc();
                if (auto s = tx.setSelection(sel); !s)
                    return unexpected(s.error());
                auto d = tx.appendEvent(deployEvent(QStringLiteral("succeeded"), *created, sel.component, builds[c]));
                if (!d)
                    return unexpected(d.error());
                seeded << *d;
            }
        }
        return true;
    });
    if (!seed) {
        say(QStringLiteral("seeding: ") + seed.error().message);
        return 1;
    }
    const double seedMs = seedClock.nsecsElapsed() / 1e6;
    auto token = store.createToken(user, false);
    if (!token) {
        say(token.error().message);
        return 1;
    }
    bot::BotServerOptions bo;
    bo.port = 0;
    QString error;
    if (!botService->start(bo, &error)) {
        say(error);
        return 1;
    }

    QProcess app;
    app.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    app.setProcessEnvironment(env);
    QString snapshotLine, eventsLine;
    qint64 sent = 0;
    QElapsedTimer sendClock;
    double sendMs = 0;
    QTimer sender;
    sender.setInterval(intervalMs);
    int round = 0;
    // Events as the environment manager makes them: a deploy starts and succeeds, in turn over
    // every environment and component, with a new build of the component now and then.
    QObject::connect(&sender, &QTimer::timeout, &app, [&] {
        QList<model::Event> committed;
        auto r = store.transact([&](bot::StoreTransaction &tx) -> Expected<bool, bot::StoreError> {
            for (int k = 0; k < batch && sent + committed.size() < events; ++k) {
                const qint64 n = sent + committed.size();
                const int c = int(n / 2) % Components;
                const model::Environment &e = envs[int(n / 2 / Components) % Iterations];
                model::Event ev = deployEvent(n % 2 ? QStringLiteral("succeeded") : QStringLiteral("started"), e,
                                              QStringLiteral("svc%1").arg(c), builds[c]);
                auto stored = tx.appendEvent(ev);
                if (!stored)
                    return unexpected(stored.error());
                committed << *stored;
            }
            return true;
        });
        if (!r) {
            say(QStringLiteral("events: ") + r.error().message);
            QCoreApplication::exit(1);
            return;
        }
        sent += committed.size();
        botService->stream().eventsCommitted(committed);
        ++round;
        if (sent >= events) {
            sender.stop();
            sendMs = sendClock.nsecsElapsed() / 1e6;
        }
    });
    QObject::connect(&app, &QProcess::readyReadStandardOutput, &app, [&] {
        while (app.canReadLine()) {
            const QString line = QString::fromUtf8(app.readLine()).trimmed();
            if (line.startsWith(QLatin1String("snapshot "))) {
                snapshotLine = line;
                sendClock.start();
                sender.start();
            } else if (line.startsWith(QLatin1String("events "))) {
                eventsLine = line;
            }
        }
    });
    QObject::connect(&app, &QProcess::finished, &app, [&] { QCoreApplication::quit(); });
    app.start(self,
              {QStringLiteral("--app"), botService->server().url(), token->secret, QStringLiteral("--events"),
               QString::number(events)});
    QTimer::singleShot(600000, &app, [&] {
        say(QStringLiteral("timed out"));
        app.kill();
    });
    QCoreApplication::exec();
    if (snapshotLine.isEmpty() || eventsLine.isEmpty()) {
        say(QStringLiteral("the app half did not finish (snapshot: \"%1\", events: \"%2\")")
                .arg(snapshotLine, eventsLine));
        return 1;
    }
    const QStringList s = snapshotLine.split(u' ');
    const QStringList e = eventsLine.split(u' ');
    const double snapshotMs = s.value(1).toDouble();
    const double rssStart = s.value(2).toDouble() / 1024;
    const double rssSnapshot = s.value(3).toDouble() / 1024;
    const qint64 received = e.value(1).toLongLong();
    const double rssEvents = e.value(2).toDouble() / 1024;
    const double cpu = e.value(3).toDouble();
    say(QStringLiteral("\n## iterdeck app: the bot's stream (%1 iterations x %2 components, %3 events; %4 CPUs, load "
                       "%5)\n")
            .arg(Iterations)
            .arg(Components)
            .arg(events)
            .arg(QThread::idealThreadCount())
            .arg(QString::number(
                [] {
                    double l[1] = {0};
                    return getloadavg(l, 1) == 1 ? l[0] : 0.0;
                }(),
                'f', 2)));
    say(QStringLiteral("| measure | value |"));
    say(QStringLiteral("|---|---|"));
    say(QStringLiteral("| seeding the bot's store (50 iterations, environments, 500 selections and deploys) | %1 ms |")
            .arg(seedMs, 0, 'f', 0));
    say(QStringLiteral("| snapshot time: connect until the models show the 50 iterations | %1 ms |")
            .arg(snapshotMs, 0, 'f', 0));
    say(QStringLiteral("| RSS before connecting | %1 MB |").arg(rssStart, 0, 'f', 1));
    say(QStringLiteral("| RSS after the snapshot | %1 MB |").arg(rssSnapshot, 0, 'f', 1));
    say(QStringLiteral("| RSS after %1 events | %2 MB |").arg(received).arg(rssEvents, 0, 'f', 1));
    say(QStringLiteral("| app CPU per 1,000 events | %1 ms |").arg(cpu * 1000 / (double(received) / 1000), 0, 'f', 1));
    say(QStringLiteral("| events sent in | %1 ms (%2 per commit, one commit every %3 ms) |")
            .arg(sendMs, 0, 'f', 0)
            .arg(batch)
            .arg(intervalMs));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    // No window is shown: the models run as in the app, on the offscreen platform.
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication application(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    QCommandLineOption appOption(QStringLiteral("app"), QStringLiteral("Run the app's side against URL TOKEN"));
    QCommandLineOption eventsOption(QStringLiteral("events"), QStringLiteral("Events to send (10000)"),
                                    QStringLiteral("N"), QStringLiteral("10000"));
    QCommandLineOption batchOption(QStringLiteral("batch"), QStringLiteral("Events per commit (10)"),
                                   QStringLiteral("N"), QStringLiteral("10"));
    QCommandLineOption intervalOption(QStringLiteral("interval"), QStringLiteral("Milliseconds between commits (5)"),
                                      QStringLiteral("MS"), QStringLiteral("5"));
    parser.addOptions({appOption, eventsOption, batchOption, intervalOption});
    parser.addPositionalArgument(QStringLiteral("args"), QStringLiteral("with --app: URL TOKEN"));
    parser.process(application);
    const qint64 events = parser.value(eventsOption).toLongLong();
    if (parser.isSet(appOption)) {
        const QStringList args = parser.positionalArguments();
        if (args.size() != 2) {
            say(QStringLiteral("--app needs URL TOKEN"));
            return 2;
        }
        return runApp(QUrl(args[0]), args[1], events);
    }
    return runBot(QCoreApplication::applicationFilePath(), events, parser.value(batchOption).toInt(),
                  parser.value(intervalOption).toInt());
}
