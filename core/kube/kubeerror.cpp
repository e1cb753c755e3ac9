#include "kubeerror.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>

namespace iterdeck::kube {

bool KubeError::isExpired() const
{
    return httpStatus == 410 || reason == QLatin1String("Expired") || reason == QLatin1String("Gone");
}

QString KubeError::toString() const
{
    if (kind != Kind::Server)
        return message;
    if (reason.isEmpty())
        return QStringLiteral("Error from server: %1").arg(message);
    return QStringLiteral("Error from server (%1): %2").arg(reason, message);
}

KubeError KubeError::make(Kind kind, const QString &message)
{
    KubeError e;
    e.kind = kind;
    e.message = message;
    return e;
}

KubeError KubeError::fromStatus(const QJsonObject &status, int httpStatus)
{
    KubeError e;
    e.kind = Kind::Server;
    const int code = status.value(QLatin1String("code")).toInt(0);
    e.httpStatus = code > 0 ? code : httpStatus;
    e.reason = status.value(QLatin1String("reason")).toString();
    e.message = status.value(QLatin1String("message")).toString();
    e.details = status.value(QLatin1String("details")).toObject();
    const QJsonArray causes = e.details.value(QLatin1String("causes")).toArray();
    for (const QJsonValue &c : causes) {
        const QJsonObject o = c.toObject();
        e.causes.append({o.value(QLatin1String("reason")).toString(), o.value(QLatin1String("message")).toString(),
                         o.value(QLatin1String("field")).toString()});
    }
    if (const QJsonValue r = e.details.value(QLatin1String("retryAfterSeconds")); r.isDouble())
        e.retryAfterSeconds = r.toInt();
    if (e.message.isEmpty())
        e.message = fromHttp(e.httpStatus, {}).message;
    return e;
}

KubeError KubeError::fromHttp(int httpStatus, const QByteArray &body)
{
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &pe);
    if (pe.error == QJsonParseError::NoError && doc.isObject()
        && doc.object().value(QLatin1String("kind")).toString() == QLatin1String("Status"))
        return fromStatus(doc.object(), httpStatus);
    // The messages client-go gives a status without a Status body (rest/request.go newUnstructuredResponseError).
    KubeError e;
    e.kind = Kind::Server;
    e.httpStatus = httpStatus;
    switch (httpStatus) {
    case 400:
        e.reason = QStringLiteral("BadRequest");
        e.message = QStringLiteral("the server rejected our request for an unknown reason");
        break;
    case 401:
        e.reason = QStringLiteral("Unauthorized");
        e.message = QStringLiteral("the server has asked for the client to provide credentials");
        break;
    case 403:
        e.reason = QStringLiteral("Forbidden");
        e.message = QStringLiteral("the server does not allow access to the requested resource");
        break;
    case 404:
        e.reason = QStringLiteral("NotFound");
        e.message = QStringLiteral("the server could not find the requested resource");
        break;
    case 405:
        e.reason = QStringLiteral("MethodNotAllowed");
        e.message = QStringLiteral("the server does not allow this method on the requested resource");
        break;
    case 409:
        e.reason = QStringLiteral("Conflict");
        e.message = QStringLiteral("the server reported a conflict");
        break;
    case 410:
        e.reason = QStringLiteral("Expired");
        e.message = QStringLiteral("the server reported the resource version as expired");
        break;
    case 413:
        e.reason = QStringLiteral("RequestEntityTooLarge");
        e.message = QStringLiteral("the server rejected the request because it is too large");
        break;
    case 415:
        e.reason = QStringLiteral("UnsupportedMediaType");
        e.message = QStringLiteral("the server has rejected the content type of the request");
        break;
    case 422:
        e.reason = QStringLiteral("Invalid");
        e.message = QStringLiteral("the server rejected our request due to an error in our request");
        break;
    case 429:
        e.reason = QStringLiteral("TooManyRequests");
        e.message = QStringLiteral("the server has received too many requests and has asked us to try again later");
        break;
    case 500:
        e.reason = QStringLiteral("InternalError");
        e.message = QStringLiteral("an error on the server has prevented the request from succeeding");
        break;
    case 503:
        e.reason = QStringLiteral("ServiceUnavailable");
        e.message = QStringLiteral("the server is currently unable to handle the request");
        break;
    case 504:
        e.reason = QStringLiteral("Timeout");
        e.message = QStringLiteral(
            "the server was unable to return a response in the time allotted, but may still be processing the request");
        break;
    default:
        e.message
            = QStringLiteral("an error on the server (%1) has prevented the request from succeeding").arg(httpStatus);
    }
    const QByteArray text = body.trimmed().left(512);
    if (!text.isEmpty() && pe.error != QJsonParseError::NoError)
        e.message += QStringLiteral(" (%1)").arg(QString::fromUtf8(text));
    return e;
}

} // namespace iterdeck::kube
