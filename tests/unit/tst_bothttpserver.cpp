// The bot's Beast HTTP server driven over raw sockets: what it refuses before reading a body,
// keep-alive and pipelining, 100-continue, bad request lines, and handlers that never answer.
#include "bot/httpserver.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QTcpSocket>
#include <QTest>

#include <atomic>

using namespace iterdeck::bot;

namespace {

// Reads until `enough` says the bytes are a whole answer (or the peer closes, or 10 s pass).
QByteArray readAnswer(QTcpSocket &s, const std::function<bool(const QByteArray &)> &enough)
{
    QByteArray got;
    QDeadlineTimer deadline(10000);
    while (!deadline.hasExpired() && !enough(got)) {
        if (!s.waitForReadyRead(100) && s.state() != QAbstractSocket::ConnectedState)
            break;
        got += s.readAll();
    }
    got += s.readAll();
    return got;
}

bool hasResponses(const QByteArray &got, int n)
{
    // Our answers all carry Content-Length; count complete ones.
    int complete = 0;
    qsizetype pos = 0;
    while (complete < n) {
        const qsizetype end = got.indexOf("\r\n\r\n", pos);
        if (end < 0)
            return false;
        const QByteArray head = got.mid(pos, end - pos).toLower();
        const qsizetype cl = head.indexOf("content-length: ");
        const qsizetype len = cl < 0 ? 0 : head.mid(cl + 16, head.indexOf("\r\n", cl) - cl - 16).toLongLong();
        if (got.size() < end + 4 + len)
            return false;
        pos = end + 4 + len;
        ++complete;
    }
    return true;
}

} // namespace

class TestBotHttpServer : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<HttpServer> m_server;
    std::atomic_int m_handled {0};

    void startServer(HttpServerOptions options = {})
    {
        m_server = std::make_unique<HttpServer>(
            [this](HttpRequest request, Respond respond) {
                ++m_handled;
                if (request.path == "/never")
                    return; // the server must answer for it
                if (request.path == "/later") {
                    // Answer from another thread, after a while.
                    std::thread([respond]() {
                        std::this_thread::sleep_for(std::chrono::milliseconds(50));
                        respond(HttpResponse {200, "text/plain", "later", {}});
                        respond(HttpResponse {500, "text/plain", "twice", {}}); // ignored
                    }).detach();
                    return;
                }
                std::string echo = request.method + ' ' + request.path + " q=" + request.query
                    + " body=" + std::to_string(request.body.size()) + " x=" + request.header("x-test");
                respond(HttpResponse {200, "text/plain", echo, {{"X-Echo", "1"}}});
            },
            options);
        std::string error;
        QVERIFY2(m_server->listen("127.0.0.1", 0, &error), error.c_str());
        QVERIFY(m_server->port() > 0);
        m_handled = 0;
    }

    QByteArray exchange(const QByteArray &request, int responses = 1)
    {
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, m_server->port());
        if (!s.waitForConnected(5000))
            return {};
        s.write(request);
        s.flush();
        return readAnswer(s, [responses](const QByteArray &got) { return hasResponses(got, responses); });
    }

private Q_SLOTS:
    void init()
    {
        m_handled = 0;
        startServer();
    }
    void cleanup() { m_server.reset(); }

    void answers()
    {
        const QByteArray got = exchange("POST /hooks/a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\n"
                                        "Content-Length: 5\r\n\r\nhello");
        QVERIFY2(got.startsWith("HTTP/1.1 200 OK\r\n"), got.constData());
        QVERIFY(got.contains("X-Echo: 1\r\n"));
        QVERIFY(got.contains("Server: iterdeck-bot\r\n"));
        QVERIFY2(got.endsWith("\r\n\r\nPOST /hooks/a b q=x=1 body=5 x=yes"), got.constData());
    }

    void keepAliveAndPipelining()
    {
        const QByteArray got = exchange("GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                                        "GET /later HTTP/1.1\r\nHost: h\r\n\r\n"
                                        "POST /three HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
                                        3);
        const qsizetype a = got.indexOf("GET /one");
        const qsizetype b = got.indexOf("later");
        const qsizetype c = got.indexOf("POST /three q= body=2");
        QVERIFY2(a > 0 && b > a && c > b, got.constData()); // in order, even though /later answers late
        QVERIFY(!got.contains("twice"));
    }

    void headHasNoBody()
    {
        QTcpSocket sock;
        sock.connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(sock.waitForConnected(5000));
        sock.write("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /g HTTP/1.1\r\nHost: h\r\n\r\n");
        const QByteArray got = readAnswer(sock, [](const QByteArray &g) { return g.endsWith("GET /g q= body=0 x="); });
        // The HEAD answer announces the length of "HEAD /h q= body=0 x=" but carries no body: the
        // next answer follows its head directly.
        const qsizetype headEnd = got.indexOf("\r\n\r\n");
        QVERIFY2(headEnd > 0, got.constData());
        QVERIFY2(got.left(headEnd).contains("Content-Length: 20"), got.constData());
        QVERIFY2(got.mid(headEnd + 4).startsWith("HTTP/1.1 200 OK\r\n"), got.constData());
        QVERIFY2(got.endsWith("GET /g q= body=0 x="), got.constData());
    }

    void chunkedBody()
    {
        const QByteArray got = exchange("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        QVERIFY2(got.endsWith("POST /c q= body=5 x="), got.constData());
    }

    // Refused from the head: the body is never sent, yet the answer comes.
    void tooLargeUnread()
    {
        m_server.reset();
        HttpServerOptions o;
        o.maxBodyBytes = 1000;
        startServer(o);
        const QByteArray got = exchange("POST /hooks/x HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n");
        QVERIFY2(got.startsWith("HTTP/1.1 413 Payload Too Large\r\n"), got.constData());
        QVERIFY(got.contains("Connection: close\r\n"));
        QVERIFY(got.endsWith(
            "{\"error\":\"too-large\",\"message\":\"the request body is larger than the server accepts\"}"));
        QCOMPARE(m_handled.load(), 0);
        // Exactly at the limit is fine.
        const QByteArray ok
            = exchange("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + QByteArray(1000, 'a'));
        QVERIFY2(ok.startsWith("HTTP/1.1 200 OK\r\n"), ok.constData());
        // A chunked body is cut off at the limit.
        const QByteArray chunked = exchange("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            "3e9\r\n"
                                            + QByteArray(1001, 'a') + "\r\n0\r\n\r\n");
        QVERIFY2(chunked.startsWith("HTTP/1.1 413 "), chunked.constData());
    }

    void expectContinue()
    {
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(s.waitForConnected(5000));
        s.write("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
        const QByteArray cont = readAnswer(s, [](const QByteArray &g) { return g.contains("\r\n\r\n"); });
        QCOMPARE(cont, QByteArray("HTTP/1.1 100 Continue\r\n\r\n"));
        s.write("abc");
        const QByteArray got = readAnswer(s, [](const QByteArray &g) { return hasResponses(g, 1); });
        QVERIFY2(got.endsWith("POST /e q= body=3 x="), got.constData());
    }

    void badRequests_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<QByteArray>("statusLine");
        QTest::newRow("garbage") << QByteArray("HELLO\r\n\r\n") << QByteArray("HTTP/1.1 400 Bad Request");
        QTest::newRow("bad version") << QByteArray("GET / HTTP/9\r\n\r\n") << QByteArray("HTTP/1.1 400 Bad Request");
        QTest::newRow("bad escape") << QByteArray("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n")
                                    << QByteArray("HTTP/1.1 400 Bad Request");
        QTest::newRow("truncated escape")
            << QByteArray("GET /a% HTTP/1.1\r\nHost: h\r\n\r\n") << QByteArray("HTTP/1.1 400 Bad Request");
        QTest::newRow("bad length") << QByteArray("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n")
                                    << QByteArray("HTTP/1.1 400 Bad Request");
        QTest::newRow("head too large") << "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + QByteArray(20000, 'a') + "\r\n\r\n"
                                        << QByteArray("HTTP/1.1 431 Request Header Fields Too Large");
    }

    void badRequests()
    {
        QFETCH(QByteArray, request);
        QFETCH(QByteArray, statusLine);
        const QByteArray got = exchange(request);
        QVERIFY2(got.startsWith(QByteArray(statusLine + "\r\n")), got.constData());
        QCOMPARE(m_handled.load(), 0);
    }

    void handlerNeverAnswers()
    {
        m_server.reset();
        HttpServerOptions o;
        o.handlerTimeoutSeconds = 1;
        startServer(o);
        const QByteArray got = exchange("GET /never HTTP/1.1\r\nHost: h\r\n\r\n");
        QVERIFY2(got.startsWith("HTTP/1.1 503 Service Unavailable\r\n"), got.constData());
    }

    // A client that stops in the middle of a request is disconnected (Beast closes a stream whose
    // time ran out, so there is no 408 to send), and the handler never sees the request.
    void slowClientTimesOut()
    {
        m_server.reset();
        HttpServerOptions o;
        o.requestTimeoutSeconds = 1;
        startServer(o);
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(s.waitForConnected(5000));
        s.write("POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab"); // and nothing more
        QElapsedTimer t;
        t.start();
        const QByteArray got = readAnswer(s, [](const QByteArray &g) { return hasResponses(g, 1); });
        QVERIFY2(got.isEmpty(), got.constData());
        QCOMPARE(s.state(), QAbstractSocket::UnconnectedState);
        QVERIFY(t.elapsed() < 5000);
        QCOMPARE(m_handled.load(), 0);
    }

    void listenErrors()
    {
        HttpServer other([](HttpRequest, Respond) {});
        std::string error;
        QVERIFY(!other.listen("127.0.0.1", m_server->port(), &error));
        QVERIFY2(QString::fromStdString(error).startsWith(
                     QStringLiteral("cannot listen on 127.0.0.1:%1: ").arg(m_server->port())),
                 error.c_str());
        HttpServer bad([](HttpRequest, Respond) {});
        QVERIFY(!bad.listen("localhost", 0, &error));
        QCOMPARE(error, std::string("\"localhost\" is not an IP address"));
        QVERIFY(!bad.useTls("/nonexistent.crt", "/nonexistent.key", &error));
        QVERIFY2(error.rfind("cannot use the certificate /nonexistent.crt: ", 0) == 0, error.c_str());
    }

    void percentDecoding_data()
    {
        QTest::addColumn<QString>("in");
        QTest::addColumn<bool>("ok");
        QTest::addColumn<QString>("out");
        QTest::newRow("plain") << QStringLiteral("/hooks/github") << true << QStringLiteral("/hooks/github");
        QTest::newRow("space") << QStringLiteral("/a%20b") << true << QStringLiteral("/a b");
        QTest::newRow("plus stays") << QStringLiteral("/a+b") << true << QStringLiteral("/a+b");
        QTest::newRow("upper hex") << QStringLiteral("/%2F") << true << QStringLiteral("//");
        QTest::newRow("bad") << QStringLiteral("/%g0") << false << QString();
        QTest::newRow("short") << QStringLiteral("/%2") << false << QString();
    }

    void percentDecoding()
    {
        QFETCH(QString, in);
        QFETCH(bool, ok);
        QFETCH(QString, out);
        std::string decoded;
        QCOMPARE(percentDecodePath(in.toStdString(), &decoded), ok);
        if (ok)
            QCOMPARE(QString::fromStdString(decoded), out);
    }
};

QTEST_GUILESS_MAIN(TestBotHttpServer)
#include "tst_bothttpserver.moc"
