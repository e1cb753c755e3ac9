#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QString>

namespace iterdeck::model {

// One entry of the bot's append-only event log. `seq` is global and strictly increasing in
// commit order, so a reader that saw seq N needs exactly the events after N.
struct Event
{
    qint64 seq = 0;
    QDateTime at;
    QString type; // "iteration.started", "artifact.published", ...
    qint64 iterationId = 0; // 0: not tied to one iteration
    qint64 environmentId = 0; // 0: not tied to one environment
    QJsonObject payload;

    QJsonObject toJson() const;
    // The inverse of toJson(); missing fields keep their defaults.
    static Event fromJson(const QJsonObject &o);
    friend bool operator==(const Event &, const Event &) = default;
};

} // namespace iterdeck::model
