#pragma once

// The sync wire protocol (docs/sync-protocol.md): length-prefixed frames over any
// bidirectional byte stream. Plain C++20, no Qt.
//
//   frame   = length:u32le  type:u8  payload[length-1]
//   strings = length:u32le bytes      integers little-endian
//
// A frame larger than kMaxFrame, a truncated frame, or a payload that does not match its
// type is a protocol error: the reader reports it and the connection ends.

#include "safefs.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iterdeck::sync {

constexpr uint32_t kMagic = 0x4B445449; // "ITDK"
constexpr uint16_t kProtocolVersion = 1;
constexpr uint32_t kMaxFrame = 8u << 20; // 8 MiB
constexpr uint32_t kDataChunk = 1u << 20; // file data is sent in chunks of at most 1 MiB

enum Capability : uint32_t {
    CapZstd = 1u << 0, // PutData chunks may be zstd-compressed
    CapXxh3 = 1u << 1, // content hashes are XXH3-128
    CapManifestSame = 1u << 2, // the replica answers a ScanRequest carrying a digest with ManifestSame
};

enum class MsgType : uint8_t {
    Hello = 0x01, // both ways, first frame: magic, version, capabilities, software
    ScanRequest = 0x10, // source -> replica: send your manifest [has:u8, digest of the manifest the source remembers]
    ManifestEntries = 0x11, // replica -> source: a batch of entries
    ManifestEnd = 0x12, // replica -> source: count
    RemoteChanged = 0x13, // replica -> source: scope count, scopes; then ManifestEntries*, ManifestEnd
    WatchRequest = 0x14, // source -> replica: report changes made on your side from now on
    ManifestSame = 0x15, // replica -> source: count: the manifest is the one the digest describes
    GetFile = 0x16, // source -> replica: id, path, expected state: send me this file
    MakeDir = 0x20, // id, path, mode
    PutBegin = 0x21, // id, path, size, mode, mtime, expected state, flags (PutFlags)
    PutData = 0x22, // id, compressed:u8, bytes
    PutEnd = 0x23, // id, hash
    MakeSymlink = 0x24, // id, path, target, expected
    Remove = 0x25, // id, path, expected (a directory: removed when empty)
    SetExec = 0x26, // id, path, executable, expected
    Rename = 0x27, // id, from, to, expected
    Barrier = 0x28, // id: answered once everything before it is done
    BlockSigRequest = 0x29, // id, path, block size, expected state: describe your copy by blocks
    PutCopy = 0x2A, // id, first block, block count: copy these blocks of the old file
    Result = 0x30, // replica -> source: id, status, new state, message
    BlockSigs = 0x31, // replica -> source: id, ok:u8, block size, count, (weak:u32 strong:u64)*
    FileBegin = 0x32, // replica -> source: id, ok:u8, entry (state and hash of what follows), message
    FileData = 0x33, // replica -> source: id, compressed:u8, bytes
    FileEnd = 0x34, // replica -> source: id, hash of the bytes sent
    Fatal = 0x7F, // either way: message; the sender closes
};

enum PutFlags : uint8_t {
    PutDelta = 1u << 0, // the new content is built from PutData and PutCopy over the current file
};

constexpr uint64_t kDeltaThreshold = 1u << 20; // files from this size are sent as deltas
constexpr uint32_t kMaxBlocks = 600000; // keeps BlockSigs (12 bytes a block) under kMaxFrame
constexpr uint64_t kMaxDeltaFile = 512ull << 20; // larger files are sent whole

// Gives the heap's free pages back to the system. After a whole-tree round (an initial sync, a
// large batch) the scans, frames and buffers are freed, but glibc keeps most of that memory in the
// process; a watcher that then idles for hours should not. A no-op where the C library has no
// malloc_trim.
void releaseFreeMemory();
// Operations after which a round is large enough to call releaseFreeMemory().
constexpr size_t kTrimAfterOps = 1000;

// Block size for a delta of a file of `size` bytes: about sqrt(size), 4 KiB to 256 KiB.
uint32_t deltaBlockSize(uint64_t size);
// Rolling checksum (rsync's weak sum) over a block.
uint32_t weakSum(const uint8_t *data, size_t size);
uint64_t strongSum(const uint8_t *data, size_t size);

using Hash128 = std::array<uint8_t, 16>;

struct Entry
{
    std::string path;
    FileState state;
    Hash128 hash {}; // files only
    std::string linkTarget; // symlinks only
};

enum class ResultStatus : uint8_t { Ok = 0, Changed = 1, Refused = 2, Failed = 3 };

// Serialises one frame.
class FrameWriter
{
public:
    explicit FrameWriter(MsgType type);
    FrameWriter &u8(uint8_t v);
    FrameWriter &u16(uint16_t v);
    FrameWriter &u32(uint32_t v);
    FrameWriter &u64(uint64_t v);
    FrameWriter &i64(int64_t v) { return u64(uint64_t(v)); }
    FrameWriter &str(std::string_view s);
    FrameWriter &bytes(const void *data, size_t size); // raw, no length
    FrameWriter &hash(const Hash128 &h) { return bytes(h.data(), h.size()); }
    FrameWriter &state(const FileState &s);
    FrameWriter &entry(const Entry &e);
    // The finished frame, length prefix included.
    const std::vector<uint8_t> &finish();

private:
    std::vector<uint8_t> m_buf;
};

// Reads the payload of one frame; any read past the end marks the reader bad.
class FrameReader
{
public:
    FrameReader(const uint8_t *data, size_t size)
        : m_p(data)
        , m_end(data + size)
    { }
    uint8_t u8();
    uint16_t u16();
    uint32_t u32();
    uint64_t u64();
    int64_t i64() { return int64_t(u64()); }
    std::string str(size_t maxLen = kMaxFrame);
    std::string_view strView(size_t maxLen = kMaxFrame); // the same, pointing into the frame
    bool bytes(void *out, size_t size);
    std::string_view rest();
    const uint8_t *position() const { return m_p; } // where the next field starts
    Hash128 hash();
    FileState state();
    Entry entry();
    bool ok() const { return m_ok; }
    bool atEnd() const { return m_p == m_end; }

private:
    bool need(size_t n);
    const uint8_t *m_p;
    const uint8_t *m_end;
    bool m_ok = true;
};

// A byte buffer that grows without zero-filling what is about to be overwritten anyway.
class ByteBuffer
{
public:
    ByteBuffer() = default;
    ~ByteBuffer();
    ByteBuffer(const ByteBuffer &) = delete;
    ByteBuffer &operator=(const ByteBuffer &) = delete;
    uint8_t *data() { return m_data; }
    const uint8_t *data() const { return m_data; }
    size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }
    // Room for `n` more bytes after size(); returns where they go (size() is unchanged).
    uint8_t *reserveMore(size_t n);
    void grow(size_t n) { m_size += n; } // after writing to reserveMore()'s space
    void append(const void *p, size_t n);
    void clear() { m_size = 0; }
    void dropFront(size_t n); // keeps the bytes after the first n
    void swap(ByteBuffer &o) noexcept;

private:
    uint8_t *m_data = nullptr;
    size_t m_size = 0;
    size_t m_capacity = 0;
};

// One received frame, pointing into the decoder's buffer.
struct FrameView
{
    MsgType type {};
    const uint8_t *data = nullptr;
    size_t size = 0;
};

// Incremental frame splitter for a byte stream.
class FrameDecoder
{
public:
    // Appends received bytes.
    void feed(const uint8_t *data, size_t size);
    // Space to read up to `n` bytes into; commit() what was read. The views returned before are
    // no longer valid afterwards.
    uint8_t *space(size_t n);
    void commit(size_t n) { m_buf.grow(n); }
    // The next complete frame (type, payload), or nullopt when more bytes are needed.
    // On a malformed stream returns nullopt and sets error().
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> next();
    // The same without copying the payload: valid until the next feed() or space().
    bool nextView(FrameView *out);
    // True when a whole frame is buffered (nothing is consumed).
    bool hasFrame();
    const std::string &error() const { return m_error; }
    size_t buffered() const { return m_buf.size() - m_pos; }

private:
    bool frameAt(FrameView *out, size_t *total);
    ByteBuffer m_buf;
    size_t m_pos = 0;
    std::string m_error;
};

// File data chunks (PutData, FileData): a flag byte, then the bytes, zstd-compressed when
// `compress` is set and that makes them smaller by a tenth. `scratch` is reused between calls.
void appendChunk(FrameWriter &frame, const uint8_t *data, size_t size, bool compress, std::vector<uint8_t> &scratch);
// Reads a chunk written by appendChunk from the rest of `reader`. The result points into the
// frame or into `scratch`. False on a malformed or oversized (> kDataChunk) chunk.
bool readChunk(FrameReader &reader, std::vector<uint8_t> &scratch, std::string_view *out);

// Incremental XXH3-128.
class Hasher
{
public:
    Hasher();
    ~Hasher();
    Hasher(const Hasher &) = delete;
    Hasher &operator=(const Hasher &) = delete;
    void update(const void *data, size_t size);
    Hash128 digest() const;

private:
    void *m_state;
};

// XXH3-128 of a buffer, and incrementally of a file descriptor's whole content.
Hash128 hashBytes(const void *data, size_t size);
std::optional<Hash128> hashFile(int fd, uint64_t *sizeOut = nullptr);
std::string hashHex(const Hash128 &h);

} // namespace iterdeck::sync
