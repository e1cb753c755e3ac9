#include "botserver.h"

#include "imgateway.h"
#include "logging.h"
#include "secrets.h"

#include <QJsonDocument>
#include <QPointer>
#include <QUrlQuery>

namespace iterdeck::bot {

namespace {

HttpResponse jsonResponse(int status, const QJsonObject &body)
{
    return HttpResponse {
        status, "application/json", QJsonDocument(body).toJson(QJsonDocument::Compact).toStdString() + '\n', {}};
}

HttpResponse errorResponse(int status, const QString &code, const QString &message)
{
    return jsonResponse(status, QJsonObject {{QStringLiteral("error"), code}, {QStringLiteral("message"), message}});
}

WebhookRequest webhookRequest(const HttpRequest &request)
{
    WebhookRequest wr;
    wr.body = QByteArray::fromStdString(request.body);
    for (const auto &[k, v] : request.headers)
        wr.headers.insert(QByteArray::fromStdString(k), QByteArray::fromStdString(v));
    const QUrlQuery query(QString::fromStdString(request.query));
    for (const auto &[k, v] : query.queryItems(QUrl::FullyDecoded))
        wr.query.insert(k, v);
    return wr;
}

} // namespace

BotServer::BotServer(model::TeamManifest manifest, std::unique_ptr<Store> store, QObject *parent)
    : QObject(parent)
    , m_manifest(std::move(manifest))
    , m_store(std::move(store))
    , m_processor(*m_store, m_manifest, &m_metrics)
{ }

BotServer::~BotServer()
{
    stop();
}

Expected<bool, QString> BotServer::loadHooks()
{
    m_hooks.clear();
    for (const model::WebhookSource &w : std::as_const(m_manifest.webhooks)) {
        auto parser = makeWebhookParser(w.source);
        if (!parser)
            return unexpected(QStringLiteral("webhook \"%1\": unknown source \"%2\"").arg(w.name, w.source));
        auto secret = readSecret(w.secret);
        if (!secret) {
            return unexpected(QStringLiteral("%1: webhook \"%2\": %3").arg(w.where.toString(), w.name, secret.error()));
        }
        m_hooks.insert(w.name, WebhookHook {w.name, w.source, *secret, std::move(parser)});
    }
    return true;
}

void BotServer::commitWebhooksOnThread(const StoreOptions &options)
{
    m_writerStore = options;
}

bool BotServer::start(const BotServerOptions &options, QString *error)
{
    HttpServerOptions http;
    http.maxBodyBytes = options.maxBodyBytes;
    http.threads = options.threads;
    http.webSocketThreads = options.webSocketThreads;
    if (m_writerStore && !m_writer) {
        auto writer = std::make_unique<WebhookWriter>(*m_writerStore, m_manifest, &m_metrics);
        if (auto started = writer->start(); !started) {
            *error = started.error();
            return false;
        }
        m_writer = std::move(writer);
    }
    // Webhooks go from the HTTP thread straight to the writer's thread, when there is one; the
    // hooks and the IM platform's name do not change once serving.
    const QHash<QString, WebhookHook> hooks = m_hooks;
    const QString imPlatform = m_im ? m_im->platform() : QString();
    WebhookWriter *writer = m_writer.get();
    BotServer *server = this;
    // Other requests are read on the HTTP thread and handled on ours; the answer goes back through
    // Respond. A QPointer guards against a request that arrives while we are being destroyed.
    QPointer<BotServer> self(this);
    m_http = std::make_unique<HttpServer>(
        [self, server, writer, hooks, imPlatform](HttpRequest request, Respond respond) {
            if (writer && request.method == "POST" && request.path.starts_with("/hooks/")) {
                const QString name = QString::fromStdString(request.path.substr(7));
                const auto hook = hooks.constFind(name);
                if (name != imPlatform && hook != hooks.constEnd()) {
                    // The writer is stopped before this object goes, and answers every delivery first.
                    writer->submit(*hook, webhookRequest(request),
                                   [server, name, remote = request.remoteAddress, respond](WebhookOutcome out) {
                                       server->answerHook(name, remote, out, respond);
                                       if (out.events.isEmpty())
                                           return;
                                       QMetaObject::invokeMethod(
                                           server, [server, events = out.events]() { server->tellSinks(events); },
                                           Qt::QueuedConnection);
                                   });
                    return;
                }
            }
            auto shared = std::make_shared<HttpRequest>(std::move(request));
            BotServer *target = self.data();
            if (!target) {
                respond(HttpResponse {503, "application/json", R"({"error":"shutting-down"})", {}});
                return;
            }
            QMetaObject::invokeMethod(
                target, [target, shared, respond]() { target->handle(std::move(*shared), respond); },
                Qt::QueuedConnection);
        },
        [self](HttpRequest request, std::function<void(WebSocketDecision)> decide) {
            auto shared = std::make_shared<HttpRequest>(std::move(request));
            BotServer *target = self.data();
            if (!target) {
                decide({nullptr, {}, HttpResponse {503, "application/json", R"({"error":"shutting-down"})", {}}});
                return;
            }
            QMetaObject::invokeMethod(
                target,
                [target, shared, decide]() {
                    if (shared->path != chatops::kStreamPath || !target->m_stream) {
                        decide({nullptr,
                                {},
                                HttpResponse {404,
                                              "application/json",
                                              R"({"error":"not-found","message":"WebSocket is served at /v1/stream"})",
                                              {}}});
                        return;
                    }
                    target->m_stream->upgrade(*shared, decide);
                },
                Qt::QueuedConnection);
        },
        http);
    std::string err;
    if (!options.tlsCertificate.isEmpty() || !options.tlsKey.isEmpty()) {
        if (options.tlsCertificate.isEmpty() || options.tlsKey.isEmpty()) {
            *error = QStringLiteral("HTTPS needs both a certificate and a key");
            return false;
        }
        if (!m_http->useTls(options.tlsCertificate.toStdString(), options.tlsKey.toStdString(), &err)) {
            *error = QString::fromStdString(err);
            return false;
        }
    }
    m_address = options.address;
    if (!m_http->listen(options.address.toStdString(), options.port, &err)) {
        *error = QString::fromStdString(err);
        m_http.reset();
        return false;
    }
    qCInfo(lcBot, "serving %s with %d webhook sources; store %s", qPrintable(url()), int(m_hooks.size()),
           qPrintable(m_store->description()));
    return true;
}

void BotServer::stop()
{
    // The writer first: what it has accepted is committed and answered while the server still runs.
    if (m_writer)
        m_writer->stop();
    if (m_http)
        m_http->stop();
    m_writer.reset();
}

quint16 BotServer::port() const
{
    return m_http ? m_http->port() : 0;
}

QString BotServer::url() const
{
    return QStringLiteral("%1://%2:%3")
        .arg(m_http && m_http->isTls() ? QStringLiteral("https") : QStringLiteral("http"))
        .arg(m_address.contains(u':') ? u'[' + m_address + u']' : m_address)
        .arg(port());
}

void BotServer::addEventSink(EventSink *sink)
{
    m_sinks.append(sink);
}

void BotServer::setDesktopStream(DesktopStream *stream)
{
    m_stream = stream;
}

void BotServer::setImGateway(ImGateway *gateway)
{
    m_im = gateway;
}

void BotServer::handle(HttpRequest request, const Respond &respond)
{
    const QString path = QString::fromStdString(request.path);
    const QString method = QString::fromStdString(request.method);
    if (path == QLatin1String(chatops::kStreamPath)) {
        HttpResponse r = errorResponse(426, QStringLiteral("upgrade-required"),
                                       QStringLiteral("the desktop stream is a WebSocket (subprotocol %1)")
                                           .arg(QLatin1String(chatops::kSubprotocol)));
        r.headers.emplace_back("Upgrade", "websocket");
        respond(std::move(r));
        return;
    }
    if (path.startsWith(QLatin1String("/hooks/"))) {
        const QString name = path.mid(7);
        if (m_im && name == m_im->platform()) {
            if (!m_im->accepts(QByteArray::fromStdString(request.method))) {
                HttpResponse r = errorResponse(405, QStringLiteral("method-not-allowed"),
                                               QStringLiteral("%1 calls back with POST").arg(name));
                r.headers.emplace_back("Allow", name == u"wecom" ? "GET, POST" : "POST");
                respond(std::move(r));
                return;
            }
            handleIm(std::move(request), respond);
            return;
        }
        if (method != QLatin1String("POST")) {
            HttpResponse r = errorResponse(405, QStringLiteral("method-not-allowed"),
                                           QStringLiteral("webhooks are delivered with POST"));
            r.headers.emplace_back("Allow", "POST");
            respond(std::move(r));
            return;
        }
        handleHook(name, std::move(request), respond);
        return;
    }
    const bool read = method == QLatin1String("GET") || method == QLatin1String("HEAD");
    if (path == QLatin1String("/healthz") && read) {
        respond(HttpResponse {200, "text/plain; charset=utf-8", "ok\n", {}});
        return;
    }
    if (path == QLatin1String("/readyz") && read) {
        auto ok = m_store->ping();
        if (ok) {
            respond(jsonResponse(200,
                                 QJsonObject {{QStringLiteral("status"), QStringLiteral("ready")},
                                              {QStringLiteral("store"), m_store->description()}}));
        } else {
            respond(jsonResponse(503,
                                 QJsonObject {{QStringLiteral("status"), QStringLiteral("unavailable")},
                                              {QStringLiteral("store"), m_store->description()},
                                              {QStringLiteral("message"), ok.error().message}}));
        }
        return;
    }
    if (path == QLatin1String("/metrics") && read) {
        respond(HttpResponse {200, "text/plain; version=0.0.4; charset=utf-8", m_metrics.render().toStdString(), {}});
        return;
    }
    respond(
        errorResponse(404, QStringLiteral("not-found"), QStringLiteral("no such endpoint: %1 %2").arg(method, path)));
}

void BotServer::handleHook(const QString &name, HttpRequest request, const Respond &respond)
{
    const auto hook = m_hooks.constFind(name);
    if (hook == m_hooks.constEnd()) {
        // One label for every unknown name: a scanner must not grow the metrics without bound.
        m_metrics.webhook(QStringLiteral("(unknown)"), 404);
        QStringList names = m_hooks.keys();
        names.sort();
        qCInfo(lcBot, "POST /hooks/%s from %s: no such webhook", qPrintable(name), request.remoteAddress.c_str());
        respond(
            errorResponse(404, QStringLiteral("unknown-hook"),
                          QStringLiteral("no webhook named \"%1\"; configured: %2")
                              .arg(name, names.isEmpty() ? QStringLiteral("none") : names.join(QStringLiteral(", ")))));
        return;
    }
    const WebhookOutcome out = m_processor.process(*hook, webhookRequest(request));
    answerHook(name, request.remoteAddress, out, respond);
    // Acknowledged first, then the reactions: a slow sink never delays the sender.
    tellSinks(out.events);
}

// Thread-safe: called on the writer's thread too.
void BotServer::answerHook(const QString &name, const std::string &remoteAddress, const WebhookOutcome &out,
                           const Respond &respond)
{
    m_metrics.webhook(name, out.httpStatus);
    const QString kind = webhookOutcomeName(out.kind);
    switch (out.kind) {
    case WebhookOutcome::Kind::Processed:
    case WebhookOutcome::Kind::Duplicate:
        qCInfo(lcBot, "hook %s delivery %s: %s, %s", qPrintable(name), qPrintable(out.deliveryId), qPrintable(kind),
               qPrintable(out.message));
        break;
    case WebhookOutcome::Kind::Ignored:
        qCInfo(lcBot, "hook %s delivery %s: ignored: %s", qPrintable(name), qPrintable(out.deliveryId),
               qPrintable(out.message));
        break;
    case WebhookOutcome::Kind::Unauthenticated:
    case WebhookOutcome::Kind::Malformed:
    case WebhookOutcome::Kind::StoreFailed:
        qCWarning(lcBot, "hook %s from %s: %s: %s", qPrintable(name), remoteAddress.c_str(), qPrintable(kind),
                  qPrintable(out.message));
        break;
    }
    respond(jsonResponse(out.httpStatus, out.body));
}

void BotServer::tellSinks(const QList<model::Event> &events)
{
    if (events.isEmpty())
        return;
    for (EventSink *sink : std::as_const(m_sinks))
        sink->eventsCommitted(events);
}

void BotServer::handleIm(HttpRequest request, const Respond &respond)
{
    im::InboundRequest in;
    in.method = QByteArray::fromStdString(request.method);
    in.path = QString::fromStdString(request.path);
    in.query = QUrlQuery(QString::fromStdString(request.query));
    for (const auto &[k, v] : request.headers)
        in.setHeader(QByteArray::fromStdString(k), QByteArray::fromStdString(v));
    in.body = QByteArray::fromStdString(std::move(request.body));
    const im::InboundAnswer answer = m_im->receive(in, QDateTime::currentDateTimeUtc());
    m_metrics.webhook(m_im->platform(), answer.status);
    respond(HttpResponse {answer.status, answer.contentType.toStdString(), answer.body.toStdString(), {}});
}

} // namespace iterdeck::bot
