#pragma once
// The desktop API: WebSocket /v1/stream (docs/protocol.md). Each connection authenticates with a
// desktop token, says hello with the last event sequence it saw, and gets a snapshot of the
// user's iterations, exactly the events it missed, then live events, heartbeats, and answers to
// its requests. Events are read from the store in sequence order (a commit only wakes the
// stream), so every client sees them in order and once, whoever wrote them.
#include "access.h"
#include "chatops/protocol.h"
#include "eventsink.h"
#include "httpserver.h"
#include "model/teammanifest.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSet>

#include <map>
#include <memory>
#include <optional>

class QTimer;

namespace iterdeck::bot {

class Store;
class BuiltinChannels;
class CommandEngine;
class EnvironmentManager;
class Metrics;

struct DesktopStreamOptions
{
    int heartbeatSeconds = chatops::kDefaultHeartbeatSeconds;
    int helloTimeoutSeconds = 10; // a connection that does not say hello in time is closed
    int pollMs = 0; // > 0: also read new events this often (other replicas write to the same store)
    int requestsPerSecond = 20; // per connection, with a burst of as many
    // New events wait this long for others, so that a burst goes out as one "events" message per
    // client instead of one message per event and client.
    int batchMs = 15;
    // While more than a tenth of the clients still have the previous fan-out queued in the
    // server, the next one waits (up to this long), so that a burst goes out in fewer, larger
    // messages instead of piling up; 0 never waits.
    int maxDeferMs = 40;
};

class DesktopStream : public QObject, public EventSink
{
    Q_OBJECT

public:
    // `environments` may be null (no cluster): environment requests then answer "unavailable".
    DesktopStream(model::TeamManifest manifest, Store *store, EnvironmentManager *environments,
                  DesktopStreamOptions options = {}, QObject *parent = nullptr);
    ~DesktopStream() override;

    void setMetrics(Metrics *metrics) { m_metrics = metrics; }
    // The chat commands (`command` requests) and the built-in channels (`say`); not owned, may be null.
    void setCommandEngine(CommandEngine *engine) { m_commands = engine; }
    void setChannels(BuiltinChannels *channels) { m_channels = channels; }

    // Decides a GET /v1/stream upgrade: bearer token, subprotocol. On this object's thread.
    void upgrade(const HttpRequest &request, const std::function<void(WebSocketDecision)> &decide);

    // A commit happened somewhere: read what is new, soon, in order.
    void eventsCommitted(const QList<model::Event> &events) override;
    void wake();

    int clientCount() const { return int(m_clients.size()); }
    // Closes every connection with "going away" (1001): clients reconnect and resume.
    void closeAll();

Q_SIGNALS:
    void clientCountChanged(int count);

private:
    struct Client
    {
        quint64 id = 0;
        std::shared_ptr<WebSocketConnection> connection;
        Identity who;
        QString tokenId;
        bool ready = false; // hello answered
        qint64 sentSeq = 0; // the last event it has (or must not get again)
        QSet<qint64> visible; // iterations it sees
        double tokens = 0; // request rate limit
        qint64 refilledAtMs = 0;
        qint64 openedAtMs = 0;
        QList<int> batch; // events of the page being fanned out, by index
    };
    struct Cache
    {
        bool valid = false;
        QList<model::Iteration> iterations;
        QList<model::Environment> environments; // without deleted ones
        QList<model::Selection> selections;
    };
    class Peer;

    void opened(quint64 id, std::shared_ptr<WebSocketConnection> connection, Identity who, QString tokenId);
    void received(quint64 id, const QByteArray &text);
    void closed(quint64 id, int code, const QString &reason);

    void hello(Client &client, const QJsonObject &message);
    void request(Client &client, const QJsonObject &message);
    QJsonObject dispatch(Client &client, const QString &method, const QJsonObject &params,
                         std::optional<chatops::ProtocolError> *error);
    void send(Client &client, const QJsonObject &message);
    void fail(Client &client, const QString &id, chatops::ErrorCode code, const QString &message);

    void pump();
    void heartbeat();
    bool refreshCache();
    QSet<qint64> visibleIterations(const Identity &who);
    chatops::Snapshot snapshotFor(const Client &client);
    const model::Environment *environment(qint64 id);
    bool mayAct(const Client &client, qint64 iterationId) const;
    QJsonObject deployCard(const model::Environment &environment, std::optional<chatops::ProtocolError> *error);

    model::TeamManifest m_manifest;
    Store *m_store;
    EnvironmentManager *m_environments;
    DesktopStreamOptions m_options;
    Metrics *m_metrics = nullptr;
    CommandEngine *m_commands = nullptr;
    BuiltinChannels *m_channels = nullptr;
    std::map<quint64, Client> m_clients;
    quint64 m_nextId = 1;
    qint64 m_fannedSeq = -1; // every event up to here went out; -1 until the first pump
    bool m_pumpScheduled = false;
    QElapsedTimer m_pumpWanted; // since the first wake() the pump has not served yet
    std::map<std::pair<qint64, QString>, chatops::Deployment> m_deployments;
    Cache m_cache;
    QTimer *m_heartbeat = nullptr;
    QTimer *m_poll = nullptr;
};

} // namespace iterdeck::bot
