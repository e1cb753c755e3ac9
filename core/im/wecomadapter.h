#pragma once

#include "apiclient.h"
#include "imadapter.h"

namespace iterdeck::im {

// WeCom (企业微信): gettoken with the app secret (refreshed before its 7200 s run out), appchat
// create/update/send for the group, template_card (multiple_interaction) to the members for the
// deploy card, update_template_card with the click's response code. Callbacks: SHA-1 msg_signature,
// AES-256-CBC with the EncodingAESKey, URL verification by GET with echostr.
class WeComAdapter : public ImAdapter
{
    Q_OBJECT
public:
    struct Settings
    {
        QUrl apiBaseUrl = QUrl(QStringLiteral("https://qyapi.weixin.qq.com"));
        QString corpId;
        int agentId = 0;
        QByteArray secret; // the app's secret (corpsecret)
        QByteArray token; // callback Token
        QByteArray encodingAesKey; // 43 characters
        int timestampWindowSeconds = 300;
    };

    WeComAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent = nullptr);

    // The 32-byte AES key of an EncodingAESKey, or nullopt when it is not 43 base64 characters.
    static std::optional<QByteArray> aesKey(const QByteArray &encodingAesKey);

    QString platform() const override { return QStringLiteral("wecom"); }
    Capabilities capabilities() const override;

    ImJob *createGroup(const GroupSpec &spec) override;
    ImJob *addMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *removeMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *closeGroup(const QString &chatId, const QStringList &members) override;
    ImJob *postMessage(const QString &chatId, const QString &text) override;
    // The card goes to the group's members as a template_card (WeCom sends none into app
    // groups); the group gets a markdown summary. messageId of the result: the card's task_id.
    ImJob *postCard(const QString &chatId, const DeployCard &card) override;
    // With the click's ResponseCode (works once, 72 h) the card itself changes; without one
    // the new state is posted to the group as markdown.
    ImJob *updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                      const DeployCard &card) override;

    Expected<VerifiedRequest, ImError> verify(const InboundRequest &request, const QDateTime &now) const override;
    Expected<InboundEvent, ImError> parse(const VerifiedRequest &request) const override;

    static QJsonObject renderCard(const DeployCard &card);
    static QString renderMarkdown(const DeployCard &card);
    static QString signature(const QByteArray &token, const QByteArray &timestamp, const QByteArray &nonce,
                             const QByteArray &encrypted);
    // WeCom's message encryption (random16 || len32 || msg || receiveid), for replies and tests.
    static QByteArray encrypt(const QByteArray &key, const QByteArray &message, const QByteArray &receiveId,
                              const QByteArray &random16);

    ApiClient *client() { return &m_client; }

private:
    ImJob *sendToChat(const QString &chatId, const QJsonObject &message);

    Settings m_settings;
    QByteArray m_aesKey;
    ApiClient m_client;
    QMap<QString, QStringList> m_members; // chat -> members, for the template card's recipients
};

} // namespace iterdeck::im
