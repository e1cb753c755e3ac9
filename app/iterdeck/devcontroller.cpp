#include "devcontroller.h"

#include "devmode/devsupport.h"
#include "kube/kubeclient.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QUrl>

namespace iterdeck::app {

using namespace iterdeck::devmode;

QString workloadKey(const QString &ns, const WorkloadRef &ref)
{
    return ns + u'/' + ref.shortName();
}

QString stateName(DevController::State state)
{
    switch (state) {
    case DevController::State::Off:
        return QCoreApplication::translate("DevController", "off");
    case DevController::State::Starting:
        return QCoreApplication::translate("DevController", "starting");
    case DevController::State::On:
        return QCoreApplication::translate("DevController", "on");
    case DevController::State::Reconnecting:
        return QCoreApplication::translate("DevController", "reconnecting");
    case DevController::State::Ending:
        return QCoreApplication::translate("DevController", "ending");
    case DevController::State::Failed:
        return QCoreApplication::translate("DevController", "failed");
    }
    return {};
}

DevController::DevController(kube::KubeClient *client, QSettings *settings, QObject *parent)
    : QObject(parent)
    , m_client(client)
    , m_settings(settings)
    , m_agentPath(defaultAgentPath())
{ }

DevController::~DevController()
{
    stopAll();
}

QString DevController::rememberedFolder(const QString &ns, const WorkloadRef &ref) const
{
    return m_settings->value(QStringLiteral("devFolders/") + workloadKey(ns, ref)).toString();
}

void DevController::rememberFolder(const QString &ns, const WorkloadRef &ref, const QString &dir)
{
    m_settings->setValue(QStringLiteral("devFolders/") + workloadKey(ns, ref), dir);
}

DevController::Status DevController::status(const QString &key) const
{
    return m_status.value(key);
}

QString DevController::forwardsKey(const QString &ns, const WorkloadRef &ref) const
{
    // The context name may hold anything (ARNs, slashes): encoded, it is one settings key level.
    const QString context = QString::fromLatin1(QUrl::toPercentEncoding(m_client->config().contextName));
    return QStringLiteral("devForwards/") + (context.isEmpty() ? QStringLiteral("-") : context) + u'/'
        + workloadKey(ns, ref);
}

QStringList DevController::rememberedForwards(const QString &ns, const WorkloadRef &ref) const
{
    return m_settings->value(forwardsKey(ns, ref)).toStringList();
}

Expected<quint16, QString> DevController::addPortForward(const QString &ns, const WorkloadRef &ref, const QString &spec)
{
    DevSession *session = m_sessions.value(workloadKey(ns, ref));
    if (!session)
        return unexpected(tr("%1 is not in dev mode").arg(ref.shortName()));
    auto port = session->addPortForward(spec);
    if (!port)
        return port;
    QStringList remembered = rememberedForwards(ns, ref);
    if (!remembered.contains(spec.trimmed())) {
        remembered << spec.trimmed();
        m_settings->setValue(forwardsKey(ns, ref), remembered);
    }
    return port;
}

bool DevController::removePortForward(const QString &ns, const WorkloadRef &ref, const QString &spec)
{
    QStringList remembered = rememberedForwards(ns, ref);
    const bool wasRemembered = remembered.removeAll(spec.trimmed()) > 0;
    if (remembered.isEmpty())
        m_settings->remove(forwardsKey(ns, ref));
    else
        m_settings->setValue(forwardsKey(ns, ref), remembered);
    DevSession *session = m_sessions.value(workloadKey(ns, ref));
    return (session && session->removePortForward(spec)) || wasRemembered;
}

void DevController::updateForwards(const QString &key, DevSession *session)
{
    Status s = m_status.value(key);
    s.forwards = session->forwards();
    s.portSpecs = session->portForwardSpecs();
    s.localPorts.clear();
    for (const DevSession::Forward &f : std::as_const(s.forwards)) {
        if (f.localPort)
            s.localPorts << f.localPort;
    }
    setStatus(key, s);
}

QStringList DevController::activeKeys() const
{
    return m_sessions.keys();
}

bool DevController::anySyncing() const
{
    for (const Status &s : m_status) {
        if (s.state == State::Starting || s.state == State::Ending || s.sync.startsWith(QLatin1String("syncing")))
            return true;
    }
    return false;
}

bool DevController::anyProblem() const
{
    for (const Status &s : m_status) {
        if (s.state == State::Failed || !s.conflicts.isEmpty())
            return true;
    }
    return false;
}

bool DevController::anyFailed() const
{
    for (const Status &s : m_status) {
        if (s.state == State::Failed)
            return true;
    }
    return false;
}

void DevController::setStatus(const QString &key, const Status &status)
{
    m_status.insert(key, status);
    Q_EMIT statusChanged(key);
}

bool DevController::start(const QString &ns, const WorkloadRef &ref, const QString &localDir)
{
    const QString key = workloadKey(ns, ref);
    if (m_sessions.contains(key))
        return true;
    QString dir = localDir.isEmpty() ? rememberedFolder(ns, ref) : localDir;
    if (dir.isEmpty() || !QFileInfo(dir).isDir())
        return false;
    rememberFolder(ns, ref, dir);
    DevStartOptions o;
    o.ns = ns;
    o.workload = ref;
    o.localDir = dir;
    o.agentPath = m_agentPath;
    o.extraPortForwards = rememberedForwards(ns, ref);
    auto *session = new DevSession(m_client, o, this);
    m_sessions.insert(key, session);
    Status st;
    st.state = State::Starting;
    setStatus(key, st);
    connect(session, &DevSession::stepStarted, this, [this, key](DevSession::Step, const QString &text) {
        Status s = m_status.value(key);
        s.step = text;
        setStatus(key, s);
    });
    connect(session, &DevSession::stateChanged, this, [this, key, session](DevSession::State state) {
        Status s = m_status.value(key);
        switch (state) {
        case DevSession::State::Ready:
            s.state = State::On;
            s.pod = session->podName();
            s.step.clear();
            break;
        case DevSession::State::Reconnecting:
            s.state = State::Reconnecting;
            break;
        case DevSession::State::Failed:
            s.state = State::Failed;
            s.message = session->failure();
            Q_EMIT notice(tr("Dev mode failed"), session->failure());
            m_sessions.remove(key);
            session->deleteLater();
            break;
        default:
            break;
        }
        setStatus(key, s);
        if (state == DevSession::State::Ready)
            updateForwards(key, session);
    });
    connect(session, &DevSession::syncProgress, this, [this, key](const SyncProgress &p) {
        Status s = m_status.value(key);
        switch (p.phase) {
        case SyncProgress::Phase::Syncing:
            s.sync = tr("syncing %1/%2 files").arg(p.filesDone).arg(p.filesTotal);
            break;
        case SyncProgress::Phase::Scanning:
            s.sync = tr("scanning");
            break;
        case SyncProgress::Phase::Idle:
            s.sync = p.conflicts.isEmpty() ? tr("in sync")
                                           : tr("in sync, %n conflict(s)", nullptr, int(p.conflicts.size()));
            break;
        case SyncProgress::Phase::Halted:
            s.sync = tr("halted: %1").arg(p.message);
            break;
        case SyncProgress::Phase::Error:
            s.sync = tr("error: %1").arg(p.message);
            break;
        case SyncProgress::Phase::Connecting:
            s.sync = tr("connecting");
            break;
        }
        if (p.conflicts != s.conflicts && !p.conflicts.isEmpty())
            Q_EMIT notice(tr("Sync conflict"),
                          tr("Both copies were kept: %1").arg(p.conflicts.join(QStringLiteral(", "))));
        s.conflicts = p.conflicts;
        setStatus(key, s);
    });
    connect(session, &DevSession::forwardsChanged, this, [this, key, session] { updateForwards(key, session); });
    connect(session, &DevSession::message, this, [this, ref](const QString &text) {
        if (text.startsWith(QLatin1String("port-forward ")))
            Q_EMIT notice(tr("%1: port-forward").arg(ref.shortName()), text);
    });
    session->start();
    return true;
}

void DevController::end(const QString &ns, const WorkloadRef &ref)
{
    const QString key = workloadKey(ns, ref);
    if (DevSession *session = m_sessions.take(key)) {
        session->stop();
        session->deleteLater();
    }
    Status s = m_status.value(key);
    s.state = State::Ending;
    s.step = tr("restoring %1").arg(ref.shortName());
    setStatus(key, s);
    endDevMode(m_client, this, ns, ref, Owner::current(), false, [this, key, ref](const EndResult &r) {
        Status st;
        if (!r.error.isEmpty()) {
            st.state = State::Failed;
            st.message = r.error;
            setStatus(key, st);
            Q_EMIT ended(key, r.error, false);
            return;
        }
        setStatus(key, st);
        const bool exact = r.differences.isEmpty();
        const QString summary = !r.deletedCopy.isEmpty()
            ? tr("%1: dev mode ended, copy %2 deleted").arg(ref.shortName(), r.deletedCopy)
            : exact ? tr("%1: dev mode ended, restored exactly").arg(ref.shortName())
                    : tr("%1 was restored, but differs from the saved original at: %2")
                          .arg(ref.shortName(), r.differences.join(QStringLiteral(", ")));
        Q_EMIT ended(key, summary, exact);
    });
}

void DevController::stopAll()
{
    for (DevSession *s : std::as_const(m_sessions)) {
        s->stop();
        s->deleteLater();
    }
    m_sessions.clear();
}

void DevController::scanLeftovers()
{
    const Owner me = Owner::current();
    listDevWorkloads(m_client, this, {}, &me, [this](const QList<DevRecord> &records, const kube::KubeError &error) {
        if (error.isError())
            return; // the cluster may be unreachable now: nothing to offer
        QList<DevRecord> mine;
        for (const DevRecord &r : records) {
            if (!m_sessions.contains(workloadKey(r.ns, r.workload)))
                mine << r;
        }
        if (!mine.isEmpty())
            Q_EMIT leftoversFound(mine);
    });
}

} // namespace iterdeck::app
