#pragma once
// Events in words: one line for a person (tray notifications, the activity list, `iterdeckctl
// bot watch`), and the kind a notification switch governs.
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
// "web 1.4 deployed to shop-sprint-7", "deploy of web failed in shop-sprint-7: ...".
QString describeEvent(const model::Event &event);

} // namespace iterdeck::chatops
