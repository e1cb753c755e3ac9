#pragma once
// kubectl exec over WebSocket: v5.channel.k8s.io preferred, v4.channel.k8s.io as fallback.
// stdin/stdout/stderr with back-pressure, the exit code, TTY resize, stdin half-close (v5).
// Facts: shared/reference/kube-protocol.md §5.
#include "kubeerror.h"
#include "transport.h"

#include <QObject>
#include <QStringList>

#include <memory>

namespace iterdeck::kube {

struct ExecOptions
{
    QString ns;
    QString pod;
    QString container; // empty = the server's choice (callers default it as kubectl does)
    QStringList command;
    bool stdinEnabled = false;
    bool stdoutEnabled = true;
    bool stderrEnabled = true; // ignored with tty (the terminal merges it)
    bool tty = false;
    // Subprotocols to offer, in order: empty = v5.channel.k8s.io, v4.channel.k8s.io. Only
    // these two are spoken; anything else makes start() fail.
    QStringList protocols;
    int handshakeTimeoutMs = 30000; // connecting, TLS and the server's answer to the upgrade
};

class ExecSession : public QObject
{
    Q_OBJECT
public:
    explicit ExecSession(QObject *parent = nullptr);
    ~ExecSession() override;

    // Opens the stream. started() or finished() with an error follows (never from inside
    // start()). Stdin written and a resize requested before started() are sent once it is.
    void start(const Transport &transport, const ExecOptions &options);
    QString protocol() const; // the negotiated subprotocol, once started

    // Queues stdin bytes; stdinBytesToWrite() tells how much is not yet on the wire (handed
    // to the connection, whose own buffer is kept under 1 MiB); stdinBytesWritten() reports
    // progress, so writers can keep stdinBytesToWrite() small instead of queueing everything.
    void writeStdin(const QByteArray &data);
    qint64 stdinBytesToWrite() const;
    // Half-closes stdin (v5) once everything queued before it is sent. Under v4 there is no way
    // to signal EOF; returns false then (before started() it returns true and, should v4 be
    // negotiated, stdin stays open).
    bool closeStdin();
    // With tty: the terminal's size (channel 4); the latest size asked before started() is sent then.
    void resize(int columns, int rows);

    // Output is buffered until read; while more than readBufferLimit() bytes are unread the
    // socket is not read (TCP back-pressure reaches the server), so memory stays bounded.
    QByteArray readStdout(qint64 maxSize = -1);
    QByteArray readStderr(qint64 maxSize = -1);
    qint64 stdoutAvailable() const;
    qint64 stderrAvailable() const;
    void setReadBufferLimit(qint64 bytes); // default 4 MiB
    qint64 readBufferLimit() const;

    // Ends the session from this side: finished() with a Cancelled error, from inside abort().
    void abort();

    // Valid once finished: exit code (0..255), or -1 when the command's end is unknown.
    int exitCode() const;
    const KubeError &error() const; // kind None on a clean finish (any exit code)

Q_SIGNALS:
    void started();
    void stdoutReady();
    void stderrReady();
    void stdinBytesWritten(qint64 bytes);
    // Exactly once. After it, remaining output can still be read.
    void finished();

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::kube
