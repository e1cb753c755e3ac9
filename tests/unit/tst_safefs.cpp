// SafeRoot: nothing escapes the root, and nothing changed meanwhile is clobbered. Each test
// runs with openat2 and with the O_NOFOLLOW fallback.
#include "sync/safefs.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cstdlib>

using namespace iterdeck::sync;

namespace {

void writeFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(data);
}

QByteArray readFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray("<missing>");
}

} // namespace

class TestSafeFs : public QObject
{
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_root, m_outside;
    std::unique_ptr<SafeRoot> m_safe;

private Q_SLOTS:
    void init()
    {
        QFETCH_GLOBAL(bool, fallback);
        ::setenv("ITERDECK_SYNC_NO_OPENAT2", fallback ? "1" : "0", 1);
        m_root = m_tmp.filePath(QStringLiteral("root"));
        m_outside = m_tmp.filePath(QStringLiteral("outside"));
        QDir(m_root).removeRecursively();
        QDir(m_outside).removeRecursively();
        QDir().mkpath(m_root + QStringLiteral("/dir"));
        QDir().mkpath(m_outside);
        QFile::link(m_outside, m_root + QStringLiteral("/evil"));
        FsError err;
        m_safe = SafeRoot::open(m_root.toStdString(), &err);
        QVERIFY(m_safe);
        QCOMPARE(m_safe->usesOpenat2(), !fallback);
    }
    void initTestCase_data()
    {
        QTest::addColumn<bool>("fallback");
        QTest::newRow("openat2") << false;
        QTest::newRow("O_NOFOLLOW walk") << true;
    }

    void refusedPaths_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("message");
        QTest::newRow("dotdot") << "../x"
                                << "../x: refused: path contains \"..\"";
        QTest::newRow("inner dotdot") << "dir/../../x"
                                      << "dir/../../x: refused: path contains \"..\"";
        QTest::newRow("absolute") << "/etc/x"
                                  << "/etc/x: refused: absolute path";
        QTest::newRow("empty component") << "dir//x"
                                         << "dir//x: refused: empty path component";
        QTest::newRow("dot") << "./x"
                             << "./x: refused: path contains \".\"";
        QTest::newRow("symlinked parent") << "evil/x"
                                          << "evil: refused: a symlink on the way";
        QTest::newRow("staged name") << ".iterdeck-stage-1"
                                     << ".iterdeck-stage-1: refused: reserved name";
        QTest::newRow("long name") << QString(300, u'n')
                                   << QString(300, u'n') + QStringLiteral(": refused: name too long");
    }
    void refusedPaths()
    {
        QFETCH(QString, path);
        QFETCH(QString, message);
        FsError err;
        auto f = m_safe->beginWrite(path.toStdString(), &err);
        QVERIFY(!f);
        QVERIFY2(QString::fromStdString(err.message).contains(message), err.message.c_str());
        QVERIFY(!m_safe->makeDirectory(path.toStdString(), 0755, &err));
        QVERIFY(QDir(m_outside).isEmpty());
    }

    void nulByte()
    {
        std::string why;
        QVERIFY(!isSafeRelativePath(std::string("a\0b", 3), &why));
        QCOMPARE(QString::fromStdString(why), QStringLiteral("path contains a NUL byte"));
    }

    void stagedWriteIsInvisibleUntilCommit()
    {
        FsError err;
        auto f = m_safe->beginWrite("dir/new.txt", &err);
        QVERIFY(f);
        QVERIFY(f->write("hello", 5, &err));
        QVERIFY(!QFile::exists(m_root + QStringLiteral("/dir/new.txt")));
        QVERIFY(f->commit(FileState {}, 0755, 0, &err));
        QCOMPARE(readFile(m_root + QStringLiteral("/dir/new.txt")), QByteArray("hello"));
        QVERIFY(QFileInfo(m_root + QStringLiteral("/dir/new.txt")).isExecutable());
        QCOMPARE(QDir(m_root + QStringLiteral("/dir")).entryList(QDir::Files | QDir::Hidden).size(), 1);
    }

    void abandonedWriteLeavesNothing()
    {
        FsError err;
        {
            auto f = m_safe->beginWrite("dir/gone.txt", &err);
            QVERIFY(f);
            f->write("x", 1, &err);
        }
        QVERIFY(QDir(m_root + QStringLiteral("/dir")).entryList(QDir::Files | QDir::Hidden).isEmpty());
    }

    void replaceOnlyWhatWasSeen()
    {
        const QString path = m_root + QStringLiteral("/dir/f.txt");
        writeFile(path, "original");
        FsError err;
        const auto seen = m_safe->stat("dir/f.txt", &err);
        QVERIFY(seen && seen->type == EntryType::File);
        // Someone edits the file after it was seen: the replacement must not land.
        QTest::qWait(10);
        writeFile(path, "edited meanwhile");
        auto f = m_safe->beginWrite("dir/f.txt", &err);
        QVERIFY(f);
        f->write("from the source", 15, &err);
        QVERIFY(!f->commit(*seen, 0644, 0, &err));
        QCOMPARE(err.code, 0);
        QCOMPARE(QString::fromStdString(err.message),
                 QStringLiteral("dir/f.txt: not written: the file changed since it was last seen"));
        QCOMPARE(readFile(path), QByteArray("edited meanwhile"));
        // With the current state it goes through.
        const auto now = m_safe->stat("dir/f.txt", &err);
        auto g = m_safe->beginWrite("dir/f.txt", &err);
        g->write("from the source", 15, &err);
        QVERIFY(g->commit(*now, 0644, 0, &err));
        QCOMPARE(readFile(path), QByteArray("from the source"));
    }

    void newFileDoesNotOverwriteOneThatAppeared()
    {
        FsError err;
        auto f = m_safe->beginWrite("dir/race.txt", &err);
        f->write("ours", 4, &err);
        writeFile(m_root + QStringLiteral("/dir/race.txt"), "theirs");
        QVERIFY(!f->commit(FileState {}, 0644, 0, &err));
        QCOMPARE(readFile(m_root + QStringLiteral("/dir/race.txt")), QByteArray("theirs"));
    }

    void removeOnlyWhatWasSeen()
    {
        const QString path = m_root + QStringLiteral("/dir/r.txt");
        writeFile(path, "v1");
        FsError err;
        const auto seen = m_safe->stat("dir/r.txt", &err);
        QTest::qWait(10);
        writeFile(path, "v2 longer");
        QVERIFY(!m_safe->removeFile("dir/r.txt", *seen, &err));
        QCOMPARE(readFile(path), QByteArray("v2 longer"));
        const auto now = m_safe->stat("dir/r.txt", &err);
        QVERIFY(m_safe->removeFile("dir/r.txt", *now, &err));
        QVERIFY(!QFile::exists(path));
        QVERIFY(QDir(m_root + QStringLiteral("/dir")).entryList(QDir::Files | QDir::Hidden).isEmpty());
    }

    void symlinks()
    {
        FsError err;
        QVERIFY(m_safe->makeSymlink("dir/ok", "../dir", FileState {}, &err));
        QVERIFY(!m_safe->makeSymlink("dir/up", "../../etc", FileState {}, &err));
        QVERIFY(!m_safe->makeSymlink("abs", "/etc/passwd", FileState {}, &err));
        QCOMPARE(QString::fromStdString(err.message),
                 QStringLiteral("abs: refused: the symlink points outside the root"));
        QVERIFY(SafeRoot::symlinkStaysInside("a/b/c", "../../x"));
        QVERIFY(!SafeRoot::symlinkStaysInside("a/b/c", "../../../x"));
        QVERIFY(!SafeRoot::symlinkStaysInside("a", "b/../../x"));
        // ".." after a name could climb out through a symlinked name: d/up -> "..", e -> "d/up/..".
        QVERIFY(!SafeRoot::symlinkStaysInside("e", "d/up/.."));
        QVERIFY(!SafeRoot::symlinkStaysInside("x/e", "../d/../y"));
        QVERIFY(SafeRoot::symlinkStaysInside("x/e", "../d/y"));
    }

    // The replica reuses the directories it opened for a burst of puts. Until it drops them, a
    // directory swapped for a symlink meanwhile is not followed (the one opened before, still
    // inside the root, is used); once dropped, the symlink is seen and refused.
    void dirCacheLastsUntilDropped()
    {
        m_safe->setDirCache(true);
        FsError err;
        auto a = m_safe->beginWrite("dir/a.txt", &err, 0644);
        QVERIFY(a);
        QVERIFY(a->write("a", 1, &err));
        QVERIFY(a->commit(FileState {}, 0644, 0, &err));
        QCOMPARE(QFileInfo(m_root + QStringLiteral("/dir/a.txt")).permissions() & 0x7777,
                 QFile::ReadOwner | QFile::WriteOwner | QFile::ReadUser | QFile::WriteUser | QFile::ReadGroup
                     | QFile::ReadOther);
        QVERIFY(QDir(m_root).rename(QStringLiteral("dir"), QStringLiteral("moved")));
        QVERIFY(QFile::link(m_outside, m_root + QStringLiteral("/dir")));
        auto b = m_safe->beginWrite("dir/b.txt", &err);
        QVERIFY(b);
        QVERIFY(b->commit(FileState {}, 0600, 0, &err));
        QVERIFY(QFile::exists(m_root + QStringLiteral("/moved/b.txt")));
        m_safe->dropDirCache();
        QVERIFY(!m_safe->beginWrite("dir/c.txt", &err));
        QVERIFY2(err.message.find("refused: a symlink on the way") != std::string::npos, err.message.c_str());
        QVERIFY(!m_safe->makeDirectory("dir/sub", 0755, &err));
        // A removal drops the cache by itself.
        QVERIFY(m_safe->makeDirectory("moved/sub", 0755, &err));
        auto y = m_safe->beginWrite("moved/sub/y.txt", &err);
        QVERIFY(y);
        QVERIFY(y->commit(FileState {}, 0600, 0, &err));
        const auto seen = m_safe->stat("moved/sub/y.txt", &err);
        QVERIFY(seen);
        QVERIFY(m_safe->removeFile("moved/sub/y.txt", *seen, &err));
        QVERIFY(QDir(m_root).rename(QStringLiteral("moved/sub"), QStringLiteral("moved/sub2")));
        QVERIFY(QFile::link(m_outside, m_root + QStringLiteral("/moved/sub")));
        QVERIFY(!m_safe->beginWrite("moved/sub/x.txt", &err));
        QVERIFY(QDir(m_outside).isEmpty());
        m_safe->setDirCache(false);
    }

    void renameAndMode()
    {
        writeFile(m_root + QStringLiteral("/dir/a.sh"), "#!/bin/sh\n");
        FsError err;
        const auto seen = m_safe->stat("dir/a.sh", &err);
        QVERIFY(m_safe->setExecutable("dir/a.sh", true, *seen, &err));
        QVERIFY(QFileInfo(m_root + QStringLiteral("/dir/a.sh")).isExecutable());
        const auto after = m_safe->stat("dir/a.sh", &err);
        QVERIFY(!m_safe->rename("dir/a.sh", "../b.sh", *after, &err));
        QVERIFY(m_safe->rename("dir/a.sh", "b.sh", *after, &err));
        QVERIFY(QFile::exists(m_root + QStringLiteral("/b.sh")));
        QVERIFY(!m_safe->removeDirectory("evil", &err) || QDir(m_outside).exists());
    }
};

QTEST_GUILESS_MAIN(TestSafeFs)
#include "tst_safefs.moc"
