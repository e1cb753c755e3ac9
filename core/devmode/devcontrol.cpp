#include "devcontrol.h"

#include "devsupport.h"
#include "kube/kubeclient.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QPointer>

#include <memory>

namespace iterdeck::devmode {

using namespace iterdeck::kube;

namespace {

QJsonObject metaOf(const QJsonObject &o)
{
    return o.value(QStringLiteral("metadata")).toObject();
}

DevRecord recordOf(const QJsonObject &o, WorkloadKind kind)
{
    const QJsonObject meta = metaOf(o);
    const QJsonObject ann = meta.value(QStringLiteral("annotations")).toObject();
    const QJsonObject labels = meta.value(QStringLiteral("labels")).toObject();
    DevRecord r;
    r.ns = meta.value(QStringLiteral("namespace")).toString();
    r.workload.kind = kind;
    r.devName = meta.value(QStringLiteral("name")).toString();
    r.mode = ann.value(keys::mode).toString();
    r.workload.name = r.mode == u"duplicate" ? labels.value(keys::duplicateOf).toString() : r.devName;
    r.owner = ann.value(keys::owner).toString();
    r.userLabel = labels.value(keys::user).toString();
    r.since = ann.value(keys::since).toString();
    r.configSource = ann.value(keys::configSource).toString();
    r.container = ann.value(keys::container).toString();
    r.image = ann.value(keys::image).toString();
    r.workDir = ann.value(keys::workDir).toString();
    r.localDir = ann.value(keys::localDir).toString();
    r.commands
        = QJsonDocument::fromJson(ann.value(QStringLiteral("dev.iterdeck.io/commands")).toString().toUtf8()).object();
    r.selector = selectorString(o);
    return r;
}

struct End
{
    KubeClient *client;
    QPointer<QObject> context;
    QString ns;
    WorkloadRef workload;
    Owner owner;
    bool force = false;
    EndResult result;
    QJsonObject original;
    int attempts = 0;
    std::function<void(const EndResult &)> done;

    void finish(const QString &error = {})
    {
        result.error = error;
        done(result);
    }
};

void restoreWorkload(std::shared_ptr<End> e);

void verifyRestore(std::shared_ptr<End> e)
{
    KubeCall *call = e->client->get(workloadResource(e->workload.kind), e->ns, e->workload.name);
    QObject::connect(call, &KubeCall::finished, e->context, [e, call] {
        if (!call->isOk()) {
            e->finish(QStringLiteral("restored, but reading it back failed: ") + call->error().toString());
            return;
        }
        e->result.differences
            = differences(e->original.value(QStringLiteral("spec")), call->object()->value(QStringLiteral("spec")));
        e->finish();
    });
}

void restoreWorkload(std::shared_ptr<End> e)
{
    KubeCall *call = e->client->get(workloadResource(e->workload.kind), e->ns, e->workload.name);
    QObject::connect(call, &KubeCall::finished, e->context, [e, call] {
        if (!call->isOk()) {
            e->finish(call->error().toString());
            return;
        }
        const QJsonObject live = *call->object();
        const QJsonArray patch = restorePatch(live, e->original);
        KubeCall *p = e->client->patch(workloadResource(e->workload.kind), e->ns, e->workload.name, PatchType::Json,
                                       QJsonDocument(patch).toJson(QJsonDocument::Compact));
        QObject::connect(p, &KubeCall::finished, e->context, [e, p] {
            if (p->isOk()) {
                verifyRestore(e);
                return;
            }
            // The resourceVersion test failed: someone (a controller) wrote meanwhile. Read again.
            const int status = p->error().httpStatus;
            if ((status == 409 || status == 422) && ++e->attempts < 5) {
                restoreWorkload(e);
                return;
            }
            e->finish(QStringLiteral("restoring %1: %2").arg(e->workload.shortName(), p->error().toString()));
        });
    });
}

// HPAs first: with them still clamped to one, the restored replica count would be cut back.
void restoreHpas(std::shared_ptr<End> e, std::function<void()> next)
{
    KubeCall *call = e->client->list(hpaResource(), e->ns);
    QObject::connect(call, &KubeCall::finished, e->context, [e, call, next] {
        if (!call->isOk()) {
            if (call->error().isNotFound()) {
                next();
                return;
            }
            e->finish(QStringLiteral("listing autoscalers: ") + call->error().toString());
            return;
        }
        auto pending = std::make_shared<int>(1);
        auto failed = std::make_shared<QString>();
        auto one = [e, pending, failed, next] {
            if (--*pending > 0)
                return;
            if (!failed->isEmpty())
                e->finish(*failed);
            else
                next();
        };
        for (const QJsonValue &v : call->object()->value(QStringLiteral("items")).toArray()) {
            const QJsonObject h = v.toObject();
            const QJsonObject ann = metaOf(h).value(QStringLiteral("annotations")).toObject();
            if (ann.value(keys::hpaTarget).toString() != e->workload.shortName())
                continue;
            const QJsonObject saved
                = QJsonDocument::fromJson(ann.value(keys::hpaOriginal).toString().toUtf8()).object();
            QJsonObject spec;
            for (const char *k : {"minReplicas", "maxReplicas"}) {
                if (saved.contains(QLatin1String(k)) && !saved.value(QLatin1String(k)).isNull())
                    spec.insert(QLatin1String(k), saved.value(QLatin1String(k)));
            }
            const QJsonObject patch {{QStringLiteral("metadata"),
                                      QJsonObject {{QStringLiteral("annotations"),
                                                    QJsonObject {{keys::hpaOriginal, QJsonValue::Null},
                                                                 {keys::hpaTarget, QJsonValue::Null}}}}},
                                     {QStringLiteral("spec"), spec}};
            const QString name = metaOf(h).value(QStringLiteral("name")).toString();
            ++*pending;
            KubeCall *p = e->client->patch(hpaResource(), e->ns, name, PatchType::Merge,
                                           QJsonDocument(patch).toJson(QJsonDocument::Compact));
            QObject::connect(p, &KubeCall::finished, e->context, [e, p, name, one, failed] {
                if (p->isOk())
                    e->result.restoredHpas << name;
                else
                    *failed
                        = QStringLiteral("restoring horizontalpodautoscaler/%1: %2").arg(name, p->error().toString());
                one();
            });
        }
        one();
    });
}

void endCopy(std::shared_ptr<End> e)
{
    const QString copy = duplicateName(e->workload.name, e->owner);
    KubeCall *call = e->client->get(workloadResource(e->workload.kind), e->ns, copy);
    QObject::connect(call, &KubeCall::finished, e->context, [e, call, copy] {
        if (!call->isOk()) {
            if (!call->error().isNotFound()) {
                e->finish(call->error().toString());
                return;
            }
            // Not in dev mode; an autoscaler may still be clamped by a start that failed half-way.
            restoreHpas(e, [e] {
                e->result.notInDevMode = e->result.restoredHpas.isEmpty();
                e->finish(e->result.notInDevMode ? QStringLiteral("%1 is not in dev mode in namespace \"%2\"")
                                                       .arg(e->workload.shortName(), e->ns)
                                                 : QString());
            });
            return;
        }
        e->result.mode = QStringLiteral("duplicate");
        DeleteOptions opts;
        opts.propagationPolicy = QStringLiteral("Background");
        KubeCall *del = e->client->remove(workloadResource(e->workload.kind), e->ns, copy, opts);
        QObject::connect(del, &KubeCall::finished, e->context, [e, del, copy] {
            if (!del->isOk() && !del->error().isNotFound()) {
                e->finish(QStringLiteral("deleting %1: %2").arg(copy, del->error().toString()));
                return;
            }
            e->result.deletedCopy = copy;
            restoreHpas(e, [e] { e->finish(); }); // none in duplicate mode, unless an older session left one
        });
    });
}

} // namespace

void listDevWorkloads(KubeClient *client, QObject *context, const QString &ns, const Owner *owner,
                      std::function<void(const QList<DevRecord> &, const KubeError &)> done)
{
    struct State
    {
        int pending = 2;
        QList<DevRecord> records;
        KubeError error;
    };
    auto state = std::make_shared<State>();
    ListOptions lo;
    lo.labelSelector = owner ? keys::user + u'=' + owner->label() : keys::user;
    for (WorkloadKind kind : {WorkloadKind::Deployment, WorkloadKind::StatefulSet}) {
        KubeCall *call = client->list(workloadResource(kind), ns, lo);
        QObject::connect(call, &KubeCall::finished, context, [call, kind, state, done] {
            if (!call->isOk())
                state->error = call->error();
            else {
                for (const QJsonValue &v : call->object()->value(QStringLiteral("items")).toArray())
                    state->records << recordOf(v.toObject(), kind);
            }
            if (--state->pending > 0)
                return;
            std::sort(state->records.begin(), state->records.end(), [](const DevRecord &a, const DevRecord &b) {
                return std::tie(a.ns, a.devName) < std::tie(b.ns, b.devName);
            });
            done(state->records, state->error);
        });
    }
}

void endDevMode(KubeClient *client, QObject *context, const QString &ns, const WorkloadRef &workload,
                const Owner &owner, bool force, std::function<void(const EndResult &)> done)
{
    auto e = std::make_shared<End>();
    e->client = client;
    e->context = context;
    e->ns = ns;
    e->workload = workload;
    e->owner = owner;
    e->force = force;
    e->done = std::move(done);
    e->result.ns = ns;
    e->result.workload = workload.shortName();
    KubeCall *call = client->get(workloadResource(workload.kind), ns, workload.name);
    QObject::connect(call, &KubeCall::finished, context, [e, call] {
        if (!call->isOk() && !call->error().isNotFound()) {
            e->finish(call->error().toString());
            return;
        }
        const QJsonObject live = call->isOk() ? *call->object() : QJsonObject();
        const QJsonObject meta = metaOf(live);
        const QJsonObject ann = meta.value(QStringLiteral("annotations")).toObject();
        const QString saved = ann.value(keys::original).toString();
        if (saved.isEmpty()) {
            endCopy(e); // not in replace mode: maybe this user's copy
            return;
        }
        const QString user = meta.value(QStringLiteral("labels")).toObject().value(keys::user).toString();
        if (user != e->owner.label() && !e->force) {
            e->finish(QStringLiteral("%1 is in dev mode by %2, not by you: add --force to end it anyway")
                          .arg(e->workload.shortName(), ann.value(keys::owner).toString()));
            return;
        }
        QJsonParseError perr;
        e->original = QJsonDocument::fromJson(saved.toUtf8(), &perr).object();
        if (perr.error != QJsonParseError::NoError || !e->original.contains(QStringLiteral("spec"))) {
            e->finish(QStringLiteral("the saved original of %1 (annotation %2) is damaged: %3")
                          .arg(e->workload.shortName(), keys::original, perr.errorString()));
            return;
        }
        e->result.mode = QStringLiteral("replace");
        restoreHpas(e, [e] { restoreWorkload(e); });
    });
}

void resetDevMode(KubeClient *client, QObject *context, const QString &ns, const Owner &owner,
                  std::function<void(const QList<EndResult> &, const KubeError &)> done)
{
    listDevWorkloads(client, context, ns, &owner,
                     [client, context, owner, done](const QList<DevRecord> &records, const KubeError &error) {
                         if (error.isError()) {
                             done({}, error);
                             return;
                         }
                         auto results = std::make_shared<QList<EndResult>>();
                         auto next = std::make_shared<std::function<void(int)>>();
                         QPointer<QObject> ctx(context);
                         *next = [client, ctx, owner, done, records, results, next](int i) {
                             if (i >= records.size()) {
                                 done(*results, {});
                                 *next = nullptr; // breaks the cycle
                                 return;
                             }
                             const DevRecord &r = records.at(i);
                             endDevMode(client, ctx, r.ns, r.workload, owner, false,
                                        [results, next, i](const EndResult &res) {
                                            *results << res;
                                            (*next)(i + 1);
                                        });
                         };
                         (*next)(0);
                     });
}

void locateDevPod(KubeClient *client, QObject *context, const QString &ns, const WorkloadRef &workload,
                  const Owner &owner, std::function<void(const DevRecord &, const QString &)> done)
{
    listDevWorkloads(
        client, context, ns, nullptr,
        [client, context, ns, workload, owner, done](const QList<DevRecord> &records, const KubeError &error) {
            if (error.isError()) {
                done({}, error.toString());
                return;
            }
            const DevRecord *found = nullptr;
            for (const DevRecord &r : records) {
                if (r.workload.kind != workload.kind || r.workload.name != workload.name)
                    continue;
                if (r.mode == u"duplicate" && r.userLabel != owner.label())
                    continue;
                if (!found || r.userLabel == owner.label())
                    found = &r;
            }
            if (!found) {
                done({},
                     QStringLiteral(
                         "%1 is not in dev mode in namespace \"%2\": start it with \"iterdeckctl dev start %1 -n %2\"")
                         .arg(workload.shortName(), ns));
                return;
            }
            const DevRecord record = *found;
            ListOptions lo;
            lo.labelSelector = record.selector;
            KubeCall *call = client->list(ResourceRef::pods(), ns, lo);
            QObject::connect(call, &KubeCall::finished, context, [call, record, done] {
                if (!call->isOk()) {
                    done(record, call->error().toString());
                    return;
                }
                for (const QJsonValue &v : call->object()->value(QStringLiteral("items")).toArray()) {
                    if (isReadyDevPod(v.toObject(), record.container, record.image)) {
                        DevRecord r = record;
                        r.pod = metaOf(v.toObject()).value(QStringLiteral("name")).toString();
                        done(r, {});
                        return;
                    }
                }
                done(record, QStringLiteral("no dev pod of %1 is running yet").arg(record.devName));
            });
        });
}

} // namespace iterdeck::devmode
