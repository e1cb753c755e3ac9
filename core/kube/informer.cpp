#include "informer.h"

#include "logging.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QRandomGenerator>
#include <QSet>
#include <QTimer>

#include <algorithm>
#include <cmath>

namespace iterdeck::kube {

namespace {

QString metaString(const QJsonObject &o, const char *key)
{
    return o.value(QLatin1String("metadata")).toObject().value(QLatin1String(key)).toString();
}

// A watch line can be large (a big ConfigMap) but never unbounded.
constexpr qsizetype MaxEventBytes = 64 * 1024 * 1024;

} // namespace

Informer::Informer(KubeClient *client, ResourceRef resource, QString ns, ListOptions selectors, QObject *parent)
    : QObject(parent)
    , m_client(client)
    , m_resource(std::move(resource))
    , m_ns(std::move(ns))
    , m_selectors(std::move(selectors))
    , m_idle(new QTimer(this))
    , m_retry(new QTimer(this))
{
    m_idle->setSingleShot(true);
    m_retry->setSingleShot(true);
    connect(m_idle, &QTimer::timeout, this, [this] {
        qCDebug(lcKube) << "watch of" << m_resource.resource << "stalled; reconnecting";
        m_streamStalled = true;
        if (m_stream)
            m_stream->abort();
    });
}

Informer::~Informer()
{
    dropStream();
}

void Informer::setWatchTimeoutSeconds(int seconds)
{
    m_watchTimeoutSeconds = seconds;
}

void Informer::setIdleTimeoutMs(int ms)
{
    m_idleTimeoutMs = ms;
}

QString Informer::keyOf(const QJsonObject &object)
{
    const QString ns = metaString(object, "namespace");
    const QString name = metaString(object, "name");
    return ns.isEmpty() ? name : ns + QLatin1Char('/') + name;
}

QJsonObject Informer::object(const QString &ns, const QString &name) const
{
    return m_objects.value(ns.isEmpty() ? name : ns + QLatin1Char('/') + name);
}

void Informer::setState(State s)
{
    if (m_state == s)
        return;
    m_state = s;
    Q_EMIT stateChanged(s);
}

void Informer::start()
{
    if (m_state != State::Idle && m_state != State::Stopped)
        return;
    list();
}

void Informer::stop()
{
    m_retry->stop();
    m_idle->stop();
    if (m_listCall)
        m_listCall->abort();
    dropStream();
    setState(State::Stopped);
}

void Informer::dropStream()
{
    if (m_stream) {
        QNetworkReply *r = m_stream;
        m_stream = nullptr;
        r->disconnect(this);
        r->abort();
        r->deleteLater();
    }
    m_pending.clear();
}

void Informer::list()
{
    setState(State::Listing);
    ListOptions o = m_selectors;
    KubeCall *call = m_client->list(m_resource, m_ns, o);
    m_listCall = call;
    connect(call, &KubeCall::finished, this, [this, call] {
        m_listCall = nullptr;
        if (m_state == State::Stopped)
            return;
        auto obj = call->object();
        if (!obj) {
            retryLater(obj.error(), true);
            return;
        }
        ++m_relists;
        applyList(*obj);
        m_failures = 0;
        watch();
    });
}

void Informer::applyList(const QJsonObject &list)
{
    // Replace the cache with the list and report the difference, so that a relist after a gap
    // tells listeners everything that happened during it.
    QHash<QString, QJsonObject> fresh;
    const QJsonArray items = list.value(QLatin1String("items")).toArray();
    const QString listKind = list.value(QLatin1String("kind")).toString();
    const QString itemKind = listKind.endsWith(QLatin1String("List")) ? listKind.chopped(4) : m_resource.kind;
    const QString apiVersion = list.value(QLatin1String("apiVersion")).toString(m_resource.groupVersion());
    for (const QJsonValue &v : items) {
        QJsonObject o = v.toObject();
        // Real servers omit kind and apiVersion on list items.
        if (!o.contains(QLatin1String("kind")))
            o.insert(QLatin1String("kind"), itemKind);
        if (!o.contains(QLatin1String("apiVersion")))
            o.insert(QLatin1String("apiVersion"), apiVersion);
        fresh.insert(keyOf(o), o);
    }
    const QHash<QString, QJsonObject> old = std::exchange(m_objects, fresh);
    m_resourceVersion
        = list.value(QLatin1String("metadata")).toObject().value(QLatin1String("resourceVersion")).toString();
    for (auto it = old.cbegin(); it != old.cend(); ++it) {
        if (!m_objects.contains(it.key()))
            Q_EMIT deleted(it.value());
    }
    for (auto it = m_objects.cbegin(); it != m_objects.cend(); ++it) {
        auto prev = old.constFind(it.key());
        if (prev == old.cend())
            Q_EMIT added(it.value());
        else if (metaString(prev.value(), "resourceVersion") != metaString(it.value(), "resourceVersion"))
            Q_EMIT modified(it.value(), prev.value());
    }
    m_synced = true;
    Q_EMIT synced();
}

void Informer::watch()
{
    KubeRequest r;
    r.path = m_resource.path(m_ns);
    r.query.addQueryItem(QStringLiteral("watch"), QStringLiteral("true"));
    r.query.addQueryItem(QStringLiteral("allowWatchBookmarks"), QStringLiteral("true"));
    r.query.addQueryItem(QStringLiteral("resourceVersion"), m_resourceVersion);
    r.query.addQueryItem(QStringLiteral("timeoutSeconds"), QString::number(m_watchTimeoutSeconds));
    if (!m_selectors.labelSelector.isEmpty())
        r.query.addQueryItem(QStringLiteral("labelSelector"), m_selectors.labelSelector);
    if (!m_selectors.fieldSelector.isEmpty())
        r.query.addQueryItem(QStringLiteral("fieldSelector"), m_selectors.fieldSelector);
    r.timeoutMs = 0;
    setState(State::Watching);
    m_streamExpired = false;
    m_streamStalled = false;
    m_pending.clear();
    ++m_watches;
    m_client->openStream(r, this, [this](QNetworkReply *reply, const KubeError &error) {
        if (m_state == State::Stopped) {
            if (reply)
                reply->deleteLater();
            return;
        }
        if (!reply) {
            retryLater(error, false);
            return;
        }
        m_stream = reply;
        m_watchAge.start();
        connect(reply, &QNetworkReply::readyRead, this, &Informer::onWatchData);
        connect(reply, &QNetworkReply::finished, this, &Informer::onWatchFinished);
        m_idle->start(m_idleTimeoutMs);
    });
}

void Informer::onWatchData()
{
    if (!m_stream || !m_stream->isOpen())
        return;
    m_idle->start(m_idleTimeoutMs);
    const QVariant status = m_stream->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (status.isValid() && status.toInt() >= 300)
        return; // the error body is read when the reply finishes
    m_pending += m_stream->readAll();
    qsizetype start = 0;
    for (;;) {
        const qsizetype nl = m_pending.indexOf('\n', start);
        if (nl < 0)
            break;
        const QByteArray line = m_pending.mid(start, nl - start).trimmed();
        start = nl + 1;
        if (!line.isEmpty())
            handleEvent(line);
        if (!m_stream || m_streamExpired)
            return;
    }
    m_pending.remove(0, start);
    if (m_pending.size() > MaxEventBytes) {
        m_lastError = KubeError::make(KubeError::Kind::Decode, QStringLiteral("a watch event is larger than 64 MiB"));
        Q_EMIT transientError(m_lastError);
        m_stream->abort();
    }
}

void Informer::handleEvent(const QByteArray &line)
{
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(line, &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        // The stream cannot be trusted past a broken event: cut it and resume from the last
        // version we know, which re-delivers whatever this line was.
        m_lastError
            = KubeError::make(KubeError::Kind::Decode,
                              QStringLiteral("the server sent an invalid watch event: %1").arg(pe.errorString()));
        Q_EMIT transientError(m_lastError);
        m_stream->abort();
        return;
    }
    const QJsonObject ev = doc.object();
    const QString type = ev.value(QLatin1String("type")).toString();
    const QJsonObject obj = ev.value(QLatin1String("object")).toObject();
    if (type == QLatin1String("ERROR")) {
        const KubeError e = KubeError::fromStatus(obj, 0);
        m_lastError = e;
        if (e.isExpired())
            m_streamExpired = true;
        Q_EMIT transientError(e);
        m_stream->abort();
        return;
    }
    const QString rv = metaString(obj, "resourceVersion");
    if (type == QLatin1String("BOOKMARK")) {
        if (!rv.isEmpty())
            m_resourceVersion = rv;
        return;
    }
    const QString key = keyOf(obj);
    if (key.isEmpty()) {
        m_lastError = KubeError::make(KubeError::Kind::Decode, QStringLiteral("a watch event's object has no name"));
        Q_EMIT transientError(m_lastError);
        m_stream->abort();
        return;
    }
    if (type == QLatin1String("ADDED") || type == QLatin1String("MODIFIED")) {
        auto it = m_objects.find(key);
        if (it == m_objects.end()) {
            m_objects.insert(key, obj);
            if (!rv.isEmpty())
                m_resourceVersion = rv;
            Q_EMIT added(obj);
        } else {
            const QJsonObject prev = std::exchange(it.value(), obj);
            if (!rv.isEmpty())
                m_resourceVersion = rv;
            Q_EMIT modified(obj, prev);
        }
    } else if (type == QLatin1String("DELETED")) {
        m_objects.remove(key);
        if (!rv.isEmpty())
            m_resourceVersion = rv;
        Q_EMIT deleted(obj);
    } else {
        m_lastError
            = KubeError::make(KubeError::Kind::Decode, QStringLiteral("unknown watch event type \"%1\"").arg(type));
        Q_EMIT transientError(m_lastError);
    }
}

void Informer::onWatchFinished()
{
    QNetworkReply *reply = m_stream;
    if (!reply)
        return;
    m_idle->stop();
    // Events that arrived with the end of the stream.
    onWatchData();
    m_stream = nullptr;
    reply->deleteLater();
    if (m_state == State::Stopped)
        return;
    const bool stalled = m_streamStalled;
    KubeError e = m_streamExpired ? m_lastError : replyError(reply, m_client->config().cluster.server, stalled);
    if (e.isExpired() || m_streamExpired) {
        // Our version is older than the server keeps: list again, report the difference.
        qCDebug(lcKube) << "watch of" << m_resource.resource << "expired; relisting";
        list();
        return;
    }
    if (!e.isError() || (stalled && e.kind == KubeError::Kind::Timeout)) {
        // The server ended the watch (timeoutSeconds) or it went silent: resume from the last
        // version seen. A watch that ended at once without events backs off, as client-go does.
        if (stalled) {
            m_lastError = e;
            Q_EMIT transientError(e);
        }
        if (m_watchAge.elapsed() < 1000 && !stalled) {
            retryLater(KubeError::make(KubeError::Kind::Network, QStringLiteral("very short watch")), false);
            return;
        }
        m_failures = 0;
        watch();
        return;
    }
    retryLater(e, false);
}

void Informer::retryLater(const KubeError &error, bool relist)
{
    m_lastError = error;
    Q_EMIT transientError(error);
    setState(State::Backoff);
    ++m_failures;
    const double base = 200.0 * std::pow(2.0, std::min(m_failures - 1, 8));
    const int delay = int(std::min(base, 30000.0) * (0.8 + 0.4 * QRandomGenerator::global()->generateDouble()));
    m_retry->disconnect(this);
    connect(m_retry, &QTimer::timeout, this, [this, relist] {
        if (relist || !m_synced)
            list();
        else
            watch();
    });
    m_retry->start(delay);
}

} // namespace iterdeck::kube
