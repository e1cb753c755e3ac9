// The two store backends, SQLite and PostgreSQL, over Qt SQL. They share the statements that
// both dialects understand (ON CONFLICT, RETURNING) and differ in connection setup, schema types,
// how a write transaction starts and how migrations are serialised between processes.
#include "store.h"

#include "crypto.h"
#include "logging.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>
#include <QUrlQuery>
#include <QUuid>

namespace iterdeck::bot {

QString storeErrorCodeName(StoreError::Code code)
{
    switch (code) {
    case StoreError::Code::InvalidDsn:
        return QStringLiteral("invalid-dsn");
    case StoreError::Code::Unavailable:
        return QStringLiteral("unavailable");
    case StoreError::Code::Migration:
        return QStringLiteral("migration");
    case StoreError::Code::Query:
        return QStringLiteral("query");
    case StoreError::Code::NotFound:
        return QStringLiteral("not-found");
    case StoreError::Code::Conflict:
        return QStringLiteral("conflict");
    }
    return {};
}

namespace {

using Backend = Store::Backend;

StoreError makeError(StoreError::Code code, const QString &message)
{
    return StoreError {code, message};
}

bool isUniqueViolation(const QSqlError &e)
{
    const QString c = e.nativeErrorCode();
    // PostgreSQL unique_violation; SQLite SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY / SQLITE_CONSTRAINT.
    return c == QLatin1String("23505") || c == QLatin1String("2067") || c == QLatin1String("1555")
        || c == QLatin1String("19");
}

QDateTime fromMs(const QVariant &v)
{
    if (v.isNull())
        return {};
    return QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

QDateTime nowUtc()
{
    return QDateTime::currentDateTimeUtc();
}

struct Migration
{
    int version;
    QStringList statements;
};

// Schema, version by version. Never edit a released version: add the next one.
QList<Migration> migrations(Backend backend)
{
    const bool pg = backend == Backend::Postgres;
    const QString id
        = pg ? QStringLiteral("BIGSERIAL PRIMARY KEY") : QStringLiteral("INTEGER PRIMARY KEY AUTOINCREMENT");
    QList<Migration> list;
    list.append({1,
                 {
                     QStringLiteral("CREATE TABLE deliveries (id %1, source TEXT NOT NULL, delivery_id TEXT NOT NULL, "
                                    "event TEXT NOT NULL, received_at BIGINT NOT NULL, "
                                    "UNIQUE (source, delivery_id))")
                         .arg(id),
                     QStringLiteral("CREATE TABLE iterations (id %1, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, "
                                    "url TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, started_at BIGINT NOT NULL, "
                                    "closed_at BIGINT)")
                         .arg(id),
                     QStringLiteral("CREATE TABLE members (iteration_id BIGINT NOT NULL REFERENCES iterations(id) "
                                    "ON DELETE CASCADE, member TEXT NOT NULL, PRIMARY KEY (iteration_id, member))"),
                     QStringLiteral("CREATE TABLE environments (id %1, iteration_id BIGINT NOT NULL REFERENCES "
                                    "iterations(id), namespace TEXT NOT NULL UNIQUE, domain TEXT NOT NULL DEFAULT '', "
                                    "state TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)")
                         .arg(id),
                     QStringLiteral("CREATE TABLE artifacts (id %1, component TEXT NOT NULL, branch TEXT NOT NULL, "
                                    "build TEXT NOT NULL DEFAULT '', commit_sha TEXT NOT NULL DEFAULT '', "
                                    "image_tag TEXT NOT NULL DEFAULT '', digest TEXT NOT NULL DEFAULT '', "
                                    "chart_version TEXT NOT NULL DEFAULT '', published_at BIGINT NOT NULL, "
                                    "link TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '')")
                         .arg(id),
                     QStringLiteral("CREATE INDEX artifacts_by_branch ON artifacts (component, branch, id)"),
                     QStringLiteral("CREATE TABLE selections (environment_id BIGINT NOT NULL REFERENCES "
                                    "environments(id) ON DELETE CASCADE, component TEXT NOT NULL, mode TEXT NOT NULL, "
                                    "branch TEXT NOT NULL DEFAULT '', artifact_id BIGINT REFERENCES artifacts(id), "
                                    "updated_by TEXT NOT NULL DEFAULT '', updated_at BIGINT NOT NULL, "
                                    "PRIMARY KEY (environment_id, component))"),
                     QStringLiteral("CREATE TABLE tokens (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, "
                                    "admin INTEGER NOT NULL, secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL, "
                                    "revoked_at BIGINT)"),
                     // One row per counter; appending an event locks the row until commit, so
                     // sequence order is commit order on both backends.
                     QStringLiteral("CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)"),
                     QStringLiteral("INSERT INTO counters (name, value) VALUES ('event_seq', 0)"),
                     QStringLiteral("CREATE TABLE events (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, type TEXT NOT "
                                    "NULL, iteration_id BIGINT, environment_id BIGINT, payload TEXT NOT NULL)"),
                 }});
    list.append({2,
                 {
                     // One group per iteration and IM platform; members as a JSON array of platform ids.
                     QStringLiteral("CREATE TABLE chat_groups (iteration_id BIGINT NOT NULL REFERENCES iterations(id) "
                                    "ON DELETE CASCADE, platform TEXT NOT NULL, chat_id TEXT NOT NULL, "
                                    "members TEXT NOT NULL DEFAULT '[]', state TEXT NOT NULL, "
                                    "created_at BIGINT NOT NULL, archived_at BIGINT, "
                                    "PRIMARY KEY (iteration_id, platform), UNIQUE (platform, chat_id))"),
                     QStringLiteral("CREATE INDEX events_by_environment ON events (environment_id, seq)"),
                 }});
    return list;
}

struct Dsn
{
    Backend backend = Backend::Sqlite;
    QString sqlitePath;
    QString host, user, password, database, options;
    int port = 5432;
};

Expected<Dsn, StoreError> parseDsn(const StoreOptions &options)
{
    Dsn d;
    if (options.dsn.isEmpty()) {
        if (options.dataDir.isEmpty())
            return unexpected(makeError(StoreError::Code::InvalidDsn, QStringLiteral("no data directory and no DSN")));
        d.sqlitePath = QDir(options.dataDir).absoluteFilePath(QStringLiteral("iterdeck-bot.db"));
        return d;
    }
    const QUrl url(options.dsn, QUrl::StrictMode);
    const QString scheme = url.scheme();
    if (!url.isValid() || scheme.isEmpty()) {
        return unexpected(makeError(StoreError::Code::InvalidDsn,
                                    QStringLiteral("store DSN is not a URL; write postgresql://USER@HOST:PORT/DB "
                                                   "or sqlite:///PATH")));
    }
    if (scheme == QLatin1String("sqlite")) {
        if (url.path().isEmpty() || !url.host().isEmpty()) {
            return unexpected(makeError(StoreError::Code::InvalidDsn,
                                        QStringLiteral("a sqlite DSN needs an absolute path: sqlite:///PATH")));
        }
        d.sqlitePath = url.path();
        return d;
    }
    if (scheme != QLatin1String("postgresql") && scheme != QLatin1String("postgres")) {
        return unexpected(
            makeError(StoreError::Code::InvalidDsn,
                      QStringLiteral("unsupported store scheme \"%1\"; use postgresql:// or sqlite://").arg(scheme)));
    }
    d.backend = Backend::Postgres;
    d.host = url.host();
    d.port = url.port(5432);
    d.user = url.userName();
    d.password = url.password();
    d.database = url.path().mid(1);
    if (d.host.isEmpty() || d.database.isEmpty() || d.database.contains(u'/')) {
        return unexpected(makeError(StoreError::Code::InvalidDsn,
                                    QStringLiteral("a postgresql DSN needs a host and a database name: "
                                                   "postgresql://USER@HOST:PORT/DB")));
    }
    static const QStringList allowed {QStringLiteral("sslmode"),
                                      QStringLiteral("connect_timeout"),
                                      QStringLiteral("sslrootcert"),
                                      QStringLiteral("sslcert"),
                                      QStringLiteral("sslkey"),
                                      QStringLiteral("application_name"),
                                      QStringLiteral("target_session_attrs")};
    QStringList opts;
    const auto items = QUrlQuery(url).queryItems(QUrl::FullyDecoded);
    for (const auto &[k, v] : items) {
        if (!allowed.contains(k)) {
            return unexpected(makeError(StoreError::Code::InvalidDsn,
                                        QStringLiteral("unknown postgresql DSN parameter \"%1\"; known: %2")
                                            .arg(k, allowed.join(QStringLiteral(", ")))));
        }
        if (v.contains(u';')) {
            return unexpected(makeError(StoreError::Code::InvalidDsn,
                                        QStringLiteral("postgresql DSN parameter \"%1\" must not contain ';'").arg(k)));
        }
        opts.append(k + u'=' + v);
    }
    d.options = opts.join(u';');
    return d;
}

class SqlStore;

class SqlTransaction final : public StoreTransaction
{
public:
    explicit SqlTransaction(SqlStore &store)
        : m_store(store)
    { }

    Expected<bool, StoreError> insertDelivery(const DeliveryRecord &delivery) override;
    Expected<model::Iteration, StoreError> openIteration(const QString &key, const QString &name, const QString &url,
                                                         const QDateTime &at) override;
    Expected<model::Iteration, StoreError> closeIteration(const QString &key, const QDateTime &at) override;
    Expected<model::Iteration, StoreError> setMembers(const QString &key, const QStringList &members) override;
    Expected<model::Artifact, StoreError> addArtifact(const model::Artifact &artifact) override;
    Expected<model::Environment, StoreError> createEnvironment(const model::Environment &environment) override;
    Expected<model::Environment, StoreError> setEnvironmentState(qint64 environmentId, const QString &state,
                                                                 const QDateTime &at) override;
    Expected<model::Selection, StoreError> setSelection(const model::Selection &selection) override;
    Expected<ChatGroup, StoreError> saveGroup(const ChatGroup &group) override;
    Expected<model::Event, StoreError> appendEvent(const model::Event &event) override;

private:
    SqlStore &m_store;
};

class SqlStore final : public Store
{
public:
    SqlStore(Dsn dsn, QString connection)
        : m_dsn(std::move(dsn))
        , m_connection(std::move(connection))
    { }

    ~SqlStore() override
    {
        {
            QSqlDatabase db = QSqlDatabase::database(m_connection, false);
            if (db.isValid())
                db.close();
        }
        QSqlDatabase::removeDatabase(m_connection);
    }

    Expected<bool, StoreError> openAndMigrate()
    {
        const bool pg = m_dsn.backend == Backend::Postgres;
        QSqlDatabase db
            = QSqlDatabase::addDatabase(pg ? QStringLiteral("QPSQL") : QStringLiteral("QSQLITE"), m_connection);
        if (!db.isValid()) {
            return unexpected(makeError(StoreError::Code::Unavailable,
                                        QStringLiteral("the Qt SQL driver %1 is not installed")
                                            .arg(pg ? QStringLiteral("QPSQL") : QStringLiteral("QSQLITE"))));
        }
        if (pg) {
            db.setHostName(m_dsn.host);
            db.setPort(m_dsn.port);
            db.setUserName(m_dsn.user);
            db.setPassword(m_dsn.password);
            db.setDatabaseName(m_dsn.database);
            db.setConnectOptions(m_dsn.options);
        } else {
            const QFileInfo fi(m_dsn.sqlitePath);
            if (!QDir().mkpath(fi.absolutePath())) {
                return unexpected(
                    makeError(StoreError::Code::Unavailable,
                              QStringLiteral("cannot create the data directory %1").arg(fi.absolutePath())));
            }
            db.setDatabaseName(m_dsn.sqlitePath);
            db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=10000"));
        }
        if (!db.open()) {
            return unexpected(
                makeError(StoreError::Code::Unavailable,
                          QStringLiteral("cannot open the store %1: %2").arg(description(), db.lastError().text())));
        }
        if (pg) {
            // "relation already exists, skipping" and the like are not worth a line on stderr.
            if (auto r = exec(QStringLiteral("SET client_min_messages TO WARNING"), {}); !r)
                return unexpected(r.error());
        }
        if (!pg) {
            // WAL: readers never block the writer; synchronous=FULL: an acknowledged webhook
            // survives a power cut, not only a crash.
            auto mode = scalar(QStringLiteral("PRAGMA journal_mode=WAL"), {});
            if (!mode)
                return unexpected(mode.error());
            if (mode->toString().compare(QLatin1String("wal"), Qt::CaseInsensitive) != 0) {
                return unexpected(makeError(StoreError::Code::Unavailable,
                                            QStringLiteral("SQLite refused WAL mode for %1 (journal mode is \"%2\")")
                                                .arg(m_dsn.sqlitePath, mode->toString())));
            }
            for (const char *pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
                auto r = exec(QLatin1String(pragma), {});
                if (!r)
                    return unexpected(r.error());
            }
        }
        return migrate();
    }

    Backend backend() const override { return m_dsn.backend; }

    QString description() const override
    {
        if (m_dsn.backend == Backend::Sqlite)
            return QStringLiteral("sqlite:") + m_dsn.sqlitePath;
        return QStringLiteral("postgresql://%1%2:%3/%4")
            .arg(m_dsn.user.isEmpty() ? QString() : m_dsn.user + u'@', m_dsn.host)
            .arg(m_dsn.port)
            .arg(m_dsn.database);
    }

    int schemaVersion() const override { return m_schemaVersion; }

    Expected<bool, StoreError> ping() override
    {
        auto r = scalar(QStringLiteral("SELECT 1"), {});
        if (r)
            return true;
        if (m_dsn.backend == Backend::Postgres) {
            // The server may have restarted: one reconnect.
            QSqlDatabase db = database();
            db.close();
            if (db.open() && scalar(QStringLiteral("SELECT 1"), {}))
                return true;
        }
        return unexpected(r.error());
    }

    Expected<bool, StoreError>
    transact(const std::function<Expected<bool, StoreError>(StoreTransaction &)> &work) override
    {
        if (m_inTransaction)
            return unexpected(makeError(StoreError::Code::Query, QStringLiteral("transactions do not nest")));
        auto begun
            = exec(m_dsn.backend == Backend::Sqlite ? QStringLiteral("BEGIN IMMEDIATE") : QStringLiteral("BEGIN"), {});
        if (!begun && m_dsn.backend == Backend::Postgres && ping())
            begun = exec(QStringLiteral("BEGIN"), {});
        if (!begun)
            return unexpected(begun.error());
        m_inTransaction = true;
        SqlTransaction tx(*this);
        auto result = work(tx);
        if (result && *result) {
            auto committed = exec(QStringLiteral("COMMIT"), {});
            m_inTransaction = false;
            if (!committed) {
                exec(QStringLiteral("ROLLBACK"), {});
                return unexpected(committed.error());
            }
            return true;
        }
        exec(QStringLiteral("ROLLBACK"), {});
        m_inTransaction = false;
        if (!result)
            return unexpected(result.error());
        return false;
    }

    Expected<QList<model::Iteration>, StoreError> iterations() override
    {
        auto q = exec(QStringLiteral("SELECT id, key, name, url, state, started_at, closed_at FROM iterations "
                                     "ORDER BY id"),
                      {});
        if (!q)
            return unexpected(q.error());
        QList<model::Iteration> out;
        while (q->next())
            out.append(iterationFromRow(*q));
        for (auto &it : out) {
            auto m = members(it.id);
            if (!m)
                return unexpected(m.error());
            it.members = *m;
        }
        return out;
    }

    Expected<std::optional<model::Iteration>, StoreError> iteration(const QString &key) override
    {
        auto q = exec(QStringLiteral("SELECT id, key, name, url, state, started_at, closed_at FROM iterations "
                                     "WHERE key = ?"),
                      {key});
        if (!q)
            return unexpected(q.error());
        if (!q->next())
            return std::optional<model::Iteration>();
        model::Iteration it = iterationFromRow(*q);
        auto m = members(it.id);
        if (!m)
            return unexpected(m.error());
        it.members = *m;
        return std::optional<model::Iteration>(it);
    }

    Expected<QList<model::Artifact>, StoreError> artifacts(const QString &component, const QString &branch,
                                                           int limit) override
    {
        auto q = exec(QStringLiteral("SELECT %1 FROM artifacts WHERE component = ? AND branch = ? ORDER BY id DESC "
                                     "LIMIT ?")
                          .arg(artifactColumns()),
                      {component, branch, limit});
        if (!q)
            return unexpected(q.error());
        QList<model::Artifact> out;
        while (q->next())
            out.append(artifactFromRow(*q));
        return out;
    }

    Expected<std::optional<model::Artifact>, StoreError> latestArtifact(const QString &component,
                                                                        const QString &branch) override
    {
        auto list = artifacts(component, branch, 1);
        if (!list)
            return unexpected(list.error());
        if (list->isEmpty())
            return std::optional<model::Artifact>();
        return std::optional<model::Artifact>(list->constFirst());
    }

    Expected<QList<model::Artifact>, StoreError> branches(const QString &component) override
    {
        auto q = exec(QStringLiteral("SELECT %1 FROM artifacts WHERE id IN (SELECT MAX(id) FROM artifacts WHERE "
                                     "component = ? AND branch <> '' GROUP BY branch) ORDER BY id DESC")
                          .arg(artifactColumns()),
                      {component});
        if (!q)
            return unexpected(q.error());
        QList<model::Artifact> out;
        while (q->next())
            out.append(artifactFromRow(*q));
        return out;
    }

    Expected<model::Artifact, StoreError> artifact(qint64 id) override
    {
        auto q = exec(QStringLiteral("SELECT %1 FROM artifacts WHERE id = ?").arg(artifactColumns()), {id});
        if (!q)
            return unexpected(q.error());
        if (!q->next())
            return unexpected(makeError(StoreError::Code::NotFound, QStringLiteral("no artifact %1").arg(id)));
        return artifactFromRow(*q);
    }

    Expected<QList<model::Environment>, StoreError> environments() override
    {
        auto q = exec(QStringLiteral("SELECT id, iteration_id, namespace, domain, state, created_at, updated_at FROM "
                                     "environments ORDER BY id"),
                      {});
        if (!q)
            return unexpected(q.error());
        QList<model::Environment> out;
        while (q->next())
            out.append(environmentFromRow(*q));
        return out;
    }

    Expected<QList<model::Selection>, StoreError> selections(qint64 environmentId) override
    {
        auto q = exec(QStringLiteral("SELECT environment_id, component, mode, branch, artifact_id, updated_by, "
                                     "updated_at FROM selections WHERE environment_id = ? ORDER BY component"),
                      {environmentId});
        if (!q)
            return unexpected(q.error());
        QList<model::Selection> out;
        while (q->next())
            out.append(selectionFromRow(*q));
        return out;
    }

    Expected<QList<model::Event>, StoreError> eventsAfter(qint64 afterSeq, int limit) override
    {
        auto q = exec(QStringLiteral("SELECT seq, at, type, iteration_id, environment_id, payload FROM events "
                                     "WHERE seq > ? ORDER BY seq LIMIT ?"),
                      {afterSeq, limit});
        if (!q)
            return unexpected(q.error());
        QList<model::Event> out;
        while (q->next()) {
            model::Event e;
            e.seq = q->value(0).toLongLong();
            e.at = fromMs(q->value(1));
            e.type = q->value(2).toString();
            e.iterationId = q->value(3).toLongLong();
            e.environmentId = q->value(4).toLongLong();
            e.payload = QJsonDocument::fromJson(q->value(5).toString().toUtf8()).object();
            out.append(e);
        }
        return out;
    }

    Expected<qint64, StoreError> lastEventSeq() override
    {
        auto v = scalar(QStringLiteral("SELECT value FROM counters WHERE name = 'event_seq'"), {});
        if (!v)
            return unexpected(v.error());
        return v->toLongLong();
    }

    Expected<QList<model::Event>, StoreError> environmentEvents(qint64 environmentId, const QStringList &types,
                                                                int limit) override
    {
        QString sql = QStringLiteral("SELECT seq, at, type, iteration_id, environment_id, payload FROM events "
                                     "WHERE environment_id = ?");
        QVariantList binds {environmentId};
        if (!types.isEmpty()) {
            QStringList marks;
            for (const QString &t : types) {
                marks.append(QStringLiteral("?"));
                binds.append(t);
            }
            sql += QStringLiteral(" AND type IN (") + marks.join(u',') + u')';
        }
        sql += QStringLiteral(" ORDER BY seq DESC LIMIT ?");
        binds.append(limit);
        auto q = exec(sql, binds);
        if (!q)
            return unexpected(q.error());
        QList<model::Event> out;
        while (q->next())
            out.append(eventFromRow(*q));
        return out;
    }

    Expected<QList<ChatGroup>, StoreError> groups() override
    {
        auto q = exec(QStringLiteral("SELECT %1 FROM chat_groups ORDER BY iteration_id, platform").arg(groupColumns()),
                      {});
        if (!q)
            return unexpected(q.error());
        QList<ChatGroup> out;
        while (q->next())
            out.append(groupFromRow(*q));
        return out;
    }

    Expected<std::optional<ChatGroup>, StoreError> group(qint64 iterationId, const QString &platform) override
    {
        auto q = exec(
            QStringLiteral("SELECT %1 FROM chat_groups WHERE iteration_id = ? AND platform = ?").arg(groupColumns()),
            {iterationId, platform});
        if (!q)
            return unexpected(q.error());
        if (!q->next())
            return std::optional<ChatGroup>();
        return std::optional<ChatGroup>(groupFromRow(*q));
    }

    Expected<std::optional<ChatGroup>, StoreError> groupByChat(const QString &platform, const QString &chatId) override
    {
        auto q
            = exec(QStringLiteral("SELECT %1 FROM chat_groups WHERE platform = ? AND chat_id = ?").arg(groupColumns()),
                   {platform, chatId});
        if (!q)
            return unexpected(q.error());
        if (!q->next())
            return std::optional<ChatGroup>();
        return std::optional<ChatGroup>(groupFromRow(*q));
    }

    Expected<qint64, StoreError> deliveryCount() override
    {
        auto v = scalar(QStringLiteral("SELECT COUNT(*) FROM deliveries"), {});
        if (!v)
            return unexpected(v.error());
        return v->toLongLong();
    }

    Expected<NewToken, StoreError> createToken(const QString &user, bool admin) override
    {
        if (user.trimmed().isEmpty())
            return unexpected(makeError(StoreError::Code::Query, QStringLiteral("a token needs a user name")));
        NewToken t;
        t.token.id = QString::fromLatin1(randomBytes(6).toHex());
        t.token.user = user;
        t.token.admin = admin;
        t.token.createdAt = QDateTime::fromMSecsSinceEpoch(nowUtc().toMSecsSinceEpoch(), Qt::UTC);
        t.secret = QStringLiteral("idt_") + t.token.id + u'_'
            + QString::fromLatin1(
                       randomBytes(32).toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
        auto q = exec(QStringLiteral("INSERT INTO tokens (id, user_name, admin, secret_hash, created_at) "
                                     "VALUES (?, ?, ?, ?, ?)"),
                      {t.token.id, user, admin ? 1 : 0, QString::fromLatin1(sha256Hex(t.secret.toUtf8())),
                       t.token.createdAt.toMSecsSinceEpoch()});
        if (!q)
            return unexpected(q.error());
        return t;
    }

    Expected<DesktopToken, StoreError> revokeToken(const QString &id) override
    {
        auto q = exec(QStringLiteral("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
                      {nowUtc().toMSecsSinceEpoch(), id});
        if (!q)
            return unexpected(q.error());
        auto all = tokens();
        if (!all)
            return unexpected(all.error());
        for (const auto &t : std::as_const(*all)) {
            if (t.id == id)
                return t;
        }
        return unexpected(makeError(StoreError::Code::NotFound, QStringLiteral("no token with id \"%1\"").arg(id)));
    }

    Expected<QList<DesktopToken>, StoreError> tokens() override
    {
        auto q = exec(QStringLiteral("SELECT id, user_name, admin, created_at, revoked_at FROM tokens "
                                     "ORDER BY created_at, id"),
                      {});
        if (!q)
            return unexpected(q.error());
        QList<DesktopToken> out;
        while (q->next())
            out.append(tokenFromRow(*q));
        return out;
    }

    Expected<std::optional<DesktopToken>, StoreError> authenticate(const QString &bearer) override
    {
        // idt_<12 hex>_<secret>
        const QStringList parts = bearer.split(u'_');
        if (parts.size() < 3 || parts.constFirst() != QLatin1String("idt") || parts.at(1).size() != 12)
            return std::optional<DesktopToken>();
        auto q = exec(QStringLiteral("SELECT id, user_name, admin, created_at, revoked_at, secret_hash FROM tokens "
                                     "WHERE id = ?"),
                      {parts.at(1)});
        if (!q)
            return unexpected(q.error());
        if (!q->next())
            return std::optional<DesktopToken>();
        const DesktopToken t = tokenFromRow(*q);
        const QByteArray stored = q->value(5).toString().toLatin1();
        if (!constantTimeEquals(stored, sha256Hex(bearer.toUtf8())) || t.revokedAt.isValid())
            return std::optional<DesktopToken>();
        return std::optional<DesktopToken>(t);
    }

    // Helpers used by SqlTransaction.
    QSqlDatabase database() const { return QSqlDatabase::database(m_connection, false); }

    Expected<QSqlQuery, StoreError> exec(const QString &sql, const QVariantList &binds)
    {
        QSqlQuery q(database());
        q.setForwardOnly(true);
        if (binds.isEmpty()) {
            // Plain execution: PostgreSQL cannot PREPARE transaction control statements.
            if (!q.exec(sql))
                return unexpected(queryError(q.lastError(), sql));
            return q;
        }
        if (!q.prepare(sql))
            return unexpected(queryError(q.lastError(), sql));
        for (const QVariant &v : binds) {
            // Text columns are NOT NULL: a null QString is stored as an empty one.
            if (v.metaType() == QMetaType::fromType<QString>() && v.toString().isNull())
                q.addBindValue(QString::fromLatin1(""));
            else
                q.addBindValue(v);
        }
        if (!q.exec())
            return unexpected(queryError(q.lastError(), sql));
        return q;
    }

    Expected<QVariant, StoreError> scalar(const QString &sql, const QVariantList &binds)
    {
        auto q = exec(sql, binds);
        if (!q)
            return unexpected(q.error());
        if (!q->next())
            return unexpected(makeError(StoreError::Code::NotFound, QStringLiteral("no row from: %1").arg(sql)));
        return q->value(0);
    }

    StoreError queryError(const QSqlError &e, const QString &sql) const
    {
        qCDebug(lcBot, "store statement failed: %s: %s", qPrintable(sql), qPrintable(e.text()));
        if (isUniqueViolation(e))
            return makeError(StoreError::Code::Conflict, e.text());
        const bool lost = e.type() == QSqlError::ConnectionError || !database().isOpen();
        return makeError(lost ? StoreError::Code::Unavailable : StoreError::Code::Query,
                         QStringLiteral("%1 (in: %2)").arg(e.text(), sql.left(120)));
    }

    Expected<QStringList, StoreError> members(qint64 iterationId)
    {
        auto q
            = exec(QStringLiteral("SELECT member FROM members WHERE iteration_id = ? ORDER BY member"), {iterationId});
        if (!q)
            return unexpected(q.error());
        QStringList out;
        while (q->next())
            out.append(q->value(0).toString());
        return out;
    }

    static model::Iteration iterationFromRow(const QSqlQuery &q)
    {
        model::Iteration it;
        it.id = q.value(0).toLongLong();
        it.key = q.value(1).toString();
        it.name = q.value(2).toString();
        it.url = q.value(3).toString();
        it.state = q.value(4).toString() == QLatin1String("closed") ? model::Iteration::State::Closed
                                                                    : model::Iteration::State::Open;
        it.startedAt = fromMs(q.value(5));
        it.closedAt = fromMs(q.value(6));
        return it;
    }

    static QString artifactColumns()
    {
        return QStringLiteral("id, component, branch, build, commit_sha, image_tag, digest, chart_version, "
                              "published_at, link, source");
    }

    static model::Artifact artifactFromRow(const QSqlQuery &q)
    {
        model::Artifact a;
        a.id = q.value(0).toLongLong();
        a.component = q.value(1).toString();
        a.branch = q.value(2).toString();
        a.build = q.value(3).toString();
        a.commit = q.value(4).toString();
        a.imageTag = q.value(5).toString();
        a.digest = q.value(6).toString();
        a.chartVersion = q.value(7).toString();
        a.publishedAt = fromMs(q.value(8));
        a.link = q.value(9).toString();
        a.source = q.value(10).toString();
        return a;
    }

    static model::Environment environmentFromRow(const QSqlQuery &q)
    {
        model::Environment e;
        e.id = q.value(0).toLongLong();
        e.iterationId = q.value(1).toLongLong();
        e.nameSpace = q.value(2).toString();
        e.domain = q.value(3).toString();
        e.state = q.value(4).toString();
        e.createdAt = fromMs(q.value(5));
        e.updatedAt = fromMs(q.value(6));
        return e;
    }

    static model::Selection selectionFromRow(const QSqlQuery &q)
    {
        model::Selection s;
        s.environmentId = q.value(0).toLongLong();
        s.component = q.value(1).toString();
        s.mode = q.value(2).toString() == QLatin1String("pin") ? model::Selection::Mode::Pin
                                                               : model::Selection::Mode::Follow;
        s.branch = q.value(3).toString();
        s.artifactId = q.value(4).toLongLong();
        s.updatedBy = q.value(5).toString();
        s.updatedAt = fromMs(q.value(6));
        return s;
    }

    static model::Event eventFromRow(const QSqlQuery &q)
    {
        model::Event e;
        e.seq = q.value(0).toLongLong();
        e.at = fromMs(q.value(1));
        e.type = q.value(2).toString();
        e.iterationId = q.value(3).toLongLong();
        e.environmentId = q.value(4).toLongLong();
        e.payload = QJsonDocument::fromJson(q.value(5).toString().toUtf8()).object();
        return e;
    }

    static QString groupColumns()
    {
        return QStringLiteral("iteration_id, platform, chat_id, members, state, created_at, archived_at");
    }

    static ChatGroup groupFromRow(const QSqlQuery &q)
    {
        ChatGroup g;
        g.iterationId = q.value(0).toLongLong();
        g.platform = q.value(1).toString();
        g.chatId = q.value(2).toString();
        for (const QJsonValue &v : QJsonDocument::fromJson(q.value(3).toString().toUtf8()).array())
            g.members.append(v.toString());
        g.state = q.value(4).toString();
        g.createdAt = fromMs(q.value(5));
        g.archivedAt = fromMs(q.value(6));
        return g;
    }

    static DesktopToken tokenFromRow(const QSqlQuery &q)
    {
        DesktopToken t;
        t.id = q.value(0).toString();
        t.user = q.value(1).toString();
        t.admin = q.value(2).toLongLong() != 0;
        t.createdAt = fromMs(q.value(3));
        t.revokedAt = fromMs(q.value(4));
        return t;
    }

private:
    Expected<bool, StoreError> migrate()
    {
        const bool pg = m_dsn.backend == Backend::Postgres;
        auto fail = [this](const QString &what) {
            exec(QStringLiteral("ROLLBACK"), {});
            return unexpected(makeError(StoreError::Code::Migration, what));
        };
        auto begun = exec(pg ? QStringLiteral("BEGIN") : QStringLiteral("BEGIN IMMEDIATE"), {});
        if (!begun)
            return unexpected(makeError(StoreError::Code::Migration, begun.error().message));
        if (pg) {
            // Several replicas may start at once: one migrates, the others wait and then see it done.
            if (auto r = exec(QStringLiteral("SELECT pg_advisory_xact_lock(7243901)"), {}); !r)
                return fail(r.error().message);
        }
        if (auto r = exec(QStringLiteral("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                                         "applied_at BIGINT NOT NULL)"),
                          {});
            !r)
            return fail(r.error().message);
        auto current = scalar(QStringLiteral("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"), {});
        if (!current)
            return fail(current.error().message);
        int version = current->toInt();
        const QList<Migration> all = migrations(m_dsn.backend);
        const int latest = all.isEmpty() ? 0 : all.constLast().version;
        if (version > latest) {
            return fail(QStringLiteral("the store's schema is version %1, newer than this program knows (%2); "
                                       "run a newer iterdeck-bot")
                            .arg(version)
                            .arg(latest));
        }
        for (const Migration &m : all) {
            if (m.version <= version)
                continue;
            for (const QString &sql : m.statements) {
                if (auto r = exec(sql, {}); !r)
                    return fail(QStringLiteral("migration %1 failed: %2").arg(m.version).arg(r.error().message));
            }
            if (auto r = exec(QStringLiteral("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
                              {m.version, nowUtc().toMSecsSinceEpoch()});
                !r)
                return fail(r.error().message);
            qCInfo(lcBot, "store %s: applied migration %d", qPrintable(description()), m.version);
            version = m.version;
        }
        if (auto r = exec(QStringLiteral("COMMIT"), {}); !r)
            return unexpected(makeError(StoreError::Code::Migration, r.error().message));
        m_schemaVersion = version;
        return true;
    }

    Dsn m_dsn;
    QString m_connection;
    int m_schemaVersion = 0;
    bool m_inTransaction = false;

    friend class SqlTransaction;
};

Expected<bool, StoreError> SqlTransaction::insertDelivery(const DeliveryRecord &delivery)
{
    auto q
        = m_store.exec(QStringLiteral("INSERT INTO deliveries (source, delivery_id, event, received_at) "
                                      "VALUES (?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id"),
                       {delivery.source, delivery.deliveryId, delivery.event,
                        (delivery.receivedAt.isValid() ? delivery.receivedAt : nowUtc()).toMSecsSinceEpoch()});
    if (!q)
        return unexpected(q.error());
    return q->next();
}

Expected<model::Iteration, StoreError> SqlTransaction::openIteration(const QString &key, const QString &name,
                                                                     const QString &url, const QDateTime &at)
{
    const qint64 when = (at.isValid() ? at : nowUtc()).toMSecsSinceEpoch();
    // A reopened iteration keeps its first start time.
    auto q = m_store.exec(QStringLiteral("INSERT INTO iterations (key, name, url, state, started_at) VALUES (?, ?, ?, "
                                         "'open', ?) ON CONFLICT (key) DO UPDATE SET name = excluded.name, "
                                         "url = excluded.url, state = 'open', closed_at = NULL"),
                          {key, name, url, when});
    if (!q)
        return unexpected(q.error());
    auto it = m_store.iteration(key);
    if (!it)
        return unexpected(it.error());
    return it->value();
}

Expected<model::Iteration, StoreError> SqlTransaction::closeIteration(const QString &key, const QDateTime &at)
{
    auto q = m_store.exec(QStringLiteral("UPDATE iterations SET state = 'closed', closed_at = ? WHERE key = ?"),
                          {(at.isValid() ? at : nowUtc()).toMSecsSinceEpoch(), key});
    if (!q)
        return unexpected(q.error());
    if (q->numRowsAffected() == 0)
        return unexpected(makeError(StoreError::Code::NotFound, QStringLiteral("no iteration \"%1\"").arg(key)));
    auto it = m_store.iteration(key);
    if (!it)
        return unexpected(it.error());
    return it->value();
}

Expected<model::Iteration, StoreError> SqlTransaction::setMembers(const QString &key, const QStringList &members)
{
    auto it = m_store.iteration(key);
    if (!it)
        return unexpected(it.error());
    if (!it->has_value())
        return unexpected(makeError(StoreError::Code::NotFound, QStringLiteral("no iteration \"%1\"").arg(key)));
    const qint64 id = (*it)->id;
    if (auto q = m_store.exec(QStringLiteral("DELETE FROM members WHERE iteration_id = ?"), {id}); !q)
        return unexpected(q.error());
    QStringList sorted = members;
    sorted.sort();
    sorted.removeDuplicates();
    for (const QString &m : std::as_const(sorted)) {
        if (auto q = m_store.exec(QStringLiteral("INSERT INTO members (iteration_id, member) VALUES (?, ?)"), {id, m});
            !q)
            return unexpected(q.error());
    }
    model::Iteration out = it->value();
    out.members = sorted;
    return out;
}

Expected<model::Artifact, StoreError> SqlTransaction::addArtifact(const model::Artifact &artifact)
{
    model::Artifact a = artifact;
    if (!a.publishedAt.isValid())
        a.publishedAt = nowUtc();
    a.publishedAt = QDateTime::fromMSecsSinceEpoch(a.publishedAt.toMSecsSinceEpoch(), Qt::UTC);
    auto q = m_store.exec(QStringLiteral("INSERT INTO artifacts (component, branch, build, commit_sha, image_tag, "
                                         "digest, chart_version, published_at, link, source) VALUES (?, ?, ?, ?, ?, ?, "
                                         "?, ?, ?, ?) RETURNING id"),
                          {a.component, a.branch, a.build, a.commit, a.imageTag, a.digest, a.chartVersion,
                           a.publishedAt.toMSecsSinceEpoch(), a.link, a.source});
    if (!q)
        return unexpected(q.error());
    if (!q->next())
        return unexpected(makeError(StoreError::Code::Query, QStringLiteral("no id for the new artifact")));
    a.id = q->value(0).toLongLong();
    return a;
}

Expected<model::Environment, StoreError> SqlTransaction::createEnvironment(const model::Environment &environment)
{
    model::Environment e = environment;
    const qint64 now = nowUtc().toMSecsSinceEpoch();
    e.createdAt = e.updatedAt = QDateTime::fromMSecsSinceEpoch(now, Qt::UTC);
    auto q = m_store.exec(QStringLiteral("INSERT INTO environments (iteration_id, namespace, domain, state, "
                                         "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id"),
                          {e.iterationId, e.nameSpace, e.domain, e.state, now, now});
    if (!q)
        return unexpected(q.error());
    if (!q->next())
        return unexpected(makeError(StoreError::Code::Query, QStringLiteral("no id for the new environment")));
    e.id = q->value(0).toLongLong();
    return e;
}

Expected<model::Environment, StoreError> SqlTransaction::setEnvironmentState(qint64 environmentId, const QString &state,
                                                                             const QDateTime &at)
{
    auto q = m_store.exec(QStringLiteral("UPDATE environments SET state = ?, updated_at = ? WHERE id = ?"),
                          {state, (at.isValid() ? at : nowUtc()).toMSecsSinceEpoch(), environmentId});
    if (!q)
        return unexpected(q.error());
    auto r = m_store.exec(QStringLiteral("SELECT id, iteration_id, namespace, domain, state, created_at, updated_at "
                                         "FROM environments WHERE id = ?"),
                          {environmentId});
    if (!r)
        return unexpected(r.error());
    if (!r->next())
        return unexpected(
            makeError(StoreError::Code::NotFound, QStringLiteral("no environment with id %1").arg(environmentId)));
    return SqlStore::environmentFromRow(*r);
}

Expected<model::Selection, StoreError> SqlTransaction::setSelection(const model::Selection &selection)
{
    model::Selection s = selection;
    const bool pin = s.mode == model::Selection::Mode::Pin;
    if (pin ? s.artifactId <= 0 : s.branch.isEmpty()) {
        return unexpected(
            makeError(StoreError::Code::Query,
                      pin ? QStringLiteral("a pin needs an artifact") : QStringLiteral("following needs a branch")));
    }
    const qint64 now = nowUtc().toMSecsSinceEpoch();
    s.updatedAt = QDateTime::fromMSecsSinceEpoch(now, Qt::UTC);
    auto q = m_store.exec(
        QStringLiteral("INSERT INTO selections (environment_id, component, mode, branch, artifact_id, updated_by, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment_id, component) DO UPDATE SET "
                       "mode = excluded.mode, branch = excluded.branch, artifact_id = excluded.artifact_id, "
                       "updated_by = excluded.updated_by, updated_at = excluded.updated_at"),
        {s.environmentId, s.component, pin ? QStringLiteral("pin") : QStringLiteral("follow"),
         pin ? QString() : s.branch, pin ? QVariant(s.artifactId) : QVariant(QMetaType::fromType<qlonglong>()),
         s.updatedBy, now});
    if (!q)
        return unexpected(q.error());
    if (pin)
        s.branch.clear();
    else
        s.artifactId = 0;
    return s;
}

Expected<ChatGroup, StoreError> SqlTransaction::saveGroup(const ChatGroup &group)
{
    ChatGroup g = group;
    if (g.iterationId <= 0 || g.platform.isEmpty() || g.chatId.isEmpty())
        return unexpected(makeError(StoreError::Code::Query,
                                    QStringLiteral("a group needs an iteration, a platform "
                                                   "and a chat id")));
    g.members.sort();
    g.members.removeDuplicates();
    const qint64 now = nowUtc().toMSecsSinceEpoch();
    const qint64 created = g.createdAt.isValid() ? g.createdAt.toMSecsSinceEpoch() : now;
    auto null = QVariant(QMetaType::fromType<qlonglong>());
    const QVariant archived = g.archivedAt.isValid() ? QVariant(g.archivedAt.toMSecsSinceEpoch()) : null;
    auto q = m_store.exec(
        QStringLiteral("INSERT INTO chat_groups (iteration_id, platform, chat_id, members, state, created_at, "
                       "archived_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (iteration_id, platform) DO UPDATE SET "
                       "chat_id = excluded.chat_id, members = excluded.members, state = excluded.state, "
                       "archived_at = excluded.archived_at"),
        {g.iterationId, g.platform, g.chatId,
         QString::fromUtf8(QJsonDocument(QJsonArray::fromStringList(g.members)).toJson(QJsonDocument::Compact)),
         g.state, created, archived});
    if (!q)
        return unexpected(q.error());
    auto stored = m_store.group(g.iterationId, g.platform);
    if (!stored)
        return unexpected(stored.error());
    if (!stored->has_value())
        return unexpected(makeError(StoreError::Code::NotFound, QStringLiteral("the group was not stored")));
    return **stored;
}

Expected<model::Event, StoreError> SqlTransaction::appendEvent(const model::Event &event)
{
    model::Event e = event;
    if (e.type.isEmpty())
        return unexpected(makeError(StoreError::Code::Query, QStringLiteral("an event needs a type")));
    auto seq = m_store.scalar(
        QStringLiteral("UPDATE counters SET value = value + 1 WHERE name = 'event_seq' RETURNING value"), {});
    if (!seq)
        return unexpected(seq.error());
    e.seq = seq->toLongLong();
    if (!e.at.isValid())
        e.at = nowUtc();
    e.at = QDateTime::fromMSecsSinceEpoch(e.at.toMSecsSinceEpoch(), Qt::UTC);
    auto null = QVariant(QMetaType::fromType<qlonglong>());
    auto q = m_store.exec(QStringLiteral("INSERT INTO events (seq, at, type, iteration_id, environment_id, payload) "
                                         "VALUES (?, ?, ?, ?, ?, ?)"),
                          {e.seq, e.at.toMSecsSinceEpoch(), e.type, e.iterationId ? QVariant(e.iterationId) : null,
                           e.environmentId ? QVariant(e.environmentId) : null,
                           QString::fromUtf8(QJsonDocument(e.payload).toJson(QJsonDocument::Compact))});
    if (!q)
        return unexpected(q.error());
    return e;
}

} // namespace

Expected<std::unique_ptr<Store>, StoreError> Store::open(const StoreOptions &options)
{
    auto dsn = parseDsn(options);
    if (!dsn)
        return unexpected(dsn.error());
    auto store = std::make_unique<SqlStore>(
        *dsn, QStringLiteral("iterdeck-store-") + QUuid::createUuid().toString(QUuid::WithoutBraces));
    auto opened = store->openAndMigrate();
    if (!opened)
        return unexpected(opened.error());
    return std::unique_ptr<Store>(std::move(store));
}

} // namespace iterdeck::bot
