#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QString>
#include <QStringList>

namespace iterdeck::model {

// An iteration (sprint, milestone) as the bot keeps it. `key` identifies it across deliveries:
// the source qualifies it ("github:octo/shop/milestone/3", "jira:sprint/12", "generic:sprint-42").
struct Iteration
{
    enum class State { Open, Closed };

    qint64 id = 0; // store id; 0 before it is stored
    QString key;
    QString name;
    QString url;
    State state = State::Open;
    QDateTime startedAt;
    QDateTime closedAt; // invalid while open
    QStringList members; // collaboration-tool user names, sorted

    QJsonObject toJson() const;
    static Iteration fromJson(const QJsonObject &o);
    friend bool operator==(const Iteration &, const Iteration &) = default;
};

QString iterationStateName(Iteration::State state);

} // namespace iterdeck::model
