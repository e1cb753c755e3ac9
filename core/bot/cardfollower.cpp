#include "cardfollower.h"

#include "chatops/eventtext.h"
#include "commandengine.h"
#include "environmentmanager.h"
#include "logging.h"

#include <QJsonArray>
#include <QTimer>

#include <algorithm>

namespace iterdeck::bot {

namespace {

constexpr int kTailLines = 3;
constexpr int kTailChars = 300;

// The last lines of a failed deploy's output, short enough for a card.
QString errorTail(const QJsonObject &payload)
{
    QStringList lines;
    const QJsonArray output = payload.value(u"output").toArray();
    for (qsizetype i = output.size() - 1; i >= 0 && lines.size() < kTailLines; --i) {
        const QString line = output.at(i).toString().trimmed();
        if (!line.isEmpty())
            lines.prepend(line);
    }
    QString tail = lines.join(u'\n');
    if (tail.size() > kTailChars)
        tail = u'…' + tail.right(kTailChars - 1);
    return tail;
}

} // namespace

CardFollower::CardFollower(CommandEngine *commands, EnvironmentManager *environments, im::ImAdapter *adapter,
                           QObject *parent)
    : QObject(parent)
    , m_commands(commands)
    , m_environments(environments)
    , m_adapter(adapter)
{
    m_clock.start();
}

CardFollower::~CardFollower() = default;

void CardFollower::follow(const Start &start)
{
    if (!m_adapter)
        return;
    const int id = m_next++;
    Card &c = m_cards[id];
    c.start = start;
    if (c.start.followUpChatId.isEmpty())
        c.start.followUpChatId = c.start.chatId;
    for (const QString &name : start.components) {
        Component comp;
        comp.status = QStringLiteral("queued");
        comp.skipOneEnd = m_environments && m_environments->isDeploying(start.environmentId, name);
        c.components.insert(name, comp);
    }
    c.timer = new QTimer(this);
    c.timer->setSingleShot(true);
    connect(c.timer, &QTimer::timeout, this, [this, id] { send(id); });
    c.deadline = new QTimer(this);
    c.deadline->setSingleShot(true);
    connect(c.deadline, &QTimer::timeout, this, [this, id] {
        const auto it = m_cards.find(id);
        if (it == m_cards.end())
            return;
        qCWarning(lcBot, "deploy card %s in %s: the deploys did not end in time; no longer followed",
                  qPrintable(it->second.start.card.cardId), qPrintable(it->second.start.chatId));
        drop(id);
    });
    c.deadline->start(m_maxFollowMs);
    send(id);
}

void CardFollower::eventsCommitted(const QList<model::Event> &events)
{
    QList<int> touched;
    for (const model::Event &ev : events) {
        if (!ev.type.startsWith(u"deploy."))
            continue;
        for (auto &[id, card] : m_cards) {
            if (card.start.environmentId != ev.environmentId)
                continue;
            const Component before = card.components.value(ev.payload.value(u"component").toString());
            apply(card, ev);
            const Component after = card.components.value(ev.payload.value(u"component").toString());
            if (before.phase != after.phase || before.status != after.status) {
                if (!touched.contains(id))
                    touched.append(id);
            }
        }
    }
    for (int id : std::as_const(touched))
        schedule(id);
}

void CardFollower::apply(Card &card, const model::Event &ev)
{
    const QString name = ev.payload.value(u"component").toString();
    auto it = card.components.find(name);
    if (it == card.components.end())
        return;
    Component &c = *it;
    if (c.phase != Component::Phase::Queued && c.phase != Component::Phase::Deploying)
        return; // ended; a later deploy of it is not this card's
    const model::Artifact artifact = model::Artifact::fromJson(ev.payload.value(u"artifact").toObject());
    const QString label = chatops::buildLabel(artifact);
    const bool end = ev.type == u"deploy.succeeded" || ev.type == u"deploy.failed";
    if (end && c.phase == Component::Phase::Queued && c.skipOneEnd) {
        // The deploy that ran when this card began ended; this card's own comes after it.
        c.skipOneEnd = false;
        return;
    }
    if (ev.type == u"deploy.started") {
        c.phase = Component::Phase::Deploying;
        c.skipOneEnd = false;
        c.status = label.isEmpty() ? QStringLiteral("deploying") : QStringLiteral("deploying %1").arg(label);
    } else if (ev.type == u"deploy.succeeded") {
        c.phase = Component::Phase::Deployed;
        c.build = label;
        c.status = label.isEmpty() ? QStringLiteral("deployed") : QStringLiteral("deployed %1").arg(label);
    } else if (ev.type == u"deploy.failed") {
        c.phase = Component::Phase::Failed;
        QString message = ev.payload.value(u"message").toString();
        const QString tail = errorTail(ev.payload);
        if (!tail.isEmpty() && !message.contains(tail))
            message += (message.isEmpty() ? QString() : QStringLiteral("\n")) + tail;
        c.status = QStringLiteral("failed: %1").arg(message);
    } else if (ev.type == u"deploy.waiting") {
        c.phase = Component::Phase::Waiting;
        c.status = ev.payload.value(u"message").toString();
    }
}

bool CardFollower::ended(const Card &card) const
{
    return std::all_of(card.components.cbegin(), card.components.cend(), [](const Component &c) {
        return c.phase != Component::Phase::Queued && c.phase != Component::Phase::Deploying;
    });
}

im::DeployCard CardFollower::render(const Card &card) const
{
    // Branches, builds and selections as the store has them now; the followed components' state
    // as this card saw it.
    auto fresh = m_commands->deployCard(card.start.environmentId);
    im::DeployCard out = fresh ? *fresh : card.start.card;
    out.cardId = card.start.card.cardId;
    out.requestedBy = card.start.card.requestedBy;
    QStringList deploying, queued, deployed, failed, waiting;
    for (im::CardComponent &c : out.components) {
        const auto it = card.components.constFind(c.name);
        if (it == card.components.cend())
            continue;
        c.status = it->status;
        if (it->phase == Component::Phase::Deployed && !it->build.isEmpty())
            c.deployedBuild = it->build;
        switch (it->phase) {
        case Component::Phase::Queued:
            queued.append(c.name);
            break;
        case Component::Phase::Deploying:
            deploying.append(c.name);
            break;
        case Component::Phase::Deployed:
            deployed.append(QStringLiteral("%1 %2").arg(c.name, it->build).trimmed());
            break;
        case Component::Phase::Failed:
            failed.append(c.name);
            break;
        case Component::Phase::Waiting:
            waiting.append(c.name);
            break;
        }
    }
    out.progress.clear();
    out.result.clear();
    if (!deploying.isEmpty() || !queued.isEmpty()) {
        out.state = im::DeployCard::State::Deploying;
        QStringList parts;
        if (!deploying.isEmpty())
            parts.append(QStringLiteral("deploying %1").arg(deploying.join(QStringLiteral(", "))));
        if (!queued.isEmpty())
            parts.append(QStringLiteral("queued %1").arg(queued.join(QStringLiteral(", "))));
        if (!deployed.isEmpty())
            parts.append(QStringLiteral("deployed %1").arg(deployed.join(QStringLiteral(", "))));
        out.progress = parts.join(QStringLiteral("; "));
    } else if (!failed.isEmpty()) {
        out.state = im::DeployCard::State::Failed;
        out.result = failed.join(QStringLiteral(", "));
        if (!deployed.isEmpty())
            out.result += QStringLiteral("; deployed %1").arg(deployed.join(QStringLiteral(", ")));
    } else {
        out.state = im::DeployCard::State::Succeeded;
        QStringList parts;
        if (!deployed.isEmpty())
            parts.append(deployed.join(QStringLiteral(", ")));
        if (!waiting.isEmpty())
            parts.append(QStringLiteral("waiting for a build: %1").arg(waiting.join(QStringLiteral(", "))));
        out.result = parts.join(QStringLiteral("; "));
    }
    return out;
}

void CardFollower::schedule(int id)
{
    const auto it = m_cards.find(id);
    if (it == m_cards.end())
        return;
    Card &c = it->second;
    if (c.inFlight) {
        c.dirty = true;
        return;
    }
    const qint64 wait = c.lastSentMs < 0 ? 0 : c.lastSentMs + m_minIntervalMs - m_clock.elapsed();
    if (wait <= 0) {
        c.timer->stop();
        send(id);
    } else if (!c.timer->isActive()) {
        c.timer->start(int(wait));
    }
}

void CardFollower::send(int id)
{
    const auto it = m_cards.find(id);
    if (it == m_cards.end() || !m_adapter)
        return;
    Card &c = it->second;
    if (c.inFlight) {
        c.dirty = true;
        return;
    }
    c.dirty = false;
    const bool last = ended(c);
    const im::DeployCard shown = render(c);
    const bool repeat = m_adapter->capabilities().cardUpdatesRepeat;
    im::ImJob *job = nullptr;
    if (!c.shown) {
        job = c.start.messageId.isEmpty()
            ? m_adapter->postCard(c.start.chatId, shown)
            : m_adapter->updateCard(c.start.chatId, c.start.messageId, c.start.replyToken, shown);
    } else if (repeat && !c.start.messageId.isEmpty()) {
        job = m_adapter->updateCard(c.start.chatId, c.start.messageId, {}, shown);
    } else if (last) {
        // The card cannot change again: the result follows as a message of its own.
        job = m_adapter->updateCard(c.start.followUpChatId, c.start.messageId, {}, shown);
    } else {
        return; // only the result is told
    }
    const bool first = !c.shown;
    c.shown = true;
    c.start.replyToken.clear();
    c.inFlight = true;
    c.lastSentMs = m_clock.elapsed();
    if (last && !first)
        c.finalSent = true;
    connect(job, &im::ImJob::finished, this, [this, id, shown](im::ImJob *j) {
        const auto found = m_cards.find(id);
        if (found == m_cards.end())
            return;
        Card &card = found->second;
        card.inFlight = false;
        if (j->hasError()) {
            qCWarning(lcBot, "%s deploy card %s: %s", qPrintable(m_adapter ? m_adapter->platform() : QString()),
                      qPrintable(card.start.card.cardId), qPrintable(j->error().toString()));
            if (card.start.messageId.isEmpty() && m_adapter && m_adapter->capabilities().cardUpdatesRepeat) {
                drop(id); // nothing to update later
                return;
            }
        } else {
            const QString messageId = j->result().messageId;
            if (!messageId.isEmpty() && m_adapter && m_adapter->capabilities().cardUpdatesRepeat)
                card.start.messageId = messageId;
            else if (card.start.messageId.isEmpty())
                card.start.messageId = messageId;
            Q_EMIT cardShown(card.start.chatId, card.start.messageId, shown);
        }
        if (card.finalSent) {
            Q_EMIT finished(card.start.chatId, card.start.messageId, shown.state);
            drop(id);
            return;
        }
        if (card.dirty || ended(card))
            schedule(id);
    });
}

void CardFollower::drop(int id)
{
    const auto it = m_cards.find(id);
    if (it == m_cards.end())
        return;
    it->second.timer->deleteLater();
    it->second.deadline->deleteLater();
    m_cards.erase(it);
}

} // namespace iterdeck::bot
