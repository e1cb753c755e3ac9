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

Expected<quint16, QString> DevController::addPortForward(const QString &ns, const WorkloadRef &ref, const QString &spec,
                                                         const QString &selector)
{
    DevSession *session = m_sessions.value(workloadKey(ns, ref));
    const auto port = session ? session->addPortForward(spec) : addPlainForward(ns, ref, spec, selector);
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
    const QString key = workloadKey(ns, ref);
    bool removed = false;
    QList<PlainForward> &plain = m_plain[key];
    for (qsizetype i = 0; i < plain.size(); ++i) {
        if (plain.at(i).spec == spec.trimmed()) {
            plain.at(i).forwarder->disconnect(this);
            plain.at(i).forwarder->stop(); // its local port closes now
            plain.at(i).forwarder->deleteLater();
            plain.removeAt(i);
            removed = true;
            break;
        }
    }
    if (plain.isEmpty())
        m_plain.remove(key);
    if (removed)
        updatePlainForwards(key);
    DevSession *session = m_sessions.value(key);
    return (session && session->removePortForward(spec)) || removed || wasRemembered;
}

Expected<quint16, QString> DevController::addPlainForward(const QString &ns, const WorkloadRef &ref,
                                                          const QString &spec, const QString &selector)
{
    const QString text = spec.trimmed();
    const QString key = workloadKey(ns, ref);
    const auto mapping = DevSession::checkNewForward(text, m_status.value(key).forwards);
    if (!mapping)
        return unexpected(mapping.error());
    if (selector.isEmpty())
        return unexpected(tr("%1 has no pods to forward to").arg(ref.shortName()));
    kube::PortForwardTarget target;
    target.ns = ns;
    target.labelSelector = selector;
    auto *forwarder = new kube::PortForwarder(m_client, target, {*mapping}, this);
    forwarder->start(); // binds the local port now, or fails
    if (forwarder->state() == kube::PortForwarder::State::Failed) {
        const QString why = forwarder->failureReason();
        delete forwarder;
        return unexpected(why);
    }
    connect(forwarder, &kube::PortForwarder::stateChanged, this, [this, key] { updatePlainForwards(key); });
    QList<PlainForward> &plain = m_plain[key];
    for (qsizetype i = 0; i < plain.size(); ++i) {
        if (plain.at(i).spec == text) { // a failed copy of it, replaced
            plain.at(i).forwarder->disconnect(this);
            plain.at(i).forwarder->deleteLater();
            plain.removeAt(i);
            break;
        }
    }
    plain.append(PlainForward {text, selector, *mapping, forwarder});
    updatePlainForwards(key);
    return forwarder->localPort(0);
}

void DevController::updatePlainForwards(const QString &key)
{
    if (m_sessions.contains(key))
        return; // the session's forwards are shown
    Status s = m_status.value(key);
    s.forwards.clear();
    s.localPorts.clear();
    s.portSpecs.clear();
    for (const PlainForward &p : m_plain.value(key)) {
        DevSession::Forward f;
        f.spec = p.spec;
        f.remotePort = p.mapping.remotePort;
        f.localPort = p.forwarder->localPort(0);
        f.state = p.forwarder->state();
        if (f.state == kube::PortForwarder::State::Failed || f.state == kube::PortForwarder::State::Starting
            || f.state == kube::PortForwarder::State::Reconnecting)
            f.problem = p.forwarder->failureReason();
        s.forwards << f;
        s.portSpecs << p.spec;
        if (f.localPort)
            s.localPorts << f.localPort;
    }
    setStatus(key, s);
}

void DevController::suspendPlainForwards(const QString &key)
{
    const QList<PlainForward> plain = m_plain.take(key);
    if (plain.isEmpty())
        return;
    for (const PlainForward &p : plain) {
        p.forwarder->disconnect(this);
        delete p.forwarder; // the local port is free for the dev session at once
    }
    m_suspended.insert(key, plain);
}

void DevController::resumePlainForwards(const QString &ns, const WorkloadRef &ref)
{
    const QString key = workloadKey(ns, ref);
    const QList<PlainForward> plain = m_suspended.take(key);
    for (const PlainForward &p : plain) {
        // Only what is still remembered (not removed during dev mode).
        if (!rememberedForwards(ns, ref).contains(p.spec))
            continue;
        if (auto port = addPlainForward(ns, ref, p.spec, p.selector); !port)
            Q_EMIT notice(tr("%1: port-forward").arg(ref.shortName()),
                          tr("%1 could not be forwarded again: %2").arg(p.spec, port.error()));
    }
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
    suspendPlainForwards(key);
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
    connect(session, &DevSession::stateChanged, this, [this, key, ns, ref, session](DevSession::State state) {
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
        case DevSession::State::Stopped:
            if (!s.cancelling)
                return; // end() took the session and reports itself
            m_sessions.remove(key);
            session->deleteLater();
            if (session->changedCluster()) {
                restore(ns, ref, true);
            } else {
                setStatus(key, Status());
                resumePlainForwards(ns, ref);
                Q_EMIT ended(key, tr("%1: dev mode not entered, nothing was changed").arg(ref.shortName()), true);
            }
            return;
        case DevSession::State::Failed:
            s.state = State::Failed;
            s.message = session->failure();
            Q_EMIT notice(tr("Dev mode failed"), session->failure());
            m_sessions.remove(key);
            session->deleteLater();
            setStatus(key, s);
            resumePlainForwards(ns, ref);
            return;
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
    restore(ns, ref, false);
}

void DevController::cancel(const QString &ns, const WorkloadRef &ref)
{
    const QString key = workloadKey(ns, ref);
    DevSession *session = m_sessions.value(key);
    if (!session || session->state() != DevSession::State::Starting)
        return;
    Status s = m_status.value(key);
    s.cancelling = true;
    s.step = tr("cancelling");
    setStatus(key, s);
    session->cancel(); // Stopped follows, maybe at once
}

void DevController::restore(const QString &ns, const WorkloadRef &ref, bool cancelled)
{
    const QString key = workloadKey(ns, ref);
    Status s = m_status.value(key);
    s.state = State::Ending;
    s.cancelling = false;
    s.step = tr("restoring %1").arg(ref.shortName());
    setStatus(key, s);
    endDevMode(m_client, this, ns, ref, Owner::current(), false, [this, key, ns, ref, cancelled](const EndResult &r) {
        // Cancelled before the workload itself was changed: nothing to restore is no failure.
        const bool untouched = cancelled && r.notInDevMode;
        Status st;
        if (!r.error.isEmpty() && !untouched) {
            st.state = State::Failed;
            st.message = r.error;
        }
        setStatus(key, st);
        resumePlainForwards(ns, ref); // onto this status
        if (untouched) {
            Q_EMIT ended(key, tr("%1: dev mode not entered, nothing was changed").arg(ref.shortName()), true);
            return;
        }
        if (st.state == State::Failed) {
            Q_EMIT ended(key, r.error, false);
            return;
        }
        const bool exact = r.differences.isEmpty();
        const QString summary = !r.deletedCopy.isEmpty()
            ? tr("%1: dev mode ended, copy %2 deleted").arg(ref.shortName(), r.deletedCopy)
            : !exact ? tr("%1 was restored, but differs from the saved original at: %2")
                           .arg(ref.shortName(), r.differences.join(QStringLiteral(", ")))
            : cancelled ? tr("%1: dev mode not entered, restored exactly").arg(ref.shortName())
                        : tr("%1: dev mode ended, restored exactly").arg(ref.shortName());
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
