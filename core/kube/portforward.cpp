#include "portforward.h"

#include "channelprotocol.h"
#include "kubeclient.h"
#include "logging.h"
#include "websocketclient.h"

#include <QDateTime>
#include <QJsonArray>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QUrl>

#include <functional>
#include <list>

namespace iterdeck::kube {

std::optional<PortMapping> PortMapping::parse(const QString &spec)
{
    const QStringList parts = spec.split(u':');
    bool okLocal = true, okRemote = true;
    PortMapping m;
    if (parts.size() == 1) {
        m.remotePort = parts[0].trimmed().toUShort(&okRemote);
        m.localPort = m.remotePort;
    } else if (parts.size() == 2) {
        m.localPort = parts[0].trimmed().isEmpty() ? 0 : parts[0].trimmed().toUShort(&okLocal);
        m.remotePort = parts[1].trimmed().toUShort(&okRemote);
    } else {
        okRemote = false;
    }
    if (!okLocal || !okRemote || m.remotePort == 0)
        return std::nullopt;
    return m;
}

namespace {

constexpr qint64 HighWater = 1024 * 1024; // stop reading one side while the other holds this much
constexpr qint64 LowWater = 256 * 1024; // resume below this
constexpr qint64 LocalReadBuffer = 256 * 1024; // what the local socket takes from the kernel unread
constexpr qint64 MessageSize = 256 * 1024; // local bytes per WebSocket message
constexpr int WaitForPodMs = 30000;
constexpr int BackoffStartMs = 250;
constexpr int BackoffMaxMs = 5000;

const char *stateName(PortForwarder::State s)
{
    switch (s) {
    case PortForwarder::State::Idle:
        return "Idle";
    case PortForwarder::State::Starting:
        return "Starting";
    case PortForwarder::State::Listening:
        return "Listening";
    case PortForwarder::State::Reconnecting:
        return "Reconnecting";
    case PortForwarder::State::Failed:
        return "Failed";
    case PortForwarder::State::Stopped:
        return "Stopped";
    }
    return "?";
}

// Why a pod cannot be forwarded to, or empty when it can.
QString unusableReason(const QJsonObject &pod)
{
    const QString name = pod.value(QLatin1String("metadata")).toObject().value(QLatin1String("name")).toString();
    if (pod.value(QLatin1String("metadata")).toObject().contains(QLatin1String("deletionTimestamp")))
        return QStringLiteral("pod %1 is being deleted").arg(name);
    const QString phase = pod.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString();
    if (phase != QLatin1String("Running"))
        return QStringLiteral("pod %1 is not running (phase %2)")
            .arg(name, phase.isEmpty() ? QStringLiteral("unknown") : phase);
    return {};
}

bool isReady(const QJsonObject &pod)
{
    const QJsonArray conditions
        = pod.value(QLatin1String("status")).toObject().value(QLatin1String("conditions")).toArray();
    for (const QJsonValue &c : conditions) {
        const QJsonObject o = c.toObject();
        if (o.value(QLatin1String("type")).toString() == QLatin1String("Ready"))
            return o.value(QLatin1String("status")).toString() == QLatin1String("True");
    }
    return false;
}

// An upgrade refused because the pod does not exist (any more) or does not run.
bool meansPodGone(const KubeError &e)
{
    if (e.kind != KubeError::Kind::Server)
        return false;
    return e.httpStatus == 404 || (e.httpStatus == 400 && e.message.contains(QLatin1String("not running")));
}

} // namespace

// One accepted local connection and its WebSocket.
class ForwardedConnection : public QObject
{
public:
    // How a connection ended: the error (empty when clean), whether the upgrade said the pod is
    // gone, and whether the connection can wait for another pod (nothing exchanged yet).
    using EndedCallback = std::function<void(ForwardedConnection *, const QString &error, bool podGone, bool retry)>;

    ForwardedConnection(QObject *parent, QTcpSocket *local, quint16 localPort, quint16 remotePort, EndedCallback ended)
        : QObject(parent)
        , m_local(local)
        , m_localPort(localPort)
        , m_remotePort(remotePort)
        , m_ended(std::move(ended))
    {
        m_local->setParent(this);
        m_local->setReadBufferSize(LocalReadBuffer);
        m_local->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        connect(m_local, &QTcpSocket::readyRead, this, &ForwardedConnection::pumpLocal);
        connect(m_local, &QTcpSocket::bytesWritten, this, &ForwardedConnection::onLocalBytesWritten);
        connect(m_local, &QTcpSocket::disconnected, this, &ForwardedConnection::onLocalDisconnected);
        m_waitingSince = QDateTime::currentMSecsSinceEpoch();
    }

    void open(const Transport &transport, const QString &ns, const QString &pod);
    // Back to waiting for a pod, after an upgrade that failed before anything was exchanged.
    void resetForRetry();
    // Closes both sides: after what the pod sent is written when `error` is empty, at once otherwise.
    void end(const QString &error);
    bool isWaiting() const { return !m_ws && !m_done; }
    qint64 waitingSince() const { return m_waitingSince; }
    quint16 localPort() const { return m_localPort; }
    QString pod() const { return m_pod; }

private:
    void onMessage(const QByteArray &payload);
    void pumpLocal();
    void onLocalBytesWritten();
    void onLocalDisconnected();
    void onWsClosed();
    void maybeCloseStream();
    void report(const QString &error, bool podGone = false, bool retry = false);

    QTcpSocket *m_local;
    quint16 m_localPort;
    quint16 m_remotePort;
    EndedCallback m_ended;
    QString m_pod;
    WebSocketClient *m_ws = nullptr;
    bool m_opened = false;
    bool m_dataPortSeen = false;
    bool m_errorPortSeen = false;
    QByteArray m_errorText;
    bool m_exchanged = false;
    bool m_localGone = false;
    bool m_reported = false;
    bool m_done = false;
    qint64 m_waitingSince = 0;
};

class PortForwarder::Private
{
public:
    Private(PortForwarder *q, KubeClient *client, PortForwardTarget target, QList<PortMapping> mappings)
        : q(q)
        , client(client)
        , target(std::move(target))
        , mappings(std::move(mappings))
    { }

    void setState(State s);
    void fail(const QString &reason);
    void shutDown(const QString &why); // listeners and connections
    void fetchTransport();
    void findPod();
    void checkPod();
    void podUsable(const QString &name);
    void podGone(const QString &reason);
    void retryLater();
    void onNewConnection(int mapping);
    void startWaiting();
    void expireWaiting();
    void connectionEnded(ForwardedConnection *c, const QString &error, bool podGone, bool retry);

    PortForwarder *q;
    QPointer<KubeClient> client;
    PortForwardTarget target;
    QList<PortMapping> mappings;
    QHostAddress address = QHostAddress(QHostAddress::LocalHost);
    State state = State::Idle;
    QString failure;
    QString pod;
    std::optional<Transport> transport;
    QList<QTcpServer *> servers;
    std::list<ForwardedConnection *> connections;
    QTimer podCheck;
    QTimer retry;
    QTimer waitCheck;
    int backoffMs = BackoffStartMs;
    int generation = 0; // bumped by stop/fail: answers to older requests are ignored
    bool lookupRunning = false;
};

// ---- connection -----------------------------------------------------------------------------

void ForwardedConnection::open(const Transport &transport, const QString &ns, const QString &pod)
{
    m_pod = pod;
    const QByteArray target = "/api/v1/namespaces/" + QUrl::toPercentEncoding(ns) + "/pods/"
        + QUrl::toPercentEncoding(pod) + "/portforward?ports=" + QByteArray::number(m_remotePort);
    WebSocketOptions o;
    o.protocols = {QLatin1String(channel::ProtocolV4)};
    m_ws = new WebSocketClient(this);
    connect(m_ws, &WebSocketClient::opened, this, [this] {
        m_opened = true;
        pumpLocal();
    });
    m_ws->setMessageHandler([this](const QByteArray &payload, bool) { onMessage(payload); });
    connect(m_ws, &WebSocketClient::bytesWritten, this, &ForwardedConnection::pumpLocal);
    connect(m_ws, &WebSocketClient::closed, this, &ForwardedConnection::onWsClosed);
    m_ws->open(transport, target, o);
}

void ForwardedConnection::resetForRetry()
{
    if (m_ws) {
        m_ws->disconnect(this);
        m_ws->deleteLater();
        m_ws = nullptr;
    }
    m_opened = m_dataPortSeen = m_errorPortSeen = false;
    m_errorText.clear();
    m_waitingSince = QDateTime::currentMSecsSinceEpoch();
}

void ForwardedConnection::report(const QString &error, bool podGone, bool retry)
{
    if (m_reported)
        return;
    m_reported = !retry;
    m_ended(this, error, podGone, retry);
}

void ForwardedConnection::onMessage(const QByteArray &payload)
{
    if (payload.isEmpty() || m_done)
        return;
    const auto ch = static_cast<quint8>(payload[0]);
    const QByteArrayView data = QByteArrayView(payload).sliced(1);
    if (ch > 1) {
        qCDebug(lcKube) << "port-forward: ignored a message on channel" << ch;
        return;
    }
    bool &portSeen = ch == 0 ? m_dataPortSeen : m_errorPortSeen;
    if (!portSeen) {
        quint16 port = 0;
        if (!channel::parsePortPrefix(data, &port) || port != m_remotePort) {
            m_ws->disconnect(this);
            m_ws->abort();
            report(QStringLiteral("port-forward: the server's first message on channel %1 does not name port %2")
                       .arg(ch)
                       .arg(m_remotePort));
            return;
        }
        portSeen = true;
        return;
    }
    if (ch == 1) {
        if (m_errorText.size() < 4096)
            m_errorText += data.first(std::min<qsizetype>(data.size(), 4096));
        return;
    }
    if (data.isEmpty())
        return;
    m_exchanged = true;
    m_local->write(data.constData(), data.size());
    if (m_local->bytesToWrite() > HighWater)
        m_ws->setReadPaused(true);
}

void ForwardedConnection::onLocalBytesWritten()
{
    if (m_ws && m_ws->isReadPaused() && m_local->bytesToWrite() < LowWater)
        m_ws->setReadPaused(false);
}

void ForwardedConnection::pumpLocal()
{
    if (m_done || !m_ws || m_ws->state() != WebSocketClient::State::Open)
        return;
    static const char dataChannel = 0;
    static thread_local QByteArray buffer(MessageSize, Qt::Uninitialized);
    while (m_ws->bytesToWrite() < HighWater && m_local->bytesAvailable() > 0) {
        const qint64 n = m_local->read(buffer.data(), MessageSize);
        if (n <= 0)
            break;
        m_exchanged = true;
        m_ws->sendBinary(QByteArrayView(&dataChannel, 1), QByteArrayView(buffer.constData(), n));
    }
    maybeCloseStream();
}

void ForwardedConnection::onLocalDisconnected()
{
    m_localGone = true;
    if (!m_ws) {
        report({});
        return;
    }
    pumpLocal();
    maybeCloseStream();
}

void ForwardedConnection::maybeCloseStream()
{
    // The local client is gone: once what it sent is on its way, the stream ends too.
    if (!m_localGone || !m_ws || m_ws->state() != WebSocketClient::State::Open || m_local->bytesAvailable() > 0)
        return;
    m_ws->close(ws::CloseNormal);
}

void ForwardedConnection::onWsClosed()
{
    if (!m_errorText.isEmpty()) {
        report(QString::fromUtf8(m_errorText));
        return;
    }
    const KubeError &e = m_ws->error();
    if (e.isError()) {
        const bool gone = meansPodGone(e);
        report(e.toString(), gone, gone && !m_opened && !m_exchanged && !m_localGone);
        return;
    }
    report({});
}

void ForwardedConnection::end(const QString &error)
{
    if (m_done)
        return;
    m_done = true;
    if (m_ws) {
        m_ws->disconnect(this);
        if (m_ws->state() != WebSocketClient::State::Closed)
            m_ws->abort();
    }
    m_local->disconnect(this);
    if (!error.isEmpty() || m_local->state() != QAbstractSocket::ConnectedState) {
        m_local->abort();
        return;
    }
    // What the pod sent may still wait in the socket's buffer: the socket outlives this
    // connection (owned by the forwarder) until it is written, or for at most 30 s.
    QTcpSocket *local = m_local;
    local->setParent(parent());
    connect(local, &QAbstractSocket::disconnected, local, &QObject::deleteLater);
    QTimer::singleShot(30000, local, &QObject::deleteLater);
    local->disconnectFromHost();
}

// ---- forwarder ------------------------------------------------------------------------------

PortForwarder::PortForwarder(KubeClient *client, PortForwardTarget target, QList<PortMapping> mappings, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, client, std::move(target), std::move(mappings)))
{
    d->podCheck.setInterval(5000);
    d->retry.setSingleShot(true);
    d->waitCheck.setInterval(1000);
    connect(&d->podCheck, &QTimer::timeout, this, [this] { d->checkPod(); });
    connect(&d->retry, &QTimer::timeout, this, [this] { d->fetchTransport(); });
    connect(&d->waitCheck, &QTimer::timeout, this, [this] { d->expireWaiting(); });
}

PortForwarder::~PortForwarder()
{
    d->generation++;
    for (ForwardedConnection *c : d->connections) {
        c->end(QStringLiteral("port-forward stopped"));
        delete c;
    }
    d->connections.clear();
}

void PortForwarder::setAddress(const QHostAddress &address)
{
    d->address = address;
}

void PortForwarder::setPodCheckInterval(int ms)
{
    d->podCheck.setInterval(std::max(50, ms));
}

PortForwarder::State PortForwarder::state() const
{
    return d->state;
}

QString PortForwarder::failureReason() const
{
    return d->failure;
}

QString PortForwarder::currentPod() const
{
    return d->state == State::Listening ? d->pod : QString();
}

quint16 PortForwarder::localPort(int mappingIndex) const
{
    if (mappingIndex < 0 || mappingIndex >= d->servers.size() || !d->servers[mappingIndex]->isListening())
        return 0;
    return d->servers[mappingIndex]->serverPort();
}

int PortForwarder::activeConnections() const
{
    return int(d->connections.size());
}

void PortForwarder::start()
{
    if (d->state != State::Idle && d->state != State::Stopped && d->state != State::Failed)
        return;
    d->generation++;
    d->failure.clear();
    d->pod.clear();
    d->backoffMs = BackoffStartMs;
    d->setState(State::Starting);
    if (!d->client) {
        d->fail(QStringLiteral("port-forward has no client"));
        return;
    }
    if (d->target.ns.isEmpty() || (d->target.pod.isEmpty() == d->target.labelSelector.isEmpty())) {
        d->fail(QStringLiteral("port-forward needs a namespace and either a pod or a label selector"));
        return;
    }
    if (d->mappings.isEmpty()) {
        d->fail(QStringLiteral("port-forward needs at least one port"));
        return;
    }
    for (int i = 0; i < d->mappings.size(); ++i) {
        const PortMapping &m = d->mappings[i];
        if (m.remotePort == 0) {
            d->fail(QStringLiteral("port-forward: remote port 0 is not a port"));
            return;
        }
        auto *server = new QTcpServer(this);
        d->servers.append(server);
        if (!server->listen(d->address, m.localPort)) {
            const QString where = (d->address.protocol() == QAbstractSocket::IPv6Protocol
                                       ? QLatin1Char('[') + d->address.toString() + QLatin1Char(']')
                                       : d->address.toString())
                + QLatin1Char(':') + QString::number(m.localPort);
            const QString why = server->serverError() == QAbstractSocket::AddressInUseError
                ? QStringLiteral("address already in use")
                : server->errorString();
            d->fail(QStringLiteral("unable to listen on %1: %2").arg(where, why));
            return;
        }
        server->setMaxPendingConnections(128);
        connect(server, &QTcpServer::newConnection, this, [this, i] { d->onNewConnection(i); });
    }
    d->fetchTransport();
}

void PortForwarder::stop()
{
    if (d->state == State::Stopped || d->state == State::Idle)
        return;
    d->shutDown(QStringLiteral("port-forward stopped"));
    d->setState(State::Stopped);
}

void PortForwarder::Private::setState(State s)
{
    if (state == s)
        return;
    state = s;
    qCDebug(lcKube) << "port-forward:" << stateName(s) << (failure.isEmpty() ? QString() : failure);
    Q_EMIT q->stateChanged(s);
}

void PortForwarder::Private::shutDown(const QString &why)
{
    generation++;
    podCheck.stop();
    retry.stop();
    waitCheck.stop();
    lookupRunning = false;
    for (QTcpServer *s : std::as_const(servers)) {
        s->close();
        s->deleteLater();
    }
    servers.clear();
    const auto all = connections;
    for (ForwardedConnection *c : all)
        connectionEnded(c, why, false, false);
}

void PortForwarder::Private::fail(const QString &reason)
{
    qCWarning(lcKube).noquote() << "port-forward failed:" << reason;
    shutDown(reason);
    failure = reason;
    setState(State::Failed);
}

void PortForwarder::Private::fetchTransport()
{
    if (lookupRunning || !client)
        return;
    lookupRunning = true;
    const int gen = generation;
    // Each lookup takes a fresh transport, so refreshed credentials are used after a pod change.
    client->transport(q, [this, gen](const Expected<Transport, KubeError> &t) {
        if (gen != generation)
            return;
        if (!t) {
            lookupRunning = false;
            if (state == State::Starting && !transport) {
                fail(t.error().toString());
                return;
            }
            failure = t.error().toString();
            retryLater();
            return;
        }
        transport = *t;
        findPod();
    });
}

void PortForwarder::Private::findPod()
{
    const int gen = generation;
    if (!target.pod.isEmpty()) {
        KubeCall *call = client->get(ResourceRef::pods(), target.ns, target.pod);
        QObject::connect(call, &KubeCall::finished, q, [this, call, gen] {
            if (gen != generation)
                return;
            lookupRunning = false;
            if (!call->isOk()) {
                if (call->error().isNotFound())
                    return fail(call->error().toString());
                failure = call->error().toString();
                if (state == State::Starting)
                    return fail(failure);
                return retryLater();
            }
            const auto pod = call->object();
            const QString why = pod ? unusableReason(*pod) : pod.error().message;
            if (!why.isEmpty())
                return fail(QStringLiteral("unable to forward port because %1").arg(why));
            podUsable(target.pod);
        });
        return;
    }
    ListOptions o;
    o.labelSelector = target.labelSelector;
    KubeCall *call = client->list(ResourceRef::pods(), target.ns, o);
    QObject::connect(call, &KubeCall::finished, q, [this, call, gen] {
        if (gen != generation)
            return;
        lookupRunning = false;
        if (!call->isOk()) {
            failure = call->error().toString();
            // A selector the server rejects will not get better.
            if (call->error().httpStatus == 400)
                return fail(failure);
            return retryLater();
        }
        const auto list = call->object();
        if (!list) {
            failure = list.error().message;
            return retryLater();
        }
        // Ready before not ready, then the newest.
        QJsonObject best;
        bool bestReady = false;
        QString bestCreated;
        const QJsonArray items = list->value(QLatin1String("items")).toArray();
        for (const QJsonValue &v : items) {
            const QJsonObject p = v.toObject();
            if (!unusableReason(p).isEmpty())
                continue;
            const bool ready = isReady(p);
            const QString created
                = p.value(QLatin1String("metadata")).toObject().value(QLatin1String("creationTimestamp")).toString();
            if (best.isEmpty() || (ready && !bestReady) || (ready == bestReady && created > bestCreated)) {
                best = p;
                bestReady = ready;
                bestCreated = created;
            }
        }
        if (best.isEmpty()) {
            failure = QStringLiteral("no running pod matches %1 in namespace %2").arg(target.labelSelector, target.ns);
            return retryLater();
        }
        podUsable(best.value(QLatin1String("metadata")).toObject().value(QLatin1String("name")).toString());
    });
}

void PortForwarder::Private::retryLater()
{
    if (state == State::Failed || state == State::Stopped)
        return;
    if (state == State::Listening)
        setState(State::Reconnecting);
    retry.start(backoffMs);
    backoffMs = std::min(backoffMs * 2, BackoffMaxMs);
}

void PortForwarder::Private::podUsable(const QString &name)
{
    if (pod != name)
        qCDebug(lcKube) << "port-forward: forwarding to pod" << name;
    pod = name;
    backoffMs = BackoffStartMs;
    failure.clear();
    setState(State::Listening);
    podCheck.start();
    startWaiting();
}

void PortForwarder::Private::checkPod()
{
    if (state != State::Listening || lookupRunning || !client)
        return;
    const int gen = generation;
    const QString name = pod;
    KubeCall *call = client->get(ResourceRef::pods(), target.ns, name);
    QObject::connect(call, &KubeCall::finished, q, [this, call, gen, name] {
        if (gen != generation || state != State::Listening || pod != name)
            return;
        if (!call->isOk()) {
            if (call->error().isNotFound())
                podGone(call->error().toString());
            return; // other errors: the next check decides
        }
        const auto p = call->object();
        if (p && !unusableReason(*p).isEmpty())
            podGone(unusableReason(*p));
    });
}

void PortForwarder::Private::podGone(const QString &reason)
{
    if (state != State::Listening)
        return;
    if (!target.pod.isEmpty()) {
        fail(reason);
        return;
    }
    qCDebug(lcKube).noquote() << "port-forward:" << reason << "- looking for another pod";
    failure = reason;
    podCheck.stop();
    setState(State::Reconnecting);
    backoffMs = BackoffStartMs;
    fetchTransport();
}

void PortForwarder::Private::onNewConnection(int mapping)
{
    QTcpServer *server = servers.value(mapping);
    if (!server)
        return;
    while (QTcpSocket *socket = server->nextPendingConnection()) {
        if (state == State::Failed || state == State::Stopped) {
            socket->abort();
            socket->deleteLater();
            continue;
        }
        const quint16 localPort = server->serverPort();
        auto *c = new ForwardedConnection(q, socket, localPort, mappings[mapping].remotePort,
                                          [this](ForwardedConnection *conn, const QString &error, bool gone,
                                                 bool retry) { connectionEnded(conn, error, gone, retry); });
        connections.push_back(c);
        Q_EMIT q->connectionOpened(localPort);
        if (state == State::Listening && transport)
            c->open(*transport, target.ns, pod);
        else if (!waitCheck.isActive())
            waitCheck.start();
    }
}

void PortForwarder::Private::startWaiting()
{
    for (ForwardedConnection *c : std::as_const(connections))
        if (c->isWaiting())
            c->open(*transport, target.ns, pod);
    waitCheck.stop();
}

void PortForwarder::Private::expireWaiting()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    bool anyWaiting = false;
    const auto all = connections;
    for (ForwardedConnection *c : all) {
        if (!c->isWaiting())
            continue;
        if (now - c->waitingSince() >= WaitForPodMs) {
            connectionEnded(c,
                            QStringLiteral("no pod to forward to within %1 s: %2")
                                .arg(WaitForPodMs / 1000)
                                .arg(failure.isEmpty() ? QStringLiteral("still looking") : failure),
                            false, false);
        } else {
            anyWaiting = true;
        }
    }
    if (!anyWaiting)
        waitCheck.stop();
}

void PortForwarder::Private::connectionEnded(ForwardedConnection *c, const QString &error, bool gone, bool retryLater)
{
    if (retryLater && !target.labelSelector.isEmpty() && (state == State::Listening || state == State::Reconnecting)) {
        // Back to waiting: reopened once the next pod is found.
        qCDebug(lcKube).noquote() << "port-forward: a connection waits for the next pod:" << error;
        const QString failedPod = c->pod();
        c->resetForRetry();
        if (failedPod == pod) {
            if (!waitCheck.isActive())
                waitCheck.start();
            podGone(error);
        } else if (state == State::Listening && transport) {
            c->open(*transport, target.ns, pod); // the next pod is already known
        }
        return;
    }
    const quint16 port = c->localPort();
    const QString podName = c->pod();
    connections.remove(c);
    c->end(error);
    c->deleteLater();
    Q_EMIT q->connectionClosed(port, error);
    if (gone && podName == pod)
        podGone(error);
    else if (!error.isEmpty() && state == State::Listening)
        checkPod(); // an error text from the pod side may mean the pod is going away
}

} // namespace iterdeck::kube
