// The WeCom adapter: the official callback vectors (URL check and message, SHA-1 msg_signature,
// AES-256-CBC with the EncodingAESKey, receiver check), the fixtures' callbacks, the template card
// and its markdown summary against golden files, gettoken refresh, 45009 retried, and a whole
// iteration against the fake server API (the card goes to the members, the click's response
// code updates it once).
#include "im/wecomadapter.h"
#include "imtestsupport.h"
#include "testutil/fakeimserver.h"

#include <QJsonArray>
#include <QNetworkAccessManager>
#include <QRegularExpression>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::im;
using namespace iterdeck::testing;

class TestImWeCom : public QObject
{
    Q_OBJECT

    QNetworkAccessManager m_nam;

    static QJsonObject vectors()
    {
        QFile f(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/data/im/wecom-official-vectors.json"));
        if (!f.open(QIODevice::ReadOnly))
            return {};
        return QJsonDocument::fromJson(f.readAll()).object();
    }

    std::unique_ptr<WeComAdapter> adapter(const QString &corpId,
                                          const QUrl &base = QUrl(QStringLiteral("http://127.0.0.1:9")),
                                          const QByteArray &secret = "fake-corp-secret")
    {
        const QJsonObject v = vectors();
        WeComAdapter::Settings s;
        s.apiBaseUrl = base;
        s.corpId = corpId;
        s.agentId = 1000002;
        s.secret = secret;
        s.token = v.value(u"token").toString().toUtf8();
        s.encodingAesKey = v.value(u"encodingAESKey").toString().toUtf8();
        auto a = std::make_unique<WeComAdapter>(s, &m_nam);
        RetryPolicy p;
        p.backoffMs = 20;
        p.maxRetryAfterSeconds = 5;
        a->client()->setRetryPolicy(p);
        return a;
    }

    static InboundRequest officialRequest()
    {
        const QJsonObject m = vectors().value(u"message").toObject();
        InboundRequest r;
        r.path = QStringLiteral("/hooks/wecom");
        r.body = m.value(u"body").toString().toUtf8();
        for (const char *k : {"msg_signature", "timestamp", "nonce"})
            r.query.addQueryItem(QString::fromLatin1(k), m.value(QLatin1String(k)).toString());
        return r;
    }

private Q_SLOTS:
    void officialUrlCheck()
    {
        const QJsonObject u = vectors().value(u"urlCheck").toObject();
        auto a = adapter(vectors().value(u"corpId").toString());
        InboundRequest r;
        r.method = "GET";
        for (const char *k : {"msg_signature", "timestamp", "nonce"})
            r.query.addQueryItem(QString::fromLatin1(k), u.value(QLatin1String(k)).toString());
        r.query.addQueryItem(QStringLiteral("echostr"),
                             QString::fromLatin1(QUrl::toPercentEncoding(u.value(u"echostr").toString())));
        const auto ev
            = a->receive(r, QDateTime::fromSecsSinceEpoch(u.value(u"timestamp").toString().toLongLong(), Qt::UTC));
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(ev->kind, InboundEvent::Kind::UrlVerification);
        QCOMPARE(ev->answer.body, u.value(u"plaintext").toString().toUtf8());
        QCOMPARE(ev->answer.contentType, QByteArray("text/plain"));
    }

    void urlCheckEcho_data()
    {
        QTest::addColumn<QByteArray>("echo");
        QTest::addColumn<QString>("error");
        QTest::newRow("number") << QByteArray("1616140317555161061") << QString();
        // Found by fuzz_im_callbacks (regressions/im_callbacks/wecom-empty-echostr).
        QTest::newRow("empty") << QByteArray() << "malformed: the URL check's echostr decrypts to nothing";
    }

    void urlCheckEcho()
    {
        QFETCH(QByteArray, echo);
        QFETCH(QString, error);
        FakeWeCom fake;
        auto a = adapter(fake.corpId);
        const auto ev = a->receive(fake.urlCheck(echo, 1700000000), QDateTime::fromSecsSinceEpoch(1700000000, Qt::UTC));
        QCOMPARE(errorText(ev), error);
        if (error.isEmpty())
            QCOMPARE(ev->answer.body, echo);
    }

    void officialMessage_data()
    {
        QTest::addColumn<QString>("param");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("corp");
        QTest::addColumn<qint64>("skew");
        QTest::addColumn<QString>("error");
        const QString corp = QStringLiteral("wx5823bf96d3bd56c7");
        QTest::newRow("published vector") << QString() << QString() << corp << qint64(0) << QString();
        QTest::newRow("other corp")
            << QString() << QString() << QStringLiteral("wwother") << qint64(0)
            << R"(bad-signature: the message is for receiver "wx5823bf96d3bd56c7", not this corp)";
        QTest::newRow("signature changed")
            << QStringLiteral("msg_signature") << QStringLiteral("477715d11cdb4164915debcba66cb864d751f3e7") << corp
            << qint64(0) << "bad-signature: msg_signature does not match";
        QTest::newRow("nonce changed") << QStringLiteral("nonce") << QStringLiteral("1372623150") << corp << qint64(0)
                                       << "bad-signature: msg_signature does not match";
        QTest::newRow("no signature") << QStringLiteral("msg_signature") << QString() << corp << qint64(0)
                                      << "bad-signature: missing msg_signature, timestamp or nonce in the query";
        QTest::newRow("stale") << QString() << QString() << corp << qint64(3600)
                               << "stale-timestamp: timestamp is 3600 s away from now; at most 300 s are accepted";
        QTest::newRow("timestamp garbage") << QStringLiteral("timestamp") << QStringLiteral("14096598l3") << corp
                                           << qint64(0) << "bad-signature: timestamp is not a number of seconds";
    }

    void officialMessage()
    {
        QFETCH(QString, param);
        QFETCH(QString, value);
        QFETCH(QString, corp);
        QFETCH(qint64, skew);
        QFETCH(QString, error);
        const QJsonObject m = vectors().value(u"message").toObject();
        auto a = adapter(corp);
        InboundRequest r = officialRequest();
        if (!param.isEmpty()) {
            r.query.removeAllQueryItems(param);
            if (!value.isEmpty())
                r.query.addQueryItem(param, value);
        }
        const auto ev = a->receive(r, QDateTime::fromSecsSinceEpoch(1409659813 + skew, Qt::UTC));
        QCOMPARE(errorText(ev), error);
        if (!error.isEmpty()) {
            QCOMPARE(ev.error().inboundStatus(), 401);
            return;
        }
        QCOMPARE(ev->kind, InboundEvent::Kind::Command);
        QCOMPARE(ev->userId, m.value(u"from").toString());
        QCOMPARE(ev->text, m.value(u"content").toString());
        QCOMPARE(ev->eventId, m.value(u"msgId").toString());
    }

    void fixtures_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("signature");
        QTest::addColumn<QString>("timestamp");
        QTest::addColumn<QString>("nonce");
        // The saved samples ship with their Token and EncodingAESKey masked: with the published
        // key pair they must fail the signature, never decrypt into something.
        QTest::newRow("xml sample") << "webhooks/wecom/callback.encrypted.xml"
                                    << "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
                                    << "1476422779"
                                    << "1597212914";
        QTest::newRow("json sample") << "webhooks/wecom/callback.encrypted.json"
                                     << "e3647471e395139e2308c1fa963f2d648a00b90e"
                                     << "1409659813"
                                     << "1372623149";
    }

    void fixtures()
    {
        QFETCH(QString, file);
        QFETCH(QString, signature);
        QFETCH(QString, timestamp);
        QFETCH(QString, nonce);
        auto a = adapter(QStringLiteral("ww1436e0e65a779aee"));
        InboundRequest r;
        r.body = readFixture(file);
        r.query.addQueryItem(QStringLiteral("msg_signature"), signature);
        r.query.addQueryItem(QStringLiteral("timestamp"), timestamp);
        r.query.addQueryItem(QStringLiteral("nonce"), nonce);
        const auto v = a->verify(r, QDateTime::fromSecsSinceEpoch(timestamp.toLongLong(), Qt::UTC));
        QCOMPARE(errorText(v), QStringLiteral("bad-signature: msg_signature does not match"));
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QString>("error");
        QTest::newRow("not XML") << QByteArray("<xml><Encrypt>")
                                 << "malformed: the callback body is not XML: line 1: Premature end of document.";
        QTest::newRow("no Encrypt") << QByteArray("<xml><ToUserName>a</ToUserName></xml>")
                                    << "malformed: the callback XML has no Encrypt element";
        QTest::newRow("DTD") << QByteArray("<!DOCTYPE x [<!ENTITY a \"b\">]><xml><Encrypt>&a;</Encrypt></xml>")
                             << "malformed: the callback body is not XML: DTDs and entities are not accepted";
        QTest::newRow("json without encrypt")
            << QByteArray(R"({"tousername":"x"})") << R"(malformed: the JSON callback has no "encrypt" field)";
    }

    void malformed()
    {
        QFETCH(QByteArray, body);
        QFETCH(QString, error);
        auto a = adapter(QStringLiteral("wx5823bf96d3bd56c7"));
        InboundRequest r = officialRequest();
        r.body = body;
        QCOMPARE(errorText(a->verify(r, QDateTime::fromSecsSinceEpoch(1409659813, Qt::UTC))), error);
    }

    void signedButBroken_data()
    {
        QTest::addColumn<QByteArray>("encrypted");
        QTest::addColumn<QString>("error");
        QTest::newRow("not whole blocks")
            << QByteArray("AAAA") << "malformed: the encrypted message is not base64 of whole AES blocks";
        QTest::newRow("not base64") << QByteArray("!!!!")
                                    << "malformed: the encrypted message is not base64 of whole AES blocks";
    }

    void signedButBroken()
    {
        // Signed correctly (whoever has the token), but the ciphertext is garbage.
        QFETCH(QByteArray, encrypted);
        QFETCH(QString, error);
        auto a = adapter(QStringLiteral("wx5823bf96d3bd56c7"));
        InboundRequest r;
        r.body = "<xml><Encrypt><![CDATA[" + encrypted + "]]></Encrypt></xml>";
        r.query.addQueryItem(QStringLiteral("msg_signature"),
                             WeComAdapter::signature("QDG6eK", "1409659813", "5", encrypted));
        r.query.addQueryItem(QStringLiteral("timestamp"), QStringLiteral("1409659813"));
        r.query.addQueryItem(QStringLiteral("nonce"), QStringLiteral("5"));
        QCOMPARE(errorText(a->verify(r, QDateTime::fromSecsSinceEpoch(1409659813, Qt::UTC))), error);
    }

    void encryptRoundTrip()
    {
        const QByteArray key = *WeComAdapter::aesKey("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
        FakeWeCom fake;
        fake.corpId = QStringLiteral("wx5823bf96d3bd56c7");
        auto a = adapter(fake.corpId);
        const QByteArray xml = "<xml><ToUserName>wx5823bf96d3bd56c7</ToUserName><FromUserName>alice</FromUserName>"
                               "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>状态</Content>"
                               "<MsgId>77</MsgId></xml>";
        const auto ev = a->receive(fake.callback(xml, 1700000000), QDateTime::fromSecsSinceEpoch(1700000000, Qt::UTC));
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(ev->text, QStringLiteral("状态"));
        QVERIFY(!WeComAdapter::aesKey("short").has_value());
        QCOMPARE(key.size(), 32);
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
        QJsonObject both {{QStringLiteral("template_card"), WeComAdapter::renderCard(card)},
                          {QStringLiteral("markdown"), WeComAdapter::renderMarkdown(card)}};
        QString diff;
        QVERIFY2(
            matchesGolden(QJsonDocument(both), QStringLiteral("wecom-") + stateName(DeployCard::State(state)), &diff),
            qPrintable(diff));
    }

    void wholeIteration()
    {
        FakeWeCom fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake.corpId, fake.url());
        ImJob *job = a->createGroup(
            {QStringLiteral("Shop Sprint 42"), {}, {QStringLiteral("alice"), QStringLiteral("bob")}, {}});
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString chat = job->result().chatId;
        QCOMPARE(fake.chats.value(chat).members, (QStringList {QStringLiteral("alice"), QStringLiteral("bob")}));
        delete job;
        job = a->addMembers(chat, {QStringLiteral("carol")});
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        job = a->postMessage(chat, QStringLiteral("api: new build 1.5.0-pay.3"));
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        delete job;
        job = a->postCard(chat, sampleCard());
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        const QString taskId = job->result().messageId;
        QVERIFY2(QRegularExpression(QStringLiteral("^card-7@[0-9a-f]{8}$")).match(taskId).hasMatch(),
                 qPrintable(taskId));
        QVERIFY(fake.cards.contains(taskId));
        QCOMPARE(fake.requests().at(fake.requests().size() - 2).json.value(u"touser").toString(),
                 QStringLiteral("alice|bob|carol"));
        QCOMPARE(fake.chatMessages.last().value(u"msgtype").toString(), QStringLiteral("markdown"));
        delete job;
        // Alice picks feature/pay for api and submits: WeCom calls back with the selection.
        const QString code = fake.issueResponseCode();
        const QString option = fake.cards.value(taskId)
                                   .value(u"select_list")
                                   .toArray()[0]
                                   .toObject()
                                   .value(u"option_list")
                                   .toArray()[1]
                                   .toObject()
                                   .value(u"id")
                                   .toString();
        const QByteArray xml = "<xml><ToUserName><![CDATA[" + fake.corpId.toUtf8()
            + "]]></ToUserName>"
              "<FromUserName><![CDATA[alice]]></FromUserName><CreateTime>1700000100</CreateTime>"
              "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>"
              "<EventKey><![CDATA[idk_confirm]]></EventKey><TaskId><![CDATA["
            + taskId.toUtf8()
            + "]]></TaskId>"
              "<CardType><![CDATA[multiple_interaction]]></CardType><ResponseCode><![CDATA["
            + code.toUtf8()
            + "]]></ResponseCode><AgentID>1000002</AgentID><SelectedItems><SelectedItem>"
              "<QuestionKey><![CDATA[api]]></QuestionKey><OptionIds><OptionId><![CDATA["
            + option.toUtf8() + "]]></OptionId></OptionIds></SelectedItem></SelectedItems></xml>";
        const qint64 t = QDateTime::currentSecsSinceEpoch();
        const auto ev = a->receive(fake.callback(xml, t), QDateTime::currentDateTimeUtc());
        QVERIFY2(ev.hasValue(), qPrintable(errorText(ev)));
        QCOMPARE(ev->kind, InboundEvent::Kind::CardAction);
        QCOMPARE(ev->action.kind, CardAction::Kind::Confirm);
        QCOMPARE(ev->action.cardId, QStringLiteral("card-7"));
        QCOMPARE(ev->action.selections,
                 (QList<CardSelection> {{QStringLiteral("api"), QStringLiteral("feature/pay"), QString()}}));
        QCOMPARE(ev->replyToken, code);
        // The same delivery again is a replay.
        QCOMPARE(a->receive(fake.callback(xml, t), QDateTime::currentDateTimeUtc()).error().code,
                 ImError::Code::Replay);
        // Token expiry on the way: refreshed, then the card changes once with the response code.
        fake.expireTokens();
        job = a->updateCard(chat, taskId, ev->replyToken, sampleCard(DeployCard::State::Deploying));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QVERIFY(fake.responseCodes.value(code));
        QCOMPARE(fake.tokensIssued, 2);
        delete job;
        // The response code is spent: WeCom refuses it; later states go to the group as markdown.
        job = a->updateCard(chat, taskId, ev->replyToken, sampleCard(DeployCard::State::Succeeded));
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().toString(),
                 QStringLiteral("platform: WeCom error 40060: response_code already used (HTTP 200)"));
        delete job;
        job = a->updateCard(chat, taskId, {}, sampleCard(DeployCard::State::Succeeded));
        QVERIFY(waitJob(job));
        QVERIFY(!job->hasError());
        QCOMPARE(fake.chatMessages.last().value(u"markdown").toObject().value(u"content").toString(),
                 WeComAdapter::renderMarkdown(sampleCard(DeployCard::State::Succeeded)));
        delete job;
        job = a->closeGroup(chat, {QStringLiteral("alice"), QStringLiteral("bob"), QStringLiteral("carol")});
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(job->result().note,
                 QStringLiteral("WeCom cannot dismiss group chats: removed 2 members and renamed the group"));
        QCOMPARE(fake.chats.value(chat).members, QStringList {QStringLiteral("alice")});
        QCOMPARE(fake.chats.value(chat).name, QStringLiteral("[closed] Shop Sprint 42"));
        delete job;
        QCOMPARE(fake.shapeErrors(), QStringList());
    }

    void limits_data()
    {
        QTest::addColumn<int>("members");
        QTest::addColumn<int>("components");
        QTest::addColumn<QString>("error");
        QTest::newRow("one member") << 1 << 2 << "invalid-argument: a WeCom group chat needs at least 2 members, not 1";
        QTest::newRow("four components") << 2 << 4
                                         << "invalid-argument: a WeCom template card holds at most 3 selections; this "
                                            "deploy card has 4 components";
    }

    void limits()
    {
        QFETCH(int, members);
        QFETCH(int, components);
        QFETCH(QString, error);
        FakeWeCom fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake.corpId, fake.url());
        QStringList ids;
        for (int i = 0; i < members; ++i)
            ids.append(QStringLiteral("u%1").arg(i));
        DeployCard card = sampleCard();
        while (card.components.size() < components)
            card.components.append(card.components.first());
        ImJob *job
            = members < 2 ? a->createGroup({QStringLiteral("x"), {}, ids, {}}) : a->postCard(QStringLiteral("c"), card);
        QVERIFY(waitJob(job));
        QCOMPARE(job->error().toString(), error);
        QCOMPARE(fake.requests().size(), 0);
        delete job;
    }

    void rateLimitedCode()
    {
        FakeWeCom fake;
        QVERIFY(fake.listen());
        fake.chats.insert(QStringLiteral("c1"),
                          {QStringLiteral("x"), QStringLiteral("alice"), {QStringLiteral("alice")}});
        fake.injectOnce(QStringLiteral("/cgi-bin/appchat/send"),
                        FakeResponse::json(200,
                                           {{QStringLiteral("errcode"), 45009},
                                            {QStringLiteral("errmsg"), QStringLiteral("api freq out of limit")}}));
        auto a = adapter(fake.corpId, fake.url());
        ImJob *job = a->postMessage(QStringLiteral("c1"), QStringLiteral("hi"));
        QVERIFY(waitJob(job));
        QVERIFY2(!job->hasError(), qPrintable(job->error().toString()));
        QCOMPARE(fake.count(QStringLiteral("/cgi-bin/appchat/send")), 2);
        delete job;
    }

    void badSecret()
    {
        FakeWeCom fake;
        QVERIFY(fake.listen());
        auto a = adapter(fake.corpId, fake.url(), "wrong");
        ImJob *job = a->postMessage(QStringLiteral("c1"), QStringLiteral("hi"));
        QVERIFY(waitJob(job));
        QCOMPARE(
            job->error().toString(),
            QStringLiteral("auth: getting the access token failed: WeCom error 40001: invalid credential (HTTP 200)"));
        delete job;
    }
};

QTEST_GUILESS_MAIN(TestImWeCom)
#include "tst_imwecom.moc"
