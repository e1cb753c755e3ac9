// The Feishu/Lark adapter: the documented AES vector ("test key" / "hello world"), the SHA-256
// signature over timestamp + nonce + Encrypt Key + body, the Verification Token, url_verification,
// message and card callbacks, the interactive card against golden files, tenant token refresh,
// 429 with x-ogw-ratelimit-reset, error 232019 avoided by serialised member changes, and a whole
// iteration against the fake open platform.
#include "im/crypto.h"
#include "im/feishuadapter.h"
#include "imtestsupport.h"
#include "testutil/fakeimserver.h"

#include <QJsonArray>
#include <QNetworkAccessManager>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::im;
using namespace iterdeck::testing;

class TestImFeishu : public QObject
{
    Q_OBJECT

    QNetworkAccessManager m_nam;

    std::unique_ptr<FeishuAdapter> adapter(const FakeFeishu &fake,
                                           const QUrl &base = QUrl(QStringLiteral("http://127.0.0.1:9")),
                                           bool withToken = true, bool withKey = true)
    {
        FeishuAdapter::Settings s;
        s.apiBaseUrl = base;
        s.appId = fake.appId;
        s.appSecret = fake.appSecret;
        if (withKey)
            s.encryptKey = fake.encryptKey;
        if (withToken)
            s.verificationToken = fake.verificationToken;
        auto a = std::make_unique<FeishuAdapter>(s, &m_nam);
        RetryPolicy p;
        p.backoffMs = 20;
        p.maxRetryAfterSeconds = 5;
        a->client()->setRetryPolicy(p);
        return a;
    }

    static QJsonObject event(const QString &type, const QString &id, const QJsonObject &body, const QString &token)
    {
        return {{QStringLiteral("schema"), QStringLiteral("2.0")},
                {QStringLiteral("header"),
                 QJsonObject {{QStringLiteral("event_id"), id},
                              {QStringLiteral("event_type"), type},
                              {QStringLiteral("create_time"), QStringLiteral("1700000000000")},
                              {QStringLiteral("token"), token},
                              {QStringLiteral("app_id"), QStringLiteral("cli_fake")},
                              {QStringLiteral("tenant_key"), QStringLiteral("tk")}}},
                {QStringLiteral("event"), body}};
    }

    static QJsonObject messageEvent(const QString &text, const QString &token,
                                    const QString &id = QStringLiteral("ev-msg-1"))
    {
        return event(QStringLiteral("im.message.receive_v1"), id,
                     {{QStringLiteral("sender"),
                       QJsonObject {{QStringLiteral("sender_id"),
                                     QJsonObject {{QStringLiteral("open_id"), QStringLiteral("ou_alice")}}},
                                    {QStringLiteral("sender_type"), QStringLiteral("user")}}},
                      {QStringLiteral("message"),
                       QJsonObject {{QStringLiteral("message_id"), QStringLiteral("om_1")},
                                    {QStringLiteral("chat_id"), QStringLiteral("oc_1")},
                                    {QStringLiteral("chat_type"), QStringLiteral("group")},
                                    {QStringLiteral("message_type"), QStringLiteral("text")},
                                    {QStringLiteral("content"),
                                     QString::fromUtf8(QJsonDocument(QJsonObject {{QStringLiteral("text"), text}})
                                                           .toJson(QJsonDocument::Compact))}}}},
                     token);
    }

    static QJsonObject cardEvent(const QJsonObject &action, const QString &token, const QString &messageId,
                                 const QString &id = QStringLiteral("ev-card-1"))
    {
        return event(
            QStringLiteral("card.action.trigger"), id,
            {{QStringLiteral("operator"), QJsonObject {{QStringLiteral("open_id"), QStringLiteral("ou_alice")}}},
             {QStringLiteral("token"), QStringLiteral("c-delayed-token")},
             {QStringLiteral("action"), action},
             {QStringLiteral("context"),
              QJsonObject {{QStringLiteral("open_message_id"), messageId},
                           {QStringLiteral("open_chat_id"), QStringLiteral("oc_1")}}}},
            token);
    }

private Q_SLOTS:
    void documentedDecryptVector()
    {
        // open.feishu.cn "Encrypt Key" guide: key "test key", ciphertext below, plaintext "hello world".
        const QByteArray enc = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";
        QCOMPARE(FeishuAdapter::decrypt("test key", enc).value_or(QByteArray("<none>")), QByteArray("hello world"));
        QVERIFY(!FeishuAdapter::decrypt("other key", enc).has_value()
                || *FeishuAdapter::decrypt("other key", enc) != "hello world");
        QVERIFY(!FeishuAdapter::decrypt("test key", "AAAA").has_value());
        QVERIFY(!FeishuAdapter::decrypt("test key", "not base64 !").has_value());
    }

    void verify_data()
    {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<qint64>("skew");
        QTest::addColumn<QString>("error");
        QTest::newRow("signed and encrypted") << QByteArray() << QByteArray() << qint64(0) << QString();
        QTest::newRow("wrong signature") << QByteArray("x-lark-signature") << QByteArray(64, 'a') << qint64(0)
                                         << "bad-signature: X-Lark-Signature does not match the request";
        QTest::newRow("nonce changed") << QByteArray("x-lark-request-nonce") << QByteArray("other") << qint64(0)
                                       << "bad-signature: X-Lark-Signature does not match the request";
        QTest::newRow("timestamp not a number")
            << QByteArray("x-lark-request-timestamp") << QByteArray("soon") << qint64(0)
            << "bad-signature: X-Lark-Request-Timestamp is not a number of seconds";
        QTest::newRow("stale") << QByteArray() << QByteArray() << qint64(900)
                               << "stale-timestamp: X-Lark-Request-Timestamp is 900 s away from now; at most 300 s are "
                                  "accepted";
    }

    void verify()
    {
        QFETCH(QByteArray, header);
        QFETCH(QByteArray, value);
        QFETCH(qint64, skew);
        QFETCH(QString, error);
        FakeFeishu fake;
        auto a = adapter(fake);
        InboundRequest r = fake.callback(
            messageEvent(QStringLiteral("@_user_1 deploy"), QString::fromUtf8(fake.verificationToken)), 1700000000);
        if (!header.isEmpty())
            r.setHeader(header, value);
        const auto v = a->verify(r, QDateTime::fromSecsSinceEpoch(1700000000 + skew, Qt::UTC));
        QCOMPARE(errorText(v), error);
        if (!error.isEmpty())
            QCOMPARE(v.error().inboundStatus(), 401);
    }

    void inbound_data()
    {
        QTest::addColumn<QByteArray>("body"); // clear JSON
        QTest::addColumn<bool>("encrypt");
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("detail");
        const QString token = QStringLiteral("fake-verification-token");
        auto j = [](const QJsonObject &o) { return QJsonDocument(o).toJson(QJsonDocument::Compact); };
        const QJsonObject challenge {{QStringLiteral("challenge"), QStringLiteral("ajls384kdjx98XX")},
                                     {QStringLiteral("token"), token},
                                     {QStringLiteral("type"), QStringLiteral("url_verification")}};
        QTest::newRow("url_verification, encrypted")
            << j(challenge) << true << int(InboundEvent::Kind::UrlVerification) << R"({"challenge":"ajls384kdjx98XX"})";
        QTest::newRow("url_verification, plain") << j(challenge) << false << int(InboundEvent::Kind::UrlVerification)
                                                 << R"({"challenge":"ajls384kdjx98XX"})";
        QJsonObject badChallenge = challenge;
        badChallenge.insert(QStringLiteral("token"), QStringLiteral("guess"));
        QTest::newRow("url_verification, wrong token")
            << j(badChallenge) << false << -401 << "bad-signature: the Verification Token does not match";
        QTest::newRow("message") << j(messageEvent(QStringLiteral("@_user_1 deploy api"), token)) << true
                                 << int(InboundEvent::Kind::Command) << QStringLiteral("deploy api");
        QTest::newRow("message, plain with token") << j(messageEvent(QStringLiteral("@_user_1 status"), token)) << false
                                                   << int(InboundEvent::Kind::Command) << QStringLiteral("status");
        QTest::newRow("message, plain, wrong token")
            << j(messageEvent(QStringLiteral("x"), QStringLiteral("nope"))) << false << -401
            << "bad-signature: the Verification Token does not match";
        const auto confirm = cardvalue::encode(CardAction::Kind::Confirm, QStringLiteral("card-7"));
        QTest::newRow("card confirm") << j(
            cardEvent({{QStringLiteral("tag"), QStringLiteral("button")},
                       {QStringLiteral("value"), QJsonObject {{QStringLiteral("idk"), *confirm}}}},
                      token, QStringLiteral("om_card")))
                                      << true << int(InboundEvent::Kind::CardAction) << QStringLiteral("confirm");
        QTest::newRow("card action not ours")
            << j(cardEvent({{QStringLiteral("tag"), QStringLiteral("button")},
                            {QStringLiteral("value"), QJsonObject {{QStringLiteral("key"), QStringLiteral("v")}}}},
                           token, QStringLiteral("om_card")))
            << true << -400 << R"(malformed: card action value "" is not an Iterdeck card action)";
        QTest::newRow("other event") << j(
            event(QStringLiteral("im.chat.disbanded_v1"), QStringLiteral("e9"), {}, token))
                                     << true << int(InboundEvent::Kind::Ignored) << QString();
        QTest::newRow("2.0 without event id")
            << j(event(QStringLiteral("im.message.receive_v1"), QString(), {}, token)) << true << -400
            << "malformed: a 2.0 event without header.event_id or header.event_type";
        QTest::newRow("not JSON inside")
            << QByteArray("[1,2") << true << -400
            << "malformed: the decrypted Feishu callback is not a JSON object: invalid termination by number";
    }

    void inbound()
    {
        QFETCH(QByteArray, body);
        QFETCH(bool, encrypt);
        QFETCH(int, kind);
        QFETCH(QString, detail);
        FakeFeishu fake;
        auto a = adapter(fake, QUrl(QStringLiteral("http://127.0.0.1:9")), true, encrypt);
        InboundRequest r;
        if (encrypt) {
            // Encrypt the raw bytes (they may not be JSON) the way Feishu does.
            r = fake.callback(QJsonObject(), 1700000000);
            const QByteArray iv(16, '\x07');
            const QByteArray enc = iv + *crypto::aes256CbcEncrypt(crypto::sha256(fake.encryptKey), iv, body);
            r.body = QJsonDocument(QJsonObject {{QStringLiteral("encrypt"), QString::fromLatin1(enc.toBase64())}})
                         .toJson(QJsonDocument::Compact);
            const QByteArray ts = "1700000000";
            r.setHeader("X-Lark-Signature", crypto::sha256(ts + "nonce-1" + fake.encryptKey + r.body).toHex());
        } else {
            r.body = body;
        }
        const auto ev = a->receive(r, QDateTime::fromSecsSinceEpoch(1700000000, Qt::UTC));
        if (kind < 0) {
            QCOMPARE(errorText(ev), detail);
            QCOMPARE(ev.error().inboundStatus(), -kind);
            return;
        }
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(int(ev->kind), kind);
        if (ev->kind == InboundEvent::Kind::UrlVerification)
            QCOMPARE(QString::fromUtf8(ev->answer.body), detail);
        if (ev->kind == InboundEvent::Kind::Command) {
            QCOMPARE(ev->text, detail);
            QCOMPARE(ev->userId, QStringLiteral("ou_alice"));
            QCOMPARE(ev->chatId, QStringLiteral("oc_1"));
        }
        if (ev->kind == InboundEvent::Kind::CardAction) {
            QCOMPARE(ev->action.kind, CardAction::Kind::Confirm);
            QCOMPARE(ev->messageId, QStringLiteral("om_card"));
            QCOMPARE(ev->replyToken, QStringLiteral("c-delayed-token"));
            QVERIFY(ev->answer.body.contains("toast"));
        }
    }

    void unencryptedRefusedWhenKeySet()
    {
        FakeFeishu fake;
        auto a = adapter(fake);
        InboundRequest r;
        r.body = QJsonDocument(messageEvent(QStringLiteral("x"), QString::fromUtf8(fake.verificationToken))).toJson();
        const auto v = a->verify(r, QDateTime::fromSecsSinceEpoch(1700000000, Qt::UTC));
        QCOMPARE(errorText(v),
                 QStringLiteral("bad-signature: the callback is not encrypted, but an Encrypt Key is set"));
    }

    void replayIgnored()
    {
        FakeFeishu fake;
        auto a = adapter(fake);
        const auto now = QDateTime::fromSecsSinceEpoch(1700000000, Qt::UTC);
        const QJsonObject e = messageEvent(QStringLiteral("status"), QString::fromUtf8(fake.verificationToken));
        QVERIFY(a->receive(fake.callback(e, 1700000000), now).hasValue());
        // Feishu retries with the same event_id and fresh signature headers.
        const auto again = a->receive(fake.callback(e, 1700000030, "nonce-2"), now.addSecs(30));
        QCOMPARE(errorText(again), QStringLiteral("replay: feishu callback ev-msg-1 was delivered before; ignored"));
    }

    void cardGolden_data()
    {
        QTest::addColumn<int>("state");
        for (auto s : {DeployCard::State::Choosing, DeployCard::State::Deploying, DeployCard::State::Succeeded,
                       DeployCard::State::Failed})
            QTest::newRow(qPrintable(stateName(s))) << int(s);
    }

    void cardGolden()
    {
        QFETCH(int, state);
        QString diff;
        QVERIFY2(matchesGolden(QJsonDocument(FeishuAdapter::renderCard(sampleCard(DeployCard::State(state)))),
                               QStringLiteral("feishu-") + stateName(DeployCard::State(state)), &diff),
                 qPrintable(diff));
    }

    void wholeIteration()
    {
        FakeFeishu fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url());
        ImJob *job = a->createGroup({QStringLiteral("Shop · Sprint 42"),
                                     QStringLiteral("iteration group"),
                                     {QStringLiteral("ou_alice"), QStringLiteral("ou_bob"), QStringLiteral("ou_ghost")},
                                     {}});
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString chat = job->result().chatId;
        QCOMPARE(fake.chats.value(chat).members, (QStringList {QStringLiteral("ou_alice"), QStringLiteral("ou_bob")}));
        QCOMPARE(job->result().skipped, QStringList {QStringLiteral("ou_ghost")});
        delete job;
        job = a->postMessage(chat, QStringLiteral("api: new build 1.5.0-pay.3"));
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        job = a->postCard(chat, sampleCard());
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString messageId = job->result().messageId;
        QCOMPARE(fake.messages.value(messageId).value(u"content").toObject(), FeishuAdapter::renderCard(sampleCard()));
        delete job;
        // The user picks a branch in the select, then confirms.
        const QJsonArray elements
            = fake.messages.value(messageId).value(u"content").toObject().value(u"elements").toArray();
        const QString option = elements[2]
                                   .toObject()
                                   .value(u"actions")
                                   .toArray()[0]
                                   .toObject()
                                   .value(u"options")
                                   .toArray()[1]
                                   .toObject()
                                   .value(u"value")
                                   .toString();
        const qint64 t = QDateTime::currentSecsSinceEpoch();
        auto ev = a->receive(
            fake.callback(cardEvent({{QStringLiteral("tag"), QStringLiteral("select_static")},
                                     {QStringLiteral("option"), option},
                                     {QStringLiteral("value"),
                                      QJsonObject {{QStringLiteral("component"), QStringLiteral("api")}}}},
                                    QString::fromUtf8(fake.verificationToken), messageId, QStringLiteral("ev-sel")),
                          t),
            QDateTime::currentDateTimeUtc());
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(ev->action.kind, CardAction::Kind::Select);
        QCOMPARE(ev->action.selections.value(0).branch, QStringLiteral("feature/pay"));
        const QString confirm = elements.last()
                                    .toObject()
                                    .value(u"actions")
                                    .toArray()[0]
                                    .toObject()
                                    .value(u"value")
                                    .toObject()
                                    .value(u"idk")
                                    .toString();
        ev = a->receive(
            fake.callback(cardEvent({{QStringLiteral("tag"), QStringLiteral("button")},
                                     {QStringLiteral("value"), QJsonObject {{QStringLiteral("idk"), confirm}}}},
                                    QString::fromUtf8(fake.verificationToken), messageId, QStringLiteral("ev-ok")),
                          t),
            QDateTime::currentDateTimeUtc());
        QVERIFY(ev.hasValue());
        QCOMPARE(ev->action.kind, CardAction::Kind::Confirm);
        // The token expires meanwhile: the adapter fetches a new one and goes on.
        fake.expireTokens();
        job = a->updateCard(chat, ev->messageId, ev->replyToken, sampleCard(DeployCard::State::Deploying));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.tokensIssued, 2);
        QCOMPARE(fake.messages.value(messageId).value(u"content").toObject(),
                 FeishuAdapter::renderCard(sampleCard(DeployCard::State::Deploying)));
        delete job;
        job = a->removeMembers(chat, {QStringLiteral("ou_bob")});
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        job = a->closeGroup(chat, {});
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        QCOMPARE(job->result().note, QStringLiteral("disbanded"));
        QVERIFY(!fake.chats.contains(chat));
        delete job;
        QCOMPARE(fake.paths(),
                 (QStringList {QStringLiteral("POST /open-apis/auth/v3/tenant_access_token/internal"),
                               QStringLiteral("POST /open-apis/im/v1/chats"),
                               QStringLiteral("POST /open-apis/im/v1/messages"),
                               QStringLiteral("POST /open-apis/im/v1/messages"),
                               QStringLiteral("PATCH /open-apis/im/v1/messages/") + messageId,
                               QStringLiteral("POST /open-apis/auth/v3/tenant_access_token/internal"),
                               QStringLiteral("PATCH /open-apis/im/v1/messages/") + messageId,
                               QStringLiteral("DELETE /open-apis/im/v1/chats/") + chat + QStringLiteral("/members"),
                               QStringLiteral("DELETE /open-apis/im/v1/chats/") + chat}));
        QCOMPARE(fake.shapeErrors(), QStringList());
    }

    void rateLimited()
    {
        FakeFeishu fake;
        QVERIFY(fake.listen());
        fake.chats.insert(QStringLiteral("oc_1"), {QStringLiteral("x"), {}});
        fake.injectOnce(QStringLiteral("/open-apis/im/v1/messages"),
                        FakeResponse::json(429,
                                           {{QStringLiteral("code"), 99991400},
                                            {QStringLiteral("msg"), QStringLiteral("request trigger frequency limit")}},
                                           {{"x-ogw-ratelimit-reset", "1"}}));
        auto a = adapter(fake, fake.url());
        QElapsedTimer timer;
        timer.start();
        ImJob *job = a->postMessage(QStringLiteral("oc_1"), QStringLiteral("hi"));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QVERIFY(timer.elapsed() >= 1000);
        QCOMPARE(fake.count(QStringLiteral("/open-apis/im/v1/messages")), 2);
        delete job;
    }

    void memberChangesSerialised()
    {
        FakeFeishu fake;
        QVERIFY(fake.listen());
        fake.chats.insert(QStringLiteral("oc_1"), {QStringLiteral("x"), {}});
        fake.setDelay(QStringLiteral("/open-apis/im/v1/chats/oc_1/members"), 60);
        auto a = adapter(fake, fake.url());
        ImJob *add = a->addMembers(QStringLiteral("oc_1"), {QStringLiteral("ou_alice"), QStringLiteral("ou_bob")});
        ImJob *remove = a->removeMembers(QStringLiteral("oc_1"), {QStringLiteral("ou_bob")});
        ImJob *add2 = a->addMembers(QStringLiteral("oc_1"), {QStringLiteral("ou_carol")});
        for (ImJob *j : {add, remove, add2}) {
            QVERIFY(waitJob(j));
            QVERIFY2(!j->hasError(), qPrintable(j->error().toString()));
        }
        QCOMPARE(fake.overlaps(), 0);
        QCOMPARE(fake.chats.value(QStringLiteral("oc_1")).members,
                 (QStringList {QStringLiteral("ou_alice"), QStringLiteral("ou_carol")}));
        delete add;
        delete remove;
        delete add2;
    }

    void badAppSecret()
    {
        FakeFeishu fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url());
        fake.appSecret = "rotated";
        ImJob *job = a->postMessage(QStringLiteral("oc_1"), QStringLiteral("hi"));
        QVERIFY(waitJob(job));
        QCOMPARE(
            job->error().toString(),
            QStringLiteral(
                "auth: getting the tenant access token failed: Feishu error 10014: app secret invalid (HTTP 200)"));
        delete job;
    }

    void errorsAsDocumented()
    {
        FakeFeishu fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url());
        ImJob *job = a->closeGroup(QStringLiteral("oc_missing"), {});
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().toString(), QStringLiteral("platform: Feishu error 232011: chat not found (HTTP 400)"));
        QCOMPARE(job->error().platformCode, QStringLiteral("232011"));
        delete job;
    }
};

QTEST_GUILESS_MAIN(TestImFeishu)
#include "tst_imfeishu.moc"
