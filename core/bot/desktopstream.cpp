#include "desktopstream.h"

#include "builtinchannels.h"
#include "commandengine.h"
#include "environmentmanager.h"
#include "logging.h"
#include "metrics.h"
#include "store.h"

#include <QDateTime>
#include <QJsonArray>
#include <QPointer>
#include <QTimer>

namespace iterdeck::bot {

using chatops::ErrorCode;
using chatops::ProtocolError;

namespace {

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

HttpResponse refusal(int status, const QString &code, const QString &message)
{
    HttpResponse r;
    r.status = status;
    r.body = chatops::encode({{QStringLiteral("error"), code}, {QStringLiteral("message"), message}}).toStdString();
    if (status == 401)
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"iterdeck-bot\"");
    return r;
}

// "Bearer TOKEN" (the scheme is case-insensitive).
QString bearerToken(const HttpRequest &request)
{
    const QString value = QString::fromStdString(request.header("authorization")).trimmed();
    if (!value.startsWith(QLatin1String("bearer "), Qt::CaseInsensitive))
        return {};
    return value.mid(7).trimmed();
}

QString idOf(const QJsonValue &v)
{
    if (v.isString())
        return v.toString();
    if (v.isDouble())
        return QString::number(v.toInteger());
    return {};
}

} // namespace

// Lives on the HTTP thread; hands everything to the stream's thread, in order.
class DesktopStream::Peer : public WebSocketPeer
{
public:
    Peer(QPointer<DesktopStream> stream, quint64 id, Identity who, QString tokenId)
        : m_stream(std::move(stream))
        , m_id(id)
        , m_who(std::move(who))
        , m_tokenId(std::move(tokenId))
    { }

    void opened(std::shared_ptr<WebSocketConnection> connection) override
    {
        post([id = m_id, connection, who = m_who, tokenId = m_tokenId](DesktopStream *s) {
            s->opened(id, connection, who, tokenId);
        });
    }
    void message(std::string text) override
    {
        post([id = m_id, text = QByteArray::fromStdString(text)](DesktopStream *s) { s->received(id, text); });
    }
    void closed(int code, std::string reason) override
    {
        post([id = m_id, code, reason = QString::fromStdString(reason)](DesktopStream *s) {
            s->closed(id, code, reason);
        });
    }

private:
    template<class F> void post(F f)
    {
        DesktopStream *s = m_stream.data();
        if (!s)
            return;
        QPointer<DesktopStream> guard = m_stream;
        QMetaObject::invokeMethod(
            s,
            [guard, f = std::move(f)]() {
                if (DesktopStream *target = guard.data())
                    f(target);
            },
            Qt::QueuedConnection);
    }

    QPointer<DesktopStream> m_stream;
    quint64 m_id;
    Identity m_who;
    QString m_tokenId;
};

DesktopStream::DesktopStream(model::TeamManifest manifest, Store *store, EnvironmentManager *environments,
                             DesktopStreamOptions options, QObject *parent)
    : QObject(parent)
    , m_manifest(std::move(manifest))
    , m_store(store)
    , m_environments(environments)
    , m_options(options)
{
    m_heartbeat = new QTimer(this);
    m_heartbeat->setInterval(std::max(1, m_options.heartbeatSeconds) * 1000);
    connect(m_heartbeat, &QTimer::timeout, this, &DesktopStream::heartbeat);
    m_heartbeat->start();
    if (m_options.pollMs > 0) {
        m_poll = new QTimer(this);
        m_poll->setInterval(m_options.pollMs);
        connect(m_poll, &QTimer::timeout, this, &DesktopStream::pump);
        m_poll->start();
    }
    if (m_environments)
        connect(m_environments, &EnvironmentManager::eventsAppended, this, &DesktopStream::wake);
    // What each component of each environment last did, from the whole log (once).
    pump();
}

DesktopStream::~DesktopStream()
{
    closeAll();
}

void DesktopStream::closeAll()
{
    for (auto &[id, c] : m_clients)
        c.connection->close(1001, "the bot is shutting down");
    m_clients.clear();
    Q_EMIT clientCountChanged(0);
}

void DesktopStream::upgrade(const HttpRequest &request, const std::function<void(WebSocketDecision)> &decide)
{
    const QString offered = QString::fromStdString(request.header("sec-websocket-protocol"));
    QString subprotocol;
    if (!offered.isEmpty()) {
        const QStringList list = offered.split(u',', Qt::SkipEmptyParts);
        for (const QString &p : list) {
            if (p.trimmed() == QLatin1String(chatops::kSubprotocol))
                subprotocol = p.trimmed();
        }
        if (subprotocol.isEmpty()) {
            decide(
                {nullptr,
                 {},
                 refusal(
                     400, QStringLiteral("unsupported-subprotocol"),
                     QStringLiteral("this bot speaks %1, not %2").arg(QLatin1String(chatops::kSubprotocol), offered))});
            return;
        }
    }
    const QString bearer = bearerToken(request);
    if (bearer.isEmpty()) {
        decide({nullptr,
                {},
                refusal(401, QStringLiteral("unauthorized"),
                        QStringLiteral("a desktop token is needed: Authorization: Bearer TOKEN "
                                       "(iterdeck-bot token create USER)"))});
        return;
    }
    auto token = m_store->authenticate(bearer);
    if (!token) {
        decide({nullptr, {}, refusal(503, QStringLiteral("unavailable"), token.error().message)});
        return;
    }
    if (!token->has_value()) {
        qCInfo(lcBot, "stream from %s: unknown or revoked token", request.remoteAddress.c_str());
        decide({nullptr,
                {},
                refusal(401, QStringLiteral("unauthorized"), QStringLiteral("the token is unknown or revoked"))});
        return;
    }
    const DesktopToken &t = **token;
    const quint64 id = m_nextId++;
    auto peer = std::make_shared<Peer>(QPointer<DesktopStream>(this), id, identify(m_manifest, t.user, t.admin), t.id);
    decide({peer, subprotocol.toStdString(), {}});
}

void DesktopStream::opened(quint64 id, std::shared_ptr<WebSocketConnection> connection, Identity who, QString tokenId)
{
    Client c;
    c.id = id;
    c.connection = std::move(connection);
    c.who = std::move(who);
    c.tokenId = std::move(tokenId);
    c.tokens = m_options.requestsPerSecond;
    c.refilledAtMs = c.openedAtMs = nowMs();
    qCInfo(lcBot, "stream %llu: %s connected from %s%s", id, qPrintable(c.who.user),
           c.connection->remoteAddress().c_str(), c.who.admin ? " (admin)" : "");
    m_clients.emplace(id, std::move(c));
    QTimer::singleShot(std::max(1, m_options.helloTimeoutSeconds) * 1000, this, [this, id]() {
        auto it = m_clients.find(id);
        if (it != m_clients.end() && !it->second.ready) {
            it->second.connection->close(1008, "no hello");
            m_clients.erase(it);
            Q_EMIT clientCountChanged(clientCount());
        }
    });
    if (m_metrics)
        m_metrics->desktopClients(clientCount());
    Q_EMIT clientCountChanged(clientCount());
}

void DesktopStream::closed(quint64 id, int code, const QString &reason)
{
    if (m_clients.erase(id) == 0)
        return;
    qCInfo(lcBot, "stream %llu: closed (%d %s)", id, code, qPrintable(reason));
    if (m_metrics)
        m_metrics->desktopClients(clientCount());
    Q_EMIT clientCountChanged(clientCount());
}

void DesktopStream::received(quint64 id, const QByteArray &text)
{
    auto it = m_clients.find(id);
    if (it == m_clients.end())
        return;
    Client &c = it->second;
    auto message = chatops::decode(text);
    if (!message) {
        fail(c, {}, ErrorCode::BadRequest, message.error());
        return;
    }
    const QString type = message->value(u"type").toString();
    if (type == QLatin1String(chatops::msg::Hello)) {
        if (c.ready) {
            fail(c, {}, ErrorCode::BadRequest, QStringLiteral("hello was already said on this connection"));
            return;
        }
        hello(c, *message);
        return;
    }
    if (!c.ready) {
        fail(c, idOf(message->value(u"id")), ErrorCode::BadRequest, QStringLiteral("say hello first"));
        return;
    }
    if (type == QLatin1String(chatops::msg::Request)) {
        request(c, *message);
        return;
    }
    fail(c, idOf(message->value(u"id")), ErrorCode::BadRequest,
         QStringLiteral("unknown message type \"%1\" (hello, request)").arg(type));
}

void DesktopStream::send(Client &client, const QJsonObject &message)
{
    client.connection->send(chatops::encode(message).toStdString());
}

void DesktopStream::fail(Client &client, const QString &id, ErrorCode code, const QString &message)
{
    send(client, chatops::errorMessage(id, ProtocolError {code, message}));
}

void DesktopStream::hello(Client &c, const QJsonObject &message)
{
    const QJsonValue last = message.value(u"lastSeq");
    if (!last.isUndefined() && !last.isNull() && (!last.isDouble() || last.toDouble() < 0)) {
        fail(c, {}, ErrorCode::BadRequest, QStringLiteral("lastSeq must be a number >= 0"));
        return;
    }
    pump(); // the log up to its head went out to everyone else: this client starts from there
    if (!refreshCache()) {
        fail(c, {}, ErrorCode::Unavailable, QStringLiteral("the store cannot be read"));
        c.connection->close(1011, "store unavailable");
        return;
    }
    c.visible = visibleIterations(c.who);
    c.ready = true;
    c.sentSeq = m_fannedSeq;
    send(c,
         {{QStringLiteral("type"), QLatin1String(chatops::msg::Welcome)},
          {QStringLiteral("protocol"), chatops::kProtocolVersion},
          {QStringLiteral("user"), c.who.user},
          {QStringLiteral("displayName"), c.who.displayName},
          {QStringLiteral("admin"), c.who.admin},
          {QStringLiteral("seq"), m_fannedSeq},
          {QStringLiteral("heartbeatSeconds"), m_options.heartbeatSeconds}});
    chatops::Snapshot snap = snapshotFor(c);
    const bool resume = last.isDouble();
    const qint64 lastSeq = resume ? last.toInteger() : m_fannedSeq;
    snap.truncated = resume && (lastSeq > m_fannedSeq || m_fannedSeq - lastSeq > chatops::kMaxBacklog);
    send(c, snap.toJson());
    if (!resume || snap.truncated)
        return;
    // Exactly the events after lastSeq, up to the snapshot's seq, that this user sees.
    qint64 after = lastSeq;
    while (after < m_fannedSeq) {
        auto page = m_store->eventsAfter(after, 1000);
        if (!page || page->isEmpty())
            break;
        for (const model::Event &e : std::as_const(*page)) {
            if (e.seq > m_fannedSeq)
                break;
            if (!e.iterationId || c.visible.contains(e.iterationId))
                send(c, chatops::eventMessage(e));
            after = e.seq;
        }
    }
}

void DesktopStream::eventsCommitted(const QList<model::Event> &)
{
    wake();
}

void DesktopStream::wake()
{
    if (m_pumpScheduled)
        return;
    m_pumpScheduled = true;
    if (!m_pumpWanted.isValid())
        m_pumpWanted.start();
    // A short wait gathers a burst into one message per client (and one store read).
    QTimer::singleShot(m_options.batchMs, this, &DesktopStream::pump);
}

void DesktopStream::pump()
{
    m_pumpScheduled = false;
    if (m_options.maxDeferMs > 0 && m_pumpWanted.isValid() && m_pumpWanted.elapsed() < m_options.maxDeferMs) {
        // The server is still writing the previous fan-out to many clients: what arrives
        // meanwhile goes out with the next one, in one message per client.
        const std::size_t enough = m_clients.size() / 10 + 1;
        std::size_t busy = 0;
        for (auto it = m_clients.cbegin(); it != m_clients.cend() && busy < enough; ++it) {
            if (it->second.ready && it->second.connection->queuedBytes() > 0)
                ++busy;
        }
        if (busy >= enough) {
            m_pumpScheduled = true;
            QTimer::singleShot(2, this, &DesktopStream::pump);
            return;
        }
    }
    m_pumpWanted.invalidate();
    const bool initial = m_fannedSeq < 0;
    if (initial)
        m_fannedSeq = 0;
    // The clients that take events, walked once per event below.
    std::vector<Client *> ready;
    ready.reserve(m_clients.size());
    for (auto &[id, c] : m_clients) {
        if (c.ready)
            ready.push_back(&c);
    }
    for (;;) {
        auto page = m_store->eventsAfter(m_fannedSeq, 1000);
        if (!page) {
            qCWarning(lcBot, "stream: cannot read events: %s", qPrintable(page.error().message));
            return;
        }
        // Each event is serialised once; each client gets its share of the page in one message,
        // and clients that see the same events share that message.
        QList<QByteArray> json(page->size());
        QHash<QByteArray, std::shared_ptr<const std::string>> batches;
        auto flush = [&](Client &c) {
            if (c.batch.isEmpty())
                return;
            QByteArray key;
            key.reserve(c.batch.size() * 4);
            for (int i : std::as_const(c.batch))
                key.append(reinterpret_cast<const char *>(&i), sizeof i);
            auto &message = batches[key];
            if (!message) {
                std::string text;
                if (c.batch.size() == 1) {
                    text = R"({"type":"event","event":)" + json.at(c.batch.first()).toStdString() + '}';
                } else {
                    text = R"({"type":"events","events":[)";
                    for (int k = 0; k < c.batch.size(); ++k) {
                        if (k)
                            text += ',';
                        text += json.at(c.batch.at(k)).toStdString();
                    }
                    text += "]}";
                }
                message = std::make_shared<const std::string>(std::move(text));
            }
            c.connection->send(message);
            c.batch.clear();
        };
        for (int i = 0; i < page->size(); ++i) {
            const model::Event &e = page->at(i);
            if (auto d = chatops::Deployment::fromEvent(e))
                m_deployments[{d->environmentId, d->component}] = *d;
            m_cache.valid = false;
            m_fannedSeq = e.seq;
            if (initial || ready.empty())
                continue;
            const bool membership = e.type.startsWith(u"iteration.");
            std::optional<model::Iteration> iteration;
            if (membership) {
                if (auto found = m_store->iteration(e.payload.value(u"key").toString()); found)
                    iteration = *found;
            }
            bool any = false;
            for (Client *client : ready) {
                Client &c = *client;
                if (e.seq <= c.sentSeq)
                    continue;
                bool changed = false;
                if (membership) {
                    const bool was = c.visible.contains(e.iterationId);
                    const bool now = iteration && canSee(c.who, *iteration);
                    if (now != was) {
                        changed = true;
                        if (now)
                            c.visible.insert(e.iterationId);
                        else
                            c.visible.remove(e.iterationId);
                    }
                }
                c.sentSeq = e.seq;
                // The event that removes a member still reaches them, as the last one of it.
                if (!e.iterationId || c.visible.contains(e.iterationId) || changed) {
                    if (json[i].isEmpty())
                        json[i] = chatops::encode(e.toJson());
                    c.batch.append(i);
                    any = true;
                }
                if (changed && refreshCache()) { // a new iteration to show, or one to forget
                    flush(c);
                    send(c, snapshotFor(c).toJson());
                }
            }
            if (m_metrics && any)
                m_metrics->desktopEventFannedOut();
        }
        for (Client *c : ready)
            flush(*c);
        if (page->size() < 1000)
            break;
    }
}

void DesktopStream::heartbeat()
{
    // Revoked tokens end their connections.
    QSet<QString> revoked;
    if (!m_clients.empty()) {
        if (auto tokens = m_store->tokens()) {
            for (const DesktopToken &t : std::as_const(*tokens)) {
                if (t.revokedAt.isValid())
                    revoked.insert(t.id);
            }
        }
    }
    const std::string beat = chatops::encode(chatops::heartbeatMessage(m_fannedSeq)).toStdString();
    for (auto it = m_clients.begin(); it != m_clients.end();) {
        Client &c = it->second;
        if (revoked.contains(c.tokenId)) {
            qCInfo(lcBot, "stream %llu: token %s revoked", c.id, qPrintable(c.tokenId));
            c.connection->close(4401, "the token was revoked");
            it = m_clients.erase(it);
            Q_EMIT clientCountChanged(clientCount());
            continue;
        }
        if (c.ready)
            c.connection->send(beat);
        ++it;
    }
}

bool DesktopStream::refreshCache()
{
    if (m_cache.valid)
        return true;
    auto iterations = m_store->iterations();
    auto environments = m_store->environments();
    if (!iterations || !environments)
        return false;
    Cache cache;
    cache.iterations = *iterations;
    for (const model::Environment &e : std::as_const(*environments)) {
        if (e.state == u"deleted")
            continue;
        cache.environments.append(e);
        auto selections = m_store->selections(e.id);
        if (!selections)
            return false;
        cache.selections.append(*selections);
    }
    cache.valid = true;
    m_cache = std::move(cache);
    return true;
}

QSet<qint64> DesktopStream::visibleIterations(const Identity &who)
{
    QSet<qint64> out;
    for (const model::Iteration &it : std::as_const(m_cache.iterations)) {
        if (canSee(who, it))
            out.insert(it.id);
    }
    return out;
}

chatops::Snapshot DesktopStream::snapshotFor(const Client &client)
{
    chatops::Snapshot s;
    s.seq = m_fannedSeq;
    s.project = m_manifest.project;
    for (const model::ComponentSpec &c : std::as_const(m_manifest.components))
        s.components.append({c.name, c.repository, c.image, c.defaultBranch,
                             c.workload.isEmpty() ? QStringLiteral("deploy/") + c.name : c.workload});
    for (const model::Iteration &it : std::as_const(m_cache.iterations)) {
        if (client.visible.contains(it.id))
            s.iterations.append(it);
    }
    QSet<qint64> envs;
    for (const model::Environment &e : std::as_const(m_cache.environments)) {
        if (client.visible.contains(e.iterationId)) {
            s.environments.append(e);
            envs.insert(e.id);
        }
    }
    for (const model::Selection &sel : std::as_const(m_cache.selections)) {
        if (envs.contains(sel.environmentId))
            s.selections.append(sel);
    }
    for (const auto &[key, d] : m_deployments) {
        if (envs.contains(key.first))
            s.deployments.append(d);
    }
    return s;
}

const model::Environment *DesktopStream::environment(qint64 id)
{
    if (!refreshCache())
        return nullptr;
    for (const model::Environment &e : std::as_const(m_cache.environments)) {
        if (e.id == id)
            return &e;
    }
    return nullptr;
}

bool DesktopStream::mayAct(const Client &client, qint64 iterationId) const
{
    for (const model::Iteration &it : m_cache.iterations) {
        if (it.id == iterationId)
            return canSee(client.who, it);
    }
    return false;
}

void DesktopStream::request(Client &c, const QJsonObject &message)
{
    const QString id = idOf(message.value(u"id"));
    if (id.isEmpty()) {
        fail(c, {}, ErrorCode::BadRequest, QStringLiteral("a request needs an \"id\" (string or number)"));
        return;
    }
    const qint64 now = nowMs();
    c.tokens = std::min<double>(m_options.requestsPerSecond,
                                c.tokens + double(now - c.refilledAtMs) * m_options.requestsPerSecond / 1000.0);
    c.refilledAtMs = now;
    if (c.tokens < 1) {
        fail(c, id, ErrorCode::RateLimited,
             QStringLiteral("more than %1 requests per second").arg(m_options.requestsPerSecond));
        return;
    }
    c.tokens -= 1;
    const QString method = message.value(u"method").toString();
    std::optional<ProtocolError> error;
    const QJsonObject result = dispatch(c, method, message.value(u"params").toObject(), &error);
    // The client may have been closed meanwhile (it cannot: dispatch does not re-enter), but be safe.
    if (error)
        send(c, chatops::errorMessage(id, *error));
    else
        send(c, chatops::responseMessage(id, result));
}

QJsonObject DesktopStream::dispatch(Client &c, const QString &method, const QJsonObject &params,
                                    std::optional<ProtocolError> *error)
{
    auto bad = [error](ErrorCode code, const QString &message) {
        *error = ProtocolError {code, message};
        return QJsonObject {};
    };
    if (!refreshCache())
        return bad(ErrorCode::Unavailable, QStringLiteral("the store cannot be read"));

    if (method == QLatin1String(chatops::method::Snapshot)) {
        QJsonObject s = snapshotFor(c).toJson();
        s.remove(QStringLiteral("type"));
        return s;
    }
    if (method == QLatin1String(chatops::method::Events)) {
        const qint64 after = params.value(u"afterSeq").toInteger(0);
        const int limit = std::clamp(params.value(u"limit").toInt(100), 1, 1000);
        const qint64 iteration = params.value(u"iteration").toInteger(0);
        QJsonArray out;
        qint64 cursor = after;
        bool more = false;
        while (out.size() < limit) {
            auto page = m_store->eventsAfter(cursor, 1000);
            if (!page)
                return bad(ErrorCode::Unavailable, page.error().message);
            for (const model::Event &e : std::as_const(*page)) {
                cursor = e.seq;
                if (e.seq > m_fannedSeq)
                    break;
                if (e.iterationId && !c.visible.contains(e.iterationId))
                    continue;
                if (iteration && e.iterationId != iteration)
                    continue;
                if (out.size() == limit) {
                    more = true;
                    break;
                }
                out.append(e.toJson());
            }
            if (page->size() < 1000 || more || cursor >= m_fannedSeq)
                break;
        }
        return {{QStringLiteral("events"), out}, {QStringLiteral("more"), more}};
    }
    if (method == QLatin1String(chatops::method::Artifacts)) {
        const QString component = params.value(u"component").toString();
        if (!m_manifest.component(component))
            return bad(ErrorCode::NotFound, QStringLiteral("no component \"%1\"").arg(component));
        const QString branch = params.value(u"branch").toString();
        auto list = m_store->artifacts(component, branch, std::clamp(params.value(u"limit").toInt(20), 1, 200));
        if (!list)
            return bad(ErrorCode::Unavailable, list.error().message);
        QJsonArray out;
        for (const model::Artifact &a : std::as_const(*list))
            out.append(a.toJson());
        return {{QStringLiteral("artifacts"), out}};
    }

    if (method == QLatin1String(chatops::method::Branches)) {
        const QString component = params.value(u"component").toString();
        if (!m_manifest.component(component))
            return bad(ErrorCode::NotFound, QStringLiteral("no component \"%1\"").arg(component));
        auto list = m_store->branches(component);
        if (!list)
            return bad(ErrorCode::Unavailable, list.error().message);
        QJsonArray out;
        for (const model::Artifact &a : std::as_const(*list))
            out.append(QJsonObject {{QStringLiteral("name"), a.branch}, {QStringLiteral("latest"), a.toJson()}});
        return {{QStringLiteral("branches"), out}};
    }
    if (method == QLatin1String(chatops::method::DeployCard)) {
        const qint64 envId = params.value(u"environment").toInteger();
        const model::Environment *env = environment(envId);
        if (!env || !c.visible.contains(env->iterationId))
            return bad(ErrorCode::NotFound, QStringLiteral("no environment %1 of yours").arg(envId));
        return deployCard(*env, error);
    }
    if (method == QLatin1String(chatops::method::Command)) {
        if (!m_commands)
            return bad(ErrorCode::Unavailable, QStringLiteral("this bot takes no commands"));
        const qint64 iteration = params.value(u"iteration").toInteger(0);
        if (iteration && !c.visible.contains(iteration))
            return bad(ErrorCode::NotFound, QStringLiteral("no iteration %1 of yours").arg(iteration));
        const CommandReply reply = m_commands->run(CommandContext {c.who, iteration, QStringLiteral("desktop")},
                                                   params.value(u"text").toString());
        QJsonObject out {{QStringLiteral("ok"), reply.ok},
                         {QStringLiteral("text"), reply.text},
                         {QStringLiteral("data"), reply.data}};
        if (!reply.errorCode.isEmpty())
            out.insert(QStringLiteral("errorCode"), reply.errorCode);
        if (!reply.confirmToken.isEmpty())
            out.insert(QStringLiteral("confirmToken"), reply.confirmToken);
        if (reply.card)
            out.insert(QStringLiteral("card"), deployCardToJson(*reply.card));
        return out;
    }
    if (method == QLatin1String(chatops::method::Say)) {
        const qint64 iteration = params.value(u"iteration").toInteger(0);
        const QString text = params.value(u"text").toString().trimmed();
        if (!c.visible.contains(iteration))
            return bad(ErrorCode::NotFound, QStringLiteral("no iteration %1 of yours").arg(iteration));
        if (!mayAct(c, iteration))
            return bad(ErrorCode::Forbidden, QStringLiteral("only members of the iteration may write to its group"));
        if (!m_channels)
            return bad(ErrorCode::Unavailable, QStringLiteral("this bot's groups live in an external IM"));
        if (text.isEmpty() || text.size() > 4000)
            return bad(ErrorCode::BadRequest, QStringLiteral("a message has 1 to 4000 characters"));
        m_channels->postMessageAs(BuiltinChannels::chatIdFor(iteration), c.who.displayName, text);
        return {{QStringLiteral("posted"), true}};
    }

    // Environment requests.
    if (method == QLatin1String(chatops::method::CreateEnvironment)) {
        const qint64 iteration = params.value(u"iteration").toInteger();
        if (!c.visible.contains(iteration))
            return bad(ErrorCode::NotFound, QStringLiteral("no iteration %1 of yours").arg(iteration));
        if (!mayAct(c, iteration))
            return bad(ErrorCode::Forbidden, QStringLiteral("only members of the iteration may do that"));
        if (!m_environments)
            return bad(ErrorCode::Unavailable, QStringLiteral("environments are disabled on this bot"));
        auto env = m_environments->createEnvironment(iteration);
        if (!env)
            return bad(ErrorCode::Conflict, env.error());
        return {{QStringLiteral("environment"), env->toJson()}};
    }
    if (method == QLatin1String(chatops::method::Select) || method == QLatin1String(chatops::method::Redeploy)) {
        const qint64 envId = params.value(u"environment").toInteger();
        const model::Environment *env = environment(envId);
        if (!env || !c.visible.contains(env->iterationId))
            return bad(ErrorCode::NotFound, QStringLiteral("no environment %1 of yours").arg(envId));
        if (!mayAct(c, env->iterationId))
            return bad(ErrorCode::Forbidden, QStringLiteral("only members of the iteration may do that"));
        if (!m_environments)
            return bad(ErrorCode::Unavailable, QStringLiteral("environments are disabled on this bot"));
        const QString component = params.value(u"component").toString();
        if (!component.isEmpty() && !m_manifest.component(component))
            return bad(ErrorCode::NotFound, QStringLiteral("no component \"%1\"").arg(component));
        if (method == QLatin1String(chatops::method::Redeploy)) {
            QStringList names;
            if (component.isEmpty()) {
                for (const model::ComponentSpec &spec : std::as_const(m_manifest.components))
                    names.append(spec.name);
            } else {
                names.append(component);
            }
            for (const QString &n : std::as_const(names)) {
                if (auto r = m_environments->redeploy(envId, n); !r)
                    return bad(ErrorCode::Conflict, r.error());
            }
            return {{QStringLiteral("components"), QJsonArray::fromStringList(names)}};
        }
        if (component.isEmpty())
            return bad(ErrorCode::BadRequest, QStringLiteral("select needs a \"component\""));
        Expected<model::Selection, QString> sel = unexpected(QString());
        if (params.contains(u"pin")) {
            sel = m_environments->pin(envId, component, params.value(u"pin").toInteger(), c.who.displayName);
        } else if (params.value(u"follow").isString() && !params.value(u"follow").toString().isEmpty()) {
            sel = m_environments->follow(envId, component, params.value(u"follow").toString(), c.who.displayName);
        } else {
            return bad(ErrorCode::BadRequest,
                       QStringLiteral("select needs \"follow\": BRANCH or \"pin\": ARTIFACT_ID"));
        }
        if (!sel)
            return bad(ErrorCode::Conflict, sel.error());
        return {{QStringLiteral("selection"), sel->toJson()}};
    }
    return bad(ErrorCode::BadRequest, QStringLiteral("unknown method \"%1\"").arg(method));
}

// The desktop's deploy card: per component its branches with their latest builds (whole
// artifacts), what it follows or has pinned, and what it last did.
QJsonObject DesktopStream::deployCard(const model::Environment &env, std::optional<ProtocolError> *error)
{
    QJsonArray components;
    for (const model::ComponentSpec &spec : std::as_const(m_manifest.components)) {
        auto branches = m_store->branches(spec.name);
        if (!branches) {
            *error = ProtocolError {ErrorCode::Unavailable, branches.error().message};
            return {};
        }
        QJsonObject c {{QStringLiteral("name"), spec.name}, {QStringLiteral("defaultBranch"), spec.defaultBranch}};
        QString selected = spec.defaultBranch;
        for (const model::Selection &sel : std::as_const(m_cache.selections)) {
            if (sel.environmentId != env.id || sel.component != spec.name)
                continue;
            if (sel.mode == model::Selection::Mode::Follow) {
                selected = sel.branch;
                c.insert(QStringLiteral("mode"), QStringLiteral("follow"));
                c.insert(QStringLiteral("selection"), sel.branch);
            } else {
                c.insert(QStringLiteral("mode"), QStringLiteral("pin"));
                c.insert(QStringLiteral("pinned"), sel.artifactId);
                c.insert(QStringLiteral("selection"), QStringLiteral("pinned #%1").arg(sel.artifactId));
                if (auto a = m_store->artifact(sel.artifactId)) {
                    selected = a->branch;
                    c.insert(QStringLiteral("pinnedArtifact"), a->toJson());
                }
            }
        }
        c.insert(QStringLiteral("selectedBranch"), selected);
        QJsonArray list;
        bool listed = false;
        for (const model::Artifact &a : std::as_const(*branches)) {
            list.append(QJsonObject {{QStringLiteral("name"), a.branch}, {QStringLiteral("latest"), a.toJson()}});
            listed = listed || a.branch == selected;
        }
        if (!listed && !selected.isEmpty())
            list.append(QJsonObject {{QStringLiteral("name"), selected}});
        c.insert(QStringLiteral("branches"), list);
        const auto d = m_deployments.find({env.id, spec.name});
        if (d != m_deployments.end()) {
            c.insert(QStringLiteral("deployment"), d->second.toJson());
            c.insert(QStringLiteral("status"), d->second.state);
        }
        components.append(c);
    }
    return {{QStringLiteral("environment"), env.id},
            {QStringLiteral("namespace"), env.nameSpace},
            {QStringLiteral("domain"), env.domain},
            {QStringLiteral("components"), components}};
}

} // namespace iterdeck::bot
