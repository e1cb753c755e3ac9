#include "kubeclient.h"

#include "logging.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QPointer>
#include <QRandomGenerator>
#include <QSslCertificate>
#include <QTimer>

#include <algorithm>
#include <cmath>

namespace iterdeck::kube {

namespace {

QString joinPath(std::initializer_list<QString> parts)
{
    QString out;
    for (const QString &p : parts) {
        if (p.isEmpty())
            continue;
        out += QLatin1Char('/') + p;
    }
    return out;
}

bool isIdempotent(const QByteArray &verb)
{
    return verb == "GET" || verb == "HEAD" || verb == "PUT" || verb == "DELETE" || verb == "OPTIONS";
}

// What kubectl says for the same transport failure (client-go and kubectl wording where there is one).
KubeError networkError(QNetworkReply *reply, const QUrl &server, const QList<QSslError> &sslErrors, bool timedOut)
{
    const QString hostPort = QStringLiteral("%1:%2")
                                 .arg(server.host())
                                 .arg(server.port(server.scheme() == QLatin1String("https") ? 443 : 80));
    if (timedOut) {
        return KubeError::make(KubeError::Kind::Timeout, QStringLiteral("the request to %1 timed out").arg(hostPort));
    }
    switch (reply->error()) {
    case QNetworkReply::ConnectionRefusedError:
        return KubeError::make(
            KubeError::Kind::Network,
            QStringLiteral("The connection to the server %1 was refused - did you specify the right host or port?")
                .arg(hostPort));
    case QNetworkReply::HostNotFoundError:
        return KubeError::make(KubeError::Kind::Network,
                               QStringLiteral("dial tcp: lookup %1: no such host").arg(server.host()));
    case QNetworkReply::TimeoutError:
        return KubeError::make(KubeError::Kind::Timeout, QStringLiteral("the request to %1 timed out").arg(hostPort));
    case QNetworkReply::OperationCanceledError:
        return KubeError::make(KubeError::Kind::Cancelled, QStringLiteral("request cancelled"));
    case QNetworkReply::SslHandshakeFailedError: {
        QStringList why;
        for (const QSslError &e : sslErrors)
            why.append(e.errorString());
        why.removeDuplicates();
        return KubeError::make(
            KubeError::Kind::Tls,
            QStringLiteral("tls: failed to verify certificate of %1: %2")
                .arg(hostPort, why.isEmpty() ? reply->errorString() : why.join(QStringLiteral("; "))));
    }
    case QNetworkReply::ProxyConnectionRefusedError:
    case QNetworkReply::ProxyConnectionClosedError:
    case QNetworkReply::ProxyNotFoundError:
    case QNetworkReply::ProxyTimeoutError:
    case QNetworkReply::ProxyAuthenticationRequiredError:
        return KubeError::make(KubeError::Kind::Network, QStringLiteral("proxy error: %1").arg(reply->errorString()));
    default:
        return KubeError::make(KubeError::Kind::Network,
                               QStringLiteral("error talking to %1: %2").arg(hostPort, reply->errorString()));
    }
}

QList<QPair<QByteArray, QByteArray>> impersonationHeaders(const UserConfig &user)
{
    QList<QPair<QByteArray, QByteArray>> h;
    if (!user.impersonateUser.isEmpty())
        h.append({"Impersonate-User", user.impersonateUser.toUtf8()});
    if (!user.impersonateUid.isEmpty())
        h.append({"Impersonate-Uid", user.impersonateUid.toUtf8()});
    for (const QString &g : user.impersonateGroups)
        h.append({"Impersonate-Group", g.toUtf8()});
    for (auto it = user.impersonateExtra.cbegin(); it != user.impersonateExtra.cend(); ++it) {
        const QByteArray key = "Impersonate-Extra-" + QUrl::toPercentEncoding(it.key());
        for (const QString &v : it.value())
            h.append({key, v.toUtf8()});
    }
    return h;
}

int backoffMs(int attempt)
{
    const double base = 250.0 * std::pow(2.0, std::min(attempt, 6));
    const double capped = std::min(base, 8000.0);
    return int(capped * (0.8 + 0.4 * QRandomGenerator::global()->generateDouble()));
}

} // namespace

QString ResourceRef::path(const QString &ns, const QString &name, const QString &subresource) const
{
    const QString prefix = group.isEmpty() ? QString(QStringLiteral("/api/") + version)
                                           : QString(QStringLiteral("/apis/") + group + QLatin1Char('/') + version);
    const QString nsPart = namespaced && !ns.isEmpty() ? QStringLiteral("namespaces/") + ns : QString();
    return prefix + joinPath({nsPart, resource, name, name.isEmpty() ? QString() : subresource});
}

ResourceRef ResourceRef::pods()
{
    return {QString(), QStringLiteral("v1"), QStringLiteral("pods"), QStringLiteral("Pod"), true};
}
ResourceRef ResourceRef::services()
{
    return {QString(), QStringLiteral("v1"), QStringLiteral("services"), QStringLiteral("Service"), true};
}
ResourceRef ResourceRef::configMaps()
{
    return {QString(), QStringLiteral("v1"), QStringLiteral("configmaps"), QStringLiteral("ConfigMap"), true};
}
ResourceRef ResourceRef::secrets()
{
    return {QString(), QStringLiteral("v1"), QStringLiteral("secrets"), QStringLiteral("Secret"), true};
}
ResourceRef ResourceRef::namespaces()
{
    return {QString(), QStringLiteral("v1"), QStringLiteral("namespaces"), QStringLiteral("Namespace"), false};
}
ResourceRef ResourceRef::events()
{
    return {QString(), QStringLiteral("v1"), QStringLiteral("events"), QStringLiteral("Event"), true};
}
ResourceRef ResourceRef::deployments()
{
    return {QStringLiteral("apps"), QStringLiteral("v1"), QStringLiteral("deployments"), QStringLiteral("Deployment"),
            true};
}
ResourceRef ResourceRef::statefulSets()
{
    return {QStringLiteral("apps"), QStringLiteral("v1"), QStringLiteral("statefulsets"), QStringLiteral("StatefulSet"),
            true};
}
ResourceRef ResourceRef::replicaSets()
{
    return {QStringLiteral("apps"), QStringLiteral("v1"), QStringLiteral("replicasets"), QStringLiteral("ReplicaSet"),
            true};
}

QByteArray patchContentType(PatchType type)
{
    switch (type) {
    case PatchType::Json:
        return "application/json-patch+json";
    case PatchType::Merge:
        return "application/merge-patch+json";
    case PatchType::Strategic:
        return "application/strategic-merge-patch+json";
    case PatchType::Apply:
        return "application/apply-patch+yaml";
    }
    return {};
}

KubeCall::KubeCall(QObject *parent)
    : QObject(parent)
{ }

Expected<QJsonObject, KubeError> KubeCall::object() const
{
    if (m_error.isError())
        return unexpected(m_error);
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(m_body, &pe);
    if (pe.error != QJsonParseError::NoError) {
        return unexpected(KubeError::make(KubeError::Kind::Decode,
                                          QStringLiteral("the server sent invalid JSON (%1 at byte %2 of %3)")
                                              .arg(pe.errorString())
                                              .arg(pe.offset)
                                              .arg(m_body.size())));
    }
    if (!doc.isObject()) {
        return unexpected(
            KubeError::make(KubeError::Kind::Decode, QStringLiteral("the server sent JSON that is not an object")));
    }
    return doc.object();
}

void KubeCall::abort()
{
    if (m_abort)
        m_abort();
}

KubeClient::KubeClient(ClientConfig config, QObject *parent)
    : QObject(parent)
    , m_config(std::move(config))
    , m_credentials(new CredentialProvider(m_config, this))
    , m_network(new QNetworkAccessManager(this))
    , m_userAgent(QByteArrayLiteral("iterdeck/" ITERDECK_VERSION))
{
    m_network->setAutoDeleteReplies(false);
    applyNetworkSettings();
}

void KubeClient::applyNetworkSettings()
{
    if (m_config.cluster.proxyUrl.isValid() && !m_config.cluster.proxyUrl.isEmpty()) {
        const QUrl &p = m_config.cluster.proxyUrl;
        const bool socks = p.scheme().startsWith(QLatin1String("socks"));
        m_network->setProxy(QNetworkProxy(socks ? QNetworkProxy::Socks5Proxy : QNetworkProxy::HttpProxy, p.host(),
                                          quint16(p.port(socks ? 1080 : 3128)), p.userName(), p.password()));
    } else {
        m_network->setProxy(QNetworkProxy(QNetworkProxy::NoProxy));
    }
    for (const QString &w : std::as_const(m_config.warnings))
        qCWarning(lcKube).noquote() << w;
}

void KubeClient::setConfig(ClientConfig config)
{
    m_config = std::move(config);
    // Fetches under way in the old provider still answer their callers, then it goes.
    CredentialProvider *old = m_credentials;
    m_credentials = new CredentialProvider(m_config, this);
    QTimer::singleShot(60000, old, &QObject::deleteLater);
    // Kept-alive connections were made with the old TLS settings and credentials.
    m_network->clearConnectionCache();
    applyNetworkSettings();
    Q_EMIT configChanged();
}

KubeClient::~KubeClient() = default;

void KubeClient::setUserAgent(const QByteArray &agent)
{
    m_userAgent = agent;
}

namespace {

QSslConfiguration sslFor(const ClientConfig &config, const Credentials &creds)
{
    QSslConfiguration ssl = QSslConfiguration::defaultConfiguration();
    ssl.setProtocol(QSsl::TlsV1_2OrLater);
    // The API server speaks HTTP/1.1 for every upgrade (exec, port-forward); watch and logs are
    // long chunked answers. One protocol keeps both paths alike.
    ssl.setAllowedNextProtocols({QByteArrayLiteral("http/1.1")});
    if (config.cluster.insecureSkipTlsVerify) {
        ssl.setPeerVerifyMode(QSslSocket::VerifyNone);
    } else if (!config.cluster.certificateAuthorityPem.isEmpty()) {
        // Like client-go: a configured CA replaces the system's roots.
        ssl.setCaCertificates(QSslCertificate::fromData(config.cluster.certificateAuthorityPem, QSsl::Pem));
        ssl.setPeerVerifyMode(QSslSocket::VerifyPeer);
    }
    if (!creds.clientCertificate.isNull()) {
        QList<QSslCertificate> chain {creds.clientCertificate};
        chain.append(creds.clientChain);
        ssl.setLocalCertificateChain(chain);
        ssl.setPrivateKey(creds.clientKey);
    }
    return ssl;
}

} // namespace

void KubeClient::transport(QObject *context, std::function<void(const Expected<Transport, KubeError> &)> done)
{
    QPointer<QObject> ctx(context);
    m_credentials->fetch(context, [this, ctx, done = std::move(done)](const Expected<Credentials, KubeError> &creds) {
        if (!ctx)
            return;
        if (!creds) {
            done(unexpected(creds.error()));
            return;
        }
        Transport t;
        t.server = m_config.cluster.server;
        t.ssl = sslFor(m_config, *creds);
        t.peerVerifyName = m_config.cluster.tlsServerName;
        t.proxy = m_network->proxy();
        if (const QByteArray auth = creds->authorizationHeader(); !auth.isEmpty())
            t.headers.append({"Authorization", auth});
        t.headers.append(impersonationHeaders(m_config.user));
        t.headers.append({"User-Agent", m_userAgent});
        done(t);
    });
}

KubeCall *KubeClient::send(const KubeRequest &request)
{
    auto *call = new KubeCall(this);
    startAttempt(call, request, 0, false);
    return call;
}

namespace {

QNetworkRequest makeRequest(const ClientConfig &config, const Credentials &creds, const KubeRequest &r,
                            const QByteArray &userAgent)
{
    QUrl url = config.cluster.server;
    QString base = url.path();
    while (base.endsWith(QLatin1Char('/')))
        base.chop(1);
    url.setPath(base + r.path);
    if (!r.query.isEmpty())
        url.setQuery(r.query);
    QNetworkRequest req(url);
    req.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    req.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    req.setRawHeader("Accept", r.accept);
    req.setRawHeader("User-Agent", userAgent);
    if (!r.contentType.isEmpty())
        req.setRawHeader("Content-Type", r.contentType);
    if (const QByteArray auth = creds.authorizationHeader(); !auth.isEmpty())
        req.setRawHeader("Authorization", auth);
    for (const auto &[k, v] : impersonationHeaders(config.user))
        req.setRawHeader(k, v);
    if (!config.cluster.tlsServerName.isEmpty())
        req.setPeerVerifyName(config.cluster.tlsServerName);
    if (url.scheme() == QLatin1String("https"))
        req.setSslConfiguration(sslFor(config, creds));
    if (config.cluster.disableCompression)
        req.setRawHeader("Accept-Encoding", "identity");
    return req;
}

} // namespace

void KubeClient::startAttempt(KubeCall *target, KubeRequest request, int attempt, bool refreshedAuth)
{
    QPointer<KubeCall> guard(target);
    m_credentials->fetch(
        target, [this, guard, request, attempt, refreshedAuth](const Expected<Credentials, KubeError> &creds) {
            KubeCall *call = guard.data();
            if (!call)
                return;
            auto finish = [call](KubeError error, int status, QByteArray body) {
                call->m_error = std::move(error);
                call->m_status = status;
                call->m_body = std::move(body);
                call->m_abort = {};
                Q_EMIT call->finished();
                call->deleteLater();
            };
            if (!creds) {
                finish(creds.error(), 0, {});
                return;
            }
            QNetworkRequest req = makeRequest(m_config, *creds, request, m_userAgent);
            QNetworkReply *reply = m_network->sendCustomRequest(req, request.verb, request.body);
            auto sslErrors = std::make_shared<QList<QSslError>>();
            auto timedOut = std::make_shared<bool>(false);
            auto cancelled = std::make_shared<bool>(false);
            connect(reply, &QNetworkReply::sslErrors, reply,
                    [sslErrors](const QList<QSslError> &errors) { *sslErrors = errors; });
            QTimer *deadline = nullptr;
            if (request.timeoutMs > 0) {
                deadline = new QTimer(reply);
                deadline->setSingleShot(true);
                connect(deadline, &QTimer::timeout, reply, [reply, timedOut] {
                    *timedOut = true;
                    reply->abort();
                });
                deadline->start(request.timeoutMs);
            }
            call->m_abort = [reply, cancelled] {
                *cancelled = true;
                reply->abort();
            };
            connect(
                reply, &QNetworkReply::finished, call,
                [this, call, reply, request, attempt, refreshedAuth, finish, sslErrors, timedOut, cancelled] {
                    reply->deleteLater();
                    const QVariant statusAttr = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
                    const int status = statusAttr.isValid() ? statusAttr.toInt() : 0;
                    const QByteArray body = reply->isOpen() ? reply->readAll() : QByteArray();
                    const bool retryable
                        = request.retry.value_or(isIdempotent(request.verb)) && attempt + 1 < request.maxAttempts;
                    if (*cancelled) {
                        finish(KubeError::make(KubeError::Kind::Cancelled, QStringLiteral("request cancelled")), 0, {});
                        return;
                    }
                    if (status == 0) {
                        KubeError e = networkError(reply, m_config.cluster.server, *sslErrors, *timedOut);
                        // TLS and timeouts are not transient in a way a retry fixes quickly; refused
                        // connections and resets are (an API server restarting).
                        if (retryable && e.kind == KubeError::Kind::Network) {
                            qCDebug(lcKube) << "retrying" << request.verb << request.path << "after" << e.message;
                            QTimer::singleShot(backoffMs(attempt), call, [this, call, request, attempt, refreshedAuth] {
                                startAttempt(call, request, attempt + 1, refreshedAuth);
                            });
                            return;
                        }
                        finish(e, 0, body);
                        return;
                    }
                    // A connection that closes before the announced length is a broken transfer,
                    // not a short document (QNetworkAccessManager reports no error for it).
                    const QVariant length = reply->header(QNetworkRequest::ContentLengthHeader);
                    if (length.isValid() && reply->rawHeader("Content-Encoding").isEmpty()
                        && body.size() < length.toLongLong()) {
                        const QUrl &server = m_config.cluster.server;
                        const KubeError cut
                            = KubeError::make(KubeError::Kind::Network,
                                              QStringLiteral("the connection to %1:%2 closed after %3 of %4 bytes")
                                                  .arg(server.host())
                                                  .arg(server.port(443))
                                                  .arg(body.size())
                                                  .arg(length.toLongLong()));
                        if (retryable) {
                            QTimer::singleShot(backoffMs(attempt), call, [this, call, request, attempt, refreshedAuth] {
                                startAttempt(call, request, attempt + 1, refreshedAuth);
                            });
                            return;
                        }
                        finish(cut, 0, body);
                        return;
                    }
                    if (status >= 200 && status < 300) {
                        finish({}, status, body);
                        return;
                    }
                    KubeError e = KubeError::fromHttp(status, body);
                    if (const QByteArray ra = reply->rawHeader("Retry-After"); !ra.isEmpty()) {
                        bool ok = false;
                        const int secs = ra.trimmed().toInt(&ok);
                        if (ok && secs >= 0)
                            e.retryAfterSeconds = secs;
                    }
                    if (status == 401 && !refreshedAuth && m_credentials->canRefresh()) {
                        m_credentials->invalidate();
                        if (request.retry.value_or(isIdempotent(request.verb))) {
                            startAttempt(call, request, attempt + 1, true);
                            return;
                        }
                    }
                    const bool transient = status == 429 || (status >= 500 && status != 501 && status != 505);
                    if (retryable && transient) {
                        const int delay
                            = e.retryAfterSeconds >= 0 ? std::min(e.retryAfterSeconds, 30) * 1000 : backoffMs(attempt);
                        qCDebug(lcKube) << "retrying" << request.verb << request.path << "after HTTP" << status << "in"
                                        << delay << "ms";
                        QTimer::singleShot(delay, call, [this, call, request, attempt, refreshedAuth] {
                            startAttempt(call, request, attempt + 1, refreshedAuth);
                        });
                        return;
                    }
                    finish(e, status, body);
                });
        });
}

KubeCall *KubeClient::get(const ResourceRef &ref, const QString &ns, const QString &name)
{
    KubeRequest r;
    r.path = ref.path(ns, name);
    return send(r);
}

KubeCall *KubeClient::create(const ResourceRef &ref, const QString &ns, const QJsonObject &object)
{
    KubeRequest r;
    r.verb = "POST";
    r.path = ref.path(ns);
    r.body = QJsonDocument(object).toJson(QJsonDocument::Compact);
    r.contentType = "application/json";
    return send(r);
}

KubeCall *KubeClient::replace(const ResourceRef &ref, const QString &ns, const QString &name, const QJsonObject &object)
{
    KubeRequest r;
    r.verb = "PUT";
    r.path = ref.path(ns, name);
    r.body = QJsonDocument(object).toJson(QJsonDocument::Compact);
    r.contentType = "application/json";
    return send(r);
}

KubeCall *KubeClient::patch(const ResourceRef &ref, const QString &ns, const QString &name, PatchType type,
                            const QByteArray &body, const QString &fieldManager, bool force, const QString &subresource)
{
    KubeRequest r;
    r.verb = "PATCH";
    r.path = ref.path(ns, name, subresource);
    r.body = body;
    r.contentType = patchContentType(type);
    if (!fieldManager.isEmpty())
        r.query.addQueryItem(QStringLiteral("fieldManager"), fieldManager);
    if (type == PatchType::Apply) {
        r.query.addQueryItem(QStringLiteral("force"), force ? QStringLiteral("true") : QStringLiteral("false"));
        // An apply is idempotent: the same configuration applied twice gives the same object.
        r.retry = true;
    }
    return send(r);
}

KubeCall *KubeClient::remove(const ResourceRef &ref, const QString &ns, const QString &name,
                             const DeleteOptions &options)
{
    KubeRequest r;
    r.verb = "DELETE";
    r.path = ref.path(ns, name);
    QJsonObject body;
    if (!options.propagationPolicy.isEmpty())
        body.insert(QLatin1String("propagationPolicy"), options.propagationPolicy);
    if (options.gracePeriodSeconds >= 0)
        body.insert(QLatin1String("gracePeriodSeconds"), options.gracePeriodSeconds);
    if (!body.isEmpty()) {
        body.insert(QLatin1String("kind"), QStringLiteral("DeleteOptions"));
        body.insert(QLatin1String("apiVersion"), QStringLiteral("v1"));
        r.body = QJsonDocument(body).toJson(QJsonDocument::Compact);
        r.contentType = "application/json";
    }
    return send(r);
}

KubeCall *KubeClient::list(const ResourceRef &ref, const QString &ns, const ListOptions &options)
{
    auto *call = new KubeCall(this);
    listPage(call, ref, ns, options, {}, {});
    return call;
}

void KubeClient::listPage(KubeCall *target, ResourceRef ref, QString ns, ListOptions options, QJsonObject merged,
                          QString continueToken)
{
    KubeRequest r;
    r.path = ref.path(ns);
    if (!options.labelSelector.isEmpty())
        r.query.addQueryItem(QStringLiteral("labelSelector"), options.labelSelector);
    if (!options.fieldSelector.isEmpty())
        r.query.addQueryItem(QStringLiteral("fieldSelector"), options.fieldSelector);
    if (options.limit > 0)
        r.query.addQueryItem(QStringLiteral("limit"), QString::number(options.limit));
    if (!continueToken.isEmpty())
        r.query.addQueryItem(QStringLiteral("continue"), continueToken);
    else if (!options.resourceVersion.isEmpty())
        r.query.addQueryItem(QStringLiteral("resourceVersion"), options.resourceVersion);
    KubeCall *page = send(r);
    QPointer<KubeCall> guard(target);
    connect(page, &KubeCall::finished, target, [this, guard, page, ref, ns, options, merged, continueToken]() mutable {
        KubeCall *call = guard.data();
        auto finish = [call](KubeError e, int status, QByteArray body) {
            call->m_error = std::move(e);
            call->m_status = status;
            call->m_body = std::move(body);
            Q_EMIT call->finished();
            call->deleteLater();
        };
        if (!page->isOk()) {
            // The continue token expired mid-list: like client-go's pager, fall back to one
            // unpaginated list, which is consistent by itself.
            if (!continueToken.isEmpty() && page->error().isExpired()) {
                ListOptions full = options;
                full.limit = 0;
                listPage(call, ref, ns, full, {}, {});
                return;
            }
            finish(page->error(), page->httpStatus(), page->body());
            return;
        }
        auto obj = page->object();
        if (!obj) {
            finish(obj.error(), page->httpStatus(), page->body());
            return;
        }
        if (!obj->value(QLatin1String("items")).isArray() && !obj->value(QLatin1String("items")).isNull()) {
            finish(KubeError::make(KubeError::Kind::Decode, QStringLiteral("the server's list has no items array")),
                   page->httpStatus(), page->body());
            return;
        }
        if (merged.isEmpty()) {
            merged = *obj;
        } else {
            QJsonArray items = merged.value(QLatin1String("items")).toArray();
            const QJsonArray more = obj->value(QLatin1String("items")).toArray();
            for (const QJsonValue &v : more)
                items.append(v);
            merged.insert(QLatin1String("items"), items);
            merged.insert(QLatin1String("metadata"), obj->value(QLatin1String("metadata")));
        }
        const QString next
            = obj->value(QLatin1String("metadata")).toObject().value(QLatin1String("continue")).toString();
        if (!next.isEmpty()) {
            listPage(call, ref, ns, options, merged, next);
            return;
        }
        QJsonObject meta = merged.value(QLatin1String("metadata")).toObject();
        meta.remove(QLatin1String("continue"));
        merged.insert(QLatin1String("metadata"), meta);
        if (!merged.contains(QLatin1String("items")))
            merged.insert(QLatin1String("items"), QJsonArray());
        finish({}, page->httpStatus(), QJsonDocument(merged).toJson(QJsonDocument::Compact));
    });
}

void KubeClient::openStream(const KubeRequest &request, QObject *context,
                            std::function<void(QNetworkReply *, const KubeError &)> done)
{
    QPointer<QObject> ctx(context);
    m_credentials->fetch(context,
                         [this, ctx, request, done = std::move(done)](const Expected<Credentials, KubeError> &creds) {
                             if (!ctx)
                                 return;
                             if (!creds) {
                                 done(nullptr, creds.error());
                                 return;
                             }
                             QNetworkRequest req = makeRequest(m_config, *creds, request, m_userAgent);
                             QNetworkReply *reply = m_network->sendCustomRequest(req, request.verb, request.body);
                             done(reply, {});
                         });
}

KubeError replyError(QNetworkReply *reply, const QUrl &server, bool timedOut)
{
    const QVariant statusAttr = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    const int status = statusAttr.isValid() ? statusAttr.toInt() : 0;
    if (status >= 300)
        return KubeError::fromHttp(status, reply->isOpen() ? reply->readAll() : QByteArray());
    if (timedOut || reply->error() != QNetworkReply::NoError)
        return networkError(reply, server, {}, timedOut);
    return {};
}

} // namespace iterdeck::kube
