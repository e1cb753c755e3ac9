#pragma once
// The bot's commands, one engine for chat and desktop: help, env, status, deploy, env create,
// branch, pin, follow, redeploy, members, destroy, confirm and cancel. Commands act on one
// iteration (the chat's, `--iteration KEY-or-id`, or the user's only open one); members of it and
// admins may run them, `destroy` is for admins. Side effects wait for "confirm TOKEN" from the same
// user (5 minutes), except on the desktop with `--yes`. Each user has a token bucket of commands.
// What each reply carries in `data`: docs/bot.md, "Chat commands".
#include "access.h"
#include "common/expected.h"
#include "im/deploycard.h"
#include "model/teammanifest.h"
#include "store.h"

#include <QHash>
#include <QJsonObject>
#include <QObject>

#include <functional>
#include <optional>

namespace iterdeck::bot {

class EnvironmentManager;

struct CommandContext
{
    Identity who; // from access.h: identify(manifest, user, tokenAdmin)
    qint64 iterationId = 0; // the chat's iteration (a group belongs to one); 0: none, then commands that need
                            // one take `--iteration KEY-or-id` or use the user's only open iteration
    QString channel; // "desktop" | "builtin" | later "slack", "feishu", ...
};

struct CommandReply
{
    bool ok = true;
    QString
        errorCode; // empty when ok; else usage | forbidden | not_found | rate_limited | conflict | unavailable | failed
    QString text; // what a person reads (plain text, a few lines; the usage text for usage errors)
    std::optional<im::DeployCard> card; // `deploy`, `branch`: the card to show
    QString confirmToken; // non-empty: a side effect waits for "confirm TOKEN" (or "cancel TOKEN") from the same user
    QJsonObject data; // the same result in structured form for the desktop (docs/bot.md)
    // The deploys this command or card action started: the environment and its components, for a
    // card that follows them (ImGateway). Empty when nothing was started.
    qint64 environmentId = 0;
    QStringList deploying;
};

// The card as JSON (the desktop's and the built-in channels' form of it).
QJsonObject deployCardToJson(const im::DeployCard &card);

class CommandEngine : public QObject
{
    Q_OBJECT

public:
    // `store` and `environments` are not owned. `environments` may be null: environment commands then
    // answer "unavailable" with "environments are disabled".
    CommandEngine(model::TeamManifest manifest, Store *store, EnvironmentManager *environments,
                  QObject *parent = nullptr);
    ~CommandEngine() override;

    CommandReply run(const CommandContext &context, const QString &text);
    // The deploy card of an environment: per component its branches (Store::branches) with their latest
    // artifacts, the current selection, the deployed build if known. cardId identifies the environment.
    Expected<im::DeployCard, QString> deployCard(qint64 environmentId);
    // Applies a confirmed card (selections by component: branch + optional build) for `who`: members only.
    // Select answers the card with that choice shown; Cancel answers the card unchanged.
    CommandReply applyCard(const CommandContext &context, const im::CardAction &action);
    void setRateLimit(int commands, int perSeconds); // default 10 per 10 s per user

    // The environment a card id names ("env-12"), 0 when it names none.
    static qint64 environmentOfCard(const QString &cardId);
    // The clock of rate limits and confirmations, in milliseconds (monotonic); tests set their own.
    void setClock(std::function<qint64()> nowMs);
    // How long a confirmation token is valid (default 300 s).
    void setConfirmationTimeout(int seconds);
    // The commands and their usage lines, in help order.
    static QList<std::pair<QString, QString>> usages();

private:
    struct Pending
    {
        QString user; // Identity::displayName of who asked
        qint64 expiresAtMs = 0;
        QString command;
        std::function<CommandReply()> apply;
    };
    struct Bucket
    {
        double tokens = 0;
        qint64 lastMs = 0;
    };
    struct Parsed;

    CommandReply dispatch(const CommandContext &context, Parsed &p);
    bool takeToken(const QString &user);
    CommandReply rateLimited() const;
    CommandReply confirmOrRun(const CommandContext &context, const Parsed &p, const QString &summary,
                              QJsonObject preview, std::function<CommandReply()> apply,
                              std::optional<im::DeployCard> card = std::nullopt);
    CommandReply confirm(const CommandContext &context, const Parsed &p, bool cancel);
    // Marks `reply` as having started the deploys of `components` and gives it the environment's
    // card in its deploying state.
    void withDeployCard(CommandReply &reply, qint64 environmentId, const QStringList &components, const QString &by);

    Expected<model::Iteration, CommandReply> iterationFor(const CommandContext &context, const Parsed &p);
    Expected<model::Environment, CommandReply> environmentFor(const model::Iteration &iteration);
    Expected<const model::ComponentSpec *, CommandReply> componentFor(const QString &nameOrRepo, const QString &usage);
    Expected<model::Artifact, QString> findBuild(const QString &component, const QString &build,
                                                 const QString &branch = {});

    CommandReply help(const Parsed &p);
    CommandReply env(const model::Iteration &it);
    CommandReply status(const model::Iteration &it);
    CommandReply deploy(const model::Iteration &it);
    CommandReply envCreate(const CommandContext &context, const Parsed &p, const model::Iteration &it);
    CommandReply branch(const CommandContext &context, const Parsed &p, const model::Iteration &it);
    CommandReply pin(const CommandContext &context, const Parsed &p, const model::Iteration &it);
    CommandReply follow(const CommandContext &context, const Parsed &p, const model::Iteration &it);
    CommandReply redeploy(const CommandContext &context, const Parsed &p, const model::Iteration &it);
    CommandReply members(const model::Iteration &it);
    CommandReply destroy(const CommandContext &context, const Parsed &p, const model::Iteration &it);

    model::TeamManifest m_manifest;
    Store *m_store;
    EnvironmentManager *m_environments;
    QHash<QString, Pending> m_pending; // by token
    QHash<QString, Bucket> m_buckets; // by user
    int m_rateCommands = 10;
    int m_ratePerSeconds = 10;
    int m_confirmSeconds = 300;
    std::function<qint64()> m_now;
};

} // namespace iterdeck::bot
