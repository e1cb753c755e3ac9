#include "artifact.h"

namespace iterdeck::model {

QJsonObject Artifact::toJson() const
{
    QJsonObject o {
        {QStringLiteral("id"), id}, {QStringLiteral("component"), component}, {QStringLiteral("branch"), branch}};
    auto put = [&o](const char *key, const QString &value) {
        if (!value.isEmpty())
            o.insert(QLatin1String(key), value);
    };
    put("build", build);
    put("commit", commit);
    put("imageTag", imageTag);
    put("digest", digest);
    put("chartVersion", chartVersion);
    put("link", link);
    put("source", source);
    if (publishedAt.isValid())
        o.insert(QStringLiteral("publishedAt"), publishedAt.toUTC().toString(Qt::ISODateWithMs));
    return o;
}

} // namespace iterdeck::model
