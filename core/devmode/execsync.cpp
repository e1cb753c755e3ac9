#include "execsync.h"

#include "kube/kubeclient.h"
#include "logging.h"
#include "sync/ignore.h"
#include "sync/source.h"

#include <QFileInfo>
#include <QPointer>
#include <QSocketNotifier>

#include <atomic>
#include <csignal>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace iterdeck::devmode {

using namespace iterdeck::kube;

QString phaseName(SyncProgress::Phase phase)
{
    switch (phase) {
    case SyncProgress::Phase::Connecting:
        return QStringLiteral("connecting");
    case SyncProgress::Phase::Scanning:
        return QStringLiteral("scanning");
    case SyncProgress::Phase::Syncing:
        return QStringLiteral("syncing");
    case SyncProgress::Phase::Idle:
        return QStringLiteral("idle");
    case SyncProgress::Phase::Halted:
        return QStringLiteral("halted");
    case SyncProgress::Phase::Error:
        return QStringLiteral("error");
    }
    return {};
}

namespace {
constexpr qint64 kChunk = 256 * 1024;
constexpr qint64 kStdinHigh = 4 * 1024 * 1024; // stop reading the engine above this much unsent
constexpr qint64 kStdinLow = 1024 * 1024;
} // namespace

class ExecSync::Private
{
public:
    ExecSync *q;
    KubeClient *client;
    ExecOptions exec;
    SyncSettings settings;
    ExecSession *session = nullptr;
    // toAgent: engine writes [1], we read [0]. fromAgent: we write [1], engine reads [0].
    int toAgent[2] = {-1, -1};
    int fromAgent[2] = {-1, -1};
    std::unique_ptr<QSocketNotifier> readEngine, writeEngine;
    QByteArray pendingToEngine;
    std::thread worker;
    volatile std::sig_atomic_t stopFlag = 0;
    std::atomic<bool> initialDone {false};
    bool running = false;
    bool finishedEmitted = false;
    bool stopping = false;
    QString engineError;
    QString execError; // the stream could not be opened
    bool engineEnded = false;
    bool execEnded = false;

    void closeFd(int &fd)
    {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }

    void pumpToEngine()
    {
        // Write what is pending, then take more from the exec session while the pipe has room.
        while (fromAgent[1] >= 0) {
            if (pendingToEngine.isEmpty()) {
                if (!session || session->stdoutAvailable() == 0)
                    break;
                pendingToEngine = session->readStdout(kChunk);
            }
            const ssize_t n = ::write(fromAgent[1], pendingToEngine.constData(), size_t(pendingToEngine.size()));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN) {
                    writeEngine->setEnabled(true);
                    return;
                }
                closeFd(fromAgent[1]); // the engine is gone
                return;
            }
            pendingToEngine.remove(0, n);
        }
        if (writeEngine)
            writeEngine->setEnabled(false);
        if (execEnded && pendingToEngine.isEmpty() && session && session->stdoutAvailable() == 0)
            closeFd(fromAgent[1]); // everything the agent said is delivered: now the engine sees the end
    }

    void readFromEngine()
    {
        char buf[kChunk];
        for (;;) {
            const ssize_t n = ::read(toAgent[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break; // EAGAIN
            if (n == 0) {
                readEngine->setEnabled(false);
                if (session)
                    session->closeStdin();
                return;
            }
            if (session)
                session->writeStdin(QByteArray(buf, n));
            if (session && session->stdinBytesToWrite() > kStdinHigh) {
                readEngine->setEnabled(false);
                return;
            }
        }
    }

    void runEngine(QPointer<ExecSync> self, int readFd, int writeFd)
    {
        using namespace iterdeck::sync;
        auto post = [self](std::function<void(ExecSync *)> fn) {
            QMetaObject::invokeMethod(
                self.data(),
                [self, fn = std::move(fn)] {
                    if (self)
                        fn(self.data());
                },
                Qt::QueuedConnection);
        };
        std::string error;
        bool ok = false;
        {
            FsError fsError;
            auto root = SafeRoot::open(settings.localDir.toStdString(), &fsError);
            std::unique_ptr<IgnoreRules> rules;
            if (!root) {
                error = fsError.message;
            } else if (settings.gitIgnore) {
                rules = makeGitIgnoreRules(QFileInfo(settings.localDir).absoluteFilePath().toStdString(),
                                           settings.syncGit);
            } else {
                std::vector<std::string> files, ignores;
                for (const QString &p : std::as_const(settings.filePattern))
                    files.push_back(p.toStdString());
                for (const QString &p : std::as_const(settings.ignoreFilePattern))
                    ignores.push_back(p.toStdString());
                rules = makePatternRules(files, ignores, settings.syncGit, &error);
            }
            if (root && rules) {
                Channel channel(readFd, writeFd);
                SourceOptions options;
                options.ignore = rules.get();
                options.twoWay = settings.twoWay;
                options.deleteProtection = settings.deleteProtection;
                options.compress = settings.compress;
                auto status = [post](const SyncStatus &s) {
                    SyncProgress p;
                    p.phase = static_cast<SyncProgress::Phase>(static_cast<int>(s.phase));
                    p.filesDone = s.filesDone;
                    p.filesTotal = s.filesTotal;
                    p.bytesDone = s.bytesDone;
                    p.bytesTotal = s.bytesTotal;
                    for (const auto &c : s.conflicts)
                        p.conflicts << QString::fromStdString(c);
                    p.message = QString::fromStdString(s.message);
                    post([p](ExecSync *q) { Q_EMIT q->progress(p); });
                };
                auto log = [post](const std::string &line) {
                    const QString l = QString::fromStdString(line);
                    post([l](ExecSync *q) { Q_EMIT q->log(l); });
                };
                SourceSession source(*root, channel, options, status, log);
                if (!settings.indexPath.isEmpty())
                    source.setIndexPath(settings.indexPath.toStdString());
                if (settings.twoWay && !settings.statePath.isEmpty())
                    source.setStatePath(settings.statePath.toStdString());
                SyncReport report;
                if (source.handshake(&error) && source.fullSync(&report, &error)) {
                    initialDone = true;
                    const quint64 files = report.created + report.updated, bytes = report.bytesSent;
                    post([files, bytes](ExecSync *q) { Q_EMIT q->initialSyncDone(files, bytes); });
                    ok = source.watch(&stopFlag, &error);
                    source.saveRemoteIndex();
                }
                source.saveState(nullptr);
            }
        }
        ::close(readFd);
        ::close(writeFd);
        const QString message = ok ? QString() : QString::fromStdString(error);
        post([message](ExecSync *q) { q->d->engineFinished(message); });
    }

    void engineFinished(const QString &message)
    {
        engineEnded = true;
        engineError = message;
        if (session && !execEnded)
            session->abort(); // the engine is done: nothing more to say to the agent
        maybeFinish();
    }

    void maybeFinish()
    {
        if (!engineEnded || !execEnded || finishedEmitted)
            return;
        if (worker.joinable())
            worker.join();
        finishedEmitted = true;
        running = false;
        QString error;
        if (!stopping) {
            const KubeError e = session ? session->error() : KubeError();
            if (!execError.isEmpty())
                error = QStringLiteral("the exec stream ended: ") + execError;
            else if (e.isError() && e.kind != KubeError::Kind::Cancelled)
                error = QStringLiteral("the exec stream ended: ") + e.toString();
            else if (!engineError.isEmpty())
                error = engineError;
            else
                error = QStringLiteral("the agent ended (exit code %1)").arg(session ? session->exitCode() : -1);
        }
        Q_EMIT q->finished(error);
    }
};

ExecSync::ExecSync(KubeClient *client, ExecOptions exec, SyncSettings settings, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>())
{
    qRegisterMetaType<SyncProgress>();
    d->q = this;
    d->client = client;
    d->exec = std::move(exec);
    d->exec.stdinEnabled = true;
    d->exec.stdoutEnabled = true;
    d->exec.stderrEnabled = true;
    d->exec.tty = false;
    d->settings = std::move(settings);
}

ExecSync::~ExecSync()
{
    d->stopping = true;
    d->stopFlag = 1;
    d->closeFd(d->fromAgent[1]);
    d->closeFd(d->toAgent[0]);
    if (d->worker.joinable())
        d->worker.join();
    if (d->session) {
        d->session->disconnect(this);
        d->session->abort();
    }
}

bool ExecSync::isRunning() const
{
    return d->running;
}

bool ExecSync::isInitialSyncDone() const
{
    return d->initialDone;
}

void ExecSync::start()
{
    std::signal(SIGPIPE, SIG_IGN); // a write to a closed pipe is an error value, not a signal
    if (::pipe2(d->toAgent, O_CLOEXEC) != 0 || ::pipe2(d->fromAgent, O_CLOEXEC) != 0) {
        d->engineEnded = d->execEnded = true;
        d->engineError = QStringLiteral("cannot make pipes: %1").arg(QString::fromLocal8Bit(std::strerror(errno)));
        d->finishedEmitted = true;
        QMetaObject::invokeMethod(
            this, [this] { Q_EMIT finished(d->engineError); }, Qt::QueuedConnection);
        return;
    }
    ::fcntl(d->toAgent[0], F_SETFL, O_NONBLOCK);
    ::fcntl(d->fromAgent[1], F_SETFL, O_NONBLOCK);
    d->running = true;
    d->session = new ExecSession(this);
    d->readEngine = std::make_unique<QSocketNotifier>(d->toAgent[0], QSocketNotifier::Read);
    d->writeEngine = std::make_unique<QSocketNotifier>(d->fromAgent[1], QSocketNotifier::Write);
    d->writeEngine->setEnabled(false);
    connect(d->readEngine.get(), &QSocketNotifier::activated, this, [this] { d->readFromEngine(); });
    connect(d->writeEngine.get(), &QSocketNotifier::activated, this, [this] { d->pumpToEngine(); });
    connect(d->session, &ExecSession::stdoutReady, this, [this] { d->pumpToEngine(); });
    connect(d->session, &ExecSession::stdinBytesWritten, this, [this] {
        if (d->readEngine && !d->readEngine->isEnabled() && d->toAgent[0] >= 0
            && d->session->stdinBytesToWrite() < kStdinLow)
            d->readEngine->setEnabled(true);
    });
    connect(d->session, &ExecSession::stderrReady, this, [this] {
        const QList<QByteArray> lines = d->session->readStderr().split('\n');
        for (const QByteArray &l : lines) {
            if (!l.trimmed().isEmpty())
                Q_EMIT log(QString::fromUtf8(l));
        }
    });
    connect(d->session, &ExecSession::finished, this, [this] {
        d->execEnded = true;
        d->stopFlag = 1;
        if (d->readEngine)
            d->readEngine->setEnabled(false);
        d->pumpToEngine(); // delivers the rest, then closes the engine's input
        if (d->pendingToEngine.isEmpty())
            d->closeFd(d->fromAgent[1]);
        d->maybeFinish();
    });
    d->client->transport(this, [this](const Expected<Transport, KubeError> &t) {
        if (!t) {
            d->execError = t.error().toString();
            d->execEnded = true;
            d->stopFlag = 1;
            d->closeFd(d->fromAgent[1]);
            d->maybeFinish();
            return;
        }
        d->session->start(*t, d->exec);
    });
    const int readFd = d->fromAgent[0], writeFd = d->toAgent[1];
    d->fromAgent[0] = d->toAgent[1] = -1; // the engine owns (and closes) these
    QPointer<ExecSync> self(this);
    d->worker = std::thread([this, self, readFd, writeFd] { d->runEngine(self, readFd, writeFd); });
}

void ExecSync::stop()
{
    if (!d->running || d->stopping)
        return;
    d->stopping = true;
    d->stopFlag = 1;
    d->closeFd(d->fromAgent[1]); // the engine's next poll sees the end
    d->readEngine.reset();
    d->closeFd(d->toAgent[0]); // and a write of its gets EPIPE instead of waiting for room
    if (d->session && !d->execEnded)
        d->session->abort();
}

} // namespace iterdeck::devmode
