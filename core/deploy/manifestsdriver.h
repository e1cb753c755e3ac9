#pragma once
// The `manifests` driver: a folder of YAML (or JSON) templates rendered with the target's
// variables (${namespace}, ${domain}, ${image}, ${tag}, ...; `$$` is a literal `$`), applied
// with server-side apply in file order, labelled with the component, then every object of
// the component that the folder no longer has is pruned (by label, never by guess), and the
// Deployments and StatefulSets applied are awaited until rolled out.
//
// Rules that keep environments apart: every object is namespaced and lands in the target's
// namespace (a manifest naming another namespace, or a cluster-scoped kind, is an error), and
// nothing is applied when any template has a problem (each reported as FILE:LINE:COL).
#include "common/diagnostic.h"
#include "deploydriver.h"
#include "kube/manifests.h"

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::deploy {

// The labels every applied object carries; pruning and uninstalling select on them.
inline const QString kComponentLabel = QStringLiteral("iterdeck.io/component");
inline const QString kManagedByLabel = QStringLiteral("app.kubernetes.io/managed-by");
inline const QString kManagedByValue = QStringLiteral("iterdeck");

// Renders one template: ${NAME} (letters, digits, '_', '.', '-') from `vars`, $$ for a literal $;
// an unknown name or an unterminated ${ is an error at its FILE:LINE:COL.
QByteArray renderManifestTemplate(const QString &file, const QByteArray &text, const QHash<QString, QString> &vars,
                                  Diagnostics &diag);

class ManifestsDriver : public DeployDriver
{
public:
    struct Options
    {
        QString directory; // the templates (*.yaml, *.yml, *.json, in sorted path order, recursively)
        QString fieldManager = QStringLiteral("iterdeck");
        int rolloutTimeoutMs = 300000; // 0: do not wait for rollouts
        int pollMs = 500;
    };
    ManifestsDriver(kube::KubeClient *client, Options options);

    QString name() const override { return QStringLiteral("manifests"); }
    DeployJob *deploy(const DeployTarget &target, QObject *parent) override;
    DeployJob *uninstall(const DeployTarget &target, QObject *parent) override;

    // Renders the folder for `target`: the objects, namespaced and labelled. Problems go to `diag`.
    bool render(const DeployTarget &target, QList<kube::Manifest> &out, Diagnostics &diag) const;

private:
    kube::KubeClient *m_client;
    Options m_options;
};

} // namespace iterdeck::deploy
