#include "webhookprocessor.h"

#include "componentresolver.h"
#include "logging.h"

#include <QElapsedTimer>
#include <QJsonArray>

namespace iterdeck::bot {

QString webhookOutcomeName(WebhookOutcome::Kind kind)
{
    switch (kind) {
    case WebhookOutcome::Kind::Processed:
        return QStringLiteral("processed");
    case WebhookOutcome::Kind::Duplicate:
        return QStringLiteral("duplicate");
    case WebhookOutcome::Kind::Ignored:
        return QStringLiteral("ignored");
    case WebhookOutcome::Kind::Unauthenticated:
        return QStringLiteral("unauthenticated");
    case WebhookOutcome::Kind::Malformed:
        return QStringLiteral("malformed");
    case WebhookOutcome::Kind::StoreFailed:
        return QStringLiteral("store-unavailable");
    }
    return {};
}

namespace {

WebhookOutcome failure(WebhookOutcome::Kind kind, int status, const QString &message)
{
    WebhookOutcome o;
    o.kind = kind;
    o.httpStatus = status;
    o.message = message;
    o.body = QJsonObject {{QStringLiteral("error"), webhookOutcomeName(kind)}, {QStringLiteral("message"), message}};
    return o;
}

QJsonObject iterationPayload(const model::Iteration &it)
{
    return QJsonObject {{QStringLiteral("key"), it.key},
                        {QStringLiteral("name"), it.name},
                        {QStringLiteral("url"), it.url},
                        {QStringLiteral("members"), QJsonArray::fromStringList(it.members)}};
}

} // namespace

WebhookProcessor::WebhookProcessor(Store &store, const model::TeamManifest &manifest, Metrics *metrics)
    : m_store(store)
    , m_manifest(manifest)
    , m_metrics(metrics)
{ }

WebhookOutcome WebhookProcessor::process(const WebhookHook &hook, const WebhookRequest &request)
{
    auto prepared = prepare(hook, request);
    if (!prepared)
        return prepared.error();
    return commit({*prepared}).constFirst();
}

Expected<PreparedDelivery, WebhookOutcome> WebhookProcessor::prepare(const WebhookHook &hook,
                                                                     const WebhookRequest &request) const
{
    auto parsed = verifyAndParse(*hook.parser, request, hook.secret);
    if (!parsed) {
        const bool auth = parsed.error().code == WebhookError::Code::Unauthenticated;
        return unexpected(failure(auth ? WebhookOutcome::Kind::Unauthenticated : WebhookOutcome::Kind::Malformed,
                                  parsed.error().httpStatus(), parsed.error().message));
    }
    PreparedDelivery p {hook, std::move(*parsed), {}, {}};
    // Artifacts of no known component are left out, and said why.
    const ComponentResolver resolver(m_manifest);
    for (WebhookEvent &e : p.delivery.events) {
        if (auto *a = std::get_if<ArtifactPublished>(&e)) {
            QString why;
            const QString component = resolver.resolve(*a, &why);
            if (component.isEmpty()) {
                p.notes.append(why);
                continue;
            }
            a->artifact.component = component;
            a->artifact.source = hook.name;
        }
        p.events.append(e);
    }
    p.delivery.events.clear();
    return p;
}

Expected<bool, StoreError> WebhookProcessor::apply(StoreTransaction &tx, const PreparedDelivery &p,
                                                   Applied &applied) const
{
    const ParsedDelivery &d = p.delivery;
    applied = Applied {false, {}, p.notes};
    auto fresh
        = tx.insertDelivery(DeliveryRecord {p.hook.name, d.deliveryId, d.event, QDateTime::currentDateTimeUtc()});
    if (!fresh)
        return unexpected(fresh.error());
    if (!*fresh) {
        applied.duplicate = true;
        return true;
    }
    auto append
        = [&](const QString &type, qint64 iterationId, const QJsonObject &payload) -> Expected<bool, StoreError> {
        QJsonObject pl = payload;
        pl.insert(QStringLiteral("source"), p.hook.name);
        pl.insert(QStringLiteral("delivery"), d.deliveryId);
        auto ev = tx.appendEvent(model::Event {0, {}, type, iterationId, 0, pl});
        if (!ev)
            return unexpected(ev.error());
        applied.events.append(*ev);
        return true;
    };
    for (const WebhookEvent &e : p.events) {
        if (const auto *c = std::get_if<IterationChange>(&e)) {
            Expected<model::Iteration, StoreError> it = unexpected(StoreError {});
            QString type;
            switch (c->kind) {
            case IterationChange::Kind::Started:
                it = tx.openIteration(c->key, c->name, c->url, c->at);
                if (it && c->hasMembers) {
                    it = tx.setMembers(c->key, c->members);
                } else if (it && it->members.isEmpty() && !m_manifest.people.isEmpty()) {
                    // A source that names no members (a GitHub or GitLab milestone, a Jira
                    // sprint): the team of the manifest, until an iteration.members event says
                    // otherwise.
                    QStringList team;
                    for (const model::Person &p : m_manifest.people)
                        team.append(p.name);
                    it = tx.setMembers(c->key, team);
                }
                type = QStringLiteral("iteration.started");
                break;
            case IterationChange::Kind::Closed:
                it = tx.closeIteration(c->key, c->at);
                type = QStringLiteral("iteration.closed");
                break;
            case IterationChange::Kind::MembersChanged:
                it = tx.setMembers(c->key, c->members);
                type = QStringLiteral("iteration.members");
                break;
            }
            if (!it && it.error().code == StoreError::Code::NotFound) {
                applied.notes.append(QStringLiteral("iteration %1 is not known").arg(c->key));
                continue;
            }
            if (!it)
                return unexpected(it.error());
            if (auto r = append(type, it->id, iterationPayload(*it)); !r)
                return r;
        } else {
            const auto &a = std::get<ArtifactPublished>(e);
            auto stored = tx.addArtifact(a.artifact);
            if (!stored)
                return unexpected(stored.error());
            if (auto r = append(QStringLiteral("artifact.published"), 0, stored->toJson()); !r)
                return r;
        }
    }
    return true;
}

QList<WebhookOutcome> WebhookProcessor::commit(const QList<PreparedDelivery> &batch)
{
    QList<WebhookOutcome> outcomes;
    if (batch.isEmpty())
        return outcomes;
    QList<Applied> applied(batch.size());
    QElapsedTimer timer;
    timer.start();
    auto committed = m_store.transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        for (qsizetype i = 0; i < batch.size(); ++i) {
            if (auto r = apply(tx, batch.at(i), applied[i]); !r)
                return r;
        }
        return true;
    });
    if (m_metrics)
        m_metrics->storeLatency(double(timer.nsecsElapsed()) / 1e9);
    if (!committed) {
        if (m_metrics)
            m_metrics->storeFailure();
        if (batch.size() > 1) {
            qCWarning(lcBot, "%d deliveries not recorded together (%s); one at a time now", int(batch.size()),
                      qPrintable(committed.error().message));
            for (const PreparedDelivery &p : batch)
                outcomes.append(commit({p}).constFirst());
            return outcomes;
        }
        return {storeFailed(batch.constFirst(), committed.error())};
    }
    int appended = 0;
    for (qsizetype i = 0; i < batch.size(); ++i) {
        appended += int(applied.at(i).events.size());
        outcomes.append(outcome(batch.at(i), applied.at(i)));
    }
    if (m_metrics)
        m_metrics->eventsAppended(appended);
    return outcomes;
}

WebhookOutcome WebhookProcessor::storeFailed(const PreparedDelivery &p, const StoreError &error) const
{
    // Not acknowledged: the sender retries, and the retry is processed as new.
    qCWarning(lcBot, "hook %s: delivery %s not recorded: %s", qPrintable(p.hook.name),
              qPrintable(p.delivery.deliveryId), qPrintable(error.message));
    auto f = failure(WebhookOutcome::Kind::StoreFailed, 503, QStringLiteral("the store is unavailable; retry later"));
    f.deliveryId = p.delivery.deliveryId;
    return f;
}

WebhookOutcome WebhookProcessor::outcome(const PreparedDelivery &p, const Applied &applied) const
{
    const ParsedDelivery &d = p.delivery;
    WebhookOutcome out;
    out.deliveryId = d.deliveryId;
    QStringList notes = applied.notes;
    if (applied.duplicate) {
        out.kind = WebhookOutcome::Kind::Duplicate;
        out.httpStatus = 200;
        out.message = QStringLiteral("already processed");
    } else if (applied.events.isEmpty()) {
        out.kind = WebhookOutcome::Kind::Ignored;
        out.httpStatus = 202;
        if (!d.ignoredReason.isEmpty())
            notes.prepend(d.ignoredReason);
        out.message = notes.join(QStringLiteral("; "));
    } else {
        out.kind = WebhookOutcome::Kind::Processed;
        out.httpStatus = 200;
        out.events = applied.events;
        out.message = QStringLiteral("%1 events").arg(applied.events.size());
        if (!notes.isEmpty())
            out.message += QStringLiteral(" (") + notes.join(QStringLiteral("; ")) + u')';
    }
    out.body = QJsonObject {{QStringLiteral("status"), webhookOutcomeName(out.kind)},
                            {QStringLiteral("delivery"), d.deliveryId}};
    if (out.kind == WebhookOutcome::Kind::Ignored)
        out.body.insert(QStringLiteral("reason"), out.message);
    if (!applied.events.isEmpty()) {
        QJsonArray seqs;
        for (const auto &e : applied.events)
            seqs.append(e.seq);
        out.body.insert(QStringLiteral("events"), seqs);
    }
    if (!notes.isEmpty() && out.kind == WebhookOutcome::Kind::Processed)
        out.body.insert(QStringLiteral("notes"), QJsonArray::fromStringList(notes));
    return out;
}

} // namespace iterdeck::bot
