#include "iteration.h"

#include <QJsonArray>

namespace iterdeck::model {

QString iterationStateName(Iteration::State state)
{
    return state == Iteration::State::Open ? QStringLiteral("open") : QStringLiteral("closed");
}

QJsonObject Iteration::toJson() const
{
    QJsonObject o {{QStringLiteral("id"), id},
                   {QStringLiteral("key"), key},
                   {QStringLiteral("name"), name},
                   {QStringLiteral("state"), iterationStateName(state)},
                   {QStringLiteral("members"), QJsonArray::fromStringList(members)}};
    if (!url.isEmpty())
        o.insert(QStringLiteral("url"), url);
    if (startedAt.isValid())
        o.insert(QStringLiteral("startedAt"), startedAt.toUTC().toString(Qt::ISODateWithMs));
    if (closedAt.isValid())
        o.insert(QStringLiteral("closedAt"), closedAt.toUTC().toString(Qt::ISODateWithMs));
    return o;
}

Iteration Iteration::fromJson(const QJsonObject &o)
{
    Iteration it;
    it.id = o.value(u"id").toInteger();
    it.key = o.value(u"key").toString();
    it.name = o.value(u"name").toString();
    it.url = o.value(u"url").toString();
    it.state = o.value(u"state").toString() == u"closed" ? State::Closed : State::Open;
    for (const QJsonValue &m : o.value(u"members").toArray())
        it.members.append(m.toString());
    it.startedAt = QDateTime::fromString(o.value(u"startedAt").toString(), Qt::ISODateWithMs);
    it.closedAt = QDateTime::fromString(o.value(u"closedAt").toString(), Qt::ISODateWithMs);
    return it;
}

} // namespace iterdeck::model
