#include "deploycard.h"

#include <QCoreApplication>
#include <QUrl>

namespace iterdeck::im {

const CardComponent *DeployCard::component(const QString &name) const
{
    for (const auto &c : components) {
        if (c.name == name)
            return &c;
    }
    return nullptr;
}

namespace cardvalue {

namespace {
QString enc(const QString &s)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(s, "/.-_~:@"));
}
QString dec(const QString &s)
{
    return QUrl::fromPercentEncoding(s.toLatin1());
}
} // namespace

std::optional<QString> encode(CardAction::Kind kind, const QString &cardId, const CardSelection &selection)
{
    const char *k = kind == CardAction::Kind::Select ? "s" : kind == CardAction::Kind::Confirm ? "c" : "x";
    const QString v = QStringLiteral("idk1|") + QLatin1String(k) + u'|' + enc(cardId) + u'|' + enc(selection.component)
        + u'|' + enc(selection.branch) + u'|' + enc(selection.build);
    if (v.size() > maxLength)
        return std::nullopt;
    return v;
}

std::optional<CardAction> decode(const QString &value)
{
    if (value.size() > maxLength * 3)
        return std::nullopt;
    const QStringList parts = value.split(u'|');
    if (parts.size() != 6 || parts[0] != u"idk1" || parts[2].isEmpty())
        return std::nullopt;
    CardAction a;
    if (parts[1] == u"s")
        a.kind = CardAction::Kind::Select;
    else if (parts[1] == u"c")
        a.kind = CardAction::Kind::Confirm;
    else if (parts[1] == u"x")
        a.kind = CardAction::Kind::Cancel;
    else
        return std::nullopt;
    a.cardId = dec(parts[2]);
    const CardSelection s {dec(parts[3]), dec(parts[4]), dec(parts[5])};
    if (a.kind == CardAction::Kind::Select && (s.component.isEmpty() || s.branch.isEmpty()))
        return std::nullopt;
    if (!s.component.isEmpty())
        a.selections.append(s);
    return a;
}

} // namespace cardvalue

std::optional<QString> cardProblem(const DeployCard &card)
{
    if (card.cardId.isEmpty())
        return QStringLiteral("the deploy card has no id");
    if (!cardvalue::encode(CardAction::Kind::Confirm, card.cardId))
        return QStringLiteral("the deploy card id \"%1\" is too long for a card action").arg(card.cardId);
    for (const auto &c : card.components) {
        for (const auto &b : c.branches) {
            const CardSelection s {c.name, b.name, b.latest ? b.latest->id : QString()};
            if (!cardvalue::encode(CardAction::Kind::Select, card.cardId, s)) {
                return QStringLiteral("component \"%1\", branch \"%2\": the names are too long for a card action "
                                      "(at most %3 bytes encoded)")
                    .arg(c.name, b.name)
                    .arg(cardvalue::maxLength);
            }
        }
    }
    return std::nullopt;
}

namespace cardtext {

QString title(const DeployCard &card)
{
    return QCoreApplication::translate("iterdeck::im::DeployCard", "Deploy to %1 (%2)")
        .arg(card.environment, card.iteration);
}

QString stateLine(const DeployCard &card)
{
    switch (card.state) {
    case DeployCard::State::Choosing:
        return QCoreApplication::translate("iterdeck::im::DeployCard",
                                           "Pick a branch for each component, then confirm.");
    case DeployCard::State::Deploying:
        return QCoreApplication::translate("iterdeck::im::DeployCard", "Deploying (confirmed by %1): %2")
            .arg(card.requestedBy, card.progress);
    case DeployCard::State::Succeeded:
        return QCoreApplication::translate("iterdeck::im::DeployCard", "Deployed: %1").arg(card.result);
    case DeployCard::State::Failed:
        return QCoreApplication::translate("iterdeck::im::DeployCard", "Deploy failed: %1").arg(card.result);
    }
    return {};
}

QString buildLabel(const BranchChoice &branch)
{
    if (!branch.latest)
        return branch.name + QStringLiteral(" · ") + noBuild();
    QString s = branch.name + QStringLiteral(" · ") + branch.latest->tag;
    if (!branch.latest->commit.isEmpty())
        s += QStringLiteral(" (") + branch.latest->commit + u')';
    return s;
}

QString confirmLabel()
{
    return QCoreApplication::translate("iterdeck::im::DeployCard", "Deploy");
}

QString cancelLabel()
{
    return QCoreApplication::translate("iterdeck::im::DeployCard", "Cancel");
}

QString choosePlaceholder()
{
    return QCoreApplication::translate("iterdeck::im::DeployCard", "Choose a branch");
}

QString noBuild()
{
    return QCoreApplication::translate("iterdeck::im::DeployCard", "no build yet");
}

} // namespace cardtext

} // namespace iterdeck::im
