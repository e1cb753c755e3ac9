#include "componentresolver.h"

#include <QUrl>

namespace iterdeck::bot {

QString ComponentResolver::repositoryPath(const QString &repository)
{
    QString r = repository.trimmed();
    if (r.contains(QLatin1String("://"))) {
        r = QUrl(r).path();
    } else if (const qsizetype at = r.indexOf(u'@'); at >= 0 && r.indexOf(u':', at) > at) {
        r = r.mid(r.indexOf(u':', at) + 1); // scp-like git@host:path
    }
    while (r.startsWith(u'/'))
        r.remove(0, 1);
    while (r.endsWith(u'/'))
        r.chop(1);
    if (r.endsWith(QLatin1String(".git")))
        r.chop(4);
    return r.toLower();
}

QString ComponentResolver::imagePath(const QString &image)
{
    QString i = image.trimmed().toLower();
    if (const qsizetype at = i.indexOf(u'@'); at >= 0)
        i.truncate(at);
    const qsizetype slash = i.indexOf(u'/');
    if (slash > 0) {
        const QString first = i.left(slash);
        // The first part is a host when it has a dot or a port, or is localhost (Docker's rule).
        if (first.contains(u'.') || first.contains(u':') || first == QLatin1String("localhost"))
            i = i.mid(slash + 1);
    }
    if (const qsizetype colon = i.lastIndexOf(u':'); colon > i.lastIndexOf(u'/'))
        i.truncate(colon);
    return i;
}

QString ComponentResolver::resolve(const ArtifactPublished &artifact, QString *why) const
{
    if (!artifact.component.isEmpty()) {
        if (m_manifest.component(artifact.component))
            return artifact.component;
        *why = QStringLiteral("no component \"%1\" in the manifest").arg(artifact.component);
        return {};
    }
    if (!artifact.image.isEmpty()) {
        const QString wanted = artifact.image.toLower();
        for (const auto &c : m_manifest.components) {
            if (c.image.toLower() == wanted)
                return c.name;
        }
        const QString path = imagePath(artifact.image);
        QStringList byPath;
        for (const auto &c : m_manifest.components) {
            if (imagePath(c.image) == path)
                byPath.append(c.name);
        }
        if (byPath.size() == 1)
            return byPath.constFirst();
        if (byPath.size() > 1) {
            *why = QStringLiteral("image %1 matches several components by path (%2); give them distinct image paths")
                       .arg(artifact.image, byPath.join(QStringLiteral(", ")));
            return {};
        }
    }
    if (!artifact.repository.isEmpty()) {
        const QString path = repositoryPath(artifact.repository);
        for (const auto &c : m_manifest.components) {
            const QString cp = repositoryPath(c.repository);
            if (!path.isEmpty() && (cp == path || cp.endsWith(u'/' + path) || path.endsWith(u'/' + cp)))
                return c.name;
        }
    }
    if (!artifact.jobName.isEmpty() && m_manifest.component(artifact.jobName))
        return artifact.jobName;
    QStringList hints;
    if (!artifact.image.isEmpty())
        hints.append(QStringLiteral("image ") + artifact.image);
    if (!artifact.repository.isEmpty())
        hints.append(QStringLiteral("repository ") + artifact.repository);
    if (!artifact.jobName.isEmpty())
        hints.append(QStringLiteral("job ") + artifact.jobName);
    *why = QStringLiteral("no component matches %1").arg(hints.join(QStringLiteral(", ")));
    return {};
}

} // namespace iterdeck::bot
