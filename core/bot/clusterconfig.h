#pragma once
// Which cluster the bot manages environments in: the manifest's `cluster` settings.
#include "common/expected.h"
#include "kube/kubeconfig.h"
#include "model/teammanifest.h"

#include <QProcessEnvironment>

namespace iterdeck::bot {

// The folder Kubernetes mounts a pod's service account credentials into.
inline const QString kServiceAccountDir = QStringLiteral("/var/run/secrets/kubernetes.io/serviceaccount");

// `inCluster: true`: the API at $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the pod's
// service account token (re-read when it rotates) and CA. Otherwise the kubeconfig named by
// `kubeconfig` (else $KUBECONFIG, else ~/.kube/config) and its `context`.
Expected<kube::ClientConfig, QString> loadClusterConfig(const model::ClusterSettings &settings,
                                                        const QProcessEnvironment &env
                                                        = QProcessEnvironment::systemEnvironment(),
                                                        const QString &serviceAccountDir = kServiceAccountDir);

} // namespace iterdeck::bot
