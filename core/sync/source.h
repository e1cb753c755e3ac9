#pragma once

// The sending end of a one-way ("send") sync: keeps a replica identical to a local tree.
// Event-driven (inotify), no polling while idle. No Qt.

#include "channel.h"
#include "ignore.h"
#include "scanner.h"

#include <csignal>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace iterdeck::sync {

struct SourceOptions
{
    IgnoreRules *ignore = nullptr;
    bool compress = true; // zstd for file data, when the replica supports it
    int quietMs = 10; // a change is sent once no other arrives for this long...
    int capMs = 30; // ...or this long after the first one at the latest
    bool allowEmptySource = false; // else an empty local folder halts instead of deleting everything
    bool twoWay = false; // "sendReceive": changes on the replica come back too
    bool deleteProtection = true; // two-way: a deletion on the replica never deletes a local file
    bool once = false; // a single pass: the replica need not watch
    // Identifies the settings that decide what is synced (the ignore rules). When set, a one-way
    // --once run that finds both sides exactly as the last run left them (identical) does nothing.
    std::string settingsFingerprint;
};

// What the UIs show. Emitted on every change of phase and after each batch.
struct SyncStatus
{
    enum class Phase { Connecting, Scanning, Syncing, Idle, Halted, Error };
    Phase phase = Phase::Connecting;
    uint64_t filesDone = 0, filesTotal = 0, bytesDone = 0, bytesTotal = 0;
    std::vector<std::string> conflicts; // paths changed on the replica meanwhile (kept there)
    std::string message; // the reason for Halted / Error
};
const char *phaseName(SyncStatus::Phase phase);

struct SyncReport
{
    uint64_t created = 0, updated = 0, removed = 0, renamed = 0, modeChanges = 0;
    uint64_t bytesSent = 0, dataBytes = 0;
    uint64_t pulled = 0, conflicts = 0;
    std::vector<std::string> problems;
};

class SourceSession
{
public:
    using StatusFn = std::function<void(const SyncStatus &)>;
    using LogFn = std::function<void(const std::string &)>;

    SourceSession(SafeRoot &local, Channel &channel, SourceOptions options, StatusFn status, LogFn log);
    ~SourceSession();
    SourceSession(const SourceSession &) = delete;
    SourceSession &operator=(const SourceSession &) = delete;

    // Two-way: where the agreed state is kept between runs, so that a restart knows what
    // was deleted meanwhile (instead of bringing it back) and raises no false conflicts.
    void setStatePath(const std::string &path) { m_statePath = path; }
    // Where the local scan (states and hashes) is kept between runs; a restart on an
    // unchanged tree then re-reads no file.
    void setIndexPath(const std::string &path) { m_indexPath = path; }
    bool saveState(std::string *error) const;
    // Keeps what the replica holds (next to the index), for the next session: when the agent
    // finds its tree exactly as remembered, it says so instead of sending its whole manifest.
    // Call at the end of a session.
    void saveRemoteIndex();

    // With an index, this also starts comparing the local tree with it, so that the comparison
    // overlaps the agent's start; fullSync uses the outcome.
    bool handshake(std::string *error);
    // Brings the replica to the local tree's state. False on a halt or a lost connection.
    bool fullSync(SyncReport *report, std::string *error);
    // Re-examines the given paths ("" = everything) and sends what changed.
    bool reconcile(const std::set<std::string> &dirty, SyncReport *report, std::string *error);
    // Watches the local tree and syncs every change until `*stop` becomes non-zero.
    bool watch(const volatile std::sig_atomic_t *stop, std::string *error);

    // True when the replica (as last reported) holds exactly the local tree; else lists
    // up to `limit` differences.
    bool inSync(std::vector<std::string> *differences, size_t limit = 20) const;

    const Manifest &localManifest() const { return m_local; }
    const Manifest &remoteManifest() const { return m_remote; }

private:
    struct Op;
    struct LocalCheck;
    // Compares the local tree with the saved index on a thread of its own (stat only), from the
    // handshake on; finishLocalCheck waits for the outcome.
    void startLocalCheck();
    std::unique_ptr<LocalCheck> finishLocalCheck();
    bool fetchRemote(std::string *error);
    // `same`, when given, accepts a ManifestSame answer instead of entries.
    bool readEntries(Manifest &into, std::string *error, bool *same = nullptr);
    bool absorbRemoteChanged(const std::vector<uint8_t> &payload, std::string *error);
    bool pull(const std::string &path, const Entry &remote, const std::string &localName, const Entry *localNow,
              SyncReport *report, std::string *error);
    void noteConflict(const std::string &path, const std::string &message, SyncReport *report);
    // Moves the local file at `path` (if any) aside as a conflict copy and makes a folder there.
    bool fileGivesWayToFolder(const std::string &path, uint32_t mode, SyncReport *report);
    bool pullPhase(const std::vector<std::string> &scope, std::set<std::string> &pushPaths, SyncReport *report,
                   std::string *error);
    bool execute(std::vector<Op> &ops, SyncReport *report, std::string *error);
    using FrameFn = std::function<bool(MsgType, const std::vector<uint8_t> &)>;
    bool sendFile(uint32_t id, const Entry &local, const Entry *remote, SyncReport *report, std::string *error,
                  const FrameFn &onOtherFrame);
    bool sendData(uint32_t id, const uint8_t *data, size_t size, SyncReport *report, std::string *error);
    void emit(SyncStatus::Phase phase, const std::string &message = {});
    bool ignored(const std::string &path, bool isDir) const;

    SafeRoot &m_local_root;
    Channel &m_ch;
    SourceOptions m_opt;
    StatusFn m_status;
    LogFn m_log;
    uint32_t m_peerCaps = 0;
    uint32_t m_nextId = 1;
    Manifest m_local;
    Manifest m_remote;
    Manifest m_base; // two-way: the state both sides last agreed on
    size_t m_lastRoundOps = 0; // operations the last reconcile sent
    std::set<std::string> m_remoteDirty; // two-way: paths the replica reported as changed
    std::string m_statePath;
    std::string m_indexPath;
    bool m_localPrescanned = false; // the whole-tree scan was done while the agent scanned
    bool m_indexUnchanged = false; // that scan found everything as the index had it
    bool loadState();
    int64_t m_lastScanNs = 0;
    std::vector<uint8_t> m_readBuffer; // file data on its way out
    Hash128 m_savedRemoteDigest {}; // of the remembered replica manifest, as saved or loaded
    bool m_remoteKnown = false; // m_remote holds the replica's whole manifest
    Hash128 m_savedLocalDigest {}; // of the local index as saved or loaded
    bool m_nothingToDo = false; // both sides as the last run left them identical: no manifests loaded
    std::unique_ptr<LocalCheck> m_localCheck; // running from the handshake until fetchRemote
    SyncStatus m_state;
};

// Starts `/bin/sh -c command` with its stdin and stdout connected to pipes. Returns the pid.
int spawnCommand(const std::string &command, int *readFd, int *writeFd, std::string *error);

} // namespace iterdeck::sync
