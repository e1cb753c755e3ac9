#include "config/teammanifestloader.h"

#include "testutil/testutil.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::config;

namespace {

// A small valid manifest; rows replace parts of it.
const QByteArray base = "project: shop\n" // 1
                        "im:\n" // 2
                        "  adapter: slack\n" // 3
                        "  botToken: {env: SLACK_BOT_TOKEN}\n" // 4
                        "  signingSecret: {env: SLACK_SIGNING_SECRET}\n" // 5
                        "components:\n" // 6
                        "  - name: api\n" // 7
                        "    repository: https://git.example.com/api.git\n" // 8
                        "    image: registry.example.com/shop/api\n" // 9
                        "    deploy: {driver: helm, chart: charts/api}\n"; // 10

QString check(const QByteArray &text, bool *valid = nullptr)
{
    Diagnostics diag;
    const auto m = TeamManifestLoader().loadText(text, QStringLiteral("m.yaml"), QStringLiteral("/team"), diag);
    if (valid)
        *valid = m.has_value();
    return diag.toString();
}

} // namespace

class TestTeamManifest : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void validBase()
    {
        bool valid = false;
        QCOMPARE(check(base, &valid), QString());
        QVERIFY(valid);
    }

    // The demo project: manifests components, environments on start, one secret for both hooks.
    void demoManifest()
    {
        Diagnostics diag;
        const auto m
            = TeamManifestLoader().loadFile(QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo/iterdeck.yaml"), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        QVERIFY2(diag.isEmpty(), qPrintable(diag.toString()));
        QCOMPARE(m->environment.create, QStringLiteral("onStart"));
        QVERIFY(m->cluster.kubeconfig.isEmpty());
        QCOMPARE(m->components.size(), 2);
        for (const model::ComponentSpec &c : std::as_const(m->components))
            QCOMPARE(c.deploy.driver, QStringLiteral("manifests"));
        QCOMPARE(m->webhooks.size(), 2);
        QCOMPARE(m->webhooks[0].source, QStringLiteral("github"));
        QCOMPARE(m->webhooks[1].source, QStringLiteral("generic"));
        for (const model::WebhookSource &w : std::as_const(m->webhooks))
            QCOMPARE(w.secret.name, QStringLiteral("ITERDECK_WEBHOOK_SECRET"));
    }

    void fullManifest()
    {
        Diagnostics diag;
        const auto m = TeamManifestLoader().loadFile(
            QStringLiteral(ITERDECK_SOURCE_DIR "/tests/unit/data/team-full.yaml"), diag);
        QVERIFY2(m, qPrintable(diag.toString()));
        QVERIFY2(diag.isEmpty(), qPrintable(diag.toString()));
        QCOMPARE(m->project, QStringLiteral("shop"));
        QCOMPARE(m->components.size(), 3);
        QCOMPARE(m->components[1].deploy.driver, QStringLiteral("manifests"));
        QCOMPARE(m->components[1].deploy.manifestsPath, QStringLiteral("deploy/k8s"));
        QCOMPARE(m->components[2].workload, QStringLiteral("sts/worker"));
        QCOMPARE(m->components[0].workload, QStringLiteral("deploy/api"));
        QCOMPARE(m->components[0].deploy.releaseName, QStringLiteral("api"));
        QCOMPARE(m->environment.cleanupGraceSeconds, 24 * 3600);
        QCOMPARE(m->im.secrets.value(QStringLiteral("appSecret")).name, QStringLiteral("FEISHU_APP_SECRET"));
        QVERIFY(m->im.secrets.value(QStringLiteral("encryptKey"))
                    .name.endsWith(u"/tests/unit/data/secrets/feishu-encrypt-key"));
        QCOMPARE(m->webhooks.size(), 3);
        QCOMPARE(m->webhooks[2].name, QStringLiteral("ci"));
        QCOMPARE(m->people[1].collabUsers, (QStringList {QStringLiteral("bob"), QStringLiteral("bob@example.com")}));
        const QJsonObject json = m->toJson();
        QCOMPARE(json.value(u"components")
                     .toArray()
                     .at(0)
                     .toObject()
                     .value(u"values")
                     .toObject()
                     .value(u"dev")
                     .toObject()
                     .value(u"replicaCount")
                     .toInt(),
                 1);
        QCOMPARE(json.value(u"webhooks").toArray().at(2).toObject().value(u"path").toString(),
                 QStringLiteral("/hooks/ci"));
        // secrets are shown as references, never values
        QCOMPARE(json.value(u"im")
                     .toObject()
                     .value(u"settings")
                     .toObject()
                     .value(u"appSecret")
                     .toObject()
                     .value(u"env")
                     .toString(),
                 QStringLiteral("FEISHU_APP_SECRET"));
    }

    void threeMistakesThreeErrors()
    {
        QByteArray text = base;
        text.replace("project: shop", "projet: shop"); // unknown key (+ missing project)
        text.replace("image: registry.example.com/shop/api", "image: registry.example.com/shop/api:1.0");
        text.replace("driver: helm", "driver: helmm");
        bool valid = true;
        const QString out = check(text, &valid);
        QVERIFY(!valid);
        QCOMPARE(out,
                 QStringLiteral(
                     "m.yaml:1:1: error: missing required key \"project\"\n"
                     "m.yaml:1:1: error: unknown key \"projet\"; did you mean \"project\"?\n"
                     "m.yaml:9:12: error: \"components[0].image\" must be an image repository without a tag "
                     "(\"registry.example.com/shop/api\"); builds are chosen per environment\n"
                     "m.yaml:10:22: error: \"components[0].deploy.driver\" must be \"helm\" or \"manifests\", not "
                     "\"helmm\"; did you mean \"helm\"?\n"));
    }

    void demoPerAdapter_data()
    {
        QTest::addColumn<QString>("adapter");
        for (const char *a : {"feishu", "wecom", "slack", "dingtalk"})
            QTest::newRow(a) << QString::fromLatin1(a);
    }

    void demoPerAdapter()
    {
        QFETCH(QString, adapter);
        Diagnostics diag;
        const auto m = TeamManifestLoader().loadFile(
            QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo/iterdeck-") + adapter + QStringLiteral(".yaml"), diag);
        QVERIFY2(m.has_value(), qPrintable(diag.items().isEmpty() ? QString() : diag.items().first().toString()));
        QCOMPARE(diag.items().size(), 0);
        QCOMPARE(m->im.adapter, adapter);
        QCOMPARE(m->im.secrets.value(QStringLiteral("apiBaseUrl")).name, QStringLiteral("ITERDECK_IM_API_BASE"));
        QStringList envs;
        for (const auto &ref : m->im.secrets) {
            if (ref.kind == model::SecretRef::Kind::Env)
                envs.append(ref.name);
        }
        QVERIFY(envs.contains(QStringLiteral("ITERDECK_IM_SECRET")));
        QVERIFY(adapter == u"dingtalk" || envs.contains(QStringLiteral("ITERDECK_IM_TOKEN")));
        QCOMPARE(m->components.size(), 3);
        QCOMPARE(m->people.size(), 2);
    }

    void apiBaseUrl_data()
    {
        QTest::addColumn<QByteArray>("line");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("env");
        QTest::newRow("a URL") << QByteArray("  apiBaseUrl: https://open.larksuite.com\n")
                               << QStringLiteral("https://open.larksuite.com") << QString();
        QTest::newRow("from the environment") << QByteArray("  apiBaseUrl: {env: ITERDECK_IM_API_BASE}\n") << QString()
                                              << QStringLiteral("ITERDECK_IM_API_BASE");
        QTest::newRow("not given") << QByteArray() << QString() << QString();
    }

    void apiBaseUrl()
    {
        QFETCH(QByteArray, line);
        QFETCH(QString, value);
        QFETCH(QString, env);
        QByteArray text = base;
        text.replace("components:", QByteArray(line + "components:"));
        Diagnostics diag;
        const auto m = TeamManifestLoader().loadText(text, QStringLiteral("m.yaml"), QStringLiteral("/team"), diag);
        QVERIFY(m.has_value());
        QCOMPARE(m->im.values.value(QStringLiteral("apiBaseUrl")), value);
        QCOMPARE(m->im.secrets.value(QStringLiteral("apiBaseUrl")).name, env);
    }

    void errors_data()
    {
        QTest::addColumn<QByteArray>("from");
        QTest::addColumn<QByteArray>("to");
        QTest::addColumn<QString>("expected");

        QTest::newRow("unknown top-level key")
            << QByteArray("components:") << QByteArray("comonents:")
            << "m.yaml:1:1: warning: no components: environments will be empty\n"
               "m.yaml:6:1: error: unknown key \"comonents\"; did you mean \"components\"?\n";
        QTest::newRow("project not a DNS label")
            << QByteArray("project: shop") << QByteArray("project: Shop_Online")
            << "m.yaml:1:10: error: project name \"Shop_Online\" is not a valid DNS label (lower-case letters, digits "
               "and '-', at most 63 characters)\n";
        QTest::newRow("inline secret")
            << QByteArray("botToken: {env: SLACK_BOT_TOKEN}") << QByteArray("botToken: xoxb-123")
            << "m.yaml:4:13: error: \"im.botToken\" must reference the secret, not contain it: write {env: NAME} or "
               "{file: PATH}\n";
        QTest::newRow("secret with both")
            << QByteArray("{env: SLACK_BOT_TOKEN}") << QByteArray("{env: A, file: b}")
            << "m.yaml:4:13: error: \"im.botToken\" must have exactly one of \"env\" or \"file\"\n";
        QTest::newRow("bad env name") << QByteArray("{env: SLACK_BOT_TOKEN}") << QByteArray("{env: 1SLACK}")
                                      << "m.yaml:4:19: error: \"1SLACK\" is not a valid environment variable name\n";
        QTest::newRow("unknown adapter")
            << QByteArray("adapter: slack") << QByteArray("adapter: slak")
            << "m.yaml:3:12: error: \"im.adapter\" must be \"none\", \"feishu\", \"wecom\", \"slack\" or \"dingtalk\", "
               "not \"slak\"; did you mean \"slack\"?\n"
               "m.yaml:4:3: error: unknown key \"botToken\" in im\n"
               "m.yaml:5:3: error: unknown key \"signingSecret\" in im\n";
        QTest::newRow("apiBaseUrl not a URL")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n  apiBaseUrl: slack.example.com/api\n")
            << "m.yaml:6:15: error: \"im.apiBaseUrl\" must be an http or https URL without query, such as "
               "https://open.larksuite.com, not \"slack.example.com/api\"\n";
        QTest::newRow("apiBaseUrl with query")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n  apiBaseUrl: https://p.example/api?x=1\n")
            << "m.yaml:6:15: error: \"im.apiBaseUrl\" must be an http or https URL without query, such as "
               "https://open.larksuite.com, not \"https://p.example/api?x=1\"\n";
        QTest::newRow("apiBaseUrl as a bad reference")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n  apiBaseUrl: {url: x}\n")
            << "m.yaml:6:15: error: \"im.apiBaseUrl\" must have exactly one of \"env\" or \"file\"\n"
               "m.yaml:6:16: error: unknown key \"url\" in im.apiBaseUrl\n";
        QTest::newRow("apiBaseUrl without an adapter") << QByteArray(
            "  adapter: slack\n  botToken: {env: SLACK_BOT_TOKEN}\n  signingSecret: {env: SLACK_SIGNING_SECRET}\n")
                                                       << QByteArray(
                                                              "  adapter: none\n  apiBaseUrl: https://x.example\n")
                                                       << "m.yaml:4:3: error: unknown key \"apiBaseUrl\" in im\n";
        QTest::newRow("adapter key missing")
            << QByteArray("  signingSecret: {env: SLACK_SIGNING_SECRET}\n") << QByteArray()
            << "m.yaml:3:3: error: missing required key \"signingSecret\" in im\n";
        QTest::newRow("unknown placeholder")
            << QByteArray("components:")
            << QByteArray("environment:\n  namespace: \"{project}-{iteraton}\"\ncomponents:")
            << "m.yaml:7:25: error: environment.namespace: unknown placeholder {iteraton}; did you mean "
               "\"iteration\"?; "
               "allowed: \"project\" and \"iteration\"\n";
        QTest::newRow("component placeholder in namespace")
            << QByteArray("components:") << QByteArray("environment:\n  namespace: ns-{component}\ncomponents:")
            << "m.yaml:7:17: error: environment.namespace: the placeholder {component} cannot be used here; allowed: "
               "\"project\" and \"iteration\"\n";
        QTest::newRow("namespace invalid after expansion")
            << QByteArray("components:")
            << QByteArray("environment:\n  namespace: \"{project}_{iteration}\"\ncomponents:")
            << "m.yaml:7:14: error: environment.namespace \"{project}_{iteration}\" expands to \"shop_sprint-42\", "
               "which "
               "is not a valid namespace name (a DNS label: lower-case letters, digits and '-', at most 63 "
               "characters)\n";
        QTest::newRow("namespace too long")
            << QByteArray("components:")
            << QByteArray(
                   "environment:\n  namespace: \"{project}-the-long-name-of-our-test-area-{iteration}\"\ncomponents:")
            << "m.yaml:7:14: error: environment.namespace \"{project}-the-long-name-of-our-test-area-{iteration}\" can "
               "exceed 63 characters: with a 30-character iteration name it is 66 characters long\n";
        QTest::newRow("domain invalid") << QByteArray(
            "components:") << QByteArray("environment:\n  domain: \"{iteration}..example.com\"\ncomponents:")
                                        << "m.yaml:7:11: error: environment.domain \"{iteration}..example.com\" "
                                           "expands to \"sprint-42..example.com\", "
                                           "which is not a valid domain name\n";
        QTest::newRow("bad environment.create")
            << QByteArray("components:") << QByteArray("environment:\n  create: atStart\ncomponents:")
            << "m.yaml:7:11: error: \"environment.create\" must be \"onStart\" or \"onDemand\", not \"atStart\"; did "
               "you mean \"onStart\"?\n";
        QTest::newRow("bad duration") << QByteArray("components:")
                                      << QByteArray("cleanup:\n  gracePeriod: one day\ncomponents:")
                                      << "m.yaml:7:16: error: \"cleanup.gracePeriod\" must be a duration such as 30m, "
                                         "24h, 7d or 1h30m, not \"one "
                                         "day\"\n";
        QTest::newRow("component name") << QByteArray("name: api") << QByteArray("name: API")
                                        << "m.yaml:7:11: error: component name \"API\" is not a valid DNS label "
                                           "(lower-case letters, digits and '-', "
                                           "at most 63 characters)\n";
        QTest::newRow("repository") << QByteArray("https://git.example.com/api.git") << QByteArray("not a url")
                                    << "m.yaml:8:17: error: \"components[0].repository\" must be a git URL (https://, "
                                       "ssh://, git@host:path or a "
                                       "local path), not \"not a url\"\n";
        QTest::newRow("image digest")
            << QByteArray("shop/api\n") << QByteArray("shop/api@sha256:abc\n")
            << "m.yaml:9:12: error: \"components[0].image\" must be an image repository without a digest; builds are "
               "chosen per environment\n";
        QTest::newRow("image upper case")
            << QByteArray("shop/api\n") << QByteArray("Shop/API\n")
            << "m.yaml:9:12: error: \"components[0].image\" is not a valid image repository: "
               "\"registry.example.com/Shop/API\"\n";
        QTest::newRow("helm without chart")
            << QByteArray("{driver: helm, chart: charts/api}") << QByteArray("{driver: helm}")
            << "m.yaml:10:13: error: missing required key \"chart\" in components[0].deploy\n";
        QTest::newRow("manifests with chart")
            << QByteArray("{driver: helm, chart: charts/api}") << QByteArray("{driver: manifests, path: k8s, chart: x}")
            << "m.yaml:10:44: error: \"components[0].deploy.chart\" is for the helm driver; the manifests driver takes "
               "\"path\"\n";
        QTest::newRow("bad version policy")
            << QByteArray("chart: charts/api}") << QByteArray("chart: charts/api, version: newest}")
            << "m.yaml:10:56: error: \"components[0].deploy.version\" must be \"latest\", a version such as 1.4.2, or "
               "a "
               "range such as \"^1.4\" or \">=1.0 <2.0\", not \"newest\"\n";
        QTest::newRow("missing deploy") << QByteArray("    deploy: {driver: helm, chart: charts/api}\n") << QByteArray()
                                        << "m.yaml:7:5: error: missing required key \"deploy\" in components[0]\n";
        QTest::newRow("duplicate component")
            << QByteArray("    deploy: {driver: helm, chart: charts/api}\n")
            << QByteArray("    deploy: {driver: helm, chart: charts/api}\n  - name: api\n    repository: /srv/api\n"
                          "    image: api\n    deploy: {driver: manifests, path: k8s}\n")
            << "m.yaml:11:5: error: component \"api\" is defined twice\n";
        QTest::newRow("duplicate key") << QByteArray("project: shop\n") << QByteArray("project: shop\nproject: shop2\n")
                                       << "m.yaml:2:1: error: duplicate key \"project\" (first given on line 1)\n";
        QTest::newRow("wrong type list")
            << QByteArray("components:\n") << QByteArray("components: api\nx:\n")
            << "m.yaml:6:13: error: \"components\" must be a list, not the scalar \"api\"\n"
               "m.yaml:7:1: error: unknown key \"x\"\n";
        QTest::newRow("bad workload") << QByteArray("    image:")
                                      << QByteArray("    workload: daemonset/api\n    image:")
                                      << "m.yaml:9:15: error: \"components[0].workload\" must be deploy/NAME or "
                                         "sts/NAME, not \"daemonset/api\"\n";
        QTest::newRow("webhook unknown source")
            << QByteArray("components:")
            << QByteArray("webhooks:\n  - source: gitlb\n    secret: {env: T}\ncomponents:")
            << "m.yaml:7:13: error: \"webhooks[0].source\" must be \"generic\", \"github\", \"gitlab\", \"jira\", "
               "\"jenkins\", "
               "\"registry\" or \"harbor\", not \"gitlb\"; did you mean \"gitlab\"?\n";
        QTest::newRow("webhook without secret")
            << QByteArray("components:") << QByteArray("webhooks:\n  - source: gitlab\ncomponents:")
            << "m.yaml:7:5: error: missing required key \"secret\" in webhooks[0]\n";
        QTest::newRow("person without identity")
            << QByteArray("components:") << QByteArray("people:\n  - name: Carol\n    admin: true\ncomponents:")
            << "m.yaml:7:5: error: person \"Carol\" needs at least one identity: \"im\", \"collab\" or \"kube\"\n";
        QTest::newRow("people share an identity")
            << QByteArray("components:")
            << QByteArray("people:\n  - {name: A, im: u1, admin: true}\n  - {name: B, im: u1}\ncomponents:")
            << "m.yaml:8:5: error: IM identity \"u1\" is given to both \"A\" and \"B\"\n";
        QTest::newRow("admin not a bool")
            << QByteArray("components:") << QByteArray("people:\n  - {name: A, im: u1, admin: sure}\ncomponents:")
            << "m.yaml:1:1: warning: no person is an admin; nobody can run admin commands\n"
               "m.yaml:7:30: error: \"people[0].admin\" must be true or false, not the scalar \"sure\"\n";
        QTest::newRow("in-cluster and kubeconfig")
            << QByteArray("components:") << QByteArray("cluster:\n  inCluster: true\n  kubeconfig: k.yaml\ncomponents:")
            << "m.yaml:8:3: error: \"cluster.kubeconfig\" cannot be used with \"cluster.inCluster: true\"\n";
        QTest::newRow("version")
            << QByteArray("project: shop\n") << QByteArray("version: 2\nproject: shop\n")
            << "m.yaml:1:10: error: unsupported manifest version 2; this Iterdeck reads version 1\n";
    }
    void errors()
    {
        QFETCH(QByteArray, from);
        QFETCH(QByteArray, to);
        QFETCH(QString, expected);
        QByteArray text = base;
        QVERIFY2(text.contains(from), from.constData());
        text.replace(from, to);
        bool valid = true;
        const QString out = check(text, &valid);
        QCOMPARE(out, expected);
        QCOMPARE(valid, !expected.contains(u": error: "));
    }

    void warnings()
    {
        QByteArray text = base + "    values: {prod: {a: 1}}\npeople:\n  - {name: A, im: u1}\n";
        bool valid = false;
        QCOMPARE(check(text, &valid),
                 QStringLiteral("m.yaml: warning: no person is an admin; nobody can run admin commands\n"
                                "m.yaml:7:5: warning: component \"api\" has values for \"prod\" but none for the "
                                "environment's values class \"default\"\n")
                     .replace(QStringLiteral("m.yaml: warning"), QStringLiteral("m.yaml:1:1: warning")));
        QVERIFY(valid);
    }

    void hostileInput_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty")
            << QByteArray() << "m.yaml:1:1: error: empty file: a team manifest needs at least \"project\" and \"im\"\n";
        QTest::newRow("only comments")
            << QByteArray("# nothing\n---\n")
            << "m.yaml:1:1: error: empty file: a team manifest needs at least \"project\" and \"im\"\n";
        QTest::newRow("binary") << QByteArray("project: a\n\x00\x01\x02", 14)
                                << "m.yaml:2:1: error: binary data (a NUL byte) where YAML text was expected\n";
        QTest::newRow("latin-1")
            << QByteArray("project: caf\xE9\n")
            << "m.yaml:1:13: error: not valid UTF-8 text (byte 0xE9); config files must be UTF-8\n";
        QTest::newRow("bad yaml") << QByteArray("project: [shop\nim: x\n")
                                  << "m.yaml:2:3: error: invalid YAML: did not find expected ',' or ']' (while parsing "
                                     "a flow sequence at line 1)\n";
        QTest::newRow("tab indent")
            << QByteArray("project: shop\nim:\n\tadapter: none\n")
            << "m.yaml:3:1: error: invalid YAML: found character that cannot start any token (while scanning for the "
               "next token); this line is indented with a tab, and YAML indentation must be spaces\n";
        QTest::newRow("scalar document")
            << QByteArray("hello\n")
            << "m.yaml:1:1: error: a team manifest must be a mapping at the top level, not the scalar \"hello\"\n";
        QTest::newRow("two documents") << QByteArray("project: a\n---\nproject: b\n")
                                       << "m.yaml:3:1: error: a team manifest is one YAML document; found 2\n";
        QTest::newRow("deep nesting") << QByteArray(
            100000, '[') << "m.yaml:1:101: error: nesting deeper than 100 levels; this is not a config file\n";
        QTest::newRow("deep block nesting")
            << QByteArray("- ").repeated(20000) + QByteArray("x\n")
            << "m.yaml:1:1000: error: nesting deeper than 500 levels; this is not a config file\n";
        QTest::newRow("oversize") << QByteArray(
            3 * 1024 * 1024,
            '#') << "m.yaml: error: too large to be a config file (3145728 bytes; the limit is 2097152)\n";
    }
    void hostileInput()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        bool valid = true;
        QCOMPARE(check(text, &valid), expected);
        QVERIFY(!valid);
    }

    void aliasBomb()
    {
        // Nine levels of nine aliases: 9^9 nodes if expanded. The budget stops the walk.
        QByteArray text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
        for (int i = 1; i < 10; ++i) {
            text += QByteArray("a") + QByteArray::number(i) + ": &a" + QByteArray::number(i) + " [";
            for (int k = 0; k < 9; ++k)
                text += (k ? ", *a" : "*a") + QByteArray::number(i - 1);
            text += "]\n";
        }
        text = "project: shop\nim: {adapter: none}\ncomponents:\n  - name: api\n    repository: /r\n    image: i\n"
               "    deploy: {driver: manifests, path: p}\n    values:\n      default:\n"
            + text.replace("\na", "\n        a").prepend("        ");
        QElapsedTimer timer;
        timer.start();
        bool valid = true;
        const QString out = check(text, &valid);
        QVERIFY(!valid);
        QVERIFY2(out.contains(u"more than 200000 nodes once aliases are expanded"), qPrintable(out));
    }
};

QTEST_GUILESS_MAIN(TestTeamManifest)
#include "tst_teammanifest.moc"
