#include "imadapter.h"

#include <QUrl>

#include "logging.h"

#include <QTimer>

#include <algorithm>

namespace iterdeck::im {

namespace {
constexpr qsizetype kMaxRemembered = 100000;
}

ImJob::ImJob(QObject *parent)
    : QObject(parent)
{ }

const ImError &ImJob::error() const
{
    static const ImError none;
    return m_error ? *m_error : none;
}

void ImJob::succeed(ImResult result)
{
    if (m_finished)
        return;
    m_finished = true;
    m_result = std::move(result);
    Q_EMIT finished(this);
}

void ImJob::fail(ImError error)
{
    if (m_finished)
        return;
    m_finished = true;
    qCDebug(lcIm) << "job failed:" << error.toString();
    m_error = std::move(error);
    Q_EMIT finished(this);
}

void ImJob::failLater(ImError error)
{
    QTimer::singleShot(0, this, [this, error = std::move(error)]() mutable { fail(std::move(error)); });
}

ImAdapter::~ImAdapter() = default;

ImJob *ImAdapter::newJob()
{
    auto *job = new ImJob(this);
    connect(job, &ImJob::finished, job, [job] {
        // Callers that want to keep the job re-parent it before it finishes.
        job->deleteLater();
    });
    return job;
}

Expected<InboundEvent, ImError> ImAdapter::receive(const InboundRequest &request, const QDateTime &now)
{
    auto verified = verify(request, now);
    if (!verified)
        return unexpected(verified.error());
    auto event = parse(*verified);
    if (!event)
        return unexpected(event.error());
    if (event->kind == InboundEvent::Kind::UrlVerification)
        return event;
    const qint64 t = now.toSecsSinceEpoch();
    for (auto it = m_seen.begin(); it != m_seen.end();) {
        if (t - it.value() > m_replayWindow)
            it = m_seen.erase(it);
        else
            ++it;
    }
    QString key = !event->eventId.isEmpty() ? QStringLiteral("id:") + event->eventId
        : !verified->deliveryId.isEmpty()   ? QStringLiteral("id:") + verified->deliveryId
                                            : QStringLiteral("sig:") + QString::fromLatin1(verified->signature);
    if (key.size() <= 4)
        return event; // nothing identifies this delivery; verification's window is the only guard
    if (m_seen.contains(key)) {
        ImError e;
        e.code = ImError::Code::Replay;
        e.message = QStringLiteral("%1 callback %2 was delivered before; ignored")
                        .arg(platform(), key.mid(key.indexOf(u':') + 1));
        return unexpected(e);
    }
    if (m_seen.size() >= kMaxRemembered) {
        // Only verified deliveries get here, but bound the memory anyway: keep the newer half.
        QList<qint64> times = m_seen.values();
        auto mid = times.begin() + times.size() / 2;
        std::nth_element(times.begin(), mid, times.end());
        const qint64 cut = *mid;
        for (auto it = m_seen.begin(); it != m_seen.end();)
            it = it.value() < cut ? m_seen.erase(it) : std::next(it);
    }
    m_seen.insert(key, t);
    return event;
}

void ImAdapter::finishWith(ImJob *job, ImJob *from)
{
    QObject::connect(from, &ImJob::finished, job, [job](ImJob *f) {
        if (f->hasError())
            job->fail(f->error());
        else
            job->succeed(f->result());
    });
}

bool ImAdapter::isReplyUrl(const QString &token)
{
    const QUrl url(token, QUrl::StrictMode);
    return url.isValid() && (url.scheme() == u"https" || url.scheme() == u"http") && !url.host().isEmpty();
}

ImJob *ImAdapter::reply(const InboundEvent &, const QString &chatId, const QString &text, const QDateTime &)
{
    return postMessage(chatId, text);
}

} // namespace iterdeck::im
