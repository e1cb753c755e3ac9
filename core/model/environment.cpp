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
    return o;
}

} // namespace iterdeck::model
