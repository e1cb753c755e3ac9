// The sandbox's SPDY/3.1 (kubectl port-forward): frames both ways, header blocks through the
// SPDY/3 dictionary with one zlib stream per direction, malformed, truncated and oversized input
// with the exact error, flow-control window arithmetic, the server session's stream states, and
// the port-forward itself against local TCP servers (pairing, piping with back-pressure, the
// kubelet's error text, flow-controlled and window-ignoring clients). Replays the fuzzer's seeds
// and regressions.
#include "sandbox/spdy.h"
#include "sandbox/spdyforward.h"

#include "fuzz/fuzzsandboxspdy.h"

#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QTest>

#include <boost/asio.hpp>

#include <zlib.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <set>

using namespace iterdeck::sandbox;
using namespace iterdeck::sandbox::spdy;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

QByteArray qb(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

struct Parsed
{
    std::vector<Frame> frames;
    std::vector<Error> errors;
};

// Runs the parser until it needs more.
Parsed drain(Parser &p)
{
    Parsed out;
    for (;;) {
        Frame f;
        Error e;
        const auto r = p.next(&f, &e);
        if (r == Parser::Result::NeedMore)
            return out;
        if (r == Parser::Result::Frame) {
            out.frames.push_back(std::move(f));
            continue;
        }
        out.errors.push_back(e);
        if (e.scope == Error::Scope::Session)
            return out;
    }
}

Parsed parse(std::string_view bytes, Limits limits = {})
{
    Parser p(limits);
    p.feed(bytes);
    return drain(p);
}

std::string controlHeader(std::uint16_t version, std::uint16_t type, std::uint8_t flags, std::uint32_t length)
{
    std::string s;
    s += char(0x80 | (version >> 8));
    s += char(version & 0xff);
    s += char(type >> 8);
    s += char(type & 0xff);
    s += char(flags);
    s += char(length >> 16);
    s += char(length >> 8);
    s += char(length);
    return s;
}

std::string be32(std::uint32_t v)
{
    return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// A SYN_STREAM whose header block is `block` compressed by a fresh zlib stream with `dict`.
std::string synStreamWithBlock(std::uint32_t id, const std::string &block, std::string_view dict)
{
    z_stream z {};
    deflateInit(&z, Z_DEFAULT_COMPRESSION);
    if (!dict.empty())
        deflateSetDictionary(&z, reinterpret_cast<const Bytef *>(dict.data()), uInt(dict.size()));
    std::string out(block.size() + 1024, '\0');
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(block.data()));
    z.avail_in = uInt(block.size());
    z.next_out = reinterpret_cast<Bytef *>(out.data());
    z.avail_out = uInt(out.size());
    deflate(&z, Z_SYNC_FLUSH);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    std::string f = controlHeader(3, 1, 0, std::uint32_t(10 + out.size()));
    f += be32(id);
    f += be32(0);
    f += std::string(2, '\0');
    f += out;
    return f;
}

Headers portForwardHeaders(const std::string &type, const std::string &port, const std::string &request)
{
    return {{"port", port}, {"requestid", request}, {"streamtype", type}};
}

// The client's end of a session under test: writes frames, parses what the server says.
struct Client
{
    Writer writer;
    Parser parser;
    std::vector<Frame> frames;

    std::string syn(std::uint32_t id, const Headers &h, std::uint8_t flags = 0)
    {
        return writer.synStream(id, 0, 0, h, flags);
    }
    void read(std::string_view bytes)
    {
        parser.feed(bytes);
        auto p = drain(parser);
        QVERIFY2(p.errors.empty(), p.errors.empty() ? "" : p.errors.front().message.c_str());
        for (auto &f : p.frames)
            frames.push_back(std::move(f));
    }
    std::vector<Frame> take() { return std::exchange(frames, {}); }
};

struct SessionRig
{
    explicit SessionRig(ServerSession::Options o = {})
        : session(o)
    {
        session.onOutput = [this](std::string b) { client.read(b); };
        session.onStream = [this](std::uint32_t id, const Headers &h, bool fin) {
            events.push_back("stream " + std::to_string(id) + (fin ? " fin" : ""));
            lastHeaders = h;
        };
        session.onData = [this](std::uint32_t id, std::string d, bool fin) {
            events.push_back("data " + std::to_string(id) + " " + std::to_string(d.size()) + (fin ? " fin" : ""));
        };
        session.onReset = [this](std::uint32_t id, std::uint32_t status) {
            events.push_back("reset " + std::to_string(id) + " " + std::to_string(status));
        };
        session.onGoAway = [this] { events.push_back("goaway"); };
        session.onSessionError = [this](const Error &e) { events.push_back("error " + e.message); };
        session.onWindow = [this] { events.push_back("window"); };
    }
    ServerSession session;
    Client client;
    std::vector<std::string> events;
    Headers lastHeaders;
};

// ---- port-forward rig ----------------------------------------------------------------------

class MemChannel : public ByteChannel
{
public:
    void send(std::string data) override
    {
        if (closing || isClosed)
            return;
        queued += data.size();
        maxQueued = std::max(maxQueued, queued);
        pending.push_back(std::move(data));
    }
    void close() override { closing = true; }
    std::size_t queuedBytes() const override { return queued; }
    bool closed() const override { return isClosed; }
    void setReadPaused(bool p) override
    {
        paused = p;
        if (p)
            ++pauses;
    }

    std::string take()
    {
        std::string s;
        for (auto &p : pending)
            s += p;
        pending.clear();
        const bool had = queued != 0;
        queued = 0;
        if (had && onDrained)
            onDrained();
        return s;
    }
    void finish()
    {
        isClosed = true;
        auto cb = std::move(onClose);
        onData = nullptr;
        onDrained = nullptr;
        if (cb)
            cb();
    }

    std::deque<std::string> pending;
    std::size_t queued = 0;
    std::size_t maxQueued = 0;
    bool closing = false;
    bool isClosed = false;
    bool paused = false;
    int pauses = 0;
};

// Deterministic test bytes.
std::string pattern(std::size_t n, std::uint32_t seed)
{
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto &c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = char(x);
    }
    return s;
}

// A TCP server on 127.0.0.1: echoes, or sends `source` bytes and closes.
class TestServer
{
public:
    TestServer(net::io_context &io, std::string source = {})
        : m_acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0))
        , m_source(std::move(source))
    {
        accept();
    }
    std::uint16_t port() const { return m_acceptor.local_endpoint().port(); }
    int connections = 0;
    std::size_t received = 0;

private:
    struct Conn
    {
        explicit Conn(tcp::socket s)
            : socket(std::move(s))
        { }
        tcp::socket socket;
        std::array<char, 16384> buf {};
    };
    void accept()
    {
        m_acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (ec)
                return;
            ++connections;
            auto c = std::make_shared<Conn>(std::move(s));
            if (!m_source.empty()) {
                net::async_write(c->socket, net::buffer(m_source), [c](boost::system::error_code, std::size_t) {
                    boost::system::error_code ignored;
                    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
                    c->socket.close(ignored);
                });
            } else {
                echo(c);
            }
            accept();
        });
    }
    void echo(const std::shared_ptr<Conn> &c)
    {
        c->socket.async_read_some(net::buffer(c->buf), [this, c](boost::system::error_code ec, std::size_t n) {
            if (ec) {
                boost::system::error_code ignored;
                c->socket.shutdown(tcp::socket::shutdown_send, ignored);
                return;
            }
            received += n;
            net::async_write(c->socket, net::buffer(c->buf.data(), n),
                             [this, c](boost::system::error_code e2, std::size_t) {
                                 if (!e2)
                                     echo(c);
                             });
        });
    }
    tcp::acceptor m_acceptor;
    std::string m_source;
};

struct ForwardRig
{
    explicit ForwardRig(SpdyForwardOptions options = {})
        : channel(std::make_shared<MemChannel>())
    {
        serveSpdyPortForward(io, channel, PortForwardTarget {"web-1", "uid-1", "127.0.0.1"}, options);
    }
    void send(std::string_view bytes)
    {
        if (channel->onData)
            channel->onData(std::string(bytes));
    }
    // Runs the io_context and moves the server's output to the client until `done` or a timeout.
    bool runUntil(const std::function<bool()> &done, int seconds = 20)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (std::chrono::steady_clock::now() < deadline) {
            io.run_for(std::chrono::milliseconds(2));
            if (!holdOutput) {
                const std::string out = channel->take();
                if (!out.empty())
                    onServerBytes(out);
            }
            if (done())
                return true;
        }
        return false;
    }
    void onServerBytes(std::string_view bytes)
    {
        client.parser.feed(bytes);
        auto p = drain(client.parser);
        for (auto &e : p.errors)
            errors.push_back(e.message);
        for (auto &f : p.frames) {
            if (f.type == FrameType::Data) {
                streamData[f.streamId] += f.data;
                if (f.fin())
                    finished.insert(f.streamId);
                if (onData)
                    onData(f);
            } else if (f.type == FrameType::SynReply) {
                replied.insert(f.streamId);
            } else if (f.type == FrameType::RstStream) {
                resets[f.streamId] = f.status;
            } else {
                others.push_back(std::move(f));
            }
        }
    }
    void open(std::uint32_t errorId, std::uint32_t dataId, std::uint16_t port, const std::string &request)
    {
        send(client.syn(errorId, portForwardHeaders("error", std::to_string(port), request)));
        send(client.syn(dataId, portForwardHeaders("data", std::to_string(port), request)));
        send(Writer::data(errorId, {}, FlagFin)); // as client-go: "we're not writing to this stream"
    }

    net::io_context io;
    std::shared_ptr<MemChannel> channel;
    Client client;
    bool holdOutput = false;
    std::map<std::uint32_t, std::string> streamData;
    std::set<std::uint32_t> finished;
    std::set<std::uint32_t> replied;
    std::map<std::uint32_t, std::uint32_t> resets;
    std::vector<Frame> others;
    std::vector<std::string> errors;
    std::function<void(const Frame &)> onData;
};

} // namespace

class TestSandboxSpdy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    // ---- codec ---------------------------------------------------------------------------

    void dictionaryIsSpdy3s()
    {
        const auto d = dictionary();
        QCOMPARE(int(d.size()), 1423);
        QCOMPARE(qb(d.substr(0, 11)), QByteArray("\0\0\0\7options", 11));
        QCOMPARE(qb(d.substr(d.size() - 7)), QByteArray(",enq=0."));
        // The dictionary id a zlib stream names in its header (the peer's inflater checks it).
        QCOMPARE(adler32(1, reinterpret_cast<const Bytef *>(d.data()), uInt(d.size())), 0xe3c6a7c2ul);
    }

    void headerBlockRoundTrip()
    {
        const Headers h
            = {{"port", "8080"}, {"requestid", "0"}, {"streamtype", "error"}, {"multi", std::string("a\0b", 3)}};
        std::string error;
        auto back = decodeHeaderBlock(encodeHeaderBlock(h), 16, &error);
        QVERIFY2(back, error.c_str());
        QCOMPARE(back->size(), h.size());
        for (std::size_t i = 0; i < h.size(); ++i) {
            QCOMPARE(qb((*back)[i].first), qb(h[i].first));
            QCOMPARE(qb((*back)[i].second), qb(h[i].second));
        }
        QCOMPARE(qb(encodeHeaderBlock({{"a", "b"}})), QByteArray("\0\0\0\1\0\0\0\1a\0\0\0\1b", 14));
    }

    void headerBlockErrors_data()
    {
        QTest::addColumn<QByteArray>("block");
        QTest::addColumn<QByteArray>("error");
        auto block = [](std::initializer_list<std::string> parts) {
            std::string s;
            for (const auto &p : parts)
                s += p;
            return qb(s);
        };
        QTest::newRow("empty") << QByteArray() << QByteArray("the header block is shorter than its 4-byte count");
        QTest::newRow("short count") << QByteArray("\0\0\1", 3)
                                     << QByteArray("the header block is shorter than its 4-byte count");
        QTest::newRow("too many") << block({be32(300)})
                                  << QByteArray("the header block has 300 headers, more than the limit of 256");
        QTest::newRow("cut name length") << block({be32(1), std::string("\0\0", 2)})
                                         << QByteArray("header 0: the name length is cut off");
        QTest::newRow("name past end") << block({be32(1), be32(10), "abc"})
                                       << QByteArray("header 0: a name of 10 bytes runs past the end of the block");
        QTest::newRow("empty name") << block({be32(1), be32(0), be32(0)}) << QByteArray("header 0: empty name");
        QTest::newRow("upper case") << block({be32(1), be32(4), "Port", be32(1), "1"})
                                    << QByteArray("header name \"Port\" is not lower case");
        QTest::newRow("duplicate") << block({be32(2), be32(1), "a", be32(0), be32(1), "a", be32(0)})
                                   << QByteArray("duplicate header \"a\"");
        QTest::newRow("value past end") << block({be32(1), be32(1), "a", be32(5), "xy"})
                                        << QByteArray("header 0: a value of 5 bytes runs past the end of the block");
        QTest::newRow("trailing") << block({be32(1), be32(1), "a", be32(0), "zz"})
                                  << QByteArray("2 bytes after the last header");
        QTest::newRow("huge length") << block({be32(1), be32(0xffffffff), "a"})
                                     << QByteArray(
                                            "header 0: a name of 4294967295 bytes runs past the end of the block");
    }

    void headerBlockErrors()
    {
        QFETCH(QByteArray, block);
        QFETCH(QByteArray, error);
        std::string why;
        QVERIFY(!decodeHeaderBlock(std::string_view(block.constData(), std::size_t(block.size())), 256, &why));
        QCOMPARE(qb(why), error);
    }

    void controlFramesRoundTrip()
    {
        Writer w;
        std::string stream;
        stream += w.synStream(1, 0, 2, portForwardHeaders("error", "8080", "0"), 0);
        stream += w.synStream(3, 1, 7, portForwardHeaders("data", "8080", "0"), FlagFin | FlagUnidirectional);
        stream += w.synReply(3, {{"x", "y"}}, FlagFin);
        stream += w.headers(3, {}, 0);
        stream += Writer::rstStream(5, Cancel);
        stream += Writer::settings({{0, SettingsInitialWindowSize, 1 << 20}, {1, 4, 100}});
        stream += Writer::ping(7);
        stream += Writer::goAway(9, GoAwayInternalError);
        stream += Writer::windowUpdate(0, 12345);
        stream += Writer::data(3, "hello", FlagFin);
        stream += Writer::data(5, {}, 0);

        // Whole, and one byte at a time: the same frames.
        for (const bool bytewise : {false, true}) {
            Parser p;
            Parsed got;
            if (bytewise) {
                for (char c : stream) {
                    p.feed(std::string_view(&c, 1));
                    auto part = drain(p);
                    for (auto &f : part.frames)
                        got.frames.push_back(std::move(f));
                    for (auto &e : part.errors)
                        got.errors.push_back(e);
                }
            } else {
                p.feed(stream);
                got = drain(p);
            }
            QVERIFY(got.errors.empty());
            QCOMPARE(int(got.frames.size()), 11);
            const auto &f = got.frames;
            QCOMPARE(f[0].type, FrameType::SynStream);
            QCOMPARE(f[0].streamId, 1u);
            QCOMPARE(int(f[0].priority), 2);
            QCOMPARE(qb(headerValue(f[0].headers, "streamtype").value()), QByteArray("error"));
            QCOMPARE(qb(headerValue(f[0].headers, "port").value()), QByteArray("8080"));
            QCOMPARE(f[1].associatedStreamId, 1u);
            QCOMPARE(int(f[1].priority), 7);
            QCOMPARE(int(f[1].flags), int(FlagFin | FlagUnidirectional));
            QCOMPARE(qb(headerValue(f[1].headers, "streamtype").value()), QByteArray("data"));
            QCOMPARE(f[2].type, FrameType::SynReply);
            QVERIFY(f[2].fin());
            QCOMPARE(qb(headerValue(f[2].headers, "x").value()), QByteArray("y"));
            QCOMPARE(f[3].type, FrameType::Headers);
            QVERIFY(f[3].headers.empty());
            QCOMPARE(f[4].type, FrameType::RstStream);
            QCOMPARE(f[4].status, std::uint32_t(Cancel));
            QCOMPARE(f[5].type, FrameType::Settings);
            QCOMPARE(int(f[5].settings.size()), 2);
            QCOMPARE(f[5].settings[0].id, SettingsInitialWindowSize);
            QCOMPARE(f[5].settings[0].value, 1u << 20);
            QCOMPARE(int(f[5].settings[1].flags), 1);
            QCOMPARE(f[6].pingId, 7u);
            QCOMPARE(f[7].lastGoodStreamId, 9u);
            QCOMPARE(f[7].status, std::uint32_t(GoAwayInternalError));
            QCOMPARE(f[8].type, FrameType::WindowUpdate);
            QCOMPARE(f[8].streamId, 0u);
            QCOMPARE(f[8].deltaWindowSize, 12345u);
            QCOMPARE(f[9].type, FrameType::Data);
            QCOMPARE(qb(f[9].data), QByteArray("hello"));
            QVERIFY(f[9].fin());
            QVERIFY(f[10].data.empty());
            QVERIFY(!f[10].fin());
        }
    }

    void wireFormat()
    {
        // Exact bytes of the fixed-size frames (SPDY/3 draft, section 2.6).
        QCOMPARE(qb(Writer::ping(1)), QByteArray("\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", 12));
        QCOMPARE(qb(Writer::rstStream(3, Cancel)),
                 QByteArray("\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x03\x00\x00\x00\x05", 16));
        QCOMPARE(qb(Writer::windowUpdate(5, 0x10000)),
                 QByteArray("\x80\x03\x00\x09\x00\x00\x00\x08\x00\x00\x00\x05\x00\x01\x00\x00", 16));
        QCOMPARE(qb(Writer::goAway(7, GoAwayOk)),
                 QByteArray("\x80\x03\x00\x07\x00\x00\x00\x08\x00\x00\x00\x07\x00\x00\x00\x00", 16));
        QCOMPARE(qb(Writer::data(1, "ab", FlagFin)),
                 QByteArray("\x00\x00\x00\x01\x01\x00\x00\x02"
                            "ab",
                            10));
        // A SYN_REPLY's block starts a zlib stream with the dictionary: FDICT set, then its id.
        Writer w;
        const std::string reply = w.synReply(1, {}, 0);
        QCOMPARE(qb(reply.substr(0, 4)), QByteArray("\x80\x03\x00\x02", 4));
        QCOMPARE(qb(reply.substr(12, 6)), QByteArray("\x78\xbb\xe3\xc6\xa7\xc2", 6));
    }

    void compressionContextPersists()
    {
        // One zlib stream per direction: the second identical block is much smaller, and a
        // fresh parser cannot read it alone.
        Writer w;
        const auto h = portForwardHeaders("data", "8080", "12");
        const std::string first = w.synStream(1, 0, 0, h, 0);
        const std::string second = w.synStream(3, 0, 0, h, 0);
        QVERIFY2(second.size() < first.size(), qPrintable(QString::number(second.size())));
        Parser p;
        p.feed(first + second);
        auto got = drain(p);
        QCOMPARE(int(got.frames.size()), 2);
        QCOMPARE(qb(headerValue(got.frames[1].headers, "requestid").value()), QByteArray("12"));
        auto alone = parse(second);
        QCOMPARE(int(alone.errors.size()), 1);
        QCOMPARE(alone.errors[0].scope, Error::Scope::Session);
    }

    void malformedFrames_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<int>("scope"); // 0 stream, 1 session
        QTest::addColumn<quint32>("status");
        QTest::addColumn<quint32>("streamId");
        QTest::addColumn<QByteArray>("message");
        auto row = [](const char *name, const std::string &in, int scope, std::uint32_t status, std::uint32_t id,
                      const char *msg) {
            QTest::newRow(name) << qb(in) << scope << quint32(status) << quint32(id) << QByteArray(msg);
        };
        row("data on stream 0", Writer::data(0, "x", 0), 1, GoAwayProtocolError, 0, "data frame for stream 0");
        row("version 2", controlHeader(2, 6, 0, 4) + be32(1), 1, GoAwayProtocolError, 0,
            "unsupported SPDY version 2 (this server speaks 3.1)");
        row("control too large", controlHeader(3, 1, 0, 70000), 1, GoAwayProtocolError, 0,
            "control frame of type 1 has 70000 bytes, more than the limit of 65536");
        row("rst length", controlHeader(3, 3, 0, 4) + be32(1), 1, GoAwayProtocolError, 0,
            "RST_STREAM: length 4, expected 8");
        row("rst flags", controlHeader(3, 3, 1, 8) + be32(1) + be32(5), 1, GoAwayProtocolError, 0,
            "RST_STREAM: flags must be 0");
        row("rst status 0", controlHeader(3, 3, 0, 8) + be32(1) + be32(0), 1, GoAwayProtocolError, 0,
            "RST_STREAM: status 0");
        row("rst stream 0", controlHeader(3, 3, 0, 8) + be32(0) + be32(5), 1, GoAwayProtocolError, 0,
            "RST_STREAM: stream 0");
        row("ping length", controlHeader(3, 6, 0, 8) + be32(1) + be32(2), 1, GoAwayProtocolError, 0,
            "PING: length 8, expected 4");
        row("goaway length", controlHeader(3, 7, 0, 4) + be32(1), 1, GoAwayProtocolError, 0,
            "GOAWAY: length 4, expected 8");
        row("settings count", controlHeader(3, 4, 0, 12) + be32(2) + be32(7) + be32(1), 1, GoAwayProtocolError, 0,
            "SETTINGS: length 12, expected 20");
        row("settings short", controlHeader(3, 4, 0, 2) + "ab", 1, GoAwayProtocolError, 0,
            "SETTINGS: length 2 is shorter than its 4-byte count");
        row("settings too many", controlHeader(3, 4, 0, 4) + be32(1000), 1, GoAwayProtocolError, 0,
            "SETTINGS: 1000 entries, more than the limit of 64");
        row("window delta 0", controlHeader(3, 9, 0, 8) + be32(3) + be32(0), 0, ProtocolError, 3,
            "WINDOW_UPDATE: delta 0 for stream 3");
        row("window delta 0 session", controlHeader(3, 9, 0, 8) + be32(0) + be32(0), 1, GoAwayProtocolError, 0,
            "WINDOW_UPDATE: delta 0 for the session");
        row("window length", controlHeader(3, 9, 0, 4) + be32(3), 1, GoAwayProtocolError, 0,
            "WINDOW_UPDATE: length 4, expected 8");
        row("syn short", controlHeader(3, 1, 0, 6) + be32(1) + "ab", 1, GoAwayProtocolError, 0,
            "SYN_STREAM: length 6 is shorter than its 10-byte header");
        row("syn reply short", controlHeader(3, 2, 0, 2) + "ab", 1, GoAwayProtocolError, 0,
            "SYN_REPLY: length 2 is shorter than its 4-byte header");
        row("corrupt zlib", controlHeader(3, 1, 0, 14) + be32(1) + be32(0) + std::string(2, '\0') + "\xff\xff\xff\xff",
            1, GoAwayProtocolError, 1,
            "SYN_STREAM for stream 1: header block: corrupt compressed data (incorrect header check)");
        row("other dictionary", synStreamWithBlock(1, encodeHeaderBlock({{"a", "b"}}), "not the spdy dictionary"), 1,
            GoAwayProtocolError, 1,
            "SYN_STREAM for stream 1: header block: compressed with another dictionary than SPDY/3's");
        row("upper-case header", synStreamWithBlock(5, encodeHeaderBlock({{"Port", "80"}}), dictionary()), 0,
            ProtocolError, 5, "SYN_STREAM for stream 5: header name \"Port\" is not lower case");
        row("syn stream 0", synStreamWithBlock(0, encodeHeaderBlock({{"a", "b"}}), dictionary()), 1,
            GoAwayProtocolError, 0, "SYN_STREAM: stream 0");
        // A block that inflates past the limit (256 KiB of one byte compresses to little).
        std::string bomb = encodeHeaderBlock({{"a", std::string(300 * 1024, 'x')}});
        row("decompression bomb", synStreamWithBlock(1, bomb, dictionary()), 1, GoAwayProtocolError, 1,
            "SYN_STREAM for stream 1: header block: more than 262144 bytes once decompressed");
    }

    void malformedFrames()
    {
        QFETCH(QByteArray, input);
        QFETCH(int, scope);
        QFETCH(quint32, status);
        QFETCH(quint32, streamId);
        QFETCH(QByteArray, message);
        auto got = parse(std::string_view(input.constData(), std::size_t(input.size())));
        QVERIFY(got.frames.empty());
        QCOMPARE(int(got.errors.size()), 1);
        const Error &e = got.errors[0];
        QCOMPARE(qb(e.message), message);
        QCOMPARE(int(e.scope), scope);
        QCOMPARE(quint32(e.status), status);
        QCOMPARE(quint32(e.streamId), streamId);
    }

    void sessionErrorIsFinal()
    {
        Parser p;
        p.feed(Writer::data(0, "x", 0) + Writer::ping(1));
        auto first = drain(p);
        QCOMPARE(int(first.errors.size()), 1);
        p.feed(Writer::ping(3));
        auto again = drain(p);
        QVERIFY(again.frames.empty());
        QCOMPARE(int(again.errors.size()), 1);
        QCOMPARE(qb(again.errors[0].message), QByteArray("data frame for stream 0"));
    }

    void oversizedDataFrameResetsOnlyItsStream()
    {
        Limits limits;
        limits.maxDataFrame = 100;
        Parser p(limits);
        const std::string big = Writer::data(3, std::string(1000, 'x'), 0);
        // In pieces: the payload is skipped across feeds, then parsing goes on.
        p.feed(big.substr(0, 50));
        auto first = drain(p);
        QCOMPARE(int(first.errors.size()), 1);
        QCOMPARE(first.errors[0].scope, Error::Scope::Stream);
        QCOMPARE(first.errors[0].status, std::uint32_t(FrameTooLarge));
        QCOMPARE(first.errors[0].streamId, 3u);
        QCOMPARE(qb(first.errors[0].message),
                 QByteArray("data frame of 1000 bytes for stream 3 is larger than the limit of 100"));
        p.feed(big.substr(50, 500));
        QVERIFY(drain(p).frames.empty());
        p.feed(big.substr(550) + Writer::ping(9));
        auto rest = drain(p);
        QVERIFY(rest.errors.empty());
        QCOMPARE(int(rest.frames.size()), 1);
        QCOMPARE(rest.frames[0].pingId, 9u);
    }

    void truncatedInputWaits()
    {
        Writer w;
        const std::string syn = w.synStream(1, 0, 0, portForwardHeaders("data", "80", "1"), 0);
        for (std::size_t cut = 0; cut < syn.size(); ++cut) {
            Parser p;
            p.feed(syn.substr(0, cut));
            auto got = drain(p);
            QVERIFY(got.frames.empty());
            QVERIFY(got.errors.empty());
            QCOMPARE(p.buffered(), cut);
        }
    }

    void unknownControlFramesAreIgnored()
    {
        auto got = parse(controlHeader(3, 10, 0, 3) + "abc" + controlHeader(3, 5, 0, 0) + Writer::ping(1));
        QVERIFY(got.errors.empty());
        QCOMPARE(int(got.frames.size()), 1);
        QCOMPARE(got.frames[0].type, FrameType::Ping);
    }

    // ---- flow control --------------------------------------------------------------------

    void flowWindowArithmetic()
    {
        FlowWindow w;
        QCOMPARE(w.size(), std::int64_t(65536));
        w.consume(65536);
        QCOMPARE(w.size(), std::int64_t(0));
        w.consume(100); // allowed to go negative (not enforced, or SETTINGS shrank it)
        QCOMPARE(w.size(), std::int64_t(-100));
        QVERIFY(w.grow(1100));
        QCOMPARE(w.size(), std::int64_t(1000));
        w.rebase(65536, 1024); // the initial window shrinks by 64512
        QCOMPARE(w.size(), std::int64_t(1000 - 64512));
        w.rebase(1024, 65536);
        QCOMPARE(w.size(), std::int64_t(1000));
        QVERIFY(w.grow(std::uint32_t(kMaxWindow - 1000)));
        QCOMPARE(w.size(), kMaxWindow);
        QVERIFY(!w.grow(1)); // past 2^31-1: a flow-control error, the window is unchanged
        QCOMPARE(w.size(), kMaxWindow);

        ReceiveWindow r(65536);
        QCOMPARE(r.consumed(10000), 0u);
        QCOMPARE(r.consumed(22767), 0u);
        QCOMPARE(r.pending(), 32767u);
        QCOMPARE(r.consumed(1), 32768u); // half the window: announce it
        QCOMPARE(r.pending(), 0u);
        QCOMPARE(r.consumed(100000), 100000u);
    }

    // ---- server session ------------------------------------------------------------------

    void sessionStreamsAndReplies()
    {
        SessionRig rig;
        rig.session.feed(rig.client.syn(1, portForwardHeaders("error", "8080", "0")));
        QCOMPARE(rig.events, std::vector<std::string>({"stream 1"}));
        QCOMPARE(qb(headerValue(rig.lastHeaders, "port").value()), QByteArray("8080"));
        rig.session.reply(1);
        auto frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(frames[0].type, FrameType::SynReply);
        QCOMPARE(frames[0].streamId, 1u);
        rig.session.reply(1); // once only
        QVERIFY(rig.client.take().empty());

        // Ping from the client (odd) is echoed; an even one (ours) is not.
        rig.session.feed(Writer::ping(5) + Writer::ping(6));
        frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(frames[0].type, FrameType::Ping);
        QCOMPARE(frames[0].pingId, 5u);

        // Data and FIN both ways forget the stream.
        rig.session.feed(Writer::data(1, "abc", FlagFin));
        QCOMPARE(rig.events.back(), std::string("data 1 3 fin"));
        QVERIFY(rig.session.isOpen(1));
        rig.session.send(1, "xyz", true);
        frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(qb(frames[0].data), QByteArray("xyz"));
        QVERIFY(frames[0].fin());
        QVERIFY(!rig.session.isOpen(1));

        // Data for a stream that never was: INVALID_STREAM. A lower stream id: a session error.
        rig.session.feed(Writer::data(9, "x", 0));
        frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(frames[0].type, FrameType::RstStream);
        QCOMPARE(frames[0].status, std::uint32_t(InvalidStream));
        rig.session.feed(rig.client.syn(3, portForwardHeaders("data", "1", "1")));
        rig.session.feed(rig.client.syn(3, portForwardHeaders("data", "1", "1")));
        QCOMPARE(rig.events.back(), std::string("error SYN_STREAM for stream 3, which is not above the last stream 3"));
        frames = rig.client.take();
        QCOMPARE(frames.back().type, FrameType::GoAway);
        QCOMPARE(frames.back().lastGoodStreamId, 3u);
        QCOMPARE(frames.back().status, std::uint32_t(GoAwayProtocolError));
        QVERIFY(rig.session.failed());
    }

    void sessionResetsAndLimits()
    {
        ServerSession::Options o;
        o.maxStreams = 2;
        SessionRig rig(o);
        // (Compressed blocks depend on the order they are made in: one statement each.)
        std::string three = rig.client.syn(1, {});
        three += rig.client.syn(3, {});
        three += rig.client.syn(5, {});
        rig.session.feed(three);
        auto frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(frames[0].streamId, 5u);
        QCOMPARE(frames[0].status, std::uint32_t(RefusedStream));
        rig.session.feed(Writer::rstStream(1, Cancel));
        QCOMPARE(rig.events.back(), std::string("reset 1 5"));
        QVERIFY(!rig.session.isOpen(1));
        // Even ids belong to the server; a SYN_REPLY from the client answers nothing.
        rig.session.feed(rig.client.syn(8, {}));
        rig.session.feed(rig.client.writer.synReply(3, {}, 0));
        frames = rig.client.take();
        QCOMPARE(int(frames.size()), 2);
        QCOMPARE(frames[0].status, std::uint32_t(ProtocolError));
        QCOMPARE(frames[1].streamId, 3u);
        QCOMPARE(frames[1].status, std::uint32_t(StreamInUse));
        QCOMPARE(rig.events.back(), std::string("reset 3 8"));
        // A header block error resets that stream only; the next one still decodes.
        rig.session.feed(rig.client.syn(11, {{"a", "1"}, {"a", "2"}}));
        QCOMPARE(rig.client.take().back().status, std::uint32_t(ProtocolError));
        QVERIFY(!rig.session.failed());
        rig.session.feed(Writer::goAway(0, GoAwayOk));
        QCOMPARE(rig.events.back(), std::string("goaway"));
    }

    void sessionIgnoresWindowsOfPeersWithoutFlowControl()
    {
        // spdystream (kubectl) never sends WINDOW_UPDATE: 1 MiB must go out at once.
        SessionRig rig;
        rig.session.feed(rig.client.syn(1, {}));
        rig.session.reply(1);
        rig.client.take();
        const std::string payload = pattern(1024 * 1024, 1);
        rig.session.send(1, payload);
        auto frames = rig.client.take();
        std::string got;
        for (const auto &f : frames) {
            QCOMPARE(f.type, FrameType::Data);
            QVERIFY(f.data.size() <= 64 * 1024);
            got += f.data;
        }
        QVERIFY(got == payload);
        QVERIFY(!rig.session.flowControlEnforced());
        QCOMPARE(rig.session.heldBack(1), std::size_t(0));
        // The windows still count, for a peer that turns flow control on later.
        QCOMPARE(rig.session.streamSendWindow(1), std::int64_t(65536 - 1024 * 1024));
        QCOMPARE(rig.session.sessionSendWindow(), std::int64_t(65536 - 1024 * 1024));
    }

    void sessionHonoursWindowsOfFlowControlledPeers()
    {
        SessionRig rig;
        rig.session.feed(Writer::settings({{0, SettingsInitialWindowSize, 1000}}) + rig.client.syn(1, {}));
        QVERIFY(rig.session.flowControlEnforced());
        QCOMPARE(rig.session.streamSendWindow(1), std::int64_t(1000));
        rig.session.send(1, pattern(5000, 2), true);
        auto frames = rig.client.take();
        QCOMPARE(int(frames.size()), 2); // SYN_REPLY, then 1000 bytes
        QCOMPARE(int(frames[1].data.size()), 1000);
        QVERIFY(!frames[1].fin());
        QCOMPARE(rig.session.heldBack(1), std::size_t(4000));
        rig.session.feed(Writer::windowUpdate(1, 2500));
        frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(int(frames[0].data.size()), 2500);
        QCOMPARE(rig.events.back(), std::string("window"));
        QCOMPARE(rig.session.heldBack(1), std::size_t(1500));
        // The session window (64 KiB) limits as well: raise the stream's, not the session's.
        rig.session.feed(Writer::windowUpdate(1, 1000000));
        frames = rig.client.take();
        QCOMPARE(int(frames.size()), 1);
        QCOMPARE(int(frames[0].data.size()), 1500);
        QVERIFY(frames[0].fin());
        QCOMPARE(rig.session.sessionSendWindow(), std::int64_t(65536 - 5000));

        // A new stream starts with the initial window from SETTINGS (1000), and the session
        // window (60536 left) caps what a larger stream window allows.
        auto sentBytes = [&] {
            std::size_t n = 0;
            for (const auto &f : rig.client.take())
                n += f.data.size();
            return n;
        };
        rig.session.feed(rig.client.syn(3, {}));
        rig.session.send(3, pattern(100000, 3));
        QCOMPARE(sentBytes(), std::size_t(1000));
        rig.session.feed(Writer::windowUpdate(3, 200000));
        QCOMPARE(sentBytes(), std::size_t(60536 - 1000));
        QCOMPARE(rig.session.heldBack(3), std::size_t(100000 - 60536));
        QCOMPARE(rig.session.sessionSendWindow(), std::int64_t(0));
        rig.session.feed(Writer::windowUpdate(0, 100000));
        QCOMPARE(sentBytes(), std::size_t(100000 - 60536));
        QCOMPARE(rig.session.heldBack(3), std::size_t(0));

        // Past 2^31-1: the stream is reset with FLOW_CONTROL_ERROR.
        rig.session.feed(Writer::windowUpdate(3, 0x7fffffff));
        QCOMPARE(rig.client.take().back().status, std::uint32_t(FlowControlError));
        QVERIFY(!rig.session.isOpen(3));
    }

    void sessionAcknowledgesConsumedData()
    {
        SessionRig rig;
        rig.session.feed(rig.client.syn(1, {}));
        rig.session.reply(1);
        rig.client.take();
        rig.session.feed(Writer::data(1, std::string(40000, 'a'), 0));
        rig.session.consumed(1, 20000);
        QVERIFY(rig.client.take().empty());
        rig.session.consumed(1, 20000);
        auto frames = rig.client.take();
        QCOMPARE(int(frames.size()), 2);
        QCOMPARE(frames[0].type, FrameType::WindowUpdate);
        QCOMPARE(frames[0].streamId, 0u);
        QCOMPARE(frames[0].deltaWindowSize, 40000u);
        QCOMPARE(frames[1].streamId, 1u);
        QCOMPARE(frames[1].deltaWindowSize, 40000u);
    }

    // ---- port-forward --------------------------------------------------------------------

    void forwardEcho()
    {
        ForwardRig rig;
        TestServer server(rig.io);
        rig.open(1, 3, server.port(), "0");
        rig.send(Writer::data(3, "hello pod", 0));
        QVERIFY(rig.runUntil([&] { return rig.streamData[3] == "hello pod"; }));
        QVERIFY(rig.replied.count(1) && rig.replied.count(3));
        // The client half-closes: the pod sees EOF, closes, and both streams end without an error.
        rig.send(Writer::data(3, {}, FlagFin));
        QVERIFY(rig.runUntil([&] { return rig.finished.count(1) && rig.finished.count(3); }));
        QCOMPARE(qb(rig.streamData[1]), QByteArray());
        QVERIFY(rig.errors.empty());
        QCOMPARE(server.connections, 1);
        // kubectl resets the data stream once its copy is done; nothing else happens.
        rig.send(Writer::rstStream(3, Cancel));
        rig.io.run_for(std::chrono::milliseconds(20));
        QVERIFY(rig.resets.empty());
        // GOAWAY with nothing open: the server closes the connection.
        rig.send(Writer::goAway(3, GoAwayOk));
        QVERIFY(rig.channel->closing);
        rig.channel->finish();
    }

    void forwardRefused()
    {
        std::uint16_t port = 0;
        {
            net::io_context io;
            tcp::acceptor a(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
            port = a.local_endpoint().port();
        }
        ForwardRig rig;
        rig.open(1, 3, port, "7");
        QVERIFY(rig.runUntil([&] { return rig.finished.count(1) && rig.finished.count(3); }));
        QCOMPARE(QString::fromStdString(rig.streamData[1]),
                 QStringLiteral("error forwarding port %1 to pod web-1, uid uid-1: dial tcp 127.0.0.1:%1: connect: "
                                "connection refused")
                     .arg(port));
        QVERIFY(rig.streamData[3].empty());
    }

    void forwardRejectsBadStreams()
    {
        ForwardRig rig;
        rig.send(rig.client.syn(1, {{"port", "0"}, {"streamtype", "data"}}));
        rig.send(rig.client.syn(3, {{"port", "80"}, {"streamtype", "stdin"}}));
        rig.send(rig.client.syn(5, {{"streamtype", "data"}}));
        rig.send(rig.client.syn(7, {{"port", "65536"}, {"streamtype", "data"}}));
        QVERIFY(rig.runUntil([&] { return rig.resets.size() == 4; }));
        for (std::uint32_t id : {1u, 3u, 5u, 7u})
            QCOMPARE(rig.resets[id], std::uint32_t(Cancel));
        QVERIFY(rig.replied.empty());
        // A second data stream for the same request is refused with the kubelet's words.
        TestServer server(rig.io);
        rig.send(rig.client.syn(9, portForwardHeaders("error", std::to_string(server.port()), "1")));
        rig.send(rig.client.syn(11, portForwardHeaders("data", std::to_string(server.port()), "1")));
        rig.send(rig.client.syn(13, portForwardHeaders("data", std::to_string(server.port()), "1")));
        QVERIFY(rig.runUntil([&] { return rig.resets.count(13) != 0; }));
        QCOMPARE(qb(rig.streamData[9]),
                 QByteArray("error processing stream for request 1: data stream already assigned"));
    }

    void forwardPairTimeout()
    {
        SpdyForwardOptions o;
        o.streamPairTimeoutSeconds = 1;
        ForwardRig rig(o);
        rig.send(rig.client.syn(1, portForwardHeaders("error", "80", "42")));
        QVERIFY(rig.runUntil([&] { return rig.finished.count(1) != 0; }, 5));
        QCOMPARE(qb(rig.streamData[1]), QByteArray("(request 42) timed out waiting for streams"));
    }

    void forwardLargeDownloadWithBackPressure()
    {
        // 8 MiB from the pod to a client that reads slowly: the bytes arrive exactly, and what
        // waits for the client stays bounded.
        const std::string payload = pattern(8 * 1024 * 1024, 4);
        SpdyForwardOptions o;
        o.clientQueueHigh = 256 * 1024;
        ForwardRig rig(o);
        TestServer server(rig.io, payload);
        rig.open(1, 3, server.port(), "0");
        int round = 0;
        QVERIFY(rig.runUntil(
            [&] {
                rig.holdOutput = (++round % 3) != 0; // the client reads every third round only
                return rig.finished.count(3) != 0;
            },
            60));
        QVERIFY2(rig.streamData[3] == payload, qPrintable(QString::number(rig.streamData[3].size())));
        QVERIFY(rig.finished.count(1));
        QVERIFY2(rig.channel->maxQueued <= o.clientQueueHigh + 128 * 1024,
                 qPrintable(QString::number(rig.channel->maxQueued)));
    }

    void forwardLargeUploadWithBackPressure()
    {
        // 4 MiB from the client through an echo pod: the client's stream is paused while the pod
        // lags, and everything comes back in order.
        SpdyForwardOptions o;
        o.podQueueHigh = 128 * 1024;
        ForwardRig rig(o);
        TestServer server(rig.io);
        rig.open(1, 3, server.port(), "0");
        const std::string payload = pattern(4 * 1024 * 1024, 5);
        for (std::size_t off = 0; off < payload.size(); off += 32 * 1024)
            rig.send(Writer::data(3, std::string_view(payload).substr(off, 32 * 1024), 0));
        QVERIFY(rig.channel->paused);
        QVERIFY(rig.runUntil([&] { return rig.streamData[3].size() == payload.size(); }, 60));
        QVERIFY(rig.streamData[3] == payload);
        QVERIFY(!rig.channel->paused);
        QVERIFY(rig.channel->pauses >= 1);
        // Every byte was acknowledged with window updates (stream and session).
        std::uint64_t acknowledged = 0;
        for (const auto &f : rig.others)
            if (f.type == FrameType::WindowUpdate && f.streamId == 0)
                acknowledged += f.deltaWindowSize;
        QVERIFY2(acknowledged + 32 * 1024 >= payload.size(), qPrintable(QString::number(acknowledged)));
    }

    void forwardHonoursClientWindows()
    {
        // A client that does flow control: 64 KiB windows, granted back as it reads. The server
        // never sends past them, and 2 MiB still go through.
        const std::string payload = pattern(2 * 1024 * 1024, 6);
        ForwardRig rig;
        TestServer server(rig.io, payload);
        rig.send(Writer::settings({{0, SettingsInitialWindowSize, 65536}}));
        std::int64_t streamWindow = 65536, sessionWindow = 65536;
        bool violated = false;
        rig.onData = [&](const Frame &f) {
            streamWindow -= std::int64_t(f.data.size());
            sessionWindow -= std::int64_t(f.data.size());
            violated = violated || streamWindow < 0 || sessionWindow < 0;
            if (!f.data.empty()) {
                rig.send(Writer::windowUpdate(3, std::uint32_t(f.data.size())));
                rig.send(Writer::windowUpdate(0, std::uint32_t(f.data.size())));
                streamWindow += std::int64_t(f.data.size());
                sessionWindow += std::int64_t(f.data.size());
            }
        };
        rig.open(1, 3, server.port(), "0");
        QVERIFY(rig.runUntil([&] { return rig.finished.count(3) != 0; }, 60));
        QVERIFY(!violated);
        QVERIFY(rig.streamData[3] == payload);
    }

    void forwardTeardownClosesPodConnections()
    {
        ForwardRig rig;
        TestServer server(rig.io);
        rig.open(1, 3, server.port(), "0");
        rig.send(Writer::data(3, "x", 0));
        QVERIFY(rig.runUntil([&] { return rig.streamData[3] == "x"; }));
        rig.channel->finish(); // the client vanished
        rig.io.run_for(std::chrono::milliseconds(50));
        QVERIFY(rig.channel->onData == nullptr);
    }

    // ---- fuzz replay ---------------------------------------------------------------------

    void fuzzReplay_data()
    {
        QTest::addColumn<QByteArray>("input");
        int rows = 0;
        for (const char *dir : {"/tests/fuzz/corpus/sandbox_spdy", "/tests/fuzz/regressions/sandbox_spdy"}) {
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
        QVERIFY(rows >= 5);
    }

    void fuzzReplay()
    {
        QFETCH(QByteArray, input);
        QVERIFY(iterdeck::fuzz::sandboxSpdyOnce(reinterpret_cast<const uint8_t *>(input.constData()),
                                                std::size_t(input.size())));
    }
};

QTEST_GUILESS_MAIN(TestSandboxSpdy)
#include "tst_sandboxspdy.moc"
