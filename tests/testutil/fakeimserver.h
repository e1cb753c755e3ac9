#pragma once
// In-process fakes of the IM platforms' APIs (Slack, Feishu/Lark, WeCom, DingTalk): real HTTP on
// loopback, requests checked against the documented shape and auth, answers as documented —
// errors, rate limits (429 + Retry-After or the platform's code) and token expiry included.
// Each fake also builds the callbacks its platform would send, signed (and encrypted) as
// documented.
#include "im/imadapter.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QObject>
#include <QSet>
#include <QTcpServer>
#include <QUrl>
#include <QUrlQuery>

namespace iterdeck::testing {

struct FakeRequest
{
    QByteArray method;
    QString path;
    QUrlQuery query;
    QMap<QByteArray, QByteArray> headers; // lower-case names
    QByteArray body;
    QJsonObject json; // the body, when it is a JSON object
};

struct FakeResponse
{
    int status = 200;
    QMap<QByteArray, QByteArray> headers;
    QByteArray body;
    static FakeResponse json(int status, const QJsonObject &o, QMap<QByteArray, QByteArray> headers = {});
};

class FakeImServer : public QObject
{
    Q_OBJECT
public:
    explicit FakeImServer(QObject *parent = nullptr);
    bool listen();
    QUrl url() const;

    const QList<FakeRequest> &requests() const { return m_requests; }
    QStringList paths() const; // "METHOD /path" of every request, in order
    int count(const QString &path) const;
    // The next request to `path` gets `response` instead of the normal answer (after auth).
    void injectOnce(const QString &path, const FakeResponse &response) { m_injected[path].append(response); }
    // Answers on `path` wait this long (to see whether callers overlap).
    void setDelay(const QString &path, int ms) { m_delays.insert(path, ms); }
    // Requests that arrived while another one with the same concurrency key was still open.
    int overlaps() const { return m_overlaps; }
    // Requests the fake refused as not matching the documented shape (a bug in the caller).
    const QStringList &shapeErrors() const { return m_shapeErrors; }

protected:
    virtual FakeResponse handle(const FakeRequest &request) = 0;
    // Requests with the same non-empty key must not overlap on the platform (member changes).
    virtual QString concurrencyKey(const FakeRequest &) const { return {}; }
    // What the platform answers for a concurrent request (the default: serve it anyway).
    virtual std::optional<FakeResponse> concurrentAnswer(const FakeRequest &) const { return std::nullopt; }
    std::optional<FakeResponse> takeInjected(const QString &path);
    void shapeError(const QString &what) { m_shapeErrors.append(what); }

private:
    void respond(QTcpSocket *socket, const FakeRequest &r);

    QTcpServer m_server;
    QList<FakeRequest> m_requests;
    QHash<QString, QList<FakeResponse>> m_injected;
    QHash<QString, int> m_delays;
    QHash<QString, int> m_open;
    int m_overlaps = 0;
    QStringList m_shapeErrors;
};

// Slack Web API at url()/api.
class FakeSlack : public FakeImServer
{
    Q_OBJECT
public:
    using FakeImServer::FakeImServer;
    QByteArray botToken = "xoxb-fake-token";
    QByteArray signingSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    QSet<QString> users {QStringLiteral("U01ALICE"), QStringLiteral("U02BOB"), QStringLiteral("U03CAROL")};
    struct Channel
    {
        QString name;
        QStringList members;
        bool archived = false;
    };
    QMap<QString, Channel> channels;
    QMap<QString, QJsonObject> messages; // ts -> the message (channel, text, blocks)
    QList<QJsonObject> updates; // every change of a message (chat.update, replace_original), with its "ts"
    QList<QJsonObject> ephemeral; // response_url messages only the user saw (response_type ephemeral)
    struct ResponseUrl
    {
        QString channel;
        QString ts; // the message of the interaction; empty for a slash command
        int uses = 0; // Slack takes a response_url at most 5 times within 30 minutes
    };
    QMap<QString, ResponseUrl> responseUrls; // id -> what it answers
    QUrl apiUrl() const;
    // A response_url for an interaction with the message `ts` (empty: a slash command) in `channel`.
    QString newResponseUrl(const QString &channel, const QString &ts);
    // A signed callback as Slack sends it.
    im::InboundRequest callback(const QByteArray &body, const QByteArray &contentType, qint64 timestamp) const;
    im::InboundRequest blockAction(const QString &channel, const QString &user, const QString &ts,
                                   const QString &actionId, const QString &value, bool select, qint64 timestamp);
    // The slash command /iterdeck as Slack posts it (form fields as documented), with a fresh response_url.
    im::InboundRequest slashCommand(const QString &channel, const QString &user, const QString &text,
                                    const QString &triggerId, qint64 timestamp);

protected:
    FakeResponse handle(const FakeRequest &request) override;
    QString concurrencyKey(const FakeRequest &r) const override;

private:
    int m_next = 1;
};

// Feishu open platform at url().
class FakeFeishu : public FakeImServer
{
    Q_OBJECT
public:
    using FakeImServer::FakeImServer;
    QString appId = QStringLiteral("cli_fake");
    QByteArray appSecret = "fake-app-secret";
    QByteArray encryptKey = "fake-encrypt-key";
    QByteArray verificationToken = "fake-verification-token";
    QSet<QString> users {QStringLiteral("ou_alice"), QStringLiteral("ou_bob"), QStringLiteral("ou_carol")};
    struct Chat
    {
        QString name;
        QStringList members;
    };
    QMap<QString, Chat> chats;
    QMap<QString, QJsonObject> messages; // message_id -> {chat_id, msg_type, content}
    int tokensIssued = 0;
    void expireTokens() { m_valid.clear(); }
    // An encrypted, signed event callback (schema 2.0 body given as the clear JSON).
    im::InboundRequest callback(const QJsonObject &clear, qint64 timestamp, const QByteArray &nonce = "nonce-1") const;

protected:
    FakeResponse handle(const FakeRequest &request) override;
    QString concurrencyKey(const FakeRequest &r) const override;
    std::optional<FakeResponse> concurrentAnswer(const FakeRequest &r) const override;

private:
    QSet<QString> m_valid;
    int m_next = 1;
};

// WeCom server API at url().
class FakeWeCom : public FakeImServer
{
    Q_OBJECT
public:
    using FakeImServer::FakeImServer;
    QString corpId = QStringLiteral("wwfakecorp");
    int agentId = 1000002;
    QByteArray secret = "fake-corp-secret";
    QByteArray token = "QDG6eK";
    QByteArray encodingAesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    QSet<QString> users {QStringLiteral("alice"), QStringLiteral("bob"), QStringLiteral("carol")};
    struct Chat
    {
        QString name;
        QString owner;
        QStringList members;
    };
    QMap<QString, Chat> chats;
    QList<QJsonObject> chatMessages; // appchat/send bodies
    QMap<QString, QJsonObject> cards; // task_id -> template_card
    QMap<QString, bool> responseCodes; // response code -> used
    int tokensIssued = 0;
    void expireTokens() { m_valid.clear(); }
    QString issueResponseCode(); // what a click on a card hands to the app
    // The encrypted XML callback as WeCom posts it.
    im::InboundRequest callback(const QByteArray &clearXml, qint64 timestamp,
                                const QByteArray &nonce = "1372623149") const;
    im::InboundRequest urlCheck(const QByteArray &echo, qint64 timestamp) const;

protected:
    FakeResponse handle(const FakeRequest &request) override;

private:
    QSet<QString> m_valid;
    int m_next = 1;
};

// DingTalk oapi (gettoken, topapi) and api (v1.0) at url().
class FakeDingTalk : public FakeImServer
{
    Q_OBJECT
public:
    using FakeImServer::FakeImServer;
    QString appKey = QStringLiteral("dingfakeappkey");
    QByteArray appSecret = "fake-app-secret";
    QString templateId = QStringLiteral("tpl-iteration");
    QSet<QString> users {QStringLiteral("alice"), QStringLiteral("bob"), QStringLiteral("carol")};
    struct Group
    {
        QString title;
        QString owner;
        QStringList members;
    };
    QMap<QString, Group> groups;
    QList<QJsonObject> robotMessages; // {openConversationId, msgKey, msgParam (parsed)}
    QString cardTemplateId = QStringLiteral("tpl-deploy-card");
    struct InteractiveCard
    {
        QString openConversationId;
        QJsonObject params; // cardParamMap as it is now
        int updates = 0;
    };
    QMap<QString, InteractiveCard> interactiveCards; // outTrackId -> card
    QList<QJsonObject> cardUpdates; // every PUT im/interactiveCards body, in order
    QList<QJsonObject> sessionMessages; // what came through a sessionWebhook, with its "conversationId"
    // The sessionWebhook a robot message from `conversationId` carries.
    QString sessionWebhook(const QString &conversationId);
    int tokensIssued = 0;
    void expireTokens() { m_valid.clear(); }
    im::InboundRequest callback(const QJsonObject &body, qint64 timestampMs) const;

protected:
    FakeResponse handle(const FakeRequest &request) override;
    QString concurrencyKey(const FakeRequest &r) const override;

private:
    QSet<QString> m_valid;
    QMap<QString, QString> m_sessions; // session -> conversation
    int m_next = 1;
};

} // namespace iterdeck::testing
