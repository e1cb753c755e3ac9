// The programs as a user runs them: exit codes, output, --version and --help.
#include "testutil/testutil.h"

#include <QDirIterator>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

namespace {

struct Run
{
    int code = -1;
    QString out;
    QString err;
};

Run run(const QString &program, const QStringList &args, const QString &language = QStringLiteral("en"))
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("LANG"),
               language == u"en" ? QStringLiteral("C.UTF-8") : language + QStringLiteral(".UTF-8"));
    env.insert(QStringLiteral("LANGUAGE"), language);
    env.remove(QStringLiteral("LC_ALL"));
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForFinished(60000)) {
        p.kill();
        p.waitForFinished();
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

QString ctl()
{
    return QStringLiteral(ITERDECKCTL_PATH);
}

} // namespace

class TestCli : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void versionAndHelp_data()
    {
        QTest::addColumn<QString>("program");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("helpMentions");
        QTest::newRow("iterdeckctl") << ctl() << "iterdeckctl"
                                     << "config";
        QTest::newRow("iterdeck-bot") << QStringLiteral(ITERDECK_BOT_PATH) << "iterdeck-bot"
                                      << "--check-config";
        QTest::newRow("iterdeck-agent") << QStringLiteral(ITERDECK_AGENT_PATH) << "iterdeck-agent"
                                        << "--version";
        if (!QStringLiteral(ITERDECK_GUI_PATH).isEmpty())
            QTest::newRow("iterdeck") << QStringLiteral(ITERDECK_GUI_PATH) << "iterdeck"
                                      << "--version";
    }
    void versionAndHelp()
    {
        QFETCH(QString, program);
        QFETCH(QString, name);
        QFETCH(QString, helpMentions);
        const Run v = run(program, {QStringLiteral("--version")});
        QCOMPARE(v.code, 0);
        QCOMPARE(v.out.trimmed(), name + QStringLiteral(" " ITERDECK_VERSION));
        const Run h = run(program, {QStringLiteral("--help")});
        QCOMPARE(h.code, 0);
        QVERIFY2(h.out.contains(helpMentions), qPrintable(h.out));
        // help lists only what works: nothing about features this version does not have
        if (name == u"iterdeck-bot") {
            for (const char *absent : {"dev start", "deploy", "port-forward"})
                QVERIFY2(!h.out.contains(QString::fromLatin1(absent)), absent);
        }
        if (name == u"iterdeckctl") {
            QVERIFY2(!h.out.contains(QStringLiteral("dev start")), "dev start");
            for (const char *verb : {"get", "exec", "logs", "port-forward", "apply", "sandbox", "sync"})
                QVERIFY2(h.out.contains(QStringLiteral("\n  %1 ").arg(QString::fromLatin1(verb))), verb);
        }
    }

    void agentIsStatic()
    {
        QFile f(QStringLiteral(ITERDECK_AGENT_PATH));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray elf = f.read(1 << 20);
        // A static executable has no PT_INTERP program header and so no path to the dynamic loader.
        QVERIFY(elf.startsWith("\x7f"
                               "ELF"));
        QVERIFY(!elf.contains("ld-linux"));
        // It is copied into containers as it is: stripped, it stays under 3 MB.
        QTemporaryDir dir;
        const QString stripped = dir.filePath(QStringLiteral("agent"));
        QCOMPARE(QProcess::execute(QStringLiteral("strip"), {QStringLiteral("-o"), stripped, f.fileName()}), 0);
        QVERIFY2(QFileInfo(stripped).size() < 3 * 1024 * 1024, qPrintable(QString::number(QFileInfo(stripped).size())));
    }

    void checkAllCurrentFixtures()
    {
        QStringList files;
        QDirIterator it(iterdeck::test::fixturesDir() + u"/nocalhost-configs/current", {QStringLiteral("config*.yaml")},
                        QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
        while (it.hasNext())
            files.append(it.next());
        QVERIFY(files.size() >= 45);
        const Run r = run(ctl(), QStringList {QStringLiteral("config"), QStringLiteral("check")} + files);
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QCOMPARE(r.out.count(QStringLiteral(": valid dev config")), files.size());
        QVERIFY(!r.out.contains(u": error: "));
    }

    void threeMistakes()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("iterdeck.yaml"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("project: shop\n"
                "im: {adapter: none}\n"
                "environment:\n"
                "  namespace: \"{project}-{sprint}\"\n"
                "components:\n"
                "  - name: api\n"
                "    repository: https://git.example.com/api.git\n"
                "    image: registry.example.com/api:latest\n"
                "    deploy: {driver: helm, chart: charts/api}\n"
                "    defualtBranch: main\n");
        f.close();
        const Run r = run(ctl(), {QStringLiteral("config"), QStringLiteral("check"), path});
        QCOMPARE(r.code, 1);
        const QStringList errors = r.out.split(u'\n').filter(QStringLiteral(": error: "));
        QCOMPARE(errors.size(), 3);
        QCOMPARE(errors[0],
                 path
                     + QStringLiteral(":4:25: error: environment.namespace: unknown placeholder {sprint}; allowed: "
                                      "\"project\" and \"iteration\""));
        QVERIFY(errors[1].startsWith(
            path + QStringLiteral(":8:12: error: \"components[0].image\" must be an image repository without a tag")));
        QCOMPARE(
            errors[2],
            path
                + QStringLiteral(
                    ":10:5: error: unknown key \"defualtBranch\" in components[0]; did you mean \"defaultBranch\"?"));
        QVERIFY(r.out.contains(path + QStringLiteral(": invalid team manifest (3 error(s), 0 warning(s))")));

        // The bot refuses it the same way.
        const Run bot = run(QStringLiteral(ITERDECK_BOT_PATH),
                            {QStringLiteral("--check-config"), QStringLiteral("--config"), path});
        QCOMPARE(bot.code, 1);
        QCOMPARE(bot.err.split(u'\n').filter(QStringLiteral(": error: ")).size(), 3);
    }

    void botAcceptsDemo()
    {
        const Run r = run(QStringLiteral(ITERDECK_BOT_PATH),
                          {QStringLiteral("--check-config"), QStringLiteral("-c"),
                           QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo/iterdeck.yaml")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(
            r.out.contains(u"valid team manifest for project \"demo\" (2 components, 2 webhook sources, 2 people)"));
    }

    void demoPerAdapter_data()
    {
        QTest::addColumn<QString>("file");
        for (const char *a : {"feishu", "wecom", "slack", "dingtalk"})
            QTest::newRow(a)
                << QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo/iterdeck-%1.yaml").arg(QLatin1String(a));
    }

    void demoPerAdapter()
    {
        QFETCH(QString, file);
        const Run r = run(ctl(), {QStringLiteral("config"), QStringLiteral("check"), file});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.out.contains(u"valid team manifest"), qPrintable(r.out));
    }

    void usageErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("nothing") << QStringList {};
        QTest::newRow("unknown command") << QStringList {QStringLiteral("frobnicate")};
        QTest::newRow("config alone") << QStringList {QStringLiteral("config")};
        QTest::newRow("check without files") << QStringList {QStringLiteral("config"), QStringLiteral("check")};
        QTest::newRow("bad kind") << QStringList {QStringLiteral("config"), QStringLiteral("check"),
                                                  QStringLiteral("--kind"), QStringLiteral("other"),
                                                  QStringLiteral("x.yaml")};
        QTest::newRow("unknown option") << QStringList {QStringLiteral("config"), QStringLiteral("check"),
                                                        QStringLiteral("--fast"), QStringLiteral("x.yaml")};
    }
    void usageErrors()
    {
        QFETCH(QStringList, args);
        const Run r = run(ctl(), args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(u"Run with --help"), qPrintable(r.err));
    }

    void chineseTranslation()
    {
        const Run r = run(ctl(),
                          {QStringLiteral("config"), QStringLiteral("check"),
                           QStringLiteral(ITERDECK_SOURCE_DIR "/resources/demo/iterdeck.yaml")},
                          QStringLiteral("zh_CN"));
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains(QStringLiteral("团队清单有效（0 个警告）")), qPrintable(r.out));
        // The bot commands too (their own translation context).
        const Run b = run(ctl(), {QStringLiteral("bot"), QStringLiteral("status")}, QStringLiteral("zh_CN"));
        QCOMPARE(b.code, 2);
        QVERIFY2(b.err.contains(QStringLiteral("ITERDECK_BOT_URL")) && !b.err.contains(u"pass --bot URL"),
                 qPrintable(b.err));
        const Run h = run(ctl(), {QStringLiteral("--help")}, QStringLiteral("zh_CN"));
        QVERIFY2(h.out.contains(QStringLiteral(
                     "检查 Iterdeck 与 Nocalhost 配置、同步文件夹、操作 Kubernetes 集群，并运行沙箱集群")),
                 qPrintable(h.out));
    }

    void missingFileIsInvalid()
    {
        const Run r = run(
            ctl(), {QStringLiteral("config"), QStringLiteral("check"), QStringLiteral("/nonexistent/iterdeck.yaml")});
        QCOMPARE(r.code, 1);
        QVERIFY(r.out.contains(u"/nonexistent/iterdeck.yaml: error: no such file"));
    }

    void forcedKind()
    {
        // A dev config checked as a team manifest gets the team manifest's errors.
        const QString dev
            = iterdeck::test::fixturesDir() + u"/nocalhost-configs/current/nocalhost__nocalhost/.nocalhost/config.yaml";
        const Run r = run(
            ctl(),
            {QStringLiteral("config"), QStringLiteral("check"), QStringLiteral("--kind"), QStringLiteral("team"), dev});
        QCOMPARE(r.code, 1);
        QVERIFY(r.out.contains(u"unknown key \"configProperties\""));
    }

    void showJson()
    {
        const QString dev
            = iterdeck::test::fixturesDir() + u"/nocalhost-configs/current/nocalhost__nocalhost/.nocalhost/config.yaml";
        const Run r = run(ctl(), {QStringLiteral("config"), QStringLiteral("show"), dev, QStringLiteral("--json")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QJsonParseError err;
        const QJsonDocument doc = QJsonDocument::fromJson(r.out.toUtf8(), &err);
        QCOMPARE(err.error, QJsonParseError::NoError);
        const QJsonObject o = doc.object();
        QCOMPARE(o.value(u"kind").toString(), QStringLiteral("dev"));
        QCOMPARE(o.value(u"form").toString(), QStringLiteral("application-v2"));
        // defaults are filled in
        const QJsonObject dev0 = o.value(u"services")
                                     .toArray()
                                     .at(0)
                                     .toObject()
                                     .value(u"containers")
                                     .toArray()
                                     .at(0)
                                     .toObject()
                                     .value(u"dev")
                                     .toObject();
        QCOMPARE(dev0.value(u"sync").toObject().value(u"deleteProtection").toBool(), true);
        QCOMPARE(dev0.value(u"iterdeck").toObject().value(u"mode").toString(), QStringLiteral("replace"));

        const Run bad
            = run(ctl(), {QStringLiteral("config"), QStringLiteral("show"), QStringLiteral("/nonexistent.yaml")});
        QCOMPARE(bad.code, 1);
        QVERIFY(bad.out.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
