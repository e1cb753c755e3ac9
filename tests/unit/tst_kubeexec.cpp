// ExecSession against the sandbox cluster over HTTPS (v5 and v4, exit codes, stdin round trip
// and half-close, tty resize, back-pressure, TLS verification) and against fake peers for every
// way the upgrade can fail.
#include "kube/exec.h"
#include "kube/kubeclient.h"
#include "kubestreamsupport.h"

#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::kube;
using iterdeck::testing::FakeUpgradeServer;
using iterdeck::testing::serverFrame;

Q_DECLARE_METATYPE(iterdeck::kube::KubeError::Kind)

namespace {

const QString V5 = QStringLiteral("v5.channel.k8s.io");
const QString V4 = QStringLiteral("v4.channel.k8s.io");

// Runs an exec to its end, collecting all output.
struct ExecRun
{
    QByteArray out;
    QByteArray err;
    int exitCode = -1;
    KubeError error;
    QString protocol;
    int finishedCount = 0;
    int startedCount = 0;
};

ExecRun runExec(const Transport &t, const ExecOptions &o, const QByteArray &stdinData = {}, bool closeStdin = false,
                int timeoutMs = 20000)
{
    ExecRun r;
    ExecSession s;
    QObject::connect(&s, &ExecSession::started, &s, [&] {
        ++r.startedCount;
        r.protocol = s.protocol();
    });
    QObject::connect(&s, &ExecSession::stdoutReady, &s, [&] { r.out += s.readStdout(); });
    QObject::connect(&s, &ExecSession::stderrReady, &s, [&] { r.err += s.readStderr(); });
    QObject::connect(&s, &ExecSession::finished, &s, [&] { ++r.finishedCount; });
    QSignalSpy finished(&s, &ExecSession::finished);
    s.start(t, o);
    if (!stdinData.isEmpty())
        s.writeStdin(stdinData);
    if (closeStdin)
        s.closeStdin();
    if (finished.isEmpty())
        finished.wait(timeoutMs);
    r.out += s.readStdout();
    r.err += s.readStderr();
    r.exitCode = s.exitCode();
    r.error = s.error();
    // Once only, also after more events.
    QTest::qWait(0);
    return r;
}

// What the API server answers an exec the user may not do. (No raw string: moc misreads one
// with \" inside.)
QByteArray forbiddenStatus()
{
    return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"pods "
           "\\\"p\\\" is forbidden: User \\\"dev\\\" cannot create resource \\\"pods/exec\\\" in API group \\\"\\\" in "
           "the namespace \\\"default\\\"\",\"reason\":\"Forbidden\",\"details\":{\"name\":\"p\",\"kind\":\"pods\"},"
           "\"code\":403}";
}

ExecOptions shell(const QString &pod, const QString &script)
{
    ExecOptions o;
    o.ns = QStringLiteral("default");
    o.pod = pod;
    o.command = {QStringLiteral("sh"), QStringLiteral("-c"), script};
    return o;
}

} // namespace

class TestKubeExec : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<testing::SandboxServer> m_sandbox;
    std::unique_ptr<KubeClient> m_client;
    Transport m_transport;
    const QString m_pod = QStringLiteral("shell");

private Q_SLOTS:
    void initTestCase()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_sandbox = std::make_unique<testing::SandboxServer>(m_dir->path());
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
        m_client = std::make_unique<KubeClient>(testing::sandboxConfig(*m_sandbox));
        m_transport = testing::transportOf(*m_client);
        QVERIFY(testing::createPod(*m_client, QStringLiteral("default"), testing::sleeperPod(m_pod)));
    }

    void cleanupTestCase()
    {
        m_client.reset();
        m_sandbox.reset();
        m_dir.reset();
    }

    void exitCodes_data()
    {
        QTest::addColumn<QStringList>("protocols");
        QTest::addColumn<QString>("script");
        QTest::addColumn<QByteArray>("out");
        QTest::addColumn<QByteArray>("err");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("protocol");
        QTest::newRow("v5 exit 0") << QStringList() << "echo hello" << QByteArray("hello\n") << QByteArray() << 0 << V5;
        QTest::newRow("v5 exit 3") << QStringList() << "echo out; echo err >&2; exit 3" << QByteArray("out\n")
                                   << QByteArray("err\n") << 3 << V5;
        QTest::newRow("v5 exit 255") << QStringList() << "exit 255" << QByteArray() << QByteArray() << 255 << V5;
        QTest::newRow("v4 exit 0") << QStringList {V4} << "echo hello" << QByteArray("hello\n") << QByteArray() << 0
                                   << V4;
        QTest::newRow("v4 exit 3") << QStringList {V4} << "echo err >&2; exit 3" << QByteArray() << QByteArray("err\n")
                                   << 3 << V4;
        QTest::newRow("v4 preferred") << QStringList {V4, V5} << "exit 7" << QByteArray() << QByteArray() << 7 << V4;
    }
    void exitCodes()
    {
        QFETCH(QStringList, protocols);
        QFETCH(QString, script);
        QFETCH(QByteArray, out);
        QFETCH(QByteArray, err);
        QFETCH(int, exitCode);
        QFETCH(QString, protocol);
        ExecOptions o = shell(m_pod, script);
        o.protocols = protocols;
        const ExecRun r = runExec(m_transport, o);
        QCOMPARE(r.error.message, QString());
        QCOMPARE(r.error.kind, KubeError::Kind::None);
        QCOMPARE(r.startedCount, 1);
        QCOMPARE(r.finishedCount, 1);
        QCOMPARE(r.protocol, protocol);
        QCOMPARE(r.out, out);
        QCOMPARE(r.err, err);
        QCOMPARE(r.exitCode, exitCode);
    }

    // Tens of MB through cat, written as fast as the writer is allowed, compared byte for byte.
    void stdinRoundTrip()
    {
        QByteArray data(24 * 1024 * 1024 + 12345, Qt::Uninitialized);
        QRandomGenerator gen(42);
        gen.fillRange(reinterpret_cast<quint32 *>(data.data()), data.size() / 4);
        ExecOptions o;
        o.ns = QStringLiteral("default");
        o.pod = m_pod;
        o.command = {QStringLiteral("cat")};
        o.stdinEnabled = true;
        ExecSession s;
        QByteArray out;
        qint64 written = 0;
        qint64 maxQueued = 0;
        auto feed = [&] {
            // A paced writer: keeps at most 2 MiB queued.
            while (written < data.size() && s.stdinBytesToWrite() < 2 * 1024 * 1024) {
                const qint64 n = std::min<qint64>(512 * 1024, data.size() - written);
                s.writeStdin(data.mid(written, n));
                written += n;
                maxQueued = std::max(maxQueued, s.stdinBytesToWrite());
            }
            if (written == data.size())
                QVERIFY(s.closeStdin());
        };
        connect(&s, &ExecSession::started, this, feed);
        connect(&s, &ExecSession::stdinBytesWritten, this, [&](qint64) {
            if (written < data.size())
                feed();
        });
        connect(&s, &ExecSession::stdoutReady, this, [&] { out += s.readStdout(); });
        QSignalSpy finished(&s, &ExecSession::finished);
        s.start(m_transport, o);
        QVERIFY(finished.wait(60000));
        out += s.readStdout();
        QCOMPARE(s.error().message, QString());
        QCOMPARE(s.exitCode(), 0);
        QCOMPARE(out.size(), data.size());
        QVERIFY(out == data);
        QVERIFY(maxQueued <= 2 * 1024 * 1024 + 512 * 1024);
        QCOMPARE(s.stdinBytesToWrite(), 0);
    }

    // v5: closing stdin ends cat; v4 cannot close it.
    void stdinHalfClose()
    {
        ExecOptions o;
        o.ns = QStringLiteral("default");
        o.pod = m_pod;
        o.command = {QStringLiteral("cat")};
        o.stdinEnabled = true;
        const ExecRun r = runExec(m_transport, o, "abc", true);
        QCOMPARE(r.error.message, QString());
        QCOMPARE(r.out, QByteArray("abc"));
        QCOMPARE(r.exitCode, 0);

        ExecSession s;
        o.protocols = {V4};
        QSignalSpy started(&s, &ExecSession::started);
        QSignalSpy finished(&s, &ExecSession::finished);
        s.start(m_transport, o);
        QVERIFY(started.wait(10000));
        QCOMPARE(s.protocol(), V4);
        QVERIFY(!s.closeStdin());
        s.writeStdin("still open\n");
        QTRY_COMPARE(s.stdoutAvailable(), qint64(11));
        QCOMPARE(s.readStdout(), QByteArray("still open\n"));
        QVERIFY(finished.isEmpty());
        s.abort();
        QCOMPARE(finished.size(), 1);
        QCOMPARE(s.error().kind, KubeError::Kind::Cancelled);
        QCOMPARE(s.exitCode(), -1);
        s.abort();
        QCOMPARE(finished.size(), 1);
    }

    // The size sent on channel 4 is what the terminal reports.
    void ttyResize()
    {
        ExecOptions o = shell(m_pod, QStringLiteral("read line; stty size"));
        o.stdinEnabled = true;
        o.tty = true;
        ExecSession s;
        QByteArray out;
        connect(&s, &ExecSession::stdoutReady, this, [&] { out += s.readStdout(); });
        QSignalSpy started(&s, &ExecSession::started);
        QSignalSpy finished(&s, &ExecSession::finished);
        s.resize(80, 24); // before started: sent once it is
        s.start(m_transport, o);
        QVERIFY(started.wait(10000));
        s.resize(123, 45);
        s.writeStdin("go\n");
        QVERIFY(finished.wait(10000));
        QCOMPARE(s.error().message, QString());
        QCOMPARE(s.exitCode(), 0);
        QVERIFY2(out.contains("45 123"), out.constData());
        QVERIFY(!s.closeStdin()); // after the end
    }

    // Nobody reads: the buffered output stays at the limit plus one message while the command
    // is blocked (still running); then reading all of it works.
    void backPressure()
    {
        const qint64 total = 200 * 1024 * 1024;
        const qint64 limit = 1024 * 1024;
        ExecOptions o = shell(m_pod, QStringLiteral("yes 0123456789abcdef | head -c %1").arg(total));
        o.stderrEnabled = false;
        ExecSession s;
        s.setReadBufferLimit(limit);
        QCOMPARE(s.readBufferLimit(), limit);
        qint64 maxBuffered = 0;
        connect(&s, &ExecSession::stdoutReady, this, [&] { maxBuffered = std::max(maxBuffered, s.stdoutAvailable()); });
        QSignalSpy finished(&s, &ExecSession::finished);
        s.start(m_transport, o);
        QTRY_VERIFY_WITH_TIMEOUT(s.stdoutAvailable() >= limit, 10000);
        // Held there: the command stays blocked in write(), nothing finishes.
        QVERIFY(!finished.wait(1500));
        const qint64 oneMessage = 64 * 1024; // what the server reads from the command at once
        QVERIFY2(maxBuffered <= limit + oneMessage, qPrintable(QString::number(maxBuffered)));
        QVERIFY(s.stdoutAvailable() <= limit + oneMessage);
        const ExecRun ps = runExec(
            m_transport, shell(m_pod, QStringLiteral("pgrep -f 'head -c %1' >/dev/null && echo running").arg(total)));
        QCOMPARE(ps.out, QByteArray("running\n"));

        // Now read everything, checking the pattern as it streams by.
        const QByteArray pattern = "0123456789abcdef\n";
        qint64 received = 0;
        bool patternOk = true;
        auto drain = [&] {
            const QByteArray chunk = s.readStdout();
            for (qsizetype i = 0; i < chunk.size() && patternOk; i += 4099)
                patternOk = chunk[i] == pattern[(received + i) % pattern.size()];
            received += chunk.size();
        };
        connect(&s, &ExecSession::stdoutReady, this, drain);
        drain();
        QVERIFY(finished.wait(60000));
        drain();
        QCOMPARE(s.error().message, QString());
        QCOMPARE(s.exitCode(), 0);
        QCOMPARE(received, total);
        QVERIFY(patternOk);
        QVERIFY2(maxBuffered <= limit + oneMessage, qPrintable(QString::number(maxBuffered)));
    }

    // A CA that did not sign the server's certificate: a TLS error, and no second, unverified try.
    void wrongCa()
    {
        Transport t = m_transport;
        // The client certificate of sandbox-developer is no CA for the server's certificate.
        t.ssl.setCaCertificates(QSslCertificate::fromPath(m_dir->path() + QStringLiteral("/pki/developer.crt")));
        QVERIFY(!t.ssl.caCertificates().isEmpty());
        const ExecRun r = runExec(t, shell(m_pod, QStringLiteral("echo no")));
        QCOMPARE(r.error.kind, KubeError::Kind::Tls);
        QCOMPARE(r.error.message,
                 QStringLiteral("TLS handshake with 127.0.0.1:%1 failed: The root certificate of the certificate "
                                "chain is self-signed, and untrusted")
                     .arg(m_sandbox->port()));
        QCOMPARE(r.startedCount, 0);
        QCOMPARE(r.finishedCount, 1);
        QCOMPARE(r.out, QByteArray());
    }

    // The API server's own refusals arrive as Status errors.
    void serverErrors_data()
    {
        QTest::addColumn<QString>("pod");
        QTest::addColumn<QString>("context");
        QTest::addColumn<QString>("token");
        QTest::addColumn<int>("httpStatus");
        QTest::addColumn<QString>("text");
        QTest::newRow("no such pod") << "nope"
                                     << "sandbox-admin" << QString() << 404
                                     << "Error from server (NotFound): pods \"nope\" not found";
        QTest::newRow("bad token") << m_pod << "sandbox-admin"
                                   << "wrong" << 401 << "Error from server (Unauthorized): Unauthorized";
        QTest::newRow("certificate user, no exec here")
            << m_pod << "sandbox-developer" << QString() << 403
            << "Error from server (Forbidden): pods \"shell\" is forbidden: User \"developer\" cannot create resource "
               "\"pods/exec\" in API group \"\" in the namespace \"default\"";
    }
    void serverErrors()
    {
        QFETCH(QString, pod);
        QFETCH(QString, context);
        QFETCH(QString, token);
        QFETCH(int, httpStatus);
        QFETCH(QString, text);
        KubeClient client(testing::sandboxConfig(*m_sandbox, context));
        Transport t = testing::transportOf(client);
        if (!token.isEmpty())
            t.headers = {{"Authorization", "Bearer " + token.toUtf8()}};
        const ExecRun r = runExec(t, shell(pod, QStringLiteral("true")));
        QCOMPARE(r.error.toString(), text);
        QCOMPARE(r.error.kind, KubeError::Kind::Server);
        QCOMPARE(r.error.httpStatus, httpStatus);
        QCOMPARE(r.exitCode, -1);
        QCOMPARE(r.finishedCount, 1);
    }

    // The certificate user execs where it may (a dev-* namespace).
    void certificateUser()
    {
        KubeClient client(testing::sandboxConfig(*m_sandbox, QStringLiteral("sandbox-developer")));
        const QString ns = QStringLiteral("dev-exec");
        QVERIFY(testing::await(m_client->create(ResourceRef::namespaces(), {},
                                                QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                                                             {QStringLiteral("kind"), QStringLiteral("Namespace")},
                                                             {QStringLiteral("metadata"),
                                                              QJsonObject {{QStringLiteral("name"), ns}}}}))
                    .ok);
        QVERIFY(testing::createPod(client, ns, testing::sleeperPod(QStringLiteral("dev-shell"))));
        ExecOptions o = shell(QStringLiteral("dev-shell"), QStringLiteral("echo as developer"));
        o.ns = ns;
        const ExecRun r = runExec(testing::transportOf(client), o);
        QCOMPARE(r.error.message, QString());
        QCOMPARE(r.out, QByteArray("as developer\n"));
        QCOMPARE(r.exitCode, 0);
    }

    void invalidOptions_data()
    {
        QTest::addColumn<QString>("which");
        QTest::addColumn<QString>("message");
        QTest::newRow("no command") << "command"
                                    << "exec needs a command";
        QTest::newRow("no pod") << "pod"
                                << "exec needs a namespace and a pod";
        QTest::newRow("no streams") << "streams"
                                    << "exec needs at least one of stdin, stdout and stderr";
        QTest::newRow("protocol") << "protocol"
                                  << "exec speaks v5.channel.k8s.io and v4.channel.k8s.io, not \"channel.k8s.io\"";
    }
    void invalidOptions()
    {
        QFETCH(QString, which);
        QFETCH(QString, message);
        ExecOptions o = shell(m_pod, QStringLiteral("true"));
        if (which == QLatin1String("command"))
            o.command.clear();
        else if (which == QLatin1String("pod"))
            o.pod.clear();
        else if (which == QLatin1String("streams"))
            o.stdoutEnabled = o.stderrEnabled = false;
        else
            o.protocols = {QStringLiteral("channel.k8s.io")};
        ExecSession s;
        QSignalSpy finished(&s, &ExecSession::finished);
        s.start(m_transport, o);
        QCOMPARE(finished.size(), 0); // never from inside start()
        QVERIFY(finished.wait(1000));
        QCOMPARE(s.error().kind, KubeError::Kind::Config);
        QCOMPARE(s.error().message, message);
    }

    // The query as kubectl builds it.
    void requestLine()
    {
        FakeUpgradeServer fake([](const QByteArray &, const QByteArray &) {
            return FakeUpgradeServer::Reply {{}, true};
        });
        ExecOptions o;
        o.ns = QStringLiteral("dev a");
        o.pod = QStringLiteral("web-1");
        o.container = QStringLiteral("app");
        o.command = {QStringLiteral("sh"), QStringLiteral("-c"), QStringLiteral("echo a&b=c")};
        o.stdinEnabled = true;
        o.tty = true;
        Transport t = fake.transport();
        t.server.setPath(QStringLiteral("/prefix/"));
        t.headers = {{"Authorization", "Bearer t0k"}, {"Bad", "a\r\nInjected: 1"}};
        QTest::ignoreMessage(QtWarningMsg,
                             "WebSocket: dropped a header with a line break or colon in its name: \"Bad\"");
        runExec(t, o);
        const QByteArray request = fake.lastRequest();
        QVERIFY2(
            request.startsWith("GET /prefix/api/v1/namespaces/dev%20a/pods/web-1/exec?command=sh&command=-c&"
                               "command=echo%20a%26b%3Dc&container=app&stdin=true&stdout=true&tty=true HTTP/1.1\r\n"),
            request.constData());
        QVERIFY(request.contains("\r\nSec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"));
        QVERIFY(request.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        QVERIFY(request.contains("\r\nAuthorization: Bearer t0k\r\n"));
        QVERIFY(!request.contains("Injected"));
        const QByteArray host = "\r\nHost: 127.0.0.1:" + QByteArray::number(fake.port()) + "\r\n";
        QVERIFY(request.contains(host));
    }

    // Every way a peer can fail the upgrade, and streams that end wrongly, with the exact error.
    void brokenPeers_data()
    {
        QTest::addColumn<QByteArray>("answer"); // "silent" = nothing; %ACCEPT% = the right accept value
        QTest::addColumn<bool>("closeAfter");
        QTest::addColumn<KubeError::Kind>("kind");
        QTest::addColumn<int>("httpStatus");
        QTest::addColumn<QString>("message"); // %PEER% = 127.0.0.1:port

        const QByteArray status403 = forbiddenStatus();
        const QByteArray upgrade = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: %ACCEPT%\r\n";
        const QString forbidden = QStringLiteral("pods \"p\" is forbidden: User \"dev\" cannot create resource "
                                                 "\"pods/exec\" in API group \"\" in the namespace \"default\"");
        QTest::newRow("403 status") << "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: "
                + QByteArray::number(status403.size()) + "\r\n\r\n" + status403
                                    << false << KubeError::Kind::Server << 403 << forbidden;
        QTest::newRow("403 chunked") << "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
                + QByteArray::number(status403.size(), 16) + "\r\n" + status403 + "\r\n0\r\n\r\n"
                                     << false << KubeError::Kind::Server << 403 << forbidden;
        QTest::newRow("403 until close") << "HTTP/1.1 403 Forbidden\r\n\r\n" + status403 << true
                                         << KubeError::Kind::Server << 403 << forbidden;
        QTest::newRow("404 no status") << QByteArray("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") << false
                                       << KubeError::Kind::Server << 404
                                       << "the server could not find the requested resource";
        QTest::newRow("200") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") << false
                             << KubeError::Kind::Protocol << 0
                             << "the server at %PEER% answered the WebSocket upgrade with HTTP 200 OK instead of 101 "
                                "Switching Protocols";
        QTest::newRow("garbage") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n") << false << KubeError::Kind::Protocol << 0
                                 << "invalid answer to the WebSocket upgrade from %PEER%: not an HTTP response: "
                                    "\"SSH-2.0-OpenSSH_9.2\"";
        QTest::newRow("bad status line") << QByteArray("HTTP/1.1 abc\r\n\r\n") << false << KubeError::Kind::Protocol
                                         << 0
                                         << "invalid answer to the WebSocket upgrade from %PEER%: malformed status "
                                            "line: \"HTTP/1.1 abc\"";
        QTest::newRow("bad header") << QByteArray("HTTP/1.1 101 OK\r\nno colon here\r\n\r\n") << false
                                    << KubeError::Kind::Protocol << 0
                                    << "invalid answer to the WebSocket upgrade from %PEER%: malformed header line: "
                                       "\"no colon here\"";
        QTest::newRow("huge header") << "HTTP/1.1 101 OK\r\nX: " + QByteArray(70000, 'a') << false
                                     << KubeError::Kind::Protocol << 0
                                     << "invalid answer to the WebSocket upgrade from %PEER%: the response header is "
                                        "larger than 65536 bytes";
        QTest::newRow("silent") << QByteArray() << false << KubeError::Kind::Timeout << 0
                                << "no answer to the WebSocket upgrade from %PEER% within 500 ms";
        QTest::newRow("closes") << QByteArray() << true << KubeError::Kind::Network << 0
                                << "%PEER% closed the connection without answering the WebSocket upgrade";
        QTest::newRow("half a header") << QByteArray("HTTP/1.1 101 Switching") << true << KubeError::Kind::Protocol << 0
                                       << "invalid answer to the WebSocket upgrade from %PEER%: the connection "
                                          "closed after an incomplete HTTP header";
        QTest::newRow("wrong accept") << QByteArray("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                                    "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n"
                                                    "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n")
                                      << false << KubeError::Kind::Protocol << 0
                                      << "invalid answer to the WebSocket upgrade from %PEER%: the 101 answer's "
                                         "Sec-WebSocket-Accept does not match our key";
        QTest::newRow("no upgrade header")
            << QByteArray("HTTP/1.1 101 Switching Protocols\r\n\r\n") << false << KubeError::Kind::Protocol << 0
            << "invalid answer to the WebSocket upgrade from %PEER%: the 101 answer "
               "has no \"Upgrade: websocket\" header";
        QTest::newRow("no protocol") << upgrade + "\r\n"
                                     << false << KubeError::Kind::Protocol << 0
                                     << "invalid answer to the WebSocket upgrade from %PEER%: the server chose no "
                                        "subprotocol (offered: v5.channel.k8s.io, v4.channel.k8s.io)";
        QTest::newRow("unoffered protocol")
            << upgrade + "Sec-WebSocket-Protocol: channel.k8s.io\r\n\r\n"
            << false << KubeError::Kind::Protocol << 0
            << "invalid answer to the WebSocket upgrade from %PEER%: the server chose the subprotocol "
               "\"channel.k8s.io\", which was not offered (offered: v5.channel.k8s.io, v4.channel.k8s.io)";
        QTest::newRow("extension")
            << upgrade
                + "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            << false << KubeError::Kind::Protocol << 0
            << "invalid answer to the WebSocket upgrade from %PEER%: the server chose WebSocket extensions we did not "
               "offer: permessage-deflate";

        const QByteArray open = upgrade + "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n";
        QTest::newRow("close without status")
            << open + serverFrame(2, "\x01hi") + serverFrame(8, "\x03\xe8") << false << KubeError::Kind::Protocol << 0
            << "the exec stream from %PEER% ended without the command's exit status "
               "(close code 1000)";
        QTest::newRow("close 1011 reason")
            << open + serverFrame(8, "\x03\xf3oops") << false << KubeError::Kind::Protocol << 0
            << "the exec stream from %PEER% ended without the command's exit status "
               "(close code 1011: oops)";
        QTest::newRow("dropped") << open + serverFrame(2, "\x01partial") << true << KubeError::Kind::Network << 0
                                 << "the connection to %PEER% ended without a WebSocket close frame";
        QTest::newRow("masked frame") << open + QByteArray("\x82\x81\x01\x02\x03\x04\x05", 7) << false
                                      << KubeError::Kind::Protocol << 0
                                      << "the WebSocket stream from %PEER% broke the protocol: the server sent a "
                                         "masked frame";
        QTest::newRow("oversized message") << open + QByteArray("\x82\x7f\x00\x00\x00\x00\x01\x00\x00\x01", 10) << false
                                           << KubeError::Kind::Protocol << 0
                                           << "the WebSocket stream from %PEER% broke the protocol: a message from "
                                              "the server is larger than the limit of 16777216 bytes";
        QTest::newRow("bad close code") << open + serverFrame(8, "\x03\xed") << false << KubeError::Kind::Protocol << 0
                                        << "the WebSocket stream from %PEER% broke the protocol: a close frame has "
                                           "the invalid code 1005";
        QTest::newRow("status garbage") << open + serverFrame(2, "\x03not json") + serverFrame(8, "\x03\xe8") << false
                                        << KubeError::Kind::Decode << 0
                                        << "the command's status is not a Kubernetes Status: not json";
        QTest::newRow("internal error") << open
                + serverFrame(2,
                              "\x03{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error occurred: "
                              "boom\",\"reason\":\"InternalError\",\"code\":500}")
                + serverFrame(8, "\x03\xe8")
                                        << false << KubeError::Kind::Server << 500 << "Internal error occurred: boom";
    }
    void brokenPeers()
    {
        QFETCH(QByteArray, answer);
        QFETCH(bool, closeAfter);
        QFETCH(KubeError::Kind, kind);
        QFETCH(int, httpStatus);
        QFETCH(QString, message);
        FakeUpgradeServer fake([&](const QByteArray &, const QByteArray &accept) {
            QByteArray a = answer;
            a.replace("%ACCEPT%", accept);
            return FakeUpgradeServer::Reply {a.isEmpty() ? QByteArray() : a, closeAfter};
        });
        ExecOptions o = shell(QStringLiteral("p"), QStringLiteral("true"));
        o.handshakeTimeoutMs = 500;
        if (message.contains(QLatin1String("broke the protocol: ")))
            QTest::ignoreMessage(QtWarningMsg,
                                 QRegularExpression(QStringLiteral("WebSocket: .* broke the protocol: ")));
        const ExecRun r = runExec(fake.transport(), o, {}, false, 5000);
        message.replace(QLatin1String("%PEER%"), QStringLiteral("127.0.0.1:%1").arg(fake.port()));
        QCOMPARE(r.error.message, message);
        QCOMPARE(r.error.kind, kind);
        QCOMPARE(r.error.httpStatus, httpStatus);
        QCOMPARE(r.exitCode, -1);
        QCOMPARE(r.finishedCount, 1);
        QCOMPARE(fake.connections(), 1);
    }

    // Fragmented messages, pings and the "connected" empty message from a hand-written server.
    void framesFromFakePeer()
    {
        FakeUpgradeServer fake([](const QByteArray &, const QByteArray &accept) {
            QByteArray a = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: "
                + accept + "\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n";
            a += serverFrame(2, "\x01");
            a += serverFrame(2, "\x01hel", false);
            a += serverFrame(9, "ping!");
            a += serverFrame(0, "lo ", false);
            a += serverFrame(0, "world", true);
            a += serverFrame(2, QByteArray("\x02", 1) + QByteArray(70000, 'e'));
            a += serverFrame(2,
                             "\x03{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
                             "non-zero exit code\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{"
                             "\"reason\":\"ExitCode\",\"message\":\"42\"}]}}");
            a += serverFrame(8, "\x03\xe8");
            return FakeUpgradeServer::Reply {a, false};
        });
        const ExecRun r = runExec(fake.transport(), shell(QStringLiteral("p"), QStringLiteral("true")));
        QCOMPARE(r.error.message, QString());
        QCOMPARE(r.protocol, V4);
        QCOMPARE(r.out, QByteArray("hello world"));
        QCOMPARE(r.err, QByteArray(70000, 'e'));
        QCOMPARE(r.exitCode, 42);
    }
};

QTEST_GUILESS_MAIN(TestKubeExec)
#include "tst_kubeexec.moc"
