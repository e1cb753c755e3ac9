#include "clusterconfig.h"

#include <QDir>
#include <QFile>
#include <QUrl>

namespace iterdeck::bot {

Expected<kube::ClientConfig, QString> loadClusterConfig(const model::ClusterSettings &settings,
                                                        const QProcessEnvironment &env,
                                                        const QString &serviceAccountDir)
{
    if (!settings.inCluster) {
        kube::KubeconfigOptions o;
        o.kubeconfigFlag = settings.kubeconfig;
        if (o.kubeconfigFlag.startsWith(u"~/"))
            o.kubeconfigFlag = QDir::homePath() + o.kubeconfigFlag.mid(1);
        o.context = settings.context;
        o.kubeconfigEnv = env.value(QStringLiteral("KUBECONFIG"));
        auto config = kube::loadClientConfig(o);
        if (!config)
            return unexpected(config.error().toString());
        return *config;
    }
    const QString host = env.value(QStringLiteral("KUBERNETES_SERVICE_HOST"));
    const QString port = env.value(QStringLiteral("KUBERNETES_SERVICE_PORT"));
    if (host.isEmpty() || port.isEmpty())
        return unexpected(QStringLiteral("cluster.inCluster is set, but KUBERNETES_SERVICE_HOST and "
                                         "KUBERNETES_SERVICE_PORT are not: the bot does not run in a pod"));
    const QDir dir(serviceAccountDir);
    QFile ca(dir.filePath(QStringLiteral("ca.crt")));
    if (!ca.open(QIODevice::ReadOnly))
        return unexpected(
            QStringLiteral("cannot read the service account's CA %1: %2").arg(ca.fileName(), ca.errorString()));
    const QString tokenFile = dir.filePath(QStringLiteral("token"));
    if (!QFile::exists(tokenFile))
        return unexpected(QStringLiteral("the service account token %1 does not exist").arg(tokenFile));
    kube::ClientConfig c;
    c.cluster.name = QStringLiteral("in-cluster");
    // An IPv6 service address needs brackets in the URL.
    c.cluster.server = QUrl(QStringLiteral("https://%1:%2").arg(host.contains(u':') ? u'[' + host + u']' : host, port));
    c.cluster.certificateAuthorityPem = ca.readAll();
    c.cluster.certificateAuthorityFile = ca.fileName();
    c.user.name = QStringLiteral("in-cluster");
    c.user.tokenFile = tokenFile;
    QFile ns(dir.filePath(QStringLiteral("namespace")));
    if (ns.open(QIODevice::ReadOnly))
        c.ns = QString::fromUtf8(ns.readAll()).trimmed();
    return c;
}

} // namespace iterdeck::bot
