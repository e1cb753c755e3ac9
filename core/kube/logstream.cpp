#include "logstream.h"

#include "logging.h"

#include <QJsonArray>
#include <QNetworkReply>
#include <QTimer>

#include <algorithm>

namespace iterdeck::kube {

namespace {

// "2025-01-01T12:00:00.5Z" and "2025-01-01T12:00:00.500000000Z" name the same instant; Go trims
// trailing zeros. Pad the fraction to nanoseconds so that byte order is time order.
QByteArray normalizeStamp(const QByteArray &stamp)
{
    if (!stamp.endsWith('Z'))
        return stamp;
    const qsizetype dot = stamp.indexOf('.');
    QByteArray whole = dot < 0 ? stamp.chopped(1) : stamp.left(dot);
    QByteArray frac = dot < 0 ? QByteArray() : stamp.mid(dot + 1, stamp.size() - dot - 2);
    frac = frac.leftJustified(9, '0', true);
    return whole + '.' + frac + 'Z';
}

} // namespace

LogStream::LogStream(KubeClient *client, LogOptions options, QObject *parent)
    : QObject(parent)
    , m_client(client)
    , m_options(std::move(options))
{
    m_internalStamps = m_options.follow && m_options.reconnect && !m_options.timestamps;
}

LogStream::~LogStream()
{
    if (m_reply)
        m_reply->abort();
}

void LogStream::start()
{
    open();
}

void LogStream::stop()
{
    if (m_done)
        return;
    if (m_reply) {
        m_reply->disconnect(this);
        m_reply->abort();
        m_reply->deleteLater();
    }
    finish(KubeError::make(KubeError::Kind::Cancelled, QStringLiteral("stopped")));
}

void LogStream::open()
{
    KubeRequest r;
    r.path = ResourceRef::pods().path(m_options.ns, m_options.pod, QStringLiteral("log"));
    r.accept = "*/*";
    r.timeoutMs = m_options.follow ? 0 : 120000;
    if (!m_options.container.isEmpty())
        r.query.addQueryItem(QStringLiteral("container"), m_options.container);
    if (m_options.follow)
        r.query.addQueryItem(QStringLiteral("follow"), QStringLiteral("true"));
    if (m_options.previous)
        r.query.addQueryItem(QStringLiteral("previous"), QStringLiteral("true"));
    if (m_options.timestamps || m_internalStamps)
        r.query.addQueryItem(QStringLiteral("timestamps"), QStringLiteral("true"));
    if (m_options.limitBytes > 0)
        r.query.addQueryItem(QStringLiteral("limitBytes"), QString::number(m_options.limitBytes));
    if (m_reopened && !m_lastStamp.isEmpty()) {
        // Seconds are all sinceTime takes; lines of that second already shown are skipped.
        r.query.addQueryItem(QStringLiteral("sinceTime"), QString::fromLatin1(m_lastStamp.left(19)) + QLatin1Char('Z'));
    } else if (!m_reopened) {
        if (m_options.tailLines >= 0)
            r.query.addQueryItem(QStringLiteral("tailLines"), QString::number(m_options.tailLines));
        if (m_options.sinceSeconds >= 0)
            r.query.addQueryItem(QStringLiteral("sinceSeconds"), QString::number(m_options.sinceSeconds));
        else if (m_options.sinceTime.isValid())
            r.query.addQueryItem(QStringLiteral("sinceTime"), m_options.sinceTime.toUTC().toString(Qt::ISODate));
    }
    m_pending.clear();
    m_client->openStream(r, this, [this](QNetworkReply *reply, const KubeError &error) {
        if (m_done) {
            if (reply)
                reply->deleteLater();
            return;
        }
        if (!reply) {
            finish(error);
            return;
        }
        m_reply = reply;
        connect(reply, &QNetworkReply::readyRead, this, &LogStream::onData);
        connect(reply, &QNetworkReply::finished, this, &LogStream::onFinished);
    });
}

void LogStream::onData()
{
    if (!m_reply || !m_reply->isOpen())
        return;
    const QVariant status = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (status.isValid() && status.toInt() >= 300)
        return;
    m_failures = 0;
    m_pending += m_reply->readAll();
    qsizetype start = 0;
    for (;;) {
        const qsizetype nl = m_pending.indexOf('\n', start);
        if (nl < 0)
            break;
        deliver(m_pending.mid(start, nl + 1 - start));
        start = nl + 1;
    }
    m_pending.remove(0, start);
}

void LogStream::deliver(const QByteArray &line)
{
    if (!(m_options.timestamps || m_internalStamps)) {
        Q_EMIT data(line);
        return;
    }
    const qsizetype space = line.indexOf(' ');
    const QByteArray stamp = normalizeStamp(space > 0 ? line.left(space) : QByteArray());
    if (m_skipSameStamp >= 0 && !m_lastStamp.isEmpty() && m_reopened) {
        if (stamp < m_lastStamp)
            return;
        if (stamp == m_lastStamp && m_skipSameStamp > 0) {
            --m_skipSameStamp;
            return;
        }
    }
    if (stamp == m_lastStamp) {
        ++m_sameStampCount;
    } else {
        m_lastStamp = stamp;
        m_sameStampCount = 1;
    }
    m_skipSameStamp = 0;
    Q_EMIT data(m_internalStamps && space > 0 ? line.mid(space + 1) : line);
}

void LogStream::onFinished()
{
    QNetworkReply *reply = m_reply;
    if (!reply)
        return;
    onData();
    m_reply = nullptr;
    reply->deleteLater();
    const KubeError e = replyError(reply, m_client->config().cluster.server, false);
    if (e.kind == KubeError::Kind::Server || !m_options.follow || !m_options.reconnect) {
        if (!e.isError() && !m_pending.isEmpty())
            deliver(m_pending);
        finish(e);
        return;
    }
    // The stream ended, cleanly or not. Ask whether the container still runs: if so the cut
    // was the connection's, not the container's end.
    KubeCall *call = m_client->get(ResourceRef::pods(), m_options.ns, m_options.pod);
    connect(call, &KubeCall::finished, this, [this, call, e] {
        auto pod = call->object();
        if (!pod) {
            if (call->error().isNotFound() || !e.isError()) {
                finish(e);
                return;
            }
            reconnectLater();
            return;
        }
        const QJsonArray statuses
            = pod->value(QLatin1String("status")).toObject().value(QLatin1String("containerStatuses")).toArray();
        bool running = false;
        for (const QJsonValue &v : statuses) {
            const QJsonObject cs = v.toObject();
            if (m_options.container.isEmpty() || cs.value(QLatin1String("name")).toString() == m_options.container)
                running = running || cs.value(QLatin1String("state")).toObject().contains(QLatin1String("running"));
        }
        if (!running) {
            if (!m_pending.isEmpty())
                deliver(m_pending);
            finish({});
            return;
        }
        reconnectLater();
    });
}

void LogStream::reconnectLater()
{
    ++m_failures;
    const int delay = std::min(200 * (1 << std::min(m_failures - 1, 6)), 10000);
    QTimer::singleShot(delay, this, [this] {
        if (m_done)
            return;
        ++m_reconnects;
        m_reopened = true;
        m_skipSameStamp = m_sameStampCount;
        qCDebug(lcKube) << "reopening the log of" << m_options.pod << "from" << m_lastStamp;
        open();
    });
}

void LogStream::finish(const KubeError &error)
{
    if (m_done)
        return;
    m_done = true;
    m_error = error;
    Q_EMIT finished();
}

} // namespace iterdeck::kube
