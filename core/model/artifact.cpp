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

Artifact Artifact::fromJson(const QJsonObject &o)
{
    Artifact a;
    a.id = o.value(u"id").toInteger();
    a.component = o.value(u"component").toString();
    a.branch = o.value(u"branch").toString();
    a.build = o.value(u"build").toString();
    a.commit = o.value(u"commit").toString();
    a.imageTag = o.value(u"imageTag").toString();
    a.digest = o.value(u"digest").toString();
    a.chartVersion = o.value(u"chartVersion").toString();
    a.link = o.value(u"link").toString();
    a.source = o.value(u"source").toString();
    a.publishedAt = QDateTime::fromString(o.value(u"publishedAt").toString(), Qt::ISODateWithMs);
    return a;
}

} // namespace iterdeck::model
