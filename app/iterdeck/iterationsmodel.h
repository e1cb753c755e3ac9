#pragma once
// My iterations, from the bot: one row each with its environment's state and unread activity.
#include "chatops/streamstate.h"

#include <QAbstractListModel>
#include <QPointer>

namespace iterdeck::app {

class IterationsModel : public QAbstractListModel
{
    Q_OBJECT
public:
    enum Role {
        IterationIdRole = Qt::UserRole + 1,
        EnvironmentIdRole, // 0: no environment
        NamespaceRole,
        EnvironmentStateRole,
        UnreadRole,
        OpenRole, // the iteration is open
    };

    explicit IterationsModel(chatops::StreamState *state, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;
    // The row of an iteration, -1 when it is not listed.
    int rowOf(qint64 iterationId) const;

private:
    void refresh();

    QPointer<chatops::StreamState> m_state;
    QList<qint64> m_ids; // open iterations first, then by name
};

} // namespace iterdeck::app
