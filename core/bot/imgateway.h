#pragma once
// The bot's end of an external IM platform's callbacks (POST /hooks/<platform>, and GET for WeCom's
// URL check): the adapter verifies and parses the raw request, the platform gets its
// acknowledgement at once, and then commands run through the CommandEngine with their replies
// posted to the chat, and deploy-card clicks are applied and the card updated. A delivery with an
// event id is recorded in the store (source "im:<platform>") before it runs, so a redelivery is
// never run twice, not even after a restart; the adapter's own replay detection catches the rest.
// Replies go through the event's own reply channel where the platform gives one (Slack
// response_url, DingTalk sessionWebhook). A card or command that started deploys is handed to the
// CardFollower, which keeps the card up to date until the deploys ended.
#include "im/imadapter.h"
#include "model/teammanifest.h"
#include "store.h"

#include <QObject>
#include <QPointer>

namespace iterdeck::bot {

class CardFollower;
class CommandEngine;
struct CommandReply;
struct Identity;

class ImGateway : public QObject
{
    Q_OBJECT

public:
    // `store`, `adapter` and `commands` are not owned and must outlive the gateway.
    ImGateway(model::TeamManifest manifest, Store *store, im::ImAdapter *adapter, CommandEngine *commands,
              QObject *parent = nullptr);
    ~ImGateway() override;

    // The platform whose callbacks this gateway takes: the hook name /hooks/<platform>.
    QString platform() const;
    // Whether the platform calls with this HTTP method (POST; GET too for WeCom's URL check).
    bool accepts(const QByteArray &method) const;
    // Cards of deploys that were started are followed by `follower` (not owned; may be null:
    // cards are only answered).
    void setCardFollower(CardFollower *follower) { m_follower = follower; }

    // Verifies and records the callback and returns what to answer right away; a command or card
    // action then runs from the event loop, after the answer went out.
    im::InboundAnswer receive(const im::InboundRequest &request, const QDateTime &now);

Q_SIGNALS:
    // A command or card action ran and its reply was handed to the adapter.
    void handled(const QString &eventId, const QString &chatId, bool ok);

private:
    struct Target
    {
        qint64 iterationId = 0;
        QString chatId; // where the reply goes
    };
    void run(const im::InboundEvent &event);
    Target targetFor(const im::InboundEvent &event, const Identity &who);
    // Logs a failed adapter call; the job deletes itself.
    void watch(im::ImJob *job, const QString &what);
    // Text for the user: through the event's reply channel when it goes to where the event came from.
    void reply(const im::InboundEvent &event, const Target &target, const QString &text);
    // Shows the reply's card (`messageId`: the clicked card, else a new one) and follows its deploys.
    void showCard(const im::InboundEvent &event, const Target &target, const CommandReply &reply,
                  const QString &messageId);

    model::TeamManifest m_manifest;
    Store *m_store;
    QPointer<im::ImAdapter> m_adapter;
    CommandEngine *m_commands;
    CardFollower *m_follower = nullptr;
};

} // namespace iterdeck::bot
