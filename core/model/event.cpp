#include "event.h"

namespace iterdeck::model {

QJsonObject Event::toJson() const
{
    QJsonObject o {{QStringLiteral("seq"), seq}, {QStringLiteral("type"), type}, {QStringLiteral("payload"), payload}};
    if (at.isValid())
        o.insert(QStringLiteral("at"), at.toUTC().toString(Qt::ISODateWithMs));
    if (iterationId)
        o.insert(QStringLiteral("iteration"), iterationId);
    if (environmentId)
        o.insert(QStringLiteral("environment"), environmentId);
    return o;
}

} // namespace iterdeck::model
