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
    auto parsed = verifyAndParse(*hook.parser, request, hook.secret);
    if (!parsed) {
        const bool auth = parsed.error().code == WebhookError::Code::Unauthenticated;
        return failure(auth ? WebhookOutcome::Kind::Unauthenticated : WebhookOutcome::Kind::Malformed,
                       parsed.error().httpStatus(), parsed.error().message);
    }
    ParsedDelivery &d = *parsed;

    // Artifacts of no known component are left out, and said why.
    const ComponentResolver resolver(m_manifest);
    QStringList notes;
    QList<WebhookEvent> events;
    for (WebhookEvent &e : d.events) {
        if (auto *a = std::get_if<ArtifactPublished>(&e)) {
            QString why;
            const QString component = resolver.resolve(*a, &why);
            if (component.isEmpty()) {
                notes.append(why);
                continue;
            }
            a->artifact.component = component;
            a->artifact.source = hook.name;
        }
        events.append(e);
    }

    WebhookOutcome out;
    out.deliveryId = d.deliveryId;
    bool duplicate = false;
    QList<model::Event> appended;
    QElapsedTimer timer;
    timer.start();
    auto committed = m_store.transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        appended.clear();
        auto fresh
            = tx.insertDelivery(DeliveryRecord {hook.name, d.deliveryId, d.event, QDateTime::currentDateTimeUtc()});
        if (!fresh)
            return unexpected(fresh.error());
        if (!*fresh) {
            duplicate = true;
            return true;
        }
        auto append
            = [&](const QString &type, qint64 iterationId, const QJsonObject &payload) -> Expected<bool, StoreError> {
            QJsonObject p = payload;
            p.insert(QStringLiteral("source"), hook.name);
            p.insert(QStringLiteral("delivery"), d.deliveryId);
            auto ev = tx.appendEvent(model::Event {0, {}, type, iterationId, 0, p});
            if (!ev)
                return unexpected(ev.error());
            appended.append(*ev);
            return true;
        };
        for (const WebhookEvent &e : std::as_const(events)) {
            if (const auto *c = std::get_if<IterationChange>(&e)) {
                Expected<model::Iteration, StoreError> it = unexpected(StoreError {});
                QString type;
                switch (c->kind) {
                case IterationChange::Kind::Started:
                    it = tx.openIteration(c->key, c->name, c->url, c->at);
                    if (it && c->hasMembers)
                        it = tx.setMembers(c->key, c->members);
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
                    notes.append(QStringLiteral("iteration %1 is not known").arg(c->key));
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
    });
    if (m_metrics)
        m_metrics->storeLatency(double(timer.nsecsElapsed()) / 1e9);
    if (!committed) {
        if (m_metrics)
            m_metrics->storeFailure();
        // Not acknowledged: the sender retries, and the retry is processed as new.
        qCWarning(lcBot, "hook %s: delivery %s not recorded: %s", qPrintable(hook.name), qPrintable(d.deliveryId),
                  qPrintable(committed.error().message));
        auto f
            = failure(WebhookOutcome::Kind::StoreFailed, 503, QStringLiteral("the store is unavailable; retry later"));
        f.deliveryId = d.deliveryId;
        return f;
    }
    if (m_metrics)
        m_metrics->eventsAppended(int(appended.size()));
    if (duplicate) {
        out.kind = WebhookOutcome::Kind::Duplicate;
        out.httpStatus = 200;
        out.message = QStringLiteral("already processed");
    } else if (appended.isEmpty()) {
        out.kind = WebhookOutcome::Kind::Ignored;
        out.httpStatus = 202;
        if (!d.ignoredReason.isEmpty())
            notes.prepend(d.ignoredReason);
        out.message = notes.join(QStringLiteral("; "));
    } else {
        out.kind = WebhookOutcome::Kind::Processed;
        out.httpStatus = 200;
        out.events = appended;
        out.message = QStringLiteral("%1 events").arg(appended.size());
        if (!notes.isEmpty())
            out.message += QStringLiteral(" (") + notes.join(QStringLiteral("; ")) + u')';
    }
    out.body = QJsonObject {{QStringLiteral("status"), webhookOutcomeName(out.kind)},
                            {QStringLiteral("delivery"), d.deliveryId}};
    if (out.kind == WebhookOutcome::Kind::Ignored)
        out.body.insert(QStringLiteral("reason"), out.message);
    if (!appended.isEmpty()) {
        QJsonArray seqs;
        for (const auto &e : std::as_const(appended))
            seqs.append(e.seq);
        out.body.insert(QStringLiteral("events"), seqs);
    }
    if (!notes.isEmpty() && out.kind == WebhookOutcome::Kind::Processed)
        out.body.insert(QStringLiteral("notes"), QJsonArray::fromStringList(notes));
    return out;
}

} // namespace iterdeck::bot
