#include "workload.h"

#include <QJsonDocument>
#include <QRegularExpression>
#include <QSysInfo>

#include <pwd.h>
#include <unistd.h>

namespace iterdeck::devmode {

QString WorkloadRef::resource() const
{
    return kind == WorkloadKind::Deployment ? QStringLiteral("deployments") : QStringLiteral("statefulsets");
}

QString WorkloadRef::shortName() const
{
    return (kind == WorkloadKind::Deployment ? QStringLiteral("deploy/") : QStringLiteral("sts/")) + name;
}

QString WorkloadRef::kindName() const
{
    return kind == WorkloadKind::Deployment ? QStringLiteral("Deployment") : QStringLiteral("StatefulSet");
}

std::optional<WorkloadRef> WorkloadRef::parse(const QString &text, QString *error)
{
    const qsizetype slash = text.indexOf(QLatin1Char('/'));
    if (slash <= 0 || slash == text.size() - 1) {
        *error = QStringLiteral("\"%1\": name the workload as deploy/NAME or sts/NAME").arg(text);
        return std::nullopt;
    }
    QString kind = text.left(slash).toLower();
    const QString name = text.mid(slash + 1);
    if (kind.endsWith(QLatin1String(".apps")))
        kind.chop(5);
    static const QRegularExpression dns(QStringLiteral("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"));
    if (!dns.match(name).hasMatch() || name.size() > 253) {
        *error = QStringLiteral("\"%1\" is not a valid workload name").arg(name);
        return std::nullopt;
    }
    WorkloadRef ref;
    ref.name = name;
    if (kind == u"deploy" || kind == u"deployment" || kind == u"deployments") {
        ref.kind = WorkloadKind::Deployment;
    } else if (kind == u"sts" || kind == u"statefulset" || kind == u"statefulsets") {
        ref.kind = WorkloadKind::StatefulSet;
    } else {
        static const QStringList known
            = {QStringLiteral("ds"),         QStringLiteral("daemonset"),  QStringLiteral("daemonsets"),
               QStringLiteral("job"),        QStringLiteral("jobs"),       QStringLiteral("cronjob"),
               QStringLiteral("cronjobs"),   QStringLiteral("cj"),         QStringLiteral("pod"),
               QStringLiteral("pods"),       QStringLiteral("po"),         QStringLiteral("rs"),
               QStringLiteral("replicaset"), QStringLiteral("replicasets")};
        *error = known.contains(kind)
            ? QStringLiteral("dev mode for %1 is not supported yet: use a Deployment (deploy/NAME) or a "
                             "StatefulSet (sts/NAME)")
                  .arg(kind)
            : QStringLiteral("\"%1\" is not a workload kind: use deploy/NAME or sts/NAME").arg(kind);
        return std::nullopt;
    }
    return ref;
}

QString Owner::label() const
{
    QString s;
    for (QChar c : user) {
        const bool ok = (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || (c >= u'0' && c <= u'9') || c == u'.'
            || c == u'_' || c == u'-';
        s += ok ? c : QChar(u'_');
    }
    s = s.left(63);
    while (!s.isEmpty() && !s.front().isLetterOrNumber())
        s.remove(0, 1);
    while (!s.isEmpty() && !s.back().isLetterOrNumber())
        s.chop(1);
    return s.isEmpty() ? QStringLiteral("user") : s;
}

Owner Owner::current()
{
    Owner o;
    o.user = qEnvironmentVariable("ITERDECK_USER");
    if (o.user.isEmpty())
        o.user = qEnvironmentVariable("USER");
    if (o.user.isEmpty()) {
        if (const passwd *pw = ::getpwuid(::getuid()))
            o.user = QString::fromLocal8Bit(pw->pw_name);
    }
    if (o.user.isEmpty())
        o.user = QStringLiteral("user");
    o.machine = QSysInfo::machineHostName();
    if (o.machine.isEmpty())
        o.machine = QStringLiteral("localhost");
    return o;
}

QJsonObject cleanOriginal(const QJsonObject &live)
{
    QJsonObject o = live;
    o.remove(QStringLiteral("status"));
    QJsonObject meta = o.value(QStringLiteral("metadata")).toObject();
    for (const char *k : {"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"})
        meta.remove(QLatin1String(k));
    QJsonObject annotations = meta.value(QStringLiteral("annotations")).toObject();
    annotations.remove(QStringLiteral("kubectl.kubernetes.io/last-applied-configuration"));
    for (const QString &k : annotations.keys()) {
        if (k.startsWith(QLatin1String(keys::prefix)))
            annotations.remove(k);
    }
    QJsonObject labels = meta.value(QStringLiteral("labels")).toObject();
    labels.remove(keys::user);
    meta.remove(QStringLiteral("annotations"));
    meta.remove(QStringLiteral("labels"));
    if (!annotations.isEmpty())
        meta.insert(QStringLiteral("annotations"), annotations);
    if (!labels.isEmpty())
        meta.insert(QStringLiteral("labels"), labels);
    o.insert(QStringLiteral("metadata"), meta);
    return o;
}

QStringList containerNames(const QJsonObject &workload)
{
    QStringList names;
    const QJsonArray containers = workload.value(QStringLiteral("spec"))
                                      .toObject()
                                      .value(QStringLiteral("template"))
                                      .toObject()
                                      .value(QStringLiteral("spec"))
                                      .toObject()
                                      .value(QStringLiteral("containers"))
                                      .toArray();
    for (const QJsonValue &c : containers)
        names << c.toObject().value(QStringLiteral("name")).toString();
    return names;
}

namespace {

QJsonArray withVolume(QJsonArray list, const QJsonObject &item)
{
    const QString name = item.value(QStringLiteral("name")).toString();
    for (qsizetype i = 0; i < list.size(); ++i) {
        if (list.at(i).toObject().value(QStringLiteral("name")).toString() == name) {
            list.replace(i, item);
            return list;
        }
    }
    list.append(item);
    return list;
}

QJsonObject quantities(const model::ResourceQuantities &q)
{
    QJsonObject o;
    if (!q.cpu.isEmpty())
        o.insert(QStringLiteral("cpu"), q.cpu);
    if (!q.memory.isEmpty())
        o.insert(QStringLiteral("memory"), q.memory);
    return o;
}

QString cleanPath(QString p)
{
    while (p.size() > 1 && p.endsWith(QLatin1Char('/')))
        p.chop(1);
    return p;
}

} // namespace

std::optional<QJsonObject> devSpec(const QJsonObject &specIn, const DevSpec &dev, QString *error)
{
    QJsonObject spec = specIn;
    QJsonObject tmpl = spec.value(QStringLiteral("template")).toObject();
    QJsonObject podSpec = tmpl.value(QStringLiteral("spec")).toObject();
    QJsonArray containers = podSpec.value(QStringLiteral("containers")).toArray();
    const QString workDir
        = cleanPath(dev.dev.workDir.isEmpty() ? QStringLiteral("/home/nocalhost-dev") : dev.dev.workDir);
    bool found = false;
    for (qsizetype i = 0; i < containers.size(); ++i) {
        QJsonObject c = containers.at(i).toObject();
        for (const char *probe : {"livenessProbe", "readinessProbe", "startupProbe"})
            c.remove(QLatin1String(probe));
        if (c.value(QStringLiteral("name")).toString() == dev.container) {
            found = true;
            c.insert(QStringLiteral("image"), dev.image);
            c.insert(QStringLiteral("command"),
                     QJsonArray {QStringLiteral("/bin/sh"), QStringLiteral("-c"), QStringLiteral("tail -f /dev/null")});
            c.remove(QStringLiteral("args"));
            c.insert(QStringLiteral("workingDir"), workDir);
            if (!dev.dev.imagePullPolicy.isEmpty())
                c.insert(QStringLiteral("imagePullPolicy"), dev.dev.imagePullPolicy);
            // Env: the config's entries replace same-named ones, the rest are appended.
            QJsonArray env = c.value(QStringLiteral("env")).toArray();
            auto setEnv = [&env](const model::EnvVar &v) {
                const QJsonObject item {{QStringLiteral("name"), v.name}, {QStringLiteral("value"), v.value}};
                for (qsizetype k = 0; k < env.size(); ++k) {
                    if (env.at(k).toObject().value(QStringLiteral("name")).toString() == v.name) {
                        env.replace(k, item);
                        return;
                    }
                }
                env.append(item);
            };
            for (const auto &v : dev.extraEnv)
                setEnv(v);
            for (const auto &v : dev.dev.env)
                setEnv(v);
            if (!env.isEmpty())
                c.insert(QStringLiteral("env"), env);
            const QJsonObject limits = quantities(dev.dev.limits), requests = quantities(dev.dev.requests);
            if (!limits.isEmpty() || !requests.isEmpty()) {
                QJsonObject res;
                if (!limits.isEmpty())
                    res.insert(QStringLiteral("limits"), limits);
                if (!requests.isEmpty())
                    res.insert(QStringLiteral("requests"), requests);
                c.insert(QStringLiteral("resources"), res);
            }
            // The workDir and the persistent dirs. A persistent dir that is the workDir replaces
            // its emptyDir; the others are mounted where they are declared.
            QJsonArray mounts = c.value(QStringLiteral("volumeMounts")).toArray();
            QJsonArray volumes = podSpec.value(QStringLiteral("volumes")).toArray();
            const QString workClaim = dev.claims.value(workDir);
            QJsonObject workVolume {{QStringLiteral("name"), keys::workDirVolume}};
            if (workClaim.isEmpty())
                workVolume.insert(QStringLiteral("emptyDir"), QJsonObject {});
            else
                workVolume.insert(QStringLiteral("persistentVolumeClaim"),
                                  QJsonObject {{QStringLiteral("claimName"), workClaim}});
            volumes = withVolume(volumes, workVolume);
            mounts = withVolume(
                mounts,
                QJsonObject {{QStringLiteral("name"), keys::workDirVolume}, {QStringLiteral("mountPath"), workDir}});
            int n = 0;
            for (const auto &dir : dev.dev.persistentVolumeDirs) {
                const QString path = cleanPath(dir.path);
                const QString claim = dev.claims.value(path);
                if (path == workDir || claim.isEmpty())
                    continue;
                const QString name = QStringLiteral("iterdeck-persist-%1").arg(n++);
                volumes = withVolume(volumes,
                                     QJsonObject {{QStringLiteral("name"), name},
                                                  {QStringLiteral("persistentVolumeClaim"),
                                                   QJsonObject {{QStringLiteral("claimName"), claim}}}});
                mounts = withVolume(mounts,
                                    QJsonObject {{QStringLiteral("name"), name}, {QStringLiteral("mountPath"), path}});
            }
            c.insert(QStringLiteral("volumeMounts"), mounts);
            podSpec.insert(QStringLiteral("volumes"), volumes);
        }
        containers.replace(i, c);
    }
    if (!found) {
        *error = QStringLiteral("container \"%1\" not found").arg(dev.container);
        return std::nullopt;
    }
    podSpec.insert(QStringLiteral("containers"), containers);
    tmpl.insert(QStringLiteral("spec"), podSpec);
    QJsonObject tmeta = tmpl.value(QStringLiteral("metadata")).toObject();
    QJsonObject tann = tmeta.value(QStringLiteral("annotations")).toObject();
    tann.insert(keys::devContainer, dev.container);
    tmeta.insert(QStringLiteral("annotations"), tann);
    tmpl.insert(QStringLiteral("metadata"), tmeta);
    spec.insert(QStringLiteral("template"), tmpl);
    spec.insert(QStringLiteral("replicas"), 1);
    if (dev.kind == WorkloadKind::Deployment)
        spec.insert(QStringLiteral("strategy"), QJsonObject {{QStringLiteral("type"), QStringLiteral("Recreate")}});
    return spec;
}

namespace {

QJsonObject op(const char *kind, const char *path, const QJsonValue &value)
{
    return QJsonObject {{QStringLiteral("op"), QLatin1String(kind)},
                        {QStringLiteral("path"), QLatin1String(path)},
                        {QStringLiteral("value"), value}};
}

QJsonValue rvOf(const QJsonObject &live)
{
    return live.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("resourceVersion"));
}

} // namespace

QJsonArray enterPatch(const QJsonObject &live, const QJsonObject &newSpec, const QJsonObject &annotations,
                      const QJsonObject &labels)
{
    const QJsonObject meta = live.value(QStringLiteral("metadata")).toObject();
    QJsonObject ann = meta.value(QStringLiteral("annotations")).toObject();
    for (auto it = annotations.begin(); it != annotations.end(); ++it)
        ann.insert(it.key(), it.value());
    QJsonObject lab = meta.value(QStringLiteral("labels")).toObject();
    for (auto it = labels.begin(); it != labels.end(); ++it)
        lab.insert(it.key(), it.value());
    return QJsonArray {op("test", "/metadata/resourceVersion", rvOf(live)), op("replace", "/spec", newSpec),
                       op("add", "/metadata/annotations", ann), op("add", "/metadata/labels", lab)};
}

QJsonArray restorePatch(const QJsonObject &live, const QJsonObject &original)
{
    const QJsonObject meta = original.value(QStringLiteral("metadata")).toObject();
    // Keys others added while dev mode was on are kept; ours and the ones dev mode changed go back.
    QJsonObject ann = live.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("annotations")).toObject();
    for (const QString &k : ann.keys()) {
        if (k.startsWith(QLatin1String(keys::prefix)))
            ann.remove(k);
    }
    const QJsonObject savedAnn = meta.value(QStringLiteral("annotations")).toObject();
    for (auto it = savedAnn.begin(); it != savedAnn.end(); ++it)
        ann.insert(it.key(), it.value());
    QJsonObject lab = live.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("labels")).toObject();
    lab.remove(keys::user);
    const QJsonObject savedLab = meta.value(QStringLiteral("labels")).toObject();
    for (auto it = savedLab.begin(); it != savedLab.end(); ++it)
        lab.insert(it.key(), it.value());
    QJsonArray ops {op("test", "/metadata/resourceVersion", rvOf(live)),
                    op("replace", "/spec", original.value(QStringLiteral("spec")))};
    // Dev mode added both maps; an original without them gets them removed, not left empty.
    const QJsonObject liveMeta = live.value(QStringLiteral("metadata")).toObject();
    const std::pair<QString, QJsonObject> maps[]
        = {{QStringLiteral("annotations"), ann}, {QStringLiteral("labels"), lab}};
    for (const auto &[name, value] : maps) {
        const QString path = QStringLiteral("/metadata/") + name;
        if (!value.isEmpty())
            ops.append(QJsonObject {{QStringLiteral("op"), QStringLiteral("add")},
                                    {QStringLiteral("path"), path},
                                    {QStringLiteral("value"), value}});
        else if (liveMeta.contains(name))
            ops.append(QJsonObject {{QStringLiteral("op"), QStringLiteral("remove")}, {QStringLiteral("path"), path}});
    }
    return ops;
}

QString duplicateName(const QString &name, const Owner &owner)
{
    QString user = owner.label().toLower();
    user.replace(QLatin1Char('_'), QLatin1Char('-'));
    user.replace(QLatin1Char('.'), QLatin1Char('-'));
    // Pod names append a hash (and a suffix for statefulsets): keep the whole under 52.
    QString n = name.left(40) + QStringLiteral("-dev-") + user;
    n = n.left(52);
    while (n.endsWith(QLatin1Char('-')))
        n.chop(1);
    return n;
}

QJsonObject duplicateOf(const QJsonObject &original, const Owner &owner, const QJsonObject &newSpec,
                        const QJsonObject &annotations)
{
    const QString name = original.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString();
    const QJsonObject labels {{keys::duplicateOf, name.left(63)}, {keys::user, owner.label()}};
    QJsonObject spec = newSpec;
    spec.insert(QStringLiteral("selector"), QJsonObject {{QStringLiteral("matchLabels"), labels}});
    QJsonObject tmpl = spec.value(QStringLiteral("template")).toObject();
    QJsonObject tmeta = tmpl.value(QStringLiteral("metadata")).toObject();
    tmeta.insert(QStringLiteral("labels"), labels);
    tmpl.insert(QStringLiteral("metadata"), tmeta);
    spec.insert(QStringLiteral("template"), tmpl);
    QJsonObject meta;
    meta.insert(QStringLiteral("name"), duplicateName(name, owner));
    meta.insert(QStringLiteral("namespace"),
                original.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("namespace")));
    meta.insert(QStringLiteral("labels"), labels);
    meta.insert(QStringLiteral("annotations"), annotations);
    QJsonObject copy;
    copy.insert(QStringLiteral("apiVersion"), original.value(QStringLiteral("apiVersion")));
    copy.insert(QStringLiteral("kind"), original.value(QStringLiteral("kind")));
    copy.insert(QStringLiteral("metadata"), meta);
    copy.insert(QStringLiteral("spec"), spec);
    return copy;
}

QString selectorString(const QJsonObject &workload)
{
    const QJsonObject sel
        = workload.value(QStringLiteral("spec")).toObject().value(QStringLiteral("selector")).toObject();
    QStringList parts;
    const QJsonObject ml = sel.value(QStringLiteral("matchLabels")).toObject();
    for (auto it = ml.begin(); it != ml.end(); ++it)
        parts << it.key() + QLatin1Char('=') + it.value().toString();
    for (const QJsonValue &e : sel.value(QStringLiteral("matchExpressions")).toArray()) {
        const QJsonObject x = e.toObject();
        const QString key = x.value(QStringLiteral("key")).toString();
        const QString opName = x.value(QStringLiteral("operator")).toString();
        QStringList values;
        for (const QJsonValue &v : x.value(QStringLiteral("values")).toArray())
            values << v.toString();
        if (opName == u"In")
            parts << key + QStringLiteral(" in (") + values.join(QLatin1Char(',')) + QLatin1Char(')');
        else if (opName == u"NotIn")
            parts << key + QStringLiteral(" notin (") + values.join(QLatin1Char(',')) + QLatin1Char(')');
        else if (opName == u"Exists")
            parts << key;
        else if (opName == u"DoesNotExist")
            parts << QLatin1Char('!') + key;
    }
    return parts.join(QLatin1Char(','));
}

namespace {

void diffInto(const QJsonValue &a, const QJsonValue &b, const QString &path, QStringList &out, int limit)
{
    if (out.size() >= limit || a == b)
        return;
    if (a.isObject() && b.isObject()) {
        const QJsonObject x = a.toObject(), y = b.toObject();
        QStringList keysAll = x.keys();
        for (const QString &k : y.keys()) {
            if (!x.contains(k))
                keysAll << k;
        }
        for (const QString &k : keysAll)
            diffInto(x.value(k), y.value(k), path.isEmpty() ? k : path + QLatin1Char('.') + k, out, limit);
        return;
    }
    if (a.isArray() && b.isArray() && a.toArray().size() == b.toArray().size()) {
        const QJsonArray x = a.toArray(), y = b.toArray();
        for (qsizetype i = 0; i < x.size(); ++i)
            diffInto(x.at(i), y.at(i), path + QStringLiteral("[%1]").arg(i), out, limit);
        return;
    }
    out << (path.isEmpty() ? QStringLiteral("(root)") : path);
}

} // namespace

QStringList differences(const QJsonValue &a, const QJsonValue &b, int limit)
{
    QStringList out;
    diffInto(a, b, {}, out, limit);
    return out;
}

namespace {

QJsonObject containerStatus(const QJsonObject &pod, const QString &container)
{
    for (const QJsonValue &s :
         pod.value(QStringLiteral("status")).toObject().value(QStringLiteral("containerStatuses")).toArray()) {
        if (s.toObject().value(QStringLiteral("name")).toString() == container)
            return s.toObject();
    }
    return {};
}

} // namespace

bool isReadyDevPod(const QJsonObject &pod, const QString &container, const QString &image)
{
    const QJsonObject meta = pod.value(QStringLiteral("metadata")).toObject();
    if (meta.contains(QStringLiteral("deletionTimestamp")))
        return false;
    if (meta.value(QStringLiteral("annotations")).toObject().value(keys::devContainer).toString() != container)
        return false;
    if (pod.value(QStringLiteral("status")).toObject().value(QStringLiteral("phase")).toString() != u"Running")
        return false;
    bool imageOk = false;
    for (const QJsonValue &c :
         pod.value(QStringLiteral("spec")).toObject().value(QStringLiteral("containers")).toArray()) {
        const QJsonObject o = c.toObject();
        if (o.value(QStringLiteral("name")).toString() == container)
            imageOk = o.value(QStringLiteral("image")).toString() == image;
    }
    return imageOk
        && containerStatus(pod, container)
               .value(QStringLiteral("state"))
               .toObject()
               .contains(QStringLiteral("running"));
}

QString devPodProblem(const QJsonObject &pod, const QString &container)
{
    const QJsonObject st = containerStatus(pod, container);
    const QJsonObject waiting
        = st.value(QStringLiteral("state")).toObject().value(QStringLiteral("waiting")).toObject();
    const QString reason = waiting.value(QStringLiteral("reason")).toString();
    static const QStringList fatal
        = {QStringLiteral("ImagePullBackOff"),           QStringLiteral("ErrImagePull"),
           QStringLiteral("InvalidImageName"),           QStringLiteral("CrashLoopBackOff"),
           QStringLiteral("CreateContainerConfigError"), QStringLiteral("CreateContainerError")};
    if (!fatal.contains(reason))
        return {};
    const QString msg = waiting.value(QStringLiteral("message")).toString();
    return msg.isEmpty() ? reason : reason + QStringLiteral(": ") + msg;
}

} // namespace iterdeck::devmode
