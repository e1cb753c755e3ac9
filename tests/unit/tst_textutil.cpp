#include "common/diagnostic.h"
#include "common/textutil.h"

#include <QTest>

using namespace iterdeck;

class TestTextUtil : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void editDistance_data()
    {
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("b");
        QTest::addColumn<int>("distance");
        QTest::newRow("same") << "name"
                              << "name" << 0;
        QTest::newRow("one substitution") << "nane"
                                          << "name" << 1;
        QTest::newRow("transposition") << "nmae"
                                       << "name" << 1;
        QTest::newRow("insertion") << "esname"
                                   << "name" << 2;
        QTest::newRow("empty") << ""
                               << "abc" << 3;
    }
    void editDistance()
    {
        QFETCH(QString, a);
        QFETCH(QString, b);
        QFETCH(int, distance);
        QCOMPARE(text::editDistance(a, b), distance);
        QCOMPARE(text::editDistance(b, a), distance);
    }

    void closestMatch_data()
    {
        QTest::addColumn<QString>("word");
        QTest::addColumn<QString>("expected");
        QTest::newRow("typo") << "comonents"
                              << "components";
        QTest::newRow("case") << "Project"
                              << "project";
        QTest::newRow("too far") << "xyz"
                                 << "";
        QTest::newRow("service/services") << "service"
                                          << "services";
    }
    void closestMatch()
    {
        QFETCH(QString, word);
        QFETCH(QString, expected);
        const QStringList candidates {QStringLiteral("project"), QStringLiteral("components"),
                                      QStringLiteral("services"), QStringLiteral("im")};
        QCOMPARE(text::closestMatch(word, candidates), expected);
    }

    void dnsLabel_data()
    {
        QTest::addColumn<QString>("s");
        QTest::addColumn<bool>("label");
        QTest::addColumn<bool>("subdomain");
        QTest::newRow("simple") << "shop-sprint-42" << true << true;
        QTest::newRow("upper") << "Shop" << false << false;
        QTest::newRow("underscore") << "a_b" << false << false;
        QTest::newRow("leading dash") << "-a" << false << false;
        QTest::newRow("trailing dash") << "a-" << false << false;
        QTest::newRow("dots") << "a.b.c" << false << true;
        QTest::newRow("64 chars") << QString(64, u'a') << false << false;
        QTest::newRow("63 chars") << QString(63, u'a') << true << true;
        QTest::newRow("empty") << "" << false << false;
        QTest::newRow("empty label") << "a..b" << false << false;
    }
    void dnsLabel()
    {
        QFETCH(QString, s);
        QFETCH(bool, label);
        QFETCH(bool, subdomain);
        QCOMPARE(text::isDnsLabel(s), label);
        QCOMPARE(text::isDnsSubdomain(s), subdomain);
    }

    void diagnosticFormat()
    {
        Diagnostics d;
        d.warning({QStringLiteral("b.yaml"), 2, 1}, QStringLiteral("second"));
        d.error({QStringLiteral("a.yaml"), 3, 7}, QStringLiteral("first"));
        d.error({QStringLiteral("a.yaml"), 0, 0}, QStringLiteral("whole file"));
        QCOMPARE(d.errorCount(), 2);
        QCOMPARE(d.warningCount(), 1);
        QCOMPARE(d.toString(),
                 QStringLiteral("a.yaml: error: whole file\n"
                                "a.yaml:3:7: error: first\n"
                                "b.yaml:2:1: warning: second\n"));
    }

    void quotedList()
    {
        QCOMPARE(text::quotedList({QStringLiteral("a")}), QStringLiteral("\"a\""));
        QCOMPARE(text::quotedList({QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c")}),
                 QStringLiteral("\"a\", \"b\" or \"c\""));
    }
};

QTEST_GUILESS_MAIN(TestTextUtil)
#include "tst_textutil.moc"
