// The desktop API end to end on loopback: the bot's HTTP server with its WebSocket /v1/stream and
// SQLite store, signed generic webhooks over HTTP, and core/chatops' BotClient (and a raw
// QWebSocket for protocol errors). Checks: token refusal, the insecure-URL rule, the snapshot
// and live events filtered to the user's iterations, a membership change, an exact resume after
// lastSeq, every event once and in order across a bot restart, requests and their typed errors,
// the rate limit, and a revoked token closing its connection.
#include "bot/botserver.h"
#include "bot/crypto.h"
#include "bot/desktopstream.h"
#include "bot/store.h"
#include "chatops/botclient.h"
#include "config/teammanifestloader.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QWebSocket>
#include <QWebSocketHandshakeOptions>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::bot;
using namespace iterdeck::chatops;

namespace {

const char *kManifest = R"(version: 1
project: shop
im: {adapter: none}
components:
  - name: web
    repository: https://github.com/shop/web.git
    image: shop/web
    deploy: {driver: manifests, path: deploy/web}
webhooks:
  - {name: ci, source: generic, secret: {env: TST_STREAM_SECRET}}
people:
  - {name: Alice, collab: alice}
  - {name: Bob, collab: bob}
  - {name: Root, collab: root, admin: true}
)";

// What one BotClient saw.
struct Seen
{
    QList<model::Event> events;
    QList<bool> replayed;
    QList<Snapshot> snapshots;
    QStringList errors;
    QList<qint64> seqs() const
    {
        QList<qint64> out;
        for (const auto &e : events)
            out.append(e.seq);
        return out;
    }
};

} // namespace

class TestDesktopStream : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        qputenv("TST_STREAM_SECRET", "k");
        Diagnostics diag;
        auto m = config::TeamManifestLoader().loadText(kManifest, QStringLiteral("iterdeck.yaml"), QString(), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        m_manifest = *m;
    }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_delivery = 0;
        startBot(0);
        auto alice = m_server->store().createToken(QStringLiteral("alice"), false);
        auto bob = m_server->store().createToken(QStringLiteral("Bob"), false);
        auto root = m_server->store().createToken(QStringLiteral("root"), false);
        QVERIFY(alice && bob && root);
        m_alice = alice->secret;
        m_bob = bob->secret;
        m_root = root->secret;
        m_aliceId = alice->token.id;
    }

    void cleanup()
    {
        m_clients.clear();
        stopBot();
    }

    void insecureUrlsAreRefused()
    {
        BotClient c;
        BotClientOptions o;
        o.token = QStringLiteral("t");
        o.botUrl = QUrl(QStringLiteral("http://bot.example.com"));
        auto r = c.setOptions(o);
        QVERIFY(!r);
        QVERIFY2(r.error().contains(QLatin1String("--allow-insecure")), qPrintable(r.error()));
        o.allowInsecure = true;
        QVERIFY(c.setOptions(o));
        o.allowInsecure = false;
        for (const char *ok : {"https://bot.example.com", "http://127.0.0.1:8080", "http://localhost:1",
                               "http://[::1]:2", "wss://bot.example.com/v1/stream"}) {
            o.botUrl = QUrl(QLatin1String(ok));
            QVERIFY2(c.setOptions(o), ok);
        }
        o.botUrl = QUrl(QStringLiteral("ftp://bot.example.com"));
        QVERIFY(!c.setOptions(o));
        o.botUrl = QUrl(QStringLiteral("https://bot.example.com"));
        o.token.clear();
        QVERIFY(!c.setOptions(o));
        QCOMPARE(streamUrl(QUrl(QStringLiteral("https://bot.example.com/base/"))).toString(),
                 QStringLiteral("wss://bot.example.com/base/v1/stream"));
    }

    void unknownTokenIsRefused()
    {
        Seen seen;
        BotClient *c = client(QStringLiteral("not-a-token"), -1, &seen);
        QTRY_VERIFY_WITH_TIMEOUT(!seen.errors.isEmpty(), 10000);
        QVERIFY2(seen.errors.first().contains(QLatin1String("refused the token")), qPrintable(seen.errors.first()));
        QVERIFY(c->state() != BotClient::State::Connected);
        QVERIFY(seen.snapshots.isEmpty());
    }

    void plainGetIsUpgradeRequired()
    {
        QNetworkAccessManager nam;
        std::unique_ptr<QNetworkReply> reply(
            nam.get(QNetworkRequest(QUrl(m_server->url() + QStringLiteral("/v1/stream")))));
        QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), 10000);
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 426);
    }

    void snapshotAndLiveEventsAreFilteredByMembership()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s1"), {QStringLiteral("alice")});
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s2"), {QStringLiteral("bob")});
        Seen a, b, r;
        client(m_alice, -1, &a);
        client(m_bob, -1, &b);
        client(m_root, -1, &r);
        QTRY_VERIFY_WITH_TIMEOUT(a.snapshots.size() == 1 && b.snapshots.size() == 1 && r.snapshots.size() == 1, 10000);
        QCOMPARE(names(a.snapshots.last()), QStringList {QStringLiteral("s1")});
        QCOMPARE(names(b.snapshots.last()), QStringList {QStringLiteral("s2")});
        QCOMPARE(names(r.snapshots.last()), (QStringList {QStringLiteral("s1"), QStringLiteral("s2")}));
        QCOMPARE(a.snapshots.last().components.size(), 1);
        QCOMPARE(a.snapshots.last().project, QStringLiteral("shop"));
        // No history asked for: nothing replayed.
        QVERIFY(a.events.isEmpty());

        iteration(QStringLiteral("iteration.closed"), QStringLiteral("s2"), {});
        artifact(QStringLiteral("1.0"));
        QTRY_COMPARE_WITH_TIMEOUT(b.events.size(), 2, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(r.events.size(), 2, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(a.events.size(), 1, 10000);
        QCOMPARE(a.events.first().type, QStringLiteral("artifact.published"));
        QCOMPARE(b.events.first().type, QStringLiteral("iteration.closed"));
        QVERIFY(!a.replayed.first());
        QCOMPARE(r.seqs(), b.seqs());
    }

    void joiningAnIterationSendsItsSnapshot()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s2"), {QStringLiteral("bob")});
        Seen a;
        client(m_alice, -1, &a);
        QTRY_COMPARE_WITH_TIMEOUT(a.snapshots.size(), 1, 10000);
        QVERIFY(a.snapshots.last().iterations.isEmpty());
        iteration(QStringLiteral("iteration.members"), QStringLiteral("s2"),
                  {QStringLiteral("bob"), QStringLiteral("alice")});
        QTRY_COMPARE_WITH_TIMEOUT(a.snapshots.size(), 2, 10000);
        QCOMPARE(names(a.snapshots.last()), QStringList {QStringLiteral("s2")});
        QCOMPARE(a.events.size(), 1);
        QCOMPARE(a.events.first().type, QStringLiteral("iteration.members"));
        // Removed again: the event that removes her is the last she gets of it.
        iteration(QStringLiteral("iteration.members"), QStringLiteral("s2"), {QStringLiteral("bob")});
        QTRY_COMPARE_WITH_TIMEOUT(a.snapshots.size(), 3, 10000);
        QVERIFY(a.snapshots.last().iterations.isEmpty());
        iteration(QStringLiteral("iteration.closed"), QStringLiteral("s2"), {});
        artifact(QStringLiteral("2.0"));
        QTRY_COMPARE_WITH_TIMEOUT(a.events.size(), 3, 10000);
        QCOMPARE(a.events.at(1).type, QStringLiteral("iteration.members")); // the one that removed her
        QCOMPARE(a.events.last().type, QStringLiteral("artifact.published")); // not the close
    }

    void resumeReplaysExactlyWhatWasMissed()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s1"), {QStringLiteral("alice")});
        Seen first;
        BotClient *c = client(m_alice, -1, &first);
        QTRY_COMPARE_WITH_TIMEOUT(first.snapshots.size(), 1, 10000);
        artifact(QStringLiteral("1.0"));
        QTRY_COMPARE_WITH_TIMEOUT(first.events.size(), 1, 10000);
        const qint64 last = c->lastSeq();
        QCOMPARE(last, first.events.last().seq);
        c->stop();

        // Missed: 3 of hers, 1 of another iteration she does not see.
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s9"), {QStringLiteral("bob")});
        artifact(QStringLiteral("1.1"));
        iteration(QStringLiteral("iteration.members"), QStringLiteral("s1"),
                  {QStringLiteral("alice"), QStringLiteral("bob")});
        artifact(QStringLiteral("1.2"));

        Seen second;
        BotClient *again = client(m_alice, last, &second);
        QTRY_COMPARE_WITH_TIMEOUT(second.snapshots.size(), 1, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(second.events.size(), 3, 10000);
        QVERIFY(!second.snapshots.first().truncated);
        QCOMPARE(second.replayed, (QList<bool> {true, true, true}));
        QCOMPARE(second.events.at(0).payload.value(u"imageTag").toString(), QStringLiteral("1.1"));
        QCOMPARE(second.events.at(1).type, QStringLiteral("iteration.members"));
        QCOMPARE(second.events.at(2).payload.value(u"imageTag").toString(), QStringLiteral("1.2"));
        for (const auto &e : std::as_const(second.events))
            QVERIFY(e.seq > last);
        // Live again, and nothing twice.
        artifact(QStringLiteral("1.3"));
        QTRY_COMPARE_WITH_TIMEOUT(second.events.size(), 4, 10000);
        QVERIFY(!second.replayed.last());
        QVERIFY(again->lastSeq() == second.events.last().seq);

        // A lastSeq from another database (ahead of this log) is reset by a truncated snapshot.
        Seen third;
        client(m_alice, 1000000, &third);
        QTRY_COMPARE_WITH_TIMEOUT(third.snapshots.size(), 1, 10000);
        QVERIFY(third.snapshots.first().truncated);
        QVERIFY(third.events.isEmpty());
    }

    void everyEventOnceInOrderAcrossARestart()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s1"), {QStringLiteral("alice")});
        Seen seen;
        BotClient *c = client(m_alice, 0, &seen);
        QTRY_COMPARE_WITH_TIMEOUT(seen.snapshots.size(), 1, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(seen.events.size(), 1, 10000); // the iteration.started, replayed from 0
        for (int i = 0; i < 5; ++i)
            artifact(QStringLiteral("1.%1").arg(i));
        QTRY_COMPARE_WITH_TIMEOUT(seen.events.size(), 6, 10000);

        const quint16 port = m_server->port();
        stopBot();
        QTRY_VERIFY_WITH_TIMEOUT(c->state() == BotClient::State::Waiting, 10000);
        startBot(port);
        for (int i = 0; i < 5; ++i)
            artifact(QStringLiteral("2.%1").arg(i));
        QTRY_VERIFY_WITH_TIMEOUT(c->state() == BotClient::State::Connected, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(seen.events.size(), 11, 20000);
        for (int i = 0; i < 5; ++i)
            artifact(QStringLiteral("3.%1").arg(i));
        QTRY_COMPARE_WITH_TIMEOUT(seen.events.size(), 16, 10000);

        auto all = m_server->store().eventsAfter(0, 1000);
        QVERIFY(all);
        QList<qint64> expected;
        for (const auto &e : std::as_const(*all))
            expected.append(e.seq);
        QCOMPARE(seen.seqs(), expected);
    }

    void requestsAndTheirErrors()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("s1"), {QStringLiteral("alice")});
        artifact(QStringLiteral("1.0"));
        artifact(QStringLiteral("1.1"));
        Seen seen;
        BotClient *c = client(m_alice, -1, &seen);
        QTRY_VERIFY_WITH_TIMEOUT(c->state() == BotClient::State::Connected, 10000);
        QCOMPARE(c->user(), QStringLiteral("alice"));

        auto call = [c](const QString &method, const QJsonObject &params) {
            std::optional<BotClient::Result> out;
            c->request(method, params, nullptr, [&out](const BotClient::Result &r) { out = r; });
            [[maybe_unused]] const bool done = QTest::qWaitFor([&out]() { return out.has_value(); }, 10000);
            return out.value_or(BotClient::Result(unexpected(ProtocolError {ErrorCode::Timeout, {}})));
        };
        auto arts = call(
            QLatin1String(method::Artifacts),
            {{QStringLiteral("component"), QStringLiteral("web")}, {QStringLiteral("branch"), QStringLiteral("main")}});
        QVERIFY(arts);
        const QJsonArray list = arts->value(u"artifacts").toArray();
        QCOMPARE(list.size(), 2);
        QCOMPARE(list.first().toObject().value(u"imageTag").toString(), QStringLiteral("1.1")); // newest first

        auto events
            = call(QLatin1String(method::Events), {{QStringLiteral("afterSeq"), 0}, {QStringLiteral("limit"), 2}});
        QVERIFY(events);
        QCOMPARE(events->value(u"events").toArray().size(), 2);
        QVERIFY(events->value(u"more").toBool());

        auto snap = call(QLatin1String(method::Snapshot), {});
        QVERIFY(snap);
        QCOMPARE(snap->value(u"iterations").toArray().size(), 1);

        auto unknown = call(QStringLiteral("frobnicate"), {});
        QVERIFY(!unknown);
        QCOMPARE(unknown.error().code, ErrorCode::BadRequest);
        auto noComponent
            = call(QLatin1String(method::Artifacts), {{QStringLiteral("component"), QStringLiteral("nope")}});
        QVERIFY(!noComponent);
        QCOMPARE(noComponent.error().code, ErrorCode::NotFound);
        // This bot has no cluster: environment requests say so.
        auto create = call(
            QLatin1String(method::CreateEnvironment),
            {{QStringLiteral("iteration"), snap->value(u"iterations").toArray().first().toObject().value(u"id")}});
        QVERIFY(!create);
        QCOMPARE(create.error().code, ErrorCode::Unavailable);
        auto other = call(QLatin1String(method::CreateEnvironment), {{QStringLiteral("iteration"), 999}});
        QVERIFY(!other);
        QCOMPARE(other.error().code, ErrorCode::NotFound);

        // A burst over the per-connection rate: some are refused with rate_limited, none lost.
        int answered = 0, limited = 0;
        for (int i = 0; i < 60; ++i) {
            c->request(QLatin1String(method::Snapshot), {}, nullptr, [&](const BotClient::Result &r) {
                ++answered;
                if (!r && r.error().code == ErrorCode::RateLimited)
                    ++limited;
            });
        }
        QTRY_COMPARE_WITH_TIMEOUT(answered, 60, 10000);
        QVERIFY2(limited > 0 && limited < 60, qPrintable(QString::number(limited)));
    }

    void protocolErrors()
    {
        QWebSocket ws;
        QNetworkRequest req(streamUrl(QUrl(m_server->url())));
        req.setRawHeader("Authorization", "Bearer " + m_alice.toUtf8());
        QWebSocketHandshakeOptions hs;
        hs.setSubprotocols({QLatin1String(kSubprotocol)});
        QStringList got;
        connect(&ws, &QWebSocket::textMessageReceived, this, [&got](const QString &t) { got.append(t); });
        ws.open(req, hs);
        QTRY_COMPARE_WITH_TIMEOUT(ws.state(), QAbstractSocket::ConnectedState, 10000);
        QCOMPARE(ws.subprotocol(), QLatin1String(kSubprotocol));
        ws.sendTextMessage(QStringLiteral("not json"));
        ws.sendTextMessage(QStringLiteral("[1]"));
        ws.sendTextMessage(QStringLiteral(R"({"type":"request","id":"1","method":"snapshot"})"));
        ws.sendTextMessage(QStringLiteral(R"({"type":"hello","lastSeq":-4})"));
        QTRY_COMPARE_WITH_TIMEOUT(got.size(), 4, 10000);
        for (const QString &t : std::as_const(got)) {
            const QJsonObject o = QJsonDocument::fromJson(t.toUtf8()).object();
            QCOMPARE(o.value(u"type").toString(), QStringLiteral("error"));
            QCOMPARE(o.value(u"error").toObject().value(u"code").toString(), QStringLiteral("bad_request"));
        }
        QCOMPARE(QJsonDocument::fromJson(got.at(2).toUtf8()).object().value(u"id").toString(), QStringLiteral("1"));
        ws.sendTextMessage(QStringLiteral(R"({"type":"hello"})"));
        QTRY_VERIFY_WITH_TIMEOUT(got.size() >= 6, 10000); // welcome, snapshot
        ws.sendTextMessage(QStringLiteral(R"({"type":"hello"})"));
        ws.sendTextMessage(QStringLiteral(R"({"type":"request","method":"snapshot"})"));
        ws.sendTextMessage(QStringLiteral(R"({"type":"shout"})"));
        QTRY_VERIFY_WITH_TIMEOUT(got.size() >= 9, 10000);
        for (int i = 6; i < 9; ++i)
            QVERIFY2(got.at(i).contains(QLatin1String("bad_request")), qPrintable(got.at(i)));

        // Another subprotocol than ours is refused at the handshake.
        QWebSocket other;
        QWebSocketHandshakeOptions wrong;
        wrong.setSubprotocols({QStringLiteral("mqtt")});
        other.open(req, wrong);
        QTRY_VERIFY_WITH_TIMEOUT(other.state() == QAbstractSocket::UnconnectedState && !other.errorString().isEmpty(),
                                 10000);
    }

    void aBurstComesBatchedInOrder()
    {
        QWebSocket ws;
        QNetworkRequest req(streamUrl(QUrl(m_server->url())));
        req.setRawHeader("Authorization", "Bearer " + m_alice.toUtf8());
        QList<QJsonObject> got;
        connect(&ws, &QWebSocket::textMessageReceived, this,
                [&got](const QString &t) { got.append(QJsonDocument::fromJson(t.toUtf8()).object()); });
        ws.open(req);
        QTRY_COMPARE_WITH_TIMEOUT(ws.state(), QAbstractSocket::ConnectedState, 10000);
        ws.sendTextMessage(QStringLiteral(R"({"type":"hello"})"));
        QTRY_VERIFY_WITH_TIMEOUT(got.size() >= 2, 10000); // welcome, snapshot
        // 30 webhooks at once, not one after the other.
        std::vector<std::unique_ptr<QNetworkReply>> replies;
        for (int i = 0; i < 30; ++i) {
            QJsonObject body {{QStringLiteral("type"), QStringLiteral("artifact.published")},
                              {QStringLiteral("id"), QStringLiteral("burst-%1").arg(i)},
                              {QStringLiteral("artifact"),
                               QJsonObject {{QStringLiteral("component"), QStringLiteral("web")},
                                            {QStringLiteral("branch"), QStringLiteral("main")},
                                            {QStringLiteral("tag"), QStringLiteral("b%1").arg(i)}}}};
            const QByteArray bytes = QJsonDocument(body).toJson(QJsonDocument::Compact);
            QNetworkRequest post(QUrl(m_server->url() + QStringLiteral("/hooks/ci")));
            post.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
            post.setRawHeader("X-Iterdeck-Signature", "sha256=" + hmacSha256("k", bytes).toHex());
            replies.emplace_back(m_nam.post(post, bytes));
        }
        auto events = [&got]() {
            QList<qint64> seqs;
            int batches = 0;
            for (const QJsonObject &m : std::as_const(got)) {
                if (m.value(u"type").toString() == u"event")
                    seqs.append(m.value(u"event").toObject().value(u"seq").toInteger());
                if (m.value(u"type").toString() == u"events") {
                    ++batches;
                    for (const QJsonValue &e : m.value(u"events").toArray())
                        seqs.append(e.toObject().value(u"seq").toInteger());
                }
            }
            return std::make_pair(seqs, batches);
        };
        QTRY_COMPARE_WITH_TIMEOUT(events().first.size(), 30, 20000);
        const auto [seqs, batches] = events();
        for (int i = 1; i < seqs.size(); ++i)
            QVERIFY(seqs.at(i) > seqs.at(i - 1));
        QVERIFY2(batches > 0, "a burst within the batch window goes out as \"events\"");
        QTest::qWait(200);
        QCOMPARE(events().first.size(), 30); // nothing twice
    }

    void revokedTokenEndsTheConnection()
    {
        Seen seen;
        BotClient *c = client(m_alice, -1, &seen);
        QTRY_VERIFY_WITH_TIMEOUT(c->state() == BotClient::State::Connected, 10000);
        QVERIFY(m_server->store().revokeToken(m_aliceId));
        QTRY_VERIFY_WITH_TIMEOUT(c->state() != BotClient::State::Connected, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(c->lastError().contains(QLatin1String("revoked")), 10000);
    }

private:
    model::TeamManifest m_manifest;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<BotServer> m_server;
    std::unique_ptr<DesktopStream> m_stream;
    std::vector<std::unique_ptr<BotClient>> m_clients;
    QString m_alice, m_bob, m_root, m_aliceId;
    int m_delivery = 0;
    QNetworkAccessManager m_nam;

    void startBot(quint16 port)
    {
        StoreOptions so;
        so.dataDir = m_dir->path();
        auto store = Store::open(so);
        QVERIFY(store);
        m_server = std::make_unique<BotServer>(m_manifest, std::move(*store));
        QVERIFY(m_server->loadHooks());
        DesktopStreamOptions o;
        o.heartbeatSeconds = 1;
        o.batchMs = 50;
        m_stream = std::make_unique<DesktopStream>(m_manifest, &m_server->store(), nullptr, o);
        m_server->setDesktopStream(m_stream.get());
        m_server->addEventSink(m_stream.get());
        BotServerOptions bo;
        bo.port = port;
        QString error;
        QVERIFY2(m_server->start(bo, &error), qPrintable(error));
    }

    void stopBot()
    {
        if (m_server)
            m_server->stop();
        m_stream.reset();
        m_server.reset();
    }

    BotClient *client(const QString &token, qint64 lastSeq, Seen *seen)
    {
        auto c = std::make_unique<BotClient>();
        BotClientOptions o;
        o.botUrl = QUrl(m_server->url());
        o.token = token;
        o.minBackoffMs = 100;
        o.maxBackoffMs = 400;
        [&]() { QVERIFY(c->setOptions(o)); }();
        c->setLastSeq(lastSeq);
        connect(c.get(), &BotClient::eventReceived, this, [seen](const model::Event &e, bool replayed) {
            seen->events.append(e);
            seen->replayed.append(replayed);
        });
        connect(c.get(), &BotClient::snapshotReceived, this, [seen](const Snapshot &s) { seen->snapshots.append(s); });
        connect(c.get(), &BotClient::connectionError, this, [seen](const QString &e) { seen->errors.append(e); });
        c->start();
        m_clients.push_back(std::move(c));
        return m_clients.back().get();
    }

    static QStringList names(const Snapshot &s)
    {
        QStringList out;
        for (const auto &it : s.iterations)
            out.append(it.name);
        out.sort();
        return out;
    }

    void post(QJsonObject body)
    {
        body.insert(QStringLiteral("id"), QStringLiteral("d-%1").arg(++m_delivery));
        const QByteArray bytes = QJsonDocument(body).toJson(QJsonDocument::Compact);
        QNetworkRequest req(QUrl(m_server->url() + QStringLiteral("/hooks/ci")));
        req.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
        req.setRawHeader("X-Iterdeck-Signature", "sha256=" + hmacSha256("k", bytes).toHex());
        std::unique_ptr<QNetworkReply> reply(m_nam.post(req, bytes));
        QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), 10000);
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    }

    void iteration(const QString &type, const QString &id, const QStringList &members)
    {
        QJsonObject it {{QStringLiteral("id"), id}, {QStringLiteral("name"), id}};
        if (!members.isEmpty())
            it.insert(QStringLiteral("members"), QJsonArray::fromStringList(members));
        post({{QStringLiteral("type"), type}, {QStringLiteral("iteration"), it}});
    }

    void artifact(const QString &tag)
    {
        post({{QStringLiteral("type"), QStringLiteral("artifact.published")},
              {QStringLiteral("artifact"),
               QJsonObject {{QStringLiteral("component"), QStringLiteral("web")},
                            {QStringLiteral("branch"), QStringLiteral("main")},
                            {QStringLiteral("tag"), tag}}}});
    }
};

QTEST_GUILESS_MAIN(TestDesktopStream)
#include "tst_desktopstream.moc"
