#include "access.h"

namespace iterdeck::bot {

Identity identify(const model::TeamManifest &manifest, const QString &user, bool tokenAdmin)
{
    Identity who;
    who.user = user;
    who.displayName = user;
    who.names = {user};
    who.admin = tokenAdmin;
    for (const model::Person &p : manifest.people) {
        const bool match = p.name.compare(user, Qt::CaseInsensitive) == 0 || p.collabUsers.contains(user)
            || (!p.imUserId.isEmpty() && p.imUserId == user);
        if (!match)
            continue;
        who.known = true;
        who.displayName = p.name;
        who.names = QStringList {p.name} + p.collabUsers;
        if (!p.imUserId.isEmpty())
            who.names.append(p.imUserId);
        who.names.removeDuplicates();
        who.admin = who.admin || p.admin;
        break;
    }
    return who;
}

bool isMember(const Identity &who, const model::Iteration &iteration)
{
    for (const QString &m : iteration.members) {
        for (const QString &n : who.names) {
            if (m.compare(n, Qt::CaseInsensitive) == 0)
                return true;
        }
    }
    return false;
}

bool canSee(const Identity &who, const model::Iteration &iteration)
{
    return who.admin || isMember(who, iteration);
}

} // namespace iterdeck::bot
