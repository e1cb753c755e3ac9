#include "identitymap.h"

namespace iterdeck::im {

IdentityMap::IdentityMap(const QList<model::Person> &people)
    : m_people(people)
{
    for (qsizetype i = 0; i < m_people.size(); ++i) {
        const model::Person &p = m_people[i];
        if (!p.imUserId.isEmpty())
            m_im.insert(p.imUserId, i);
        if (!p.kubeUser.isEmpty())
            m_kube.insert(p.kubeUser, i);
        for (const QString &c : p.collabUsers)
            m_collab.insert(c.toCaseFolded(), i);
    }
}

const model::Person *IdentityMap::byImUser(const QString &imUserId) const
{
    const auto it = m_im.constFind(imUserId);
    return it == m_im.cend() ? nullptr : &m_people[*it];
}

const model::Person *IdentityMap::byCollabUser(const QString &collabUser) const
{
    const auto it = m_collab.constFind(collabUser.toCaseFolded());
    return it == m_collab.cend() ? nullptr : &m_people[*it];
}

const model::Person *IdentityMap::byKubeUser(const QString &kubeUser) const
{
    const auto it = m_kube.constFind(kubeUser);
    return it == m_kube.cend() ? nullptr : &m_people[*it];
}

QStringList IdentityMap::imUsersForCollab(const QStringList &collabUsers, QStringList *unknown) const
{
    QStringList out;
    for (const QString &c : collabUsers) {
        const model::Person *p = byCollabUser(c);
        if (!p || p->imUserId.isEmpty()) {
            if (unknown)
                unknown->append(c);
            continue;
        }
        if (!out.contains(p->imUserId))
            out.append(p->imUserId);
    }
    return out;
}

QString IdentityMap::kubeUserForIm(const QString &imUserId) const
{
    const model::Person *p = byImUser(imUserId);
    return p ? p->kubeUser : QString();
}

bool IdentityMap::isAdmin(const QString &imUserId) const
{
    const model::Person *p = byImUser(imUserId);
    return p && p->admin;
}

} // namespace iterdeck::im
