#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QString>

namespace iterdeck::model {

// The test environment of one iteration: a namespace and, optionally, a domain.
struct Environment
{
    qint64 id = 0;
    qint64 iterationId = 0;
    QString nameSpace; // "namespace" is a keyword
    QString domain;
    QString state = QStringLiteral("creating"); // creating | ready | failed | deleting | deleted
    QDateTime createdAt;
    QDateTime updatedAt;

    QJsonObject toJson() const;
    static Environment fromJson(const QJsonObject &o);
    friend bool operator==(const Environment &, const Environment &) = default;
};

// What one component of one environment runs: the latest artifact of a branch, or a pinned artifact.
struct Selection
{
    enum class Mode { Follow, Pin };

    qint64 environmentId = 0;
    QString component;
    Mode mode = Mode::Follow;
    QString branch; // Follow: the branch followed
    qint64 artifactId = 0; // Pin: the pinned artifact
    QString updatedBy;
    QDateTime updatedAt;

    QJsonObject toJson() const;
    static Selection fromJson(const QJsonObject &o);
    friend bool operator==(const Selection &, const Selection &) = default;
};

} // namespace iterdeck::model
