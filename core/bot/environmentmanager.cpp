#include "environmentmanager.h"

#include "deploy/helmdriver.h"
#include "deploy/manifestsdriver.h"
#include "kube/kubeclient.h"
#include "logging.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTimer>

#include <algorithm>

namespace iterdeck::bot {

namespace {

// QTimer takes an int of milliseconds; a longer wait is taken in steps.
constexpr qint64 kMaxTimerMs = qint64(24) * 3600 * 1000;

bool isLive(const model::Environment &e)
{
    return e.state != u"deleted" && e.state != u"deleting";
}

QJsonArray tail(const QStringList &lines, int n)
{
    QJsonArray out;
    for (qsizetype i = std::max<qsizetype>(0, lines.size() - n); i < lines.size(); ++i)
        out.append(lines.at(i));
    return out;
}

// One log line per event: "environment shop-sprint-7 deploy.failed web - <summary>".
void logEvents(const QList<model::Event> &events)
{
    for (const model::Event &ev : events) {
        const QString component = ev.payload.value(u"component").toString();
        const QString message = ev.payload.value(u"message").toString();
        qCInfo(lcBot).noquote() << "environment" << ev.payload.value(u"namespace").toString() << ev.type << component
                                << (message.isEmpty() ? QString() : u"- " + message);
    }
}

} // namespace

EnvironmentManager::EnvironmentManager(model::TeamManifest manifest, Store *store, kube::KubeClient *client,
                                       EnvironmentManagerOptions options, QObject *parent)
    : QObject(parent)
    , m_manifest(std::move(manifest))
    , m_store(store)
    , m_client(client)
    , m_options(std::move(options))
{ }

EnvironmentManager::~EnvironmentManager()
{
    for (auto &[id, env] : m_envs) {
        if (env.job)
            env.job->disconnect(this);
    }
}

std::optional<model::Iteration> EnvironmentManager::iterationById(qint64 id)
{
    auto all = m_store->iterations();
    if (!all)
        return std::nullopt;
    for (const model::Iteration &it : std::as_const(*all)) {
        if (it.id == id)
            return it;
    }
    return std::nullopt;
}

EnvironmentManager::Env &EnvironmentManager::track(const model::Environment &environment,
                                                   const model::Iteration &iteration)
{
    Env &e = m_envs[environment.id];
    e.env = environment;
    e.iterationKey = iteration.key;
    e.iterationSlug = model::iterationSlug(iteration.name.isEmpty() ? iteration.key : iteration.name);
    return e;
}

EnvironmentManager::Env *EnvironmentManager::envFor(qint64 environmentId)
{
    auto it = m_envs.find(environmentId);
    return it == m_envs.end() ? nullptr : &it->second;
}

EnvironmentManager::Env *EnvironmentManager::envOfIteration(qint64 iterationId)
{
    for (auto &[id, env] : m_envs) {
        if (env.env.iterationId == iterationId)
            return &env;
    }
    return nullptr;
}

void EnvironmentManager::start()
{
    auto envs = m_store->environments();
    auto iterations = m_store->iterations();
    if (!envs || !iterations) {
        qCWarning(lcBot) << "environments: cannot read the store:"
                         << (envs ? iterations.error().message : envs.error().message);
        return;
    }
    for (const model::Environment &environment : std::as_const(*envs)) {
        const auto it = std::find_if(iterations->cbegin(), iterations->cend(),
                                     [&](const model::Iteration &i) { return i.id == environment.iterationId; });
        if (it == iterations->cend())
            continue;
        track(environment, *it);
        if (environment.state == u"deleting") {
            cleanupDue(environment.id);
        } else if (environment.state == u"deleted") {
            continue;
        } else if (it->state == model::Iteration::State::Closed) {
            scheduleCleanup(environment.id, it->closedAt.addSecs(m_manifest.environment.cleanupGraceSeconds));
        } else if (environment.state == u"creating") {
            provision(environment.id);
        }
    }
}

void EnvironmentManager::eventsCommitted(const QList<model::Event> &events)
{
    for (const model::Event &ev : events) {
        if (ev.type == u"iteration.started")
            onIterationStarted(ev.iterationId);
        else if (ev.type == u"iteration.closed")
            onIterationClosed(ev.iterationId);
        else if (ev.type == u"artifact.published") {
            model::Artifact a;
            a.id = qint64(ev.payload.value(u"id").toDouble());
            a.component = ev.payload.value(u"component").toString();
            a.branch = ev.payload.value(u"branch").toString();
            onArtifact(a);
        }
    }
}

void EnvironmentManager::onIterationStarted(qint64 iterationId)
{
    if (Env *e = envOfIteration(iterationId); e && e->cleanup)
        cancelCleanup(e->env.id, true);
    if (m_manifest.environment.create != u"onStart")
        return;
    if (Env *e = envOfIteration(iterationId); e && isLive(e->env))
        return;
    if (auto r = createEnvironment(iterationId); !r)
        qCWarning(lcBot).noquote() << "environment of iteration" << iterationId << "not created:" << r.error();
}

void EnvironmentManager::onIterationClosed(qint64 iterationId)
{
    Env *e = envOfIteration(iterationId);
    if (!e || !isLive(e->env))
        return;
    const auto iteration = iterationById(iterationId);
    if (!iteration || iteration->state != model::Iteration::State::Closed)
        return;
    const QDateTime due = iteration->closedAt.addSecs(m_manifest.environment.cleanupGraceSeconds);
    scheduleCleanup(e->env.id, due);
    record({event(QStringLiteral("environment.cleanupScheduled"), *e,
                  {{QStringLiteral("dueAt"), due.toUTC().toString(Qt::ISODateWithMs)}})});
}

void EnvironmentManager::onArtifact(const model::Artifact &artifact)
{
    for (auto &[id, env] : m_envs) {
        if (!isLive(env.env) || env.deleting)
            continue;
        auto selections = m_store->selections(id);
        if (!selections)
            continue;
        for (const model::Selection &s : std::as_const(*selections)) {
            if (s.component == artifact.component && s.mode == model::Selection::Mode::Follow
                && s.branch == artifact.branch)
                enqueue(id, s.component, m_options.coalesceMs);
        }
    }
}

Expected<model::Environment, QString> EnvironmentManager::createEnvironment(qint64 iterationId)
{
    const auto iteration = iterationById(iterationId);
    if (!iteration)
        return unexpected(QStringLiteral("no iteration with id %1").arg(iterationId));
    if (iteration->state == model::Iteration::State::Closed)
        return unexpected(QStringLiteral("iteration \"%1\" is closed").arg(iteration->name));

    // One environment per iteration: a live one is returned, a deleted one is brought back.
    auto envs = m_store->environments();
    if (!envs)
        return unexpected(envs.error().message);
    std::optional<model::Environment> existing;
    for (const model::Environment &e : std::as_const(*envs)) {
        if (e.iterationId == iterationId)
            existing = e;
    }
    if (existing && existing->state == u"deleting")
        return unexpected(QStringLiteral("the environment %1 is being deleted").arg(existing->nameSpace));
    if (existing && existing->state != u"deleted")
        return *existing;

    const QString slug = model::iterationSlug(iteration->name.isEmpty() ? iteration->key : iteration->name);
    const QMap<QString, QString> vars {{QStringLiteral("project"), m_manifest.project},
                                       {QStringLiteral("iteration"), slug}};
    model::Environment created;
    QList<model::Event> events;
    auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        const QDateTime now = QDateTime::currentDateTimeUtc();
        if (existing) {
            auto revived = tx.setEnvironmentState(existing->id, QStringLiteral("creating"), now);
            if (!revived)
                return unexpected(revived.error());
            created = *revived;
        } else {
            model::Environment env;
            env.iterationId = iterationId;
            env.nameSpace = model::expandTemplate(m_manifest.environment.namespaceTemplate, vars);
            env.domain = model::expandTemplate(m_manifest.environment.domainTemplate, vars);
            env.state = QStringLiteral("creating");
            env.createdAt = now;
            env.updatedAt = now;
            auto stored = tx.createEnvironment(env);
            if (!stored)
                return unexpected(stored.error());
            created = *stored;
            for (const model::ComponentSpec &c : std::as_const(m_manifest.components)) {
                model::Selection s;
                s.environmentId = created.id;
                s.component = c.name;
                s.mode = model::Selection::Mode::Follow;
                s.branch = c.defaultBranch;
                s.updatedBy = QStringLiteral("iterdeck");
                s.updatedAt = now;
                if (auto sel = tx.setSelection(s); !sel)
                    return unexpected(sel.error());
            }
        }
        auto ev = tx.appendEvent(model::Event {0,
                                               {},
                                               QStringLiteral("environment.created"),
                                               iterationId,
                                               created.id,
                                               {{QStringLiteral("namespace"), created.nameSpace},
                                                {QStringLiteral("domain"), created.domain},
                                                {QStringLiteral("iteration"), iteration->key}}});
        if (!ev)
            return unexpected(ev.error());
        events.append(*ev);
        return true;
    });
    if (!r)
        return unexpected(r.error().message);
    track(created, *iteration);
    logEvents(events);
    Q_EMIT eventsAppended(events);
    provision(created.id);
    return created;
}

void EnvironmentManager::provision(qint64 environmentId)
{
    Env *e = envFor(environmentId);
    if (!e || e->provisioning)
        return;
    e->provisioning = true;
    const QJsonObject ns {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                          {QStringLiteral("kind"), QStringLiteral("Namespace")},
                          {QStringLiteral("metadata"),
                           QJsonObject {{QStringLiteral("name"), e->env.nameSpace},
                                        {QStringLiteral("labels"),
                                         QJsonObject {{kProjectLabel, m_manifest.project},
                                                      {kIterationLabel, e->iterationSlug},
                                                      {deploy::kManagedByLabel, deploy::kManagedByValue}}},
                                        {QStringLiteral("annotations"),
                                         QJsonObject {{QStringLiteral("iterdeck.io/iteration-key"), e->iterationKey},
                                                      {QStringLiteral("iterdeck.io/domain"), e->env.domain}}}}}};
    kube::KubeRequest req;
    req.verb = "PATCH";
    req.path = kube::ResourceRef::namespaces().path({}, e->env.nameSpace);
    req.contentType = kube::patchContentType(kube::PatchType::Apply);
    req.body = QJsonDocument(ns).toJson(QJsonDocument::Compact);
    req.query.addQueryItem(QStringLiteral("fieldManager"), QStringLiteral("iterdeck"));
    req.query.addQueryItem(QStringLiteral("force"), QStringLiteral("true"));
    req.retry = true;
    kube::KubeCall *call = m_client->send(req);
    connect(call, &kube::KubeCall::finished, this, [this, call, environmentId] {
        Env *cur = envFor(environmentId);
        if (!cur)
            return;
        cur->provisioning = false;
        if (cur->deleting)
            return continueDeletion(environmentId);
        if (!call->isOk()) {
            record({event(QStringLiteral("environment.failed"), *cur,
                          {{QStringLiteral("message"),
                            QStringLiteral("creating the namespace %1 failed: %2")
                                .arg(cur->env.nameSpace, call->error().toString())}})},
                   environmentId, QStringLiteral("failed"));
            Q_EMIT environmentIdle(environmentId);
            return;
        }
        for (const model::ComponentSpec &c : std::as_const(m_manifest.components))
            enqueue(environmentId, c.name, 0);
        settle(environmentId);
    });
}

void EnvironmentManager::enqueue(qint64 environmentId, const QString &component, int delayMs)
{
    Env *e = envFor(environmentId);
    if (!e || e->deleting)
        return;
    if (!e->pending.contains(component))
        e->pending.append(component);
    if (e->provisioning || e->job)
        return; // picked up when the running work ends
    if (!e->coalesce) {
        e->coalesce = new QTimer(this);
        e->coalesce->setSingleShot(true);
        connect(e->coalesce, &QTimer::timeout, this, [this, environmentId] { runNext(environmentId); });
    }
    // A burst does not push the deploy further out: the first artifact starts the clock.
    if (!e->coalesce->isActive() || delayMs < e->coalesce->remainingTime())
        e->coalesce->start(delayMs);
}

void EnvironmentManager::runNext(qint64 environmentId)
{
    Env *e = envFor(environmentId);
    if (!e || e->job || e->deleting || e->provisioning)
        return;
    while (!e->pending.isEmpty()) {
        const QString name = e->pending.takeFirst();
        const model::ComponentSpec *spec = m_manifest.component(name);
        if (!spec)
            continue;
        auto selections = m_store->selections(environmentId);
        if (!selections) {
            e->failed.insert(name);
            record({event(
                QStringLiteral("deploy.failed"), *e,
                {{QStringLiteral("component"), name}, {QStringLiteral("message"), selections.error().message}})});
            continue;
        }
        const auto sel = std::find_if(selections->cbegin(), selections->cend(),
                                      [&](const model::Selection &s) { return s.component == name; });
        if (sel == selections->cend())
            continue;
        std::optional<model::Artifact> artifact;
        QString waitingFor;
        if (sel->mode == model::Selection::Mode::Follow) {
            auto latest = m_store->latestArtifact(name, sel->branch);
            if (latest && latest->has_value())
                artifact = **latest;
            waitingFor = QStringLiteral("waiting for a build of branch %1").arg(sel->branch);
        } else {
            auto pinned = m_store->artifact(sel->artifactId);
            if (pinned)
                artifact = *pinned;
            waitingFor = QStringLiteral("the pinned artifact %1 is not known").arg(sel->artifactId);
        }
        if (!artifact) {
            record({event(QStringLiteral("deploy.waiting"), *e,
                          {{QStringLiteral("component"), name},
                           {QStringLiteral("branch"), sel->branch},
                           {QStringLiteral("message"), waitingFor}})});
            continue;
        }
        QString error;
        deploy::DeployDriver *driver = driverFor(*spec, &error);
        deploy::DeployTarget target = targetFor(*e, *spec);
        target.tag = artifact->imageTag;
        target.digest = artifact->digest;
        if (!artifact->chartVersion.isEmpty())
            target.chartVersion = artifact->chartVersion;
        QJsonObject payload {{QStringLiteral("component"), name},
                             {QStringLiteral("artifact"), artifact->toJson()},
                             {QStringLiteral("image"), target.imageRef()},
                             {QStringLiteral("driver"), spec->deploy.driver}};
        if (!driver) {
            e->failed.insert(name);
            payload.insert(QStringLiteral("message"), error);
            payload.insert(QStringLiteral("output"), QJsonArray {error});
            record({event(QStringLiteral("deploy.failed"), *e, payload)});
            continue;
        }
        record({event(QStringLiteral("deploy.started"), *e, payload)});
        e->jobComponent = name;
        deploy::DeployJob *job = driver->deploy(target, this);
        e->job = job;
        connect(job, &deploy::DeployJob::finished, this, [this, environmentId, job, payload] {
            Env *cur = envFor(environmentId);
            if (!cur)
                return;
            const deploy::DeployOutcome &out = job->outcome();
            QJsonObject p = payload;
            p.insert(QStringLiteral("message"), out.summary);
            const QString component = payload.value(u"component").toString();
            if (out.ok) {
                cur->failed.remove(component);
                p.insert(QStringLiteral("applied"), QJsonArray::fromStringList(out.applied));
                if (!out.revision.isEmpty())
                    p.insert(QStringLiteral("revision"), out.revision);
                record({event(QStringLiteral("deploy.succeeded"), *cur, p)});
            } else {
                cur->failed.insert(component);
                p.insert(QStringLiteral("output"), tail(out.output, m_options.outputTailLines));
                record({event(QStringLiteral("deploy.failed"), *cur, p)});
            }
            deployFinished(environmentId, job);
        });
        return;
    }
    settle(environmentId);
}

void EnvironmentManager::deployFinished(qint64 environmentId, deploy::DeployJob *job)
{
    job->deleteLater();
    Env *e = envFor(environmentId);
    if (!e)
        return;
    e->job = nullptr;
    e->jobComponent.clear();
    if (e->deleting)
        return continueDeletion(environmentId);
    runNext(environmentId);
}

// With nothing left to do, the state says whether every component's last deploy worked.
void EnvironmentManager::settle(qint64 environmentId)
{
    Env *e = envFor(environmentId);
    if (!e || e->job || e->provisioning || e->deleting || !e->pending.isEmpty())
        return;
    if (e->coalesce && e->coalesce->isActive())
        return;
    const QString state = e->failed.isEmpty() ? QStringLiteral("ready") : QStringLiteral("failed");
    if (e->env.state != state) {
        QJsonObject payload {{QStringLiteral("namespace"), e->env.nameSpace},
                             {QStringLiteral("domain"), e->env.domain}};
        if (!e->failed.isEmpty()) {
            QStringList failed(e->failed.cbegin(), e->failed.cend());
            failed.sort();
            payload.insert(QStringLiteral("failedComponents"), QJsonArray::fromStringList(failed));
        }
        record({event(QStringLiteral("environment.") + state, *e, payload)}, environmentId, state);
    }
    Q_EMIT environmentIdle(environmentId);
}

// Stores the selection with its selection.changed event in one transaction, then deploys it.
Expected<model::Selection, QString> EnvironmentManager::applySelection(const Env &e, const model::Selection &s)
{
    model::Selection stored;
    QList<model::Event> events;
    auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        auto sel = tx.setSelection(s);
        if (!sel)
            return unexpected(sel.error());
        stored = *sel;
        auto ev = tx.appendEvent(event(QStringLiteral("selection.changed"), e, stored.toJson()));
        if (!ev)
            return unexpected(ev.error());
        events.append(*ev);
        return true;
    });
    if (!r)
        return unexpected(r.error().message);
    logEvents(events);
    Q_EMIT eventsAppended(events);
    enqueue(s.environmentId, s.component, 0);
    return stored;
}

Expected<model::Selection, QString> EnvironmentManager::follow(qint64 environmentId, const QString &component,
                                                               const QString &branch, const QString &by)
{
    Env *e = envFor(environmentId);
    if (!e || !isLive(e->env))
        return unexpected(QStringLiteral("no environment with id %1").arg(environmentId));
    if (!m_manifest.component(component))
        return unexpected(QStringLiteral("no component \"%1\"").arg(component));
    if (branch.isEmpty())
        return unexpected(QStringLiteral("the branch is empty"));
    model::Selection s;
    s.environmentId = environmentId;
    s.component = component;
    s.mode = model::Selection::Mode::Follow;
    s.branch = branch;
    s.updatedBy = by;
    s.updatedAt = QDateTime::currentDateTimeUtc();
    return applySelection(*e, s);
}

Expected<model::Selection, QString> EnvironmentManager::pin(qint64 environmentId, const QString &component,
                                                            qint64 artifactId, const QString &by)
{
    Env *e = envFor(environmentId);
    if (!e || !isLive(e->env))
        return unexpected(QStringLiteral("no environment with id %1").arg(environmentId));
    if (!m_manifest.component(component))
        return unexpected(QStringLiteral("no component \"%1\"").arg(component));
    auto artifact = m_store->artifact(artifactId);
    if (!artifact)
        return unexpected(artifact.error().message);
    if (artifact->component != component)
        return unexpected(QStringLiteral("artifact %1 is a build of \"%2\", not of \"%3\"")
                              .arg(artifactId)
                              .arg(artifact->component, component));
    model::Selection s;
    s.environmentId = environmentId;
    s.component = component;
    s.mode = model::Selection::Mode::Pin;
    s.branch = artifact->branch;
    s.artifactId = artifactId;
    s.updatedBy = by;
    s.updatedAt = QDateTime::currentDateTimeUtc();
    return applySelection(*e, s);
}

Expected<bool, QString> EnvironmentManager::redeploy(qint64 environmentId, const QString &component)
{
    Env *e = envFor(environmentId);
    if (!e || !isLive(e->env))
        return unexpected(QStringLiteral("no environment with id %1").arg(environmentId));
    if (!m_manifest.component(component))
        return unexpected(QStringLiteral("no component \"%1\"").arg(component));
    enqueue(environmentId, component, 0);
    return true;
}

bool EnvironmentManager::isDeploying(qint64 environmentId, const QString &component) const
{
    const auto it = m_envs.find(environmentId);
    return it != m_envs.end() && it->second.job && it->second.jobComponent == component;
}

bool EnvironmentManager::isIdle() const
{
    return std::all_of(m_envs.cbegin(), m_envs.cend(), [](const auto &kv) {
        const Env &e = kv.second;
        return !e.job && !e.provisioning && !e.deleting && e.pending.isEmpty()
            && !(e.coalesce && e.coalesce->isActive());
    });
}

void EnvironmentManager::scheduleCleanup(qint64 environmentId, const QDateTime &due)
{
    Env *e = envFor(environmentId);
    if (!e)
        return;
    e->cleanupDue = due;
    if (!e->cleanup) {
        e->cleanup = new QTimer(this);
        e->cleanup->setSingleShot(true);
        connect(e->cleanup, &QTimer::timeout, this, [this, environmentId] { cleanupDue(environmentId); });
    }
    const qint64 ms = std::clamp<qint64>(QDateTime::currentDateTimeUtc().msecsTo(due), 0, kMaxTimerMs);
    e->cleanup->start(int(ms));
}

void EnvironmentManager::cancelCleanup(qint64 environmentId, bool logEvent)
{
    Env *e = envFor(environmentId);
    if (!e || !e->cleanup)
        return;
    e->cleanup->deleteLater();
    e->cleanup = nullptr;
    e->cleanupDue = {};
    if (logEvent)
        record({event(QStringLiteral("environment.cleanupCancelled"), *e,
                      {{QStringLiteral("message"), QStringLiteral("the iteration was reopened")}})});
}

void EnvironmentManager::cleanupDue(qint64 environmentId)
{
    Env *e = envFor(environmentId);
    if (!e || e->deleting)
        return;
    if (e->cleanupDue.isValid() && QDateTime::currentDateTimeUtc() < e->cleanupDue)
        return scheduleCleanup(environmentId, e->cleanupDue); // a long wait, taken in steps
    if (e->env.state != u"deleting") {
        // The iteration may have been reopened while this bot was not running.
        const auto iteration = iterationById(e->env.iterationId);
        if (iteration && iteration->state == model::Iteration::State::Open) {
            cancelCleanup(environmentId, false);
            return;
        }
    }
    beginDeletion(environmentId, {});
}

Expected<bool, QString> EnvironmentManager::destroyEnvironment(qint64 environmentId, const QString &by)
{
    Env *e = envFor(environmentId);
    if (!e || !isLive(e->env) || e->deleting)
        return unexpected(QStringLiteral("no environment with id %1").arg(environmentId));
    beginDeletion(environmentId, by);
    return true;
}

void EnvironmentManager::beginDeletion(qint64 environmentId, const QString &by)
{
    Env *e = envFor(environmentId);
    if (!e || e->deleting)
        return;
    if (e->cleanup) {
        e->cleanup->deleteLater();
        e->cleanup = nullptr;
    }
    e->cleanupDue = {};
    e->deleting = true;
    e->pending.clear();
    if (e->coalesce)
        e->coalesce->stop();
    if (e->env.state != u"deleting") {
        QJsonObject payload {{QStringLiteral("namespace"), e->env.nameSpace}};
        if (!by.isEmpty())
            payload.insert(QStringLiteral("by"), by);
        record({event(QStringLiteral("environment.deleting"), *e, payload)}, environmentId, QStringLiteral("deleting"));
    }
    e->uninstallLeft.clear();
    for (const model::ComponentSpec &c : std::as_const(m_manifest.components))
        e->uninstallLeft.append(c.name);
    if (e->job)
        e->job->cancel(); // its finished() continues the deletion
    else if (!e->provisioning)
        continueDeletion(environmentId);
}

// Uninstalls the components one after the other, then deletes the namespace.
void EnvironmentManager::continueDeletion(qint64 environmentId)
{
    Env *e = envFor(environmentId);
    if (!e || e->job || e->provisioning)
        return;
    while (!e->uninstallLeft.isEmpty()) {
        const QString name = e->uninstallLeft.takeFirst();
        const model::ComponentSpec *spec = m_manifest.component(name);
        if (!spec)
            continue;
        QString error;
        deploy::DeployDriver *driver = driverFor(*spec, &error);
        if (!driver)
            continue; // nothing was deployed with it; the namespace goes anyway
        deploy::DeployJob *job = driver->uninstall(targetFor(*e, *spec), this);
        e->job = job;
        e->jobComponent = name;
        connect(job, &deploy::DeployJob::finished, this, [this, environmentId, job, name] {
            Env *cur = envFor(environmentId);
            if (!cur)
                return;
            const deploy::DeployOutcome &out = job->outcome();
            if (!out.ok)
                qCWarning(lcBot).noquote()
                    << "uninstalling" << name << "from" << cur->env.nameSpace << "failed:" << out.summary;
            job->deleteLater();
            cur->job = nullptr;
            cur->jobComponent.clear();
            continueDeletion(environmentId);
        });
        return;
    }
    deleteNamespace(environmentId);
}

void EnvironmentManager::deleteNamespace(qint64 environmentId)
{
    Env *e = envFor(environmentId);
    if (!e)
        return;
    kube::KubeCall *call = m_client->remove(kube::ResourceRef::namespaces(), {}, e->env.nameSpace);
    connect(call, &kube::KubeCall::finished, this, [this, call, environmentId] {
        Env *cur = envFor(environmentId);
        if (!cur)
            return;
        cur->deleting = false;
        cur->failed.clear();
        if (!call->isOk() && call->error().httpStatus != 404) {
            record({event(QStringLiteral("environment.failed"), *cur,
                          {{QStringLiteral("message"),
                            QStringLiteral("deleting the namespace %1 failed: %2")
                                .arg(cur->env.nameSpace, call->error().toString())}})},
                   environmentId, QStringLiteral("failed"));
        } else {
            record({event(QStringLiteral("environment.deleted"), *cur,
                          {{QStringLiteral("namespace"), cur->env.nameSpace}})},
                   environmentId, QStringLiteral("deleted"));
        }
        Q_EMIT environmentIdle(environmentId);
    });
}

deploy::DeployDriver *EnvironmentManager::driverFor(const model::ComponentSpec &component, QString *error)
{
    if (auto it = m_drivers.find(component.name); it != m_drivers.end())
        return it->second.get();
    std::unique_ptr<deploy::DeployDriver> driver;
    if (component.deploy.driver == u"manifests") {
        QString dir = component.deploy.manifestsPath;
        if (QFileInfo(dir).isRelative())
            dir = QDir::cleanPath(QDir(m_options.manifestDir).filePath(dir));
        if (!QFileInfo(dir).isDir()) {
            *error
                = QStringLiteral("component \"%1\": the manifests folder %2 does not exist").arg(component.name, dir);
            return nullptr;
        }
        deploy::ManifestsDriver::Options o;
        o.directory = dir;
        o.rolloutTimeoutMs = m_options.rolloutTimeoutMs;
        driver = std::make_unique<deploy::ManifestsDriver>(m_client, o);
    } else if (component.deploy.driver == u"helm") {
        deploy::HelmSettings s;
        s.chart = component.deploy.chart;
        if (s.chart.startsWith(u"./") || s.chart.startsWith(u"../"))
            s.chart = QDir::cleanPath(QDir(m_options.manifestDir).filePath(s.chart));
        s.release = component.deploy.releaseName;
        s.kubeconfig = m_manifest.cluster.kubeconfig;
        s.context = m_manifest.cluster.context;
        driver = std::make_unique<deploy::HelmDriver>(s);
    } else {
        *error = QStringLiteral("component \"%1\": unknown deploy driver \"%2\"")
                     .arg(component.name, component.deploy.driver);
        return nullptr;
    }
    return m_drivers.emplace(component.name, std::move(driver)).first->second.get();
}

deploy::DeployTarget EnvironmentManager::targetFor(const Env &env, const model::ComponentSpec &component) const
{
    deploy::DeployTarget t;
    t.project = m_manifest.project;
    t.iteration = env.iterationSlug;
    t.ns = env.env.nameSpace;
    t.domain = model::expandTemplate(m_manifest.environment.domainTemplate,
                                     {{QStringLiteral("project"), m_manifest.project},
                                      {QStringLiteral("iteration"), env.iterationSlug},
                                      {QStringLiteral("component"), component.name}});
    t.component = component.name;
    t.image = component.image;
    if (component.deploy.versionPolicy != u"latest")
        t.chartVersion = component.deploy.versionPolicy;
    t.values = component.values.value(m_manifest.environment.valuesClass);
    return t;
}

model::Event EnvironmentManager::event(const QString &type, const Env &env, QJsonObject payload) const
{
    payload.insert(QStringLiteral("namespace"), env.env.nameSpace);
    return model::Event {0, {}, type, env.env.iterationId, env.env.id, payload};
}

void EnvironmentManager::record(QList<model::Event> events, qint64 environmentId, const QString &state)
{
    QList<model::Event> committed;
    std::optional<model::Environment> updated;
    auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        committed.clear();
        if (!state.isEmpty()) {
            auto env = tx.setEnvironmentState(environmentId, state, QDateTime::currentDateTimeUtc());
            if (!env)
                return unexpected(env.error());
            updated = *env;
        }
        for (const model::Event &ev : std::as_const(events)) {
            auto stored = tx.appendEvent(ev);
            if (!stored)
                return unexpected(stored.error());
            committed.append(*stored);
        }
        return true;
    });
    if (!r) {
        qCWarning(lcBot).noquote() << "environments: recording" << events.constFirst().type
                                   << "failed:" << r.error().message;
        return;
    }
    if (updated) {
        if (Env *e = envFor(environmentId))
            e->env = *updated;
    }
    logEvents(committed);
    Q_EMIT eventsAppended(committed);
}

} // namespace iterdeck::bot
