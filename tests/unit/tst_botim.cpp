// The bot with an external IM platform (Slack, Feishu, WeCom, DingTalk) against the fake platforms:
// the whole BotService serves HTTP on loopback; an iteration started by a signed generic webhook
// gets its group on the platform with the members' IM ids; a command sent as the platform sends
// it (signed, and encrypted where the platform encrypts) gets its reply posted to the group; a bad
// signature is refused with 401; a redelivered command runs once, also after a restart.
#include "bot/botservice.h"
#include "bot/crypto.h"
#include "config/teammanifestloader.h"
#include "testutil/fakeimserver.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::bot;
using namespace iterdeck::testing;

namespace {

const QByteArray kCiSecret = "ci-secret";

struct Reply
{
    int status = 0;
    QByteArray body;
};

QByteArray compact(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

} // namespace

class TestBotIm : public QObject
{
    Q_OBJECT

private:
    QNetworkAccessManager m_nam;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<FakeImServer> m_fake;
    std::unique_ptr<BotService> m_bot;
    model::TeamManifest m_manifest;
    QString m_platform;
    int m_delivery = 0;

    // The platform's user id of each person, in the order Alice, Bob, Carol.
    QStringList users() const
    {
        if (m_platform == u"slack")
            return {QStringLiteral("U01ALICE"), QStringLiteral("U02BOB"), QStringLiteral("U03CAROL")};
        if (m_platform == u"feishu")
            return {QStringLiteral("ou_alice"), QStringLiteral("ou_bob"), QStringLiteral("ou_carol")};
        return {QStringLiteral("alice"), QStringLiteral("bob"), QStringLiteral("carol")};
    }

    QByteArray imSection() const
    {
        if (m_platform == u"slack")
            return "im:\n  adapter: slack\n  botToken: {env: BOTIM_TOKEN}\n  signingSecret: {env: BOTIM_SECRET}\n"
                   "  apiBaseUrl: {env: BOTIM_BASE}\n";
        if (m_platform == u"feishu")
            return "im:\n  adapter: feishu\n  appId: cli_fake\n  appSecret: {env: BOTIM_SECRET}\n"
                   "  encryptKey: {env: BOTIM_KEY}\n  verificationToken: {env: BOTIM_TOKEN}\n"
                   "  apiBaseUrl: {env: BOTIM_BASE}\n";
        if (m_platform == u"wecom")
            return "im:\n  adapter: wecom\n  corpId: wwfakecorp\n  agentId: 1000002\n  secret: {env: BOTIM_SECRET}\n"
                   "  token: {env: BOTIM_TOKEN}\n  encodingAESKey: {env: BOTIM_KEY}\n  apiBaseUrl: {env: BOTIM_BASE}\n";
        return "im:\n  adapter: dingtalk\n  appKey: dingfakeappkey\n  appSecret: {env: BOTIM_SECRET}\n"
               "  templateId: tpl-iteration\n  apiBaseUrl: {env: BOTIM_BASE}\n";
    }

    void makeFake()
    {
        if (m_platform == u"slack") {
            auto f = std::make_unique<FakeSlack>();
            qputenv("BOTIM_TOKEN", f->botToken);
            qputenv("BOTIM_SECRET", f->signingSecret);
            m_fake = std::move(f);
        } else if (m_platform == u"feishu") {
            auto f = std::make_unique<FakeFeishu>();
            qputenv("BOTIM_TOKEN", f->verificationToken);
            qputenv("BOTIM_SECRET", f->appSecret);
            qputenv("BOTIM_KEY", f->encryptKey);
            m_fake = std::move(f);
        } else if (m_platform == u"wecom") {
            auto f = std::make_unique<FakeWeCom>();
            qputenv("BOTIM_TOKEN", f->token);
            qputenv("BOTIM_SECRET", f->secret);
            qputenv("BOTIM_KEY", f->encodingAesKey);
            m_fake = std::move(f);
        } else {
            auto f = std::make_unique<FakeDingTalk>();
            qputenv("BOTIM_SECRET", f->appSecret);
            m_fake = std::move(f);
        }
        QVERIFY(m_fake->listen());
        const QUrl base = m_platform == u"slack" ? static_cast<FakeSlack *>(m_fake.get())->apiUrl() : m_fake->url();
        qputenv("BOTIM_BASE", base.toString().toUtf8());
    }

    void writeManifest()
    {
        const QStringList u = users();
        QByteArray yaml = "version: 1\nproject: shop\n" + imSection()
            + "components:\n"
              "  - name: web\n"
              "    repository: https://git.example.com/shop/web.git\n"
              "    image: iterdeck/demo-web\n"
              "    deploy: {driver: manifests, path: deploy/web}\n"
              "webhooks:\n"
              "  - source: generic\n"
              "    name: ci\n"
              "    secret: {env: BOTIM_CI_SECRET}\n"
              "people:\n";
        const char *names[] = {"Alice", "Bob", "Carol"};
        for (int i = 0; i < 3; ++i) {
            yaml += "  - name: " + QByteArray(names[i]) + "\n    im: " + u.at(i).toUtf8() + "\n    collab: ["
                + QByteArray(names[i]).toLower() + "-gh]\n";
        }
        qputenv("BOTIM_CI_SECRET", kCiSecret);
        Diagnostics diag;
        auto m = config::TeamManifestLoader().loadText(yaml, QStringLiteral("iterdeck.yaml"), m_dir->path(), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        m_manifest = *m;
    }

    void startBot()
    {
        m_bot.reset();
        BotServiceOptions o;
        o.store = StoreOptions {{}, m_dir->filePath(QStringLiteral("store"))};
        auto bot = BotService::create(m_manifest, nullptr, o);
        QVERIFY2(bot, bot ? "" : qPrintable(bot.error()));
        m_bot = std::move(*bot);
        BotServerOptions so;
        so.port = 0;
        QString error;
        QVERIFY2(m_bot->start(so, &error), qPrintable(error));
    }

    void setUpPlatform()
    {
        QFETCH(QString, platform);
        m_platform = platform;
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        makeFake();
        writeManifest();
        startBot();
    }

    Reply send(const im::InboundRequest &r)
    {
        QUrl url(m_bot->server().url() + r.path);
        url.setQuery(r.query);
        QNetworkRequest req(url);
        for (auto it = r.headers.cbegin(); it != r.headers.cend(); ++it)
            req.setRawHeader(it.key(), it.value());
        if (!r.headers.contains("content-type"))
            req.setRawHeader("Content-Type", m_platform == u"wecom" ? "text/xml" : "application/json");
        QNetworkReply *reply = r.method == "GET" ? m_nam.get(req) : m_nam.post(req, r.body);
        QSignalSpy done(reply, &QNetworkReply::finished);
        if (!reply->isFinished())
            done.wait(10000);
        Reply out {reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), reply->readAll()};
        reply->deleteLater();
        return out;
    }

    Reply startIteration(const QString &id, const QStringList &members)
    {
        const QByteArray body
            = compact({{QStringLiteral("type"), QStringLiteral("iteration.started")},
                       {QStringLiteral("id"), QStringLiteral("d-%1").arg(++m_delivery)},
                       {QStringLiteral("iteration"),
                        QJsonObject {{QStringLiteral("id"), id},
                                     {QStringLiteral("name"), QString(QStringLiteral("Sprint ") + id)},
                                     {QStringLiteral("members"), QJsonArray::fromStringList(members)}}}});
        im::InboundRequest r;
        r.path = QStringLiteral("/hooks/ci");
        r.body = body;
        r.setHeader("Content-Type", "application/json");
        r.setHeader("X-Iterdeck-Signature", "sha256=" + hmacSha256(kCiSecret, body).toHex());
        return send(r);
    }

    qint64 iterationId(const QString &id)
    {
        auto it = m_bot->store().iteration(QStringLiteral("generic:") + id);
        return it && it->has_value() ? (*it)->id : 0;
    }

    QString chatOf(qint64 iterationId)
    {
        auto g = m_bot->store().group(iterationId, m_platform);
        return g && g->has_value() ? (*g)->chatId : QString();
    }

    // The members the fake platform has in the chat.
    QStringList chatMembers(const QString &chat) const
    {
        QStringList m;
        if (m_platform == u"slack")
            m = static_cast<FakeSlack *>(m_fake.get())->channels.value(chat).members;
        else if (m_platform == u"feishu")
            m = static_cast<FakeFeishu *>(m_fake.get())->chats.value(chat).members;
        else if (m_platform == u"wecom")
            m = static_cast<FakeWeCom *>(m_fake.get())->chats.value(chat).members;
        else
            m = static_cast<FakeDingTalk *>(m_fake.get())->groups.value(chat).members;
        m.sort();
        return m;
    }
    int chatCount() const
    {
        if (m_platform == u"slack")
            return int(static_cast<FakeSlack *>(m_fake.get())->channels.size());
        if (m_platform == u"feishu")
            return int(static_cast<FakeFeishu *>(m_fake.get())->chats.size());
        if (m_platform == u"wecom")
            return int(static_cast<FakeWeCom *>(m_fake.get())->chats.size());
        return int(static_cast<FakeDingTalk *>(m_fake.get())->groups.size());
    }

    // Every message the fake platform took for the chat, as compact JSON.
    QStringList chatMessages(const QString &chat) const
    {
        QList<QJsonObject> all;
        QString key;
        if (m_platform == u"slack") {
            all = static_cast<FakeSlack *>(m_fake.get())->messages.values();
            key = QStringLiteral("channel");
        } else if (m_platform == u"feishu") {
            all = static_cast<FakeFeishu *>(m_fake.get())->messages.values();
            key = QStringLiteral("chat_id");
        } else if (m_platform == u"wecom") {
            all = static_cast<FakeWeCom *>(m_fake.get())->chatMessages;
            key = QStringLiteral("chatid");
        } else {
            all = static_cast<FakeDingTalk *>(m_fake.get())->robotMessages;
            key = QStringLiteral("openConversationId");
        }
        QStringList out;
        for (const QJsonObject &o : std::as_const(all)) {
            if (o.value(key).toString() == chat)
                out.append(QString::fromUtf8(compact(o)));
        }
        return out;
    }
    int replies(const QString &chat, const QString &marker) const
    {
        int n = 0;
        for (const QString &m : chatMessages(chat))
            n += m.contains(marker) ? 1 : 0;
        return n;
    }

    // `text` from `user` in `chat`, as the platform delivers it, signed now.
    im::InboundRequest command(const QString &user, const QString &chat, const QString &text, const QString &eventId,
                               const QByteArray &nonce = "nonce-1")
    {
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        if (m_platform == u"slack") {
            const QJsonObject body {{QStringLiteral("type"), QStringLiteral("event_callback")},
                                    {QStringLiteral("team_id"), QStringLiteral("T0001")},
                                    {QStringLiteral("api_app_id"), QStringLiteral("A0001")},
                                    {QStringLiteral("event_id"), eventId},
                                    {QStringLiteral("event_time"), now},
                                    {QStringLiteral("event"),
                                     QJsonObject {{QStringLiteral("type"), QStringLiteral("app_mention")},
                                                  {QStringLiteral("user"), user},
                                                  {QStringLiteral("text"), QString(QStringLiteral("<@U0BOT> ") + text)},
                                                  {QStringLiteral("channel"), chat},
                                                  {QStringLiteral("ts"), QStringLiteral("1700000000.000100")}}}};
            return static_cast<FakeSlack *>(m_fake.get())->callback(compact(body), "application/json", now);
        }
        if (m_platform == u"feishu") {
            auto *f = static_cast<FakeFeishu *>(m_fake.get());
            const QJsonObject body {
                {QStringLiteral("schema"), QStringLiteral("2.0")},
                {QStringLiteral("header"),
                 QJsonObject {{QStringLiteral("event_id"), eventId},
                              {QStringLiteral("event_type"), QStringLiteral("im.message.receive_v1")},
                              {QStringLiteral("create_time"), QString::number(now * 1000)},
                              {QStringLiteral("token"), QString::fromUtf8(f->verificationToken)},
                              {QStringLiteral("app_id"), f->appId},
                              {QStringLiteral("tenant_key"), QStringLiteral("tk")}}},
                {QStringLiteral("event"),
                 QJsonObject {
                     {QStringLiteral("sender"),
                      QJsonObject {{QStringLiteral("sender_id"), QJsonObject {{QStringLiteral("open_id"), user}}},
                                   {QStringLiteral("sender_type"), QStringLiteral("user")}}},
                     {QStringLiteral("message"),
                      QJsonObject {{QStringLiteral("message_id"), QString(QStringLiteral("om_") + eventId)},
                                   {QStringLiteral("chat_id"), chat},
                                   {QStringLiteral("chat_type"), QStringLiteral("group")},
                                   {QStringLiteral("message_type"), QStringLiteral("text")},
                                   {QStringLiteral("content"),
                                    QString::fromUtf8(compact(
                                        {{QStringLiteral("text"), QString(QStringLiteral("@_user_1 ") + text)}}))}}}}}};
            return f->callback(body, now, nonce);
        }
        if (m_platform == u"wecom") {
            auto *f = static_cast<FakeWeCom *>(m_fake.get());
            // Messages to the app arrive one-to-one; the reply goes to the user's iteration group.
            Q_UNUSED(chat);
            const QByteArray xml = "<xml><ToUserName><![CDATA[" + f->corpId.toUtf8()
                + "]]></ToUserName><FromUserName><![CDATA[" + user.toUtf8() + "]]></FromUserName><CreateTime>"
                + QByteArray::number(now) + "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA["
                + text.toUtf8() + "]]></Content><MsgId>" + eventId.toUtf8() + "</MsgId><AgentID>"
                + QByteArray::number(f->agentId) + "</AgentID></xml>";
            return f->callback(xml, now, nonce == "nonce-1" ? QByteArray("1372623149") : nonce);
        }
        const QJsonObject body {{QStringLiteral("msgId"), eventId},
                                {QStringLiteral("conversationId"), chat},
                                {QStringLiteral("conversationType"), QStringLiteral("2")},
                                {QStringLiteral("senderStaffId"), user},
                                {QStringLiteral("msgtype"), QStringLiteral("text")},
                                {QStringLiteral("text"), QJsonObject {{QStringLiteral("content"), text}}},
                                {QStringLiteral("createAt"), now * 1000},
                                {QStringLiteral("sessionWebhook"), QStringLiteral("https://oapi.example/session")}};
        return static_cast<FakeDingTalk *>(m_fake.get())->callback(body, now * 1000);
    }

    // The request with its signature replaced by a wrong one.
    im::InboundRequest forged(im::InboundRequest r) const
    {
        if (m_platform == u"slack") {
            r.setHeader("X-Slack-Signature", "v0=" + QByteArray(64, 'a'));
        } else if (m_platform == u"feishu") {
            r.setHeader("X-Lark-Signature", QByteArray(64, 'a'));
        } else if (m_platform == u"wecom") {
            r.query.removeAllQueryItems(QStringLiteral("msg_signature"));
            r.query.addQueryItem(QStringLiteral("msg_signature"), QString(40, u'a'));
        } else {
            r.setHeader("sign", QByteArray(44, 'A'));
        }
        return r;
    }

    static void platforms()
    {
        QTest::addColumn<QString>("platform");
        for (const char *p : {"slack", "feishu", "wecom", "dingtalk"})
            QTest::newRow(p) << QString::fromLatin1(p);
    }

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void cleanup()
    {
        m_bot.reset();
        m_fake.reset();
        m_dir.reset();
    }

    void missingSecretFailsCreate()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_platform = QStringLiteral("slack");
        qunsetenv("BOTIM_TOKEN");
        qputenv("BOTIM_BASE", "http://127.0.0.1:9/api");
        writeManifest();
        BotServiceOptions o;
        o.store = StoreOptions {{}, m_dir->filePath(QStringLiteral("store"))};
        auto bot = BotService::create(m_manifest, nullptr, o);
        QVERIFY(!bot);
        QCOMPARE(bot.error(), QStringLiteral("im.botToken: environment variable BOTIM_TOKEN is not set"));
    }

    void groupAndCommands_data() { platforms(); }
    void groupAndCommands()
    {
        setUpPlatform();
        if (QTest::currentTestFailed())
            return;
        const QStringList u = users();
        const Reply started
            = startIteration(QStringLiteral("1"), {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")});
        QCOMPARE(started.status, 200);
        const qint64 it = iterationId(QStringLiteral("1"));
        QVERIFY(it > 0);
        QTRY_VERIFY_WITH_TIMEOUT(!chatOf(it).isEmpty(), 10000);
        const QString chat = chatOf(it);
        QStringList wanted {u.at(0), u.at(1)};
        wanted.sort();
        QTRY_COMPARE_WITH_TIMEOUT(chatMembers(chat), wanted, 10000);
        QCOMPARE(chatCount(), 1);
        QVERIFY2(m_fake->shapeErrors().isEmpty(), qPrintable(m_fake->shapeErrors().join(u'\n')));

        // A member asks; the reply reaches the group.
        const QString marker = QStringLiteral("Sprint 1 has 2 members:");
        const im::InboundRequest ask = command(u.at(0), chat, QStringLiteral("members"), QStringLiteral("ev-1"));
        const Reply asked = send(ask);
        QVERIFY2(asked.status == 200, asked.body.constData());
        QTRY_COMPARE_WITH_TIMEOUT(replies(chat, marker), 1, 10000);

        // Forged: refused before anything runs.
        const Reply bad = send(forged(command(u.at(0), chat, QStringLiteral("members"), QStringLiteral("ev-forged"))));
        QCOMPARE(bad.status, 401);

        // The same delivery again (the platform did not see our answer): acknowledged, not run.
        const Reply again = send(ask);
        QCOMPARE(again.status, 200);

        // After a restart the adapter has forgotten the delivery; the store has not.
        startBot();
        if (QTest::currentTestFailed())
            return;
        const Reply afterRestart
            = send(command(u.at(0), chat, QStringLiteral("members"), QStringLiteral("ev-1"), "nonce-2"));
        QCOMPARE(afterRestart.status, 200);

        // A new command from Bob; once its reply is there, the ones before it would be too.
        const Reply next = send(command(u.at(1), chat, QStringLiteral("members"), QStringLiteral("ev-2"), "nonce-3"));
        QVERIFY2(next.status == 200, next.body.constData());
        QTRY_COMPARE_WITH_TIMEOUT(replies(chat, marker), 2, 10000);
        QCOMPARE(chatCount(), 1); // the restart created no second group
        auto deliveries = m_bot->store().deliveryCount();
        QVERIFY(deliveries);
        QCOMPARE(*deliveries, qint64(3)); // the webhook and the two commands
        QVERIFY2(m_fake->shapeErrors().isEmpty(), qPrintable(m_fake->shapeErrors().join(u'\n')));
    }

    // What the platforms check when the callback URL is configured, and what the bot refuses.
    void acknowledgements()
    {
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        m_platform = QStringLiteral("slack");
        m_dir = std::make_unique<QTemporaryDir>();
        makeFake();
        writeManifest();
        startBot();
        auto *slack = static_cast<FakeSlack *>(m_fake.get());
        Reply r = send(
            slack->callback(R"({"token":"t","challenge":"c-123","type":"url_verification"})", "application/json", now));
        QCOMPARE(r.status, 200);
        QVERIFY2(r.body.contains("c-123"), r.body.constData());
        r = send(slack->callback("a=b", "application/x-www-form-urlencoded", now));
        QCOMPARE(r.status, 400);
        QVERIFY2(r.body.contains(R"(a Slack form callback without \"payload\" or \"command\")"), r.body.constData());
        r = send(slack->callback(R"({"token":"t","challenge":"c-123","type":"url_verification"})", "application/json",
                                 now - 600));
        QCOMPARE(r.status, 401);
        QVERIFY2(r.body.contains("stale-timestamp"), r.body.constData());
        im::InboundRequest get = slack->callback("", "application/json", now);
        get.method = "GET";
        QCOMPARE(send(get).status, 405);
        cleanup();

        m_platform = QStringLiteral("wecom");
        m_dir = std::make_unique<QTemporaryDir>();
        makeFake();
        writeManifest();
        startBot();
        auto *wecom = static_cast<FakeWeCom *>(m_fake.get());
        r = send(wecom->urlCheck("1616140317555161061", now));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body, QByteArray("1616140317555161061"));
        cleanup();

        m_platform = QStringLiteral("feishu");
        m_dir = std::make_unique<QTemporaryDir>();
        makeFake();
        writeManifest();
        startBot();
        auto *feishu = static_cast<FakeFeishu *>(m_fake.get());
        r = send(feishu->callback({{QStringLiteral("challenge"), QStringLiteral("f-456")},
                                   {QStringLiteral("token"), QString::fromUtf8(feishu->verificationToken)},
                                   {QStringLiteral("type"), QStringLiteral("url_verification")}},
                                  now));
        QCOMPARE(r.status, 200);
        QVERIFY2(r.body.contains("f-456"), r.body.constData());
    }

    void notAMemberIsRefused_data() { platforms(); }
    void notAMemberIsRefused()
    {
        setUpPlatform();
        if (QTest::currentTestFailed())
            return;
        const QStringList u = users();
        QCOMPARE(startIteration(QStringLiteral("7"), {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")}).status,
                 200);
        const qint64 it = iterationId(QStringLiteral("7"));
        QTRY_VERIFY_WITH_TIMEOUT(!chatOf(it).isEmpty(), 10000);
        const QString chat = chatOf(it);
        QTRY_VERIFY_WITH_TIMEOUT(!chatMembers(chat).isEmpty(), 10000);
        // Carol is no member: the engine answers, the members are not listed.
        QCOMPARE(send(command(u.at(2), chat, QStringLiteral("members"), QStringLiteral("ev-c"))).status, 200);
        QCOMPARE(send(command(u.at(0), chat, QStringLiteral("members"), QStringLiteral("ev-a"))).status, 200);
        QTRY_COMPARE_WITH_TIMEOUT(replies(chat, QStringLiteral("Sprint 7 has 2 members:")), 1, 10000);
    }
};

QTEST_GUILESS_MAIN(TestBotIm)
#include "tst_botim.moc"
