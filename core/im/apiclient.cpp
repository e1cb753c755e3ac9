#include "apiclient.h"

#include "logging.h"

#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>

namespace iterdeck::im {

QUrl joinUrl(const QUrl &base, const QString &path)
{
    QUrl u = base;
    QString p = u.path();
    if (p.endsWith(u'/'))
        p.chop(1);
    u.setPath(p + path);
    return u;
}

void callSequence(ApiClient *client, QList<ApiRequest> requests, QObject *context,
                  std::function<void(const ApiAnswer &)> each, std::function<void(std::optional<ImError>)> done)
{
    if (requests.isEmpty()) {
        done(std::nullopt);
        return;
    }
    const ApiRequest first = requests.takeFirst();
    client->call(first, context, [client, requests, context, each, done](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            done(r.error());
            return;
        }
        if (each)
            each(*r);
        callSequence(client, requests, context, each, done);
    });
}

ApiClient::ApiClient(QNetworkAccessManager *nam, QUrl baseUrl, QObject *parent)
    : QObject(parent)
    , m_nam(nam)
    , m_base(std::move(baseUrl))
{ }

void ApiClient::call(const ApiRequest &request, QObject *context, Done done)
{
    auto p = std::make_shared<Pending>();
    p->request = request;
    p->context = context;
    p->done = std::move(done);
    if (!request.serialKey.isEmpty()) {
        auto &queue = m_serial[request.serialKey];
        queue.push_back(p);
        if (queue.size() > 1)
            return; // starts when the one before it finishes
    }
    start(p);
}

void ApiClient::start(std::shared_ptr<Pending> p)
{
    attempt(std::move(p));
}

void ApiClient::attempt(std::shared_ptr<Pending> p)
{
    ++p->attempt;
    if (!p->request.needsToken || !fetchToken) {
        send(p, {});
        return;
    }
    withToken([this, p](Expected<QString, ImError> token) {
        if (!token) {
            finish(p, unexpected(token.error()));
            return;
        }
        send(p, *token);
    });
}

void ApiClient::withToken(std::function<void(Expected<QString, ImError>)> then)
{
    if (!m_token.isEmpty() && QDateTime::currentDateTimeUtc() < m_tokenExpiry) {
        then(m_token);
        return;
    }
    m_tokenWaiters.append(std::move(then));
    if (m_fetchingToken)
        return;
    m_fetchingToken = true;
    fetchToken(this, [this](Expected<std::pair<QString, int>, ImError> r) {
        m_fetchingToken = false;
        const auto waiters = std::exchange(m_tokenWaiters, {});
        if (!r) {
            for (const auto &w : waiters)
                w(unexpected(r.error()));
            return;
        }
        m_token = r->first;
        // Refresh a little before the platform's expiry, so no call goes out with a dying token.
        const int life = std::max(30, r->second - std::min(300, r->second / 10));
        m_tokenExpiry = QDateTime::currentDateTimeUtc().addSecs(life);
        qCDebug(lcIm) << "token refreshed for" << m_base.host() << "valid" << r->second << "s";
        for (const auto &w : waiters)
            w(m_token);
    });
}

void ApiClient::send(std::shared_ptr<Pending> p, const QString &token)
{
    QUrl url = p->request.url.isValid() ? p->request.url : joinUrl(m_base, p->request.path);
    if (!p->request.query.isEmpty())
        url.setQuery(p->request.query);
    QNetworkRequest req;
    req.setTransferTimeout(m_policy.timeoutMs);
    for (auto it = p->request.headers.cbegin(); it != p->request.headers.cend(); ++it)
        req.setRawHeader(it.key(), it.value());
    QByteArray body;
    if (!p->request.body.isNull()) {
        body = p->request.body.toJson(QJsonDocument::Compact);
        req.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json; charset=utf-8"));
    }
    if (p->request.needsToken && authorize)
        authorize(req, url, token);
    req.setUrl(url);
    QNetworkReply *reply = m_nam->sendCustomRequest(req, p->request.method, body);
    connect(reply, &QNetworkReply::finished, this, [this, p, reply] {
        reply->deleteLater();
        ApiAnswer a;
        a.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        a.body = reply->readAll();
        for (const auto &pair : reply->rawHeaderPairs())
            a.headers.insert(pair.first.toLower(), pair.second);
        if (a.status == 0) {
            if (p->attempt < m_policy.maxAttempts) {
                QTimer::singleShot(m_policy.backoffMs * (1 << (p->attempt - 1)), this, [this, p] { attempt(p); });
                return;
            }
            ImError e;
            e.code = ImError::Code::Network;
            e.message = QStringLiteral("%1 %2: %3")
                            .arg(QString::fromLatin1(p->request.method), p->request.path, reply->errorString());
            finish(p, unexpected(e));
            return;
        }
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(a.body, &pe);
        if (doc.isObject())
            a.json = doc.object();
        ApiVerdict v;
        if (check) {
            v = check(a);
        } else if (a.status >= 400) {
            v.kind = ApiVerdict::Kind::Fail;
        }
        if (a.status == 429 && v.kind != ApiVerdict::Kind::RateLimited)
            v.kind = ApiVerdict::Kind::RateLimited;
        if (v.kind == ApiVerdict::Kind::RateLimited && v.retryAfterSeconds < 0) {
            bool ok = false;
            const int ra = a.headers.value("retry-after").trimmed().toInt(&ok);
            v.retryAfterSeconds = ok && ra >= 0 ? ra : m_policy.defaultRetryAfterSeconds;
        }
        if (v.kind == ApiVerdict::Kind::Retry && a.status >= 500 && p->attempt < m_policy.maxAttempts) {
            QTimer::singleShot(m_policy.backoffMs * (1 << (p->attempt - 1)), this, [this, p] { attempt(p); });
            return;
        }
        switch (v.kind) {
        case ApiVerdict::Kind::Ok:
            finish(p, a);
            return;
        case ApiVerdict::Kind::RateLimited: {
            if (p->attempt < m_policy.maxAttempts && v.retryAfterSeconds <= m_policy.maxRetryAfterSeconds) {
                qCInfo(lcIm) << p->request.path << "rate limited; retrying in" << v.retryAfterSeconds << "s";
                QTimer::singleShot(v.retryAfterSeconds * 1000, this, [this, p] { attempt(p); });
                return;
            }
            ImError e = v.error;
            e.code = ImError::Code::RateLimited;
            e.httpStatus = a.status;
            e.retryAfterSeconds = v.retryAfterSeconds;
            if (e.message.isEmpty())
                e.message = QStringLiteral("%1 is rate limited; retry after %2 s")
                                .arg(p->request.path)
                                .arg(v.retryAfterSeconds);
            finish(p, unexpected(e));
            return;
        }
        case ApiVerdict::Kind::TokenExpired:
            if (!p->refreshedToken && p->request.needsToken) {
                p->refreshedToken = true;
                invalidateToken();
                --p->attempt; // a token refresh is not a failed attempt
                attempt(p);
                return;
            }
            [[fallthrough]];
        case ApiVerdict::Kind::Retry:
        case ApiVerdict::Kind::Fail: {
            ImError e = v.error;
            if (e.message.isEmpty()) {
                e.code = ImError::Code::Http;
                e.message = QStringLiteral("%1 %2 answered HTTP %3")
                                .arg(QString::fromLatin1(p->request.method), p->request.path)
                                .arg(a.status);
            }
            if (e.httpStatus == 0)
                e.httpStatus = a.status;
            finish(p, unexpected(e));
            return;
        }
        }
    });
}

void ApiClient::finish(std::shared_ptr<Pending> p, Expected<ApiAnswer, ImError> result)
{
    if (p->context)
        p->done(std::move(result));
    const QString key = p->request.serialKey;
    if (key.isEmpty())
        return;
    auto it = m_serial.find(key);
    if (it == m_serial.end())
        return;
    auto &queue = it.value();
    if (!queue.empty() && queue.front() == p)
        queue.pop_front();
    if (queue.empty()) {
        m_serial.erase(it);
        return;
    }
    auto next = queue.front();
    QTimer::singleShot(0, this, [this, next] { start(next); });
}

} // namespace iterdeck::im
