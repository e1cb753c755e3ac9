#include "botclient.h"

#include "common/version.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QNetworkRequest>
#include <QRandomGenerator>
#include <QSslConfiguration>
#include <QTimer>
#include <QWebSocket>
#include <QWebSocketHandshakeOptions>

namespace iterdeck::chatops {

namespace {

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

} // namespace

BotClient::BotClient(QObject *parent)
    : QObject(parent)
{
    m_retry = new QTimer(this);
    m_retry->setSingleShot(true);
    connect(m_retry, &QTimer::timeout, this, &BotClient::open);
    m_watchdog = new QTimer(this);
    m_watchdog->setInterval(1000);
    connect(m_watchdog, &QTimer::timeout, this, [this]() {
        checkTimeouts();
        // Silence for three heartbeats: the connection is gone even if TCP has not noticed.
        if (m_socket && m_state == State::Connected && nowMs() - m_lastMessageMs > 3000LL * m_heartbeatSeconds) {
            m_lastError = tr("no heartbeat from the bot for %1 s").arg(3 * m_heartbeatSeconds);
            Q_EMIT connectionError(m_lastError);
            m_socket->abort();
        }
    });
}

BotClient::~BotClient()
{
    stop();
}

Expected<bool, QString> BotClient::setOptions(const BotClientOptions &options)
{
    const QUrl url = options.botUrl;
    const QString scheme = url.scheme().toLower();
    if (!url.isValid() || url.host().isEmpty()
        || (scheme != u"http" && scheme != u"https" && scheme != u"ws" && scheme != u"wss")) {
        return unexpected(tr("the bot URL must look like https://bot.example.com, not \"%1\"").arg(url.toString()));
    }
    if (!isSecureBotUrl(url) && !options.allowInsecure) {
        return unexpected(tr("refusing to send the token in clear to %1: use https, or allow an insecure "
                             "connection explicitly (--allow-insecure)")
                              .arg(url.host()));
    }
    if (options.token.trimmed().isEmpty())
        return unexpected(tr("a desktop token is needed (ask an admin: iterdeck-bot token create USER)"));
    QList<QSslCertificate> ca;
    if (!options.caFile.isEmpty()) {
        ca = QSslCertificate::fromPath(options.caFile, QSsl::Pem);
        if (ca.isEmpty())
            return unexpected(tr("%1: no PEM certificate in it").arg(options.caFile));
    }
    m_options = options;
    m_extraCa = ca;
    return true;
}

void BotClient::start()
{
    if (m_state != State::Stopped)
        return;
    m_backoffMs = 0;
    m_watchdog->start();
    open();
}

void BotClient::stop()
{
    m_retry->stop();
    m_watchdog->stop();
    if (m_socket) {
        QWebSocket *s = m_socket;
        m_socket = nullptr;
        s->disconnect(this);
        s->close();
        s->deleteLater();
    }
    failAll(ErrorCode::Disconnected, tr("the connection was closed"));
    setState(State::Stopped);
}

void BotClient::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged(state);
}

void BotClient::open()
{
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
        m_socket->deleteLater();
    }
    setState(State::Connecting);
    m_snapshotSeq = -1;
    m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    connect(m_socket, &QWebSocket::connected, this, &BotClient::onConnected);
    connect(m_socket, &QWebSocket::disconnected, this, &BotClient::onDisconnected);
    connect(m_socket, QOverload<QAbstractSocket::SocketError>::of(&QWebSocket::error), this, &BotClient::onError);
    connect(m_socket, &QWebSocket::textMessageReceived, this, &BotClient::onMessage);
    if (!m_extraCa.isEmpty()) {
        QSslConfiguration ssl = QSslConfiguration::defaultConfiguration();
        ssl.addCaCertificates(m_extraCa);
        m_socket->setSslConfiguration(ssl);
    }
    QNetworkRequest request(streamUrl(m_options.botUrl));
    request.setRawHeader("Authorization", "Bearer " + m_options.token.trimmed().toUtf8());
    request.setHeader(QNetworkRequest::UserAgentHeader, QStringLiteral("%1/%2").arg(m_options.clientName, version()));
    QWebSocketHandshakeOptions handshake;
    handshake.setSubprotocols({QLatin1String(kSubprotocol)});
    m_socket->open(request, handshake);
}

void BotClient::onConnected()
{
    m_lastMessageMs = nowMs();
    m_socket->sendTextMessage(QString::fromUtf8(encode(helloMessage(m_lastSeq, m_options.clientName))));
}

void BotClient::onError(QAbstractSocket::SocketError)
{
    if (!m_socket)
        return;
    QString text = m_socket->errorString();
    // Qt reports a refused handshake as "... Unhandled http status code: 401 (Unauthorized)."
    if (text.contains(QLatin1String("401")))
        text = tr("the bot refused the token (unknown or revoked)");
    m_lastError = text;
    Q_EMIT connectionError(text); // may stop this client
    // QWebSocket does not always follow a handshake error with disconnected().
    if (m_socket && m_socket->state() == QAbstractSocket::UnconnectedState)
        QMetaObject::invokeMethod(this, &BotClient::onDisconnected, Qt::QueuedConnection);
}

void BotClient::onDisconnected()
{
    if (!m_socket || m_state == State::Stopped || m_state == State::Waiting)
        return;
    if (m_socket->closeCode() == 4401)
        m_lastError = tr("the token was revoked");
    failAll(ErrorCode::Disconnected, tr("the connection to the bot dropped"));
    scheduleReconnect();
}

void BotClient::scheduleReconnect()
{
    setState(State::Waiting);
    m_backoffMs = m_backoffMs == 0 ? m_options.minBackoffMs : std::min(m_backoffMs * 2, m_options.maxBackoffMs);
    // Jitter, so that a thousand clients of a restarted bot do not come back in the same millisecond.
    const int jitter = int(QRandomGenerator::global()->bounded(m_backoffMs / 4 + 1));
    m_retry->start(m_backoffMs + jitter);
}

void BotClient::onMessage(const QString &text)
{
    m_lastMessageMs = nowMs();
    auto message = decode(text.toUtf8());
    if (!message) {
        m_lastError = tr("the bot sent something that is not a protocol message: %1").arg(message.error());
        Q_EMIT connectionError(m_lastError);
        return;
    }
    const QString type = message->value(u"type").toString();
    if (type == QLatin1String(msg::Event) || type == QLatin1String(msg::Events)) {
        const QJsonArray list = type == QLatin1String(msg::Event) ? QJsonArray {message->value(u"event")}
                                                                  : message->value(u"events").toArray();
        for (const QJsonValue &v : list) {
            const model::Event e = model::Event::fromJson(v.toObject());
            if (e.seq <= m_lastSeq)
                continue; // seen before this connection
            m_lastSeq = e.seq;
            Q_EMIT eventReceived(e, e.seq <= m_snapshotSeq);
            if (!m_socket)
                return; // a handler stopped this client
        }
        return;
    }
    if (type == QLatin1String(msg::Heartbeat)) {
        // Sent after the replay: everything up to here has been delivered.
        m_lastSeq = std::max(m_lastSeq, message->value(u"seq").toInteger());
        return;
    }
    if (type == QLatin1String(msg::Response) || (type == QLatin1String(msg::Error) && message->contains(u"id"))) {
        const QString id = message->value(u"id").toString();
        if (type == QLatin1String(msg::Response))
            complete(id, message->value(u"result").toObject());
        else
            complete(id, unexpected(ProtocolError::fromJson(message->value(u"error").toObject())));
        return;
    }
    if (type == QLatin1String(msg::Welcome)) {
        m_user = message->value(u"user").toString();
        m_displayName = message->value(u"displayName").toString();
        m_admin = message->value(u"admin").toBool();
        m_heartbeatSeconds = std::max(1, message->value(u"heartbeatSeconds").toInt(kDefaultHeartbeatSeconds));
        Q_EMIT welcomed(m_user, m_displayName, m_admin);
        return;
    }
    if (type == QLatin1String(msg::Snapshot)) {
        const Snapshot snapshot = Snapshot::fromJson(*message);
        m_snapshotSeq = snapshot.seq;
        // A new client, a truncated replay or a reset log: the snapshot is where this client is now.
        if (m_lastSeq < 0 || snapshot.truncated || m_lastSeq > snapshot.seq)
            m_lastSeq = snapshot.seq;
        m_backoffMs = 0;
        setState(State::Connected);
        Q_EMIT snapshotReceived(snapshot);
        return;
    }
    if (type == QLatin1String(msg::Error)) {
        m_lastError = ProtocolError::fromJson(message->value(u"error").toObject()).message;
        Q_EMIT connectionError(m_lastError);
        return;
    }
    // Unknown types are for newer clients: ignored.
}

void BotClient::request(const QString &method, const QJsonObject &params, QObject *context, Callback callback)
{
    const QString id = QString::number(m_nextId++);
    if (!m_socket || m_state != State::Connected) {
        QPointer<QObject> guard(context);
        const bool hasContext = context != nullptr;
        const QString why = m_lastError.isEmpty() ? tr("not connected to the bot") : m_lastError;
        QMetaObject::invokeMethod(
            this,
            [guard, hasContext, callback, why]() {
                if (!hasContext || guard)
                    callback(unexpected(ProtocolError {ErrorCode::Disconnected, why}));
            },
            Qt::QueuedConnection);
        return;
    }
    m_pending.insert(id,
                     Pending {std::move(callback), context, context != nullptr, nowMs() + m_options.requestTimeoutMs});
    m_socket->sendTextMessage(QString::fromUtf8(encode(requestMessage(id, method, params))));
}

void BotClient::complete(const QString &id, const Result &result)
{
    auto it = m_pending.find(id);
    if (it == m_pending.end())
        return;
    Pending p = it.value();
    m_pending.erase(it);
    if (!p.hasContext || p.context)
        p.callback(result);
}

void BotClient::failAll(ErrorCode code, const QString &message)
{
    const auto pending = std::exchange(m_pending, {});
    for (const Pending &p : pending) {
        if (!p.hasContext || p.context)
            p.callback(unexpected(ProtocolError {code, message}));
    }
}

void BotClient::checkTimeouts()
{
    const qint64 now = nowMs();
    QStringList late;
    for (auto it = m_pending.cbegin(); it != m_pending.cend(); ++it) {
        if (it->deadlineMs <= now)
            late.append(it.key());
    }
    for (const QString &id : std::as_const(late))
        complete(id, unexpected(ProtocolError {ErrorCode::Timeout, tr("the bot did not answer in time")}));
}

} // namespace iterdeck::chatops
