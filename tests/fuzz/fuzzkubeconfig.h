#pragma once

// One fuzz iteration over the kubeconfig loader; shared by the libFuzzer target and tst_kubeconfig,
// which replays tests/fuzz/corpus/kubeconfig and tests/fuzz/regressions/kubeconfig-*.
#include "kube/kubeconfig.h"
#include "kube/kubeconfig_p.h"

#include <QByteArray>

#include <cstddef>
#include <cstdint>

namespace iterdeck::fuzz {

// Returns false when a diagnostic or an error is malformed (a bug); crashes and hangs are bugs too.
inline bool kubeconfigOnce(const uint8_t *data, size_t size)
{
    const QByteArray text(reinterpret_cast<const char *>(data), qsizetype(size));
    Diagnostics diag;
    // A folder that does not exist: relative file names in the input resolve to nothing.
    const auto file = kube::parseKubeconfig(QStringLiteral("/nonexistent-fuzz/kubeconfig"), text, diag);
    for (const auto &d : diag.items()) {
        if (d.where.line < 0 || d.where.column < 0 || d.message.isEmpty() || d.toString().isEmpty())
            return false;
    }
    if (file.has_value() == diag.hasErrors())
        return false;
    if (!file)
        return true;
    // Resolve the current context and the first few others: merging, validation, messages.
    QStringList contexts {QString()};
    for (const auto &c : file->contexts) {
        if (contexts.size() > 4)
            break;
        contexts.append(c.name);
    }
    for (const QString &name : contexts) {
        kube::KubeconfigOptions options;
        options.context = name;
        const auto config = kube::detail::resolveClientConfig({*file}, options);
        if (!config && (config.error().message.isEmpty() || config.error().kind != kube::KubeError::Kind::Config))
            return false;
        if (config && config->contextName.isEmpty())
            return false;
    }
    return true;
}

} // namespace iterdeck::fuzz
