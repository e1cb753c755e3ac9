#include "builtinchannels.h"

#include "chatops/protocol.h"
#include "commandengine.h"
#include "logging.h"

#include <QJsonArray>
#include <QTimer>

namespace iterdeck::bot {

namespace {

const QString kPlatform = QStringLiteral("builtin");

im::ImError storeError(const StoreError &e)
{
    return im::ImError(im::ImError::Code::Platform, QStringLiteral("store: ") + e.message, 0,
                       storeErrorCodeName(e.code));
}

model::Event channelEvent(const QString &type, const ChatGroup &group, QJsonObject payload)
{
    payload.insert(QStringLiteral("chatId"), group.chatId);
    payload.insert(QStringLiteral("platform"), kPlatform);
    return model::Event {0, {}, type, group.iterationId, 0, payload};
}

} // namespace

BuiltinChannels::BuiltinChannels(Store *store, QObject *parent)
    : im::ImAdapter(parent)
    , m_store(store)
{ }

QString BuiltinChannels::platform() const
{
    return kPlatform;
}

im::Capabilities BuiltinChannels::capabilities() const
{
    im::Capabilities c;
    c.cleanup = im::Capabilities::Cleanup::Archive;
    c.maxMembersPerCall = 1000;
    c.maxGroupMembers = 100000;
    return c;
}

QString BuiltinChannels::chatIdFor(qint64 iterationId)
{
    return QStringLiteral("iteration-%1").arg(iterationId);
}

im::ImJob *BuiltinChannels::change(const QString &chatId, bool mustBeOpen, const Change &apply)
{
    im::ImJob *job = newJob();
    im::ImResult result;
    result.chatId = chatId;
    std::optional<model::Event> appended;
    std::optional<im::ImError> error;
    auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        appended.reset();
        auto group = m_store->groupByChat(kPlatform, chatId);
        if (!group)
            return unexpected(group.error());
        if (!group->has_value()) {
            error = im::ImError(im::ImError::Code::InvalidArgument, QStringLiteral("no channel \"%1\"").arg(chatId));
            return false;
        }
        ChatGroup g = **group;
        if (mustBeOpen && g.state != u"open") {
            error = im::ImError(im::ImError::Code::InvalidArgument,
                                QStringLiteral("the channel \"%1\" is archived").arg(chatId));
            return false;
        }
        auto ev = apply(g, result);
        if (!ev) {
            error = ev.error();
            return false;
        }
        if (!ev->has_value())
            return true;
        if (auto saved = tx.saveGroup(g); !saved)
            return unexpected(saved.error());
        auto stored = tx.appendEvent(**ev);
        if (!stored)
            return unexpected(stored.error());
        appended = *stored;
        return true;
    });
    if (!r)
        error = storeError(r.error());
    if (error) {
        job->failLater(*error);
        return job;
    }
    if (appended) {
        result.messageId = QString::number(appended->seq);
        result.raw = appended->toJson();
        Q_EMIT eventsAppended({*appended});
    }
    QTimer::singleShot(0, job, [job, result] { job->succeed(result); });
    return job;
}

im::ImJob *BuiltinChannels::createGroup(const im::GroupSpec &spec)
{
    if (spec.iterationId <= 0) {
        im::ImJob *job = newJob();
        job->failLater(im::ImError(im::ImError::Code::InvalidArgument,
                                   QStringLiteral("a built-in channel belongs to an iteration; none was given")));
        return job;
    }
    const QString chatId = chatIdFor(spec.iterationId);
    QStringList members = spec.members;
    members.sort();
    members.removeDuplicates();
    im::ImJob *job = newJob();
    im::ImResult result;
    result.chatId = chatId;
    std::optional<model::Event> appended;
    auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
        appended.reset();
        auto existing = m_store->group(spec.iterationId, kPlatform);
        if (!existing)
            return unexpected(existing.error());
        // Creating an open channel again changes nothing; an archived one is opened again.
        if (existing->has_value() && (*existing)->state == u"open")
            return true;
        ChatGroup g;
        g.iterationId = spec.iterationId;
        g.platform = kPlatform;
        g.chatId = chatId;
        g.members = members;
        g.state = QStringLiteral("open");
        if (existing->has_value())
            g.createdAt = (*existing)->createdAt;
        auto saved = tx.saveGroup(g);
        if (!saved)
            return unexpected(saved.error());
        auto ev = tx.appendEvent(channelEvent(QStringLiteral("channel.created"), *saved,
                                              {{QStringLiteral("name"), spec.name},
                                               {QStringLiteral("description"), spec.description},
                                               {QStringLiteral("members"), QJsonArray::fromStringList(members)},
                                               {QStringLiteral("reopened"), existing->has_value()}}));
        if (!ev)
            return unexpected(ev.error());
        appended = *ev;
        return true;
    });
    if (!r) {
        job->failLater(storeError(r.error()));
        return job;
    }
    if (appended) {
        result.raw = appended->toJson();
        Q_EMIT eventsAppended({*appended});
    }
    QTimer::singleShot(0, job, [job, result] { job->succeed(result); });
    return job;
}

im::ImJob *BuiltinChannels::addMembers(const QString &chatId, const QStringList &userIds)
{
    return change(chatId, true,
                  [userIds](ChatGroup &g, im::ImResult &result) -> Expected<std::optional<model::Event>, im::ImError> {
                      QStringList added;
                      for (const QString &u : userIds) {
                          if (g.members.contains(u) || added.contains(u))
                              result.skipped.append(u);
                          else
                              added.append(u);
                      }
                      if (added.isEmpty())
                          return std::optional<model::Event>();
                      g.members += added;
                      g.members.sort();
                      return std::optional<model::Event>(
                          channelEvent(QStringLiteral("channel.members"), g,
                                       {{QStringLiteral("members"), QJsonArray::fromStringList(g.members)},
                                        {QStringLiteral("added"), QJsonArray::fromStringList(added)},
                                        {QStringLiteral("removed"), QJsonArray()}}));
                  });
}

im::ImJob *BuiltinChannels::removeMembers(const QString &chatId, const QStringList &userIds)
{
    return change(chatId, true,
                  [userIds](ChatGroup &g, im::ImResult &result) -> Expected<std::optional<model::Event>, im::ImError> {
                      QStringList removed;
                      for (const QString &u : userIds) {
                          if (g.members.removeAll(u) > 0)
                              removed.append(u);
                          else
                              result.skipped.append(u);
                      }
                      if (removed.isEmpty())
                          return std::optional<model::Event>();
                      return std::optional<model::Event>(
                          channelEvent(QStringLiteral("channel.members"), g,
                                       {{QStringLiteral("members"), QJsonArray::fromStringList(g.members)},
                                        {QStringLiteral("added"), QJsonArray()},
                                        {QStringLiteral("removed"), QJsonArray::fromStringList(removed)}}));
                  });
}

// The channel keeps its members, read-only.
im::ImJob *BuiltinChannels::closeGroup(const QString &chatId, const QStringList &)
{
    return change(chatId, false,
                  [](ChatGroup &g, im::ImResult &result) -> Expected<std::optional<model::Event>, im::ImError> {
                      if (g.state == u"archived") {
                          result.note = QStringLiteral("already archived");
                          return std::optional<model::Event>();
                      }
                      g.state = QStringLiteral("archived");
                      g.archivedAt = QDateTime::currentDateTimeUtc();
                      result.note = QStringLiteral("archived");
                      return std::optional<model::Event>(
                          channelEvent(QStringLiteral("channel.archived"), g,
                                       {{QStringLiteral("members"), QJsonArray::fromStringList(g.members)}}));
                  });
}

im::ImJob *BuiltinChannels::post(const QString &chatId, const QString &from, const QString &text, QJsonObject extra)
{
    return change(
        chatId, true, [&](ChatGroup &g, im::ImResult &) -> Expected<std::optional<model::Event>, im::ImError> {
            if (text.isEmpty() && !extra.contains(u"card"))
                return unexpected(im::ImError(im::ImError::Code::InvalidArgument, QStringLiteral("an empty message")));
            extra.insert(QStringLiteral("text"), text);
            extra.insert(QStringLiteral("from"), from);
            return std::optional<model::Event>(channelEvent(QStringLiteral("channel.message"), g, extra));
        });
}

im::ImJob *BuiltinChannels::postMessage(const QString &chatId, const QString &text)
{
    return post(chatId, QLatin1String(chatops::BotAuthor), text, {});
}

im::ImJob *BuiltinChannels::postMessageAs(const QString &chatId, const QString &from, const QString &text)
{
    return post(chatId, from, text, {});
}

im::ImJob *BuiltinChannels::postCard(const QString &chatId, const im::DeployCard &card)
{
    return post(chatId, QLatin1String(chatops::BotAuthor), im::cardtext::title(card),
                {{QStringLiteral("card"), deployCardToJson(card)}});
}

im::ImJob *BuiltinChannels::updateCard(const QString &chatId, const QString &messageId, const QString &,
                                       const im::DeployCard &card)
{
    return post(chatId, QLatin1String(chatops::BotAuthor), im::cardtext::title(card),
                {{QStringLiteral("card"), deployCardToJson(card)}, {QStringLiteral("updates"), messageId}});
}

Expected<im::VerifiedRequest, im::ImError> BuiltinChannels::verify(const im::InboundRequest &, const QDateTime &) const
{
    return unexpected(im::ImError(im::ImError::Code::Unsupported,
                                  QStringLiteral("the built-in channels take no webhooks; desktop users post "
                                                 "through the desktop API")));
}

Expected<im::InboundEvent, im::ImError> BuiltinChannels::parse(const im::VerifiedRequest &) const
{
    return unexpected(im::ImError(im::ImError::Code::Unsupported,
                                  QStringLiteral("the built-in channels take no webhooks; desktop users post "
                                                 "through the desktop API")));
}

} // namespace iterdeck::bot
