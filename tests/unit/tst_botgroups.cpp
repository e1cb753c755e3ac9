// The bot's own channels (BuiltinChannels) and the group manager on a real SQLite store, with
// iterations arriving as signed generic webhooks through the real WebhookProcessor: a started
// iteration gets its channel with its members, member changes follow, deploy and environment
// events are posted, the channel is archived after close + grace (or when the environment is
// deleted), a reopen within the grace period keeps it, and a restart neither duplicates the
// channel nor misses member changes made while the bot was down.
#include "bot/builtinchannels.h"
#include "bot/crypto.h"
#include "bot/groupmanager.h"
#include "bot/store.h"
#include "bot/webhookprocessor.h"
#include "config/teammanifestloader.h"

#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::bot;

namespace {

const char *kManifest = R"(version: 1
project: shop
im: {adapter: none}
environment:
  namespace: "{project}-{iteration}"
cleanup:
  gracePeriod: 1s
components:
  - name: web
    repository: https://git.example.com/shop/web.git
    image: iterdeck/demo-web
    deploy: {driver: manifests, path: deploy/web}
people:
  - name: Alice
    collab: [alice-gh]
  - name: Bob
    collab: bob-gh
    admin: true
)";

QStringList strings(const QJsonValue &v)
{
    QStringList out;
    for (const QJsonValue &x : v.toArray())
        out.append(x.toString());
    return out;
}

} // namespace

class TestBotGroups : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    model::TeamManifest m_manifest;
    std::unique_ptr<Store> m_store;
    std::unique_ptr<WebhookProcessor> m_processor;
    std::unique_ptr<BuiltinChannels> m_channels;
    std::unique_ptr<GroupManager> m_groups;
    WebhookHook m_hook {QStringLiteral("ci"), QStringLiteral("generic"), "k",
                        makeWebhookParser(QStringLiteral("generic"))};
    QList<model::Event> m_channelEvents;
    int m_delivery = 0;

    void makeManager()
    {
        m_groups.reset();
        m_channels = std::make_unique<BuiltinChannels>(m_store.get());
        connect(m_channels.get(), &BuiltinChannels::eventsAppended, this,
                [this](const QList<model::Event> &events) { m_channelEvents += events; });
        m_groups = std::make_unique<GroupManager>(m_manifest, m_store.get(), m_channels.get());
        m_groups->start();
    }

    QList<model::Event> deliver(const QJsonObject &body, bool tell = true)
    {
        QJsonObject b = body;
        b.insert(QStringLiteral("id"), QStringLiteral("d-%1").arg(++m_delivery));
        WebhookRequest r;
        r.body = QJsonDocument(b).toJson(QJsonDocument::Compact);
        r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("k", r.body).toHex());
        const WebhookOutcome out = m_processor->process(m_hook, r);
        if (out.kind != WebhookOutcome::Kind::Processed)
            qWarning("delivery not processed: %s", qPrintable(out.message));
        if (tell)
            m_groups->eventsCommitted(out.events);
        return out.events;
    }
    QList<model::Event> iteration(const QString &type, const QString &id, const QStringList &members = {},
                                  bool tell = true)
    {
        QJsonObject it {{QStringLiteral("id"), id}, {QStringLiteral("name"), QString(QStringLiteral("Sprint ") + id)}};
        if (!members.isEmpty())
            it.insert(QStringLiteral("members"), QJsonArray::fromStringList(members));
        return deliver({{QStringLiteral("type"), type}, {QStringLiteral("iteration"), it}}, tell);
    }
    qint64 iterationId(const QString &id)
    {
        auto it = m_store->iteration(QStringLiteral("generic:") + id);
        return it && it->has_value() ? (*it)->id : 0;
    }
    // Appends events as another part of the bot would, and tells the manager.
    QList<model::Event> append(const QList<model::Event> &events)
    {
        QList<model::Event> stored;
        auto r = m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            stored.clear();
            for (const model::Event &e : events) {
                auto s = tx.appendEvent(e);
                if (!s)
                    return unexpected(s.error());
                stored.append(*s);
            }
            return true;
        });
        if (!r)
            qWarning("append failed: %s", qPrintable(r.error().message));
        m_groups->eventsCommitted(stored);
        return stored;
    }
    QList<model::Event> channelEvents(const QString &type, qsizetype from = 0) const
    {
        QList<model::Event> out;
        for (qsizetype i = from; i < m_channelEvents.size(); ++i) {
            if (m_channelEvents.at(i).type == type)
                out.append(m_channelEvents.at(i));
        }
        return out;
    }
    QStringList messages(qsizetype from = 0) const
    {
        QStringList out;
        for (const model::Event &e : channelEvents(QStringLiteral("channel.message"), from))
            out.append(e.payload.value(u"text").toString());
        return out;
    }
    std::optional<ChatGroup> group(qint64 iterationId)
    {
        auto g = m_store->group(iterationId, QStringLiteral("builtin"));
        return g ? *g : std::nullopt;
    }
    bool idle() const { return m_groups->isIdle(); }

    struct Outcome
    {
        bool finished = false;
        std::optional<im::ImError> error;
        im::ImResult result;
    };
    // Waits for the job (which deletes itself once finished) and keeps what it said.
    Outcome await(im::ImJob *job)
    {
        auto out = std::make_shared<Outcome>();
        connect(job, &im::ImJob::finished, this, [out](im::ImJob *j) {
            out->finished = true;
            if (j->hasError())
                out->error = j->error();
            out->result = j->result();
        });
        QDeadlineTimer deadline(10000);
        while (!out->finished && !deadline.hasExpired())
            QTest::qWait(5);
        return *out;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QFile f(m_dir.filePath(QStringLiteral("iterdeck.yaml")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(kManifest);
        f.close();
        Diagnostics diag;
        auto m = config::TeamManifestLoader().loadFile(f.fileName(), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        m_manifest = *m;
        QCOMPARE(m_manifest.environment.cleanupGraceSeconds, qint64(1));
        auto s = Store::open(StoreOptions {{}, m_dir.filePath(QStringLiteral("store"))});
        QVERIFY2(s, s ? "" : qPrintable(s.error().message));
        m_store = std::move(*s);
        m_processor = std::make_unique<WebhookProcessor>(*m_store, m_manifest);
        makeManager();
    }

    void startCreatesChannelWithMembers()
    {
        const auto events = iteration(QStringLiteral("iteration.started"), QStringLiteral("1"),
                                      {QStringLiteral("alice-gh"), QStringLiteral("carol")});
        QTRY_VERIFY(idle());
        const qint64 id = iterationId(QStringLiteral("1"));
        const auto created = channelEvents(QStringLiteral("channel.created"));
        QCOMPARE(created.size(), 1);
        QCOMPARE(created.at(0).iterationId, id);
        QCOMPARE(created.at(0).payload.value(u"chatId").toString(), QStringLiteral("iteration-%1").arg(id));
        QCOMPARE(created.at(0).payload.value(u"name").toString(), QStringLiteral("shop Sprint 1"));
        // Alice by her manifest name; carol, whom the manifest does not know, by her own.
        QCOMPARE(strings(created.at(0).payload.value(u"members")),
                 (QStringList {QStringLiteral("Alice"), QStringLiteral("carol")}));
        // The event is in the store's log, and the mapping is stored.
        auto logged = m_store->eventsAfter(created.at(0).seq - 1, 1);
        QVERIFY(logged && logged->size() == 1);
        QCOMPARE(logged->at(0), created.at(0));
        const auto g = group(id);
        QVERIFY(g);
        QCOMPARE(g->chatId, BuiltinChannels::chatIdFor(id));
        QCOMPARE(g->state, QStringLiteral("open"));
        QCOMPARE(g->members, (QStringList {QStringLiteral("Alice"), QStringLiteral("carol")}));
        auto byChat = m_store->groupByChat(QStringLiteral("builtin"), g->chatId);
        QVERIFY(byChat && byChat->has_value());
        QCOMPARE((*byChat)->iterationId, id);

        // The same events again (a redelivery) and the same start again change nothing.
        const qsizetype before = m_channelEvents.size();
        m_groups->eventsCommitted(events);
        iteration(QStringLiteral("iteration.started"), QStringLiteral("1"),
                  {QStringLiteral("alice-gh"), QStringLiteral("carol")});
        QTRY_VERIFY(idle());
        QCOMPARE(m_channelEvents.size(), before);
    }

    void membersFollow()
    {
        const qint64 id = iterationId(QStringLiteral("1"));
        const qsizetype from = m_channelEvents.size();
        iteration(QStringLiteral("iteration.members"), QStringLiteral("1"),
                  {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")});
        QTRY_VERIFY(idle());
        const auto changes = channelEvents(QStringLiteral("channel.members"), from);
        QCOMPARE(changes.size(), 2);
        QCOMPARE(strings(changes.at(0).payload.value(u"added")), QStringList {QStringLiteral("Bob")});
        QCOMPARE(strings(changes.at(1).payload.value(u"removed")), QStringList {QStringLiteral("carol")});
        QCOMPARE(strings(changes.at(1).payload.value(u"members")),
                 (QStringList {QStringLiteral("Alice"), QStringLiteral("Bob")}));
        QCOMPARE(group(id)->members, (QStringList {QStringLiteral("Alice"), QStringLiteral("Bob")}));
    }

    void notificationsArePosted()
    {
        const qint64 id = iterationId(QStringLiteral("1"));
        // An environment of the iteration that follows web's main branch.
        qint64 envId = 0;
        QVERIFY(m_store->transact([&](StoreTransaction &tx) -> Expected<bool, StoreError> {
            model::Environment e;
            e.iterationId = id;
            e.nameSpace = QStringLiteral("shop-sprint-1");
            e.state = QStringLiteral("ready");
            auto env = tx.createEnvironment(e);
            if (!env)
                return unexpected(env.error());
            envId = env->id;
            model::Selection s;
            s.environmentId = envId;
            s.component = QStringLiteral("web");
            s.branch = QStringLiteral("main");
            return tx.setSelection(s).hasValue();
        }));
        const qsizetype from = m_channelEvents.size();
        const QJsonObject artifact {{QStringLiteral("imageTag"), QStringLiteral("main-7")},
                                    {QStringLiteral("build"), QStringLiteral("7")}};
        const QJsonObject ns {{QStringLiteral("namespace"), QStringLiteral("shop-sprint-1")}};
        auto with = [&](QJsonObject o) {
            for (auto it = ns.begin(); it != ns.end(); ++it)
                o.insert(it.key(), it.value());
            return o;
        };
        append({model::Event {0,
                              {},
                              QStringLiteral("environment.created"),
                              id,
                              envId,
                              with({{QStringLiteral("domain"), QStringLiteral("sprint-1.shop.test")}})},
                model::Event {0,
                              {},
                              QStringLiteral("deploy.succeeded"),
                              id,
                              envId,
                              with({{QStringLiteral("component"), QStringLiteral("web")},
                                    {QStringLiteral("artifact"), artifact}})},
                model::Event {0,
                              {},
                              QStringLiteral("deploy.failed"),
                              id,
                              envId,
                              with({{QStringLiteral("component"), QStringLiteral("web")},
                                    {QStringLiteral("artifact"), artifact},
                                    {QStringLiteral("message"), QStringLiteral("rollout timed out")}})},
                model::Event {0, {}, QStringLiteral("selection.changed"), id, envId, ns}});
        // A build of the followed branch redeploys; one of another branch does not.
        deliver({{QStringLiteral("type"), QStringLiteral("artifact.published")},
                 {QStringLiteral("artifact"),
                  QJsonObject {{QStringLiteral("component"), QStringLiteral("web")},
                               {QStringLiteral("branch"), QStringLiteral("main")},
                               {QStringLiteral("build"), QStringLiteral("8")},
                               {QStringLiteral("tag"), QStringLiteral("main-8")}}}});
        deliver({{QStringLiteral("type"), QStringLiteral("artifact.published")},
                 {QStringLiteral("artifact"),
                  QJsonObject {{QStringLiteral("component"), QStringLiteral("web")},
                               {QStringLiteral("branch"), QStringLiteral("dev")},
                               {QStringLiteral("build"), QStringLiteral("9")},
                               {QStringLiteral("tag"), QStringLiteral("dev-9")}}}});
        QTRY_VERIFY(idle());
        QCOMPARE(messages(from),
                 (QStringList {
                     QStringLiteral("the environment shop-sprint-1 is being created (domain sprint-1.shop.test)"),
                     QStringLiteral("deployed web main-7 (build 7) to shop-sprint-1"),
                     QStringLiteral("deploying web main-7 (build 7) to shop-sprint-1 failed: rollout timed out"),
                     QStringLiteral("new build main-8 (build 8) of web (branch main): redeploying shop-sprint-1"),
                 }));
        const auto posted = channelEvents(QStringLiteral("channel.message"), from);
        QCOMPARE(posted.at(0).payload.value(u"from").toString(), QStringLiteral("iterdeck"));
        QCOMPARE(posted.at(0).iterationId, id);
    }

    void restartDoesNotDuplicate()
    {
        const qint64 id = iterationId(QStringLiteral("1"));
        // A member change while the bot is down: the store has it, the manager was not told.
        iteration(QStringLiteral("iteration.members"), QStringLiteral("1"),
                  {QStringLiteral("alice-gh"), QStringLiteral("bob-gh"), QStringLiteral("dave")}, false);
        const qsizetype from = m_channelEvents.size();
        makeManager();
        QTRY_VERIFY(idle());
        QVERIFY(channelEvents(QStringLiteral("channel.created"), from).isEmpty());
        const auto changes = channelEvents(QStringLiteral("channel.members"), from);
        QCOMPARE(changes.size(), 1);
        QCOMPARE(strings(changes.at(0).payload.value(u"added")), QStringList {QStringLiteral("dave")});
        QCOMPARE(group(id)->members,
                 (QStringList {QStringLiteral("Alice"), QStringLiteral("Bob"), QStringLiteral("dave")}));
        // Another restart: nothing to do.
        const qsizetype again = m_channelEvents.size();
        makeManager();
        QTRY_VERIFY(idle());
        QCOMPARE(m_channelEvents.size(), again);
        QCOMPARE(m_store->groups()->size(), 1);
    }

    // Iteration 1 has an environment: its channel waits for the environment's deletion.
    void closeWaitsForTheEnvironment()
    {
        const qint64 id = iterationId(QStringLiteral("1"));
        iteration(QStringLiteral("iteration.closed"), QStringLiteral("1"));
        QTest::qWait(1500); // past the grace period
        QTRY_VERIFY(idle());
        QCOMPARE(group(id)->state, QStringLiteral("open"));
        QVERIFY(channelEvents(QStringLiteral("channel.archived")).isEmpty());

        const qint64 envId = m_store->environments()->constFirst().id;
        QVERIFY(m_store->transact([&](StoreTransaction &tx) {
            return tx.setEnvironmentState(envId, QStringLiteral("deleted"), {}).hasValue();
        }));
        const qsizetype from = m_channelEvents.size();
        append({model::Event {0,
                              {},
                              QStringLiteral("environment.deleted"),
                              id,
                              envId,
                              {{QStringLiteral("namespace"), QStringLiteral("shop-sprint-1")}}}});
        QTRY_VERIFY(idle());
        QCOMPARE(messages(from), QStringList {QStringLiteral("the environment shop-sprint-1 was deleted")});
        const auto archived = channelEvents(QStringLiteral("channel.archived"), from);
        QCOMPARE(archived.size(), 1);
        QCOMPARE(archived.at(0).payload.value(u"chatId").toString(), BuiltinChannels::chatIdFor(id));
        const auto g = group(id);
        QCOMPARE(g->state, QStringLiteral("archived"));
        QVERIFY(g->archivedAt.isValid());

        // An archived channel takes no messages.
        const Outcome refused = await(m_channels->postMessage(g->chatId, QStringLiteral("hello")));
        QVERIFY(refused.finished && refused.error);
        QCOMPARE(refused.error->message, QStringLiteral("the channel \"%1\" is archived").arg(g->chatId));
    }

    void closeWithoutEnvironmentArchivesAfterGrace()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("2"), {QStringLiteral("bob-gh")});
        QTRY_VERIFY(idle());
        const qint64 id = iterationId(QStringLiteral("2"));
        QCOMPARE(group(id)->state, QStringLiteral("open"));
        iteration(QStringLiteral("iteration.closed"), QStringLiteral("2"));
        QCOMPARE(group(id)->state, QStringLiteral("open")); // not before the grace period
        QTRY_COMPARE(group(id)->state, QStringLiteral("archived"));
        QTRY_VERIFY(idle());
        const auto archived = channelEvents(QStringLiteral("channel.archived"));
        QCOMPARE(archived.constLast().iterationId, id);

        // Started again after it was archived: the channel opens again, with its history.
        const qsizetype from = m_channelEvents.size();
        iteration(QStringLiteral("iteration.started"), QStringLiteral("2"), {QStringLiteral("bob-gh")});
        QTRY_VERIFY(idle());
        const auto created = channelEvents(QStringLiteral("channel.created"), from);
        QCOMPARE(created.size(), 1);
        QCOMPARE(created.at(0).payload.value(u"reopened").toBool(), true);
        QCOMPARE(group(id)->state, QStringLiteral("open"));
    }

    void reopenWithinGraceKeepsTheChannel()
    {
        iteration(QStringLiteral("iteration.started"), QStringLiteral("3"), {QStringLiteral("alice-gh")});
        QTRY_VERIFY(idle());
        const qint64 id = iterationId(QStringLiteral("3"));
        const qsizetype from = m_channelEvents.size();
        iteration(QStringLiteral("iteration.closed"), QStringLiteral("3"));
        iteration(QStringLiteral("iteration.started"), QStringLiteral("3"), {QStringLiteral("alice-gh")});
        QTest::qWait(1500); // past the grace period of the first close
        QTRY_VERIFY(idle());
        QCOMPARE(group(id)->state, QStringLiteral("open"));
        QVERIFY(channelEvents(QStringLiteral("channel.archived"), from).isEmpty());
    }

    void adapterRefusesWhatItCannotDo()
    {
        // No webhooks.
        im::InboundRequest req;
        req.path = QStringLiteral("/hooks/builtin");
        req.body = "{}";
        auto v = m_channels->verify(req, QDateTime::currentDateTimeUtc());
        QVERIFY(!v);
        QCOMPARE(v.error().code, im::ImError::Code::Unsupported);
        // A channel needs an iteration; unknown channels are refused.
        im::GroupSpec spec;
        spec.name = QStringLiteral("x");
        const Outcome noIteration = await(m_channels->createGroup(spec));
        QVERIFY(noIteration.finished && noIteration.error);
        QCOMPARE(noIteration.error->code, im::ImError::Code::InvalidArgument);
        const Outcome unknown = await(m_channels->addMembers(QStringLiteral("iteration-999"), {QStringLiteral("x")}));
        QVERIFY(unknown.finished && unknown.error);
        QCOMPARE(unknown.error->message, QStringLiteral("no channel \"iteration-999\""));
        // A person's message keeps its author.
        const qint64 id = iterationId(QStringLiteral("3"));
        const Outcome posted = await(
            m_channels->postMessageAs(BuiltinChannels::chatIdFor(id), QStringLiteral("Alice"), QStringLiteral("hi")));
        QVERIFY(posted.finished && !posted.error);
        const model::Event last = m_channelEvents.constLast();
        QCOMPARE(last.type, QStringLiteral("channel.message"));
        QCOMPARE(last.payload.value(u"from").toString(), QStringLiteral("Alice"));
        QCOMPARE(last.payload.value(u"text").toString(), QStringLiteral("hi"));
        QCOMPARE(posted.result.messageId, QString::number(last.seq));
    }
};

QTEST_GUILESS_MAIN(TestBotGroups)
#include "tst_botgroups.moc"
