#include "groupmanager.h"

#include "im/identitymap.h"
#include "logging.h"

#include <QJsonArray>
#include <QTimer>

#include <algorithm>
#include <utility>

namespace iterdeck::bot {

namespace {

// QTimer takes an int of milliseconds; a longer wait is taken in steps.
constexpr qint64 kMaxTimerMs = qint64(24) * 3600 * 1000;
constexpr qsizetype kSeenEvents = 10000;

QString buildLabel(const QJsonObject &artifact)
{
    const QString tag = artifact.value(u"imageTag").toString();
    const QString build = artifact.value(u"build").toString();
    QString label = !tag.isEmpty() ? tag : !build.isEmpty() ? build : artifact.value(u"digest").toString().left(19);
    if (!build.isEmpty() && build != label)
        label += QStringLiteral(" (build %1)").arg(build);
    return label;
}

} // namespace

GroupManager::GroupManager(model::TeamManifest manifest, Store *store, im::ImAdapter *adapter, QObject *parent)
    : QObject(parent)
    , m_manifest(std::move(manifest))
    , m_store(store)
    , m_adapter(adapter)
{ }

GroupManager::~GroupManager() = default;

QStringList GroupManager::imUsers(const QStringList &collabUsers) const
{
    if (m_adapter && m_adapter->platform() == u"builtin") {
        // The built-in channels know people by their manifest name; strangers by their own.
        QStringList out;
        for (const QString &c : collabUsers) {
            QString name = c;
            for (const model::Person &p : m_manifest.people) {
                const bool match = p.name.compare(c, Qt::CaseInsensitive) == 0
                    || std::any_of(p.collabUsers.cbegin(), p.collabUsers.cend(),
                                   [&](const QString &u) { return u.compare(c, Qt::CaseInsensitive) == 0; });
                if (match) {
                    name = p.name;
                    break;
                }
            }
            if (!out.contains(name))
                out.append(name);
        }
        out.sort();
        return out;
    }
    QStringList unknown;
    QStringList out = im::IdentityMap(m_manifest.people).imUsersForCollab(collabUsers, &unknown);
    if (!unknown.isEmpty())
        qCInfo(lcBot).noquote() << "groups: no IM user for" << unknown.join(QStringLiteral(", "));
    out.sort();
    return out;
}

QString GroupManager::groupName(const model::Iteration &iteration) const
{
    const QString name = iteration.name.isEmpty() ? iteration.key : iteration.name;
    return m_manifest.project.isEmpty() ? name : QString(m_manifest.project + u' ' + name);
}

bool GroupManager::isIdle() const
{
    return m_inFlight == 0;
}

std::optional<model::Iteration> GroupManager::iterationById(qint64 id)
{
    auto all = m_store->iterations();
    if (!all) {
        qCWarning(lcBot).noquote() << "groups: cannot read the iterations:" << all.error().message;
        return std::nullopt;
    }
    for (const model::Iteration &it : std::as_const(*all)) {
        if (it.id == id)
            return it;
    }
    return std::nullopt;
}

bool GroupManager::hasLiveEnvironment(qint64 iterationId)
{
    auto envs = m_store->environments();
    if (!envs)
        return true; // unknown: wait rather than archive too early
    return std::any_of(envs->cbegin(), envs->cend(), [&](const model::Environment &e) {
        return e.iterationId == iterationId && e.state != u"deleted";
    });
}

bool GroupManager::saveGroup(const ChatGroup &group)
{
    auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        auto saved = tx.saveGroup(group);
        if (!saved)
            return unexpected(saved.error());
        return true;
    });
    if (!r) {
        qCWarning(lcBot).noquote() << "groups: storing the group of iteration" << group.iterationId
                                   << "failed:" << r.error().message;
        return false;
    }
    return true;
}

void GroupManager::start()
{
    auto all = m_store->iterations();
    if (!all) {
        qCWarning(lcBot).noquote() << "groups: cannot read the store:" << all.error().message;
        return;
    }
    for (const model::Iteration &it : std::as_const(*all))
        reconcile(it.id);
}

void GroupManager::eventsCommitted(const QList<model::Event> &events)
{
    for (const model::Event &ev : events) {
        if (ev.seq > 0) {
            if (m_seen.contains(ev.seq))
                continue;
            m_seen.insert(ev.seq);
            m_seenOrder.push_back(ev.seq);
            if (qsizetype(m_seenOrder.size()) > kSeenEvents) {
                m_seen.remove(m_seenOrder.front());
                m_seenOrder.pop_front();
            }
        }
        if (ev.type == u"iteration.started" || ev.type == u"iteration.members" || ev.type == u"iteration.closed") {
            reconcile(ev.iterationId);
        } else if (ev.type == u"environment.deleted") {
            notify(ev);
            reconcile(ev.iterationId);
        } else {
            notify(ev);
        }
    }
}

void GroupManager::notify(const model::Event &ev)
{
    const QString ns = ev.payload.value(u"namespace").toString();
    const QString component = ev.payload.value(u"component").toString();
    if (ev.type == u"deploy.succeeded") {
        post(ev.iterationId,
             QStringLiteral("deployed %1 %2 to %3")
                 .arg(component, buildLabel(ev.payload.value(u"artifact").toObject()), ns));
    } else if (ev.type == u"deploy.failed") {
        post(ev.iterationId,
             QStringLiteral("deploying %1 %2 to %3 failed: %4")
                 .arg(component, buildLabel(ev.payload.value(u"artifact").toObject()), ns,
                      ev.payload.value(u"message").toString()));
    } else if (ev.type == u"environment.created") {
        const QString domain = ev.payload.value(u"domain").toString();
        post(ev.iterationId,
             QStringLiteral("the environment %1 is being created").arg(ns)
                 + (domain.isEmpty() ? QString() : QStringLiteral(" (domain %1)").arg(domain)));
    } else if (ev.type == u"environment.deleted") {
        post(ev.iterationId, QStringLiteral("the environment %1 was deleted").arg(ns));
    } else if (ev.type == u"artifact.published") {
        // Told to the groups of the environments that follow this branch: they are redeployed.
        const QString branch = ev.payload.value(u"branch").toString();
        auto envs = m_store->environments();
        if (!envs || component.isEmpty())
            return;
        for (const model::Environment &e : std::as_const(*envs)) {
            if (e.state == u"deleted" || e.state == u"deleting")
                continue;
            auto selections = m_store->selections(e.id);
            if (!selections)
                continue;
            const bool follows = std::any_of(selections->cbegin(), selections->cend(), [&](const model::Selection &s) {
                return s.component == component && s.mode == model::Selection::Mode::Follow && s.branch == branch;
            });
            if (follows) {
                post(e.iterationId,
                     QStringLiteral("new build %1 of %2 (branch %3): redeploying %4")
                         .arg(buildLabel(ev.payload), component, branch, e.nameSpace));
            }
        }
    }
}

void GroupManager::post(qint64 iterationId, const QString &text)
{
    if (!m_adapter || iterationId <= 0)
        return;
    auto row = m_store->group(iterationId, m_adapter->platform());
    if (row && row->has_value() && (*row)->state == u"open") {
        im::ImJob *job = m_adapter->postMessage((*row)->chatId, text);
        ++m_inFlight;
        connect(job, &im::ImJob::finished, this, [this, iterationId](im::ImJob *j) {
            --m_inFlight;
            if (j->hasError())
                qCWarning(lcBot).noquote()
                    << "groups: posting to the group of iteration" << iterationId << "failed:" << j->error().toString();
        });
        return;
    }
    auto g = m_groups.find(iterationId);
    if (g != m_groups.end() && g->second.creating) {
        g->second.queued.append(text);
        return;
    }
    qCDebug(lcBot).noquote() << "groups: iteration" << iterationId << "has no open group for:" << text;
}

void GroupManager::finishChange(qint64 iterationId, im::ImJob *job,
                                const std::function<void(ChatGroup &, const im::ImResult &)> &onSuccess)
{
    ++m_inFlight;
    m_groups[iterationId].busy = true;
    const QString platform = m_adapter->platform();
    connect(job, &im::ImJob::finished, this, [this, iterationId, onSuccess, platform](im::ImJob *j) {
        --m_inFlight;
        Group &g = m_groups[iterationId];
        g.busy = false;
        const bool again = std::exchange(g.again, false);
        if (j->hasError()) {
            g.creating = false;
            g.queued.clear();
            qCWarning(lcBot).noquote() << "groups: iteration" << iterationId << "on" << platform
                                       << "failed:" << j->error().toString();
            if (again)
                reconcile(iterationId);
            return;
        }
        ChatGroup c;
        c.iterationId = iterationId;
        c.platform = platform;
        if (auto row = m_store->group(iterationId, platform); row && row->has_value())
            c = **row;
        onSuccess(c, j->result());
        if (c.chatId.isEmpty()) {
            qCWarning(lcBot).noquote() << "groups: iteration" << iterationId << "on" << platform
                                       << "returned no chat id";
            return;
        }
        if (!saveGroup(c))
            return;
        Q_EMIT groupChanged(iterationId);
        if (std::exchange(g.creating, false)) {
            const QStringList queued = std::exchange(g.queued, {});
            for (const QString &text : queued)
                post(iterationId, text);
        }
        reconcile(iterationId);
    });
}

bool GroupManager::archiveDue(const model::Iteration &iteration)
{
    const QDateTime due = iteration.closedAt.addSecs(m_manifest.environment.cleanupGraceSeconds);
    if (QDateTime::currentDateTimeUtc() < due) {
        armArchive(iteration.id, due);
        return false;
    }
    // The environment's deletion (environment.deleted) archives the group when it is gone.
    return !(m_waitForEnvironments && hasLiveEnvironment(iteration.id));
}

void GroupManager::armArchive(qint64 iterationId, const QDateTime &due)
{
    Group &g = m_groups[iterationId];
    if (!g.archiveTimer) {
        g.archiveTimer = new QTimer(this);
        g.archiveTimer->setSingleShot(true);
        connect(g.archiveTimer, &QTimer::timeout, this, [this, iterationId] { reconcile(iterationId); });
    }
    const qint64 ms = std::clamp<qint64>(QDateTime::currentDateTimeUtc().msecsTo(due), 0, kMaxTimerMs);
    g.archiveTimer->start(int(ms) + 1);
}

void GroupManager::reconcile(qint64 iterationId)
{
    if (!m_adapter || iterationId <= 0)
        return;
    Group &g = m_groups[iterationId];
    if (g.busy) {
        g.again = true;
        return;
    }
    const auto it = iterationById(iterationId);
    if (!it)
        return;
    const bool open = it->state == model::Iteration::State::Open;
    if (open && g.archiveTimer) {
        g.archiveTimer->deleteLater(); // reopened within the grace period
        g.archiveTimer = nullptr;
    }
    auto row = m_store->group(iterationId, m_adapter->platform());
    if (!row) {
        qCWarning(lcBot).noquote() << "groups: cannot read the group of iteration" << iterationId << ":"
                                   << row.error().message;
        return;
    }
    const QStringList wanted = imUsers(it->members);

    if (!row->has_value() || (*row)->state != u"open") {
        if (!open)
            return; // a closed iteration gets no group
        im::GroupSpec spec;
        spec.name = groupName(*it);
        spec.description = it->url.isEmpty() ? QStringLiteral("Iteration %1").arg(it->name)
                                             : QStringLiteral("Iteration %1: %2").arg(it->name, it->url);
        spec.members = wanted;
        spec.iterationId = iterationId;
        g.creating = true;
        qCInfo(lcBot).noquote() << "groups: creating" << spec.name << "on" << m_adapter->platform() << "with"
                                << wanted.join(QStringLiteral(", "));
        finishChange(iterationId, m_adapter->createGroup(spec), [wanted](ChatGroup &c, const im::ImResult &r) {
            c.chatId = r.chatId;
            c.members = wanted; // skipped ones are not added again and again
            c.state = QStringLiteral("open");
            c.archivedAt = {};
        });
        return;
    }

    ChatGroup current = **row;
    if (!open) {
        if (archiveDue(*it)) {
            qCInfo(lcBot).noquote() << "groups: archiving" << current.chatId << "of" << it->name;
            finishChange(iterationId, m_adapter->closeGroup(current.chatId, current.members),
                         [](ChatGroup &c, const im::ImResult &) {
                             c.state = QStringLiteral("archived");
                             c.archivedAt = QDateTime::currentDateTimeUtc();
                         });
        }
        return;
    }
    QStringList add, remove;
    for (const QString &u : wanted) {
        if (!current.members.contains(u))
            add.append(u);
    }
    for (const QString &u : std::as_const(current.members)) {
        if (!wanted.contains(u))
            remove.append(u);
    }
    if (!add.isEmpty()) {
        finishChange(iterationId, m_adapter->addMembers(current.chatId, add),
                     [add](ChatGroup &c, const im::ImResult &) {
                         c.members += add;
                         c.members.removeDuplicates();
                     });
    } else if (!remove.isEmpty() && m_adapter->capabilities().memberRemoval) {
        finishChange(iterationId, m_adapter->removeMembers(current.chatId, remove),
                     [remove](ChatGroup &c, const im::ImResult &) {
                         for (const QString &u : remove)
                             c.members.removeAll(u);
                     });
    }
}

} // namespace iterdeck::bot
