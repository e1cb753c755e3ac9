#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>

namespace iterdeck::kube {

// One cause of a Kubernetes Status (details.causes[]).
struct StatusCause
{
    QString reason; // FieldValueRequired, ExitCode, ...
    QString message;
    QString field;
};

// The one error type of the kube layer: what went wrong with a request to a cluster, or with
// the configuration that names the cluster.
struct KubeError
{
    enum class Kind {
        None,
        Config, // kubeconfig missing or invalid, context not found, unreadable credential files
        Auth, // credential plugin failed, token file unreadable
        Network, // connection refused, reset, DNS, proxy
        Tls, // certificate verification or handshake failed
        Timeout, // no answer in time, or a stream stalled
        Server, // the server answered with an error status (httpStatus, reason from its Status)
        Decode, // the server's body is not what the API promises (garbage, truncated JSON)
        Protocol, // a stream broke its protocol (no upgrade, bad frame, bad subprotocol)
        Cancelled, // the caller aborted
    };

    Kind kind = Kind::None;
    int httpStatus = 0; // 0 when no HTTP answer was received
    QString reason; // Status.reason (NotFound, Conflict, Expired, ...), empty when none
    QString message; // human text, as the server or the failing layer wrote it
    QList<StatusCause> causes;
    QJsonObject details; // Status.details as sent
    int retryAfterSeconds = -1; // Retry-After or details.retryAfterSeconds, -1 when absent

    bool isError() const { return kind != Kind::None; }
    bool isNotFound() const { return httpStatus == 404 && kind == Kind::Server; }
    bool isConflict() const { return httpStatus == 409 && reason == QLatin1String("Conflict"); }
    bool isAlreadyExists() const { return httpStatus == 409 && reason == QLatin1String("AlreadyExists"); }
    // Watch start point too old: 410 Gone or a Status with reason Expired.
    bool isExpired() const;
    bool isUnauthorized() const { return httpStatus == 401; }

    // What kubectl prints: `Error from server (NotFound): pods "x" not found` for server
    // errors, the message alone otherwise.
    QString toString() const;

    static KubeError make(Kind kind, const QString &message);
    // From a Kubernetes Status object (the body of a failed request, a watch ERROR event, or
    // the exec status channel). `httpStatus` is used when the Status has no code.
    static KubeError fromStatus(const QJsonObject &status, int httpStatus);
    // From a failed HTTP answer: a Status body when there is one, else a message kubectl
    // would print for that code ("the server could not find the requested resource").
    static KubeError fromHttp(int httpStatus, const QByteArray &body);
};

} // namespace iterdeck::kube
