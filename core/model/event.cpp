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

Event Event::fromJson(const QJsonObject &o)
{
    Event e;
    e.seq = o.value(u"seq").toInteger();
    e.type = o.value(u"type").toString();
    e.payload = o.value(u"payload").toObject();
    e.at = QDateTime::fromString(o.value(u"at").toString(), Qt::ISODateWithMs);
    e.iterationId = o.value(u"iteration").toInteger();
    e.environmentId = o.value(u"environment").toInteger();
    return e;
}

} // namespace iterdeck::model
