#pragma once
// Who a user is to the bot, and what they may see. A desktop token and a chat message both name
// a user: a person's `name` in the manifest, one of their collaboration-tool names, or their IM
// user id. Iterations list collaboration-tool names as members, so a person is a member when any
// of their names is listed; a user the manifest does not know is a member under their own name.
#include "model/iteration.h"
#include "model/teammanifest.h"

#include <QString>
#include <QStringList>

namespace iterdeck::bot {

struct Identity
{
    QString user; // as presented (token user, chat user)
    QString displayName; // the person's name, or `user`
    QStringList names; // every name that stands for this user in iteration member lists
    bool admin = false; // the token's admin flag, or the manifest's
    bool known = false; // the manifest lists this person
};

// `tokenAdmin`: the desktop token says admin (chat users pass false).
Identity identify(const model::TeamManifest &manifest, const QString &user, bool tokenAdmin = false);
// Member of the iteration (admins are not members by being admins).
bool isMember(const Identity &who, const model::Iteration &iteration);
// Member or admin.
bool canSee(const Identity &who, const model::Iteration &iteration);

} // namespace iterdeck::bot
