#include "source.h"

#include "watcher.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace iterdeck::sync {

const char *phaseName(SyncStatus::Phase phase)
{
    switch (phase) {
    case SyncStatus::Phase::Connecting:
        return "connecting";
    case SyncStatus::Phase::Scanning:
        return "scanning";
    case SyncStatus::Phase::Syncing:
        return "syncing";
    case SyncStatus::Phase::Idle:
        return "idle";
    case SyncStatus::Phase::Halted:
        return "halted";
    case SyncStatus::Phase::Error:
        return "error";
    }
    return "?";
}

struct SourceSession::Op
{
    enum Kind { RemoveEarly, MakeDir, Rename, Put, Symlink, SetExec, RemoveFile, RemoveDir, PutLate } kind;
    std::string path;
    std::string to; // Rename target
    FileState expected;
};

namespace {

bool isUnder(const std::string &path, const std::string &dir)
{
    return dir.empty() || path == dir
        || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

int depth(const std::string &p)
{
    return int(std::count(p.begin(), p.end(), '/'));
}

// Same content as far as syncing is concerned (null means absent).
bool sameContent(const Entry *a, const Entry *b)
{
    if (!a || !b)
        return !a && !b;
    if (a->state.type != b->state.type)
        return false;
    switch (a->state.type) {
    case EntryType::File:
        return a->hash == b->hash && a->state.size == b->state.size && a->state.executable() == b->state.executable();
    case EntryType::Symlink:
        return a->linkTarget == b->linkTarget;
    default:
        return true;
    }
}

const Entry *find(const Manifest &m, const std::string &p)
{
    auto it = m.find(p);
    return it == m.end() ? nullptr : &it->second;
}

// "dir/name.sync-conflict-20261127-093012.ext", as syncthing names conflict copies.
std::string conflictName(const std::string &path)
{
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
    const std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    const size_t dot = leaf.rfind('.');
    const bool hasExt = dot != std::string::npos && dot > 0;
    const std::time_t now = std::time(nullptr);
    std::tm tm {};
    ::localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    return dir + (hasExt ? leaf.substr(0, dot) : leaf) + ".sync-conflict-" + stamp
        + (hasExt ? leaf.substr(dot) : std::string());
}

// A conflict name not used yet on either side (two conflicts in one second get -2, -3, ...).
std::string freeConflictName(const std::string &path, const Manifest &local, const Manifest &remote)
{
    const std::string base = conflictName(path);
    std::string name = base;
    for (int n = 2; local.count(name) || remote.count(name); ++n) {
        const size_t slash = base.rfind('/');
        const size_t dot = base.rfind('.');
        const bool ext = dot != std::string::npos && (slash == std::string::npos || dot > slash)
            && base.compare(dot, 15, ".sync-conflict-") != 0;
        name = ext ? base.substr(0, dot) + '-' + std::to_string(n) + base.substr(dot) : base + '-' + std::to_string(n);
    }
    return name;
}

} // namespace

SourceSession::SourceSession(SafeRoot &local, Channel &channel, SourceOptions options, StatusFn status, LogFn log)
    : m_local_root(local)
    , m_ch(channel)
    , m_opt(options)
    , m_status(std::move(status))
    , m_log(std::move(log))
{ }

namespace {

std::string remoteIndexPath(const std::string &indexPath)
{
    return indexPath.empty() ? std::string() : indexPath + ".remote";
}

// The end of a session that left both sides identical: the digests of the local index and of the
// replica's manifest, and of the ignore settings. A later run that finds all three unchanged
// (and the agent confirms its side) has nothing to do.
struct InSyncMarker
{
    Hash128 local {}, remote {}, settings {};
    bool operator==(const InSyncMarker &) const = default;
};

bool readMarker(const std::string &path, InSyncMarker *m)
{
    FILE *f = std::fopen(path.c_str(), "rbe");
    if (!f)
        return false;
    uint8_t buf[48];
    const bool ok = std::fread(buf, 1, sizeof buf, f) == sizeof buf;
    std::fclose(f);
    if (!ok)
        return false;
    std::memcpy(m->local.data(), buf, 16);
    std::memcpy(m->remote.data(), buf + 16, 16);
    std::memcpy(m->settings.data(), buf + 32, 16);
    return hashKnown(m->local) && hashKnown(m->remote);
}

bool writeMarker(const std::string &path, const InSyncMarker &m)
{
    uint8_t buf[48];
    std::memcpy(buf, m.local.data(), 16);
    std::memcpy(buf + 16, m.remote.data(), 16);
    std::memcpy(buf + 32, m.settings.data(), 16);
    const std::string tmp = path + ".tmp";
    FILE *f = std::fopen(tmp.c_str(), "wbe");
    if (!f)
        return false;
    const bool ok = std::fwrite(buf, 1, sizeof buf, f) == sizeof buf;
    if (std::fclose(f) != 0 || !ok) {
        std::remove(tmp.c_str());
        return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

} // namespace

struct SourceSession::LocalCheck
{
    std::thread thread;
    SavedManifest saved; // the index as saved
    bool loaded = false; // there is one
    bool same = false; // the tree is exactly as it says
    int64_t startNs = 0;
};

SourceSession::~SourceSession()
{
    finishLocalCheck();
}

void SourceSession::startLocalCheck()
{
    struct stat st
    {
    };
    if (m_localCheck || !m_local.empty() || m_indexPath.empty() || ::stat(m_indexPath.c_str(), &st) != 0)
        return; // (no index, as on a first sync: no thread either)
    m_localCheck = std::make_unique<LocalCheck>();
    LocalCheck *check = m_localCheck.get();
    auto run = [this, check] {
        check->startNs = nowNs();
        check->loaded = readSavedManifest(m_indexPath, check->saved);
        if (check->loaded) {
            ScanOptions quick;
            quick.ignore = m_opt.ignore;
            // Folders in their saved state are trusted to hold what the index says when the last
            // session ended in sync with this index under these very settings, and the ignore
            // rules depend on paths alone (a .gitignore can change what is ignored without
            // changing the folders).
            const std::string &fp = m_opt.settingsFingerprint;
            InSyncMarker marker;
            quick.trustUnchangedFolders = !fp.empty() && (!m_opt.ignore || m_opt.ignore->pathsAlone())
                && hashKnown(check->saved.digest) && readMarker(m_indexPath + ".insync", &marker)
                && marker.local == check->saved.digest && marker.settings == hashBytes(fp.data(), fp.size());
            check->same = treeMatchesSaved(m_local_root, quick, check->saved);
        }
    };
    try {
        check->thread = std::thread(run);
    } catch (const std::system_error &) {
        run(); // no thread to be had: here and now
    }
}

std::unique_ptr<SourceSession::LocalCheck> SourceSession::finishLocalCheck()
{
    if (m_localCheck && m_localCheck->thread.joinable())
        m_localCheck->thread.join();
    return std::move(m_localCheck);
}

void SourceSession::emit(SyncStatus::Phase phase, const std::string &message)
{
    m_state.phase = phase;
    m_state.message = message;
    if (m_status)
        m_status(m_state);
}

bool SourceSession::ignored(const std::string &path, bool isDir) const
{
    return m_opt.ignore && m_opt.ignore->isIgnored(path, isDir);
}

bool SourceSession::handshake(std::string *error)
{
    emit(SyncStatus::Phase::Connecting);
    // The local side of a restart's check needs nothing from the agent: it runs while the agent
    // starts. (The ignore rules are used by that thread alone until fetchRemote waits for it.)
    startLocalCheck();
    FrameWriter hello(MsgType::Hello);
    hello.u32(kMagic).u16(kProtocolVersion).u32(CapZstd | CapXxh3).str("iterdeckctl " ITERDECK_VERSION);
    if (!m_ch.send(hello)) {
        *error = m_ch.error();
        return false;
    }
    auto f = m_ch.receive(30000);
    if (!f) {
        *error = m_ch.timedOut() ? "the agent did not answer within 30 s" : "the agent did not answer: " + m_ch.error();
        return false;
    }
    FrameReader r(f->second.data(), f->second.size());
    if (f->first == MsgType::Fatal) {
        *error = "agent: " + r.str(4096);
        return false;
    }
    if (f->first != MsgType::Hello || r.u32() != kMagic) {
        *error = "the remote command did not start an Iterdeck agent";
        return false;
    }
    const uint16_t version = r.u16();
    m_peerCaps = r.u32();
    if (!r.ok() || version != kProtocolVersion) {
        *error = "the agent speaks protocol version " + std::to_string(version) + ", this program "
            + std::to_string(kProtocolVersion);
        return false;
    }
    return true;
}

bool SourceSession::readEntries(Manifest &into, std::string *error, bool *same)
{
    for (;;) {
        auto f = m_ch.receive();
        if (!f) {
            *error = m_ch.error();
            return false;
        }
        FrameReader r(f->second.data(), f->second.size());
        if (f->first == MsgType::ManifestSame && same) {
            r.u64();
            if (!r.ok()) {
                *error = "protocol error: malformed ManifestSame";
                return false;
            }
            *same = true;
            return true;
        }
        if (f->first == MsgType::ManifestEntries) {
            while (!r.atEnd() && r.ok()) {
                Entry e = r.entry();
                std::string why;
                if (!r.ok() || !isSafeRelativePath(e.path, &why)) {
                    *error = "protocol error: the agent sent a bad path (" + why + ")";
                    return false;
                }
                into.insert_or_assign(into.end(), e.path, std::move(e)); // sent in order: O(1) each
            }
            if (!r.ok()) {
                *error = "protocol error: malformed manifest";
                return false;
            }
        } else if (f->first == MsgType::ManifestEnd) {
            return true;
        } else if (f->first == MsgType::Fatal) {
            *error = "agent: " + r.str(4096);
            return false;
        } else {
            *error = "protocol error: unexpected frame while reading a manifest";
            return false;
        }
    }
}

void SourceSession::saveRemoteIndex()
{
    const std::string path = remoteIndexPath(m_indexPath);
    if (path.empty() || m_nothingToDo)
        return; // (nothing to do: everything is as remembered)
    const std::string marker = m_indexPath + ".insync";
    std::remove(marker.c_str());
    if (!m_remoteKnown)
        return;
    const Hash128 digest = manifestDigest(m_remote);
    if (digest != m_savedRemoteDigest) {
        Hash128 saved {};
        m_savedRemoteDigest = saveManifest(path, m_remote, 0, &saved) ? saved : Hash128 {};
    }
    // Both sides identical, and the local index on disk is exactly the local tree as synced.
    if (!m_opt.twoWay && !m_opt.settingsFingerprint.empty() && hashKnown(m_savedRemoteDigest)
        && hashKnown(m_savedLocalDigest) && inSync(nullptr) && manifestDigest(m_local) == m_savedLocalDigest) {
        const std::string &fp = m_opt.settingsFingerprint;
        writeMarker(marker, {m_savedLocalDigest, m_savedRemoteDigest, hashBytes(fp.data(), fp.size())});
    }
}

bool SourceSession::fetchRemote(std::string *error)
{
    // What this side remembers of the replica, when the agent can confirm it unchanged.
    // (Only its digest for now: the manifest itself is read when it is needed.)
    const std::string rememberedPath = remoteIndexPath(m_indexPath);
    SavedManifest rememberedFile;
    const Hash128 rememberedDigest = (m_peerCaps & CapManifestSame) && !rememberedPath.empty()
        ? readSavedManifestDigest(rememberedPath)
        : Hash128 {};
    const bool offer = hashKnown(rememberedDigest);
    FrameWriter req(MsgType::ScanRequest);
    if (offer)
        req.u8(1).hash(rememberedDigest);
    if (!m_ch.send(req)) {
        *error = m_ch.error();
        return false;
    }
    auto warn = [this](const std::string &w) {
        if (m_log)
            m_log(w);
    };
    // With an index from an earlier run, look at the local tree while the agent looks at its own
    // (the stat-only walk started with the handshake). When it finds the tree exactly as indexed,
    // the index is the local manifest; else the tree is scanned, re-reading only files whose
    // state changed.
    startLocalCheck(); // (when the handshake did not)
    const std::unique_ptr<LocalCheck> check = finishLocalCheck();
    bool candidate = false; // nothing to do, if the agent confirms its side
    SavedManifest localFile;
    if (check && check->loaded) {
        localFile = std::move(check->saved);
        const int64_t start = check->startNs;
        if (check->same) {
            m_savedLocalDigest = localFile.digest;
            InSyncMarker marker;
            const std::string &fp = m_opt.settingsFingerprint;
            candidate = offer && m_opt.once && !m_opt.twoWay && !fp.empty() && hashKnown(localFile.digest)
                && readMarker(m_indexPath + ".insync", &marker)
                && marker == InSyncMarker {localFile.digest, rememberedDigest, hashBytes(fp.data(), fp.size())};
            if (!candidate && parseSavedManifest(localFile, m_local)) {
                m_lastScanNs = localFile.scanNs;
                m_localPrescanned = true;
                m_indexUnchanged = hashKnown(localFile.digest); // else saved again, with its digest
            }
        } else {
            Manifest previous;
            if (parseSavedManifest(localFile, previous)) {
                ScanOptions scan;
                scan.ignore = m_opt.ignore;
                scan.previous = &previous;
                scan.previousScanNs = localFile.scanNs;
                ScanStats stats;
                scanTree(m_local_root, {}, scan, m_local, &stats, warn);
                m_lastScanNs = start;
                m_localPrescanned = true;
                m_indexUnchanged = stats.hashedBytes == 0 && previous.size() == m_local.size();
                m_savedLocalDigest = localFile.digest;
            }
        }
    }
    Manifest remembered;
    bool rememberedOk = false;
    auto loadRemembered = [&] {
        // Used only if it is exactly what the digest described.
        rememberedOk = readSavedManifest(rememberedPath, rememberedFile)
            && parseSavedManifest(rememberedFile, remembered) && manifestDigest(remembered) == rememberedDigest;
        rememberedFile = SavedManifest {};
    };
    if (offer && !candidate)
        loadRemembered(); // while the agent scans
    m_remote.clear();
    m_remoteKnown = false;
    bool same = false;
    if (!readEntries(m_remote, error, offer ? &same : nullptr))
        return false;
    if (same && candidate) {
        // Both trees as they were when the last session left them identical.
        m_nothingToDo = true;
        return true;
    }
    if (candidate) {
        // The replica changed: the local side needs its manifest after all.
        if (parseSavedManifest(localFile, m_local)) {
            m_lastScanNs = localFile.scanNs;
            m_localPrescanned = true;
            m_indexUnchanged = true;
        }
    } else if (same) {
        loadRemembered();
    }
    if (same && rememberedOk) {
        m_remote = std::move(remembered);
        m_savedRemoteDigest = rememberedDigest;
    } else if (same) {
        // The agent confirmed a manifest this side could not load after all: ask for it whole.
        FrameWriter again(MsgType::ScanRequest);
        if (!m_ch.send(again)) {
            *error = m_ch.error();
            return false;
        }
        m_remote.clear();
        if (!readEntries(m_remote, error))
            return false;
    }
    m_remoteKnown = true;
    if (m_opt.twoWay && !m_opt.once) {
        FrameWriter watch(MsgType::WatchRequest);
        if (!m_ch.send(watch)) {
            *error = m_ch.error();
            return false;
        }
    }
    return true;
}

bool SourceSession::absorbRemoteChanged(const std::vector<uint8_t> &payload, std::string *error)
{
    FrameReader r(payload.data(), payload.size());
    const uint32_t n = r.u32();
    std::vector<std::string> scopes;
    for (uint32_t i = 0; i < n && r.ok() && i < 100000; ++i) {
        std::string scope = r.str(4096);
        std::string why;
        if (!scope.empty() && !isSafeRelativePath(scope, &why)) {
            *error = "protocol error: the agent sent a bad path (" + why + ")";
            return false;
        }
        scopes.push_back(std::move(scope));
    }
    if (!r.ok()) {
        *error = "protocol error: malformed RemoteChanged";
        return false;
    }
    Manifest fresh;
    if (!readEntries(fresh, error))
        return false;
    for (const std::string &scope : scopes) {
        for (auto it = m_remote.lower_bound(scope); it != m_remote.end() && isUnder(it->first, scope);)
            it = m_remote.erase(it);
        m_remoteDirty.insert(scope);
    }
    for (auto &[p, e] : fresh) {
        bool inScope = false;
        for (const std::string &scope : scopes)
            inScope = inScope || isUnder(p, scope);
        if (inScope)
            m_remote[p] = std::move(e);
    }
    return true;
}

bool SourceSession::saveState(std::string *error) const
{
    if (m_statePath.empty() || !m_opt.twoWay || saveManifest(m_statePath, m_base, 0))
        return true;
    if (error)
        *error = "cannot save the sync state to " + m_statePath;
    return false;
}

bool SourceSession::loadState()
{
    // A missing or damaged state file means a first run: no deletions, conflicts kept.
    return !m_statePath.empty() && loadManifest(m_statePath, m_base, nullptr);
}

bool SourceSession::fullSync(SyncReport *report, std::string *error)
{
    if (m_opt.twoWay)
        loadState();
    emit(SyncStatus::Phase::Scanning);
    if (!fetchRemote(error)) {
        emit(SyncStatus::Phase::Error, *error);
        return false;
    }
    if (m_nothingToDo) {
        emit(SyncStatus::Phase::Idle);
        return true;
    }
    const bool ok = reconcile({std::string()}, report, error);
    if (ok)
        saveState(nullptr);
    return ok;
}

bool SourceSession::pull(const std::string &path, const Entry &remote, const std::string &localName,
                         const Entry *localNow, SyncReport *report, std::string *error)
{
    const uint32_t id = m_nextId++;
    FrameWriter req(MsgType::GetFile);
    req.u32(id).str(path).state(remote.state);
    if (!m_ch.send(req)) {
        *error = m_ch.error();
        return false;
    }
    std::unique_ptr<SafeRoot::StagedFile> staged;
    Hasher hasher;
    std::vector<uint8_t> inflated;
    bool skip = false;
    uint64_t received = 0;
    for (;;) {
        auto f = m_ch.receive();
        if (!f) {
            *error = m_ch.error();
            return false;
        }
        FrameReader r(f->second.data(), f->second.size());
        switch (f->first) {
        case MsgType::RemoteChanged:
            if (!absorbRemoteChanged(f->second, error))
                return false;
            continue;
        case MsgType::Fatal:
            *error = "agent: " + r.str(4096);
            return false;
        case MsgType::FileBegin: {
            r.u32();
            const uint8_t ok = r.u8();
            r.entry();
            const std::string message = r.str(4096);
            if (!r.ok()) {
                *error = "protocol error: malformed FileBegin";
                return false;
            }
            if (!ok) {
                if (m_log)
                    m_log(message + " (not fetched; it will be when it settles)");
                return true;
            }
            FsError err;
            staged = m_local_root.beginWrite(localName, &err);
            if (!staged) {
                if (m_log)
                    m_log(err.message);
                skip = true;
            }
            continue;
        }
        case MsgType::FileData: {
            r.u32();
            std::string_view chunk;
            if (!readChunk(r, inflated, &chunk)) {
                *error = "protocol error: bad compressed chunk";
                return false;
            }
            received += chunk.size();
            if (received > remote.state.size + kDataChunk * 64ull) {
                *error = "protocol error: the agent sent far more than the file's size";
                return false;
            }
            hasher.update(chunk.data(), chunk.size());
            FsError err;
            if (staged && !skip && !staged->write(chunk.data(), chunk.size(), &err)) {
                if (m_log)
                    m_log(err.message);
                skip = true;
            }
            continue;
        }
        case MsgType::FileEnd: {
            r.u32();
            const Hash128 h = r.hash();
            if (!r.ok() || h != hasher.digest()) {
                *error = "protocol error: " + path + ": content hash mismatch";
                return false;
            }
            if (!staged || skip)
                return true;
            FsError err;
            if (!staged->commit(localNow ? localNow->state : FileState {}, remote.state.mode, remote.state.mtimeNs,
                                &err)) {
                if (m_log)
                    m_log(err.message);
                return true; // changed locally meanwhile: the next round sees it
            }
            if (report)
                ++report->pulled;
            if (auto e = describe(m_local_root, localName, {}, &err))
                m_local[localName] = *e;
            return true;
        }
        default:
            *error = "protocol error: unexpected frame while fetching " + path;
            return false;
        }
    }
}

void SourceSession::noteConflict(const std::string &path, const std::string &message, SyncReport *report)
{
    if (m_log)
        m_log(message);
    m_state.conflicts.push_back(path);
    if (report)
        ++report->conflicts;
}

bool SourceSession::fileGivesWayToFolder(const std::string &path, uint32_t mode, SyncReport *report)
{
    FsError err;
    auto have = m_local.find(path);
    if (have != m_local.end()) {
        // The file is kept beside the folder as a conflict copy: nothing is lost.
        const std::string copy = freeConflictName(path, m_local, m_remote);
        if (!m_local_root.rename(path, copy, have->second.state, &err)) {
            if (m_log)
                m_log(err.message);
            return false;
        }
        Entry moved = have->second;
        moved.path = copy;
        m_local.erase(have);
        m_local[copy] = moved;
        noteConflict(path, path + ": a folder on one side, a file on the other; the file is kept as " + copy, report);
    }
    if (!m_local_root.makeDirectory(path, mode, &err))
        return false;
    if (auto e = describe(m_local_root, path, {}, &err))
        m_local[path] = *e;
    return true;
}

bool SourceSession::pullPhase(const std::vector<std::string> &scope, std::set<std::string> &pushAllowed,
                              SyncReport *report, std::string *error)
{
    std::set<std::string> paths;
    for (const std::string &d : scope) {
        for (const Manifest *m : {&m_local, &m_remote, &m_base}) {
            for (auto it = m->lower_bound(d); it != m->end() && isUnder(it->first, d); ++it)
                paths.insert(it->first);
        }
    }
    // A replica that suddenly holds nothing (a volume remounted empty, a new pod) must not
    // empty the local folder.
    if (!m_opt.deleteProtection && !m_base.empty() && !m_local.empty()) {
        bool remoteEmpty = true;
        for (const auto &[p, e] : m_remote)
            remoteEmpty = remoteEmpty && ignored(p, e.state.type == EntryType::Directory);
        if (remoteEmpty) {
            *error = "halted: the remote folder is empty but was not before; not deleting the local files";
            emit(SyncStatus::Phase::Halted, *error);
            return false;
        }
    }
    std::vector<std::string> removeLocalDirs;
    for (const std::string &p : paths) {
        const Entry *l = find(m_local, p);
        const Entry *r = find(m_remote, p);
        const Entry *b = find(m_base, p);
        if (sameContent(l, r))
            continue;
        if ((r && ignored(p, r->state.type == EntryType::Directory))
            || (l && ignored(p, l->state.type == EntryType::Directory)))
            continue;
        const bool lChanged = !sameContent(l, b);
        const bool rChanged = !sameContent(r, b);
        if (!rChanged)
            continue; // a local change: pushed as in one-way mode
        FsError err;
        // A directory on one side where the other has a file: the directory keeps the path
        // (it may hold much), the file is kept beside it as a conflict copy. Nothing is lost.
        if (l && r && l->state.type != r->state.type
            && (l->state.type == EntryType::Directory || r->state.type == EntryType::Directory)) {
            if (l->state.type == EntryType::Directory) {
                const std::string copy = freeConflictName(p, m_local, m_remote);
                if (r->state.type == EntryType::File && !pull(p, *r, copy, nullptr, report, error))
                    return false;
                if (r->state.type == EntryType::File && !m_local.count(copy))
                    continue; // the remote file is not safe here yet: keep it there for now
                pushAllowed.insert(p);
                noteConflict(p, p + ": a folder on one side, a file on the other; the file is kept as " + copy, report);
            } else {
                fileGivesWayToFolder(p, r->state.mode | 0700, report);
            }
            continue;
        }
        if (lChanged) {
            // Both sides changed it since they last agreed.
            if (!l && r) {
                // Deleted here, edited there: keep the edit.
            } else if (!r) {
                pushAllowed.insert(p); // deleted there, edited here: keep the edit
                continue;
            } else if (l->state.type == EntryType::Directory && r->state.type == EntryType::Directory) {
                continue;
            } else {
                if (r->state.type == EntryType::File) {
                    const std::string copy = freeConflictName(p, m_local, m_remote);
                    if (!pull(p, *r, copy, nullptr, report, error))
                        return false;
                    if (!m_local.count(copy))
                        continue; // the remote version is not safe here yet: do not replace it
                    noteConflict(p, p + ": changed on both sides; the remote version is kept as " + copy, report);
                } else {
                    noteConflict(p, p + ": changed on both sides; the local version wins", report);
                }
                pushAllowed.insert(p);
                continue;
            }
        }
        // Bring the remote change here, recreating folders deleted here that the replica
        // still fills (its new content is kept rather than deleted with them).
        if (r) {
            for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
                const std::string parent = p.substr(0, slash);
                auto have = m_local.find(parent);
                if (have != m_local.end() && have->second.state.type == EntryType::Directory)
                    continue;
                // A file here where the replica's new content needs a folder: the folder wins.
                if (!fileGivesWayToFolder(parent, 0755, report))
                    break;
            }
        }
        if (!r) {
            if (m_opt.deleteProtection)
                continue; // the local copy stays, and is sent back
            if (l->state.type == EntryType::Directory) {
                removeLocalDirs.push_back(p);
            } else if (m_local_root.removeFile(p, l->state, &err)) {
                m_local.erase(p);
            } else if (m_log) {
                m_log(err.message);
            }
            continue;
        }
        if (l && l->state.type != r->state.type && l->state.type != EntryType::Directory) {
            if (!m_local_root.removeFile(p, l->state, &err)) {
                if (m_log)
                    m_log(err.message);
                continue;
            }
            m_local.erase(p);
            l = nullptr;
        }
        switch (r->state.type) {
        case EntryType::Directory:
            if (m_local_root.makeDirectory(p, r->state.mode | 0700, &err)) {
                if (auto e = describe(m_local_root, p, {}, &err))
                    m_local[p] = *e;
            } else if (m_log) {
                m_log(err.message);
            }
            break;
        case EntryType::File:
            if (!pull(p, *r, p, l, report, error))
                return false;
            break;
        case EntryType::Symlink:
            if (m_local_root.makeSymlink(p, r->linkTarget, l ? l->state : FileState {}, &err)) {
                if (auto e = describe(m_local_root, p, {}, &err))
                    m_local[p] = *e;
                if (report)
                    ++report->pulled;
            } else if (m_log) {
                m_log(err.message);
            }
            break;
        default:
            break;
        }
    }
    std::sort(removeLocalDirs.begin(), removeLocalDirs.end(),
              [](const std::string &a, const std::string &b) { return depth(a) > depth(b); });
    for (const std::string &d : removeLocalDirs) {
        FsError err;
        if (m_local_root.removeDirectory(d, &err))
            m_local.erase(d);
    }
    return true;
}

bool SourceSession::reconcile(const std::set<std::string> &dirtyIn, SyncReport *report, std::string *error)
{
    // Collapse dirty paths covered by a dirty ancestor.
    std::set<std::string> dirtyAll = dirtyIn;
    dirtyAll.insert(m_remoteDirty.begin(), m_remoteDirty.end());
    m_remoteDirty.clear();
    std::vector<std::string> dirty;
    for (const std::string &d : dirtyAll) {
        if (!dirty.empty() && isUnder(d, dirty.back()))
            continue;
        dirty.push_back(d);
    }
    ScanOptions scan;
    scan.ignore = m_opt.ignore;
    scan.previous = &m_local;
    scan.previousScanNs = m_lastScanNs;
    const int64_t scanStart = nowNs();
    Manifest previous; // for hash reuse, since scanning replaces entries in m_local
    auto warn = [this](const std::string &w) {
        if (m_log)
            m_log(w);
    };
    // Whole-tree scans hash only what a comparison needs: files the replica also has, and files
    // the size of one of the replica's (a rename candidate). A new file is hashed while it is
    // sent instead of being read twice.
    std::set<uint64_t> remoteFileSizes;
    for (const auto &[p, e] : m_remote) {
        if (e.state.type == EntryType::File)
            remoteFileSizes.insert(e.state.size);
    }
    bool wholeTree = false;
    bool prescanned = false;
    for (const std::string &d : dirty) {
        if (d.empty() && m_localPrescanned) {
            m_localPrescanned = false; // scanned while the agent scanned
            wholeTree = true;
            prescanned = true;
            continue;
        }
        if (d.empty()) {
            wholeTree = true;
            m_indexUnchanged = false;
            previous = m_local;
            if (previous.empty() && !m_indexPath.empty()) {
                int64_t when = 0;
                if (loadManifest(m_indexPath, previous, &when))
                    scan.previousScanNs = when;
            }
            scan.previous = &previous;
            scan.needHash = [&](const Entry &e) {
                return m_remote.count(e.path) > 0 || m_base.count(e.path) > 0
                    || remoteFileSizes.count(e.state.size) > 0;
            };
            scanTree(m_local_root, {}, scan, m_local, nullptr, warn);
            scan.needHash = nullptr;
            continue;
        }
        FsError err;
        auto e = describe(m_local_root, d, scan, &err);
        // Drop the old view of d and below.
        for (auto it = m_local.lower_bound(d); it != m_local.end() && isUnder(it->first, d);)
            it = m_local.erase(it);
        if (!e || !e->state.exists() || ignored(d, e->state.type == EntryType::Directory))
            continue;
        if (e->state.type == EntryType::Other)
            continue;
        if (e->state.type == EntryType::Symlink && !SafeRoot::symlinkStaysInside(d, e->linkTarget)) {
            warn(d + ": skipped: the symlink points outside the folder (" + e->linkTarget + ")");
            continue;
        }
        m_local[d] = *e;
        if (e->state.type == EntryType::Directory) {
            Manifest sub;
            scanTree(m_local_root, d, scan, sub, nullptr, warn);
            m_local.insert(sub.begin(), sub.end());
        }
    }
    if (!prescanned)
        m_lastScanNs = scanStart;

    // Halt rather than empty the replica because the local folder looks empty.
    if (!m_opt.allowEmptySource && m_local.empty()) {
        size_t remoteSynced = 0;
        for (const auto &[p, e] : m_remote)
            remoteSynced += ignored(p, e.state.type == EntryType::Directory) ? 0 : 1;
        if (remoteSynced > 0) {
            *error = "halted: the local folder is empty but the remote one has " + std::to_string(remoteSynced)
                + " entries; not deleting them (was the folder unmounted or replaced?)";
            emit(SyncStatus::Phase::Halted, *error);
            return false;
        }
    }

    // Two-way: first bring what changed on the replica here (and settle conflicts).
    std::set<std::string> pushAllowed;
    if (m_opt.twoWay && !pullPhase(dirty, pushAllowed, report, error)) {
        emit(SyncStatus::Phase::Error, *error);
        return false;
    }
    // In two-way mode the replica's entry may only be replaced or removed when it is what
    // both sides last agreed on, or a conflict was settled for it.
    auto mayReplace = [&](const std::string &p, const Entry *re) {
        return !m_opt.twoWay || pushAllowed.count(p) || sameContent(re, find(m_base, p));
    };

    // Plan.
    std::vector<Op> ops;
    std::multimap<std::string, std::string> removedByHash; // hash hex -> remote path
    std::set<std::string> removeFiles, removeDirs;
    std::vector<std::string> createdFiles;
    std::set<std::string> visited; // only needed when several scopes may overlap
    const bool trackVisited = dirty.size() > 1;
    auto planEntry = [&](const std::string &p, const Entry *le, const Entry *re) {
        if (trackVisited && !visited.insert(p).second)
            return;
        if (re && !le && ignored(p, re->state.type == EntryType::Directory))
            return; // ignored here: whatever the replica has there is not ours to touch
        if (re && !sameContent(le, re) && !mayReplace(p, re))
            return; // changed on the replica: settled by the pull phase first
        if (!le && re) {
            if (re->state.type == EntryType::Directory) {
                removeDirs.insert(p);
            } else {
                removeFiles.insert(p);
                if (re->state.type == EntryType::File)
                    removedByHash.emplace(hashHex(re->hash), p);
            }
            return;
        }
        if (!le)
            return;
        const EntryType lt = le->state.type;
        if (re && re->state.type != lt) {
            if (re->state.type == EntryType::Directory) {
                removeDirs.insert(p); // emptied by the removals below it, then replaced late
                ops.push_back({Op::PutLate, p, {}, re->state});
                return;
            }
            ops.push_back({Op::RemoveEarly, p, {}, re->state});
            re = nullptr;
        }
        if (lt == EntryType::Directory) {
            if (!re)
                ops.push_back({Op::MakeDir, p, {}, {}});
        } else if (lt == EntryType::Symlink) {
            if (!re || re->linkTarget != le->linkTarget)
                ops.push_back({Op::Symlink, p, {}, re ? re->state : FileState {}});
        } else if (lt == EntryType::File) {
            if (!re) {
                createdFiles.push_back(p);
            } else if (re->hash != le->hash || re->state.size != le->state.size) {
                ops.push_back({Op::Put, p, {}, re->state});
            } else if (re->state.executable() != le->state.executable()) {
                ops.push_back({Op::SetExec, p, {}, re->state});
            }
        }
    };
    for (const std::string &d : dirty) {
        if (!d.empty())
            planEntry(d, find(m_local, d), find(m_remote, d));
        // Both sides below d, walked together in path order: each path once, no lookups.
        const std::string prefix = d.empty() ? std::string() : d + '/';
        auto li = m_local.lower_bound(prefix);
        auto ri = m_remote.lower_bound(prefix);
        for (;;) {
            const bool lDone = li == m_local.end() || !isUnder(li->first, d);
            const bool rDone = ri == m_remote.end() || !isUnder(ri->first, d);
            if (lDone && rDone)
                break;
            const int c = lDone ? 1 : rDone ? -1 : li->first.compare(ri->first);
            planEntry(c <= 0 ? li->first : ri->first, c <= 0 ? &li->second : nullptr, c >= 0 ? &ri->second : nullptr);
            if (c <= 0)
                ++li;
            if (c >= 0)
                ++ri;
        }
    }
    // New files whose content the replica already has under a removed name: rename there.
    for (const std::string &p : createdFiles) {
        const Entry &le = m_local[p];
        auto it = hashKnown(le.hash) ? removedByHash.find(hashHex(le.hash)) : removedByHash.end();
        if (it != removedByHash.end() && removeFiles.count(it->second)) {
            const Entry &re = m_remote[it->second];
            if (re.state.size == le.state.size) {
                ops.push_back({Op::Rename, it->second, p, re.state});
                removeFiles.erase(it->second);
                removedByHash.erase(it);
                if (re.state.executable() != le.state.executable())
                    ops.push_back({Op::SetExec, p, {}, FileState {}}); // expected filled after the rename
                continue;
            }
        }
        ops.push_back({Op::Put, p, {}, FileState {}});
    }
    for (const std::string &p : removeFiles)
        ops.push_back({Op::RemoveFile, p, {}, m_remote[p].state});
    std::vector<std::string> dirs(removeDirs.begin(), removeDirs.end());
    std::sort(dirs.begin(), dirs.end(), [](const std::string &a, const std::string &b) { return depth(a) > depth(b); });
    for (const std::string &p : dirs)
        ops.push_back({Op::RemoveDir, p, {}, m_remote[p].state});
    std::stable_sort(ops.begin(), ops.end(), [](const Op &a, const Op &b) {
        if (a.kind != b.kind)
            return a.kind < b.kind;
        if (a.kind == Op::MakeDir)
            return a.path < b.path;
        return false;
    });
    const bool ok = ops.empty() || execute(ops, report, error);
    if (ops.empty())
        emit(SyncStatus::Phase::Idle);
    m_lastRoundOps = ops.size();
    if (ok && wholeTree && !m_indexPath.empty() && !(ops.empty() && m_indexUnchanged)) {
        Hash128 saved {}; // after sending: the hashes made then are in
        m_savedLocalDigest = saveManifest(m_indexPath, m_local, m_lastScanNs, &saved) ? saved : Hash128 {};
    }
    m_indexUnchanged = false;
    if (ok && m_opt.twoWay) {
        // What both sides now agree on becomes the base for the next round.
        std::set<std::string> paths;
        for (const std::string &d : dirty) {
            for (const Manifest *m : {&m_local, &m_remote, &m_base}) {
                for (auto it = m->lower_bound(d); it != m->end() && isUnder(it->first, d); ++it)
                    paths.insert(it->first);
            }
        }
        for (const std::string &p : paths) {
            const Entry *l = find(m_local, p);
            if (sameContent(l, find(m_remote, p))) {
                if (l)
                    m_base[p] = *l;
                else
                    m_base.erase(p);
            }
        }
    }
    return ok;
}

bool SourceSession::sendData(uint32_t id, const uint8_t *data, size_t size, SyncReport *report, std::string *error)
{
    const bool zstd = m_opt.compress && (m_peerCaps & CapZstd);
    std::vector<uint8_t> packed;
    for (size_t off = 0; off < size;) {
        const size_t n = std::min<size_t>(kDataChunk, size - off);
        FrameWriter frame(MsgType::PutData);
        frame.u32(id);
        appendChunk(frame, data + off, n, zstd, packed);
        if (!m_ch.queue(frame)) {
            *error = m_ch.error();
            return false;
        }
        off += n;
        m_state.bytesDone += n;
        if (report)
            report->dataBytes += n;
    }
    return true;
}

bool SourceSession::sendFile(uint32_t id, const Entry &local, const Entry *remote, SyncReport *report,
                             std::string *error, const FrameFn &onOtherFrame)
{
    FsError err;
    const int fd = m_local_root.openRead(local.path, &err);
    if (fd < 0) {
        if (m_log)
            m_log(err.message + " (skipped; it will be sent when it is readable)");
        return true;
    }
    struct stat st
    {
    };
    ::fstat(fd, &st);
    const uint64_t size = uint64_t(st.st_size);
    struct Closer
    {
        int fd;
        ~Closer() { ::close(fd); }
    } closer {fd};
    // Large files the replica already has a version of go as a delta against it.
    struct Sig
    {
        uint32_t weak;
        uint64_t strong;
    };
    std::vector<Sig> sigs;
    uint32_t blockSize = 0;
    const bool tryDelta = remote && remote->state.type == EntryType::File && size >= kDeltaThreshold
        && remote->state.size >= kDeltaThreshold && size <= kMaxDeltaFile;
    if (tryDelta) {
        blockSize = deltaBlockSize(remote->state.size);
        const uint32_t reqId = m_nextId++;
        FrameWriter req(MsgType::BlockSigRequest);
        req.u32(reqId).str(local.path).u32(blockSize).state(remote->state);
        if (!m_ch.send(req)) {
            *error = m_ch.error();
            return false;
        }
        for (;;) {
            auto f = m_ch.receive();
            if (!f) {
                *error = m_ch.error();
                return false;
            }
            if (f->first != MsgType::BlockSigs) {
                if (!onOtherFrame(f->first, f->second))
                    return false;
                continue;
            }
            FrameReader r(f->second.data(), f->second.size());
            if (r.u32() != reqId) {
                *error = "protocol error: unexpected BlockSigs";
                return false;
            }
            if (r.u8() == 1) {
                const uint32_t bs = r.u32();
                const uint32_t count = r.u32();
                if (!r.ok() || bs != blockSize || count > kMaxBlocks) {
                    *error = "protocol error: malformed BlockSigs";
                    return false;
                }
                sigs.resize(count);
                for (Sig &sg : sigs) {
                    sg.weak = r.u32();
                    sg.strong = r.u64();
                }
                if (!r.ok()) {
                    *error = "protocol error: malformed BlockSigs";
                    return false;
                }
            }
            break;
        }
    }
    // The delta works on the whole content in memory, read with read(): a file shortened by
    // someone meanwhile gives a short read, never a crash.
    std::vector<uint8_t> content;
    if (!sigs.empty()) {
        content.resize(size);
        uint64_t got = 0;
        while (got < size) {
            const ssize_t n = ::pread(fd, content.data() + got, size_t(size - got), off_t(got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += uint64_t(n);
        }
        if (got != size)
            sigs.clear(); // changed under us: send it whole, as it is now
        content.resize(got);
    }
    const bool delta = !sigs.empty() && remote != nullptr; // (sigs exist only for a remote file)
    const uint8_t *map = content.data();

    FrameWriter begin(MsgType::PutBegin);
    begin.u32(id).str(local.path).u64(size).u32(uint32_t(st.st_mode & 07777)).i64(stateFromStat(st).mtimeNs);
    begin.state(remote ? remote->state : FileState {}).u8(delta ? PutDelta : 0);
    if (!m_ch.queue(begin)) {
        *error = m_ch.error();
        return false;
    }
    Hasher wholeHasher;
    uint64_t sentWhole = 0;
    if (!delta) {
        // One reused buffer (a fresh 1 MiB vector per file would be zero-filled every time);
        // a small file is read with one call.
        // Uncompressed, the data is read straight into the outgoing frame.
        const bool zstd = m_opt.compress && (m_peerCaps & CapZstd);
        std::vector<uint8_t> &buf = m_readBuffer;
        if (zstd && buf.size() < kDataChunk)
            buf.resize(kDataChunk);
        while (sentWhole < size) { // never more than announced, even if it grows meanwhile
            const size_t want = size_t(std::min<uint64_t>(kDataChunk, size - sentWhole));
            if (!zstd) {
                uint8_t *payload = m_ch.beginFrame(MsgType::PutData, 5 + want);
                for (int i = 0; i < 4; ++i)
                    payload[i] = uint8_t(id >> (8 * i));
                payload[4] = 0; // not compressed (see appendChunk)
                const ssize_t n = ::read(fd, payload + 5, want);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break; // the frame begun is dropped
                wholeHasher.update(payload + 5, size_t(n));
                sentWhole += uint64_t(n);
                m_state.bytesDone += uint64_t(n);
                if (report)
                    report->dataBytes += uint64_t(n);
                if (!m_ch.endFrame(5 + size_t(n))) {
                    *error = m_ch.error();
                    return false;
                }
                continue;
            }
            const ssize_t n = ::read(fd, buf.data(), want);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            wholeHasher.update(buf.data(), size_t(n));
            sentWhole += uint64_t(n);
            if (!sendData(id, buf.data(), size_t(n), report, error))
                return false;
        }
    } else {
        // rsync's algorithm: a rolling weak sum finds candidate blocks, the strong sum confirms.
        std::unordered_multimap<uint32_t, uint32_t> byWeak;
        byWeak.reserve(sigs.size() * 2);
        for (uint32_t i = 0; i < sigs.size(); ++i)
            byWeak.emplace(sigs[i].weak, i);
        const uint64_t B = blockSize;
        const uint64_t remoteSize = remote->state.size;
        uint64_t pos = 0, literalStart = 0;
        uint64_t copyOffset = 0, copyLength = 0; // pending run of copied bytes
        auto flushCopy = [&]() -> bool {
            if (copyLength == 0)
                return true;
            FrameWriter c(MsgType::PutCopy);
            c.u32(id).u64(copyOffset).u64(copyLength);
            copyLength = 0;
            if (!m_ch.queue(c)) {
                *error = m_ch.error();
                return false;
            }
            return true;
        };
        auto blockLen = [&](uint32_t i) { return uint64_t(std::min<uint64_t>(B, remoteSize - uint64_t(i) * B)); };
        uint32_t expectNext = 0;
        uint32_t a = 0, b = 0;
        bool windowValid = false;
        while (pos + B <= size) {
            if (!windowValid) {
                const uint32_t w = weakSum(map + pos, size_t(B));
                a = w & 0xffff;
                b = w >> 16;
                windowValid = true;
            }
            const uint32_t weak = (a & 0xffff) | (b << 16);
            int64_t match = -1;
            // The next block in order is the usual case (an edit in place): try it first.
            if (expectNext < sigs.size() && blockLen(expectNext) == B && sigs[expectNext].weak == weak
                && sigs[expectNext].strong == strongSum(map + pos, size_t(B))) {
                match = expectNext;
            } else {
                auto range = byWeak.equal_range(weak);
                if (range.first != range.second) {
                    const uint64_t strong = strongSum(map + pos, size_t(B));
                    for (auto it = range.first; it != range.second; ++it) {
                        if (blockLen(it->second) == B && sigs[it->second].strong == strong) {
                            match = it->second;
                            break;
                        }
                    }
                }
            }
            if (match >= 0) {
                if (pos > literalStart) {
                    if (!flushCopy() || !sendData(id, map + literalStart, size_t(pos - literalStart), report, error))
                        return false;
                }
                const uint64_t off = uint64_t(match) * B;
                if (copyLength > 0 && copyOffset + copyLength == off) {
                    copyLength += B;
                } else {
                    if (!flushCopy())
                        return false;
                    copyOffset = off;
                    copyLength = B;
                }
                pos += B;
                literalStart = pos;
                expectNext = uint32_t(match) + 1;
                windowValid = false;
                continue;
            }
            // Roll one byte.
            const uint8_t out = map[pos];
            const uint8_t in = pos + B < size ? map[pos + B] : 0;
            a = (a - out + in) & 0xffff;
            b = (b - uint32_t(B) * out + a) & 0xffff;
            ++pos;
        }
        // The tail: maybe the old file's last (short) block, else literal.
        const uint64_t tail = size - literalStart;
        const uint32_t last = sigs.empty() ? 0 : uint32_t(sigs.size() - 1);
        if (tail > 0 && tail < B && !sigs.empty() && blockLen(last) == tail
            && sigs[last].weak == weakSum(map + literalStart, size_t(tail))
            && sigs[last].strong == strongSum(map + literalStart, size_t(tail))) {
            if (copyLength > 0 && copyOffset + copyLength == uint64_t(last) * B) {
                copyLength += tail;
            } else {
                if (!flushCopy())
                    return false;
                copyOffset = uint64_t(last) * B;
                copyLength = tail;
            }
        } else if (tail > 0) {
            if (!flushCopy() || !sendData(id, map + literalStart, size_t(tail), report, error))
                return false;
        }
        if (!flushCopy())
            return false;
    }
    // What was sent is what the hash covers. (A file that changed size meanwhile makes the
    // replica refuse the transfer as incomplete; its next change event sends it again.)
    Hash128 digest;
    if (!delta) {
        digest = wholeHasher.digest();
    } else {
        Hasher hasher;
        hasher.update(map, content.size());
        digest = hasher.digest();
    }
    if (!hashKnown(local.hash) && stateFromStat(st).sameAs(local.state))
        m_local[local.path].hash = digest; // hashed while sending, as scanned
    FrameWriter end(MsgType::PutEnd);
    end.u32(id).hash(digest);
    if (!m_ch.queue(end)) {
        *error = m_ch.error();
        return false;
    }
    return true;
}

bool SourceSession::execute(std::vector<Op> &ops, SyncReport *report, std::string *error)
{
    m_state.filesTotal = ops.size();
    m_state.filesDone = 0;
    m_state.bytesDone = 0;
    m_state.bytesTotal = 0;
    for (const Op &op : ops) {
        if (op.kind == Op::Put || op.kind == Op::PutLate)
            m_state.bytesTotal += m_local[op.path].state.size;
    }
    emit(SyncStatus::Phase::Syncing);
    const uint64_t sentBefore = m_ch.bytesSent();
    std::unordered_map<uint32_t, const Op *> pending;
    std::unordered_map<uint32_t, std::string> renameFrom;
    auto handleResult = [&](const std::vector<uint8_t> &payload) -> bool {
        FrameReader r(payload.data(), payload.size());
        const uint32_t id = r.u32();
        const auto status = ResultStatus(r.u8());
        Entry e = r.entry();
        const std::string message = r.str(65536);
        const bool hashKnown = r.u8() != 0;
        if (!r.ok()) {
            *error = "protocol error: malformed Result";
            return false;
        }
        auto it = pending.find(id);
        if (it == pending.end())
            return true; // a barrier
        const Op *op = it->second;
        pending.erase(it);
        if (e.state.type == EntryType::File && !hashKnown) {
            // Content untouched by the operation (a mode change, a rename): the hash is the old one.
            auto before = m_remote.find(op->kind == Op::Rename ? op->path : e.path);
            if (before != m_remote.end() && before->second.state.size == e.state.size)
                e.hash = before->second.hash;
        }
        ++m_state.filesDone;
        if (!e.path.empty()) {
            std::string why;
            if (!isSafeRelativePath(e.path, &why)) {
                *error = "protocol error: the agent sent a bad path";
                return false;
            }
            if (e.state.exists())
                m_remote[e.path] = e;
            else
                m_remote.erase(e.path);
        }
        if (status == ResultStatus::Ok) {
            if (op->kind == Op::Rename)
                m_remote.erase(op->path);
            if (op->kind == Op::RemoveFile || op->kind == Op::RemoveDir || op->kind == Op::RemoveEarly) {
                m_remote.erase(op->path);
            }
            if (report) {
                switch (op->kind) {
                case Op::MakeDir:
                case Op::Symlink:
                    ++report->created;
                    break;
                case Op::Put:
                case Op::PutLate:
                    (op->expected.exists() ? report->updated : report->created)++;
                    break;
                case Op::Rename:
                    ++report->renamed;
                    break;
                case Op::SetExec:
                    ++report->modeChanges;
                    break;
                default:
                    ++report->removed;
                }
            }
        } else {
            if (status == ResultStatus::Changed)
                m_state.conflicts.push_back(op->path);
            if (report)
                report->problems.push_back(message);
            if (m_log)
                m_log(message);
        }
        return true;
    };
    // Frames that arrive while operations run: results, changes on the replica, a fatal error.
    // `barrierId` (when non-zero) is the barrier being waited for; returns 1 when it arrived.
    auto dispatch = [&](MsgType type, const std::vector<uint8_t> &payload, uint32_t barrierId) -> int {
        if (type == MsgType::RemoteChanged)
            return absorbRemoteChanged(payload, error) ? 0 : -1;
        if (type == MsgType::Fatal) {
            FrameReader r(payload.data(), payload.size());
            *error = "agent: " + r.str(4096);
            return -1;
        }
        if (type != MsgType::Result) {
            *error = "protocol error: unexpected frame";
            return -1;
        }
        FrameReader peek(payload.data(), payload.size());
        if (barrierId != 0 && peek.u32() == barrierId)
            return 1;
        return handleResult(payload) ? 0 : -1;
    };
    auto drain = [&]() -> bool {
        while (auto f = m_ch.buffered()) {
            if (dispatch(f->first, f->second, 0) < 0)
                return false;
        }
        return true;
    };
    // Ops of one kind may run in any order, kinds in sequence: wait between kinds that depend
    // on each other (directories before what goes in them, removals of contents before rmdir).
    Op::Kind phase = ops.empty() ? Op::MakeDir : ops.front().kind;
    auto barrier = [&]() -> bool {
        if (!m_ch.flush()) {
            *error = m_ch.error();
            return false;
        }
        const uint32_t id = m_nextId++;
        FrameWriter b(MsgType::Barrier);
        b.u32(id);
        if (!m_ch.send(b)) {
            *error = m_ch.error();
            return false;
        }
        for (;;) {
            auto f = m_ch.receive();
            if (!f) {
                *error = m_ch.error();
                return false;
            }
            const int d = dispatch(f->first, f->second, id);
            if (d != 0)
                return d > 0;
        }
    };
    for (Op &op : ops) {
        if (op.kind != phase) {
            const bool dependent = phase == Op::RemoveEarly || phase == Op::MakeDir || phase == Op::Rename
                || op.kind == Op::RemoveDir || op.kind == Op::PutLate || op.kind == Op::SetExec;
            if (dependent && !barrier())
                return false;
            phase = op.kind;
        }
        if (!drain())
            return false;
        const uint32_t id = m_nextId++;
        pending[id] = &op;
        const Entry *remote = nullptr;
        auto rit = m_remote.find(op.path);
        if (rit != m_remote.end())
            remote = &rit->second;
        switch (op.kind) {
        case Op::MakeDir: {
            FrameWriter f(MsgType::MakeDir);
            f.u32(id).str(op.path).u32(m_local[op.path].state.mode);
            if (!m_ch.queue(f)) {
                *error = m_ch.error();
                return false;
            }
            break;
        }
        case Op::PutLate:
            if (m_local[op.path].state.type == EntryType::Symlink) {
                FrameWriter f(MsgType::MakeSymlink);
                f.u32(id).str(op.path).str(m_local[op.path].linkTarget).state(FileState {});
                if (!m_ch.queue(f)) {
                    *error = m_ch.error();
                    return false;
                }
                break;
            }
            [[fallthrough]];
        case Op::Put:
            if (!sendFile(id, m_local[op.path], op.kind == Op::PutLate ? nullptr : remote, report, error,
                          [&](MsgType t, const std::vector<uint8_t> &payload) { return dispatch(t, payload, 0) == 0; }))
                return false;
            break;
        case Op::Symlink: {
            FrameWriter f(MsgType::MakeSymlink);
            f.u32(id).str(op.path).str(m_local[op.path].linkTarget).state(remote ? remote->state : FileState {});
            if (!m_ch.queue(f)) {
                *error = m_ch.error();
                return false;
            }
            break;
        }
        case Op::SetExec: {
            const std::string &p = op.path;
            const Entry *cur = remote;
            FrameWriter f(MsgType::SetExec);
            f.u32(id).str(p).u8(m_local[p].state.executable() ? 1 : 0).state(cur ? cur->state : op.expected);
            if (!m_ch.queue(f)) {
                *error = m_ch.error();
                return false;
            }
            break;
        }
        case Op::Rename: {
            FrameWriter f(MsgType::Rename);
            f.u32(id).str(op.path).str(op.to).state(op.expected);
            if (!m_ch.queue(f)) {
                *error = m_ch.error();
                return false;
            }
            break;
        }
        case Op::RemoveEarly:
        case Op::RemoveFile:
        case Op::RemoveDir: {
            FrameWriter f(MsgType::Remove);
            f.u32(id).str(op.path).state(op.expected);
            if (!m_ch.queue(f)) {
                *error = m_ch.error();
                return false;
            }
            break;
        }
        }
    }
    if (!barrier())
        return false;
    if (report)
        report->bytesSent += m_ch.bytesSent() - sentBefore;
    emit(SyncStatus::Phase::Idle);
    return true;
}

bool SourceSession::watch(const volatile std::sig_atomic_t *stop, std::string *error)
{

    auto watcher = makeWatcher(m_local_root.path(), error);
    if (!watcher)
        return false;
    std::set<std::string> watchedDirs;
    // Watches the directories now known; returns those newly watched. Anything created in
    // them before their watch existed is found by scanning them once more.
    auto syncWatches = [&]() {
        std::vector<std::string> dirs {std::string()};
        std::set<std::string> now {std::string()};
        std::set<std::string> added;
        for (const auto &[p, e] : m_local) {
            if (e.state.type == EntryType::Directory) {
                dirs.push_back(p);
                now.insert(p);
                if (!watchedDirs.count(p))
                    added.insert(p);
            }
        }
        watchedDirs = std::move(now);
        watcher->setDirectories(dirs);
        if (!watcher->unwatched().empty() && m_log) {
            m_log("cannot watch " + std::to_string(watcher->unwatched().size())
                  + " folders (raise fs.inotify.max_user_watches); changes there are found by rescans only");
        }
        return added;
    };
    syncWatches();
    // Changes made between the full sync and the watches being in place.
    std::set<std::string> dirty {std::string()};
    sigset_t stopSignals, previousMask, waitMask;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stopSignals, &previousMask);
    waitMask = previousMask;
    sigdelset(&waitMask, SIGINT);
    sigdelset(&waitMask, SIGTERM);
    struct RestoreMask
    {
        sigset_t mask;
        ~RestoreMask() { ::pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
    } restoreMask {previousMask};
    using Clock = std::chrono::steady_clock;
    bool ok = true;
    bool stateDirty = false;
    bool trimPending = true; // the initial sync's scans and buffers are freed by now
    auto lastSave = Clock::now();
    while (!*stop) {
        dirty.insert(m_remoteDirty.begin(), m_remoteDirty.end()); // reported while busy
        if (!dirty.empty()) {
            SyncReport report;
            if (!reconcile(dirty, &report, error)) {
                ok = false;
                break;
            }
            if (dirty.count(std::string()) || m_lastRoundOps > kTrimAfterOps)
                trimPending = true; // a whole-tree round or a large one (a branch switch)
            // Re-listing the watched folders walks the whole manifest: only when a folder came or went.
            bool foldersChanged = false;
            for (const std::string &d : dirty) {
                const Entry *e = find(m_local, d);
                const bool isFolder = e && e->state.type == EntryType::Directory;
                foldersChanged = foldersChanged || d.empty() || isFolder != (watchedDirs.count(d) > 0);
            }
            if (foldersChanged)
                dirty = syncWatches();
            else
                dirty.clear();
            stateDirty = true;
            continue;
        }
        if (stateDirty && Clock::now() - lastSave > std::chrono::seconds(2)) {
            saveState(nullptr);
            stateDirty = false;
            lastSave = Clock::now();
        }
        if (trimPending && !m_ch.hasBufferedFrame()) {
            // About to idle: a large round's memory goes back first.
            releaseFreeMemory();
            trimPending = false;
        }
        pollfd p[2] = {{watcher->fd(), POLLIN, 0}, {m_ch.readFd(), POLLIN, 0}};
        // No wake-ups while idle; a frame already buffered is served at once. SIGINT and SIGTERM
        // are blocked except inside this wait, so one that arrives just before it still ends it.
        const timespec zero {0, 0};
        const int rc = ::ppoll(p, 2, m_ch.hasBufferedFrame() ? &zero : nullptr, &waitMask);
        if (rc < 0 && errno != EINTR) {
            *error = std::string("poll: ") + std::strerror(errno);
            ok = false;
            break;
        }
        while ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) || m_ch.hasBufferedFrame()) {
            p[1].revents = 0;
            auto f = m_ch.receive(0);
            if (!f && m_ch.timedOut())
                break;
            if (!f && !m_ch.timedOut()) {
                *error = "the agent went away: " + m_ch.error();
                ok = false;
                break;
            }
            if (f && f->first == MsgType::Fatal) {
                FrameReader r(f->second.data(), f->second.size());
                *error = "agent: " + r.str(4096);
                ok = false;
                break;
            }
            if (f && f->first == MsgType::RemoteChanged) {
                if (!absorbRemoteChanged(f->second, error)) {
                    ok = false;
                    break;
                }
                dirty.insert(m_remoteDirty.begin(), m_remoteDirty.end());
                continue;
            }
        }
        if (!ok)
            break; // the agent is gone or failed: end here, do not spin
        if (!(p[0].revents & POLLIN))
            continue;
        // Collect events until a quiet window passes, or the cap.
        const auto first = Clock::now();
        bool rescanAll = false, rootGone = false;
        for (;;) {
            watcher->readEvents(dirty, rescanAll, rootGone);
            const auto sinceFirst = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - first).count();
            if (sinceFirst >= m_opt.capMs)
                break;
            pollfd w {watcher->fd(), POLLIN, 0};
            if (::poll(&w, 1, int(std::min<long long>(m_opt.quietMs, m_opt.capMs - sinceFirst))) <= 0)
                break; // quiet
        }
        if (rootGone) {
            *error = "halted: the local folder was removed or moved";
            emit(SyncStatus::Phase::Halted, *error);
            ok = false;
            break;
        }
        if (rescanAll)
            dirty = {std::string()};
        if (m_opt.ignore) {
            std::set<std::string> extra;
            for (const std::string &d : dirty) {
                if (m_opt.ignore->isRulesFile(d)) {
                    m_opt.ignore->invalidate(d);
                    const size_t slash = d.rfind('/');
                    extra.insert(slash == std::string::npos ? std::string() : d.substr(0, slash));
                }
            }
            dirty.insert(extra.begin(), extra.end());
        }
    }
    if (stateDirty)
        saveState(nullptr);
    return ok;
}

bool SourceSession::inSync(std::vector<std::string> *differences, size_t limit) const
{
    if (m_nothingToDo)
        return true; // both sides as the last session left them: identical
    bool same = true;
    auto note = [&](const std::string &d) {
        same = false;
        if (differences && differences->size() < limit)
            differences->push_back(d);
    };
    // Both manifests in path order, side by side.
    auto r = m_remote.begin();
    for (const auto &[p, l] : m_local) {
        while (r != m_remote.end() && r->first < p) {
            if (!ignored(r->first, r->second.state.type == EntryType::Directory))
                note(r->first + ": only on the remote side");
            ++r;
        }
        if (r == m_remote.end() || r->first != p) {
            note(p + ": missing on the remote side");
            continue;
        }
        const Entry &re = (r++)->second;
        if (re.state.type != l.state.type)
            note(p + ": different type");
        else if (l.state.type == EntryType::File && (re.hash != l.hash || re.state.size != l.state.size))
            note(p + ": different content");
        else if (l.state.type == EntryType::File && re.state.executable() != l.state.executable())
            note(p + ": different executable bit");
        else if (l.state.type == EntryType::Symlink && re.linkTarget != l.linkTarget)
            note(p + ": different symlink target");
    }
    for (; r != m_remote.end(); ++r) {
        if (!ignored(r->first, r->second.state.type == EntryType::Directory))
            note(r->first + ": only on the remote side");
    }
    return same;
}

namespace {

// The words of a command that /bin/sh would run as they are: a program given by its path (a
// word with a '/', so no builtin and no PATH search) and arguments, all made only of characters
// the shell gives no meaning to, separated by spaces. Empty for anything else.
std::vector<std::string> plainWords(const std::string &command)
{
    std::vector<std::string> words;
    std::string word;
    for (char c : command + ' ') {
        const auto u = static_cast<unsigned char>(c);
        if (c == ' ') {
            if (!word.empty())
                words.push_back(std::move(word));
            word.clear();
        } else if (std::isalnum(u) || std::strchr("_./:@,+=%-", c)) {
            word += c;
        } else {
            return {};
        }
    }
    if (words.empty() || words[0].find('/') == std::string::npos || words[0].find('=') != std::string::npos)
        return {};
    return words;
}

} // namespace

int spawnCommand(const std::string &command, int *readFd, int *writeFd, std::string *error)
{
    int toChild[2], fromChild[2];
    if (::pipe2(toChild, O_CLOEXEC) != 0 || ::pipe2(fromChild, O_CLOEXEC) != 0) {
        *error = std::string("pipe: ") + std::strerror(errno);
        return -1;
    }
    // A plain command is started directly, as the shell would start it: one process (and one
    // exec) less. Anything else goes through /bin/sh -c. posix_spawn, not fork: this process
    // may be large.
    std::vector<std::string> words = plainWords(command);
    if (words.empty())
        words = {"/bin/sh", "-c", command};
    std::vector<char *> argv;
    for (std::string &w : words)
        argv.push_back(w.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, toChild[0], 0);
    ::posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(toChild[0]);
    ::close(fromChild[1]);
    if (rc != 0) {
        ::close(toChild[1]);
        ::close(fromChild[0]);
        *error = words[0] + ": " + std::strerror(rc);
        return -1;
    }
    // Larger pipes mean fewer wake-ups of either side while files stream through (best effort:
    // the system may cap the size).
    ::fcntl(toChild[1], F_SETPIPE_SZ, 1 << 20);
    ::fcntl(fromChild[0], F_SETPIPE_SZ, 1 << 20);
    *writeFd = toChild[1];
    *readFd = fromChild[0];
    return int(pid);
}

} // namespace iterdeck::sync
