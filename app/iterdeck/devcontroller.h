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
    };

    DevController(kube::KubeClient *client, QSettings *settings, QObject *parent = nullptr);
    ~DevController() override;

    // Enters dev mode (or resumes it) with the remembered folder, or `localDir` when given
    // (then remembered). False when no folder is known yet: the caller asks for one.
    bool start(const QString &ns, const devmode::WorkloadRef &ref, const QString &localDir = {});
    // Stops the sync and restores the workload exactly.
    void end(const QString &ns, const devmode::WorkloadRef &ref);
    // Stops the sync only; dev mode stays on for the next start.
    void stopAll();

    QString rememberedFolder(const QString &ns, const devmode::WorkloadRef &ref) const;
    void rememberFolder(const QString &ns, const devmode::WorkloadRef &ref, const QString &dir);
    Status status(const QString &key) const;

    // Port-forwards added by hand to a workload in dev mode, live: the bound local port or why
    // not. They are remembered per (kube context, namespace, workload) and come back with the
    // next dev session there.
    Expected<quint16, QString> addPortForward(const QString &ns, const devmode::WorkloadRef &ref, const QString &spec);
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
    void updateForwards(const QString &key, devmode::DevSession *session);
    QString forwardsKey(const QString &ns, const devmode::WorkloadRef &ref) const;

    kube::KubeClient *m_client;
    QSettings *m_settings;
    QString m_agentPath;
    QHash<QString, devmode::DevSession *> m_sessions;
    QHash<QString, Status> m_status;
};

QString stateName(DevController::State state);

} // namespace iterdeck::app
