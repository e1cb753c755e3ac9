#include "replica.h"

#include "scanner.h"
#include "watcher.h"

#include <chrono>
#include <poll.h>

#include <algorithm>
#include <map>
#include <memory>
#include <system_error>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

namespace iterdeck::sync {

namespace {

struct PendingPut
{
    std::string path;
    uint64_t size = 0;
    uint32_t mode = 0644;
    int64_t mtimeNs = 0;
    FileState expected;
    uint64_t received = 0;
    std::unique_ptr<SafeRoot::StagedFile> file;
    std::unique_ptr<Hasher> hasher = std::make_unique<Hasher>();
    std::shared_ptr<int> baseFd; // the current file, for PutCopy (closed when the last copy goes)
    uint64_t baseSize = 0;
    std::string error; // set when the put already failed; remaining data is discarded
    ResultStatus errorStatus = ResultStatus::Failed;
};

} // namespace

Replica::Replica(SafeRoot &root)
    : m_root(root)
{ }

struct Replica::EarlyCheck
{
    std::thread thread;
    SavedManifest saved; // the index as saved
    bool loaded = false; // there is one
    bool same = false; // the tree is exactly as it says
};

Replica::~Replica()
{
    takeEarlyCheck();
}

void Replica::startEarlyCheck()
{
    struct stat st
    {
    };
    if (m_earlyCheck || m_indexPath.empty() || ::stat(m_indexPath.c_str(), &st) != 0)
        return; // (no index, as on a first sync: no thread either)
    m_earlyCheck = std::make_unique<EarlyCheck>();
    EarlyCheck *check = m_earlyCheck.get();
    auto run = [this, check] {
        check->loaded = readSavedManifest(m_indexPath, check->saved) && hashKnown(check->saved.digest);
        if (check->loaded) {
            ScanOptions quick;
            quick.removeStaleStaged = true; // left by a transfer that was cut off
            quick.trustUnchangedFolders = true;
            bool refreshed = false;
            check->same = treeMatchesSaved(m_root, quick, check->saved, &refreshed);
            if (refreshed)
                writeSavedManifest(m_indexPath, check->saved); // (only a cache: a failure is harmless)
        }
    };
    try {
        check->thread = std::thread(run);
    } catch (const std::system_error &) {
        m_earlyCheck.reset(); // no thread to be had: the check is made when it is asked for
    }
}

std::unique_ptr<Replica::EarlyCheck> Replica::takeEarlyCheck()
{
    if (m_earlyCheck && m_earlyCheck->thread.joinable())
        m_earlyCheck->thread.join();
    return std::move(m_earlyCheck);
}

void Replica::refreshWatches()
{
    if (!m_watcher)
        return;
    std::vector<std::string> dirs {std::string()};
    dirs.insert(dirs.end(), m_dirs.begin(), m_dirs.end());
    m_watcher->setDirectories(dirs);
}

bool Replica::reportChanges(Channel &ch, const std::function<void(const std::string &)> &log)
{
    // Collect a burst of events (quiet window 10 ms, cap 30 ms), as the source does.
    std::set<std::string> dirty;
    bool rescanAll = false, rootGone = false;
    const auto first = std::chrono::steady_clock::now();
    for (;;) {
        m_watcher->readEvents(dirty, rescanAll, rootGone);
        const auto since
            = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - first).count();
        pollfd w {m_watcher->fd(), POLLIN, 0};
        if (since >= 30 || ::poll(&w, 1, int(std::min<long long>(10, 30 - since))) <= 0)
            break;
    }
    if (rootGone) {
        log("the folder was removed or moved");
        FrameWriter f(MsgType::Fatal);
        f.str("halted: the remote folder was removed or moved");
        ch.send(f);
        return false;
    }
    std::vector<std::string> scopes;
    Manifest entries;
    if (rescanAll) {
        scopes.emplace_back();
        scanTree(m_root, {}, {}, entries, nullptr, log);
    } else {
        for (const std::string &p : dirty) {
            FsError err;
            auto e = describe(m_root, p, {}, &err);
            if (!e)
                continue;
            // What this replica wrote itself is already known to the source.
            auto own = m_ownWrites.find(p);
            if (own != m_ownWrites.end()) {
                const bool same = own->second.sameIgnoringCtime(e->state);
                m_ownWrites.erase(own);
                if (same)
                    continue;
            }
            if (e->state.type == EntryType::Directory && m_dirs.count(p))
                continue; // its contents report themselves
            scopes.push_back(p);
            if (e->state.exists())
                entries[p] = *e;
            if (e->state.type == EntryType::Directory)
                scanTree(m_root, p, {}, entries, nullptr, log);
        }
    }
    // New directories: watch them, then scan them again, so that what was created in them
    // before the watch existed is reported too (repeat for directories found that way).
    for (int round = 0; round < 64; ++round) {
        std::vector<std::string> fresh;
        for (const auto &[p, e] : entries) {
            if (e.state.type == EntryType::Directory && m_dirs.insert(p).second)
                fresh.push_back(p);
        }
        if (fresh.empty())
            break;
        refreshWatches();
        for (const std::string &d : fresh) {
            Manifest sub;
            scanTree(m_root, d, {}, sub, nullptr, log);
            for (auto &[p, e] : sub)
                entries[p] = std::move(e);
        }
    }
    // Folders that went away: stop watching them (only then is the watch list rebuilt).
    bool foldersGone = false;
    for (const std::string &scope : scopes) {
        if (!entries.count(scope) && !scope.empty()) {
            for (auto it = m_dirs.lower_bound(scope);
                 it != m_dirs.end() && (*it == scope || it->compare(0, scope.size() + 1, scope + '/') == 0);) {
                it = m_dirs.erase(it);
                foldersGone = true;
            }
        }
    }
    if (foldersGone)
        refreshWatches();
    if (scopes.empty())
        return true;
    materializeIndex();
    if (m_indexValid) {
        for (const std::string &scope : scopes) {
            if (scope.empty())
                m_index.clear();
            else
                forgetInIndex(scope);
        }
        for (const auto &[p, e] : entries)
            m_index[p] = e;
        m_indexDirty = true;
    }
    FrameWriter head(MsgType::RemoteChanged);
    head.u32(uint32_t(scopes.size()));
    for (const std::string &scope : scopes)
        head.str(scope);
    if (!ch.queue(head))
        return false;
    FrameWriter batch(MsgType::ManifestEntries);
    size_t inBatch = 0;
    for (const auto &[p, e] : entries) {
        batch.entry(e);
        if (++inBatch == 1024) {
            if (!ch.queue(batch))
                return false;
            batch = FrameWriter(MsgType::ManifestEntries);
            inBatch = 0;
        }
    }
    if (inBatch > 0 && !ch.queue(batch))
        return false;
    FrameWriter end(MsgType::ManifestEnd);
    end.u64(entries.size());
    return ch.queue(end) && ch.flush();
}

bool Replica::sendFile(Channel &ch, uint32_t id, const std::string &path, const FileState &expected)
{
    FsError err;
    const int fd = m_root.openRead(path, &err);
    struct stat st
    {
    };
    FrameWriter begin(MsgType::FileBegin);
    begin.u32(id);
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !stateFromStat(st).sameAs(expected)) {
        if (fd >= 0)
            ::close(fd);
        Entry e;
        e.path = path;
        begin.u8(0).entry(e).str(fd < 0 ? err.message : path + ": changed since it was last seen");
        return ch.send(begin);
    }
    Entry e;
    e.path = path;
    e.state = stateFromStat(st);
    begin.u8(1).entry(e).str({});
    if (!ch.queue(begin)) {
        ::close(fd);
        return false;
    }
    Hasher hasher;
    std::vector<uint8_t> buf(kDataChunk), packed;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0)
            break;
        hasher.update(buf.data(), size_t(n));
        FrameWriter data(MsgType::FileData);
        data.u32(id);
        appendChunk(data, buf.data(), size_t(n), true, packed);
        if (!ch.queue(data)) {
            ::close(fd);
            return false;
        }
    }
    ::close(fd);
    FrameWriter end(MsgType::FileEnd);
    end.u32(id).hash(hasher.digest());
    return ch.queue(end) && ch.flush();
}

void Replica::materializeIndex()
{
    if (!m_indexLazy)
        return;
    m_indexLazy = false;
    if (!parseSavedManifest(m_savedIndex, m_index))
        m_indexValid = false; // cannot happen for a file that just matched the tree; then no index
    m_savedIndex = SavedManifest {};
    m_dirs.clear();
    for (const auto &[path, e] : m_index) {
        if (e.state.type == EntryType::Directory)
            m_dirs.insert(path);
    }
}

void Replica::forgetInIndex(const std::string &path)
{
    materializeIndex();
    if (!m_indexValid)
        return;
    m_indexDirty = true;
    m_index.erase(path);
    const std::string prefix = path + '/';
    for (auto it = m_index.lower_bound(prefix);
         it != m_index.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
        it = m_index.erase(it);
}

void Replica::noteInIndex(const std::string &path, const Entry &now, const Hash128 *hash)
{
    materializeIndex();
    if (!m_indexValid || path.empty())
        return;
    m_indexDirty = true;
    if (!now.state.exists()) {
        forgetInIndex(path);
        return;
    }
    auto it = m_index.find(path);
    if (it != m_index.end() && it->second.state.type == EntryType::Directory && now.state.type != EntryType::Directory)
        forgetInIndex(path);
    Entry &e = m_index[path];
    e = now;
    e.path = path;
    // An unknown hash stays unknown (zero): the next scan reads the file instead of trusting it.
    e.hash = hash && now.state.type == EntryType::File ? *hash : Hash128 {};
}

int Replica::serve(Channel &ch, const std::function<void(const std::string &)> &log)
{
    m_root.setDirCache(true);
    startEarlyCheck();
    const int rc = serveFrames(ch, log);
    takeEarlyCheck();
    m_root.setDirCache(false);
    if (!m_indexPath.empty() && m_indexValid && m_indexDirty)
        saveManifest(m_indexPath, m_index, m_indexScanNs);
    return rc;
}

int Replica::serveFrames(Channel &ch, const std::function<void(const std::string &)> &log)
{
    std::map<uint32_t, PendingPut> puts;
    std::vector<uint8_t> inflated;
    auto fatal = [&](const std::string &msg) {
        log(msg);
        FrameWriter f(MsgType::Fatal);
        f.str(msg);
        ch.send(f);
        return 1;
    };
    // The Result of an operation carries the path's new state. Its content hash is sent only
    // when known without reading the file again (`hash`): a file just written was verified
    // against it; a mode change or a rename leaves the content, and its hash, as they were.
    auto result
        = [&](uint32_t id, ResultStatus status, const std::string &path, const std::string &message,
              const Hash128 *hash = nullptr, const FileState *known = nullptr, const Hash128 *carried = nullptr) {
              FrameWriter f(MsgType::Result);
              f.u32(id).u8(uint8_t(status));
              Entry e;
              e.path = path;
              FsError err;
              ScanOptions describeOptions;
              describeOptions.hashFiles = false;
              if (known) {
                  e.state = *known;
              } else if (!path.empty()) {
                  if (auto d = describe(m_root, path, describeOptions, &err))
                      e = *d;
              }
              const bool hashKnown = hash && e.state.type == EntryType::File;
              if (hashKnown)
                  e.hash = *hash;
              if (!path.empty())
                  noteInIndex(path, e, hashKnown ? hash : status == ResultStatus::Ok ? carried : nullptr);
              f.entry(e).str(message).u8(hashKnown ? 1 : 0);
              if (status == ResultStatus::Ok && m_watcher && !path.empty()) {
                  m_ownWrites[path] = e.state;
                  if (e.state.type == EntryType::Directory)
                      m_dirs.insert(path);
              }
              if (status != ResultStatus::Ok && !message.empty())
                  log(message);
              // Queued: results go out in batches, at the latest when this side waits for input.
              return ch.queue(f);
          };
    // The indexed content hash of `path`, when the index saw it in exactly the `expected` state
    // (the one an operation checks before it acts); zero (unknown) otherwise.
    auto indexedHash = [&](const std::string &path, const FileState &expected) {
        materializeIndex();
        auto it = m_indexValid ? m_index.find(path) : m_index.end();
        return it != m_index.end() && it->second.state.sameAs(expected) ? it->second.hash : Hash128 {};
    };
    // Refused: the safety rules said no. Changed: what was expected is not there any more (a
    // conflict). Failed: the system said no (no space, no permission, ...).
    auto statusOf = [](const FsError &e) {
        return e.refused ? ResultStatus::Refused : e.code == 0 ? ResultStatus::Changed : ResultStatus::Failed;
    };
    bool greeted = false;

    for (;;) {
        // About to wait for the source: what is queued for it goes out first, and directories
        // opened for the last burst of operations are not reused beyond it.
        if (!ch.hasBufferedFrame()) {
            m_root.dropDirCache();
            if (!ch.flush())
                return ch.peerClosed() ? 0 : 1;
            // Watching for long: after a large burst, its memory goes back before the wait.
            if (m_watcher && m_opsSinceTrim > kTrimAfterOps) {
                releaseFreeMemory();
                m_opsSinceTrim = 0;
            }
        }
        if (m_watcher) {
            // Serve whichever comes first: a frame from the source or a change here.
            bool frameReady = false;
            while (!frameReady) {
                pollfd p[2] = {{ch.readFd(), POLLIN, 0}, {m_watcher->fd(), POLLIN, 0}};
                if (ch.hasBufferedFrame() || ::poll(p, 2, -1) < 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                    frameReady = true;
                } else if (p[1].revents & POLLIN) {
                    if (!reportChanges(ch, log))
                        return ch.peerClosed() ? 0 : 1;
                }
            }
        }
        FrameView frame;
        if (!ch.receiveView(&frame)) {
            if (ch.error() == "connection closed")
                return 0;
            return fatal(ch.error());
        }
        const MsgType type = frame.type;
        FrameReader r(frame.data, frame.size);
        if (!greeted && type != MsgType::Hello)
            return fatal("protocol error: the first frame must be Hello");
        // The early check's outcome holds only until the first frame that is not Hello: it is
        // waited for before anything else happens here, and offered to that frame alone.
        const std::unique_ptr<EarlyCheck> early = type == MsgType::Hello ? nullptr : takeEarlyCheck();
        ++m_opsSinceTrim;
        switch (type) {
        case MsgType::Hello: {
            const uint32_t magic = r.u32();
            const uint16_t version = r.u16();
            const uint32_t caps = r.u32();
            const std::string software = r.str(256);
            if (!r.ok() || magic != kMagic)
                return fatal("protocol error: not an Iterdeck sync peer");
            if (version != kProtocolVersion)
                return fatal("protocol version " + std::to_string(version) + " is not supported (this agent speaks "
                             + std::to_string(kProtocolVersion) + ")");
            (void)caps;
            (void)software;
            greeted = true;
            FrameWriter f(MsgType::Hello);
            f.u32(kMagic)
                .u16(kProtocolVersion)
                .u32(CapZstd | CapXxh3 | CapManifestSame)
                .str("iterdeck-agent " ITERDECK_VERSION);
            if (!ch.send(f))
                return ch.peerClosed() ? 0 : 1;
            break;
        }
        case MsgType::ScanRequest: {
            m_opsSinceTrim += kTrimAfterOps; // a whole-tree scan: a large round by itself
            // The source may say what it remembers of this tree (a digest): when the scan finds
            // exactly that, the answer is one short frame instead of the whole manifest.
            const bool hasDigest = !r.atEnd() && r.u8() == 1;
            const Hash128 remembered = hasDigest ? r.hash() : Hash128 {};
            if (!r.ok())
                return fatal("protocol error: malformed ScanRequest");
            if (hasDigest && hashKnown(remembered) && !m_indexPath.empty()) {
                // The quick answer: the tree is exactly as this side saved it at the end of the
                // last session, and that is what the source remembers. A stat-only walk, no manifest.
                SavedManifest saved;
                ScanOptions quick;
                quick.removeStaleStaged = true;
                quick.trustUnchangedFolders = true;
                bool same = false;
                bool refreshed = false;
                if (early && early->loaded) {
                    saved = std::move(early->saved);
                    same = early->same && saved.digest == remembered;
                } else {
                    same = readSavedManifest(m_indexPath, saved) && saved.digest == remembered
                        && treeMatchesSaved(m_root, quick, saved, &refreshed);
                    if (refreshed)
                        writeSavedManifest(m_indexPath, saved);
                }
                if (same) {
                    m_index.clear();
                    m_indexScanNs = saved.scanNs;
                    const uint64_t count = saved.count;
                    m_savedIndex = std::move(saved);
                    m_indexLazy = true;
                    m_indexValid = true;
                    m_indexDirty = false;
                    FrameWriter same(MsgType::ManifestSame);
                    same.u64(count);
                    if (!ch.send(same))
                        return ch.peerClosed() ? 0 : 1;
                    break;
                }
            }
            m_indexLazy = false;
            m_savedIndex = SavedManifest {};
            Manifest m;
            ScanStats stats;
            ScanOptions options;
            options.removeStaleStaged = true; // left by a transfer that was cut off
            Manifest previous;
            SavedManifest previousFile;
            if (!m_indexPath.empty() && readSavedManifest(m_indexPath, previousFile)
                && parseSavedManifest(previousFile, previous)) {
                options.previous = &previous;
                options.previousScanNs = previousFile.scanNs;
            }
            const int64_t scanStart = nowNs();
            scanTree(m_root, {}, options, m, &stats, log);
            if (!m_indexPath.empty()
                && (stats.hashedBytes > 0 || m.size() != previous.size() || !hashKnown(previousFile.digest)))
                saveManifest(m_indexPath, m, scanStart);
            m_dirs.clear();
            for (const auto &[path, e] : m) {
                if (e.state.type == EntryType::Directory)
                    m_dirs.insert(path);
            }
            refreshWatches();
            m_index = std::move(m);
            m_indexScanNs = scanStart;
            m_indexValid = true;
            m_indexDirty = false;
            if (hasDigest && manifestDigest(m_index) == remembered) {
                FrameWriter same(MsgType::ManifestSame);
                same.u64(m_index.size());
                if (!ch.send(same))
                    return ch.peerClosed() ? 0 : 1;
                break;
            }
            FrameWriter batch(MsgType::ManifestEntries);
            size_t inBatch = 0;
            for (const auto &[path, e] : m_index) {
                batch.entry(e);
                if (++inBatch == 1024) {
                    if (!ch.send(batch))
                        return ch.peerClosed() ? 0 : 1;
                    batch = FrameWriter(MsgType::ManifestEntries);
                    inBatch = 0;
                }
            }
            if (inBatch > 0 && !ch.send(batch))
                return ch.peerClosed() ? 0 : 1;
            FrameWriter end(MsgType::ManifestEnd);
            end.u64(m_index.size());
            if (!ch.send(end))
                return ch.peerClosed() ? 0 : 1;
            break;
        }
        case MsgType::WatchRequest: {
            std::string error;
            m_watcher = makeWatcher(m_root.path(), &error);
            if (!m_watcher)
                return fatal(error);
            materializeIndex(); // the folders to watch
            refreshWatches();
            break;
        }
        case MsgType::GetFile: {
            const uint32_t id = r.u32();
            const std::string path = r.str(4096);
            const FileState expected = r.state();
            if (!r.ok())
                return fatal("protocol error: malformed GetFile");
            std::string why;
            if (!isSafeRelativePath(path, &why))
                return fatal("protocol error: GetFile " + why);
            if (!sendFile(ch, id, path, expected))
                return ch.peerClosed() ? 0 : 1;
            break;
        }
        case MsgType::MakeDir: {
            const uint32_t id = r.u32();
            const std::string path = r.str(4096);
            const uint32_t mode = r.u32();
            if (!r.ok())
                return fatal("protocol error: malformed MakeDir");
            FsError err;
            FileState made;
            const bool ok = m_root.makeDirectory(path, (mode & 0777) | 0700, &err, &made);
            result(id, ok ? ResultStatus::Ok : statusOf(err), path, ok ? std::string() : err.message, nullptr,
                   ok && made.type == EntryType::Directory ? &made : nullptr);
            break;
        }
        case MsgType::PutBegin: {
            PendingPut p;
            const uint32_t id = r.u32();
            p.path = r.str(4096);
            p.size = r.u64();
            p.mode = r.u32();
            p.mtimeNs = r.i64();
            p.expected = r.state();
            const uint8_t flags = r.atEnd() ? 0 : r.u8();
            if (!r.ok())
                return fatal("protocol error: malformed PutBegin");
            FsError err;
            p.file = m_root.beginWrite(p.path, &err, p.mode);
            if (!p.file) {
                p.error = err.message.empty() ? p.path + ": refused" : err.message;
                p.errorStatus = err.message.empty() ? ResultStatus::Refused : statusOf(err);
            }
            if (p.file && (flags & PutDelta)) {
                // The delta is against the file as the source last saw it, and nothing else.
                const int fd = m_root.openRead(p.path, &err);
                struct stat st
                {
                };
                if (fd < 0 || ::fstat(fd, &st) != 0 || !stateFromStat(st).sameAs(p.expected)) {
                    if (fd >= 0)
                        ::close(fd);
                    p.error = p.path + ": not written: the file changed since it was last seen";
                    p.errorStatus = ResultStatus::Changed;
                    p.file.reset();
                } else {
                    p.baseFd = std::shared_ptr<int>(new int(fd), [](int *f) {
                        ::close(*f);
                        delete f;
                    });
                    p.baseSize = uint64_t(st.st_size);
                }
            }
            puts[id] = std::move(p);
            break;
        }
        case MsgType::PutData: {
            const uint32_t id = r.u32();
            auto it = puts.find(id);
            if (!r.ok() || it == puts.end())
                return fatal("protocol error: PutData for an unknown transfer");
            std::string_view chunk;
            if (!readChunk(r, inflated, &chunk))
                return fatal("protocol error: bad compressed chunk");
            PendingPut &p = it->second;
            if (!p.error.empty())
                break;
            if (p.received + chunk.size() > p.size)
                return fatal("protocol error: more data than announced for " + p.path);
            FsError err;
            if (!p.file->write(chunk.data(), chunk.size(), &err))
                p.error = err.message;
            p.hasher->update(chunk.data(), chunk.size());
            p.received += chunk.size();
            break;
        }
        case MsgType::PutCopy: {
            const uint32_t id = r.u32();
            const uint64_t offset = r.u64();
            const uint64_t length = r.u64();
            auto it = puts.find(id);
            if (!r.ok() || it == puts.end())
                return fatal("protocol error: PutCopy for an unknown transfer");
            PendingPut &p = it->second;
            if (!p.error.empty())
                break;
            if (!p.baseFd || offset > p.baseSize || length > p.baseSize - offset)
                return fatal("protocol error: PutCopy outside the old file of " + p.path);
            if (p.received + length > p.size)
                return fatal("protocol error: more data than announced for " + p.path);
            inflated.resize(kDataChunk);
            for (uint64_t done = 0; done < length && p.error.empty();) {
                const size_t want = size_t(std::min<uint64_t>(kDataChunk, length - done));
                const ssize_t n = ::pread(*p.baseFd, inflated.data(), want, off_t(offset + done));
                if (n <= 0) {
                    p.error = p.path + ": the old file changed while it was being read";
                    p.errorStatus = ResultStatus::Changed;
                    break;
                }
                FsError err;
                if (!p.file->write(inflated.data(), size_t(n), &err))
                    p.error = err.message;
                p.hasher->update(inflated.data(), size_t(n));
                done += uint64_t(n);
                p.received += uint64_t(n);
            }
            break;
        }
        case MsgType::BlockSigRequest: {
            const uint32_t id = r.u32();
            const std::string path = r.str(4096);
            const uint32_t blockSize = r.u32();
            const FileState expected = r.state();
            if (!r.ok() || blockSize < 1024 || blockSize > (8u << 20))
                return fatal("protocol error: malformed BlockSigRequest");
            FsError err;
            const int fd = m_root.openRead(path, &err);
            struct stat st
            {
            };
            FrameWriter f(MsgType::BlockSigs);
            f.u32(id);
            const bool usable = fd >= 0 && ::fstat(fd, &st) == 0 && stateFromStat(st).sameAs(expected)
                && uint64_t(st.st_size) / blockSize < kMaxBlocks;
            if (!usable) {
                f.u8(0);
            } else {
                const uint64_t count = (uint64_t(st.st_size) + blockSize - 1) / blockSize;
                f.u8(1).u32(blockSize).u32(uint32_t(count));
                std::vector<uint8_t> block(blockSize);
                bool ok = true;
                for (uint64_t b = 0; b < count && ok; ++b) {
                    const ssize_t n = ::pread(fd, block.data(), blockSize, off_t(b * blockSize));
                    ok = n > 0;
                    if (ok)
                        f.u32(weakSum(block.data(), size_t(n))).u64(strongSum(block.data(), size_t(n)));
                }
                if (!ok) {
                    f = FrameWriter(MsgType::BlockSigs);
                    f.u32(id).u8(0);
                }
            }
            if (fd >= 0)
                ::close(fd);
            if (!ch.send(f))
                return ch.peerClosed() ? 0 : 1;
            break;
        }
        case MsgType::PutEnd: {
            const uint32_t id = r.u32();
            const Hash128 expectedHash = r.hash();
            auto it = puts.find(id);
            if (!r.ok() || it == puts.end())
                return fatal("protocol error: PutEnd for an unknown transfer");
            PendingPut p = std::move(it->second);
            puts.erase(it);
            if (!p.error.empty()) {
                result(id, p.errorStatus, {}, p.error);
                break;
            }
            if (p.received != p.size) {
                result(id, ResultStatus::Failed, p.path, p.path + ": transfer incomplete");
                break;
            }
            // What arrived must be what was sent before it becomes visible.
            if (p.hasher->digest() != expectedHash) {
                result(id, ResultStatus::Failed, p.path, p.path + ": content hash mismatch; not written");
                break;
            }
            FsError err;
            const bool ok = p.file->commit(p.expected, p.mode, p.mtimeNs, &err);
            result(id, ok ? ResultStatus::Ok : statusOf(err), p.path, ok ? std::string() : err.message,
                   ok ? &expectedHash : nullptr, ok ? &p.file->committedState() : nullptr);
            break;
        }
        case MsgType::MakeSymlink: {
            const uint32_t id = r.u32();
            const std::string path = r.str(4096);
            const std::string target = r.str(4096);
            const FileState expected = r.state();
            if (!r.ok())
                return fatal("protocol error: malformed MakeSymlink");
            FsError err;
            const bool ok = m_root.makeSymlink(path, target, expected, &err);
            result(id, ok ? ResultStatus::Ok : statusOf(err), path, ok ? std::string() : err.message);
            break;
        }
        case MsgType::Remove: {
            const uint32_t id = r.u32();
            const std::string path = r.str(4096);
            const FileState expected = r.state();
            if (!r.ok())
                return fatal("protocol error: malformed Remove");
            FsError err;
            const bool ok = expected.type == EntryType::Directory ? m_root.removeDirectory(path, &err)
                                                                  : m_root.removeFile(path, expected, &err);
            result(id, ok ? ResultStatus::Ok : statusOf(err), path, ok ? std::string() : err.message);
            break;
        }
        case MsgType::SetExec: {
            const uint32_t id = r.u32();
            const std::string path = r.str(4096);
            const bool exec = r.u8() != 0;
            const FileState expected = r.state();
            if (!r.ok())
                return fatal("protocol error: malformed SetExec");
            FsError err;
            const Hash128 kept = indexedHash(path, expected);
            const bool ok = m_root.setExecutable(path, exec, expected, &err);
            result(id, ok ? ResultStatus::Ok : statusOf(err), path, ok ? std::string() : err.message, nullptr, nullptr,
                   &kept);
            break;
        }
        case MsgType::Rename: {
            const uint32_t id = r.u32();
            const std::string from = r.str(4096);
            const std::string to = r.str(4096);
            const FileState expected = r.state();
            if (!r.ok())
                return fatal("protocol error: malformed Rename");
            FsError err;
            const Hash128 kept = indexedHash(from, expected);
            const bool ok = m_root.rename(from, to, expected, &err);
            if (ok)
                forgetInIndex(from);
            result(id, ok ? ResultStatus::Ok : statusOf(err), to, ok ? std::string() : err.message, nullptr, nullptr,
                   &kept);
            break;
        }
        case MsgType::Barrier: {
            const uint32_t id = r.u32();
            if (!r.ok())
                return fatal("protocol error: malformed Barrier");
            result(id, ResultStatus::Ok, {}, {});
            break;
        }
        case MsgType::Fatal:
            log("peer: " + r.str(4096));
            return 1;
        default:
            return fatal("protocol error: unexpected frame type " + std::to_string(int(type)));
        }
    }
}

} // namespace iterdeck::sync
