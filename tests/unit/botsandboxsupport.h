#pragma once
// Shared pieces of the bot tests that deploy for real: a sandbox cluster over HTTPS with a
// KubeClient for it, the project files of a small team (one Deployment template per component),
// and reading back what the cluster runs.
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "testutil/sandboxserver.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonObject>
#include <QSignalSpy>
#include <QString>

#include <memory>

namespace iterdeck::testing {

// The image of the Deployment's first container, empty when there is no such Deployment.
inline QString deployedImage(kube::KubeClient &client, const QString &ns, const QString &name)
{
    kube::KubeCall *call = client.get(kube::ResourceRef::deployments(), ns, name);
    QSignalSpy done(call, &kube::KubeCall::finished);
    done.wait(10000);
    if (!call->isOk())
        return {};
    const QJsonObject d = *call->object();
    return d[u"spec"][u"template"][u"spec"][u"containers"][0][u"image"].toString();
}

// A Deployment for the manifests driver: one container running the component's image.
inline const char *kDeploymentTemplate = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${component}
spec:
  replicas: ${values.replicas}
  selector: {matchLabels: {app: ${component}}}
  template:
    metadata: {labels: {app: ${component}}}
    spec:
      containers:
      - name: main
        image: ${image}
)";

// Writes `text` to `path`, making the folders on the way; false when it cannot.
inline bool writeProjectFile(const QString &path, const QByteArray &text)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return false;
    return f.write(text) == text.size();
}

// The sandbox cluster in `dataDir` and an admin client for it. Check error() before use.
class SandboxCluster
{
public:
    explicit SandboxCluster(const QString &dataDir)
    {
        m_server = std::make_unique<SandboxServer>(dataDir);
        if (!m_server->isRunning()) {
            m_error = m_server->errorString();
            return;
        }
        kube::KubeconfigOptions ko;
        ko.kubeconfigFlag = m_server->kubeconfigPath();
        auto config = kube::loadClientConfig(ko);
        if (!config) {
            m_error = config.error().toString();
            return;
        }
        m_client = std::make_unique<kube::KubeClient>(*config);
    }
    ~SandboxCluster()
    {
        m_client.reset();
        m_server.reset();
    }

    QString error() const { return m_error; } // empty when the cluster is up
    kube::KubeClient *client() { return m_client.get(); }
    SandboxServer *server() { return m_server.get(); }

    // The object, or {} when the cluster does not have it (`status`: the HTTP status).
    QJsonObject get(const kube::ResourceRef &ref, const QString &ns, const QString &name, int *status = nullptr)
    {
        kube::KubeCall *call = m_client->get(ref, ns, name);
        QSignalSpy done(call, &kube::KubeCall::finished);
        done.wait(10000);
        if (status)
            *status = call->httpStatus();
        return call->isOk() ? *call->object() : QJsonObject();
    }
    QString deployedImage(const QString &ns, const QString &name)
    {
        return testing::deployedImage(*m_client, ns, name);
    }

private:
    std::unique_ptr<SandboxServer> m_server;
    std::unique_ptr<kube::KubeClient> m_client;
    QString m_error;
};

} // namespace iterdeck::testing
