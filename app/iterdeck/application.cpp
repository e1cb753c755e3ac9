#include "application.h"

#include "botsession.h"
#include "chatops/eventtext.h"
#include "demobot.h"
#include "devcontroller.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "kube/kubeconfigwatcher.h"
#include "mainwindow.h"
#include "settingsdialog.h"
#include "trayicon.h"
#include "workloadsmodel.h"

#include <QAction>
#include <QApplication>
#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLocalServer>
#include <QLocalSocket>
#include <QMenu>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QStandardPaths>
#include <QTableView>
#include <QTimer>

#include <csignal>

#include <sys/prctl.h>
#include <unistd.h>

namespace iterdeck::app {

using namespace iterdeck::devmode;
using namespace iterdeck::kube;

namespace {

QString instanceName()
{
    return QStringLiteral("iterdeck-%1").arg(::getuid());
}

} // namespace

QString siblingProgram(const QString &name)
{
    const QString dir = QCoreApplication::applicationDirPath();
    for (const QString &candidate :
         QStringList {dir + u'/' + name, dir + QStringLiteral("/../") + name + u'/' + name}) {
        if (QFileInfo(candidate).isExecutable())
            return QFileInfo(candidate).canonicalFilePath();
    }
    const QString onPath = QStandardPaths::findExecutable(name);
    return onPath.isEmpty() ? name : onPath;
}

Application::Application(Options options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
{ }

Application::~Application()
{
    if (m_dev)
        m_dev->stopAll();
    delete m_window;
    // The demo bot stops (on its thread) while its cluster is still there.
    delete m_demoBot;
    m_demoBot = nullptr;
    if (m_sandbox) {
        m_sandbox->disconnect(this); // its end is expected now, not a failure to report
        m_sandbox->terminate();
        if (!m_sandbox->waitForFinished(10000))
            m_sandbox->kill();
    }
}

bool Application::forwardToRunningInstance()
{
    QLocalSocket socket;
    socket.connectToServer(instanceName());
    if (!socket.waitForConnected(500))
        return false;
    socket.write("raise\n");
    socket.waitForBytesWritten(1000);
    return true;
}

void Application::listenForOtherInstances()
{
    m_instanceServer = new QLocalServer(this);
    QLocalServer::removeServer(instanceName()); // a stale socket of a crashed instance
    m_instanceServer->listen(instanceName());
    connect(m_instanceServer, &QLocalServer::newConnection, this, [this] {
        while (QLocalSocket *s = m_instanceServer->nextPendingConnection()) {
            connect(s, &QLocalSocket::readyRead, this, [this, s] {
                if (s->readAll().startsWith("raise"))
                    raiseWindow();
                s->deleteLater();
            });
        }
    });
}

void Application::start()
{
    listenForOtherInstances();
    if (m_options.sandbox) {
        startSandbox();
        return;
    }
    const QString kubeconfig = !m_options.kubeconfig.isEmpty()
        ? m_options.kubeconfig
        : m_settings.value(QStringLiteral("cluster/kubeconfig")).toString();
    startWithKubeconfig(kubeconfig, m_settings.value(QStringLiteral("cluster/context")).toString(),
                        !m_options.ns.isEmpty() ? m_options.ns
                                                : m_settings.value(QStringLiteral("cluster/namespace")).toString());
}

// The demo: a sandbox cluster of our own (iterdeckctl sandbox up) with the demo application.
void Application::startSandbox()
{
    const QString dir
        = QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/demo-sandbox");
    QDir().mkpath(dir);
    m_sandboxDir = dir;
    const QString kubeconfig = dir + QStringLiteral("/kubeconfig");
    m_sandbox = new QProcess(this);
    m_sandbox->setProcessChannelMode(QProcess::MergedChannels);
    // The demo cluster never outlives the app, even when the app is killed.
    m_sandbox->setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
    auto output = std::make_shared<QByteArray>();
    connect(m_sandbox, &QProcess::readyRead, this, [this, output, kubeconfig] {
        *output += m_sandbox->readAll();
        if (!output->contains("kubeconfig: ") || output->contains("\x01"))
            return;
        output->append('\x01'); // once
        // The demo application, applied from the app's resources.
        QFile demo(QStringLiteral(":/demo/demo-app.yaml"));
        demo.open(QIODevice::ReadOnly);
        auto *apply = new QProcess(this);
        apply->setProcessChannelMode(QProcess::MergedChannels);
        connect(apply, &QProcess::finished, this, [this, apply, kubeconfig](int code) {
            apply->deleteLater();
            if (code != 0) {
                Q_EMIT failed(
                    tr("the demo application could not be applied: %1").arg(QString::fromUtf8(apply->readAll())));
                return;
            }
            startWithKubeconfig(kubeconfig, {}, QStringLiteral("default"));
        });
        apply->start(siblingProgram(QStringLiteral("iterdeckctl")),
                     {QStringLiteral("apply"), QStringLiteral("--kubeconfig"), kubeconfig, QStringLiteral("-f"),
                      QStringLiteral("-")});
        apply->write(demo.readAll());
        apply->closeWriteChannel();
    });
    connect(m_sandbox, &QProcess::finished, this, [this, output](int code) {
        Q_EMIT failed(
            tr("the sandbox cluster stopped (exit code %1): %2").arg(code).arg(QString::fromUtf8(*output).trimmed()));
    });
    m_sandbox->start(siblingProgram(QStringLiteral("iterdeckctl")),
                     {QStringLiteral("sandbox"), QStringLiteral("up"), QStringLiteral("--data-dir"), dir,
                      QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--kubeconfig-out"), kubeconfig});
}

void Application::startWithKubeconfig(const QString &kubeconfig, const QString &context, const QString &ns)
{
    KubeconfigOptions ko;
    ko.kubeconfigFlag = kubeconfig;
    ko.context = context;
    ko.ns = ns;
    auto config = loadClientConfig(ko);
    if (!config) {
        Q_EMIT failed(config.error().toString());
        return;
    }
    m_client = std::make_unique<KubeClient>(*config);
    m_client->setUserAgent(QByteArrayLiteral("iterdeck/" ITERDECK_VERSION));
    m_dev = new DevController(m_client.get(), &m_settings, this);
    const QString agent = siblingProgram(QStringLiteral("iterdeck-agent"));
    if (QFileInfo(agent).isExecutable())
        m_dev->setAgentPath(agent);
    m_model = new WorkloadsModel(m_client.get(), m_dev, this);
    m_window = new MainWindow(m_client.get(), m_dev, m_model);
    m_tray = new TrayIcon(this);
    // Paused notifications stay paused until resumed, across restarts too.
    m_tray->pauseAction()->setChecked(m_settings.value(QStringLiteral("notify/paused")).toBool());
    connect(m_tray->pauseAction(), &QAction::toggled, this,
            [this](bool paused) { m_settings.setValue(QStringLiteral("notify/paused"), paused); });
    m_bot = new BotSession(&m_settings, this);
    m_window->setBotSession(m_bot);
    // The kubeconfig is followed as it changes; its context stays unless the user picks another.
    m_kubeconfig = new KubeconfigWatcher(m_client.get(), ko, this);
    m_window->setKubeconfigWatcher(m_kubeconfig);
    connect(m_kubeconfig, &KubeconfigWatcher::clientChanged, this, [this] {
        if (!m_options.sandbox)
            m_settings.setValue(QStringLiteral("cluster/context"), m_client->config().contextName);
        m_connectionProblem.clear();
        updateTray();
    });
    connect(m_bot, &BotSession::connectionChanged, this, &Application::updateTray);
    connect(m_bot->state(), &chatops::StreamState::changed, this, &Application::updateTray);
    connect(m_bot->state(), &chatops::StreamState::activityChanged, this, &Application::updateTray);
    connect(m_bot->state(), &chatops::StreamState::changed, this, &Application::rebuildIterationMenus);
    connect(m_bot->state(), &chatops::StreamState::notable, this,
            [this](const chatops::Activity &a, chatops::EventKind kind) {
                const bool deployKinds = kind == chatops::EventKind::Deploy || kind == chatops::EventKind::Environment
                    || kind == chatops::EventKind::Artifact;
                const QString key = deployKinds ? QStringLiteral("notify/deploy") : QStringLiteral("notify/iteration");
                if (!m_settings.value(key, true).toBool())
                    return;
                // What I wrote myself is no news to me.
                const QString me = m_bot->client()->displayName();
                if (a.type == u"channel.message" && !me.isEmpty() && a.from == me)
                    return;
                const model::Iteration *it = m_bot->state()->iteration(a.iterationId);
                notify(it ? it->name : QStringLiteral("Iterdeck"), a.text, a.type.endsWith(u"failed"));
                m_notifiedIteration = a.iterationId;
            });

    connect(m_window, &MainWindow::namespaceChanged, this, [this](const QString &n) {
        m_model->setNamespace(n);
        m_settings.setValue(QStringLiteral("cluster/namespace"), n);
    });
    connect(m_window, &MainWindow::settingsRequested, this, &Application::openSettings);
    connect(m_tray, &TrayIcon::openRequested, this, &Application::raiseWindow);
    // A click on a notification opens the iteration it was about.
    connect(m_tray, &TrayIcon::messageClicked, this, [this] {
        raiseWindow();
        if (m_notifiedIteration > 0)
            m_window->selectIteration(m_notifiedIteration);
    });
    connect(m_tray, &TrayIcon::settingsRequested, this, &Application::openSettings);
    connect(m_tray, &TrayIcon::quitRequested, qApp, &QApplication::quit);
    connect(m_tray, &TrayIcon::devMenuAboutToShow, this, &Application::rebuildDevMenu);
    connect(m_dev, &DevController::statusChanged, this, &Application::updateTray);
    connect(m_model, &WorkloadsModel::syncedChanged, this, [this] {
        m_connectionProblem.clear();
        updateTray();
    });
    connect(m_model, &WorkloadsModel::connectionProblem, this, [this](const QString &message) {
        m_connectionProblem = message;
        updateTray();
    });
    connect(m_dev, &DevController::notice, this, [this](const QString &title, const QString &text) {
        m_window->addActivity(title + QStringLiteral(": ") + text);
        if (m_settings.value(QStringLiteral("notify/dev"), true).toBool())
            notify(title, text, true);
    });
    connect(m_dev, &DevController::ended, this, [this](const QString &, const QString &summary, bool exact) {
        m_window->addActivity(summary);
        if (m_settings.value(QStringLiteral("notify/dev"), true).toBool())
            notify(tr("Dev mode ended"), summary, !exact);
    });
    connect(m_dev, &DevController::leftoversFound, this, [this](const QList<DevRecord> &records) {
        QStringList names;
        for (const DevRecord &r : records)
            names << r.ns + u'/' + r.workload.shortName();
        QMessageBox box(QMessageBox::Question, tr("Dev mode left on"),
                        tr("These workloads are still in dev mode from an earlier session:\n%1\n\nResume syncing them, "
                           "or restore them as they were?")
                            .arg(names.join(u'\n')),
                        QMessageBox::NoButton, m_window);
        QPushButton *resume = box.addButton(tr("Resume"), QMessageBox::AcceptRole);
        QPushButton *restore = box.addButton(tr("Restore"), QMessageBox::DestructiveRole);
        box.addButton(tr("Later"), QMessageBox::RejectRole);
        box.exec();
        for (const DevRecord &r : records) {
            if (box.clickedButton() == resume) {
                if (!r.localDir.isEmpty() && m_dev->rememberedFolder(r.ns, r.workload).isEmpty())
                    m_dev->rememberFolder(r.ns, r.workload, r.localDir);
                if (!m_dev->start(r.ns, r.workload))
                    m_window->addActivity(tr("%1: its local folder is unknown here; toggle dev mode to choose it")
                                              .arg(r.workload.shortName()));
            } else if (box.clickedButton() == restore) {
                m_dev->end(r.ns, r.workload);
            }
        }
    });

    m_model->setNamespace(config->ns);
    m_window->setNamespace(config->ns);
    if (TrayIcon::isAvailable()) {
        m_tray->show();
        if (m_options.showWindow)
            raiseWindow();
    } else {
        m_window->showBanner(tr("No system tray was found: Iterdeck runs in this window. Closing it quits."));
        m_window->show();
        connect(qApp, &QApplication::lastWindowClosed, qApp, &QApplication::quit);
    }
    m_dev->scanLeftovers();
    startBot();
    updateTray();
    Q_EMIT ready();
}

void Application::raiseWindow()
{
    if (!m_window)
        return;
    m_window->show();
    m_window->raise();
    m_window->activateWindow();
}

void Application::openSettings()
{
    auto *dialog = new SettingsDialog(&m_settings, m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &SettingsDialog::clusterChanged, this, &Application::applyClusterSettings);
    connect(dialog, &SettingsDialog::botChanged, this, [this](const QString &url, const QString &token) {
        if (m_demoBot)
            return; // the demo keeps its own bot
        if (url.isEmpty() || token.isEmpty())
            m_bot->startFromSettings();
        else
            m_bot->start(QUrl::fromUserInput(url), token,
                         m_settings.value(QStringLiteral("bot/allowInsecure")).toBool());
    });
    connect(dialog, &SettingsDialog::problem, this, [this](const QString &title, const QString &text) {
        m_window->addActivity(title + QStringLiteral(": ") + text);
        notify(title, text, true);
    });
    connect(dialog, &SettingsDialog::languageChanged, this, [this] {
        if (m_options.sandbox) {
            // The demo's cluster would have to start again too: not behind the user's back.
            m_window->addActivity(tr("The new language is used when Iterdeck starts again."));
            return;
        }
        auto *box = new QMessageBox(QMessageBox::Question, tr("Language"),
                                    tr("Iterdeck shows the new language when it starts again. Restart it now? "
                                       "Dev mode stays on; its sync resumes after the restart."),
                                    QMessageBox::NoButton, m_window);
        box->setAttribute(Qt::WA_DeleteOnClose);
        QPushButton *now = box->addButton(tr("Restart now"), QMessageBox::AcceptRole);
        box->addButton(tr("Later"), QMessageBox::RejectRole);
        connect(box, &QMessageBox::buttonClicked, this, [this, now](QAbstractButton *clicked) {
            if (clicked == now)
                restart();
        });
        box->open();
    });
    dialog->show();
}

void Application::restart()
{
    // The new process must not hand over to this one, which is about to quit.
    if (m_instanceServer)
        m_instanceServer->close();
    QStringList args = QCoreApplication::arguments().mid(1);
    if (!args.contains(QStringLiteral("--show")))
        args << QStringLiteral("--show");
    if (!QProcess::startDetached(QCoreApplication::applicationFilePath(), args)) {
        delete m_instanceServer;
        listenForOtherInstances();
        notify(tr("Restart"), tr("Iterdeck could not be started again; quit and start it yourself."), true);
        return;
    }
    QCoreApplication::quit();
}

void Application::applyClusterSettings()
{
    if (m_options.sandbox || !m_kubeconfig) {
        // The demo runs on its own cluster.
        m_window->addActivity(tr("The cluster settings take effect when Iterdeck starts again."));
        return;
    }
    // The command line's kubeconfig and namespace still come first.
    KubeconfigOptions ko;
    ko.kubeconfigFlag = !m_options.kubeconfig.isEmpty()
        ? m_options.kubeconfig
        : m_settings.value(QStringLiteral("cluster/kubeconfig")).toString();
    ko.context = m_settings.value(QStringLiteral("cluster/context")).toString();
    ko.ns = !m_options.ns.isEmpty() ? m_options.ns : m_settings.value(QStringLiteral("cluster/namespace")).toString();
    if (!m_kubeconfig->setOptions(ko))
        return; // the window shows why; the last connection stays
    const QString ns = m_client->config().ns;
    m_window->setNamespace(ns);
    m_model->setNamespace(ns);
}

void Application::rebuildDevMenu()
{
    QMenu *menu = m_tray->devMenu();
    menu->clear();
    if (m_model->rowCount() == 0) {
        menu->addAction(tr("No workloads in %1").arg(m_model->currentNamespace()))->setEnabled(false);
        return;
    }
    for (int row = 0; row < m_model->rowCount(); ++row) {
        if (!m_model->isLive(row))
            continue; // a component not deployed yet
        const QModelIndex idx = m_model->index(row, 0);
        const int state = idx.data(WorkloadsModel::DevStateRole).toInt();
        QAction *a = menu->addAction(m_model->workloadAt(row).shortName());
        a->setCheckable(true);
        a->setChecked(state > 0 && state != int(DevController::State::Failed));
        // Someone else's dev mode, or a change under way: shown, greyed out.
        a->setEnabled(state != -1 && state != int(DevController::State::Starting)
                      && state != int(DevController::State::Ending));
        connect(a, &QAction::triggered, this, [this, row] {
            raiseWindow();
            m_window->toggleDevMode(row);
        });
    }
}

void Application::startBot()
{
    if (!m_options.sandbox) {
        m_bot->startFromSettings();
        return;
    }
    // The bot runs on its own thread (its store, HTTP routing and deploys never wait here) with a
    // cluster client of its own, made there from this one's configuration.
    m_demoBot = new DemoBot(this);
    connect(m_demoBot, &DemoBot::started, this,
            [this](const QUrl &url, const QString &token) { m_bot->start(url, token); });
    connect(m_demoBot, &DemoBot::failed, this,
            [this](const QString &error) { m_window->addActivity(tr("The demo bot could not start: %1").arg(error)); });
    DemoBot::Options demo;
    demo.cluster = m_client->config();
    demo.dataDir = m_sandboxDir + QStringLiteral("/bot");
    demo.intervalMs = qEnvironmentVariableIsSet("ITERDECK_DEMO_BUILD_INTERVAL_MS")
        ? qEnvironmentVariableIntValue("ITERDECK_DEMO_BUILD_INTERVAL_MS")
        : 90000;
    demo.user = qEnvironmentVariable("USER");
    if (demo.user.isEmpty())
        demo.user = QStringLiteral("me");
    m_demoBot->start(demo);
}

void Application::notify(const QString &title, const QString &text, bool error)
{
    if (m_tray->pauseAction()->isChecked())
        return;
    m_tray->showMessage(title, text, error);
    Q_EMIT notified(title, text);
}

// One submenu per iteration: open the environment, Deploy…, its components' dev mode, the group.
void Application::rebuildIterationMenus()
{
    if (!m_tray || !m_bot)
        return;
    const chatops::StreamState *state = m_bot->state();
    QList<QMenu *> menus;
    for (const model::Iteration &it : state->iterations()) {
        if (it.state != model::Iteration::State::Open)
            continue;
        auto *menu = new QMenu(it.name);
        const qint64 id = it.id;
        const model::Environment *env = state->environmentOfIteration(id);
        QAction *url = menu->addAction(tr("Open the environment"));
        url->setEnabled(env && !state->environmentUrl(env->id).isEmpty());
        const qint64 envId = env ? env->id : 0;
        connect(url, &QAction::triggered, this,
                [this, envId] { QDesktopServices::openUrl(QUrl(m_bot->state()->environmentUrl(envId))); });
        QAction *deploy = menu->addAction(tr("Deploy…"));
        deploy->setEnabled(env && m_bot->isConnected());
        connect(deploy, &QAction::triggered, this, [this, id, envId] {
            raiseWindow();
            m_window->selectIteration(id);
            m_window->openDeployCard(envId);
        });
        if (!env) {
            QAction *create = menu->addAction(tr("Create environment"));
            create->setEnabled(m_bot->isConnected());
            connect(create, &QAction::triggered, this, [this, id] {
                m_bot->client()->request(QLatin1String(chatops::method::CreateEnvironment),
                                         {{QStringLiteral("iteration"), id}}, this, [](const auto &) {});
            });
        } else {
            menu->addSection(tr("Dev mode"));
            for (const chatops::ComponentInfo &c : state->components()) {
                auto ref = WorkloadRef::parse(c.workload, nullptr);
                if (!ref)
                    continue;
                QAction *a = menu->addAction(c.name);
                a->setCheckable(true);
                // Checked while the workload is in dev mode, also when that changes with the menu open.
                const QString key = workloadKey(env->nameSpace, *ref);
                const auto follow = [dev = m_dev, a, key] {
                    const DevController::State state = dev->status(key).state;
                    a->setChecked(state != DevController::State::Off && state != DevController::State::Failed);
                    a->setEnabled(state != DevController::State::Starting && state != DevController::State::Ending);
                };
                follow();
                connect(m_dev, &DevController::statusChanged, a, [follow, key](const QString &changed) {
                    if (changed == key)
                        follow();
                });
                const QString workload = ref->shortName();
                connect(a, &QAction::triggered, this, [this, id, workload] {
                    raiseWindow();
                    m_window->selectIteration(id);
                    const auto toggle = [this, workload] {
                        for (int row = 0; row < m_model->rowCount(); ++row) {
                            if (m_model->isLive(row) && m_model->workloadAt(row).shortName() == workload) {
                                m_window->toggleDevMode(row);
                                return true;
                            }
                        }
                        return false;
                    };
                    if (toggle())
                        return;
                    // Another iteration's environment: its workloads are still being listed.
                    auto *wait = new QObject(this);
                    auto done = std::make_shared<bool>(false);
                    const auto retry = [this, wait, done, toggle, workload](bool last) {
                        if (*done || (!m_model->isSynced() && !last))
                            return;
                        *done = true;
                        if (!toggle())
                            m_window->addActivity(tr("%1 is not running yet; try again in a moment").arg(workload));
                        wait->deleteLater();
                    };
                    connect(m_model, &WorkloadsModel::syncedChanged, wait, [retry] { retry(false); });
                    QTimer::singleShot(10000, wait, [retry] { retry(true); });
                });
                // The click toggled the box; it shows the real state again until the change is under way.
                connect(a, &QAction::triggered, a, follow);
            }
        }
        menu->addSeparator();
        const int unread = state->unread(id);
        QAction *group
            = menu->addAction(unread ? tr("Open the group (%n new)", nullptr, unread) : tr("Open the group"));
        connect(group, &QAction::triggered, this, [this, id] {
            raiseWindow();
            m_window->openGroup(id);
        });
        menus.append(menu);
    }
    m_tray->setIterationMenus(menus);
}

void Application::updateTray()
{
    if (!m_tray)
        return;
    if (!m_connectionProblem.isEmpty()) {
        m_tray->setState(TrayIcon::State::Disconnected, tr("cluster unreachable: %1").arg(m_connectionProblem));
        return;
    }
    if (m_bot && m_bot->isConfigured() && !m_bot->isConnected() && !m_bot->problem().isEmpty()) {
        m_tray->setState(TrayIcon::State::Disconnected, tr("bot unreachable: %1").arg(m_bot->problem()));
        return;
    }
    bool deploying = false;
    bool deployFailed = false;
    if (m_bot) {
        const chatops::StreamState *state = m_bot->state();
        for (const model::Iteration &it : state->iterations()) {
            const model::Environment *env = state->environmentOfIteration(it.id);
            if (!env)
                continue;
            for (const chatops::ComponentInfo &c : state->components()) {
                const auto d = state->deployment(env->id, c.name);
                deploying = deploying || (d && d->state == u"started");
                deployFailed = deployFailed || (d && d->state == u"failed");
            }
        }
    }
    if (m_dev->anyProblem()) {
        m_tray->setState(m_dev->anyFailed() ? TrayIcon::State::Error : TrayIcon::State::Attention,
                         tr("dev mode needs attention"));
        return;
    }
    if (deployFailed) {
        m_tray->setState(TrayIcon::State::Attention, tr("a deploy failed"));
        return;
    }
    if (m_dev->anySyncing() || deploying) {
        m_tray->setState(TrayIcon::State::Working, deploying ? tr("deploying") : tr("working"));
        return;
    }
    if (const int unread = m_bot ? m_bot->state()->totalUnread() : 0; unread > 0) {
        m_tray->setState(TrayIcon::State::Attention, tr("%n unread in your iterations", nullptr, unread));
        return;
    }
    const int on = int(m_dev->activeKeys().size());
    m_tray->setState(TrayIcon::State::Ok, on ? tr("%n workload(s) in dev mode", nullptr, on) : tr("connected"));
}

} // namespace iterdeck::app
