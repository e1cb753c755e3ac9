#include "environment.h"

namespace iterdeck::model {

QJsonObject Environment::toJson() const
{
    QJsonObject o {{QStringLiteral("id"), id},
                   {QStringLiteral("iteration"), iterationId},
                   {QStringLiteral("namespace"), nameSpace},
                   {QStringLiteral("state"), state}};
    if (!domain.isEmpty())
        o.insert(QStringLiteral("domain"), domain);
    if (createdAt.isValid())
        o.insert(QStringLiteral("createdAt"), createdAt.toUTC().toString(Qt::ISODateWithMs));
    if (updatedAt.isValid())
        o.insert(QStringLiteral("updatedAt"), updatedAt.toUTC().toString(Qt::ISODateWithMs));
    return o;
}

QJsonObject Selection::toJson() const
{
    QJsonObject o {{QStringLiteral("environment"), environmentId}, {QStringLiteral("component"), component}};
    if (mode == Mode::Follow) {
        o.insert(QStringLiteral("follow"), branch);
    } else {
        o.insert(QStringLiteral("pin"), artifactId);
    }
    if (!updatedBy.isEmpty())
        o.insert(QStringLiteral("updatedBy"), updatedBy);
    if (updatedAt.isValid())
        o.insert(QStringLiteral("updatedAt"), updatedAt.toUTC().toString(Qt::ISODateWithMs));
    return o;
}

Environment Environment::fromJson(const QJsonObject &o)
{
    Environment e;
    e.id = o.value(u"id").toInteger();
    e.iterationId = o.value(u"iteration").toInteger();
    e.nameSpace = o.value(u"namespace").toString();
    e.domain = o.value(u"domain").toString();
    e.state = o.value(u"state").toString(e.state);
    e.createdAt = QDateTime::fromString(o.value(u"createdAt").toString(), Qt::ISODateWithMs);
    e.updatedAt = QDateTime::fromString(o.value(u"updatedAt").toString(), Qt::ISODateWithMs);
    return e;
}

Selection Selection::fromJson(const QJsonObject &o)
{
    Selection s;
    s.environmentId = o.value(u"environment").toInteger();
    s.component = o.value(u"component").toString();
    if (o.contains(u"pin")) {
        s.mode = Mode::Pin;
        s.artifactId = o.value(u"pin").toInteger();
    } else {
        s.branch = o.value(u"follow").toString();
    }
    s.updatedBy = o.value(u"updatedBy").toString();
    s.updatedAt = QDateTime::fromString(o.value(u"updatedAt").toString(), Qt::ISODateWithMs);
    return s;
}

} // namespace iterdeck::model
