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

} // namespace iterdeck::model
