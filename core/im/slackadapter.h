#pragma once

#include "apiclient.h"
#include "imadapter.h"

namespace iterdeck::im {

// Slack: Web API (conversations.*, chat.*) with a bot token; callbacks (Events API, slash command
// /iterdeck, Block Kit interactions) signed with request signing v0 and a 5-minute window.
class SlackAdapter : public ImAdapter
{
    Q_OBJECT
public:
    struct Settings
    {
        QUrl apiBaseUrl = QUrl(QStringLiteral("https://slack.com/api"));
        QByteArray botToken; // xoxb-...
        QByteArray signingSecret;
        QString slashCommand = QStringLiteral("/iterdeck");
        int timestampWindowSeconds = 300;
    };

    SlackAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent = nullptr);

    QString platform() const override { return QStringLiteral("slack"); }
    Capabilities capabilities() const override;

    ImJob *createGroup(const GroupSpec &spec) override;
    ImJob *addMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *removeMembers(const QString &chatId, const QStringList &userIds) override;
    ImJob *closeGroup(const QString &chatId, const QStringList &members) override;
    ImJob *postMessage(const QString &chatId, const QString &text) override;
    ImJob *postCard(const QString &chatId, const DeployCard &card) override;
    // With a reply token (the click's response_url): replace_original through it, else (and when
    // that fails) chat.update.
    ImJob *updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                      const DeployCard &card) override;
    // Slash commands: in_channel through response_url (works where the bot is no member); card
    // actions: ephemeral to who clicked, the card kept.
    ImJob *reply(const InboundEvent &event, const QString &chatId, const QString &text, const QDateTime &now) override;

    Expected<VerifiedRequest, ImError> verify(const InboundRequest &request, const QDateTime &now) const override;
    Expected<InboundEvent, ImError> parse(const VerifiedRequest &request) const override;

    // Block Kit blocks of the deploy card.
    static QJsonArray renderCard(const DeployCard &card);
    // A channel name Slack accepts: lower case, letters, digits, '-' and '_', at most 80.
    static QString channelName(const QString &name);

    ApiClient *client() { return &m_client; }

private:
    void invite(ImJob *job, const QString &chatId, const QStringList &userIds, ImResult result);

    Settings m_settings;
    ApiClient m_client;
};

} // namespace iterdeck::im
