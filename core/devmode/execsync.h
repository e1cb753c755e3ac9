#pragma once
// One sync session over a Kubernetes exec stream: the agent runs in the container with its
// stdio on the exec channels, and the sync engine (core/sync, blocking, no Qt) runs in a
// thread of its own, talking to the exec session through a pair of pipes. Both directions
// keep their back-pressure: the pipes are read only while the other side has room.
#include "kube/exec.h"

#include <QObject>
#include <QStringList>

#include <memory>

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::devmode {

struct SyncSettings
{
    QString localDir;
    bool twoWay = false;
    bool deleteProtection = true;
    bool gitIgnore = false;
    bool syncGit = false;
    QStringList filePattern; // only these (empty = everything)
    QStringList ignoreFilePattern;
    QString indexPath; // the local scan, kept between sessions
    QString statePath; // two-way: the agreed state, kept between sessions
    bool compress = true;
};

// The status of the sync, as the engine reports it (copied out of its thread).
struct SyncProgress
{
    enum class Phase { Connecting, Scanning, Syncing, Idle, Halted, Error };
    Phase phase = Phase::Connecting;
    quint64 filesDone = 0, filesTotal = 0, bytesDone = 0, bytesTotal = 0;
    QStringList conflicts;
    QString message;
};
QString phaseName(SyncProgress::Phase phase);

class ExecSync : public QObject
{
    Q_OBJECT
public:
    // `exec` names the pod, the container and the agent command line (`AGENT serve --root DIR`).
    ExecSync(kube::KubeClient *client, kube::ExecOptions exec, SyncSettings settings, QObject *parent = nullptr);
    ~ExecSync() override; // stops and joins the sync thread

    void start();
    // Ends the session; finished() follows (with an empty error).
    void stop();
    bool isRunning() const;
    bool isInitialSyncDone() const;

Q_SIGNALS:
    void progress(const iterdeck::devmode::SyncProgress &status);
    void initialSyncDone(quint64 filesSent, quint64 bytesSent);
    void log(const QString &line);
    // Exactly once. `error` is empty after stop(); else why the session ended (the stream
    // dropped, the pod went away, the engine halted).
    void finished(const QString &error);

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::devmode

Q_DECLARE_METATYPE(iterdeck::devmode::SyncProgress)
