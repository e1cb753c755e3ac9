#pragma once
// Events in words: one line for a person (tray notifications, the activity list, `iterdeckctl
// bot watch`), and the kind a notification switch governs.
#include "model/artifact.h"
#include "model/event.h"

#include <QString>

namespace iterdeck::chatops {

enum class EventKind {
    Iteration, // started, closed, members
    Environment, // created, ready, failed, deleting, deleted, cleanup
    Deploy, // deploy.started / succeeded / failed / waiting
    Artifact, // artifact.published
    Selection, // selection.changed
    Chat, // channel.* messages
    Other,
};
EventKind eventKind(const QString &type);
QString eventKindName(EventKind kind); // iteration, environment, deploy, artifact, selection, chat, other
// True for what a person usually wants a toast for: failures, finished deploys, iterations, chat.
bool isNotable(const model::Event &event);
// A group message the bot wrote itself: it repeats an event that is listed (and notified) already.
bool isBotGroupMessage(const QString &type, const QString &from);
// "web 1.4 deployed to shop-sprint-7", "deploy of web failed in shop-sprint-7: ...".
QString describeEvent(const model::Event &event);
// What names a build to people: its image tag, else its build number, chart version or digest.
QString buildName(const model::Artifact &artifact);
// buildName, then " #BUILD" (withNumber, when the number is not the name) and " · COMMIT".
QString buildLabel(const model::Artifact &artifact, bool withNumber = false);

} // namespace iterdeck::chatops
