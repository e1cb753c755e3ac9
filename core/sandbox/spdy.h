#pragma once
// SPDY/3.1 for the sandbox's port-forward (what kubectl speaks, plain or inside a WebSocket):
// frames, header blocks compressed with zlib and the SPDY/3 dictionary (one persistent zlib
// stream per direction), flow-control windows, and a server-side session that keeps the stream
// states. No I/O here: bytes go in through feed() and come out through onOutput.
//
// Peers: client-go uses moby/spdystream, which neither sends nor honours WINDOW_UPDATE (and the
// kubelet's end of it does no flow control either). A session therefore enforces its send
// windows only once the peer has shown that it does flow control (it sent SETTINGS with an
// initial window size, or a WINDOW_UPDATE); otherwise a 64 KiB window would stall every
// transfer. Received data is acknowledged with WINDOW_UPDATE as the owner consumes it, which
// keeps a flow-controlling peer going and costs spdystream nothing (it ignores them).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iterdeck::sandbox::spdy {

constexpr std::uint16_t kVersion = 3;
constexpr std::uint32_t kMaxStreamId = 0x7fffffff;
constexpr std::int64_t kMaxWindow = 0x7fffffff;
constexpr std::uint32_t kDefaultWindow = 64 * 1024;
constexpr std::size_t kFrameHeaderSize = 8;
constexpr std::size_t kMaxFrameLength = 0xffffff; // the 24-bit length field

enum class FrameType : std::uint16_t {
    Data = 0,
    SynStream = 1,
    SynReply = 2,
    RstStream = 3,
    Settings = 4,
    Ping = 6,
    GoAway = 7,
    Headers = 8,
    WindowUpdate = 9,
};

constexpr std::uint8_t FlagFin = 0x01;
constexpr std::uint8_t FlagUnidirectional = 0x02;

// RST_STREAM status codes.
enum RstStatus : std::uint32_t {
    ProtocolError = 1,
    InvalidStream = 2,
    RefusedStream = 3,
    UnsupportedVersion = 4,
    Cancel = 5,
    InternalError = 6,
    FlowControlError = 7,
    StreamInUse = 8,
    StreamAlreadyClosed = 9,
    FrameTooLarge = 11,
};

// GOAWAY status codes.
enum GoAwayStatus : std::uint32_t {
    GoAwayOk = 0,
    GoAwayProtocolError = 1,
    GoAwayInternalError = 2,
};

constexpr std::uint32_t SettingsInitialWindowSize = 7;

// Header names are lower case; a value holding several values separates them with NUL.
using Headers = std::vector<std::pair<std::string, std::string>>;
std::optional<std::string> headerValue(const Headers &headers, std::string_view name);

struct Setting
{
    std::uint8_t flags = 0;
    std::uint32_t id = 0; // 24 bits
    std::uint32_t value = 0;
};

// One decoded frame. Which fields mean something depends on the type.
struct Frame
{
    FrameType type = FrameType::Data;
    std::uint8_t flags = 0;
    std::uint32_t streamId = 0; // data, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE (0: session)
    std::uint32_t associatedStreamId = 0; // SYN_STREAM
    std::uint8_t priority = 0; // SYN_STREAM, 3 bits
    std::uint8_t slot = 0; // SYN_STREAM
    Headers headers; // SYN_STREAM, SYN_REPLY, HEADERS
    std::string data; // data frames
    std::uint32_t status = 0; // RST_STREAM, GOAWAY
    std::uint32_t pingId = 0; // PING
    std::uint32_t lastGoodStreamId = 0; // GOAWAY
    std::uint32_t deltaWindowSize = 0; // WINDOW_UPDATE
    std::vector<Setting> settings; // SETTINGS

    bool fin() const { return (flags & FlagFin) != 0; }
};

// What the parser found wrong. A session error ends the connection (GOAWAY with `status`);
// a stream error resets one stream (RST_STREAM with `status`) and parsing goes on.
struct Error
{
    enum class Scope { Stream, Session };
    Scope scope = Scope::Session;
    std::uint32_t status = 0;
    std::uint32_t streamId = 0;
    FrameType frame = FrameType::Data; // the kind of frame that was wrong
    std::string message;
};

// The SPDY/3 header compression dictionary (1423 bytes).
std::string_view dictionary();

// Header blocks, uncompressed: count(32), then len(32) name, len(32) value for each header.
std::string encodeHeaderBlock(const Headers &headers);
// Strict: names non-empty, lower case and unique; lengths within the block; nothing left over.
std::optional<Headers> decodeHeaderBlock(std::string_view block, std::size_t maxHeaders, std::string *error);

// One direction's zlib stream for header blocks (persistent for the whole connection).
class Deflater
{
public:
    Deflater();
    ~Deflater();
    Deflater(const Deflater &) = delete;
    Deflater &operator=(const Deflater &) = delete;
    // Compresses one block and flushes (Z_SYNC_FLUSH), so the peer can decode it at once.
    std::string compress(std::string_view block);

private:
    struct State;
    std::unique_ptr<State> d;
};

class Inflater
{
public:
    Inflater();
    ~Inflater();
    Inflater(const Inflater &) = delete;
    Inflater &operator=(const Inflater &) = delete;
    // Decompresses the compressed bytes of one frame. False (with *error) on a corrupt stream,
    // a wrong dictionary or more than maxOutput bytes; the stream is unusable afterwards.
    bool decompress(std::string_view compressed, std::size_t maxOutput, std::string *out, std::string *error);

private:
    struct State;
    std::unique_ptr<State> d;
};

struct Limits
{
    std::size_t maxControlFrame = 64 * 1024; // compressed header blocks and settings
    std::size_t maxDataFrame = 1024 * 1024; // larger data frames reset their stream
    std::size_t maxHeaderBlock = 256 * 1024; // decompressed
    std::size_t maxHeaders = 256;
    std::size_t maxSettings = 64;
};

// Incremental frame parser: feed() bytes in any pieces, then call next() until NeedMore.
class Parser
{
public:
    enum class Result { NeedMore, Frame, Error };

    explicit Parser(Limits limits = {});
    void feed(std::string_view bytes);
    Result next(Frame *frame, Error *error);
    std::size_t buffered() const { return m_buffer.size() - m_pos; }
    bool failed() const { return m_failed.has_value(); }

private:
    Result fail(Error e, Error *out);
    Result streamError(std::uint32_t streamId, std::uint32_t status, std::string message, Error *out);
    bool readHeaderBlock(std::string_view compressed, std::uint32_t streamId, Frame *frame, Error *error,
                         bool *sessionError);

    Limits m_limits;
    std::string m_buffer;
    std::size_t m_pos = 0;
    std::size_t m_skip = 0; // payload bytes of an oversized data frame still to drop
    Inflater m_inflater;
    std::optional<Error> m_failed;
};

// Frame encoders; header blocks go through the writer's deflater (one per connection and
// direction, so one Writer per connection).
class Writer
{
public:
    std::string synStream(std::uint32_t streamId, std::uint32_t associated, std::uint8_t priority,
                          const Headers &headers, std::uint8_t flags);
    std::string synReply(std::uint32_t streamId, const Headers &headers, std::uint8_t flags);
    std::string headers(std::uint32_t streamId, const Headers &headers, std::uint8_t flags);
    static std::string rstStream(std::uint32_t streamId, std::uint32_t status);
    static std::string settings(const std::vector<Setting> &settings, std::uint8_t flags = 0);
    static std::string ping(std::uint32_t id);
    static std::string goAway(std::uint32_t lastGoodStreamId, std::uint32_t status);
    static std::string windowUpdate(std::uint32_t streamId, std::uint32_t delta);
    // Appends one data frame to *out (the payload must fit in 24 bits).
    static void appendData(std::string *out, std::uint32_t streamId, std::string_view payload, std::uint8_t flags);
    static std::string data(std::uint32_t streamId, std::string_view payload, std::uint8_t flags);

private:
    std::string headerFrame(FrameType type, std::string prefix, const Headers &headers, std::uint8_t flags);
    Deflater m_deflater;
};

// A flow-control window: what may still be sent (it may go negative when SETTINGS shrink the
// initial window).
class FlowWindow
{
public:
    explicit FlowWindow(std::int64_t size = kDefaultWindow)
        : m_size(size)
    { }
    std::int64_t size() const { return m_size; }
    void consume(std::size_t n) { m_size -= std::int64_t(n); }
    // A WINDOW_UPDATE; false when the window would pass 2^31-1 (a FLOW_CONTROL_ERROR).
    bool grow(std::uint32_t delta);
    // SETTINGS_INITIAL_WINDOW_SIZE changed from `from` to `to`.
    void rebase(std::int64_t from, std::int64_t to) { m_size += to - from; }

private:
    std::int64_t m_size;
};

// The receiving side: counts consumed bytes and says when to send a WINDOW_UPDATE (once half
// the window is used, so the peer never waits on a round trip).
class ReceiveWindow
{
public:
    explicit ReceiveWindow(std::uint32_t size = kDefaultWindow)
        : m_size(size)
    { }
    // Returns the delta to announce now, or 0.
    std::uint32_t consumed(std::size_t n);
    std::uint32_t pending() const { return m_unacknowledged; }

private:
    std::uint32_t m_size;
    std::uint32_t m_unacknowledged = 0;
};

// The server side of one SPDY/3.1 connection. Peers open streams (odd ids), the owner replies or
// resets them, and moves data. Everything the session writes comes out through onOutput, once per
// public call (frames produced by one call are coalesced).
class ServerSession
{
public:
    struct Options
    {
        Limits limits;
        std::uint32_t receiveWindow = kDefaultWindow;
        std::size_t maxStreams = 1024; // concurrently open; more are refused
        std::size_t maxFramePayload = 64 * 1024; // data frames we send
    };

    explicit ServerSession(Options options);
    ServerSession()
        : ServerSession(Options {})
    { }

    std::function<void(std::string bytes)> onOutput;
    std::function<void(std::uint32_t id, const Headers &headers, bool fin)> onStream;
    // Data for a stream; `fin` when the peer half-closed it (data may then be empty).
    std::function<void(std::uint32_t id, std::string data, bool fin)> onData;
    // The stream is gone: the peer reset it, or the session did because of a stream error.
    std::function<void(std::uint32_t id, std::uint32_t status)> onReset;
    // The peer said GOAWAY: no new streams; open ones may finish.
    std::function<void()> onGoAway;
    // A session error: a GOAWAY was sent; the owner closes the connection after flushing.
    std::function<void(const Error &error)> onSessionError;
    // Send windows grew: data held back by flow control went out; held-back senders may go on.
    std::function<void()> onWindow;

    void feed(std::string_view bytes);

    void reply(std::uint32_t id, const Headers &headers = {}, bool fin = false);
    // Queues data for the stream (in frames of at most maxFramePayload); sent at once unless
    // flow control holds it back. `fin` half-closes our side after the data.
    void send(std::uint32_t id, std::string_view data, bool fin = false);
    void reset(std::uint32_t id, std::uint32_t status);
    // The owner consumed n bytes of the stream's data: acknowledges them when due.
    void consumed(std::uint32_t id, std::size_t n);
    void goAway(std::uint32_t status = GoAwayOk);

    // Bytes queued for the stream that flow control holds back.
    std::size_t heldBack(std::uint32_t id) const;
    bool isOpen(std::uint32_t id) const { return m_streams.count(id) != 0; }
    std::size_t openStreams() const { return m_streams.size(); }
    bool flowControlEnforced() const { return m_enforce; }
    std::int64_t sessionSendWindow() const { return m_sendWindow.size(); }
    std::int64_t streamSendWindow(std::uint32_t id) const;
    bool failed() const { return m_failed; }
    bool goneAway() const { return m_peerGoneAway || m_sentGoAway; }

private:
    struct Stream
    {
        FlowWindow sendWindow;
        ReceiveWindow receiveWindow;
        std::string held; // data not yet sent (flow control)
        bool heldFin = false;
        bool localFin = false;
        bool remoteFin = false;
        bool replied = false;
    };

    struct Call;
    void handle(Frame &frame);
    void streamError(std::uint32_t id, std::uint32_t status);
    void sessionError(const Error &error);
    void flushHeld();
    void sendNow(std::uint32_t id, Stream &s, std::string_view data, bool fin);
    void maybeForget(std::uint32_t id);
    void flush();

    Options m_options;
    Parser m_parser;
    Writer m_writer;
    std::string m_out;
    std::map<std::uint32_t, Stream> m_streams;
    std::uint32_t m_lastPeerStream = 0;
    std::int64_t m_initialSendWindow = kDefaultWindow;
    FlowWindow m_sendWindow;
    ReceiveWindow m_receiveWindow;
    bool m_enforce = false;
    bool m_failed = false;
    bool m_peerGoneAway = false;
    bool m_sentGoAway = false;
    int m_depth = 0; // nested public calls through callbacks: flush once at the outermost
};

} // namespace iterdeck::sandbox::spdy
