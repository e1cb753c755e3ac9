// The environment manager against the sandbox cluster over HTTPS: iterations arrive as signed
// generic webhooks through the real WebhookProcessor and SQLite store; the test checks the
// namespace, its labels, the Deployment's image after each artifact, coalescing, pinning, a
// broken deploy's event, and cleanup after the grace period (cancelled by a reopen, re-armed
// after a restart).
#include "bot/clusterconfig.h"
#include "bot/crypto.h"
#include "bot/environmentmanager.h"
#include "bot/store.h"
#include "bot/webhookprocessor.h"
#include "botsandboxsupport.h"
#include "config/teammanifestloader.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::bot;
using namespace iterdeck::kube;
using iterdeck::testing::SandboxCluster;

namespace {

const char *kManifest = R"(version: 1
project: shop
im: {adapter: none}
environment:
  namespace: "{project}-{iteration}"
  domain: "{component}.{iteration}.shop.test"
  create: onStart
cleanup:
  gracePeriod: 2s
components:
  - name: web
    repository: /srv/git/web
    image: iterdeck/demo-web
    defaultBranch: main
    deploy: {driver: manifests, path: deploy/web}
    values:
      default: {replicas: 1}
  - name: broken
    repository: /srv/git/broken
    image: iterdeck/broken
    deploy: {driver: manifests, path: deploy/broken}
)";

const char *kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${component}
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
)";

// ${nope} is no variable: the driver refuses the folder, naming the place.
const char *kBroken = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: ${component}}
data:
  x: ${nope}
)";

void writeFile(const QString &path, const QByteArray &text)
{
    QVERIFY(iterdeck::testing::writeProjectFile(path, text));
}

} // namespace

class TestBotEnvironments : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxCluster> m_cluster;
    std::unique_ptr<Store> m_store;
    model::TeamManifest m_manifest;
    std::unique_ptr<WebhookProcessor> m_processor;
    std::unique_ptr<EnvironmentManager> m_manager;
    WebhookHook m_hook {QStringLiteral("ci"), QStringLiteral("generic"), "k",
                        makeWebhookParser(QStringLiteral("generic"))};
    QList<model::Event> m_events;
    int m_delivery = 0;
    const QString m_ns = QStringLiteral("shop-sprint-7");

    void makeManager()
    {
        EnvironmentManagerOptions o;
        o.manifestDir = m_dir.path();
        o.coalesceMs = 1500;
        o.rolloutTimeoutMs = 0;
        m_manager = std::make_unique<EnvironmentManager>(m_manifest, m_store.get(), m_cluster->client(), o);
        connect(m_manager.get(), &EnvironmentManager::eventsAppended, this,
                [this](const QList<model::Event> &events) { m_events += events; });
        m_manager->start();
    }

    void deliver(const QJsonObject &body)
    {
        QJsonObject b = body;
        b.insert(QStringLiteral("id"), QStringLiteral("d-%1").arg(++m_delivery));
        WebhookRequest r;
        r.body = QJsonDocument(b).toJson(QJsonDocument::Compact);
        r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("k", r.body).toHex());
        const WebhookOutcome out = m_processor->process(m_hook, r);
        QVERIFY2(out.kind == WebhookOutcome::Kind::Processed, qPrintable(out.message));
        m_manager->eventsCommitted(out.events);
    }
    void iteration(const QString &type)
    {
        deliver({{QStringLiteral("type"), type},
                 {QStringLiteral("iteration"),
                  QJsonObject {{QStringLiteral("id"), QStringLiteral("s7")},
                               {QStringLiteral("name"), QStringLiteral("Sprint 7")}}}});
    }
    void artifact(const QString &component, const QString &tag)
    {
        deliver({{QStringLiteral("type"), QStringLiteral("artifact.published")},
                 {QStringLiteral("artifact"),
                  QJsonObject {{QStringLiteral("component"), component},
                               {QStringLiteral("branch"), QStringLiteral("main")},
                               {QStringLiteral("build"), tag},
                               {QStringLiteral("tag"), tag}}}});
    }
    bool waitIdle(int ms = 60000)
    {
        QDeadlineTimer deadline(ms);
        while (!m_manager->isIdle()) {
            if (deadline.hasExpired())
                return false;
            QTest::qWait(20);
        }
        return true;
    }
    QJsonObject get(const ResourceRef &ref, const QString &ns, const QString &name, int *status = nullptr)
    {
        return m_cluster->get(ref, ns, name, status);
    }
    QString deployedImage()
    {
        const QJsonObject d = get(ResourceRef::deployments(), m_ns, QStringLiteral("web"));
        return d[u"spec"][u"template"][u"spec"][u"containers"][0][u"image"].toString();
    }
    QList<model::Event> eventsOf(const QString &type, qsizetype from = 0) const
    {
        QList<model::Event> out;
        for (qsizetype i = from; i < m_events.size(); ++i) {
            if (m_events.at(i).type == type)
                out.append(m_events.at(i));
        }
        return out;
    }
    model::Environment environment()
    {
        auto envs = m_store->environments();
        if (!envs || envs->isEmpty())
            return {};
        return envs->constLast();
    }
    std::optional<model::Artifact> latest(const QString &component)
    {
        auto a = m_store->latestArtifact(component, QStringLiteral("main"));
        return a && a->has_value() ? **a : std::optional<model::Artifact>();
    }
    bool namespaceGone(int ms)
    {
        QDeadlineTimer deadline(ms);
        int status = 0;
        while (get(ResourceRef::namespaces(), {}, m_ns, &status), status != 404) {
            if (deadline.hasExpired())
                return false;
            QTest::qWait(200);
        }
        return true;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        writeFile(m_dir.filePath(QStringLiteral("deploy/web/deployment.yaml")), kDeployment);
        writeFile(m_dir.filePath(QStringLiteral("deploy/broken/bad.yaml")), kBroken);
        writeFile(m_dir.filePath(QStringLiteral("iterdeck.yaml")), kManifest);
        Diagnostics diag;
        auto m = config::TeamManifestLoader().loadFile(m_dir.filePath(QStringLiteral("iterdeck.yaml")), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        m_manifest = *m;
        QCOMPARE(m_manifest.environment.create, QStringLiteral("onStart"));

        m_cluster = std::make_unique<SandboxCluster>(m_dir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(m_cluster->error().isEmpty(), qPrintable(m_cluster->error()));

        auto s = Store::open(StoreOptions {{}, m_dir.filePath(QStringLiteral("store"))});
        QVERIFY2(s, s ? "" : qPrintable(s.error().message));
        m_store = std::move(*s);
        m_processor = std::make_unique<WebhookProcessor>(*m_store, m_manifest);
        makeManager();
    }

    void iterationStartCreatesEnvironment()
    {
        iteration(QStringLiteral("iteration.started"));
        QVERIFY(waitIdle());
        const model::Environment env = environment();
        QCOMPARE(env.nameSpace, m_ns);
        QCOMPARE(env.domain, QStringLiteral("{component}.sprint-7.shop.test"));
        QCOMPARE(env.state, QStringLiteral("ready"));
        const QJsonObject ns = get(ResourceRef::namespaces(), {}, m_ns);
        const QJsonObject labels = ns[u"metadata"][u"labels"].toObject();
        QCOMPARE(labels.value(kProjectLabel).toString(), QStringLiteral("shop"));
        QCOMPARE(labels.value(kIterationLabel).toString(), QStringLiteral("sprint-7"));
        // Each component follows its default branch; none has a build yet.
        auto selections = m_store->selections(env.id);
        QVERIFY(selections);
        QCOMPARE(selections->size(), 2);
        for (const model::Selection &s : std::as_const(*selections)) {
            QCOMPARE(s.mode, model::Selection::Mode::Follow);
            QCOMPARE(s.branch, QStringLiteral("main"));
        }
        QCOMPARE(eventsOf(QStringLiteral("environment.created")).size(), 1);
        const auto waiting = eventsOf(QStringLiteral("deploy.waiting"));
        QCOMPARE(waiting.size(), 2);
        QCOMPARE(waiting.at(0).payload.value(u"message").toString(),
                 QStringLiteral("waiting for a build of branch main"));
        QCOMPARE(eventsOf(QStringLiteral("environment.ready")).size(), 1);
        QVERIFY(eventsOf(QStringLiteral("deploy.started")).isEmpty());
        // Asking again gives the same environment.
        auto again = m_manager->createEnvironment(env.iterationId);
        QVERIFY(again);
        QCOMPARE(again->id, env.id);
        // Events are in the store's log, in order.
        auto logged = m_store->eventsAfter(0);
        QVERIFY(logged);
        QCOMPARE(logged->constLast(), m_events.constLast());
    }

    void artifactDeploys()
    {
        const qsizetype from = m_events.size();
        artifact(QStringLiteral("web"), QStringLiteral("b1"));
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b1"));
        const QJsonObject d = get(ResourceRef::deployments(), m_ns, QStringLiteral("web"));
        QCOMPARE(d[u"spec"][u"template"][u"spec"][u"containers"][0][u"env"][0][u"value"].toString(),
                 QStringLiteral("web.sprint-7.shop.test"));
        const auto ok = eventsOf(QStringLiteral("deploy.succeeded"), from);
        QCOMPARE(ok.size(), 1);
        QCOMPARE(ok.at(0).payload.value(u"image").toString(), QStringLiteral("iterdeck/demo-web:b1"));
        QCOMPARE(ok.at(0).environmentId, environment().id);

        artifact(QStringLiteral("web"), QStringLiteral("b2"));
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b2"));
        QCOMPARE(eventsOf(QStringLiteral("deploy.started"), from).size(), 2);
    }

    void burstIsCoalesced()
    {
        const qsizetype from = m_events.size();
        // Builds 50 ms apart, all within the coalescing window that the first one opened.
        for (int i = 3; i <= 7; ++i) {
            artifact(QStringLiteral("web"), QStringLiteral("b%1").arg(i));
            QTest::qWait(50);
        }
        QVERIFY(waitIdle());
        const auto started = eventsOf(QStringLiteral("deploy.started"), from);
        QCOMPARE(started.size(), 1);
        QCOMPARE(started.at(0).payload.value(u"image").toString(), QStringLiteral("iterdeck/demo-web:b7"));
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b7"));
    }

    void pinStaysPinned()
    {
        const qint64 envId = environment().id;
        auto list = m_store->artifacts(QStringLiteral("web"), QStringLiteral("main"));
        QVERIFY(list);
        const auto b4
            = std::find_if(list->cbegin(), list->cend(), [](const model::Artifact &a) { return a.imageTag == u"b4"; });
        QVERIFY(b4 != list->cend());
        auto wrong = m_manager->pin(envId, QStringLiteral("broken"), b4->id, QStringLiteral("alice"));
        QVERIFY(!wrong);
        QCOMPARE(wrong.error(), QStringLiteral("artifact %1 is a build of \"web\", not of \"broken\"").arg(b4->id));
        auto pinned = m_manager->pin(envId, QStringLiteral("web"), b4->id, QStringLiteral("alice"));
        QVERIFY2(pinned, pinned ? "" : qPrintable(pinned.error()));
        QCOMPARE(pinned->mode, model::Selection::Mode::Pin);
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b4"));

        const qsizetype from = m_events.size();
        artifact(QStringLiteral("web"), QStringLiteral("b8"));
        QTest::qWait(1800); // longer than the coalescing window: a following deploy would have started
        QVERIFY(waitIdle());
        QVERIFY(eventsOf(QStringLiteral("deploy.started"), from).isEmpty());
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b4"));

        auto followed = m_manager->follow(envId, QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("bob"));
        QVERIFY(followed);
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b8"));
        QCOMPARE(eventsOf(QStringLiteral("selection.changed"), from).size(), 1);
    }

    void brokenManifestsFail()
    {
        const qsizetype from = m_events.size();
        artifact(QStringLiteral("broken"), QStringLiteral("x1"));
        QVERIFY(waitIdle());
        const auto failed = eventsOf(QStringLiteral("deploy.failed"), from);
        QCOMPARE(failed.size(), 1);
        const QJsonObject p = failed.at(0).payload;
        QCOMPARE(p.value(u"component").toString(), QStringLiteral("broken"));
        QCOMPARE(p.value(u"message").toString(),
                 QStringLiteral("the manifests of broken have 1 problem(s); nothing was applied"));
        const QJsonArray output = p.value(u"output").toArray();
        QCOMPARE(output.size(), 1);
        const QString file = QDir::cleanPath(m_dir.filePath(QStringLiteral("deploy/broken/bad.yaml")));
        QVERIFY2(output.at(0).toString().startsWith(file + QStringLiteral(":5:6: ")),
                 qPrintable(output.at(0).toString()));
        QVERIFY(output.at(0).toString().contains(u"\"${nope}\": no such variable"));
        QCOMPARE(environment().state, QStringLiteral("failed"));
        const auto envFailed = eventsOf(QStringLiteral("environment.failed"), from);
        QCOMPARE(envFailed.size(), 1);
        QCOMPARE(envFailed.at(0).payload.value(u"failedComponents").toArray(), QJsonArray {QStringLiteral("broken")});
        // The other component is untouched.
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b8"));
    }

    void reopenWithinGraceCancelsCleanup()
    {
        const qsizetype from = m_events.size();
        iteration(QStringLiteral("iteration.closed"));
        QCOMPARE(eventsOf(QStringLiteral("environment.cleanupScheduled"), from).size(), 1);
        iteration(QStringLiteral("iteration.started"));
        QCOMPARE(eventsOf(QStringLiteral("environment.cleanupCancelled"), from).size(), 1);
        QTest::qWait(2500); // past the grace period
        QVERIFY(waitIdle());
        QVERIFY(eventsOf(QStringLiteral("environment.deleting"), from).isEmpty());
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b8"));
        QVERIFY(environment().state != u"deleting");
    }

    void closeDeletesAfterGraceAcrossRestart()
    {
        const qsizetype from = m_events.size();
        iteration(QStringLiteral("iteration.closed"));
        QCOMPARE(eventsOf(QStringLiteral("environment.cleanupScheduled"), from).size(), 1);
        // The bot restarts within the grace period: the due time comes back from the store.
        m_manager.reset();
        makeManager();
        QVERIFY(eventsOf(QStringLiteral("environment.deleting"), from).isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(environment().state, QStringLiteral("deleted"), 60000);
        QCOMPARE(eventsOf(QStringLiteral("environment.deleting"), from).size(), 1);
        QCOMPARE(eventsOf(QStringLiteral("environment.deleted"), from).size(), 1);
        QVERIFY(namespaceGone(60000));
        // A closed iteration gets no environment.
        auto closed = m_manager->createEnvironment(environment().iterationId);
        QVERIFY(!closed);
        QCOMPARE(closed.error(), QStringLiteral("iteration \"Sprint 7\" is closed"));
    }

    void reopenAfterDeletionRecreates()
    {
        const qsizetype from = m_events.size();
        iteration(QStringLiteral("iteration.started"));
        QVERIFY(waitIdle());
        QCOMPARE(eventsOf(QStringLiteral("environment.created"), from).size(), 1);
        QCOMPARE(environment().state, QStringLiteral("failed")); // "broken" still fails
        QCOMPARE(deployedImage(), QStringLiteral("iterdeck/demo-web:b8"));
    }

    // The cluster of the manifest's settings: a kubeconfig, or a pod's service account, here
    // made of the sandbox's own CA and token and used for a real request.
    void clusterConfig()
    {
        model::ClusterSettings fromFile;
        fromFile.kubeconfig = m_cluster->server()->kubeconfigPath();
        auto kc = loadClusterConfig(fromFile, QProcessEnvironment());
        QVERIFY2(kc, kc ? "" : qPrintable(kc.error()));

        model::ClusterSettings missing;
        missing.kubeconfig = m_dir.filePath(QStringLiteral("nope/config"));
        QVERIFY(!loadClusterConfig(missing, QProcessEnvironment()));

        model::ClusterSettings inCluster;
        inCluster.inCluster = true;
        const QString sa = m_dir.filePath(QStringLiteral("serviceaccount"));
        auto notInPod = loadClusterConfig(inCluster, QProcessEnvironment(), sa);
        QVERIFY(!notInPod);
        QCOMPARE(notInPod.error(),
                 QStringLiteral("cluster.inCluster is set, but KUBERNETES_SERVICE_HOST and "
                                "KUBERNETES_SERVICE_PORT are not: the bot does not run in a pod"));
        QProcessEnvironment env;
        env.insert(QStringLiteral("KUBERNETES_SERVICE_HOST"), kc->cluster.server.host());
        env.insert(QStringLiteral("KUBERNETES_SERVICE_PORT"), QString::number(kc->cluster.server.port()));
        auto noCa = loadClusterConfig(inCluster, env, sa);
        QVERIFY(!noCa);
        QVERIFY2(noCa.error().startsWith(u"cannot read the service account's CA " + sa + u"/ca.crt"),
                 qPrintable(noCa.error()));
        QVERIFY(!kc->user.token.isEmpty());
        writeFile(sa + QStringLiteral("/ca.crt"), kc->cluster.certificateAuthorityPem);
        writeFile(sa + QStringLiteral("/token"), kc->user.token.toUtf8());
        writeFile(sa + QStringLiteral("/namespace"), "iterdeck\n");
        auto pod = loadClusterConfig(inCluster, env, sa);
        QVERIFY2(pod, pod ? "" : qPrintable(pod.error()));
        QCOMPARE(pod->cluster.server, kc->cluster.server);
        QCOMPARE(pod->user.tokenFile, sa + QStringLiteral("/token"));
        QCOMPARE(pod->ns, QStringLiteral("iterdeck"));
        KubeClient client(*pod);
        KubeCall *call = client.get(ResourceRef::namespaces(), {}, QStringLiteral("default"));
        QSignalSpy done(call, &KubeCall::finished);
        QVERIFY(done.wait(10000));
        QVERIFY2(call->isOk(), qPrintable(call->error().toString()));
    }

    // create: onDemand: a started iteration gets its environment only when asked.
    void onDemandWaitsForTheAsk()
    {
        model::TeamManifest manifest = m_manifest;
        manifest.environment.create = QStringLiteral("onDemand");
        manifest.environment.namespaceTemplate = QStringLiteral("{project}-od-{iteration}");
        auto s = Store::open(StoreOptions {{}, m_dir.filePath(QStringLiteral("ondemand-store"))});
        QVERIFY(s);
        std::unique_ptr<Store> store = std::move(*s);
        WebhookProcessor processor(*store, manifest);
        EnvironmentManagerOptions o;
        o.manifestDir = m_dir.path();
        o.rolloutTimeoutMs = 0;
        EnvironmentManager manager(manifest, store.get(), m_cluster->client(), o);
        QList<model::Event> events;
        connect(&manager, &EnvironmentManager::eventsAppended, this,
                [&events](const QList<model::Event> &e) { events += e; });
        manager.start();
        WebhookRequest r;
        r.body = R"({"id":"od-1","type":"iteration.started","iteration":{"id":"s8","name":"Sprint 8"}})";
        r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("k", r.body).toHex());
        const WebhookOutcome out = processor.process(m_hook, r);
        QCOMPARE(out.kind, WebhookOutcome::Kind::Processed);
        manager.eventsCommitted(out.events);
        QVERIFY(manager.isIdle());
        QVERIFY(events.isEmpty());
        QVERIFY(store->environments()->isEmpty());

        auto unknown = manager.createEnvironment(999);
        QVERIFY(!unknown);
        QCOMPARE(unknown.error(), QStringLiteral("no iteration with id 999"));
        auto created = manager.createEnvironment(out.events.at(0).iterationId);
        QVERIFY2(created, created ? "" : qPrintable(created.error()));
        QCOMPARE(created->nameSpace, QStringLiteral("shop-od-sprint-8"));
        QDeadlineTimer deadline(60000);
        while (!manager.isIdle() && !deadline.hasExpired())
            QTest::qWait(20);
        QCOMPARE(store->environments()->at(0).state, QStringLiteral("ready"));
        int status = 0;
        get(ResourceRef::namespaces(), {}, QStringLiteral("shop-od-sprint-8"), &status);
        QCOMPARE(status, 200);
    }

    // The demo project as shipped: both components render from resources/demo, roll out on the
    // sandbox from its image catalog, and the environment becomes ready.
    void demoProjectDeploys()
    {
        Diagnostics diag;
        auto demo = config::TeamManifestLoader().loadFile(
            QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo/iterdeck.yaml"), diag);
        QVERIFY2(demo, qPrintable(diag.toString()));
        auto s = Store::open(StoreOptions {{}, m_dir.filePath(QStringLiteral("demo-store"))});
        QVERIFY(s);
        std::unique_ptr<Store> store = std::move(*s);
        WebhookProcessor processor(*store, *demo);
        EnvironmentManagerOptions o;
        o.manifestDir = QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo");
        o.coalesceMs = 100;
        o.rolloutTimeoutMs = 90000;
        EnvironmentManager manager(*demo, store.get(), m_cluster->client(), o);
        QList<model::Event> events;
        connect(&manager, &EnvironmentManager::eventsAppended, this,
                [&events](const QList<model::Event> &e) { events += e; });
        manager.start();
        int n = 0;
        auto send = [&](const QByteArray &body) {
            WebhookRequest r;
            r.body = body;
            r.body.replace("ID", QByteArray::number(++n));
            r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("demo", r.body).toHex());
            const WebhookOutcome out
                = processor.process(WebhookHook {QStringLiteral("generic"), QStringLiteral("generic"), "demo",
                                                 makeWebhookParser(QStringLiteral("generic"))},
                                    r);
            QVERIFY2(out.kind == WebhookOutcome::Kind::Processed, qPrintable(out.message));
            manager.eventsCommitted(out.events);
        };
        send(R"({"id":"ID","type":"iteration.started","iteration":{"id":"d1","name":"Demo 1"}})");
        send(R"({"id":"ID","type":"artifact.published","artifact":{"component":"web","branch":"main","tag":"1.0"}})");
        send(
            R"({"id":"ID","type":"artifact.published","artifact":{"component":"worker","branch":"main","tag":"1.0"}})");
        QDeadlineTimer deadline(120000);
        while (!manager.isIdle() && !deadline.hasExpired())
            QTest::qWait(50);
        QVERIFY(manager.isIdle());
        QStringList succeeded;
        for (const model::Event &e : std::as_const(events)) {
            if (e.type == u"deploy.failed")
                QFAIL(QJsonDocument(e.payload).toJson().constData());
            if (e.type == u"deploy.succeeded")
                succeeded << e.payload.value(u"component").toString();
        }
        succeeded.sort();
        QCOMPARE(succeeded, (QStringList {QStringLiteral("web"), QStringLiteral("worker")}));
        auto envs = store->environments();
        QVERIFY(envs && envs->size() == 1);
        QCOMPARE(envs->at(0).nameSpace, QStringLiteral("demo-demo-1"));
        QCOMPARE(envs->at(0).state, QStringLiteral("ready"));
        const QJsonObject web = get(ResourceRef::deployments(), QStringLiteral("demo-demo-1"), QStringLiteral("web"));
        QCOMPARE(web[u"status"][u"readyReplicas"].toInt(), 2);
        QCOMPARE(web[u"spec"][u"template"][u"spec"][u"containers"][0][u"env"][1][u"value"].toString(),
                 QStringLiteral("web.demo-1.demo.localhost"));
    }

    void cleanupTestCase()
    {
        m_manager.reset();
        m_cluster.reset();
    }
};

QTEST_GUILESS_MAIN(TestBotEnvironments)
#include "tst_botenvironments.moc"
