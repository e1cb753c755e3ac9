#include "iterationsmodel.h"

#include <QFont>

namespace iterdeck::app {

IterationsModel::IterationsModel(chatops::StreamState *state, QObject *parent)
    : QAbstractListModel(parent)
    , m_state(state)
{
    connect(state, &chatops::StreamState::changed, this, &IterationsModel::refresh);
    connect(state, &chatops::StreamState::activityChanged, this, [this](qint64 iterationId) {
        const int row = rowOf(iterationId);
        if (row >= 0)
            Q_EMIT dataChanged(index(row), index(row), {Qt::DisplayRole, UnreadRole, Qt::FontRole});
    });
    refresh();
}

void IterationsModel::refresh()
{
    QList<const model::Iteration *> list;
    for (const model::Iteration &it : m_state->iterations())
        list.append(&it);
    std::sort(list.begin(), list.end(), [](const model::Iteration *a, const model::Iteration *b) {
        if (a->state != b->state)
            return a->state == model::Iteration::State::Open;
        return a->name.localeAwareCompare(b->name) < 0;
    });
    QList<qint64> ids;
    for (const model::Iteration *it : std::as_const(list))
        ids.append(it->id);
    if (ids != m_ids) {
        beginResetModel();
        m_ids = ids;
        endResetModel();
    } else if (!m_ids.isEmpty()) {
        Q_EMIT dataChanged(index(0), index(int(m_ids.size()) - 1));
    }
}

int IterationsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_ids.size());
}

int IterationsModel::rowOf(qint64 iterationId) const
{
    return int(m_ids.indexOf(iterationId));
}

QVariant IterationsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid) || !m_state)
        return {};
    const model::Iteration *it = m_state->iteration(m_ids.at(index.row()));
    if (!it)
        return {};
    const model::Environment *env = m_state->environmentOfIteration(it->id);
    const int unread = m_state->unread(it->id);
    switch (role) {
    case Qt::DisplayRole: {
        QString text = it->name;
        if (it->state == model::Iteration::State::Closed)
            text += tr(" (closed)");
        text += u'\n' + (env ? QStringLiteral("%1 · %2").arg(env->nameSpace, env->state) : tr("no environment"));
        if (unread > 0)
            text += tr(" · %n new", nullptr, unread);
        return text;
    }
    case Qt::ToolTipRole:
        return tr("Members: %1").arg(it->members.join(QStringLiteral(", ")));
    case Qt::FontRole:
        if (unread > 0) {
            QFont f;
            f.setBold(true);
            return f;
        }
        return {};
    case IterationIdRole:
        return it->id;
    case EnvironmentIdRole:
        return env ? env->id : 0;
    case NamespaceRole:
        return env ? env->nameSpace : QString();
    case EnvironmentStateRole:
        return env ? env->state : QString();
    case UnreadRole:
        return unread;
    case OpenRole:
        return it->state == model::Iteration::State::Open;
    default:
        return {};
    }
}

QHash<int, QByteArray> IterationsModel::roleNames() const
{
    auto r = QAbstractListModel::roleNames();
    r.insert(IterationIdRole, "iterationId");
    r.insert(EnvironmentIdRole, "environmentId");
    r.insert(NamespaceRole, "namespace");
    r.insert(EnvironmentStateRole, "environmentState");
    r.insert(UnreadRole, "unread");
    r.insert(OpenRole, "open");
    return r;
}

} // namespace iterdeck::app
