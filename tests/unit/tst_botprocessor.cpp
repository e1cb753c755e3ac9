// From a verified webhook to the store: which component an artifact belongs to, and what one
// delivery records (once), answers and leaves out.
#include "bot/componentresolver.h"
#include "bot/crypto.h"
#include "bot/webhookprocessor.h"
#include "bot/webhookwriter.h"
#include "config/teammanifestloader.h"

#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#include <mutex>
#include <thread>

using namespace iterdeck;
using namespace iterdeck::bot;

namespace {

const QByteArray manifestText = "project: shop\n"
                                "im: {adapter: none}\n"
                                "components:\n"
                                "  - name: api\n"
                                "    repository: https://git.example.com/Shop/API.git\n"
                                "    image: registry.example.com/shop/api\n"
                                "    deploy: {driver: helm, chart: charts/api}\n"
                                "  - name: web\n"
                                "    repository: git@git.example.com:shop/web.git\n"
                                "    image: registry.example.com:5000/shop/web\n"
                                "    deploy: {driver: helm, chart: charts/web}\n"
                                "  - name: worker\n"
                                "    repository: /srv/git/worker\n"
                                "    image: other.example.com/team/worker\n"
                                "    deploy: {driver: helm, chart: charts/worker}\n"
                                "  - name: worker2\n"
                                "    repository: /srv/git/worker2\n"
                                "    image: mirror.example.com/team/worker\n"
                                "    deploy: {driver: helm, chart: charts/worker}\n"
                                "people:\n"
                                "  - {name: Alice, collab: [alice-gh]}\n"
                                "  - {name: Bob, collab: [bob-gh]}\n";

model::TeamManifest loadManifest()
{
    Diagnostics diag;
    auto m = config::TeamManifestLoader().loadText(manifestText, QStringLiteral("m.yaml"), QStringLiteral("/t"), diag);
    if (!m)
        qFatal("manifest: %s", qPrintable(diag.toString()));
    return *m;
}

WebhookRequest signedGeneric(const QByteArray &body)
{
    WebhookRequest r;
    r.body = body;
    r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("k", body).toHex());
    return r;
}

} // namespace

class TestBotProcessor : public QObject
{
    Q_OBJECT

private:
    model::TeamManifest m_manifest = loadManifest();
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Store> m_store;
    WebhookHook m_hook {QStringLiteral("ci"), QStringLiteral("generic"), "k",
                        makeWebhookParser(QStringLiteral("generic"))};

private Q_SLOTS:
    void paths_data()
    {
        QTest::addColumn<bool>("image"); // imagePath, else repositoryPath
        QTest::addColumn<QString>("in");
        QTest::addColumn<QString>("out");
        QTest::newRow("https") << false << QStringLiteral("https://git.example.com/Shop/API.git")
                               << QStringLiteral("shop/api");
        QTest::newRow("scp") << false << QStringLiteral("git@git.example.com:shop/web.git")
                             << QStringLiteral("shop/web");
        QTest::newRow("owner/repo") << false << QStringLiteral("octo/Repo") << QStringLiteral("octo/repo");
        QTest::newRow("local path") << false << QStringLiteral("/srv/git/worker/") << QStringLiteral("srv/git/worker");
        QTest::newRow("image with port") << true << QStringLiteral("registry.example.com:5000/shop/web:v1")
                                         << QStringLiteral("shop/web");
        QTest::newRow("image with digest")
            << true << QStringLiteral("localhost/harbor/alpine@sha256:00") << QStringLiteral("harbor/alpine");
        QTest::newRow("no host") << true << QStringLiteral("library/test") << QStringLiteral("library/test");
        QTest::newRow("one part") << true << QStringLiteral("alpine:3") << QStringLiteral("alpine");
    }

    void paths()
    {
        QFETCH(bool, image);
        QFETCH(QString, in);
        QFETCH(QString, out);
        QCOMPARE(image ? ComponentResolver::imagePath(in) : ComponentResolver::repositoryPath(in), out);
    }

    void resolve_data()
    {
        QTest::addColumn<QString>("component");
        QTest::addColumn<QString>("repository");
        QTest::addColumn<QString>("image");
        QTest::addColumn<QString>("job");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<QString>("why");
        QTest::newRow("explicit") << QStringLiteral("web") << QString() << QString() << QString()
                                  << QStringLiteral("web") << QString();
        QTest::newRow("explicit unknown") << QStringLiteral("db") << QString() << QString() << QString() << QString()
                                          << QStringLiteral("no component \"db\" in the manifest");
        QTest::newRow("image exact") << QString() << QString() << QStringLiteral("registry.example.com/shop/api")
                                     << QString() << QStringLiteral("api") << QString();
        QTest::newRow("image other host") << QString() << QString() << QStringLiteral("localhost:5000/shop/web")
                                          << QString() << QStringLiteral("web") << QString();
        QTest::newRow("image ambiguous path")
            << QString() << QString() << QStringLiteral("localhost/team/worker") << QString() << QString()
            << QStringLiteral("image localhost/team/worker matches several components by path (worker, worker2); "
                              "give them distinct image paths");
        QTest::newRow("image exact beats ambiguity")
            << QString() << QString() << QStringLiteral("mirror.example.com/team/worker") << QString()
            << QStringLiteral("worker2") << QString();
        QTest::newRow("github full name")
            << QString() << QStringLiteral("shop/API") << QString() << QString() << QStringLiteral("api") << QString();
        QTest::newRow("gitlab url") << QString() << QStringLiteral("http://gitlab.local/shop/web.git") << QString()
                                    << QString() << QStringLiteral("web") << QString();
        QTest::newRow("jenkins job") << QString() << QStringLiteral("https://elsewhere/x.git") << QString()
                                     << QStringLiteral("worker") << QStringLiteral("worker") << QString();
        QTest::newRow("nothing matches")
            << QString() << QStringLiteral("octo/other") << QStringLiteral("ghcr.io/octo/other")
            << QStringLiteral("other") << QString()
            << QStringLiteral("no component matches image ghcr.io/octo/other, repository octo/other, job other");
    }

    void resolve()
    {
        QFETCH(QString, component);
        QFETCH(QString, repository);
        QFETCH(QString, image);
        QFETCH(QString, job);
        QFETCH(QString, expected);
        QFETCH(QString, why);
        ArtifactPublished a;
        a.component = component;
        a.repository = repository;
        a.image = image;
        a.jobName = job;
        QString reason;
        QCOMPARE(ComponentResolver(m_manifest).resolve(a, &reason), expected);
        QCOMPARE(reason, why);
    }

    void init()
    {
        m_store.reset();
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        auto s = Store::open(StoreOptions {{}, m_dir->path()});
        QVERIFY2(s, s ? "" : qPrintable(s.error().message));
        m_store = std::move(*s);
    }

    void processesOnce()
    {
        Metrics metrics;
        WebhookProcessor p(*m_store, m_manifest, &metrics);
        const QByteArray body = QByteArray(
            "{\"id\":\"a1\",\"type\":\"artifact.published\",\"artifact\":{\"repository\":\"shop/api\",\"branch\":"
            "\"main\",\"build\":\"7\",\"tag\":\"main-7\"}}");
        const WebhookOutcome first = p.process(m_hook, signedGeneric(body));
        QCOMPARE(first.kind, WebhookOutcome::Kind::Processed);
        QCOMPARE(first.httpStatus, 200);
        QCOMPARE(first.events.size(), 1);
        QCOMPARE(first.events.at(0).type, QStringLiteral("artifact.published"));
        QCOMPARE(first.events.at(0).payload.value(QStringLiteral("component")).toString(), QStringLiteral("api"));
        QCOMPARE(first.events.at(0).payload.value(QStringLiteral("source")).toString(), QStringLiteral("ci"));
        QCOMPARE(first.body.value(QStringLiteral("events")).toArray(), QJsonArray {1});
        const WebhookOutcome again = p.process(m_hook, signedGeneric(body));
        QCOMPARE(again.kind, WebhookOutcome::Kind::Duplicate);
        QCOMPARE(again.httpStatus, 200);
        QVERIFY(again.events.isEmpty());
        QCOMPARE(m_store->artifacts(QStringLiteral("api"), QStringLiteral("main"))->size(), 1);
        QCOMPARE(m_store->latestArtifact(QStringLiteral("api"), QStringLiteral("main"))->value().source,
                 QStringLiteral("ci"));
        QCOMPARE(*m_store->lastEventSeq(), 1);
        QVERIFY(metrics.render().contains("iterdeck_events_total 1\n"));
        QVERIFY(metrics.render().contains("iterdeck_store_transaction_seconds_count 2\n"));
    }

    // Deliveries committed together: one transaction, each its own answer, in order; a delivery
    // repeated inside the batch is a duplicate there too.
    void groupCommit()
    {
        Metrics metrics;
        WebhookProcessor p(*m_store, m_manifest, &metrics);
        auto body = [](int n) {
            return QStringLiteral(R"({"id":"g%1","type":"artifact.published","artifact":{"repository":"shop/api",)"
                                  R"("branch":"main","build":"%1","tag":"main-%1"}})")
                .arg(n)
                .toUtf8();
        };
        QList<PreparedDelivery> batch;
        for (int n : {1, 2, 1, 3}) {
            auto prepared = p.prepare(m_hook, signedGeneric(body(n)));
            QVERIFY(prepared);
            batch.append(*prepared);
        }
        WebhookRequest unsigned_;
        unsigned_.body = body(4);
        const auto refused = p.prepare(m_hook, unsigned_);
        QVERIFY(!refused);
        QCOMPARE(refused.error().kind, WebhookOutcome::Kind::Unauthenticated);
        const QList<WebhookOutcome> out = p.commit(batch);
        QCOMPARE(out.size(), 4);
        QCOMPARE(out.at(0).kind, WebhookOutcome::Kind::Processed);
        QCOMPARE(out.at(1).kind, WebhookOutcome::Kind::Processed);
        QCOMPARE(out.at(2).kind, WebhookOutcome::Kind::Duplicate);
        QCOMPARE(out.at(3).kind, WebhookOutcome::Kind::Processed);
        QCOMPARE(out.at(0).deliveryId, QStringLiteral("g1"));
        QCOMPARE(out.at(3).body.value(QStringLiteral("events")).toArray(), QJsonArray {3});
        QCOMPARE(*m_store->lastEventSeq(), 3);
        QCOMPARE(*m_store->deliveryCount(), 3);
        QVERIFY(metrics.render().contains("iterdeck_store_transaction_seconds_count 1\n"));
        QVERIFY(metrics.render().contains("iterdeck_events_total 3\n"));
    }

    // The writer's thread, fed from several threads at once: every delivery answered once,
    // recorded once, and the rejected one rejected; fewer transactions than deliveries when
    // they queue up. After stop(), a delivery is answered 503, not lost silently.
    void writerThread()
    {
        Metrics metrics;
        WebhookWriter writer(StoreOptions {{}, m_dir->path()}, m_manifest, &metrics);
        QVERIFY(writer.start());
        std::mutex mutex;
        QHash<QString, int> answers;
        QList<int> statuses;
        auto submit = [&](int n, bool forged) {
            const QByteArray b = QStringLiteral(R"({"id":"w%1","type":"artifact.published","artifact":{)"
                                                R"("repository":"shop/api","branch":"b%2","build":"%1","tag":"t%1"}})")
                                     .arg(n)
                                     .arg(n % 3)
                                     .toUtf8();
            WebhookRequest r = signedGeneric(b);
            if (forged)
                r.headers.insert("x-iterdeck-signature", "sha256=00");
            writer.submit(m_hook, r, [&, n](WebhookOutcome o) {
                std::lock_guard lock(mutex);
                answers[QString::number(n)] += 1;
                statuses.append(o.httpStatus);
            });
        };
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t]() {
                for (int i = 0; i < 50; ++i)
                    submit(t * 50 + i, t == 0 && i == 7);
            });
        }
        for (auto &t : threads)
            t.join();
        QTRY_COMPARE_WITH_TIMEOUT(
            [&]() {
                std::lock_guard lock(mutex);
                return int(statuses.size());
            }(),
            200, 30000);
        writer.stop();
        QCOMPARE(answers.size(), 200);
        for (auto it = answers.cbegin(); it != answers.cend(); ++it)
            QCOMPARE(it.value(), 1);
        QCOMPARE(statuses.count(401), 1);
        QCOMPARE(statuses.count(200), 199);
        QCOMPARE(*m_store->deliveryCount(), 199);
        QCOMPARE(*m_store->lastEventSeq(), 199);
        const QByteArray text = metrics.render();
        const qsizetype at = text.indexOf("iterdeck_store_transaction_seconds_count ");
        QVERIFY(at >= 0);
        const int transactions = text.mid(at + 41, text.indexOf('\n', at) - at - 41).toInt();
        QVERIFY2(transactions >= 1 && transactions <= 199, text.constData());

        int late = 0;
        writer.submit(m_hook, signedGeneric("{}"), [&](WebhookOutcome o) { late = o.httpStatus; });
        QCOMPARE(late, 503);
    }

    // An iteration from a source that names no members gets the manifest's team; one that names
    // them keeps its own.
    void membersDefaultToTheTeam()
    {
        WebhookProcessor p(*m_store, m_manifest);
        auto start = [&](const QString &id, const QString &members) {
            return p.process(m_hook,
                             signedGeneric(QStringLiteral(R"({"id":"s-%1","type":"iteration.started","iteration":)"
                                                          R"({"id":"%1","name":"Sprint %1"%2}})")
                                               .arg(id, members)
                                               .toUtf8()));
        };
        QCOMPARE(start(QStringLiteral("1"), {}).kind, WebhookOutcome::Kind::Processed);
        QCOMPARE(m_store->iteration(QStringLiteral("generic:1"))->value().members,
                 (QStringList {QStringLiteral("Alice"), QStringLiteral("Bob")}));
        QCOMPARE(start(QStringLiteral("2"), QStringLiteral(R"(,"members":["bob-gh"])")).kind,
                 WebhookOutcome::Kind::Processed);
        QCOMPARE(m_store->iteration(QStringLiteral("generic:2"))->value().members,
                 QStringList {QStringLiteral("bob-gh")});
    }

    void outcomes_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<bool>("signedRight");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown component")
            << QByteArray("{\"id\":\"b1\",\"type\":\"artifact.published\",\"artifact\":{\"repository\":\"x/y\","
                          "\"branch\":\"main\",\"tag\":\"t\"}}")
            << true << 202 << QStringLiteral("no component matches repository x/y");
        QTest::newRow("close of an unknown iteration")
            << QByteArray("{\"id\":\"b2\",\"type\":\"iteration.closed\",\"iteration\":{\"id\":\"s9\"}}") << true << 202
            << QStringLiteral("iteration generic:s9 is not known");
        QTest::newRow("unknown type") << QByteArray("{\"id\":\"b3\",\"type\":\"x.y\"}") << true << 202
                                      << QStringLiteral("unknown event type \"x.y\"");
        QTest::newRow("bad signature") << QByteArray("{\"id\":\"b4\",\"type\":\"x.y\"}") << false << 401
                                       << QStringLiteral("X-Iterdeck-Signature does not match the body");
        QTest::newRow("malformed") << QByteArray("{\"id\":4}") << true << 400
                                   << QStringLiteral("field \"id\" must be a string, not a number");
    }

    void outcomes()
    {
        QFETCH(QByteArray, body);
        QFETCH(bool, signedRight);
        QFETCH(int, status);
        QFETCH(QString, message);
        WebhookProcessor p(*m_store, m_manifest);
        WebhookRequest r = signedGeneric(body);
        if (!signedRight)
            r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("other", body).toHex());
        const WebhookOutcome o = p.process(m_hook, r);
        QCOMPARE(o.httpStatus, status);
        QCOMPARE(o.message, message);
        QCOMPARE(*m_store->lastEventSeq(), 0);
        // Ignored deliveries are recorded, so that a retry is a duplicate; refused ones are not.
        QCOMPARE(*m_store->deliveryCount(), status == 202 ? 1 : 0);
        if (status == 202) {
            QCOMPARE(o.body.value(QStringLiteral("reason")).toString(), message);
            QCOMPARE(p.process(m_hook, r).kind, WebhookOutcome::Kind::Duplicate);
        } else {
            QCOMPARE(o.body.value(QStringLiteral("message")).toString(), message);
        }
    }

    void iterationWithMembers()
    {
        WebhookProcessor p(*m_store, m_manifest);
        const QByteArray start = "{\"id\":\"c1\",\"type\":\"iteration.started\",\"iteration\":{\"id\":\"s1\",\"name\":"
                                 "\"Sprint 1\",\"members\":[\"bob\",\"alice\"]}}";
        QCOMPARE(p.process(m_hook, signedGeneric(start)).kind, WebhookOutcome::Kind::Processed);
        const QByteArray members = "{\"id\":\"c2\",\"type\":\"iteration.members\",\"iteration\":{\"id\":\"s1\","
                                   "\"members\":[\"carol\"]}}";
        const WebhookOutcome o = p.process(m_hook, signedGeneric(members));
        QCOMPARE(o.kind, WebhookOutcome::Kind::Processed);
        QCOMPARE(o.events.at(0).type, QStringLiteral("iteration.members"));
        QCOMPARE(o.events.at(0).payload.value(QStringLiteral("members")).toArray(),
                 QJsonArray {QStringLiteral("carol")});
        QCOMPARE(o.events.at(0).iterationId, m_store->iteration(QStringLiteral("generic:s1"))->value().id);
        QCOMPARE(m_store->iteration(QStringLiteral("generic:s1"))->value().members,
                 QStringList {QStringLiteral("carol")});
    }
};

QTEST_GUILESS_MAIN(TestBotProcessor)
#include "tst_botprocessor.moc"
