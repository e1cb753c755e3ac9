// The DingTalk adapter: robot callback signatures (HMAC-SHA256 over "timestamp\nappSecret",
// one-hour window) on the published robot messages, the markdown deploy card against golden
// files, access token refresh, and a whole iteration against the fake oapi/api servers.
#include "im/dingtalkadapter.h"
#include "imtestsupport.h"
#include "testutil/fakeimserver.h"

#include <QJsonArray>
#include <QNetworkAccessManager>
#include <QRegularExpression>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::im;
using namespace iterdeck::testing;

class TestImDingTalk : public QObject
{
    Q_OBJECT

    QNetworkAccessManager m_nam;

    std::unique_ptr<DingTalkAdapter> adapter(const FakeDingTalk &fake,
                                             const QUrl &base = QUrl(QStringLiteral("http://127.0.0.1:9")),
                                             const QString &templateId = QStringLiteral("tpl-iteration"),
                                             const QString &cardTemplateId = {})
    {
        DingTalkAdapter::Settings s;
        s.apiBaseUrl = base;
        s.newApiBaseUrl = base;
        s.appKey = fake.appKey;
        s.appSecret = fake.appSecret;
        s.templateId = templateId;
        s.cardTemplateId = cardTemplateId;
        auto a = std::make_unique<DingTalkAdapter>(s, &m_nam);
        RetryPolicy p;
        p.backoffMs = 20;
        p.maxRetryAfterSeconds = 5;
        a->client()->setRetryPolicy(p);
        return a;
    }

    static QJsonObject fixture(const QString &type)
    {
        return QJsonDocument::fromJson(readFixture(QStringLiteral("webhooks/dingtalk/robot_message.%1.json").arg(type)))
            .object();
    }

private Q_SLOTS:
    void signature()
    {
        // sign = Base64(HMAC-SHA256(key = appSecret, "timestamp\nappSecret")); checked with OpenSSL's CLI:
        // printf '1695283635765\nfake-app-secret' | openssl dgst -sha256 -hmac fake-app-secret -binary | base64
        QCOMPARE(DingTalkAdapter::sign("1695283635765", "fake-app-secret"),
                 QByteArray("HzrC75n7UuZm4xp9CmfF0lE4CBPQilG3I3T/eWqfSew="));
    }

    void fixtures_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<int>("kind");
        QTest::newRow("text") << "text" << int(InboundEvent::Kind::Command);
        for (const char *t : {"picture", "video", "audio", "file", "richText", "unknown"})
            QTest::newRow(t) << QString::fromLatin1(t) << int(InboundEvent::Kind::Ignored);
    }

    void fixtures()
    {
        QFETCH(QString, type);
        QFETCH(int, kind);
        FakeDingTalk fake;
        auto a = adapter(fake);
        const QJsonObject body = fixture(type);
        const qint64 ts = qint64(body.value(u"createAt").toDouble());
        const auto ev = a->receive(fake.callback(body, ts), QDateTime::fromMSecsSinceEpoch(ts + 2000, Qt::UTC));
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(int(ev->kind), kind);
        QCOMPARE(ev->eventId, body.value(u"msgId").toString());
        QCOMPARE(ev->chatId, body.value(u"conversationId").toString());
        QCOMPARE(ev->userId, body.value(u"senderStaffId").toString());
        QCOMPARE(ev->replyToken, body.value(u"sessionWebhook").toString());
        if (ev->kind == InboundEvent::Kind::Command)
            QCOMPARE(ev->text, QStringLiteral("hello DingTalk!"));
    }

    void verify_data()
    {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<qint64>("skewMs");
        QTest::addColumn<QString>("error");
        QTest::newRow("good") << QByteArray() << QByteArray() << qint64(0) << QString();
        QTest::newRow("59 min late") << QByteArray() << QByteArray() << qint64(59 * 60000) << QString();
        QTest::newRow("61 min late")
            << QByteArray() << QByteArray() << qint64(61 * 60000)
            << "stale-timestamp: the timestamp header is 3660 s away from now; at most 3600 s are accepted";
        QTest::newRow("wrong sign") << QByteArray("sign") << QByteArray("bm90IGl0") << qint64(0)
                                    << "bad-signature: the sign header does not match";
        QTest::newRow("no sign") << QByteArray("sign") << QByteArray() << qint64(0)
                                 << "bad-signature: missing timestamp or sign header";
        QTest::newRow("timestamp changed") << QByteArray("timestamp") << QByteArray("1695283635766") << qint64(0)
                                           << "bad-signature: the sign header does not match";
        QTest::newRow("timestamp garbage") << QByteArray("timestamp") << QByteArray("16952836357x5") << qint64(0)
                                           << "bad-signature: the timestamp header is not a number of milliseconds";
    }

    void verify()
    {
        QFETCH(QByteArray, header);
        QFETCH(QByteArray, value);
        QFETCH(qint64, skewMs);
        QFETCH(QString, error);
        FakeDingTalk fake;
        auto a = adapter(fake);
        InboundRequest r = fake.callback(fixture(QStringLiteral("text")), 1695283635765);
        if (!header.isEmpty())
            r.setHeader(header, value);
        const auto v = a->verify(r, QDateTime::fromMSecsSinceEpoch(1695283635765 + skewMs, Qt::UTC));
        QCOMPARE(errorText(v), error);
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QString>("error");
        QTest::newRow("not JSON") << QByteArray("msgtype=text")
                                  << "malformed: the DingTalk callback is not a JSON object: illegal value";
        QTest::newRow("no ids") << QByteArray(R"({"msgtype":"text","text":{"content":"hi"}})")
                                << "malformed: the DingTalk callback has no msgId or conversationId";
        QTest::newRow("card value broken")
            << QByteArray(R"({"msgId":"m","conversationId":"c","msgtype":"text","text":{"content":"idk1|q|x"}})")
            << R"(malformed: "idk1|q|x" is not an Iterdeck card action)";
    }

    void malformed()
    {
        QFETCH(QByteArray, body);
        QFETCH(QString, error);
        FakeDingTalk fake;
        auto a = adapter(fake);
        InboundRequest r = fake.callback({}, 1700000000000);
        r.body = body;
        const auto ev = a->receive(r, QDateTime::fromMSecsSinceEpoch(1700000000000, Qt::UTC));
        QCOMPARE(errorText(ev), error);
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
        QVERIFY2(matchesGolden(QJsonDocument(DingTalkAdapter::renderCard(sampleCard(DeployCard::State(state)))),
                               QStringLiteral("dingtalk-") + stateName(DeployCard::State(state)), &diff),
                 qPrintable(diff));
    }

    void wholeIteration()
    {
        FakeDingTalk fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url());
        ImJob *job = a->createGroup(
            {QStringLiteral("Shop Sprint 42"), {}, {QStringLiteral("alice"), QStringLiteral("bob")}, {}});
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString chat = job->result().chatId;
        QCOMPARE(fake.groups.value(chat).owner, QStringLiteral("alice"));
        QCOMPARE(fake.groups.value(chat).members, (QStringList {QStringLiteral("alice"), QStringLiteral("bob")}));
        delete job;
        job = a->addMembers(chat, {QStringLiteral("carol")});
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        job = a->postMessage(chat, QStringLiteral("api: new build 1.5.0-pay.3"));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        delete job;
        job = a->postCard(chat, sampleCard());
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        // The user taps a link in the card: DingTalk sends its text to the robot as the user's message.
        const QString md = fake.robotMessages.last().value(u"msgParam").toObject().value(u"text").toString();
        static const QRegularExpression link(QStringLiteral("content=([^)]+)\\)"));
        const auto m = link.match(md, md.indexOf(u"feature/pay"));
        QVERIFY(m.hasMatch());
        const QString sent = QUrl::fromPercentEncoding(m.captured(1).toLatin1());
        QJsonObject msg = fixture(QStringLiteral("text"));
        msg.insert(QStringLiteral("conversationId"), chat);
        msg.insert(QStringLiteral("senderStaffId"), QStringLiteral("alice"));
        msg.insert(QStringLiteral("text"), QJsonObject {{QStringLiteral("content"), sent}});
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        const auto ev = a->receive(fake.callback(msg, now), QDateTime::currentDateTimeUtc());
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(ev->kind, InboundEvent::Kind::CardAction);
        QCOMPARE(ev->action.kind, CardAction::Kind::Confirm);
        QCOMPARE(ev->action.selections,
                 (QList<CardSelection> {
                     {QStringLiteral("api"), QStringLiteral("feature/pay"), QStringLiteral("sha256:bb22")}}));
        fake.expireTokens();
        job = a->updateCard(chat, {}, ev->replyToken, sampleCard(DeployCard::State::Succeeded));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.robotMessages.last().value(u"msgParam").toObject(),
                 DingTalkAdapter::renderCard(sampleCard(DeployCard::State::Succeeded)));
        QCOMPARE(fake.tokensIssued, 2);
        delete job;
        job = a->closeGroup(chat, {QStringLiteral("bob"), QStringLiteral("carol")});
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.groups.value(chat).members, QStringList {QStringLiteral("alice")});
        QCOMPARE(fake.groups.value(chat).title, QStringLiteral("[closed]"));
        QCOMPARE(job->result().note,
                 QStringLiteral("DingTalk cannot dismiss scene groups: removed 2 members and renamed the group"));
        delete job;
        QCOMPARE(fake.shapeErrors(), QStringList());
    }

    // With a card template, a card whose state changes is an interactive card, changed in place.
    void interactiveCard()
    {
        FakeDingTalk fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url(), QStringLiteral("tpl-iteration"), fake.cardTemplateId);
        QVERIFY(a->capabilities().cardUpdates);
        QVERIFY(a->capabilities().cardUpdatesRepeat);
        ImJob *job = a->createGroup({QStringLiteral("Shop"), {}, {QStringLiteral("alice"), QStringLiteral("bob")}, {}});
        QVERIFY(waitJob(job));
        const QString chat = job->result().chatId;
        delete job;
        // Choosing stays markdown (its links are the choice); the click's answer becomes an interactive card.
        job = a->postCard(chat, sampleCard());
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.robotMessages.size(), qsizetype(1));
        const QString markdownId = job->result().messageId;
        delete job;
        job = a->updateCard(chat, markdownId, {}, sampleCard(DeployCard::State::Deploying));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString track = job->result().messageId;
        QVERIFY(track.startsWith(u"idk-"));
        QCOMPARE(fake.interactiveCards.size(), qsizetype(1));
        QCOMPARE(fake.interactiveCards.value(track).openConversationId, chat);
        QCOMPARE(fake.interactiveCards.value(track).params,
                 DingTalkAdapter::cardParams(sampleCard(DeployCard::State::Deploying)));
        delete job;
        job = a->updateCard(chat, track, {}, sampleCard(DeployCard::State::Succeeded));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(job->result().messageId, track);
        QCOMPARE(fake.interactiveCards.size(), qsizetype(1));
        QCOMPARE(fake.interactiveCards.value(track).updates, 1);
        QCOMPARE(fake.interactiveCards.value(track).params.value(u"state").toString(), QStringLiteral("succeeded"));
        QCOMPARE(fake.cardUpdates.last().value(u"cardOptions").toObject().value(u"updateCardDataByKey").toBool(true),
                 false);
        delete job;
        QCOMPARE(fake.robotMessages.size(), qsizetype(1));
        QCOMPARE(fake.shapeErrors(), QStringList());
    }

    // Replies go through the message's sessionWebhook until it expires, then through the robot API.
    void sessionWebhook()
    {
        FakeDingTalk fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url());
        ImJob *job = a->createGroup({QStringLiteral("Shop"), {}, {QStringLiteral("alice"), QStringLiteral("bob")}, {}});
        QVERIFY(waitJob(job));
        const QString chat = job->result().chatId;
        delete job;
        QJsonObject msg = fixture(QStringLiteral("text"));
        msg.insert(QStringLiteral("conversationId"), chat);
        msg.insert(QStringLiteral("sessionWebhook"), fake.sessionWebhook(chat));
        const qint64 ts = qint64(msg.value(u"createAt").toDouble());
        const auto ev = a->receive(fake.callback(msg, ts), QDateTime::fromMSecsSinceEpoch(ts + 1000, Qt::UTC));
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        // The fixture's sessionWebhookExpiredTime: 1695289035996, 90 minutes after it was sent.
        QCOMPARE(ev->replyTokenExpires, QDateTime::fromMSecsSinceEpoch(1695289035996, Qt::UTC));
        job = a->reply(*ev, chat, QStringLiteral("hello"), QDateTime::fromMSecsSinceEpoch(ts + 60000, Qt::UTC));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        delete job;
        QCOMPARE(fake.sessionMessages.size(), qsizetype(1));
        QCOMPARE(fake.sessionMessages.first().value(u"text").toObject().value(u"content").toString(),
                 QStringLiteral("hello"));
        QCOMPARE(fake.robotMessages.size(), qsizetype(0));
        QCOMPARE(fake.paths().filter(QStringLiteral("/gettoken")).size(), qsizetype(1)); // only createGroup's
        // Expired: the robot API.
        job = a->reply(*ev, chat, QStringLiteral("later"), ev->replyTokenExpires.addSecs(1));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        delete job;
        QCOMPARE(fake.sessionMessages.size(), qsizetype(1));
        QCOMPARE(fake.robotMessages.size(), qsizetype(1));
        QCOMPARE(fake.robotMessages.last().value(u"msgParam").toObject().value(u"content").toString(),
                 QStringLiteral("later"));
        // A session DingTalk no longer knows: the robot API too.
        InboundEvent stale = *ev;
        stale.replyToken = fake.url().toString() + QStringLiteral("/robot/sendBySession?session=gone");
        job = a->reply(stale, chat, QStringLiteral("again"), QDateTime::fromMSecsSinceEpoch(ts + 60000, Qt::UTC));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        delete job;
        QCOMPARE(fake.robotMessages.size(), qsizetype(2));
        QCOMPARE(fake.shapeErrors(), QStringList());
    }

    void noTemplate()
    {
        FakeDingTalk fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake, fake.url(), QString());
        ImJob *job = a->createGroup({QStringLiteral("x"), {}, {QStringLiteral("alice")}, {}});
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().toString(),
                 QStringLiteral("config: DingTalk scene groups need a group template: set im.templateId"));
        QCOMPARE(fake.requests().size(), 0);
        delete job;
    }

    void rateLimited()
    {
        FakeDingTalk fake;
        QVERIFY(fake.listen());
        fake.groups.insert(QStringLiteral("cid1"),
                           {QStringLiteral("x"), QStringLiteral("alice"), {QStringLiteral("alice")}});
        fake.injectOnce(QStringLiteral("/v1.0/robot/groupMessages/send"),
                        FakeResponse::json(429,
                                           {{QStringLiteral("code"), QStringLiteral("Throttling.Api")},
                                            {QStringLiteral("message"), QStringLiteral("too many requests")}},
                                           {{"retry-after", "1"}}));
        auto a = adapter(fake, fake.url());
        ImJob *job = a->postMessage(QStringLiteral("cid1"), QStringLiteral("hi"));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.count(QStringLiteral("/v1.0/robot/groupMessages/send")), 2);
        delete job;
    }
};

QTEST_GUILESS_MAIN(TestImDingTalk)
#include "tst_imdingtalk.moc"
