#include "devconfigloader.h"

#include "common/textutil.h"
#include "envsubst.h"
#include "yamlreader.h"

#include <QDir>
#include <QFileInfo>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QSet>

#include <yaml-cpp/yaml.h>

namespace iterdeck::config {

using namespace model;
using UnknownKeys = MapReader::UnknownKeys;

bool isQuantity(const QString &s)
{
    static const QRegularExpression q(
        QStringLiteral("^[+-]?(\\d+(\\.\\d*)?|\\.\\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\\d+))?$"));
    return q.match(s).hasMatch();
}

void checkNoBreakSpaces(const QByteArray &text, const QString &file, Diagnostics &diag)
{
    const QByteArray nbsp("\xC2\xA0");
    int lineNo = 0;
    for (const QByteArray &line : text.split('\n')) {
        ++lineNo;
        const qsizetype at = line.indexOf(nbsp);
        if (at < 0)
            continue;
        const QByteArray before = line.left(at);
        const int col = int(QString::fromUtf8(before).size()) + 1;
        if (before.trimmed().isEmpty() || before.trimmed() == "-") {
            diag.error(
                {file, lineNo, col},
                QStringLiteral("a no-break space (U+00A0) in the indentation; YAML indentation must be plain spaces"));
        } else if (!before.contains('#')) {
            diag.warning(
                {file, lineNo, col},
                QStringLiteral("a no-break space (U+00A0) after a value becomes part of the value; use a plain space"));
        }
    }
}

namespace {

const QStringList &serviceTypes()
{
    static const QStringList types {QStringLiteral("deployment"),
                                    QStringLiteral("statefulset"),
                                    QStringLiteral("daemonset"),
                                    QStringLiteral("job"),
                                    QStringLiteral("cronjob"),
                                    QStringLiteral("pod"),
                                    QStringLiteral("deployments.v1.apps"),
                                    QStringLiteral("deployments.v1beta1.apps"),
                                    QStringLiteral("deployments.v1beta2.apps"),
                                    QStringLiteral("deployments.v1beta1.extensions"),
                                    QStringLiteral("statefulsets.v1.apps"),
                                    QStringLiteral("statefulsets.v1beta1.apps"),
                                    QStringLiteral("statefulsets.v1beta2.apps"),
                                    QStringLiteral("statefulsets.v1beta1.extensions"),
                                    QStringLiteral("pods.v1."),
                                    QStringLiteral("clonesets.v1alpha1.apps.kruise.io"),
                                    QStringLiteral("statefulsets.v1beta1.apps.kruise.io"),
                                    QStringLiteral("daemonsets.v1alpha1.apps.kruise.io"),
                                    QStringLiteral("advancedcronjobs.v1alpha1.apps.kruise.io"),
                                    QStringLiteral("broadcastjobs.v1alpha1.apps.kruise.io")};
    return types;
}

const QStringList &manifestTypes()
{
    static const QStringList types {QStringLiteral("helmGit"),          QStringLiteral("helmRepo"),
                                    QStringLiteral("rawManifest"),      QStringLiteral("rawManifestGit"),
                                    QStringLiteral("rawManifestLocal"), QStringLiteral("helmLocal"),
                                    QStringLiteral("kustomizeGit"),     QStringLiteral("kustomizeLocal")};
    return types;
}

struct Reader
{
    ReadContext &ctx;
    QString baseDir; // empty for text from the cluster

    static constexpr UnknownKeys lenient = UnknownKeys::Warning;

    bool expectMap(const YAML::Node &node, const QString &path)
    {
        if (node.IsMap())
            return true;
        ctx.error(node, QStringLiteral("\"%1\" must be a mapping, not %2").arg(path, describeNode(node)));
        return false;
    }

    void envList(MapReader &r, const char *key, QList<EnvVar> &out)
    {
        r.list(key, [&](const YAML::Node &n, const QString &path) {
            if (!expectMap(n, path))
                return;
            MapReader e(ctx, n, path, lenient);
            EnvVar v;
            e.string("name", v.name, true);
            e.string("value", v.value);
            e.finish();
            out.append(v);
        });
    }

    void keyValueList(MapReader &r, const char *key, QList<EnvVar> &out)
    {
        r.list(key, [&](const YAML::Node &n, const QString &path) {
            if (!expectMap(n, path))
                return;
            MapReader e(ctx, n, path, lenient);
            EnvVar v;
            e.string("key", v.name, true);
            const YAML::Node value = e.take("value");
            if (!isPlainNull(value) && !value.IsScalar()) {
                // Nocalhost drops such values without a word; say so.
                ctx.warning(value,
                            QStringLiteral("\"%1.value\" is %2, but helm values given here must be strings; "
                                           "Nocalhost ignores it: put structured values under \"helmVals\"")
                                .arg(path, describeNode(value)));
                e.finish();
                return;
            }
            e.string("value", v.value);
            e.finish();
            out.append(v);
        });
    }

    void envFrom(MapReader &r, QStringList &out)
    {
        r.mapping("envFrom", [&](MapReader &ef) {
            ef.list("envFile", [&](const YAML::Node &n, const QString &path) {
                if (!expectMap(n, path))
                    return;
                MapReader f(ctx, n, path, lenient);
                QString p;
                if (f.string("path", p, true) && !p.isEmpty()) {
                    if (!baseDir.isEmpty()) {
                        const QString abs = QFileInfo(p).isAbsolute() ? p : QDir::cleanPath(baseDir + u'/' + p);
                        if (!QFileInfo::exists(abs))
                            ctx.warning(f.take("path"), QStringLiteral("env file \"%1\" does not exist").arg(p));
                    }
                    out.append(p);
                }
                f.finish();
            });
        });
    }

    void portForwards(MapReader &r, const char *key, QStringList &out)
    {
        const YAML::Node list = r.take(key);
        QStringList items;
        if (!r.stringList(key, items, false))
            return;
        int i = 0;
        for (const QString &pf : std::as_const(items)) {
            const QStringList parts = pf.split(u':');
            bool ok = parts.size() == 1 || parts.size() == 2;
            for (qsizetype k = 0; ok && k < parts.size(); ++k) {
                if (k == 0 && parts.size() == 2 && parts[0].isEmpty())
                    continue; // ":8080" picks a free local port
                bool num = false;
                const int port = parts[k].toInt(&num);
                ok = num && port >= 0 && port <= 65535;
            }
            if (!ok) {
                ctx.error(list[i],
                          QStringLiteral("\"%1[%2]\" must be LOCAL:REMOTE, :REMOTE or PORT with ports from 0 to "
                                         "65535, not \"%3\"")
                              .arg(r.pathOf(key))
                              .arg(i)
                              .arg(pf));
            }
            ++i;
        }
        out = items;
    }

    void quantities(MapReader &r, const char *key, ResourceQuantities &out)
    {
        r.mapping(
            key,
            [&](MapReader &q) {
                for (const char *k : {"cpu", "memory"}) {
                    QString v;
                    if (q.string(k, v) && !v.isEmpty()) {
                        if (!isQuantity(v)) {
                            ctx.error(
                                q.take(k),
                                QStringLiteral("\"%1\" is not a Kubernetes quantity such as 500m, 2 or 1Gi: \"%2\"")
                                    .arg(q.pathOf(k), v));
                        } else {
                            (qstrcmp(k, "cpu") == 0 ? out.cpu : out.memory) = v;
                        }
                    }
                }
                q.finish();
            },
            lenient);
    }

    void readSync(MapReader &r, ContainerDevConfig &dev)
    {
        r.mapping(
            "sync",
            [&](MapReader &s) {
                dev.hasSync = true;
                QString type;
                const YAML::Node typeNode = s.take("type");
                if (s.string("type", type)) {
                    const QString l = type.toLower();
                    if (l.isEmpty() || l == u"send" || l == u"sendonly") {
                        dev.sync.type = QStringLiteral("send");
                    } else if (l == u"sendreceive") {
                        dev.sync.type = QStringLiteral("sendReceive");
                        if (type != u"sendReceive") {
                            ctx.warning(typeNode,
                                        QStringLiteral("sync type \"%1\" means two-way sync here; Nocalhost itself "
                                                       "only recognises the exact spelling \"sendReceive\" and "
                                                       "syncs one way otherwise")
                                            .arg(type));
                        }
                    } else {
                        ctx.error(
                            typeNode,
                            QStringLiteral("\"%1\" must be \"send\" (one-way) or \"sendReceive\" (two-way), "
                                           "not \"%2\"%3")
                                .arg(s.pathOf("type"), type,
                                     text::didYouMeanSuffix(type,
                                                            {QStringLiteral("send"), QStringLiteral("sendReceive"),
                                                             QStringLiteral("sendonly")})));
                    }
                }
                QString mode;
                if (s.choice("mode", mode, {QStringLiteral("pattern"), QStringLiteral("gitIgnore")}, true)
                    && !mode.isEmpty())
                    dev.sync.mode = mode;
                s.boolean("deleteProtection", dev.sync.deleteProtection);
                s.stringList("filePattern", dev.sync.filePattern, true);
                const YAML::Node ign = s.take("ignoreFilePattern");
                s.stringList("ignoreFilePattern", dev.sync.ignoreFilePattern, true);
                for (qsizetype i = 0; i < dev.sync.ignoreFilePattern.size(); ++i) {
                    const QString &p = dev.sync.ignoreFilePattern[i];
                    if (p == u"." || p == u"./" || p == u"**" || p == u"*") {
                        ctx.warning(
                            ign.IsSequence() ? ign[i] : ign,
                            QStringLiteral("ignoreFilePattern \"%1\" ignores every file: nothing will be synced")
                                .arg(p));
                    }
                }
                if (dev.sync.mode == u"gitIgnore" && (s.has("filePattern") || s.has("ignoreFilePattern"))) {
                    ctx.warning(
                        s.keyLocation(s.has("filePattern") ? "filePattern" : "ignoreFilePattern"),
                        QStringLiteral("with sync mode gitIgnore, filePattern and ignoreFilePattern are not used; "
                                       ".gitignore files decide"));
                }
                s.finish();
            },
            lenient);
    }

    void readPatches(MapReader &r, ContainerDevConfig &dev)
    {
        r.list("patches", [&](const YAML::Node &n, const QString &path) {
            if (!expectMap(n, path))
                return;
            MapReader p(ctx, n, path, lenient);
            DevPatch patch;
            p.choice("type", patch.type,
                     {QStringLiteral("json"), QStringLiteral("merge"), QStringLiteral("strategic")});
            if (p.string("patch", patch.patch, true) && !patch.patch.isEmpty()) {
                // kubectl accepts JSON or YAML patches: check the shape now, not at "dev start".
                const YAML::Node where = p.take("patch");
                std::vector<YAML::Node> docs;
                Diagnostics patchDiag;
                if (!parseYamlDocuments(SourceText(QStringLiteral("patch"), patch.patch.toUtf8()), docs, patchDiag)) {
                    QString why = patchDiag.items().value(0).message;
                    why.remove(QStringLiteral("invalid YAML: "));
                    ctx.error(where, QStringLiteral("the patch is neither JSON nor YAML: %1").arg(why));
                } else {
                    const YAML::Node parsed = docs.empty() ? YAML::Node() : docs.front();
                    const bool wantList = patch.type == u"json";
                    if (wantList && !parsed.IsSequence()) {
                        ctx.error(where, QStringLiteral("a json patch must be a list of operations ([{\"op\": ...}])"));
                    } else if (!wantList && !parsed.IsMap()) {
                        ctx.error(where,
                                  QStringLiteral("a %1 patch must be an object ({\"spec\": ...})").arg(patch.type));
                    }
                }
            }
            p.finish();
            dev.patches.append(patch);
        });
    }

    void readDev(MapReader &d, ContainerDevConfig &dev)
    {
        d.string("gitUrl", dev.gitUrl);
        d.string("image", dev.image);
        d.choice("imagePullPolicy", dev.imagePullPolicy,
                 {QStringLiteral("Always"), QStringLiteral("IfNotPresent"), QStringLiteral("Never")});
        d.string("shell", dev.shell);
        QString workDir;
        if (d.string("workDir", workDir) && !workDir.isEmpty()) {
            if (!workDir.startsWith(u'/'))
                ctx.error(d.take("workDir"),
                          QStringLiteral("\"%1\" must be an absolute path in the container, not \"%2\"")
                              .arg(d.pathOf("workDir"), workDir));
            else
                dev.workDir = workDir;
        }
        d.string("storageClass", dev.storageClass);
        d.string("devContainerName", dev.devContainerName);
        d.mapping(
            "resources",
            [&](MapReader &res) {
                quantities(res, "limits", dev.limits);
                quantities(res, "requests", dev.requests);
            },
            lenient);
        d.mapping(
            "sidecarResources", [](MapReader &) {}, UnknownKeys::Ignore);
        d.list("persistentVolumeDirs", [&](const YAML::Node &n, const QString &path) {
            if (!expectMap(n, path))
                return;
            MapReader p(ctx, n, path, lenient);
            PersistentVolumeDir pv;
            if (p.string("path", pv.path, true) && !pv.path.isEmpty() && !pv.path.startsWith(u'/'))
                ctx.error(p.take("path"),
                          QStringLiteral("\"%1\" must be an absolute path in the container").arg(p.pathOf("path")));
            QString cap;
            if (p.string("capacity", cap) && !cap.isEmpty()) {
                if (!isQuantity(cap))
                    ctx.error(p.take("capacity"),
                              QStringLiteral("\"%1\" is not a Kubernetes quantity such as 10Gi: \"%2\"")
                                  .arg(p.pathOf("capacity"), cap));
                else
                    pv.capacity = cap;
            }
            p.boolean("waitForFirstConsumer", pv.waitForFirstConsumer);
            p.finish();
            dev.persistentVolumeDirs.append(pv);
        });
        d.mapping(
            "command",
            [&](MapReader &c) {
                c.stringList("build", dev.command.build, true);
                c.stringList("run", dev.command.run, true);
                c.stringList("debug", dev.command.debug, true);
                c.stringList("hotReloadRun", dev.command.hotReloadRun, true);
                c.stringList("hotReloadDebug", dev.command.hotReloadDebug, true);
            },
            lenient);
        d.mapping(
            "debug",
            [&](MapReader &dbg) {
                qint64 port = 0;
                if (dbg.integer("remoteDebugPort", port, 0, 65535))
                    dev.remoteDebugPort = int(port);
                dbg.choice("language", dev.debugLanguage,
                           {QStringLiteral("node"), QStringLiteral("java"), QStringLiteral("go"),
                            QStringLiteral("python"), QStringLiteral("php"), QStringLiteral("ruby")});
            },
            lenient);
        d.boolean("hotReload", dev.hotReload);
        d.boolean("useDevContainer", dev.useDevContainer);
        readSync(d, dev);
        envList(d, "env", dev.env);
        envFrom(d, dev.envFiles);
        portForwards(d, "portForward", dev.portForward);
        d.string("sidecarImage", dev.sidecarImage);
        readPatches(d, dev);
        d.mapping(
            "iterdeck",
            [&](MapReader &it) {
                it.choice("mode", dev.iterdeck.mode, {QStringLiteral("replace"), QStringLiteral("duplicate")});
                it.boolean("syncGit", dev.iterdeck.syncGit);
            },
            UnknownKeys::Error);
    }

    void readContainer(const YAML::Node &n, const QString &path, ServiceConfig &svc)
    {
        if (!expectMap(n, path))
            return;
        ContainerConfig c;
        c.where = ctx.at(n);
        MapReader r(ctx, n, path, lenient);
        r.string("name", c.name);
        r.mapping(
            "hub", [&](MapReader &h) { h.string("image", c.hubImage); }, lenient);
        r.mapping(
            "install",
            [&](MapReader &in) {
                envList(in, "env", c.installEnv);
                envFrom(in, c.installEnvFiles);
                portForwards(in, "portForward", c.installPortForward);
            },
            lenient);
        const YAML::Node dev = r.take("dev");
        if (!isPlainNull(dev)) {
            if (expectMap(dev, r.pathOf("dev"))) {
                c.hasDev = true;
                MapReader d(ctx, dev, r.pathOf("dev"), lenient);
                readDev(d, c.dev);
                d.finish();
            }
        }
        r.finish();
        svc.containers.append(c);
    }

    void serviceType(MapReader &r, ServiceConfig &s)
    {
        QString type;
        if (!r.string("serviceType", type) || type.isEmpty())
            return;
        for (const QString &t : serviceTypes()) {
            if (t.compare(type, Qt::CaseInsensitive) == 0) {
                s.serviceType = t;
                return;
            }
        }
        ctx.error(
            r.take("serviceType"),
            QStringLiteral("unknown serviceType \"%1\"%2; Nocalhost knows %3")
                .arg(type, text::didYouMeanSuffix(type, serviceTypes()), text::quotedList(serviceTypes().mid(0, 6))));
    }

    // ServiceConfigV2: {name, serviceType, priorityClass, dependLabelSelector, containers}
    std::optional<ServiceConfig> readService(const YAML::Node &n, const QString &path, bool nameRequired)
    {
        if (!expectMap(n, path))
            return std::nullopt;
        ServiceConfig s;
        s.where = ctx.at(n);
        MapReader r(ctx, n, path, lenient);
        if (nameRequired && !r.has("name"))
            r.missing("name");
        r.string("name", s.name);
        if (nameRequired && r.has("name") && s.name.isEmpty()) {
            ctx.warning(r.keyLocation("name"),
                        QStringLiteral("\"%1.name\" is empty (an unset variable?); this service "
                                       "cannot be matched to a workload until it has a name")
                            .arg(path));
        }
        serviceType(r, s);
        r.string("priorityClass", s.priorityClass);
        r.mapping(
            "dependLabelSelector",
            [&](MapReader &d) {
                d.stringList("pods", s.depend.pods, true);
                d.stringList("jobs", s.depend.jobs, true);
                d.stringList("tcp", s.depend.tcp, true);
                d.stringList("http", s.depend.http, true);
            },
            lenient);
        r.list("containers", [&](const YAML::Node &c, const QString &p) { readContainer(c, p, s); });
        r.finish();
        QSet<QString> names;
        for (const ContainerConfig &c : std::as_const(s.containers)) {
            if (names.contains(c.name))
                ctx.error(c.where,
                          QStringLiteral("container \"%1\" is configured twice in service \"%2\"").arg(c.name, s.name));
            names.insert(c.name);
        }
        return s;
    }

    // v1 ServiceDevOptions, converted the way Nocalhost converts it: one unnamed container.
    std::optional<ServiceConfig> readServiceV1(const YAML::Node &n, const QString &path)
    {
        if (!expectMap(n, path))
            return std::nullopt;
        ServiceConfig s;
        s.where = ctx.at(n);
        ContainerConfig c;
        c.where = s.where;
        c.hasDev = true;
        ContainerDevConfig &dev = c.dev;
        MapReader r(ctx, n, path, lenient);
        r.string("name", s.name, true);
        serviceType(r, s);
        r.string("priorityClass", s.priorityClass);
        r.string("gitUrl", dev.gitUrl);
        r.string("devContainerImage", dev.image);
        QString workDir;
        if (r.string("workDir", workDir) && !workDir.isEmpty())
            dev.workDir = workDir;
        r.string("devContainerShell", dev.shell);
        QStringList syncDirs;
        r.stringList("syncDirs", syncDirs, true); // dropped by Nocalhost's conversion, too
        r.stringList("buildCommand", dev.command.build, true);
        r.stringList("runCommand", dev.command.run, true);
        r.stringList("debugCommand", dev.command.debug, true);
        r.stringList("hotReloadRunCommand", dev.command.hotReloadRun, true);
        r.stringList("hotReloadDebugCommand", dev.command.hotReloadDebug, true);
        r.mapping(
            "devContainerResources",
            [&](MapReader &res) {
                quantities(res, "limits", dev.limits);
                quantities(res, "requests", dev.requests);
            },
            lenient);
        r.list("persistentVolumeDirs", [&](const YAML::Node &pn, const QString &pp) {
            if (!expectMap(pn, pp))
                return;
            MapReader p(ctx, pn, pp, lenient);
            PersistentVolumeDir pv;
            p.string("path", pv.path, true);
            QString cap;
            if (p.string("capacity", cap) && !cap.isEmpty())
                pv.capacity = cap;
            p.boolean("waitForFirstConsumer", pv.waitForFirstConsumer);
            p.finish();
            dev.persistentVolumeDirs.append(pv);
        });
        portForwards(r, "devPorts", dev.portForward);
        r.stringList("dependJobsLabelSelector", s.depend.jobs, true);
        r.stringList("dependPodsLabelSelector", s.depend.pods, true);
        r.stringList("syncFilePattern", dev.sync.filePattern, true);
        r.stringList("ignoreFilePattern", dev.sync.ignoreFilePattern, true);
        r.finish();
        s.containers.append(c);
        return s;
    }

    void hooks(MapReader &r, const char *key, QList<HookItem> &out)
    {
        r.list(key, [&](const YAML::Node &n, const QString &path) {
            if (!expectMap(n, path))
                return;
            MapReader h(ctx, n, path, lenient);
            HookItem item;
            h.string("path", item.path, true);
            h.string("name", item.name);
            if (h.string("weight", item.weight) && !item.weight.isEmpty()) {
                bool ok = false;
                item.weight.toInt(&ok);
                if (!ok)
                    ctx.warning(h.take("weight"),
                                QStringLiteral("weight \"%1\" is not a whole number; it counts as 0").arg(item.weight));
            }
            QString priority;
            if (h.string("priority", priority) && item.weight.isEmpty())
                item.weight = priority;
            h.finish();
            out.append(item);
        });
    }

    void readApplicationV2(const YAML::Node &root, DevConfig &cfg)
    {
        MapReader r(ctx, root, {}, lenient);
        r.mapping(
            "configProperties",
            [&](MapReader &cp) {
                QString version;
                if (cp.string("version", version) && version != u"v2") {
                    ctx.error(cp.take("version"),
                              QStringLiteral("configProperties.version must be \"v2\", not \"%1\"").arg(version));
                }
                cp.string("envFile", cfg.envFile);
            },
            lenient);
        r.accept("migrated");
        const YAML::Node app = r.take("application");
        if (isPlainNull(app)) {
            r.missing("application");
        } else if (expectMap(app, QStringLiteral("application"))) {
            cfg.hasApplication = true;
            ApplicationConfig &a = cfg.application;
            MapReader ar(ctx, app, QStringLiteral("application"), lenient);
            ar.string("name", a.name);
            ar.choice("manifestType", a.manifestType, manifestTypes(), false);
            ar.stringList("resourcePath", a.resourcePath, true);
            ar.stringList("ignoredPath", a.ignoredPath, true);
            hooks(ar, "onPreInstall", a.onPreInstall);
            hooks(ar, "onPostInstall", a.onPostInstall);
            hooks(ar, "onPreUpgrade", a.onPreUpgrade);
            hooks(ar, "onPostUpgrade", a.onPostUpgrade);
            hooks(ar, "onPreDelete", a.onPreDelete);
            hooks(ar, "onPostDelete", a.onPostDelete);
            keyValueList(ar, "helmValues", a.helmValues);
            const YAML::Node vals = ar.take("helmVals");
            if (!isPlainNull(vals)) {
                if (vals.IsMap())
                    a.helmVals = ctx.toJson(vals).toObject();
                else
                    ctx.error(vals,
                              QStringLiteral("\"application.helmVals\" must be a mapping of chart values, not %1")
                                  .arg(describeNode(vals)));
            }
            ar.string("helmVersion", a.helmVersion);
            envList(ar, "env", a.env);
            envFrom(ar, a.envFiles);
            ar.list("services", [&](const YAML::Node &n, const QString &p) {
                if (auto s = readService(n, p, true))
                    cfg.services.append(*s);
            });
            ar.finish();
        }
        r.finish();
    }

    void readApplicationV1(const YAML::Node &root, DevConfig &cfg)
    {
        cfg.hasApplication = true;
        ApplicationConfig &a = cfg.application;
        MapReader r(ctx, root, {}, lenient);
        r.string("name", a.name, true);
        r.choice("manifestType", a.manifestType, manifestTypes(), false);
        r.stringList("resourcePath", a.resourcePath, true);
        r.stringList("ignoredPath", a.ignoredPath, true);
        hooks(r, "onPreInstall", a.onPreInstall);
        if (r.has("preInstalls")) {
            ctx.warning(r.keyLocation("preInstalls"),
                        QStringLiteral("\"preInstalls\" is the old name of \"onPreInstall\"; read as such"));
            hooks(r, "preInstalls", a.onPreInstall);
        }
        r.list("services", [&](const YAML::Node &n, const QString &p) {
            if (auto s = readServiceV1(n, p))
                cfg.services.append(*s);
        });
        r.finish();
    }
};

enum class DocKind { Empty, ServiceList, Service, ApplicationV2, ApplicationV1, Legacy, AppWithoutProperties, Unknown };

DocKind classify(const YAML::Node &doc)
{
    if (isPlainNull(doc))
        return DocKind::Empty;
    if (doc.IsSequence())
        return DocKind::ServiceList;
    if (!doc.IsMap())
        return DocKind::Unknown;
    auto has = [&](const char *k) {
        for (const auto &kv : doc) {
            if (kv.first.IsScalar() && kv.first.Scalar() == k)
                return true;
        }
        return false;
    };
    if (has("appConfig") || has("svcConfigs") || has("devs"))
        return DocKind::Legacy;
    if (has("configProperties"))
        return DocKind::ApplicationV2;
    if (has("application"))
        return DocKind::AppWithoutProperties;
    if (has("containers") || has("dependLabelSelector"))
        return DocKind::Service;
    if (has("manifestType") || has("services") || has("resourcePath") || has("onPreInstall") || has("preInstalls"))
        return DocKind::ApplicationV1;
    if (has("name") || has("serviceType"))
        return DocKind::Service;
    return DocKind::Unknown;
}

} // namespace

DevConfigLoader::DevConfigLoader()
    : DevConfigLoader(Options {processEnvironment(), {}})
{ }

DevConfigLoader::DevConfigLoader(Options options)
    : m_options(std::move(options))
{ }

QHash<QString, QString> DevConfigLoader::processEnvironment()
{
    QHash<QString, QString> vars;
    const QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const QString &k : env.keys())
        vars.insert(k, env.value(k));
    return vars;
}

std::optional<DevConfig> DevConfigLoader::loadFile(const QString &path, Diagnostics &diag) const
{
    auto bytes = readTextFile(path, m_options.limits);
    if (!bytes) {
        diag.add(bytes.error());
        return std::nullopt;
    }
    const QString dir = QFileInfo(path).absolutePath();
    QHash<QString, QString> vars = m_options.environment;
    const QString envFile = EnvSubst::findEnvFileDirective(*bytes);
    if (!envFile.isEmpty()) {
        const QString envPath = QFileInfo(envFile).isAbsolute() ? envFile : QDir::cleanPath(dir + u'/' + envFile);
        // Position of the directive, for messages.
        int line = 1, col = 1;
        const qsizetype at = bytes->indexOf("envFile:", bytes->indexOf("configProperties:"));
        if (at >= 0) {
            line = int(bytes->left(at).count('\n')) + 1;
            col = int(at - (bytes->lastIndexOf('\n', at - 1) + 1)) + 1;
        }
        auto envBytes = readTextFile(envPath, m_options.limits);
        if (!envBytes) {
            diag.warning({path, line, col},
                         QStringLiteral("envFile \"%1\": %2; variables fall back to their defaults")
                             .arg(envFile, envBytes.error().message));
        } else {
            const QHash<QString, QString> fileVars = EnvSubst::parseEnvFile(*envBytes);
            for (auto it = fileVars.cbegin(); it != fileVars.cend(); ++it) {
                if (!vars.contains(it.key())) // the process environment wins, as in Nocalhost
                    vars.insert(it.key(), it.value());
            }
        }
    }
    checkNoBreakSpaces(*bytes, path, diag);
    EnvSubst subst(vars, m_options.limits);
    Diagnostics renderDiag;
    const SourceText src = subst.render(path, *bytes, renderDiag);
    diag.append(renderDiag);
    if (renderDiag.hasErrors() && src.text().isEmpty())
        return std::nullopt;
    auto cfg = loadRendered(src, dir, diag);
    if (renderDiag.hasErrors())
        return std::nullopt;
    if (cfg && !cfg->envFile.isEmpty() && envFile.isEmpty()) {
        diag.warning({path, 1, 1},
                     QStringLiteral("configProperties.envFile \"%1\" is only read when written in block style "
                                    "(\"configProperties:\" on its own line, \"envFile:\" indented below it), "
                                    "as in Nocalhost; its variables were not loaded")
                         .arg(cfg->envFile));
    }
    if (cfg && !cfg->envFile.isEmpty())
        cfg->envFile = QFileInfo(cfg->envFile).isAbsolute() ? cfg->envFile : QDir::cleanPath(dir + u'/' + cfg->envFile);
    return cfg;
}

std::optional<DevConfig> DevConfigLoader::loadText(const QByteArray &text, const QString &origin,
                                                   Diagnostics &diag) const
{
    auto checked = checkText(text, origin, m_options.limits);
    if (!checked) {
        diag.add(checked.error());
        return std::nullopt;
    }
    checkNoBreakSpaces(*checked, origin, diag);
    QHash<QString, QString> vars = m_options.environment;
    vars.remove(QStringLiteral("_INCLUDE_"));
    EnvSubst subst(vars, m_options.limits);
    subst.setIncludesAllowed(false);
    Diagnostics renderDiag;
    const SourceText src = subst.render(origin, *checked, renderDiag);
    diag.append(renderDiag);
    auto cfg = loadRendered(src, {}, diag);
    if (renderDiag.hasErrors())
        return std::nullopt;
    return cfg;
}

std::optional<DevConfig> DevConfigLoader::loadRendered(const SourceText &src, const QString &baseDir,
                                                       Diagnostics &diag) const
{
    std::vector<YAML::Node> docs;
    Diagnostics local;
    if (!parseYamlDocuments(src, docs, local)) {
        diag.append(local);
        return std::nullopt;
    }
    ReadContext ctx(src, local, m_options.limits);
    Reader reader {ctx, baseDir};
    DevConfig cfg;
    bool haveApp = false;
    int serviceDocs = 0;
    int nonEmpty = 0;
    for (const YAML::Node &doc : docs) {
        const DocKind kind = classify(doc);
        if (kind == DocKind::Empty)
            continue;
        ++nonEmpty;
        if ((kind == DocKind::ApplicationV2 || kind == DocKind::ApplicationV1) && (haveApp || serviceDocs > 0)) {
            ctx.error(doc, QStringLiteral("an application config must be the only document in its file"));
            continue;
        }
        if ((kind == DocKind::Service || kind == DocKind::ServiceList) && haveApp) {
            ctx.error(doc, QStringLiteral("a service document cannot follow an application config in the same file"));
            continue;
        }
        switch (kind) {
        case DocKind::Empty:
            break;
        case DocKind::Legacy:
            ctx.error(doc,
                      QStringLiteral("legacy Nocalhost format (appConfig / svcConfigs / devs), which Nocalhost "
                                     "itself no longer reads; rewrite it as \"configProperties: {version: v2}\" "
                                     "plus \"application:\" (see docs/config/dev-config.md)"));
            break;
        case DocKind::AppWithoutProperties:
            ctx.error(doc,
                      QStringLiteral("\"application\" needs \"configProperties: {version: v2}\" beside it; without it "
                                     "Nocalhost reads the file as the v1 format and ignores \"application\""));
            break;
        case DocKind::Unknown:
            ctx.error(doc,
                      QStringLiteral("not a dev config: expected \"name\" + \"serviceType\" + \"containers\" (one "
                                     "service), \"configProperties\" + \"application\" (an application), or "
                                     "\"name\" + \"manifestType\" + \"services\" (v1); found %1")
                          .arg(doc.IsMap() ? QStringLiteral("the keys %1")
                                                 .arg(text::quotedList(
                                                     MapReader(ctx, doc, {}, UnknownKeys::Ignore).keys(), u"and"))
                                           : describeNode(doc)));
            break;
        case DocKind::ApplicationV2:
            haveApp = true;
            cfg.form = DevConfig::Form::Application;
            reader.readApplicationV2(doc, cfg);
            break;
        case DocKind::ApplicationV1:
            haveApp = true;
            cfg.form = DevConfig::Form::ApplicationV1;
            reader.readApplicationV1(doc, cfg);
            break;
        case DocKind::Service:
            ++serviceDocs;
            cfg.form = DevConfig::Form::SingleService;
            if (auto s = reader.readService(doc, {}, false))
                cfg.services.append(*s);
            break;
        case DocKind::ServiceList: {
            ++serviceDocs;
            cfg.form = DevConfig::Form::SingleService;
            int i = 0;
            for (const YAML::Node &item : doc) {
                if (!ctx.spend(item))
                    break;
                if (auto s = reader.readService(item, QStringLiteral("[%1]").arg(i), true))
                    cfg.services.append(*s);
                ++i;
            }
            break;
        }
        }
        if (ctx.exhausted())
            break;
    }
    if (nonEmpty == 0)
        ctx.error(src.fileStart(), QStringLiteral("empty file: no dev config in it"));

    // Cross-document checks.
    QMap<QString, int> seen;
    for (int i = 0; i < cfg.services.size(); ++i) {
        const ServiceConfig &s = cfg.services[i];
        if (s.name.isEmpty()) {
            if (cfg.services.size() > 1 && cfg.form == DevConfig::Form::SingleService)
                ctx.error(s.where,
                          QStringLiteral("a service without a name is only allowed when the file holds one service"));
            continue;
        }
        const QString key = s.serviceType + u'/' + s.name;
        if (seen.contains(key)) {
            ctx.warning(s.where,
                        QStringLiteral("service \"%1\" (%2) is configured twice; the last one wins, as in Nocalhost")
                            .arg(s.name, s.serviceType));
        }
        seen.insert(key, i);
    }
    // Keep the last of duplicate services, in file order.
    QList<ServiceConfig> unique;
    for (int i = 0; i < cfg.services.size(); ++i) {
        const ServiceConfig &s = cfg.services[i];
        if (s.name.isEmpty() || seen.value(s.serviceType + u'/' + s.name) == i)
            unique.append(s);
    }
    cfg.services = unique;

    diag.append(local);
    if (local.hasErrors())
        return std::nullopt;
    return cfg;
}

} // namespace iterdeck::config
