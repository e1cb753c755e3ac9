// The platform-neutral parts of the IM layer: card action values, card checks, the identity map
// from the manifest's people, the adapter factory (secrets, base URLs, settings errors) and the
// API client's token sharing and retries.
#include "fuzz/fuzzimcallbacks.h"
#include "im/adapterfactory.h"
#include "im/apiclient.h"
#include "im/deploycard.h"
#include "im/identitymap.h"
#include "im/imadapter.h"
#include "imtestsupport.h"
#include "testutil/fakehttpserver.h"

#include <QDirIterator>
#include <QNetworkAccessManager>
#include <QTemporaryDir>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::im;
using namespace iterdeck::testing;

class TestImCore : public QObject
{
    Q_OBJECT

    QNetworkAccessManager m_nam;

private Q_SLOTS:
    void cardValueRoundTrip_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("component");
        QTest::addColumn<QString>("branch");
        QTest::addColumn<QString>("build");
        QTest::newRow("select") << int(CardAction::Kind::Select) << "api"
                                << "feature/pay"
                                << "sha256:bb22";
        QTest::newRow("separators in names") << int(CardAction::Kind::Select) << "a|b"
                                             << "x%y|z"
                                             << "";
        QTest::newRow("unicode") << int(CardAction::Kind::Select) << "api"
                                 << "功能/支付"
                                 << "1.0";
        QTest::newRow("confirm") << int(CardAction::Kind::Confirm) << ""
                                 << ""
                                 << "";
        QTest::newRow("cancel") << int(CardAction::Kind::Cancel) << ""
                                << ""
                                << "";
    }

    void cardValueRoundTrip()
    {
        QFETCH(int, kind);
        QFETCH(QString, component);
        QFETCH(QString, branch);
        QFETCH(QString, build);
        const auto v = cardvalue::encode(CardAction::Kind(kind), QStringLiteral("card-1"), {component, branch, build});
        QVERIFY(v.has_value());
        QVERIFY(v->size() <= cardvalue::maxLength);
        const auto a = cardvalue::decode(*v);
        QVERIFY(a.has_value());
        QCOMPARE(int(a->kind), kind);
        QCOMPARE(a->cardId, QStringLiteral("card-1"));
        if (component.isEmpty())
            QVERIFY(a->selections.isEmpty());
        else
            QCOMPARE(a->selections, (QList<CardSelection> {{component, branch, build}}));
    }

    void cardValueRejected_data()
    {
        QTest::addColumn<QString>("value");
        QTest::newRow("empty") << "";
        QTest::newRow("other prefix") << "idk2|s|c|a|b|";
        QTest::newRow("too few fields") << "idk1|s|c|a|b";
        QTest::newRow("too many fields") << "idk1|s|c|a|b||";
        QTest::newRow("unknown kind") << "idk1|z|c|a|b|";
        QTest::newRow("no card") << "idk1|c||||";
        QTest::newRow("select without branch") << "idk1|s|c|a||";
        QTest::newRow("huge") << QStringLiteral("idk1|s|c|a|") + QString(1000, u'b') + u'|';
    }

    void cardValueRejected()
    {
        QFETCH(QString, value);
        QVERIFY(!cardvalue::decode(value).has_value());
    }

    void cardProblems()
    {
        DeployCard card = sampleCard();
        QCOMPARE(cardProblem(card), std::nullopt);
        card.components[0].branches[0].name = QString(140, u'b');
        QCOMPARE(
            cardProblem(card).value_or(QString()),
            QStringLiteral("component \"api\", branch \"%1\": the names are too long for a card action (at most 150 "
                           "bytes encoded)")
                .arg(QString(140, u'b')));
        card.cardId.clear();
        QCOMPARE(cardProblem(card).value_or(QString()), QStringLiteral("the deploy card has no id"));
    }

    void identities()
    {
        model::Person alice;
        alice.name = QStringLiteral("Alice");
        alice.imUserId = QStringLiteral("ou_alice");
        alice.collabUsers = {QStringLiteral("alice"), QStringLiteral("Alice@Example.com")};
        alice.kubeUser = QStringLiteral("alice");
        alice.admin = true;
        model::Person bob;
        bob.name = QStringLiteral("Bob");
        bob.collabUsers = {QStringLiteral("bob")};
        bob.kubeUser = QStringLiteral("bob-sa");
        const IdentityMap map({alice, bob});
        QCOMPARE(map.byImUser(QStringLiteral("ou_alice"))->name, QStringLiteral("Alice"));
        QCOMPARE(map.byImUser(QStringLiteral("OU_ALICE")), nullptr);
        QCOMPARE(map.byCollabUser(QStringLiteral("alice@example.COM"))->name, QStringLiteral("Alice"));
        QCOMPARE(map.byKubeUser(QStringLiteral("bob-sa"))->name, QStringLiteral("Bob"));
        QCOMPARE(map.kubeUserForIm(QStringLiteral("ou_alice")), QStringLiteral("alice"));
        QCOMPARE(map.kubeUserForIm(QStringLiteral("ou_nobody")), QString());
        QVERIFY(map.isAdmin(QStringLiteral("ou_alice")));
        QVERIFY(!map.isAdmin(QStringLiteral("ou_bob")));
        QStringList unknown;
        QCOMPARE(map.imUsersForCollab({QStringLiteral("ALICE"), QStringLiteral("alice@example.com"),
                                       QStringLiteral("bob"), QStringLiteral("mallory")},
                                      &unknown),
                 QStringList {QStringLiteral("ou_alice")});
        QCOMPARE(unknown, (QStringList {QStringLiteral("bob"), QStringLiteral("mallory")}));
    }

    void factory_data()
    {
        QTest::addColumn<QString>("adapter");
        QTest::addColumn<QStringList>("settings"); // key=value (plain) or key=$ENV / key=@file (secrets)
        QTest::addColumn<QString>("platform");
        QTest::addColumn<QString>("error");
        QTest::newRow("none") << "none" << QStringList() << QString() << QString();
        QTest::newRow("slack") << "slack"
                               << QStringList {QStringLiteral("botToken=$T_TOKEN"),
                                               QStringLiteral("signingSecret=@secret")}
                               << "slack" << QString();
        QTest::newRow("slack, env unset")
            << "slack" << QStringList {QStringLiteral("botToken=$T_UNSET"), QStringLiteral("signingSecret=@secret")}
            << QString() << "config: im.botToken: environment variable T_UNSET is not set";
        QTest::newRow("slack, file missing")
            << "slack" << QStringList {QStringLiteral("botToken=$T_TOKEN"), QStringLiteral("signingSecret=@nope")}
            << QString() << "config: im.signingSecret: cannot read NOPE: No such file or directory";
        QTest::newRow("slack, empty secret")
            << "slack" << QStringList {QStringLiteral("botToken=$T_EMPTY"), QStringLiteral("signingSecret=@secret")}
            << QString() << "config: im.botToken is empty";
        QTest::newRow("base from env") << "slack"
                                       << QStringList {QStringLiteral("botToken=$T_TOKEN"),
                                                       QStringLiteral("signingSecret=@secret"),
                                                       QStringLiteral("apiBaseUrl=$T_BASE")}
                                       << "slack" << QString();
        QTest::newRow("base from env, not a URL")
            << "slack"
            << QStringList {QStringLiteral("botToken=$T_TOKEN"), QStringLiteral("signingSecret=@secret"),
                            QStringLiteral("apiBaseUrl=$T_TOKEN")}
            << QString() << "config: im.apiBaseUrl \"xoxb-1\" is not an http or https URL";
        QTest::newRow("feishu") << "feishu"
                                << QStringList {QStringLiteral("appId=cli_1"), QStringLiteral("appSecret=$T_TOKEN"),
                                                QStringLiteral("encryptKey=@secret")}
                                << "feishu" << QString();
        QTest::newRow("feishu, nothing to verify with")
            << "feishu" << QStringList {QStringLiteral("appId=cli_1"), QStringLiteral("appSecret=$T_TOKEN")}
            << QString() << "config: im: Feishu callbacks cannot be verified without verificationToken or encryptKey";
        QTest::newRow("wecom") << "wecom"
                               << QStringList {QStringLiteral("corpId=ww1"), QStringLiteral("agentId=1000002"),
                                               QStringLiteral("secret=$T_TOKEN"), QStringLiteral("token=$T_TOKEN"),
                                               QStringLiteral("encodingAESKey=$T_AES")}
                               << "wecom" << QString();
        QTest::newRow("wecom, bad AES key")
            << "wecom"
            << QStringList {QStringLiteral("corpId=ww1"), QStringLiteral("agentId=1000002"),
                            QStringLiteral("secret=$T_TOKEN"), QStringLiteral("token=$T_TOKEN"),
                            QStringLiteral("encodingAESKey=$T_TOKEN")}
            << QString() << "config: im.encodingAESKey must be 43 base64 characters";
        QTest::newRow("dingtalk") << "dingtalk"
                                  << QStringList {QStringLiteral("appKey=ding1"), QStringLiteral("appSecret=@secret"),
                                                  QStringLiteral("templateId=t1")}
                                  << "dingtalk" << QString();
        QTest::newRow("unknown") << "matrix" << QStringList() << QString() << "config: unknown IM adapter \"matrix\"";
    }

    void factory()
    {
        QFETCH(QString, adapter);
        QFETCH(QStringList, settings);
        QFETCH(QString, platform);
        QFETCH(QString, error);
        QTemporaryDir dir;
        {
            QFile f(dir.filePath(QStringLiteral("secret")));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("s3cr3t\n");
        }
        qputenv("T_TOKEN", "xoxb-1");
        qputenv("T_EMPTY", "");
        qputenv("T_BASE", "http://127.0.0.1:8080/api");
        qputenv("T_AES", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
        qunsetenv("T_UNSET");
        model::ImSettings s;
        s.adapter = adapter;
        for (const QString &kv : settings) {
            const QString key = kv.section(u'=', 0, 0);
            const QString v = kv.section(u'=', 1);
            if (v.startsWith(u'$'))
                s.secrets.insert(key, {model::SecretRef::Kind::Env, v.mid(1)});
            else if (v.startsWith(u'@'))
                s.secrets.insert(
                    key,
                    {model::SecretRef::Kind::File, v == u"@nope" ? QStringLiteral("NOPE") : dir.filePath(v.mid(1))});
            else
                s.values.insert(key, v);
        }
        auto made = createAdapter(s, &m_nam);
        QCOMPARE(errorText(made), error);
        if (!made)
            return;
        std::unique_ptr<ImAdapter> a(*made);
        QCOMPARE(a ? a->platform() : QString(), platform);
    }

    void tokenFetchedOnceForConcurrentCalls()
    {
        FakeHttpServer server;
        QVERIFY(server.listen());
        server.enqueue(FakeHttpServer::reply(200, R"({"token":"t1","ttl":7200})"));
        server.enqueue(FakeHttpServer::reply(200, R"({"ok":true})"));
        ApiClient client(&m_nam, QUrl(server.url()));
        int fetches = 0;
        client.fetchToken = [&fetches](ApiClient *c, ApiClient::TokenDone done) {
            ++fetches;
            ApiRequest r;
            r.method = "GET";
            r.path = QStringLiteral("/token");
            r.needsToken = false;
            c->call(r, c, [done](Expected<ApiAnswer, ImError> a) {
                done(std::make_pair(a->json.value(u"token").toString(), a->json.value(u"ttl").toInt()));
            });
        };
        client.authorize = [](QNetworkRequest &req, QUrl &, const QString &token) {
            req.setRawHeader("Authorization", token.toUtf8());
        };
        int done = 0;
        for (int i = 0; i < 3; ++i) {
            ApiRequest r;
            r.path = QStringLiteral("/call");
            r.body = QJsonDocument(QJsonObject {{QStringLiteral("i"), i}});
            client.call(r, this, [&done](Expected<ApiAnswer, ImError> a) { done += a.hasValue() ? 1 : 100; });
        }
        QTRY_COMPARE(done, 3);
        QCOMPARE(fetches, 1);
        QCOMPARE(server.requests().size(), 4);
        for (int i = 1; i < 4; ++i)
            QVERIFY(server.requests()[i].headers.contains("Authorization: t1"));
    }

    void serverErrorsRetried_data()
    {
        QTest::addColumn<QList<int>>("statuses");
        QTest::addColumn<QString>("error");
        QTest::newRow("503 then ok") << QList<int> {503, 200} << QString();
        QTest::newRow("always 502") << QList<int> {502, 502, 502, 502} << "http: POST /x answered HTTP 502 (HTTP 502)";
        QTest::newRow("400 not retried") << QList<int> {400} << "http: POST /x answered HTTP 400 (HTTP 400)";
    }

    void serverErrorsRetried()
    {
        QFETCH(QList<int>, statuses);
        QFETCH(QString, error);
        FakeHttpServer server;
        QVERIFY(server.listen());
        for (int s : statuses)
            server.enqueue(FakeHttpServer::reply(s, "{}"));
        ApiClient client(&m_nam, QUrl(server.url()));
        RetryPolicy p;
        p.backoffMs = 10;
        client.setRetryPolicy(p);
        client.check = [](const ApiAnswer &a) {
            ApiVerdict v;
            if (a.status >= 500)
                v.kind = ApiVerdict::Kind::Retry;
            else if (a.status >= 400)
                v.kind = ApiVerdict::Kind::Fail;
            return v;
        };
        std::optional<QString> result;
        ApiRequest r;
        r.path = QStringLiteral("/x");
        client.call(r, this, [&result](Expected<ApiAnswer, ImError> a) { result = errorText(a); });
        QTRY_VERIFY(result.has_value());
        QCOMPARE(*result, error);
        QCOMPARE(server.requests().size(), statuses.size());
    }

    void fuzzReplay_data()
    {
        QTest::addColumn<QString>("file");
        for (const char *dir : {"corpus/im_callbacks", "regressions/im_callbacks"}) {
            QDirIterator it(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/fuzz/") + QLatin1String(dir), QDir::Files);
            while (it.hasNext()) {
                const QString f = it.next();
                QTest::newRow(qPrintable(QLatin1String(dir) + u'/' + QFileInfo(f).fileName())) << f;
            }
        }
    }

    void fuzzReplay()
    {
        QFETCH(QString, file);
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray data = f.readAll();
        static fuzz::ImAdapters adapters;
        QVERIFY(
            fuzz::imCallbackOnce(adapters, reinterpret_cast<const uint8_t *>(data.constData()), size_t(data.size())));
    }

    void fuzzSeedsReachParsing()
    {
        // The signed seeds get past verification, so the fuzzer starts inside the parsers.
        fuzz::ImAdapters adapters;
        int events = 0;
        QDirIterator it(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/fuzz/corpus/im_callbacks"), QDir::Files);
        while (it.hasNext()) {
            QFile f(it.next());
            QVERIFY(f.open(QIODevice::ReadOnly));
            const QByteArray d = f.readAll();
            if (!(d.at(0) & 4))
                continue;
            bool accepted = false;
            QVERIFY(fuzz::imCallbackOnce(adapters, reinterpret_cast<const uint8_t *>(d.constData()), size_t(d.size()),
                                         &accepted));
            QVERIFY2(accepted, qPrintable(f.fileName()));
            ++events;
        }
        QCOMPARE(events, 11);
    }

    void jobFinishesOnce()
    {
        ImJob job;
        QSignalSpy spy(&job, &ImJob::finished);
        job.fail({ImError::Code::Network, QStringLiteral("a")});
        job.succeed({});
        job.fail({ImError::Code::Auth, QStringLiteral("b")});
        QCOMPARE(spy.size(), 1);
        QCOMPARE(job.error().message, QStringLiteral("a"));
    }
};

QTEST_GUILESS_MAIN(TestImCore)
#include "tst_imcore.moc"
