#include "config/envsubst.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::config;

class TestEnvSubst : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void substitution_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("plain") << QByteArray("a: b") << QByteArray("a: b");
        QTest::newRow("braced") << QByteArray("v: ${SET}") << QByteArray("v: value");
        QTest::newRow("bare") << QByteArray("v: $SET!") << QByteArray("v: value!");
        QTest::newRow("escape") << QByteArray("v: $$SET") << QByteArray("v: $SET");
        QTest::newRow("default used when unset") << QByteArray("v: ${UNSET:-dflt}") << QByteArray("v: dflt");
        QTest::newRow("default used when empty") << QByteArray("v: ${EMPTY:-dflt}") << QByteArray("v: dflt");
        QTest::newRow("default not used when set") << QByteArray("v: ${SET:-dflt}") << QByteArray("v: value");
        QTest::newRow("dash keeps empty") << QByteArray("v: ${EMPTY-dflt}") << QByteArray("v: ");
        QTest::newRow("dash when unset") << QByteArray("v: ${UNSET-dflt}") << QByteArray("v: dflt");
        QTest::newRow("plus when set") << QByteArray("v: ${EMPTY+alt}") << QByteArray("v: alt");
        QTest::newRow("plus when unset") << QByteArray("v: ${UNSET:+alt}") << QByteArray("v: ");
        QTest::newRow("default from variable") << QByteArray("v: ${UNSET:-$SET}") << QByteArray("v: value");
        QTest::newRow("default with spaces") << QByteArray("v: ${UNSET:-a b, c}") << QByteArray("v: a b, c");
        QTest::newRow("lone dollar") << QByteArray("cost: 5$ and $ ") << QByteArray("cost: 5$ and $ ");
        QTest::newRow("space after brace") << QByteArray("v: ${ SET}") << QByteArray("v: ${ SET}");
        QTest::newRow("utf-8 kept") << QByteArray("v: \xE4\xB8\xAD ${SET}") << QByteArray("v: \xE4\xB8\xAD value");
    }
    void substitution()
    {
        QFETCH(QByteArray, input);
        QFETCH(QByteArray, expected);
        EnvSubst subst({{QStringLiteral("SET"), QStringLiteral("value")}, {QStringLiteral("EMPTY"), QString()}});
        Diagnostics diag;
        const SourceText out = subst.render(QStringLiteral("c.yaml"), input, diag);
        QCOMPARE(out.text(), expected);
        QVERIFY2(!diag.hasErrors(), qPrintable(diag.toString()));
    }

    void unsetVariableWarns()
    {
        EnvSubst subst({});
        Diagnostics diag;
        subst.render(QStringLiteral("c.yaml"), "a: 1\nrun: awk '{print $2}'\n", diag);
        QCOMPARE(diag.size(), 1);
        QCOMPARE(diag.items()[0].toString(),
                 QStringLiteral("c.yaml:2:18: warning: \"$2\" is replaced by the variable 2, which is not set, so it "
                                "becomes empty; write \"$$2\" for a literal \"$2\""));
    }

    void unterminatedIsAnError()
    {
        EnvSubst subst({});
        Diagnostics diag;
        subst.render(QStringLiteral("c.yaml"), "a: 1\n# ${oops\nb: 2\n", diag);
        QVERIFY(diag.hasErrors());
        QCOMPARE(diag.items()[0].where, (SourceLocation {QStringLiteral("c.yaml"), 2, 3}));
        QVERIFY(diag.items()[0].message.contains(u"never closed"));
    }

    void includeWithNindentMapsLines()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QFile inc(dir.filePath(QStringLiteral("svc.yaml")));
        QVERIFY(inc.open(QIODevice::WriteOnly));
        inc.write("- name: a\n  serviceType: ${KIND:-deployment}\n");
        inc.close();
        const QString main = dir.filePath(QStringLiteral("config.yaml"));
        EnvSubst subst({});
        Diagnostics diag;
        const SourceText out = subst.render(
            main, "application:\n  services:\n    ${_INCLUDE_:-./svc.yaml | nindent 4}\n  name: x\n", diag);
        QVERIFY2(diag.isEmpty(), qPrintable(diag.toString()));
        QCOMPARE(out.text(),
                 QByteArray("application:\n  services:\n    \n    - name: a\n      serviceType: deployment\n    \n"
                            "\n  name: x\n"));
        // line 4 of the output (0-based 3) is line 1 of svc.yaml; column 5 there is column 1 in the file
        const SourceLocation loc = out.locate(4, 6);
        QCOMPARE(QDir::cleanPath(loc.file), QDir::cleanPath(inc.fileName()));
        QCOMPARE(loc.line, 2);
        QCOMPARE(loc.column, 3);
        const SourceLocation after = out.locate(7, 2);
        QCOMPARE(after.file, main);
        QCOMPARE(after.line, 4);
    }

    void includeErrors_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("message");
        QTest::newRow("missing file") << QByteArray("s:\n  ${_INCLUDE_:-./nope.yaml}\n")
                                      << QStringLiteral("cannot include \"./nope.yaml\": no such file");
        QTest::newRow("bad indent") << QByteArray("s: ${_INCLUDE_:-./self.yaml | nindent x}\n")
                                    << QStringLiteral("include: the indent \"x\" is not a whole number from 0 to 256");
        QTest::newRow("bad syntax") << QByteArray("s: ${_INCLUDE_:-./self.yaml | indent 4}\n")
                                    << QStringLiteral(
                                           "include: unsupported syntax \"indent 4\"; write ${_INCLUDE_:-path} "
                                           "or ${_INCLUDE_:-path | nindent N}");
    }
    void includeErrors()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, message);
        QTemporaryDir dir;
        EnvSubst subst({});
        Diagnostics diag;
        subst.render(dir.filePath(QStringLiteral("self.yaml")), text, diag);
        QCOMPARE(diag.errorCount(), 1);
        QCOMPARE(diag.items()[0].message, message);
    }

    void includeCycle()
    {
        QTemporaryDir dir;
        for (const char *name : {"a.yaml", "b.yaml"}) {
            QFile f(dir.filePath(QString::fromLatin1(name)));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(qstrcmp(name, "a.yaml") == 0 ? "x: ${_INCLUDE_:-b.yaml}\n" : "y: ${_INCLUDE_:-a.yaml}\n");
        }
        QFile a(dir.filePath(QStringLiteral("a.yaml")));
        QVERIFY(a.open(QIODevice::ReadOnly));
        EnvSubst subst({});
        Diagnostics diag;
        subst.render(a.fileName(), a.readAll(), diag);
        QCOMPARE(diag.errorCount(), 1);
        QVERIFY2(diag.items()[0].message.startsWith(u"include cycle: "), qPrintable(diag.toString()));
        QCOMPARE(QFileInfo(diag.items()[0].where.file).fileName(), QStringLiteral("b.yaml"));
    }

    void envFile()
    {
        const auto vars = EnvSubst::parseEnvFile("# comment\nA=1\nB = two words\nC=x=y\nno equals\n\r\nA=ignored\n");
        QCOMPARE(vars.value(QStringLiteral("A")), QStringLiteral("1"));
        QCOMPARE(vars.value(QStringLiteral("B")), QStringLiteral(" two words"));
        QCOMPARE(vars.value(QStringLiteral("C")), QStringLiteral("x=y"));
        QCOMPARE(vars.size(), 3);
        QCOMPARE(EnvSubst::findEnvFileDirective("configProperties:\n  version: v2\n  envFile: \"env.dev\"\n"),
                 QStringLiteral("env.dev"));
        QCOMPARE(EnvSubst::findEnvFileDirective("configProperties:\n  version: v2\napp:\n  envFile: x\n"), QString());
    }
};

QTEST_GUILESS_MAIN(TestEnvSubst)
#include "tst_envsubst.moc"
