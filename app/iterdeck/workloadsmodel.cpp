#include "workloadsmodel.h"

#include <QTimer>

#include "kube/informer.h"
#include "kube/kubeclient.h"

#include <QJsonArray>

namespace iterdeck::app {

using namespace iterdeck::devmode;
using namespace iterdeck::kube;

namespace {

QJsonObject obj(const QJsonObject &o, const char *key)
{
    return o.value(QLatin1String(key)).toObject();
}

bool lessThan(const WorkloadRef &a, const WorkloadRef &b)
{
    return a.name != b.name ? a.name < b.name : int(a.kind) < int(b.kind);
}

} // namespace

WorkloadsModel::WorkloadsModel(KubeClient *client, DevController *dev, QObject *parent)
    : QAbstractTableModel(parent)
    , m_client(client)
    , m_dev(dev)
    , m_ownerLabel(Owner::current().label())
{
    connect(m_dev, &DevController::statusChanged, this, &WorkloadsModel::devChanged);
}

WorkloadsModel::~WorkloadsModel() = default;

bool WorkloadsModel::isSynced() const
{
    if (m_informers.isEmpty())
        return false;
    for (const Informer *i : m_informers) {
        if (!i->hasSynced())
            return false;
    }
    return true;
}

void WorkloadsModel::restart()
{
    const QString ns = m_ns;
    qDeleteAll(m_informers);
    m_informers.clear();
    setNamespace(ns);
}

void WorkloadsModel::setNamespace(const QString &ns)
{
    if (ns == m_ns && !m_informers.isEmpty())
        return;
    qDeleteAll(m_informers);
    m_informers.clear();
    beginResetModel();
    m_rows.clear();
    m_ns = ns;
    endResetModel();
    syncComponents();
    if (ns.isEmpty())
        return;
    for (WorkloadKind kind : {WorkloadKind::Deployment, WorkloadKind::StatefulSet}) {
        auto *inf = new Informer(
            m_client, kind == WorkloadKind::Deployment ? ResourceRef::deployments() : ResourceRef::statefulSets(), ns,
            {}, this);
        connect(inf, &Informer::added, this, [this, kind](const QJsonObject &o) { upsert(kind, o); });
        connect(inf, &Informer::modified, this,
                [this, kind](const QJsonObject &o, const QJsonObject &) { upsert(kind, o); });
        connect(inf, &Informer::deleted, this, [this, kind](const QJsonObject &o) { remove(kind, o); });
        connect(inf, &Informer::synced, this, &WorkloadsModel::syncedChanged);
        connect(inf, &Informer::transientError, this,
                [this](const KubeError &e) { Q_EMIT connectionProblem(e.toString()); });
        m_informers << inf;
        inf->start();
    }
}

int WorkloadsModel::find(const WorkloadRef &ref) const
{
    for (int i = 0; i < m_rows.size(); ++i) {
        if (m_rows.at(i).ref.kind == ref.kind && m_rows.at(i).ref.name == ref.name)
            return i;
    }
    return -1;
}

void WorkloadsModel::insertRow(Row row)
{
    int pos = 0;
    while (pos < m_rows.size() && lessThan(m_rows.at(pos).ref, row.ref))
        ++pos;
    beginInsertRows({}, pos, pos);
    m_rows.insert(pos, std::move(row));
    endInsertRows();
}

void WorkloadsModel::upsert(WorkloadKind kind, const QJsonObject &object)
{
    const QJsonObject meta = obj(object, "metadata");
    const QJsonObject labels = obj(meta, "labels");
    // A duplicate-mode copy is shown on its original's row, not as a workload of its own.
    if (labels.contains(keys::duplicateOf))
        return;
    WorkloadRef ref;
    ref.kind = kind;
    ref.name = meta.value(QLatin1String("name")).toString();
    const int at = find(ref);
    if (at >= 0) {
        m_rows[at].object = object;
        Q_EMIT dataChanged(index(at, 0), index(at, ColumnCount - 1));
        return;
    }
    insertRow(Row {ref, object, wantedComponents().value(ref.shortName())});
}

void WorkloadsModel::remove(WorkloadKind kind, const QJsonObject &object)
{
    WorkloadRef ref;
    ref.kind = kind;
    ref.name = obj(object, "metadata").value(QLatin1String("name")).toString();
    const int at = find(ref);
    if (at < 0)
        return;
    if (!m_rows.at(at).component.isEmpty()) {
        // The component stays listed, without a workload.
        m_rows[at].object = QJsonObject();
        Q_EMIT dataChanged(index(at, 0), index(at, ColumnCount - 1));
        return;
    }
    beginRemoveRows({}, at, at);
    m_rows.removeAt(at);
    endRemoveRows();
}

QHash<QString, QString> WorkloadsModel::wantedComponents() const
{
    QHash<QString, QString> wanted;
    const model::Environment *env = m_state && m_environmentId ? m_state->environment(m_environmentId) : nullptr;
    if (env && env->nameSpace == m_ns && !m_ns.isEmpty()) {
        for (const chatops::ComponentInfo &c : m_state->components()) {
            if (const auto ref = WorkloadRef::parse(c.workload, nullptr))
                wanted.insert(ref->shortName(), c.name);
        }
    }
    return wanted;
}

void WorkloadsModel::syncComponents()
{
    QHash<QString, QString> wanted = wantedComponents();
    for (int i = int(m_rows.size()) - 1; i >= 0; --i) {
        Row &row = m_rows[i];
        const QString component = wanted.take(row.ref.shortName());
        if (component.isEmpty() && row.object.isEmpty()) {
            beginRemoveRows({}, i, i);
            m_rows.removeAt(i);
            endRemoveRows();
            continue;
        }
        if (row.component != component) {
            row.component = component;
            Q_EMIT dataChanged(index(i, 0), index(i, ColumnCount - 1));
        }
    }
    for (auto it = wanted.cbegin(); it != wanted.cend(); ++it)
        insertRow(Row {*WorkloadRef::parse(it.key(), nullptr), {}, it.value()});
}

void WorkloadsModel::devChanged(const QString &key)
{
    for (int i = 0; i < m_rows.size(); ++i) {
        if (workloadKey(m_ns, m_rows.at(i).ref) == key)
            Q_EMIT dataChanged(index(i, DevColumn), index(i, SyncColumn));
    }
}

int WorkloadsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int WorkloadsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

WorkloadRef WorkloadsModel::workloadAt(int row) const
{
    return row >= 0 && row < m_rows.size() ? m_rows.at(row).ref : WorkloadRef();
}

QVariant WorkloadsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case NameColumn:
        return tr("Component");
    case KindColumn:
        return tr("Kind");
    case ImageColumn:
        return tr("Image");
    case PodsColumn:
        return tr("Pods");
    case DevColumn:
        return tr("Dev mode");
    case SyncColumn:
        return tr("Sync");
    case FollowsColumn:
        return tr("Follows");
    case DeployedColumn:
        return tr("Deployed");
    default:
        return {};
    }
}

QVariant WorkloadsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &row = m_rows.at(index.row());
    const QJsonObject meta = obj(row.object, "metadata");
    const QJsonObject ann = obj(meta, "annotations");
    const QJsonObject spec = obj(row.object, "spec");
    const QJsonObject status = obj(row.object, "status");
    const int replicas = spec.value(QLatin1String("replicas")).toInt(1);
    const int ready = status.value(QLatin1String("readyReplicas")).toInt();
    const QString key = workloadKey(m_ns, row.ref);
    const DevController::Status dev = m_dev->status(key);
    const QString owner = ann.value(keys::owner).toString();
    const bool mine
        = dev.state != DevController::State::Off || obj(meta, "labels").value(keys::user).toString() == m_ownerLabel;
    switch (role) {
    case WorkloadRole:
        return row.ref.shortName();
    case NamespaceRole:
        return m_ns;
    case DevStateRole:
        if (!owner.isEmpty() && !mine)
            return -1;
        if (dev.state == DevController::State::Off && !owner.isEmpty())
            return int(DevController::State::On); // on, left by an earlier run of ours
        return int(dev.state);
    case DevOwnerRole:
        return owner;
    case ReadyRole:
        return ready;
    case ReplicasRole:
        return replicas;
    case LiveRole:
        return !row.object.isEmpty();
    case ComponentRole:
        return row.component;
    case Qt::ToolTipRole:
        if (index.column() == NameColumn)
            return row.object.isEmpty()
                ? tr("%1 runs as %2, which is not in the cluster yet").arg(row.component, row.ref.shortName())
                : row.ref.shortName();
        if (index.column() == DevColumn && !dev.message.isEmpty())
            return dev.message;
        if (index.column() == SyncColumn && !dev.conflicts.isEmpty())
            return dev.conflicts.join(u'\n');
        return {};
    case Qt::DisplayRole:
        break;
    default:
        return {};
    }
    if (row.object.isEmpty()) {
        // A component of the environment whose workload is not there (yet).
        switch (index.column()) {
        case NameColumn:
            return row.component;
        case KindColumn:
            return row.ref.kindName();
        case PodsColumn:
            return tr("not deployed");
        case FollowsColumn:
        case DeployedColumn:
            return botColumn(index.row(), index.column());
        default:
            return QString();
        }
    }
    switch (index.column()) {
    case NameColumn:
        return row.component.isEmpty() ? row.ref.name : row.component;
    case KindColumn:
        return row.ref.kindName();
    case ImageColumn: {
        const QJsonArray containers = obj(obj(spec, "template"), "spec").value(QLatin1String("containers")).toArray();
        return containers.isEmpty() ? QString() : containers.at(0).toObject().value(QLatin1String("image")).toString();
    }
    case PodsColumn:
        return QStringLiteral("%1/%2").arg(ready).arg(replicas);
    case DevColumn:
        if (dev.state == DevController::State::Starting || dev.state == DevController::State::Ending)
            return dev.step.isEmpty() ? stateName(dev.state) : dev.step;
        if (dev.state == DevController::State::On && !dev.localPorts.isEmpty() && !dev.portSpecs.isEmpty()) {
            QStringList ports;
            for (int i = 0; i < dev.localPorts.size() && i < dev.portSpecs.size(); ++i)
                ports << QStringLiteral("127.0.0.1:%1→%2")
                             .arg(dev.localPorts.at(i))
                             .arg(dev.portSpecs.at(i).section(u':', -1));
            return QString(stateName(dev.state) + QStringLiteral(" · ") + ports.join(QStringLiteral(", ")));
        }
        if (dev.state != DevController::State::Off)
            return stateName(dev.state);
        if (!owner.isEmpty())
            return mine ? tr("on (not syncing)") : tr("on, by %1").arg(owner);
        return stateName(DevController::State::Off);
    case SyncColumn:
        return dev.sync;
    case FollowsColumn:
    case DeployedColumn:
        return botColumn(index.row(), index.column());
    default:
        return {};
    }
}

QString WorkloadsModel::componentAt(int row) const
{
    return row >= 0 && row < m_rows.size() ? m_rows.at(row).component : QString();
}

QString WorkloadsModel::selectorAt(int row) const
{
    return isLive(row) ? selectorString(m_rows.at(row).object) : QString();
}

bool WorkloadsModel::isLive(int row) const
{
    return row >= 0 && row < m_rows.size() && !m_rows.at(row).object.isEmpty();
}

QString WorkloadsModel::botColumn(int row, int column) const
{
    const QString component = componentAt(row);
    if (component.isEmpty())
        return {};
    if (column == FollowsColumn) {
        const auto sel = m_state->selection(m_environmentId, component);
        if (!sel)
            return {};
        if (sel->mode == model::Selection::Mode::Follow)
            return sel->branch;
        // The pinned build by name once it is what runs (or is being deployed).
        const auto d = m_state->deployment(m_environmentId, component);
        if (d && d->artifact.id == sel->artifactId)
            return tr("pinned: %1").arg(chatops::buildLabel(d->artifact, true));
        return tr("pinned: build %1").arg(sel->artifactId);
    }
    const auto d = m_state->deployment(m_environmentId, component);
    if (!d)
        return {};
    const QString build = chatops::buildLabel(d->artifact);
    if (d->state == u"started")
        return tr("deploying %1…").arg(build);
    if (d->state == u"failed")
        return tr("failed: %1").arg(d->message.section(u'\n', 0, 0));
    if (d->state == u"waiting")
        return tr("waiting for a build");
    const qint64 s = d->at.isValid() ? d->at.secsTo(QDateTime::currentDateTimeUtc()) : -1;
    QString age;
    if (s >= 0)
        age = s < 120    ? tr("%ns ago", nullptr, int(s))
            : s < 7200   ? tr("%nm ago", nullptr, int(s / 60))
            : s < 172800 ? tr("%nh ago", nullptr, int(s / 3600))
                         : tr("%nd ago", nullptr, int(s / 86400));
    return age.isEmpty() ? build : build + QStringLiteral(" · ") + age;
}

void WorkloadsModel::setEnvironment(const chatops::StreamState *state, qint64 environmentId)
{
    if (!m_ageTimer) {
        // "deployed 3m ago" ages without any event.
        m_ageTimer = new QTimer(this);
        m_ageTimer->setInterval(30000);
        connect(m_ageTimer, &QTimer::timeout, this, [this] {
            if (!m_rows.isEmpty() && m_environmentId)
                Q_EMIT dataChanged(index(0, DeployedColumn), index(int(m_rows.size()) - 1, DeployedColumn));
        });
        m_ageTimer->start();
    }
    if (m_state != state) {
        if (m_state)
            disconnect(m_state, nullptr, this, nullptr);
        m_state = state;
        if (m_state) {
            connect(m_state, &chatops::StreamState::changed, this, [this] {
                syncComponents();
                if (!m_rows.isEmpty())
                    Q_EMIT dataChanged(index(0, FollowsColumn), index(int(m_rows.size()) - 1, DeployedColumn));
            });
        }
    }
    m_environmentId = environmentId;
    syncComponents();
    if (!m_rows.isEmpty())
        Q_EMIT dataChanged(index(0, FollowsColumn), index(int(m_rows.size()) - 1, DeployedColumn));
}

} // namespace iterdeck::app
