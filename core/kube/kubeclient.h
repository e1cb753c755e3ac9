#pragma once
// REST access to one cluster as one user: requests with the user's credentials, Kubernetes
// Status errors as KubeError values, timeouts, and retries with backoff (429 and 5xx,
// honouring Retry-After) for idempotent verbs only.
#include "common/expected.h"
#include "credentials.h"
#include "kubeconfig.h"
#include "kubeerror.h"
#include "transport.h"

#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QUrlQuery>

#include <functional>
#include <memory>

class QNetworkAccessManager;
class QNetworkReply;

namespace iterdeck::kube {

// An API resource: where its objects live.
struct ResourceRef
{
    QString group; // "" for the core group
    QString version = QStringLiteral("v1");
    QString resource; // plural: pods, deployments
    QString kind; // Pod, Deployment
    bool namespaced = true;

    QString groupVersion() const { return group.isEmpty() ? version : group + QLatin1Char('/') + version; }
    // /api/v1/namespaces/NS/pods/NAME/SUB, or the collection when name is empty; the
    // all-namespaces (or cluster-scoped) collection when ns is empty.
    QString path(const QString &ns, const QString &name = {}, const QString &subresource = {}) const;
    bool isValid() const { return !resource.isEmpty(); }

    static ResourceRef pods();
    static ResourceRef services();
    static ResourceRef configMaps();
    static ResourceRef secrets();
    static ResourceRef namespaces();
    static ResourceRef events();
    static ResourceRef deployments();
    static ResourceRef statefulSets();
    static ResourceRef replicaSets();
};

struct KubeRequest
{
    QByteArray verb = "GET";
    QString path; // absolute API path: /api/v1/namespaces/default/pods
    QUrlQuery query;
    QByteArray body;
    QByteArray contentType; // set when there is a body
    QByteArray accept = "application/json";
    int timeoutMs = 30000; // whole request; 0 = none (streams use their own idle timeout)
    // Retries on 429 and 5xx and on connection errors. Defaults to the verb's idempotency
    // (GET, HEAD, PUT, DELETE); POST and PATCH are never retried unless set here.
    std::optional<bool> retry;
    int maxAttempts = 5;
};

// One request in flight; finishes exactly once. Owned by the client; deletes itself after
// finished() has been delivered.
class KubeCall : public QObject
{
    Q_OBJECT
public:
    bool isOk() const { return !m_error.isError(); }
    const KubeError &error() const { return m_error; }
    int httpStatus() const { return m_status; }
    const QByteArray &body() const { return m_body; }
    // The body as a JSON object; a Decode error (and an empty object) when it is not one.
    Expected<QJsonObject, KubeError> object() const;
    void abort();

Q_SIGNALS:
    void finished();

private:
    friend class KubeClient;
    explicit KubeCall(QObject *parent);
    KubeError m_error;
    int m_status = 0;
    QByteArray m_body;
    std::function<void()> m_abort;
};

enum class PatchType { Json, Merge, Strategic, Apply };
QByteArray patchContentType(PatchType type);

struct ListOptions
{
    QString labelSelector;
    QString fieldSelector;
    int limit = 500; // page size; list() follows continue tokens until the end
    QString resourceVersion;
};

struct DeleteOptions
{
    QString propagationPolicy; // Foreground | Background | Orphan, empty = server default
    int gracePeriodSeconds = -1;
};

class KubeClient : public QObject
{
    Q_OBJECT
public:
    explicit KubeClient(ClientConfig config, QObject *parent = nullptr);
    ~KubeClient() override;

    const ClientConfig &config() const { return m_config; }
    // Talks to another server, as another user, or with refreshed settings from now on (e.g.
    // after the kubeconfig changed). Requests under way finish with the settings they started
    // with; streams opened earlier (watches, exec, port-forwards) stay on them until reopened:
    // configChanged() tells their owners.
    void setConfig(ClientConfig config);
    QString defaultNamespace() const { return m_config.ns; }
    CredentialProvider *credentials() const { return m_credentials; }
    void setUserAgent(const QByteArray &agent);

    // Generic request. A 401 refreshes refreshable credentials (exec plugin, token file) once
    // and, for idempotent verbs, sends the request again.
    KubeCall *send(const KubeRequest &request);

    KubeCall *get(const ResourceRef &ref, const QString &ns, const QString &name);
    // Every page, merged into one list object (items, metadata.resourceVersion of the last page).
    KubeCall *list(const ResourceRef &ref, const QString &ns, const ListOptions &options = {});
    KubeCall *create(const ResourceRef &ref, const QString &ns, const QJsonObject &object);
    KubeCall *replace(const ResourceRef &ref, const QString &ns, const QString &name, const QJsonObject &object);
    KubeCall *patch(const ResourceRef &ref, const QString &ns, const QString &name, PatchType type,
                    const QByteArray &body, const QString &fieldManager = QStringLiteral("iterdeck"),
                    bool force = false, const QString &subresource = {});
    KubeCall *remove(const ResourceRef &ref, const QString &ns, const QString &name, const DeleteOptions &options = {});

    // The server address, TLS settings and auth headers for a stream opened outside
    // QNetworkAccessManager (exec, port-forward). Calls `done` once through `context`.
    void transport(QObject *context, std::function<void(const Expected<Transport, KubeError> &)> done);

    // A streaming GET (watch, logs -f): the reply delivers body bytes as they arrive. The
    // caller owns the reply; `error` is filled when it fails before answering.
    void openStream(const KubeRequest &request, QObject *context,
                    std::function<void(QNetworkReply *reply, const KubeError &error)> done);

    QNetworkAccessManager *network() const { return m_network; }

Q_SIGNALS:
    void configChanged();

private:
    class Attempt;
    void applyNetworkSettings();
    void startAttempt(KubeCall *call, KubeRequest request, int attempt, bool refreshedAuth);
    void listPage(KubeCall *call, ResourceRef ref, QString ns, ListOptions options, QJsonObject merged,
                  QString continueToken);

    ClientConfig m_config;
    CredentialProvider *m_credentials = nullptr;
    QNetworkAccessManager *m_network = nullptr;
    QByteArray m_userAgent;
};

// The error of a finished stream reply (HTTP status with its Status body, or the transport
// failure); kind None when it ended cleanly.
KubeError replyError(QNetworkReply *reply, const QUrl &server, bool timedOut);

} // namespace iterdeck::kube
