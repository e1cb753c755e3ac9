#include "devsession.h"

#include "devcontrol.h"
#include "devsupport.h"
#include "kube/kubeclient.h"
#include "logging.h"
#include "sync/protocol.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTimer>

namespace iterdeck::devmode {

using namespace iterdeck::kube;

namespace {

ResourceRef pvcResource()
{
    ResourceRef r;
    r.resource = QStringLiteral("persistentvolumeclaims");
    r.kind = QStringLiteral("PersistentVolumeClaim");
    return r;
}

QJsonObject annotationsOf(const QJsonObject &o)
{
    return o.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("annotations")).toObject();
}

QByteArray compact(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

} // namespace

class DevSession::Private
{
public:
    DevSession *q;
    KubeClient *client;
    DevStartOptions o;
    State state = State::Idle;
    Step step = Step::Workload;
    QString failure;
    ConfigSource source = ConfigSource::Defaults;
    bool resumed = false;
    QJsonObject live;
    QString mode; // replace | duplicate
    QString devName;
    QString selector;
    QString container, image, workDir;
    model::ContainerDevConfig dev;
    QString commandsJson;
    QList<QJsonObject> hpas; // HPAs that target the workload
    QString pod;
    QString remoteAgent;
    ExecSync *sync = nullptr;
    PortForwarder *forwarder = nullptr;
    QList<PortMapping> mappings;
    QStringList forwardSpecs;
    struct Extra
    {
        QString spec;
        PortMapping mapping;
        PortForwarder *forwarder = nullptr;
        QString problem;
    };
    QList<Extra> extras; // hand-added forwards; kept across stop/start, their forwarders are not
    QTimer podPoll;
    qint64 podDeadline = 0;
    QString lastPodState;
    bool readyEmitted = false;
    bool syncReady = false;
    int reconnectDelayMs = 250;
    quint64 generation = 0; // bumped by stop(): callbacks of an older run are dropped
    bool cancelRequested = false; // cancel() during a write: stop before the next step
    bool changedCluster = false; // this start got as far as changing the cluster

    void setState(State s)
    {
        if (state == s)
            return;
        state = s;
        Q_EMIT q->stateChanged(s);
    }

    // False when a cancel was waiting for the step before to finish: the session has stopped,
    // and the caller does nothing more.
    [[nodiscard]] bool begin(Step s, const QString &text)
    {
        if (cancelRequested) {
            cancelRequested = false;
            teardown();
            setState(State::Stopped);
            return false;
        }
        step = s;
        if (s == Step::Patch && !resumed)
            changedCluster = true;
        Q_EMIT q->stepStarted(s, text);
        return true;
    }

    void fail(const QString &message)
    {
        if (state == State::Failed || state == State::Stopped)
            return;
        failure = message;
        qCDebug(lcDevmode) << "dev start failed:" << message;
        teardown();
        const bool clamped = step == Step::Patch && !resumed && mode == u"replace" && !hpas.isEmpty();
        setState(State::Failed);
        if (clamped) {
            // The workload was not changed (or its patch failed): give the autoscalers back.
            endDevMode(client, client, o.ns, o.workload, o.owner, false, [](const EndResult &) {});
        }
    }

    void teardown()
    {
        ++generation;
        podPoll.stop();
        if (sync) {
            sync->disconnect(q);
            sync->stop();
            sync->deleteLater();
            sync = nullptr;
        }
        if (forwarder) {
            forwarder->disconnect(q);
            forwarder->stop();
            forwarder->deleteLater();
            forwarder = nullptr;
        }
        for (Extra &e : extras)
            dropForwarder(e);
    }

    // Runs fn only if the session was not stopped meanwhile.
    template<typename F> auto guard(F fn)
    {
        const quint64 g = generation;
        return [this, g, fn = std::move(fn)](auto &&...args) mutable {
            if (g == generation)
                fn(std::forward<decltype(args)>(args)...);
        };
    }

    void getWorkload()
    {
        if (!begin(Step::Workload,
                   QCoreApplication::translate("iterdeck::devmode", "reading %1").arg(o.workload.shortName())))
            return;
        KubeCall *call = client->get(workloadResource(o.workload.kind), o.ns, o.workload.name);
        QObject::connect(
            call, &KubeCall::finished, q, guard([this, call] {
                if (!call->isOk()) {
                    fail(call->error().isNotFound()
                             ? QStringLiteral("%1 not found in namespace \"%2\"").arg(o.workload.shortName(), o.ns)
                             : call->error().toString());
                    return;
                }
                live = *call->object();
                loadConfig();
            }));
    }

    void loadConfig()
    {
        if (!begin(Step::Config, QCoreApplication::translate("iterdeck::devmode", "loading the dev config")))
            return;
        resolveConfig(client, q, o.ns, live, o.noSync ? QString() : o.localDir, o.configFile, o.app,
                      guard([this](const ResolvedConfig &config, const QString &error) {
                          for (const QString &w : config.warnings)
                              Q_EMIT q->message(w);
                          if (!error.isEmpty()) {
                              fail(error);
                              return;
                          }
                          source = config.source;
                          dev = config.dev;
                          container = !o.container.isEmpty() ? o.container : config.container;
                          const QStringList names = containerNames(live);
                          if (container.isEmpty() && !names.isEmpty())
                              container = names.first();
                          image = !o.image.isEmpty() ? o.image : dev.image;
                          mode = !o.mode.isEmpty() ? o.mode.toLower() : dev.iterdeck.mode.toLower();
                          if (mode.isEmpty())
                              mode = QStringLiteral("replace");
                          workDir = dev.workDir.isEmpty() ? QStringLiteral("/home/nocalhost-dev") : dev.workDir;
                          while (workDir.size() > 1 && workDir.endsWith(u'/'))
                              workDir.chop(1);
                          QJsonObject cmds;
                          auto arr = [](const QStringList &l) { return QJsonArray::fromStringList(l); };
                          cmds.insert(QStringLiteral("run"), arr(dev.command.run));
                          cmds.insert(QStringLiteral("debug"), arr(dev.command.debug));
                          cmds.insert(QStringLiteral("build"), arr(dev.command.build));
                          cmds.insert(QStringLiteral("shell"), dev.shell);
                          cmds.insert(QStringLiteral("remoteDebugPort"), dev.remoteDebugPort);
                          commandsJson = QString::fromUtf8(compact(cmds));
                          checkExisting();
                      }));
    }

    // Dev mode already on? Ours: resume. Someone else's: refuse, saying whose.
    void checkExisting()
    {
        const QJsonObject ann = annotationsOf(live);
        const QString ownerText = ann.value(keys::owner).toString();
        if (!ownerText.isEmpty()) {
            const QString userLabel = live.value(QStringLiteral("metadata"))
                                          .toObject()
                                          .value(QStringLiteral("labels"))
                                          .toObject()
                                          .value(keys::user)
                                          .toString();
            if (userLabel != o.owner.label()) {
                fail(QStringLiteral(
                         "%1 is in dev mode by %2 since %3; it can end it with \"iterdeckctl dev end %1 -n %4\"")
                         .arg(o.workload.shortName(), ownerText, ann.value(keys::since).toString(), o.ns));
                return;
            }
            if (mode == u"duplicate") {
                fail(QStringLiteral(
                         "%1 is in replace mode by you already: end it first, or start without --mode duplicate")
                         .arg(o.workload.shortName()));
                return;
            }
            resumed = true;
            mode = QStringLiteral("replace");
            container = ann.value(keys::container).toString();
            image = ann.value(keys::image).toString();
            workDir = ann.value(keys::workDir).toString();
            devName = o.workload.name;
            selector = selectorString(live);
            Q_EMIT q->message(QStringLiteral("%1 is already in dev mode by you (since %2): resuming")
                                  .arg(o.workload.shortName(), ann.value(keys::since).toString()));
            waitForPod();
            return;
        }
        if (mode != u"replace" && mode != u"duplicate") {
            fail(QStringLiteral("unknown mode \"%1\": use replace or duplicate").arg(mode));
            return;
        }
        if (mode == u"duplicate") {
            const QString copy = duplicateName(o.workload.name, o.owner);
            KubeCall *call = client->get(workloadResource(o.workload.kind), o.ns, copy);
            QObject::connect(call, &KubeCall::finished, q, guard([this, call, copy] {
                                 if (call->isOk()) {
                                     const QJsonObject c = *call->object();
                                     const QJsonObject cann = annotationsOf(c);
                                     resumed = true;
                                     container = cann.value(keys::container).toString();
                                     image = cann.value(keys::image).toString();
                                     workDir = cann.value(keys::workDir).toString();
                                     devName = copy;
                                     selector = selectorString(c);
                                     Q_EMIT q->message(
                                         QStringLiteral("your copy %1 is already running: resuming").arg(copy));
                                     waitForPod();
                                     return;
                                 }
                                 if (!call->error().isNotFound()) {
                                     fail(call->error().toString());
                                     return;
                                 }
                                 preflight();
                             }));
            return;
        }
        preflight();
    }

    void preflight()
    {
        if (!begin(Step::Preflight,
                   QCoreApplication::translate("iterdeck::devmode", "checking the workload and your permissions")))
            return;
        const QStringList names = containerNames(live);
        if (!names.contains(container)) {
            fail(QStringLiteral("container \"%1\" not found in %2 (it has: %3)")
                     .arg(container, o.workload.shortName(), names.join(QStringLiteral(", "))));
            return;
        }
        if (image.isEmpty()) {
            fail(QStringLiteral("no dev image for %1: set dev.image in the dev config (%2) or pass --image")
                     .arg(o.workload.shortName(), configSourceName(source)));
            return;
        }
        if (!o.noSync && !QFileInfo(o.localDir).isDir()) {
            fail(QStringLiteral("the local folder \"%1\" does not exist").arg(o.localDir));
            return;
        }
        for (const QString &spec : dev.portForward) {
            if (!PortMapping::parse(spec)) {
                fail(QStringLiteral("portForward \"%1\": expected LOCAL:REMOTE or :REMOTE").arg(spec));
                return;
            }
        }
        KubeCall *call = client->list(hpaResource(), o.ns);
        QObject::connect(
            call, &KubeCall::finished, q, guard([this, call] {
                hpas.clear();
                if (call->isOk()) {
                    for (const QJsonValue &v : call->object()->value(QStringLiteral("items")).toArray()) {
                        const QJsonObject ref = v.toObject()
                                                    .value(QStringLiteral("spec"))
                                                    .toObject()
                                                    .value(QStringLiteral("scaleTargetRef"))
                                                    .toObject();
                        if (ref.value(QStringLiteral("kind")).toString() == o.workload.kindName()
                            && ref.value(QStringLiteral("name")).toString() == o.workload.name)
                            hpas << v.toObject();
                    }
                }
                QList<AccessQuestion> questions;
                if (mode == u"replace")
                    questions << AccessQuestion {
                        QStringLiteral("patch"), QStringLiteral("apps"), o.workload.resource(), {}, o.workload.name};
                else
                    questions << AccessQuestion {
                        QStringLiteral("create"), QStringLiteral("apps"), o.workload.resource(), {}, {}};
                questions << AccessQuestion {
                    QStringLiteral("create"), {}, QStringLiteral("pods"), QStringLiteral("exec"), {}};
                questions << AccessQuestion {
                    QStringLiteral("create"), {}, QStringLiteral("pods"), QStringLiteral("portforward"), {}};
                if (mode == u"replace") {
                    for (const QJsonObject &h : std::as_const(hpas))
                        questions << AccessQuestion {
                            QStringLiteral("update"),
                            QStringLiteral("autoscaling"),
                            QStringLiteral("horizontalpodautoscalers"),
                            {},
                            h.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString()};
                }
                if (!dev.persistentVolumeDirs.isEmpty())
                    questions << AccessQuestion {
                        QStringLiteral("create"), {}, QStringLiteral("persistentvolumeclaims"), {}, {}};
                canI(client, q, o.ns, questions, guard([this](const QStringList &denied, const KubeError &error) {
                         if (error.isError()) {
                             fail(QStringLiteral("checking permissions: ") + error.toString());
                             return;
                         }
                         if (!denied.isEmpty()) {
                             fail(QStringLiteral("your account may not use dev mode on %1 here: it %2")
                                      .arg(o.workload.shortName(), denied.join(QStringLiteral("; it "))));
                             return;
                         }
                         makeClaims(0, {});
                     }));
            }));
    }

    // The PVCs for persistentVolumeDirs: found by name (reused across sessions) or created.
    void makeClaims(int index, QHash<QString, QString> claims)
    {
        if (index >= dev.persistentVolumeDirs.size()) {
            clampHpas(0, claims);
            return;
        }
        if (!begin(Step::Patch, QCoreApplication::translate("iterdeck::devmode", "preparing persistent folders")))
            return;
        const auto &dir = dev.persistentVolumeDirs.at(index);
        QString path = dir.path;
        while (path.size() > 1 && path.endsWith(u'/'))
            path.chop(1);
        const QString hash = QString::fromStdString(sync::hashHex(sync::hashBytes(path.toUtf8().constData(),
                                                                                  size_t(path.toUtf8().size()))))
                                 .left(10);
        const QString name = (o.workload.name.left(40) + QStringLiteral("-dev-") + hash).toLower();
        KubeCall *call = client->get(pvcResource(), o.ns, name);
        QObject::connect(
            call, &KubeCall::finished, q, guard([this, call, index, claims, name, path, dir]() mutable {
                claims.insert(path, name);
                if (call->isOk()) {
                    makeClaims(index + 1, claims);
                    return;
                }
                if (!call->error().isNotFound()) {
                    fail(call->error().toString());
                    return;
                }
                QJsonObject spec {{QStringLiteral("accessModes"), QJsonArray {QStringLiteral("ReadWriteOnce")}},
                                  {QStringLiteral("resources"),
                                   QJsonObject {{QStringLiteral("requests"),
                                                 QJsonObject {{QStringLiteral("storage"), dir.capacity}}}}}};
                if (!dev.storageClass.isEmpty())
                    spec.insert(QStringLiteral("storageClassName"), dev.storageClass);
                const QJsonObject pvc {
                    {QStringLiteral("apiVersion"), QStringLiteral("v1")},
                    {QStringLiteral("kind"), QStringLiteral("PersistentVolumeClaim")},
                    {QStringLiteral("metadata"),
                     QJsonObject {
                         {QStringLiteral("name"), name},
                         {QStringLiteral("labels"), QJsonObject {{keys::duplicateOf, o.workload.name.left(63)}}},
                         {QStringLiteral("annotations"), QJsonObject {{keys::workDir, path}}}}},
                    {QStringLiteral("spec"), spec}};
                KubeCall *create = client->create(pvcResource(), o.ns, pvc);
                QObject::connect(create, &KubeCall::finished, q, guard([this, create, index, claims] {
                                     if (!create->isOk()) {
                                         fail(QStringLiteral("creating a volume claim: ") + create->error().toString());
                                         return;
                                     }
                                     makeClaims(index + 1, claims);
                                 }));
            }));
    }

    void clampHpas(int index, const QHash<QString, QString> &claims)
    {
        if (mode != u"replace" || index >= hpas.size()) {
            patchWorkload(claims);
            return;
        }
        if (!begin(Step::Patch,
                   QCoreApplication::translate("iterdeck::devmode", "holding the autoscaler at one replica")))
            return;
        const QJsonObject h = hpas.at(index);
        const QJsonObject spec = h.value(QStringLiteral("spec")).toObject();
        const QJsonObject saved {{QStringLiteral("minReplicas"), spec.value(QStringLiteral("minReplicas"))},
                                 {QStringLiteral("maxReplicas"), spec.value(QStringLiteral("maxReplicas"))}};
        const QJsonObject ann = annotationsOf(h);
        QJsonObject meta;
        // A clamp left by an earlier session keeps its first saved values.
        if (!ann.contains(keys::hpaOriginal))
            meta.insert(QStringLiteral("annotations"),
                        QJsonObject {{keys::hpaOriginal, QString::fromUtf8(compact(saved))},
                                     {keys::hpaTarget, o.workload.shortName()}});
        QJsonObject patch {{QStringLiteral("spec"),
                            QJsonObject {{QStringLiteral("minReplicas"), 1}, {QStringLiteral("maxReplicas"), 1}}}};
        if (!meta.isEmpty())
            patch.insert(QStringLiteral("metadata"), meta);
        const QString name = h.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString();
        KubeCall *call = client->patch(hpaResource(), o.ns, name, PatchType::Merge, compact(patch));
        QObject::connect(
            call, &KubeCall::finished, q, guard([this, call, index, claims, name] {
                if (!call->isOk()) {
                    fail(QStringLiteral("clamping horizontalpodautoscaler/%1: %2").arg(name, call->error().toString()));
                    return;
                }
                clampHpas(index + 1, claims);
            }));
    }

    QJsonObject devAnnotations(const QJsonObject &original) const
    {
        QJsonObject a {{keys::owner, o.owner.display()},
                       {keys::since, QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
                       {keys::mode, mode},
                       {keys::container, container},
                       {keys::image, image},
                       {keys::workDir, workDir},
                       {keys::configSource, configSourceName(source)},
                       {keys::localDir, o.noSync ? QString() : QFileInfo(o.localDir).absoluteFilePath()},
                       {QStringLiteral("dev.iterdeck.io/commands"), commandsJson}};
        if (!original.isEmpty())
            a.insert(keys::original, QString::fromUtf8(compact(original)));
        return a;
    }

    void patchWorkload(const QHash<QString, QString> &claims, int attempt = 0)
    {
        if (!begin(Step::Patch,
                   mode == u"replace"
                       ? QCoreApplication::translate("iterdeck::devmode", "switching %1 to the dev image")
                             .arg(o.workload.shortName())
                       : QCoreApplication::translate("iterdeck::devmode", "creating your copy of %1")
                             .arg(o.workload.shortName())))
            return;
        // The original is the object as first read, before the autoscalers were clamped (which
        // may have scaled it since); the patch is computed on, and guarded by, a fresh read.
        KubeCall *read = client->get(workloadResource(o.workload.kind), o.ns, o.workload.name);
        QObject::connect(read, &KubeCall::finished, q, guard([this, read, claims, attempt] {
                             if (!read->isOk()) {
                                 fail(read->error().toString());
                                 return;
                             }
                             patchFresh(*read->object(), claims, attempt);
                         }));
    }

    void patchFresh(const QJsonObject &fresh, const QHash<QString, QString> &claims, int attempt)
    {
        DevSpec spec;
        spec.kind = o.workload.kind;
        spec.container = container;
        spec.image = image;
        spec.dev = dev;
        spec.dev.workDir = workDir;
        spec.claims = claims;
        for (const QString &file : std::as_const(dev.envFiles)) {
            QFile f(QDir(o.localDir).filePath(file));
            if (!f.open(QIODevice::ReadOnly)) {
                Q_EMIT q->message(QStringLiteral("envFile %1: %2").arg(file, f.errorString()));
                continue;
            }
            for (const QByteArray &line : f.readAll().split('\n')) {
                const QByteArray t = line.trimmed();
                const qsizetype eq = t.indexOf('=');
                if (t.isEmpty() || t.startsWith('#') || eq <= 0)
                    continue;
                spec.extraEnv.append(
                    {QString::fromUtf8(t.left(eq).trimmed()), QString::fromUtf8(t.mid(eq + 1).trimmed())});
            }
        }
        QString error;
        const auto newSpec = devSpec(fresh.value(QStringLiteral("spec")).toObject(), spec, &error);
        if (!newSpec) {
            fail(error);
            return;
        }
        const QJsonObject original = cleanOriginal(live);
        KubeCall *call = nullptr;
        if (mode == u"replace") {
            devName = o.workload.name;
            selector = selectorString(live);
            const QJsonArray patch
                = enterPatch(fresh, *newSpec, devAnnotations(original), QJsonObject {{keys::user, o.owner.label()}});
            call = client->patch(workloadResource(o.workload.kind), o.ns, o.workload.name, PatchType::Json,
                                 QJsonDocument(patch).toJson(QJsonDocument::Compact));
        } else {
            const QJsonObject copy = duplicateOf(original, o.owner, *newSpec, devAnnotations({}));
            devName = copy.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString();
            selector = selectorString(copy);
            call = client->create(workloadResource(o.workload.kind), o.ns, copy);
        }
        QObject::connect(call, &KubeCall::finished, q, guard([this, call, claims, attempt] {
                             if (!call->isOk()) {
                                 const int status = call->error().httpStatus;
                                 // A controller wrote in between (the resourceVersion test failed): read again.
                                 if (mode == u"replace" && (status == 409 || status == 422) && attempt < 4) {
                                     patchWorkload(claims, attempt + 1);
                                     return;
                                 }
                                 fail(call->error().toString());
                                 return;
                             }
                             userPatches(0);
                         }));
    }

    void userPatches(int index)
    {
        if (index >= dev.patches.size()) {
            waitForPod();
            return;
        }
        const model::DevPatch &p = dev.patches.at(index);
        const PatchType type = p.type == u"json" ? PatchType::Json
            : p.type == u"merge"                 ? PatchType::Merge
                                                 : PatchType::Strategic;
        KubeCall *call = client->patch(workloadResource(o.workload.kind), o.ns, devName, type, p.patch.toUtf8());
        QObject::connect(call, &KubeCall::finished, q, guard([this, call, index] {
                             if (!call->isOk()) {
                                 fail(QStringLiteral("dev.patches[%1]: %2").arg(index).arg(call->error().toString()));
                                 return;
                             }
                             userPatches(index + 1);
                         }));
    }

    void waitForPod()
    {
        if (!begin(Step::Pod, QCoreApplication::translate("iterdeck::devmode", "waiting for the dev pod")))
            return;
        podDeadline = state == State::Starting ? QDateTime::currentMSecsSinceEpoch() + o.podTimeoutMs : 0;
        pollPod();
    }

    void pollPod()
    {
        ListOptions lo;
        lo.labelSelector = selector;
        KubeCall *call = client->list(ResourceRef::pods(), o.ns, lo);
        QObject::connect(
            call, &KubeCall::finished, q, guard([this, call] {
                if (call->isOk()) {
                    QJsonObject best;
                    for (const QJsonValue &v : call->object()->value(QStringLiteral("items")).toArray()) {
                        const QJsonObject p = v.toObject();
                        if (isReadyDevPod(p, container, image)) {
                            best = p;
                            break;
                        }
                        const QJsonObject ann = p.value(QStringLiteral("metadata"))
                                                    .toObject()
                                                    .value(QStringLiteral("annotations"))
                                                    .toObject();
                        if (ann.value(keys::devContainer).toString() != container)
                            continue;
                        const QString problem = devPodProblem(p, container);
                        const QString phase
                            = p.value(QStringLiteral("status")).toObject().value(QStringLiteral("phase")).toString();
                        lastPodState
                            = p.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString()
                            + QStringLiteral(" is ") + (problem.isEmpty() ? phase : problem);
                        if (!problem.isEmpty() && state == State::Starting) {
                            fail(QStringLiteral("the dev pod cannot start: %1 (image %2)").arg(lastPodState, image));
                            return;
                        }
                    }
                    if (!best.isEmpty()) {
                        pod = best.value(QStringLiteral("metadata"))
                                  .toObject()
                                  .value(QStringLiteral("name"))
                                  .toString();
                        reconnectDelayMs = 250;
                        if (o.noSync)
                            startForwards();
                        else
                            startAgent();
                        return;
                    }
                }
                if (podDeadline && QDateTime::currentMSecsSinceEpoch() > podDeadline) {
                    fail(QStringLiteral("no dev pod was running after %1 s%2")
                             .arg(o.podTimeoutMs / 1000)
                             .arg(lastPodState.isEmpty() ? QString() : QStringLiteral(" (") + lastPodState + u')'));
                    return;
                }
                podPoll.start(state == State::Starting ? 300 : reconnectDelayMs);
                reconnectDelayMs = std::min(reconnectDelayMs * 2, 5000);
            }));
    }

    void startAgent()
    {
        if (!begin(Step::Agent,
                   QCoreApplication::translate("iterdeck::devmode", "installing the sync agent in %1").arg(pod)))
            return;
        installAgent(client, q, o.ns, pod, container, o.agentPath,
                     guard([this](const QString &path, bool uploaded, const QString &error) {
                         if (!error.isEmpty()) {
                             if (state == State::Starting)
                                 fail(error);
                             else
                                 retryLater(error);
                             return;
                         }
                         Q_EMIT q->message(uploaded
                                               ? QStringLiteral("installed the agent at %1").arg(path)
                                               : QStringLiteral("the agent is already in the container: %1").arg(path));
                         remoteAgent = path;
                         startSync();
                     }));
    }

    void retryLater(const QString &why)
    {
        Q_EMIT q->message(QStringLiteral("sync interrupted: %1; reconnecting").arg(why));
        if (sync) {
            sync->disconnect(q);
            sync->deleteLater();
            sync = nullptr;
        }
        setState(State::Reconnecting);
        podPoll.start(reconnectDelayMs);
        reconnectDelayMs = std::min(reconnectDelayMs * 2, 5000);
    }

    QString stateFile(const QString &suffix) const
    {
        QString dir = o.stateDir;
        if (dir.isEmpty()) {
            const QString xdg = qEnvironmentVariable("XDG_STATE_HOME");
            dir = (xdg.isEmpty() ? QDir::homePath() + QStringLiteral("/.local/state") : xdg)
                + QStringLiteral("/iterdeck/dev");
        }
        QDir().mkpath(dir);
        const QByteArray key
            = (QFileInfo(o.localDir).absoluteFilePath() + u'\0' + client->config().cluster.server.toString() + u'\0'
               + o.ns + u'\0' + devName + u'\0' + workDir)
                  .toUtf8();
        return dir + u'/'
            + QString::fromStdString(sync::hashHex(sync::hashBytes(key.constData(), size_t(key.size())))).left(32)
            + suffix;
    }

    void startSync()
    {
        if (!begin(
                Step::Sync,
                QCoreApplication::translate("iterdeck::devmode", "syncing %1 to %2:%3").arg(o.localDir, pod, workDir)))
            return;
        ExecOptions exec;
        exec.ns = o.ns;
        exec.pod = pod;
        exec.container = container;
        exec.command = QStringList {remoteAgent, QStringLiteral("serve"), QStringLiteral("--root"), workDir};
        SyncSettings s;
        s.localDir = o.localDir;
        s.twoWay = dev.sync.twoWay();
        s.deleteProtection = dev.sync.deleteProtection;
        s.gitIgnore = dev.sync.mode.compare(QLatin1String("gitIgnore"), Qt::CaseInsensitive) == 0;
        s.syncGit = dev.iterdeck.syncGit;
        s.filePattern = dev.sync.filePattern;
        s.ignoreFilePattern = dev.sync.ignoreFilePattern;
        s.indexPath = stateFile(QStringLiteral(".index"));
        s.statePath = stateFile(QStringLiteral(".state"));
        sync = new ExecSync(client, exec, s, q);
        QObject::connect(sync, &ExecSync::progress, q, [this](const SyncProgress &p) { Q_EMIT q->syncProgress(p); });
        QObject::connect(sync, &ExecSync::log, q, [this](const QString &l) { Q_EMIT q->message(l); });
        QObject::connect(sync, &ExecSync::initialSyncDone, q, [this](quint64, quint64) {
            syncReady = true;
            if (!forwarder)
                startForwards();
            else
                maybeReady();
        });
        QObject::connect(sync, &ExecSync::finished, q, [this](const QString &error) {
            if (error.isEmpty())
                return; // stopped
            if (state == State::Starting && !syncReady) {
                fail(QStringLiteral("the initial sync failed: ") + error);
                return;
            }
            retryLater(error);
        });
        sync->start();
    }

    static void dropForwarder(Extra &e)
    {
        if (!e.forwarder)
            return;
        e.forwarder->disconnect();
        e.forwarder->stop();
        e.forwarder->deleteLater();
        e.forwarder = nullptr;
    }

    // Binds the local port of a hand-added forward at once; its problem when it cannot.
    void startExtra(Extra &e)
    {
        e.problem.clear();
        PortForwardTarget target;
        target.ns = o.ns;
        target.labelSelector = selector;
        auto *f = new PortForwarder(client, target, {e.mapping}, q);
        f->start();
        if (f->state() == PortForwarder::State::Failed) {
            e.problem = f->failureReason();
            delete f;
            return;
        }
        e.forwarder = f;
        QObject::connect(f, &PortForwarder::stateChanged, q, [this, f](PortForwarder::State s) {
            for (Extra &x : extras) {
                if (x.forwarder == f && s == PortForwarder::State::Failed) {
                    x.problem = f->failureReason();
                    Q_EMIT q->message(QStringLiteral("port-forward %1: %2").arg(x.spec, x.problem));
                }
            }
            Q_EMIT q->forwardsChanged();
        });
    }

    void startExtras()
    {
        bool changed = false;
        for (Extra &e : extras) {
            if (e.forwarder)
                continue;
            startExtra(e);
            changed = true;
            if (!e.problem.isEmpty())
                Q_EMIT q->message(QStringLiteral("port-forward %1: %2").arg(e.spec, e.problem));
        }
        if (changed)
            Q_EMIT q->forwardsChanged();
    }

    void startForwards()
    {
        startExtras();
        if (forwarder) {
            maybeReady();
            return;
        }
        mappings.clear();
        forwardSpecs.clear();
        for (const QString &spec : std::as_const(dev.portForward)) {
            if (auto m = PortMapping::parse(spec)) {
                mappings << *m;
                forwardSpecs << spec;
            }
        }
        if (mappings.isEmpty()) {
            maybeReady();
            return;
        }
        if (!begin(Step::PortForward,
                   QCoreApplication::translate("iterdeck::devmode", "forwarding %1")
                       .arg(forwardSpecs.join(QStringLiteral(", ")))))
            return;
        PortForwardTarget target;
        target.ns = o.ns;
        target.labelSelector = selector;
        forwarder = new PortForwarder(client, target, mappings, q);
        QObject::connect(forwarder, &PortForwarder::stateChanged, q, [this](PortForwarder::State s) {
            Q_EMIT q->portForwardStateChanged(s, forwarder->failureReason());
            Q_EMIT q->forwardsChanged();
            if (s == PortForwarder::State::Listening)
                maybeReady();
            if (s == PortForwarder::State::Failed && state == State::Starting)
                fail(QStringLiteral("port-forward: ") + forwarder->failureReason());
        });
        forwarder->start();
    }

    void maybeReady()
    {
        if (!o.noSync && !syncReady)
            return;
        if (forwarder && forwarder->state() != PortForwarder::State::Listening && !readyEmitted)
            return;
        setState(State::Ready);
        if (!readyEmitted) {
            readyEmitted = true;
            Q_EMIT q->ready();
        }
    }
};

DevSession::DevSession(KubeClient *client, DevStartOptions options, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>())
{
    d->q = this;
    d->client = client;
    d->o = std::move(options);
    d->podPoll.setSingleShot(true);
    for (const QString &spec : std::as_const(d->o.extraPortForwards)) {
        if (auto m = PortMapping::parse(spec))
            d->extras.append({spec, *m, nullptr, {}});
    }
    connect(&d->podPoll, &QTimer::timeout, this, [this] { d->pollPod(); });
}

DevSession::~DevSession()
{
    d->teardown();
}

void DevSession::start()
{
    if (d->state == State::Starting || d->state == State::Ready || d->state == State::Reconnecting)
        return;
    d->failure.clear();
    d->readyEmitted = false;
    d->syncReady = false;
    d->resumed = false;
    d->cancelRequested = false;
    d->changedCluster = false;
    d->setState(State::Starting);
    d->getWorkload();
}

void DevSession::stop()
{
    if (d->state == State::Stopped || d->state == State::Idle)
        return;
    d->teardown();
    d->setState(State::Stopped);
}

void DevSession::cancel()
{
    if (d->state != State::Starting) {
        stop();
        return;
    }
    // A write under way is let finish, so that nothing reaches the cluster after the session
    // has said it stopped; every other step is given up at once.
    if (d->step == Step::Patch) {
        d->cancelRequested = true;
        return;
    }
    stop();
}

bool DevSession::changedCluster() const
{
    return d->changedCluster;
}

DevSession::State DevSession::state() const
{
    return d->state;
}

DevSession::Step DevSession::step() const
{
    return d->step;
}

QString DevSession::failure() const
{
    return d->failure;
}

ConfigSource DevSession::configSource() const
{
    return d->source;
}

bool DevSession::resumed() const
{
    return d->resumed;
}

QString DevSession::podName() const
{
    return d->pod;
}

QString DevSession::container() const
{
    return d->container;
}

QString DevSession::workDir() const
{
    return d->workDir;
}

QString DevSession::devWorkloadName() const
{
    return d->devName;
}

QList<quint16> DevSession::localPorts() const
{
    QList<quint16> ports;
    for (int i = 0; d->forwarder && i < d->mappings.size(); ++i)
        ports << d->forwarder->localPort(i);
    return ports;
}

QStringList DevSession::portForwardSpecs() const
{
    return d->forwardSpecs;
}

PortForwarder::State DevSession::portForwardState() const
{
    return d->forwarder ? d->forwarder->state() : PortForwarder::State::Idle;
}

const model::ContainerDevConfig &DevSession::devConfig() const
{
    return d->dev;
}

QList<DevSession::Forward> DevSession::forwards() const
{
    QList<Forward> all;
    for (int i = 0; i < d->mappings.size(); ++i) {
        Forward f;
        f.spec = d->forwardSpecs.value(i);
        f.remotePort = d->mappings[i].remotePort;
        f.fromConfig = true;
        if (d->forwarder) {
            f.localPort = d->forwarder->localPort(i);
            f.state = d->forwarder->state();
            if (f.state == PortForwarder::State::Failed)
                f.problem = d->forwarder->failureReason();
        }
        all << f;
    }
    for (const Private::Extra &e : std::as_const(d->extras)) {
        Forward f;
        f.spec = e.spec;
        f.remotePort = e.mapping.remotePort;
        if (e.forwarder) {
            f.localPort = e.forwarder->localPort(0);
            f.state = e.forwarder->state();
        } else {
            f.state = e.problem.isEmpty() ? PortForwarder::State::Idle : PortForwarder::State::Failed;
        }
        f.problem = e.problem;
        all << f;
    }
    return all;
}

Expected<PortMapping, QString> DevSession::checkNewForward(const QString &spec, const QList<Forward> &existing)
{
    const QString text = spec.trimmed();
    const auto mapping = PortMapping::parse(text);
    if (!mapping)
        return unexpected(QStringLiteral("\"%1\" is not a port-forward: expected LOCAL:REMOTE, :REMOTE or PORT, "
                                         "ports 1-65535 (local 0 or empty: any free port)")
                              .arg(text));
    for (const Forward &f : existing) {
        if (f.spec == text && f.localPort == 0 && !f.problem.isEmpty())
            continue; // a failed copy of it: the caller replaces it
        if (mapping->localPort != 0 && f.localPort == mapping->localPort)
            return unexpected(
                QStringLiteral("local port %1 is already forwarded to port %2").arg(f.localPort).arg(f.remotePort));
        if (!f.fromConfig && f.spec == text)
            return unexpected(QStringLiteral("%1 is already forwarded").arg(text));
    }
    return *mapping;
}

Expected<quint16, QString> DevSession::addPortForward(const QString &spec)
{
    const QString text = spec.trimmed();
    const auto mapping = checkNewForward(text, forwards());
    if (!mapping)
        return unexpected(mapping.error());
    if (d->state != State::Ready && d->state != State::Reconnecting)
        return unexpected(QStringLiteral("dev mode of %1 is not running").arg(d->o.workload.shortName()));
    // A remembered forward that failed to listen earlier is tried again in its place.
    for (qsizetype i = 0; i < d->extras.size(); ++i) {
        if (d->extras[i].spec == text) {
            d->dropForwarder(d->extras[i]);
            d->extras.removeAt(i);
            break;
        }
    }
    Private::Extra e {text, *mapping, nullptr, {}};
    d->startExtra(e);
    if (!e.problem.isEmpty())
        return unexpected(e.problem);
    d->extras.append(e);
    Q_EMIT forwardsChanged();
    return e.forwarder->localPort(0);
}

bool DevSession::removePortForward(const QString &spec)
{
    for (qsizetype i = 0; i < d->extras.size(); ++i) {
        if (d->extras[i].spec != spec.trimmed())
            continue;
        d->dropForwarder(d->extras[i]);
        d->extras.removeAt(i);
        Q_EMIT forwardsChanged();
        return true;
    }
    return false;
}

} // namespace iterdeck::devmode
