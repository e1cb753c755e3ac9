#pragma once

#include "common/expected.h"
#include "imerror.h"

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QNetworkAccessManager>
#include <QObject>
#include <QPointer>
#include <QUrl>
#include <QUrlQuery>

#include <deque>
#include <functional>

namespace iterdeck::im {

// One call to a platform's API.
struct ApiRequest
{
    QByteArray method = "POST";
    QString path; // joined to the base URL
    QUrl url; // when valid: called as it is instead of base URL + path (a reply URL the platform handed out)
    QUrlQuery query;
    QJsonDocument body; // sent as JSON when not null
    QMap<QByteArray, QByteArray> headers;
    bool needsToken = true; // false: the token call itself
    QString serialKey; // calls with the same key run one after another (member changes of one chat)
};

// The answer of one attempt, as the platform's checker sees it.
struct ApiAnswer
{
    int status = 0;
    QJsonObject json;
    QByteArray body;
    QMap<QByteArray, QByteArray> headers; // lower-case names
};

// What a platform's checker makes of an answer.
struct ApiVerdict
{
    enum class Kind { Ok, Fail, RateLimited, TokenExpired, Retry };
    Kind kind = Kind::Ok;
    ImError error; // Fail, and the last error when retries run out
    int retryAfterSeconds = -1; // RateLimited: the platform's hint; -1: none given
};

struct RetryPolicy
{
    int maxAttempts = 4; // per call, all causes together
    int maxRetryAfterSeconds = 60; // a longer Retry-After fails the call as RateLimited at once
    int defaultRetryAfterSeconds = 1; // when the platform limits without saying for how long
    int backoffMs = 500; // network errors and 5xx: backoffMs, 2*backoffMs, ...
    int timeoutMs = 15000;
};

// HTTP for one platform: base URL, token cache with refresh, retries on 429/Retry-After and
// platform rate-limit codes, and per-key serialisation. Platform specifics come as hooks.
class ApiClient : public QObject
{
    Q_OBJECT
public:
    using Done = std::function<void(Expected<ApiAnswer, ImError>)>;
    using TokenDone = std::function<void(Expected<std::pair<QString, int>, ImError>)>; // token, lifetime (s)

    ApiClient(QNetworkAccessManager *nam, QUrl baseUrl, QObject *parent = nullptr);

    // Hooks, set once by the adapter.
    std::function<void(QNetworkRequest &, QUrl &, const QString &token)> authorize;
    std::function<ApiVerdict(const ApiAnswer &)> check;
    std::function<void(ApiClient *, TokenDone)> fetchToken;

    void setRetryPolicy(const RetryPolicy &p) { m_policy = p; }
    const RetryPolicy &retryPolicy() const { return m_policy; }
    QUrl baseUrl() const { return m_base; }

    // Runs the call with retries; `done` runs once, unless `context` is gone by then.
    void call(const ApiRequest &request, QObject *context, Done done);
    // Forget the cached token (the platform said it is invalid).
    void invalidateToken() { m_token.clear(); }

private:
    struct Pending
    {
        ApiRequest request;
        QPointer<QObject> context;
        Done done;
        int attempt = 0;
        bool refreshedToken = false;
    };
    void start(std::shared_ptr<Pending> p);
    void attempt(std::shared_ptr<Pending> p);
    void send(std::shared_ptr<Pending> p, const QString &token);
    void finish(std::shared_ptr<Pending> p, Expected<ApiAnswer, ImError> result);
    void withToken(std::function<void(Expected<QString, ImError>)> then);

    QNetworkAccessManager *m_nam;
    QUrl m_base;
    RetryPolicy m_policy;
    QString m_token;
    QDateTime m_tokenExpiry;
    bool m_fetchingToken = false;
    QList<std::function<void(Expected<QString, ImError>)>> m_tokenWaiters;
    QHash<QString, std::deque<std::shared_ptr<Pending>>> m_serial; // key -> queued (front: running)
};

// Runs `requests` one after another and stops at the first error; `each` sees every answer.
void callSequence(ApiClient *client, QList<ApiRequest> requests, QObject *context,
                  std::function<void(const ApiAnswer &)> each, std::function<void(std::optional<ImError>)> done);

// Joins a base URL ("https://open.feishu.cn", maybe with a path prefix) and an API path.
QUrl joinUrl(const QUrl &base, const QString &path);

} // namespace iterdeck::im
