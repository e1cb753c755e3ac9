// The Slack adapter: request signing v0 with the published vector and its 5-minute window, the
// callbacks Slack documents (url_verification, slash command, block_actions, app_mention), the
// Block Kit deploy card against golden files, and a whole iteration against the fake Web API.
#include "im/slackadapter.h"
#include "imtestsupport.h"
#include "testutil/fakeimserver.h"

#include <QJsonArray>
#include <QNetworkAccessManager>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::im;
using namespace iterdeck::testing;

class TestImSlack : public QObject
{
    Q_OBJECT

    QNetworkAccessManager m_nam;

    static QJsonObject vector()
    {
        return QJsonDocument::fromJson(readFixture(QStringLiteral("webhooks/slack/signature-vector.json"))).object();
    }

    std::unique_ptr<SlackAdapter> adapter(const QByteArray &secret,
                                          const QUrl &base = QUrl(QStringLiteral("http://127.0.0.1:9")))
    {
        SlackAdapter::Settings s;
        s.apiBaseUrl = base;
        s.botToken = "xoxb-fake-token";
        s.signingSecret = secret;
        auto a = std::make_unique<SlackAdapter>(s, &m_nam);
        RetryPolicy p;
        p.backoffMs = 20;
        p.maxRetryAfterSeconds = 5;
        a->client()->setRetryPolicy(p);
        return a;
    }

    InboundRequest vectorRequest()
    {
        const QJsonObject v = vector();
        InboundRequest r;
        r.path = QStringLiteral("/hooks/slack");
        r.body = v.value(u"body").toString().toUtf8();
        r.setHeader("Content-Type", "application/x-www-form-urlencoded");
        r.setHeader("X-Slack-Request-Timestamp", v.value(u"timestamp").toString().toUtf8());
        r.setHeader("X-Slack-Signature", v.value(u"expected_signature").toString().toUtf8());
        return r;
    }

private Q_SLOTS:
    void verify_data()
    {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<qint64>("skew");
        QTest::addColumn<QString>("error");
        QTest::newRow("published vector") << QByteArray() << QByteArray() << QByteArray() << qint64(10) << QString();
        QTest::newRow("upper-case hex") << QByteArray(
            "x-slack-signature") << QByteArray("v0=A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503")
                                        << QByteArray() << qint64(0) << QString();
        QTest::newRow("body changed") << QByteArray() << QByteArray() << QByteArray("token=xyzz0WbapA4vBCDEFasx0q6G")
                                      << qint64(0) << "bad-signature: X-Slack-Signature does not match the request";
        QTest::newRow("wrong signature") << QByteArray(
            "x-slack-signature") << QByteArray("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504")
                                         << QByteArray() << qint64(0)
                                         << "bad-signature: X-Slack-Signature does not match the request";
        QTest::newRow("no signature") << QByteArray("x-slack-signature") << QByteArray() << QByteArray() << qint64(0)
                                      << "bad-signature: missing X-Slack-Signature header";
        QTest::newRow("no timestamp") << QByteArray("x-slack-request-timestamp") << QByteArray() << QByteArray()
                                      << qint64(0) << "bad-signature: missing X-Slack-Request-Timestamp header";
        QTest::newRow("timestamp not a number")
            << QByteArray("x-slack-request-timestamp") << QByteArray("15314206l8") << QByteArray() << qint64(0)
            << "bad-signature: X-Slack-Request-Timestamp is not a number of seconds";
        QTest::newRow("v1 signature") << QByteArray("x-slack-signature") << QByteArray("v1=abc") << QByteArray()
                                      << qint64(0) << "bad-signature: X-Slack-Signature is not a v0 signature";
        QTest::newRow("stale: 301 s later") << QByteArray() << QByteArray() << QByteArray() << qint64(301)
                                            << "stale-timestamp: X-Slack-Request-Timestamp is 301 s away from now; at "
                                               "most 300 s are accepted";
        QTest::newRow("from the future") << QByteArray() << QByteArray() << QByteArray() << qint64(-400)
                                         << "stale-timestamp: X-Slack-Request-Timestamp is 400 s away from now; at "
                                            "most 300 s are accepted";
        QTest::newRow("edge of window") << QByteArray() << QByteArray() << QByteArray() << qint64(300) << QString();
    }

    void verify()
    {
        QFETCH(QByteArray, header);
        QFETCH(QByteArray, value);
        QFETCH(QByteArray, body);
        QFETCH(qint64, skew);
        QFETCH(QString, error);
        const QJsonObject v = vector();
        auto a = adapter(v.value(u"signing_secret").toString().toUtf8());
        InboundRequest r = vectorRequest();
        if (!header.isEmpty())
            r.setHeader(header, value);
        if (!body.isEmpty())
            r.body = body;
        const auto now = QDateTime::fromSecsSinceEpoch(v.value(u"timestamp").toString().toLongLong() + skew, Qt::UTC);
        const auto result = a->verify(r, now);
        if (error.isEmpty()) {
            QVERIFY2(result.hasValue(), qPrintable(errorText(result)));
            QCOMPARE(result->payload, r.body);
        } else {
            QVERIFY(!result.hasValue());
            QCOMPARE(result.error().toString(), error);
            QCOMPARE(result.error().inboundStatus(), 401);
        }
    }

    void wrongSecret()
    {
        auto a = adapter("not-the-secret");
        const auto result = a->verify(vectorRequest(), QDateTime::fromSecsSinceEpoch(1531420618, Qt::UTC));
        QVERIFY(!result.hasValue());
        QCOMPARE(result.error().code, ImError::Code::BadSignature);
    }

    void parse_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("contentType");
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("detail"); // text, challenge answer, or the exact error
        const QByteArray form = "application/x-www-form-urlencoded";
        const QByteArray json = "application/json";
        QTest::newRow("url_verification fixture")
            << readFixture(QStringLiteral("webhooks/slack/url_verification.json")) << json
            << int(InboundEvent::Kind::UrlVerification)
            << R"({"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})";
        QTest::newRow("slash command fixture: another command")
            << readFixture(QStringLiteral("webhooks/slack/slash_command.form.txt")).trimmed() << form
            << int(InboundEvent::Kind::Ignored) << QString();
        QByteArray ours = readFixture(QStringLiteral("webhooks/slack/slash_command.form.txt")).trimmed();
        ours.replace("command=%2Fwebhook-collect&text=", "command=%2Fiterdeck&text=branch+api+feature%2Fpay");
        QTest::newRow("slash command /iterdeck")
            << ours << form << int(InboundEvent::Kind::Command) << QStringLiteral("branch api feature/pay");
        QTest::newRow("block_actions fixture: not ours")
            << QByteArray("payload="
                          + QUrl::toPercentEncoding(
                              QString::fromUtf8(readFixture(QStringLiteral("webhooks/slack/block_actions.json")))))
            << form << -1 << R"(malformed: block_actions value "click_me_123" is not an Iterdeck card action)";
        QByteArray mention = readFixture(QStringLiteral("webhooks/slack/event_callback.app_mention.txt"));
        QTest::newRow("app_mention as published (trailing comma)")
            << mention << json << -1
            << "malformed: the Slack event is not a JSON object: object is missing after a comma";
        mention.replace("\"is_enterprise_install\": false,", "\"is_enterprise_install\": false");
        QTest::newRow("app_mention") << mention << json << int(InboundEvent::Kind::Command)
                                     << QStringLiteral("MENTION");
        QTest::newRow("truncated JSON") << QByteArray("{\"type\":\"event_callback\",") << json << -1
                                        << "malformed: the Slack event is not a JSON object: unterminated object";
        QTest::newRow("event_callback without id")
            << QByteArray(R"({"type":"event_callback","event":{"type":"app_mention"}})") << json << -1
            << "malformed: event_callback without event_id";
        QTest::newRow("challenge missing") << QByteArray(R"({"type":"url_verification"})") << json << -1
                                           << "malformed: url_verification without a challenge";
        QTest::newRow("form without payload or command")
            << QByteArray("a=b") << form << -1 << R"(malformed: a Slack form callback without "payload" or "command")";
        QTest::newRow("payload not JSON")
            << QByteArray("payload=%7Bnope") << form << -1
            << "malformed: the Slack interaction payload is not a JSON object: unterminated object";
        QTest::newRow("xml") << QByteArray("<a/>") << QByteArray("text/xml") << -1
                             << R"(malformed: unexpected Content-Type "text/xml" for a Slack callback)";
        QTest::newRow("view_submission ignored") << QByteArray("payload=%7B%22type%22%3A%22view_submission%22%7D")
                                                 << form << int(InboundEvent::Kind::Ignored) << QString();
    }

    void parse()
    {
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, contentType);
        QFETCH(int, kind);
        QFETCH(QString, detail);
        FakeSlack fake;
        auto a = adapter(fake.signingSecret);
        const qint64 now = 1700000000;
        const auto event
            = a->receive(fake.callback(body, contentType, now), QDateTime::fromSecsSinceEpoch(now, Qt::UTC));
        if (kind < 0) {
            QVERIFY(!event.hasValue());
            QCOMPARE(event.error().toString(), detail);
            QCOMPARE(event.error().inboundStatus(), 400);
            return;
        }
        QVERIFY2(event.hasValue(), qPrintable(errorText(event)));
        QCOMPARE(int(event->kind), kind);
        if (event->kind == InboundEvent::Kind::UrlVerification)
            QCOMPARE(QString::fromUtf8(event->answer.body), detail);
        if (event->kind == InboundEvent::Kind::Command) {
            if (detail == u"MENTION") {
                QCOMPARE(event->userId, QStringLiteral("U061F7AUR"));
                QCOMPARE(event->chatId, QStringLiteral("C123ABC456"));
                QCOMPARE(event->text, QStringLiteral("is it everything a river should be?"));
                QCOMPARE(event->eventId, QStringLiteral("Ev123ABC456"));
            } else {
                QCOMPARE(event->text, detail);
                QCOMPARE(event->userId, QStringLiteral("U2CERLKJA"));
                QCOMPARE(event->chatId, QStringLiteral("G8PSS9T3V"));
                QVERIFY(event->replyToken.startsWith(u"https://hooks.slack.com/commands/"));
                // No event id: the trigger_id (unique per invocation) is the dedupe key.
                QCOMPARE(event->eventId, QStringLiteral("398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"));
            }
        }
    }

    void replayIgnored()
    {
        FakeSlack fake;
        auto a = adapter(fake.signingSecret);
        const auto now = QDateTime::fromSecsSinceEpoch(1700000000, Qt::UTC);
        const auto value = cardvalue::encode(CardAction::Kind::Confirm, QStringLiteral("card-7"));
        const InboundRequest r
            = fake.blockAction(QStringLiteral("C1"), QStringLiteral("U01ALICE"), QStringLiteral("1.2"),
                               QStringLiteral("idk_confirm"), *value, false, 1700000000);
        QVERIFY(a->receive(r, now).hasValue());
        const auto again = a->receive(r, now.addSecs(5));
        QVERIFY(!again.hasValue());
        QCOMPARE(again.error().code, ImError::Code::Replay);
        QCOMPARE(again.error().inboundStatus(), 200);
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
        const DeployCard card = sampleCard(DeployCard::State(state));
        QString diff;
        QVERIFY2(matchesGolden(QJsonDocument(SlackAdapter::renderCard(card)),
                               QStringLiteral("slack-") + stateName(DeployCard::State(state)), &diff),
                 qPrintable(diff));
    }

    void channelNames_data()
    {
        QTest::addColumn<QString>("in");
        QTest::addColumn<QString>("out");
        QTest::newRow("iteration") << "Shop: Sprint 42"
                                   << "shop-sprint-42";
        QTest::newRow("kept") << "a_b-c"
                              << "a_b-c";
        QTest::newRow("long") << QString(100, u'x') << QString(80, u'x');
        QTest::newRow("nothing left") << "!!!"
                                      << "";
    }

    void channelNames()
    {
        QFETCH(QString, in);
        QFETCH(QString, out);
        QCOMPARE(SlackAdapter::channelName(in), out);
    }

    void wholeIteration()
    {
        FakeSlack fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake.signingSecret, fake.apiUrl());
        // Group with members (one unknown to Slack).
        ImJob *job = a->createGroup({QStringLiteral("Shop Sprint 42"),
                                     QString(),
                                     {QStringLiteral("U01ALICE"), QStringLiteral("U02BOB"), QStringLiteral("U99GONE")},
                                     {}});
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString chat = job->result().chatId;
        QCOMPARE(fake.channels.value(chat).name, QStringLiteral("shop-sprint-42"));
        QCOMPARE(fake.channels.value(chat).members,
                 (QStringList {QStringLiteral("U01ALICE"), QStringLiteral("U02BOB")}));
        QCOMPARE(job->result().skipped, QStringList {QStringLiteral("U99GONE")});
        delete job;
        // Artifact notice.
        job = a->postMessage(chat, QStringLiteral("api: new build 1.5.0-pay.3 on feature/pay"));
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        // Deploy card.
        job = a->postCard(chat, sampleCard());
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        const QString ts = job->result().messageId;
        QVERIFY(fake.messages.contains(ts));
        delete job;
        // A selection and the confirmation come back, signed as Slack signs them.
        const QJsonArray blocks = fake.messages.value(ts).value(u"blocks").toArray();
        const QString optionValue = blocks[2]
                                        .toObject()
                                        .value(u"accessory")
                                        .toObject()
                                        .value(u"options")
                                        .toArray()[1]
                                        .toObject()
                                        .value(u"value")
                                        .toString();
        const qint64 t = QDateTime::currentSecsSinceEpoch();
        auto ev = a->receive(
            fake.blockAction(chat, QStringLiteral("U01ALICE"), ts, QStringLiteral("idk_select"), optionValue, true, t),
            QDateTime::currentDateTimeUtc());
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(ev->kind, InboundEvent::Kind::CardAction);
        QCOMPARE(ev->action.kind, CardAction::Kind::Select);
        QCOMPARE(ev->action.cardId, QStringLiteral("card-7"));
        QCOMPARE(ev->action.selections,
                 (QList<CardSelection> {
                     {QStringLiteral("api"), QStringLiteral("feature/pay"), QStringLiteral("sha256:bb22")}}));
        QCOMPARE(ev->messageId, ts);
        const QString confirm
            = blocks.last().toObject().value(u"elements").toArray()[0].toObject().value(u"value").toString();
        ev = a->receive(
            fake.blockAction(chat, QStringLiteral("U01ALICE"), ts, QStringLiteral("idk_confirm"), confirm, false, t),
            QDateTime::currentDateTimeUtc());
        QVERIFY(ev.hasValue());
        QCOMPARE(ev->action.kind, CardAction::Kind::Confirm);
        // The card follows the deploy: first through the click's response_url, then chat.update.
        const QString responsePath = QUrl(ev->replyToken).path();
        job = a->updateCard(chat, ts, ev->replyToken, sampleCard(DeployCard::State::Deploying));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(job->result().messageId, ts);
        QCOMPARE(fake.messages.value(ts).value(u"blocks").toArray(),
                 SlackAdapter::renderCard(sampleCard(DeployCard::State::Deploying)));
        QCOMPARE(fake.messages.value(ts).value(u"channel").toString(), chat);
        delete job;
        job = a->updateCard(chat, ts, {}, sampleCard(DeployCard::State::Succeeded));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.messages.value(ts).value(u"blocks").toArray(),
                 SlackAdapter::renderCard(sampleCard(DeployCard::State::Succeeded)));
        QCOMPARE(fake.updates.size(), qsizetype(2));
        delete job;
        // A member leaves; the iteration ends.
        job = a->removeMembers(chat, {QStringLiteral("U02BOB")});
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        job = a->closeGroup(chat, {QStringLiteral("U01ALICE")});
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        QCOMPARE(job->result().note, QStringLiteral("archived"));
        QVERIFY(fake.channels.value(chat).archived);
        delete job;
        QCOMPARE(fake.paths(),
                 (QStringList {QStringLiteral("POST /api/conversations.create"),
                               QStringLiteral("POST /api/conversations.invite"),
                               QStringLiteral("POST /api/chat.postMessage"),
                               QStringLiteral("POST /api/chat.postMessage"), QStringLiteral("POST ") + responsePath,
                               QStringLiteral("POST /api/chat.update"), QStringLiteral("POST /api/conversations.kick"),
                               QStringLiteral("POST /api/conversations.archive")}));
        QCOMPARE(fake.shapeErrors(), QStringList());
        // Archived: Slack refuses further posts.
        job = a->postMessage(chat, QStringLiteral("late"));
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().toString(), QStringLiteral("platform: Slack error \"is_archived\" (HTTP 200)"));
        delete job;
    }

    void rateLimit_data()
    {
        QTest::addColumn<QByteArray>("retryAfter");
        QTest::addColumn<QString>("error");
        QTest::addColumn<int>("calls");
        QTest::newRow("retried after 1 s") << QByteArray("1") << QString() << 2;
        QTest::newRow("too long to wait")
            << QByteArray("120") << "rate-limited: /chat.postMessage is rate limited; retry after 120 s (HTTP 429)"
            << 1;
    }

    void rateLimit()
    {
        QFETCH(QByteArray, retryAfter);
        QFETCH(QString, error);
        QFETCH(int, calls);
        FakeSlack fake;
        QVERIFY(fake.listen());
        fake.channels.insert(QStringLiteral("C1"), {QStringLiteral("x"), {}, false});
        fake.injectOnce(QStringLiteral("/api/chat.postMessage"),
                        FakeResponse::json(
                            429,
                            {{QStringLiteral("ok"), false}, {QStringLiteral("error"), QStringLiteral("ratelimited")}},
                            {{"retry-after", retryAfter}}));
        auto a = adapter(fake.signingSecret, fake.apiUrl());
        QElapsedTimer timer;
        timer.start();
        ImJob *job = a->postMessage(QStringLiteral("C1"), QStringLiteral("hello"));
        QVERIFY(waitJob(job));
        QCOMPARE(job->hasError() ? job->error().toString() : QString(), error);
        QCOMPARE(fake.count(QStringLiteral("/api/chat.postMessage")), calls);
        if (error.isEmpty())
            QVERIFY(timer.elapsed() >= 1000);
        else
            QCOMPARE(job->error().retryAfterSeconds, 120);
        delete job;
    }

    void badToken()
    {
        FakeSlack fake;
        QVERIFY(fake.listen());
        fake.botToken = "xoxb-other";
        auto a = adapter(fake.signingSecret, fake.apiUrl());
        ImJob *job = a->postMessage(QStringLiteral("C1"), QStringLiteral("hello"));
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().code, ImError::Code::Auth);
        QCOMPARE(job->error().toString(), QStringLiteral("auth: Slack error \"invalid_auth\" (HTTP 200)"));
        delete job;
    }

    void memberChangesOneAtATime()
    {
        FakeSlack fake;
        QVERIFY(fake.listen());
        fake.channels.insert(QStringLiteral("C1"), {QStringLiteral("x"), {}, false});
        fake.setDelay(QStringLiteral("/api/conversations.invite"), 50);
        auto a = adapter(fake.signingSecret, fake.apiUrl());
        ImJob *one = a->addMembers(QStringLiteral("C1"), {QStringLiteral("U01ALICE")});
        ImJob *two = a->addMembers(QStringLiteral("C1"), {QStringLiteral("U02BOB")});
        QVERIFY(waitJob(one));
        QVERIFY(waitJob(two));
        QVERIFY(!one->hasError() && !two->hasError());
        QCOMPARE(fake.overlaps(), 0);
        QCOMPARE(fake.channels.value(QStringLiteral("C1")).members.size(), 2);
        delete one;
        delete two;
    }

    void unreachable()
    {
        auto a = adapter("s", QUrl(QStringLiteral("http://127.0.0.1:1/api")));
        ImJob *job = a->postMessage(QStringLiteral("C1"), QStringLiteral("hello"));
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().code, ImError::Code::Network);
        delete job;
    }
};

QTEST_GUILESS_MAIN(TestImSlack)
#include "tst_imslack.moc"
