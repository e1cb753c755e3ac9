// The bot with an external IM platform (Slack, Feishu, WeCom, DingTalk) against the fake platforms:
// the whole BotService serves HTTP on loopback; an iteration started by a signed generic webhook
// gets its group on the platform with the members' IM ids; a command sent as the platform sends
// it (signed, and encrypted where the platform encrypts) gets its reply posted to the group; a bad
// signature is refused with 401; a redelivered command runs once, also after a restart. With the
// sandbox cluster: a whole iteration through the bot on each platform, from the webhook to the
// Deployment running the build chosen on the deploy card, and the card following the deploy to
// "deployed". Slack's response_url and DingTalk's sessionWebhook carry the replies.
#include "bot/botservice.h"
#include "bot/cardfollower.h"
#include "bot/crypto.h"
#include "botsandboxsupport.h"
#include "config/teammanifestloader.h"
#include "testutil/fakeimserver.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
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
    bool m_withCluster = false; // the bot gets the sandbox cluster and creates environments
    qint64 m_sessionLifeSeconds = 5400; // how long DingTalk's sessionWebhook of a message is valid
    QTemporaryDir m_clusterDir;
    std::unique_ptr<SandboxCluster> m_cluster;

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
               "  templateId: tpl-iteration\n  cardTemplateId: tpl-deploy-card\n  apiBaseUrl: {env: BOTIM_BASE}\n";
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
            + "environment:\n"
              "  namespace: \"{project}-{iteration}\"\n"
              "  create: onStart\n"
              "cleanup:\n"
              "  gracePeriod: 1s\n"
              "components:\n"
              "  - name: web\n"
              "    repository: https://git.example.com/shop/web.git\n"
              "    image: iterdeck/demo-web\n"
              "    defaultBranch: main\n"
              "    deploy: {driver: manifests, path: deploy/web}\n"
              "    values:\n"
              "      default: {replicas: 1}\n"
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
        QVERIFY(writeProjectFile(m_dir->filePath(QStringLiteral("deploy/web/deployment.yaml")), kDeploymentTemplate));
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
        o.environments.manifestDir = m_dir->path();
        o.environments.coalesceMs = 50;
        o.environments.rolloutTimeoutMs = 0; // the image in the Deployment is what the tests check
        auto bot = BotService::create(m_manifest, m_withCluster ? m_cluster->client() : nullptr, o);
        QVERIFY2(bot, bot ? "" : qPrintable(bot.error()));
        m_bot = std::move(*bot);
        if (m_bot->cardFollower())
            m_bot->cardFollower()->setMinIntervalMs(200);
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

    // A bot on `platform` (its fake server, the test manifest) with iteration `id` started with
    // `members`: the chat id of its group, or empty (and the test failed) when that did not happen.
    QString startWithGroup(const QString &platform, const QString &id, const QStringList &members)
    {
        m_platform = platform;
        m_dir = std::make_unique<QTemporaryDir>();
        makeFake();
        writeManifest();
        startBot();
        if (QTest::currentTestFailed())
            return {};
        if (startIteration(id, members).status != 200) {
            QTest::qFail("the iteration did not start", __FILE__, __LINE__);
            return {};
        }
        const qint64 it = iterationId(id);
        if (!QTest::qWaitFor([&] { return !chatOf(it).isEmpty(); }, 10000)) {
            QTest::qFail("no group for the iteration", __FILE__, __LINE__);
            return {};
        }
        return chatOf(it);
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
        return sendCi({{QStringLiteral("type"), QStringLiteral("iteration.started")},
                       {QStringLiteral("iteration"),
                        QJsonObject {{QStringLiteral("id"), id},
                                     {QStringLiteral("name"), QString(QStringLiteral("Sprint ") + id)},
                                     {QStringLiteral("members"), QJsonArray::fromStringList(members)}}}});
    }

    // CI tells the bot about a new build.
    Reply publish(const QString &component, const QString &branch, const QString &tag)
    {
        return sendCi(
            {{QStringLiteral("type"), QStringLiteral("artifact.published")},
             {QStringLiteral("artifact"),
              QJsonObject {{QStringLiteral("component"), component},
                           {QStringLiteral("branch"), branch},
                           {QStringLiteral("build"), tag},
                           {QStringLiteral("commit"), QString(QStringLiteral("c0ffee") + tag.left(1) + u"f00d")},
                           {QStringLiteral("tag"), tag}}}});
    }

    // A signed generic webhook delivery.
    Reply sendCi(QJsonObject o)
    {
        o.insert(QStringLiteral("id"), QStringLiteral("d-%1").arg(++m_delivery));
        const QByteArray body = compact(o);
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
        if (m_platform == u"dingtalk") {
            // Replies to a robot message go through its sessionWebhook.
            for (const QJsonObject &o : std::as_const(static_cast<FakeDingTalk *>(m_fake.get())->sessionMessages)) {
                if (o.value(u"conversationId").toString() == chat)
                    out.append(QString::fromUtf8(compact(o)));
            }
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
        const QJsonObject body {
            {QStringLiteral("msgId"), eventId},
            {QStringLiteral("conversationId"), chat},
            {QStringLiteral("conversationType"), QStringLiteral("2")},
            {QStringLiteral("senderStaffId"), user},
            {QStringLiteral("msgtype"), QStringLiteral("text")},
            {QStringLiteral("text"), QJsonObject {{QStringLiteral("content"), text}}},
            {QStringLiteral("createAt"), now * 1000},
            {QStringLiteral("sessionWebhook"), static_cast<FakeDingTalk *>(m_fake.get())->sessionWebhook(chat)},
            {QStringLiteral("sessionWebhookExpiredTime"), (now + m_sessionLifeSeconds) * 1000}};
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
        m_withCluster = false;
    }

    void cleanupTestCase() { m_cluster.reset(); }

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

    // The deploy card the bot posted in `chat`: its message id as the platform named it (DingTalk:
    // the markdown message cannot be named, any posted card will do).
    QString postedCard(const QString &chat) const
    {
        if (m_platform == u"slack") {
            const auto &messages = static_cast<FakeSlack *>(m_fake.get())->messages;
            for (auto it = messages.cbegin(); it != messages.cend(); ++it) {
                if (it->value(u"channel").toString() == chat && !it->value(u"blocks").toArray().isEmpty())
                    return it.key();
            }
        } else if (m_platform == u"feishu") {
            const auto &messages = static_cast<FakeFeishu *>(m_fake.get())->messages;
            for (auto it = messages.cbegin(); it != messages.cend(); ++it) {
                if (it->value(u"chat_id").toString() == chat && it->value(u"msg_type").toString() == u"interactive")
                    return it.key();
            }
        } else if (m_platform == u"wecom") {
            const auto &cards = static_cast<FakeWeCom *>(m_fake.get())->cards;
            return cards.isEmpty() ? QString() : cards.firstKey();
        } else {
            for (const QJsonObject &o : std::as_const(static_cast<FakeDingTalk *>(m_fake.get())->robotMessages)) {
                if (o.value(u"openConversationId").toString() == chat
                    && o.value(u"msgKey").toString() == u"sampleMarkdown")
                    return QStringLiteral("markdown");
            }
        }
        return {};
    }

    // A click on the deploy card `messageId` that confirms `selection`, as the platform sends it.
    im::InboundRequest confirmClick(const QString &user, const QString &chat, const QString &cardId,
                                    const QString &messageId, const im::CardSelection &selection)
    {
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        const QString value
            = im::cardvalue::encode(im::CardAction::Kind::Confirm, cardId, selection).value_or(QString());
        if (m_platform == u"slack") {
            return static_cast<FakeSlack *>(m_fake.get())
                ->blockAction(chat, user, messageId, QStringLiteral("idk_confirm"), value, false, now);
        }
        if (m_platform == u"feishu") {
            auto *f = static_cast<FakeFeishu *>(m_fake.get());
            const QJsonObject body {
                {QStringLiteral("schema"), QStringLiteral("2.0")},
                {QStringLiteral("header"),
                 QJsonObject {{QStringLiteral("event_id"), QStringLiteral("ev-click-1")},
                              {QStringLiteral("event_type"), QStringLiteral("card.action.trigger")},
                              {QStringLiteral("create_time"), QString::number(now * 1000)},
                              {QStringLiteral("token"), QString::fromUtf8(f->verificationToken)},
                              {QStringLiteral("app_id"), f->appId},
                              {QStringLiteral("tenant_key"), QStringLiteral("tk")}}},
                {QStringLiteral("event"),
                 QJsonObject {{QStringLiteral("operator"), QJsonObject {{QStringLiteral("open_id"), user}}},
                              {QStringLiteral("token"), QStringLiteral("c-delayed-token")},
                              {QStringLiteral("action"),
                               QJsonObject {{QStringLiteral("tag"), QStringLiteral("button")},
                                            {QStringLiteral("value"), QJsonObject {{QStringLiteral("idk"), value}}}}},
                              {QStringLiteral("context"),
                               QJsonObject {{QStringLiteral("open_message_id"), messageId},
                                            {QStringLiteral("open_chat_id"), chat}}}}}};
            return f->callback(body, now, "nonce-click");
        }
        if (m_platform == u"wecom") {
            auto *f = static_cast<FakeWeCom *>(m_fake.get());
            // The option of the chosen branch on the template card WeCom showed.
            QString option;
            for (const auto &sel : f->cards.value(messageId).value(u"select_list").toArray()) {
                if (sel.toObject().value(u"question_key").toString() != selection.component)
                    continue;
                for (const auto &o : sel.toObject().value(u"option_list").toArray()) {
                    const QString id = o.toObject().value(u"id").toString();
                    if (QUrl::fromPercentEncoding(id.section(u'|', 0, 0).toLatin1()) == selection.branch)
                        option = id;
                }
            }
            const QByteArray xml = "<xml><ToUserName><![CDATA[" + f->corpId.toUtf8()
                + "]]></ToUserName><FromUserName><![CDATA[" + user.toUtf8() + "]]></FromUserName><CreateTime>"
                + QByteArray::number(now)
                + "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>"
                  "<EventKey><![CDATA[idk_confirm]]></EventKey><TaskId><![CDATA["
                + messageId.toUtf8()
                + "]]></TaskId><CardType><![CDATA[multiple_interaction]]></CardType><ResponseCode><![CDATA["
                + f->issueResponseCode().toUtf8() + "]]></ResponseCode><AgentID>" + QByteArray::number(f->agentId)
                + "</AgentID><SelectedItems><SelectedItem><QuestionKey><![CDATA[" + selection.component.toUtf8()
                + "]]></QuestionKey><OptionIds><OptionId><![CDATA[" + option.toUtf8()
                + "]]></OptionId></OptionIds></SelectedItem></SelectedItems></xml>";
            return f->callback(xml, now, "5150");
        }
        // DingTalk: the card's link makes the client send the value to the robot as the user's message.
        return command(user, chat, value, QStringLiteral("msg-click-1"));
    }

    // Everything the deploy card shows now, as text (WeCom: the last message that followed it).
    QString cardNow(const QString &chat, const QString &messageId) const
    {
        if (m_platform == u"slack")
            return QString::fromUtf8(compact(static_cast<FakeSlack *>(m_fake.get())->messages.value(messageId)));
        if (m_platform == u"feishu")
            return QString::fromUtf8(compact(static_cast<FakeFeishu *>(m_fake.get())->messages.value(messageId)));
        if (m_platform == u"wecom")
            return chatMessages(chat).join(u'\n');
        const auto &cards = static_cast<FakeDingTalk *>(m_fake.get())->interactiveCards;
        return cards.isEmpty() ? QString() : QString::fromUtf8(compact(cards.first().params));
    }
    // How many deploy cards (WeCom: messages that followed one) show `text` now.
    int cardsSaying(const QString &text) const
    {
        QStringList all;
        if (m_platform == u"slack") {
            for (const QJsonObject &o : std::as_const(static_cast<FakeSlack *>(m_fake.get())->messages))
                all.append(QString::fromUtf8(compact(o)));
        } else if (m_platform == u"feishu") {
            for (const QJsonObject &o : std::as_const(static_cast<FakeFeishu *>(m_fake.get())->messages))
                all.append(QString::fromUtf8(compact(o)));
        } else if (m_platform == u"wecom") {
            for (const QJsonObject &o : std::as_const(static_cast<FakeWeCom *>(m_fake.get())->chatMessages))
                all.append(QString::fromUtf8(compact(o)));
        } else {
            for (const auto &c : std::as_const(static_cast<FakeDingTalk *>(m_fake.get())->interactiveCards))
                all.append(QString::fromUtf8(compact(c.params)));
        }
        return int(std::count_if(all.cbegin(), all.cend(), [&](const QString &m) { return m.contains(text); }));
    }

    // The first change of the card after the click, as the platform took it.
    QString firstCardChange(const QString &messageId) const
    {
        if (m_platform == u"slack") {
            const auto &updates = static_cast<FakeSlack *>(m_fake.get())->updates;
            return updates.isEmpty() ? QString() : QString::fromUtf8(compact(updates.first()));
        }
        if (m_platform == u"wecom")
            return QString::fromUtf8(compact(static_cast<FakeWeCom *>(m_fake.get())->cards.value(messageId)));
        const QString path = m_platform == u"feishu" ? QStringLiteral("/open-apis/im/v1/messages/") + messageId
                                                     : QStringLiteral("/v1.0/im/interactiveCards/send");
        for (const FakeRequest &r : m_fake->requests()) {
            if (r.path == path)
                return QString::fromUtf8(r.body);
        }
        return {};
    }
    // How often the platform took a change of the card after it was posted.
    int cardUpdates() const
    {
        if (m_platform == u"slack")
            return int(static_cast<FakeSlack *>(m_fake.get())->updates.size());
        if (m_platform == u"feishu")
            return int(m_fake->paths().filter(QRegularExpression(QStringLiteral("^PATCH "))).size());
        if (m_platform == u"wecom")
            return static_cast<FakeWeCom *>(m_fake.get())
                ->count(QStringLiteral("/cgi-bin/message/update_template_card"));
        return int(static_cast<FakeDingTalk *>(m_fake.get())->cardUpdates.size());
    }

    void wholeIteration_data() { platforms(); }
    // An iteration from its start to a build chosen on the deploy card running in the cluster, on
    // each platform, with the card following the deploy until it says "deployed".
    void wholeIteration()
    {
        QElapsedTimer clock;
        clock.start();
        if (!m_cluster)
            m_cluster = std::make_unique<SandboxCluster>(m_clusterDir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(m_cluster->error().isEmpty(), qPrintable(m_cluster->error()));
        m_withCluster = true;
        setUpPlatform();
        if (QTest::currentTestFailed())
            return;
        const QStringList u = users();
        QCOMPARE(publish(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("1.0")).status, 200);
        QCOMPARE(publish(QStringLiteral("web"), QStringLiteral("feature/x"), QStringLiteral("2.0")).status, 200);

        // The iteration starts: its group with the members, its environment with the default branch.
        QCOMPARE(startIteration(m_platform, {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")}).status, 200);
        const qint64 it = iterationId(m_platform);
        QVERIFY(it > 0);
        QTRY_VERIFY_WITH_TIMEOUT(!chatOf(it).isEmpty(), 10000);
        const QString chat = chatOf(it);
        QStringList wanted {u.at(0), u.at(1)};
        wanted.sort();
        QTRY_COMPARE_WITH_TIMEOUT(chatMembers(chat), wanted, 10000);
        const QString ns = QStringLiteral("shop-sprint-") + m_platform;
        QTRY_COMPARE_WITH_TIMEOUT(m_cluster->deployedImage(ns, QStringLiteral("web")),
                                  QStringLiteral("iterdeck/demo-web:1.0"), 20000);
        qint64 envId = 0;
        QString envState;
        auto environment = [&] {
            auto envs = m_bot->store().environments();
            for (const model::Environment &e : envs ? *envs : QList<model::Environment>()) {
                if (e.iterationId == it) {
                    envId = e.id;
                    envState = e.state;
                }
            }
            return envState;
        };
        QTRY_COMPARE_WITH_TIMEOUT(environment(), QStringLiteral("ready"), 20000);
        QCOMPARE(m_bot->environments()->isIdle(), true);

        // Alice asks for the deploy card in the group, picks feature/x for web and confirms.
        QCOMPARE(send(command(u.at(0), chat, QStringLiteral("deploy"), QStringLiteral("ev-deploy"))).status, 200);
        QTRY_VERIFY_WITH_TIMEOUT(!postedCard(chat).isEmpty(), 10000);
        const QString card = postedCard(chat);
        const Reply clicked = send(confirmClick(u.at(0), chat, QStringLiteral("env-%1").arg(envId), card,
                                                {QStringLiteral("web"), QStringLiteral("feature/x"), {}}));
        QVERIFY2(clicked.status == 200, clicked.body.constData());

        // The cluster runs the chosen build, and the card says so.
        QTRY_COMPARE_WITH_TIMEOUT(m_cluster->deployedImage(ns, QStringLiteral("web")),
                                  QStringLiteral("iterdeck/demo-web:2.0"), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(m_bot->cardFollower()->count(), 0, 10000);
        const QString shown = cardNow(chat, card);
        QVERIFY2(shown.contains(QStringLiteral("Deployed: web 2.0 · c0ffee2")), qPrintable(shown));
        QVERIFY2(shown.contains(QStringLiteral("deployed 2.0 · c0ffee2")), qPrintable(shown));
        QVERIFY(cardUpdates() >= 1);
        // The click was answered with the card deploying, before the result came.
        const QString first = firstCardChange(card);
        QVERIFY2(first.contains(QStringLiteral("Deploying (confirmed by Alice)")), qPrintable(first));
        if (m_platform == u"dingtalk") {
            // The markdown card cannot change; the progress went to an interactive card, changed in place.
            const auto &cards = static_cast<FakeDingTalk *>(m_fake.get())->interactiveCards;
            QCOMPARE(cards.size(), 1);
            QCOMPARE(cards.first().params.value(u"state").toString(), QStringLiteral("succeeded"));
            QCOMPARE(cards.first().openConversationId, chat);
        }
        if (m_platform == u"wecom") {
            // One update with the click's response code (the card shows the deploy), then the result as
            // a message to the group.
            QCOMPARE(cardUpdates(), 1);
            QVERIFY(!static_cast<FakeWeCom *>(m_fake.get())->cards.value(card).isEmpty());
        }

        // A confirmed redeploy in chat: its card is posted and follows the deploy too.
        QCOMPARE(cardsSaying(QStringLiteral("Deployed: web 2.0 · c0ffee2")), 1);
        QCOMPARE(send(command(u.at(0), chat, QStringLiteral("redeploy web"), QStringLiteral("ev-redeploy"), "nonce-r"))
                     .status,
                 200);
        static const QRegularExpression confirm(QStringLiteral("Reply \\\\?\"confirm ([a-z0-9]{6})"));
        QString token;
        QTRY_VERIFY_WITH_TIMEOUT(!(token = confirm.match(chatMessages(chat).join(u'\n')).captured(1)).isEmpty(), 10000);
        QCOMPARE(
            send(command(u.at(0), chat, QStringLiteral("confirm ") + token, QStringLiteral("ev-confirm"), "nonce-c"))
                .status,
            200);
        QTRY_COMPARE_WITH_TIMEOUT(cardsSaying(QStringLiteral("Deployed: web 2.0 · c0ffee2")), 2, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(m_bot->cardFollower()->count(), 0, 10000);
        QCOMPARE(m_cluster->deployedImage(ns, QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:2.0"));

        // CI publishes a new build of the followed branch: the environment follows it, and the
        // group hears of it.
        QCOMPARE(publish(QStringLiteral("web"), QStringLiteral("feature/x"), QStringLiteral("3.0")).status, 200);
        QTRY_COMPARE_WITH_TIMEOUT(m_cluster->deployedImage(ns, QStringLiteral("web")),
                                  QStringLiteral("iterdeck/demo-web:3.0"), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(chatMessages(chat).join(u'\n').contains(QStringLiteral("3.0")), 10000);

        // The iteration closes: after the grace period the namespace goes and the group is closed
        // as the platform allows (Slack archives, Feishu disbands, WeCom and DingTalk let the
        // members go).
        QCOMPARE(sendCi({{QStringLiteral("type"), QStringLiteral("iteration.closed")},
                         {QStringLiteral("iteration"), QJsonObject {{QStringLiteral("id"), m_platform}}}})
                     .status,
                 200);
        QTRY_COMPARE_WITH_TIMEOUT(environment(), QStringLiteral("deleted"), 30000);
        int nsStatus = 0;
        QTRY_VERIFY_WITH_TIMEOUT((m_cluster->get(kube::ResourceRef::namespaces(), {}, ns, &nsStatus), nsStatus == 404),
                                 30000);
        auto groupState = [&] {
            auto g = m_bot->store().group(it, m_platform);
            return g && g->has_value() ? (*g)->state : QString();
        };
        QTRY_COMPARE_WITH_TIMEOUT(groupState(), QStringLiteral("archived"), 20000);
        if (m_platform == u"slack")
            QVERIFY(static_cast<FakeSlack *>(m_fake.get())->channels.value(chat).archived);
        else if (m_platform == u"feishu")
            QVERIFY(!static_cast<FakeFeishu *>(m_fake.get())->chats.contains(chat));
        else
            QTRY_VERIFY_WITH_TIMEOUT(!chatMembers(chat).contains(u.at(1)), 10000);

        QVERIFY2(m_fake->shapeErrors().isEmpty(), qPrintable(m_fake->shapeErrors().join(u'\n')));
        qInfo("%s: whole iteration in %lld ms", qPrintable(m_platform), qint64(clock.elapsed()));
    }

    // A burst of deploy events: the card is posted at once, then changed once more with the last
    // state, no sooner than the interval after the post; a failure shows the tail of its output.
    void cardUpdatesThrottled()
    {
        const QString chat = startWithGroup(QStringLiteral("slack"), QStringLiteral("5"), {QStringLiteral("alice-gh")});
        if (chat.isEmpty())
            return;
        auto *slack = static_cast<FakeSlack *>(m_fake.get());

        CardFollower follower(&m_bot->commands(), nullptr, m_bot->imAdapter());
        follower.setMinIntervalMs(400);
        QList<std::pair<qint64, im::DeployCard::State>> shown;
        QElapsedTimer clock;
        clock.start();
        connect(&follower, &CardFollower::cardShown, this,
                [&](const QString &, const QString &, const im::DeployCard &card) {
                    shown.append({clock.elapsed(), card.state});
                });
        im::DeployCard card;
        card.cardId = QStringLiteral("env-77");
        card.iteration = QStringLiteral("Sprint 5");
        card.environment = QStringLiteral("shop-sprint-5");
        card.requestedBy = QStringLiteral("Alice");
        for (const char *name : {"web", "worker"}) {
            im::CardComponent c;
            c.name = QString::fromLatin1(name);
            c.branches = {{QStringLiteral("main"), std::nullopt}};
            c.selectedBranch = QStringLiteral("main");
            card.components.append(c);
        }
        CardFollower::Start start;
        start.chatId = chat;
        start.environmentId = 77;
        start.components = {QStringLiteral("web"), QStringLiteral("worker")};
        start.card = card;
        follower.follow(start);
        QCOMPARE(follower.count(), 1);
        auto event = [](const char *type, const char *component, QJsonObject payload = {}) {
            model::Event e;
            e.type = QString::fromLatin1(type);
            e.environmentId = 77;
            payload.insert(QStringLiteral("component"), QString::fromLatin1(component));
            e.payload = payload;
            return e;
        };
        const QJsonObject artifact {{QStringLiteral("imageTag"), QStringLiteral("3.1")},
                                    {QStringLiteral("commit"), QStringLiteral("feedbeef1234")}};
        follower.eventsCommitted({event("deploy.started", "web", {{QStringLiteral("artifact"), artifact}}),
                                  event("deploy.started", "worker", {{QStringLiteral("artifact"), artifact}})});
        follower.eventsCommitted({event("deploy.succeeded", "web", {{QStringLiteral("artifact"), artifact}})});
        // Another environment's events change nothing.
        model::Event other = event("deploy.failed", "web");
        other.environmentId = 78;
        follower.eventsCommitted({other});
        follower.eventsCommitted(
            {event("deploy.failed", "worker",
                   {{QStringLiteral("artifact"), artifact},
                    {QStringLiteral("message"), QStringLiteral("rollout of worker failed")},
                    {QStringLiteral("output"),
                     QJsonArray {QStringLiteral("line 1"), QStringLiteral("line 2"), QStringLiteral("line 3"),
                                 QStringLiteral("Back-off pulling image \"iterdeck/demo-worker:3.1\"")}}})});
        QTRY_COMPARE_WITH_TIMEOUT(follower.count(), 0, 5000);
        QCOMPARE(shown.size(), qsizetype(2));
        QCOMPARE(shown.at(0).second, im::DeployCard::State::Deploying);
        QCOMPARE(shown.at(1).second, im::DeployCard::State::Failed);
        QVERIFY2(shown.at(1).first - shown.at(0).first >= 300, qPrintable(QString::number(shown.at(1).first)));
        QCOMPARE(slack->updates.size(), qsizetype(1));
        const QString text = QString::fromUtf8(compact(slack->updates.first()));
        QVERIFY2(text.contains(QStringLiteral("Deploy failed: worker; deployed web 3.1 · feedbee")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("deployed 3.1 · feedbee")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("failed: rollout of worker failed\\nline 2\\nline 3\\nBack-off pulling")),
                 qPrintable(text));
        QVERIFY2(!text.contains(QStringLiteral("line 1")), qPrintable(text));
        QVERIFY2(slack->shapeErrors().isEmpty(), qPrintable(slack->shapeErrors().join(u'\n')));
    }

    // Slack: a slash command is answered through its response_url (in the channel); a redelivery
    // of it (the same trigger_id) runs once, also after a restart. A card click the bot refuses is
    // answered through the click's response_url to the clicking user only, the card kept.
    void slackResponseUrl()
    {
        const QString chat = startWithGroup(QStringLiteral("slack"), QStringLiteral("3"),
                                            {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")});
        if (chat.isEmpty())
            return;
        auto *slack = static_cast<FakeSlack *>(m_fake.get());
        const QString marker = QStringLiteral("Sprint 3 has 2 members:");
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        const im::InboundRequest ask = slack->slashCommand(chat, QStringLiteral("U01ALICE"), QStringLiteral("members"),
                                                           QStringLiteral("trig-1"), now);
        QCOMPARE(send(ask).status, 200);
        QTRY_COMPARE_WITH_TIMEOUT(replies(chat, marker), 1, 10000);
        QCOMPARE(slack->responseUrls.first().uses, 1);
        QCOMPARE(slack->count(QStringLiteral("/api/chat.postMessage")), 0);
        // Slack sends it again: acknowledged, not run.
        QCOMPARE(send(ask).status, 200);
        startBot();
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(send(slack->slashCommand(chat, QStringLiteral("U01ALICE"), QStringLiteral("members"),
                                          QStringLiteral("trig-1"), now))
                     .status,
                 200);
        QCOMPARE(send(slack->slashCommand(chat, QStringLiteral("U02BOB"), QStringLiteral("members"),
                                          QStringLiteral("trig-2"), now))
                     .status,
                 200);
        QTRY_COMPARE_WITH_TIMEOUT(replies(chat, marker), 2, 10000);
        QList<int> uses; // each response_url: the first, the redelivery's (not run), Bob's
        for (const FakeSlack::ResponseUrl &r : std::as_const(slack->responseUrls))
            uses.append(r.uses);
        std::sort(uses.begin(), uses.end());
        QCOMPARE(uses, (QList<int> {0, 1, 1}));
        auto deliveries = m_bot->store().deliveryCount();
        QVERIFY(deliveries);
        QCOMPARE(*deliveries, qint64(3)); // the webhook and the two commands

        // No environments here: the click is refused, and only Alice is told.
        const QString value = im::cardvalue::encode(im::CardAction::Kind::Confirm, QStringLiteral("env-1"),
                                                    {QStringLiteral("web"), QStringLiteral("main"), {}})
                                  .value_or(QString());
        QCOMPARE(send(slack->blockAction(chat, QStringLiteral("U01ALICE"), QStringLiteral("1700000000.999999"),
                                         QStringLiteral("idk_confirm"), value, false, now))
                     .status,
                 200);
        QTRY_COMPARE_WITH_TIMEOUT(slack->ephemeral.size(), qsizetype(1), 10000);
        QCOMPARE(slack->ephemeral.first().value(u"text").toString(), QStringLiteral("environments are disabled"));
        QCOMPARE(slack->ephemeral.first().value(u"replace_original").toBool(true), false);
        QVERIFY2(slack->shapeErrors().isEmpty(), qPrintable(slack->shapeErrors().join(u'\n')));
    }

    // DingTalk: the reply to a robot message goes through its sessionWebhook while that is valid,
    // afterwards through the robot API.
    void dingtalkSessionWebhook()
    {
        const QString chat = startWithGroup(QStringLiteral("dingtalk"), QStringLiteral("4"),
                                            {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")});
        if (chat.isEmpty())
            return;
        auto *ding = static_cast<FakeDingTalk *>(m_fake.get());
        const QString marker = QStringLiteral("Sprint 4 has 2 members:");
        auto robotReplies = [&] {
            int n = 0;
            for (const QJsonObject &o : std::as_const(ding->robotMessages))
                n += QString::fromUtf8(compact(o)).contains(marker) ? 1 : 0;
            return n;
        };
        QCOMPARE(send(command(QStringLiteral("alice"), chat, QStringLiteral("members"), QStringLiteral("m-1"))).status,
                 200);
        QTRY_COMPARE_WITH_TIMEOUT(replies(chat, marker), 1, 10000);
        QCOMPARE(ding->sessionMessages.size(), qsizetype(1));
        QCOMPARE(ding->sessionMessages.first().value(u"conversationId").toString(), chat);
        QCOMPARE(robotReplies(), 0);
        // The sessionWebhook expired a minute ago.
        m_sessionLifeSeconds = -60;
        QCOMPARE(send(command(QStringLiteral("alice"), chat, QStringLiteral("members"), QStringLiteral("m-2"))).status,
                 200);
        QTRY_COMPARE_WITH_TIMEOUT(robotReplies(), 1, 10000);
        QCOMPARE(ding->sessionMessages.size(), qsizetype(1));
        m_sessionLifeSeconds = 5400;
        QVERIFY2(ding->shapeErrors().isEmpty(), qPrintable(ding->shapeErrors().join(u'\n')));
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
