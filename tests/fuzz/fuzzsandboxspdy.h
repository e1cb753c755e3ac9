#pragma once

// One fuzz iteration over the sandbox's SPDY/3.1 codec; shared by the libFuzzer target and
// tst_sandboxspdy, which replays the corpus and the regressions.
//
// Input: byte 0 picks how the rest is cut into pieces (parsing is incremental); the rest is a
// client's byte stream. It goes through the frame parser (every frame or error is checked), a
// server session that answers streams the way the port-forward does, and, on its own, through
// the header block decoder and a fresh inflater.
#include "sandbox/spdy.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iterdeck::fuzz {

namespace detail {

using namespace sandbox::spdy;

inline bool frameIsSane(const Frame &f, const Limits &limits)
{
    if (f.type == FrameType::Data)
        return f.streamId != 0 && f.streamId <= kMaxStreamId && f.data.size() <= limits.maxDataFrame;
    if (f.headers.size() > limits.maxHeaders || f.settings.size() > limits.maxSettings)
        return false;
    for (const auto &[name, value] : f.headers)
        if (name.empty())
            return false;
    if ((f.type == FrameType::SynStream || f.type == FrameType::SynReply || f.type == FrameType::Headers
         || f.type == FrameType::RstStream)
        && f.streamId == 0)
        return false;
    if (f.type == FrameType::WindowUpdate && f.deltaWindowSize == 0)
        return false;
    return true;
}

inline bool errorIsSane(const Error &e)
{
    if (e.message.empty())
        return false;
    if (e.scope == Error::Scope::Stream)
        return e.streamId != 0 && e.status >= ProtocolError && e.status <= FrameTooLarge;
    return e.status == GoAwayProtocolError || e.status == GoAwayInternalError;
}

// Feeds `stream` to `feed` in pieces whose sizes come from `mode`.
template<typename Feed> void feedInPieces(std::string_view stream, std::uint8_t mode, Feed &&feed)
{
    const std::size_t piece = mode < 128 ? std::size_t(mode % 16) + 1 : stream.size() + 1;
    while (!stream.empty()) {
        const std::size_t n = std::min(piece, stream.size());
        feed(stream.substr(0, n));
        stream.remove_prefix(n);
    }
}

} // namespace detail

inline bool sandboxSpdyOnce(const uint8_t *data, size_t size)
{
    using namespace detail;
    if (size == 0)
        return true;
    const std::uint8_t mode = data[0];
    const std::string_view stream(reinterpret_cast<const char *>(data) + 1, size - 1);
    Limits limits;
    limits.maxControlFrame = 16 * 1024;
    limits.maxDataFrame = 64 * 1024;
    limits.maxHeaderBlock = 64 * 1024;

    // 1. The parser: every frame within the limits, every error with a message; once failed it
    // stays failed.
    bool ok = true;
    {
        Parser parser(limits);
        bool failed = false;
        feedInPieces(stream, mode, [&](std::string_view piece) {
            if (failed)
                return;
            parser.feed(piece);
            Frame frame;
            Error error;
            for (int guard = 0; guard < 100000; ++guard) {
                const auto r = parser.next(&frame, &error);
                if (r == Parser::Result::NeedMore)
                    return;
                if (r == Parser::Result::Frame) {
                    ok = ok && frameIsSane(frame, limits);
                    continue;
                }
                ok = ok && errorIsSane(error);
                if (error.scope == Error::Scope::Session) {
                    failed = true;
                    Error again;
                    ok = ok && parser.next(&frame, &again) == Parser::Result::Error && again.message == error.message;
                    return;
                }
            }
            ok = false; // no progress: a loop
        });
    }

    // 2. A session that behaves like the port-forward: replies to streams, echoes data back,
    // acknowledges it, finishes streams the peer finished.
    {
        ServerSession::Options options;
        options.limits = limits;
        options.maxStreams = 16;
        ServerSession session(options);
        std::size_t output = 0;
        session.onOutput = [&](std::string bytes) { output += bytes.size(); };
        session.onStream = [&](std::uint32_t id, const Headers &headers, bool fin) {
            if (headerValue(headers, "port").value_or("") == "0")
                session.reset(id, Cancel);
            else
                session.reply(id, {}, fin && (id % 3 == 0));
        };
        session.onData = [&](std::uint32_t id, std::string bytes, bool fin) {
            session.send(id, bytes, fin);
            session.consumed(id, bytes.size());
        };
        session.onReset = [&](std::uint32_t id, std::uint32_t) { ok = ok && !session.isOpen(id); };
        session.onSessionError = [&](const Error &e) { ok = ok && errorIsSane(e); };
        feedInPieces(stream, mode, [&](std::string_view piece) { session.feed(piece); });
        ok = ok && session.openStreams() <= options.maxStreams;
        (void)output;
    }

    // 3. The raw bytes as a header block, and as compressed data for a fresh inflater.
    {
        std::string error;
        auto headers = decodeHeaderBlock(stream, limits.maxHeaders, &error);
        ok = ok && (headers.has_value() || !error.empty());
        Inflater inflater;
        std::string out;
        if (!inflater.decompress(stream, limits.maxHeaderBlock, &out, &error))
            ok = ok && !error.empty();
        ok = ok && out.size() <= limits.maxHeaderBlock;
    }
    return ok;
}

} // namespace iterdeck::fuzz
