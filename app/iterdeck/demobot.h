#pragma once
// The bot of `iterdeck --sandbox`, in this process: the demo project (resources/demo) on the
// sandbox cluster, a SQLite store in the demo's data folder, a desktop token for this user, and
// a stream of demo webhooks through the bot's real HTTP endpoint (an iteration that has this
// user as a member, one that has not, builds of two branches, then a new build now and then).
// Environments cost pods on the demo cluster: only the iterations this user is a member of get
// one (created when they start); the others stay without, as with `create: onDemand`.
//
// The bot runs on a thread of its own, never on the caller's (the GUI thread): its store, its
// cluster client (made there from the configuration it is given), its HTTP routing, its
// environments' deploys and the demo's webhooks are created, used and destroyed on that thread.
// start() only hands the work over; started() or failed() follows on the caller's thread. The
// destructor stops the bot on its thread and joins it.
#include "kube/kubeconfig.h"

#include <QObject>
#include <QUrl>

class QThread;

namespace iterdeck::app {

class DemoBotWorker;

class DemoBot : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        kube::ClientConfig cluster; // the sandbox cluster; the bot makes its own client of it
        QString dataDir; // the store and the demo project's files
        QString user; // the desktop token's user, a member of the demo's first iteration
        int intervalMs = 0; // how often a new demo build arrives (0: never)
    };

    explicit DemoBot(QObject *parent = nullptr);
    ~DemoBot() override;

    // Starts the bot on its thread, serving on 127.0.0.1 (any free port). Once only.
    void start(const Options &options);
    // After started(): where it serves and the user's token.
    QUrl url() const { return m_url; }
    QString token() const { return m_token; }
    bool isRunning() const { return !m_url.isEmpty(); }

    // The bot's thread, and the objects that run on it (the service, its server, store side and
    // environments, the cluster client, the demo's network access and timer), once started().
    QThread *botThread() const { return m_thread; }
    QList<const QObject *> botObjects() const { return m_objects; }

Q_SIGNALS:
    void started(const QUrl &url, const QString &token);
    void failed(const QString &error);

private:
    friend class DemoBotWorker;

    QThread *m_thread = nullptr;
    DemoBotWorker *m_worker = nullptr; // lives on m_thread
    QUrl m_url;
    QString m_token;
    QList<const QObject *> m_objects;
};

} // namespace iterdeck::app
