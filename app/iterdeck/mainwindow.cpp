#include "mainwindow.h"

#include "botsession.h"
#include "deploycarddialog.h"
#include "devcontroller.h"
#include "grouppanel.h"
#include "iterationsmodel.h"
#include "kube/informer.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfigwatcher.h"
#include "kube/logstream.h"
#include "portforwardspanel.h"
#include "workloadsmodel.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QDateTime>
#include <QDesktopServices>
#include <QDialog>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProcess>
#include <QProcessEnvironment>
#include <QPushButton>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QUrl>
#include <QVBoxLayout>

namespace iterdeck::app {

using namespace iterdeck::devmode;
using namespace iterdeck::kube;

namespace {

// A live, searchable log of one workload's first running pod.
class LogsDialog : public QDialog
{
public:
    LogsDialog(KubeClient *client, const QString &ns, const QString &pod, const QString &container, QWidget *parent)
        : QDialog(parent)
        , m_view(new QPlainTextEdit(this))
        , m_filter(new QLineEdit(this))
    {
        setWindowTitle(MainWindow::tr("Logs — %1").arg(pod));
        resize(900, 500);
        setAttribute(Qt::WA_DeleteOnClose);
        m_view->setReadOnly(true);
        m_view->setMaximumBlockCount(20000);
        m_view->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
        m_filter->setPlaceholderText(MainWindow::tr("Show only lines containing…"));
        m_filter->setClearButtonEnabled(true);
        auto *layout = new QVBoxLayout(this);
        layout->addWidget(m_filter);
        layout->addWidget(m_view);
        connect(m_filter, &QLineEdit::textChanged, this, [this] { refilter(); });
        LogOptions o;
        o.ns = ns;
        o.pod = pod;
        o.container = container;
        o.follow = true;
        o.tailLines = 500;
        m_stream = new LogStream(client, o, this);
        connect(m_stream, &LogStream::data, this, [this](const QByteArray &lines) {
            for (const QByteArray &l : lines.split('\n')) {
                if (l.isEmpty())
                    continue;
                const QString line = QString::fromUtf8(l);
                m_lines << line;
                if (m_lines.size() > 20000)
                    m_lines.removeFirst();
                if (m_filter->text().isEmpty() || line.contains(m_filter->text(), Qt::CaseInsensitive))
                    m_view->appendPlainText(line);
            }
        });
        connect(m_stream, &LogStream::finished, this, [this] {
            m_view->appendPlainText(m_stream->error().isError()
                                        ? MainWindow::tr("— %1").arg(m_stream->error().toString())
                                        : MainWindow::tr("— the container ended"));
        });
        m_stream->start();
    }

private:
    void refilter()
    {
        m_view->clear();
        const QString f = m_filter->text();
        QStringList shown;
        for (const QString &l : std::as_const(m_lines)) {
            if (f.isEmpty() || l.contains(f, Qt::CaseInsensitive))
                shown << l;
        }
        m_view->setPlainText(shown.join(u'\n'));
    }

    QPlainTextEdit *m_view;
    QLineEdit *m_filter;
    LogStream *m_stream = nullptr;
    QStringList m_lines;
};

QString terminalProgram()
{
    const QString env = qEnvironmentVariable("TERMINAL");
    if (!env.isEmpty())
        return env;
    for (const char *t : {"x-terminal-emulator", "gnome-terminal", "konsole", "xfce4-terminal", "xterm"}) {
        const QString p = QStandardPaths::findExecutable(QLatin1String(t));
        if (!p.isEmpty())
            return p;
    }
    return {};
}

} // namespace

MainWindow::MainWindow(KubeClient *client, DevController *dev, WorkloadsModel *model, QWidget *parent)
    : QMainWindow(parent)
    , m_client(client)
    , m_dev(dev)
    , m_model(model)
    , m_namespaces(new Informer(client, ResourceRef::namespaces(), {}, {}, this))
    , m_banner(new QLabel(this))
    , m_cluster(new QLabel(this))
    , m_nsBox(new QComboBox(this))
    , m_contextBox(new QComboBox(this))
    , m_table(new QTableView(this))
    , m_devButton(new QPushButton(tr("Dev mode"), this))
    , m_shellButton(new QPushButton(tr("Shell"), this))
    , m_logsButton(new QPushButton(tr("Logs"), this))
    , m_portButton(new QPushButton(tr("Open forwarded port"), this))
    , m_forwards(new PortForwardsPanel(dev, this))
    , m_activity(new QListWidget(this))
{
    setWindowTitle(QStringLiteral("Iterdeck"));
    setObjectName(QStringLiteral("mainWindow"));
    setWindowRole(QStringLiteral("iterdeck-main"));
    resize(1000, 620);
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    m_banner->setWordWrap(true);
    m_banner->setStyleSheet(QStringLiteral("QLabel { background: #fff8c5; border: 1px solid #d4a72c; padding: 6px; }"));
    m_banner->hide();
    layout->addWidget(m_banner);

    auto *top = new QHBoxLayout;
    top->addWidget(m_cluster, 1);
    m_contextBox->setObjectName(QStringLiteral("context"));
    m_contextBox->setToolTip(tr("The kubeconfig context Iterdeck uses"));
    m_contextBox->hide();
    top->addWidget(m_contextBox);
    top->addWidget(new QLabel(tr("Namespace:"), this));
    m_nsBox->setMinimumWidth(200);
    m_nsBox->setEditable(true);
    m_nsBox->setInsertPolicy(QComboBox::NoInsert);
    top->addWidget(m_nsBox);
    layout->addLayout(top);

    // The selected iteration's environment (with a bot).
    m_envBar = new QWidget(this);
    auto *envLayout = new QHBoxLayout(m_envBar);
    envLayout->setContentsMargins(0, 0, 0, 0);
    m_envLabel = new QLabel(m_envBar);
    m_envLabel->setTextFormat(Qt::RichText);
    m_envLabel->setOpenExternalLinks(true);
    envLayout->addWidget(m_envLabel, 1);
    m_createButton = new QPushButton(tr("Create environment"), m_envBar);
    m_deployButton = new QPushButton(tr("Deploy…"), m_envBar);
    m_redeployButton = new QPushButton(tr("Redeploy"), m_envBar);
    m_urlButton = new QPushButton(tr("Open URL"), m_envBar);
    m_deployButton->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    m_deployButton->setToolTip(tr("Choose the branch or build each component runs (Ctrl+D)"));
    for (QPushButton *b : {m_createButton, m_deployButton, m_redeployButton, m_urlButton})
        envLayout->addWidget(b);
    m_envBar->hide();
    layout->addWidget(m_envBar);

    m_table->setModel(model);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    layout->addWidget(m_table, 3);

    auto *actions = new QHBoxLayout;
    m_devButton->setCheckable(true);
    for (QPushButton *b : {m_devButton, m_shellButton, m_logsButton, m_portButton})
        actions->addWidget(b);
    actions->addStretch(1);
    auto *settings = new QPushButton(tr("Settings…"), this);
    actions->addWidget(settings);
    layout->addLayout(actions);

    // Below: the activity, and the selected workload's port-forwards (a tab, so that nothing
    // above moves when it comes and goes).
    m_bottomTabs = new QTabWidget(this);
    m_bottomTabs->setObjectName(QStringLiteral("bottomTabs"));
    m_bottomTabs->setDocumentMode(true);
    m_bottomTabs->addTab(m_activity, tr("Activity"));
    m_bottomTabs->addTab(m_forwards, tr("Port-forwards"));
    m_bottomTabs->setTabEnabled(1, false);
    m_bottomTabs->setTabToolTip(1, tr("The port-forwards of the selected workload"));
    auto *clear = new QPushButton(tr("Clear"), this);
    m_bottomTabs->setCornerWidget(clear);
    layout->addWidget(m_bottomTabs, 1);
    setCentralWidget(central);
    m_activity->setObjectName(QStringLiteral("activity"));

    connect(settings, &QPushButton::clicked, this, &MainWindow::settingsRequested);
    connect(clear, &QPushButton::clicked, this, [this] {
        m_localActivity.clear();
        if (m_bot && m_iterationId)
            m_bot->state()->clearActivity(m_iterationId);
        showActivity();
    });
    connect(m_forwards, &PortForwardsPanel::availableChanged, this, [this](bool available) {
        m_bottomTabs->setTabEnabled(1, available);
        if (!available && m_bottomTabs->currentIndex() == 1)
            m_bottomTabs->setCurrentIndex(0);
    });
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this, &MainWindow::updateActions);
    connect(model, &QAbstractItemModel::dataChanged, this, &MainWindow::updateActions);
    connect(model, &QAbstractItemModel::modelReset, this, &MainWindow::updateActions);
    connect(m_devButton, &QPushButton::clicked, this, [this] {
        const QModelIndexList rows = m_table->selectionModel()->selectedRows();
        if (!rows.isEmpty())
            toggleDevMode(rows.first().row());
        updateActions();
    });
    connect(m_shellButton, &QPushButton::clicked, this, [this] {
        const QModelIndexList rows = m_table->selectionModel()->selectedRows();
        if (!rows.isEmpty())
            openShell(rows.first().row());
    });
    connect(m_logsButton, &QPushButton::clicked, this, [this] {
        const QModelIndexList rows = m_table->selectionModel()->selectedRows();
        if (!rows.isEmpty())
            openLogs(rows.first().row());
    });
    connect(m_portButton, &QPushButton::clicked, this, [this] {
        const QModelIndexList rows = m_table->selectionModel()->selectedRows();
        if (!rows.isEmpty())
            openPort(rows.first().row());
    });
    connect(m_nsBox, &QComboBox::currentTextChanged, this, [this](const QString &ns) {
        if (!ns.isEmpty() && ns != m_model->currentNamespace())
            Q_EMIT namespaceChanged(ns);
    });
    auto refreshNamespaces = [this] {
        QStringList names;
        for (const QJsonObject &o : m_namespaces->objects())
            names << o.value(QLatin1String("metadata")).toObject().value(QLatin1String("name")).toString();
        names.sort();
        const QString current = m_model->currentNamespace();
        if (!current.isEmpty() && !names.contains(current))
            names.prepend(current);
        QSignalBlocker block(m_nsBox);
        m_nsBox->clear();
        m_nsBox->addItems(names);
        m_nsBox->setCurrentText(current);
    };
    connect(m_namespaces, &Informer::synced, this, refreshNamespaces);
    connect(m_namespaces, &Informer::added, this, refreshNamespaces);
    connect(m_namespaces, &Informer::deleted, this, refreshNamespaces);
    m_namespaces->start();
    updateCluster();
    updateActions();
}

void MainWindow::updateCluster()
{
    m_cluster->setText(tr("Cluster: %1 (context %2)")
                           .arg(m_client->config().cluster.server.toString(), m_client->config().contextName));
    if (!m_kubeconfig)
        return;
    QSignalBlocker block(m_contextBox);
    m_contextBox->clear();
    m_contextBox->addItems(m_kubeconfig->contexts());
    m_contextBox->setCurrentIndex(m_contextBox->findText(m_client->config().contextName));
    m_contextBox->setVisible(m_kubeconfig->contexts().size() > 1 || !m_kubeconfig->problem().isEmpty());
}

void MainWindow::setKubeconfigWatcher(KubeconfigWatcher *watcher)
{
    m_kubeconfig = watcher;
    connect(watcher, &KubeconfigWatcher::contextsChanged, this, &MainWindow::updateCluster);
    connect(watcher, &KubeconfigWatcher::problemChanged, this, [this](const QString &problem) {
        showBanner(problem);
        if (!problem.isEmpty())
            addActivity(problem);
        updateCluster();
    });
    connect(watcher, &KubeconfigWatcher::clientChanged, this, [this] {
        addActivity(tr("The kubeconfig changed: now %1 (context %2)")
                        .arg(m_client->config().cluster.server.toString(), m_client->config().contextName));
        updateCluster();
        m_namespaces->stop();
        m_namespaces->start();
        m_model->restart();
    });
    connect(m_contextBox, &QComboBox::activated, this, [this](int index) {
        const QString context = m_contextBox->itemText(index);
        if (!m_kubeconfig->useContext(context))
            updateCluster();
    });
    updateCluster();
}

void MainWindow::setNamespace(const QString &ns)
{
    QSignalBlocker block(m_nsBox);
    m_nsBox->setCurrentText(ns);
}

void MainWindow::showBanner(const QString &text)
{
    m_banner->setText(text);
    m_banner->setVisible(!text.isEmpty());
}

void MainWindow::addActivity(const QString &text)
{
    m_localActivity.prepend(QDateTime::currentDateTime().toString(QStringLiteral("HH:mm:ss")) + QStringLiteral("  ")
                            + text);
    while (m_localActivity.size() > 200)
        m_localActivity.removeLast();
    showActivity();
}

// The selected iteration's activity from the bot, merged with this app's own notes.
void MainWindow::showActivity()
{
    struct Entry
    {
        QString sortKey;
        QString text;
        bool unread;
    };
    QList<Entry> entries;
    for (const QString &l : std::as_const(m_localActivity))
        entries.append({QDate::currentDate().toString(Qt::ISODate) + u'T' + l.left(8), l, false});
    if (m_bot && m_iterationId) {
        for (qint64 id : {m_iterationId, qint64(0)}) {
            for (const chatops::Activity &a : m_bot->state()->activity(id)) {
                // The bot's own group messages repeat the events listed here (the Group tab has them).
                if (chatops::isBotGroupMessage(a.type, a.from))
                    continue;
                const QDateTime local = a.at.toLocalTime();
                entries.append({local.toString(Qt::ISODate),
                                local.toString(QStringLiteral("HH:mm:ss")) + QStringLiteral("  ") + a.text, a.unread});
            }
        }
    }
    // Seen now: what is on screen is no longer unread.
    if (m_bot && m_iterationId && isVisible() && m_bot->state()->unread(m_iterationId) > 0) {
        m_bot->state()->markRead(m_iterationId); // comes back here once, with nothing unread
        return;
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry &a, const Entry &b) { return a.sortKey > b.sortKey; });
    m_activity->clear();
    for (const Entry &e : std::as_const(entries).mid(0, 300)) {
        auto *item = new QListWidgetItem(e.text, m_activity);
        if (e.unread) {
            QFont f = item->font();
            f.setBold(true);
            item->setFont(f);
        }
    }
}

void MainWindow::setBotSession(BotSession *session)
{
    m_bot = session;
    m_iterationsModel = new IterationsModel(session->state(), this);
    m_iterations = new QListView(this);
    m_iterations->setObjectName(QStringLiteral("iterations"));
    m_iterations->setModel(m_iterationsModel);
    m_iterations->setSelectionMode(QAbstractItemView::SingleSelection);
    m_iterations->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_iterations->setSpacing(2);
    auto *side = new QWidget(this);
    auto *sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    sideLayout->addWidget(new QLabel(tr("My iterations"), side));
    sideLayout->addWidget(m_iterations);
    auto *splitter = new QSplitter(this);
    QWidget *old = takeCentralWidget();
    splitter->addWidget(side);
    splitter->addWidget(old);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({240, 760});
    setCentralWidget(splitter);
    resize(1180, 660);

    connect(m_iterations->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex &current) {
                if (current.isValid())
                    selectIteration(current.data(IterationsModel::IterationIdRole).toLongLong());
            });
    connect(session->state(), &chatops::StreamState::changed, this, [this] {
        if (!m_iterationId && m_iterationsModel->rowCount() > 0)
            m_iterations->setCurrentIndex(m_iterationsModel->index(0));
        updateEnvironment();
    });
    connect(session->state(), &chatops::StreamState::activityChanged, this, [this](qint64 id) {
        if (id == m_iterationId || id == 0)
            showActivity();
    });
    connect(session, &BotSession::connectionChanged, this, &MainWindow::updateEnvironment);
    connect(m_createButton, &QPushButton::clicked, this, [this] {
        m_createButton->setEnabled(false);
        m_bot->client()->request(QLatin1String(chatops::method::CreateEnvironment),
                                 {{QStringLiteral("iteration"), m_iterationId}}, this,
                                 [this](const chatops::BotClient::Result &r) {
                                     if (!r)
                                         addActivity(tr("Creating the environment failed: %1").arg(r.error().message));
                                     updateEnvironment();
                                 });
    });
    connect(m_deployButton, &QPushButton::clicked, this, [this] {
        if (const model::Environment *env = m_bot->state()->environmentOfIteration(m_iterationId))
            openDeployCard(env->id);
    });
    connect(m_redeployButton, &QPushButton::clicked, this, [this] {
        const model::Environment *env = m_bot->state()->environmentOfIteration(m_iterationId);
        if (!env)
            return;
        QJsonObject params {{QStringLiteral("environment"), env->id}};
        const QModelIndexList rows = m_table->selectionModel()->selectedRows();
        const QString component = rows.isEmpty() ? QString() : m_model->componentAt(rows.first().row());
        if (!component.isEmpty())
            params.insert(QStringLiteral("component"), component);
        m_bot->client()->request(QLatin1String(chatops::method::Redeploy), params, this,
                                 [this](const chatops::BotClient::Result &r) {
                                     if (!r)
                                         addActivity(tr("Redeploy refused: %1").arg(r.error().message));
                                 });
    });
    connect(m_urlButton, &QPushButton::clicked, this, [this] {
        if (const model::Environment *env = m_bot->state()->environmentOfIteration(m_iterationId))
            QDesktopServices::openUrl(QUrl(m_bot->state()->environmentUrl(env->id)));
    });
    m_group = new GroupPanel(this);
    m_group->setBotSession(session);
    m_bottomTabs->addTab(m_group, tr("Group"));
    m_bottomTabs->setTabToolTip(m_bottomTabs->indexOf(m_group), tr("The selected iteration's group"));
    m_envBar->show();
    updateEnvironment();
}

void MainWindow::openGroup(qint64 iterationId)
{
    selectIteration(iterationId);
    if (m_group) {
        m_bottomTabs->setCurrentWidget(m_group);
        m_group->input()->setFocus();
    }
}

void MainWindow::selectIteration(qint64 iterationId)
{
    m_iterationId = iterationId;
    if (m_iterations) {
        const int row = m_iterationsModel->rowOf(iterationId);
        if (row >= 0 && m_iterations->currentIndex().row() != row)
            m_iterations->setCurrentIndex(m_iterationsModel->index(row));
    }
    if (m_bot) {
        m_bot->state()->markRead(iterationId);
        m_bot->state()->markRead(0);
    }
    if (m_group)
        m_group->setIteration(iterationId);
    updateEnvironment();
    showActivity();
}

void MainWindow::openDeployCard(qint64 environmentId)
{
    auto *card = new DeployCardDialog(m_bot->client(), m_bot->state(), environmentId, this);
    card->setAttribute(Qt::WA_DeleteOnClose);
    card->show();
}

void MainWindow::updateEnvironment()
{
    if (!m_bot)
        return;
    const chatops::StreamState *state = m_bot->state();
    const model::Iteration *it = state->iteration(m_iterationId);
    const model::Environment *env = it ? state->environmentOfIteration(it->id) : nullptr;
    const bool connected = m_bot->isConnected();
    QString text;
    if (!m_bot->isConfigured() || (!connected && !m_bot->problem().isEmpty())) {
        text = tr("Bot: %1").arg(m_bot->problem().toHtmlEscaped());
    } else if (!it) {
        text = state->iterations().isEmpty() ? tr("You are in no iteration yet.") : tr("Choose an iteration.");
    } else if (!env) {
        text = tr("<b>%1</b> has no environment yet.").arg(it->name.toHtmlEscaped());
    } else {
        const QString url = state->environmentUrl(env->id);
        text = tr("<b>%1</b> · namespace <b>%2</b> · %3").arg(it->name.toHtmlEscaped(), env->nameSpace, env->state);
        if (!url.isEmpty())
            text += QStringLiteral(" · <a href=\"%1\">%2</a>")
                        .arg(url.toHtmlEscaped(), QUrl(url).host().toHtmlEscaped());
    }
    // The workloads follow the selected iteration's environment.
    if (env && m_model->environmentId() != env->id) {
        if (env->nameSpace != m_model->currentNamespace())
            Q_EMIT namespaceChanged(env->nameSpace);
        setNamespace(env->nameSpace);
        m_model->setEnvironment(m_bot->state(), env->id);
    } else if (!env && m_model->environmentId() != 0) {
        m_model->setEnvironment(m_bot->state(), 0);
    }
    m_envLabel->setText(text);
    const bool open = it && it->state == model::Iteration::State::Open;
    m_createButton->setVisible(it && !env);
    m_createButton->setEnabled(connected && open);
    for (QPushButton *b : {m_deployButton, m_redeployButton})
        b->setEnabled(connected && env && env->state != u"deleting");
    m_urlButton->setEnabled(env && !state->environmentUrl(env->id).isEmpty());
}

void MainWindow::updateActions()
{
    const QModelIndexList rows
        = m_table->selectionModel() ? m_table->selectionModel()->selectedRows() : QModelIndexList();
    const bool has = !rows.isEmpty() && m_model->isLive(rows.first().row());
    const int state = has ? rows.first().data(WorkloadsModel::DevStateRole).toInt() : 0;
    const bool othersDev = state == -1;
    const auto dev = DevController::State(state);
    const QString key
        = has ? workloadKey(m_model->currentNamespace(), m_model->workloadAt(rows.first().row())) : QString();
    const DevController::Status status = m_dev->status(key);
    // While entering, the button cancels (greyed out once asked); while ending, it waits.
    const bool starting = dev == DevController::State::Starting;
    m_devButton->setEnabled(has && !othersDev && dev != DevController::State::Ending
                            && !(starting && status.cancelling));
    {
        QSignalBlocker block(m_devButton);
        m_devButton->setChecked(has && !othersDev && dev != DevController::State::Off
                                && dev != DevController::State::Failed);
    }
    m_devButton->setText(starting                       ? tr("Cancel dev mode")
                             : m_devButton->isChecked() ? tr("End dev mode")
                                                        : tr("Dev mode"));
    m_devButton->setToolTip(starting ? tr("Stop entering dev mode and restore whatever was changed already")
                                     : tr("Switch the selected component into dev mode: your folder is synced "
                                          "into its container"));
    m_shellButton->setEnabled(has && dev == DevController::State::On);
    m_logsButton->setEnabled(has);
    m_portButton->setEnabled(has && !status.localPorts.isEmpty());
    m_forwards->setWorkload(m_model->currentNamespace(), has ? m_model->workloadAt(rows.first().row()) : WorkloadRef(),
                            has ? m_model->selectorAt(rows.first().row()) : QString());
}

void MainWindow::toggleDevMode(int row)
{
    const WorkloadRef ref = m_model->workloadAt(row);
    const QString ns = m_model->currentNamespace();
    if (!m_model->isLive(row)) {
        addActivity(
            tr("%1 is not deployed yet").arg(m_model->index(row, WorkloadsModel::NameColumn).data().toString()));
        return;
    }
    const int state = m_model->index(row, 0).data(WorkloadsModel::DevStateRole).toInt();
    if (state == -1)
        return;
    const auto dev = DevController::State(state);
    if (dev == DevController::State::Starting) {
        m_dev->cancel(ns, ref);
        addActivity(tr("%1: cancelling dev mode").arg(ref.shortName()));
        return;
    }
    if (dev == DevController::State::Ending)
        return;
    if (dev == DevController::State::On || dev == DevController::State::Reconnecting) {
        m_dev->end(ns, ref);
        addActivity(tr("%1: ending dev mode").arg(ref.shortName()));
        return;
    }
    if (m_dev->start(ns, ref)) {
        addActivity(tr("%1: entering dev mode with %2").arg(ref.shortName(), m_dev->rememberedFolder(ns, ref)));
        return;
    }
    // The first time for this component: which local folder goes into the container?
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("The local folder to sync into %1").arg(ref.shortName()), QDir::homePath());
    if (dir.isEmpty())
        return;
    m_dev->start(ns, ref, dir);
    addActivity(tr("%1: entering dev mode with %2").arg(ref.shortName(), dir));
}

void MainWindow::openShell(int row)
{
    const WorkloadRef ref = m_model->workloadAt(row);
    const QString term = terminalProgram();
    const QString ctl = QCoreApplication::applicationDirPath() + QStringLiteral("/iterdeckctl");
    const QString program = QFileInfo(ctl).isExecutable() ? ctl
        : QFileInfo(QCoreApplication::applicationDirPath() + QStringLiteral("/../iterdeckctl/iterdeckctl"))
              .isExecutable()
        ? QCoreApplication::applicationDirPath() + QStringLiteral("/../iterdeckctl/iterdeckctl")
        : QStringLiteral("iterdeckctl");
    if (term.isEmpty()) {
        QMessageBox::information(
            this, tr("Shell"),
            tr("No terminal emulator was found (set $TERMINAL). In a terminal, run:\n%1 dev shell %2 -n %3")
                .arg(program, ref.shortName(), m_model->currentNamespace()));
        return;
    }
    // The shell goes to the cluster this window shows: the same kubeconfig files and context.
    QStringList command {program,         QStringLiteral("dev"), QStringLiteral("shell"),
                         ref.shortName(), QStringLiteral("-n"),  m_model->currentNamespace()};
    QProcess process;
    if (m_kubeconfig) {
        if (!m_kubeconfig->currentContext().isEmpty())
            command << QStringLiteral("--context") << m_kubeconfig->currentContext();
        if (!m_kubeconfig->files().isEmpty()) {
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.insert(QStringLiteral("KUBECONFIG"), m_kubeconfig->files().join(QDir::listSeparator()));
            process.setProcessEnvironment(env);
        }
    }
    // How each terminal takes a command with its arguments.
    const QString base = QFileInfo(term).fileName();
    if (base == u"gnome-terminal")
        command.prepend(QStringLiteral("--"));
    else if (base == u"xfce4-terminal")
        command.prepend(QStringLiteral("-x"));
    else
        command.prepend(QStringLiteral("-e"));
    process.setProgram(term);
    process.setArguments(command);
    if (!process.startDetached())
        QMessageBox::warning(this, tr("Shell"), tr("%1 could not be started.").arg(term));
}

void MainWindow::openLogs(int row)
{
    const WorkloadRef ref = m_model->workloadAt(row);
    const QString ns = m_model->currentNamespace();
    const QString key = workloadKey(ns, ref);
    const DevController::Status st = m_dev->status(key);
    // The dev pod when in dev mode; else a pod of the workload, found by its selector.
    if (!st.pod.isEmpty()) {
        (new LogsDialog(m_client, ns, st.pod, {}, this))->show();
        return;
    }
    KubeCall *call = m_client->get(
        ref.kind == WorkloadKind::Deployment ? ResourceRef::deployments() : ResourceRef::statefulSets(), ns, ref.name);
    connect(call, &KubeCall::finished, this, [this, call, ns] {
        if (!call->isOk()) {
            addActivity(call->error().toString());
            return;
        }
        ListOptions lo;
        lo.labelSelector = selectorString(*call->object());
        KubeCall *pods = m_client->list(ResourceRef::pods(), ns, lo);
        connect(pods, &KubeCall::finished, this, [this, pods, ns] {
            const QJsonArray items
                = pods->isOk() ? pods->object()->value(QLatin1String("items")).toArray() : QJsonArray();
            if (items.isEmpty()) {
                addActivity(tr("No pod to show the logs of"));
                return;
            }
            const QJsonObject pod = items.first().toObject();
            const QJsonArray containers
                = pod.value(QLatin1String("spec")).toObject().value(QLatin1String("containers")).toArray();
            (new LogsDialog(m_client, ns,
                            pod.value(QLatin1String("metadata")).toObject().value(QLatin1String("name")).toString(),
                            containers.first().toObject().value(QLatin1String("name")).toString(), this))
                ->show();
        });
    });
}

void MainWindow::openPort(int row)
{
    const QString key = workloadKey(m_model->currentNamespace(), m_model->workloadAt(row));
    const auto ports = m_dev->status(key).localPorts;
    if (!ports.isEmpty())
        QDesktopServices::openUrl(QUrl(QStringLiteral("http://127.0.0.1:%1/").arg(ports.first())));
}

} // namespace iterdeck::app
