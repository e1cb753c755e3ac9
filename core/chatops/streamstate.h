#pragma once
// What the desktop knows of the bot: the user's iterations, environments, selections and
// deployments (a snapshot kept current by live events), and an activity list per iteration with
// unread counts. No widgets: the tray app's models render it; `iterdeckctl` could too.
#include "eventtext.h"
#include "protocol.h"

#include <QHash>
#include <QObject>
#include <QSet>

#include <optional>

namespace iterdeck::chatops {

struct Activity
{
    qint64 seq = 0;
    QDateTime at;
    QString type;
    QString text; // describeEvent()
    qint64 iterationId = 0; // 0: project-wide (new builds)
    qint64 environmentId = 0;
    bool unread = true;
    // channel.message: who wrote (empty: the bot or the platform) and the whole text.
    QString from;
    QString message;
};

class StreamState : public QObject
{
    Q_OBJECT

public:
    static constexpr int kMaxActivity = 200; // per iteration; older entries fall off

    explicit StreamState(QObject *parent = nullptr);

    // A snapshot replaces the state (activity and unread counts are kept).
    void reset(const Snapshot &snapshot);
    // A live or replayed event: updates the state and the activity list. Returns false when the
    // state cannot follow it (an iteration or environment it does not know): ask for a snapshot.
    bool apply(const model::Event &event, bool replayed);
    void clear();

    bool hasSnapshot() const { return m_hasSnapshot; }
    qint64 seq() const { return m_seq; }
    QString project() const { return m_snapshot.project; }
    const QList<ComponentInfo> &components() const { return m_snapshot.components; }
    const QList<model::Iteration> &iterations() const { return m_snapshot.iterations; }
    const model::Iteration *iteration(qint64 id) const;
    const model::Environment *environment(qint64 id) const;
    const model::Environment *environmentOfIteration(qint64 iterationId) const;
    std::optional<model::Selection> selection(qint64 environmentId, const QString &component) const;
    std::optional<Deployment> deployment(qint64 environmentId, const QString &component) const;
    // The URL of an environment's component, from its domain ("https://" + domain with {component}
    // already filled in by the bot); empty without a domain.
    QString environmentUrl(qint64 environmentId) const;

    // Newest first.
    QList<Activity> activity(qint64 iterationId) const;
    int unread(qint64 iterationId) const;
    int totalUnread() const;
    void markRead(qint64 iterationId);
    void clearActivity(qint64 iterationId);

Q_SIGNALS:
    void changed(); // iterations, environments, selections or deployments
    void activityChanged(qint64 iterationId);
    // A live event a person may want to hear of (eventtext's isNotable) — not replayed ones.
    void notable(const iterdeck::chatops::Activity &activity, iterdeck::chatops::EventKind kind);

private:
    void addActivity(const model::Event &event, bool replayed);

    bool m_hasSnapshot = false;
    qint64 m_seq = 0;
    Snapshot m_snapshot;
    QHash<qint64, QList<Activity>> m_activity; // newest last
};

} // namespace iterdeck::chatops
