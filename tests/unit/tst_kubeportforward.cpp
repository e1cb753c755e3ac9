// PortForwarder against the sandbox cluster over HTTPS: HTTP through to a pod, many concurrent
// connections, a large transfer both ways compared byte for byte, clean and failed connections,
// following a deployment's pod by label selector when it is replaced, a fixed pod that goes away,
// and a local port already in use.
#include "kube/kubeclient.h"
#include "kube/portforward.h"
#include "kubestreamsupport.h"
#include "testutil/podprograms.h"

#include <QCoreApplication>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::kube;

namespace {

// Pods share the host's ports on 127.N.x.y addresses; sandboxes pick N at random, and ports of
// our own keep parallel test runs apart even when two pick the same.
const quint16 webPort = quint16(20000 + QCoreApplication::applicationPid() % 20000);
const quint16 echoPort = webPort + 1;
const quint16 sourcePort = webPort + 2;

QJsonObject env(const QString &name, quint16 value)
{
    return {{QStringLiteral("name"), name}, {QStringLiteral("value"), QString::number(value)}};
}

QJsonObject echoPod(const QString &name)
{
    QJsonObject container {
        {QStringLiteral("name"), QStringLiteral("echo")},
        {QStringLiteral("image"), QStringLiteral("iterdeck/sandbox-base:latest")},
        {QStringLiteral("command"),
         QJsonArray {QStringLiteral("python3"), QStringLiteral("-c"),
                     QString::fromLatin1(iterdeck::testing::echoServer)}},
        {QStringLiteral("env"),
         QJsonArray {env(QStringLiteral("ECHO_PORT"), echoPort), env(QStringLiteral("SOURCE_PORT"), sourcePort)}}};
    return QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                        {QStringLiteral("kind"), QStringLiteral("Pod")},
                        {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("name"), name}}},
                        {QStringLiteral("spec"),
                         QJsonObject {{QStringLiteral("terminationGracePeriodSeconds"), 1},
                                      {QStringLiteral("containers"), QJsonArray {container}}}}};
}

QJsonObject webPod(const QString &name)
{
    return QJsonDocument::fromJson(QStringLiteral(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"%1"},
        "spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"web","image":"iterdeck/demo-web:1.0",
        "env":[{"name":"PORT","value":"%2"}],
        "readinessProbe":{"httpGet":{"path":"/healthz","port":%2},"periodSeconds":1}}]}})")
                                       .arg(name)
                                       .arg(webPort)
                                       .toUtf8())
        .object();
}

QJsonObject webDeployment(const QString &name)
{
    return QJsonDocument::fromJson(QStringLiteral(R"({"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"%1"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"%1"}},
        "template":{"metadata":{"labels":{"app":"%1"}},"spec":{"terminationGracePeriodSeconds":1,
        "containers":[{"name":"web","image":"iterdeck/demo-web:1.0","env":[{"name":"PORT","value":"%2"}],
        "readinessProbe":{"httpGet":{"path":"/healthz","port":%2},"periodSeconds":1}}]}}}})")
                                       .arg(name)
                                       .arg(webPort)
                                       .toUtf8())
        .object();
}

// One HTTP/1.0 GET through the forwarded port; the body, or empty on failure.
QByteArray httpGet(quint16 port, const QByteArray &path = "/")
{
    QTcpSocket s;
    s.connectToHost(QHostAddress::LocalHost, port);
    if (!s.waitForConnected(5000))
        return {};
    s.write("GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n");
    QByteArray answer;
    QSignalSpy closed(&s, &QTcpSocket::disconnected);
    QObject::connect(&s, &QTcpSocket::readyRead, &s, [&] { answer += s.readAll(); });
    if (s.state() != QAbstractSocket::UnconnectedState)
        closed.wait(10000);
    answer += s.readAll();
    const qsizetype body = answer.indexOf("\r\n\r\n");
    if (!answer.startsWith("HTTP/1.0 200") || body < 0)
        return {};
    return answer.mid(body + 4);
}

QString podOf(const QByteArray &demoWebAnswer)
{
    return QJsonDocument::fromJson(demoWebAnswer).object().value(QLatin1String("pod")).toString();
}

} // namespace

class TestKubePortForward : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<testing::SandboxServer> m_sandbox;
    std::unique_ptr<KubeClient> m_client;
    const QString m_ns = QStringLiteral("default");

    void createPod(const QJsonObject &pod, bool ready) { QVERIFY(testing::createPod(*m_client, m_ns, pod, ready)); }

    bool deletePod(const QString &name) { return testing::await(m_client->remove(ResourceRef::pods(), m_ns, name)).ok; }

    std::unique_ptr<PortForwarder> forwarder(const PortForwardTarget &target, QList<PortMapping> mappings)
    {
        auto f = std::make_unique<PortForwarder>(m_client.get(), target, std::move(mappings));
        return f;
    }

    static bool waitForState(PortForwarder &f, PortForwarder::State s, int timeoutMs = 15000)
    {
        QElapsedTimer t;
        t.start();
        while (f.state() != s && t.elapsed() < timeoutMs)
            QTest::qWait(20);
        return f.state() == s;
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_sandbox = std::make_unique<testing::SandboxServer>(m_dir->path());
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
        m_client = std::make_unique<KubeClient>(testing::sandboxConfig(*m_sandbox));
        createPod(webPod(QStringLiteral("web-fixed")), true);
        createPod(echoPod(QStringLiteral("echo")), false);
    }

    void cleanupTestCase()
    {
        m_client.reset();
        m_sandbox.reset();
        m_dir.reset();
    }

    void httpThrough()
    {
        auto f = forwarder({m_ns, QStringLiteral("web-fixed"), {}}, {{0, webPort}});
        QSignalSpy states(f.get(), &PortForwarder::stateChanged);
        QSignalSpy opened(f.get(), &PortForwarder::connectionOpened);
        QSignalSpy closed(f.get(), &PortForwarder::connectionClosed);
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Listening));
        QCOMPARE(states.size(), 2);
        QCOMPARE(states[0][0].value<PortForwarder::State>(), PortForwarder::State::Starting);
        QCOMPARE(f->currentPod(), QStringLiteral("web-fixed"));
        const quint16 port = f->localPort(0);
        QVERIFY(port > 0);
        QCOMPARE(f->localPort(1), quint16(0));
        const QByteArray body = httpGet(port, "/hello");
        QCOMPARE(podOf(body), QStringLiteral("web-fixed"));
        QCOMPARE(QJsonDocument::fromJson(body).object().value(QLatin1String("path")).toString(),
                 QStringLiteral("/hello"));
        QTRY_COMPARE(closed.size(), 1);
        QCOMPARE(opened.size(), 1);
        QCOMPARE(opened[0][0].value<quint16>(), port);
        QCOMPARE(closed[0][0].value<quint16>(), port);
        QCOMPARE(closed[0][1].toString(), QString());
        QCOMPARE(f->activeConnections(), 0);
        f->stop();
        QCOMPARE(f->state(), PortForwarder::State::Stopped);
        QTcpSocket refused;
        refused.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(!refused.waitForConnected(2000));
    }

    void concurrentConnections()
    {
        auto f = forwarder({m_ns, QStringLiteral("web-fixed"), {}}, {{0, webPort}});
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Listening));
        const quint16 port = f->localPort(0);
        constexpr int count = 20;
        std::vector<std::unique_ptr<QTcpSocket>> sockets;
        QByteArray answers[count];
        int done = 0;
        QSignalSpy closed(f.get(), &PortForwarder::connectionClosed);
        for (int i = 0; i < count; ++i) {
            auto s = std::make_unique<QTcpSocket>();
            QTcpSocket *raw = s.get();
            connect(raw, &QTcpSocket::connected, raw,
                    [raw, i] { raw->write("GET /c" + QByteArray::number(i) + " HTTP/1.0\r\n\r\n"); });
            connect(raw, &QTcpSocket::readyRead, raw, [raw, &answers, i] { answers[i] += raw->readAll(); });
            connect(raw, &QTcpSocket::disconnected, raw, [&done] { ++done; });
            raw->connectToHost(QHostAddress::LocalHost, port);
            sockets.push_back(std::move(s));
        }
        QTRY_VERIFY(f->activeConnections() > 1 || done > 0);
        QTRY_COMPARE_WITH_TIMEOUT(done, count, 20000);
        for (int i = 0; i < count; ++i) {
            QVERIFY2(answers[i].startsWith("HTTP/1.0 200"), answers[i].constData());
            const QByteArray path = "\"path\": \"/c" + QByteArray::number(i) + "\"";
            QVERIFY(answers[i].contains(path));
        }
        QTRY_COMPARE(closed.size(), count);
        for (const auto &c : closed)
            QCOMPARE(c[1].toString(), QString());
        QTRY_COMPARE(f->activeConnections(), 0);
    }

    // Tens of MB to an echo server and back, compared byte for byte; then a clean close.
    void largeTransfer()
    {
        auto f = forwarder({m_ns, QStringLiteral("echo"), {}}, {{0, echoPort}, {0, sourcePort}});
        QSignalSpy closed(f.get(), &PortForwarder::connectionClosed);
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Listening));
        QVERIFY(f->localPort(0) != f->localPort(1));

        QByteArray data(24 * 1024 * 1024 + 777, Qt::Uninitialized);
        QRandomGenerator gen(7);
        gen.fillRange(reinterpret_cast<quint32 *>(data.data()), data.size() / 4);
        QTcpSocket s;
        QByteArray back;
        back.reserve(data.size());
        qint64 sent = 0;
        auto feed = [&] {
            while (sent < data.size() && s.bytesToWrite() < 1024 * 1024) {
                const qint64 n = std::min<qint64>(256 * 1024, data.size() - sent);
                s.write(data.constData() + sent, n);
                sent += n;
            }
        };
        connect(&s, &QTcpSocket::connected, &s, feed);
        connect(&s, &QTcpSocket::bytesWritten, &s, feed);
        connect(&s, &QTcpSocket::readyRead, &s, [&] { back += s.readAll(); });
        s.connectToHost(QHostAddress::LocalHost, f->localPort(0));
        QTRY_VERIFY_WITH_TIMEOUT(back.size() >= data.size(), 60000);
        QCOMPARE(back.size(), data.size());
        QVERIFY(back == data);
        s.disconnectFromHost();
        QTRY_COMPARE(closed.size(), 1);
        QCOMPARE(closed[0][1].toString(), QString());

        // From the pod: it sends and closes; everything arrives before the local close.
        QTcpSocket src;
        QByteArray got;
        connect(&src, &QTcpSocket::readyRead, &src, [&] { got += src.readAll(); });
        QSignalSpy srcClosed(&src, &QTcpSocket::disconnected);
        src.connectToHost(QHostAddress::LocalHost, f->localPort(1));
        QVERIFY(src.waitForConnected(5000));
        const qint64 n = 16 * 1024 * 1024 + 3;
        src.write(QByteArray::number(n) + '\n');
        QVERIFY(srcClosed.wait(30000));
        got += src.readAll();
        QCOMPARE(got.size(), n);
        bool ok = true;
        for (qint64 i = 0; i < n && ok; i += 997)
            ok = quint8(got[i]) == quint8(i % 256);
        QVERIFY(ok);
        QTRY_COMPARE(closed.size(), 2);
        QCOMPARE(closed[1][1].toString(), QString());
    }

    // A port nothing listens on in the pod: the server's error text closes the connection; the
    // forwarder goes on.
    void remotePortClosed()
    {
        auto f = forwarder({m_ns, QStringLiteral("echo"), {}}, {{0, 9}});
        QSignalSpy closed(f.get(), &PortForwarder::connectionClosed);
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Listening));
        QTcpSocket s;
        QSignalSpy gone(&s, &QTcpSocket::disconnected);
        s.connectToHost(QHostAddress::LocalHost, f->localPort(0));
        QVERIFY(s.waitForConnected(5000));
        QVERIFY(gone.wait(10000));
        QTRY_COMPARE(closed.size(), 1);
        const QString error = closed[0][1].toString();
        QVERIFY2(error.startsWith(QStringLiteral("error forwarding port 9 to pod echo, uid ")), qPrintable(error));
        QVERIFY2(error.endsWith(QStringLiteral(": dial tcp: connect: Connection refused")), qPrintable(error));
        QCOMPARE(f->state(), PortForwarder::State::Listening);
    }

    void startFailures_data()
    {
        QTest::addColumn<QString>("pod");
        QTest::addColumn<QString>("selector");
        QTest::addColumn<QString>("reason");
        QTest::newRow("no such pod") << "nope" << QString() << "Error from server (NotFound): pods \"nope\" not found";
        QTest::newRow("bad selector") << QString() << "a in ("
                                      << "Error from server (BadRequest): unable to parse requirement: found '', "
                                         "expected: ',', ')' or identifier";
        QTest::newRow("neither") << QString() << QString()
                                 << "port-forward needs a namespace and either a pod or a label selector";
    }
    void startFailures()
    {
        QFETCH(QString, pod);
        QFETCH(QString, selector);
        QFETCH(QString, reason);
        auto f = forwarder({m_ns, pod, selector}, {{0, webPort}});
        QTest::ignoreMessage(QtWarningMsg, qPrintable(QStringLiteral("port-forward failed: ") + reason));
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Failed));
        QCOMPARE(f->failureReason(), reason);
        QCOMPARE(f->localPort(0), quint16(0));
    }

    // A server whose port-forward stream does not open with the port it was asked for: the
    // connection is closed with the reason; the forwarder goes on.
    void wrongPortPrefix_data()
    {
        QTest::addColumn<QByteArray>("prefixes");
        QTest::addColumn<QString>("error");
        const QString data
            = QStringLiteral("port-forward: the server's first message on channel 0 does not name port 80");
        const QString errors
            = QStringLiteral("port-forward: the server's first message on channel 1 does not name port 80");
        QTest::newRow("other port") << testing::serverFrame(2, QByteArray("\x00\x51\x00", 3)) << data;
        QTest::newRow("short") << testing::serverFrame(2, QByteArray("\x00\x50", 2)) << data;
        QTest::newRow("long") << testing::serverFrame(2, QByteArray("\x00\x50\x00\x00", 4)) << data;
        QTest::newRow("error channel") << testing::serverFrame(2, QByteArray("\x00\x50\x00", 3))
                + testing::serverFrame(2, QByteArray("\x01\x50\x01", 3))
                                       << errors;
    }
    void wrongPortPrefix()
    {
        QFETCH(QByteArray, prefixes);
        QFETCH(QString, error);
        testing::FakeUpgradeServer fake([&](const QByteArray &request, const QByteArray &accept) {
            if (request.startsWith("GET /api/v1/namespaces/default/pods/p ")) {
                const QByteArray pod
                    = R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"status":{"phase":"Running"}})";
                return testing::FakeUpgradeServer::Reply {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                                          "Content-Length: "
                                                              + QByteArray::number(pod.size()) + "\r\n\r\n" + pod,
                                                          false};
            }
            return testing::FakeUpgradeServer::Reply {
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept + "\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n" + prefixes,
                false};
        });
        ClientConfig config;
        config.cluster.server = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(fake.port()));
        config.user.token = QStringLiteral("t");
        KubeClient client(config);
        PortForwarder f(&client, {m_ns, QStringLiteral("p"), {}}, {{0, 80}});
        QSignalSpy closed(&f, &PortForwarder::connectionClosed);
        f.start();
        QVERIFY(waitForState(f, PortForwarder::State::Listening));
        QTcpSocket s;
        QSignalSpy gone(&s, &QTcpSocket::disconnected);
        s.connectToHost(QHostAddress::LocalHost, f.localPort(0));
        QVERIFY(s.waitForConnected(5000));
        QVERIFY(gone.wait(5000));
        QTRY_COMPARE(closed.size(), 1);
        QCOMPARE(closed[0][1].toString(), error);
        QVERIFY(fake.lastRequest().startsWith("GET /api/v1/namespaces/default/pods/p/portforward?ports=80 HTTP/1.1"));
        QCOMPARE(f.state(), PortForwarder::State::Listening);
    }

    void portInUse()
    {
        QTcpServer taken;
        QVERIFY(taken.listen(QHostAddress::LocalHost, 0));
        auto f = forwarder({m_ns, QStringLiteral("web-fixed"), {}}, {{0, webPort}, {taken.serverPort(), webPort}});
        QSignalSpy states(f.get(), &PortForwarder::stateChanged);
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("port-forward failed: unable to listen")));
        f->start();
        QCOMPARE(f->state(), PortForwarder::State::Failed);
        QCOMPARE(f->failureReason(),
                 QStringLiteral("unable to listen on 127.0.0.1:%1: address already in use").arg(taken.serverPort()));
        QCOMPARE(states.size(), 2);
        QCOMPARE(f->localPort(0), quint16(0)); // the first listener is closed again
    }

    // A selector with no running pod yet: still Starting, saying why; Listening once one runs.
    void selectorWaitsForPod()
    {
        auto f = forwarder({m_ns, {}, QStringLiteral("app=later")}, {{0, webPort}});
        f->start();
        QTRY_COMPARE_WITH_TIMEOUT(f->failureReason(),
                                  QStringLiteral("no running pod matches app=later in namespace default"), 15000);
        QCOMPARE(f->state(), PortForwarder::State::Starting);
        const quint16 port = f->localPort(0);
        QVERIFY(port > 0);
        // A connection made now waits for the pod.
        QTcpSocket early;
        QByteArray answer;
        connect(&early, &QTcpSocket::readyRead, &early, [&] { answer += early.readAll(); });
        early.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(early.waitForConnected(2000));
        early.write("GET /early HTTP/1.0\r\n\r\n");
        QJsonObject pod = webPod(QStringLiteral("later-1"));
        QJsonObject meta = pod.value(QLatin1String("metadata")).toObject();
        meta.insert(QStringLiteral("labels"), QJsonObject {{QStringLiteral("app"), QStringLiteral("later")}});
        pod.insert(QStringLiteral("metadata"), meta);
        createPod(pod, true);
        // The backoff between looks grows to 5 s while no pod matches: allow for a loaded machine.
        QVERIFY(waitForState(*f, PortForwarder::State::Listening, 30000));
        QCOMPARE(f->currentPod(), QStringLiteral("later-1"));
        QTRY_VERIFY_WITH_TIMEOUT(answer.contains("\"path\": \"/early\""), 10000);
        QVERIFY(deletePod(QStringLiteral("later-1")));
    }

    // By selector: the deployment's pod is deleted, the replica set makes another; the forwarder
    // goes Reconnecting, then Listening on the new pod, on the same local port.
    void followsSelector()
    {
        QVERIFY(
            testing::await(m_client->create(ResourceRef::deployments(), m_ns, webDeployment(QStringLiteral("shop"))))
                .ok);
        auto f = forwarder({m_ns, {}, QStringLiteral("app=shop")}, {{0, webPort}});
        f->setPodCheckInterval(200);
        QList<PortForwarder::State> seen;
        connect(f.get(), &PortForwarder::stateChanged, this, [&](PortForwarder::State s) { seen << s; });
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Listening, 20000));
        const QString first = f->currentPod();
        QVERIFY(first.startsWith(QStringLiteral("shop-")));
        const quint16 port = f->localPort(0);
        QTRY_COMPARE_WITH_TIMEOUT(podOf(httpGet(port)), first, 10000);

        QVERIFY(deletePod(first));
        QTRY_VERIFY_WITH_TIMEOUT(seen.contains(PortForwarder::State::Reconnecting), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(f->state() == PortForwarder::State::Listening && f->currentPod() != first, 20000);
        const QString second = f->currentPod();
        QVERIFY(second.startsWith(QStringLiteral("shop-")));
        QCOMPARE(f->localPort(0), port);
        QTRY_COMPARE_WITH_TIMEOUT(podOf(httpGet(port)), second, 10000);
        const QList<PortForwarder::State> expected {PortForwarder::State::Starting, PortForwarder::State::Listening,
                                                    PortForwarder::State::Reconnecting,
                                                    PortForwarder::State::Listening};
        QCOMPARE(seen, expected);
    }

    // A fixed pod that is deleted: Failed, with the reason; the listener is closed.
    void fixedPodDeleted()
    {
        createPod(webPod(QStringLiteral("web-doomed")), true);
        auto f = forwarder({m_ns, QStringLiteral("web-doomed"), {}}, {{0, webPort}});
        f->setPodCheckInterval(200);
        f->start();
        QVERIFY(waitForState(*f, PortForwarder::State::Listening));
        const quint16 port = f->localPort(0);
        QCOMPARE(podOf(httpGet(port)), QStringLiteral("web-doomed"));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("port-forward failed: .*web-doomed")));
        QVERIFY(deletePod(QStringLiteral("web-doomed")));
        QVERIFY(waitForState(*f, PortForwarder::State::Failed));
        const QString reason = f->failureReason();
        QVERIFY2(reason == QStringLiteral("pod web-doomed is being deleted")
                     || reason == QStringLiteral("Error from server (NotFound): pods \"web-doomed\" not found"),
                 qPrintable(reason));
        QTcpSocket refused;
        refused.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(!refused.waitForConnected(2000));
    }
};

QTEST_GUILESS_MAIN(TestKubePortForward)
#include "tst_kubeportforward.moc"
