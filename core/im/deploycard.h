#pragma once

#include <QDateTime>
#include <QList>
#include <QString>

#include <optional>

namespace iterdeck::im {

// The deploy card in neutral form: what the bot shows for an environment, before any platform
// renders it (Slack Block Kit, Feishu interactive card, WeCom template_card, DingTalk actionCard).

struct BuildInfo
{
    QString id; // the artifact's identity the bot deploys by (tag or digest)
    QString tag; // shown to people
    QString commit; // short commit, may be empty
    QDateTime createdAt; // may be invalid
};

struct BranchChoice
{
    QString name;
    std::optional<BuildInfo> latest; // none: the branch has no build yet
};

struct CardComponent
{
    QString name;
    QList<BranchChoice> branches;
    QString selectedBranch; // what the environment follows now (or is about to)
    QString deployedBuild; // the build running now, may be empty
    QString status; // progress or result text for this component, may be empty
};

struct DeployCard
{
    enum class State { Choosing, Deploying, Succeeded, Failed };

    QString cardId; // the bot's identity of this card, carried in every action
    QString iteration;
    QString environment; // namespace
    QList<CardComponent> components;
    State state = State::Choosing;
    QString progress; // Deploying: what happens now
    QString result; // Succeeded / Failed: the outcome in one line
    QString requestedBy; // display name of who confirmed, once confirmed

    const CardComponent *component(const QString &name) const;
};

// One component's choice, as a card action carries it.
struct CardSelection
{
    QString component;
    QString branch;
    QString build; // BuildInfo::id, empty: the latest of the branch
    friend bool operator==(const CardSelection &, const CardSelection &) = default;
};

// What a click on a deploy card means, whatever the platform.
struct CardAction
{
    enum class Kind { Select, Confirm, Cancel };
    Kind kind = Kind::Select;
    QString cardId;
    QList<CardSelection> selections; // Select: one; Confirm: the ones the platform sends along (may be none)
    friend bool operator==(const CardAction &, const CardAction &) = default;
};

// The compact value a platform carries back for an action: "idk1|kind|card|component|branch|build",
// each field percent-encoded. At most 150 bytes fit a Slack option value; longer names are refused
// by encode (nullopt), never cut.
namespace cardvalue {
std::optional<QString> encode(CardAction::Kind kind, const QString &cardId, const CardSelection &selection = {});
std::optional<CardAction> decode(const QString &value);
constexpr int maxLength = 150;
} // namespace cardvalue

// Whether every action value of `card` fits (cardvalue::maxLength); the message names what does not.
std::optional<QString> cardProblem(const DeployCard &card);

// Texts shared by all renderers (translated).
namespace cardtext {
QString title(const DeployCard &card);
QString stateLine(const DeployCard &card);
QString buildLabel(const BranchChoice &branch);
QString confirmLabel();
QString cancelLabel();
QString choosePlaceholder();
QString noBuild();
} // namespace cardtext

} // namespace iterdeck::im
