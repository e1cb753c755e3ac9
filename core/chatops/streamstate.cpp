#include "streamstate.h"

#include <QJsonArray>

namespace iterdeck::chatops {

StreamState::StreamState(QObject *parent)
    : QObject(parent)
{ }

void StreamState::reset(const Snapshot &snapshot)
{
    m_snapshot = snapshot;
    m_seq = std::max(m_seq, snapshot.seq);
    m_hasSnapshot = true;
    // Activity of iterations that are no longer the user's goes with them.
    QSet<qint64> keep {0};
    for (const auto &it : std::as_const(m_snapshot.iterations))
        keep.insert(it.id);
    for (auto it = m_activity.begin(); it != m_activity.end();) {
        if (!keep.contains(it.key()))
            it = m_activity.erase(it);
        else
            ++it;
    }
    Q_EMIT changed();
}

void StreamState::clear()
{
    m_snapshot = {};
    m_hasSnapshot = false;
    m_seq = 0;
    m_activity.clear();
    Q_EMIT changed();
}

const model::Iteration *StreamState::iteration(qint64 id) const
{
    for (const auto &it : m_snapshot.iterations) {
        if (it.id == id)
            return &it;
    }
    return nullptr;
}

const model::Environment *StreamState::environment(qint64 id) const
{
    for (const auto &e : m_snapshot.environments) {
        if (e.id == id)
            return &e;
    }
    return nullptr;
}

const model::Environment *StreamState::environmentOfIteration(qint64 iterationId) const
{
    for (const auto &e : m_snapshot.environments) {
        if (e.iterationId == iterationId)
            return &e;
    }
    return nullptr;
}

std::optional<model::Selection> StreamState::selection(qint64 environmentId, const QString &component) const
{
    for (const auto &s : m_snapshot.selections) {
        if (s.environmentId == environmentId && s.component == component)
            return s;
    }
    return std::nullopt;
}

std::optional<Deployment> StreamState::deployment(qint64 environmentId, const QString &component) const
{
    for (const auto &d : m_snapshot.deployments) {
        if (d.environmentId == environmentId && d.component == component)
            return d;
    }
    return std::nullopt;
}

QString StreamState::environmentUrl(qint64 environmentId) const
{
    const model::Environment *e = environment(environmentId);
    if (!e || e->domain.isEmpty())
        return {};
    QString domain = e->domain;
    // A per-component domain template ("{component}.sprint.example"): the first component's.
    if (domain.contains(QLatin1String("{component}")) && !m_snapshot.components.isEmpty())
        domain.replace(QLatin1String("{component}"), m_snapshot.components.first().name);
    return QStringLiteral("http://") + domain;
}

bool StreamState::apply(const model::Event &e, bool replayed)
{
    m_seq = std::max(m_seq, e.seq);
    addActivity(e, replayed);
    if (replayed)
        return true; // already part of the snapshot
    bool known = true;
    bool stateChanged = true;
    const QJsonObject &p = e.payload;
    if (e.type.startsWith(u"iteration.")) {
        model::Iteration *it = nullptr;
        for (auto &i : m_snapshot.iterations) {
            if (i.id == e.iterationId)
                it = &i;
        }
        if (!it) {
            known = false; // a new iteration of ours: the bot follows with a snapshot
        } else {
            if (p.contains(u"name"))
                it->name = p.value(u"name").toString();
            if (p.contains(u"url"))
                it->url = p.value(u"url").toString();
            if (p.contains(u"members")) {
                it->members.clear();
                for (const QJsonValue &m : p.value(u"members").toArray())
                    it->members.append(m.toString());
            }
            if (e.type == u"iteration.started") {
                it->state = model::Iteration::State::Open;
                it->closedAt = {};
            } else if (e.type == u"iteration.closed") {
                it->state = model::Iteration::State::Closed;
                it->closedAt = e.at;
            }
        }
    } else if (e.type.startsWith(u"environment.")) {
        const QString state = e.type.mid(12);
        if (state == u"created") {
            model::Environment env;
            env.id = e.environmentId;
            env.iterationId = e.iterationId;
            env.nameSpace = p.value(u"namespace").toString();
            env.domain = p.value(u"domain").toString();
            env.state = QStringLiteral("creating");
            env.createdAt = env.updatedAt = e.at;
            bool found = false;
            for (auto &x : m_snapshot.environments) {
                if (x.id == env.id) {
                    x = env;
                    found = true;
                }
            }
            if (!found)
                m_snapshot.environments.append(env);
        } else if (state == u"deleted") {
            m_snapshot.environments.removeIf([&e](const model::Environment &x) { return x.id == e.environmentId; });
            m_snapshot.selections.removeIf(
                [&e](const model::Selection &x) { return x.environmentId == e.environmentId; });
            m_snapshot.deployments.removeIf([&e](const Deployment &x) { return x.environmentId == e.environmentId; });
        } else if (state == u"ready" || state == u"failed" || state == u"deleting" || state == u"creating") {
            bool found = false;
            for (auto &x : m_snapshot.environments) {
                if (x.id == e.environmentId) {
                    x.state = state;
                    x.updatedAt = e.at;
                    found = true;
                }
            }
            known = found;
        } else {
            stateChanged = false; // cleanup scheduling and the like
        }
    } else if (e.type == u"selection.changed") {
        const model::Selection sel = model::Selection::fromJson(p);
        bool found = false;
        for (auto &s : m_snapshot.selections) {
            if (s.environmentId == sel.environmentId && s.component == sel.component) {
                s = sel;
                found = true;
            }
        }
        if (!found)
            m_snapshot.selections.append(sel);
    } else if (auto d = Deployment::fromEvent(e)) {
        bool found = false;
        for (auto &x : m_snapshot.deployments) {
            if (x.environmentId == d->environmentId && x.component == d->component) {
                // A failed deploy leaves the running build as it was: keep its artifact.
                if (d->state == u"failed" && !d->artifact.id)
                    d->artifact = x.artifact;
                x = *d;
                found = true;
            }
        }
        if (!found)
            m_snapshot.deployments.append(*d);
    } else {
        stateChanged = false;
    }
    m_snapshot.seq = m_seq;
    if (stateChanged && known)
        Q_EMIT changed();
    return known;
}

void StreamState::addActivity(const model::Event &e, bool replayed)
{
    Activity a;
    a.seq = e.seq;
    a.at = e.at;
    a.type = e.type;
    a.text = describeEvent(e);
    a.iterationId = e.iterationId;
    a.environmentId = e.environmentId;
    a.unread = true;
    if (e.type == u"channel.message") {
        a.from = e.payload.value(u"from").toString();
        a.message = e.payload.value(u"text").toString();
    }
    QList<Activity> &list = m_activity[e.iterationId];
    list.append(a);
    if (list.size() > kMaxActivity)
        list.remove(0, list.size() - kMaxActivity);
    Q_EMIT activityChanged(e.iterationId);
    if (!replayed && isNotable(e))
        Q_EMIT notable(a, eventKind(e.type));
}

QList<Activity> StreamState::activity(qint64 iterationId) const
{
    QList<Activity> out = m_activity.value(iterationId);
    std::reverse(out.begin(), out.end());
    return out;
}

int StreamState::unread(qint64 iterationId) const
{
    int n = 0;
    for (const Activity &a : m_activity.value(iterationId))
        n += a.unread ? 1 : 0;
    return n;
}

int StreamState::totalUnread() const
{
    int n = 0;
    for (auto it = m_activity.cbegin(); it != m_activity.cend(); ++it) {
        for (const Activity &a : it.value())
            n += a.unread ? 1 : 0;
    }
    return n;
}

void StreamState::markRead(qint64 iterationId)
{
    auto it = m_activity.find(iterationId);
    if (it == m_activity.end())
        return;
    for (Activity &a : *it)
        a.unread = false;
    Q_EMIT activityChanged(iterationId);
}

void StreamState::clearActivity(qint64 iterationId)
{
    m_activity.remove(iterationId);
    Q_EMIT activityChanged(iterationId);
}

} // namespace iterdeck::chatops
