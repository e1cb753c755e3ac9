#include "devsupport.h"

#include "config/devconfigloader.h"
#include "devsession.h"
#include "kube/kubeclient.h"
#include "sync/protocol.h"
#include "workload.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QPointer>
#include <QStandardPaths>

#include <memory>

#include <fcntl.h>
#include <unistd.h>

namespace iterdeck::devmode {

using namespace iterdeck::kube;

ResourceRef workloadResource(WorkloadKind kind)
{
    return kind == WorkloadKind::Deployment ? ResourceRef::deployments() : ResourceRef::statefulSets();
}

ResourceRef hpaResource()
{
    ResourceRef r;
    r.group = QStringLiteral("autoscaling");
    r.version = QStringLiteral("v2");
    r.resource = QStringLiteral("horizontalpodautoscalers");
    r.kind = QStringLiteral("HorizontalPodAutoscaler");
    return r;
}

void execCapture(KubeClient *client, QObject *context, ExecOptions options, const QByteArray &input,
                 std::function<void(const ExecResult &)> done)
{
    options.stdinEnabled = !input.isEmpty();
    options.stdoutEnabled = true;
    options.stderrEnabled = true;
    options.tty = false;
    auto *session = new ExecSession(context);
    auto result = std::make_shared<ExecResult>();
    QObject::connect(session, &ExecSession::stdoutReady, session,
                     [session, result] { result->out += session->readStdout(); });
    QObject::connect(session, &ExecSession::stderrReady, session,
                     [session, result] { result->err += session->readStderr(); });
    // Feed stdin in pieces as it drains, so a large upload is never held twice in memory.
    auto offset = std::make_shared<qsizetype>(0);
    auto feed = [session, input, offset] {
        while (*offset < input.size() && session->stdinBytesToWrite() < 1024 * 1024) {
            const qsizetype n = std::min<qsizetype>(256 * 1024, input.size() - *offset);
            session->writeStdin(input.mid(*offset, n));
            *offset += n;
        }
        if (*offset == input.size() && *offset > 0) {
            *offset = input.size() + 1; // close once
            session->closeStdin();
        }
    };
    if (!input.isEmpty()) {
        QObject::connect(session, &ExecSession::started, session, feed);
        QObject::connect(session, &ExecSession::stdinBytesWritten, session, feed);
    }
    QObject::connect(session, &ExecSession::finished, context, [session, result, done] {
        result->out += session->readStdout();
        result->err += session->readStderr();
        result->exitCode = session->exitCode();
        result->error = session->error();
        session->deleteLater();
        done(*result);
    });
    client->transport(session, [session, options, result, done](const Expected<Transport, KubeError> &t) {
        if (!t) {
            result->error = t.error();
            QObject *ctx = session->parent();
            session->deleteLater();
            if (ctx)
                done(*result);
            return;
        }
        session->start(*t, options);
    });
}

void canI(KubeClient *client, QObject *context, const QString &ns, const QList<AccessQuestion> &questions,
          std::function<void(const QStringList &denied, const KubeError &error)> done)
{
    ResourceRef ssar;
    ssar.group = QStringLiteral("authorization.k8s.io");
    ssar.resource = QStringLiteral("selfsubjectaccessreviews");
    ssar.kind = QStringLiteral("SelfSubjectAccessReview");
    ssar.namespaced = false;
    struct State
    {
        int pending = 0;
        QStringList denied;
        KubeError error;
    };
    auto state = std::make_shared<State>();
    state->pending = int(questions.size());
    if (questions.isEmpty()) {
        QMetaObject::invokeMethod(
            context, [done] { done({}, {}); }, Qt::QueuedConnection);
        return;
    }
    for (const AccessQuestion &qn : questions) {
        QJsonObject attrs {{QStringLiteral("namespace"), ns},
                           {QStringLiteral("verb"), qn.verb},
                           {QStringLiteral("group"), qn.group},
                           {QStringLiteral("resource"), qn.resource}};
        if (!qn.subresource.isEmpty())
            attrs.insert(QStringLiteral("subresource"), qn.subresource);
        if (!qn.name.isEmpty())
            attrs.insert(QStringLiteral("name"), qn.name);
        const QJsonObject body {{QStringLiteral("apiVersion"), QStringLiteral("authorization.k8s.io/v1")},
                                {QStringLiteral("kind"), QStringLiteral("SelfSubjectAccessReview")},
                                {QStringLiteral("spec"), QJsonObject {{QStringLiteral("resourceAttributes"), attrs}}}};
        KubeCall *call = client->create(ssar, {}, body);
        QObject::connect(call, &KubeCall::finished, context, [call, qn, ns, state, done] {
            const auto obj = call->object();
            if (!call->isOk()) {
                state->error = call->error();
            } else if (!obj->value(QStringLiteral("status")).toObject().value(QStringLiteral("allowed")).toBool()) {
                const QString res = qn.resource + (qn.subresource.isEmpty() ? QString() : u'/' + qn.subresource);
                state->denied << QStringLiteral("cannot %1 resource \"%2\" in API group \"%3\" in the namespace \"%4\"")
                                     .arg(qn.verb, res, qn.group, ns);
            }
            if (--state->pending == 0)
                done(state->denied, state->error);
        });
    }
}

namespace {

QString appOf(const QJsonObject &workload)
{
    const QJsonObject meta = workload.value(QStringLiteral("metadata")).toObject();
    const QJsonObject ann = meta.value(QStringLiteral("annotations")).toObject();
    const QJsonObject labels = meta.value(QStringLiteral("labels")).toObject();
    for (const QString &v : {ann.value(QStringLiteral("meta.helm.sh/release-name")).toString(),
                             labels.value(QStringLiteral("app.kubernetes.io/instance")).toString(),
                             labels.value(QStringLiteral("app.kubernetes.io/part-of")).toString()}) {
        if (!v.isEmpty())
            return v;
    }
    return QStringLiteral("default.application");
}

// Picks the workload's service and container out of a loaded config.
bool pickService(const model::DevConfig &config, const QString &name, bool firstIfNone, ResolvedConfig &out,
                 QString *error)
{
    const model::ServiceConfig *svc = config.service(name);
    if (!svc && firstIfNone && config.services.size() == 1)
        svc = &config.services.first();
    if (!svc) {
        QStringList names;
        for (const auto &s : config.services)
            names << s.name;
        *error
            = QStringLiteral("%1 has no service named \"%2\" (it has: %3)")
                  .arg(out.origin, name, names.isEmpty() ? QStringLiteral("none") : names.join(QStringLiteral(", ")));
        return false;
    }
    const model::ContainerConfig *c = svc->container();
    if (c) {
        out.container = c->name;
        out.dev = c->dev;
    }
    return true;
}

QStringList messages(const Diagnostics &diag, bool errors)
{
    QStringList out;
    for (const Diagnostic &dg : diag.sorted()) {
        if (dg.isError() == errors)
            out << dg.toString();
    }
    return out;
}

} // namespace

QString configSourceName(ConfigSource source)
{
    switch (source) {
    case ConfigSource::Local:
        return QStringLiteral("local");
    case ConfigSource::Annotation:
        return QStringLiteral("annotation");
    case ConfigSource::ConfigMap:
        return QStringLiteral("configmap");
    case ConfigSource::Defaults:
        return QStringLiteral("defaults");
    }
    return {};
}

void resolveConfig(KubeClient *client, QObject *context, const QString &ns, const QJsonObject &workload,
                   const QString &localDir, const QString &configFile, const QString &app,
                   std::function<void(const ResolvedConfig &config, const QString &error)> done)
{
    const QJsonObject meta = workload.value(QStringLiteral("metadata")).toObject();
    const QString name = meta.value(QStringLiteral("name")).toString();
    config::DevConfigLoader loader;
    ResolvedConfig out;
    QString error;
    const QString local = !configFile.isEmpty()
        ? configFile
        : (localDir.isEmpty() ? QString() : QDir(localDir).filePath(QStringLiteral(".nocalhost/config.yaml")));
    if (!local.isEmpty() && (QFileInfo::exists(local) || !configFile.isEmpty())) {
        out.source = ConfigSource::Local;
        out.origin = local;
        Diagnostics diag;
        const auto config = loader.loadFile(local, diag);
        out.warnings = messages(diag, false);
        if (!config || diag.hasErrors())
            error = messages(diag, true).join(u'\n');
        else
            pickService(*config, name, false, out, &error);
        QMetaObject::invokeMethod(
            context, [done, out, error] { done(out, error); }, Qt::QueuedConnection);
        return;
    }
    const QString annotation
        = meta.value(QStringLiteral("annotations")).toObject().value(QStringLiteral("dev.nocalhost")).toString();
    if (!annotation.isEmpty()) {
        out.source = ConfigSource::Annotation;
        out.origin = QStringLiteral("annotation dev.nocalhost of %1").arg(name);
        Diagnostics diag;
        const auto config = loader.loadText(annotation.toUtf8(), out.origin, diag);
        out.warnings = messages(diag, false);
        if (!config || diag.hasErrors())
            error = messages(diag, true).join(u'\n');
        else
            pickService(*config, name, true, out, &error);
        QMetaObject::invokeMethod(
            context, [done, out, error] { done(out, error); }, Qt::QueuedConnection);
        return;
    }
    const QString cmName = QStringLiteral("dev.nocalhost.config.") + (app.isEmpty() ? appOf(workload) : app);
    KubeCall *call = client->get(ResourceRef::configMaps(), ns, cmName);
    QObject::connect(call, &KubeCall::finished, context, [call, cmName, name, done] {
        ResolvedConfig res;
        QString err;
        if (!call->isOk() && call->error().isNotFound()) {
            res.source = ConfigSource::Defaults;
            res.origin = QStringLiteral("defaults");
            done(res, {});
            return;
        }
        if (!call->isOk()) {
            done(res, QStringLiteral("reading configmap/%1: %2").arg(cmName, call->error().toString()));
            return;
        }
        const QJsonObject data = call->object()->value(QStringLiteral("data")).toObject();
        QString text;
        for (const char *key : {"config.yaml", "config", "nocalhost.yaml"}) {
            if (data.contains(QLatin1String(key))) {
                text = data.value(QLatin1String(key)).toString();
                break;
            }
        }
        if (text.isEmpty() && !data.isEmpty())
            text = data.begin().value().toString();
        res.source = ConfigSource::ConfigMap;
        res.origin = QStringLiteral("configmap/") + cmName;
        Diagnostics diag;
        const auto config = config::DevConfigLoader().loadText(text.toUtf8(), res.origin, diag);
        res.warnings = messages(diag, false);
        if (!config || diag.hasErrors())
            err = messages(diag, true).join(u'\n');
        else
            pickService(*config, name, false, res, &err);
        done(res, err);
    });
}

QString defaultAgentPath()
{
    const QString env = qEnvironmentVariable("ITERDECK_AGENT");
    if (!env.isEmpty())
        return env;
    const QString dir = QCoreApplication::applicationDirPath();
    for (const QString &candidate : QStringList {dir + QStringLiteral("/iterdeck-agent"),
                                                 dir + QStringLiteral("/../iterdeck-agent/iterdeck-agent"),
                                                 dir + QStringLiteral("/../app/iterdeck-agent/iterdeck-agent"),
                                                 dir + QStringLiteral("/../../app/iterdeck-agent/iterdeck-agent")}) {
        if (QFileInfo(candidate).isExecutable())
            return QFileInfo(candidate).canonicalFilePath();
    }
    return QStandardPaths::findExecutable(QStringLiteral("iterdeck-agent"));
}

namespace {

struct Install
{
    KubeClient *client;
    QPointer<QObject> context;
    ExecOptions base;
    QByteArray binary;
    QString hash;
    QString path;
    std::function<void(const QString &, bool, const QString &)> done;
    QStringList uploaders;
    int attempt = 0;
    QString lastError;
};

void verify(std::shared_ptr<Install> in, bool uploaded);

void upload(std::shared_ptr<Install> in)
{
    if (in->attempt >= in->uploaders.size()) {
        in->done({}, false, QStringLiteral("cannot upload the agent to the container: %1").arg(in->lastError));
        return;
    }
    ExecOptions o = in->base;
    const QString part = in->path + QStringLiteral(".part");
    o.command = QStringList {QStringLiteral("/bin/sh"), QStringLiteral("-c"),
                             QStringLiteral("mkdir -p /tmp/.iterdeck && %1 > '%2' && chmod 755 '%2' && mv -f '%2' '%3'")
                                 .arg(in->uploaders.at(in->attempt), part, in->path)};
    execCapture(in->client, in->context, o, in->binary, [in](const ExecResult &r) {
        if (r.error.isError()) {
            in->done({}, false, QStringLiteral("uploading the agent: %1").arg(r.error.toString()));
            return;
        }
        if (r.exitCode == 0) {
            verify(in, true);
            return;
        }
        in->lastError = QString::fromUtf8(r.err.trimmed());
        if (in->lastError.isEmpty())
            in->lastError = QStringLiteral("exit code %1").arg(r.exitCode);
        ++in->attempt; // 127: no such tool here; try the next way
        upload(in);
    });
}

void verify(std::shared_ptr<Install> in, bool uploaded)
{
    ExecOptions o = in->base;
    // Under sh, so that a missing agent is an exit code and not a failed exec.
    o.command = QStringList {QStringLiteral("/bin/sh"), QStringLiteral("-c"),
                             QStringLiteral("[ -x '%1' ] && exec '%1' checksum '%1'").arg(in->path)};
    execCapture(in->client, in->context, o, {}, [in, uploaded](const ExecResult &r) {
        if (r.error.isError()) {
            in->done({}, false, QStringLiteral("checking the agent: %1").arg(r.error.toString()));
            return;
        }
        const QString got = QString::fromUtf8(r.out.trimmed());
        if (r.exitCode == 0 && got == in->hash) {
            in->done(in->path, uploaded, {});
            return;
        }
        if (uploaded) {
            in->done({}, false,
                     r.exitCode == 0
                         ? QStringLiteral("the uploaded agent is damaged (hash %1, expected %2)").arg(got, in->hash)
                         : QStringLiteral("the uploaded agent does not run in this container: %1")
                               .arg(QString::fromUtf8(r.err.trimmed())));
            return;
        }
        upload(in);
    });
}

} // namespace

void installAgent(KubeClient *client, QObject *context, const QString &ns, const QString &pod, const QString &container,
                  const QString &localAgent, std::function<void(const QString &, bool, const QString &)> done)
{
    auto in = std::make_shared<Install>();
    in->client = client;
    in->context = context;
    in->done = std::move(done);
    QFile f(localAgent);
    if (localAgent.isEmpty() || !f.open(QIODevice::ReadOnly)) {
        const QString why = localAgent.isEmpty()
            ? QStringLiteral("iterdeck-agent was not found (set ITERDECK_AGENT)")
            : QStringLiteral("cannot read %1: %2").arg(localAgent, f.errorString());
        QMetaObject::invokeMethod(
            context, [in, why] { in->done({}, false, why); }, Qt::QueuedConnection);
        return;
    }
    in->binary = f.readAll();
    in->hash
        = QString::fromStdString(sync::hashHex(sync::hashBytes(in->binary.constData(), size_t(in->binary.size()))));
    in->path = QStringLiteral("/tmp/.iterdeck/iterdeck-agent-") + in->hash.left(16);
    in->base.ns = ns;
    in->base.pod = pod;
    in->base.container = container;
    in->uploaders = {QStringLiteral("cat"), QStringLiteral("dd bs=65536 2>/dev/null"),
                     QStringLiteral("head -c %1").arg(in->binary.size())};
    verify(in, false);
}

} // namespace iterdeck::devmode
