// The command engine against the sandbox cluster over HTTPS, with a real SQLite store, the real
// WebhookProcessor (iterations and artifacts arrive as signed generic webhooks) and the real
// environment manager: every command's success and usage errors, membership and admin rules, the
// confirmation flow (another user's token, cancel, expiry), the rate limit, `branch` by repository,
// the deploy card built from stored artifacts, and the selections and deploys that commands cause.
#include "bot/commandengine.h"
#include "bot/crypto.h"
#include "bot/environmentmanager.h"
#include "bot/store.h"
#include "bot/webhookprocessor.h"
#include "botsandboxsupport.h"
#include "config/teammanifestloader.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using namespace iterdeck::bot;
using namespace iterdeck::kube;
using iterdeck::testing::SandboxCluster;

namespace {

const char *kManifest = R"(version: 1
project: shop
im: {adapter: none}
environment:
  namespace: "{project}-{iteration}"
  domain: "{component}.{iteration}.shop.test"
  create: onDemand
cleanup:
  gracePeriod: 1h
components:
  - name: web
    repository: https://git.example.com/shop/web-frontend.git
    image: iterdeck/demo-web
    defaultBranch: main
    deploy: {driver: manifests, path: deploy/web}
    values:
      default: {replicas: 1}
  - name: worker
    repository: /srv/git/worker
    image: iterdeck/demo-worker
    defaultBranch: main
    deploy: {driver: manifests, path: deploy/worker}
    values:
      default: {replicas: 1}
people:
  - name: Alice
    collab: alice-gh
  - name: Bob
    collab: bob-gh
  - name: Root
    collab: root-gh
    admin: true
  - name: Eve
    collab: eve-gh
)";

QStringList names(const QJsonArray &list, const char *key)
{
    QStringList out;
    for (const QJsonValue &v : list)
        out.append(v[QLatin1String(key)].toString());
    return out;
}

} // namespace

class TestBotCommands : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxCluster> m_cluster;
    std::unique_ptr<Store> m_store;
    model::TeamManifest m_manifest;
    std::unique_ptr<WebhookProcessor> m_processor;
    std::unique_ptr<EnvironmentManager> m_manager;
    std::unique_ptr<CommandEngine> m_engine;
    WebhookHook m_hook {QStringLiteral("ci"), QStringLiteral("generic"), "k",
                        makeWebhookParser(QStringLiteral("generic"))};
    QList<model::Event> m_events;
    int m_delivery = 0;
    qint64 m_nowMs = 1000000;
    const QString m_ns = QStringLiteral("shop-sprint-1");

    void deliver(const QJsonObject &body)
    {
        QJsonObject b = body;
        b.insert(QStringLiteral("id"), QStringLiteral("d-%1").arg(++m_delivery));
        WebhookRequest r;
        r.body = QJsonDocument(b).toJson(QJsonDocument::Compact);
        r.headers.insert("x-iterdeck-signature", "sha256=" + hmacSha256("k", r.body).toHex());
        const WebhookOutcome out = m_processor->process(m_hook, r);
        QVERIFY2(out.kind == WebhookOutcome::Kind::Processed, qPrintable(out.message));
        m_manager->eventsCommitted(out.events);
    }
    void iteration(const QString &id, const QStringList &members)
    {
        deliver({{QStringLiteral("type"), QStringLiteral("iteration.started")},
                 {QStringLiteral("iteration"),
                  QJsonObject {{QStringLiteral("id"), id},
                               {QStringLiteral("name"), QString(QStringLiteral("Sprint ") + id.mid(1))},
                               {QStringLiteral("members"), QJsonArray::fromStringList(members)}}}});
    }
    void artifact(const QString &component, const QString &branch, const QString &tag)
    {
        deliver({{QStringLiteral("type"), QStringLiteral("artifact.published")},
                 {QStringLiteral("artifact"),
                  QJsonObject {{QStringLiteral("component"), component},
                               {QStringLiteral("branch"), branch},
                               {QStringLiteral("build"), tag.mid(1)},
                               {QStringLiteral("commit"), QStringLiteral("abcdef0123456789")},
                               {QStringLiteral("tag"), tag}}}});
    }
    qint64 iterationId(const QString &id)
    {
        auto it = m_store->iteration(QStringLiteral("generic:") + id);
        return it && it->has_value() ? (*it)->id : 0;
    }
    CommandContext context(const QString &user, const QString &iterationKey = QStringLiteral("s1"),
                           const QString &channel = QStringLiteral("builtin"))
    {
        CommandContext c;
        c.who = identify(m_manifest, user);
        c.iterationId = iterationKey.isEmpty() ? 0 : iterationId(iterationKey);
        c.channel = channel;
        return c;
    }
    CommandReply run(const QString &user, const QString &text, const QString &iterationKey = QStringLiteral("s1"),
                     const QString &channel = QStringLiteral("builtin"))
    {
        return m_engine->run(context(user, iterationKey, channel), text);
    }
    // Runs and confirms a side effect as the same user.
    CommandReply runConfirmed(const QString &user, const QString &text)
    {
        const CommandReply asked = run(user, text);
        if (!asked.ok || asked.confirmToken.isEmpty()) {
            qWarning("no confirmation asked for \"%s\": %s", qPrintable(text), qPrintable(asked.text));
            return asked;
        }
        return run(user, QStringLiteral("confirm ") + asked.confirmToken);
    }
    bool waitIdle(int ms = 60000)
    {
        QDeadlineTimer deadline(ms);
        while (!m_manager->isIdle()) {
            if (deadline.hasExpired())
                return false;
            QTest::qWait(20);
        }
        return true;
    }
    QJsonObject get(const ResourceRef &ref, const QString &ns, const QString &name, int *status = nullptr)
    {
        return m_cluster->get(ref, ns, name, status);
    }
    QString deployedImage(const QString &name) { return m_cluster->deployedImage(m_ns, name); }
    QList<model::Event> eventsOf(const QString &type, qsizetype from = 0) const
    {
        QList<model::Event> out;
        for (qsizetype i = from; i < m_events.size(); ++i) {
            if (m_events.at(i).type == type)
                out.append(m_events.at(i));
        }
        return out;
    }
    std::optional<model::Environment> environment()
    {
        auto envs = m_store->environments();
        if (!envs || envs->isEmpty())
            return std::nullopt;
        return envs->constLast();
    }
    std::optional<model::Selection> selection(const QString &component)
    {
        const auto env = environment();
        if (!env)
            return std::nullopt;
        auto list = m_store->selections(env->id);
        if (!list)
            return std::nullopt;
        for (const model::Selection &s : std::as_const(*list)) {
            if (s.component == component)
                return s;
        }
        return std::nullopt;
    }
    qint64 artifactId(const QString &component, const QString &branch, const QString &tag)
    {
        auto list = m_store->artifacts(component, branch);
        if (!list)
            return 0;
        for (const model::Artifact &a : std::as_const(*list)) {
            if (a.imageTag == tag)
                return a.id;
        }
        return 0;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        using iterdeck::testing::kDeploymentTemplate;
        using iterdeck::testing::writeProjectFile;
        QVERIFY(writeProjectFile(m_dir.filePath(QStringLiteral("deploy/web/deployment.yaml")), kDeploymentTemplate));
        QVERIFY(writeProjectFile(m_dir.filePath(QStringLiteral("deploy/worker/deployment.yaml")), kDeploymentTemplate));
        QVERIFY(writeProjectFile(m_dir.filePath(QStringLiteral("iterdeck.yaml")), kManifest));
        Diagnostics diag;
        auto m = config::TeamManifestLoader().loadFile(m_dir.filePath(QStringLiteral("iterdeck.yaml")), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        m_manifest = *m;

        m_cluster = std::make_unique<SandboxCluster>(m_dir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(m_cluster->error().isEmpty(), qPrintable(m_cluster->error()));

        auto s = Store::open(StoreOptions {{}, m_dir.filePath(QStringLiteral("store"))});
        QVERIFY2(s, s ? "" : qPrintable(s.error().message));
        m_store = std::move(*s);
        m_processor = std::make_unique<WebhookProcessor>(*m_store, m_manifest);
        EnvironmentManagerOptions o;
        o.manifestDir = m_dir.path();
        o.coalesceMs = 0;
        o.rolloutTimeoutMs = 0;
        m_manager = std::make_unique<EnvironmentManager>(m_manifest, m_store.get(), m_cluster->client(), o);
        connect(m_manager.get(), &EnvironmentManager::eventsAppended, this,
                [this](const QList<model::Event> &events) { m_events += events; });
        m_manager->start();
        m_engine = std::make_unique<CommandEngine>(m_manifest, m_store.get(), m_manager.get());
        m_engine->setClock([this] { return m_nowMs; });
        m_engine->setRateLimit(1000, 1);

        iteration(QStringLiteral("s1"), {QStringLiteral("alice-gh"), QStringLiteral("bob-gh")});
        iteration(QStringLiteral("s2"), {QStringLiteral("alice-gh")});
        artifact(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("b1"));
        artifact(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("b2"));
        artifact(QStringLiteral("web"), QStringLiteral("feature/login"), QStringLiteral("f1"));
        artifact(QStringLiteral("worker"), QStringLiteral("main"), QStringLiteral("w1"));
        QVERIFY(m_store->environments()->isEmpty()); // created on demand
    }

    void help()
    {
        const CommandReply r = run(QStringLiteral("eve-gh"), QStringLiteral("help"));
        QVERIFY(r.ok);
        QVERIFY(r.text.contains(QStringLiteral("branch COMPONENT|REPOSITORY BRANCH")));
        const QJsonArray commands = r.data.value(u"commands").toArray();
        QCOMPARE(names(commands, "name"),
                 (QStringList {QStringLiteral("help"), QStringLiteral("env"), QStringLiteral("status"),
                               QStringLiteral("deploy"), QStringLiteral("env create"), QStringLiteral("branch"),
                               QStringLiteral("pin"), QStringLiteral("follow"), QStringLiteral("redeploy"),
                               QStringLiteral("members"), QStringLiteral("destroy"), QStringLiteral("confirm"),
                               QStringLiteral("cancel")}));
        QCOMPARE(r.data.value(u"command").toString(), QStringLiteral("help"));
        const CommandReply one = run(QStringLiteral("eve-gh"), QStringLiteral("help pin"));
        QVERIFY(one.ok);
        QVERIFY(one.text.startsWith(QStringLiteral("pin COMPONENT BUILD: ")));
        QVERIFY(one.text.contains(QStringLiteral("confirm TOKEN")));
        const CommandReply bad = run(QStringLiteral("eve-gh"), QStringLiteral("help pni"));
        QCOMPARE(bad.errorCode, QStringLiteral("usage"));
        QCOMPARE(bad.data.value(u"suggestions").toArray().first().toString(), QStringLiteral("pin"));
    }

    void unknownCommandTeaches_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("suggestion");
        QTest::newRow("typo") << QStringLiteral("deplyo") << QStringLiteral("deploy");
        QTest::newRow("nothing near") << QStringLiteral("frobnicate") << QString();
        QTest::newRow("slash") << QStringLiteral("/stauts") << QStringLiteral("status");
    }
    void unknownCommandTeaches()
    {
        QFETCH(QString, text);
        QFETCH(QString, suggestion);
        const CommandReply r = run(QStringLiteral("bob-gh"), text);
        QVERIFY(!r.ok);
        QCOMPARE(r.errorCode, QStringLiteral("usage"));
        QVERIFY2(r.text.contains(QStringLiteral("commands: help, env, status")), qPrintable(r.text));
        const QJsonArray suggestions = r.data.value(u"suggestions").toArray();
        if (suggestion.isEmpty())
            QVERIFY(suggestions.isEmpty());
        else
            QCOMPARE(suggestions.first().toString(), suggestion);
    }

    void usageErrors_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("usage");
        QTest::newRow("branch without branch")
            << QStringLiteral("branch web") << QStringLiteral("branch COMPONENT|REPOSITORY BRANCH");
        QTest::newRow("pin too many") << QStringLiteral("pin web b1 b2") << QStringLiteral("pin COMPONENT BUILD");
        QTest::newRow("follow nothing") << QStringLiteral("follow") << QStringLiteral("follow COMPONENT [BRANCH]");
        QTest::newRow("members with args") << QStringLiteral("members all") << QStringLiteral("members");
        QTest::newRow("unknown option") << QStringLiteral("deploy --force")
                                        << QStringLiteral("deploy [--iteration KEY] [--yes]");
        QTest::newRow("confirm without token") << QStringLiteral("confirm") << QStringLiteral("confirm TOKEN");
    }
    void usageErrors()
    {
        QFETCH(QString, text);
        QFETCH(QString, usage);
        const CommandReply r = run(QStringLiteral("bob-gh"), text);
        QVERIFY(!r.ok);
        QCOMPARE(r.errorCode, QStringLiteral("usage"));
        QCOMPARE(r.data.value(u"usage").toString(), usage);
        QVERIFY2(r.text.contains(QStringLiteral("usage: ") + usage), qPrintable(r.text));
    }

    void whichIteration()
    {
        // Alice is in two open iterations: outside a group she has to say which.
        CommandReply r = run(QStringLiteral("alice-gh"), QStringLiteral("members"), QString());
        QCOMPARE(r.errorCode, QStringLiteral("usage"));
        QCOMPARE(names(r.data.value(u"iterations").toArray(), "key"),
                 (QStringList {QStringLiteral("generic:s1"), QStringLiteral("generic:s2")}));
        QVERIFY(r.text.contains(QStringLiteral("generic:s2 (Sprint 2")));
        r = run(QStringLiteral("alice-gh"), QStringLiteral("members --iteration generic:s2"), QString());
        QVERIFY2(r.ok, qPrintable(r.text));
        QCOMPARE(r.data[u"iteration"][u"key"].toString(), QStringLiteral("generic:s2"));
        r = run(QStringLiteral("alice-gh"),
                QStringLiteral("members --iteration=%1").arg(iterationId(QStringLiteral("s1"))), QString());
        QVERIFY(r.ok);
        QCOMPARE(r.data[u"iteration"][u"key"].toString(), QStringLiteral("generic:s1"));
        // Bob is in one: it is used.
        r = run(QStringLiteral("bob-gh"), QStringLiteral("members"), QString());
        QVERIFY(r.ok);
        QCOMPARE(r.data[u"iteration"][u"key"].toString(), QStringLiteral("generic:s1"));
        QCOMPARE(names(r.data.value(u"members").toArray(), "displayName"),
                 (QStringList {QStringLiteral("Alice"), QStringLiteral("Bob")}));
        QVERIFY(r.text.contains(QStringLiteral("Alice (alice-gh)")));
        // An unknown iteration names the close ones.
        r = run(QStringLiteral("bob-gh"), QStringLiteral("status --iteration generic:s3"), QString());
        QCOMPARE(r.errorCode, QStringLiteral("not_found"));
        QVERIFY2(r.text.contains(QStringLiteral("did you mean generic:s1")), qPrintable(r.text));
    }

    void nonMembersAreRefused_data()
    {
        QTest::addColumn<QString>("text");
        for (const char *t : {"status", "members", "env", "deploy", "env create", "branch web main", "pin web b1",
                              "follow web", "redeploy"})
            QTest::newRow(t) << QString(QLatin1String(t));
    }
    void nonMembersAreRefused()
    {
        QFETCH(QString, text);
        const CommandReply r = run(QStringLiteral("eve-gh"), text);
        QVERIFY(!r.ok);
        QCOMPARE(r.errorCode, QStringLiteral("forbidden"));
        QCOMPARE(r.text,
                 QStringLiteral("Eve is not a member of Sprint 1; only its members and admins may run "
                                "commands on it"));
        QVERIFY(r.confirmToken.isEmpty());
        // An admin who is no member may.
        QVERIFY(run(QStringLiteral("root-gh"), QStringLiteral("status")).ok);
    }

    void noEnvironmentYet()
    {
        const CommandReply r = run(QStringLiteral("bob-gh"), QStringLiteral("deploy"));
        QCOMPARE(r.errorCode, QStringLiteral("not_found"));
        QCOMPARE(r.text, QStringLiteral("Sprint 1 has no environment; \"env create\" makes one"));
        const CommandReply s = run(QStringLiteral("bob-gh"), QStringLiteral("status"));
        QVERIFY(s.ok);
        QVERIFY(s.text.contains(QStringLiteral("no environment")));
        QVERIFY(s.data.value(u"environment").isNull());
    }

    void envCreateWithConfirmation()
    {
        const CommandReply asked = run(QStringLiteral("bob-gh"), QStringLiteral("env create"));
        QVERIFY2(asked.ok, qPrintable(asked.text));
        QVERIFY(!asked.confirmToken.isEmpty());
        QCOMPARE(asked.data[u"pending"][u"token"].toString(), asked.confirmToken);
        QCOMPARE(asked.data[u"pending"][u"command"].toString(), QStringLiteral("env create"));
        QVERIFY(asked.text.contains(QStringLiteral("confirm ") + asked.confirmToken));
        QVERIFY(m_store->environments()->isEmpty()); // nothing happened yet

        // Another member cannot confirm Bob's command.
        CommandReply other = run(QStringLiteral("alice-gh"), QStringLiteral("confirm ") + asked.confirmToken);
        QCOMPARE(other.errorCode, QStringLiteral("forbidden"));
        QCOMPARE(other.text, QStringLiteral("only Bob, who asked for \"env create\", may confirm it"));
        QVERIFY(m_store->environments()->isEmpty());

        const CommandReply done = run(QStringLiteral("bob-gh"), QStringLiteral("confirm ") + asked.confirmToken);
        QVERIFY2(done.ok, qPrintable(done.text));
        QCOMPARE(done.data.value(u"confirmed").toString(), QStringLiteral("env create"));
        QCOMPARE(done.data[u"environment"][u"namespace"].toString(), m_ns);
        QVERIFY(waitIdle());
        const auto env = environment();
        QVERIFY(env);
        QCOMPARE(env->state, QStringLiteral("ready"));
        QCOMPARE(eventsOf(QStringLiteral("environment.created")).size(), 1);
        // Each component's default branch was deployed with its latest build.
        QCOMPARE(deployedImage(QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:b2"));
        QCOMPARE(deployedImage(QStringLiteral("worker")), QStringLiteral("iterdeck/demo-worker:w1"));

        // A used token is gone; asking again tells what exists.
        QCOMPARE(run(QStringLiteral("bob-gh"), QStringLiteral("confirm ") + asked.confirmToken).errorCode,
                 QStringLiteral("not_found"));
        const CommandReply again = run(QStringLiteral("bob-gh"), QStringLiteral("env create"));
        QVERIFY(again.ok);
        QVERIFY(again.confirmToken.isEmpty());
        QCOMPARE(again.text, QStringLiteral("Sprint 1 already has the environment %1 (ready)").arg(m_ns));
    }

    void envAndStatus()
    {
        const CommandReply e = run(QStringLiteral("alice-gh"), QStringLiteral("env"));
        QVERIFY2(e.ok, qPrintable(e.text));
        QVERIFY(e.text.startsWith(QStringLiteral("Sprint 1: shop-sprint-1 (ready)")));
        QVERIFY(e.text.contains(QStringLiteral("web: follows main")));
        QCOMPARE(e.data[u"environment"][u"namespace"].toString(), m_ns);
        QCOMPARE(e.data.value(u"selections").toArray().size(), 2);
        const CommandReply s = run(QStringLiteral("alice-gh"), QStringLiteral("status"));
        QVERIFY(s.ok);
        QVERIFY2(s.text.contains(QStringLiteral("web (main): deployed b2 (build 2)")), qPrintable(s.text));
        const QJsonArray components = s.data.value(u"components").toArray();
        QCOMPARE(components.size(), 2);
        QCOMPARE(components.at(1)[u"deployedBuild"].toString(), QStringLiteral("w1"));
    }

    void deployCardFromStoredArtifacts()
    {
        const CommandReply r = run(QStringLiteral("bob-gh"), QStringLiteral("deploy"));
        QVERIFY2(r.ok, qPrintable(r.text));
        QVERIFY(r.card);
        const im::DeployCard &card = *r.card;
        QCOMPARE(card.cardId, QStringLiteral("env-%1").arg(environment()->id));
        QCOMPARE(card.iteration, QStringLiteral("Sprint 1"));
        QCOMPARE(card.environment, m_ns);
        QCOMPARE(card.components.size(), 2);
        const im::CardComponent *web = card.component(QStringLiteral("web"));
        QVERIFY(web);
        QCOMPARE(web->branches.size(), 2);
        QCOMPARE(web->branches.at(0).name, QStringLiteral("feature/login")); // newest first
        QCOMPARE(web->branches.at(0).latest->tag, QStringLiteral("f1"));
        QCOMPARE(web->branches.at(1).name, QStringLiteral("main"));
        QCOMPARE(web->branches.at(1).latest->id, QStringLiteral("b2"));
        QCOMPARE(web->branches.at(1).latest->commit, QStringLiteral("abcdef01"));
        QVERIFY(web->branches.at(1).latest->createdAt.isValid());
        QCOMPARE(web->selectedBranch, QStringLiteral("main"));
        QCOMPARE(web->deployedBuild, QStringLiteral("b2"));
        QCOMPARE(card.component(QStringLiteral("worker"))->deployedBuild, QStringLiteral("w1"));
        QCOMPARE(card.state, im::DeployCard::State::Choosing);
        QVERIFY(!im::cardProblem(card));
        // The same card for the desktop.
        QCOMPARE(r.data[u"card"][u"components"][0][u"branches"][0][u"latest"][u"tag"].toString(), QStringLiteral("f1"));
        QCOMPARE(r.data[u"card"][u"cardId"].toString(), card.cardId);
        auto direct = m_engine->deployCard(environment()->id);
        QVERIFY(direct);
        QCOMPARE(direct->cardId, card.cardId);
        QVERIFY(!m_engine->deployCard(9999));
    }

    void branchByComponentOrRepository_data()
    {
        QTest::addColumn<QString>("target");
        QTest::newRow("component") << QStringLiteral("web");
        QTest::newRow("component, other case") << QStringLiteral("WEB");
        QTest::newRow("repository name") << QStringLiteral("web-frontend");
        QTest::newRow("repository URL") << QStringLiteral("https://git.example.com/shop/web-frontend.git");
        QTest::newRow("repository path") << QStringLiteral("shop/web-frontend");
    }
    void branchByComponentOrRepository()
    {
        QFETCH(QString, target);
        const CommandReply r = run(QStringLiteral("bob-gh"), QStringLiteral("branch %1 feature/login").arg(target));
        QVERIFY2(r.ok, qPrintable(r.text));
        QCOMPARE(r.data.value(u"component").toString(), QStringLiteral("web"));
        QCOMPARE(r.data[u"artifact"][u"imageTag"].toString(), QStringLiteral("f1"));
        QVERIFY(!r.confirmToken.isEmpty());
        QVERIFY(r.card);
        QCOMPARE(r.card->component(QStringLiteral("web"))->selectedBranch, QStringLiteral("feature/login"));
        QCOMPARE(selection(QStringLiteral("web"))->branch, QStringLiteral("main")); // not before confirm
        QVERIFY(run(QStringLiteral("bob-gh"), QStringLiteral("cancel ") + r.confirmToken).ok);
    }

    void branchTeaches_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("code");
        QTest::addColumn<QString>("suggestion");
        QTest::newRow("branch typo") << QStringLiteral("branch web feature/logn") << QStringLiteral("not_found")
                                     << QStringLiteral("feature/login");
        QTest::newRow("component typo") << QStringLiteral("branch wbe main") << QStringLiteral("usage")
                                        << QStringLiteral("web");
        QTest::newRow("repository typo") << QStringLiteral("branch web-frontnd main") << QStringLiteral("usage")
                                         << QStringLiteral("web-frontend");
    }
    void branchTeaches()
    {
        QFETCH(QString, text);
        QFETCH(QString, code);
        QFETCH(QString, suggestion);
        const CommandReply r = run(QStringLiteral("bob-gh"), text);
        QVERIFY(!r.ok);
        QCOMPARE(r.errorCode, code);
        QCOMPARE(r.data.value(u"suggestions").toArray().first().toString(), suggestion);
        QVERIFY2(r.text.contains(QStringLiteral("did you mean ") + suggestion), qPrintable(r.text));
        QVERIFY(r.text.contains(QStringLiteral("usage: branch COMPONENT|REPOSITORY BRANCH")));
    }

    void branchDeploysAfterConfirm()
    {
        const qsizetype from = m_events.size();
        const CommandReply r
            = runConfirmed(QStringLiteral("bob-gh"), QStringLiteral("branch web-frontend feature/login"));
        QVERIFY2(r.ok, qPrintable(r.text));
        QCOMPARE(r.data.value(u"confirmed").toString(), QStringLiteral("branch"));
        const auto s = selection(QStringLiteral("web"));
        QCOMPARE(s->mode, model::Selection::Mode::Follow);
        QCOMPARE(s->branch, QStringLiteral("feature/login"));
        QCOMPARE(s->updatedBy, QStringLiteral("Bob"));
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:f1"));
        const auto changed = eventsOf(QStringLiteral("selection.changed"), from);
        QCOMPARE(changed.size(), 1);
        QCOMPARE(changed.at(0).payload.value(u"follow").toString(), QStringLiteral("feature/login"));
        const auto ok = eventsOf(QStringLiteral("deploy.succeeded"), from);
        QCOMPARE(ok.size(), 1);
        QCOMPARE(ok.at(0).payload[u"artifact"][u"imageTag"].toString(), QStringLiteral("f1"));

        // The same branch again: nothing to confirm, the card shows it.
        const CommandReply same = run(QStringLiteral("bob-gh"), QStringLiteral("branch web feature/login"));
        QVERIFY(same.ok);
        QVERIFY(same.confirmToken.isEmpty());
        QCOMPARE(same.data.value(u"changed").toBool(), false);
        QCOMPARE(same.card->component(QStringLiteral("web"))->deployedBuild, QStringLiteral("f1"));
    }

    void pinOnTheDesktopWithYes()
    {
        const qint64 b1 = artifactId(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("b1"));
        QVERIFY(b1 > 0);
        // --yes counts only on the desktop.
        const CommandReply chat = run(QStringLiteral("alice-gh"), QStringLiteral("pin web b1 --yes"));
        QVERIFY(chat.ok);
        QVERIFY(!chat.confirmToken.isEmpty());
        QVERIFY(run(QStringLiteral("alice-gh"), QStringLiteral("cancel ") + chat.confirmToken).ok);
        // The desktop without --yes asks too.
        QVERIFY(!run(QStringLiteral("alice-gh"), QStringLiteral("pin web b1"), QStringLiteral("s1"),
                     QStringLiteral("desktop"))
                     .confirmToken.isEmpty());

        const CommandReply r = run(QStringLiteral("alice-gh"), QStringLiteral("pin web b1 --yes"), QStringLiteral("s1"),
                                   QStringLiteral("desktop"));
        QVERIFY2(r.ok, qPrintable(r.text));
        QVERIFY(r.confirmToken.isEmpty());
        QCOMPARE(r.data[u"artifact"][u"id"].toInteger(), b1);
        const auto s = selection(QStringLiteral("web"));
        QCOMPARE(s->mode, model::Selection::Mode::Pin);
        QCOMPARE(s->artifactId, b1);
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:b1"));
        // Builds are found by build number, tag or #id too.
        QVERIFY(run(QStringLiteral("alice-gh"), QStringLiteral("pin web 2")).ok);
        QVERIFY(run(QStringLiteral("alice-gh"), QStringLiteral("pin web #%1").arg(b1)).ok);

        const CommandReply bad = run(QStringLiteral("alice-gh"), QStringLiteral("pin web b9"));
        QCOMPARE(bad.errorCode, QStringLiteral("not_found"));
        QVERIFY2(bad.text.startsWith(QStringLiteral("no build \"b9\" of web; did you mean b2, b1")),
                 qPrintable(bad.text));
        QCOMPARE(run(QStringLiteral("alice-gh"), QStringLiteral("pin nope b1")).errorCode, QStringLiteral("usage"));
        // The card tells that the component is pinned.
        QVERIFY(m_engine->deployCard(environment()->id)
                    ->component(QStringLiteral("web"))
                    ->status.startsWith(QStringLiteral("pinned to b1 (build 1)")));
    }

    void followGoesBackToTheBranch()
    {
        const CommandReply asked = run(QStringLiteral("alice-gh"), QStringLiteral("follow web"));
        QVERIFY(asked.ok);
        QCOMPARE(asked.data.value(u"branch").toString(), QStringLiteral("main")); // the pinned build's branch
        const CommandReply r = run(QStringLiteral("alice-gh"), QStringLiteral("confirm ") + asked.confirmToken);
        QVERIFY2(r.ok, qPrintable(r.text));
        const auto s = selection(QStringLiteral("web"));
        QCOMPARE(s->mode, model::Selection::Mode::Follow);
        QCOMPARE(s->branch, QStringLiteral("main"));
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:b2"));
        const CommandReply same = run(QStringLiteral("alice-gh"), QStringLiteral("follow web main"));
        QVERIFY(same.ok);
        QVERIFY(same.confirmToken.isEmpty());
        QCOMPARE(same.text, QStringLiteral("web already follows main"));
    }

    void redeployAllOrOne()
    {
        qsizetype from = m_events.size();
        CommandReply r = runConfirmed(QStringLiteral("bob-gh"), QStringLiteral("redeploy worker"));
        QVERIFY2(r.ok, qPrintable(r.text));
        QVERIFY(waitIdle());
        auto started = eventsOf(QStringLiteral("deploy.started"), from);
        QCOMPARE(started.size(), 1);
        QCOMPARE(started.at(0).payload.value(u"component").toString(), QStringLiteral("worker"));
        from = m_events.size();
        r = runConfirmed(QStringLiteral("bob-gh"), QStringLiteral("redeploy"));
        QVERIFY(r.ok);
        QCOMPARE(r.data.value(u"components").toArray().size(), 2);
        QVERIFY(waitIdle());
        QCOMPARE(eventsOf(QStringLiteral("deploy.succeeded"), from).size(), 2);
    }

    void confirmationExpiresAndCancels()
    {
        const qsizetype from = m_events.size();
        CommandReply asked = run(QStringLiteral("bob-gh"), QStringLiteral("redeploy"));
        QVERIFY(!asked.confirmToken.isEmpty());
        m_nowMs += 301 * 1000;
        CommandReply late = run(QStringLiteral("bob-gh"), QStringLiteral("confirm ") + asked.confirmToken);
        QCOMPARE(late.errorCode, QStringLiteral("not_found"));
        QVERIFY2(late.text.contains(QStringLiteral("valid 5 minutes")), qPrintable(late.text));

        asked = run(QStringLiteral("bob-gh"), QStringLiteral("redeploy"));
        m_nowMs += 299 * 1000; // still valid: cancelled
        const CommandReply cancelled = run(QStringLiteral("bob-gh"), QStringLiteral("cancel ") + asked.confirmToken);
        QVERIFY(cancelled.ok);
        QCOMPARE(cancelled.text, QStringLiteral("cancelled: redeploy"));
        QCOMPARE(run(QStringLiteral("bob-gh"), QStringLiteral("confirm ") + asked.confirmToken).errorCode,
                 QStringLiteral("not_found"));
        QCOMPARE(run(QStringLiteral("bob-gh"), QStringLiteral("confirm nosuch")).errorCode,
                 QStringLiteral("not_found"));
        QVERIFY(waitIdle());
        QVERIFY(eventsOf(QStringLiteral("deploy.started"), from).isEmpty());
    }

    void applyCard()
    {
        const qint64 envId = environment()->id;
        const qint64 b1 = artifactId(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("b1"));
        im::CardAction select;
        select.kind = im::CardAction::Kind::Select;
        select.cardId = QStringLiteral("env-%1").arg(envId);
        select.selections = {{QStringLiteral("web"), QStringLiteral("feature/login"), {}}};
        CommandReply r = m_engine->applyCard(context(QStringLiteral("bob-gh")), select);
        QVERIFY2(r.ok, qPrintable(r.text));
        QCOMPARE(r.card->component(QStringLiteral("web"))->selectedBranch, QStringLiteral("feature/login"));
        QCOMPARE(selection(QStringLiteral("web"))->branch, QStringLiteral("main")); // a choice, not a deploy

        im::CardAction confirm = select;
        confirm.kind = im::CardAction::Kind::Confirm;
        confirm.selections = {{QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("b1")},
                              {QStringLiteral("worker"), QStringLiteral("main"), {}}};
        // Not for non-members, nor for unknown cards.
        QCOMPARE(m_engine->applyCard(context(QStringLiteral("eve-gh")), confirm).errorCode,
                 QStringLiteral("forbidden"));
        im::CardAction gone = confirm;
        gone.cardId = QStringLiteral("env-999");
        QCOMPARE(m_engine->applyCard(context(QStringLiteral("bob-gh")), gone).errorCode, QStringLiteral("not_found"));
        im::CardAction badBuild = confirm;
        badBuild.selections = {{QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("zz")}};
        QCOMPARE(m_engine->applyCard(context(QStringLiteral("bob-gh")), badBuild).errorCode,
                 QStringLiteral("not_found"));
        QCOMPARE(selection(QStringLiteral("web"))->mode, model::Selection::Mode::Follow);

        r = m_engine->applyCard(context(QStringLiteral("bob-gh")), confirm);
        QVERIFY2(r.ok, qPrintable(r.text));
        QCOMPARE(r.card->requestedBy, QStringLiteral("Bob"));
        QCOMPARE(r.card->state, im::DeployCard::State::Deploying);
        QCOMPARE(r.data.value(u"applied").toArray().size(), 2);
        QCOMPARE(selection(QStringLiteral("web"))->mode, model::Selection::Mode::Pin);
        QCOMPARE(selection(QStringLiteral("web"))->artifactId, b1);
        QVERIFY(waitIdle());
        QCOMPARE(deployedImage(QStringLiteral("web")), QStringLiteral("iterdeck/demo-web:b1"));
        QCOMPARE(CommandEngine::environmentOfCard(QStringLiteral("env-12")), 12);
        QCOMPARE(CommandEngine::environmentOfCard(QStringLiteral("x-12")), 0);
    }

    void rateLimitPerUser()
    {
        CommandEngine engine(m_manifest, m_store.get(), m_manager.get());
        qint64 now = 0;
        engine.setClock([&now] { return now; });
        engine.setRateLimit(3, 30);
        for (int i = 0; i < 3; ++i)
            QVERIFY(engine.run(context(QStringLiteral("bob-gh")), QStringLiteral("help")).ok);
        const CommandReply limited = engine.run(context(QStringLiteral("bob-gh")), QStringLiteral("help"));
        QCOMPARE(limited.errorCode, QStringLiteral("rate_limited"));
        QCOMPARE(limited.text, QStringLiteral("slow down: at most 3 commands per 30 s; try again in 10 s"));
        QCOMPARE(limited.data.value(u"retryAfterSeconds").toInt(), 10);
        // Card actions count too.
        im::CardAction cancel;
        cancel.kind = im::CardAction::Kind::Cancel;
        cancel.cardId = QStringLiteral("env-1");
        QCOMPARE(engine.applyCard(context(QStringLiteral("bob-gh")), cancel).errorCode, QStringLiteral("rate_limited"));
        // Per user: Alice still may.
        QVERIFY(engine.run(context(QStringLiteral("alice-gh")), QStringLiteral("help")).ok);
        // One command comes back every 10 s.
        now += 10000;
        QVERIFY(engine.run(context(QStringLiteral("bob-gh")), QStringLiteral("help")).ok);
        QCOMPARE(engine.run(context(QStringLiteral("bob-gh")), QStringLiteral("help")).errorCode,
                 QStringLiteral("rate_limited"));
    }

    void environmentsDisabled()
    {
        CommandEngine engine(m_manifest, m_store.get(), nullptr);
        for (const char *t : {"deploy", "env", "env create", "branch web main", "redeploy", "destroy"}) {
            const CommandReply r = engine.run(context(QStringLiteral("root-gh")), QLatin1String(t));
            QCOMPARE(r.errorCode, QStringLiteral("unavailable"));
            QCOMPARE(r.text, QStringLiteral("environments are disabled"));
        }
        const CommandReply s = engine.run(context(QStringLiteral("bob-gh")), QStringLiteral("status"));
        QVERIFY(s.ok);
        QVERIFY(s.text.endsWith(QStringLiteral("environments are disabled")));
        QVERIFY(engine.run(context(QStringLiteral("bob-gh")), QStringLiteral("members")).ok);
    }

    void destroyIsForAdmins()
    {
        CommandReply r = run(QStringLiteral("bob-gh"), QStringLiteral("destroy"));
        QCOMPARE(r.errorCode, QStringLiteral("forbidden"));
        QVERIFY(r.text.startsWith(QStringLiteral("only admins may run \"destroy\"")));
        // Root is an admin and no member: outside the group, with --iteration.
        r = run(QStringLiteral("root-gh"), QStringLiteral("destroy --iteration generic:s1"), QString());
        QVERIFY2(r.ok, qPrintable(r.text));
        QVERIFY(!r.confirmToken.isEmpty());
        QCOMPARE(environment()->state, QStringLiteral("ready"));
        const qsizetype from = m_events.size();
        r = run(QStringLiteral("root-gh"), QStringLiteral("confirm ") + r.confirmToken, QString());
        QVERIFY2(r.ok, qPrintable(r.text));
        QVERIFY(waitIdle());
        QCOMPARE(environment()->state, QStringLiteral("deleted"));
        const auto deleting = eventsOf(QStringLiteral("environment.deleting"), from);
        QCOMPARE(deleting.size(), 1);
        QCOMPARE(deleting.at(0).payload.value(u"by").toString(), QStringLiteral("Root"));
        QCOMPARE(eventsOf(QStringLiteral("environment.deleted"), from).size(), 1);
        int status = 0;
        QDeadlineTimer deadline(30000);
        while (get(ResourceRef::namespaces(), {}, m_ns, &status), status != 404 && !deadline.hasExpired())
            QTest::qWait(200);
        QCOMPARE(status, 404);
        QCOMPARE(run(QStringLiteral("bob-gh"), QStringLiteral("deploy")).errorCode, QStringLiteral("not_found"));
    }
};

QTEST_GUILESS_MAIN(TestBotCommands)
#include "tst_botcommands.moc"
