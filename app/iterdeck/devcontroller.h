#pragma once
// The desktop side of dev mode: one DevSession per workload the user switched on, the local
// folder remembered per workload, the state in words for the views, and what a previous run
// left in dev mode (to resume or restore at start-up). No widgets here.
#include "devmode/devcontrol.h"
#include "devmode/devsession.h"

#include <QHash>
#include <QObject>
#include <QSettings>

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::app {

// Identifies a workload: "NS/deploy/NAME".
QString workloadKey(const QString &ns, const devmode::WorkloadRef &ref);

class DevController : public QObject
{
    Q_OBJECT
public:
    enum class State { Off, Starting, On, Reconnecting, Ending, Failed };
    Q_ENUM(State)

    struct Status
    {
        State state = State::Off;
        QString step; // Starting: what is being done
        QString sync; // "idle", "syncing 12/40 files", "conflict: a.txt", "halted: ..."
        QStringList conflicts;
        QString message; // Failed: why; On: the pod and ports
        QList<quint16> localPorts; // every listening forward's
        QStringList portSpecs;
        QList<devmode::DevSession::Forward> forwards;
        QString pod;
        bool cancelling = false; // Starting, and cancel() was asked for
    };

    DevController(kube::KubeClient *client, QSettings *settings, QObject *parent = nullptr);
    ~DevController() override;

    // Enters dev mode (or resumes it) with the remembered folder, or `localDir` when given
    // (then remembered). False when no folder is known yet: the caller asks for one.
    bool start(const QString &ns, const devmode::WorkloadRef &ref, const QString &localDir = {});
    // Stops the sync and restores the workload exactly.
    void end(const QString &ns, const devmode::WorkloadRef &ref);
    // Gives up entering dev mode (while Starting): the session stops after the write under way,
    // and whatever it changed in the cluster is restored; ended() follows.
    void cancel(const QString &ns, const devmode::WorkloadRef &ref);
    // Stops the sync only; dev mode stays on for the next start.
    void stopAll();

    QString rememberedFolder(const QString &ns, const devmode::WorkloadRef &ref) const;
    void rememberFolder(const QString &ns, const devmode::WorkloadRef &ref, const QString &dir);
    Status status(const QString &key) const;

    // Port-forwards added by hand, live: the bound local port or why not. In dev mode they go to
    // the dev pod; otherwise to a Running pod matching `selector` (the workload's), following
    // the pods as they are replaced, and they move to the dev pod while the workload is in dev
    // mode. They are remembered per (kube context, namespace, workload) and come back with the
    // next dev session there.
    Expected<quint16, QString> addPortForward(const QString &ns, const devmode::WorkloadRef &ref, const QString &spec,
                                              const QString &selector = {});
    bool removePortForward(const QString &ns, const devmode::WorkloadRef &ref, const QString &spec);
    QStringList rememberedForwards(const QString &ns, const devmode::WorkloadRef &ref) const;
    QStringList activeKeys() const;
    bool anySyncing() const;
    bool anyProblem() const; // a failure or a conflict
    bool anyFailed() const;

    // Looks for what this user left in dev mode (in every namespace); leftoversFound() follows.
    void scanLeftovers();
    void setAgentPath(const QString &path) { m_agentPath = path; }

Q_SIGNALS:
    void statusChanged(const QString &key);
    void ended(const QString &key, const QString &summary, bool exact);
    void leftoversFound(const QList<iterdeck::devmode::DevRecord> &records);
    void notice(const QString &title, const QString &text);

private:
    void setStatus(const QString &key, const Status &status);
    // Restores what dev mode changed (the session is gone); `cancelled`: entering was given up.
    void restore(const QString &ns, const devmode::WorkloadRef &ref, bool cancelled);
    void updateForwards(const QString &key, devmode::DevSession *session);
    QString forwardsKey(const QString &ns, const devmode::WorkloadRef &ref) const;

    // Forwards to a workload's own pods (not in dev mode).
    struct PlainForward
    {
        QString spec;
        QString selector;
        kube::PortMapping mapping;
        kube::PortForwarder *forwarder = nullptr;
    };
    Expected<quint16, QString> addPlainForward(const QString &ns, const devmode::WorkloadRef &ref, const QString &spec,
                                               const QString &selector);
    void updatePlainForwards(const QString &key);
    // Dev mode takes a workload's plain forwards over (they are remembered, so the session
    // opens them on the dev pod) and gives them back when it ends.
    void suspendPlainForwards(const QString &key);
    void resumePlainForwards(const QString &ns, const devmode::WorkloadRef &ref);

    kube::KubeClient *m_client;
    QSettings *m_settings;
    QHash<QString, QList<PlainForward>> m_plain;
    QHash<QString, QList<PlainForward>> m_suspended;
    QString m_agentPath;
    QHash<QString, devmode::DevSession *> m_sessions;
    QHash<QString, Status> m_status;
};

QString stateName(DevController::State state);

} // namespace iterdeck::app
