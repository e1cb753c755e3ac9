// Container logs: one CRI-format file per run ("<RFC3339Nano> stdout F text"), written as the
// process prints, and readers implementing kubectl logs' options (tail, since, timestamps,
// limitBytes, follow). Followers are woken by the writer; nobody polls.
#include "sandbox/runtime_p.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace iterdeck::sandbox::detail {

namespace {

constexpr std::size_t kMaxLine = 16 * 1024; // longer lines are split into partial (P) records

struct Record
{
    std::string_view time;
    std::string_view stream;
    char tag = 'F';
    std::string_view text;
    bool valid = false;
};

Record parseRecord(std::string_view line)
{
    Record r;
    const auto s1 = line.find(' ');
    if (s1 == std::string_view::npos)
        return r;
    const auto s2 = line.find(' ', s1 + 1);
    if (s2 == std::string_view::npos || s2 + 2 > line.size())
        return r;
    r.time = line.substr(0, s1);
    r.stream = line.substr(s1 + 1, s2 - s1 - 1);
    r.tag = line[s2 + 1];
    r.text = s2 + 3 <= line.size() ? line.substr(s2 + 3) : std::string_view();
    r.valid = true;
    return r;
}

} // namespace

// --- LogFile ---

std::shared_ptr<LogFile> LogFile::create(const std::string &path, std::string *error)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        *error = "cannot open the log file " + path + ": " + std::strerror(errno);
        return nullptr;
    }
    auto file = std::make_shared<LogFile>();
    file->m_path = path;
    file->m_fd = fd;
    return file;
}

LogFile::~LogFile()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

void LogFile::writeRecord(int stream, char tag, std::string_view text, const std::string &time)
{
    std::string record;
    record.reserve(time.size() + text.size() + 12);
    record += time;
    record += stream == 2 ? " stderr " : " stdout ";
    record += tag;
    record += ' ';
    record += text;
    record += '\n';
    const char *p = record.data();
    std::size_t left = record.size();
    while (left > 0 && m_fd >= 0) {
        const ssize_t n = ::write(m_fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

void LogFile::append(int stream, std::string_view data)
{
    if (m_finished || data.empty())
        return;
    const std::string time = rfc3339Nano(SysClock::now());
    std::string &partial = m_partial[stream == 2 ? 1 : 0];
    partial.append(data.data(), data.size());
    std::size_t start = 0;
    for (;;) {
        const auto nl = partial.find('\n', start);
        if (nl == std::string::npos)
            break;
        writeRecord(stream, 'F', std::string_view(partial).substr(start, nl - start), time);
        start = nl + 1;
    }
    while (partial.size() - start >= kMaxLine) {
        writeRecord(stream, 'P', std::string_view(partial).substr(start, kMaxLine), time);
        start += kMaxLine;
    }
    partial.erase(0, start);
    notify();
}

void LogFile::finish()
{
    if (m_finished)
        return;
    const std::string time = rfc3339Nano(SysClock::now());
    for (int i = 0; i < 2; ++i) {
        // As containerd does, the unterminated last line of a stream is a full line.
        if (!m_partial[i].empty())
            writeRecord(i + 1, 'F', m_partial[i], time);
        m_partial[i].clear();
    }
    m_finished = true;
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
    notify();
    m_followers.clear();
}

void LogFile::addFollower(const std::shared_ptr<LogReader> &reader)
{
    m_followers.push_back(reader);
}

void LogFile::notify()
{
    m_followers.erase(std::remove_if(m_followers.begin(), m_followers.end(),
                                     [](const std::weak_ptr<LogReader> &w) { return w.expired(); }),
                      m_followers.end());
    const auto followers = m_followers;
    for (const auto &weak : followers) {
        if (auto reader = weak.lock())
            reader->wake();
    }
}

// --- tail ---

long long tailOffset(int fd, long lines)
{
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size <= 0)
        return 0;
    if (lines <= 0)
        return size;
    // Walk the records backwards; a logical line ends with a full (F) record, so the last N
    // lines start right after the (N+1)-th F record from the end.
    std::string buffer; // file[bufferStart, size)
    off_t bufferStart = size;
    off_t recordEnd = size;
    long fullRecords = 0;
    for (;;) {
        // The record ending at recordEnd (exclusive, just past its '\n') starts after the
        // previous '\n'.
        std::size_t searchFrom = static_cast<std::size_t>(recordEnd - bufferStart);
        std::size_t nl = std::string::npos;
        if (searchFrom >= 2)
            nl = buffer.rfind('\n', searchFrom - 2);
        if (nl == std::string::npos && bufferStart > 0) {
            const off_t chunk = std::min<off_t>(bufferStart, 64 * 1024);
            std::string more(static_cast<std::size_t>(chunk), '\0');
            const ssize_t n = ::pread(fd, more.data(), more.size(), bufferStart - chunk);
            if (n != chunk)
                return 0;
            buffer.insert(0, more);
            bufferStart -= chunk;
            continue;
        }
        const off_t recordStart = nl == std::string::npos ? 0 : bufferStart + static_cast<off_t>(nl) + 1;
        const Record r = parseRecord(std::string_view(buffer).substr(
            static_cast<std::size_t>(recordStart - bufferStart), static_cast<std::size_t>(recordEnd - recordStart)));
        if (!r.valid || r.tag != 'P') {
            if (++fullRecords == lines + 1)
                return recordEnd;
        }
        if (recordStart == 0)
            return 0;
        recordEnd = recordStart;
    }
}

// --- LogReader ---

LogReader::LogReader(boost::asio::io_context &io, std::string path, std::shared_ptr<LogFile> live,
                     const LogOptions &options)
    : m_io(io)
    , m_path(std::move(path))
    , m_live(std::move(live))
    , m_options(options)
{ }

LogReader::~LogReader()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

void LogReader::start()
{
    if (m_started)
        return;
    m_started = true;
    m_fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd < 0) {
        boost::asio::post(m_io, [self = shared_from_this()] { self->finish(); });
        return;
    }
    if (m_options.tailLines) {
        const long long offset = tailOffset(m_fd, *m_options.tailLines);
        ::lseek(m_fd, static_cast<off_t>(offset), SEEK_SET);
    } else {
        ::lseek(m_fd, 0, SEEK_SET);
    }
    if (m_options.limitBytes)
        m_remaining = std::max(0L, *m_options.limitBytes);
    if (m_options.follow && m_live && !m_live->finished()) {
        m_following = true;
        m_live->addFollower(shared_from_this());
    }
    schedule();
}

void LogReader::cancel()
{
    if (m_ended)
        return;
    boost::asio::post(m_io, [self = shared_from_this()] { self->finish(); });
    m_ended = true; // no more data from now on; finish() still reports the end once
}

void LogReader::setPaused(bool paused)
{
    m_paused = paused;
    if (!paused)
        schedule();
}

void LogReader::wake()
{
    schedule();
}

void LogReader::schedule()
{
    if (m_scheduled || m_paused || m_ended || !m_started)
        return;
    m_scheduled = true;
    boost::asio::post(m_io, [self = shared_from_this()] {
        self->m_scheduled = false;
        self->step();
    });
}

void LogReader::step()
{
    if (m_ended || m_paused)
        return;
    char buffer[64 * 1024];
    ssize_t n;
    do {
        n = ::read(m_fd, buffer, sizeof buffer);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        // End of what was written so far. A follower waits for the writer unless the run ended.
        if (m_following && m_live && !m_live->finished())
            return;
        finish();
        return;
    }
    m_pending.append(buffer, static_cast<std::size_t>(n));
    std::string out;
    std::size_t start = 0;
    for (;;) {
        const auto nl = m_pending.find('\n', start);
        if (nl == std::string::npos)
            break;
        const std::string_view line = std::string_view(m_pending).substr(start, nl - start);
        start = nl + 1;
        const Record r = parseRecord(line);
        if (!r.valid) {
            out.append(line);
            out += '\n';
            m_atLineStart = true;
            continue;
        }
        if (m_options.since) {
            const auto t = parseRfc3339(r.time);
            if (t && *t < *m_options.since) {
                m_atLineStart = r.tag != 'P';
                continue;
            }
        }
        if (m_options.timestamps && m_atLineStart) {
            out.append(r.time);
            out += ' ';
        }
        out.append(r.text);
        if (r.tag != 'P')
            out += '\n';
        m_atLineStart = r.tag != 'P';
    }
    m_pending.erase(0, start);
    if (m_remaining >= 0 && static_cast<long>(out.size()) >= m_remaining) {
        out.resize(static_cast<std::size_t>(m_remaining));
        m_remaining = 0;
        emit(out);
        finish();
        return;
    }
    if (m_remaining > 0)
        m_remaining -= static_cast<long>(out.size());
    emit(out);
    schedule();
}

void LogReader::emit(const std::string &chunk)
{
    if (!chunk.empty() && onData)
        onData(chunk);
}

void LogReader::finish()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    m_ended = true;
    m_live.reset();
    if (auto callback = std::move(onEnd)) {
        onEnd = nullptr;
        onData = nullptr;
        callback();
    }
}

} // namespace iterdeck::sandbox::detail
