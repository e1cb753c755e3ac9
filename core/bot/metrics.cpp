#include "metrics.h"

#include <QDateTime>

namespace iterdeck::bot {

Metrics::Metrics()
    : m_startedAt(QDateTime::currentSecsSinceEpoch())
{ }

QString prometheusLabel(const QString &value)
{
    QString out;
    out.reserve(value.size());
    for (const QChar c : value) {
        if (c == u'\\')
            out += QLatin1String("\\\\");
        else if (c == u'"')
            out += QLatin1String("\\\"");
        else if (c == u'\n')
            out += QLatin1String("\\n");
        else
            out += c;
    }
    return out;
}

void Metrics::webhook(const QString &source, int status)
{
    QMutexLocker lock(&m_mutex);
    ++m_webhooks[qMakePair(source, status)];
}

void Metrics::storeLatency(double seconds)
{
    QMutexLocker lock(&m_mutex);
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i])
            ++m_bucketCounts[i];
    }
    ++m_latencyCount;
    m_latencySum += seconds;
}

void Metrics::eventsAppended(int count)
{
    QMutexLocker lock(&m_mutex);
    m_events += count;
}

void Metrics::storeFailure()
{
    QMutexLocker lock(&m_mutex);
    ++m_storeFailures;
}

qint64 Metrics::webhookCount(const QString &source, int status) const
{
    QMutexLocker lock(&m_mutex);
    return m_webhooks.value(qMakePair(source, status));
}

void Metrics::desktopClients(int count)
{
    QMutexLocker lock(&m_mutex);
    m_desktopClients = count;
}

void Metrics::desktopEventFannedOut()
{
    QMutexLocker lock(&m_mutex);
    ++m_desktopEvents;
}

QByteArray Metrics::render() const
{
    QMutexLocker lock(&m_mutex);
    QString out;
    out += QLatin1String("# HELP iterdeck_webhooks_total Webhook requests answered, by hook and HTTP status.\n"
                         "# TYPE iterdeck_webhooks_total counter\n");
    for (auto it = m_webhooks.cbegin(); it != m_webhooks.cend(); ++it) {
        out += QStringLiteral("iterdeck_webhooks_total{source=\"%1\",status=\"%2\"} %3\n")
                   .arg(prometheusLabel(it.key().first))
                   .arg(it.key().second)
                   .arg(it.value());
    }
    out += QLatin1String("# HELP iterdeck_store_transaction_seconds Time of one store transaction.\n"
                         "# TYPE iterdeck_store_transaction_seconds histogram\n");
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        out += QStringLiteral("iterdeck_store_transaction_seconds_bucket{le=\"%1\"} %2\n")
                   .arg(kBuckets[i])
                   .arg(m_bucketCounts[i]);
    }
    out += QStringLiteral("iterdeck_store_transaction_seconds_bucket{le=\"+Inf\"} %1\n").arg(m_latencyCount);
    out += QStringLiteral("iterdeck_store_transaction_seconds_sum %1\n").arg(m_latencySum, 0, 'g', 9);
    out += QStringLiteral("iterdeck_store_transaction_seconds_count %1\n").arg(m_latencyCount);
    out += QStringLiteral("# HELP iterdeck_store_failures_total Store transactions that failed.\n"
                          "# TYPE iterdeck_store_failures_total counter\n"
                          "iterdeck_store_failures_total %1\n")
               .arg(m_storeFailures);
    out += QStringLiteral("# HELP iterdeck_events_total Events appended to the event log by this process.\n"
                          "# TYPE iterdeck_events_total counter\n"
                          "iterdeck_events_total %1\n")
               .arg(m_events);
    out += QStringLiteral("# HELP iterdeck_desktop_connections Desktop stream connections open now.\n"
                          "# TYPE iterdeck_desktop_connections gauge\n"
                          "iterdeck_desktop_connections %1\n"
                          "# HELP iterdeck_desktop_events_total Events fanned out to the desktop stream.\n"
                          "# TYPE iterdeck_desktop_events_total counter\n"
                          "iterdeck_desktop_events_total %2\n")
               .arg(m_desktopClients)
               .arg(m_desktopEvents);
    out += QStringLiteral("# HELP iterdeck_start_time_seconds When this process started, Unix time.\n"
                          "# TYPE iterdeck_start_time_seconds gauge\n"
                          "iterdeck_start_time_seconds %1\n")
               .arg(m_startedAt);
    return out.toUtf8();
}

} // namespace iterdeck::bot
