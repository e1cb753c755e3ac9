// One store suite, run against both backends: every test runs once on SQLite and once on a real
// PostgreSQL server started for the suite (global data rows "sqlite" and "postgres").
#include "bot/store.h"

#include "testutil/postgresserver.h"

#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::bot;

// The transaction ran and committed.
#define COMMITS(expr)                                                                                                  \
    do {                                                                                                               \
        const auto r_ = (expr);                                                                                        \
        QVERIFY2(r_, r_ ? "" : qPrintable(r_.error().message));                                                        \
        QVERIFY2(*r_, "rolled back");                                                                                  \
    } while (false)

namespace {

model::Artifact artifact(const QString &component, const QString &branch, const QString &build)
{
    model::Artifact a;
    a.component = component;
    a.branch = branch;
    a.build = build;
    a.commit = QStringLiteral("c0ffee") + build;
    a.imageTag = branch + u'-' + build;
    a.digest = QStringLiteral("sha256:") + QString(64, u'a');
    a.chartVersion = QStringLiteral("1.0.") + build;
    a.link = QStringLiteral("https://ci.example.com/") + build;
    a.source = QStringLiteral("github");
    a.publishedAt = QDateTime::fromMSecsSinceEpoch(1700000000000 + build.toLongLong(), Qt::UTC);
    return a;
}

DeliveryRecord delivery(const QString &source, const QString &id)
{
    return DeliveryRecord {source, id, QStringLiteral("test"), QDateTime::currentDateTimeUtc()};
}

} // namespace

class TestBotStore : public QObject
{
    Q_OBJECT

private:
    std::unique_ptr<test::PostgresServer> m_pg;
    QString m_pgError;
    std::unique_ptr<QTemporaryDir> m_dir;
    StoreOptions m_options;
    std::unique_ptr<Store> m_store;
    int m_databases = 0;

    // A second handle on the same database.
    std::unique_ptr<Store> reopen()
    {
        auto s = Store::open(m_options);
        if (!s) {
            qWarning("reopen: %s", qPrintable(s.error().message));
            return nullptr;
        }
        return std::move(*s);
    }

    Expected<bool, StoreError> put(const std::function<Expected<bool, StoreError>(StoreTransaction &)> &work)
    {
        return m_store->transact(work);
    }

private Q_SLOTS:
    void initTestCase_data()
    {
        QTest::addColumn<QString>("backend");
        QTest::newRow("sqlite") << QStringLiteral("sqlite");
        QTest::newRow("postgres") << QStringLiteral("postgres");
    }

    void initTestCase()
    {
        if (test::PostgresServer::binDir().isEmpty()) {
            m_pgError = QStringLiteral("PostgreSQL is not installed (Debian package postgresql)");
            return;
        }
        m_pg = std::make_unique<test::PostgresServer>();
        if (!m_pg->start(&m_pgError))
            QFAIL(qPrintable(QStringLiteral("PostgreSQL is installed but does not start: ") + m_pgError));
    }

    void cleanupTestCase() { m_pg.reset(); }

    void init()
    {
        QFETCH_GLOBAL(QString, backend);
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_options = StoreOptions {};
        if (backend == QLatin1String("postgres")) {
            if (!m_pg)
                QSKIP(qPrintable(m_pgError));
            QString error;
            const QString dsn = m_pg->createDatabase(QStringLiteral("t%1").arg(++m_databases), &error);
            QVERIFY2(!dsn.isEmpty(), qPrintable(error));
            m_options.dsn = dsn;
        } else {
            m_options.dataDir = m_dir->path();
        }
        auto s = Store::open(m_options);
        QVERIFY2(s, s ? "" : qPrintable(s.error().message));
        m_store = std::move(*s);
    }

    void cleanup() { m_store.reset(); }

    void backendAndSchema()
    {
        QFETCH_GLOBAL(QString, backend);
        QCOMPARE(m_store->backend(),
                 backend == QLatin1String("postgres") ? Store::Backend::Postgres : Store::Backend::Sqlite);
        QCOMPARE(m_store->schemaVersion(), 2);
        QVERIFY(m_store->ping());
        QVERIFY(!m_store->description().contains(QStringLiteral("password")));
        // Opening again finds the schema current and applies nothing twice.
        auto again = reopen();
        QVERIFY(again);
        QCOMPARE(again->schemaVersion(), 2);
    }

    void sqliteUsesWal()
    {
        QFETCH_GLOBAL(QString, backend);
        if (backend != QLatin1String("sqlite"))
            QSKIP("SQLite only");
        QVERIFY(QFile::exists(m_dir->filePath(QStringLiteral("iterdeck-bot.db"))));
        COMMITS(put([](StoreTransaction &tx) {
            return tx.insertDelivery(delivery(QStringLiteral("a"), QStringLiteral("1")));
        }));
        QVERIFY(QFile::exists(m_dir->filePath(QStringLiteral("iterdeck-bot.db-wal"))));
    }

    void deliveriesDedupe()
    {
        bool first = false, second = false, other = false;
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto r = tx.insertDelivery(delivery(QStringLiteral("github"), QStringLiteral("d-1")));
            if (!r)
                return r;
            first = *r;
            return true;
        }));
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto r = tx.insertDelivery(delivery(QStringLiteral("github"), QStringLiteral("d-1")));
            if (!r)
                return r;
            second = *r;
            return true;
        }));
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto r = tx.insertDelivery(delivery(QStringLiteral("gitlab"), QStringLiteral("d-1")));
            if (!r)
                return r;
            other = *r;
            return true;
        }));
        QVERIFY(first);
        QVERIFY(!second);
        QVERIFY(other); // the id is unique per source
        QCOMPARE(*m_store->deliveryCount(), 2);
    }

    void rollbackLeavesNothing_data()
    {
        QTest::addColumn<bool>("fail"); // work fails with an error, or returns false
        QTest::newRow("returns false") << false;
        QTest::newRow("fails") << true;
    }

    void rollbackLeavesNothing()
    {
        QFETCH(bool, fail);
        auto r = put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            if (!tx.insertDelivery(delivery(QStringLiteral("github"), QStringLiteral("d-9"))))
                return false;
            if (!tx.openIteration(QStringLiteral("k"), QStringLiteral("Sprint"), {}, {}))
                return false;
            if (!tx.appendEvent(model::Event {0, {}, QStringLiteral("iteration.started"), 0, 0, {}}))
                return false;
            if (!tx.addArtifact(artifact(QStringLiteral("api"), QStringLiteral("main"), QStringLiteral("1"))))
                return false;
            if (fail)
                return tx.closeIteration(QStringLiteral("no-such-iteration"), {}).hasValue();
            return false;
        });
        if (fail) {
            QVERIFY(r); // closeIteration's NotFound became a false
        }
        QVERIFY(r.hasValue());
        QCOMPARE(*r, false);
        QCOMPARE(*m_store->deliveryCount(), 0);
        QCOMPARE(*m_store->lastEventSeq(), 0);
        QVERIFY(m_store->iterations()->isEmpty());
        QVERIFY(!m_store->latestArtifact(QStringLiteral("api"), QStringLiteral("main"))->has_value());
        // The delivery can be recorded afterwards: nothing of the rolled back one stayed.
        auto again = put([](StoreTransaction &tx) {
            return tx.insertDelivery(delivery(QStringLiteral("github"), QStringLiteral("d-9")));
        });
        QVERIFY(again);
        QVERIFY(*again);
    }

    void errorsRollBackWithTheError()
    {
        auto r = put([](StoreTransaction &tx) -> Expected<bool, StoreError> {
            if (auto d = tx.insertDelivery(delivery(QStringLiteral("x"), QStringLiteral("1"))); !d)
                return unexpected(d.error());
            auto c = tx.closeIteration(QStringLiteral("nope"), {});
            if (!c)
                return unexpected(c.error());
            return true;
        });
        QVERIFY(!r);
        QCOMPARE(r.error().code, StoreError::Code::NotFound);
        QCOMPARE(r.error().message, QStringLiteral("no iteration \"nope\""));
        QCOMPARE(*m_store->deliveryCount(), 0);
    }

    void iterationLifecycle()
    {
        const QString key = QStringLiteral("github:octo/shop/milestone/3");
        const QDateTime started = QDateTime::fromMSecsSinceEpoch(1700000000000, Qt::UTC);
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto it = tx.openIteration(key, QStringLiteral("v1.0"), QStringLiteral("https://x/m/3"), started);
            if (!it)
                return unexpected(it.error());
            auto m = tx.setMembers(key, {QStringLiteral("bob"), QStringLiteral("alice"), QStringLiteral("bob")});
            if (!m)
                return unexpected(m.error());
            return true;
        }));
        auto it = m_store->iteration(key);
        QVERIFY(it && it->has_value());
        QCOMPARE((*it)->name, QStringLiteral("v1.0"));
        QCOMPARE((*it)->state, model::Iteration::State::Open);
        QCOMPARE((*it)->startedAt, started);
        QCOMPARE((*it)->members, (QStringList {QStringLiteral("alice"), QStringLiteral("bob")}));

        const QDateTime closed = started.addDays(14);
        COMMITS(put([&](StoreTransaction &tx) { return tx.closeIteration(key, closed).hasValue(); }));
        it = m_store->iteration(key);
        QCOMPARE((*it)->state, model::Iteration::State::Closed);
        QCOMPARE((*it)->closedAt, closed);

        // Reopened: open again, same start, renamed, members kept.
        COMMITS(put([&](StoreTransaction &tx) {
            return tx.openIteration(key, QStringLiteral("v1.0.1"), {}, started.addDays(20)).hasValue();
        }));
        it = m_store->iteration(key);
        QCOMPARE((*it)->state, model::Iteration::State::Open);
        QCOMPARE((*it)->name, QStringLiteral("v1.0.1"));
        QCOMPARE((*it)->startedAt, started);
        QVERIFY(!(*it)->closedAt.isValid());
        QCOMPARE((*it)->members.size(), 2);
        QCOMPARE(m_store->iterations()->size(), 1);

        auto missing = put([](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto m = tx.setMembers(QStringLiteral("nope"), {});
            if (!m)
                return unexpected(m.error());
            return true;
        });
        QVERIFY(!missing);
        QCOMPARE(missing.error().message, QStringLiteral("no iteration \"nope\""));
    }

    void artifactsNewestFirst()
    {
        COMMITS(put([](StoreTransaction &tx) -> Expected<bool, StoreError> {
            for (const char *b : {"1", "2", "3"}) {
                if (auto a = tx.addArtifact(artifact(QStringLiteral("api"), QStringLiteral("main"), QLatin1String(b)));
                    !a)
                    return unexpected(a.error());
            }
            return tx.addArtifact(artifact(QStringLiteral("api"), QStringLiteral("dev"), QStringLiteral("7")))
                .hasValue();
        }));
        auto list = m_store->artifacts(QStringLiteral("api"), QStringLiteral("main"));
        QVERIFY(list);
        QCOMPARE(list->size(), 3);
        QCOMPARE(list->at(0).build, QStringLiteral("3"));
        QCOMPARE(list->at(2).build, QStringLiteral("1"));
        model::Artifact expected = artifact(QStringLiteral("api"), QStringLiteral("main"), QStringLiteral("3"));
        expected.id = list->at(0).id;
        QCOMPARE(list->at(0), expected);
        auto latest = m_store->latestArtifact(QStringLiteral("api"), QStringLiteral("dev"));
        QVERIFY(latest && latest->has_value());
        QCOMPARE((*latest)->build, QStringLiteral("7"));
        QVERIFY(!m_store->latestArtifact(QStringLiteral("web"), QStringLiteral("main"))->has_value());
        QCOMPARE(m_store->artifacts(QStringLiteral("api"), QStringLiteral("main"), 2)->size(), 2);
        auto byId = m_store->artifact(list->at(0).id);
        QVERIFY(byId);
        QCOMPARE(*byId, expected);
        auto missing = m_store->artifact(list->at(0).id + 1000);
        QVERIFY(!missing);
        QCOMPARE(missing.error().code, StoreError::Code::NotFound);
    }

    // The latest artifact of each branch, newest branch first; untagged pushes (no branch) and
    // other components are left out.
    void branchesLatestEach()
    {
        COMMITS(put([](StoreTransaction &tx) -> Expected<bool, StoreError> {
            const QList<std::pair<const char *, const char *>> rows {{"main", "1"},      {"dev", "2"}, {"main", "3"},
                                                                     {"feature/x", "4"}, {"dev", "5"}, {"", "6"}};
            for (const auto &[branch, build] : rows) {
                if (auto a
                    = tx.addArtifact(artifact(QStringLiteral("api"), QLatin1String(branch), QLatin1String(build)));
                    !a)
                    return unexpected(a.error());
            }
            return tx.addArtifact(artifact(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("9")))
                .hasValue();
        }));
        auto list = m_store->branches(QStringLiteral("api"));
        QVERIFY2(list, list ? "" : qPrintable(list.error().message));
        QStringList got;
        for (const model::Artifact &a : std::as_const(*list))
            got.append(a.branch + u'#' + a.build);
        QCOMPARE(got, (QStringList {QStringLiteral("dev#5"), QStringLiteral("feature/x#4"), QStringLiteral("main#3")}));
        model::Artifact expected = artifact(QStringLiteral("api"), QStringLiteral("dev"), QStringLiteral("5"));
        expected.id = list->at(0).id;
        QCOMPARE(list->at(0), expected);
        QVERIFY(m_store->branches(QStringLiteral("nope"))->isEmpty());
    }

    void groupsByIterationAndChat()
    {
        qint64 itId = 0;
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto it = tx.openIteration(QStringLiteral("k"), QStringLiteral("Sprint 1"), {}, {});
            if (!it)
                return unexpected(it.error());
            itId = it->id;
            ChatGroup g;
            g.iterationId = itId;
            g.platform = QStringLiteral("builtin");
            g.chatId = QStringLiteral("iteration-1");
            g.members = {QStringLiteral("bob"), QStringLiteral("alice"), QStringLiteral("bob")};
            auto saved = tx.saveGroup(g);
            if (!saved)
                return unexpected(saved.error());
            return saved->members == QStringList {QStringLiteral("alice"), QStringLiteral("bob")};
        }));
        auto g = m_store->group(itId, QStringLiteral("builtin"));
        QVERIFY(g && g->has_value());
        QCOMPARE((*g)->chatId, QStringLiteral("iteration-1"));
        QCOMPARE((*g)->state, QStringLiteral("open"));
        QCOMPARE((*g)->members, (QStringList {QStringLiteral("alice"), QStringLiteral("bob")}));
        QVERIFY((*g)->createdAt.isValid());
        QVERIFY(!(*g)->archivedAt.isValid());
        const QDateTime created = (*g)->createdAt;

        // Saving again replaces members and state, keeps the creation time.
        ChatGroup archived = **g;
        archived.members = {QStringLiteral("carol")};
        archived.state = QStringLiteral("archived");
        archived.archivedAt = QDateTime::fromMSecsSinceEpoch(1700000000000, Qt::UTC);
        archived.createdAt = {};
        COMMITS(put([&](StoreTransaction &tx) { return tx.saveGroup(archived).hasValue(); }));
        auto byChat = m_store->groupByChat(QStringLiteral("builtin"), QStringLiteral("iteration-1"));
        QVERIFY(byChat && byChat->has_value());
        QCOMPARE((*byChat)->iterationId, itId);
        QCOMPARE((*byChat)->state, QStringLiteral("archived"));
        QCOMPARE((*byChat)->members, QStringList {QStringLiteral("carol")});
        QCOMPARE((*byChat)->archivedAt, archived.archivedAt);
        QCOMPARE((*byChat)->createdAt, created);
        QCOMPARE(m_store->groups()->size(), 1);
        QVERIFY(!m_store->group(itId, QStringLiteral("slack"))->has_value());
        QVERIFY(!m_store->groupByChat(QStringLiteral("slack"), QStringLiteral("iteration-1"))->has_value());

        // Another iteration cannot take the same chat of a platform.
        auto clash = put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto it = tx.openIteration(QStringLiteral("k2"), QStringLiteral("Sprint 2"), {}, {});
            if (!it)
                return unexpected(it.error());
            ChatGroup c;
            c.iterationId = it->id;
            c.platform = QStringLiteral("builtin");
            c.chatId = QStringLiteral("iteration-1");
            auto x = tx.saveGroup(c);
            if (!x)
                return unexpected(x.error());
            return true;
        });
        QVERIFY(!clash);
        QCOMPARE(clash.error().code, StoreError::Code::Conflict);
        QCOMPARE(m_store->iterations()->size(), 1); // rolled back
    }

    void environmentEventsNewestFirst()
    {
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            const QList<std::pair<qint64, const char *>> rows {{1, "deploy.started"},
                                                               {2, "deploy.started"},
                                                               {1, "deploy.succeeded"},
                                                               {1, "selection.changed"},
                                                               {1, "deploy.failed"}};
            for (const auto &[env, type] : rows) {
                if (auto e = tx.appendEvent(model::Event {0, {}, QLatin1String(type), 0, env, {}}); !e)
                    return unexpected(e.error());
            }
            return true;
        }));
        auto all = m_store->environmentEvents(1, {});
        QVERIFY(all);
        QCOMPARE(all->size(), 4);
        QCOMPARE(all->at(0).seq, 5);
        QCOMPARE(all->at(3).seq, 1);
        auto deploys
            = m_store->environmentEvents(1, {QStringLiteral("deploy.succeeded"), QStringLiteral("deploy.failed")}, 1);
        QVERIFY(deploys);
        QCOMPARE(deploys->size(), 1);
        QCOMPARE(deploys->at(0).type, QStringLiteral("deploy.failed"));
        QCOMPARE(m_store->environmentEvents(2, {})->size(), 1);
        QVERIFY(m_store->environmentEvents(3, {})->isEmpty());
    }

    void environmentsAndSelections()
    {
        qint64 envId = 0, artifactId = 0;
        COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto it = tx.openIteration(QStringLiteral("k"), QStringLiteral("Sprint 1"), {}, {});
            if (!it)
                return unexpected(it.error());
            model::Environment e;
            e.iterationId = it->id;
            e.nameSpace = QStringLiteral("shop-sprint-1");
            e.domain = QStringLiteral("sprint-1.shop.example.com");
            auto env = tx.createEnvironment(e);
            if (!env)
                return unexpected(env.error());
            envId = env->id;
            auto a = tx.addArtifact(artifact(QStringLiteral("api"), QStringLiteral("main"), QStringLiteral("5")));
            if (!a)
                return unexpected(a.error());
            artifactId = a->id;
            model::Selection s;
            s.environmentId = envId;
            s.component = QStringLiteral("api");
            s.branch = QStringLiteral("main");
            s.updatedBy = QStringLiteral("alice");
            return tx.setSelection(s).hasValue();
        }));
        auto envs = m_store->environments();
        QCOMPARE(envs->size(), 1);
        QCOMPARE(envs->at(0).nameSpace, QStringLiteral("shop-sprint-1"));
        QCOMPARE(envs->at(0).state, QStringLiteral("creating"));
        auto sel = m_store->selections(envId);
        QCOMPARE(sel->size(), 1);
        QCOMPARE(sel->at(0).mode, model::Selection::Mode::Follow);
        QCOMPARE(sel->at(0).branch, QStringLiteral("main"));

        // Pin replaces follow.
        COMMITS(put([&](StoreTransaction &tx) {
            model::Selection s;
            s.environmentId = envId;
            s.component = QStringLiteral("api");
            s.mode = model::Selection::Mode::Pin;
            s.artifactId = artifactId;
            s.updatedBy = QStringLiteral("bob");
            return tx.setSelection(s).hasValue()
                && tx.setEnvironmentState(envId, QStringLiteral("ready"), {}).hasValue();
        }));
        sel = m_store->selections(envId);
        QCOMPARE(sel->size(), 1);
        QCOMPARE(sel->at(0).mode, model::Selection::Mode::Pin);
        QCOMPARE(sel->at(0).artifactId, artifactId);
        QVERIFY(sel->at(0).branch.isEmpty());
        QCOMPARE(sel->at(0).updatedBy, QStringLiteral("bob"));
        QCOMPARE(m_store->environments()->at(0).state, QStringLiteral("ready"));

        // Bad input.
        auto r = put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            model::Selection s;
            s.environmentId = envId;
            s.component = QStringLiteral("web");
            s.mode = model::Selection::Mode::Pin;
            auto x = tx.setSelection(s);
            if (!x)
                return unexpected(x.error());
            return true;
        });
        QVERIFY(!r);
        QCOMPARE(r.error().message, QStringLiteral("a pin needs an artifact"));
        auto dup = put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            model::Environment e;
            e.iterationId = m_store->iterations()->at(0).id;
            e.nameSpace = QStringLiteral("shop-sprint-1");
            auto x = tx.createEnvironment(e);
            if (!x)
                return unexpected(x.error());
            return true;
        });
        QVERIFY(!dup);
        QCOMPARE(dup.error().code, StoreError::Code::Conflict);
    }

    void eventLogSequence()
    {
        for (int round = 0; round < 3; ++round) {
            COMMITS(put([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
                for (int i = 0; i < 2; ++i) {
                    auto e = tx.appendEvent(
                        model::Event {0,
                                      {},
                                      QStringLiteral("test.event"),
                                      0,
                                      0,
                                      QJsonObject {{QStringLiteral("round"), round}, {QStringLiteral("i"), i}}});
                    if (!e)
                        return unexpected(e.error());
                    if (e->seq != round * 2 + i + 1)
                        return unexpected(StoreError {StoreError::Code::Query, QStringLiteral("wrong seq")});
                }
                return true;
            }));
        }
        // A rolled back append does not use up a number.
        auto lost = put([](StoreTransaction &tx) {
            tx.appendEvent(model::Event {0, {}, QStringLiteral("lost"), 0, 0, {}});
            return false;
        });
        QVERIFY(lost);
        QVERIFY(!*lost);
        QCOMPARE(*m_store->lastEventSeq(), 6);
        auto all = m_store->eventsAfter(0);
        QCOMPARE(all->size(), 6);
        for (int i = 0; i < 6; ++i)
            QCOMPARE(all->at(i).seq, i + 1);
        auto tail = m_store->eventsAfter(4);
        QCOMPARE(tail->size(), 2);
        QCOMPARE(tail->at(0).seq, 5);
        QCOMPARE(tail->at(0).payload.value(QStringLiteral("round")).toInt(), 2);
        QCOMPARE(tail->at(0).type, QStringLiteral("test.event"));
        QCOMPARE(m_store->eventsAfter(2, 1)->size(), 1);
        QVERIFY(m_store->eventsAfter(6)->isEmpty());

        // A second handle continues the same sequence.
        auto other = reopen();
        QVERIFY(other);
        COMMITS(other->transact([](StoreTransaction &tx) {
            auto e = tx.appendEvent(model::Event {0, {}, QStringLiteral("other"), 0, 0, {}});
            return e.hasValue() && e->seq == 7;
        }));
        QCOMPARE(*m_store->lastEventSeq(), 7);
    }

    void tokens()
    {
        auto t = m_store->createToken(QStringLiteral("alice"), true);
        QVERIFY(t);
        QVERIFY(t->secret.startsWith(QStringLiteral("idt_") + t->token.id + u'_'));
        QCOMPARE(t->token.id.size(), 12);
        auto u = m_store->createToken(QStringLiteral("bob"), false);
        QVERIFY(u);

        auto who = m_store->authenticate(t->secret);
        QVERIFY(who && who->has_value());
        QCOMPARE((*who)->user, QStringLiteral("alice"));
        QVERIFY((*who)->admin);
        QVERIFY(!m_store->authenticate(t->secret + u'x')->has_value());
        QVERIFY(!m_store->authenticate(u->secret.left(17) + t->secret.mid(17))->has_value());
        QVERIFY(!m_store->authenticate(QStringLiteral("garbage"))->has_value());
        QVERIFY(!m_store->authenticate(QString())->has_value());

        auto list = m_store->tokens();
        QCOMPARE(list->size(), 2);
        auto revoked = m_store->revokeToken(t->token.id);
        QVERIFY(revoked);
        QVERIFY(revoked->revokedAt.isValid());
        const QDateTime first = revoked->revokedAt;
        QVERIFY(!m_store->authenticate(t->secret)->has_value());
        QVERIFY(m_store->authenticate(u->secret)->has_value());
        QCOMPARE(m_store->revokeToken(t->token.id)->revokedAt, first);

        auto missing = m_store->revokeToken(QStringLiteral("nope"));
        QVERIFY(!missing);
        QCOMPARE(missing.error().code, StoreError::Code::NotFound);
        QCOMPARE(missing.error().message, QStringLiteral("no token with id \"nope\""));
        auto noUser = m_store->createToken(QStringLiteral(" "), false);
        QVERIFY(!noUser);
        QCOMPARE(noUser.error().message, QStringLiteral("a token needs a user name"));
    }

    void survivesReopen()
    {
        COMMITS(put([](StoreTransaction &tx) {
            return tx.insertDelivery(delivery(QStringLiteral("github"), QStringLiteral("keep"))).hasValue()
                && tx.openIteration(QStringLiteral("k"), QStringLiteral("Sprint"), {}, {}).hasValue()
                && tx.appendEvent(model::Event {0, {}, QStringLiteral("iteration.started"), 0, 0, {}}).hasValue();
        }));
        auto token = m_store->createToken(QStringLiteral("carol"), false);
        m_store.reset();
        m_store = reopen();
        QVERIFY(m_store);
        QCOMPARE(*m_store->deliveryCount(), 1);
        QCOMPARE(m_store->iterations()->size(), 1);
        QCOMPARE(*m_store->lastEventSeq(), 1);
        QVERIFY(m_store->authenticate(token->secret)->has_value());
        auto dup = m_store->transact([](StoreTransaction &tx) -> Expected<bool, StoreError> {
            auto r = tx.insertDelivery(delivery(QStringLiteral("github"), QStringLiteral("keep")));
            if (!r)
                return r;
            return !*r; // a duplicate
        });
        QVERIFY(dup);
        QVERIFY(*dup);
    }

    void transactionsDoNotNest()
    {
        auto r = put([this](StoreTransaction &) -> Expected<bool, StoreError> {
            auto inner = m_store->transact([](StoreTransaction &) { return Expected<bool, StoreError>(true); });
            if (!inner)
                return unexpected(inner.error());
            return true;
        });
        QVERIFY(!r);
        QCOMPARE(r.error().message, QStringLiteral("transactions do not nest"));
    }

    void badOptions_data()
    {
        QTest::addColumn<QString>("dsn");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        const int invalid = int(StoreError::Code::InvalidDsn);
        QTest::newRow("scheme") << QStringLiteral("mysql://u@h/db") << invalid
                                << QStringLiteral("unsupported store scheme \"mysql\"; use postgresql:// or sqlite://");
        QTest::newRow("no url") << QStringLiteral("just words") << invalid
                                << QStringLiteral("store DSN is not a URL; write postgresql://USER@HOST:PORT/DB or "
                                                  "sqlite:///PATH");
        QTest::newRow("no database") << QStringLiteral("postgresql://u@localhost") << invalid
                                     << QStringLiteral("a postgresql DSN needs a host and a database name: "
                                                       "postgresql://USER@HOST:PORT/DB");
        QTest::newRow("unknown parameter")
            << QStringLiteral("postgresql://u@localhost/db?sslmod=require") << invalid
            << QStringLiteral("unknown postgresql DSN parameter \"sslmod\"; known: sslmode, connect_timeout, "
                              "sslrootcert, sslcert, sslkey, application_name, target_session_attrs");
        QTest::newRow("sqlite host") << QStringLiteral("sqlite://host/x.db") << invalid
                                     << QStringLiteral("a sqlite DSN needs an absolute path: sqlite:///PATH");
    }

    void badOptions()
    {
        QFETCH(QString, dsn);
        QFETCH(int, code);
        QFETCH(QString, message);
        auto s = Store::open(StoreOptions {dsn, {}});
        QVERIFY(!s);
        QCOMPARE(int(s.error().code), code);
        QCOMPARE(s.error().message, message);
    }

    void unreachableServer()
    {
        QFETCH_GLOBAL(QString, backend);
        if (backend != QLatin1String("postgres"))
            QSKIP("PostgreSQL only");
        // A port nobody listens on (the server's own port + 1 is not ours; probe to be sure).
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        const quint16 port = probe.serverPort();
        probe.close();
        auto s = Store::open(
            StoreOptions {QStringLiteral("postgresql://iterdeck@127.0.0.1:%1/x?connect_timeout=2").arg(port), {}});
        QVERIFY(!s);
        QCOMPARE(s.error().code, StoreError::Code::Unavailable);
        QVERIFY2(s.error().message.startsWith(
                     QStringLiteral("cannot open the store postgresql://iterdeck@127.0.0.1:%1/x: ").arg(port)),
                 qPrintable(s.error().message));
    }
};

QTEST_GUILESS_MAIN(TestBotStore)
#include "tst_botstore.moc"
