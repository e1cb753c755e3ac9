#pragma once

#include "common/expected.h"
#include "deploycard.h"
#include "imerror.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QStringList>
#include <QUrlQuery>

namespace iterdeck::im {

// What a platform can do; the bot asks before it relies on something.
struct Capabilities
{
    enum class Cleanup {
        Archive, // the group is kept read-only (Slack)
        Disband, // the group is gone (Feishu)
        RemoveMembersAndRename, // no dismiss API: members removed, name marked (WeCom, DingTalk)
    };
    bool cardsInGroups = true; // an interactive card can be posted to the group itself
    bool cardUpdates = true; // a posted card can be changed in place
    // A posted card can be changed again and again by its message id (progress). False: only
    // once per click with its reply token (WeCom), or not at all; then only the result follows,
    // as a new message.
    bool cardUpdatesRepeat = true;
    bool memberRemoval = true;
    Cleanup cleanup = Cleanup::Archive;
    int maxMembersPerCall = 100;
    int maxGroupMembers = 1000;
    int cardUpdateWindowSeconds = 0; // how long after posting a card can still be updated; 0: no limit known
    int ackWithinMs = 3000; // the platform's deadline for answering a callback
    bool serialisedMemberChanges = false; // member changes of one chat must not overlap
};

// A callback as it reached the bot, before anything was parsed.
struct InboundRequest
{
    QByteArray method = "POST";
    QString path; // e.g. /hooks/slack
    QUrlQuery query;
    QMap<QByteArray, QByteArray> headers; // names in lower case
    QByteArray body;

    QByteArray header(const QByteArray &name) const { return headers.value(name.toLower()); }
    void setHeader(const QByteArray &name, const QByteArray &value) { headers.insert(name.toLower(), value); }
};

// What the bot writes back at once (the platform's acknowledgement).
struct InboundAnswer
{
    int status = 200;
    QByteArray contentType = "application/json";
    QByteArray body;
};

// A callback that passed verification: the plaintext payload (decrypted where the platform
// encrypts) and the identities for replay detection.
struct VerifiedRequest
{
    QByteArray payload;
    QByteArray contentType; // what the payload is: application/json, application/x-www-form-urlencoded, text/xml
    QString deliveryId; // the platform's id when it sends one outside the payload; may be empty
    QByteArray signature; // what was verified, a replay key of last resort
    QUrlQuery query; // WeCom: the echostr of a URL check lives here
    bool urlCheck = false; // WeCom GET URL verification
};

struct InboundEvent
{
    enum class Kind {
        UrlVerification, // answer with `answer`, nothing else to do
        Command, // text from a user (slash command, mention, direct message)
        CardAction, // a click on a deploy card
        Ignored, // verified and understood, but nothing for the bot (other event types)
    };
    Kind kind = Kind::Ignored;
    QString eventId; // the platform's id of this delivery (dedupe key)
    QString chatId; // group or conversation; may be the user for direct messages
    QString userId; // the platform's user id (matches Person::imUserId)
    QString text; // Command: the command text, bot mention and slash removed
    CardAction action; // CardAction: what was clicked
    QString messageId; // CardAction: the card's message (for updates)
    QString replyToken; // Slack response_url, Feishu card token, WeCom ResponseCode, DingTalk sessionWebhook
    QDateTime replyTokenExpires; // when the platform says the reply token stops working; invalid: not said
    QString eventType; // the platform's name of the event, for logs
    InboundAnswer answer; // what to answer right away
};

// The outcome of a finished outbound job.
struct ImResult
{
    QString chatId;
    QString messageId; // posts: what updateCard needs (Slack ts, Feishu message_id, WeCom response code ...)
    QStringList skipped; // member ids the platform did not take (unknown, already in)
    QString note; // what the platform allowed, when it differs from the request (cleanup)
    QJsonObject raw; // the platform's last answer
};

// An asynchronous outbound operation. Finishes exactly once, with a result or an error;
// finished() may come from the event loop even when the job fails before any request.
class ImJob : public QObject
{
    Q_OBJECT
public:
    explicit ImJob(QObject *parent = nullptr);

    bool isFinished() const { return m_finished; }
    bool hasError() const { return m_error.has_value(); }
    const ImError &error() const; // an empty Platform error when there is none
    const ImResult &result() const { return m_result; }

    // Adapters only.
    void succeed(ImResult result);
    void fail(ImError error);
    // Finishes with `error` from the event loop, so that callers can still connect.
    void failLater(ImError error);

Q_SIGNALS:
    void finished(iterdeck::im::ImJob *job);

private:
    bool m_finished = false;
    ImResult m_result;
    std::optional<ImError> m_error;
};

// A group to create.
struct GroupSpec
{
    QString name; // the iteration's group name; adapters fit it to the platform's rules
    QString description;
    QStringList members; // platform user ids
    QString owner; // platform user id; empty: the platform's default (the bot or the first member)
    qint64 iterationId = 0; // the bot's iteration of the group; adapters that keep their own channels use it
};

// One IM platform. Outbound operations return jobs owned by the adapter until they finish
// (then deleteLater'd unless the caller took them with setParent). Inbound: verify on raw bytes,
// then parse. All methods are for the thread the adapter lives in.
class ImAdapter : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;
    ~ImAdapter() override;

    virtual QString platform() const = 0; // slack | feishu | wecom | dingtalk
    virtual Capabilities capabilities() const = 0;

    virtual ImJob *createGroup(const GroupSpec &spec) = 0;
    virtual ImJob *addMembers(const QString &chatId, const QStringList &userIds) = 0;
    virtual ImJob *removeMembers(const QString &chatId, const QStringList &userIds) = 0;
    // Archive or disband, or what the platform allows (capabilities().cleanup; the result's note
    // says). `members`: who the bot put in the group, for platforms that can only remove them.
    virtual ImJob *closeGroup(const QString &chatId, const QStringList &members) = 0;
    virtual ImJob *postMessage(const QString &chatId, const QString &text) = 0;
    virtual ImJob *postCard(const QString &chatId, const DeployCard &card) = 0;
    // `messageId` from postCard's result or an inbound CardAction; `replyToken` from the inbound
    // event where the platform updates through it (WeCom response code), else empty.
    virtual ImJob *updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                              const DeployCard &card)
        = 0;
    // The answer to an inbound command or card action (`event`): through the reply channel the
    // platform handed out with it where there is one and it is still valid at `now` (Slack
    // response_url, DingTalk sessionWebhook), else (and when that fails) postMessage to `chatId`.
    virtual ImJob *reply(const InboundEvent &event, const QString &chatId, const QString &text, const QDateTime &now);

    // Checks signature, timestamp and token on the raw request; decrypts. Fails with
    // BadSignature / StaleTimestamp (answer 401) or Malformed.
    virtual Expected<VerifiedRequest, ImError> verify(const InboundRequest &request, const QDateTime &now) const = 0;
    // Turns a verified payload into an event. Fails with Malformed.
    virtual Expected<InboundEvent, ImError> parse(const VerifiedRequest &request) const = 0;

    // verify + parse + replay detection (same event id, or same signature, within the window):
    // what the bot's /hooks/<platform> handler calls.
    Expected<InboundEvent, ImError> receive(const InboundRequest &request, const QDateTime &now);

    // How long deliveries are remembered for replay detection.
    void setReplayWindowSeconds(int seconds) { m_replayWindow = seconds; }

protected:
    ImJob *newJob();
    // Finishes `job` as `from` finishes (same result or error).
    static void finishWith(ImJob *job, ImJob *from);
    // Whether a reply token is a URL the bot may post to (http or https with a host).
    static bool isReplyUrl(const QString &token);

private:
    QMap<QString, qint64> m_seen; // replay key -> seen at (s)
    int m_replayWindow = 3600;
};

} // namespace iterdeck::im
