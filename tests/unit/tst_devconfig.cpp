#include "config/devconfigloader.h"

#include <QJsonObject>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::config;

namespace {

const QByteArray base = "name: api\n" // 1
                        "serviceType: deployment\n" // 2
                        "containers:\n" // 3
                        "  - name: api\n" // 4
                        "    dev:\n" // 5
                        "      image: golang:1.22\n" // 6
                        "      workDir: /src\n" // 7
                        "      sync:\n" // 8
                        "        type: send\n" // 9
                        "      portForward: [\"8080:8080\"]\n"; // 10

QString check(const QByteArray &text, bool *valid = nullptr, model::DevConfig *out = nullptr)
{
    Diagnostics diag;
    const auto cfg = DevConfigLoader({{}, {}}).loadText(text, QStringLiteral("c.yaml"), diag);
    if (valid)
        *valid = cfg.has_value();
    if (cfg && out)
        *out = *cfg;
    return diag.toString();
}

} // namespace

class TestDevConfig : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void defaults()
    {
        bool valid = false;
        model::DevConfig cfg;
        QCOMPARE(check("containers:\n  - name: app\n    dev: {}\n", &valid, &cfg), QString());
        QVERIFY(valid);
        QCOMPARE(cfg.form, model::DevConfig::Form::SingleService);
        QCOMPARE(cfg.services.size(), 1);
        const auto &s = cfg.services[0];
        QCOMPARE(s.name, QString());
        QCOMPARE(s.serviceType, QStringLiteral("deployment"));
        const auto &dev = s.containers[0].dev;
        QCOMPARE(dev.workDir, QStringLiteral("/home/nocalhost-dev"));
        QCOMPARE(dev.sync.type, QStringLiteral("send"));
        QCOMPARE(dev.sync.mode, QStringLiteral("pattern"));
        QVERIFY(dev.sync.deleteProtection);
        QCOMPARE(dev.iterdeck.mode, QStringLiteral("replace"));
        QVERIFY(!dev.iterdeck.syncGit);
        const QJsonObject json = cfg.toJson();
        QCOMPARE(json.value(u"form").toString(), QStringLiteral("service"));
    }

    void syncTypes_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("normalized");
        QTest::addColumn<bool>("warns");
        QTest::newRow("send") << "send"
                              << "send" << false;
        QTest::newRow("sendonly") << "sendonly"
                                  << "send" << false;
        QTest::newRow("SEND") << "SEND"
                              << "send" << false;
        QTest::newRow("sendReceive") << "sendReceive"
                                     << "sendReceive" << false;
        QTest::newRow("sendreceive") << "sendreceive"
                                     << "sendReceive" << true;
        QTest::newRow("empty") << "\"\""
                               << "send" << false;
    }
    void syncTypes()
    {
        QFETCH(QString, type);
        QFETCH(QString, normalized);
        QFETCH(bool, warns);
        QByteArray text = base;
        text.replace("type: send", QByteArray("type: " + type.toUtf8()));
        bool valid = false;
        model::DevConfig cfg;
        const QString out = check(text, &valid, &cfg);
        QVERIFY(valid);
        QCOMPARE(cfg.services[0].containers[0].dev.sync.type, normalized);
        QCOMPARE(!out.isEmpty(), warns);
        if (warns) {
            QCOMPARE(
                out,
                QStringLiteral("c.yaml:9:15: warning: sync type \"sendreceive\" means two-way sync here; Nocalhost "
                               "itself only recognises the exact spelling \"sendReceive\" and syncs one way "
                               "otherwise\n"));
        }
    }

    void problems_data()
    {
        QTest::addColumn<QByteArray>("from");
        QTest::addColumn<QByteArray>("to");
        QTest::addColumn<QString>("expected");
        QTest::newRow("bad sync type") << QByteArray("type: send") << QByteArray("type: both")
                                       << "c.yaml:9:15: error: \"containers[0].dev.sync.type\" must be \"send\" "
                                          "(one-way) or \"sendReceive\" (two-way), not \"both\"\n";
        QTest::newRow("bad sync mode") << QByteArray("type: send") << QByteArray("type: send\n        mode: gitignored")
                                       << "c.yaml:10:15: error: \"containers[0].dev.sync.mode\" must be \"pattern\" or "
                                          "\"gitIgnore\", not \"gitignored\"; did you mean \"gitIgnore\"?\n";
        QTest::newRow("port forward") << QByteArray("\"8080:8080\"")
                                      << QByteArray("\"8080:8080\", \"80:99999\", \"http\"")
                                      << "c.yaml:10:34: error: \"containers[0].dev.portForward[1]\" must be "
                                         "LOCAL:REMOTE, :REMOTE or PORT with ports from 0 to 65535, not \"80:99999\"\n"
                                         "c.yaml:10:46: error: \"containers[0].dev.portForward[2]\" must be "
                                         "LOCAL:REMOTE, :REMOTE or PORT with ports from 0 to 65535, not \"http\"\n";
        QTest::newRow("random local port is fine")
            << QByteArray("\"8080:8080\"") << QByteArray("\":8080\", \"9000\"") << QString();
        QTest::newRow("relative workDir") << QByteArray("workDir: /src") << QByteArray("workDir: src")
                                          << "c.yaml:7:16: error: \"containers[0].dev.workDir\" must be an absolute "
                                             "path in the container, not \"src\"\n";
        QTest::newRow("quantity")
            << QByteArray("      workDir: /src\n")
            << QByteArray("      workDir: /src\n      resources: {limits: {cpu: 2 cores, memory: 1Gi}}\n")
            << "c.yaml:8:33: error: \"containers[0].dev.resources.limits.cpu\" is not a Kubernetes quantity such as "
               "500m, 2 or 1Gi: \"2 cores\"\n";
        QTest::newRow("debug port")
            << QByteArray("      workDir: /src\n")
            << QByteArray("      workDir: /src\n      debug: {remoteDebugPort: 70000, language: golang}\n")
            << "c.yaml:8:32: error: \"containers[0].dev.debug.remoteDebugPort\" must be between 0 and 65535, not "
               "70000\n"
               "c.yaml:8:49: error: \"containers[0].dev.debug.language\" must be \"node\", \"java\", \"go\", "
               "\"python\", \"php\" or \"ruby\", not \"golang\"\n";
        QTest::newRow("json patch shape")
            << QByteArray("      workDir: /src\n")
            << QByteArray(
                   "      workDir: /src\n      patches:\n        - type: json\n          patch: '{\"spec\": {}}'\n")
            << "c.yaml:10:18: error: a json patch must be a list of operations ([{\"op\": ...}])\n";
        QTest::newRow("strategic patch not yaml")
            << QByteArray("      workDir: /src\n")
            << QByteArray("      workDir: /src\n      patches:\n        - patch: '{\"spec\": [}'\n")
            << "c.yaml:9:18: error: the patch is neither JSON nor YAML: did not find expected node content (while "
               "parsing a flow node)\n";
        QTest::newRow("unknown key warns")
            << QByteArray("      workDir: /src\n") << QByteArray("      workDir: /src\n      imagee: x\n")
            << "c.yaml:8:7: warning: unknown key \"imagee\" in containers[0].dev; did you mean \"image\"? (ignored)\n";
        QTest::newRow("iterdeck keys are strict")
            << QByteArray("      workDir: /src\n")
            << QByteArray("      workDir: /src\n      iterdeck: {mode: duplicate, syncgit: true}\n")
            << "c.yaml:8:35: error: unknown key \"syncgit\" in containers[0].dev.iterdeck; did you mean \"syncGit\"?\n";
        QTest::newRow("unknown service type")
            << QByteArray("serviceType: deployment") << QByteArray("serviceType: deploy")
            << "c.yaml:2:14: error: unknown serviceType \"deploy\"; Nocalhost knows \"deployment\", \"statefulset\", "
               "\"daemonset\", \"job\", \"cronjob\" or \"pod\"\n";
        QTest::newRow("service type case")
            << QByteArray("serviceType: deployment") << QByteArray("serviceType: StatefulSet") << QString();
        QTest::newRow("duplicate container")
            << QByteArray("containers:\n") << QByteArray("containers:\n  - name: api\n")
            << "c.yaml:5:5: error: container \"api\" is configured twice in service \"api\"\n";
        QTest::newRow("ignore everything")
            << QByteArray("type: send") << QByteArray("type: send\n        ignoreFilePattern: [\".\"]")
            << "c.yaml:10:29: warning: ignoreFilePattern \".\" ignores every file: nothing will be synced\n";
        QTest::newRow("env without name")
            << QByteArray("      workDir: /src\n") << QByteArray("      workDir: /src\n      env: [{value: 1}]\n")
            << "c.yaml:8:13: error: missing required key \"name\" in containers[0].dev.env[0]\n";
        QTest::newRow("containers not a list")
            << QByteArray("containers:\n  - name: api\n    dev:\n      image: golang:1.22\n      workDir: /src\n      "
                          "sync:\n        type: send\n      portForward: [\"8080:8080\"]\n")
            << QByteArray("containers: api\n")
            << "c.yaml:3:13: error: \"containers\" must be a list, not the scalar \"api\"\n";
    }
    void problems()
    {
        QFETCH(QByteArray, from);
        QFETCH(QByteArray, to);
        QFETCH(QString, expected);
        QByteArray text = base;
        QVERIFY2(text.contains(from), from.constData());
        text.replace(from, to);
        bool valid = false;
        QCOMPARE(check(text, &valid), expected);
        QCOMPARE(valid, !expected.contains(u": error: "));
    }

    void forms_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("form");
        QTest::addColumn<int>("services");
        QTest::addColumn<QString>("expected");
        QTest::newRow("multi-document") << QByteArray(
            "name: a\ncontainers: [{name: a}]\n---\nname: b\ncontainers: [{name: b}]\n")
                                        << int(model::DevConfig::Form::SingleService) << 2 << QString();
        QTest::newRow("list") << QByteArray(
            "- name: a\n  serviceType: deployment\n- name: b\n  serviceType: statefulset\n")
                              << int(model::DevConfig::Form::SingleService) << 2 << QString();
        QTest::newRow("application") << QByteArray(
            "configProperties: {version: v2}\napplication:\n  name: shop\n  manifestType: helmGit\n  services:\n    - "
            "{name: a, serviceType: deployment}\n")
                                     << int(model::DevConfig::Form::Application) << 1 << QString();
        QTest::newRow("duplicate service, last wins")
            << QByteArray("- {name: a, containers: [{name: x}]}\n- {name: a, containers: [{name: y}]}\n")
            << int(model::DevConfig::Form::SingleService) << 1
            << "c.yaml:2:3: warning: service \"a\" (deployment) is configured twice; the last one wins, as in "
               "Nocalhost\n";
    }
    void forms()
    {
        QFETCH(QByteArray, text);
        QFETCH(int, form);
        QFETCH(int, services);
        QFETCH(QString, expected);
        bool valid = false;
        model::DevConfig cfg;
        QCOMPARE(check(text, &valid, &cfg), expected);
        QVERIFY(valid);
        QCOMPARE(int(cfg.form), form);
        QCOMPARE(cfg.services.size(), services);
    }

    void duplicateServiceKeepsLast()
    {
        model::DevConfig cfg;
        check("- {name: a, containers: [{name: x}]}\n- {name: a, containers: [{name: y}]}\n", nullptr, &cfg);
        QCOMPARE(cfg.services[0].containers[0].name, QStringLiteral("y"));
    }

    void invalidForms_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty") << QByteArray("") << "c.yaml:1:1: error: empty file: no dev config in it\n";
        QTest::newRow("not a config") << QByteArray("foo: 1\nbar: 2\n")
                                      << "c.yaml:1:1: error: not a dev config: expected \"name\" + \"serviceType\" + "
                                         "\"containers\" (one service), "
                                         "\"configProperties\" + \"application\" (an application), or \"name\" + "
                                         "\"manifestType\" + \"services\" (v1); "
                                         "found the keys \"foo\" and \"bar\"\n";
        QTest::newRow("wrong version") << QByteArray("configProperties: {version: v3}\napplication: {name: a}\n")
                                       << "c.yaml:1:29: error: configProperties.version must be \"v2\", not \"v3\"\n";
        QTest::newRow("two applications")
            << QByteArray("configProperties: {version: v2}\napplication: {name: a}\n---\nconfigProperties: {version: "
                          "v2}\napplication: {name: b}\n")
            << "c.yaml:4:1: error: an application config must be the only document in its file\n";
        QTest::newRow("unknown manifestType")
            << QByteArray("configProperties: {version: v2}\napplication: {name: a, manifestType: helm}\n")
            << "c.yaml:2:38: error: \"application.manifestType\" must be \"helmGit\", \"helmRepo\", \"rawManifest\", "
               "\"rawManifestGit\", \"rawManifestLocal\", \"helmLocal\", \"kustomizeGit\" or \"kustomizeLocal\", not "
               "\"helm\"\n";
        QTest::newRow("no include from cluster text") << QByteArray("name: a\ncontainers: ${_INCLUDE_:-/etc/passwd}\n")
                                                      << "c.yaml:2:13: error: includes are only allowed in local "
                                                         "config files, not in configs read from the cluster\n";
    }
    void invalidForms()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        bool valid = true;
        QCOMPARE(check(text, &valid), expected);
        QVERIFY(!valid);
    }
};

QTEST_GUILESS_MAIN(TestDevConfig)
#include "tst_devconfig.moc"
