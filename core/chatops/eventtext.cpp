#include "eventtext.h"

#include "protocol.h"

#include <QCoreApplication>
#include <QJsonArray>

namespace iterdeck::chatops {

namespace {

QString tr(const char *text)
{
    // The context lupdate gives the calls of this helper: their namespace.
    return QCoreApplication::translate("iterdeck::chatops", text);
}

QString buildOf(const QJsonObject &artifact)
{
    return buildName(model::Artifact::fromJson(artifact));
}

QString firstLine(const QString &text)
{
    const QString t = text.section(u'\n', 0, 0).trimmed();
    return t.size() > 160 ? t.left(157) + QStringLiteral("...") : t;
}

} // namespace

QString buildName(const model::Artifact &a)
{
    for (const QString *v : {&a.imageTag, &a.build, &a.chartVersion}) {
        if (!v->isEmpty())
            return *v;
    }
    return a.digest.isEmpty() ? QStringLiteral("?") : a.digest.left(19);
}

QString buildLabel(const model::Artifact &a, bool withNumber)
{
    QString t = buildName(a);
    if (withNumber && !a.build.isEmpty() && a.build != t)
        t += QStringLiteral(" #") + a.build;
    if (!a.commit.isEmpty())
        t += QStringLiteral(" · ") + a.commit.left(7);
    return t;
}

EventKind eventKind(const QString &type)
{
    if (type.startsWith(u"iteration."))
        return EventKind::Iteration;
    if (type.startsWith(u"environment."))
        return EventKind::Environment;
    if (type.startsWith(u"deploy."))
        return EventKind::Deploy;
    if (type.startsWith(u"artifact."))
        return EventKind::Artifact;
    if (type.startsWith(u"selection."))
        return EventKind::Selection;
    if (type.startsWith(u"channel."))
        return EventKind::Chat;
    return EventKind::Other;
}

QString eventKindName(EventKind kind)
{
    switch (kind) {
    case EventKind::Iteration:
        return QStringLiteral("iteration");
    case EventKind::Environment:
        return QStringLiteral("environment");
    case EventKind::Deploy:
        return QStringLiteral("deploy");
    case EventKind::Artifact:
        return QStringLiteral("artifact");
    case EventKind::Selection:
        return QStringLiteral("selection");
    case EventKind::Chat:
        return QStringLiteral("chat");
    case EventKind::Other:
        break;
    }
    return QStringLiteral("other");
}

bool isBotGroupMessage(const QString &type, const QString &from)
{
    return type == u"channel.message" && from == QLatin1String(BotAuthor);
}

bool isNotable(const model::Event &e)
{
    static const QStringList notable {
        QStringLiteral("iteration.started"),   QStringLiteral("iteration.closed"),
        QStringLiteral("environment.ready"),   QStringLiteral("environment.failed"),
        QStringLiteral("environment.deleted"), QStringLiteral("deploy.succeeded"),
        QStringLiteral("deploy.failed"),       QStringLiteral("channel.message"),
    };
    // The bot's own group messages repeat events that were notified already.
    if (isBotGroupMessage(e.type, e.payload.value(u"from").toString()))
        return false;
    return notable.contains(e.type);
}

QString describeEvent(const model::Event &e)
{
    const QJsonObject &p = e.payload;
    const QString ns = p.value(u"namespace").toString();
    const QString component = p.value(u"component").toString();
    const QString name = p.value(u"name").toString(p.value(u"key").toString());
    if (e.type == u"iteration.started")
        return tr("Iteration %1 started").arg(name);
    if (e.type == u"iteration.closed")
        return tr("Iteration %1 closed").arg(name);
    if (e.type == u"iteration.members") {
        QStringList members;
        for (const QJsonValue &m : p.value(u"members").toArray())
            members.append(m.toString());
        return tr("Members of %1: %2").arg(name, members.join(QStringLiteral(", ")));
    }
    if (e.type == u"environment.created")
        return tr("Environment %1 created").arg(ns);
    if (e.type == u"environment.ready")
        return tr("Environment %1 is ready").arg(ns);
    if (e.type == u"environment.failed") {
        QStringList failed;
        for (const QJsonValue &c : p.value(u"failedComponents").toArray())
            failed.append(c.toString());
        const QString why = failed.isEmpty() ? firstLine(p.value(u"message").toString()) : failed.join(u", ");
        return why.isEmpty() ? tr("Environment %1 failed").arg(ns) : tr("Environment %1 failed: %2").arg(ns, why);
    }
    if (e.type == u"environment.deleting")
        return tr("Environment %1 is being removed").arg(ns);
    if (e.type == u"environment.deleted")
        return tr("Environment %1 was removed").arg(ns);
    if (e.type == u"deploy.started")
        return tr("Deploying %1 %2 to %3").arg(component, buildOf(p.value(u"artifact").toObject()), ns);
    if (e.type == u"deploy.succeeded")
        return tr("%1 %2 deployed to %3").arg(component, buildOf(p.value(u"artifact").toObject()), ns);
    if (e.type == u"deploy.failed")
        return tr("Deploy of %1 to %2 failed: %3").arg(component, ns, firstLine(p.value(u"message").toString()));
    if (e.type == u"deploy.waiting")
        return tr("%1 in %2 waits for a first build").arg(component, ns);
    if (e.type == u"artifact.published") {
        return tr("New build of %1 on %2: %3")
            .arg(p.value(u"component").toString(), p.value(u"branch").toString(), buildOf(p));
    }
    if (e.type == u"selection.changed") {
        const QString who = p.value(u"updatedBy").toString();
        const QString what = p.contains(u"pin") ? tr("pinned to build #%1").arg(p.value(u"pin").toInteger())
                                                : tr("follows %1").arg(p.value(u"follow").toString());
        return who.isEmpty() ? tr("%1 %2").arg(component, what) : tr("%1 %2 (by %3)").arg(component, what, who);
    }
    if (e.type == u"channel.created")
        return tr("Group %1 opened").arg(p.value(u"name").toString());
    if (e.type == u"channel.members") {
        QStringList members;
        for (const QJsonValue &m : p.value(u"members").toArray())
            members.append(m.toString());
        return tr("Group members: %1").arg(members.join(QStringLiteral(", ")));
    }
    if (e.type == u"channel.archived")
        return tr("Group archived");
    if (e.type == u"channel.message") {
        const QString from = p.value(u"from").toString();
        const QString text = firstLine(p.value(u"text").toString());
        return from.isEmpty() ? text : tr("%1: %2").arg(from, text);
    }
    return ns.isEmpty() ? e.type : tr("%1 in %2").arg(e.type, ns);
}

} // namespace iterdeck::chatops
