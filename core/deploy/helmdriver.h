#pragma once
// The `helm` driver: the helm CLI (v3) as a child process. Deploy is
//   helm upgrade --install RELEASE CHART --namespace NS [--version V] -f VALUES
//        --set image.repository=R --set image.tag=T [--set image.digest=D] [--set domain=HOST]
//        [--wait --timeout 5m0s] [--atomic] [--kubeconfig F] [--kube-context C]
// followed by `helm status RELEASE -n NS -o json`, whose release status must be "deployed".
// The values file holds the component's values for the environment's class (JSON, which
// helm reads as YAML). Uninstall is `helm uninstall RELEASE -n NS`.
#include "common/expected.h"
#include "deploydriver.h"

#include <QDateTime>

namespace iterdeck::deploy {

struct HelmSettings
{
    QString program = QStringLiteral("helm");
    QString chart; // oci://..., repo/name, or a path
    QString release; // default: the component's name
    QString kubeconfig; // empty: helm's own default
    QString context;
    bool wait = true;
    QString timeout = QStringLiteral("5m0s");
    bool atomic = false; // roll back a failed upgrade
    int processTimeoutMs = 15 * 60 * 1000; // the child is killed after this
};

struct HelmRelease
{
    QString name, ns, status, chart, appVersion, description;
    int revision = 0;
    QDateTime lastDeployed;
};

class HelmDriver : public DeployDriver
{
public:
    explicit HelmDriver(HelmSettings settings);

    QString name() const override { return QStringLiteral("helm"); }
    DeployJob *deploy(const DeployTarget &target, QObject *parent) override;
    DeployJob *uninstall(const DeployTarget &target, QObject *parent) override;

    QString releaseName(const DeployTarget &target) const;
    // The arguments of the upgrade (valuesFile: where the values were written).
    QStringList upgradeArguments(const DeployTarget &target, const QString &valuesFile) const;
    QStringList statusArguments(const DeployTarget &target) const;
    QStringList uninstallArguments(const DeployTarget &target) const;
    // `helm status -o json` (helm 3): the release's name, namespace, version, info.status, ...
    static Expected<HelmRelease, QString> parseStatus(const QByteArray &json);

private:
    QStringList connectionArguments() const;
    HelmSettings m_settings;
};

} // namespace iterdeck::deploy
