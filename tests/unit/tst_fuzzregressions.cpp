// Replays every input the fuzzers found troublesome (tests/fuzz/regressions) and the seed
// corpus: each must load or be refused with well-formed diagnostics, quickly.
#include "fuzz/fuzzconfig.h"

#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QTest>

class TestFuzzRegressions : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void replay_data()
    {
        QTest::addColumn<QString>("file");
        int rows = 0;
        for (const char *dir : {"/tests/fuzz/regressions", "/tests/fuzz/corpus/config"}) {
            QDirIterator it(QStringLiteral(ITERDECK_SOURCE_DIR) + QString::fromLatin1(dir), QDir::Files);
            while (it.hasNext()) {
                const QString f = it.next();
                QTest::newRow(qPrintable(QString::fromLatin1(dir).section(u'/', -1) + u'/' + QFileInfo(f).fileName()))
                    << f;
                ++rows;
            }
        }
        QVERIFY(rows > 60);
    }
    void replay()
    {
        QFETCH(QString, file);
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QVERIFY(iterdeck::fuzz::configOnce(reinterpret_cast<const uint8_t *>(bytes.constData()), size_t(bytes.size())));
    }
};

QTEST_GUILESS_MAIN(TestFuzzRegressions)
#include "tst_fuzzregressions.moc"
