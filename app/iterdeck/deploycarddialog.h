#pragma once
// The deploy card: for each component of an environment, a branch chooser (each branch with its
// latest build), a build chooser, a "follow new builds" switch; a summary of what will change
// before confirming; then each component's deploy progress and result, live from the bot.
#include "chatops/botclient.h"
#include "chatops/streamstate.h"

#include <QDialog>
#include <QJsonObject>
#include <QPointer>

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QGridLayout;
class QLabel;

namespace iterdeck::app {

class DeployCardDialog : public QDialog
{
    Q_OBJECT
public:
    DeployCardDialog(chatops::BotClient *client, chatops::StreamState *state, qint64 environmentId,
                     QWidget *parent = nullptr);

    // One component's choice as the card shows it now.
    struct Choice
    {
        QString branch;
        bool follow = true;
        qint64 artifactId = 0; // when not following
        friend bool operator==(const Choice &, const Choice &) = default;
    };
    // For tests: the component rows' widgets.
    QComboBox *branchBox(const QString &component) const;
    QComboBox *buildBox(const QString &component) const;
    QCheckBox *followBox(const QString &component) const;
    QLabel *statusLabel(const QString &component) const;
    QString summary() const;
    bool isLoaded() const { return m_loaded; }
    QPushButton *confirmButton() const;

Q_SIGNALS:
    void loaded();
    // All confirmed changes were accepted by the bot (the deploys follow as events).
    void applied();

private:
    struct Row
    {
        QString component;
        Choice current;
        QComboBox *branch = nullptr;
        QComboBox *build = nullptr;
        QCheckBox *follow = nullptr;
        QLabel *status = nullptr;
        QString loadedBuildsFor; // the branch whose builds the build chooser lists
    };

    void load();
    void fill(const QJsonObject &card);
    void loadBuilds(Row &row);
    Choice choiceOf(const Row &row) const;
    void updateSummary();
    void confirm();
    void onStateChanged();
    Row *row(const QString &component);
    const Row *row(const QString &component) const;

    QPointer<chatops::BotClient> m_client;
    QPointer<chatops::StreamState> m_state;
    qint64 m_environmentId;
    QList<Row> m_rows;
    QGridLayout *m_grid;
    QLabel *m_header;
    QLabel *m_summary;
    QLabel *m_result;
    QDialogButtonBox *m_buttons;
    bool m_loaded = false;
    qint64 m_confirmedAtSeq = -1; // deploy events after this belong to this card
};

} // namespace iterdeck::app
