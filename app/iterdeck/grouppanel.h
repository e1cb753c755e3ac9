#pragma once
// The selected iteration's group: its messages (oldest first, with who wrote and when; the
// history is fetched from the bot once per iteration, new ones arrive live) and a line to write
// to it through the bot (`say`). Where the group lives in an external IM, the bot says so and the
// panel shows it.
#include <QDateTime>
#include <QMap>
#include <QSet>
#include <QWidget>

class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;

namespace iterdeck::app {

class BotSession;

class GroupPanel : public QWidget
{
    Q_OBJECT
public:
    explicit GroupPanel(QWidget *parent = nullptr);

    void setBotSession(BotSession *session);
    // Follows this iteration's group (0: none).
    void setIteration(qint64 iterationId);

    QListWidget *messages() const { return m_list; }
    QLineEdit *input() const { return m_input; }
    QPushButton *sendButton() const { return m_send; }
    QLabel *errorLabel() const { return m_error; }

    // Posts the input's text; the message shows once the bot has it (a live event).
    void send();

private:
    struct Message
    {
        QDateTime at;
        QString from;
        QString text;
    };
    void fetchHistory(qint64 iterationId, qint64 afterSeq, int pages);
    bool takeLive(qint64 iterationId);
    void render();
    void updateButtons();
    void showError(const QString &text);

    BotSession *m_bot = nullptr;
    qint64 m_iterationId = 0;
    QHash<qint64, QMap<qint64, Message>> m_messages; // per iteration, by event seq
    QSet<qint64> m_fetched; // iterations whose history was asked for
    QLabel *m_title;
    QListWidget *m_list;
    QLineEdit *m_input;
    QPushButton *m_send;
    QLabel *m_error;
    bool m_sending = false;
};

} // namespace iterdeck::app
