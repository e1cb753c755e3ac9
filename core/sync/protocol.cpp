#include "protocol.h"

#include <cstdlib>
#include <memory>
#include <new>

#include <unistd.h>

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace iterdeck::sync {

void releaseFreeMemory()
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

FrameWriter::FrameWriter(MsgType type)
{
    m_buf.reserve(64);
    m_buf.resize(4);
    m_buf.push_back(uint8_t(type));
}

FrameWriter &FrameWriter::u8(uint8_t v)
{
    m_buf.push_back(v);
    return *this;
}

FrameWriter &FrameWriter::u16(uint16_t v)
{
    m_buf.push_back(uint8_t(v));
    m_buf.push_back(uint8_t(v >> 8));
    return *this;
}

FrameWriter &FrameWriter::u32(uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        m_buf.push_back(uint8_t(v >> (8 * i)));
    return *this;
}

FrameWriter &FrameWriter::u64(uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        m_buf.push_back(uint8_t(v >> (8 * i)));
    return *this;
}

FrameWriter &FrameWriter::str(std::string_view s)
{
    u32(uint32_t(s.size()));
    m_buf.insert(m_buf.end(), s.begin(), s.end());
    return *this;
}

FrameWriter &FrameWriter::bytes(const void *data, size_t size)
{
    const auto *p = static_cast<const uint8_t *>(data);
    m_buf.insert(m_buf.end(), p, p + size);
    return *this;
}

FrameWriter &FrameWriter::state(const FileState &s)
{
    u8(uint8_t(s.type)).u64(s.size).i64(s.mtimeNs).i64(s.ctimeNs).u64(s.inode).u32(s.mode);
    return *this;
}

FrameWriter &FrameWriter::entry(const Entry &e)
{
    str(e.path).state(e.state);
    if (e.state.type == EntryType::File)
        hash(e.hash);
    else if (e.state.type == EntryType::Symlink)
        str(e.linkTarget);
    return *this;
}

const std::vector<uint8_t> &FrameWriter::finish()
{
    const uint32_t len = uint32_t(m_buf.size() - 4);
    for (int i = 0; i < 4; ++i)
        m_buf[size_t(i)] = uint8_t(len >> (8 * i));
    return m_buf;
}

bool FrameReader::need(size_t n)
{
    if (!m_ok || size_t(m_end - m_p) < n) {
        m_ok = false;
        return false;
    }
    return true;
}

uint8_t FrameReader::u8()
{
    return need(1) ? *m_p++ : 0;
}

uint16_t FrameReader::u16()
{
    if (!need(2))
        return 0;
    const uint16_t v = uint16_t(m_p[0] | (m_p[1] << 8));
    m_p += 2;
    return v;
}

uint32_t FrameReader::u32()
{
    if (!need(4))
        return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v |= uint32_t(m_p[i]) << (8 * i);
    m_p += 4;
    return v;
}

uint64_t FrameReader::u64()
{
    if (!need(8))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= uint64_t(m_p[i]) << (8 * i);
    m_p += 8;
    return v;
}

std::string FrameReader::str(size_t maxLen)
{
    const uint32_t n = u32();
    if (n > maxLen || !need(n)) {
        m_ok = false;
        return {};
    }
    std::string s(reinterpret_cast<const char *>(m_p), n);
    m_p += n;
    return s;
}

std::string_view FrameReader::strView(size_t maxLen)
{
    const uint32_t n = u32();
    if (n > maxLen || !need(n)) {
        m_ok = false;
        return {};
    }
    std::string_view s(reinterpret_cast<const char *>(m_p), n);
    m_p += n;
    return s;
}

bool FrameReader::bytes(void *out, size_t size)
{
    if (!need(size))
        return false;
    std::memcpy(out, m_p, size);
    m_p += size;
    return true;
}

std::string_view FrameReader::rest()
{
    std::string_view v(reinterpret_cast<const char *>(m_p), size_t(m_end - m_p));
    m_p = m_end;
    return v;
}

Hash128 FrameReader::hash()
{
    Hash128 h {};
    bytes(h.data(), h.size());
    return h;
}

FileState FrameReader::state()
{
    FileState s;
    const uint8_t t = u8();
    if (t > uint8_t(EntryType::Other))
        m_ok = false;
    s.type = EntryType(t);
    s.size = u64();
    s.mtimeNs = i64();
    s.ctimeNs = i64();
    s.inode = u64();
    s.mode = u32();
    return s;
}

Entry FrameReader::entry()
{
    Entry e;
    e.path = str(4096);
    e.state = state();
    if (e.state.type == EntryType::File)
        e.hash = hash();
    else if (e.state.type == EntryType::Symlink)
        e.linkTarget = str(4096);
    return e;
}

ByteBuffer::~ByteBuffer()
{
    std::free(m_data);
}

uint8_t *ByteBuffer::reserveMore(size_t n)
{
    if (m_capacity - m_size < n) {
        size_t cap = m_capacity ? m_capacity : 4096;
        while (cap - m_size < n)
            cap *= 2;
        auto *p = static_cast<uint8_t *>(std::realloc(m_data, cap));
        if (!p)
            throw std::bad_alloc();
        m_data = p;
        m_capacity = cap;
    }
    return m_data + m_size;
}

void ByteBuffer::append(const void *p, size_t n)
{
    if (n == 0)
        return;
    std::memcpy(reserveMore(n), p, n);
    m_size += n;
}

void ByteBuffer::dropFront(size_t n)
{
    if (n >= m_size) {
        m_size = 0;
        return;
    }
    std::memmove(m_data, m_data + n, m_size - n);
    m_size -= n;
}

void ByteBuffer::swap(ByteBuffer &o) noexcept
{
    std::swap(m_data, o.m_data);
    std::swap(m_size, o.m_size);
    std::swap(m_capacity, o.m_capacity);
}

uint8_t *FrameDecoder::space(size_t n)
{
    if (m_pos > 0 && m_pos == m_buf.size()) {
        m_buf.clear();
        m_pos = 0;
    } else if (m_pos > (1u << 20)) {
        m_buf.dropFront(m_pos);
        m_pos = 0;
    }
    return m_buf.reserveMore(n);
}

void FrameDecoder::feed(const uint8_t *data, size_t size)
{
    std::memcpy(space(size), data, size);
    commit(size);
}

bool FrameDecoder::frameAt(FrameView *out, size_t *total)
{
    if (!m_error.empty() || m_buf.size() - m_pos < 4)
        return false;
    const uint8_t *p = m_buf.data() + m_pos;
    const uint32_t len = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    if (len == 0 || len > kMaxFrame) {
        m_error = "protocol error: frame of " + std::to_string(len) + " bytes (the limit is "
            + std::to_string(kMaxFrame) + ")";
        return false;
    }
    if (m_buf.size() - m_pos < 4 + size_t(len))
        return false;
    out->type = MsgType(p[4]);
    out->data = p + 5;
    out->size = len - 1;
    *total = 4 + size_t(len);
    return true;
}

bool FrameDecoder::hasFrame()
{
    FrameView v;
    size_t total = 0;
    return frameAt(&v, &total);
}

bool FrameDecoder::nextView(FrameView *out)
{
    size_t total = 0;
    if (!frameAt(out, &total))
        return false;
    m_pos += total;
    return true;
}

std::optional<std::pair<MsgType, std::vector<uint8_t>>> FrameDecoder::next()
{
    FrameView v;
    if (!nextView(&v))
        return std::nullopt;
    return std::make_pair(v.type, std::vector<uint8_t>(v.data, v.data + v.size));
}

void appendChunk(FrameWriter &frame, const uint8_t *data, size_t size, bool compress, std::vector<uint8_t> &scratch)
{
    if (compress && size >= 512) {
        scratch.resize(ZSTD_compressBound(size));
        const size_t c = ZSTD_compress(scratch.data(), scratch.size(), data, size, 1);
        if (!ZSTD_isError(c) && c < size * 9 / 10) {
            frame.u8(1).bytes(scratch.data(), c);
            return;
        }
    }
    frame.u8(0).bytes(data, size);
}

bool readChunk(FrameReader &reader, std::vector<uint8_t> &scratch, std::string_view *out)
{
    const uint8_t compressed = reader.u8();
    const std::string_view data = reader.rest();
    if (!reader.ok())
        return false;
    if (!compressed) {
        *out = data;
        return true;
    }
    const unsigned long long n = ZSTD_getFrameContentSize(data.data(), data.size());
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > kDataChunk)
        return false;
    scratch.resize(size_t(n));
    const size_t got = ZSTD_decompress(scratch.data(), scratch.size(), data.data(), data.size());
    if (ZSTD_isError(got) || got != n)
        return false;
    *out = std::string_view(reinterpret_cast<const char *>(scratch.data()), got);
    return true;
}

uint32_t deltaBlockSize(uint64_t size)
{
    uint64_t b = 4096;
    while (b * b < size && b < (256u << 10))
        b *= 2;
    return uint32_t(b);
}

uint32_t weakSum(const uint8_t *data, size_t size)
{
    uint32_t a = 0, b = 0;
    for (size_t i = 0; i < size; ++i) {
        a += data[i];
        b += uint32_t(size - i) * data[i];
    }
    return (a & 0xffff) | (b << 16);
}

uint64_t strongSum(const uint8_t *data, size_t size)
{
    return XXH3_64bits(data, size);
}

Hasher::Hasher()
    : m_state(XXH3_createState())
{
    XXH3_128bits_reset(static_cast<XXH3_state_t *>(m_state));
}

Hasher::~Hasher()
{
    XXH3_freeState(static_cast<XXH3_state_t *>(m_state));
}

void Hasher::update(const void *data, size_t size)
{
    XXH3_128bits_update(static_cast<XXH3_state_t *>(m_state), data, size);
}

Hash128 Hasher::digest() const
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(static_cast<XXH3_state_t *>(m_state)));
    Hash128 out;
    std::memcpy(out.data(), c.digest, out.size());
    return out;
}

Hash128 hashBytes(const void *data, size_t size)
{
    const XXH128_hash_t h = XXH3_128bits(data, size);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    Hash128 out;
    std::memcpy(out.data(), c.digest, out.size());
    return out;
}

std::optional<Hash128> hashFile(int fd, uint64_t *sizeOut)
{
    XXH3_state_t state;
    XXH3_128bits_reset(&state);
    // One buffer per thread, not zero-filled per file (a scan may hash thousands of small files).
    constexpr size_t kBuf = 1 << 18;
    thread_local std::unique_ptr<uint8_t[]> buf(new uint8_t[kBuf]);
    uint64_t total = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf.get(), kBuf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return std::nullopt;
        }
        if (n == 0)
            break;
        XXH3_128bits_update(&state, buf.get(), size_t(n));
        total += uint64_t(n);
    }
    if (sizeOut)
        *sizeOut = total;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&state));
    Hash128 out;
    std::memcpy(out.data(), c.digest, out.size());
    return out;
}

std::string hashHex(const Hash128 &h)
{
    static const char *digits = "0123456789abcdef";
    std::string s;
    for (uint8_t b : h) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

} // namespace iterdeck::sync
