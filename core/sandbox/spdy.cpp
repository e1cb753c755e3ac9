#include "sandbox/spdy.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

namespace iterdeck::sandbox::spdy {

namespace {

std::uint32_t be32(const unsigned char *p)
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

std::uint32_t be24(const unsigned char *p)
{
    return (std::uint32_t(p[0]) << 16) | (std::uint32_t(p[1]) << 8) | std::uint32_t(p[2]);
}

void put32(std::string *out, std::uint32_t v)
{
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out->append(b, 4);
}

// The 8-byte header of a control frame.
void putControlHeader(std::string *out, FrameType type, std::uint8_t flags, std::size_t length)
{
    const auto t = static_cast<std::uint16_t>(type);
    const char b[8] = {char(0x80 | (kVersion >> 8)), char(kVersion & 0xff), char(t >> 8), char(t & 0xff), char(flags),
                       char(length >> 16),           char(length >> 8),     char(length)};
    out->append(b, 8);
}

const char *typeName(FrameType t)
{
    switch (t) {
    case FrameType::Data:
        return "data frame";
    case FrameType::SynStream:
        return "SYN_STREAM";
    case FrameType::SynReply:
        return "SYN_REPLY";
    case FrameType::RstStream:
        return "RST_STREAM";
    case FrameType::Settings:
        return "SETTINGS";
    case FrameType::Ping:
        return "PING";
    case FrameType::GoAway:
        return "GOAWAY";
    case FrameType::Headers:
        return "HEADERS";
    case FrameType::WindowUpdate:
        return "WINDOW_UPDATE";
    }
    return "frame";
}

std::string buildDictionary()
{
    // The SPDY/3 draft's dictionary: length-prefixed header names and common values, then a
    // run of status codes, reason phrases, dates and media types.
    static const char *const words[] = {"options",
                                        "head",
                                        "post",
                                        "put",
                                        "delete",
                                        "trace",
                                        "accept",
                                        "accept-charset",
                                        "accept-encoding",
                                        "accept-language",
                                        "accept-ranges",
                                        "age",
                                        "allow",
                                        "authorization",
                                        "cache-control",
                                        "connection",
                                        "content-base",
                                        "content-encoding",
                                        "content-language",
                                        "content-length",
                                        "content-location",
                                        "content-md5",
                                        "content-range",
                                        "content-type",
                                        "date",
                                        "etag",
                                        "expect",
                                        "expires",
                                        "from",
                                        "host",
                                        "if-match",
                                        "if-modified-since",
                                        "if-none-match",
                                        "if-range",
                                        "if-unmodified-since",
                                        "last-modified",
                                        "location",
                                        "max-forwards",
                                        "pragma",
                                        "proxy-authenticate",
                                        "proxy-authorization",
                                        "range",
                                        "referer",
                                        "retry-after",
                                        "server",
                                        "te",
                                        "trailer",
                                        "transfer-encoding",
                                        "upgrade",
                                        "user-agent",
                                        "vary",
                                        "via",
                                        "warning",
                                        "www-authenticate",
                                        "method",
                                        "get",
                                        "status",
                                        "200 OK",
                                        "version",
                                        "HTTP/1.1",
                                        "url",
                                        "public",
                                        "set-cookie",
                                        "keep-alive",
                                        "origin"};
    std::string d;
    for (const char *w : words) {
        put32(&d, std::uint32_t(std::strlen(w)));
        d += w;
    }
    d += "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
         "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
         "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
         "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
         "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
         "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    return d;
}

} // namespace

std::string_view dictionary()
{
    static const std::string d = buildDictionary();
    return d;
}

std::optional<std::string> headerValue(const Headers &headers, std::string_view name)
{
    for (const auto &[k, v] : headers)
        if (k == name)
            return v;
    return std::nullopt;
}

// ---- header blocks -------------------------------------------------------------------------

std::string encodeHeaderBlock(const Headers &headers)
{
    std::string out;
    put32(&out, std::uint32_t(headers.size()));
    for (const auto &[name, value] : headers) {
        put32(&out, std::uint32_t(name.size()));
        out += name;
        put32(&out, std::uint32_t(value.size()));
        out += value;
    }
    return out;
}

std::optional<Headers> decodeHeaderBlock(std::string_view block, std::size_t maxHeaders, std::string *error)
{
    const auto *p = reinterpret_cast<const unsigned char *>(block.data());
    const std::size_t size = block.size();
    if (size < 4) {
        *error = "the header block is shorter than its 4-byte count";
        return std::nullopt;
    }
    const std::uint32_t count = be32(p);
    if (count > maxHeaders) {
        *error = "the header block has " + std::to_string(count) + " headers, more than the limit of "
            + std::to_string(maxHeaders);
        return std::nullopt;
    }
    std::size_t pos = 4;
    Headers out;
    out.reserve(count);
    std::set<std::string, std::less<>> seen;
    auto field = [&](std::uint32_t index, const char *what, std::string *dest) {
        if (size - pos < 4) {
            *error = "header " + std::to_string(index) + ": the " + what + " length is cut off";
            return false;
        }
        const std::uint32_t len = be32(p + pos);
        pos += 4;
        if (len > size - pos) {
            *error = "header " + std::to_string(index) + ": a " + what + " of " + std::to_string(len)
                + " bytes runs past the end of the block";
            return false;
        }
        dest->assign(block.substr(pos, len));
        pos += len;
        return true;
    };
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string name, value;
        if (!field(i, "name", &name))
            return std::nullopt;
        if (name.empty()) {
            *error = "header " + std::to_string(i) + ": empty name";
            return std::nullopt;
        }
        if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
            *error = "header name \"" + name + "\" is not lower case";
            return std::nullopt;
        }
        if (!seen.insert(name).second) {
            *error = "duplicate header \"" + name + "\"";
            return std::nullopt;
        }
        if (!field(i, "value", &value))
            return std::nullopt;
        out.emplace_back(std::move(name), std::move(value));
    }
    if (pos != size) {
        *error = std::to_string(size - pos) + " bytes after the last header";
        return std::nullopt;
    }
    return out;
}

// ---- zlib ----------------------------------------------------------------------------------

struct Deflater::State
{
    z_stream z {};
    bool ok = false;
};

Deflater::Deflater()
    : d(std::make_unique<State>())
{
    d->ok = deflateInit2(&d->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    if (d->ok) {
        const auto dict = dictionary();
        d->ok = deflateSetDictionary(&d->z, reinterpret_cast<const Bytef *>(dict.data()), uInt(dict.size())) == Z_OK;
    }
}

Deflater::~Deflater()
{
    deflateEnd(&d->z);
}

std::string Deflater::compress(std::string_view block)
{
    std::string out;
    if (!d->ok)
        return out;
    d->z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(block.data()));
    d->z.avail_in = uInt(block.size());
    std::array<char, 4096> chunk;
    do {
        d->z.next_out = reinterpret_cast<Bytef *>(chunk.data());
        d->z.avail_out = uInt(chunk.size());
        if (deflate(&d->z, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
            d->ok = false;
            return {};
        }
        out.append(chunk.data(), chunk.size() - d->z.avail_out);
    } while (d->z.avail_out == 0);
    return out;
}

struct Inflater::State
{
    z_stream z {};
    bool ok = false;
    bool ended = false;
};

Inflater::Inflater()
    : d(std::make_unique<State>())
{
    d->ok = inflateInit(&d->z) == Z_OK;
}

Inflater::~Inflater()
{
    inflateEnd(&d->z);
}

bool Inflater::decompress(std::string_view compressed, std::size_t maxOutput, std::string *out, std::string *error)
{
    out->clear();
    if (!d->ok) {
        *error = "header block: the compression stream is unusable after an earlier error";
        return false;
    }
    if (d->ended) {
        if (compressed.empty())
            return true;
        d->ok = false;
        *error = "header block: data after the end of the compression stream";
        return false;
    }
    d->z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(compressed.data()));
    d->z.avail_in = uInt(compressed.size());
    std::array<char, 16384> chunk;
    for (;;) {
        d->z.next_out = reinterpret_cast<Bytef *>(chunk.data());
        d->z.avail_out = uInt(chunk.size());
        int rc = inflate(&d->z, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT) {
            const auto dict = dictionary();
            if (inflateSetDictionary(&d->z, reinterpret_cast<const Bytef *>(dict.data()), uInt(dict.size())) != Z_OK) {
                d->ok = false;
                *error = "header block: compressed with another dictionary than SPDY/3's";
                return false;
            }
            rc = inflate(&d->z, Z_SYNC_FLUSH);
        }
        const std::size_t produced = chunk.size() - d->z.avail_out;
        if (rc == Z_STREAM_ERROR || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR || rc == Z_NEED_DICT) {
            d->ok = false;
            *error = std::string("header block: corrupt compressed data (")
                + (d->z.msg                ? d->z.msg
                       : rc == Z_NEED_DICT ? "dictionary requested twice"
                                           : "zlib error")
                + ")";
            return false;
        }
        if (out->size() + produced > maxOutput) {
            d->ok = false;
            *error = "header block: more than " + std::to_string(maxOutput) + " bytes once decompressed";
            return false;
        }
        out->append(chunk.data(), produced);
        if (rc == Z_STREAM_END) {
            d->ended = true;
            if (d->z.avail_in != 0) {
                d->ok = false;
                *error = "header block: data after the end of the compression stream";
                return false;
            }
            return true;
        }
        // Z_OK or Z_BUF_ERROR (no progress possible): done once the input is used up and
        // inflate had room to spare.
        if (d->z.avail_in == 0 && d->z.avail_out != 0)
            return true;
        if (rc == Z_BUF_ERROR && produced == 0) {
            d->ok = false;
            *error = "header block: the compressed data makes no progress";
            return false;
        }
    }
}

// ---- parser --------------------------------------------------------------------------------

Parser::Parser(Limits limits)
    : m_limits(limits)
{ }

void Parser::feed(std::string_view bytes)
{
    if (m_failed)
        return;
    if (m_pos == m_buffer.size()) {
        m_buffer.clear();
        m_pos = 0;
    } else if (m_pos > 64 * 1024 && m_pos * 2 > m_buffer.size()) {
        m_buffer.erase(0, m_pos);
        m_pos = 0;
    }
    m_buffer.append(bytes);
}

Parser::Result Parser::fail(Error e, Error *out)
{
    e.scope = Error::Scope::Session;
    m_failed = e;
    *out = std::move(e);
    m_buffer.clear();
    m_pos = 0;
    return Result::Error;
}

Parser::Result Parser::streamError(std::uint32_t streamId, std::uint32_t status, std::string message, Error *out)
{
    out->scope = Error::Scope::Stream;
    out->status = status;
    out->streamId = streamId;
    out->message = std::move(message);
    return Result::Error;
}

bool Parser::readHeaderBlock(std::string_view compressed, std::uint32_t streamId, Frame *frame, Error *error,
                             bool *sessionError)
{
    std::string block, why;
    if (!m_inflater.decompress(compressed, m_limits.maxHeaderBlock, &block, &why)) {
        *sessionError = true;
        error->status = GoAwayProtocolError;
        error->streamId = streamId;
        error->message = std::string(typeName(frame->type)) + " for stream " + std::to_string(streamId) + ": " + why;
        return false;
    }
    auto headers = decodeHeaderBlock(block, m_limits.maxHeaders, &why);
    if (!headers) {
        *sessionError = false;
        error->status = ProtocolError;
        error->streamId = streamId;
        error->message = std::string(typeName(frame->type)) + " for stream " + std::to_string(streamId) + ": " + why;
        return false;
    }
    frame->headers = std::move(*headers);
    return true;
}

Parser::Result Parser::next(Frame *frame, Error *error)
{
    for (;;) {
        if (m_failed) {
            *error = *m_failed;
            return Result::Error;
        }
        if (m_skip) {
            const std::size_t n = std::min(m_skip, buffered());
            m_pos += n;
            m_skip -= n;
            if (m_skip)
                return Result::NeedMore;
        }
        if (buffered() < kFrameHeaderSize)
            return Result::NeedMore;
        const auto *p = reinterpret_cast<const unsigned char *>(m_buffer.data()) + m_pos;
        const std::uint8_t flags = p[4];
        const std::uint32_t length = be24(p + 5);
        *frame = Frame {};
        frame->flags = flags;

        if (!(p[0] & 0x80)) {
            // Data frame.
            frame->type = FrameType::Data;
            frame->streamId = be32(p) & kMaxStreamId;
            if (frame->streamId == 0)
                return fail({Error::Scope::Session, GoAwayProtocolError, 0, FrameType::Data, "data frame for stream 0"},
                            error);
            if (length > m_limits.maxDataFrame) {
                m_pos += kFrameHeaderSize;
                m_skip = length;
                const std::size_t n = std::min(m_skip, buffered());
                m_pos += n;
                m_skip -= n;
                streamError(frame->streamId, FrameTooLarge,
                            "data frame of " + std::to_string(length) + " bytes for stream "
                                + std::to_string(frame->streamId) + " is larger than the limit of "
                                + std::to_string(m_limits.maxDataFrame),
                            error);
                error->frame = FrameType::Data;
                return Result::Error;
            }
            if (buffered() < kFrameHeaderSize + length)
                return Result::NeedMore;
            frame->data.assign(m_buffer, m_pos + kFrameHeaderSize, length);
            m_pos += kFrameHeaderSize + length;
            return Result::Frame;
        }

        const std::uint16_t version = std::uint16_t(((p[0] & 0x7f) << 8) | p[1]);
        const std::uint16_t rawType = std::uint16_t((p[2] << 8) | p[3]);
        const auto type = static_cast<FrameType>(rawType);
        if (version != kVersion)
            return fail({Error::Scope::Session, GoAwayProtocolError, 0, type,
                         "unsupported SPDY version " + std::to_string(version) + " (this server speaks 3.1)"},
                        error);
        if (length > m_limits.maxControlFrame)
            return fail({Error::Scope::Session, GoAwayProtocolError, 0, type,
                         "control frame of type " + std::to_string(rawType) + " has " + std::to_string(length)
                             + " bytes, more than the limit of " + std::to_string(m_limits.maxControlFrame)},
                        error);
        if (buffered() < kFrameHeaderSize + length)
            return Result::NeedMore;
        const std::string_view payload(m_buffer.data() + m_pos + kFrameHeaderSize, length);
        const auto *q = reinterpret_cast<const unsigned char *>(payload.data());
        m_pos += kFrameHeaderSize + length;
        frame->type = type;
        auto bad = [&](const std::string &why) {
            return fail({Error::Scope::Session, GoAwayProtocolError, 0, type, std::string(typeName(type)) + ": " + why},
                        error);
        };
        auto wrongLength = [&](std::size_t want) {
            return bad("length " + std::to_string(length) + ", expected " + std::to_string(want));
        };
        switch (type) {
        case FrameType::SynStream:
        case FrameType::SynReply:
        case FrameType::Headers: {
            const std::size_t fixed = type == FrameType::SynStream ? 10 : 4;
            if (length < fixed)
                return bad("length " + std::to_string(length) + " is shorter than its " + std::to_string(fixed)
                           + "-byte header");
            frame->streamId = be32(q) & kMaxStreamId;
            if (type == FrameType::SynStream) {
                frame->associatedStreamId = be32(q + 4) & kMaxStreamId;
                frame->priority = std::uint8_t(q[8] >> 5);
                frame->slot = q[9];
            }
            bool sessionError = false;
            Error e;
            e.frame = type;
            // The block is always decompressed, even for a frame that is refused below: the
            // compression context spans the connection.
            if (!readHeaderBlock(payload.substr(fixed), frame->streamId, frame, &e, &sessionError)) {
                if (sessionError || frame->streamId == 0)
                    return fail(std::move(e), error);
                e.scope = Error::Scope::Stream;
                *error = std::move(e);
                return Result::Error;
            }
            if (frame->streamId == 0)
                return bad("stream 0");
            return Result::Frame;
        }
        case FrameType::RstStream:
            if (length != 8)
                return wrongLength(8);
            if (flags != 0)
                return bad("flags must be 0");
            frame->streamId = be32(q) & kMaxStreamId;
            frame->status = be32(q + 4);
            if (frame->streamId == 0)
                return bad("stream 0");
            if (frame->status == 0)
                return bad("status 0");
            return Result::Frame;
        case FrameType::Settings: {
            if (length < 4)
                return bad("length " + std::to_string(length) + " is shorter than its 4-byte count");
            const std::uint32_t n = be32(q);
            if (n > m_limits.maxSettings)
                return bad(std::to_string(n) + " entries, more than the limit of "
                           + std::to_string(m_limits.maxSettings));
            if (length != 4 + 8 * std::size_t(n))
                return wrongLength(4 + 8 * std::size_t(n));
            for (std::uint32_t i = 0; i < n; ++i) {
                const unsigned char *e = q + 4 + 8 * i;
                frame->settings.push_back(Setting {e[0], be24(e + 1), be32(e + 4)});
            }
            return Result::Frame;
        }
        case FrameType::Ping:
            if (length != 4)
                return wrongLength(4);
            frame->pingId = be32(q);
            return Result::Frame;
        case FrameType::GoAway:
            if (length != 8)
                return wrongLength(8);
            frame->lastGoodStreamId = be32(q) & kMaxStreamId;
            frame->status = be32(q + 4);
            return Result::Frame;
        case FrameType::WindowUpdate:
            if (length != 8)
                return wrongLength(8);
            frame->streamId = be32(q) & kMaxStreamId;
            frame->deltaWindowSize = be32(q + 4) & 0x7fffffff;
            if (frame->deltaWindowSize == 0) {
                if (frame->streamId == 0)
                    return bad("delta 0 for the session");
                streamError(frame->streamId, ProtocolError,
                            "WINDOW_UPDATE: delta 0 for stream " + std::to_string(frame->streamId), error);
                error->frame = type;
                return Result::Error;
            }
            return Result::Frame;
        case FrameType::Data:
            break;
        }
        // Unknown control frames (NOOP, CREDENTIAL, later types) are ignored, as the draft says.
    }
}

// ---- writer --------------------------------------------------------------------------------

std::string Writer::headerFrame(FrameType type, std::string prefix, const Headers &headers, std::uint8_t flags)
{
    const std::string compressed = m_deflater.compress(encodeHeaderBlock(headers));
    std::string out;
    out.reserve(kFrameHeaderSize + prefix.size() + compressed.size());
    putControlHeader(&out, type, flags, prefix.size() + compressed.size());
    out += prefix;
    out += compressed;
    return out;
}

std::string Writer::synStream(std::uint32_t streamId, std::uint32_t associated, std::uint8_t priority,
                              const Headers &headers, std::uint8_t flags)
{
    std::string prefix;
    put32(&prefix, streamId & kMaxStreamId);
    put32(&prefix, associated & kMaxStreamId);
    prefix += char((priority & 7) << 5);
    prefix += char(0);
    return headerFrame(FrameType::SynStream, std::move(prefix), headers, flags);
}

std::string Writer::synReply(std::uint32_t streamId, const Headers &headers, std::uint8_t flags)
{
    std::string prefix;
    put32(&prefix, streamId & kMaxStreamId);
    return headerFrame(FrameType::SynReply, std::move(prefix), headers, flags);
}

std::string Writer::headers(std::uint32_t streamId, const Headers &headers, std::uint8_t flags)
{
    std::string prefix;
    put32(&prefix, streamId & kMaxStreamId);
    return headerFrame(FrameType::Headers, std::move(prefix), headers, flags);
}

std::string Writer::rstStream(std::uint32_t streamId, std::uint32_t status)
{
    std::string out;
    putControlHeader(&out, FrameType::RstStream, 0, 8);
    put32(&out, streamId & kMaxStreamId);
    put32(&out, status);
    return out;
}

std::string Writer::settings(const std::vector<Setting> &settings, std::uint8_t flags)
{
    std::string out;
    putControlHeader(&out, FrameType::Settings, flags, 4 + 8 * settings.size());
    put32(&out, std::uint32_t(settings.size()));
    for (const auto &s : settings) {
        put32(&out, (std::uint32_t(s.flags) << 24) | (s.id & 0xffffff));
        put32(&out, s.value);
    }
    return out;
}

std::string Writer::ping(std::uint32_t id)
{
    std::string out;
    putControlHeader(&out, FrameType::Ping, 0, 4);
    put32(&out, id);
    return out;
}

std::string Writer::goAway(std::uint32_t lastGoodStreamId, std::uint32_t status)
{
    std::string out;
    putControlHeader(&out, FrameType::GoAway, 0, 8);
    put32(&out, lastGoodStreamId & kMaxStreamId);
    put32(&out, status);
    return out;
}

std::string Writer::windowUpdate(std::uint32_t streamId, std::uint32_t delta)
{
    std::string out;
    putControlHeader(&out, FrameType::WindowUpdate, 0, 8);
    put32(&out, streamId & kMaxStreamId);
    put32(&out, delta & 0x7fffffff);
    return out;
}

void Writer::appendData(std::string *out, std::uint32_t streamId, std::string_view payload, std::uint8_t flags)
{
    put32(out, streamId & kMaxStreamId);
    const std::size_t n = payload.size();
    const char b[4] = {char(flags), char(n >> 16), char(n >> 8), char(n)};
    out->append(b, 4);
    out->append(payload);
}

std::string Writer::data(std::uint32_t streamId, std::string_view payload, std::uint8_t flags)
{
    std::string out;
    appendData(&out, streamId, payload, flags);
    return out;
}

// ---- flow control --------------------------------------------------------------------------

bool FlowWindow::grow(std::uint32_t delta)
{
    if (m_size + std::int64_t(delta) > kMaxWindow)
        return false;
    m_size += delta;
    return true;
}

std::uint32_t ReceiveWindow::consumed(std::size_t n)
{
    const std::uint64_t total = std::uint64_t(m_unacknowledged) + n;
    m_unacknowledged = std::uint32_t(std::min<std::uint64_t>(total, 0x7fffffff));
    if (m_unacknowledged * 2 < m_size)
        return 0;
    return std::exchange(m_unacknowledged, 0);
}

// ---- server session ------------------------------------------------------------------------

ServerSession::ServerSession(Options options)
    : m_options(options)
    , m_parser(options.limits)
    , m_receiveWindow(options.receiveWindow)
{
    if (m_options.maxFramePayload == 0 || m_options.maxFramePayload > kMaxFrameLength)
        m_options.maxFramePayload = 64 * 1024;
}

void ServerSession::flush()
{
    if (m_out.empty() || !onOutput)
        return;
    onOutput(std::exchange(m_out, std::string()));
}

// Flushes the session's output once the outermost public call returns (callbacks may call in
// again).
struct ServerSession::Call
{
    explicit Call(ServerSession &session)
        : s(session)
    {
        ++s.m_depth;
    }
    ~Call()
    {
        if (--s.m_depth == 0)
            s.flush();
    }
    Call(const Call &) = delete;
    Call &operator=(const Call &) = delete;
    ServerSession &s;
};

void ServerSession::feed(std::string_view bytes)
{
    Call call(*this);
    if (m_failed)
        return;
    m_parser.feed(bytes);
    Frame frame;
    Error error;
    while (!m_failed) {
        const auto r = m_parser.next(&frame, &error);
        if (r == Parser::Result::NeedMore)
            break;
        if (r == Parser::Result::Frame) {
            handle(frame);
            continue;
        }
        if (error.scope == Error::Scope::Session) {
            sessionError(error);
            break;
        }
        if (error.frame == FrameType::SynStream && error.streamId > m_lastPeerStream)
            m_lastPeerStream = error.streamId;
        streamError(error.streamId, error.status);
    }
}

void ServerSession::handle(Frame &f)
{
    switch (f.type) {
    case FrameType::SynStream: {
        if (m_sentGoAway)
            return; // after our GOAWAY new streams are ignored
        if (f.streamId % 2 == 0) {
            streamError(f.streamId, ProtocolError);
            return;
        }
        if (f.streamId <= m_lastPeerStream) {
            sessionError({Error::Scope::Session, GoAwayProtocolError, f.streamId, f.type,
                          "SYN_STREAM for stream " + std::to_string(f.streamId)
                              + ", which is not above the last stream " + std::to_string(m_lastPeerStream)});
            return;
        }
        m_lastPeerStream = f.streamId;
        if (m_streams.size() >= m_options.maxStreams) {
            m_out += Writer::rstStream(f.streamId, RefusedStream);
            return;
        }
        Stream s {
            FlowWindow(m_initialSendWindow), ReceiveWindow(m_options.receiveWindow), {}, false, false, f.fin(), false};
        if (f.flags & FlagUnidirectional)
            s.localFin = true;
        m_streams.emplace(f.streamId, std::move(s));
        if (onStream)
            onStream(f.streamId, f.headers, f.fin());
        maybeForget(f.streamId);
        return;
    }
    case FrameType::SynReply:
        // This server opens no streams, so there is nothing to reply to.
        streamError(f.streamId, m_streams.count(f.streamId) ? StreamInUse : InvalidStream);
        return;
    case FrameType::Headers: {
        auto it = m_streams.find(f.streamId);
        if (it == m_streams.end()) {
            if (f.streamId > m_lastPeerStream)
                streamError(f.streamId, InvalidStream);
            return;
        }
        if (f.fin() && !it->second.remoteFin) {
            it->second.remoteFin = true;
            if (onData)
                onData(f.streamId, {}, true);
            maybeForget(f.streamId);
        }
        return;
    }
    case FrameType::RstStream: {
        auto it = m_streams.find(f.streamId);
        if (it == m_streams.end())
            return;
        m_streams.erase(it);
        if (onReset)
            onReset(f.streamId, f.status);
        return;
    }
    case FrameType::Settings: {
        bool changed = false;
        for (const auto &s : f.settings) {
            if (s.id != SettingsInitialWindowSize)
                continue;
            if (s.value > kMaxWindow) {
                sessionError({Error::Scope::Session, GoAwayProtocolError, 0, f.type,
                              "SETTINGS: initial window size " + std::to_string(s.value) + " is above 2^31-1"});
                return;
            }
            for (auto &[id, st] : m_streams)
                st.sendWindow.rebase(m_initialSendWindow, s.value);
            m_initialSendWindow = s.value;
            m_enforce = true;
            changed = true;
        }
        if (changed) {
            flushHeld();
            if (onWindow)
                onWindow();
        }
        return;
    }
    case FrameType::Ping:
        if (f.pingId % 2 == 1) // the peer's ping: echo it; ours (even) need no answer
            m_out += Writer::ping(f.pingId);
        return;
    case FrameType::GoAway:
        m_peerGoneAway = true;
        if (onGoAway)
            onGoAway();
        return;
    case FrameType::WindowUpdate: {
        m_enforce = true;
        if (f.streamId == 0) {
            if (!m_sendWindow.grow(f.deltaWindowSize)) {
                sessionError({Error::Scope::Session, GoAwayProtocolError, 0, f.type,
                              "WINDOW_UPDATE: the session window would pass 2^31-1"});
                return;
            }
        } else {
            auto it = m_streams.find(f.streamId);
            if (it == m_streams.end())
                return; // a stream that just closed
            if (!it->second.sendWindow.grow(f.deltaWindowSize)) {
                streamError(f.streamId, FlowControlError);
                return;
            }
        }
        flushHeld();
        if (onWindow)
            onWindow();
        return;
    }
    case FrameType::Data: {
        // The session window counts every data frame, also those of closed streams.
        const std::size_t n = f.data.size();
        auto it = m_streams.find(f.streamId);
        if (it == m_streams.end()) {
            if (std::uint32_t d = m_receiveWindow.consumed(n))
                m_out += Writer::windowUpdate(0, d);
            if (f.streamId > m_lastPeerStream)
                streamError(f.streamId, InvalidStream);
            return; // data racing with the end of its stream
        }
        if (it->second.remoteFin) {
            if (std::uint32_t d = m_receiveWindow.consumed(n))
                m_out += Writer::windowUpdate(0, d);
            streamError(f.streamId, StreamAlreadyClosed);
            return;
        }
        if (f.fin())
            it->second.remoteFin = true;
        if (onData)
            onData(f.streamId, std::move(f.data), f.fin());
        maybeForget(f.streamId);
        return;
    }
    }
}

void ServerSession::streamError(std::uint32_t id, std::uint32_t status)
{
    m_out += Writer::rstStream(id, status);
    auto it = m_streams.find(id);
    if (it == m_streams.end())
        return;
    m_streams.erase(it);
    if (onReset)
        onReset(id, status);
}

void ServerSession::sessionError(const Error &error)
{
    if (m_failed)
        return;
    m_failed = true;
    m_sentGoAway = true;
    m_out += Writer::goAway(m_lastPeerStream, error.status ? error.status : GoAwayProtocolError);
    if (onSessionError)
        onSessionError(error);
}

void ServerSession::reply(std::uint32_t id, const Headers &headers, bool fin)
{
    Call call(*this);
    auto it = m_streams.find(id);
    if (it == m_streams.end() || it->second.replied || m_failed)
        return;
    it->second.replied = true;
    m_out += m_writer.synReply(id, headers, fin ? FlagFin : 0);
    if (fin) {
        it->second.localFin = true;
        maybeForget(id);
    }
}

void ServerSession::send(std::uint32_t id, std::string_view data, bool fin)
{
    Call call(*this);
    auto it = m_streams.find(id);
    if (it == m_streams.end() || m_failed)
        return;
    Stream &s = it->second;
    if (s.localFin || s.heldFin)
        return;
    if (!s.replied) {
        s.replied = true;
        m_out += m_writer.synReply(id, {}, 0);
    }
    if (!s.held.empty()) {
        s.held.append(data);
        s.heldFin = fin;
        return;
    }
    sendNow(id, s, data, fin);
    maybeForget(id);
}

void ServerSession::sendNow(std::uint32_t id, Stream &s, std::string_view data, bool fin)
{
    while (!data.empty()) {
        std::size_t n = std::min(data.size(), m_options.maxFramePayload);
        if (m_enforce) {
            const std::int64_t room = std::min(s.sendWindow.size(), m_sendWindow.size());
            if (room <= 0)
                break;
            n = std::min<std::size_t>(n, std::size_t(room));
        }
        const bool last = fin && n == data.size();
        Writer::appendData(&m_out, id, data.substr(0, n), last ? FlagFin : 0);
        // Both windows count what was sent even while they are not enforced, so that they are
        // right when the peer turns flow control on.
        s.sendWindow.consume(n);
        m_sendWindow.consume(n);
        data.remove_prefix(n);
        if (last)
            s.localFin = true;
    }
    if (!data.empty()) {
        s.held.assign(data);
        s.heldFin = fin;
        return;
    }
    if (fin && !s.localFin) {
        Writer::appendData(&m_out, id, {}, FlagFin);
        s.localFin = true;
    }
}

void ServerSession::flushHeld()
{
    std::vector<std::uint32_t> ids;
    for (auto &[id, s] : m_streams)
        if (!s.held.empty() || s.heldFin)
            ids.push_back(id);
    for (std::uint32_t id : ids) {
        auto it = m_streams.find(id);
        if (it == m_streams.end())
            continue;
        Stream &s = it->second;
        std::string held = std::exchange(s.held, std::string());
        const bool fin = std::exchange(s.heldFin, false);
        sendNow(id, s, held, fin);
        maybeForget(id);
    }
}

void ServerSession::reset(std::uint32_t id, std::uint32_t status)
{
    Call call(*this);
    auto it = m_streams.find(id);
    if (it == m_streams.end() || m_failed)
        return;
    m_streams.erase(it);
    m_out += Writer::rstStream(id, status);
}

void ServerSession::consumed(std::uint32_t id, std::size_t n)
{
    Call call(*this);
    if (m_failed || n == 0)
        return;
    if (std::uint32_t d = m_receiveWindow.consumed(n))
        m_out += Writer::windowUpdate(0, d);
    auto it = m_streams.find(id);
    if (it == m_streams.end() || it->second.remoteFin)
        return;
    if (std::uint32_t d = it->second.receiveWindow.consumed(n))
        m_out += Writer::windowUpdate(id, d);
}

void ServerSession::goAway(std::uint32_t status)
{
    Call call(*this);
    if (m_sentGoAway)
        return;
    m_sentGoAway = true;
    m_out += Writer::goAway(m_lastPeerStream, status);
}

std::size_t ServerSession::heldBack(std::uint32_t id) const
{
    auto it = m_streams.find(id);
    return it == m_streams.end() ? 0 : it->second.held.size();
}

std::int64_t ServerSession::streamSendWindow(std::uint32_t id) const
{
    auto it = m_streams.find(id);
    return it == m_streams.end() ? 0 : it->second.sendWindow.size();
}

void ServerSession::maybeForget(std::uint32_t id)
{
    auto it = m_streams.find(id);
    if (it != m_streams.end() && it->second.localFin && it->second.remoteFin && it->second.held.empty())
        m_streams.erase(it);
}

} // namespace iterdeck::sandbox::spdy
