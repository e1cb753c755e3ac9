#pragma once

#include "model/teammanifest.h"

#include <QHash>
#include <QList>

namespace iterdeck::im {

// Who is who across the IM platform, the collaboration tool and Kubernetes, from the manifest's
// people. Lookups are exact (IM ids, Kubernetes users) or case-insensitive (collaboration-tool
// names, which GitHub and GitLab treat so).
class IdentityMap
{
public:
    IdentityMap() = default;
    explicit IdentityMap(const QList<model::Person> &people);

    const model::Person *byImUser(const QString &imUserId) const;
    const model::Person *byCollabUser(const QString &collabUser) const;
    const model::Person *byKubeUser(const QString &kubeUser) const;

    // IM ids of the given collaboration-tool users (an iteration's members); `unknown` gets those
    // without a person or without an IM id.
    QStringList imUsersForCollab(const QStringList &collabUsers, QStringList *unknown = nullptr) const;
    QString kubeUserForIm(const QString &imUserId) const;
    bool isAdmin(const QString &imUserId) const;

private:
    QList<model::Person> m_people;
    QHash<QString, qsizetype> m_im, m_collab, m_kube;
};

} // namespace iterdeck::im
