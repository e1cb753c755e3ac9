#pragma once
// The workloads of one namespace, live from the cluster (watch caches of Deployments and
// StatefulSets): name, kind, image, pods ready x/y, and dev mode (ours from the DevController,
// anyone's from the workload's annotations) with its sync status. With an environment from the
// bot, a row is a component (named as the bot names it) with what it follows and runs; a
// component whose workload is not in the cluster (yet) has a row too, without pods.
#include "chatops/streamstate.h"
#include "devcontroller.h"

#include <QAbstractTableModel>
#include <QJsonObject>
#include <QPointer>

class QTimer;

namespace iterdeck::kube {
class Informer;
class KubeClient;
} // namespace iterdeck::kube

namespace iterdeck::app {

class WorkloadsModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        KindColumn,
        ImageColumn,
        PodsColumn,
        DevColumn,
        SyncColumn,
        FollowsColumn, // from the bot: what the component follows (or its pinned build)
        DeployedColumn, // from the bot: the build deployed, its commit and age, or the deploy under way
        ColumnCount
    };
    enum Role {
        WorkloadRole = Qt::UserRole + 1, // "deploy/NAME"
        NamespaceRole,
        DevStateRole, // DevController::State as int (ours), or -1 when someone else has it
        DevOwnerRole, // who has it in dev mode ("" when nobody)
        ReadyRole, // pods ready
        ReplicasRole,
        LiveRole, // bool: the workload exists in the cluster (false: a component not deployed yet)
        ComponentRole, // the bot's component ("" when none)
    };

    WorkloadsModel(kube::KubeClient *client, DevController *dev, QObject *parent = nullptr);
    ~WorkloadsModel() override;

    // Follows another namespace (empty: none).
    void setNamespace(const QString &ns);
    // Watches the namespace again from scratch (e.g. the client now talks to another server).
    void restart();
    // The bot's view of the namespace's environment (its components' selections and deploys);
    // null or 0: none. The state must outlive the model.
    void setEnvironment(const chatops::StreamState *state, qint64 environmentId);
    qint64 environmentId() const { return m_environmentId; }
    // The bot's component that runs as this row's workload; empty when none.
    QString componentAt(int row) const;
    // The workload of the row exists in the cluster.
    bool isLive(int row) const;
    // The label selector of the row's pods ("" when not live).
    QString selectorAt(int row) const;
    QString currentNamespace() const { return m_ns; }
    bool isSynced() const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    devmode::WorkloadRef workloadAt(int row) const;

Q_SIGNALS:
    void syncedChanged();
    // The cluster could not be reached or refused (the watch retries by itself).
    void connectionProblem(const QString &message);

private:
    struct Row
    {
        devmode::WorkloadRef ref;
        QJsonObject object; // empty: not in the cluster (a component's row only)
        QString component; // the bot's component running as this workload
    };
    void upsert(devmode::WorkloadKind kind, const QJsonObject &object);
    void remove(devmode::WorkloadKind kind, const QJsonObject &object);
    int find(const devmode::WorkloadRef &ref) const;
    void devChanged(const QString &key);
    QString botColumn(int row, int column) const;
    // Matches the environment's components to the rows, adding rows for components without a
    // workload and dropping those no longer wanted.
    void syncComponents();
    // The environment's components by the workload they run as ("deploy/NAME"); none while the
    // environment is not this namespace's.
    QHash<QString, QString> wantedComponents() const;
    void insertRow(Row row);

    kube::KubeClient *m_client;
    DevController *m_dev;
    QString m_ownerLabel; // this user, as dev mode labels workloads (read once: data() is hot)
    QString m_ns;
    QPointer<const chatops::StreamState> m_state;
    qint64 m_environmentId = 0;
    QTimer *m_ageTimer = nullptr;
    QList<kube::Informer *> m_informers;
    QList<Row> m_rows; // sorted by name, then kind
};

} // namespace iterdeck::app
