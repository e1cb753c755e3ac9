#pragma once
// The bot's own per-iteration channels (platform "builtin"), which the desktop app shows. All
// state is in the store: the channel is the iteration's row of chat_groups, and everything that
// happens in it is an event of the log (channel.created, channel.members, channel.archived,
// channel.message), each appended in one transaction and then told through eventsAppended, so the
// desktop stream carries channels like any other event. There is no webhook: desktop users post
// through the desktop API's command request, so verify() and parse() refuse.
#include "im/imadapter.h"
#include "model/event.h"
#include "store.h"

#include <functional>
#include <optional>

namespace iterdeck::bot {

class BuiltinChannels : public im::ImAdapter
{
    Q_OBJECT

public:
    // `store` is not owned and must outlive the adapter.
    explicit BuiltinChannels(Store *store, QObject *parent = nullptr);

    QString platform() const override;
    im::Capabilities capabilities() const override;

    // The channel of an iteration: "iteration-ID". createGroup needs GroupSpec::iterationId.
    static QString chatIdFor(qint64 iterationId);

    im::ImJob *createGroup(const im::GroupSpec &spec) override;
    im::ImJob *addMembers(const QString &chatId, const QStringList &userIds) override;
    im::ImJob *removeMembers(const QString &chatId, const QStringList &userIds) override;
    im::ImJob *closeGroup(const QString &chatId, const QStringList &members) override;
    im::ImJob *postMessage(const QString &chatId, const QString &text) override;
    im::ImJob *postCard(const QString &chatId, const im::DeployCard &card) override;
    im::ImJob *updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                          const im::DeployCard &card) override;
    // A message written by a person (`from`: their name), e.g. through the desktop API.
    im::ImJob *postMessageAs(const QString &chatId, const QString &from, const QString &text);

    Expected<im::VerifiedRequest, im::ImError> verify(const im::InboundRequest &request,
                                                      const QDateTime &now) const override;
    Expected<im::InboundEvent, im::ImError> parse(const im::VerifiedRequest &request) const override;

Q_SIGNALS:
    // The channel events, after they were committed.
    void eventsAppended(const QList<model::Event> &events);

private:
    // Runs `change` on the channel's stored row in one transaction with the event it returns (none:
    // nothing changed); the job finishes from the event loop.
    using Change
        = std::function<Expected<std::optional<model::Event>, im::ImError>(ChatGroup &group, im::ImResult &result)>;
    im::ImJob *change(const QString &chatId, bool mustBeOpen, const Change &apply);
    im::ImJob *post(const QString &chatId, const QString &from, const QString &text, QJsonObject extra);

    Store *m_store;
};

} // namespace iterdeck::bot
