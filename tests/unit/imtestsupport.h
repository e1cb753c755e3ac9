#pragma once
// Shared pieces of the IM adapter tests: a sample deploy card, waiting for jobs, golden files.
#include "im/imadapter.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTest>

namespace iterdeck::testing {

inline im::DeployCard sampleCard(im::DeployCard::State state = im::DeployCard::State::Choosing)
{
    im::DeployCard card;
    card.cardId = QStringLiteral("card-7");
    card.iteration = QStringLiteral("Sprint 42");
    card.environment = QStringLiteral("shop-sprint-42");
    im::CardComponent api;
    api.name = QStringLiteral("api");
    api.branches = {
        {QStringLiteral("main"),
         im::BuildInfo {QStringLiteral("sha256:aa11"), QStringLiteral("1.4.2"), QStringLiteral("3f9c2e1"),
                        QDateTime(QDate(2026, 11, 20), QTime(8, 0), Qt::UTC)}},
        {QStringLiteral("feature/pay"),
         im::BuildInfo {QStringLiteral("sha256:bb22"), QStringLiteral("1.5.0-pay.3"), QStringLiteral("77ab010"), {}}}};
    api.selectedBranch = QStringLiteral("main");
    api.deployedBuild = QStringLiteral("1.4.2");
    im::CardComponent web;
    web.name = QStringLiteral("web");
    web.branches = {{QStringLiteral("develop"), std::nullopt}};
    web.selectedBranch = QStringLiteral("develop");
    card.components = {api, web};
    card.state = state;
    if (state != im::DeployCard::State::Choosing) {
        card.requestedBy = QStringLiteral("Alice");
        card.progress = QStringLiteral("api: rolling out 1 of 2 pods");
        card.components[0].selectedBranch = QStringLiteral("feature/pay");
        card.components[0].status = QStringLiteral("rolling out");
    }
    if (state == im::DeployCard::State::Succeeded)
        card.result = QStringLiteral("api 1.5.0-pay.3, web unchanged");
    if (state == im::DeployCard::State::Failed)
        card.result = QStringLiteral("api: ImagePullBackOff");
    return card;
}

inline QString stateName(im::DeployCard::State s)
{
    switch (s) {
    case im::DeployCard::State::Choosing:
        return QStringLiteral("choosing");
    case im::DeployCard::State::Deploying:
        return QStringLiteral("deploying");
    case im::DeployCard::State::Succeeded:
        return QStringLiteral("succeeded");
    case im::DeployCard::State::Failed:
        return QStringLiteral("failed");
    }
    return {};
}

// The error text of an Expected, or "" (for QVERIFY2 messages, which are built eagerly).
template<typename T> QString errorText(const Expected<T, im::ImError> &e)
{
    return e.hasValue() ? QString() : e.error().toString();
}

// Waits for the job and keeps it alive for inspection (the adapter deletes finished jobs later).
inline bool waitJob(im::ImJob *job, int ms = 15000)
{
    if (!job)
        return false;
    job->setParent(nullptr);
    QObject::disconnect(job, &im::ImJob::finished, job, nullptr);
    if (job->isFinished())
        return true;
    QSignalSpy spy(job, &im::ImJob::finished);
    return spy.wait(ms);
}

// Compares `actual` with tests/data/im/cards/<name>.json; ITERDECK_UPDATE_GOLDEN=1 rewrites it.
inline bool matchesGolden(const QJsonDocument &actual, const QString &name, QString *diff)
{
    const QString path = QStringLiteral(ITERDECK_SOURCE_DIR "/tests/data/im/cards/") + name + QStringLiteral(".json");
    const QByteArray text = actual.toJson(QJsonDocument::Indented);
    if (qEnvironmentVariableIntValue("ITERDECK_UPDATE_GOLDEN") == 1) {
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly))
            return false;
        f.write(text);
        return true;
    }
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        *diff = QStringLiteral("no golden file ") + path;
        return false;
    }
    const QByteArray expected = f.readAll();
    if (QJsonDocument::fromJson(expected) == actual)
        return true;
    *diff = QStringLiteral("rendered:\n") + QString::fromUtf8(text);
    return false;
}

inline QByteArray readFixture(const QString &relative)
{
    QFile f(QStringLiteral(ITERDECK_FIXTURES_DIR "/") + relative);
    if (!f.open(QIODevice::ReadOnly))
        qFatal("missing fixture %s", qPrintable(relative));
    return f.readAll();
}

} // namespace iterdeck::testing
