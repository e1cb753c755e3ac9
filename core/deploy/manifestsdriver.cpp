#include "manifestsdriver.h"

#include "config/sourcetext.h"
#include "kube/discovery.h"
#include "kube/kubeclient.h"
#include "logging.h"

#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPointer>
#include <QRegularExpression>
#include <QSet>
#include <QTimer>

#include <memory>

namespace iterdeck::deploy {

using namespace iterdeck::kube;

QString DeployTarget::imageRef() const
{
    QString ref = image;
    if (!tag.isEmpty())
        ref += u':' + tag;
    if (!digest.isEmpty())
        ref += u'@' + digest;
    return ref;
}

namespace {

void flatten(const QString &prefix, const QJsonValue &v, QHash<QString, QString> &out)
{
    if (v.isObject()) {
        const QJsonObject o = v.toObject();
        for (auto it = o.begin(); it != o.end(); ++it)
            flatten(prefix + u'.' + it.key(), it.value(), out);
        return;
    }
    if (v.isString())
        out.insert(prefix, v.toString());
    else if (v.isBool())
        out.insert(prefix, v.toBool() ? QStringLiteral("true") : QStringLiteral("false"));
    else if (v.isDouble())
        out.insert(prefix, QString::number(v.toDouble(), 'g', 15));
    else if (v.isArray())
        out.insert(prefix, QString::fromUtf8(QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact)));
}

QString metaOf(const QJsonObject &o, const char *key)
{
    return o.value(QLatin1String("metadata")).toObject().value(QLatin1String(key)).toString();
}

// The namespaced kinds a component may own and that pruning and uninstalling look at. A
// PersistentVolumeClaim is deliberately absent: its data outlives a redeploy.
bool prunable(const DiscoveredResource &r)
{
    static const QSet<QString> kinds = {QStringLiteral("apps/deployments"),
                                        QStringLiteral("apps/statefulsets"),
                                        QStringLiteral("apps/daemonsets"),
                                        QStringLiteral("/services"),
                                        QStringLiteral("/configmaps"),
                                        QStringLiteral("/secrets"),
                                        QStringLiteral("/serviceaccounts"),
                                        QStringLiteral("batch/jobs"),
                                        QStringLiteral("batch/cronjobs"),
                                        QStringLiteral("networking.k8s.io/ingresses"),
                                        QStringLiteral("autoscaling/horizontalpodautoscalers"),
                                        QStringLiteral("rbac.authorization.k8s.io/roles"),
                                        QStringLiteral("rbac.authorization.k8s.io/rolebindings"),
                                        QStringLiteral("policy/poddisruptionbudgets")};
    return r.ref.namespaced && r.verbs.contains(QStringLiteral("list")) && r.verbs.contains(QStringLiteral("delete"))
        && kinds.contains(r.ref.group + u'/' + r.ref.resource);
}

QString kindName(const ResourceRef &ref, const QString &name)
{
    return (ref.group.isEmpty() ? ref.kind.toLower() : ref.kind.toLower() + u'.' + ref.group) + u'/' + name;
}

QString componentSelector(const QString &component)
{
    return kComponentLabel + u'=' + component + u',' + kManagedByLabel + u'=' + kManagedByValue;
}

class ManifestsJob : public DeployJob
{
public:
    ManifestsJob(KubeClient *client, ManifestsDriver::Options options, const ManifestsDriver *driver,
                 DeployTarget target, bool uninstall, QObject *parent)
        : DeployJob(parent)
        , m_client(client)
        , m_options(std::move(options))
        , m_target(std::move(target))
        , m_uninstall(uninstall)
        , m_discovery(new Discovery(client, this))
    {
        if (!m_uninstall) {
            Diagnostics diag;
            if (!driver->render(m_target, m_manifests, diag)) {
                for (const Diagnostic &d : diag.sorted())
                    m_renderErrors << d.toString();
            }
        }
        QTimer::singleShot(0, this, [this] { begin(); });
    }

    void cancel() override
    {
        m_cancelled = true;
        finish(false, QStringLiteral("cancelled"));
    }

private:
    void begin()
    {
        if (!m_renderErrors.isEmpty()) {
            for (const QString &e : std::as_const(m_renderErrors))
                addLine(e);
            finish(false,
                   QStringLiteral("the manifests of %1 have %2 problem(s); nothing was applied")
                       .arg(m_target.component)
                       .arg(m_renderErrors.size()));
            return;
        }
        m_discovery->refresh([this](const KubeError &e) {
            if (m_cancelled)
                return;
            if (e.isError()) {
                finish(false, QStringLiteral("discovery: ") + e.toString());
                return;
            }
            if (m_uninstall) {
                prune(0);
                return;
            }
            // Resolve every kind first: one that is unknown or cluster-scoped stops everything.
            QStringList problems;
            for (const Manifest &m : std::as_const(m_manifests)) {
                const auto ref = m_discovery->forKind(m.object.value(QLatin1String("apiVersion")).toString(),
                                                      m.object.value(QLatin1String("kind")).toString());
                if (!ref)
                    problems << QStringLiteral("%1: error: the cluster does not serve %2 %3")
                                    .arg(m.where.toString(), m.object.value(QLatin1String("apiVersion")).toString(),
                                         m.object.value(QLatin1String("kind")).toString());
                else if (!ref->namespaced)
                    problems << QStringLiteral("%1: error: %2 is cluster-scoped; a component may only own objects in "
                                               "its environment's namespace")
                                    .arg(m.where.toString(), ref->kind);
                else
                    m_refs << *ref;
            }
            if (!problems.isEmpty()) {
                for (const QString &p : std::as_const(problems))
                    addLine(p);
                finish(false,
                       QStringLiteral("the manifests of %1 have %2 problem(s); nothing was applied")
                           .arg(m_target.component)
                           .arg(problems.size()));
                return;
            }
            apply(0);
        });
    }

    void apply(int index)
    {
        if (m_cancelled)
            return;
        if (index >= m_manifests.size()) {
            prune(0);
            return;
        }
        const Manifest &m = m_manifests.at(index);
        const ResourceRef ref = m_refs.at(index);
        const QString name = metaOf(m.object, "name");
        KubeRequest r;
        r.verb = "PATCH";
        r.path = ref.path(m_target.ns, name);
        r.contentType = patchContentType(PatchType::Apply);
        r.body = QJsonDocument(m.object).toJson(QJsonDocument::Compact);
        r.query.addQueryItem(QStringLiteral("fieldManager"), m_options.fieldManager);
        r.query.addQueryItem(QStringLiteral("force"), QStringLiteral("true"));
        r.retry = true;
        KubeCall *call = m_client->send(r);
        const QString where = m.where.toString();
        connect(call, &KubeCall::finished, this, [this, call, ref, name, index, where] {
            if (m_cancelled)
                return;
            if (!call->isOk()) {
                addLine(QStringLiteral("%1: %2").arg(where, call->error().toString()));
                finish(false, QStringLiteral("applying %1 failed: %2").arg(kindName(ref, name), call->error().message));
                return;
            }
            m_applied.insert(ref.group + u'/' + ref.resource + u'/' + name);
            m_outcome.applied << kindName(ref, name);
            addLine(kindName(ref, name) + QStringLiteral(" serverside-applied"));
            if (ref.resource == u"deployments" || ref.resource == u"statefulsets")
                m_rollouts << qMakePair(ref, name);
            apply(index + 1);
        });
    }

    // Lists each prunable kind by the component's labels; deletes what was not applied now.
    void prune(int typeIndex)
    {
        if (m_cancelled)
            return;
        if (m_pruneTypes.isEmpty() && typeIndex == 0) {
            for (const DiscoveredResource &r : m_discovery->resources()) {
                if (prunable(r))
                    m_pruneTypes << r.ref;
            }
        }
        if (typeIndex >= m_pruneTypes.size()) {
            deleteNext();
            return;
        }
        const ResourceRef ref = m_pruneTypes.at(typeIndex);
        ListOptions lo;
        lo.labelSelector = componentSelector(m_target.component);
        KubeCall *call = m_client->list(ref, m_target.ns, lo);
        connect(call, &KubeCall::finished, this, [this, call, ref, typeIndex] {
            if (m_cancelled)
                return;
            if (call->isOk()) {
                for (const QJsonValue &v : call->object()->value(QLatin1String("items")).toArray()) {
                    const QString name = metaOf(v.toObject(), "name");
                    if (!m_applied.contains(ref.group + u'/' + ref.resource + u'/' + name))
                        m_toDelete << qMakePair(ref, name);
                }
            } else if (!call->error().isNotFound()) {
                addLine(QStringLiteral("listing %1: %2").arg(ref.resource, call->error().toString()));
            }
            prune(typeIndex + 1);
        });
    }

    void deleteNext()
    {
        if (m_cancelled)
            return;
        if (m_toDelete.isEmpty()) {
            if (m_uninstall) {
                finish(true,
                       QStringLiteral("%1 removed from %2: %3 object(s) deleted")
                           .arg(m_target.component, m_target.ns)
                           .arg(m_outcome.pruned.size()));
                return;
            }
            m_deadline.start();
            waitRollouts();
            return;
        }
        // (Plain variables: clang 14 cannot capture structured bindings.)
        const QPair<ResourceRef, QString> next = m_toDelete.takeFirst();
        const ResourceRef ref = next.first;
        const QString name = next.second;
        DeleteOptions opts;
        opts.propagationPolicy = QStringLiteral("Background");
        KubeCall *call = m_client->remove(ref, m_target.ns, name, opts);
        connect(call, &KubeCall::finished, this, [this, call, ref, name] {
            if (m_cancelled)
                return;
            if (!call->isOk() && !call->error().isNotFound()) {
                addLine(QStringLiteral("deleting %1: %2").arg(kindName(ref, name), call->error().toString()));
                finish(false, QStringLiteral("deleting %1 failed: %2").arg(kindName(ref, name), call->error().message));
                return;
            }
            m_outcome.pruned << kindName(ref, name);
            addLine(kindName(ref, name) + (m_uninstall ? QStringLiteral(" deleted") : QStringLiteral(" pruned")));
            deleteNext();
        });
    }

    static bool rolledOut(const QJsonObject &o, QString *state)
    {
        const QJsonObject spec = o.value(QLatin1String("spec")).toObject();
        const QJsonObject st = o.value(QLatin1String("status")).toObject();
        const int want = spec.value(QLatin1String("replicas")).toInt(1);
        const int generation = o.value(QLatin1String("metadata")).toObject().value(QLatin1String("generation")).toInt();
        const int observed = st.value(QLatin1String("observedGeneration")).toInt();
        const int updated = st.value(QLatin1String("updatedReplicas")).toInt();
        const int ready = st.value(QLatin1String("readyReplicas")).toInt();
        const int total = st.value(QLatin1String("replicas")).toInt();
        *state = QStringLiteral("%1 of %2 updated, %3 ready").arg(updated).arg(want).arg(ready);
        return observed >= generation && updated == want && ready == want && total == want;
    }

    void waitRollouts()
    {
        if (m_cancelled)
            return;
        if (m_rollouts.isEmpty() || m_options.rolloutTimeoutMs <= 0) {
            finish(true,
                   QStringLiteral("%1 deployed to %2: %3 applied, %4 pruned")
                       .arg(m_target.component, m_target.ns)
                       .arg(m_outcome.applied.size())
                       .arg(m_outcome.pruned.size()));
            return;
        }
        const ResourceRef ref = m_rollouts.first().first;
        const QString name = m_rollouts.first().second;
        KubeCall *call = m_client->get(ref, m_target.ns, name);
        connect(call, &KubeCall::finished, this, [this, call, ref, name] {
            if (m_cancelled)
                return;
            QString state;
            if (call->isOk() && rolledOut(*call->object(), &state)) {
                addLine(kindName(ref, name) + QStringLiteral(" rolled out"));
                m_rollouts.removeFirst();
                waitRollouts();
                return;
            }
            if (!call->isOk())
                state = call->error().toString();
            if (m_deadline.elapsed() > m_options.rolloutTimeoutMs) {
                addLine(QStringLiteral("%1 did not roll out in %2 s: %3")
                            .arg(kindName(ref, name))
                            .arg(m_options.rolloutTimeoutMs / 1000)
                            .arg(state));
                finish(false, QStringLiteral("%1 did not roll out: %2").arg(kindName(ref, name), state));
                return;
            }
            QTimer::singleShot(m_options.pollMs, this, [this] { waitRollouts(); });
        });
    }

    KubeClient *m_client;
    ManifestsDriver::Options m_options;
    DeployTarget m_target;
    bool m_uninstall;
    Discovery *m_discovery;
    QList<Manifest> m_manifests;
    QStringList m_renderErrors;
    QList<ResourceRef> m_refs;
    QSet<QString> m_applied;
    QList<ResourceRef> m_pruneTypes;
    QList<QPair<ResourceRef, QString>> m_toDelete;
    QList<QPair<ResourceRef, QString>> m_rollouts;
    QElapsedTimer m_deadline;
    bool m_cancelled = false;
};

} // namespace

QHash<QString, QString> DeployTarget::variables() const
{
    QHash<QString, QString> v;
    for (auto it = extra.begin(); it != extra.end(); ++it)
        v.insert(it.key(), it.value());
    flatten(QStringLiteral("values"), values, v);
    v.insert(QStringLiteral("namespace"), ns);
    v.insert(QStringLiteral("domain"), domain);
    v.insert(QStringLiteral("component"), component);
    v.insert(QStringLiteral("project"), project);
    v.insert(QStringLiteral("iteration"), iteration);
    v.insert(QStringLiteral("image"), imageRef());
    v.insert(QStringLiteral("imageRepository"), image);
    v.insert(QStringLiteral("tag"), tag);
    v.insert(QStringLiteral("digest"), digest);
    v.insert(QStringLiteral("chartVersion"), chartVersion);
    return v;
}

// ${NAME} (NAME: letters, digits, '_', '.', '-'), and $$ for a literal $. Anything else after a
// $ is kept as it is. An unknown name or an unterminated ${ is an error at its line and column.
QByteArray renderManifestTemplate(const QString &file, const QByteArray &text, const QHash<QString, QString> &vars,
                                  Diagnostics &diag)
{
    QByteArray out;
    out.reserve(text.size());
    int line = 1, column = 1;
    for (qsizetype i = 0; i < text.size();) {
        const char c = text.at(i);
        if (c == '$' && i + 1 < text.size() && text.at(i + 1) == '$') {
            out += '$';
            i += 2;
            column += 2;
            continue;
        }
        if (c == '$' && i + 1 < text.size() && text.at(i + 1) == '{') {
            const qsizetype close = text.indexOf('}', i + 2);
            const qsizetype newline = text.indexOf('\n', i + 2);
            if (close < 0 || (newline >= 0 && newline < close)) {
                diag.error({file, line, column}, QStringLiteral("unterminated \"${\": write $$ for a literal $"));
                return {};
            }
            const QString name = QString::fromUtf8(text.mid(i + 2, close - i - 2));
            static const QRegularExpression valid(QStringLiteral("^[A-Za-z_][A-Za-z0-9_.-]*$"));
            if (!valid.match(name).hasMatch())
                diag.error({file, line, column}, QStringLiteral("\"${%1}\" is not a variable name").arg(name));
            else if (!vars.contains(name))
                diag.error(
                    {file, line, column},
                    QStringLiteral("\"${%1}\": no such variable (there are: namespace, domain, component, project, "
                                   "iteration, image, imageRepository, tag, digest, chartVersion, values.*)")
                        .arg(name));
            else
                out += vars.value(name).toUtf8();
            column += int(close + 1 - i);
            i = close + 1;
            continue;
        }
        out += c;
        ++i;
        if (c == '\n') {
            ++line;
            column = 1;
        } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            ++column;
        }
    }
    return out;
}

ManifestsDriver::ManifestsDriver(KubeClient *client, Options options)
    : m_client(client)
    , m_options(std::move(options))
{ }

bool ManifestsDriver::render(const DeployTarget &target, QList<Manifest> &out, Diagnostics &diag) const
{
    const QDir dir(m_options.directory);
    if (!dir.exists()) {
        diag.error({m_options.directory}, QStringLiteral("the manifests folder does not exist"));
        return false;
    }
    QStringList files;
    QDirIterator it(m_options.directory, {QStringLiteral("*.yaml"), QStringLiteral("*.yml"), QStringLiteral("*.json")},
                    QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext())
        files << it.next();
    files.sort();
    if (files.isEmpty()) {
        diag.error({m_options.directory}, QStringLiteral("no manifests (*.yaml, *.yml, *.json) in this folder"));
        return false;
    }
    const QHash<QString, QString> vars = target.variables();
    bool ok = true;
    for (const QString &file : std::as_const(files)) {
        QFile f(file);
        if (!f.open(QIODevice::ReadOnly)) {
            diag.error({file}, QStringLiteral("cannot read: %1").arg(f.errorString()));
            ok = false;
            continue;
        }
        const QByteArray text = f.readAll();
        Diagnostics rendering;
        const QByteArray rendered = renderManifestTemplate(file, text, vars, rendering);
        if (rendering.hasErrors()) {
            diag.append(rendering);
            ok = false;
            continue;
        }
        const config::SourceText src(file, rendered);
        QList<Manifest> objects;
        if (!parseManifests(src, objects, diag)) {
            ok = false;
            continue;
        }
        for (Manifest &m : objects) {
            QJsonObject meta = m.object.value(QLatin1String("metadata")).toObject();
            const QString ns = meta.value(QLatin1String("namespace")).toString();
            if (!ns.isEmpty() && ns != target.ns) {
                diag.error(m.where,
                           QStringLiteral("metadata.namespace is \"%1\"; a component's objects belong in "
                                          "its environment's namespace (\"%2\"): leave it out or use ${namespace}")
                               .arg(ns, target.ns));
                ok = false;
                continue;
            }
            meta.insert(QLatin1String("namespace"), target.ns);
            QJsonObject labels = meta.value(QLatin1String("labels")).toObject();
            labels.insert(kComponentLabel, target.component);
            labels.insert(kManagedByLabel, kManagedByValue);
            meta.insert(QLatin1String("labels"), labels);
            m.object.insert(QLatin1String("metadata"), meta);
            out << m;
        }
    }
    return ok && !diag.hasErrors();
}

DeployJob *ManifestsDriver::deploy(const DeployTarget &target, QObject *parent)
{
    return new ManifestsJob(m_client, m_options, this, target, false, parent);
}

DeployJob *ManifestsDriver::uninstall(const DeployTarget &target, QObject *parent)
{
    return new ManifestsJob(m_client, m_options, this, target, true, parent);
}

} // namespace iterdeck::deploy
