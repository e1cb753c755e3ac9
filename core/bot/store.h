#pragma once

#include "common/expected.h"
#include "model/artifact.h"
#include "model/environment.h"
#include "model/event.h"
#include "model/iteration.h"

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <functional>
#include <memory>
#include <optional>

namespace iterdeck::bot {

struct StoreError
{
    enum class Code {
        InvalidDsn, // the DSN cannot be used
        Unavailable, // the database cannot be opened or reached
        Migration, // the schema cannot be brought up to date
        Query, // a statement failed
        NotFound, // the addressed row does not exist
        Conflict, // a uniqueness rule was violated
    };
    Code code = Code::Query;
    QString message;
};

// Where the store lives: SQLite in a folder (the default) or PostgreSQL through a DSN.
struct StoreOptions
{
    // "postgresql://user:password@host:port/dbname?sslmode=require&connect_timeout=5",
    // "sqlite:///abs/path/bot.db", or empty for SQLite at dataDir/iterdeck-bot.db.
    QString dsn;
    QString dataDir;
};

// A webhook delivery, as recorded for dedupe.
struct DeliveryRecord
{
    QString source; // the hook's name (the /hooks/<name> segment)
    QString deliveryId;
    QString event; // the publisher's event name, for the record
    QDateTime receivedAt;
};

struct DesktopToken
{
    QString id;
    QString user;
    bool admin = false;
    QDateTime createdAt;
    QDateTime revokedAt; // invalid while valid
    friend bool operator==(const DesktopToken &, const DesktopToken &) = default;
};

// An iteration's group on an IM platform (the bot's own channels are platform "builtin").
struct ChatGroup
{
    qint64 iterationId = 0;
    QString platform;
    QString chatId;
    QStringList members; // the platform user ids the bot put in the group, sorted
    QString state = QStringLiteral("open"); // open | archived
    QDateTime createdAt;
    QDateTime archivedAt; // invalid while open
    friend bool operator==(const ChatGroup &, const ChatGroup &) = default;
};

struct NewToken
{
    DesktopToken token;
    QString secret; // the whole bearer token; shown once, never stored
};

// The writes of one transaction. Every method runs inside the open transaction; an error
// makes the whole transaction roll back.
class StoreTransaction
{
public:
    virtual ~StoreTransaction() = default;

    // False when (source, deliveryId) was recorded before: the delivery is a duplicate.
    virtual Expected<bool, StoreError> insertDelivery(const DeliveryRecord &delivery) = 0;
    // Creates the iteration, or reopens it and updates its name and url. Members are not touched.
    virtual Expected<model::Iteration, StoreError> openIteration(const QString &key, const QString &name,
                                                                 const QString &url, const QDateTime &at)
        = 0;
    // NotFound when there is no such iteration.
    virtual Expected<model::Iteration, StoreError> closeIteration(const QString &key, const QDateTime &at) = 0;
    virtual Expected<model::Iteration, StoreError> setMembers(const QString &key, const QStringList &members) = 0;
    virtual Expected<model::Artifact, StoreError> addArtifact(const model::Artifact &artifact) = 0;
    virtual Expected<model::Environment, StoreError> createEnvironment(const model::Environment &environment) = 0;
    virtual Expected<model::Environment, StoreError> setEnvironmentState(qint64 environmentId, const QString &state,
                                                                         const QDateTime &at)
        = 0;
    virtual Expected<model::Selection, StoreError> setSelection(const model::Selection &selection) = 0;
    // Creates or replaces the group of (iterationId, platform); createdAt is kept from the first save.
    virtual Expected<ChatGroup, StoreError> saveGroup(const ChatGroup &group) = 0;
    // Appends to the log; seq and `at` (when invalid) are filled in.
    virtual Expected<model::Event, StoreError> appendEvent(const model::Event &event) = 0;
};

// The bot's durable state. Writes go through transact(), which commits all or nothing.
// Not thread-safe: one Store per thread.
class Store
{
public:
    enum class Backend { Sqlite, Postgres };

    virtual ~Store() = default;

    // Opens the store named by `options` and brings its schema up to date.
    static Expected<std::unique_ptr<Store>, StoreError> open(const StoreOptions &options);

    virtual Backend backend() const = 0;
    // Where it is, without any password: "sqlite:/path" or "postgresql://user@host:port/db".
    virtual QString description() const = 0;
    virtual int schemaVersion() const = 0;
    // A round trip to the database.
    virtual Expected<bool, StoreError> ping() = 0;

    // Runs `work` in one transaction: commits when it returns true, rolls back when it returns
    // false or fails, or when the commit fails. The returned error is the first one met.
    virtual Expected<bool, StoreError>
    transact(const std::function<Expected<bool, StoreError>(StoreTransaction &tx)> &work) = 0;

    // Reads.
    virtual Expected<QList<model::Iteration>, StoreError> iterations() = 0;
    virtual Expected<std::optional<model::Iteration>, StoreError> iteration(const QString &key) = 0;
    // Newest first.
    virtual Expected<QList<model::Artifact>, StoreError> artifacts(const QString &component, const QString &branch,
                                                                   int limit = 50)
        = 0;
    virtual Expected<std::optional<model::Artifact>, StoreError> latestArtifact(const QString &component,
                                                                                const QString &branch)
        = 0;
    // The latest artifact of each branch of the component, newest first (artifacts without a
    // branch are left out).
    virtual Expected<QList<model::Artifact>, StoreError> branches(const QString &component) = 0;
    // NotFound when there is no artifact with this id.
    virtual Expected<model::Artifact, StoreError> artifact(qint64 id) = 0;
    virtual Expected<QList<model::Environment>, StoreError> environments() = 0;
    virtual Expected<QList<model::Selection>, StoreError> selections(qint64 environmentId) = 0;
    // Events with seq > afterSeq, in order, at most `limit`.
    virtual Expected<QList<model::Event>, StoreError> eventsAfter(qint64 afterSeq, int limit = 1000) = 0;
    virtual Expected<qint64, StoreError> lastEventSeq() = 0;
    // The environment's newest events of the given types (all types when empty), newest first.
    virtual Expected<QList<model::Event>, StoreError> environmentEvents(qint64 environmentId, const QStringList &types,
                                                                        int limit = 50)
        = 0;

    // IM groups of iterations, by iteration and platform.
    virtual Expected<QList<ChatGroup>, StoreError> groups() = 0;
    virtual Expected<std::optional<ChatGroup>, StoreError> group(qint64 iterationId, const QString &platform) = 0;
    virtual Expected<std::optional<ChatGroup>, StoreError> groupByChat(const QString &platform, const QString &chatId)
        = 0;
    virtual Expected<qint64, StoreError> deliveryCount() = 0;

    // Desktop tokens: only a hash of the secret is stored.
    virtual Expected<NewToken, StoreError> createToken(const QString &user, bool admin) = 0;
    // NotFound for an unknown id; revoking twice keeps the first time.
    virtual Expected<DesktopToken, StoreError> revokeToken(const QString &id) = 0;
    virtual Expected<QList<DesktopToken>, StoreError> tokens() = 0;
    // The valid (not revoked) token for a bearer secret, if any.
    virtual Expected<std::optional<DesktopToken>, StoreError> authenticate(const QString &bearer) = 0;
};

QString storeErrorCodeName(StoreError::Code code);

} // namespace iterdeck::bot
