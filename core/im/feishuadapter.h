#pragma once

#include "apiclient.h"
#include "imadapter.h"

namespace iterdeck::im {

// Feishu / Lark: tenant_access_token (refreshed before it expires), chats with members and
// disband, interactive cards updated with PATCH; events and card callbacks verified with the
// Encrypt Key (SHA-256 signature, AES-256-CBC body) and/or the Verification Token.
class FeishuAdapter : public ImAdapter
{
    Q_OBJECT
public:
    struct Settings
    {
        QUrl apiBaseUrl = QUrl(QStringLiteral("https://open.feishu.cn")); // Lark: https://open.larksuite.com
        QString appId;
        QByteArray appSecret;
        QByteArray verificationToken; // may be empty when encryptKey is set
        QByteArray encryptKey; // may be empty when verificationToken is set
        int timestampWindowSeconds = 300;
    };

    FeishuAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent = nullptr);

    QString platform() const override { return QStringLiteral("feishu"); }
    Capabilities capabilities() const override;

    ImJob *createGroup(const GroupSpec &spec) override;
    ImJob *addMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *removeMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *closeGroup(const QString &chatId, const QStringList &members) override;
    ImJob *postMessage(const QString &chatId, const QString &text) override;
    ImJob *postCard(const QString &chatId, const DeployCard &card) override;
    ImJob *updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                      const DeployCard &card) override;

    Expected<VerifiedRequest, ImError> verify(const InboundRequest &request, const QDateTime &now) const override;
    Expected<InboundEvent, ImError> parse(const VerifiedRequest &request) const override;

    // The interactive card (message card JSON, config.update_multi set).
    static QJsonObject renderCard(const DeployCard &card);
    // {"encrypt": ...} as Feishu sends it: base64(iv || AES-256-CBC(SHA-256(key), plaintext)).
    static std::optional<QByteArray> decrypt(const QByteArray &encryptKey, const QByteArray &base64);

    ApiClient *client() { return &m_client; }

private:
    void changeMembers(ImJob *job, const QByteArray &method, const QString &chatId, const QStringList &userIds,
                       ImResult result);

    Settings m_settings;
    ApiClient m_client;
};

} // namespace iterdeck::im
