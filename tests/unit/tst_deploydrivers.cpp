// The deploy drivers: `manifests` against the sandbox cluster over HTTPS (render, server-side
// apply, prune by labels, rollout wait, uninstall), `helm` by its arguments, its parsed status
// and a scripted helm program (helm itself does not run here).
#include "deploy/helmdriver.h"
#include "deploy/manifestsdriver.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "testutil/sandboxserver.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::deploy;
using namespace iterdeck::kube;
using iterdeck::testing::SandboxServer;

namespace {

const char *kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${component}
  labels: {app: ${component}}
spec:
  replicas: ${values.replicas}
  selector: {matchLabels: {app: ${component}}}
  template:
    metadata: {labels: {app: ${component}}}
    spec:
      containers:
      - name: web
        image: ${image}
        env:
        - {name: DOMAIN, value: "${domain}"}
        - {name: PRICE, value: "$$5"}
)";

const char *kService = R"(apiVersion: v1
kind: Service
metadata: {name: ${component}}
spec:
  selector: {app: ${component}}
  ports: [{port: 80, targetPort: 8080}]
)";

const char *kOld = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: ${component}-old}
data: {k: v}
)";

QStringList words(std::initializer_list<const char *> list)
{
    QStringList out;
    for (const char *w : list)
        out << QString::fromUtf8(w);
    return out;
}

void writeFile(const QString &path, const QByteArray &text)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text);
}

} // namespace

class TestDeployDrivers : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxServer> m_sandbox;
    std::unique_ptr<KubeClient> m_client;
    const QString m_ns = QStringLiteral("env-a");

    DeployTarget target(const QString &tag = QStringLiteral("1.0")) const
    {
        DeployTarget t;
        t.project = QStringLiteral("shop");
        t.iteration = QStringLiteral("sprint-1");
        t.ns = m_ns;
        t.domain = QStringLiteral("sprint-1.shop.test");
        t.component = QStringLiteral("web");
        t.image = QStringLiteral("iterdeck/demo-web");
        t.tag = tag;
        t.values = QJsonObject {{QStringLiteral("replicas"), 2}};
        return t;
    }
    // Runs a job to its end.
    static DeployOutcome run(DeployJob *job)
    {
        QSignalSpy done(job, &DeployJob::finished);
        if (!job->isFinished())
            done.wait(90000);
        return job->outcome();
    }
    QJsonObject get(const ResourceRef &ref, const QString &name)
    {
        KubeCall *call = m_client->get(ref, m_ns, name);
        QSignalSpy done(call, &KubeCall::finished);
        done.wait(10000);
        return call->isOk() ? *call->object() : QJsonObject();
    }
    void create(const ResourceRef &ref, const QString &ns, const QJsonObject &o)
    {
        KubeCall *call = m_client->create(ref, ns, o);
        QSignalSpy done(call, &KubeCall::finished);
        QVERIFY(done.wait(10000));
        QVERIFY2(call->isOk() || call->error().httpStatus == 409, qPrintable(call->error().toString()));
    }
    QString templates(const QString &name, const QMap<QString, QByteArray> &files)
    {
        const QString dir = m_dir.filePath(name);
        QDir(dir).removeRecursively();
        for (auto it = files.begin(); it != files.end(); ++it)
            writeFile(dir + u'/' + it.key(), it.value());
        return dir;
    }
    ManifestsDriver::Options options(const QString &dir, int rolloutMs = 60000) const
    {
        ManifestsDriver::Options o;
        o.directory = dir;
        o.rolloutTimeoutMs = rolloutMs;
        o.pollMs = 200;
        return o;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_sandbox = std::make_unique<SandboxServer>(m_dir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
        KubeconfigOptions ko;
        ko.kubeconfigFlag = m_sandbox->kubeconfigPath();
        auto config = loadClientConfig(ko);
        if (!config)
            QFAIL(qPrintable(config.error().toString()));
        m_client = std::make_unique<KubeClient>(*config);
        create(ResourceRef::namespaces(), {},
               QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                            {QStringLiteral("kind"), QStringLiteral("Namespace")},
                            {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("name"), m_ns}}}});
    }

    void variables()
    {
        DeployTarget t = target();
        t.digest = QStringLiteral("sha256:abc");
        t.values = QJsonObject {{QStringLiteral("replicas"), 2},
                                {QStringLiteral("ingress"), QJsonObject {{QStringLiteral("enabled"), true}}},
                                {QStringLiteral("hosts"), QJsonArray {QStringLiteral("a")}}};
        const auto v = t.variables();
        QCOMPARE(v.value(QStringLiteral("image")), QStringLiteral("iterdeck/demo-web:1.0@sha256:abc"));
        QCOMPARE(v.value(QStringLiteral("imageRepository")), QStringLiteral("iterdeck/demo-web"));
        QCOMPARE(v.value(QStringLiteral("values.replicas")), QStringLiteral("2"));
        QCOMPARE(v.value(QStringLiteral("values.ingress.enabled")), QStringLiteral("true"));
        QCOMPARE(v.value(QStringLiteral("values.hosts")), QStringLiteral("[\"a\"]"));
        QCOMPARE(v.value(QStringLiteral("namespace")), m_ns);
    }

    void deployUpdatePruneUninstall()
    {
        const QString dir = templates(QStringLiteral("web"),
                                      {{QStringLiteral("10-deployment.yaml"), kDeployment},
                                       {QStringLiteral("20-service.yaml"), kService},
                                       {QStringLiteral("sub/30-old.yaml"), kOld}});
        // Another component's object, with the same managed-by label: never pruned for "web".
        create(ResourceRef::configMaps(), m_ns,
               QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                            {QStringLiteral("kind"), QStringLiteral("ConfigMap")},
                            {QStringLiteral("metadata"),
                             QJsonObject {{QStringLiteral("name"), QStringLiteral("api-config")},
                                          {QStringLiteral("labels"),
                                           QJsonObject {{kComponentLabel, QStringLiteral("api")},
                                                        {kManagedByLabel, kManagedByValue}}}}}});
        ManifestsDriver driver(m_client.get(), options(dir));
        const DeployOutcome first = run(driver.deploy(target(), this));
        QVERIFY2(first.ok, qPrintable(first.summary + u'\n' + first.output.join(u'\n')));
        QCOMPARE(first.applied,
                 QStringList({QStringLiteral("deployment.apps/web"), QStringLiteral("service/web"),
                              QStringLiteral("configmap/web-old")}));
        QVERIFY(first.output.contains(QStringLiteral("deployment.apps/web rolled out")));
        const QJsonObject d = get(ResourceRef::deployments(), QStringLiteral("web"));
        QCOMPARE(d.value(QStringLiteral("metadata"))
                     .toObject()
                     .value(QStringLiteral("labels"))
                     .toObject()
                     .value(kComponentLabel)
                     .toString(),
                 QStringLiteral("web"));
        const QJsonObject c = d.value(QStringLiteral("spec"))
                                  .toObject()
                                  .value(QStringLiteral("template"))
                                  .toObject()
                                  .value(QStringLiteral("spec"))
                                  .toObject()
                                  .value(QStringLiteral("containers"))
                                  .toArray()
                                  .at(0)
                                  .toObject();
        QCOMPARE(c.value(QStringLiteral("image")).toString(), QStringLiteral("iterdeck/demo-web:1.0"));
        QCOMPARE(QJsonDocument(c.value(QStringLiteral("env")).toArray()).toJson(QJsonDocument::Compact),
                 QByteArray(R"([{"name":"DOMAIN","value":"sprint-1.shop.test"},{"name":"PRICE","value":"$5"}])"));
        QCOMPARE(d.value(QStringLiteral("status")).toObject().value(QStringLiteral("readyReplicas")).toInt(), 2);

        // The folder loses a file and the build changes: the leftover is pruned, the rest updated.
        QVERIFY(QFile::remove(dir + QStringLiteral("/sub/30-old.yaml")));
        DeployTarget next = target(QStringLiteral("1.0"));
        next.values = QJsonObject {{QStringLiteral("replicas"), 1}};
        const DeployOutcome second = run(driver.deploy(next, this));
        QVERIFY2(second.ok, qPrintable(second.summary + u'\n' + second.output.join(u'\n')));
        QCOMPARE(second.pruned, QStringList({QStringLiteral("configmap/web-old")}));
        QVERIFY(get(ResourceRef::configMaps(), QStringLiteral("web-old")).isEmpty());
        QVERIFY(!get(ResourceRef::configMaps(), QStringLiteral("api-config")).isEmpty());
        QCOMPARE(get(ResourceRef::deployments(), QStringLiteral("web"))
                     .value(QStringLiteral("spec"))
                     .toObject()
                     .value(QStringLiteral("replicas"))
                     .toInt(),
                 1);

        // Deploying the same again changes nothing and prunes nothing.
        const DeployOutcome again = run(driver.deploy(next, this));
        QVERIFY(again.ok);
        QVERIFY(again.pruned.isEmpty());

        const DeployOutcome gone = run(driver.uninstall(next, this));
        QVERIFY2(gone.ok, qPrintable(gone.summary));
        QCOMPARE(gone.pruned.size(), 2);
        QVERIFY(get(ResourceRef::deployments(), QStringLiteral("web")).isEmpty());
        QVERIFY(get(ResourceRef::services(), QStringLiteral("web")).isEmpty());
        QVERIFY(!get(ResourceRef::configMaps(), QStringLiteral("api-config")).isEmpty());
    }

    // Bad templates: every problem with its position, and nothing applied at all.
    void badTemplates_data()
    {
        QTest::addColumn<QByteArray>("extra");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown variable")
            << QByteArray("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"${nope}\"}\n")
            << QStringLiteral("99-extra.yaml:4:12: error: \"${nope}\": no such variable");
        QTest::newRow("other namespace") << QByteArray(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: kube-system}\n")
                                         << QStringLiteral("99-extra.yaml:1:1: error: metadata.namespace is "
                                                           "\"kube-system\"; a component's objects belong in its "
                                                           "environment's namespace (\"env-a\")");
        QTest::newRow("cluster-scoped") << QByteArray("apiVersion: v1\nkind: Namespace\nmetadata: {name: mine}\n")
                                        << QStringLiteral("99-extra.yaml:1:1: error: Namespace is cluster-scoped");
        QTest::newRow("unknown kind")
            << QByteArray("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
            << QStringLiteral("99-extra.yaml:1:1: error: the cluster does not serve example.com/v1 Widget");
        QTest::newRow("yaml syntax") << QByteArray("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n")
                                     << QStringLiteral("99-extra.yaml:");
        QTest::newRow("no kind") << QByteArray("apiVersion: v1\nmetadata: {name: x}\n")
                                 << QStringLiteral("99-extra.yaml:1:1: error: kind not set");
    }
    void badTemplates()
    {
        QFETCH(QByteArray, extra);
        QFETCH(QString, message);
        const QString dir = templates(
            QStringLiteral("bad"), {{QStringLiteral("00-first.yaml"), kOld}, {QStringLiteral("99-extra.yaml"), extra}});
        ManifestsDriver driver(m_client.get(), options(dir));
        const DeployOutcome o = run(driver.deploy(target(), this));
        QVERIFY(!o.ok);
        QVERIFY2(o.summary.contains(QStringLiteral("nothing was applied")), qPrintable(o.summary));
        QVERIFY2(o.output.join(u'\n').contains(message), qPrintable(o.output.join(u'\n')));
        QVERIFY(get(ResourceRef::configMaps(), QStringLiteral("web-old")).isEmpty());
    }

    void missingFolder()
    {
        ManifestsDriver driver(m_client.get(), options(m_dir.filePath(QStringLiteral("none"))));
        const DeployOutcome o = run(driver.deploy(target(), this));
        QVERIFY(!o.ok);
        QVERIFY2(o.output.join(u'\n').contains(QStringLiteral("the manifests folder does not exist")),
                 qPrintable(o.output.join(u'\n')));
    }

    // An image the cluster cannot pull never rolls out: the deploy fails with the state.
    void rolloutTimeout()
    {
        const QString dir = templates(QStringLiteral("stuck"), {{QStringLiteral("d.yaml"), kDeployment}});
        ManifestsDriver driver(m_client.get(), options(dir, 3000));
        DeployTarget t = target();
        t.component = QStringLiteral("stuck");
        t.image = QStringLiteral("registry.invalid/nothing");
        const DeployOutcome o = run(driver.deploy(t, this));
        QVERIFY(!o.ok);
        QVERIFY2(o.summary.startsWith(QStringLiteral("deployment.apps/stuck did not roll out: 0 of 2 updated"))
                     || o.summary.startsWith(
                         QStringLiteral("deployment.apps/stuck did not roll out: 2 of 2 updated, 0 ready")),
                 qPrintable(o.summary));
        run(driver.uninstall(t, this));
    }

    void helmArguments()
    {
        HelmSettings s;
        s.chart = QStringLiteral("oci://registry.example.com/charts/web");
        s.kubeconfig = QStringLiteral("/etc/kube/config");
        s.context = QStringLiteral("prod");
        s.atomic = true;
        HelmDriver helm(s);
        DeployTarget t = target(QStringLiteral("1.10"));
        t.chartVersion = QStringLiteral("0.3.1");
        t.digest = QStringLiteral("sha256:0123");
        QCOMPARE(helm.upgradeArguments(t, QStringLiteral("/tmp/v.json")),
                 words({"upgrade",
                        "--install",
                        "web",
                        "oci://registry.example.com/charts/web",
                        "--namespace",
                        "env-a",
                        "--version",
                        "0.3.1",
                        "-f",
                        "/tmp/v.json",
                        "--set-string",
                        "image.repository=iterdeck/demo-web",
                        "--set-string",
                        "image.tag=1.10",
                        "--set-string",
                        "image.digest=sha256:0123",
                        "--set-string",
                        "domain=sprint-1.shop.test",
                        "--wait",
                        "--timeout",
                        "5m0s",
                        "--atomic",
                        "--kubeconfig",
                        "/etc/kube/config",
                        "--kube-context",
                        "prod"}));
        QCOMPARE(helm.statusArguments(t),
                 words({"status", "web", "--namespace", "env-a", "-o", "json", "--kubeconfig", "/etc/kube/config",
                        "--kube-context", "prod"}));
        HelmSettings plain;
        plain.chart = QStringLiteral("charts/web");
        plain.release = QStringLiteral("shop-web");
        plain.wait = false;
        HelmDriver minimal(plain);
        DeployTarget bare;
        bare.ns = QStringLiteral("n");
        bare.component = QStringLiteral("web");
        QCOMPARE(minimal.upgradeArguments(bare, {}),
                 words({"upgrade", "--install", "shop-web", "charts/web", "--namespace", "n"}));
        QCOMPARE(minimal.uninstallArguments(bare), words({"uninstall", "shop-web", "--namespace", "n"}));
    }

    void helmStatus_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("error"); // empty: parses
        QTest::addColumn<QString>("status");
        const QByteArray good
            = R"({"name":"web","info":{"first_deployed":"2026-11-27T09:00:00.123456789Z","last_deployed":"2026-11-27T09:10:00.5Z",
            "deleted":"","description":"Upgrade complete","status":"deployed","notes":"..."},
            "chart":{"metadata":{"name":"web","version":"0.3.1","appVersion":"1.10","apiVersion":"v2"}},
            "config":{"image":{"tag":"1.10"}},"version":7,"namespace":"env-a"})";
        QTest::newRow("deployed") << good << ""
                                  << "deployed";
        QByteArray failed = good;
        failed.replace("\"status\":\"deployed\"", "\"status\":\"failed\"");
        QTest::newRow("failed") << failed << ""
                                << "failed";
        QTest::newRow("not json") << QByteArray("Error: release: not found\n") << "not JSON"
                                  << "";
        QTest::newRow("array") << QByteArray("[]") << "expected a JSON object, not an array"
                               << "";
        QTest::newRow("no status") << QByteArray(R"({"name":"web","version":1,"info":{}})")
                                   << "the release web has no info.status"
                                   << "";
        QTest::newRow("no version") << QByteArray(R"({"name":"web","info":{"status":"deployed"}})") << "has no version"
                                    << "";
        QTest::newRow("empty") << QByteArray() << "not JSON"
                               << "";
    }
    void helmStatus()
    {
        QFETCH(QByteArray, json);
        QFETCH(QString, error);
        QFETCH(QString, status);
        const auto r = HelmDriver::parseStatus(json);
        if (!error.isEmpty()) {
            QVERIFY(!r);
            QVERIFY2(r.error().contains(error), qPrintable(r.error()));
            return;
        }
        if (!r)
            QFAIL(qPrintable(r.error()));
        QCOMPARE(r->status, status);
        QCOMPARE(r->revision, 7);
        QCOMPARE(r->chart, QStringLiteral("web-0.3.1"));
        QCOMPARE(r->ns, QStringLiteral("env-a"));
        QVERIFY(r->lastDeployed.isValid());
    }

    // The process side, with a scripted helm: arguments passed, status read, failures reported.
    void helmProcess()
    {
        const QString bin = m_dir.filePath(QStringLiteral("fake-helm"));
        const QString log = m_dir.filePath(QStringLiteral("helm.log"));
        writeFile(bin,
                  QStringLiteral(R"(#!/bin/sh
echo "$@" >> '%1'
case "$1" in
  upgrade)
    if [ -n "$FAKE_HELM_FAIL" ]; then echo "Error: UPGRADE FAILED: timed out waiting for the condition" >&2; exit 1; fi
    echo 'Release "web" has been upgraded. Happy Helming!' ;;
  status)
    printf '{"name":"web","namespace":"env-a","version":3,"info":{"status":"%s","description":"Upgrade complete","last_deployed":"2026-11-27T09:10:00Z"},"chart":{"metadata":{"name":"web","version":"0.3.1"}}}' "${FAKE_HELM_STATUS:-deployed}" ;;
  uninstall) echo 'release "web" uninstalled' ;;
esac
)")
                      .arg(log)
                      .toUtf8());
        QFile::setPermissions(bin, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
        HelmSettings s;
        s.program = bin;
        s.chart = QStringLiteral("charts/web");
        HelmDriver helm(s);
        const DeployOutcome ok = run(helm.deploy(target(), this));
        QVERIFY2(ok.ok, qPrintable(ok.summary + u'\n' + ok.output.join(u'\n')));
        QCOMPARE(ok.revision, QStringLiteral("3"));
        QCOMPARE(ok.summary, QStringLiteral("web deployed to env-a: release web revision 3 deployed (web-0.3.1)"));
        QFile f(log);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QList<QByteArray> calls = f.readAll().trimmed().split('\n');
        QCOMPARE(calls.size(), 2);
        QVERIFY2(calls.at(0).startsWith("upgrade --install web charts/web --namespace env-a -f "),
                 calls.at(0).constData());
        QVERIFY(calls.at(0).contains("--set-string image.tag=1.0"));
        QCOMPARE(calls.at(1), QByteArray("status web --namespace env-a -o json"));

        qputenv("FAKE_HELM_FAIL", "1");
        const DeployOutcome failed = run(helm.deploy(target(), this));
        qunsetenv("FAKE_HELM_FAIL");
        QVERIFY(!failed.ok);
        QCOMPARE(failed.summary, QStringLiteral("helm upgrade failed (exit code 1)"));
        QVERIFY(failed.output.contains(QStringLiteral("Error: UPGRADE FAILED: timed out waiting for the condition")));

        qputenv("FAKE_HELM_STATUS", "pending-upgrade");
        const DeployOutcome pending = run(helm.deploy(target(), this));
        qunsetenv("FAKE_HELM_STATUS");
        QVERIFY(!pending.ok);
        QCOMPARE(pending.summary, QStringLiteral("release web is pending-upgrade: Upgrade complete"));

        const DeployOutcome removed = run(helm.uninstall(target(), this));
        QVERIFY(removed.ok);

        HelmSettings missing;
        missing.program = m_dir.filePath(QStringLiteral("no-such-helm"));
        HelmDriver none(missing);
        const DeployOutcome absent = run(none.deploy(target(), this));
        QVERIFY(!absent.ok);
        QVERIFY2(absent.summary.startsWith(QStringLiteral("cannot run ")), qPrintable(absent.summary));
    }
};

QTEST_GUILESS_MAIN(TestDeployDrivers)
#include "tst_deploydrivers.moc"
