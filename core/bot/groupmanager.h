#pragma once
// One IM group per iteration, through an ImAdapter: created with the iteration's members when it
// starts, members following the iteration's member list, short notifications of deploys and
// environments, archived at cleanup time (when the environment is deleted, or at close + grace
// period when the iteration has no environment). The mapping iteration -> (platform, chat) and the
// members the bot put in are stored (chat_groups), so a restart neither creates a second group nor
// forgets what to clean up; redelivered events change nothing twice.
#include "eventsink.h"
#include "im/imadapter.h"
#include "model/teammanifest.h"
#include "store.h"

#include <QObject>
#include <QPointer>
#include <QSet>

#include <deque>
#include <functional>
#include <map>
#include <optional>

class QTimer;

namespace iterdeck::bot {

class GroupManager : public QObject, public EventSink
{
    Q_OBJECT

public:
    // `store` and `adapter` are not owned and must outlive the manager.
    GroupManager(model::TeamManifest manifest, Store *store, im::ImAdapter *adapter, QObject *parent = nullptr);
    ~GroupManager() override;

    // Brings the groups in line with the store: creates missing groups of open iterations,
    // follows member changes made while the bot was down, re-arms the archiving of closed ones.
    void start();

    // iteration.started / .members / .closed, deploy.succeeded / .failed, environment.created /
    // .deleted, artifact.published (when it redeploys an environment).
    void eventsCommitted(const QList<model::Event> &events) override;

    // True (the default): a closed iteration whose environment still exists keeps its group until
    // environment.deleted. False (environments are disabled): archive at close + grace period.
    void setWaitForEnvironments(bool wait) { m_waitForEnvironments = wait; }

    // The adapter's user ids of collaboration-tool names (an iteration's members).
    QStringList imUsers(const QStringList &collabUsers) const;
    // The group's name for an iteration: "PROJECT ITERATION".
    QString groupName(const model::Iteration &iteration) const;

    // No adapter call in flight.
    bool isIdle() const;

Q_SIGNALS:
    // A group was created, changed members or was archived (after it was stored).
    void groupChanged(qint64 iterationId);

private:
    struct Group
    {
        bool busy = false; // an adapter call that changes the group is in flight
        bool again = false; // reconcile once more when it ends
        QStringList queued; // messages waiting for the group to exist
        bool creating = false;
        QTimer *archiveTimer = nullptr;
    };

    std::optional<model::Iteration> iterationById(qint64 id);
    void reconcile(qint64 iterationId);
    // Counts the job, and when it succeeded updates the stored group with `onSuccess` and goes on.
    void finishChange(qint64 iterationId, im::ImJob *job,
                      const std::function<void(ChatGroup &, const im::ImResult &)> &onSuccess);
    // Closed at T: archive at T + grace, and (waiting for environments) once no environment is left.
    bool archiveDue(const model::Iteration &iteration);
    void armArchive(qint64 iterationId, const QDateTime &due);
    void post(qint64 iterationId, const QString &text);
    void notify(const model::Event &event);
    bool saveGroup(const ChatGroup &group);
    bool hasLiveEnvironment(qint64 iterationId);

    model::TeamManifest m_manifest;
    Store *m_store;
    QPointer<im::ImAdapter> m_adapter;
    std::map<qint64, Group> m_groups;
    int m_inFlight = 0;
    QSet<qint64> m_seen; // event seqs handled, for redeliveries
    std::deque<qint64> m_seenOrder;
    bool m_waitForEnvironments = true;
};

} // namespace iterdeck::bot
