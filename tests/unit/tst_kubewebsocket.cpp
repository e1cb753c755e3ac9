// The socket-free protocol layer of the kube streams: the upgrade answer, the frame parser with
// malformed, truncated, oversized and hostile frames (whole and byte by byte), masking (the RFC's
// vectors), the Close payload, the exec status and the port prefix; plus the fuzzer's corpus and
// regressions.
#include "fuzz/fuzzkubeframes.h"
#include "kube/channelprotocol.h"
#include "kube/websocketprotocol.h"

#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QTest>

using namespace iterdeck::kube;
using ws::Opcode;

namespace {

QByteArray hex(const char *text)
{
    return QByteArray::fromHex(text);
}

QStringList strings(std::initializer_list<const char *> items)
{
    QStringList out;
    for (const char *i : items)
        out << QString::fromUtf8(i);
    return out;
}

// "op:payload-hex" per message, "!code:error" for an error.
QStringList describe(const QByteArray &input, qsizetype step, qint64 maxMessage)
{
    QStringList out;
    ws::FrameParser p(maxMessage);
    qsizetype pos = 0;
    while (pos < input.size()) {
        const qsizetype n = std::min(step, input.size() - pos);
        qsizetype done = 0;
        while (done < n) {
            done += p.feed(input.constData() + pos + done, n - done);
            if (p.hasError()) {
                out << QStringLiteral("!%1:%2").arg(p.errorCloseCode()).arg(p.errorString());
                return out;
            }
            if (p.hasMessage()) {
                const ws::Message m = p.takeMessage();
                out << QStringLiteral("%1:%2").arg(int(m.opcode)).arg(QString::fromLatin1(m.payload.toHex()));
            }
        }
        pos += n;
    }
    if (p.pendingBytes() > 0)
        out << QStringLiteral("pending %1").arg(p.pendingBytes());
    return out;
}

} // namespace

class TestKubeWebSocket : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void frames_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<qint64>("maxMessage");
        QTest::addColumn<QStringList>("expected");
        const qint64 max = 1024;
        QTest::newRow("binary") << hex("8203016162") << max << strings({"2:016162"});
        QTest::newRow("text") << hex("81026869") << max << strings({"1:6869"});
        QTest::newRow("empty") << hex("8200") << max << strings({"2:"});
        QTest::newRow("two messages") << hex("820101820102") << max << strings({"2:01", "2:02"});
        QTest::newRow("fragmented") << hex("02026162000163800164") << max << strings({"2:61626364"});
        QTest::newRow("ping inside fragments") << hex("020161890178800162") << max << strings({"9:78", "2:6162"});
        QTest::newRow("pong and close") << hex("8a00880203e8") << max << strings({"10:", "8:03e8"});
        QTest::newRow("16-bit length") << hex("827e0080") + QByteArray(128, 'x') << max
                                       << QStringList {QStringLiteral("2:")
                                                       + QString::fromLatin1(QByteArray(128, 'x').toHex())};
        QTest::newRow("64-bit length") << hex("827f0000000000010000") + QByteArray(65536, 'y') << qint64(65536)
                                       << QStringList {QStringLiteral("2:")
                                                       + QString::fromLatin1(QByteArray(65536, 'y').toHex())};
        QTest::newRow("truncated header") << hex("827e00") << max << QStringList();
        QTest::newRow("truncated payload") << hex("820561") << max << strings({"pending 1"});
        QTest::newRow("truncated fragment") << hex("02026162") << max << strings({"pending 2"});
        QTest::newRow("masked") << hex("8281aabbccdd00") << max << strings({"!1002:the server sent a masked frame"});
        QTest::newRow("reserved bits") << hex(
            "c200") << max << strings({"!1002:a frame has reserved bits set (no extension was negotiated)"});
        QTest::newRow("opcode 3") << hex("8300") << max << strings({"!1002:a frame has the unknown opcode 0x3"});
        QTest::newRow("opcode f") << hex("8f00") << max << strings({"!1002:a frame has the unknown opcode 0xf"});
        QTest::newRow("fragmented ping") << hex("0900") << max << strings({"!1002:a control frame is fragmented"});
        QTest::newRow("long ping") << hex("897e007e") << max
                                   << strings({"!1002:a control frame is longer than 125 bytes"});
        QTest::newRow("lone continuation")
            << hex("8000") << max << strings({"!1002:a continuation frame without a message to continue"});
        QTest::newRow("message inside message")
            << hex("020161820162") << max << strings({"!1002:a new message started inside a fragmented one"});
        QTest::newRow("non-minimal 16") << hex("827e0005") << max
                                        << strings({"!1002:a frame length is not minimally encoded"});
        QTest::newRow("non-minimal 64") << hex("827f000000000000ffff") << max
                                        << strings({"!1002:a frame length is not minimally encoded"});
        QTest::newRow("length msb") << hex("827f8000000000000000") << max
                                    << strings({"!1002:a frame length has its most significant bit set"});
        QTest::newRow("oversized frame") << hex("827e0401") << max
                                         << strings({"!1009:a message from the server is larger than the limit of "
                                                     "1024 bytes"});
        QTest::newRow("oversized fragments") << hex("027e0200") + QByteArray(512, 'a') + hex("007e0201") << max
                                             << strings({"!1009:a message from the server is larger than the "
                                                         "limit of 1024 bytes"});
        QTest::newRow("huge 64-bit length") << hex("827f7fffffffffffffff") << max
                                            << strings({"!1009:a message from the server is larger than the "
                                                        "limit of 1024 bytes"});
        QTest::newRow("data after error is ignored") << hex("c2008201ff") << max
                                                     << strings({"!1002:a frame has reserved bits set (no "
                                                                 "extension was negotiated)"});
    }
    void frames()
    {
        QFETCH(QByteArray, input);
        QFETCH(qint64, maxMessage);
        QFETCH(QStringList, expected);
        QCOMPARE(describe(input, input.size() + 1, maxMessage), expected);
        QCOMPARE(describe(input, 1, maxMessage), expected);
        QCOMPARE(describe(input, 3, maxMessage), expected);
    }

    void closePayload_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<bool>("ok");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("text"); // reason, or the error
        QTest::newRow("empty") << QByteArray() << true << 1005 << "";
        QTest::newRow("normal") << hex("03e8") << true << 1000 << "";
        QTest::newRow("reason") << hex("03f3") + "bye \xc3\xa9" << true << 1011 << QStringLiteral("bye é");
        QTest::newRow("private") << hex("0fa0") << true << 4000 << "";
        QTest::newRow("one byte") << hex("03") << false << 1005 << "a close frame has a 1-byte payload";
        QTest::newRow("1005") << hex("03ed") << false << 1005 << "a close frame has the invalid code 1005";
        QTest::newRow("1006") << hex("03ee") << false << 1005 << "a close frame has the invalid code 1006";
        QTest::newRow("999") << hex("03e7") << false << 1005 << "a close frame has the invalid code 999";
        QTest::newRow("5000") << hex("1388") << false << 1005 << "a close frame has the invalid code 5000";
        QTest::newRow("bad utf-8") << hex("03e8c3") << false << 1005 << "a close frame's reason is not UTF-8";
    }
    void closePayload()
    {
        QFETCH(QByteArray, payload);
        QFETCH(bool, ok);
        QFETCH(int, code);
        QFETCH(QString, text);
        quint16 c = 0;
        QString reason, error;
        QCOMPARE(ws::parseClosePayload(payload, &c, &reason, &error), ok);
        QCOMPARE(int(c), code);
        QCOMPARE(ok ? reason : error, text);
    }

    // RFC 6455 §5.7 and §1.3.
    void rfcVectors()
    {
        const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
        QByteArray frame;
        ws::appendFrame(frame, Opcode::Text, {}, "Hello", key);
        QCOMPARE(frame, hex("818537fa213d7f9f4d5158"));
        QByteArray split;
        ws::appendFrame(split, Opcode::Text, "He", "llo", key);
        QCOMPARE(split, frame);
        QCOMPARE(ws::acceptKeyFor("dGhlIHNhbXBsZSBub25jZQ=="), QByteArray("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    }

    void masking_data()
    {
        QTest::addColumn<int>("size");
        QTest::addColumn<int>("prefix");
        for (int size : {0, 1, 7, 8, 9, 31, 32, 33, 125, 126, 65535, 65536, 100001})
            for (int prefix : {0, 1, 3})
                QTest::addRow("%d+%d", prefix, size) << size << prefix;
    }
    void masking()
    {
        QFETCH(int, size);
        QFETCH(int, prefix);
        QByteArray payload(size, Qt::Uninitialized);
        for (int i = 0; i < size; ++i)
            payload[i] = char(i * 7 + 3);
        const QByteArray pre = QByteArray("\x05\x06\x07").left(prefix);
        const unsigned char key[4] = {0x01, 0x80, 0xfe, 0x5a};
        QByteArray frame;
        ws::appendFrame(frame, Opcode::Binary, pre, payload, key);
        const qsizetype total = prefix + size;
        QCOMPARE(frame.size(), ws::frameSize(total));
        const qsizetype header = frame.size() - total - 4;
        QCOMPARE(header, total < 126 ? 2 : total <= 0xffff ? 4 : 10);
        QByteArray plain(total, Qt::Uninitialized);
        for (qsizetype i = 0; i < total; ++i)
            plain[i] = char(frame[header + 4 + i] ^ key[i % 4]);
        QCOMPARE(plain, pre + payload);
    }

    void upgradeAnswer_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<int>("result"); // 0 need more, 1 done, 2 error
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("detail"); // error text, or "header=value" checked on success
        QTest::newRow("101") << QByteArray("HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: "
                                           "keep-alive, Upgrade\r\nX-A: 1\r\nx-a:  2 \r\n\r\nFRAMES")
                             << 1 << 101 << "x-a=1, 2";
        QTest::newRow("no reason") << QByteArray("HTTP/1.0 403\r\n\r\n") << 1 << 403 << "x-a=";
        QTest::newRow("partial") << QByteArray("HTTP/1.1 101 Switching Protocols\r\nUpgr") << 0 << 0 << "";
        QTest::newRow("partial prefix") << QByteArray("HTT") << 0 << 0 << "";
        QTest::newRow("not http") << QByteArray("hello\r\n") << 2 << 0 << "not an HTTP response: \"hello\"";
        QTest::newRow("binary") << QByteArray("\x16\x03\x01\x00", 4) << 2 << 0
                                << "not an HTTP response: \"\\x16\\x03\\x01\\x00\"";
        QTest::newRow("http/2") << QByteArray("HTTP/2 200\r\n\r\n") << 2 << 0
                                << "malformed status line: \"HTTP/2 200\"";
        QTest::newRow("short code") << QByteArray("HTTP/1.1 20\r\n\r\n") << 2 << 0
                                    << "malformed status line: \"HTTP/1.1 20\"";
        QTest::newRow("code glued") << QByteArray("HTTP/1.1 2000\r\n\r\n") << 2 << 0
                                    << "malformed status line: \"HTTP/1.1 2000\"";
        QTest::newRow("folded header") << QByteArray("HTTP/1.1 101 x\r\nA: b\r\n c\r\n\r\n") << 2 << 0
                                       << "malformed header line: \" c\"";
        QTest::newRow("space in name") << QByteArray("HTTP/1.1 101 x\r\nA b: c\r\n\r\n") << 2 << 0
                                       << "malformed header line: \"A b: c\"";
        QTest::newRow("too large") << "HTTP/1.1 101 x\r\nA: " + QByteArray(70000, 'v') << 2 << 0
                                   << "the response header is larger than 65536 bytes";
    }
    void upgradeAnswer()
    {
        QFETCH(QByteArray, input);
        QFETCH(int, result);
        QFETCH(int, status);
        QFETCH(QString, detail);
        ws::HttpResponseHeadParser parser;
        ws::HttpResponseHead head;
        qsizetype size = 0;
        QCOMPARE(int(parser.parse(input, &head, &size)), result);
        if (result == 2)
            QCOMPARE(parser.errorString(), detail);
        if (result != 1)
            return;
        QCOMPARE(head.status, status);
        const QStringList kv = detail.split(QLatin1Char('='));
        QCOMPARE(QString::fromLatin1(head.header(kv[0].toLatin1())), kv[1]);
        if (status == 101) {
            QCOMPARE(input.mid(size), QByteArray("FRAMES"));
            QVERIFY(head.hasToken("upgrade", "websocket"));
            QVERIFY(head.hasToken("connection", "upgrade"));
            QVERIFY(!head.hasToken("connection", "close"));
        }
    }

    void body_data()
    {
        QTest::addColumn<QByteArray>("head");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<bool>("complete");
        QTest::addColumn<bool>("failed");
        QTest::addColumn<QByteArray>("decoded");
        QTest::newRow("length") << QByteArray("Content-Length: 3") << QByteArray("abcdef") << true << false
                                << QByteArray("abc");
        QTest::newRow("length short") << QByteArray("Content-Length: 9") << QByteArray("abc") << false << false
                                      << QByteArray("abc");
        QTest::newRow("chunked") << QByteArray("Transfer-Encoding: chunked")
                                 << QByteArray("3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") << true << false
                                 << QByteArray("abcde");
        QTest::newRow("chunked partial") << QByteArray("Transfer-Encoding: chunked") << QByteArray("5\r\nab") << false
                                         << false << QByteArray();
        QTest::newRow("chunked bad size")
            << QByteArray("Transfer-Encoding: chunked") << QByteArray("zz\r\nab\r\n") << false << true << QByteArray();
        QTest::newRow("chunked bad end") << QByteArray("Transfer-Encoding: chunked") << QByteArray("2\r\nabX\r\n")
                                         << false << true << QByteArray();
        QTest::newRow("chunked huge size") << QByteArray("Transfer-Encoding: chunked")
                                           << QByteArray("ffffffffffffffff\r\n") << false << true << QByteArray();
        QTest::newRow("until close") << QByteArray("X: y") << QByteArray("all of it") << false << false
                                     << QByteArray("all of it");
        QTest::newRow("limited") << QByteArray("X: y") << QByteArray(3000, 'z') << false << false
                                 << QByteArray(2048, 'z');
    }
    void body()
    {
        QFETCH(QByteArray, head);
        QFETCH(QByteArray, body);
        QFETCH(bool, complete);
        QFETCH(bool, failed);
        QFETCH(QByteArray, decoded);
        ws::HttpResponseHeadParser parser;
        ws::HttpResponseHead h;
        qsizetype size = 0;
        const QByteArray answer = "HTTP/1.1 403 Forbidden\r\n" + head + "\r\n\r\n";
        QCOMPARE(parser.parse(answer, &h, &size), ws::HttpResponseHeadParser::Result::Done);
        ws::HttpBodyReader reader(h, 2048);
        for (char c : body)
            reader.append(QByteArrayView(&c, 1));
        QCOMPARE(reader.isComplete(), complete);
        QCOMPARE(reader.failed(), failed);
        QCOMPARE(reader.body(), decoded);
    }

    void execStatus_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("message");
        const auto exitWith = [](const char *code) -> QByteArray {
            // (no raw string here: moc cannot read one that ends in a quote)
            return "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with non-zero exit "
                   "code\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
                   "\"message\":\""
                + QByteArray(code) + "\"}]}}";
        };
        QTest::newRow("success") << QByteArray(R"({"metadata":{},"status":"Success"})") << 0 << 0 << "";
        QTest::newRow("exit 3") << exitWith("3") << 3 << 0 << "";
        QTest::newRow("exit 255") << exitWith("255") << 255 << 0 << "";
        QTest::newRow("exit 256") << exitWith("256") << -1 << int(KubeError::Kind::Decode)
                                  << "the command's status has an invalid exit code: \"256\"";
        QTest::newRow("exit -1") << exitWith("-1") << -1 << int(KubeError::Kind::Decode)
                                 << "the command's status has an invalid exit code: \"-1\"";
        QTest::newRow("exit +1") << exitWith("+1") << -1 << int(KubeError::Kind::Decode)
                                 << "the command's status has an invalid exit code: \"+1\"";
        QTest::newRow("exit text") << exitWith("x") << -1 << int(KubeError::Kind::Decode)
                                   << "the command's status has an invalid exit code: \"x\"";
        QTest::newRow("no cause") << QByteArray(
            R"({"status":"Failure","message":"command terminated","reason":"NonZeroExitCode"})")
                                  << -1 << int(KubeError::Kind::Decode)
                                  << "the command's status names no exit code: command terminated";
        QTest::newRow("second cause") << QByteArray(
            R"({"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"Other","message":"1"},{"reason":"ExitCode","message":"9"}]}})")
                                      << 9 << 0 << "";
        QTest::newRow("internal") << QByteArray(
            R"({"status":"Failure","message":"Internal error occurred: x","reason":"InternalError","code":500})")
                                  << -1 << int(KubeError::Kind::Server) << "Internal error occurred: x";
        QTest::newRow("unknown status") << QByteArray(R"({"status":"Maybe"})") << -1 << int(KubeError::Kind::Decode)
                                        << "the command's status is neither Success nor Failure: \"Maybe\"";
        QTest::newRow("array") << QByteArray("[1]") << -1 << int(KubeError::Kind::Decode)
                               << "the command's status is not a Kubernetes Status: [1]";
        QTest::newRow("empty") << QByteArray() << -1 << int(KubeError::Kind::Decode)
                               << "the command's status is not a Kubernetes Status: ";
        QTest::newRow("wrong types") << QByteArray(
            R"({"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":3}]}})")
                                     << -1 << int(KubeError::Kind::Decode)
                                     << "the command's status has an invalid exit code: \"\"";
    }
    void execStatus()
    {
        QFETCH(QByteArray, json);
        QFETCH(int, exitCode);
        QFETCH(int, kind);
        QFETCH(QString, message);
        const channel::ExecResult r = channel::parseExecStatus(json);
        QCOMPARE(r.exitCode, exitCode);
        QCOMPARE(int(r.error.kind), kind);
        QCOMPARE(r.error.message, message);
    }

    void portPrefix_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<bool>("ok");
        QTest::addColumn<int>("port");
        QTest::newRow("8080") << hex("901f") << true << 8080;
        QTest::newRow("65535") << hex("ffff") << true << 65535;
        QTest::newRow("short") << hex("90") << false << 0;
        QTest::newRow("long") << hex("901f00") << false << 0;
        QTest::newRow("empty") << QByteArray() << false << 0;
    }
    void portPrefix()
    {
        QFETCH(QByteArray, payload);
        QFETCH(bool, ok);
        QFETCH(int, port);
        quint16 p = 0;
        QCOMPARE(channel::parsePortPrefix(payload, &p), ok);
        QCOMPARE(int(p), port);
    }

    void resizePayload() { QCOMPARE(channel::resizePayload(80, 24), QByteArray(R"({"Width":80,"Height":24})")); }

    // The fuzzer's seeds and every input it found troublesome still satisfy its invariants.
    void fuzzReplay_data()
    {
        QTest::addColumn<QByteArray>("input");
        int rows = 0;
        for (const char *dir : {"/tests/fuzz/corpus/kube_frames", "/tests/fuzz/regressions/kube_frames"}) {
            QDirIterator it(QStringLiteral(ITERDECK_SOURCE_DIR) + QString::fromLatin1(dir), QDir::Files);
            while (it.hasNext()) {
                const QString path = it.next();
                QFile file(path);
                QVERIFY(file.open(QIODevice::ReadOnly));
                QTest::newRow(
                    qPrintable(QString::fromLatin1(dir).section(u'/', -1) + u'/' + QFileInfo(path).fileName()))
                    << file.readAll();
                ++rows;
            }
        }
        QVERIFY(rows >= 10);
    }
    void fuzzReplay()
    {
        QFETCH(QByteArray, input);
        QVERIFY(iterdeck::fuzz::kubeFramesOnce(reinterpret_cast<const uint8_t *>(input.constData()),
                                               std::size_t(input.size())));
    }
};

QTEST_GUILESS_MAIN(TestKubeWebSocket)
#include "tst_kubewebsocket.moc"
