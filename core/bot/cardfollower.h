#pragma once
// Deploy cards that follow their deploys. After a card click or a command started deploys, the
// card in the chat changes with each of those components: queued, deploying, then deployed
// (build · commit) or failed (with the tail of the error), until every one of them ended; then
// the card says the result. Updates of one card are throttled: at most one per interval, never
// two at once, and the last state is always sent. Where the platform changes a card only once
// (WeCom: one update per click) or not at all (DingTalk without a card template), only the first
// state and the result are sent, the result as a new message.
#include "im/imadapter.h"
#include "model/event.h"

#include <QElapsedTimer>
#include <QMap>
#include <QObject>
#include <QPointer>

#include <map>

class QTimer;

namespace iterdeck::bot {

class CommandEngine;
class EnvironmentManager;

class CardFollower : public QObject
{
    Q_OBJECT

public:
    // `commands`, `environments` and `adapter` are not owned and must outlive the follower.
    CardFollower(CommandEngine *commands, EnvironmentManager *environments, im::ImAdapter *adapter,
                 QObject *parent = nullptr);
    ~CardFollower() override;

    struct Start
    {
        QString chatId; // where the card is (or is posted)
        QString followUpChatId; // where the result goes when the card cannot change again; empty: chatId
        QString messageId; // the card to update; empty: the card is posted first
        QString replyToken; // for the first update only (a click's token)
        qint64 environmentId = 0;
        QStringList components; // the deploys to follow
        im::DeployCard card; // the card as the command answered it (its id, who asked; a fallback)
    };
    // Shows `start.card` (updates or posts it) and then follows the deploys.
    void follow(const Start &start);

    // The environment manager's events (deploy.started / succeeded / failed / waiting).
    void eventsCommitted(const QList<model::Event> &events);

    // At most one update per card within `ms` (default 1000).
    void setMinIntervalMs(int ms) { m_minIntervalMs = ms; }
    // How long a card is followed at most (default one hour); then it is left as it is.
    void setMaxFollowMs(int ms) { m_maxFollowMs = ms; }
    // Cards being followed.
    int count() const { return int(m_cards.size()); }

Q_SIGNALS:
    // The platform took a state of the card (`messageId` as the platform names it now).
    void cardShown(const QString &chatId, const QString &messageId, const iterdeck::im::DeployCard &card);
    // Every followed deploy ended and the result was handed to the platform.
    void finished(const QString &chatId, const QString &messageId, iterdeck::im::DeployCard::State state);

private:
    struct Component
    {
        enum class Phase { Queued, Deploying, Deployed, Failed, Waiting };
        Phase phase = Phase::Queued;
        QString status;
        QString build; // Deployed: what runs now
        bool skipOneEnd = false; // an older deploy of it was running when following began
    };
    struct Card
    {
        Start start;
        QMap<QString, Component> components;
        bool inFlight = false;
        bool dirty = false;
        bool shown = false; // the first state went out
        bool finalSent = false;
        qint64 lastSentMs = -1;
        QTimer *timer = nullptr;
        QTimer *deadline = nullptr;
    };

    void apply(Card &card, const model::Event &event);
    void schedule(int id);
    void send(int id);
    void drop(int id);
    bool ended(const Card &card) const;
    im::DeployCard render(const Card &card) const;

    CommandEngine *m_commands;
    QPointer<EnvironmentManager> m_environments;
    QPointer<im::ImAdapter> m_adapter;
    std::map<int, Card> m_cards;
    int m_next = 1;
    int m_minIntervalMs = 1000;
    int m_maxFollowMs = 3600 * 1000;
    QElapsedTimer m_clock;
};

} // namespace iterdeck::bot
