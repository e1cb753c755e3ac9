// The REST client, the informer cache, discovery and log streams against the sandbox cluster
// over HTTPS (and a scripted server for the failures a real one rarely shows on demand).
#include "kube/discovery.h"
#include "kube/informer.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "kube/logstream.h"

#include "testutil/fakehttpserver.h"
#include "testutil/sandboxserver.h"
#include "testutil/tcpproxy.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::kube;
using iterdeck::testing::FakeHttpServer;
using iterdeck::testing::SandboxServer;
using iterdeck::testing::TcpProxy;

namespace {

QJsonObject configMap(const QString &name, const QString &value)
{
    return QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                        {QStringLiteral("kind"), QStringLiteral("ConfigMap")},
                        {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("name"), name}}},
                        {QStringLiteral("data"), QJsonObject {{QStringLiteral("v"), value}}}};
}

QString metaOf(const QJsonObject &o, const char *key)
{
    return o.value(QLatin1String("metadata")).toObject().value(QLatin1String(key)).toString();
}

// Waits for a call and returns it (the call deletes itself after the event loop runs).
struct Done
{
    bool ok = false;
    KubeError error;
    int status = 0;
    QByteArray body;
    QJsonObject object;
    KubeError objectError; // why the body is not a JSON object, when it is not
};

Done await(KubeCall *call, int timeoutMs = 20000)
{
    Done d;
    bool finished = false;
    QObject::connect(call, &KubeCall::finished, call, [&] {
        finished = true;
        d.ok = call->isOk();
        d.error = call->error();
        d.status = call->httpStatus();
        d.body = call->body();
        if (auto o = call->object())
            d.object = *o;
        else
            d.objectError = o.error();
    });
    if (!QTest::qWaitFor([&] { return finished; }, timeoutMs))
        d.error = KubeError::make(KubeError::Kind::Timeout, QStringLiteral("test gave up waiting"));
    return d;
}

} // namespace

class TestKubeClient : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxServer> m_sandbox;
    int m_nsCounter = 0;

    ClientConfig config(const QString &context = QStringLiteral("sandbox-admin"), const QString &ns = {})
    {
        KubeconfigOptions o;
        o.kubeconfigFlag = m_sandbox->kubeconfigPath();
        o.context = context;
        o.ns = ns;
        auto c = loadClientConfig(o);
        if (!c)
            qFatal("kubeconfig: %s", qPrintable(c.error().message));
        return *c;
    }
    // A fresh namespace per test keeps them independent.
    QString freshNamespace(KubeClient &client, const QString &prefix = QStringLiteral("kc"))
    {
        const QString ns = QStringLiteral("%1-%2").arg(prefix).arg(++m_nsCounter);
        const Done d = await(
            client.create(ResourceRef::namespaces(), {},
                          QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                                       {QStringLiteral("kind"), QStringLiteral("Namespace")},
                                       {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("name"), ns}}}}));
        if (!d.ok)
            qFatal("namespace: %s", qPrintable(d.error.toString()));
        return ns;
    }
    // A kubeconfig like the sandbox's but pointing at `server` (a proxy or a fake).
    QString kubeconfigFor(const QString &server, const QString &name)
    {
        QFile in(m_sandbox->kubeconfigPath());
        if (!in.open(QIODevice::ReadOnly))
            return {};
        QString text = QString::fromUtf8(in.readAll());
        text.replace(m_sandbox->server(), server);
        const QString path = m_dir.filePath(name);
        QFile out(path);
        if (!out.open(QIODevice::WriteOnly))
            return {};
        out.write(text.toUtf8());
        return path;
    }
    ClientConfig configFrom(const QString &path, const QString &context = QStringLiteral("sandbox-admin"))
    {
        KubeconfigOptions o;
        o.kubeconfigFlag = path;
        o.context = context;
        auto c = loadClientConfig(o);
        if (!c)
            qFatal("kubeconfig: %s", qPrintable(c.error().message));
        return *c;
    }
    // A plain-HTTP client for the scripted server.
    ClientConfig fakeConfig(const FakeHttpServer &fake)
    {
        ClientConfig c;
        c.cluster.server = QUrl(fake.url());
        c.user.token = QStringLiteral("t");
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        SandboxServer::Options o;
        o.watchHistory = 50; // small enough that a test can outrun it and force 410 Expired
        o.bookmarkIntervalSeconds = 1;
        m_sandbox = std::make_unique<SandboxServer>(m_dir.filePath(QStringLiteral("sandbox")), o);
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
    }
    void cleanupTestCase() { m_sandbox.reset(); }

    void tokenAndCertificateUsers()
    {
        KubeClient admin(config());
        Done d = await(admin.list(ResourceRef::namespaces(), {}));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QCOMPARE(d.object.value(QLatin1String("kind")).toString(), QStringLiteral("NamespaceList"));
        QVERIFY(!d.object.value(QLatin1String("items")).toArray().isEmpty());

        // The developer authenticates with a client certificate and may only write in dev-*.
        KubeClient dev(config(QStringLiteral("sandbox-developer")));
        d = await(dev.create(ResourceRef::configMaps(), QStringLiteral("default"),
                             configMap(QStringLiteral("x"), QStringLiteral("1"))));
        QVERIFY(!d.ok);
        QCOMPARE(d.error.kind, KubeError::Kind::Server);
        QCOMPARE(d.error.httpStatus, 403);
        QCOMPARE(d.error.reason, QStringLiteral("Forbidden"));
        QVERIFY2(d.error.message.contains(QStringLiteral("User \"developer\" cannot create resource \"configmaps\"")),
                 qPrintable(d.error.message));
        QVERIFY(d.error.toString().startsWith(QStringLiteral("Error from server (Forbidden): ")));
        const QString ns = freshNamespace(admin, QStringLiteral("dev-kc"));
        d = await(dev.create(ResourceRef::configMaps(), ns, configMap(QStringLiteral("x"), QStringLiteral("1"))));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QCOMPARE(d.status, 201);
    }

    // An exec credential plugin (a script) against the real server: its first token is stale,
    // the server says 401, the plugin runs again and its new token is accepted.
    void execPluginTokenIsRefreshedAfter401()
    {
        const QString runs = m_dir.filePath(QStringLiteral("plugin-runs"));
        const QString script = m_dir.filePath(QStringLiteral("token-plugin.sh"));
        QFile f(script);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(
            QStringLiteral("#!/bin/sh\n"
                           "echo run >> '%1'\n"
                           "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 9;; esac\n"
                           "if [ $(wc -l < '%1') -eq 1 ]; then token=stale; else token='%2'; fi\n"
                           "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                           "\"status\":{\"token\":\"%s\"}}' \"$token\"\n")
                .arg(runs, m_sandbox->adminToken())
                .toUtf8());
        f.close();
        QVERIFY(f.setPermissions(f.permissions() | QFileDevice::ExeOwner));
        const QString kubeconfig = m_dir.filePath(QStringLiteral("exec.kubeconfig"));
        QFile k(kubeconfig);
        QVERIFY(k.open(QIODevice::WriteOnly));
        k.write(
            QStringLiteral("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                           "clusters:\n- name: s\n  cluster:\n    server: %1\n    certificate-authority: %2\n"
                           "users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                           "      command: ./token-plugin.sh\n      interactiveMode: Never\n"
                           "contexts:\n- name: c\n  context: {cluster: s, user: u}\n")
                .arg(m_sandbox->server(), m_sandbox->caFile())
                .toUtf8());
        k.close();
        KubeClient client(configFrom(kubeconfig, QStringLiteral("c")));
        Done d = await(client.get(ResourceRef::namespaces(), {}, QStringLiteral("default")));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QFile r(runs);
        QVERIFY(r.open(QIODevice::ReadOnly));
        QCOMPARE(r.readAll().count('\n'), 2);
        r.close();
        // The good token is cached: no more runs.
        d = await(client.list(ResourceRef::namespaces(), {}));
        QVERIFY(d.ok);
        QVERIFY(r.open(QIODevice::ReadOnly));
        QCOMPARE(r.readAll().count('\n'), 2);
    }

    void wrongCaIsATlsErrorWithoutFallback()
    {
        // Trust something that did not sign the server's certificate: the developer's client certificate.
        ClientConfig c = config();
        ClientConfig dev = config(QStringLiteral("sandbox-developer"));
        c.cluster.certificateAuthorityPem = dev.user.clientCertificatePem;
        KubeClient client(c);
        const Done d = await(client.get(ResourceRef::namespaces(), {}, QStringLiteral("default")));
        QVERIFY(!d.ok);
        QCOMPARE(d.error.kind, KubeError::Kind::Tls);
        QVERIFY2(d.error.message.contains(QStringLiteral("tls: failed to verify certificate of 127.0.0.1:")),
                 qPrintable(d.error.message));
        QCOMPARE(d.status, 0);
    }

    void createGetUpdatePatchDelete()
    {
        KubeClient client(config());
        const QString ns = freshNamespace(client);
        Done d
            = await(client.create(ResourceRef::configMaps(), ns, configMap(QStringLiteral("cm"), QStringLiteral("1"))));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QCOMPARE(d.status, 201);
        const QString rv1 = metaOf(d.object, "resourceVersion");

        d = await(client.create(ResourceRef::configMaps(), ns, configMap(QStringLiteral("cm"), QStringLiteral("1"))));
        QCOMPARE(d.error.httpStatus, 409);
        QVERIFY(d.error.isAlreadyExists());
        QCOMPARE(d.error.message, QStringLiteral("configmaps \"cm\" already exists"));

        d = await(client.get(ResourceRef::configMaps(), ns, QStringLiteral("nope")));
        QVERIFY(d.error.isNotFound());
        QCOMPARE(d.error.toString(), QStringLiteral("Error from server (NotFound): configmaps \"nope\" not found"));
        QCOMPARE(d.error.details.value(QLatin1String("name")).toString(), QStringLiteral("nope"));

        d = await(
            client.create(ResourceRef::configMaps(), ns, configMap(QStringLiteral("Bad_Name"), QStringLiteral("1"))));
        QCOMPARE(d.error.httpStatus, 422);
        QCOMPARE(d.error.reason, QStringLiteral("Invalid"));
        QVERIFY(!d.error.causes.isEmpty());
        QCOMPARE(d.error.causes.first().field, QStringLiteral("metadata.name"));

        // Optimistic concurrency: an update carrying a stale version is a Conflict.
        QJsonObject cm = configMap(QStringLiteral("cm"), QStringLiteral("2"));
        QJsonObject meta = cm.value(QLatin1String("metadata")).toObject();
        meta.insert(QLatin1String("resourceVersion"), rv1);
        cm.insert(QLatin1String("metadata"), meta);
        d = await(client.replace(ResourceRef::configMaps(), ns, QStringLiteral("cm"), cm));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        d = await(client.replace(ResourceRef::configMaps(), ns, QStringLiteral("cm"), cm));
        QVERIFY(d.error.isConflict());
        QVERIFY(d.error.message.contains(QStringLiteral("the object has been modified")));

        d = await(client.patch(ResourceRef::configMaps(), ns, QStringLiteral("cm"), PatchType::Merge,
                               R"({"data":{"m":"merge"}})"));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        d = await(client.patch(ResourceRef::configMaps(), ns, QStringLiteral("cm"), PatchType::Json,
                               R"([{"op":"add","path":"/data/j","value":"json"}])"));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        d = await(client.patch(ResourceRef::configMaps(), ns, QStringLiteral("cm"), PatchType::Strategic,
                               R"({"data":{"s":"smp"}})"));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        d = await(client.patch(ResourceRef::configMaps(), ns, QStringLiteral("applied"), PatchType::Apply,
                               QJsonDocument(configMap(QStringLiteral("applied"), QStringLiteral("a"))).toJson()));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QCOMPARE(d.status, 201);
        d = await(client.get(ResourceRef::configMaps(), ns, QStringLiteral("cm")));
        const QJsonObject data = d.object.value(QLatin1String("data")).toObject();
        QCOMPARE(data.value(QLatin1String("v")).toString(), QStringLiteral("2"));
        QCOMPARE(data.value(QLatin1String("m")).toString(), QStringLiteral("merge"));
        QCOMPARE(data.value(QLatin1String("j")).toString(), QStringLiteral("json"));
        QCOMPARE(data.value(QLatin1String("s")).toString(), QStringLiteral("smp"));

        d = await(client.remove(ResourceRef::configMaps(), ns, QStringLiteral("cm"),
                                DeleteOptions {QStringLiteral("Background"), 0}));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        d = await(client.get(ResourceRef::configMaps(), ns, QStringLiteral("cm")));
        QVERIFY(d.error.isNotFound());
    }

    void listFollowsContinueTokens()
    {
        KubeClient client(config());
        const QString ns = freshNamespace(client);
        for (int i = 0; i < 23; ++i) {
            const Done d = await(client.create(ResourceRef::configMaps(), ns,
                                               configMap(QStringLiteral("c%1").arg(i), QString::number(i))));
            QVERIFY2(d.ok, qPrintable(d.error.toString()));
        }
        ListOptions o;
        o.limit = 5;
        Done d = await(client.list(ResourceRef::configMaps(), ns, o));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QCOMPARE(d.object.value(QLatin1String("items")).toArray().size(), 23);
        QVERIFY(metaOf(d.object, "continue").isEmpty());
        QVERIFY(!metaOf(d.object, "resourceVersion").isEmpty());

        o.labelSelector = QStringLiteral("nothing=here");
        d = await(client.list(ResourceRef::configMaps(), ns, o));
        QVERIFY(d.ok);
        QCOMPARE(d.object.value(QLatin1String("items")).toArray().size(), 0);
    }

    void discoveryResolvesKubectlNames_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("resource");
        QTest::addColumn<QString>("group");
        QTest::newRow("short po") << "po"
                                  << "pods"
                                  << "";
        QTest::newRow("plural") << "pods"
                                << "pods"
                                << "";
        QTest::newRow("kind") << "Deployment"
                              << "deployments"
                              << "apps";
        QTest::newRow("short deploy") << "deploy"
                                      << "deployments"
                                      << "apps";
        QTest::newRow("plural.group") << "deployments.apps"
                                      << "deployments"
                                      << "apps";
        QTest::newRow("plural.version.group") << "deployments.v1.apps"
                                              << "deployments"
                                              << "apps";
        QTest::newRow("cm") << "cm"
                            << "configmaps"
                            << "";
        QTest::newRow("svc") << "svc"
                             << "services"
                             << "";
        QTest::newRow("ns") << "ns"
                            << "namespaces"
                            << "";
        QTest::newRow("unknown") << "widgets"
                                 << ""
                                 << "";
    }
    void discoveryResolvesKubectlNames()
    {
        QFETCH(QString, name);
        QFETCH(QString, resource);
        QFETCH(QString, group);
        KubeClient client(config());
        Discovery discovery(&client);
        bool done = false;
        KubeError error;
        discovery.refresh([&](const KubeError &e) {
            error = e;
            done = true;
        });
        QTRY_VERIFY_WITH_TIMEOUT(done, 20000);
        QVERIFY2(!error.isError(), qPrintable(error.toString()));
        const auto ref = discovery.resolve(name);
        if (resource.isEmpty()) {
            QVERIFY(!ref);
            return;
        }
        QVERIFY(ref);
        QCOMPARE(ref->resource, resource);
        QCOMPARE(ref->group, group);
        QVERIFY(discovery.forKind(QStringLiteral("apps/v1"), QStringLiteral("Deployment")));
    }

    void retriesHonourRetryAfterForIdempotentVerbsOnly()
    {
        FakeHttpServer fake;
        QVERIFY(fake.listen());
        fake.enqueue(FakeHttpServer::reply(
            429,
            R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"slow down","code":429})",
            "Retry-After: 1\r\n"));
        fake.enqueue(FakeHttpServer::reply(503, "upstream busy", {}, "text/plain"));
        fake.enqueue(FakeHttpServer::reply(200, R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}})"));
        KubeClient client(fakeConfig(fake));
        QElapsedTimer t;
        t.start();
        Done d = await(client.get(ResourceRef::configMaps(), QStringLiteral("default"), QStringLiteral("x")));
        QVERIFY2(d.ok, qPrintable(d.error.toString()));
        QCOMPARE(fake.requests().size(), 3);
        QVERIFY2(t.elapsed() >= 900, "Retry-After: 1 was not honoured");

        // A POST is not retried: the server may have acted on it.
        FakeHttpServer fake2;
        QVERIFY(fake2.listen());
        fake2.enqueue(FakeHttpServer::reply(
            503,
            R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","message":"etcd is down","code":503})"));
        KubeClient client2(fakeConfig(fake2));
        d = await(client2.create(ResourceRef::configMaps(), QStringLiteral("default"),
                                 configMap(QStringLiteral("x"), QStringLiteral("1"))));
        QVERIFY(!d.ok);
        QCOMPARE(d.error.httpStatus, 503);
        QCOMPARE(d.error.toString(), QStringLiteral("Error from server (ServiceUnavailable): etcd is down"));
        QCOMPARE(fake2.requests().size(), 1);
        // And the request carried what kubectl sends.
        const QByteArray headers = fake2.requests().first().headers;
        QVERIFY(headers.contains("Authorization: Bearer t"));
        QVERIFY(headers.contains("Content-Type: application/json"));
    }

    void badAnswersBecomeClearErrors_data()
    {
        QTest::addColumn<QByteArray>("raw");
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("message");
        auto ok = [](const QByteArray &body) { return FakeHttpServer::reply(200, body).raw; };
        QTest::newRow("garbage") << ok("<html>hello</html>") << int(KubeError::Kind::Decode)
                                 << "the server sent invalid JSON (illegal value at byte 1 of 18)";
        QTest::newRow("truncated") << ok(R"({"kind":"ConfigMap","metadata":{"name":)") << int(KubeError::Kind::Decode)
                                   << "the server sent invalid JSON (unterminated object at byte 39 of 39)";
        QTest::newRow("array") << ok("[1,2]") << int(KubeError::Kind::Decode)
                               << "the server sent JSON that is not an object";
        QTest::newRow("404 without Status")
            << FakeHttpServer::reply(404, "404 page not found", {}, "text/plain").raw << int(KubeError::Kind::Server)
            << "Error from server (NotFound): the server could not find the requested resource (404 page not found)";
        QTest::newRow("cut mid-body") << QByteArray(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\":")
                                      << int(KubeError::Kind::Network) << "the connection to 127.0.0.1:";
    }
    void badAnswersBecomeClearErrors()
    {
        QFETCH(QByteArray, raw);
        QFETCH(int, kind);
        QFETCH(QString, message);
        FakeHttpServer fake;
        QVERIFY(fake.listen());
        FakeHttpServer::Answer a;
        a.raw = raw;
        fake.enqueue(a);
        KubeClient client(fakeConfig(fake));
        KubeRequest r;
        r.path = QStringLiteral("/api/v1/namespaces/default/configmaps/x");
        r.retry = false;
        const Done d = await(client.send(r));
        // A transport that succeeded fails at decoding.
        const KubeError e = d.ok ? d.objectError : d.error;
        QCOMPARE(int(e.kind), kind);
        QVERIFY2(e.toString().startsWith(message), qPrintable(e.toString()));
    }

    void timeoutWhenTheServerNeverAnswers()
    {
        FakeHttpServer fake;
        QVERIFY(fake.listen());
        FakeHttpServer::Answer silent;
        silent.silent = true;
        fake.enqueue(silent);
        KubeClient client(fakeConfig(fake));
        KubeRequest r;
        r.path = QStringLiteral("/api/v1/namespaces");
        r.timeoutMs = 500;
        const Done d = await(client.send(r));
        QCOMPARE(d.error.kind, KubeError::Kind::Timeout);
        QVERIFY2(d.error.message.startsWith(QStringLiteral("the request to 127.0.0.1:")), qPrintable(d.error.message));
    }

    void informerFollowsChanges()
    {
        KubeClient client(config());
        const QString ns = freshNamespace(client);
        QVERIFY(await(client.create(ResourceRef::configMaps(), ns,
                                    configMap(QStringLiteral("before"), QStringLiteral("0"))))
                    .ok);
        Informer informer(&client, ResourceRef::configMaps(), ns);
        QSignalSpy synced(&informer, &Informer::synced);
        QSignalSpy added(&informer, &Informer::added);
        QSignalSpy modified(&informer, &Informer::modified);
        QSignalSpy deleted(&informer, &Informer::deleted);
        informer.start();
        QVERIFY(synced.wait(10000));
        QCOMPARE(added.size(), 1);
        QVERIFY(informer.object(ns, QStringLiteral("before")).contains(QLatin1String("data")));
        QCOMPARE(informer.object(ns, QStringLiteral("before")).value(QLatin1String("kind")).toString(),
                 QStringLiteral("ConfigMap"));

        QVERIFY(await(client.create(ResourceRef::configMaps(), ns, configMap(QStringLiteral("a"), QStringLiteral("1"))))
                    .ok);
        QTRY_COMPARE_WITH_TIMEOUT(added.size(), 2, 10000);
        QVERIFY(await(client.patch(ResourceRef::configMaps(), ns, QStringLiteral("a"), PatchType::Merge,
                                   R"({"data":{"v":"2"}})"))
                    .ok);
        QTRY_COMPARE_WITH_TIMEOUT(modified.size(), 1, 10000);
        QCOMPARE(modified.first()
                     .at(1)
                     .toJsonObject()
                     .value(QLatin1String("data"))
                     .toObject()
                     .value(QLatin1String("v"))
                     .toString(),
                 QStringLiteral("1"));
        QCOMPARE(informer.object(ns, QStringLiteral("a"))
                     .value(QLatin1String("data"))
                     .toObject()
                     .value(QLatin1String("v"))
                     .toString(),
                 QStringLiteral("2"));
        QVERIFY(await(client.remove(ResourceRef::configMaps(), ns, QStringLiteral("a"))).ok);
        QTRY_COMPARE_WITH_TIMEOUT(deleted.size(), 1, 10000);
        QVERIFY(informer.object(ns, QStringLiteral("a")).isEmpty());
        QCOMPARE(informer.relistCount(), 1);
    }

    // The cache after any mix of failures equals the server's list, and every change made was
    // reported (as an event, or in a relist's difference).
    void informerSurvivesCutsStallsAndExpiry_data()
    {
        QTest::addColumn<QString>("failure");
        QTest::newRow("connection cut") << "cut";
        QTest::newRow("stream stalls") << "stall";
        QTest::newRow("resume point expired") << "expire";
    }
    void informerSurvivesCutsStallsAndExpiry()
    {
        QFETCH(QString, failure);
        TcpProxy proxy(m_sandbox->port());
        QVERIFY(proxy.listen());
        KubeClient direct(config());
        const QString ns = freshNamespace(direct);
        KubeClient client(configFrom(kubeconfigFor(QStringLiteral("https://127.0.0.1:%1").arg(proxy.port()),
                                                   failure + QStringLiteral(".kubeconfig"))));
        Informer informer(&client, ResourceRef::configMaps(), ns);
        informer.setIdleTimeoutMs(1500); // bookmarks come every second; silence means a dead stream
        QSet<QString> seen;
        QHash<QString, QString> lastValue;
        auto record = [&](const QJsonObject &o) {
            seen.insert(metaOf(o, "name"));
            lastValue.insert(metaOf(o, "name"),
                             o.value(QLatin1String("data")).toObject().value(QLatin1String("v")).toString());
        };
        connect(&informer, &Informer::added, this, record);
        connect(&informer, &Informer::modified, this, [&](const QJsonObject &o, const QJsonObject &) { record(o); });
        connect(&informer, &Informer::deleted, this,
                [&](const QJsonObject &o) { lastValue.remove(metaOf(o, "name")); });
        QSignalSpy synced(&informer, &Informer::synced);
        informer.start();
        QVERIFY(synced.wait(10000));
        QVERIFY(
            await(direct.create(ResourceRef::configMaps(), ns, configMap(QStringLiteral("live"), QStringLiteral("0"))))
                .ok);
        QTRY_VERIFY_WITH_TIMEOUT(seen.contains(QStringLiteral("live")), 10000);
        const int watchesBefore = informer.watchCount();

        if (failure == QLatin1String("cut")) {
            proxy.cutAll();
        } else if (failure == QLatin1String("stall")) {
            proxy.setStalled(true);
        } else {
            // Keep the informer away while more changes happen than the server remembers.
            proxy.setRefusing(true);
            proxy.cutAll();
        }
        const int changes = failure == QLatin1String("expire") ? 80 : 10;
        for (int i = 0; i < changes; ++i) {
            const QString name = QStringLiteral("gap%1").arg(i % 10);
            if (i < 10)
                QVERIFY(await(direct.create(ResourceRef::configMaps(), ns, configMap(name, QString::number(i)))).ok);
            else
                QVERIFY(await(direct.patch(ResourceRef::configMaps(), ns, name, PatchType::Merge,
                                           QStringLiteral(R"({"data":{"v":"%1"}})").arg(i).toUtf8()))
                            .ok);
        }
        QVERIFY(await(direct.remove(ResourceRef::configMaps(), ns, QStringLiteral("live"))).ok);
        if (failure == QLatin1String("stall")) {
            // The informer notices the silence and reconnects; the stalled connection stays stalled.
            QTRY_VERIFY_WITH_TIMEOUT(informer.watchCount() > watchesBefore, 10000);
            proxy.cutAll();
            proxy.setStalled(false);
        }
        proxy.setRefusing(false);

        const Done list = await(direct.list(ResourceRef::configMaps(), ns));
        QVERIFY(list.ok);
        QHash<QString, QString> expected;
        for (const QJsonValue &v : list.object.value(QLatin1String("items")).toArray())
            expected.insert(metaOf(v.toObject(), "name"),
                            v.toObject().value(QLatin1String("data")).toObject().value(QLatin1String("v")).toString());
        QTRY_COMPARE_WITH_TIMEOUT(lastValue, expected, 20000);
        QCOMPARE(informer.objects().size(), expected.size());
        for (int i = 0; i < 10; ++i)
            QVERIFY(seen.contains(QStringLiteral("gap%1").arg(i)));
        if (failure == QLatin1String("expire"))
            QVERIFY2(informer.relistCount() >= 2, "the expired resume point should have caused a relist");
        else
            QCOMPARE(informer.relistCount(), 1);
    }

    void logsFollowAcrossReconnects()
    {
        TcpProxy proxy(m_sandbox->port());
        QVERIFY(proxy.listen());
        KubeClient direct(config());
        const QString ns = freshNamespace(direct);
        const QJsonObject pod
            = QJsonDocument::fromJson(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"counter"},
            "spec":{"containers":[{"name":"main","image":"iterdeck/sandbox-base:latest",
            "command":["sh","-c","i=0; while true; do echo line $i; i=$((i+1)); sleep 0.02; done"]}]}})")
                  .object();
        QVERIFY(await(direct.create(ResourceRef::pods(), ns, pod)).ok);
        QTRY_VERIFY_WITH_TIMEOUT(await(direct.get(ResourceRef::pods(), ns, QStringLiteral("counter")))
                                         .object.value(QLatin1String("status"))
                                         .toObject()
                                         .value(QLatin1String("phase"))
                                         .toString()
                                     == QLatin1String("Running"),
                                 20000);

        KubeClient client(configFrom(kubeconfigFor(QStringLiteral("https://127.0.0.1:%1").arg(proxy.port()),
                                                   QStringLiteral("logs.kubeconfig"))));
        LogOptions o;
        o.ns = ns;
        o.pod = QStringLiteral("counter");
        o.follow = true;
        o.tailLines = 1;
        LogStream stream(&client, o);
        QByteArray text;
        connect(&stream, &LogStream::data, this, [&](const QByteArray &b) { text += b; });
        stream.start();
        QTRY_VERIFY_WITH_TIMEOUT(text.count('\n') >= 20, 10000);
        proxy.cutAll();
        const qsizetype atCut = text.count('\n');
        QTRY_VERIFY_WITH_TIMEOUT(text.count('\n') >= atCut + 40, 15000);
        proxy.cutAll();
        const qsizetype atCut2 = text.count('\n');
        QTRY_VERIFY_WITH_TIMEOUT(text.count('\n') >= atCut2 + 40, 15000);
        stream.stop();
        QVERIFY(stream.reconnects() >= 2);
        // No line lost, none repeated, and no timestamps leaked into the output.
        const QList<QByteArray> lines = text.trimmed().split('\n');
        int previous = -1;
        for (const QByteArray &line : lines) {
            QVERIFY2(line.startsWith("line "), line.constData());
            const int n = line.mid(5).toInt();
            if (previous >= 0)
                QVERIFY2(n == previous + 1,
                         qPrintable(QStringLiteral("after line %1 came line %2").arg(previous).arg(n)));
            previous = n;
        }
    }

    void logsOfAMissingContainerSayWhy()
    {
        KubeClient client(config());
        LogOptions o;
        o.ns = QStringLiteral("default");
        o.pod = QStringLiteral("no-such-pod");
        LogStream stream(&client, o);
        QSignalSpy finished(&stream, &LogStream::finished);
        stream.start();
        QVERIFY(finished.wait(10000));
        QVERIFY(stream.error().isNotFound());
        QCOMPARE(stream.error().message, QStringLiteral("pods \"no-such-pod\" not found"));
    }
};

QTEST_GUILESS_MAIN(TestKubeClient)
#include "tst_kubeclient.moc"
