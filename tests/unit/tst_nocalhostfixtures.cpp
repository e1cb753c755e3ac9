// Every real Nocalhost config in ../shared/fixtures/nocalhost-configs: the current formats
// load, the legacy format gets its error, and each odd file gets the problem it deserves.
#include "config/configfile.h"
#include "config/devconfigloader.h"

#include "testutil/testutil.h"

#include <QDirIterator>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::config;

namespace {

QStringList configsUnder(const QString &group)
{
    QStringList files;
    QDirIterator it(test::fixturesDir() + u"/nocalhost-configs/" + group, {QStringLiteral("config*.yaml")},
                    QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext())
        files.append(it.next());
    files.sort();
    return files;
}

DevConfigLoader loader()
{
    // A fixed environment: results must not depend on the machine.
    return DevConfigLoader({{{QStringLiteral("HOME"), QStringLiteral("/home/dev")}}, {}});
}

QString relative(const QString &path)
{
    return path.mid(test::fixturesDir().size() + int(qstrlen("/nocalhost-configs/")));
}

} // namespace

class TestNocalhostFixtures : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void currentLoads_data()
    {
        QTest::addColumn<QString>("file");
        const QStringList files = configsUnder(QStringLiteral("current"));
        QVERIFY(files.size() >= 45);
        for (const QString &f : files)
            QTest::newRow(qPrintable(relative(f))) << f;
    }
    void currentLoads()
    {
        QFETCH(QString, file);
        Diagnostics diag;
        const auto cfg = loader().loadFile(file, diag);
        QVERIFY2(cfg, qPrintable(diag.toString()));
        QVERIFY2(!diag.hasErrors(), qPrintable(diag.toString()));
        QCOMPARE(detectConfigKind(file), ConfigKind::Dev);
        // Every service has a type Nocalhost knows, and dev containers have a workDir.
        for (const auto &s : cfg->services) {
            QVERIFY(!s.serviceType.isEmpty());
            for (const auto &c : s.containers) {
                if (c.hasDev)
                    QVERIFY(c.dev.workDir.startsWith(u'/'));
            }
        }
        // Only the (missing) envFile may be warned about in the formats that reference one.
        for (const Diagnostic &d : diag.items())
            QVERIFY2(!d.isError(), qPrintable(d.toString()));
    }

    void legacyIsRejected_data()
    {
        QTest::addColumn<QString>("file");
        const QStringList files = configsUnder(QStringLiteral("legacy"));
        QCOMPARE(files.size(), 8);
        for (const QString &f : files)
            QTest::newRow(qPrintable(relative(f))) << f;
    }
    void legacyIsRejected()
    {
        QFETCH(QString, file);
        Diagnostics diag;
        QVERIFY(!loader().loadFile(file, diag));
        QCOMPARE(diag.errorCount(), 1);
        const Diagnostic d = *std::find_if(diag.items().cbegin(), diag.items().cend(),
                                           [](const Diagnostic &x) { return x.isError(); });
        QVERIFY2(d.message.startsWith(u"legacy Nocalhost format (appConfig / svcConfigs / devs)"),
                 qPrintable(d.toString()));
        QCOMPARE(d.where.file, file);
        QVERIFY(d.where.line >= 1);
    }

    void odd_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QStringList>("expected");
        const QString odd = test::fixturesDir() + u"/nocalhost-configs/odd/";
        QTest::newRow("typos esname/service")
            << odd + u"haozi23333__hello-nocaltest/.nocalhost/config.yaml"
            << QStringList {
                   QStringLiteral("1:1: error: missing required key \"name\""),
                   QStringLiteral("1:1: warning: unknown key \"esname\"; did you mean \"name\"? (ignored)"),
                   QStringLiteral("5:1: warning: unknown key \"service\"; did you mean \"services\"? (ignored)")};
        QTest::newRow("application without configProperties")
            << odd + u"labaq__demo-app-go/.nocalhost/config.yaml"
            << QStringList {
                   QStringLiteral("1:1: error: \"application\" needs \"configProperties: {version: v2}\" beside it; "
                                  "without it Nocalhost reads the file as the v1 format and ignores \"application\"")};
        QTest::newRow("missing include target")
            << odd + u"lipeiru0329__bookinfo/.nocalhost/config.yaml"
            << QStringList {
                   QStringLiteral(
                       "3:3: warning: envFile \"env.dev\": no such file; variables fall back to their defaults"),
                   QStringLiteral("21:5: error: cannot include \"./base-services.yaml\": no such file")};
        QTest::newRow("no-break spaces")
            << odd + u"nocalhost__bookinfo/.nocalhost/nocalhost-config.yaml"
            << QStringList {QStringLiteral("14:16: warning: a no-break space (U+00A0) after a value becomes part of "
                                           "the value; use a plain space"),
                            QStringLiteral("20:17: warning: a no-break space (U+00A0) after a value becomes part of "
                                           "the value; use a plain space"),
                            QStringLiteral("21:5: error: a no-break space (U+00A0) in the indentation; YAML "
                                           "indentation must be plain spaces"),
                            QStringLiteral("22:5: error: invalid YAML: could not find expected ':' (while scanning a "
                                           "simple key at line 21)"),
                            QStringLiteral("22:72: warning: \"$2\" is replaced by the variable 2, which is not set, so "
                                           "it becomes empty; write \"$$2\" for a literal \"$2\""),
                            QStringLiteral("22:101: warning: a no-break space (U+00A0) after a value becomes part of "
                                           "the value; use a plain space")};
    }
    void odd()
    {
        QFETCH(QString, file);
        QFETCH(QStringList, expected);
        Diagnostics diag;
        QVERIFY(!loader().loadFile(file, diag));
        QStringList got;
        for (const Diagnostic &d : diag.sorted())
            got.append(d.toString().mid(file.size() + 1));
        QCOMPARE(got, expected);
    }

    void includeAndEnvFileResolve()
    {
        // config-perfect.yaml includes perfect-services.yaml and reads env.dev beside it.
        const QString file
            = test::fixturesDir() + u"/nocalhost-configs/current/nocalhost__bookinfo/.nocalhost/config-perfect.yaml";
        Diagnostics diag;
        const auto cfg = loader().loadFile(file, diag);
        QVERIFY2(cfg, qPrintable(diag.toString()));
        QCOMPARE(cfg->form, model::DevConfig::Form::Application);
        QVERIFY(cfg->services.size() >= 4);
        QVERIFY(cfg->service(QStringLiteral("productpage")));
        // env.dev sets DEBUG=true and DOMAIN=coding.com, overriding the defaults in the file
        QCOMPARE(cfg->application.env.size(), 2);
        QCOMPARE(cfg->application.env[0].value, QStringLiteral("true"));
        QCOMPARE(cfg->application.env[1].value, QStringLiteral("coding.com"));
        QVERIFY(cfg->envFile.endsWith(u"/nocalhost__bookinfo/.nocalhost/env.dev"));
    }

    void processEnvironmentWinsOverEnvFile()
    {
        const QString file
            = test::fixturesDir() + u"/nocalhost-configs/current/nocalhost__bookinfo/.nocalhost/config-perfect.yaml";
        Diagnostics diag;
        const auto cfg
            = DevConfigLoader({{{QStringLiteral("DOMAIN"), QStringLiteral("from-process")}}, {}}).loadFile(file, diag);
        QVERIFY2(cfg, qPrintable(diag.toString()));
        QCOMPARE(cfg->application.env[1].value, QStringLiteral("from-process"));
    }

    void v1IsConverted()
    {
        const QString file = test::fixturesDir()
            + u"/nocalhost-configs/current/nocalhost__bookinfo/.nocalhost/config-v1-deprecated.yaml";
        Diagnostics diag;
        const auto cfg = loader().loadFile(file, diag);
        QVERIFY2(cfg, qPrintable(diag.toString()));
        QCOMPARE(cfg->form, model::DevConfig::Form::ApplicationV1);
        const auto *s = cfg->service(QStringLiteral("productpage"));
        QVERIFY(s);
        QCOMPARE(s->containers.size(), 1);
        const auto &dev = s->containers[0].dev;
        QCOMPARE(s->containers[0].name, QString());
        QCOMPARE(dev.image,
                 QStringLiteral("codingcorp-docker.pkg.coding.net/nocalhost/dev-images/python:3.7.7-slim-productpage"));
        QCOMPARE(dev.shell, QStringLiteral("bash"));
        QCOMPARE(dev.workDir, QStringLiteral("/root/nocalhost-dev"));
        QCOMPARE(dev.portForward, QStringList {QStringLiteral("39080:9080")});
        QCOMPARE(dev.command.run, QStringList {QStringLiteral("./run.sh")});
        QCOMPARE(dev.sync.ignoreFilePattern, QStringList {QStringLiteral(".git")});
        QCOMPARE(s->depend.jobs, QStringList {QStringLiteral("job-name=dep-job")});
    }

    void twoSpaceIndentedDocument()
    {
        const QString file = test::fixturesDir()
            + u"/nocalhost-configs/current/hunterzhang86__nocalhost-jrebel-demo/.nocalhost/config.yaml";
        Diagnostics diag;
        const auto cfg = loader().loadFile(file, diag);
        QVERIFY2(cfg, qPrintable(diag.toString()));
        QCOMPARE(cfg->services.size(), 1);
        const auto &dev = cfg->services[0].containers[0].dev;
        QCOMPARE(dev.sync.type, QStringLiteral("sendReceive"));
        QCOMPARE(dev.sync.mode, QStringLiteral("gitIgnore"));
        QCOMPARE(dev.workDir, QStringLiteral("/home/nocalhost-dev")); // "" means the default
        QCOMPARE(dev.remoteDebugPort, 5005);
        QCOMPARE(dev.debugLanguage, QStringLiteral("java"));
    }

    void checkAllAtOnce()
    {
        // What the README promises: checking every current config at once succeeds.
        int invalid = 0;
        for (const QString &f : configsUnder(QStringLiteral("current"))) {
            const auto r = checkConfigFile(f, std::nullopt, {{}, {}});
            invalid += r.valid ? 0 : 1;
            QVERIFY(r.valid == r.normalized.contains(u"services"));
        }
        QCOMPARE(invalid, 0);
    }
};

QTEST_GUILESS_MAIN(TestNocalhostFixtures)
#include "tst_nocalhostfixtures.moc"
