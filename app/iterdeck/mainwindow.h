#pragma once
// The main window: the namespace's workloads with their pods and dev mode, and the actions on
// the selected one (dev mode toggle, shell, logs, its port-forwards); an activity list.
#include <QMainWindow>

class QComboBox;
class QLabel;
class QListView;
class QListWidget;
class QSplitter;
class QPushButton;
class QTableView;
class QTabWidget;

namespace iterdeck::kube {
class Informer;
class KubeClient;
class KubeconfigWatcher;
} // namespace iterdeck::kube

namespace iterdeck::app {

class BotSession;
class DevController;
class GroupPanel;
class IterationsModel;
class PortForwardsPanel;
class WorkloadsModel;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    MainWindow(kube::KubeClient *client, DevController *dev, WorkloadsModel *model, QWidget *parent = nullptr);

    void setNamespace(const QString &ns);
    void showBanner(const QString &text);
    // An entry of the activity list (newest first, at most 200 kept).
    void addActivity(const QString &text);
    QTableView *table() const { return m_table; }
    QPushButton *devButton() const { return m_devButton; }
    PortForwardsPanel *portForwards() const { return m_forwards; }
    QTabWidget *bottomTabs() const { return m_bottomTabs; }

    // Toggles dev mode of the workload in `row`; asks for the local folder the first time.
    void toggleDevMode(int row);

    // Shows my iterations from the bot (a list on the left); selecting one follows its
    // environment's namespace. Not owned.
    void setBotSession(BotSession *session);
    void selectIteration(qint64 iterationId);
    qint64 selectedIteration() const { return m_iterationId; }
    void openDeployCard(qint64 environmentId);
    // Selects the iteration and shows its group (messages, and a line to write to it).
    void openGroup(qint64 iterationId);
    GroupPanel *groupPanel() const { return m_group; }
    QListView *iterationsView() const { return m_iterations; }

    // Lists the kubeconfig's contexts (choosing one switches the client) and follows the
    // kubeconfig as it changes on disk. Not owned.
    void setKubeconfigWatcher(kube::KubeconfigWatcher *watcher);
    QComboBox *contextBox() const { return m_contextBox; }
    QLabel *clusterLabel() const { return m_cluster; }
    QLabel *banner() const { return m_banner; }
    QPushButton *deployButton() const { return m_deployButton; }

Q_SIGNALS:
    void namespaceChanged(const QString &ns);
    void settingsRequested();

private:
    void updateActions();
    void updateCluster();
    void updateEnvironment();
    void showActivity();
    void openShell(int row);
    void openLogs(int row);
    void openPort(int row);

    kube::KubeClient *m_client;
    DevController *m_dev;
    WorkloadsModel *m_model;
    kube::Informer *m_namespaces;
    QLabel *m_banner;
    QLabel *m_cluster;
    QComboBox *m_nsBox;
    QComboBox *m_contextBox;
    kube::KubeconfigWatcher *m_kubeconfig = nullptr;
    QTableView *m_table;
    QPushButton *m_devButton;
    QPushButton *m_shellButton;
    QPushButton *m_logsButton;
    QPushButton *m_portButton;
    PortForwardsPanel *m_forwards;
    QTabWidget *m_bottomTabs = nullptr;
    QListWidget *m_activity;
    BotSession *m_bot = nullptr;
    GroupPanel *m_group = nullptr;
    IterationsModel *m_iterationsModel = nullptr;
    QListView *m_iterations = nullptr;
    QWidget *m_envBar = nullptr;
    QLabel *m_envLabel = nullptr;
    QPushButton *m_createButton = nullptr;
    QPushButton *m_deployButton = nullptr;
    QPushButton *m_redeployButton = nullptr;
    QPushButton *m_urlButton = nullptr;
    QStringList m_localActivity; // dev mode and app notes, newest first
    qint64 m_iterationId = 0;
};

} // namespace iterdeck::app
