#pragma once
// kubeconfig files as kubectl reads them: KUBECONFIG merging (the first file to define a name
// wins for the whole entry), --kubeconfig, contexts, namespace defaulting, paths relative to
// the defining file. Facts: shared/reference/kube-protocol.md §1.
#include "common/diagnostic.h"
#include "common/expected.h"
#include "kubeerror.h"

#include <QByteArray>
#include <QJsonValue>
#include <QList>
#include <QMap>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <optional>

namespace iterdeck::kube {

// users[].user.exec: a client-go credential plugin.
struct ExecPluginConfig
{
    QString apiVersion; // client.authentication.k8s.io/v1 or /v1beta1
    QString command; // absolute, or resolved against the kubeconfig's folder when it has a '/'
    QStringList args;
    QList<QPair<QString, QString>> env; // added on top of the parent environment
    QString interactiveMode; // Never | IfAvailable | Always ("IfAvailable" when v1beta1 leaves it empty)
    bool provideClusterInfo = false;
    QString installHint;
    SourceLocation where; // the exec: key, for messages
};

struct ClusterConfig
{
    QString name;
    QUrl server;
    QByteArray certificateAuthorityPem; // from certificate-authority-data or the file, read at load
    QString certificateAuthorityFile; // the file's absolute path when it came from one (for messages)
    QString tlsServerName;
    bool insecureSkipTlsVerify = false;
    QUrl proxyUrl;
    bool disableCompression = false;
    // clusters[].cluster.extensions[name=client.authentication.k8s.io/exec].extension, passed to
    // exec plugins as spec.cluster.config when provideClusterInfo is set.
    QJsonValue execExtension;
};

struct UserConfig
{
    QString name;
    QString token;
    QString tokenFile; // absolute; used when token is empty, re-read on refresh
    QByteArray clientCertificatePem; // from -data or the file, read at load
    QByteArray clientKeyPem;
    QString username; // basic auth
    QString password;
    QString impersonateUser; // as
    QStringList impersonateGroups; // as-groups
    QString impersonateUid; // as-uid
    QMap<QString, QStringList> impersonateExtra; // as-user-extra
    std::optional<ExecPluginConfig> exec;
};

// Everything a client needs to talk to one cluster as one user.
struct ClientConfig
{
    QString contextName; // empty when flags alone named cluster and user
    ClusterConfig cluster;
    UserConfig user;
    QString ns = QStringLiteral("default"); // --namespace, else context.namespace, else "default"
    bool namespaceExplicit = false; // true when it came from the flag or the context
    QStringList files; // the kubeconfig files that were read, in merge order
    QStringList warnings; // e.g. insecure-skip-tls-verify in use; shown to the user once
};

struct KubeconfigOptions
{
    QString kubeconfigFlag; // --kubeconfig: exactly this file, no merging; must exist
    QString context; // --context
    QString ns; // --namespace / -n
    // The KUBECONFIG value to use; std::nullopt means "read the environment".
    std::optional<QString> kubeconfigEnv;
    // The home folder for ~/.kube/config; empty means QDir::homePath().
    QString homeDir;
};

// One parsed kubeconfig file. Problems are positioned diagnostics (file:line:col: message).
struct KubeconfigFile
{
    struct Context
    {
        QString name;
        QString cluster;
        QString user;
        QString ns;
    };
    QString path; // absolute
    QString currentContext;
    QList<ClusterConfig> clusters;
    QList<UserConfig> users;
    QList<Context> contexts;
};

// Parses `text` as the kubeconfig at `path` (YAML or JSON). Relative paths in it are resolved
// against the folder of `path` and referenced files (CA, client certificate and key) are read.
// Errors (malformed YAML, wrong types, X and X-data both set, duplicate names in one file,
// token together with basic auth, unreadable files) go to `diag` with their positions.
std::optional<KubeconfigFile> parseKubeconfig(const QString &path, const QByteArray &text, Diagnostics &diag);

// The full kubectl lookup: KUBECONFIG list (or ~/.kube/config, or --kubeconfig), merge,
// context choice, namespace. Errors read like kubectl's where kubectl has one, e.g.
// `context "x" does not exist`; positioned diagnostics are joined one per line.
Expected<ClientConfig, KubeError> loadClientConfig(const KubeconfigOptions &options);

} // namespace iterdeck::kube
