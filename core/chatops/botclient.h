#pragma once
// The desktop side of the bot's stream (docs/protocol.md): connects with a token, says hello with
// the last sequence it saw, reconnects with backoff when the connection drops (also across bot
// restarts), and matches answers to requests by id. Every event reaches eventReceived() once and
// in order: the bot replays what was missed, and anything at or below lastSeq is dropped here too.
#include "common/expected.h"
#include "protocol.h"

#include <QAbstractSocket>
#include <QHash>
#include <QObject>
#include <QPointer>
#include <QSslCertificate>
#include <QUrl>

#include <functional>

class QTimer;
class QWebSocket;

namespace iterdeck::chatops {

struct BotClientOptions
{
    QUrl botUrl; // http(s)://host:port[/prefix] or ws(s)://.../v1/stream
    QString token;
    bool allowInsecure = false; // a token over plain http to a host that is not loopback
    QString clientName = QStringLiteral("iterdeck");
    QString caFile; // PEM certificates to trust in addition to the system's (a private CA)
    int requestTimeoutMs = 30000;
    int minBackoffMs = 500;
    int maxBackoffMs = 30000;
};

class BotClient : public QObject
{
    Q_OBJECT

public:
    enum class State {
        Stopped,
        Connecting, // opening the socket or waiting for the snapshot
        Connected, // snapshot received: live
        Waiting, // disconnected, retrying after a pause
    };
    Q_ENUM(State)

    using Result = Expected<QJsonObject, ProtocolError>;
    using Callback = std::function<void(const Result &result)>;

    explicit BotClient(QObject *parent = nullptr);
    ~BotClient() override;

    // Checks the URL (scheme, and that a token never crosses a network in clear) and the CA file.
    Expected<bool, QString> setOptions(const BotClientOptions &options);
    const BotClientOptions &options() const { return m_options; }

    // -1: no history wanted (first start); else the last sequence this client has seen.
    void setLastSeq(qint64 seq) { m_lastSeq = seq; }
    qint64 lastSeq() const { return m_lastSeq; }

    void start();
    void stop();
    State state() const { return m_state; }
    QString lastError() const { return m_lastError; }
    QString user() const { return m_user; }
    QString displayName() const { return m_displayName; } // as group messages name this user
    bool isAdmin() const { return m_admin; }

    // Sends a request; `callback` gets the result or a typed error exactly once (Disconnected when
    // the connection drops first, Timeout after requestTimeoutMs). Not connected: fails at once
    // (from the event loop). `context` going away cancels the callback.
    void request(const QString &method, const QJsonObject &params, QObject *context, Callback callback);

Q_SIGNALS:
    void stateChanged(iterdeck::chatops::BotClient::State state);
    // The user the token belongs to, once per connection.
    void welcomed(const QString &user, const QString &displayName, bool admin);
    void snapshotReceived(const iterdeck::chatops::Snapshot &snapshot);
    // `replayed`: missed while disconnected (seq <= the snapshot's); already part of the snapshot's state.
    void eventReceived(const iterdeck::model::Event &event, bool replayed);
    // Connection problems, in words; the client keeps retrying.
    void connectionError(const QString &message);

private:
    struct Pending
    {
        Callback callback;
        QPointer<QObject> context;
        bool hasContext = false;
        qint64 deadlineMs = 0;
    };

    void open();
    void onConnected();
    void onDisconnected();
    void onError(QAbstractSocket::SocketError error);
    void onMessage(const QString &text);
    void scheduleReconnect();
    void setState(State state);
    void failAll(ErrorCode code, const QString &message);
    void checkTimeouts();
    void complete(const QString &id, const Result &result);

    BotClientOptions m_options;
    QWebSocket *m_socket = nullptr;
    QTimer *m_retry = nullptr;
    QTimer *m_watchdog = nullptr;
    State m_state = State::Stopped;
    QString m_lastError;
    QString m_user;
    QString m_displayName;
    bool m_admin = false;
    qint64 m_lastSeq = -1;
    qint64 m_snapshotSeq = -1;
    qint64 m_lastMessageMs = 0;
    int m_heartbeatSeconds = kDefaultHeartbeatSeconds;
    int m_backoffMs = 0;
    quint64 m_nextId = 1;
    QHash<QString, Pending> m_pending;
    QList<QSslCertificate> m_extraCa;
};

} // namespace iterdeck::chatops
