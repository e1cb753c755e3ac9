#include "exec.h"

#include "channelprotocol.h"
#include "logging.h"
#include "websocketclient.h"

#include <QPointer>
#include <QUrl>

#include <deque>

namespace iterdeck::kube {

namespace {

// Stdin goes out in messages of at most this size (the API server's read limit is far above).
constexpr qsizetype StdinMessageSize = 256 * 1024;
// Stdin is framed only while the connection holds less than this unsent.
constexpr qint64 WriteHighWater = 1024 * 1024;

// Output of one channel: whole messages as received (no copy), the channel byte skipped.
class OutputBuffer
{
public:
    void append(const QByteArray &message, qsizetype offset)
    {
        m_chunks.push_back({message, offset});
        m_size += message.size() - offset;
    }
    qint64 size() const { return m_size; }
    QByteArray read(qint64 maxSize)
    {
        const qint64 n = maxSize < 0 ? m_size : std::min(maxSize, m_size);
        QByteArray out;
        if (n == 0)
            return out;
        out.reserve(qsizetype(n));
        while (out.size() < n) {
            Chunk &c = m_chunks.front();
            const qsizetype take = std::min<qsizetype>(c.data.size() - c.pos, qsizetype(n) - out.size());
            out.append(c.data.constData() + c.pos, take);
            c.pos += take;
            if (c.pos == c.data.size())
                m_chunks.pop_front();
        }
        m_size -= n;
        return out;
    }

private:
    struct Chunk
    {
        QByteArray data;
        qsizetype pos = 0;
    };
    std::deque<Chunk> m_chunks;
    qint64 m_size = 0;
};

QByteArray pathSegment(const QString &s)
{
    return QUrl::toPercentEncoding(s);
}

} // namespace

class ExecSession::Private
{
public:
    explicit Private(ExecSession *q)
        : q(q)
    { }

    void onOpened();
    void onMessage(const QByteArray &payload);
    void onClosed();
    void pumpStdin();
    void schedulePump();
    void updatePause();
    void finish(int exitCode, const KubeError &error);
    void failLater(const KubeError &error);

    ExecSession *q;
    ExecOptions options;
    WebSocketClient *ws = nullptr;
    enum class Phase { Idle, Connecting, Running, Finished } phase = Phase::Idle;
    bool v5 = false;

    std::deque<QByteArray> stdinQueue;
    qsizetype stdinHeadPos = 0; // bytes of stdinQueue.front() already sent
    qint64 stdinQueued = 0;
    bool stdinCloseRequested = false;
    bool stdinCloseSent = false;
    bool pumpScheduled = false;
    std::optional<std::pair<int, int>> pendingResize;

    OutputBuffer out[2]; // stdout, stderr
    qint64 readLimit = 4 * 1024 * 1024;
    QByteArray status;
    bool statusSeen = false;

    int exitCode = -1;
    KubeError error;
};

ExecSession::ExecSession(QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this))
{ }

ExecSession::~ExecSession()
{
    if (d->ws) {
        d->ws->disconnect(this);
        d->ws->abort();
    }
}

void ExecSession::start(const Transport &transport, const ExecOptions &options)
{
    Q_ASSERT(d->phase == Private::Phase::Idle);
    d->options = options;
    d->phase = Private::Phase::Connecting;
    const QStringList protocols = options.protocols.isEmpty()
        ? QStringList {QLatin1String(channel::ProtocolV5), QLatin1String(channel::ProtocolV4)}
        : options.protocols;
    for (const QString &p : protocols) {
        if (p != QLatin1String(channel::ProtocolV5) && p != QLatin1String(channel::ProtocolV4))
            return d->failLater(KubeError::make(KubeError::Kind::Config,
                                                QStringLiteral("exec speaks v5.channel.k8s.io and v4.channel.k8s.io, "
                                                               "not \"%1\"")
                                                    .arg(p)));
    }
    if (options.pod.isEmpty() || options.ns.isEmpty())
        return d->failLater(
            KubeError::make(KubeError::Kind::Config, QStringLiteral("exec needs a namespace and a pod")));
    if (options.command.isEmpty())
        return d->failLater(KubeError::make(KubeError::Kind::Config, QStringLiteral("exec needs a command")));
    const bool wantStderr = options.stderrEnabled && !options.tty;
    if (!options.stdinEnabled && !options.stdoutEnabled && !wantStderr)
        return d->failLater(KubeError::make(KubeError::Kind::Config,
                                            QStringLiteral("exec needs at least one of stdin, stdout and stderr")));

    // As kubectl sends it: keys in alphabetical order, false values left out.
    QByteArray target = "/api/v1/namespaces/" + pathSegment(options.ns) + "/pods/" + pathSegment(options.pod) + "/exec";
    QByteArray query;
    auto add = [&query](const char *key, const QString &value) {
        query += (query.isEmpty() ? "?" : "&") + QByteArray(key) + '=' + QUrl::toPercentEncoding(value);
    };
    for (const QString &c : options.command)
        add("command", c);
    if (!options.container.isEmpty())
        add("container", options.container);
    if (wantStderr)
        add("stderr", QStringLiteral("true"));
    if (options.stdinEnabled)
        add("stdin", QStringLiteral("true"));
    if (options.stdoutEnabled)
        add("stdout", QStringLiteral("true"));
    if (options.tty)
        add("tty", QStringLiteral("true"));

    WebSocketOptions wo;
    wo.protocols = protocols;
    wo.handshakeTimeoutMs = options.handshakeTimeoutMs;
    d->ws = new WebSocketClient(this);
    connect(d->ws, &WebSocketClient::opened, this, [this] { d->onOpened(); });
    connect(d->ws, &WebSocketClient::messageReceived, this,
            [this](const QByteArray &payload, bool) { d->onMessage(payload); });
    connect(d->ws, &WebSocketClient::bytesWritten, this, [this] { d->pumpStdin(); });
    connect(d->ws, &WebSocketClient::closed, this, [this] { d->onClosed(); });
    d->ws->open(transport, target + query, wo);
}

QString ExecSession::protocol() const
{
    return d->ws ? d->ws->protocol() : QString();
}

void ExecSession::Private::failLater(const KubeError &e)
{
    QMetaObject::invokeMethod(
        q, [this, e] { finish(-1, e); }, Qt::QueuedConnection);
}

void ExecSession::Private::onOpened()
{
    phase = Phase::Running;
    v5 = ws->protocol() == QLatin1String(channel::ProtocolV5);
    if (stdinCloseRequested && !v5)
        qCWarning(lcKube) << "exec: the server speaks" << ws->protocol() << "which cannot close stdin; it stays open";
    qCDebug(lcKube) << "exec: started in" << options.pod << "with" << ws->protocol();
    QPointer<ExecSession> guard(q);
    Q_EMIT q->started();
    if (!guard || phase != Phase::Running)
        return;
    if (pendingResize) {
        const auto [w, h] = *pendingResize;
        pendingResize.reset();
        q->resize(w, h);
    }
    pumpStdin();
}

void ExecSession::Private::onMessage(const QByteArray &payload)
{
    if (payload.isEmpty() || phase != Phase::Running)
        return;
    const auto ch = static_cast<quint8>(payload[0]);
    switch (ch) {
    case channel::Stdout:
    case channel::Stderr: {
        if (payload.size() == 1)
            return; // the "connected" signal real servers send first
        const int i = ch == channel::Stdout ? 0 : 1;
        out[i].append(payload, 1);
        updatePause();
        if (i == 0)
            Q_EMIT q->stdoutReady();
        else
            Q_EMIT q->stderrReady();
        return;
    }
    case channel::Status:
        statusSeen = true;
        if (status.size() < 64 * 1024)
            status.append(QByteArrayView(payload).sliced(1));
        return;
    default:
        // 255 (a half-close, which servers do not send) and channels this session did not open.
        qCDebug(lcKube) << "exec: ignored a message on channel" << ch;
        return;
    }
}

void ExecSession::Private::updatePause()
{
    if (!ws)
        return;
    ws->setReadPaused(out[0].size() + out[1].size() > readLimit);
}

void ExecSession::Private::onClosed()
{
    if (phase == Phase::Finished)
        return;
    if (statusSeen) {
        const channel::ExecResult r = channel::parseExecStatus(status);
        finish(r.exitCode, r.error);
        return;
    }
    if (ws->error().isError()) {
        finish(-1, ws->error());
        return;
    }
    QString how = QStringLiteral("close code %1").arg(ws->closeCode());
    if (!ws->closeReason().isEmpty())
        how += QStringLiteral(": ") + ws->closeReason();
    finish(-1,
           KubeError::make(KubeError::Kind::Protocol,
                           QStringLiteral("the exec stream from %1 ended without the command's exit status (%2)")
                               .arg(ws->peer(), how)));
}

void ExecSession::Private::finish(int code, const KubeError &e)
{
    if (phase == Phase::Finished)
        return;
    phase = Phase::Finished;
    exitCode = code;
    error = e;
    stdinQueue.clear();
    stdinQueued = 0;
    if (e.isError())
        qCDebug(lcKube) << "exec: finished with" << e.message;
    Q_EMIT q->finished();
}

void ExecSession::writeStdin(const QByteArray &data)
{
    if (data.isEmpty() || d->phase == Private::Phase::Finished)
        return;
    if (!d->options.stdinEnabled) {
        qCWarning(lcKube) << "exec: stdin written to a session without stdin; dropped";
        return;
    }
    if (d->stdinCloseRequested) {
        qCWarning(lcKube) << "exec: stdin written after closeStdin(); dropped";
        return;
    }
    d->stdinQueue.push_back(data);
    d->stdinQueued += data.size();
    d->schedulePump();
}

void ExecSession::Private::schedulePump()
{
    if (pumpScheduled || phase != Phase::Running)
        return;
    pumpScheduled = true;
    // Not from inside writeStdin: stdinBytesWritten() would call back into the writer.
    QMetaObject::invokeMethod(
        q,
        [this] {
            pumpScheduled = false;
            pumpStdin();
        },
        Qt::QueuedConnection);
}

void ExecSession::Private::pumpStdin()
{
    if (phase != Phase::Running)
        return;
    qint64 sent = 0;
    while (!stdinQueue.empty() && ws->bytesToWrite() < WriteHighWater) {
        const QByteArray &head = stdinQueue.front();
        const qsizetype n = std::min<qsizetype>(StdinMessageSize, head.size() - stdinHeadPos);
        static const char stdinChannel = char(channel::Stdin);
        ws->sendBinary(QByteArrayView(&stdinChannel, 1), QByteArrayView(head).sliced(stdinHeadPos, n));
        stdinHeadPos += n;
        sent += n;
        if (stdinHeadPos == head.size()) {
            stdinQueue.pop_front();
            stdinHeadPos = 0;
        }
    }
    stdinQueued -= sent;
    if (stdinQueue.empty() && stdinCloseRequested && !stdinCloseSent && v5) {
        const char close[2] = {char(channel::Close), char(channel::Stdin)};
        ws->sendBinary(QByteArrayView(close, 2));
        stdinCloseSent = true;
    }
    if (sent > 0)
        Q_EMIT q->stdinBytesWritten(sent);
}

qint64 ExecSession::stdinBytesToWrite() const
{
    return d->stdinQueued;
}

bool ExecSession::closeStdin()
{
    if (d->phase == Private::Phase::Finished)
        return false;
    if ((d->phase == Private::Phase::Running && !d->v5) || !d->options.stdinEnabled)
        return false;
    d->stdinCloseRequested = true;
    d->schedulePump();
    return true;
}

void ExecSession::resize(int columns, int rows)
{
    if (!d->options.tty || columns <= 0 || rows <= 0)
        return;
    if (d->phase == Private::Phase::Connecting || d->phase == Private::Phase::Idle) {
        d->pendingResize = std::make_pair(columns, rows);
        return;
    }
    if (d->phase != Private::Phase::Running)
        return;
    static const char resizeChannel = char(channel::Resize);
    d->ws->sendBinary(QByteArrayView(&resizeChannel, 1), channel::resizePayload(columns, rows));
}

QByteArray ExecSession::readStdout(qint64 maxSize)
{
    QByteArray data = d->out[0].read(maxSize);
    d->updatePause();
    return data;
}

QByteArray ExecSession::readStderr(qint64 maxSize)
{
    QByteArray data = d->out[1].read(maxSize);
    d->updatePause();
    return data;
}

qint64 ExecSession::stdoutAvailable() const
{
    return d->out[0].size();
}

qint64 ExecSession::stderrAvailable() const
{
    return d->out[1].size();
}

void ExecSession::setReadBufferLimit(qint64 bytes)
{
    d->readLimit = std::max<qint64>(0, bytes);
    d->updatePause();
}

qint64 ExecSession::readBufferLimit() const
{
    return d->readLimit;
}

void ExecSession::abort()
{
    if (d->phase == Private::Phase::Finished)
        return;
    if (d->ws) {
        d->ws->disconnect(this);
        d->ws->abort();
    }
    d->finish(-1, KubeError::make(KubeError::Kind::Cancelled, QStringLiteral("exec cancelled")));
}

int ExecSession::exitCode() const
{
    return d->exitCode;
}

const KubeError &ExecSession::error() const
{
    return d->error;
}

} // namespace iterdeck::kube
