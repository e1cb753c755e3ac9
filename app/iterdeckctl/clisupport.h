#pragma once
// What the kube and dev verbs of iterdeckctl share: output that survives a closed pipe,
// kubectl-style errors, the event loop a verb runs in, signals, and the client from the flags.
#include "kubecommands.h"

#include "kube/kubeclient.h"

#include <QList>
#include <QSocketNotifier>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>
#include <string>

namespace iterdeck::ctl {

QString qs(const std::string &s);
void writeAll(int fd, const char *data, qsizetype size);
void out(const QByteArray &b);
void out(const QString &s);
void err(const QString &s);
// How kubectl reports an error: server errors as "Error from server (Reason): message", the
// others as "error: message". Both return 1.
int fail(const kube::KubeError &e);
int fail(const QString &message);
// Runs `body` inside the event loop; it calls `exit(code)` once when done.
int runLoop(const std::function<void(const std::function<void(int)> &exit)> &body);
Expected<kube::ClientConfig, kube::KubeError> loadConfig(const KubeFlags &flags);
std::unique_ptr<kube::KubeClient> makeClient(const KubeFlags &flags, kube::KubeError *error);

// SIGINT/SIGTERM end long-running verbs through the event loop (a self-pipe).
class SignalWatcher
{
public:
    explicit SignalWatcher(std::function<void()> onSignal);

private:
    static inline int s_pipe[2] = {-1, -1};
    std::unique_ptr<QSocketNotifier> m_notifier;
};

// kubectl's tabwriter: columns padded to the widest cell plus three spaces.
class TablePrinter
{
public:
    void setHeader(QStringList header) { m_header = std::move(header); }
    void addRow(QStringList row) { m_rows.append(std::move(row)); }
    bool isEmpty() const { return m_rows.isEmpty(); }
    QString render(bool withHeader)
    {
        QList<QStringList> all;
        if (withHeader)
            all.append(m_header);
        all.append(m_rows);
        if (m_widths.isEmpty()) {
            m_widths.fill(0, m_header.size());
            for (const QStringList &r : std::as_const(all)) {
                for (int i = 0; i < r.size() && i < m_widths.size(); ++i)
                    m_widths[i] = std::max(m_widths[i], int(r[i].size()));
            }
        }
        QString text;
        for (const QStringList &r : std::as_const(all)) {
            QString line;
            for (int i = 0; i < r.size(); ++i) {
                if (i + 1 < r.size())
                    line += r[i].leftJustified(std::max(m_widths.value(i), int(r[i].size())) + 3);
                else
                    line += r[i];
            }
            text += line + u'\n';
        }
        m_rows.clear();
        return text;
    }

private:
    QStringList m_header;
    QList<QStringList> m_rows;
    QList<int> m_widths;
};

} // namespace iterdeck::ctl
