#include "kubeconfigwatcher.h"

#include "logging.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QFileSystemWatcher>

#include <algorithm>

namespace iterdeck::kube {

KubeconfigWatcher::KubeconfigWatcher(KubeClient *client, KubeconfigOptions options, QObject *parent)
    : QObject(parent)
    , m_client(client)
    , m_options(std::move(options))
    , m_watcher(new QFileSystemWatcher(this))
    , m_files(kubeconfigPaths(m_options))
    , m_contexts(client->config().contexts)
{
    m_debounce.setSingleShot(true);
    m_debounce.setInterval(300);
    connect(&m_debounce, &QTimer::timeout, this, &KubeconfigWatcher::reload);
    // An editor or kubectl writes in several steps, or replaces the file by a rename (which
    // ends the file's watch): the folder's change notices that, and the watch is renewed.
    connect(m_watcher, &QFileSystemWatcher::fileChanged, this, [this](const QString &path) {
        // After a rename over it the watch may still name the replaced file: renewed.
        m_watcher->removePath(path);
        watchFiles();
        m_debounce.start();
    });
    connect(m_watcher, &QFileSystemWatcher::directoryChanged, this, [this] {
        watchFiles();
        m_debounce.start();
    });
    watchFiles();
    m_fingerprint = fingerprint();
}

void KubeconfigWatcher::setDebounceMs(int ms)
{
    m_debounce.setInterval(std::max(0, ms));
}

QString KubeconfigWatcher::currentContext() const
{
    return m_client->config().contextName;
}

void KubeconfigWatcher::watchFiles()
{
    QStringList paths;
    for (const QString &f : std::as_const(m_files)) {
        if (QFileInfo::exists(f))
            paths << f;
        // The folder too, when it exists: a file created or renamed into place later is seen.
        const QString dir = QFileInfo(f).absolutePath();
        if (QFileInfo(dir).isDir() && !paths.contains(dir))
            paths << dir;
    }
    const QStringList watched = m_watcher->files() + m_watcher->directories();
    QStringList missing;
    for (const QString &p : std::as_const(paths)) {
        if (!watched.contains(p))
            missing << p;
    }
    if (!missing.isEmpty())
        m_watcher->addPaths(missing);
}

// What the files hold now: a change elsewhere in their folders reads the same and is ignored.
QByteArray KubeconfigWatcher::fingerprint() const
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const QString &f : std::as_const(m_files)) {
        hash.addData(f.toUtf8());
        QFile file(f);
        if (file.open(QIODevice::ReadOnly)) {
            hash.addData(QByteArrayView("\1", 1));
            hash.addData(file.read(qint64(16) * 1024 * 1024));
        } else {
            hash.addData(QByteArrayView("\0", 1));
        }
    }
    return hash.result();
}

void KubeconfigWatcher::reload()
{
    const QByteArray now = fingerprint();
    if (now == m_fingerprint)
        return;
    m_fingerprint = now;
    qCDebug(lcKube) << "the kubeconfig changed:" << m_files;
    load(currentContext());
}

bool KubeconfigWatcher::useContext(const QString &context)
{
    if (context == currentContext() && m_problem.isEmpty())
        return true;
    return load(context);
}

bool KubeconfigWatcher::setOptions(KubeconfigOptions options)
{
    const QString context = options.context;
    m_options = std::move(options);
    const QStringList watched = m_watcher->files() + m_watcher->directories();
    if (!watched.isEmpty())
        m_watcher->removePaths(watched);
    m_files = kubeconfigPaths(m_options);
    watchFiles();
    m_fingerprint = fingerprint();
    return load(context);
}

bool KubeconfigWatcher::load(const QString &context)
{
    KubeconfigOptions o = m_options;
    o.context = context;
    // The namespace given at start (a flag) stays; else the context's own applies.
    auto config = loadClientConfig(o);
    if (!config) {
        // Still list what the files offer, so that another context can be chosen.
        KubeconfigOptions any = m_options;
        any.context.clear();
        auto listing = loadClientConfig(any);
        const QStringList contexts = listing ? listing->contexts : QStringList();
        if (contexts != m_contexts) {
            m_contexts = contexts;
            Q_EMIT contextsChanged();
        }
        const QString message = config.error().message.startsWith(QLatin1String("context \""))
                && config.error().message.contains(QLatin1String("does not exist"))
            ? tr("The context \"%1\" is no longer in the kubeconfig (%2). Iterdeck keeps its last connection; "
                 "choose another context.")
                  .arg(context, m_files.join(QStringLiteral(", ")))
            : tr("The kubeconfig cannot be used: %1. Iterdeck keeps its last connection.")
                  .arg(config.error().toString());
        setProblem(message);
        return false;
    }
    if (config->contexts != m_contexts) {
        m_contexts = config->contexts;
        Q_EMIT contextsChanged();
    }
    setProblem({});
    const ClientConfig &was = m_client->config();
    const bool same = config->contextName == was.contextName && config->cluster.server == was.cluster.server
        && config->ns == was.ns && config->cluster.certificateAuthorityPem == was.cluster.certificateAuthorityPem
        && config->cluster.insecureSkipTlsVerify == was.cluster.insecureSkipTlsVerify
        && config->cluster.tlsServerName == was.cluster.tlsServerName
        && config->cluster.proxyUrl == was.cluster.proxyUrl && config->user.token == was.user.token
        && config->user.tokenFile == was.user.tokenFile
        && config->user.clientCertificatePem == was.user.clientCertificatePem
        && config->user.clientKeyPem == was.user.clientKeyPem && config->user.username == was.user.username
        && config->user.password == was.user.password && config->user.exec.has_value() == was.user.exec.has_value()
        && (!config->user.exec
            || (config->user.exec->command == was.user.exec->command
                && config->user.exec->args == was.user.exec->args));
    if (same)
        return true;
    m_client->setConfig(*config);
    Q_EMIT clientChanged();
    return true;
}

void KubeconfigWatcher::setProblem(const QString &problem)
{
    if (problem == m_problem)
        return;
    m_problem = problem;
    Q_EMIT problemChanged(problem);
}

} // namespace iterdeck::kube
