#pragma once
// API discovery: which resources the server serves, and the names users call them by
// (plural, singular, kind, short names, "plural.group"), as kubectl resolves them.
#include "kubeclient.h"
#include "kubeerror.h"

#include <QList>
#include <QObject>

#include <functional>
#include <optional>

namespace iterdeck::kube {

struct DiscoveredResource
{
    ResourceRef ref;
    QString singular;
    QStringList shortNames;
    QStringList verbs;
    QStringList categories;
};

class Discovery : public QObject
{
    Q_OBJECT
public:
    explicit Discovery(KubeClient *client, QObject *parent = nullptr);

    // Reads /api, /api/v1, /apis and each group's preferred version. `done` is called once;
    // a group-version that fails to answer is skipped (as kubectl does) unless all fail.
    void refresh(std::function<void(const KubeError &)> done);
    bool isLoaded() const { return m_loaded; }
    const QList<DiscoveredResource> &resources() const { return m_resources; }

    // "po", "pods", "pod", "Pod", "deploy", "deployments.apps", "deployments.v1.apps".
    std::optional<ResourceRef> resolve(const QString &name) const;
    // For manifests: apiVersion "apps/v1", kind "Deployment".
    std::optional<ResourceRef> forKind(const QString &apiVersion, const QString &kind) const;

private:
    void addResourceList(const QJsonObject &list);

    KubeClient *m_client;
    QList<DiscoveredResource> m_resources;
    bool m_loaded = false;
};

} // namespace iterdeck::kube
