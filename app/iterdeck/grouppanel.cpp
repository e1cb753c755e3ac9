#include "grouppanel.h"

#include "botsession.h"
#include "chatops/botclient.h"
#include "chatops/protocol.h"
#include "chatops/streamstate.h"
#include "model/event.h"

#include <QHBoxLayout>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QScrollBar>
#include <QVBoxLayout>

namespace iterdeck::app {

namespace {

constexpr int kMaxMessages = 500; // per iteration, the newest kept
constexpr int kHistoryPage = 1000;
constexpr int kHistoryPages = 20; // at most this many events are read back for the history

} // namespace

GroupPanel::GroupPanel(QWidget *parent)
    : QWidget(parent)
    , m_title(new QLabel(this))
    , m_list(new QListWidget(this))
    , m_input(new QLineEdit(this))
    , m_send(new QPushButton(tr("Send"), this))
    , m_error(new QLabel(this))
{
    setObjectName(QStringLiteral("group"));
    m_list->setObjectName(QStringLiteral("groupMessages"));
    m_input->setObjectName(QStringLiteral("groupInput"));
    m_send->setObjectName(QStringLiteral("groupSend"));
    m_error->setObjectName(QStringLiteral("groupError"));
    m_list->setWordWrap(true);
    m_list->setSelectionMode(QAbstractItemView::NoSelection);
    m_input->setPlaceholderText(tr("Write to the iteration's group…"));
    m_input->setMaxLength(4000);
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b3261e; }"));
    m_error->hide();
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_title);
    layout->addWidget(m_list);
    auto *row = new QHBoxLayout;
    row->addWidget(m_input, 1);
    row->addWidget(m_send);
    layout->addLayout(row);
    layout->addWidget(m_error);
    connect(m_send, &QPushButton::clicked, this, &GroupPanel::send);
    connect(m_input, &QLineEdit::returnPressed, this, &GroupPanel::send);
    connect(m_input, &QLineEdit::textChanged, this, &GroupPanel::updateButtons);
    render();
}

void GroupPanel::setBotSession(BotSession *session)
{
    m_bot = session;
    connect(session->state(), &chatops::StreamState::activityChanged, this, [this](qint64 id) {
        // Most activity is not the group's: the list is redrawn only for a new message.
        if (takeLive(id) && id == m_iterationId)
            render();
    });
    connect(session, &BotSession::connectionChanged, this, [this] {
        // History asked for while disconnected failed: ask again.
        if (m_bot->isConnected() && m_iterationId && !m_fetched.contains(m_iterationId))
            setIteration(m_iterationId);
        updateButtons();
    });
}

void GroupPanel::setIteration(qint64 iterationId)
{
    if (iterationId != m_iterationId)
        showError({});
    m_iterationId = iterationId;
    if (m_bot && iterationId) {
        takeLive(iterationId);
        if (!m_fetched.contains(iterationId) && m_bot->isConnected()) {
            m_fetched.insert(iterationId);
            fetchHistory(iterationId, 0, kHistoryPages);
        }
    }
    render();
}

// What the activity list has (live, or replayed since the last connection); true when that was
// a message not seen before.
bool GroupPanel::takeLive(qint64 iterationId)
{
    if (!m_bot || !iterationId)
        return false;
    QMap<qint64, Message> &messages = m_messages[iterationId];
    bool added = false;
    for (const chatops::Activity &a : m_bot->state()->activity(iterationId)) {
        if (a.type == u"channel.message" && !messages.contains(a.seq)) {
            messages.insert(a.seq, Message {a.at, a.from, a.message});
            added = true;
        }
    }
    while (messages.size() > kMaxMessages)
        messages.erase(messages.begin());
    return added;
}

void GroupPanel::fetchHistory(qint64 iterationId, qint64 afterSeq, int pages)
{
    const QJsonObject params {{QStringLiteral("afterSeq"), afterSeq},
                              {QStringLiteral("limit"), kHistoryPage},
                              {QStringLiteral("iteration"), iterationId}};
    m_bot->client()->request(QLatin1String(chatops::method::Events), params, this,
                             [this, iterationId, pages](const chatops::BotClient::Result &r) {
                                 if (!r) {
                                     m_fetched.remove(iterationId); // asked again on the next connection
                                     return;
                                 }
                                 QMap<qint64, Message> &messages = m_messages[iterationId];
                                 qint64 last = 0;
                                 for (const QJsonValue &v : r->value(QStringLiteral("events")).toArray()) {
                                     const model::Event e = model::Event::fromJson(v.toObject());
                                     last = std::max(last, e.seq);
                                     if (e.type == u"channel.message" && e.iterationId == iterationId)
                                         messages.insert(e.seq,
                                                         Message {e.at, e.payload.value(u"from").toString(),
                                                                  e.payload.value(u"text").toString()});
                                 }
                                 while (messages.size() > kMaxMessages)
                                     messages.erase(messages.begin());
                                 if (r->value(QStringLiteral("more")).toBool() && last > 0 && pages > 1)
                                     fetchHistory(iterationId, last, pages - 1);
                                 if (iterationId == m_iterationId)
                                     render();
                             });
}

void GroupPanel::render()
{
    const bool hasIteration = m_bot && m_iterationId && m_bot->state()->iteration(m_iterationId);
    if (!hasIteration) {
        m_title->setText(tr("Choose an iteration to see its group."));
        m_list->clear();
        updateButtons();
        return;
    }
    m_title->setText(tr("The group of %1").arg(m_bot->state()->iteration(m_iterationId)->name));
    const bool atEnd
        = m_list->count() == 0 || m_list->verticalScrollBar()->value() == m_list->verticalScrollBar()->maximum();
    m_list->clear();
    const QMap<qint64, Message> messages = m_messages.value(m_iterationId);
    for (const Message &m : messages) {
        const QString when = m.at.toLocalTime().toString(QStringLiteral("MM-dd HH:mm"));
        auto *item = new QListWidgetItem(m.from.isEmpty() ? QStringLiteral("%1  %2").arg(when, m.text)
                                                          : QStringLiteral("%1  %2: %3").arg(when, m.from, m.text),
                                         m_list);
        item->setToolTip(m.at.toLocalTime().toString(Qt::ISODate));
    }
    if (messages.isEmpty())
        new QListWidgetItem(tr("No messages yet"), m_list);
    if (atEnd)
        m_list->scrollToBottom();
    updateButtons();
}

void GroupPanel::updateButtons()
{
    const bool can = m_bot && m_bot->isConnected() && m_iterationId && !m_sending;
    m_input->setEnabled(can);
    m_send->setEnabled(can && !m_input->text().trimmed().isEmpty());
}

void GroupPanel::showError(const QString &text)
{
    m_error->setText(text);
    m_error->setVisible(!text.isEmpty());
}

void GroupPanel::send()
{
    const QString text = m_input->text().trimmed();
    if (!m_bot || !m_iterationId || text.isEmpty() || m_sending)
        return;
    m_sending = true;
    updateButtons();
    m_bot->client()->request(QLatin1String(chatops::method::Say),
                             {{QStringLiteral("iteration"), m_iterationId}, {QStringLiteral("text"), text}}, this,
                             [this](const chatops::BotClient::Result &r) {
                                 m_sending = false;
                                 if (!r) {
                                     showError(tr("Not sent: %1").arg(r.error().message));
                                 } else {
                                     showError({});
                                     m_input->clear();
                                 }
                                 updateButtons();
                                 m_input->setFocus();
                             });
}

} // namespace iterdeck::app
