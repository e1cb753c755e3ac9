#pragma once
// An informer-style cache of one (resource, namespace, selector): list, then watch from the
// list's resourceVersion; resume after a cut from the last version seen; relist after 410
// Expired and report the difference as events; bookmarks; reconnection with backoff; a stalled
// stream (no byte, not even a bookmark, for the idle timeout) is cut and resumed. It never
// loses an update: every change the server makes is either delivered as an event or folded
// into the relist's difference.
#include "kubeclient.h"
#include "kubeerror.h"

#include <QElapsedTimer>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QPointer>

class QNetworkReply;
class QTimer;

namespace iterdeck::kube {

class Informer : public QObject
{
    Q_OBJECT
public:
    enum class State { Idle, Listing, Watching, Backoff, Stopped };
    Q_ENUM(State)

    // `ns` empty = all namespaces (or a cluster-scoped resource).
    Informer(KubeClient *client, ResourceRef resource, QString ns, ListOptions selectors = {},
             QObject *parent = nullptr);
    ~Informer() override;

    void start();
    void stop();

    // Watch requests ask the server to end after this long (then the informer resumes);
    // a stream silent for idleTimeoutMs is treated as dead. Defaults 300 s and 60 s.
    void setWatchTimeoutSeconds(int seconds);
    void setIdleTimeoutMs(int ms);

    State state() const { return m_state; }
    bool hasSynced() const { return m_synced; }
    QString resourceVersion() const { return m_resourceVersion; }
    // Objects by "namespace/name" (or "name" when cluster-scoped).
    const QHash<QString, QJsonObject> &objects() const { return m_objects; }
    QJsonObject object(const QString &ns, const QString &name) const;
    static QString keyOf(const QJsonObject &object);

    // Counters for tests and diagnostics.
    int relistCount() const { return m_relists; }
    int watchCount() const { return m_watches; }
    const KubeError &lastError() const { return m_lastError; }

Q_SIGNALS:
    void added(const QJsonObject &object);
    void modified(const QJsonObject &object, const QJsonObject &previous);
    void deleted(const QJsonObject &object);
    // After the first list (and after every relist): the cache is complete.
    void synced();
    void stateChanged(iterdeck::kube::Informer::State state);
    // A problem the informer is working around (it retries by itself).
    void transientError(const iterdeck::kube::KubeError &error);

private:
    void setState(State s);
    void list();
    void watch();
    void onWatchData();
    void onWatchFinished();
    void handleEvent(const QByteArray &line);
    void applyList(const QJsonObject &list);
    void retryLater(const KubeError &error, bool relist);
    void dropStream();

    KubeClient *m_client;
    ResourceRef m_resource;
    QString m_ns;
    ListOptions m_selectors;
    int m_watchTimeoutSeconds = 300;
    int m_idleTimeoutMs = 60000;

    State m_state = State::Idle;
    bool m_synced = false;
    QString m_resourceVersion;
    QHash<QString, QJsonObject> m_objects;
    QPointer<QNetworkReply> m_stream;
    QPointer<KubeCall> m_listCall;
    QByteArray m_pending;
    QTimer *m_idle = nullptr;
    QTimer *m_retry = nullptr;
    QElapsedTimer m_watchAge;
    int m_failures = 0;
    bool m_streamExpired = false;
    bool m_streamStalled = false;
    int m_relists = 0;
    int m_watches = 0;
    KubeError m_lastError;
};

} // namespace iterdeck::kube
