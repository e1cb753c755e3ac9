#pragma once
// kubeconfig files as kubectl reads them: KUBECONFIG merging (the first file to define a name
// wins for the whole entry), --kubeconfig, contexts, namespace defaulting, paths relative to
// the defining file. Facts: shared/reference/kube-protocol.md §1.
#include "common/diagnostic.h"
#include "common/expected.h"
#include "kubeerror.h"

#include <QByteArray>
#include <QHash>
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

    // Where each key's value was written (key name -> position; "name" for the entry), for messages.
    QHash<QString, SourceLocation> locations;
    // What kubectl checks only for the entry it uses (X and X-data both set, insecure with a CA,
    // no server, a bad proxy URL): loadClientConfig reports these for the chosen cluster only.
    Diagnostics problems;
};

struct UserConfig
{
    QString name;
    QString token;
    QString tokenFile; // absolute; used when token is empty, re-read on refresh
    QByteArray clientCertificatePem; // from -data or the file, read at load
    QByteArray clientKeyPem;
    QString clientCertificateFile; // absolute paths when they came from files (for messages)
    QString clientKeyFile;
    QString username; // basic auth
    QString password;
    QString impersonateUser; // as
    QStringList impersonateGroups; // as-groups
    QString impersonateUid; // as-uid
    QMap<QString, QStringList> impersonateExtra; // as-user-extra
    std::optional<ExecPluginConfig> exec;

    // As in ClusterConfig: positions, and the problems reported only for the chosen user (two
    // authentication methods, X and X-data both set, exec settings kubectl refuses).
    QHash<QString, SourceLocation> locations;
    Diagnostics problems;
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
    QStringList contexts; // every context the files define, in merge order
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
        QHash<QString, SourceLocation> locations; // key name -> position of its value
    };
    QString path; // absolute
    QString currentContext;
    SourceLocation currentContextAt;
    QList<ClusterConfig> clusters;
    QList<UserConfig> users;
    QList<Context> contexts;
};

// Parses `text` as the kubeconfig at `path` (YAML or JSON). Relative paths in it are resolved
// against the folder of `path`; referenced files are not read here. What makes the whole file
// unusable for kubectl (malformed YAML, wrong types, bad base64 in -data fields, the same name
// twice in one list) goes to `diag` with its position. What kubectl checks only for the entries
// it uses (X and X-data both set, token together with basic auth, exec settings, no server) goes
// to each entry's `problems`, so that a broken entry nobody uses does not fail a load.
std::optional<KubeconfigFile> parseKubeconfig(const QString &path, const QByteArray &text, Diagnostics &diag);

// The full kubectl lookup: KUBECONFIG list (or ~/.kube/config, or --kubeconfig), merge,
// context choice, namespace. Only the chosen cluster's and user's problems are reported and only
// their files (CA, client certificate and key) are read, as kubectl does. Errors read like
// kubectl's where kubectl has one, e.g. `context "x" does not exist`; positioned ones read
// `file:line:col: message`, one per line.
Expected<ClientConfig, KubeError> loadClientConfig(const KubeconfigOptions &options);

// The files that loadClientConfig reads (or would read, when they exist), in merge order:
// --kubeconfig alone, else each entry of KUBECONFIG, else ~/.kube/config. Absolute paths.
QStringList kubeconfigPaths(const KubeconfigOptions &options);

} // namespace iterdeck::kube
