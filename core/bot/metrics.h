#pragma once

#include <QByteArray>
#include <QMap>
#include <QMutex>
#include <QString>

#include <array>

namespace iterdeck::bot {

// The bot's counters, rendered in the Prometheus text exposition format (version 0.0.4).
// Thread-safe.
class Metrics
{
public:
    Metrics();

    void webhook(const QString &source, int status);
    // The time one store transaction took, in seconds.
    void storeLatency(double seconds);
    void eventsAppended(int count);
    void storeFailure();
    // The desktop stream: connected clients, and events fanned out to them.
    void desktopClients(int count);
    void desktopEventFannedOut();

    qint64 webhookCount(const QString &source, int status) const;
    QByteArray render() const;

private:
    static constexpr std::array<double, 10> kBuckets {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

    mutable QMutex m_mutex;
    QMap<QPair<QString, int>, qint64> m_webhooks;
    std::array<qint64, kBuckets.size()> m_bucketCounts {};
    qint64 m_latencyCount = 0;
    double m_latencySum = 0;
    qint64 m_events = 0;
    qint64 m_storeFailures = 0;
    int m_desktopClients = 0;
    qint64 m_desktopEvents = 0;
    qint64 m_startedAt = 0;
};

// Escapes a label value: backslash, double quote and newline.
QString prometheusLabel(const QString &value);

} // namespace iterdeck::bot
