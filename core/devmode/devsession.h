#pragma once
// A dev-mode session: preflight, the workload patched (its original saved first), the dev pod
// awaited, the agent installed over exec, the initial sync, then the event-driven sync and the
// port-forwards until stopped. The sync and the forwards follow the pod: when it restarts or
// the stream drops, the session finds the new pod, reinstalls the agent when needed and
// resumes (the local index is kept, so an unchanged tree costs metadata only).
//
// Dev mode itself lives on the cluster (annotations and a label on the workload, see
// workload.h), so a session that dies leaves nothing only in memory: the next start resumes it,
// and DevControl restores it.
#include "common/expected.h"
#include "execsync.h"
#include "kube/kubeerror.h"
#include "kube/portforward.h"
#include "workload.h"

#include <QJsonObject>
#include <QObject>

#include <memory>

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::devmode {

struct DevStartOptions
{
    QString ns;
    WorkloadRef workload;
    QString localDir; // required unless noSync
    QString container; // empty = the config's, else the first container
    QString image; // overrides the config's dev image
    QString mode; // replace | duplicate; empty = the config's (dev.iterdeck.mode), else replace
    QString configFile; // empty = LOCAL/.nocalhost/config.yaml when it exists
    QString app; // the ConfigMap's application; empty = from the workload's labels
    bool noSync = false;
    QString agentPath; // the iterdeck-agent binary to install
    Owner owner = Owner::current();
    int podTimeoutMs = 180000; // for the first dev pod
    QString stateDir; // where the local sync index lives; empty = the user's state folder
    // Forwards added by hand ("LOCAL:REMOTE", ":REMOTE" or "PORT"), started with the config's.
    // One that cannot listen is shown with its problem (forwards()), not fatal to the session.
    QStringList extraPortForwards;
};

// Where a workload's dev config came from.
enum class ConfigSource { Local, Annotation, ConfigMap, Defaults };
QString configSourceName(ConfigSource source);

class DevSession : public QObject
{
    Q_OBJECT
public:
    enum class Step { Workload, Config, Preflight, Patch, Pod, Agent, Sync, PortForward };
    Q_ENUM(Step)
    enum class State { Idle, Starting, Ready, Reconnecting, Stopped, Failed };
    Q_ENUM(State)

    // One port-forward of the session: from the dev config, or added by hand.
    struct Forward
    {
        QString spec; // as given: "LOCAL:REMOTE", ":REMOTE" or "PORT"
        quint16 remotePort = 0;
        quint16 localPort = 0; // the bound port; 0 while not listening
        bool fromConfig = false;
        kube::PortForwarder::State state = kube::PortForwarder::State::Idle;
        QString problem; // why it does not listen, when it does not
    };

    DevSession(kube::KubeClient *client, DevStartOptions options, QObject *parent = nullptr);
    ~DevSession() override;

    // Enters dev mode (or resumes it when this user already has it on) and runs until stop().
    void start();
    // Stops the sync and the forwards; dev mode stays on for the next start or DevControl::end.
    void stop();
    // Gives up entering dev mode (while Starting; otherwise as stop()). At once, except while
    // the cluster is being changed: then as soon as the write under way is answered, so that
    // nothing reaches the cluster afterwards. stateChanged(Stopped) follows either way;
    // changedCluster() then says whether there is anything to restore (DevControl's endDevMode).
    void cancel();
    // This start got as far as changing the cluster (the workload, its autoscalers or volumes),
    // and it was not a resume of dev mode left on.
    bool changedCluster() const;

    State state() const;
    Step step() const;
    QString failure() const; // when Failed: the step's message
    ConfigSource configSource() const;
    bool resumed() const; // dev mode was already on (a previous session) and was picked up
    QString podName() const;
    QString container() const;
    QString workDir() const;
    QString devWorkloadName() const; // the workload or, in duplicate mode, its copy
    QList<quint16> localPorts() const; // per portForward entry, once listening
    QStringList portForwardSpecs() const;
    kube::PortForwarder::State portForwardState() const;
    const model::ContainerDevConfig &devConfig() const;

    // Every forward, the config's first, then the hand-added ones in the order they were added.
    QList<Forward> forwards() const;
    // Adds a forward to the running session (Ready or Reconnecting). The local port is bound
    // before this returns: the bound port, or why not in words (malformed, local port taken or
    // already forwarded, dev mode not running). The pod side follows the dev pod as the
    // config's forwards do.
    Expected<quint16, QString> addPortForward(const QString &spec);
    // Whether `spec` may be added next to `existing` forwards: its mapping, or why not (malformed,
    // its local port or the same spec forwarded already).
    static Expected<kube::PortMapping, QString> checkNewForward(const QString &spec, const QList<Forward> &existing);
    // Stops the hand-added forward `spec` (as given to addPortForward or in extraPortForwards)
    // and closes its local port. False when there is none (the config's cannot be removed).
    bool removePortForward(const QString &spec);

Q_SIGNALS:
    void stateChanged(iterdeck::devmode::DevSession::State state);
    void stepStarted(iterdeck::devmode::DevSession::Step step, const QString &text);
    void syncProgress(const iterdeck::devmode::SyncProgress &progress);
    void portForwardStateChanged(iterdeck::kube::PortForwarder::State state, const QString &reason);
    void message(const QString &text); // warnings and notes for the user
    // Once per start: the pod is running, the first sync is done and the forwards listen.
    void ready();
    // A forward was added, removed, or changed state or port.
    void forwardsChanged();

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::devmode
