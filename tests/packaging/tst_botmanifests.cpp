// The bot's Kubernetes manifests (packaging/kubernetes) rendered with the bot's own manifests
// driver and applied with real kubectl to the sandbox cluster, where the built iterdeck-bot runs
// as the Deployment's container and passes its probes; the Helm chart's files and the team
// manifests inside both are checked too (helm itself is not a Debian package).
#include "config/sourcetext.h"
#include "config/teammanifestloader.h"
#include "config/yamlreader.h"
#include "deploy/manifestsdriver.h"
#include "kube/manifests.h"

#include "testutil/sandboxserver.h"

#include <QDir>
#include <QDirIterator>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using iterdeck::testing::SandboxServer;

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

QString packagingPath(const QString &rel)
{
    return QStringLiteral(ITERDECK_SOURCE_DIR "/packaging/") + rel;
}

QString diagText(const Diagnostics &diag)
{
    QStringList lines;
    for (const Diagnostic &d : diag.sorted())
        lines << d.toString();
    return lines.join(u'\n');
}

// What the bot's manifests are rendered with, as an operator would set it.
deploy::DeployTarget botTarget(const QString &ns)
{
    deploy::DeployTarget t;
    t.project = QStringLiteral("shop");
    t.ns = ns;
    t.domain = QStringLiteral("bot.shop.example.com");
    t.component = QStringLiteral("iterdeck-bot");
    t.image = QStringLiteral("registry.example.com/iterdeck/bot");
    t.tag = QStringLiteral("0.1.0");
    t.values = QJsonObject {{QStringLiteral("project"), QStringLiteral("shop")},
                            {QStringLiteral("storageSize"), QStringLiteral("1Gi")},
                            {QStringLiteral("ingressClassName"), QStringLiteral("nginx")}};
    return t;
}

// Every file of a folder rendered with renderManifestTemplate and parsed, as the driver does,
// without its namespace rules (for the cluster-scoped objects).
QList<kube::Manifest> renderFolder(const QString &dir, const deploy::DeployTarget &target, Diagnostics &diag)
{
    QStringList files;
    QDirIterator it(dir, {QStringLiteral("*.yaml")}, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext())
        files << it.next();
    files.sort();
    QList<kube::Manifest> out;
    for (const QString &file : std::as_const(files)) {
        QFile f(file);
        if (!f.open(QIODevice::ReadOnly)) {
            diag.error({file}, QStringLiteral("cannot read"));
            continue;
        }
        const QByteArray rendered = deploy::renderManifestTemplate(file, f.readAll(), target.variables(), diag);
        kube::parseManifests(config::SourceText(file, rendered), out, diag);
    }
    return out;
}

QStringList kindsAndNames(const QList<kube::Manifest> &objects)
{
    QStringList out;
    for (const kube::Manifest &m : objects)
        out << m.object.value(QStringLiteral("kind")).toString() + u'/'
                + m.object.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("name")).toString();
    return out;
}

QJsonValue yamlFileToJson(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    config::SourceText src(path, f.readAll());
    Diagnostics diag;
    std::vector<YAML::Node> docs;
    if (!config::parseYamlDocuments(src, docs, diag) || docs.empty())
        return {};
    config::ReadContext ctx(src, diag);
    return ctx.toJson(docs.front());
}

} // namespace

class TestBotManifests : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxServer> m_sandbox;
    const QString m_ns = QStringLiteral("iterdeck-system");

    Run run(const QString &program, const QStringList &args, int timeoutMs = 60000)
    {
        QProcess p;
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        if (m_sandbox)
            e.insert(QStringLiteral("KUBECONFIG"), m_sandbox->kubeconfigPath());
        e.insert(QStringLiteral("KUBECACHEDIR"), m_dir.filePath(QStringLiteral("kubecache")));
        e.insert(QStringLiteral("HOME"), m_dir.path());
        p.setProcessEnvironment(e);
        p.start(program, args);
        Run r;
        if (!p.waitForStarted())
            return r;
        p.closeWriteChannel();
        if (!p.waitForFinished(timeoutMs)) {
            p.kill();
            p.waitForFinished();
        }
        r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        r.out = p.readAllStandardOutput();
        r.err = p.readAllStandardError();
        return r;
    }
    Run kubectl(const QStringList &args) { return run(QStringLiteral("kubectl"), args); }
    Run kubectlNs(QStringList args)
    {
        args.prepend(m_ns);
        args.prepend(QStringLiteral("-n")); // before the verb: after "--" it would be the command's
        return kubectl(args);
    }
    QByteArray httpGet(const QString &url)
    {
        QNetworkAccessManager nam;
        QNetworkRequest req {QUrl(url)};
        req.setTransferTimeout(5000);
        QNetworkReply *reply = nam.get(req);
        QEventLoop loop;
        connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
        loop.exec();
        reply->deleteLater();
        return reply->error() == QNetworkReply::NoError ? reply->readAll()
                                                        : QByteArray("ERROR: ") + reply->errorString().toUtf8();
    }
    bool servedGroup(const QString &group)
    {
        const Run r = kubectl({QStringLiteral("api-resources"), QStringLiteral("--api-group=") + group,
                               QStringLiteral("-o"), QStringLiteral("name")});
        return r.exitCode == 0 && !r.out.trimmed().isEmpty();
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    // Every template renders with the manifests driver's variables, into the objects expected.
    void rendersWithTheManifestsDriver()
    {
        const deploy::DeployTarget target = botTarget(m_ns);
        deploy::ManifestsDriver driver(nullptr, {packagingPath(QStringLiteral("kubernetes/bot"))});
        QList<kube::Manifest> bot;
        Diagnostics diag;
        QVERIFY2(driver.render(target, bot, diag), qPrintable(diagText(diag)));
        QCOMPARE(kindsAndNames(bot),
                 (QStringList {QStringLiteral("ServiceAccount/iterdeck-bot"),
                               QStringLiteral("ConfigMap/iterdeck-bot-config"),
                               QStringLiteral("PersistentVolumeClaim/iterdeck-bot-data"),
                               QStringLiteral("Deployment/iterdeck-bot"), QStringLiteral("Service/iterdeck-bot")}));
        for (const kube::Manifest &m : std::as_const(bot)) {
            const QJsonObject meta = m.object.value(QStringLiteral("metadata")).toObject();
            QCOMPARE(meta.value(QStringLiteral("namespace")).toString(), m_ns);
            QCOMPARE(meta.value(QStringLiteral("labels")).toObject().value(deploy::kComponentLabel).toString(),
                     QStringLiteral("iterdeck-bot"));
        }
        const QJsonObject container = bot.at(3)
                                          .object[QStringLiteral("spec")]
                                          .toObject()[QStringLiteral("template")]
                                          .toObject()[QStringLiteral("spec")]
                                          .toObject()[QStringLiteral("containers")]
                                          .toArray()
                                          .at(0)
                                          .toObject();
        QCOMPARE(container.value(QStringLiteral("image")).toString(),
                 QStringLiteral("registry.example.com/iterdeck/bot:0.1.0"));

        Diagnostics other;
        const QList<kube::Manifest> ingress
            = renderFolder(packagingPath(QStringLiteral("kubernetes/ingress")), target, other);
        const QList<kube::Manifest> cluster
            = renderFolder(packagingPath(QStringLiteral("kubernetes/cluster")), target, other);
        QVERIFY2(!other.hasErrors(), qPrintable(diagText(other)));
        QCOMPARE(kindsAndNames(ingress), QStringList {QStringLiteral("Ingress/iterdeck-bot")});
        QCOMPARE(kindsAndNames(cluster),
                 (QStringList {QStringLiteral("ClusterRole/iterdeck-bot:namespaces"),
                               QStringLiteral("ClusterRole/iterdeck-bot:environments"),
                               QStringLiteral("ClusterRoleBinding/iterdeck-bot:namespaces"),
                               QStringLiteral("ClusterRoleBinding/iterdeck-bot:environments"),
                               QStringLiteral("ValidatingAdmissionPolicy/iterdeck-bot-labelled-namespaces"),
                               QStringLiteral("ValidatingAdmissionPolicyBinding/iterdeck-bot-labelled-namespaces")}));
        const QByteArray policy = QJsonDocument(cluster.at(4).object).toJson(QJsonDocument::Compact);
        QVERIFY(policy.contains("system:serviceaccount:iterdeck-system:iterdeck-bot"));
        QVERIFY(policy.contains("['iterdeck.io/project'] == 'shop'"));
        QCOMPARE(cluster.at(2)
                     .object[QStringLiteral("subjects")]
                     .toArray()
                     .at(0)
                     .toObject()
                     .value(QStringLiteral("namespace"))
                     .toString(),
                 m_ns);
        const QByteArray host = QJsonDocument(ingress.at(0).object).toJson(QJsonDocument::Compact);
        QVERIFY(host.contains("\"host\":\"bot.shop.example.com\""));
    }

    // The team manifests shipped in the ConfigMap and in the chart's values are valid as they are.
    void shippedTeamManifestsAreValid()
    {
        deploy::ManifestsDriver driver(nullptr, {packagingPath(QStringLiteral("kubernetes/bot"))});
        QList<kube::Manifest> bot;
        Diagnostics diag;
        QVERIFY(driver.render(botTarget(m_ns), bot, diag));
        const QString inConfigMap
            = bot.at(1).object[QStringLiteral("data")].toObject().value(QStringLiteral("iterdeck.yaml")).toString();
        auto manifest = config::TeamManifestLoader().loadText(inConfigMap.toUtf8(), QStringLiteral("configmap"),
                                                              m_dir.path(), diag);
        QVERIFY2(manifest, qPrintable(diagText(diag)));
        QCOMPARE(manifest->project, QStringLiteral("shop"));
        QVERIFY(manifest->cluster.inCluster);

        const QJsonObject values
            = yamlFileToJson(packagingPath(QStringLiteral("helm/iterdeck-bot/values.yaml"))).toObject();
        QVERIFY(!values.isEmpty());
        const QByteArray config = QJsonDocument(values.value(QStringLiteral("config")).toObject()).toJson();
        Diagnostics chartDiag;
        QVERIFY2(config::TeamManifestLoader().loadText(config, QStringLiteral("values.yaml:config"), m_dir.path(),
                                                       chartDiag),
                 qPrintable(diagText(chartDiag)));

        const QJsonObject chart
            = yamlFileToJson(packagingPath(QStringLiteral("helm/iterdeck-bot/Chart.yaml"))).toObject();
        QCOMPARE(chart.value(QStringLiteral("apiVersion")).toString(), QStringLiteral("v2"));
        QCOMPARE(chart.value(QStringLiteral("name")).toString(), QStringLiteral("iterdeck-bot"));
        QCOMPARE(chart.value(QStringLiteral("appVersion")).toString(), QStringLiteral(ITERDECK_VERSION));
        for (const char *t : {"_helpers.tpl", "configmap.yaml", "deployment.yaml", "service.yaml", "ingress.yaml",
                              "serviceaccount.yaml", "rbac.yaml", "pvc.yaml", "NOTES.txt"})
            QVERIFY2(
                QFile::exists(packagingPath(QStringLiteral("helm/iterdeck-bot/templates/") + QString::fromLatin1(t))),
                t);
    }

    // Applied with kubectl to the sandbox: the objects exist as written, the claim is bound, and
    // the built bot runs as the Deployment's container, ready on /readyz behind its Service.
    void runsOnTheSandbox()
    {
        if (QStandardPaths::findExecutable(QStringLiteral("kubectl")).isEmpty())
            QSKIP("kubectl is not installed: the manifests cannot be applied with it");
        // The Deployment mounts a ConfigMap at /etc/iterdeck and the claim at /var/lib/iterdeck-bot:
        // absolute paths, which only bubblewrap gives a sandbox container.
        if (run(QStringLiteral("bwrap"),
                {QStringLiteral("--ro-bind"), QStringLiteral("/"), QStringLiteral("/"), QStringLiteral("--dev"),
                 QStringLiteral("/dev"), QStringLiteral("true")})
                .exitCode
            != 0)
            QSKIP("bubblewrap does not work here: the sandbox cannot mount the bot's volumes at their paths");
        m_sandbox
            = std::make_unique<SandboxServer>(m_dir.filePath(QStringLiteral("sandbox")), QStringLiteral("bubblewrap"));
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));

        Run r = kubectl({QStringLiteral("create"), QStringLiteral("namespace"), m_ns});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        r = kubectlNs({QStringLiteral("create"), QStringLiteral("secret"), QStringLiteral("generic"),
                       QStringLiteral("iterdeck-bot-secrets"),
                       QStringLiteral("--from-literal=GITLAB_WEBHOOK_SECRET=s3cr3t")});
        QVERIFY2(r.exitCode == 0, r.err.constData());

        deploy::ManifestsDriver driver(nullptr, {packagingPath(QStringLiteral("kubernetes/bot"))});
        QList<kube::Manifest> bot;
        Diagnostics diag;
        QVERIFY2(driver.render(botTarget(m_ns), bot, diag), qPrintable(diagText(diag)));

        // The sandbox has no container images: the Deployment's container runs the built binary
        // (mounted from the build tree) in the sandbox's base image, and listens on its pod's own
        // address, since sandbox pods share the host's ports.
        QJsonArray items;
        for (const kube::Manifest &m : std::as_const(bot)) {
            QJsonObject o = m.object;
            if (o.value(QStringLiteral("kind")) == QLatin1String("Deployment")) {
                QJsonObject spec = o[QStringLiteral("spec")].toObject();
                QJsonObject tmpl = spec[QStringLiteral("template")].toObject();
                QJsonObject podSpec = tmpl[QStringLiteral("spec")].toObject();
                QJsonArray containers = podSpec[QStringLiteral("containers")].toArray();
                QJsonObject c = containers.at(0).toObject();
                c[QStringLiteral("image")] = QStringLiteral("iterdeck/sandbox-base:latest");
                c[QStringLiteral("command")]
                    = QJsonArray {QStringLiteral("sh"), QStringLiteral("-c"),
                                  QStringLiteral("exec /opt/iterdeck/bin/iterdeck-bot \"$@\" --listen=$POD_IP:8080"),
                                  QStringLiteral("iterdeck-bot")};
                QJsonArray mounts = c[QStringLiteral("volumeMounts")].toArray();
                mounts.append(QJsonObject {{QStringLiteral("name"), QStringLiteral("build")},
                                           {QStringLiteral("mountPath"), QStringLiteral("/opt/iterdeck/bin")},
                                           {QStringLiteral("readOnly"), true}});
                c[QStringLiteral("volumeMounts")] = mounts;
                containers[0] = c;
                podSpec[QStringLiteral("containers")] = containers;
                QJsonArray volumes = podSpec[QStringLiteral("volumes")].toArray();
                volumes.append(
                    QJsonObject {{QStringLiteral("name"), QStringLiteral("build")},
                                 {QStringLiteral("hostPath"),
                                  QJsonObject {{QStringLiteral("path"),
                                                QFileInfo(QStringLiteral(ITERDECK_BOT_PATH)).absolutePath()}}}});
                podSpec[QStringLiteral("volumes")] = volumes;
                tmpl[QStringLiteral("spec")] = podSpec;
                spec[QStringLiteral("template")] = tmpl;
                o[QStringLiteral("spec")] = spec;
            }
            items.append(o);
        }
        const QString file = m_dir.filePath(QStringLiteral("bot.json"));
        {
            QFile f(file);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QJsonDocument(QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                                               {QStringLiteral("kind"), QStringLiteral("List")},
                                               {QStringLiteral("items"), items}})
                        .toJson());
        }
        r = kubectl({QStringLiteral("apply"), QStringLiteral("-f"), file});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out,
                 QByteArray("serviceaccount/iterdeck-bot created\nconfigmap/iterdeck-bot-config created\n"
                            "persistentvolumeclaim/iterdeck-bot-data created\ndeployment.apps/iterdeck-bot created\n"
                            "service/iterdeck-bot created\n"));

        r = kubectlNs({QStringLiteral("rollout"), QStringLiteral("status"), QStringLiteral("deploy/iterdeck-bot"),
                       QStringLiteral("--timeout=90s")});
        if (r.exitCode != 0) {
            const Run logs = kubectlNs({QStringLiteral("logs"), QStringLiteral("deploy/iterdeck-bot")});
            const Run describe = kubectlNs({QStringLiteral("describe"), QStringLiteral("pods")});
            qWarning().noquote() << logs.out << logs.err << describe.out;
        }
        QVERIFY2(r.exitCode == 0, r.err.constData());

        r = kubectlNs({QStringLiteral("get"), QStringLiteral("sa,cm,pvc,deploy,svc"), QStringLiteral("-l"),
                       QStringLiteral("app.kubernetes.io/part-of=iterdeck"), QStringLiteral("-o"),
                       QStringLiteral("name")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out,
                 QByteArray("serviceaccount/iterdeck-bot\nconfigmap/iterdeck-bot-config\n"
                            "persistentvolumeclaim/iterdeck-bot-data\ndeployment.apps/iterdeck-bot\n"
                            "service/iterdeck-bot\n"));
        r = kubectlNs({QStringLiteral("get"), QStringLiteral("pvc"), QStringLiteral("iterdeck-bot-data"),
                       QStringLiteral("-o"), QStringLiteral("jsonpath={.status.phase}")});
        QCOMPARE(r.out, QByteArray("Bound"));

        r = kubectlNs({QStringLiteral("get"), QStringLiteral("pods"), QStringLiteral("-l"),
                       QStringLiteral("app.kubernetes.io/name=iterdeck-bot"), QStringLiteral("-o"),
                       QStringLiteral("jsonpath={.items[0].status.podIP}")});
        const QString podIp = QString::fromUtf8(r.out);
        QVERIFY2(!podIp.isEmpty(), r.err.constData());
        QCOMPARE(httpGet(QStringLiteral("http://%1:8080/healthz").arg(podIp)).trimmed(), QByteArray("ok"));
        QVERIFY(httpGet(QStringLiteral("http://%1:8080/readyz").arg(podIp)).contains("\"status\":\"ready\""));
        QVERIFY(QTest::qWaitFor(
            [&] {
                return kubectlNs({QStringLiteral("get"), QStringLiteral("endpoints"), QStringLiteral("iterdeck-bot"),
                                  QStringLiteral("-o"), QStringLiteral("jsonpath={.subsets[0].addresses[0].ip}")})
                           .out
                    == podIp.toUtf8();
            },
            20000));
        // The store is on the claim: the bot created its SQLite database there.
        r = kubectlNs({QStringLiteral("exec"), QStringLiteral("deploy/iterdeck-bot"), QStringLiteral("--"),
                       QStringLiteral("ls"), QStringLiteral("/var/lib/iterdeck-bot")});
        QVERIFY2(r.out.contains("iterdeck-bot.db"), QByteArray(r.out + r.err).constData());
        // The secret's keys reached the container's environment.
        r = kubectlNs({QStringLiteral("exec"), QStringLiteral("deploy/iterdeck-bot"), QStringLiteral("--"),
                       QStringLiteral("printenv"), QStringLiteral("GITLAB_WEBHOOK_SECRET")});
        QCOMPARE(r.out.trimmed(), QByteArray("s3cr3t"));

        // The Ingress, the cluster roles and the admission policy need API groups the sandbox
        // serves only if it grows them; then they are applied too.
        for (const auto &[group, folder] :
             {std::pair {QStringLiteral("networking.k8s.io"), QStringLiteral("ingress")},
              std::pair {QStringLiteral("rbac.authorization.k8s.io"), QStringLiteral("cluster")}}) {
            if (!servedGroup(group)) {
                qInfo("not applied: the sandbox does not serve %s (kubernetes/%s was rendered and checked above)",
                      qPrintable(group), qPrintable(folder));
                continue;
            }
            Diagnostics d;
            const QList<kube::Manifest> objects
                = renderFolder(packagingPath(QStringLiteral("kubernetes/") + folder), botTarget(m_ns), d);
            QJsonArray list;
            for (const kube::Manifest &m : objects)
                list.append(m.object);
            QFile f(m_dir.filePath(folder + QStringLiteral(".json")));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QJsonDocument(QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                                               {QStringLiteral("kind"), QStringLiteral("List")},
                                               {QStringLiteral("items"), list}})
                        .toJson());
            f.close();
            r = kubectlNs({QStringLiteral("apply"), QStringLiteral("-f"), f.fileName()});
            QVERIFY2(r.exitCode == 0, r.err.constData());
        }
    }

    void cleanupTestCase() { m_sandbox.reset(); }
};

QTEST_GUILESS_MAIN(TestBotManifests)
#include "tst_botmanifests.moc"
