#pragma once
// Internals of kubeconfig.cpp shared with tests and the fuzz target.
#include "kubeconfig.h"

namespace iterdeck::kube::detail {

// Kubeconfigs may embed many certificates; still, refuse what cannot be one.
constexpr qint64 maxKubeconfigBytes = qint64(16) * 1024 * 1024;

// loadClientConfig once its files are parsed (`files` in merge order): merge (the first file to
// define a name wins), context choice, namespace, the chosen entries' problems, and their files
// read (certificate authority, client certificate and key).
Expected<ClientConfig, KubeError> resolveClientConfig(const QList<KubeconfigFile> &files,
                                                      const KubeconfigOptions &options);

} // namespace iterdeck::kube::detail
