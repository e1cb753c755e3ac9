// The tray app against the sandbox cluster, offscreen: the workloads model (under
// QAbstractItemModelTester) follows the cluster live, the dev-mode toggle patches the workload
// and toggling back restores it, what a crashed session left is found at start, the tray's
// state does not flicker, and start-at-login writes its autostart entry. With the bot (the
// in-process demo bot on the same sandbox, over its real WebSocket): my iterations only, the
// environment's components with what they follow and run, and a choice made in the deploy card
// redeploys the environment. Port-forwards added by hand reach the dev container, are remembered
// for the next session, and their local port closes when removed. The kubeconfig is followed as
// it is replaced on disk: new contexts are listed, a changed server is used, a context that is
// gone is said so.
#include "application.h"
#include "bot/crypto.h"
#include "botsession.h"
#include "chatops/streamstate.h"
#include "demobot.h"
#include "deploycarddialog.h"
#include "devcontroller.h"
#include "devmode/workload.h"
#include "grouppanel.h"
#include "iterationsmodel.h"
#include "kube/exec.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "kube/kubeconfigwatcher.h"
#include "mainwindow.h"
#include "portforwardspanel.h"
#include "settingsdialog.h"
#include "testutil/sandboxserver.h"
#include "trayicon.h"
#include "workloadsmodel.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QMenu>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QPointer>
#include <QProcess>
#include <QPushButton>
#include <QSaveFile>
#include <QScopeGuard>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QUrl>

#include <memory>

#include <unistd.h>

using namespace iterdeck;
using namespace iterdeck::app;
using namespace iterdeck::kube;
using iterdeck::testing::SandboxServer;

class TestApp : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxServer> m_sandbox;
    std::unique_ptr<KubeClient> m_client;
    std::unique_ptr<QSettings> m_settings;
    const QString m_ns = QStringLiteral("dev-app");

    QJsonObject getDeployment(const QString &name)
    {
        KubeCall *call = m_client->get(ResourceRef::deployments(), m_ns, name);
        QSignalSpy done(call, &KubeCall::finished);
        done.wait(10000);
        return call->isOk() ? *call->object() : QJsonObject();
    }
    QString imageOfIn(const QString &ns, const QString &name)
    {
        KubeCall *call = m_client->get(ResourceRef::deployments(), ns, name);
        QSignalSpy done(call, &KubeCall::finished);
        done.wait(10000);
        return call->isOk() ? imageOf(*call->object()) : QString();
    }
    static QString imageOf(const QJsonObject &d)
    {
        return d.value(QStringLiteral("spec"))
            .toObject()
            .value(QStringLiteral("template"))
            .toObject()
            .value(QStringLiteral("spec"))
            .toObject()
            .value(QStringLiteral("containers"))
            .toArray()
            .at(0)
            .toObject()
            .value(QStringLiteral("image"))
            .toString();
    }
    void create(const ResourceRef &ref, const QString &ns, const QJsonObject &o)
    {
        KubeCall *call = m_client->create(ref, ns, o);
        QSignalSpy done(call, &KubeCall::finished);
        QVERIFY(done.wait(10000));
        QVERIFY2(call->isOk(), qPrintable(call->error().toString()));
    }
    // The action of `component` in the tray's submenu of the iteration named `iteration…`.
    static QAction *trayDevAction(const TrayIcon *tray, const QString &iteration, const QString &component)
    {
        for (const QMenu *menu : tray->iterationMenus()) {
            if (!menu->title().startsWith(iteration))
                continue;
            for (QAction *a : menu->actions()) {
                if (a->isCheckable() && a->text() == component)
                    return a;
            }
        }
        return nullptr;
    }
    // Starts the demo bot (on its thread) on the test's cluster, its store in `dir`; the error
    // when it does not start.
    QString startDemo(DemoBot &demo, const QString &dir, int intervalMs)
    {
        QSignalSpy started(&demo, &DemoBot::started);
        QSignalSpy failed(&demo, &DemoBot::failed);
        DemoBot::Options options;
        options.cluster = m_client->config();
        options.dataDir = m_dir.filePath(dir);
        options.user = QStringLiteral("appuser");
        options.intervalMs = intervalMs;
        demo.start(options);
        if (!QTest::qWaitFor([&] { return !started.isEmpty() || !failed.isEmpty(); }, 30000))
            return QStringLiteral("neither started() nor failed() within 30 s");
        if (!failed.isEmpty())
            return failed.first().first().toString();
        if (started.first().first().toUrl() != demo.url() || started.first().at(1).toString() != demo.token())
            return QStringLiteral("started() and url()/token() differ");
        return {};
    }
    static int rowOf(const WorkloadsModel &model, const QString &name)
    {
        for (int r = 0; r < model.rowCount(); ++r) {
            if (model.index(r, WorkloadsModel::NameColumn).data().toString() == name)
                return r;
        }
        return -1;
    }

    Application::Options appOptions(const QString &ns) const
    {
        Application::Options options;
        options.kubeconfig = m_sandbox->kubeconfigPath();
        options.ns = ns;
        return options;
    }

    // Starts the app and connects it to the demo bot.
    static void startWithDemo(Application &app, const DemoBot &demo)
    {
        QSignalSpy ready(&app, &Application::ready);
        app.start();
        QVERIFY(ready.size() == 1 || ready.wait(10000));
        app.bot()->start(demo.url(), demo.token());
        QTRY_VERIFY_WITH_TIMEOUT(app.bot()->isConnected(), 20000);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QStandardPaths::setTestModeEnabled(true);
        qputenv("XDG_CONFIG_HOME", m_dir.filePath(QStringLiteral("config")).toUtf8());
        qputenv("XDG_STATE_HOME", m_dir.filePath(QStringLiteral("state")).toUtf8());
        qputenv("ITERDECK_AGENT", ITERDECK_AGENT_PATH);
        qputenv("ITERDECK_USER", "appuser");
        if (QStandardPaths::findExecutable(QStringLiteral("bwrap")).isEmpty())
            QSKIP("bubblewrap is not installed: dev-mode paths need isolated pods");
        m_sandbox
            = std::make_unique<SandboxServer>(m_dir.filePath(QStringLiteral("sandbox")), QStringLiteral("bubblewrap"));
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
        KubeconfigOptions ko;
        ko.kubeconfigFlag = m_sandbox->kubeconfigPath();
        auto config = loadClientConfig(ko);
        if (!config)
            QFAIL(qPrintable(config.error().toString()));
        m_client = std::make_unique<KubeClient>(*config);
        m_settings = std::make_unique<QSettings>(m_dir.filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
        create(ResourceRef::namespaces(), {},
               QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                            {QStringLiteral("kind"), QStringLiteral("Namespace")},
                            {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("name"), m_ns}}}});
        const QJsonObject deployment = QJsonDocument::fromJson(R"({
          "apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "labels": {"app": "web"}},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "web", "image": "iterdeck/demo-web:1.0",
                                                         "readinessProbe": {"tcpSocket": {"port": 8080}}}]}}}})")
                                           .object();
        create(ResourceRef::deployments(), m_ns, deployment);
        const QString src = m_dir.filePath(QStringLiteral("src/.nocalhost"));
        QDir().mkpath(src);
        QFile cfg(src + QStringLiteral("/config.yaml"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write("name: web\nserviceType: deployment\ncontainers:\n  - name: web\n    dev:\n      image: "
                  "iterdeck/sandbox-base:latest\n"
                  "      workDir: /home/dev\n");
        cfg.close();
        QFile code(m_dir.filePath(QStringLiteral("src/main.py")));
        QVERIFY(code.open(QIODevice::WriteOnly));
        code.write("print('hello')\n");
    }

    void trayDoesNotFlicker()
    {
        TrayIcon tray;
        tray.setState(TrayIcon::State::Ok);
        QCOMPARE(tray.shownState(), TrayIcon::State::Ok);
        // A short burst of work: the icon never changes.
        tray.setState(TrayIcon::State::Working);
        QTest::qWait(TrayIcon::workingDelayMs() / 4);
        QCOMPARE(tray.shownState(), TrayIcon::State::Ok);
        tray.setState(TrayIcon::State::Ok);
        QTest::qWait(TrayIcon::workingDelayMs() * 2);
        QCOMPARE(tray.shownState(), TrayIcon::State::Ok);
        // Lasting work shows; an error shows at once.
        tray.setState(TrayIcon::State::Working);
        QTRY_COMPARE_WITH_TIMEOUT(tray.shownState(), TrayIcon::State::Working, TrayIcon::workingDelayMs() * 5);
        tray.setState(TrayIcon::State::Error);
        QCOMPARE(tray.shownState(), TrayIcon::State::Error);
        tray.setState(TrayIcon::State::Disconnected);
        QCOMPARE(tray.shownState(), TrayIcon::State::Disconnected);
        for (auto s : {TrayIcon::State::Ok, TrayIcon::State::Working, TrayIcon::State::Attention,
                       TrayIcon::State::Error, TrayIcon::State::Disconnected})
            QVERIFY(!TrayIcon::iconFor(s).pixmap(22, 22).isNull());
    }

    void devToggleRoundTrip()
    {
        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setNamespace(m_ns);
        QTRY_VERIFY_WITH_TIMEOUT(model.isSynced(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 10000);
        const int row = rowOf(model, QStringLiteral("web"));
        QCOMPARE(model.index(row, WorkloadsModel::KindColumn).data().toString(), QStringLiteral("Deployment"));
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::PodsColumn).data().toString(), QStringLiteral("1/1"),
                                  20000);
        QCOMPARE(model.index(row, WorkloadsModel::DevColumn).data().toString(), QStringLiteral("off"));
        const QJsonObject original = getDeployment(QStringLiteral("web"));

        MainWindow window(m_client.get(), &dev, &model);
        // The folder was chosen before (the first toggle asks for it).
        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        dev.rememberFolder(m_ns, ref, m_dir.filePath(QStringLiteral("src")));
        window.table()->selectRow(row);
        QVERIFY(window.devButton()->isEnabled());
        QTest::mouseClick(window.devButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::DevColumn).data().toString(), QStringLiteral("on"),
                                  60000);
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::SyncColumn).data().toString(),
                                  QStringLiteral("in sync"), 30000);
        QCOMPARE(imageOf(getDeployment(QStringLiteral("web"))), QStringLiteral("iterdeck/sandbox-base:latest"));
        QVERIFY(window.devButton()->isChecked());
        QCOMPARE(window.devButton()->text(), QStringLiteral("End dev mode"));

        QSignalSpy ended(&dev, &DevController::ended);
        QTest::mouseClick(window.devButton(), Qt::LeftButton);
        QVERIFY(ended.wait(30000));
        QCOMPARE(ended.first().at(2).toBool(), true); // restored exactly
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::DevColumn).data().toString(), QStringLiteral("off"),
                                  10000);
        const QJsonObject after = getDeployment(QStringLiteral("web"));
        QCOMPARE(imageOf(after), QStringLiteral("iterdeck/demo-web:1.0"));
        QCOMPARE(after.value(QStringLiteral("spec")).toObject().value(QStringLiteral("template")),
                 original.value(QStringLiteral("spec")).toObject().value(QStringLiteral("template")));
        QCOMPARE(after.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("uid")),
                 original.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("uid")));
    }

    // The app died in dev mode: the next start finds it and can restore it.
    void leftoversAtStart()
    {
        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        {
            DevController first(m_client.get(), m_settings.get());
            QVERIFY(first.start(m_ns, ref));
            QTRY_COMPARE_WITH_TIMEOUT(first.status(workloadKey(m_ns, ref)).state, DevController::State::On, 60000);
        } // gone without ending, as a crash would leave it
        DevController next(m_client.get(), m_settings.get());
        QSignalSpy found(&next, &DevController::leftoversFound);
        next.scanLeftovers();
        QVERIFY(found.wait(10000));
        const auto records = found.first().at(0).value<QList<devmode::DevRecord>>();
        QCOMPARE(records.size(), 1);
        QCOMPARE(records.first().workload.shortName(), QStringLiteral("deploy/web"));
        QCOMPARE(records.first().localDir, m_dir.filePath(QStringLiteral("src")));
        QSignalSpy ended(&next, &DevController::ended);
        next.end(m_ns, ref);
        QVERIFY(ended.wait(30000));
        QVERIFY2(ended.first().at(2).toBool(), qPrintable(ended.first().at(1).toString()));
        QCOMPARE(imageOf(getDeployment(QStringLiteral("web"))), QStringLiteral("iterdeck/demo-web:1.0"));
    }

    // A server in the dev container, run over exec for as long as the returned session lives.
    // It answers every connection with "pong\n".
    std::unique_ptr<ExecSession> serveInPod(const QString &pod, quint16 port)
    {
        std::unique_ptr<Transport> transport;
        bool done = false;
        m_client->transport(this, [&](const Expected<Transport, KubeError> &t) {
            if (t)
                transport = std::make_unique<Transport>(*t);
            done = true;
        });
        if (!QTest::qWaitFor([&] { return done; }, 10000) || !transport)
            return {};
        auto exec = std::make_unique<ExecSession>();
        ExecOptions o;
        o.ns = m_ns;
        o.pod = pod;
        o.container = QStringLiteral("web");
        o.command = {QStringLiteral("python3"), QStringLiteral("-c"),
                     QStringLiteral("import os, socket\n"
                                    "s = socket.socket()\n"
                                    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                                    "s.bind((os.environ.get('POD_IP', ''), %1))\n"
                                    "s.listen()\n"
                                    "while True:\n"
                                    "    c, _ = s.accept()\n"
                                    "    c.sendall(b'pong' + bytes([10]))\n"
                                    "    c.close()\n")
                         .arg(port)};
        exec->start(*transport, o);
        return exec;
    }

    // What a connection to the local port gets until it is closed. The forwarder runs in this
    // thread: the wait runs the event loop, never blocks it.
    // Waits until the server behind the forward at `port` answers "pong"; `got` is the last answer.
    static bool pongVia(quint16 port, QByteArray *got)
    {
        return QTest::qWaitFor(
            [&] {
                *got = readFrom(port);
                return *got == "pong\n";
            },
            20000);
    }

    static QByteArray readFrom(quint16 port)
    {
        QTcpSocket socket;
        QByteArray got;
        QObject::connect(&socket, &QTcpSocket::readyRead, &socket, [&] { got += socket.readAll(); });
        socket.connectToHost(QHostAddress::LocalHost, port);
        if (!QTest::qWaitFor([&] { return socket.state() == QAbstractSocket::UnconnectedState; }, 3000))
            socket.abort();
        return got + socket.readAll();
    }

    static bool portRefuses(quint16 port)
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, port);
        socket.waitForConnected(2000);
        return socket.error() == QAbstractSocket::ConnectionRefusedError;
    }

    void portForwardsByHand()
    {
        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        const QString key = workloadKey(m_ns, ref);
        const QString remembered = QStringLiteral("devForwards/")
            + QString::fromLatin1(QUrl::toPercentEncoding(m_client->config().contextName)) + u'/' + key;
        m_settings->remove(QStringLiteral("devForwards"));
        DevController(m_client.get(), m_settings.get())
            .rememberFolder(m_ns, ref, m_dir.filePath(QStringLiteral("src")));
        quint16 forwarded = 0;
        {
            DevController dev(m_client.get(), m_settings.get());
            WorkloadsModel model(m_client.get(), &dev);
            model.setNamespace(m_ns);
            MainWindow window(m_client.get(), &dev, &model);
            QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 10000);
            QVERIFY(dev.start(m_ns, ref));
            QTRY_COMPARE_WITH_TIMEOUT(dev.status(key).state, DevController::State::On, 60000);
            auto server = serveInPod(dev.status(key).pod, 9123);
            QVERIFY(server);
            window.table()->selectRow(rowOf(model, QStringLiteral("web")));
            PortForwardsPanel *panel = window.portForwards();
            QTRY_VERIFY_WITH_TIMEOUT(panel->isAvailable(), 10000);
            QVERIFY(window.bottomTabs()->isTabEnabled(1));
            window.bottomTabs()->setCurrentIndex(1);
            QVERIFY(dev.status(key).forwards.isEmpty()); // the dev config has none

            // Added through the panel: any free local port to the container's 9123.
            panel->localPort()->setValue(0);
            panel->remotePort()->setValue(9123);
            QTest::mouseClick(panel->addButton(), Qt::LeftButton);
            QVERIFY2(panel->errorLabel()->isHidden(), qPrintable(panel->errorLabel()->text()));
            QCOMPARE(dev.status(key).forwards.size(), 1);
            forwarded = dev.status(key).forwards.first().localPort;
            QVERIFY(forwarded != 0);
            QCOMPARE(panel->list()->count(), 1);
            QVERIFY2(panel->list()->item(0)->text().contains(QStringLiteral("127.0.0.1:%1").arg(forwarded)),
                     qPrintable(panel->list()->item(0)->text()));
            QByteArray got;
            QVERIFY2(pongVia(forwarded, &got),
                     qPrintable(QStringLiteral("got \"%1\"; the server: %2 %3; the forward: %4")
                                    .arg(QString::fromUtf8(got), QString::fromUtf8(server->readStderr()),
                                         QString::fromUtf8(server->readStdout()), panel->list()->item(0)->text())));
            QCOMPARE(m_settings->value(remembered).toStringList(), QStringList {QStringLiteral(":9123")});

            // Clear errors: the same local port twice, a port taken by another program, nonsense.
            panel->localPort()->setValue(forwarded);
            QTest::mouseClick(panel->addButton(), Qt::LeftButton);
            QVERIFY(!panel->errorLabel()->isHidden());
            QVERIFY2(panel->errorLabel()->text().contains(
                         QStringLiteral("local port %1 is already forwarded to port 9123").arg(forwarded)),
                     qPrintable(panel->errorLabel()->text()));
            QTcpServer taken;
            QVERIFY(taken.listen(QHostAddress::LocalHost));
            panel->localPort()->setValue(taken.serverPort());
            QTest::mouseClick(panel->addButton(), Qt::LeftButton);
            QVERIFY2(panel->errorLabel()->text().contains(QStringLiteral("unable to listen on 127.0.0.1:%1: address "
                                                                         "already in use")
                                                              .arg(taken.serverPort())),
                     qPrintable(panel->errorLabel()->text()));
            const auto bad = dev.addPortForward(m_ns, ref, QStringLiteral("99999:80"));
            QVERIFY(!bad);
            QVERIFY2(bad.error().contains(QLatin1String("\"99999:80\" is not a port-forward")),
                     qPrintable(bad.error()));
            QCOMPARE(dev.status(key).forwards.size(), 1);
            QCOMPARE(m_settings->value(remembered).toStringList(), QStringList {QStringLiteral(":9123")});
            dev.stopAll(); // the app quits; dev mode stays on
        }
        QTRY_VERIFY_WITH_TIMEOUT(portRefuses(forwarded), 5000);

        // The next session brings the remembered forward back.
        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        model.setNamespace(m_ns);
        MainWindow window(m_client.get(), &dev, &model);
        QVERIFY(dev.start(m_ns, ref));
        QTRY_COMPARE_WITH_TIMEOUT(dev.status(key).state, DevController::State::On, 60000);
        QTRY_COMPARE_WITH_TIMEOUT(dev.status(key).forwards.size(), 1, 10000);
        const quint16 again = dev.status(key).forwards.first().localPort;
        QVERIFY(again != 0);
        auto server = serveInPod(dev.status(key).pod, 9123);
        QVERIFY(server);
        QByteArray got;
        QVERIFY2(pongVia(again, &got), got.constData());

        // Removed through the panel: the local port is closed at once, and forgotten.
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 10000);
        window.table()->selectRow(rowOf(model, QStringLiteral("web")));
        PortForwardsPanel *panel = window.portForwards();
        QTRY_COMPARE_WITH_TIMEOUT(panel->list()->count(), 1, 10000);
        panel->list()->setCurrentRow(0);
        QVERIFY(panel->removeButton()->isEnabled());
        QTest::mouseClick(panel->removeButton(), Qt::LeftButton);
        QVERIFY(dev.status(key).forwards.isEmpty());
        QVERIFY(portRefuses(again));
        QVERIFY(!m_settings->contains(remembered));

        server->abort();
        QSignalSpy ended(&dev, &DevController::ended);
        dev.end(m_ns, ref);
        QVERIFY(ended.wait(30000));
        QVERIFY2(ended.first().at(2).toBool(), qPrintable(ended.first().at(1).toString()));
    }

    // Entering dev mode can be given up: right away (nothing was changed), or while the
    // workload is being switched (the write lands first, then it is restored exactly).
    void devModeCancel()
    {
        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        model.setNamespace(m_ns);
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 10000);
        const int row = rowOf(model, QStringLiteral("web"));
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::DevColumn).data().toString(), QStringLiteral("off"),
                                  10000);
        const QJsonObject original = getDeployment(QStringLiteral("web"));
        MainWindow window(m_client.get(), &dev, &model);
        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        const QString key = workloadKey(m_ns, ref);
        dev.rememberFolder(m_ns, ref, m_dir.filePath(QStringLiteral("src")));
        window.table()->selectRow(row);
        QSignalSpy ended(&dev, &DevController::ended);

        QTest::mouseClick(window.devButton(), Qt::LeftButton);
        QCOMPARE(dev.status(key).state, DevController::State::Starting);
        QCOMPARE(window.devButton()->text(), QStringLiteral("Cancel dev mode"));
        QVERIFY(window.devButton()->isEnabled());
        QTest::mouseClick(window.devButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(ended.size(), 1, 10000);
        QVERIFY2(ended.at(0).at(1).toString().contains(QLatin1String("nothing was changed")),
                 qPrintable(ended.at(0).at(1).toString()));
        QCOMPARE(dev.status(key).state, DevController::State::Off);
        QCOMPARE(window.devButton()->text(), QStringLiteral("Dev mode"));
        QCOMPARE(getDeployment(QStringLiteral("web"))
                     .value(QStringLiteral("metadata"))
                     .toObject()
                     .value(QStringLiteral("generation")),
                 original.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("generation")));

        // Cancelled the moment the workload is being switched to the dev image.
        bool cancelledDuringSwitch = false;
        auto watch = connect(&dev, &DevController::statusChanged, &window, [&](const QString &changed) {
            if (changed != key || cancelledDuringSwitch
                || !dev.status(key).step.startsWith(QLatin1String("switching deploy/web")))
                return;
            cancelledDuringSwitch = true;
            window.toggleDevMode(rowOf(model, QStringLiteral("web")));
            QVERIFY(dev.status(key).cancelling);
        });
        QTest::mouseClick(window.devButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(ended.size(), 2, 30000);
        disconnect(watch);
        QVERIFY(cancelledDuringSwitch);
        QVERIFY2(ended.at(1).at(1).toString().contains(QLatin1String("not entered, restored exactly")),
                 qPrintable(ended.at(1).at(1).toString()));
        QCOMPARE(ended.at(1).at(2).toBool(), true);
        QCOMPARE(dev.status(key).state, DevController::State::Off);
        const QJsonObject after = getDeployment(QStringLiteral("web"));
        QCOMPARE(imageOf(after), QStringLiteral("iterdeck/demo-web:1.0"));
        QCOMPARE(after.value(QStringLiteral("spec")).toObject().value(QStringLiteral("template")),
                 original.value(QStringLiteral("spec")).toObject().value(QStringLiteral("template")));
        QVERIFY(!after.value(QStringLiteral("metadata"))
                     .toObject()
                     .value(QStringLiteral("annotations"))
                     .toObject()
                     .contains(devmode::keys::original));
        // Nothing of the cancelled start goes on in the background.
        QTest::qWait(1500);
        QCOMPARE(dev.status(key).state, DevController::State::Off);
        QCOMPARE(imageOf(getDeployment(QStringLiteral("web"))), QStringLiteral("iterdeck/demo-web:1.0"));
    }

    // A workload that is not in dev mode gets port-forwards to its own pods; dev mode takes them
    // over to the dev pod and gives them back when it ends.
    void portForwardsWithoutDevMode()
    {
        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        const QString key = workloadKey(m_ns, ref);
        const QString remembered = QStringLiteral("devForwards/")
            + QString::fromLatin1(QUrl::toPercentEncoding(m_client->config().contextName)) + u'/' + key;
        m_settings->remove(QStringLiteral("devForwards"));
        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        model.setNamespace(m_ns);
        MainWindow window(m_client.get(), &dev, &model);
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 10000);
        const int row = rowOf(model, QStringLiteral("web"));
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::PodsColumn).data().toString(), QStringLiteral("1/1"),
                                  30000);
        QCOMPARE(dev.status(key).state, DevController::State::Off);
        window.table()->selectRow(row);
        PortForwardsPanel *panel = window.portForwards();
        QVERIFY(panel->isAvailable());
        QVERIFY(window.bottomTabs()->isTabEnabled(1));
        panel->localPort()->setValue(0);
        panel->remotePort()->setValue(8080);
        QTest::mouseClick(panel->addButton(), Qt::LeftButton);
        QVERIFY2(panel->errorLabel()->isHidden(), qPrintable(panel->errorLabel()->text()));
        QCOMPARE(dev.status(key).forwards.size(), 1);
        const quint16 port = dev.status(key).forwards.first().localPort;
        QVERIFY(port != 0);
        QCOMPARE(m_settings->value(remembered).toStringList(), QStringList {QStringLiteral(":8080")});
        // The forwarder runs in this thread: every wait runs the event loop.
        const auto healthz = [](quint16 p) {
            QByteArray got;
            const bool ok = QTest::qWaitFor(
                [&] {
                    QTcpSocket socket;
                    QObject::connect(&socket, &QTcpSocket::connected, &socket,
                                     [&] { socket.write("GET /healthz HTTP/1.0\r\n\r\n"); });
                    socket.connectToHost(QHostAddress::LocalHost, p);
                    got.clear();
                    const bool closed = QTest::qWaitFor(
                        [&] {
                            got += socket.readAll();
                            return socket.state() == QAbstractSocket::UnconnectedState;
                        },
                        3000);
                    got += socket.readAll();
                    return closed && got.endsWith("ok\n");
                },
                20000);
            return ok ? got : QByteArray("no answer: ") + got;
        };
        QVERIFY2(healthz(port).endsWith("ok\n"), qPrintable(panel->list()->item(0)->text()));
        QVERIFY2(panel->list()->item(0)->text().contains(QStringLiteral("127.0.0.1:%1").arg(port)),
                 qPrintable(panel->list()->item(0)->text()));
        // The same spec twice is refused.
        QVERIFY(!dev.addPortForward(m_ns, ref, QStringLiteral(":8080"), model.selectorAt(row)));

        // In dev mode the remembered forward goes to the dev pod; the pods' forward is closed.
        QVERIFY(dev.start(m_ns, ref, m_dir.filePath(QStringLiteral("src"))));
        QVERIFY(portRefuses(port));
        QTRY_COMPARE_WITH_TIMEOUT(dev.status(key).state, DevController::State::On, 60000);
        QTRY_COMPARE_WITH_TIMEOUT(dev.status(key).forwards.size(), 1, 10000);
        QCOMPARE(dev.status(key).forwards.first().spec, QStringLiteral(":8080"));
        QSignalSpy ended(&dev, &DevController::ended);
        dev.end(m_ns, ref);
        QVERIFY(ended.wait(30000));
        QVERIFY2(ended.first().at(2).toBool(), qPrintable(ended.first().at(1).toString()));
        // Back to the workload's own pods.
        QTRY_COMPARE_WITH_TIMEOUT(dev.status(key).forwards.size(), 1, 10000);
        const quint16 again = dev.status(key).forwards.first().localPort;
        QVERIFY(again != 0);
        QVERIFY(healthz(again).endsWith("ok\n"));

        // Removed: closed at once, and forgotten.
        window.table()->selectRow(rowOf(model, QStringLiteral("web")));
        QTRY_VERIFY_WITH_TIMEOUT(panel->isAvailable(), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(panel->list()->count(), 1, 10000);
        panel->list()->setCurrentRow(0);
        QVERIFY(panel->removeButton()->isEnabled());
        QTest::mouseClick(panel->removeButton(), Qt::LeftButton);
        QVERIFY(dev.status(key).forwards.isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(portRefuses(again), 5000);
        QVERIFY(!m_settings->contains(remembered));
    }

    // With the bot's environment, the table lists its components: one whose workload is not in
    // the cluster has a row of its own, and a pinned build is named.
    void componentsTable()
    {
        chatops::StreamState state;
        chatops::Snapshot snap;
        snap.project = QStringLiteral("shop");
        chatops::ComponentInfo web;
        web.name = QStringLiteral("storefront");
        web.workload = QStringLiteral("deploy/web");
        chatops::ComponentInfo api;
        api.name = QStringLiteral("api");
        api.workload = QStringLiteral("deploy/api");
        snap.components = {web, api};
        model::Iteration it;
        it.id = 1;
        it.name = QStringLiteral("Sprint 9");
        it.members = {QStringLiteral("appuser")};
        snap.iterations = {it};
        model::Environment env;
        env.id = 7;
        env.iterationId = 1;
        env.nameSpace = m_ns;
        env.state = QStringLiteral("ready");
        snap.environments = {env};
        model::Selection pin;
        pin.environmentId = 7;
        pin.component = QStringLiteral("storefront");
        pin.mode = model::Selection::Mode::Pin;
        pin.artifactId = 42;
        model::Selection follow;
        follow.environmentId = 7;
        follow.component = QStringLiteral("api");
        follow.branch = QStringLiteral("main");
        snap.selections = {pin, follow};
        chatops::Deployment d;
        d.environmentId = 7;
        d.component = QStringLiteral("storefront");
        d.state = QStringLiteral("succeeded");
        d.artifact.id = 42;
        d.artifact.component = QStringLiteral("storefront");
        d.artifact.build = QStringLiteral("102");
        d.artifact.imageTag = QStringLiteral("1.1");
        d.artifact.commit = QStringLiteral("c0ffee7");
        d.at = QDateTime::currentDateTimeUtc();
        snap.deployments = {d};
        state.reset(snap);

        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setNamespace(m_ns);
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 10000);
        model.setEnvironment(&state, 7);
        const int sf = rowOf(model, QStringLiteral("storefront"));
        QVERIFY(sf >= 0);
        QVERIFY(rowOf(model, QStringLiteral("web")) < 0); // named as the bot names it
        QCOMPARE(model.index(sf, 0).data(WorkloadsModel::LiveRole).toBool(), true);
        QCOMPARE(model.index(sf, 0).data(WorkloadsModel::WorkloadRole).toString(), QStringLiteral("deploy/web"));
        QCOMPARE(model.index(sf, WorkloadsModel::FollowsColumn).data().toString(),
                 QStringLiteral("pinned: 1.1 #102 · c0ffee7"));
        const int apiRow = rowOf(model, QStringLiteral("api"));
        QVERIFY(apiRow >= 0);
        QCOMPARE(model.index(apiRow, 0).data(WorkloadsModel::LiveRole).toBool(), false);
        QCOMPARE(model.index(apiRow, WorkloadsModel::PodsColumn).data().toString(), QStringLiteral("not deployed"));
        QCOMPARE(model.index(apiRow, WorkloadsModel::FollowsColumn).data().toString(), QStringLiteral("main"));
        QCOMPARE(model.componentAt(apiRow), QStringLiteral("api"));
        // Its actions are off: there is nothing to enter dev mode on, log or forward yet.
        MainWindow window(m_client.get(), &dev, &model);
        window.table()->selectRow(apiRow);
        QVERIFY(!window.devButton()->isEnabled());
        QVERIFY(!window.portForwards()->isAvailable());

        // The workload appears: the same row, now live.
        const QJsonObject deployment = QJsonDocument::fromJson(R"({
          "apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "api", "labels": {"app": "api"}},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                   "template": {"metadata": {"labels": {"app": "api"}},
                                "spec": {"containers": [{"name": "api", "image": "iterdeck/demo-worker:1.0"}]}}}})")
                                           .object();
        const int before = model.rowCount();
        create(ResourceRef::deployments(), m_ns, deployment);
        QTRY_VERIFY_WITH_TIMEOUT(
            model.index(rowOf(model, QStringLiteral("api")), 0).data(WorkloadsModel::LiveRole).toBool(), 10000);
        QCOMPARE(model.rowCount(), before);
        // Without the environment, only workloads, by their names.
        model.setEnvironment(&state, 0);
        QVERIFY(rowOf(model, QStringLiteral("storefront")) < 0);
        QVERIFY(rowOf(model, QStringLiteral("web")) >= 0);
        QVERIFY(rowOf(model, QStringLiteral("api")) >= 0);
        KubeCall *del = m_client->remove(ResourceRef::deployments(), m_ns, QStringLiteral("api"));
        QSignalSpy deleted(del, &KubeCall::finished);
        QVERIFY(deleted.wait(10000));
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("api")) < 0, 10000);
    }

    // A kubeconfig of the sandbox's credentials with these contexts (name -> server).
    QByteArray kubeconfigWith(const QList<QPair<QString, QString>> &contexts, const QString &current) const
    {
        const ClientConfig &c = m_client->config();
        QJsonObject user;
        if (!c.user.token.isEmpty()) {
            user.insert(QStringLiteral("token"), c.user.token);
        } else {
            user.insert(QStringLiteral("client-certificate-data"),
                        QString::fromLatin1(c.user.clientCertificatePem.toBase64()));
            user.insert(QStringLiteral("client-key-data"), QString::fromLatin1(c.user.clientKeyPem.toBase64()));
        }
        QJsonArray clusters, ctxs;
        for (const auto &[name, server] : contexts) {
            clusters.append(
                QJsonObject {{QStringLiteral("name"), name},
                             {QStringLiteral("cluster"),
                              QJsonObject {{QStringLiteral("server"), server},
                                           {QStringLiteral("certificate-authority-data"),
                                            QString::fromLatin1(c.cluster.certificateAuthorityPem.toBase64())}}}});
            ctxs.append(QJsonObject {
                {QStringLiteral("name"), name},
                {QStringLiteral("context"),
                 QJsonObject {{QStringLiteral("cluster"), name}, {QStringLiteral("user"), QStringLiteral("me")}}}});
        }
        return QJsonDocument(QJsonObject {
                                 {QStringLiteral("apiVersion"), QStringLiteral("v1")},
                                 {QStringLiteral("kind"), QStringLiteral("Config")},
                                 {QStringLiteral("clusters"), clusters},
                                 {QStringLiteral("contexts"), ctxs},
                                 {QStringLiteral("users"),
                                  QJsonArray {QJsonObject {{QStringLiteral("name"), QStringLiteral("me")},
                                                           {QStringLiteral("user"), user}}}},
                                 {QStringLiteral("current-context"), current},
                             })
            .toJson();
    }

    // As kubectl and editors do: written beside, then renamed over the file.
    static void replaceFile(const QString &path, const QByteArray &bytes)
    {
        QSaveFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(bytes);
        QVERIFY(f.commit());
    }

    bool canListNamespaces(KubeClient *client)
    {
        KubeCall *call = client->list(ResourceRef::namespaces(), {});
        QSignalSpy done(call, &KubeCall::finished);
        done.wait(10000);
        return call->isOk();
    }

    void kubeconfigFollowsTheFile()
    {
        const QString server = m_client->config().cluster.server.toString();
        const QString moved = QStringLiteral("https://127.0.0.1:1");
        QDir().mkpath(m_dir.filePath(QStringLiteral("kube")));
        const QString path = m_dir.filePath(QStringLiteral("kube/config"));
        replaceFile(path, kubeconfigWith({{QStringLiteral("sandbox"), server}}, QStringLiteral("sandbox")));
        KubeconfigOptions ko;
        ko.kubeconfigFlag = path;
        auto config = loadClientConfig(ko);
        QVERIFY2(config, qPrintable(config ? QString() : config.error().toString()));
        KubeClient client(*config);
        KubeconfigWatcher watcher(&client, ko);
        DevController dev(&client, m_settings.get());
        WorkloadsModel model(&client, &dev);
        model.setNamespace(m_ns);
        MainWindow window(&client, &dev, &model);
        window.setKubeconfigWatcher(&watcher);
        QCOMPARE(watcher.contexts(), QStringList {QStringLiteral("sandbox")});
        QCOMPARE(window.contextBox()->count(), 1);
        QVERIFY(canListNamespaces(&client));
        QSignalSpy changed(&watcher, &KubeconfigWatcher::clientChanged);

        // A context added and the current one's server changed, replaced by a rename, in a burst.
        replaceFile(path, kubeconfigWith({{QStringLiteral("sandbox"), moved}}, QStringLiteral("sandbox")));
        replaceFile(path,
                    kubeconfigWith({{QStringLiteral("sandbox"), moved}, {QStringLiteral("second"), server}},
                                   QStringLiteral("second")));
        QTRY_COMPARE_WITH_TIMEOUT(watcher.contexts(),
                                  (QStringList {QStringLiteral("sandbox"), QStringLiteral("second")}), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(client.config().cluster.server.toString(), moved, 5000);
        QCOMPARE(changed.size(), 1); // debounced: one reload for the burst
        QCOMPARE(client.config().contextName, QStringLiteral("sandbox")); // kept, though current-context moved
        QCOMPARE(window.contextBox()->count(), 2);
        QCOMPARE(window.contextBox()->currentText(), QStringLiteral("sandbox"));
        QVERIFY(window.contextBox()->isVisibleTo(&window));
        QVERIFY2(window.clusterLabel()->text().contains(moved), qPrintable(window.clusterLabel()->text()));
        QVERIFY(!canListNamespaces(&client));

        // The context in use is gone: said so, and the client stays as it was.
        replaceFile(path, kubeconfigWith({{QStringLiteral("second"), server}}, QStringLiteral("second")));
        QTRY_VERIFY_WITH_TIMEOUT(!watcher.problem().isEmpty(), 5000);
        QVERIFY2(watcher.problem().contains(QLatin1String("The context \"sandbox\" is no longer in the kubeconfig")),
                 qPrintable(watcher.problem()));
        QVERIFY(window.banner()->isVisibleTo(&window));
        QCOMPARE(window.banner()->text(), watcher.problem());
        QCOMPARE(watcher.contexts(), QStringList {QStringLiteral("second")});
        QCOMPARE(client.config().contextName, QStringLiteral("sandbox"));
        QCOMPARE(changed.size(), 1);

        // Another context chosen in the window: the client follows it, and works again.
        QCOMPARE(window.contextBox()->itemText(0), QStringLiteral("second"));
        Q_EMIT window.contextBox()->activated(0);
        QCOMPARE(client.config().contextName, QStringLiteral("second"));
        QCOMPARE(client.config().cluster.server.toString(), server);
        QVERIFY(watcher.problem().isEmpty());
        QVERIFY(!window.banner()->isVisibleTo(&window));
        QVERIFY(canListNamespaces(&client));
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 20000);

        // A change elsewhere in the folder is no reload.
        QFile other(m_dir.filePath(QStringLiteral("kube/other")));
        QVERIFY(other.open(QIODevice::WriteOnly));
        other.write("x");
        other.close();
        QTest::qWait(800);
        QCOMPARE(changed.size(), 2);
    }

    // The demo bot runs on a thread of its own: its service, server, stream, environments, cluster
    // client, network access and timer live there, not on the GUI thread, and the app's bot
    // session gets its iterations from it all the same. It stops and its thread ends when it goes.
    // A bot that cannot start says why through failed().
    void demoBotRunsOnItsOwnThread()
    {
        auto demo = std::make_unique<DemoBot>();
        const QString error = startDemo(*demo, QStringLiteral("bot-thread"), 0);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY(demo->isRunning());
        QThread *thread = demo->botThread();
        QVERIFY(thread);
        QVERIFY(thread != QThread::currentThread());
        QVERIFY(thread->isRunning());
        QVERIFY(demo->botObjects().size() >= 8);
        for (const QObject *o : demo->botObjects())
            QVERIFY2(o->thread() == thread, o->metaObject()->className());
        bool ended = false;
        connect(
            thread, &QThread::finished, thread, [&ended] { ended = true; }, Qt::DirectConnection);

        BotSession session(m_settings.get());
        session.start(demo->url(), demo->token());
        QTRY_VERIFY_WITH_TIMEOUT(session.isConnected(), 20000);
        // Only the iteration this user is a member of ("Hotfix 7" is carol's).
        QTRY_COMPARE_WITH_TIMEOUT(session.state()->iterations().size(), 1, 20000);
        QCOMPARE(session.state()->iterations().first().name, QStringLiteral("Sprint 1"));

        demo.reset();
        QVERIFY(ended);
        QTRY_VERIFY_WITH_TIMEOUT(!session.isConnected(), 10000);

        // Its data folder is a file: the demo project cannot be written there.
        QFile blocked(m_dir.filePath(QStringLiteral("bot-blocked")));
        QVERIFY(blocked.open(QIODevice::WriteOnly));
        blocked.close();
        DemoBot broken;
        const QString brokenError = startDemo(broken, QStringLiteral("bot-blocked"), 0);
        QVERIFY2(brokenError.startsWith(QLatin1String("cannot write")), qPrintable(brokenError));
        QVERIFY(!broken.isRunning());
    }

    // `iterdeck --sandbox` as the app runs it: a sandbox cluster of its own (iterdeckctl sandbox
    // up) with the demo application, and the demo bot on a thread of its own, from which the
    // app's bot session gets this user's iteration. The app's end stops the bot, then the cluster.
    void sandboxDemoRunsItsBotOffTheGuiThread()
    {
        const QString ctlDir = QFileInfo(QStringLiteral(ITERDECKCTL_PATH)).absolutePath();
        const QByteArray path = qgetenv("PATH");
        qputenv("PATH", ctlDir.toUtf8() + ':' + path);
        const auto restorePath = qScopeGuard([path] { qputenv("PATH", path); });
        const QString demoDir
            = QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/demo-sandbox");
        QDir(demoDir).removeRecursively(); // a demo of an earlier run
        Application::Options options;
        options.sandbox = true;
        auto app = std::make_unique<Application>(options);
        QSignalSpy ready(app.get(), &Application::ready);
        QSignalSpy failed(app.get(), &Application::failed);
        app->start();
        QTRY_VERIFY_WITH_TIMEOUT(!ready.isEmpty() || !failed.isEmpty(), 120000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.value(0).value(0).toString()));
        auto *demo = app->findChild<DemoBot *>();
        QVERIFY(demo);
        QTRY_VERIFY_WITH_TIMEOUT(demo->isRunning(), 30000);
        QVERIFY(demo->botThread() != QThread::currentThread());
        for (const QObject *o : demo->botObjects())
            QVERIFY2(o->thread() == demo->botThread(), o->metaObject()->className());
        QTRY_VERIFY_WITH_TIMEOUT(app->bot()->isConnected(), 20000);
        auto sprint = [&app] {
            for (const model::Iteration &it : app->bot()->state()->iterations()) {
                if (it.name == u"Sprint 1")
                    return true;
            }
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(sprint(), 20000);
        bool ended = false;
        connect(
            demo->botThread(), &QThread::finished, demo->botThread(), [&ended] { ended = true; }, Qt::DirectConnection);
        app.reset();
        QVERIFY(ended);
        QDir(demoDir).removeRecursively();
    }

    void deployCardRedeploysTheEnvironment()
    {
        DemoBot demo;
        const QString error = startDemo(demo, QStringLiteral("bot"), 0);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        MainWindow window(m_client.get(), &dev, &model);
        connect(&window, &MainWindow::namespaceChanged, &model, &WorkloadsModel::setNamespace);
        BotSession session(m_settings.get());
        window.setBotSession(&session);
        auto *iterations = window.iterationsView()->model();
        QAbstractItemModelTester iterationsTester(iterations, QAbstractItemModelTester::FailureReportingMode::QtTest);
        session.start(demo.url(), demo.token());
        QTRY_VERIFY_WITH_TIMEOUT(session.isConnected(), 20000);
        // Only the iteration this user is a member of ("Hotfix 7" is carol's).
        QTRY_COMPARE_WITH_TIMEOUT(iterations->rowCount(), 1, 20000);
        QVERIFY(iterations->index(0, 0).data().toString().startsWith(QLatin1String("Sprint 1")));
        const QString ns = QStringLiteral("demo-sprint-1");
        QTRY_COMPARE_WITH_TIMEOUT(iterations->index(0, 0).data(IterationsModel::NamespaceRole).toString(), ns, 20000);
        window.selectIteration(iterations->index(0, 0).data(IterationsModel::IterationIdRole).toLongLong());
        QTRY_COMPARE_WITH_TIMEOUT(model.currentNamespace(), ns, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(model, QStringLiteral("web")) >= 0, 30000);
        const int row = rowOf(model, QStringLiteral("web"));
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::FollowsColumn).data().toString(),
                                  QStringLiteral("main"), 10000);
        QTRY_VERIFY2_WITH_TIMEOUT(model.index(row, WorkloadsModel::DeployedColumn)
                                      .data()
                                      .toString()
                                      .startsWith(QStringLiteral("1.0 · 3f2a9c1")),
                                  qPrintable(model.index(row, WorkloadsModel::DeployedColumn).data().toString()),
                                  60000);

        QTRY_VERIFY_WITH_TIMEOUT(window.deployButton()->isEnabled(), 10000);
        QTest::mouseClick(window.deployButton(), Qt::LeftButton);
        DeployCardDialog *card = window.findChild<DeployCardDialog *>();
        QVERIFY(card);
        QTRY_VERIFY_WITH_TIMEOUT(card->isLoaded(), 10000);
        QComboBox *branch = card->branchBox(QStringLiteral("web"));
        QVERIFY(branch);
        QCOMPARE(branch->currentData().toString(), QStringLiteral("main"));
        const int feature = branch->findData(QStringLiteral("feature/login"));
        QVERIFY(feature >= 0);
        QVERIFY2(branch->itemText(feature).contains(QLatin1String("1.1")), qPrintable(branch->itemText(feature)));
        QVERIFY(!card->confirmButton()->isEnabled()); // nothing changes yet
        branch->setCurrentIndex(feature);
        QVERIFY2(card->summary().contains(QLatin1String("web: follow feature/login")), qPrintable(card->summary()));
        QVERIFY(card->confirmButton()->isEnabled());
        QSignalSpy applied(card, &DeployCardDialog::applied);
        QTest::mouseClick(card->confirmButton(), Qt::LeftButton);
        QVERIFY(applied.wait(10000));
        // The bot stored the choice and redeploys: the cluster runs feature/login's build.
        QTRY_COMPARE_WITH_TIMEOUT(model.index(row, WorkloadsModel::FollowsColumn).data().toString(),
                                  QStringLiteral("feature/login"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(imageOfIn(ns, QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:1.1"), 60000);
        QTRY_VERIFY_WITH_TIMEOUT(card->statusLabel(QStringLiteral("web"))->text().contains(QLatin1String("1.1")),
                                 60000);
        QTRY_VERIFY_WITH_TIMEOUT(
            model.index(row, WorkloadsModel::DeployedColumn).data().toString().startsWith(QLatin1String("1.1")), 60000);
        // The worker was not touched: it runs its first build (deployed after web's, one deploy at a
        // time per environment, so possibly only now on a busy machine).
        QTRY_COMPARE_WITH_TIMEOUT(imageOfIn(ns, QStringLiteral("worker")), QStringLiteral("iterdeck/demo-worker:1.0"),
                                  60000);
        // carol's "Hotfix 7" got no environment: no namespace, no pods on the demo cluster.
        KubeCall *namespaces = m_client->list(ResourceRef::namespaces(), {});
        QSignalSpy listed(namespaces, &KubeCall::finished);
        QVERIFY(listed.wait(10000));
        QVERIFY(namespaces->isOk());
        QStringList names;
        for (const QJsonValue &v : namespaces->object()->value(QStringLiteral("items")).toArray())
            names << v.toObject().value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString();
        QVERIFY2(names.contains(ns), qPrintable(names.join(u' ')));
        QVERIFY2(!names.contains(QStringLiteral("demo-hotfix-7")), qPrintable(names.join(u' ')));
    }

    // The iteration's group in the window: what is written there arrives live, a message sent
    // from the app is posted through the bot and comes back, and a new window reads the history.
    void groupConversation()
    {
        DemoBot demo;
        const QString error = startDemo(demo, QStringLiteral("bot-group"), 0);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        Application app(appOptions(QStringLiteral("demo-sprint-1")));
        startWithDemo(app, demo);
        if (QTest::currentTestFailed())
            return;
        qint64 sprint = 0;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (const model::Iteration &it : app.bot()->state()->iterations()) {
                    if (it.name == u"Sprint 1")
                        sprint = it.id;
                }
                return sprint > 0;
            }(),
            20000);
        // The tray's "Open the group" opens it.
        QAction *open = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (const QMenu *menu : app.tray()->iterationMenus()) {
                    if (!menu->title().startsWith(QLatin1String("Sprint 1")))
                        continue;
                    for (QAction *a : menu->actions()) {
                        if (a->text().startsWith(QLatin1String("Open the group")))
                            open = a;
                    }
                }
                return open != nullptr;
            }(),
            10000);
        open->trigger();
        GroupPanel *group = app.window()->groupPanel();
        QVERIFY(group);
        QCOMPARE(app.window()->bottomTabs()->currentWidget(), group);
        QCOMPARE(app.window()->selectedIteration(), sprint);
        QVERIFY(!group->sendButton()->isEnabled()); // nothing to send yet
        group->input()->setText(QStringLiteral("Deploying feature/login to try it"));
        QVERIFY(group->sendButton()->isEnabled());
        QSignalSpy notified(&app, &Application::notified);
        QTest::mouseClick(group->sendButton(), Qt::LeftButton);
        const auto shows = [](GroupPanel *g, const QString &what) {
            for (int i = 0; i < g->messages()->count(); ++i) {
                if (g->messages()->item(i)->text().contains(what))
                    return true;
            }
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(shows(group, QStringLiteral("appuser: Deploying feature/login to try it")), 10000);
        QVERIFY(group->input()->text().isEmpty());
        QVERIFY(group->errorLabel()->isHidden());
        // What I wrote is no news to me: no notification of it.
        QTest::qWait(200);
        for (const QList<QVariant> &n : std::as_const(notified))
            QVERIFY2(!n.at(1).toString().contains(QLatin1String("Deploying feature/login")),
                     qPrintable(n.at(1).toString()));
        // The activity list leaves out the bot's own group messages (they repeat its events).
        for (const chatops::Activity &a : app.bot()->state()->activity(sprint)) {
            if (a.type == u"channel.message" && a.from == u"iterdeck") {
                QListWidget *activity = app.window()->findChild<QListWidget *>(QStringLiteral("activity"));
                QVERIFY(activity);
                for (int i = 0; i < activity->count(); ++i)
                    QVERIFY2(!activity->item(i)->text().contains(QLatin1String("  iterdeck: ")),
                             qPrintable(activity->item(i)->text()));
                break;
            }
        }

        // A new window (a restart of the app) reads the group's history from the bot.
        BotSession session(m_settings.get());
        DevController dev(m_client.get(), m_settings.get());
        WorkloadsModel model(m_client.get(), &dev);
        MainWindow window(m_client.get(), &dev, &model);
        window.setBotSession(&session);
        session.start(demo.url(), demo.token());
        QTRY_VERIFY_WITH_TIMEOUT(session.isConnected(), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(session.state()->iteration(sprint), 20000);
        window.openGroup(sprint);
        QTRY_VERIFY_WITH_TIMEOUT(shows(window.groupPanel(), QStringLiteral("appuser: Deploying feature/login")), 10000);
    }

    // The tray's submenu of an iteration shows each component's dev mode as it is, also when it
    // changes while the menu exists.
    // Unread events of my iterations turn the tray icon to attention; clicking a notification
    // opens the window on the iteration it was about, which reads them.
    void trayAttentionAndNotificationClick()
    {
        DemoBot demo;
        const QString error = startDemo(demo, QStringLiteral("bot-attention"), 1500);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        Application app(appOptions(QStringLiteral("demo-sprint-1")));
        startWithDemo(app, demo);
        if (QTest::currentTestFailed())
            return;
        QTRY_VERIFY_WITH_TIMEOUT(app.bot()->state()->totalUnread() > 0, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(app.tray()->shownState(), TrayIcon::State::Attention, 5000);
        qint64 sprint = 0;
        for (const model::Iteration &it : app.bot()->state()->iterations()) {
            if (it.name == u"Sprint 1")
                sprint = it.id;
        }
        QVERIFY(sprint > 0);
        // A notification about Sprint 1 comes with the next build's deploy; the click opens it.
        QList<qint64> notified;
        connect(app.bot()->state(), &chatops::StreamState::notable, this,
                [&notified](const chatops::Activity &a, chatops::EventKind) { notified.append(a.iterationId); });
        QTRY_VERIFY_WITH_TIMEOUT(notified.contains(sprint), 60000);
        Q_EMIT app.tray()->messageClicked();
        QVERIFY(app.window()->isVisible());
        QCOMPARE(app.window()->selectedIteration(), sprint);
        QTRY_COMPARE_WITH_TIMEOUT(app.bot()->state()->unread(sprint), 0, 5000);
        app.window()->hide();
    }

    void trayIterationMenuFollowsDevMode()
    {
        DemoBot demo;
        const QString error = startDemo(demo, QStringLiteral("bot-tray"), 0);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QString ns = QStringLiteral("demo-sprint-1");
        Application app(appOptions(ns));
        startWithDemo(app, demo);
        if (QTest::currentTestFailed())
            return;
        QTRY_VERIFY_WITH_TIMEOUT(trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web")), 20000);
        QPointer<QAction> web = trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web"));
        QVERIFY(!web->isChecked());
        QVERIFY(web->isEnabled());

        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        // The bot deploys the environment first.
        QTRY_VERIFY_WITH_TIMEOUT(!imageOfIn(ns, QStringLiteral("web")).isEmpty(), 60000);
        // The demo's dev folder, as scripts/screenshots uses it.
        const QString folder = QFINDTESTDATA("../../resources/sandbox/dev-web");
        QVERIFY(!folder.isEmpty());
        // The menu that exists when dev mode comes on shows it at that moment.
        bool shownOn = false;
        bool sawOn = false;
        connect(app.dev(), &DevController::statusChanged, this, [&](const QString &key) {
            if (key != workloadKey(ns, ref) || app.dev()->status(key).state != DevController::State::On || sawOn)
                return;
            sawOn = true;
            QAction *now = trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web"));
            shownOn = now && now->isChecked();
        });
        QVERIFY(app.dev()->start(ns, ref, folder));
        QTRY_VERIFY2_WITH_TIMEOUT(app.dev()->status(workloadKey(ns, ref)).state == DevController::State::On,
                                  qPrintable(app.dev()->status(workloadKey(ns, ref)).message), 60000);
        QTRY_VERIFY_WITH_TIMEOUT(
            trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web"))
                && trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web"))->isChecked(),
            5000);
        QVERIFY(trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web"))->isEnabled());
        QVERIFY(sawOn);
        QVERIFY(shownOn);
        // The menu that was there before follows too.
        if (web)
            QVERIFY(web->isChecked());

        QSignalSpy ended(app.dev(), &DevController::ended);
        app.dev()->end(ns, ref);
        QVERIFY(ended.wait(30000));
        QTRY_VERIFY_WITH_TIMEOUT(
            !trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web"))->isChecked(), 5000);
    }

    // A signed webhook to the demo bot (its secret is in the environment, as the bot reads it).
    static bool postToDemo(const DemoBot &demo, const QJsonObject &body)
    {
        const QByteArray bytes = QJsonDocument(body).toJson(QJsonDocument::Compact);
        QNetworkAccessManager nam;
        QNetworkRequest req(QUrl(demo.url().toString() + QStringLiteral("/hooks/generic")));
        req.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
        req.setRawHeader("X-Iterdeck-Signature",
                         "sha256=" + bot::hmacSha256(qgetenv("ITERDECK_WEBHOOK_SECRET"), bytes).toHex());
        QNetworkReply *reply = nam.post(req, bytes);
        QSignalSpy done(reply, &QNetworkReply::finished);
        const bool ok = done.wait(10000) && reply->error() == QNetworkReply::NoError;
        reply->deleteLater();
        return ok;
    }

    // The tray's dev-mode box of a component of another iteration than the one shown: the window
    // switches to that iteration, waits for its workloads, and switches the right one.
    void trayDevModeOfAnotherIteration()
    {
        DemoBot demo;
        const QString error = startDemo(demo, QStringLiteral("bot-other"), 0);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        Application app(appOptions(QStringLiteral("demo-sprint-1")));
        startWithDemo(app, demo);
        if (QTest::currentTestFailed())
            return;
        QTRY_VERIFY_WITH_TIMEOUT(trayDevAction(app.tray(), QStringLiteral("Sprint 1"), QStringLiteral("web")), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(app.model()->currentNamespace(), QStringLiteral("demo-sprint-1"), 10000);
        // A second iteration of mine: the demo gives it an environment of its own.
        QVERIFY(postToDemo(
            demo,
            QJsonObject {{QStringLiteral("id"), QStringLiteral("test-sprint-2")},
                         {QStringLiteral("type"), QStringLiteral("iteration.started")},
                         {QStringLiteral("iteration"),
                          QJsonObject {{QStringLiteral("id"), QStringLiteral("sprint-2")},
                                       {QStringLiteral("name"), QStringLiteral("Sprint 2")},
                                       {QStringLiteral("members"), QJsonArray {QStringLiteral("appuser")}}}}}));
        const QString ns2 = QStringLiteral("demo-sprint-2");
        QTRY_VERIFY_WITH_TIMEOUT(trayDevAction(app.tray(), QStringLiteral("Sprint 2"), QStringLiteral("web")), 30000);
        QTRY_VERIFY_WITH_TIMEOUT(!imageOfIn(ns2, QStringLiteral("web")).isEmpty(), 60000);
        QCOMPARE(app.model()->currentNamespace(), QStringLiteral("demo-sprint-1")); // still Sprint 1 shown
        devmode::WorkloadRef ref;
        ref.name = QStringLiteral("web");
        app.dev()->rememberFolder(ns2, ref, QFINDTESTDATA("../../resources/sandbox/dev-web"));
        const QString key = workloadKey(ns2, ref);

        trayDevAction(app.tray(), QStringLiteral("Sprint 2"), QStringLiteral("web"))->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(app.model()->currentNamespace(), ns2, 10000);
        QTRY_VERIFY2_WITH_TIMEOUT(app.dev()->status(key).state == DevController::State::On,
                                  qPrintable(app.dev()->status(key).message), 90000);
        // Sprint 1's web was not touched.
        QCOMPARE(app.dev()->status(workloadKey(QStringLiteral("demo-sprint-1"), ref)).state, DevController::State::Off);
        QVERIFY(trayDevAction(app.tray(), QStringLiteral("Sprint 2"), QStringLiteral("web"))->isChecked());
        QSignalSpy ended(app.dev(), &DevController::ended);
        trayDevAction(app.tray(), QStringLiteral("Sprint 2"), QStringLiteral("web"))->trigger();
        QVERIFY(ended.wait(30000));
        QVERIFY2(ended.first().at(2).toBool(), qPrintable(ended.first().at(1).toString()));
    }

    // The keychain's answer comes after the dialog is shown: its note gets room of its own and
    // covers no other row.
    void settingsKeychainNoteFits()
    {
        QSettings settings(m_dir.filePath(QStringLiteral("settings-note.ini")), QSettings::IniFormat);
        SettingsDialog dialog(&settings);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        QLabel *note = nullptr;
        const auto findNote = [&] {
            for (QLabel *l : dialog.findChildren<QLabel *>()) {
                if (l->text().startsWith(QLatin1String("No keychain")))
                    note = l;
            }
            return note != nullptr;
        };
        if (!QTest::qWaitFor(findNote, 10000))
            QSKIP("a keychain is available here: no note to show");
        QCheckBox *next = nullptr;
        for (QCheckBox *c : dialog.findChildren<QCheckBox *>()) {
            if (c->text().startsWith(QLatin1String("Dev mode:")))
                next = c;
        }
        QVERIFY(next);
        QLineEdit *token = dialog.findChild<QLineEdit *>(QStringLiteral("token"));
        QVERIFY(token);
        const auto fits = [&] {
            return note->isVisible() && note->height() >= note->heightForWidth(note->width())
                && note->geometry().top() >= token->geometry().bottom()
                && note->geometry().bottom() < next->geometry().top();
        };
        QTRY_VERIFY2_WITH_TIMEOUT(fits(),
                                  qPrintable(QStringLiteral("note %1x%2 at y %3 (needs height %4), next row at y %5")
                                                 .arg(note->width())
                                                 .arg(note->height())
                                                 .arg(note->y())
                                                 .arg(note->heightForWidth(note->width()))
                                                 .arg(next->y())),
                                  3000);
    }

    // The cluster settings take effect when the dialog is accepted, not at the next start.
    void clusterSettingsApplyAtOnce()
    {
        QSettings().remove(QStringLiteral("cluster"));
        QSettings().setValue(QStringLiteral("cluster/namespace"), QStringLiteral("default"));
        Application::Options options;
        options.kubeconfig = m_sandbox->kubeconfigPath();
        Application app(options);
        QSignalSpy ready(&app, &Application::ready);
        app.start();
        QVERIFY(ready.size() == 1 || ready.wait(10000));
        QCOMPARE(app.model()->currentNamespace(), QStringLiteral("default"));

        Q_EMIT app.window()->settingsRequested();
        auto *dialog = app.window()->findChild<SettingsDialog *>();
        QVERIFY(dialog);
        auto *ns = dialog->findChild<QLineEdit *>(QStringLiteral("namespace"));
        QVERIFY(ns);
        ns->setText(m_ns);
        dialog->accept();
        QCOMPARE(app.model()->currentNamespace(), m_ns);
        QTRY_VERIFY_WITH_TIMEOUT(rowOf(*app.model(), QStringLiteral("web")) >= 0, 20000);
        QCOMPARE(QSettings().value(QStringLiteral("cluster/namespace")).toString(), m_ns);
        QSettings().remove(QStringLiteral("cluster"));
    }

    void settingsDialog()
    {
        QSettings settings(m_dir.filePath(QStringLiteral("settings-dialog.ini")), QSettings::IniFormat);
        settings.setValue(QStringLiteral("bot/url"), QStringLiteral("https://old.example"));
        SettingsDialog dialog(&settings);
        auto *url = dialog.findChild<QLineEdit *>(QStringLiteral("botUrl"));
        auto *token = dialog.findChild<QLineEdit *>(QStringLiteral("token"));
        auto *notifyIteration = dialog.findChild<QCheckBox *>(QStringLiteral("notifyIteration"));
        auto *notifyDeploy = dialog.findChild<QCheckBox *>(QStringLiteral("notifyDeploy"));
        QVERIFY(url && token && notifyIteration && notifyDeploy);
        QCOMPARE(url->text(), QStringLiteral("https://old.example"));
        QVERIFY(notifyIteration->isChecked()); // on by default
        QCOMPARE(token->echoMode(), QLineEdit::Password);
        url->setText(QStringLiteral("  https://bot.example.com  "));
        token->setText(QStringLiteral("secret-token"));
        notifyIteration->setChecked(false);
        auto *insecure = dialog.findChild<QCheckBox *>(QStringLiteral("allowInsecure"));
        QVERIFY(insecure);
        QVERIFY(!insecure->isChecked());
        insecure->setChecked(true);
        // A new language is said to come with the next start.
        auto *language = dialog.findChild<QComboBox *>(QStringLiteral("language"));
        auto *languageNote = dialog.findChild<QLabel *>(QStringLiteral("languageNote"));
        QVERIFY(language && languageNote);
        QVERIFY(languageNote->text().isEmpty());
        language->setCurrentIndex(language->findData(QStringLiteral("zh_CN")));
        QVERIFY2(languageNote->text().contains(QLatin1String("when it starts again")),
                 qPrintable(languageNote->text()));
        auto *tokenNote = dialog.findChild<QLabel *>(QStringLiteral("tokenNote"));
        QVERIFY(tokenNote);
        const bool noKeychain
            = QTest::qWaitFor([&] { return tokenNote->text().startsWith(QLatin1String("No keychain")); }, 5000);
        QSignalSpy botChanged(&dialog, &SettingsDialog::botChanged);
        QSignalSpy languageChanged(&dialog, &SettingsDialog::languageChanged);
        QSignalSpy problem(&dialog, &SettingsDialog::problem);
        QSignalSpy accepted(&dialog, &QDialog::accepted);
        dialog.accept();
        QCOMPARE(languageChanged.size(), 1);
        QCOMPARE(settings.value(QStringLiteral("ui/language")).toString(), QStringLiteral("zh_CN"));
        QCOMPARE(settings.value(QStringLiteral("bot/allowInsecure")).toBool(), true);
        // It closes once the keychain has answered; without one, the user is told.
        QTRY_COMPARE_WITH_TIMEOUT(accepted.size(), 1, 10000);
        QCOMPARE(problem.size(), noKeychain ? 1 : 0);
        for (const QList<QVariant> &p : std::as_const(problem)) {
            QCOMPARE(p.at(0).toString(), QStringLiteral("Bot token not saved"));
            QVERIFY2(p.at(1).toString().contains(QLatin1String("could not be stored in the keychain")),
                     qPrintable(p.at(1).toString()));
        }
        QCOMPARE(botChanged.size(), 1);
        QCOMPARE(botChanged.first().at(0).toString(), QStringLiteral("https://bot.example.com"));
        QCOMPARE(botChanged.first().at(1).toString(), QStringLiteral("secret-token"));
        QCOMPARE(settings.value(QStringLiteral("bot/url")).toString(), QStringLiteral("https://bot.example.com"));
        QCOMPARE(settings.value(QStringLiteral("notify/iteration")).toBool(), false);
        QCOMPARE(settings.value(QStringLiteral("notify/deploy")).toBool(), true);
        // The token is never written to the settings file.
        settings.sync();
        QFile ini(settings.fileName());
        QVERIFY(ini.open(QIODevice::ReadOnly));
        QVERIFY(!ini.readAll().contains("secret-token"));
    }

    // The program itself: it starts against the cluster, a second launch hands over to it
    // ("already running": its window is raised) and ends, and SIGTERM ends the first cleanly.
    void singleInstanceProgram()
    {
        QTemporaryDir runtime; // the instance socket lives in TMPDIR: none of another run's
        QVERIFY(runtime.isValid());
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("TMPDIR"), runtime.path());
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        const QStringList args {QStringLiteral("--kubeconfig"), m_sandbox->kubeconfigPath(), QStringLiteral("-n"),
                                m_ns};
        QProcess first;
        first.setProcessEnvironment(env);
        first.setProcessChannelMode(QProcess::MergedChannels);
        first.start(QStringLiteral(ITERDECK_GUI_PATH), args);
        QVERIFY(first.waitForStarted(10000));
        const QString socket = runtime.filePath(QStringLiteral("iterdeck-%1").arg(::getuid()));
        QTRY_VERIFY2_WITH_TIMEOUT(QFileInfo::exists(socket), qPrintable(QString::fromUtf8(first.readAll())), 20000);

        QProcess second;
        second.setProcessEnvironment(env);
        second.start(QStringLiteral(ITERDECK_GUI_PATH), args);
        QVERIFY(second.waitForFinished(20000));
        QCOMPARE(second.exitStatus(), QProcess::NormalExit);
        QCOMPARE(second.exitCode(), 0);
        const QByteArray said = second.readAllStandardError();
        QVERIFY2(said.contains("already running"), said.constData());
        QCOMPARE(first.state(), QProcess::Running);

        first.terminate();
        QVERIFY(first.waitForFinished(20000));
        const QByteArray log = first.readAll();
        QCOMPARE(first.exitStatus(), QProcess::NormalExit);
        QVERIFY2(first.exitCode() == 0, log.constData());
        QVERIFY2(!log.contains("QObject::") && !log.contains("ASSERT"), log.constData());
        QVERIFY(!QFileInfo::exists(socket)); // removed at the end: the next start needs no cleanup
    }

    void startAtLogin()
    {
        QString error;
        QVERIFY(SettingsDialog::setStartAtLogin(true, &error));
        const QString file = m_dir.filePath(QStringLiteral("config/autostart/iterdeck.desktop"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray text = f.readAll();
        QVERIFY(text.startsWith("[Desktop Entry]\nType=Application\nName=Iterdeck\nExec="));
        QVERIFY(SettingsDialog::startsAtLogin());
        QVERIFY(SettingsDialog::setStartAtLogin(false, &error));
        QVERIFY(!QFile::exists(file));
        QVERIFY(!SettingsDialog::startsAtLogin());
    }
};

QTEST_MAIN(TestApp)
#include "tst_app.moc"
