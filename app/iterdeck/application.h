#pragma once
// The desktop app's wiring: settings, the cluster client, dev mode, the workloads model, the
// tray and the main window; single instance; the embedded sandbox demo.
#include <QObject>
#include <QSettings>

#include <memory>

class QLocalServer;
class QProcess;

namespace iterdeck::kube {
class KubeClient;
class KubeconfigWatcher;
} // namespace iterdeck::kube

namespace iterdeck::app {

class BotSession;
class DemoBot;
class DevController;
class MainWindow;
class TrayIcon;
class WorkloadsModel;

class Application : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        bool sandbox = false; // run the sandbox cluster with the demo application
        bool showWindow = false; // open the main window at start even with a tray
        QString kubeconfig; // overrides the settings
        QString ns;
    };
    explicit Application(Options options, QObject *parent = nullptr);
    ~Application() override;

    // Another instance of this user running? Then it is asked to show its window.
    static bool forwardToRunningInstance();
    // Starts everything (asynchronously with --sandbox); `ready()` or `failed()` follows.
    void start();
    MainWindow *window() const { return m_window; }
    TrayIcon *tray() const { return m_tray; }
    DevController *dev() const { return m_dev; }
    WorkloadsModel *model() const { return m_model; }
    BotSession *bot() const { return m_bot; }

Q_SIGNALS:
    void ready();
    void failed(const QString &message);
    void notified(const QString &title, const QString &text); // a notification was shown

private:
    void startSandbox();
    void startWithKubeconfig(const QString &kubeconfig, const QString &context, const QString &ns);
    void listenForOtherInstances();
    void updateTray();
    void raiseWindow();
    void openSettings();
    // The cluster settings changed: the client, the context and the namespace follow them now.
    void applyClusterSettings();
    void rebuildDevMenu();
    void rebuildIterationMenus();
    void startBot();
    void notify(const QString &title, const QString &text, bool error);
    // Starts this program again (with its window) and quits: a new language takes effect.
    void restart();

    Options m_options;
    QSettings m_settings;
    std::unique_ptr<kube::KubeClient> m_client;
    kube::KubeconfigWatcher *m_kubeconfig = nullptr;
    DevController *m_dev = nullptr;
    WorkloadsModel *m_model = nullptr;
    MainWindow *m_window = nullptr;
    TrayIcon *m_tray = nullptr;
    QLocalServer *m_instanceServer = nullptr;
    QProcess *m_sandbox = nullptr;
    BotSession *m_bot = nullptr;
    DemoBot *m_demoBot = nullptr;
    QString m_sandboxDir;
    QString m_connectionProblem;
    qint64 m_notifiedIteration = 0; // of the last notification shown
};

// A program installed next to this one (or in the build tree's app/NAME/).
QString siblingProgram(const QString &name);

} // namespace iterdeck::app
