#include <QTest>
class T : public QObject { Q_OBJECT private Q_SLOTS: void a() { QVERIFY(true); } };
QTEST_GUILESS_MAIN(T)
#include "tst_devconfig.moc"
