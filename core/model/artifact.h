#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QString>

namespace iterdeck::model {

// A build output of one component on one branch: what CI or a registry published.
// Image and chart are independent: either may be missing.
struct Artifact
{
    qint64 id = 0; // store id; 0 before it is stored
    QString component;
    QString branch; // empty when the publisher does not know it (an untagged registry push)
    QString build; // build number or pipeline id, as the publisher names it
    QString commit;
    QString imageTag;
    QString digest; // sha256:...
    QString chartVersion;
    QDateTime publishedAt;
    QString link; // build page or package page
    QString source; // the webhook source that reported it

    QJsonObject toJson() const;
    static Artifact fromJson(const QJsonObject &o);
    friend bool operator==(const Artifact &, const Artifact &) = default;
};

} // namespace iterdeck::model
