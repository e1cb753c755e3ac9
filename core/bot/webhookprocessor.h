#pragma once

#include "metrics.h"
#include "model/event.h"
#include "model/teammanifest.h"
#include "store.h"
#include "webhook.h"

#include <QJsonObject>
#include <QList>
#include <QString>

#include <memory>

namespace iterdeck::bot {

// One configured hook: POST /hooks/<name>.
struct WebhookHook
{
    QString name;
    QString kind;
    QByteArray secret;
    std::shared_ptr<const WebhookParser> parser;
};

// What became of one webhook request, and how to answer it.
struct WebhookOutcome
{
    enum class Kind { Processed, Duplicate, Ignored, Unauthenticated, Malformed, StoreFailed };
    Kind kind = Kind::Processed;
    int httpStatus = 200;
    QJsonObject body; // the JSON answer
    QString deliveryId;
    QList<model::Event> events; // committed, in order
    QString message; // for the log
};

// A verified and parsed delivery, its artifacts resolved to components, ready to commit.
struct PreparedDelivery
{
    WebhookHook hook;
    ParsedDelivery delivery;
    QList<WebhookEvent> events; // the ones to record
    QStringList notes; // why others were left out
};

// Verify → parse → resolve components → one transaction: record the delivery (dedupe), its
// effects on iterations and artifacts, and their events. The answer is built only after the
// commit, so an acknowledged delivery is durable, and a retried one is processed once.
class WebhookProcessor
{
public:
    WebhookProcessor(Store &store, const model::TeamManifest &manifest, Metrics *metrics = nullptr);

    WebhookOutcome process(const WebhookHook &hook, const WebhookRequest &request);

    // The two halves of process(). prepare() touches no store; its error is the answer.
    Expected<PreparedDelivery, WebhookOutcome> prepare(const WebhookHook &hook, const WebhookRequest &request) const;
    // Commits deliveries in one transaction (group commit: one sync to disk for all of them),
    // one outcome each, in order. When that transaction fails, each delivery is tried again in
    // a transaction of its own, so one delivery cannot fail the others.
    QList<WebhookOutcome> commit(const QList<PreparedDelivery> &batch);

private:
    struct Applied
    {
        bool duplicate = false;
        QList<model::Event> events;
        QStringList notes;
    };
    Expected<bool, StoreError> apply(StoreTransaction &tx, const PreparedDelivery &p, Applied &applied) const;
    WebhookOutcome outcome(const PreparedDelivery &p, const Applied &applied) const;
    WebhookOutcome storeFailed(const PreparedDelivery &p, const StoreError &error) const;

    Store &m_store;
    const model::TeamManifest &m_manifest;
    Metrics *m_metrics;
};

QString webhookOutcomeName(WebhookOutcome::Kind kind);

} // namespace iterdeck::bot
