#pragma once
// The desktop API of iterdeck-bot, as both ends speak it (docs/protocol.md): one WebSocket at
// /v1/stream, subprotocol "iterdeck.v1", JSON text messages with a "type".
//
//   client: hello {lastSeq}           server: welcome, snapshot, the events after lastSeq, then live events
//   client: request {id, method, params}  server: response {id, result} | error {id, error}
//   server: heartbeat {seq} every few seconds; a client that hears nothing for 3 periods reconnects
#include "common/expected.h"
#include "model/artifact.h"
#include "model/environment.h"
#include "model/event.h"
#include "model/iteration.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace iterdeck::chatops {

inline constexpr int kProtocolVersion = 1;
inline constexpr char kSubprotocol[] = "iterdeck.v1";
inline constexpr char kStreamPath[] = "/v1/stream";
inline constexpr int kDefaultHeartbeatSeconds = 15;
// At most this many missed events are replayed after hello; beyond it the snapshot says
// "truncated" and the client starts over from the snapshot.
inline constexpr int kMaxBacklog = 10000;

// Message types.
namespace msg {
inline constexpr char Hello[] = "hello";
inline constexpr char Request[] = "request";
inline constexpr char Welcome[] = "welcome";
inline constexpr char Snapshot[] = "snapshot";
inline constexpr char Event[] = "event";
inline constexpr char Events[] = "events"; // several events in one message, in order
inline constexpr char Response[] = "response";
inline constexpr char Error[] = "error";
inline constexpr char Heartbeat[] = "heartbeat";
} // namespace msg

// The name the bot writes its own group messages under (channel.message "from").
inline constexpr char BotAuthor[] = "iterdeck";

// Request methods.
namespace method {
inline constexpr char Snapshot[] = "snapshot";
inline constexpr char Events[] = "events";
inline constexpr char Branches[] = "branches";
inline constexpr char Artifacts[] = "artifacts";
inline constexpr char DeployCard[] = "deployCard";
inline constexpr char Select[] = "select";
inline constexpr char Redeploy[] = "redeploy";
inline constexpr char CreateEnvironment[] = "createEnvironment";
inline constexpr char Command[] = "command";
inline constexpr char Say[] = "say";
} // namespace method

enum class ErrorCode {
    BadRequest, // the message or its parameters are not valid
    Unauthorized, // no valid token
    Forbidden, // valid token, not allowed (not a member, not an admin)
    NotFound, // no such iteration, environment, component, artifact
    Conflict, // the request contradicts the state (a closed iteration, a pin of another component's build)
    Unavailable, // the bot cannot do it now (environments disabled, store down)
    RateLimited,
    Internal,
    // Client side only:
    Timeout, // no answer in time
    Disconnected, // the connection dropped before the answer
};
QString errorCodeName(ErrorCode code);
std::optional<ErrorCode> errorCodeFromName(const QString &name);

struct ProtocolError
{
    ErrorCode code = ErrorCode::Internal;
    QString message;
    QJsonObject toJson() const;
    static ProtocolError fromJson(const QJsonObject &o);
};

// A component as the manifest describes it.
struct ComponentInfo
{
    QString name;
    QString repository;
    QString image;
    QString defaultBranch;
    QString workload; // deploy/NAME or sts/NAME: the workload it runs as
    QJsonObject toJson() const;
    static ComponentInfo fromJson(const QJsonObject &o);
};

// What runs (or is about to) for one component of one environment, from its last deploy event.
struct Deployment
{
    qint64 environmentId = 0;
    QString component;
    QString state; // started | succeeded | failed | waiting
    model::Artifact artifact;
    QString image;
    QString message;
    QDateTime at;
    qint64 seq = 0;
    QJsonObject toJson() const;
    static Deployment fromJson(const QJsonObject &o);
    // From a deploy.started/succeeded/failed/waiting event; nullopt for other events.
    static std::optional<Deployment> fromEvent(const model::Event &event);
};

// The state of the user's iterations as of event `seq`.
struct Snapshot
{
    qint64 seq = 0;
    bool truncated = false; // more events were missed than are replayed
    QString project;
    QList<ComponentInfo> components;
    QList<model::Iteration> iterations;
    QList<model::Environment> environments;
    QList<model::Selection> selections;
    QList<Deployment> deployments;
    QJsonObject toJson() const; // with "type": "snapshot"
    static Snapshot fromJson(const QJsonObject &o);
};

// One JSON message on the wire. decode() checks that it is an object with a string "type".
QByteArray encode(const QJsonObject &message);
Expected<QJsonObject, QString> decode(const QByteArray &text);

QJsonObject helloMessage(qint64 lastSeq, const QString &client);
QJsonObject requestMessage(const QString &id, const QString &method, const QJsonObject &params);
QJsonObject responseMessage(const QString &id, const QJsonObject &result);
QJsonObject errorMessage(const QString &id, const ProtocolError &error); // id may be empty
QJsonObject eventMessage(const model::Event &event);
QJsonObject heartbeatMessage(qint64 seq);

// True when a bot URL may carry a token: https/wss, or http/ws to a loopback host.
bool isSecureBotUrl(const QUrl &url);
// The stream's URL for a bot base URL ("https://bot.example" -> "wss://bot.example/v1/stream").
QUrl streamUrl(const QUrl &botUrl);

} // namespace iterdeck::chatops
