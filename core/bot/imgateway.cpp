#include "imgateway.h"

#include "access.h"
#include "cardfollower.h"
#include "commandengine.h"
#include "logging.h"

#include <QJsonDocument>
#include <QJsonObject>

namespace iterdeck::bot {

namespace {

im::InboundAnswer errorAnswer(int status, const QString &code, const QString &message)
{
    return im::InboundAnswer {
        status, "application/json",
        QJsonDocument(QJsonObject {{QStringLiteral("error"), code}, {QStringLiteral("message"), message}})
            .toJson(QJsonDocument::Compact)};
}

} // namespace

ImGateway::ImGateway(model::TeamManifest manifest, Store *store, im::ImAdapter *adapter, CommandEngine *commands,
                     QObject *parent)
    : QObject(parent)
    , m_manifest(std::move(manifest))
    , m_store(store)
    , m_adapter(adapter)
    , m_commands(commands)
{ }

ImGateway::~ImGateway() = default;

QString ImGateway::platform() const
{
    return m_adapter ? m_adapter->platform() : QString();
}

bool ImGateway::accepts(const QByteArray &method) const
{
    return method == "POST" || (method == "GET" && platform() == u"wecom");
}

im::InboundAnswer ImGateway::receive(const im::InboundRequest &request, const QDateTime &now)
{
    if (!m_adapter)
        return errorAnswer(503, QStringLiteral("unavailable"), QStringLiteral("no IM adapter"));
    auto event = m_adapter->receive(request, now);
    if (!event) {
        const im::ImError &e = event.error();
        if (e.code == im::ImError::Code::Replay) {
            qCInfo(lcBot, "%s callback: %s", qPrintable(platform()), qPrintable(e.message));
            return errorAnswer(200, QStringLiteral("duplicate"), e.message);
        }
        qCWarning(lcBot, "%s callback refused: %s", qPrintable(platform()), qPrintable(e.toString()));
        return errorAnswer(e.inboundStatus(), im::ImError::codeName(e.code), e.message);
    }
    if (event->kind != im::InboundEvent::Kind::Command && event->kind != im::InboundEvent::Kind::CardAction)
        return event->answer;
    if (!event->eventId.isEmpty()) {
        // Recorded before it runs: a platform that redelivers (it did not see our answer in time,
        // or the bot restarted in between) finds the id and nothing runs twice.
        bool fresh = true;
        auto recorded = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto r = tx.insertDelivery(
                DeliveryRecord {QStringLiteral("im:") + platform(), event->eventId, event->eventType, now.toUTC()});
            if (!r)
                return unexpected(r.error());
            fresh = *r;
            return true;
        });
        if (!recorded) {
            qCWarning(lcBot, "%s callback %s: cannot record it: %s", qPrintable(platform()), qPrintable(event->eventId),
                      qPrintable(recorded.error().message));
            // The platform retries; by then the store may be back.
            return errorAnswer(503, QStringLiteral("store-failed"), recorded.error().message);
        }
        if (!fresh) {
            qCInfo(lcBot, "%s callback %s was handled before; ignored", qPrintable(platform()),
                   qPrintable(event->eventId));
            return event->answer;
        }
    }
    QPointer<ImGateway> self(this);
    QMetaObject::invokeMethod(
        this,
        [self, e = *event]() {
            if (self)
                self->run(e);
        },
        Qt::QueuedConnection);
    return event->answer;
}

ImGateway::Target ImGateway::targetFor(const im::InboundEvent &event, const Identity &who)
{
    Target t {0, event.chatId};
    auto group = m_store->groupByChat(platform(), event.chatId);
    if (group && group->has_value()) {
        t.iterationId = (*group)->iterationId;
        return t;
    }
    // Not an iteration's group: a one-to-one message (WeCom delivers every message so). When the
    // user is in exactly one open iteration with a group, that is the iteration and the reply goes
    // to its group; otherwise the command engine decides and the reply goes back where it came from.
    auto groups = m_store->groups();
    auto iterations = m_store->iterations();
    if (!groups || !iterations)
        return t;
    std::optional<ChatGroup> only;
    for (const ChatGroup &g : std::as_const(*groups)) {
        if (g.platform != platform() || g.state != u"open")
            continue;
        for (const model::Iteration &it : std::as_const(*iterations)) {
            if (it.id != g.iterationId || it.state != model::Iteration::State::Open || !isMember(who, it))
                continue;
            if (only)
                return t;
            only = g;
        }
    }
    if (only)
        t = Target {only->iterationId, only->chatId};
    return t;
}

void ImGateway::run(const im::InboundEvent &event)
{
    if (!m_adapter)
        return;
    const Identity who = identify(m_manifest, event.userId);
    const Target target = targetFor(event, who);
    const CommandContext context {who, target.iterationId, platform()};
    if (event.kind == im::InboundEvent::Kind::Command) {
        const CommandReply reply = m_commands->run(context, event.text);
        qCInfo(lcBot, "%s command from %s in %s: \"%s\": %s", qPrintable(platform()), qPrintable(who.displayName),
               qPrintable(event.chatId), qPrintable(event.text.left(200)),
               reply.ok ? "ok" : qPrintable(reply.errorCode));
        if (!reply.text.isEmpty())
            this->reply(event, target, reply.text);
        if (reply.card)
            showCard(event, target, reply, {});
        Q_EMIT handled(event.eventId, target.chatId, reply.ok);
        return;
    }
    const CommandReply reply = m_commands->applyCard(context, event.action);
    qCInfo(lcBot, "%s card action from %s in %s: %s", qPrintable(platform()), qPrintable(who.displayName),
           qPrintable(event.chatId), reply.ok ? "ok" : qPrintable(reply.errorCode));
    if (reply.card)
        showCard(event, target, reply, event.messageId);
    if (!reply.ok && !reply.text.isEmpty())
        this->reply(event, target, reply.text);
    Q_EMIT handled(event.eventId, target.chatId, reply.ok);
}

void ImGateway::reply(const im::InboundEvent &event, const Target &target, const QString &text)
{
    if (target.chatId == event.chatId)
        watch(m_adapter->reply(event, target.chatId, text, QDateTime::currentDateTimeUtc()), QStringLiteral("reply"));
    else
        watch(m_adapter->postMessage(target.chatId, text), QStringLiteral("reply"));
}

void ImGateway::showCard(const im::InboundEvent &event, const Target &target, const CommandReply &reply,
                         const QString &messageId)
{
    // A clicked card is changed where it is; a command's card goes to the iteration's group.
    const QString chat = messageId.isEmpty() ? target.chatId : event.chatId;
    if (m_follower && reply.environmentId > 0 && !reply.deploying.isEmpty()) {
        CardFollower::Start start;
        start.chatId = chat;
        start.followUpChatId = target.chatId;
        start.messageId = messageId;
        start.replyToken = messageId.isEmpty() ? QString() : event.replyToken;
        start.environmentId = reply.environmentId;
        start.components = reply.deploying;
        start.card = *reply.card;
        m_follower->follow(start);
        return;
    }
    if (messageId.isEmpty())
        watch(m_adapter->postCard(chat, *reply.card), QStringLiteral("deploy card"));
    else
        watch(m_adapter->updateCard(chat, messageId, event.replyToken, *reply.card), QStringLiteral("card update"));
}

void ImGateway::watch(im::ImJob *job, const QString &what)
{
    const QString p = platform();
    connect(job, &im::ImJob::finished, this, [p, what](im::ImJob *j) {
        if (j->hasError())
            qCWarning(lcBot, "%s %s failed: %s", qPrintable(p), qPrintable(what), qPrintable(j->error().toString()));
    });
}

} // namespace iterdeck::bot
