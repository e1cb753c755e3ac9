// The real iterdeck-bot process over real HTTP: the published webhook payloads with right and
// wrong signatures, dedupe, size limit, metrics, tokens, HTTPS, restarts, and kill -9 in the
// middle of a burst whose sender retries what was not acknowledged.
#include "../unit/botsandboxsupport.h"
#include "bot/crypto.h"
#include "bot/store.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "testutil/sandboxserver.h"

#include "testutil/postgresserver.h"
#include "testutil/testutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSet>
#include <QSignalSpy>
#include <QSslConfiguration>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QUrlQuery>

#include <csignal>

using namespace iterdeck;

namespace {

const QByteArray githubSecret = "e2e-github-secret";
const QByteArray gitlabToken = "e2e-gitlab-token";
const QByteArray registryToken = "e2e-registry-token";
const QByteArray ciSecret = "e2e-ci-secret";

QByteArray fixture(const QString &name)
{
    const QByteArray b = test::readFile(test::fixturesDir() + QStringLiteral("/webhooks/") + name);
    if (b.isEmpty())
        qFatal("missing fixture %s", qPrintable(name));
    return b;
}

QByteArray hubSignature(const QByteArray &key, const QByteArray &body)
{
    return "sha256=" + bot::hmacSha256(key, body).toHex();
}

struct Reply
{
    int status = 0;
    QByteArray body;
    QString error;
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
};

struct Run
{
    int code = -1;
    QString out;
    QString err;
};

} // namespace

class TestBotDaemon : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_manifest;
    QString m_dataDir;
    QProcess *m_bot = nullptr;
    QByteArray m_botErr; // the main bot's standard error (its log)
    quint16 m_port = 0;
    QString m_scheme = QStringLiteral("http");
    QNetworkAccessManager m_net;

    QProcessEnvironment environment() const
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("E2E_GITHUB_SECRET"), QString::fromLatin1(githubSecret));
        env.insert(QStringLiteral("E2E_REGISTRY_TOKEN"), QString::fromLatin1(registryToken));
        env.insert(QStringLiteral("E2E_CI_SECRET"), QString::fromLatin1(ciSecret));
        env.insert(QStringLiteral("LANGUAGE"), QStringLiteral("en"));
        env.remove(QStringLiteral("ITERDECK_STORE"));
        return env;
    }

    Run runBot(const QStringList &args)
    {
        QProcess p;
        p.setProcessEnvironment(environment());
        p.start(QStringLiteral(ITERDECK_BOT_PATH), args);
        if (!p.waitForFinished(30000))
            return {};
        return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
                QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
    }

    // Starts a daemon on a free port; the port comes from its "listening on" line. Null on failure.
    QProcess *launchBot(const QStringList &args, quint16 *port, QString *scheme)
    {
        auto *bot = new QProcess(this);
        bot->setProcessEnvironment(environment());
        bot->start(QStringLiteral(ITERDECK_BOT_PATH),
                   args + QStringList {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")});
        QByteArray out;
        QDeadlineTimer deadline(20000);
        static const QRegularExpression re(QStringLiteral("listening on (https?)://127\\.0\\.0\\.1:(\\d+)"));
        while (!deadline.hasExpired()) {
            if (!bot->waitForReadyRead(200) && bot->state() == QProcess::NotRunning)
                break;
            out += bot->readAllStandardOutput();
            const auto m = re.match(QString::fromUtf8(out));
            if (m.hasMatch()) {
                *scheme = m.captured(1);
                *port = quint16(m.captured(2).toUInt());
                return bot;
            }
        }
        qWarning("bot did not start: %s", out.constData());
        delete bot;
        return nullptr;
    }

    bool startBot(const QStringList &extra = {})
    {
        m_botErr.clear();
        m_bot = launchBot(QStringList {QStringLiteral("--config"), m_manifest, QStringLiteral("--data-dir"), m_dataDir}
                              + extra,
                          &m_port, &m_scheme);
        if (!m_bot)
            return false;
        m_botErr += m_bot->readAllStandardError();
        connect(m_bot, &QProcess::readyReadStandardError, this,
                [this]() { m_botErr += m_bot->readAllStandardError(); });
        return true;
    }

    void stopBot(bool hard = false)
    {
        if (!m_bot)
            return;
        if (hard) {
            ::kill(static_cast<pid_t>(m_bot->processId()), SIGKILL);
        } else {
            m_bot->terminate(); // SIGTERM: a clean stop
        }
        m_bot->waitForFinished(20000);
        delete m_bot;
        m_bot = nullptr;
    }

    QNetworkRequest request(const QString &path, const QMap<QByteArray, QByteArray> &headers = {}) const
    {
        QNetworkRequest r(QUrl(QStringLiteral("%1://127.0.0.1:%2%3").arg(m_scheme).arg(m_port).arg(path)));
        for (auto it = headers.cbegin(); it != headers.cend(); ++it)
            r.setRawHeader(it.key(), it.value());
        if (m_scheme == QLatin1String("https")) {
            // The test's own self-signed certificate: trust exactly it.
            QSslConfiguration ssl = QSslConfiguration::defaultConfiguration();
            ssl.setCaCertificates(QSslCertificate::fromPath(m_dir.filePath(QStringLiteral("tls.crt"))));
            r.setSslConfiguration(ssl);
        }
        return r;
    }

    Reply wait(QNetworkReply *reply)
    {
        QSignalSpy done(reply, &QNetworkReply::finished);
        if (!reply->isFinished())
            done.wait(20000);
        Reply r;
        r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        r.body = reply->readAll();
        if (reply->error() != QNetworkReply::NoError)
            r.error = reply->errorString();
        reply->deleteLater();
        return r;
    }

    Reply post(const QString &path, const QByteArray &body, const QMap<QByteArray, QByteArray> &headers)
    {
        QNetworkRequest r = request(path, headers);
        if (!headers.contains("Content-Type"))
            r.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
        return wait(m_net.post(r, body));
    }

    Reply get(const QString &path) { return wait(m_net.get(request(path))); }

    Reply postGitHub(const QString &file, const QByteArray &event, const QByteArray &delivery,
                     const QByteArray &key = githubSecret)
    {
        const QByteArray body = fixture(file);
        return post(QStringLiteral("/hooks/github"), body,
                    {{"X-GitHub-Event", event},
                     {"X-GitHub-Delivery", delivery},
                     {"X-Hub-Signature-256", hubSignature(key, body)}});
    }

    static quint16 freePort()
    {
        QTcpServer probe;
        if (!probe.listen(QHostAddress::LocalHost, 0))
            return 0;
        return probe.serverPort();
    }

    // Starts Debian's docker-registry on `port`, storing under m_dir/NAME-data and sending its
    // notifications to the running bot's /hooks/registry with the registry token. True once it
    // answers /v2/.
    bool startRegistry(QProcess &reg, const QString &program, quint16 port, const QString &name)
    {
        const QString config = m_dir.filePath(name + QStringLiteral(".yml"));
        QFile f(config);
        if (!f.open(QIODevice::WriteOnly))
            return false;
        f.write(QStringLiteral("version: 0.1\n"
                               "log: {level: warn}\n"
                               "storage:\n"
                               "  filesystem: {rootdirectory: %1}\n"
                               "http: {addr: 127.0.0.1:%2}\n"
                               "notifications:\n"
                               "  endpoints:\n"
                               "    - name: iterdeck\n"
                               "      url: %3://127.0.0.1:%4/hooks/registry\n"
                               "      headers: {Authorization: [Bearer %5]}\n"
                               "      timeout: 2s\n"
                               "      threshold: 3\n"
                               "      backoff: 1s\n")
                    .arg(m_dir.filePath(name + QStringLiteral("-data")))
                    .arg(port)
                    .arg(m_scheme)
                    .arg(m_port)
                    .arg(QString::fromLatin1(registryToken))
                    .toUtf8());
        f.close();
        reg.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        reg.setStandardOutputFile(QProcess::nullDevice());
        reg.start(program, {QStringLiteral("serve"), config});
        if (!reg.waitForStarted(5000))
            return false;
        const QUrl v2(QStringLiteral("http://127.0.0.1:%1/v2/").arg(port));
        QDeadlineTimer deadline(10000);
        while (!deadline.hasExpired()) {
            if (wait(m_net.get(QNetworkRequest(v2))).status == 200)
                return true;
            if (reg.state() == QProcess::NotRunning)
                return false;
            QTest::qWait(100);
        }
        return false;
    }

    static void stopRegistry(QProcess &reg)
    {
        if (reg.state() == QProcess::NotRunning)
            return;
        reg.terminate();
        if (!reg.waitForFinished(5000))
            reg.kill();
    }

    // Pushes an image to the repository at `base` (http://HOST/v2/NAME) as docker push does: the
    // config blob, one layer, then the manifest under `tag`. The manifest's digest; empty when a
    // step was not accepted.
    QString pushImage(const QString &base, const QByteArray &layer, const QString &tag)
    {
        auto pushBlob = [&](const QByteArray &blob) -> QString {
            const QString digest = QStringLiteral("sha256:") + QString::fromLatin1(bot::sha256Hex(blob));
            QNetworkReply *start
                = m_net.post(QNetworkRequest(QUrl(base + QStringLiteral("/blobs/uploads/"))), QByteArray());
            QSignalSpy done(start, &QNetworkReply::finished);
            if (!start->isFinished())
                done.wait(10000);
            const QString location = QString::fromUtf8(start->rawHeader("Location"));
            start->deleteLater();
            QUrl url = QUrl(base).resolved(QUrl(location));
            QUrlQuery q(url);
            q.addQueryItem(QStringLiteral("digest"), digest);
            url.setQuery(q);
            QNetworkRequest put(url);
            put.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/octet-stream"));
            const Reply r = wait(m_net.put(put, blob));
            return r.status == 201 ? digest : QString();
        };
        const QByteArray configBlob
            = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
        const QString configDigest = pushBlob(configBlob);
        const QString layerDigest = pushBlob(layer);
        if (configDigest.isEmpty() || layerDigest.isEmpty())
            return {};
        const QByteArray manifest
            = QStringLiteral(
                  "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                  "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":%1,"
                  "\"digest\":\"%2\"},\"layers\":[{\"mediaType\":\"application/"
                  "vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":%3,\"digest\":\"%4\"}]}")
                  .arg(configBlob.size())
                  .arg(configDigest)
                  .arg(layer.size())
                  .arg(layerDigest)
                  .toUtf8();
        QNetworkRequest put(QUrl(base + QStringLiteral("/manifests/") + tag));
        put.setHeader(QNetworkRequest::ContentTypeHeader,
                      QStringLiteral("application/vnd.docker.distribution.manifest.v2+json"));
        if (wait(m_net.put(put, manifest)).status != 201)
            return {};
        return QStringLiteral("sha256:") + QString::fromLatin1(bot::sha256Hex(manifest));
    }

    std::unique_ptr<bot::Store> openStore()
    {
        auto s = bot::Store::open(bot::StoreOptions {{}, m_dataDir});
        if (!s) {
            qWarning("store: %s", qPrintable(s.error().message));
            return nullptr;
        }
        return std::move(*s);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_dataDir = m_dir.filePath(QStringLiteral("data"));
        m_manifest = m_dir.filePath(QStringLiteral("iterdeck.yaml"));
        QFile token(m_dir.filePath(QStringLiteral("gitlab-token")));
        QVERIFY(token.open(QIODevice::WriteOnly));
        token.write(gitlabToken + '\n');
        token.close();
        QFile f(m_manifest);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("project: shop\n"
                "im: {adapter: none}\n"
                "components:\n"
                "  - name: api\n"
                "    repository: https://github.com/octo-org/octo-repo.git\n"
                "    image: registrycluster.local/library/test\n"
                "    deploy: {driver: helm, chart: charts/api}\n"
                "  - name: gitlab-test\n"
                "    repository: http://example.com/gitlab-org/gitlab-test.git\n"
                "    image: registry.example.com/gitlab-org/gitlab-test\n"
                "    deploy: {driver: helm, chart: charts/gitlab-test}\n"
                "webhooks:\n"
                "  - source: github\n"
                "    secret: {env: E2E_GITHUB_SECRET}\n"
                "  - source: gitlab\n"
                "    secret: {file: gitlab-token}\n"
                "  - source: registry\n"
                "    secret: {env: E2E_REGISTRY_TOKEN}\n"
                "  - source: generic\n"
                "    name: ci\n"
                "    secret: {env: E2E_CI_SECRET}\n"
                "people:\n"
                "  - {name: Alice, collab: alice, admin: true}\n");
        f.close();
        QVERIFY(startBot());
    }

    void cleanupTestCase() { stopBot(); }

    void health()
    {
        const Reply h = get(QStringLiteral("/healthz"));
        QCOMPARE(h.status, 200);
        QCOMPARE(h.body, QByteArray("ok\n"));
        const Reply r = get(QStringLiteral("/readyz"));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.json().value(QStringLiteral("status")).toString(), QStringLiteral("ready"));
        const Reply n = get(QStringLiteral("/nothing"));
        QCOMPARE(n.status, 404);
        QCOMPARE(n.json().value(QStringLiteral("message")).toString(),
                 QStringLiteral("no such endpoint: GET /nothing"));
    }

    void webhooks_data()
    {
        QTest::addColumn<QString>("hook");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArrayList>("headers"); // name, value, name, value, ...
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("answer"); // "status" of a 2xx, "error" of a 4xx
        QTest::addColumn<QString>("message"); // the 4xx message or the 202 reason; empty: not checked

        const QByteArray milestone = fixture(QStringLiteral("github/milestone.created.json"));
        QTest::newRow("github milestone")
            << QStringLiteral("github") << milestone
            << QByteArrayList {"X-GitHub-Event",      "milestone",
                               "X-GitHub-Delivery",   "m-1",
                               "X-Hub-Signature-256", hubSignature(githubSecret, milestone)}
            << 200 << QStringLiteral("processed") << QString();
        QTest::newRow("github wrong secret") << QStringLiteral("github") << milestone
                                             << QByteArrayList {"X-GitHub-Event",      "milestone",
                                                                "X-GitHub-Delivery",   "m-2",
                                                                "X-Hub-Signature-256", hubSignature("guess", milestone)}
                                             << 401 << QStringLiteral("unauthenticated")
                                             << QStringLiteral("X-Hub-Signature-256 does not match the body");
        QTest::newRow("github unsigned") << QStringLiteral("github") << milestone
                                         << QByteArrayList {"X-GitHub-Event", "milestone", "X-GitHub-Delivery", "m-3"}
                                         << 401 << QStringLiteral("unauthenticated")
                                         << QStringLiteral("missing X-Hub-Signature-256 header");
        const QByteArray workflow = fixture(QStringLiteral("github/workflow_run.completed.json"));
        QTest::newRow("github workflow_run")
            << QStringLiteral("github") << workflow
            << QByteArrayList {"X-GitHub-Event",      "workflow_run",
                               "X-GitHub-Delivery",   "w-1",
                               "X-Hub-Signature-256", hubSignature(githubSecret, workflow)}
            << 200 << QStringLiteral("processed") << QString();
        const QByteArray push = fixture(QStringLiteral("github/push.json"));
        QTest::newRow("github push (unknown event)")
            << QStringLiteral("github") << push
            << QByteArrayList {"X-GitHub-Event",      "push",
                               "X-GitHub-Delivery",   "p-1",
                               "X-Hub-Signature-256", hubSignature(githubSecret, push)}
            << 202 << QStringLiteral("ignored") << QStringLiteral("GitHub event \"push\" is not used");
        const QByteArray broken = "{\"action\": \"created\", ";
        QTest::newRow("github malformed")
            << QStringLiteral("github") << broken
            << QByteArrayList {"X-GitHub-Event",      "milestone",
                               "X-GitHub-Delivery",   "b-1",
                               "X-Hub-Signature-256", hubSignature(githubSecret, broken)}
            << 400 << QStringLiteral("malformed")
            << QStringLiteral("the body is not valid JSON: unterminated object at offset 22");
        const QByteArray pipeline = fixture(QStringLiteral("gitlab/pipeline.json"));
        QTest::newRow("gitlab pipeline") << QStringLiteral("gitlab") << pipeline
                                         << QByteArrayList {"X-Gitlab-Event", "Pipeline Hook",   "X-Gitlab-Token",
                                                            gitlabToken,      "Idempotency-Key", "g-1"}
                                         << 200 << QStringLiteral("processed") << QString();
        QTest::newRow("gitlab wrong token")
            << QStringLiteral("gitlab") << pipeline
            << QByteArrayList {"X-Gitlab-Event", "Pipeline Hook", "X-Gitlab-Token", "nope", "Idempotency-Key", "g-2"}
            << 401 << QStringLiteral("unauthenticated") << QStringLiteral("X-Gitlab-Token header does not match");
        const QByteArray envelope = fixture(QStringLiteral("distribution/envelope.push.json"));
        const QByteArray mediaType = "application/vnd.docker.distribution.events.v1+json";
        QTest::newRow("registry manifest push")
            << QStringLiteral("registry") << envelope
            << QByteArrayList {"Authorization", "Bearer " + registryToken, "Content-Type", mediaType} << 200
            << QStringLiteral("processed") << QString();
        QTest::newRow("registry wrong token")
            << QStringLiteral("registry") << envelope
            << QByteArrayList {"Authorization", "Bearer other", "Content-Type", mediaType} << 401
            << QStringLiteral("unauthenticated") << QStringLiteral("Authorization header does not match");
        QTest::newRow("registry pull only")
            << QStringLiteral("registry") << fixture(QStringLiteral("distribution/envelope.pull.json"))
            << QByteArrayList {"Authorization", "Bearer " + registryToken, "Content-Type", mediaType} << 202
            << QStringLiteral("ignored")
            << QStringLiteral("no manifest push in the envelope (0 blob pushes, 1 other events)");
        QTest::newRow("unknown hook") << QStringLiteral("bitbucket") << milestone << QByteArrayList {} << 404
                                      << QStringLiteral("unknown-hook")
                                      << QStringLiteral("no webhook named \"bitbucket\"; configured: ci, github, "
                                                        "gitlab, registry");
    }

    void webhooks()
    {
        QFETCH(QString, hook);
        QFETCH(QByteArray, body);
        QFETCH(QByteArrayList, headers);
        QFETCH(int, status);
        QFETCH(QString, answer);
        QFETCH(QString, message);
        QMap<QByteArray, QByteArray> h;
        for (qsizetype i = 0; i + 1 < headers.size(); i += 2)
            h.insert(headers.at(i), headers.at(i + 1));
        const Reply r = post(QStringLiteral("/hooks/") + hook, body, h);
        QVERIFY2(r.status == status, qPrintable(QStringLiteral("%1 %2").arg(r.status).arg(QString::fromUtf8(r.body))));
        const QJsonObject j = r.json();
        if (status < 300) {
            QCOMPARE(j.value(QStringLiteral("status")).toString(), answer);
            if (!message.isEmpty())
                QCOMPARE(j.value(QStringLiteral("reason")).toString(), message);
            if (status == 202) {
                // Ignored deliveries are logged with their reason.
                const QByteArray line = "hook " + hook.toUtf8() + " delivery "
                    + j.value(QStringLiteral("delivery")).toString().toUtf8() + ": ignored: " + message.toUtf8();
                QTRY_VERIFY2(m_botErr.contains(line), m_botErr.constData());
            }
        } else {
            QCOMPARE(j.value(QStringLiteral("error")).toString(), answer);
            QCOMPARE(j.value(QStringLiteral("message")).toString(), message);
        }
    }

    void dedupe()
    {
        const Reply first = postGitHub(QStringLiteral("github/milestone.closed.json"), "milestone", "dup-1");
        QCOMPARE(first.status, 200);
        QCOMPARE(first.json().value(QStringLiteral("status")).toString(), QStringLiteral("processed"));
        const QJsonArray events = first.json().value(QStringLiteral("events")).toArray();
        QCOMPARE(events.size(), 1);
        const Reply second = postGitHub(QStringLiteral("github/milestone.closed.json"), "milestone", "dup-1");
        QCOMPARE(second.status, 200);
        QCOMPARE(second.json().value(QStringLiteral("status")).toString(), QStringLiteral("duplicate"));
        QVERIFY(!second.json().contains(QStringLiteral("events")));
        // The same payload under a new delivery id is a new delivery.
        const Reply third = postGitHub(QStringLiteral("github/milestone.closed.json"), "milestone", "dup-2");
        QCOMPARE(third.json().value(QStringLiteral("status")).toString(), QStringLiteral("processed"));
        // A new event (the built-in channels may have logged theirs in between).
        QVERIFY(third.json().value(QStringLiteral("events")).toArray().at(0).toInt() > events.at(0).toInt());
    }

    void oversize()
    {
        const QByteArray big(2 * 1024 * 1024, ' ');
        const Reply r = post(QStringLiteral("/hooks/github"), big,
                             {{"X-GitHub-Event", "milestone"},
                              {"X-GitHub-Delivery", "big"},
                              {"X-Hub-Signature-256", hubSignature(githubSecret, big)}});
        QCOMPARE(r.status, 413);
        QCOMPARE(r.json().value(QStringLiteral("error")).toString(), QStringLiteral("too-large"));
        // The server still serves afterwards.
        QCOMPARE(get(QStringLiteral("/healthz")).status, 200);
    }

    void metrics()
    {
        const Reply m = get(QStringLiteral("/metrics"));
        QCOMPARE(m.status, 200);
        const QString text = QString::fromUtf8(m.body);
        for (const char *line : {"iterdeck_webhooks_total{source=\"github\",status=\"401\"} 2",
                                 "iterdeck_webhooks_total{source=\"gitlab\",status=\"200\"} 1",
                                 "iterdeck_webhooks_total{source=\"registry\",status=\"202\"} 1",
                                 "iterdeck_webhooks_total{source=\"(unknown)\",status=\"404\"} 1",
                                 "# TYPE iterdeck_store_transaction_seconds histogram"}) {
            QVERIFY2(text.contains(QLatin1String(line)), line);
        }
        // github 200: milestone, workflow_run, dedupe x3 (the duplicate answers 200 too)
        QVERIFY2(text.contains(QLatin1String("iterdeck_webhooks_total{source=\"github\",status=\"200\"} 5")),
                 qPrintable(text));
        static const QRegularExpression events(QStringLiteral("\niterdeck_events_total (\\d+)\n"));
        const auto match = events.match(text);
        QVERIFY(match.hasMatch());
        // milestone started, workflow artifact, gitlab artifact, registry artifact, 2 closes
        QCOMPARE(match.captured(1).toInt(), 6);
    }

    void tokens()
    {
        const QStringList dir {QStringLiteral("--data-dir"), m_dataDir};
        const Run created = runBot(QStringList {QStringLiteral("token"), QStringLiteral("create"),
                                                QStringLiteral("alice"), QStringLiteral("--admin")}
                                   + dir);
        QVERIFY2(created.code == 0, qPrintable(created.err));
        const QStringList lines = created.out.trimmed().split(u'\n');
        const QString token = lines.constLast();
        QVERIFY2(token.startsWith(QStringLiteral("idt_")), qPrintable(created.out));
        const QString id = token.section(u'_', 1, 1);
        QVERIFY(lines.constFirst().contains(id));

        Run list = runBot(QStringList {QStringLiteral("token"), QStringLiteral("list")} + dir);
        QCOMPARE(list.code, 0);
        QVERIFY(list.out.contains(QRegularExpression(id + QStringLiteral(" +alice +yes +\\S+ +-\n"))));
        QVERIFY2(!list.out.contains(token), "the secret is never shown again");

        const Run revoked = runBot(QStringList {QStringLiteral("token"), QStringLiteral("revoke"), id} + dir);
        QCOMPARE(revoked.code, 0);
        QCOMPARE(revoked.out.trimmed(), QStringLiteral("Revoked token %1 of alice.").arg(id));
        list = runBot(QStringList {QStringLiteral("token"), QStringLiteral("list")} + dir);
        QVERIFY(list.out.contains(QRegularExpression(id + QStringLiteral(" +alice +yes +\\S+ +\\d{4}-"))));
        auto store = openStore();
        QVERIFY(store);
        QVERIFY(!store->authenticate(token)->has_value());

        const Run missing
            = runBot(QStringList {QStringLiteral("token"), QStringLiteral("revoke"), QStringLiteral("nope")} + dir);
        QCOMPARE(missing.code, 1);
        QCOMPARE(missing.err.trimmed(), QStringLiteral("iterdeck-bot: no token with id \"nope\""));
        const Run usage = runBot(QStringList {QStringLiteral("token"), QStringLiteral("create")} + dir);
        QCOMPARE(usage.code, 2);
        QCOMPARE(usage.err.trimmed(),
                 QStringLiteral("iterdeck-bot: usage: iterdeck-bot token create USER [--admin] | token revoke TOKEN_ID "
                                "| token list"));
    }

    void badStartup_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("error");
        QTest::newRow("listen") << QStringList {QStringLiteral("--listen"), QStringLiteral("8080")} << 2
                                << QStringLiteral("iterdeck-bot: --listen wants ADDR:PORT, not \"8080\"");
        QTest::newRow("store") << QStringList {QStringLiteral("--store"), QStringLiteral("mysql://x/y")} << 1
                               << QStringLiteral("iterdeck-bot: unsupported store scheme \"mysql\"; use postgresql:// "
                                                 "or sqlite://");
        QTest::newRow("tls half") << QStringList {QStringLiteral("--tls-cert"), QStringLiteral("/nonexistent.crt")} << 1
                                  << QStringLiteral("iterdeck-bot: HTTPS needs both a certificate and a key");
    }

    void badStartup()
    {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, error);
        QTemporaryDir data;
        const Run r = runBot(QStringList {QStringLiteral("--config"), m_manifest, QStringLiteral("--data-dir"),
                                          data.path(), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")}
                             + args);
        QCOMPARE(r.code, code);
        QVERIFY2(r.err.trimmed().endsWith(error), qPrintable(r.err));
    }

    void missingSecret()
    {
        QProcess p;
        QProcessEnvironment env = environment();
        env.remove(QStringLiteral("E2E_CI_SECRET"));
        p.setProcessEnvironment(env);
        QTemporaryDir data;
        p.start(QStringLiteral(ITERDECK_BOT_PATH),
                {QStringLiteral("--config"), m_manifest, QStringLiteral("--data-dir"), data.path(),
                 QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")});
        QVERIFY(p.waitForFinished(20000));
        QCOMPARE(p.exitCode(), 1);
        QCOMPARE(QString::fromUtf8(p.readAllStandardError()).trimmed().split(u'\n').constLast(),
                 QStringLiteral("iterdeck-bot: %1:19:5: webhook \"ci\": environment variable E2E_CI_SECRET is not set")
                     .arg(m_manifest));
    }

    void restartKeepsData()
    {
        stopBot();
        QVERIFY(startBot());
        // The deliveries of before are known: a retry is a duplicate.
        const Reply again = postGitHub(QStringLiteral("github/milestone.closed.json"), "milestone", "dup-1");
        QCOMPARE(again.json().value(QStringLiteral("status")).toString(), QStringLiteral("duplicate"));
        stopBot();
        auto store = openStore();
        QVERIFY(store);
        const auto iterations = *store->iterations();
        QCOMPARE(iterations.size(), 1);
        QCOMPARE(iterations.at(0).key, QStringLiteral("github:Codertocat/Hello-World/milestone/1"));
        QCOMPARE(iterations.at(0).state, model::Iteration::State::Closed);
        const auto api = *store->artifacts(QStringLiteral("api"), QStringLiteral("master"));
        QCOMPARE(api.size(), 1);
        QCOMPARE(api.at(0).build, QStringLiteral("163"));
        QCOMPARE(api.at(0).source, QStringLiteral("github"));
        const auto untagged = *store->artifacts(QStringLiteral("api"), QString());
        QCOMPARE(untagged.size(), 1); // the registry push by digest
        QCOMPARE(untagged.at(0).digest,
                 QStringLiteral("sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"));
        const auto gl = *store->artifacts(QStringLiteral("gitlab-test"), QStringLiteral("master"));
        QCOMPARE(gl.size(), 1);
        QCOMPARE(gl.at(0).build, QStringLiteral("31"));
        // Six events from the webhooks; the built-in channels log theirs (channel.*) besides.
        const auto all = store->eventsAfter(0, 1000);
        QVERIFY(all);
        int fromHooks = 0;
        for (const model::Event &e : std::as_const(*all))
            fromHooks += e.type.startsWith(QLatin1String("channel.")) ? 0 : 1;
        QCOMPARE(fromHooks, 6);
        QVERIFY(startBot());
    }

    void https()
    {
        const QString crt = m_dir.filePath(QStringLiteral("tls.crt"));
        const QString key = m_dir.filePath(QStringLiteral("tls.key"));
        QProcess openssl;
        openssl.start(QStringLiteral("openssl"),
                      {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"), QStringLiteral("ec"),
                       QStringLiteral("-pkeyopt"), QStringLiteral("ec_paramgen_curve:prime256v1"),
                       QStringLiteral("-nodes"), QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-subj"),
                       QStringLiteral("/CN=127.0.0.1"), QStringLiteral("-addext"),
                       QStringLiteral("subjectAltName=IP:127.0.0.1"), QStringLiteral("-keyout"), key,
                       QStringLiteral("-out"), crt});
        if (!openssl.waitForStarted(5000))
            QSKIP("no openssl command to make a certificate");
        QVERIFY(openssl.waitForFinished(20000));
        QCOMPARE(openssl.exitCode(), 0);
        stopBot();
        QVERIFY(startBot({QStringLiteral("--tls-cert"), crt, QStringLiteral("--tls-key"), key}));
        QCOMPARE(m_scheme, QStringLiteral("https"));
        const Reply h = get(QStringLiteral("/healthz"));
        QVERIFY2(h.status == 200, qPrintable(h.error));
        const Reply dup = postGitHub(QStringLiteral("github/milestone.closed.json"), "milestone", "dup-1");
        QCOMPARE(dup.json().value(QStringLiteral("status")).toString(), QStringLiteral("duplicate"));
        stopBot();
        m_scheme = QStringLiteral("http");
        QVERIFY(startBot());
    }

    // A real Docker registry (Debian's docker-registry, distribution 2.8) notifies the bot: its
    // blob pushes are ignored, its manifest push is recorded as an artifact of the component
    // whose image path it has, with the tag as branch.
    void realRegistry()
    {
        const QString registry = QStandardPaths::findExecutable(QStringLiteral("docker-registry"));
        if (registry.isEmpty())
            QSKIP("docker-registry is not installed (Debian package docker-registry)");
        const quint16 registryPort = freePort();
        QVERIFY(registryPort);
        QProcess reg;
        auto cleanup = qScopeGuard([&reg]() { stopRegistry(reg); });
        QVERIFY(startRegistry(reg, registry, registryPort, QStringLiteral("registry")));
        const QString base = QStringLiteral("http://127.0.0.1:%1/v2/library/test").arg(registryPort);
        const QByteArray layer
            = QByteArray("iterdeck e2e layer ") + QByteArray::number(QDateTime::currentMSecsSinceEpoch());
        const QString manifestDigest = pushImage(base, layer, QStringLiteral("main"));
        QVERIFY(!manifestDigest.isEmpty());

        // The registry notifies asynchronously: wait for the artifact.
        auto store = openStore();
        QVERIFY(store);
        std::optional<model::Artifact> artifact;
        QTRY_VERIFY_WITH_TIMEOUT(
            (artifact = store->latestArtifact(QStringLiteral("api"), QStringLiteral("main")).value()).has_value(),
            15000);
        QCOMPARE(artifact->digest, manifestDigest);
        QCOMPARE(artifact->imageTag, QStringLiteral("main"));
        QCOMPARE(artifact->source, QStringLiteral("registry"));
        // The blob pushes arrived too, and were answered 202 (ignored), with a log line.
        QTRY_VERIFY_WITH_TIMEOUT(get(QStringLiteral("/metrics"))
                                     .body.contains("iterdeck_webhooks_total{source=\"registry\",status=\"202\"}"),
                                 10000);
        QVERIFY2(m_botErr.contains(": ignored: no manifest push in the envelope (1 blob pushes, 0 other events)"),
                 m_botErr.right(2000).constData());
    }

    // Two replicas on one PostgreSQL store: every delivery is sent to both at once, and each is
    // processed by exactly one of them; the event sequence has no holes and no repeats.
    void postgresReplicas()
    {
        if (test::PostgresServer::binDir().isEmpty())
            QSKIP("PostgreSQL is not installed (Debian package postgresql)");
        test::PostgresServer pg;
        QString error;
        QVERIFY2(pg.start(&error), qPrintable(error));
        const QString dsn = pg.createDatabase(QStringLiteral("replicas"), &error);
        QVERIFY2(!dsn.isEmpty(), qPrintable(error));
        QList<quint16> ports;
        QList<QProcess *> bots;
        for (int i = 0; i < 2; ++i) {
            quint16 port = 0;
            QString scheme;
            QProcess *bot
                = launchBot({QStringLiteral("--config"), m_manifest, QStringLiteral("--store"), dsn}, &port, &scheme);
            QVERIFY(bot);
            bots.append(bot);
            ports.append(port);
        }
        const QString savedScheme = m_scheme;
        const quint16 savedPort = m_port;
        m_scheme = QStringLiteral("http");
        m_port = ports.at(0);
        const Reply ready = get(QStringLiteral("/readyz"));
        QCOMPARE(ready.status, 200);
        QCOMPARE(ready.json().value(QStringLiteral("store")).toString(),
                 QStringLiteral("postgresql://iterdeck@127.0.0.1:%1/replicas").arg(pg.port()));

        const int total = 100;
        QList<QNetworkReply *> replies;
        for (int i = 0; i < total; ++i) {
            const QByteArray b = QStringLiteral("{\"id\":\"pg-%1\",\"type\":\"artifact.published\",\"artifact\":"
                                                "{\"component\":\"api\",\"branch\":\"pg\",\"build\":\"%1\","
                                                "\"tag\":\"pg-%1\"}}")
                                     .arg(i)
                                     .toUtf8();
            for (const quint16 port : std::as_const(ports)) {
                m_port = port;
                QNetworkRequest r
                    = request(QStringLiteral("/hooks/ci"), {{"X-Iterdeck-Signature", hubSignature(ciSecret, b)}});
                r.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
                replies.append(m_net.post(r, b));
            }
        }
        int processed = 0, duplicates = 0;
        for (QNetworkReply *reply : std::as_const(replies)) {
            const Reply r = wait(reply);
            QCOMPARE(r.status, 200);
            const QString status = r.json().value(QStringLiteral("status")).toString();
            processed += status == QLatin1String("processed");
            duplicates += status == QLatin1String("duplicate");
        }
        QCOMPARE(processed, total);
        QCOMPARE(duplicates, total);
        for (QProcess *bot : std::as_const(bots)) {
            bot->terminate();
            QVERIFY(bot->waitForFinished(20000));
            delete bot;
        }
        m_scheme = savedScheme;
        m_port = savedPort;

        auto store = bot::Store::open(bot::StoreOptions {dsn, {}});
        QVERIFY(store);
        QCOMPARE((*store)->artifacts(QStringLiteral("api"), QStringLiteral("pg"), 1000)->size(), total);
        const auto events = *(*store)->eventsAfter(0, 1000);
        QCOMPARE(events.size(), total);
        for (qsizetype i = 0; i < events.size(); ++i)
            QCOMPARE(events.at(i).seq, i + 1);
    }

    // kill -9 in the middle of a burst; the sender retries every delivery it has no 2xx for.
    // Afterwards every delivery is recorded exactly once, with exactly one event.
    void killDuringBurst()
    {
        const int total = 1000;
        auto body = [](int i) {
            return QStringLiteral("{\"id\":\"burst-%1\",\"type\":\"artifact.published\",\"artifact\":{\"component\":"
                                  "\"api\",\"branch\":\"burst\",\"build\":\"%1\",\"tag\":\"burst-%1\"}}")
                .arg(i)
                .toUtf8();
        };
        QSet<int> acknowledged;
        QList<QNetworkReply *> inFlight;
        bool killed = false;
        int unanswered = 0, duplicates = 0;
        for (int round = 0; round < 5 && acknowledged.size() < total; ++round) {
            inFlight.clear();
            for (int i = 0; i < total; ++i) {
                if (acknowledged.contains(i))
                    continue;
                const QByteArray b = body(i);
                QNetworkRequest r
                    = request(QStringLiteral("/hooks/ci"), {{"X-Iterdeck-Signature", hubSignature(ciSecret, b)}});
                r.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
                QNetworkReply *reply = m_net.post(r, b);
                reply->setProperty("n", i);
                inFlight.append(reply);
            }
            for (QNetworkReply *reply : std::as_const(inFlight)) {
                const int n = reply->property("n").toInt();
                if (!killed && round == 0 && acknowledged.size() >= total / 4) {
                    stopBot(true);
                    killed = true;
                }
                const Reply r = wait(reply);
                if (r.status == 200 || r.status == 202)
                    acknowledged.insert(n);
                else
                    ++unanswered;
                if (r.json().value(QStringLiteral("status")).toString() == QLatin1String("duplicate"))
                    ++duplicates; // processed before the kill, but its answer was lost
            }
            if (killed && !m_bot)
                QVERIFY(startBot());
        }
        QVERIFY(killed);
        QVERIFY(unanswered > 0);
        qInfo("burst of %d: %d requests unanswered because of kill -9, %d retries found already processed", total,
              unanswered, duplicates);
        QCOMPARE(acknowledged.size(), total);
        stopBot();
        auto store = openStore();
        QVERIFY(store);
        const auto artifacts = *store->artifacts(QStringLiteral("api"), QStringLiteral("burst"), 10 * total);
        QCOMPARE(artifacts.size(), total);
        QSet<QString> builds;
        for (const auto &a : artifacts)
            builds.insert(a.build);
        QCOMPARE(builds.size(), total);
        const auto events = *store->eventsAfter(0, 100000);
        QSet<QString> deliveries;
        int burstEvents = 0;
        for (const auto &e : events) {
            const QString d = e.payload.value(QStringLiteral("delivery")).toString();
            if (!d.startsWith(QLatin1String("burst-")))
                continue;
            ++burstEvents;
            deliveries.insert(d);
        }
        QCOMPARE(burstEvents, total);
        QCOMPARE(deliveries.size(), total);
        // Sequence numbers have no holes and no repeats.
        for (qsizetype i = 0; i < events.size(); ++i)
            QCOMPARE(events.at(i).seq, i + 1);
    }

    // The daemon with a cluster: the manifest names the sandbox's kubeconfig and creates
    // environments when an iteration starts; a signed generic webhook starts one, another
    // publishes a build, and the cluster gets the namespace and the Deployment with that image.
    void environmentsOnTheSandbox()
    {
        stopBot();
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        iterdeck::testing::SandboxServer sandbox(dir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(sandbox.isRunning(), qPrintable(sandbox.errorString()));
        QDir().mkpath(dir.filePath(QStringLiteral("deploy/web")));
        QFile tmpl(dir.filePath(QStringLiteral("deploy/web/deployment.yaml")));
        QVERIFY(tmpl.open(QIODevice::WriteOnly));
        tmpl.write("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
                   "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
                   "    spec: {containers: [{name: web, image: \"${image}\"}]}\n");
        tmpl.close();
        const QString manifest = dir.filePath(QStringLiteral("iterdeck.yaml"));
        QFile f(manifest);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("project: shop\n"
                "im: {adapter: none}\n"
                "cluster: {kubeconfig: "
                + sandbox.kubeconfigPath().toUtf8()
                + "}\n"
                  "environment: {create: onStart}\n"
                  "components:\n"
                  "  - name: web\n"
                  "    repository: /srv/git/web\n"
                  "    image: iterdeck/demo-web\n"
                  "    deploy: {driver: manifests, path: deploy/web}\n"
                  "webhooks:\n"
                  "  - source: generic\n"
                  "    name: ci\n"
                  "    secret: {env: E2E_CI_SECRET}\n");
        f.close();
        const QString savedManifest = m_manifest;
        const QString savedData = m_dataDir;
        m_manifest = manifest;
        m_dataDir = dir.filePath(QStringLiteral("data"));
        auto restore = qScopeGuard([&] {
            stopBot();
            m_manifest = savedManifest;
            m_dataDir = savedData;
        });
        QVERIFY(startBot());
        const QByteArray started
            = R"({"id":"env-1","type":"iteration.started","iteration":{"id":"s9","name":"Sprint 9"}})";
        QCOMPARE(post(QStringLiteral("/hooks/ci"), started, {{"X-Iterdeck-Signature", hubSignature(ciSecret, started)}})
                     .status,
                 200);
        const QByteArray built
            = R"({"id":"env-2","type":"artifact.published","artifact":{"component":"web","branch":"main","tag":"1.0"}})";
        QCOMPARE(
            post(QStringLiteral("/hooks/ci"), built, {{"X-Iterdeck-Signature", hubSignature(ciSecret, built)}}).status,
            200);

        iterdeck::kube::KubeconfigOptions ko;
        ko.kubeconfigFlag = sandbox.kubeconfigPath();
        auto config = iterdeck::kube::loadClientConfig(ko);
        QVERIFY(config);
        iterdeck::kube::KubeClient client(*config);
        auto image = [&]() {
            return iterdeck::testing::deployedImage(client, QStringLiteral("shop-sprint-9"), QStringLiteral("web"));
        };
        QTRY_COMPARE_WITH_TIMEOUT(image(), QStringLiteral("iterdeck/demo-web:1.0"), 60000);
        // The rollout of iterdeck/demo-web:1.0 (an image of the sandbox's catalog) completes.
        QTRY_VERIFY_WITH_TIMEOUT(m_botErr.contains("environment shop-sprint-9 deploy.succeeded web"), 60000);
        QVERIFY2(m_botErr.contains("environment shop-sprint-9 environment.created"), m_botErr.constData());
    }

    // The real registry's notification redeploys an environment: the environment of an
    // iteration follows the component's default branch main, and pushing the image's tag main
    // to Debian's docker-registry (which notifies the bot) deploys that image by digest into
    // the sandbox; a second push of the tag deploys again. The sandbox cannot pull from the
    // registry, so the Deployment has no replicas: its rollout completes without a pod.
    void registryPushRedeploys()
    {
        const QString registry = QStandardPaths::findExecutable(QStringLiteral("docker-registry"));
        if (registry.isEmpty())
            QSKIP("docker-registry is not installed (Debian package docker-registry)");
        stopBot();
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        iterdeck::testing::SandboxServer sandbox(dir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(sandbox.isRunning(), qPrintable(sandbox.errorString()));
        QDir().mkpath(dir.filePath(QStringLiteral("deploy/web")));
        QFile tmpl(dir.filePath(QStringLiteral("deploy/web/deployment.yaml")));
        QVERIFY(tmpl.open(QIODevice::WriteOnly));
        tmpl.write("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 0\n"
                   "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
                   "    spec: {containers: [{name: web, image: \"${image}\"}]}\n");
        tmpl.close();
        const quint16 registryPort = freePort();
        QVERIFY(registryPort);
        const QString repository = QStringLiteral("127.0.0.1:%1/shop/web").arg(registryPort);
        const QString manifest = dir.filePath(QStringLiteral("iterdeck.yaml"));
        QFile f(manifest);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("project: shop\n"
                "im: {adapter: none}\n"
                "cluster: {kubeconfig: "
                + sandbox.kubeconfigPath().toUtf8()
                + "}\n"
                  "environment: {create: onStart}\n"
                  "components:\n"
                  "  - name: web\n"
                  "    repository: /srv/git/web\n"
                  "    image: "
                + repository.toUtf8()
                + "\n"
                  "    deploy: {driver: manifests, path: deploy/web}\n"
                  "webhooks:\n"
                  "  - source: registry\n"
                  "    secret: {env: E2E_REGISTRY_TOKEN}\n"
                  "  - source: generic\n"
                  "    name: ci\n"
                  "    secret: {env: E2E_CI_SECRET}\n");
        f.close();
        const QString savedManifest = m_manifest;
        const QString savedData = m_dataDir;
        m_manifest = manifest;
        m_dataDir = dir.filePath(QStringLiteral("data"));
        QProcess reg;
        auto restore = qScopeGuard([&] {
            stopRegistry(reg);
            stopBot();
            m_manifest = savedManifest;
            m_dataDir = savedData;
        });
        QVERIFY(startBot());
        QVERIFY(startRegistry(reg, registry, registryPort, QStringLiteral("registry-redeploy")));

        const QByteArray started
            = R"({"id":"reg-1","type":"iteration.started","iteration":{"id":"s10","name":"Sprint 10"}})";
        QCOMPARE(post(QStringLiteral("/hooks/ci"), started, {{"X-Iterdeck-Signature", hubSignature(ciSecret, started)}})
                     .status,
                 200);
        // No build of main yet: the environment waits for one.
        QTRY_VERIFY_WITH_TIMEOUT(m_botErr.contains("environment shop-sprint-10 deploy.waiting web"), 30000);

        iterdeck::kube::KubeconfigOptions ko;
        ko.kubeconfigFlag = sandbox.kubeconfigPath();
        auto config = iterdeck::kube::loadClientConfig(ko);
        QVERIFY(config);
        iterdeck::kube::KubeClient client(*config);
        auto image = [&]() {
            return iterdeck::testing::deployedImage(client, QStringLiteral("shop-sprint-10"), QStringLiteral("web"));
        };
        // The images of the deploy.started events of web, in order.
        auto startedImages = [this]() {
            QStringList images;
            auto store = openStore();
            if (!store)
                return images;
            const auto events = store->eventsAfter(0, 10000);
            if (!events)
                return images;
            for (const auto &e : *events) {
                if (e.type == QLatin1String("deploy.started")
                    && e.payload.value(QStringLiteral("component")).toString() == QLatin1String("web"))
                    images.append(e.payload.value(QStringLiteral("image")).toString());
            }
            return images;
        };

        const QString base = QStringLiteral("http://127.0.0.1:%1/v2/shop/web").arg(registryPort);
        const QString first = pushImage(base, "iterdeck e2e web layer 1", QStringLiteral("main"));
        QVERIFY(!first.isEmpty());
        const QString firstRef = repository + QStringLiteral(":main@") + first;
        // The registry notifies asynchronously, the bot waits for the rest of a burst, then deploys.
        QTRY_COMPARE_WITH_TIMEOUT(image(), firstRef, 60000);
        QTRY_COMPARE_WITH_TIMEOUT(startedImages(), QStringList {firstRef}, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(m_botErr.contains("environment shop-sprint-10 deploy.succeeded web"), 60000);

        const QString second = pushImage(base, "iterdeck e2e web layer 2", QStringLiteral("main"));
        QVERIFY(!second.isEmpty());
        QVERIFY(second != first);
        const QString secondRef = repository + QStringLiteral(":main@") + second;
        QTRY_COMPARE_WITH_TIMEOUT(image(), secondRef, 60000);
        QTRY_COMPARE_WITH_TIMEOUT(startedImages(), (QStringList {firstRef, secondRef}), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(m_botErr.count("environment shop-sprint-10 deploy.succeeded web"), 2, 60000);
    }
};

QTEST_GUILESS_MAIN(TestBotDaemon)
#include "tst_botdaemon.moc"
