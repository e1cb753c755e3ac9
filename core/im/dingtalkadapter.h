#pragma once

#include "apiclient.h"
#include "imadapter.h"

namespace iterdeck::im {

// DingTalk (钉钉): app access token from gettoken (appkey/appsecret, refreshed before it expires),
// scene groups (create from a group template, members add/delete), robot group messages
// (api.dingtalk.com v1.0). The deploy card is a markdown message whose links make the user send
// the choice back to the robot (dtmd://); DingTalk cannot change a robot message later. With a
// card template (im.cardTemplateId), an update becomes an interactive card (im/interactiveCards/
// send, outTrackId "idk-…") that later updates change in place (PUT im/interactiveCards); without
// one, updates are new messages. Replies to a message go through its sessionWebhook while that
// is valid (sessionWebhookExpiredTime). Robot callbacks are checked with timestamp + sign (HMAC-SHA256 of
// "timestamp\nappSecret"), accepted for one hour.
class DingTalkAdapter : public ImAdapter
{
    Q_OBJECT
public:
    struct Settings
    {
        QUrl apiBaseUrl = QUrl(QStringLiteral("https://oapi.dingtalk.com")); // gettoken, topapi
        QUrl newApiBaseUrl = QUrl(QStringLiteral("https://api.dingtalk.com")); // v1.0 robot messages
        QString appKey;
        QByteArray appSecret;
        QString robotCode; // empty: the appKey
        QString templateId; // scene group template; needed to create groups
        // Interactive card template with the string variables title, markdown and state; empty:
        // cards are markdown messages and cannot be updated.
        QString cardTemplateId;
        int timestampWindowSeconds = 3600;
    };

    DingTalkAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent = nullptr);

    QString platform() const override { return QStringLiteral("dingtalk"); }
    Capabilities capabilities() const override;

    ImJob *createGroup(const GroupSpec &spec) override;
    ImJob *addMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *removeMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *closeGroup(const QString &chatId, const QStringList &members) override;
    ImJob *postMessage(const QString &chatId, const QString &text) override;
    ImJob *postCard(const QString &chatId, const DeployCard &card) override;
    ImJob *updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                      const DeployCard &card) override;
    ImJob *reply(const InboundEvent &event, const QString &chatId, const QString &text, const QDateTime &now) override;

    Expected<VerifiedRequest, ImError> verify(const InboundRequest &request, const QDateTime &now) const override;
    Expected<InboundEvent, ImError> parse(const VerifiedRequest &request) const override;

    // The markdown deploy card ({title, text} of msgKey sampleMarkdown).
    static QJsonObject renderCard(const DeployCard &card);
    // The cardParamMap of the interactive card (title, markdown, state: all strings).
    static QJsonObject cardParams(const DeployCard &card);
    static QByteArray sign(const QByteArray &timestamp, const QByteArray &appSecret);

    ApiClient *client() { return &m_client; }

private:
    ImJob *sendRobotMessage(const QString &chatId, const QString &msgKey, const QJsonObject &param);
    ImJob *changeMembers(const QString &path, const QString &chatId, const QStringList &userIds);

    Settings m_settings;
    ApiClient m_client;
};

} // namespace iterdeck::im
