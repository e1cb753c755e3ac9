#pragma once
// Pod logs: once, or followed. A followed stream that breaks while the container still runs is
// reopened from the last line's timestamp, and lines already delivered are skipped, so a
// reconnect neither loses nor repeats a line (lines are told apart by their timestamps).
#include "kubeclient.h"
#include "kubeerror.h"

#include <QDateTime>
#include <QObject>
#include <QPointer>

class QNetworkReply;

namespace iterdeck::kube {

struct LogOptions
{
    QString ns;
    QString pod;
    QString container; // empty: the pod's only container (the server says when it must be named)
    bool follow = false;
    int tailLines = -1;
    int sinceSeconds = -1;
    QDateTime sinceTime; // invalid = not set
    bool timestamps = false; // keep the RFC 3339 prefix in the output
    bool previous = false;
    qint64 limitBytes = -1;
    bool reconnect = true; // with follow: reopen a broken stream while the container runs
};

class LogStream : public QObject
{
    Q_OBJECT
public:
    LogStream(KubeClient *client, LogOptions options, QObject *parent = nullptr);
    ~LogStream() override;

    void start();
    void stop();
    int reconnects() const { return m_reconnects; }
    const KubeError &error() const { return m_error; }

Q_SIGNALS:
    // Whole lines (with their '\n'), except possibly a last line without one at the very end.
    void data(const QByteArray &lines);
    // Exactly once: the container ended (follow), the log was read (no follow), or an error.
    void finished();

private:
    void open();
    void onData();
    void onFinished();
    void deliver(const QByteArray &line);
    void finish(const KubeError &error);
    void reconnectLater();

    KubeClient *m_client;
    LogOptions m_options;
    QPointer<QNetworkReply> m_reply;
    QByteArray m_pending;
    QByteArray m_lastStamp; // normalized timestamp of the last delivered line
    int m_sameStampCount = 0; // lines delivered with m_lastStamp
    int m_skipSameStamp = 0; // after a reconnect: lines with m_lastStamp still to skip
    bool m_internalStamps = false; // we asked for timestamps the user did not want
    bool m_reopened = false;
    bool m_done = false;
    int m_reconnects = 0;
    int m_failures = 0;
    KubeError m_error;
};

} // namespace iterdeck::kube
