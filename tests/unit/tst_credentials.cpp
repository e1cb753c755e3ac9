// CredentialProvider: static tokens, token files, basic auth, client certificates, and real exec
// credential plugins (shell scripts in a temporary folder) with their input, output, caching,
// failures and timeouts.
#include "kube/credentials.h"
#include "kubetestpki.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

using namespace iterdeck;
using namespace iterdeck::kube;
using namespace std::chrono_literals;

namespace {

using Result = Expected<Credentials, KubeError>;

const QString v1 = QStringLiteral("client.authentication.k8s.io/v1");
const QString v1beta1 = QStringLiteral("client.authentication.k8s.io/v1beta1");

QString why(const Result &r)
{
    return r ? QString() : r.error().message;
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeFile(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    f.write(bytes);
}

QByteArray rfc3339(const QDateTime &t)
{
    return t.toUTC().toString(Qt::ISODate).toLatin1();
}

} // namespace

class TestCredentials : public QObject
{
    Q_OBJECT

    QTemporaryDir m_tmp;
    test::TestPki m_pki;
    int m_counter = 0;
    QString m_dir; // per test function

    // An executable shell script in this test's folder.
    QString plugin(const QByteArray &body, const QString &name = QStringLiteral("plugin"))
    {
        const QString path = m_dir + u'/' + name;
        writeFile(path, "#!/bin/sh\n" + body);
        QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        return path;
    }

    // A plugin that counts its runs in `runs` and prints `output`.
    QString countingPlugin(const QByteArray &output, const QByteArray &before = {})
    {
        writeFile(m_dir + QStringLiteral("/output.json"), output);
        return plugin(before + "echo run >> \"" + m_dir.toUtf8() + "/runs\"\ncat \"" + m_dir.toUtf8()
                      + "/output.json\"\n");
    }

    int runs() const { return int(readAll(m_dir + QStringLiteral("/runs")).count('\n')); }

    static QByteArray tokenOutput(const QByteArray &token, const QString &apiVersion = v1,
                                  const QByteArray &expiry = {})
    {
        QByteArray status = "{\"token\":\"" + token + "\"";
        if (!expiry.isEmpty())
            status += ",\"expirationTimestamp\":\"" + expiry + "\"";
        status += '}';
        return "{\"apiVersion\":\"" + apiVersion.toUtf8() + "\",\"kind\":\"ExecCredential\",\"status\":" + status
            + "}\n";
    }

    static ClientConfig execConfig(const QString &command, const QString &apiVersion = v1)
    {
        ClientConfig c;
        c.cluster.name = QStringLiteral("c1");
        c.cluster.server = QUrl(QStringLiteral("https://127.0.0.1:6443"));
        c.user.name = QStringLiteral("u1");
        ExecPluginConfig x;
        x.apiVersion = apiVersion;
        x.command = command;
        x.interactiveMode = QStringLiteral("Never");
        c.user.exec = x;
        return c;
    }

    // One fetch, waited for through the event loop; fails the test if the callback comes
    // synchronously, twice, or not at all.
    static std::optional<Result> fetch(CredentialProvider &p, int timeoutMs = 10000)
    {
        QObject context;
        std::optional<Result> got;
        int calls = 0;
        p.fetch(&context, [&](const Result &r) {
            ++calls;
            got = r;
        });
        if (calls != 0) {
            qWarning("the callback ran inside fetch()");
            return std::nullopt;
        }
        if (!QTest::qWaitFor([&] { return got.has_value(); }, timeoutMs))
            return std::nullopt;
        QTest::qWait(20); // a second call would arrive by now
        if (calls != 1)
            return std::nullopt;
        return got;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        QString error;
        QVERIFY2(m_pki.create(m_tmp.path() + QStringLiteral("/pki"), &error), qPrintable(error));
    }

    void init()
    {
        m_dir = m_tmp.path() + QStringLiteral("/t%1").arg(++m_counter);
        QVERIFY(QDir().mkpath(m_dir));
    }

    // ---- static credentials ------------------------------------------------------------------

    void staticToken()
    {
        ClientConfig c;
        c.user.token = QStringLiteral("abc");
        CredentialProvider p(c);
        QVERIFY(!p.canRefresh());
        const auto r = fetch(p);
        QVERIFY(r && *r);
        QCOMPARE((*r)->bearerToken, QByteArray("abc"));
        QCOMPARE((*r)->authorizationHeader(), QByteArray("Bearer abc"));
        QVERIFY((*r)->clientCertificate.isNull());
        QVERIFY(!(*r)->expiry.isValid());
    }

    void basicAuth()
    {
        ClientConfig c;
        c.user.username = QStringLiteral("admin");
        c.user.password = QStringLiteral("s3cr\u00e9t");
        CredentialProvider p(c);
        const auto r = fetch(p);
        QVERIFY(r && *r);
        QVERIFY((*r)->bearerToken.isEmpty());
        QCOMPARE((*r)->authorizationHeader(), "Basic " + QByteArray("admin:s3cr\xc3\xa9t").toBase64());
    }

    void anonymous()
    {
        CredentialProvider p(ClientConfig {});
        const auto r = fetch(p);
        QVERIFY(r && *r);
        QVERIFY((*r)->authorizationHeader().isEmpty());
        QVERIFY((*r)->clientCertificate.isNull());
    }

    void clientCertificate_data()
    {
        QTest::addColumn<QString>("cert");
        QTest::addColumn<QString>("key");
        QTest::addColumn<int>("algorithm");
        QTest::addColumn<QString>("error");
        QTest::newRow("RSA") << "rsa.crt"
                             << "rsa-pkcs1.key" << int(QSsl::Rsa) << QString();
        QTest::newRow("EC") << "ec.crt"
                            << "ec-sec1.key" << int(QSsl::Ec) << QString();
        QTest::newRow("EC PKCS#8") << "ec.crt"
                                   << "ec.key" << int(QSsl::Ec) << QString();
        QTest::newRow("mismatch") << "ec.crt"
                                  << "rsa.key" << 0
                                  << "client certificate of user \"me\": the client key does not match the client "
                                     "certificate (ec-user)";
        QTest::newRow("garbage") << "ec.crt"
                                 << "corrupt.key" << 0
                                 << "client certificate of user \"me\": the client key cannot be parsed (unsupported)";
    }
    void clientCertificate()
    {
        QFETCH(QString, cert);
        QFETCH(QString, key);
        QFETCH(int, algorithm);
        QFETCH(QString, error);
        ClientConfig c;
        c.user.name = QStringLiteral("me");
        // A chain: the leaf, then an intermediate.
        c.user.clientCertificatePem = m_pki.pem(cert) + m_pki.pem(QStringLiteral("rsa.crt"));
        c.user.clientKeyPem = m_pki.pem(key);
        CredentialProvider p(c);
        QVERIFY(!p.canRefresh());
        const auto r = fetch(p);
        QVERIFY(r);
        if (!error.isEmpty()) {
            QVERIFY(!*r);
            QCOMPARE(r->error().kind, KubeError::Kind::Config);
            QCOMPARE(r->error().message, error);
            return;
        }
        QVERIFY2(*r, qPrintable(why(*r)));
        QCOMPARE((*r)->clientCertificate, QSslCertificate(m_pki.pem(cert)));
        QCOMPARE((*r)->clientChain, QList<QSslCertificate> {QSslCertificate(m_pki.pem(QStringLiteral("rsa.crt")))});
        QVERIFY(!(*r)->clientKey.isNull());
        QCOMPARE(int((*r)->clientKey.algorithm()), algorithm);
        QCOMPARE((*r)->clientKey.type(), QSsl::PrivateKey);
        QVERIFY((*r)->authorizationHeader().isEmpty());
    }

    void tokenFile()
    {
        const QString path = m_dir + QStringLiteral("/token");
        writeFile(path, "  first-token\n\n");
        ClientConfig c;
        c.user.tokenFile = path;
        CredentialProvider p(c);
        QVERIFY(p.canRefresh());
        auto r = fetch(p);
        QVERIFY(r && *r);
        QCOMPARE((*r)->bearerToken, QByteArray("first-token")); // trimmed, as client-go does
        // Rotated on disk: kept for a while, re-read after invalidate() (a 401).
        writeFile(path, "second-token");
        r = fetch(p);
        QCOMPARE((*r)->bearerToken, QByteArray("first-token"));
        p.invalidate();
        r = fetch(p);
        QCOMPARE((*r)->bearerToken, QByteArray("second-token"));
        // Gone or empty: an Auth error naming the file.
        writeFile(path, " \n");
        p.invalidate();
        r = fetch(p);
        QVERIFY(r && !*r);
        QCOMPARE(r->error().kind, KubeError::Kind::Auth);
        QCOMPARE(r->error().message, QStringLiteral("read empty token from file \"%1\"").arg(path));
        QFile::remove(path);
        p.invalidate();
        r = fetch(p);
        QCOMPARE(r->error().message, QStringLiteral("failed to read token file \"%1\": no such file").arg(path));
    }

    void tokenWinsOverTokenFileAndExec()
    {
        ClientConfig c = execConfig(countingPlugin(tokenOutput("from-plugin")));
        c.user.token = QStringLiteral("inline");
        c.user.tokenFile = m_dir + QStringLiteral("/missing");
        CredentialProvider p(c);
        QVERIFY(!p.canRefresh());
        const auto r = fetch(p);
        QVERIFY(r && *r);
        QCOMPARE((*r)->bearerToken, QByteArray("inline"));
        QCOMPARE(runs(), 0); // client-go skips the plugin when the user has credentials of its own
    }

    // ---- exec plugins ------------------------------------------------------------------------

    void execToken_data()
    {
        QTest::addColumn<QString>("apiVersion");
        QTest::newRow("v1") << v1;
        QTest::newRow("v1beta1") << v1beta1;
    }
    void execToken()
    {
        QFETCH(QString, apiVersion);
        CredentialProvider p(execConfig(countingPlugin(tokenOutput("tok-1", apiVersion)), apiVersion));
        QVERIFY(p.canRefresh());
        auto r = fetch(p);
        QVERIFY(r);
        QVERIFY2(*r, qPrintable(why(*r)));
        QCOMPARE((*r)->bearerToken, QByteArray("tok-1"));
        QVERIFY(!(*r)->expiry.isValid());
        // No expirationTimestamp: kept for the life of the provider.
        r = fetch(p);
        QCOMPARE((*r)->bearerToken, QByteArray("tok-1"));
        QCOMPARE(runs(), 1);
    }

    void execExpiry_data()
    {
        QTest::addColumn<int>("expiresInSeconds");
        QTest::addColumn<int>("expectedRuns");
        QTest::newRow("in an hour: cached") << 3600 << 1;
        QTest::newRow("in 3 s: as good as expired") << 3 << 2;
        QTest::newRow("already expired") << -60 << 2;
    }
    void execExpiry()
    {
        QFETCH(int, expiresInSeconds);
        QFETCH(int, expectedRuns);
        const QDateTime expiry = QDateTime::currentDateTimeUtc().addSecs(expiresInSeconds);
        CredentialProvider p(execConfig(countingPlugin(tokenOutput("t", v1, rfc3339(expiry)))));
        auto r = fetch(p);
        QVERIFY2(r && *r, r ? qPrintable(why(*r)) : "no answer");
        QCOMPARE((*r)->expiry, QDateTime::fromString(QString::fromLatin1(rfc3339(expiry)), Qt::ISODate));
        QCOMPARE((*r)->bearerToken, QByteArray("t")); // used for this request even when already expired
        r = fetch(p);
        QVERIFY(r && *r);
        QCOMPARE(runs(), expectedRuns);
    }

    void execExpiryFormats_data()
    {
        QTest::addColumn<QByteArray>("timestamp");
        QTest::addColumn<QDateTime>("expected");
        const QDate d(2099, 1, 2);
        QTest::newRow("Z") << QByteArray("2099-01-02T03:04:05Z") << QDateTime(d, QTime(3, 4, 5), Qt::UTC);
        QTest::newRow("fraction") << QByteArray("2099-01-02T03:04:05.123456789Z")
                                  << QDateTime(d, QTime(3, 4, 5, 123), Qt::UTC);
        QTest::newRow("offset") << QByteArray("2099-01-02T05:04:05+02:00") << QDateTime(d, QTime(3, 4, 5), Qt::UTC);
        QTest::newRow("lowercase") << QByteArray("2099-01-02t03:04:05z") << QDateTime(d, QTime(3, 4, 5), Qt::UTC);
    }
    void execExpiryFormats()
    {
        QFETCH(QByteArray, timestamp);
        QFETCH(QDateTime, expected);
        CredentialProvider p(execConfig(countingPlugin(tokenOutput("t", v1, timestamp))));
        const auto r = fetch(p);
        QVERIFY2(r && *r, r ? qPrintable(why(*r)) : "no answer");
        QCOMPARE((*r)->expiry.toUTC(), expected);
    }

    void execInvalidate()
    {
        // Each run hands out the next token.
        const QByteArray counter = m_dir.toUtf8() + "/n";
        const QString command = plugin("n=$(cat \"" + counter + "\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \""
                                       + counter + "\"\nprintf '{\"apiVersion\":\"" + v1.toUtf8()
                                       + "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%s\"}}' $n\n");
        CredentialProvider p(execConfig(command));
        auto r = fetch(p);
        QVERIFY2(r && *r, r ? qPrintable(why(*r)) : "no answer");
        QCOMPARE((*r)->bearerToken, QByteArray("tok-1"));
        r = fetch(p);
        QCOMPARE((*r)->bearerToken, QByteArray("tok-1"));
        p.invalidate(); // after a 401
        r = fetch(p);
        QCOMPARE((*r)->bearerToken, QByteArray("tok-2"));
    }

    void execInfo_data()
    {
        QTest::addColumn<bool>("provideClusterInfo");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("no cluster info") << false
                                         << QByteArray(R"({"apiVersion":"client.authentication.k8s.io/v1",)"
                                                       R"("kind":"ExecCredential","spec":{"interactive":false}})");
        QTest::newRow("cluster info")
            << true
            << QByteArray(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{)"
                          R"("cluster":{"certificate-authority-data":"Q0EgUEVN","config":{"audience":"dev","n":2},)"
                          R"("disable-compression":true,"insecure-skip-tls-verify":true,)"
                          R"("proxy-url":"socks5://proxy:1080","server":"https://10.0.0.1:6443/prefix",)"
                          R"("tls-server-name":"kubernetes"},"interactive":false}})");
    }
    void execInfo()
    {
        QFETCH(bool, provideClusterInfo);
        QFETCH(QByteArray, expected);
        writeFile(m_dir + QStringLiteral("/output.json"), tokenOutput("t"));
        const QByteArray d = m_dir.toUtf8();
        const QString command = plugin("printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"" + d
                                       + "/info\"\n"
                                         "printf '%s|%s|%s' \"$FOO\" \"$ITERDECK_TEST_PARENT\" \"$*\" > \""
                                       + d
                                       + "/env\"\n"
                                         "cat > \""
                                       + d + "/stdin\"\ncat \"" + d + "/output.json\"\n");
        ClientConfig c = execConfig(command);
        c.user.exec->args = {QStringLiteral("get-token"), QStringLiteral("--x=1 2")};
        c.user.exec->env = {{QStringLiteral("FOO"), QStringLiteral("bar")},
                            {QStringLiteral("ITERDECK_TEST_OVERRIDE"), QStringLiteral("mine")}};
        c.user.exec->provideClusterInfo = provideClusterInfo;
        c.cluster.server = QUrl(QStringLiteral("https://10.0.0.1:6443/prefix"));
        c.cluster.tlsServerName = QStringLiteral("kubernetes");
        c.cluster.insecureSkipTlsVerify = true;
        c.cluster.certificateAuthorityPem = "CA PEM";
        c.cluster.proxyUrl = QUrl(QStringLiteral("socks5://proxy:1080"));
        c.cluster.disableCompression = true;
        c.cluster.execExtension
            = QJsonObject {{QStringLiteral("audience"), QStringLiteral("dev")}, {QStringLiteral("n"), 2}};
        qputenv("ITERDECK_TEST_PARENT", "from-parent");
        CredentialProvider p(c);
        const auto r = fetch(p);
        qunsetenv("ITERDECK_TEST_PARENT");
        QVERIFY2(r && *r, r ? qPrintable(why(*r)) : "no answer");
        // Key order aside, the exact document client-go sends.
        const QJsonDocument info = QJsonDocument::fromJson(readAll(m_dir + QStringLiteral("/info")));
        QVERIFY(info.isObject());
        QCOMPARE(info.toJson(QJsonDocument::Compact), expected);
        QCOMPARE(readAll(m_dir + QStringLiteral("/env")), QByteArray("bar|from-parent|get-token --x=1 2"));
        QCOMPARE(readAll(m_dir + QStringLiteral("/stdin")), QByteArray()); // not interactive: no stdin
    }

    void execClientCertificate()
    {
        const QJsonObject status {
            {QStringLiteral("clientCertificateData"), QString::fromLatin1(m_pki.pem(QStringLiteral("ec.crt")))},
            {QStringLiteral("clientKeyData"), QString::fromLatin1(m_pki.pem(QStringLiteral("ec-sec1.key")))},
            {QStringLiteral("expirationTimestamp"), QStringLiteral("2099-01-01T00:00:00Z")}};
        const QJsonObject out {{QStringLiteral("apiVersion"), v1},
                               {QStringLiteral("kind"), QStringLiteral("ExecCredential")},
                               {QStringLiteral("status"), status}};
        CredentialProvider p(execConfig(countingPlugin(QJsonDocument(out).toJson())));
        const auto r = fetch(p);
        QVERIFY2(r && *r, r ? qPrintable(why(*r)) : "no answer");
        QCOMPARE((*r)->clientCertificate, QSslCertificate(m_pki.pem(QStringLiteral("ec.crt"))));
        QCOMPARE((*r)->clientKey.algorithm(), QSsl::Ec);
        QVERIFY((*r)->bearerToken.isEmpty());
        QCOMPARE((*r)->expiry, QDateTime(QDate(2099, 1, 1), QTime(0, 0), Qt::UTC));
    }

    void execErrors_data()
    {
        QTest::addColumn<QByteArray>("script");
        QTest::addColumn<QString>("expected"); // %P = the plugin's path
        QTest::addColumn<int>("kind");
        const int auth = int(KubeError::Kind::Auth);
        const auto print = [](const QByteArray &json) -> QByteArray { return "cat <<'EOF'\n" + json + "\nEOF\n"; };
        QTest::newRow("wrong apiVersion")
            << print(tokenOutput("t", v1beta1))
            << "getting credentials: exec plugin is configured to use API version client.authentication.k8s.io/v1, "
               "plugin returned version client.authentication.k8s.io/v1beta1"
            << auth;
        QTest::newRow("no status") << print(
            R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"})")
                                   << "getting credentials: exec plugin didn't return a status field" << auth;
        QTest::newRow("empty status") << print(
            R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}})")
                                      << "getting credentials: exec plugin didn't return a token or cert/key pair"
                                      << auth;
        QTest::newRow("certificate without key")
            << print(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
                     R"("status":{"clientCertificateData":"x"}})")
            << "getting credentials: exec plugin returned only certificate or key, not both" << auth;
        QTest::newRow("bad pair")
            << print(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
                     R"("status":{"clientCertificateData":"x","clientKeyData":"y"}})")
            << "getting credentials: failed parsing client key/certificate: the client certificate holds no PEM "
               "certificate"
            << auth;
        QTest::newRow("token is a number")
            << print(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":1}})")
            << "getting credentials: decoding stdout: status.token must be a string" << auth;
        QTest::newRow("bad expiry")
            << print(tokenOutput("t", v1, "tomorrow"))
            << "getting credentials: decoding stdout: status.expirationTimestamp \"tomorrow\" is "
               "not an RFC 3339 time"
            << auth;
        QTest::newRow("expiry without zone") << print(tokenOutput("t", v1, "2099-01-01T00:00:00"))
                                             << "getting credentials: decoding stdout: status.expirationTimestamp "
                                                "\"2099-01-01T00:00:00\" is not an RFC 3339 time"
                                             << auth;
        QTest::newRow("no kind") << print(R"({"apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t"}})")
                                 << "getting credentials: decoding stdout: Object 'Kind' is missing" << auth;
        QTest::newRow("not JSON") << QByteArray("echo 'token: abc'\n")
                                  << "getting credentials: decoding stdout: illegal value at offset 1" << auth;
        QTest::newRow("truncated JSON") << QByteArray("printf '{\"apiVersion\":\"client'\n")
                                        << "getting credentials: decoding stdout: unterminated string at offset 22"
                                        << auth;
        QTest::newRow("a list") << QByteArray("echo '[]'\n")
                                << "getting credentials: decoding stdout: not a JSON object" << auth;
        QTest::newRow("nothing") << QByteArray("exit 0\n")
                                 << "getting credentials: decoding stdout: the plugin wrote nothing" << auth;
        QTest::newRow("exit code 3") << QByteArray("echo 'starting login' >&2\necho 'login failed: bad password' >&2\n"
                                                   "echo '{}'\nexit 3\n")
                                     << "getting credentials: exec: executable %P failed with exit code 3; stderr: "
                                        "starting login\nlogin failed: bad password"
                                     << auth;
        QTest::newRow("exit code, long stderr")
            << QByteArray("printf '%3000s\\n' '' | tr ' ' x >&2\necho 'the real reason' >&2\nexit 1\n")
            << "getting credentials: exec: executable %P failed with exit code 1; stderr: ...%TAIL" << auth;
        QTest::newRow("killed") << QByteArray("kill -9 $$\n")
                                << "getting credentials: exec: executable %P was killed by a signal" << auth;
        QTest::newRow("floods stdout") << QByteArray("head -c 5000000 /dev/zero\n")
                                       << "getting credentials: exec: executable %P wrote more than 4194304 bytes to "
                                          "stdout and was killed"
                                       << auth;
    }
    void execErrors()
    {
        QFETCH(QByteArray, script);
        QFETCH(QString, expected);
        QFETCH(int, kind);
        const QString command = plugin(script);
        CredentialProvider p(execConfig(command));
        const auto r = fetch(p);
        QVERIFY(r);
        QVERIFY(!*r);
        QCOMPARE(int(r->error().kind), kind);
        if (expected.contains(u"%TAIL")) {
            // The last 2 KiB of stderr, cut at a byte boundary, end with the reason.
            QVERIFY(r->error().message.endsWith(u"xxx\nthe real reason"));
            QVERIFY(r->error().message.size() < 2200);
            expected = expected.section(u'%', 0, 1).replace(QStringLiteral("%P"), command);
            QVERIFY2(r->error().message.startsWith(expected.left(expected.indexOf(u"..."))),
                     qPrintable(r->error().message));
            return;
        }
        QCOMPARE(r->error().message, QString(expected).replace(QStringLiteral("%P"), command));
    }

    void execNotFound_data()
    {
        QTest::addColumn<QString>("command");
        QTest::addColumn<QString>("hint");
        QTest::addColumn<QString>("expected"); // %D = this test's folder
        const QString help = QStringLiteral(
            "\n\nIt looks like you are trying to use a client-go credential plugin that is not installed.\n\nTo learn "
            "more about this feature, consult the documentation available at:\n      "
            "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins");
        QTest::newRow("on PATH, with hint")
            << "iterdeck-no-such-plugin"
            << "Install it with: apt install iterdeck-no-such-plugin"
            << QStringLiteral("getting credentials: exec: executable iterdeck-no-such-plugin not found") + help
                + QStringLiteral("\n\nInstall it with: apt install iterdeck-no-such-plugin");
        QTest::newRow("path") << "%D/bin/missing" << QString()
                              << QStringLiteral("getting credentials: exec: executable %D/bin/missing not found")
                + help;
        QTest::newRow("not executable") << "%D/plain" << QString()
                                        << "getting credentials: exec: fork/exec %D/plain: permission denied";
        QTest::newRow("a folder") << "%D" << QString() << "getting credentials: exec: fork/exec %D: permission denied";
    }
    void execNotFound()
    {
        QFETCH(QString, command);
        QFETCH(QString, hint);
        QFETCH(QString, expected);
        writeFile(m_dir + QStringLiteral("/plain"), "#!/bin/sh\necho hi\n");
        ClientConfig c = execConfig(QString(command).replace(QStringLiteral("%D"), m_dir));
        c.user.exec->installHint = hint;
        CredentialProvider p(c);
        const auto r = fetch(p);
        QVERIFY(r && !*r);
        QCOMPARE(r->error().kind, KubeError::Kind::Auth);
        QCOMPARE(r->error().message, QString(expected).replace(QStringLiteral("%D"), m_dir));
    }

    void execTimeout_data()
    {
        QTest::addColumn<QByteArray>("script");
        QTest::newRow("hangs") << QByteArray("echo 'waiting for a browser login' >&2\nexec sleep 30\n");
        // A child that keeps the pipes open must not keep us waiting either.
        QTest::newRow("child holds the pipes") << QByteArray("sleep 30 &\nsleep 30\n");
    }
    void execTimeout()
    {
        QFETCH(QByteArray, script);
        const QString command = plugin(script);
        CredentialProvider p(execConfig(command));
        p.setPluginTimeout(300ms);
        QElapsedTimer timer;
        timer.start();
        const auto r = fetch(p);
        QVERIFY(r && !*r);
        QCOMPARE(r->error().kind, KubeError::Kind::Timeout);
        QVERIFY(r->error().message.startsWith(
            QStringLiteral("getting credentials: exec: executable %1 did not finish within 0.3 s and was killed")
                .arg(command)));
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
    }

    void execConcurrentFetchesShareOneRun()
    {
        CredentialProvider p(execConfig(countingPlugin(tokenOutput("shared"), "sleep 0.3\n")));
        QObject context;
        QList<Result> results;
        for (int i = 0; i < 5; ++i)
            p.fetch(&context, [&](const Result &r) { results.append(r); });
        QVERIFY(results.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(results.size(), 5, 10000);
        for (const Result &r : std::as_const(results)) {
            QVERIFY2(r, qPrintable(why(r)));
            QCOMPARE(r->bearerToken, QByteArray("shared"));
        }
        QCOMPARE(runs(), 1);
        // A fetch from the cache still answers through the event loop.
        bool called = false;
        p.fetch(&context, [&](const Result &) { called = true; });
        QVERIFY(!called);
        QTRY_VERIFY(called);
        QCOMPARE(runs(), 1);
    }

    void execInteractiveMode_data()
    {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<bool>("interactive");
        QTest::addColumn<QString>("expected"); // the error, or the spec.interactive the plugin saw
        QTest::newRow("Always, no terminal") << "Always" << false
                                             << "getting credentials: exec plugin cannot support interactive mode: "
                                                "standard input is not a terminal";
        QTest::newRow("Always, terminal") << "Always" << true << "true";
        QTest::newRow("IfAvailable, no terminal") << "IfAvailable" << false << "false";
        QTest::newRow("IfAvailable, terminal") << "IfAvailable" << true << "true";
        QTest::newRow("Never, terminal") << "Never" << true << "false";
        QTest::newRow("unknown") << "Sometimes" << false
                                 << "getting credentials: exec plugin cannot support interactive mode: unknown "
                                    "interactiveMode: \"Sometimes\"";
    }
    void execInteractiveMode()
    {
        QFETCH(QString, mode);
        QFETCH(bool, interactive);
        QFETCH(QString, expected);
        const QByteArray d = m_dir.toUtf8();
        ClientConfig c = execConfig(
            countingPlugin(tokenOutput("t"), "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"" + d + "/info\"\n"));
        c.user.exec->interactiveMode = mode;
        CredentialProvider p(c);
        p.setInteractive(interactive);
        const auto r = fetch(p);
        QVERIFY(r);
        if (expected != u"true" && expected != u"false") {
            QVERIFY(!*r);
            QCOMPARE(r->error().message, expected);
            QCOMPARE(runs(), 0);
            return;
        }
        QVERIFY2(*r, qPrintable(why(*r)));
        const QJsonObject info = QJsonDocument::fromJson(readAll(m_dir + QStringLiteral("/info"))).object();
        QCOMPARE(info.value(u"spec").toObject().value(u"interactive").toBool(), expected == u"true");
    }

    void callbackContextDestroyed()
    {
        CredentialProvider p(execConfig(countingPlugin(tokenOutput("t"), "sleep 0.2\n")));
        auto *gone = new QObject;
        QObject stays;
        bool goneCalled = false;
        std::optional<Result> got;
        p.fetch(gone, [&](const Result &) { goneCalled = true; });
        p.fetch(&stays, [&](const Result &r) { got = r; });
        delete gone;
        QTRY_VERIFY_WITH_TIMEOUT(got.has_value(), 10000);
        QVERIFY(*got);
        QTest::qWait(50);
        QVERIFY(!goneCalled);
    }

    void providerDestroyedWhileRunning()
    {
        auto *p = new CredentialProvider(execConfig(plugin("exec sleep 30\n")));
        QObject context;
        std::optional<Result> got;
        p->fetch(&context, [&](const Result &r) { got = r; });
        QTest::qWait(100);
        QElapsedTimer timer;
        timer.start();
        delete p;
        QVERIFY(timer.elapsed() < 2000);
        QVERIFY(!got); // still through the event loop
        QTRY_VERIFY(got.has_value());
        QVERIFY(!*got);
        QCOMPARE(got->error().kind, KubeError::Kind::Cancelled);
        QCOMPARE(got->error().message,
                 QStringLiteral("the credential provider was destroyed while waiting for the exec plugin"));
    }

    // A failed run is not cached: the next fetch tries again.
    void failureIsNotCached()
    {
        const QString ok = m_dir + QStringLiteral("/ok");
        writeFile(m_dir + QStringLiteral("/output.json"), tokenOutput("late"));
        const QString command = plugin("echo run >> \"" + m_dir.toUtf8() + "/runs\"\n[ -e \"" + ok.toUtf8()
                                       + "\" ] || exit 2\ncat \"" + m_dir.toUtf8() + "/output.json\"\n");
        CredentialProvider p(execConfig(command));
        auto r = fetch(p);
        QVERIFY(r && !*r);
        writeFile(ok, "");
        r = fetch(p);
        QVERIFY2(r && *r, r ? qPrintable(why(*r)) : "no answer");
        QCOMPARE((*r)->bearerToken, QByteArray("late"));
        QCOMPARE(runs(), 2);
    }
};

QTEST_GUILESS_MAIN(TestCredentials)
#include "tst_credentials.moc"
