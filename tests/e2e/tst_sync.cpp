// iterdeckctl sync against the real iterdeck-agent process: randomized trees and mutations
// end identical; a hostile peer writes nothing outside the root; interrupted transfers
// leave no partial file and resume.
#include "sync/protocol.h"
#include "sync/scanner.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

using namespace iterdeck::sync;

namespace {

const QString kCtl = QStringLiteral(ITERDECKCTL_PATH);
const QString kAgent = QStringLiteral(ITERDECK_AGENT_PATH);

// Every entry below `root`: type, content digest or link target, executable bit.
QMap<QString, QString> snapshot(const QString &root)
{
    QMap<QString, QString> out;
    QDirIterator it(root, QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString abs = it.next();
        const QString rel = abs.mid(root.size() + 1);
        struct stat st
        {
        };
        if (::lstat(QFile::encodeName(abs).constData(), &st) != 0) {
            out[rel] = QStringLiteral("vanished");
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            const ssize_t n = ::readlink(QFile::encodeName(abs).constData(), buf, sizeof buf);
            out[rel] = QStringLiteral("link:") + QString::fromUtf8(buf, int(n));
        } else if (S_ISDIR(st.st_mode)) {
            out[rel] = QStringLiteral("dir");
        } else {
            QFile f(abs);
            if (!f.open(QIODevice::ReadOnly))
                out[rel] = QStringLiteral("unreadable");
            else
                out[rel] = QStringLiteral("file:%1:%2")
                               .arg(QString::fromLatin1(
                                   QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha1).toHex()))
                               .arg((st.st_mode & 0100) ? u'x' : u'-');
        }
    }
    return out;
}

struct Run
{
    int code = -1;
    QString err;
};

Run syncOnce(const QString &src, const QString &dst, const QStringList &extra = {},
             const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(kCtl,
            QStringList {QStringLiteral("sync"), src, QStringLiteral("--remote-command"),
                         u'\'' + kAgent + QStringLiteral("' serve --root '") + dst + u'\'', QStringLiteral("--once")}
                + extra);
    if (!p.waitForFinished(120000))
        p.kill();
    p.waitForFinished();
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardError())};
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray("<missing>");
}

void writeFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly | QIODevice::Truncate), qPrintable(path));
    f.write(data);
}

// Dates a file (not following symlinks) `seconds` into the past, out of the racy window of any
// scan to come: the quick restart checks then trust its state.
void age(const QString &path, int seconds = 3600)
{
    timespec t[2];
    ::clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= seconds;
    t[1] = t[0];
    QCOMPARE(::utimensat(AT_FDCWD, QFile::encodeName(path).constData(), t, AT_SYMLINK_NOFOLLOW), 0);
}

void ageTree(const QString &root)
{
    QDirIterator it(root, QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext())
        age(it.next());
}

class TreeMaker
{
public:
    explicit TreeMaker(quint32 seed)
        : m_rng(seed)
    { }
    QString name()
    {
        static const QStringList pool {
            QStringLiteral("a"),        QStringLiteral("b.txt"),   QStringLiteral("with space"),
            QStringLiteral("中文文件"), QStringLiteral("café"),    QStringLiteral("new\nline"),
            QStringLiteral("-dash"),    QStringLiteral(".hidden"), QStringLiteral("UPPER"),
            QStringLiteral("upper"),    QString(200, u'n'),        QStringLiteral("x.sync-conflict")};
        return pool[int(m_rng.bounded(pool.size()))] + QString::number(m_rng.bounded(50));
    }
    QByteArray content()
    {
        const int kind = int(m_rng.bounded(10));
        if (kind == 0)
            return {};
        QByteArray b(int(kind < 8 ? m_rng.bounded(2000) : m_rng.bounded(300000)), '\0');
        for (char &c : b)
            c = char(m_rng.bounded(256));
        return b;
    }
    QStringList entries(const QString &root) const
    {
        QStringList out;
        QDirIterator it(root, QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
        while (it.hasNext())
            out << it.next();
        out.sort();
        return out;
    }
    void populate(const QString &dir, int depth)
    {
        const int n = int(m_rng.bounded(8)) + 2;
        for (int i = 0; i < n; ++i) {
            const QString path = dir + u'/' + name();
            if (QFileInfo::exists(path) || QFileInfo(path).isSymLink())
                continue;
            const int what = int(m_rng.bounded(10));
            if (what < 6) {
                writeFile(path, content());
                if (m_rng.bounded(4) == 0)
                    QFile::setPermissions(
                        path, QFile::permissions(path) | QFile::ExeOwner | QFile::ExeGroup | QFile::ExeOther);
            } else if (what < 9 && depth < 6) {
                QDir().mkpath(path);
                populate(path, depth + 1);
            } else {
                // a relative symlink to a sibling, inside the tree
                QFile::link(QStringLiteral("b.txt0"), path);
            }
        }
    }
    void mutate(const QString &root, int count)
    {
        for (int i = 0; i < count; ++i) {
            QStringList all = entries(root);
            if (all.isEmpty()) {
                populate(root, 0);
                continue;
            }
            const QString victim = all[int(m_rng.bounded(all.size()))];
            const QFileInfo info(victim);
            switch (m_rng.bounded(8)) {
            case 0: // edit
                if (info.isFile() && !info.isSymLink())
                    writeFile(victim, content());
                break;
            case 1: // delete
                if (info.isDir() && !info.isSymLink())
                    QDir(victim).removeRecursively();
                else
                    QFile::remove(victim);
                break;
            case 2: { // rename within the same folder
                const QString to = info.path() + u'/' + name();
                if (!QFileInfo::exists(to) && !QFileInfo(to).isSymLink())
                    ::rename(QFile::encodeName(victim).constData(), QFile::encodeName(to).constData());
                break;
            }
            case 3: // chmod +x / -x
                if (info.isFile() && !info.isSymLink())
                    ::chmod(QFile::encodeName(victim).constData(),
                            (info.permissions() & QFile::ExeOwner) ? 0644 : 0755);
                break;
            case 4: // file -> directory
                if (info.isFile() && !info.isSymLink()) {
                    QFile::remove(victim);
                    QDir().mkpath(victim);
                    writeFile(victim + QStringLiteral("/inside"), content());
                }
                break;
            case 5: // directory -> file
                if (info.isDir() && !info.isSymLink()) {
                    QDir(victim).removeRecursively();
                    writeFile(victim, content());
                }
                break;
            case 6: // symlink swap: retarget
                if (info.isSymLink()) {
                    QFile::remove(victim);
                    QFile::link(QStringLiteral("a0"), victim);
                }
                break;
            case 7: { // case-only rename
                const QString to = info.path() + u'/' + info.fileName().toUpper();
                if (to != victim && !QFileInfo::exists(to))
                    ::rename(QFile::encodeName(victim).constData(), QFile::encodeName(to).constData());
                break;
            }
            }
        }
    }

private:
    QRandomGenerator m_rng;
};

// Talks to an agent directly, as a hostile or broken source would.
class RawAgent
{
public:
    explicit RawAgent(const QString &root)
    {
        m_p.setProgram(kAgent);
        m_p.setArguments({QStringLiteral("serve"), QStringLiteral("--root"), root});
        m_p.start();
        m_p.waitForStarted();
    }
    ~RawAgent()
    {
        m_p.closeWriteChannel();
        if (!m_p.waitForFinished(5000))
            m_p.kill();
    }
    void send(FrameWriter &f)
    {
        const auto &b = f.finish();
        m_p.write(reinterpret_cast<const char *>(b.data()), qint64(b.size()));
        m_p.waitForBytesWritten();
    }
    void sendRaw(const QByteArray &b)
    {
        m_p.write(b);
        m_p.waitForBytesWritten();
    }
    std::optional<std::pair<MsgType, std::vector<uint8_t>>> receive()
    {
        for (int i = 0; i < 100; ++i) {
            if (auto f = m_dec.next())
                return f;
            if (!m_p.waitForReadyRead(100) && m_p.state() != QProcess::Running)
                break;
            const QByteArray b = m_p.readAllStandardOutput();
            m_dec.feed(reinterpret_cast<const uint8_t *>(b.constData()), size_t(b.size()));
        }
        return m_dec.next();
    }
    bool hello()
    {
        FrameWriter h(MsgType::Hello);
        h.u32(kMagic).u16(kProtocolVersion).u32(0).str("test");
        send(h);
        auto f = receive();
        return f && f->first == MsgType::Hello;
    }
    ResultStatus result()
    {
        auto f = receive();
        if (!f || f->first != MsgType::Result)
            return ResultStatus::Failed;
        FrameReader r(f->second.data(), f->second.size());
        r.u32();
        return ResultStatus(r.u8());
    }
    QProcess &process() { return m_p; }
    // A ScanRequest (with `digest` when given): true when the answer is ManifestSame, else the
    // manifest in `out`.
    bool scan(const Hash128 *digest, Manifest *out)
    {
        FrameWriter req(MsgType::ScanRequest);
        if (digest)
            req.u8(1).hash(*digest);
        send(req);
        for (;;) {
            auto f = receive();
            if (!f)
                return false;
            if (f->first == MsgType::ManifestSame)
                return true;
            if (f->first == MsgType::ManifestEnd)
                return false;
            FrameReader r(f->second.data(), f->second.size());
            while (f->first == MsgType::ManifestEntries && !r.atEnd() && r.ok()) {
                Entry e = r.entry();
                if (out && r.ok())
                    (*out)[e.path] = e;
            }
        }
    }

private:
    QProcess m_p;
    FrameDecoder m_dec;
};

} // namespace

class TestSync : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void randomTreesConverge_data()
    {
        QTest::addColumn<quint32>("seed");
        for (quint32 seed : {1u, 2u, 3u, 4u, 5u})
            QTest::newRow(qPrintable(QStringLiteral("seed %1").arg(seed))) << seed;
    }
    void randomTreesConverge()
    {
        QFETCH(quint32, seed);
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        TreeMaker maker(seed);
        while (maker.entries(src).size() < 40)
            maker.populate(src, 0);
        // the first sync fills an empty replica, each later one follows a batch of mutations
        for (int round = 0; round < 5; ++round) {
            if (round > 0) {
                maker.mutate(src, 15);
                while (maker.entries(src).size() < 20)
                    maker.populate(src, 0);
            }
            const Run r = syncOnce(src, dst);
            QVERIFY2(r.code == 0, qPrintable(QStringLiteral("round %1: %2").arg(round).arg(r.err)));
            const auto expected = snapshot(src);
            QVERIFY(expected.size() >= 20); // a real tree, not an empty one
            QCOMPARE(snapshot(dst), expected);
        }
    }

    // A later session may reuse what both sides remember of the replica (the agent confirms its
    // tree is unchanged instead of listing it). Whatever changed on the remote side meanwhile must
    // still be seen: an edit that keeps size and mtime, a deletion, an extra file, a chmod.
    void restartSeesChangesMadeOnTheRemoteSide()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src + QStringLiteral("/sub"));
        writeFile(src + QStringLiteral("/a.txt"), "alpha");
        writeFile(src + QStringLiteral("/sub/b.txt"), "bravo");
        writeFile(src + QStringLiteral("/sub/c.sh"), "#!/bin/sh\n");
        QFile::link(QStringLiteral("a.txt"), src + QStringLiteral("/link"));
        QCOMPARE(syncOnce(src, dst).code, 0);
        QCOMPARE(syncOnce(src, dst).code, 0); // nothing changed anywhere
        QCOMPARE(snapshot(dst), snapshot(src));

        // Same size, same mtime: only the inode's ctime tells.
        const QByteArray dstA = QFile::encodeName(dst + QStringLiteral("/a.txt"));
        struct stat before
        {
        };
        QCOMPARE(::stat(dstA.constData(), &before), 0);
        writeFile(dst + QStringLiteral("/a.txt"), "ALPHA");
        const timespec times[2] = {before.st_atim, before.st_mtim};
        ::utimensat(AT_FDCWD, dstA.constData(), times, 0);
        Run r = syncOnce(src, dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(readAll(dst + QStringLiteral("/a.txt")), QByteArray("alpha"));

        QFile::remove(dst + QStringLiteral("/sub/b.txt"));
        writeFile(dst + QStringLiteral("/extra.txt"), "not in the source");
        QFile(dst + QStringLiteral("/sub/c.sh")).setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        r = syncOnce(src, dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));

        // Different ignore rules: a remote file that was ignored is not any more.
        writeFile(dst + QStringLiteral("/x.log"), "remote only");
        QCOMPARE(syncOnce(src, dst, {QStringLiteral("--ignore"), QStringLiteral("*.log")}).code, 0);
        QVERIFY(QFile::exists(dst + QStringLiteral("/x.log")));
        QCOMPARE(syncOnce(src, dst, {QStringLiteral("--ignore"), QStringLiteral("*.log")}).code, 0);
        QVERIFY(QFile::exists(dst + QStringLiteral("/x.log")));
        QCOMPARE(syncOnce(src, dst).code, 0);
        QVERIFY(!QFile::exists(dst + QStringLiteral("/x.log")));

        // The replica replaced wholesale by a copy with the same content (a new container).
        QDir(dst).removeRecursively();
        QCOMPARE(syncOnce(src, dst).code, 0);
        writeFile(src + QStringLiteral("/sub/b.txt"), "bravo 2");
        r = syncOnce(src, dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));
    }

    // Changes made on the local side while no sync ran: the restart's quick check (which may skip
    // A fresh container's agent has no $HOME/.cache yet: the index folder is made (private to
    // the user), so that the next start can use the index.
    void agentMakesItsIndexFolder()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        const QString home = tmp.filePath(QStringLiteral("home"));
        QVERIFY(QDir().mkpath(src) && QDir().mkpath(home));
        writeFile(src + QStringLiteral("/a.txt"), "alpha");
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove(QStringLiteral("XDG_CACHE_HOME"));
        env.remove(QStringLiteral("XDG_STATE_HOME"));
        env.insert(QStringLiteral("HOME"), home);
        const Run run = syncOnce(src, dst, {}, env);
        QVERIFY2(run.code == 0, qPrintable(run.err));
        const QDir indexes(home + QStringLiteral("/.cache/iterdeck-agent"));
        QCOMPARE(indexes.entryList({QStringLiteral("*.index")}, QDir::Files).size(), 1);
        QCOMPARE(QFileInfo(home + QStringLiteral("/.cache")).permissions() & (QFile::ReadGroup | QFile::ReadOther),
                 QFileDevice::Permissions());
    }

    // everything when both sides are as the last run left them) must see every kind.
    void restartSeesLocalChangesMadeMeanwhile()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src + QStringLiteral("/sub/deep"));
        writeFile(src + QStringLiteral("/same-size.txt"), "alpha");
        writeFile(src + QStringLiteral("/gone.txt"), "to be deleted");
        writeFile(src + QStringLiteral("/sub/run.sh"), "#!/bin/sh\n");
        writeFile(src + QStringLiteral("/sub/becomes-dir"), "a file for now");
        writeFile(src + QStringLiteral("/sub/deep/becomes-link"), "a file for now");
        QDir().mkpath(src + QStringLiteral("/sub/empty"));
        ageTree(src);
        // Folders not changed within 2 s of a scan are trusted by the next check to hold what the
        // index says (when the settings are the same): the checks below must see through that.
        QTest::qWait(2100);
        const QString file = src + QStringLiteral("/same-size.txt");
        struct stat before
        {
        };
        QCOMPARE(::lstat(QFile::encodeName(file).constData(), &before), 0);

        const QStringList ignoreLogs {QStringLiteral("--ignore"), QStringLiteral("*.log")};
        auto settle = [&] {
            // Twice: the second run finds both sides as the first left them (nothing to do).
            for (int i = 0; i < 2; ++i) {
                const Run r = syncOnce(src, dst);
                QVERIFY2(r.code == 0, qPrintable(r.err));
            }
            QCOMPARE(snapshot(dst), snapshot(src));
        };
        auto check = [&](const char *what) {
            const Run r = syncOnce(src, dst);
            QVERIFY2(r.code == 0, qPrintable(QString::fromLatin1(what) + u": " + r.err));
            QVERIFY2(snapshot(dst) == snapshot(src), what);
        };
        settle();

        // Same size and the same (old) mtime: only the ctime tells.
        writeFile(file, "ALPHA");
        const timespec times[2] = {before.st_atim, before.st_mtim};
        QCOMPARE(::utimensat(AT_FDCWD, QFile::encodeName(file).constData(), times, 0), 0);
        check("same size, same mtime");
        QCOMPARE(readAll(dst + QStringLiteral("/same-size.txt")), QByteArray("ALPHA"));
        settle();

        QVERIFY(QFile::remove(src + QStringLiteral("/gone.txt")));
        check("deletion");
        settle();

        writeFile(src + QStringLiteral("/sub/deep/new.txt"), "added");
        age(src + QStringLiteral("/sub/deep/new.txt"));
        check("addition");
        settle();

        QVERIFY(QFile(src + QStringLiteral("/sub/run.sh"))
                    .setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner));
        check("mode change");
        settle();

        QVERIFY(QFile::remove(src + QStringLiteral("/sub/becomes-dir")));
        QVERIFY(QDir().mkpath(src + QStringLiteral("/sub/becomes-dir")));
        check("file to folder");
        settle();

        QVERIFY(QFile::remove(src + QStringLiteral("/sub/deep/becomes-link")));
        QVERIFY(QFile::link(QStringLiteral("new.txt"), src + QStringLiteral("/sub/deep/becomes-link")));
        check("file to symlink");
        settle();

        // In a folder that was empty, inside a folder that did not change.
        writeFile(src + QStringLiteral("/sub/empty/late.txt"), "late");
        age(src + QStringLiteral("/sub/empty/late.txt"));
        check("added to an empty folder");
        settle();

        // Added, then the folder's mtime set back: only its ctime tells.
        const QByteArray deep = QFile::encodeName(src + QStringLiteral("/sub/deep"));
        QCOMPARE(::lstat(deep.constData(), &before), 0);
        writeFile(src + QStringLiteral("/sub/deep/back.txt"), "back");
        age(src + QStringLiteral("/sub/deep/back.txt"));
        const timespec dirTimes[2] = {before.st_atim, before.st_mtim};
        QCOMPARE(::utimensat(AT_FDCWD, deep.constData(), dirTimes, 0), 0);
        check("added, folder mtime set back");
        settle();

        // Other ignore rules: a file they ignored, in a folder that did not change since, is
        // synced once they do not ignore it.
        writeFile(src + QStringLiteral("/sub/y.log"), "ignored at first");
        age(src + QStringLiteral("/sub/y.log"));
        QTest::qWait(2100);
        writeFile(file, "a change elsewhere: the index is saved again, with the folder as it is now");
        age(file);
        for (int i = 0; i < 2; ++i)
            QCOMPARE(syncOnce(src, dst, ignoreLogs).code, 0);
        QVERIFY(!QFile::exists(dst + QStringLiteral("/sub/y.log")));
        QCOMPARE(syncOnce(src, dst).code, 0);
        QCOMPARE(readAll(dst + QStringLiteral("/sub/y.log")), QByteArray("ignored at first"));
        QCOMPARE(snapshot(dst), snapshot(src));
    }

    // The agent compares its tree with its saved index from the start of a connection on, before
    // the source asks. That outcome must not answer a ScanRequest that comes after an operation,
    // nor hide a change made while no agent ran.
    void agentEarlyCheckHoldsOnlyForTheFirstRequest()
    {
        QTemporaryDir tmp;
        const QString root = tmp.filePath(QStringLiteral("root"));
        QDir().mkpath(root + QStringLiteral("/sub"));
        writeFile(root + QStringLiteral("/a.txt"), "alpha");
        writeFile(root + QStringLiteral("/sub/b.txt"), "bravo");
        ageTree(root);
        Hash128 digest {};
        {
            RawAgent agent(root);
            QVERIFY(agent.hello());
            Manifest m;
            QVERIFY(!agent.scan(nullptr, &m)); // a full manifest (and the index saved)
            QCOMPARE(m.size(), size_t(3));
            digest = manifestDigest(m);
        }
        {
            RawAgent agent(root);
            QVERIFY(agent.hello());
            QVERIFY(agent.scan(&digest, nullptr)); // unchanged: the short answer
        }
        {
            // An operation first: the tree is not what the early check saw any more.
            RawAgent agent(root);
            QVERIFY(agent.hello());
            FrameWriter mk(MsgType::MakeDir);
            mk.u32(1).str("made").u32(0755);
            agent.send(mk);
            QCOMPARE(agent.result(), ResultStatus::Ok);
            Manifest m;
            QVERIFY(!agent.scan(&digest, &m));
            QVERIFY(m.count("made"));
            digest = manifestDigest(m);
        }
        {
            RawAgent agent(root);
            QVERIFY(agent.hello());
            QVERIFY(agent.scan(&digest, nullptr));
        }
        // Changed while no agent ran: same size, same mtime.
        struct stat before
        {
        };
        const QByteArray a = QFile::encodeName(root + QStringLiteral("/a.txt"));
        QCOMPARE(::lstat(a.constData(), &before), 0);
        writeFile(root + QStringLiteral("/a.txt"), "ALPHA");
        const timespec times[2] = {before.st_atim, before.st_mtim};
        QCOMPARE(::utimensat(AT_FDCWD, a.constData(), times, 0), 0);
        {
            RawAgent agent(root);
            QVERIFY(agent.hello());
            Manifest m;
            QVERIFY(!agent.scan(&digest, &m));
            QCOMPARE(m.at("a.txt").hash, hashBytes("ALPHA", 5));
        }
    }

    // An agent that finds a folder in the state it saved (and not changed near that time) checks
    // the folder's saved entries without listing it. Whatever changed inside while no agent ran
    // must still be found: an entry added to a folder that was empty, an entry added to a folder
    // whose mtime was then set back, a same-size rewrite with the mtime kept, a deletion.
    void agentTrustsOnlyUnchangedFolders()
    {
        QTemporaryDir tmp;
        const QString root = tmp.filePath(QStringLiteral("root"));
        QDir().mkpath(root + QStringLiteral("/a"));
        QDir().mkpath(root + QStringLiteral("/b/c"));
        QDir().mkpath(root + QStringLiteral("/b/e"));
        writeFile(root + QStringLiteral("/a/x.txt"), "x");
        writeFile(root + QStringLiteral("/b/c/y.txt"), "yankee");
        writeFile(root + QStringLiteral("/b/c/z.txt"), "zulu");
        ageTree(root);
        auto fullScan = [&](const Hash128 *digest) {
            RawAgent agent(root);
            [&] { QVERIFY(agent.hello()); }();
            Manifest m;
            const bool same = agent.scan(digest, &m);
            [&] { QVERIFY2(!same, "a change went unnoticed"); }();
            return manifestDigest(m);
        };
        auto quick = [&](const Hash128 &digest) {
            RawAgent agent(root);
            return agent.hello() && agent.scan(&digest, nullptr);
        };
        Hash128 digest = fullScan(nullptr);
        // The folders were made just now: the first check lists them, and saves their states
        // with its own time; one made more than 2 s after they changed trusts them.
        QTest::qWait(2100);
        QVERIFY(quick(digest));
        QVERIFY(quick(digest));

        // In a folder that was empty, inside a folder that did not change.
        writeFile(root + QStringLiteral("/b/e/new.txt"), "new");
        age(root + QStringLiteral("/b/e/new.txt"));
        digest = fullScan(&digest);
        QVERIFY(!QTest::currentTestFailed());

        // An entry added, then the folder's mtime set back: its ctime tells.
        struct stat before
        {
        };
        const QByteArray c = QFile::encodeName(root + QStringLiteral("/b/c"));
        QCOMPARE(::lstat(c.constData(), &before), 0);
        writeFile(root + QStringLiteral("/b/c/w.txt"), "whiskey");
        age(root + QStringLiteral("/b/c/w.txt"));
        const timespec dirTimes[2] = {before.st_atim, before.st_mtim};
        QCOMPARE(::utimensat(AT_FDCWD, c.constData(), dirTimes, 0), 0);
        digest = fullScan(&digest);
        QVERIFY(!QTest::currentTestFailed());

        QTest::qWait(2100);
        QVERIFY(quick(digest));
        QVERIFY(quick(digest));
        // Same size, same mtime, in a folder that did not change.
        const QByteArray y = QFile::encodeName(root + QStringLiteral("/b/c/y.txt"));
        QCOMPARE(::lstat(y.constData(), &before), 0);
        writeFile(root + QStringLiteral("/b/c/y.txt"), "YANKEE");
        const timespec fileTimes[2] = {before.st_atim, before.st_mtim};
        QCOMPARE(::utimensat(AT_FDCWD, y.constData(), fileTimes, 0), 0);
        digest = fullScan(&digest);
        QVERIFY(!QTest::currentTestFailed());

        QVERIFY(QFile::remove(root + QStringLiteral("/a/x.txt")));
        digest = fullScan(&digest);
        QVERIFY(!QTest::currentTestFailed());
    }

    // A remote command with no shell syntax, whose program is given by its path, is started
    // directly; the same in any other form goes through /bin/sh.
    void plainRemoteCommandRunsWithoutAShell()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src + QStringLiteral("/sub"));
        writeFile(src + QStringLiteral("/sub/a.txt"), "alpha");
        static const QRegularExpression plain(QStringLiteral("^[A-Za-z0-9_./:@,+=%-]+$"));
        if (!plain.match(kAgent).hasMatch() || !plain.match(dst).hasMatch())
            QSKIP("the paths need quoting here");
        auto run = [&](const QString &command) {
            QProcess p;
            p.start(
                kCtl,
                {QStringLiteral("sync"), src, QStringLiteral("--remote-command"), command, QStringLiteral("--once")});
            p.waitForFinished(120000);
            return Run {p.exitCode(), QString::fromUtf8(p.readAllStandardError())};
        };
        Run r = run(kAgent + QStringLiteral("  serve --root ") + dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));
        r = run(tmp.filePath(QStringLiteral("no-such-agent")) + QStringLiteral(" serve --root ") + dst);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(u"cannot start the remote command"), qPrintable(r.err));
        // Shell syntax: through /bin/sh, as always.
        writeFile(src + QStringLiteral("/b.txt"), "bravo");
        r = run(QStringLiteral("X=1 ") + kAgent + QStringLiteral(" serve --root \"") + dst + u'"');
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));
    }

    void largeFilesTravelAsDeltas_data()
    {
        QTest::addColumn<QString>("edit");
        QTest::newRow("1 KiB overwritten in the middle") << "overwrite";
        QTest::newRow("bytes inserted near the start") << "insert";
        QTest::newRow("truncated") << "truncate";
        QTest::newRow("appended") << "append";
    }
    void largeFilesTravelAsDeltas()
    {
        QFETCH(QString, edit);
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        QByteArray data(8 * 1024 * 1024, '\0');
        QRandomGenerator rng(11);
        rng.fillRange(reinterpret_cast<quint32 *>(data.data()), data.size() / 4);
        writeFile(src + QStringLiteral("/big.bin"), data);
        QCOMPARE(syncOnce(src, dst).code, 0);
        if (edit == u"overwrite")
            data.replace(4 * 1024 * 1024, 1024, QByteArray(1024, 'X'));
        else if (edit == u"insert")
            data.insert(1000, QByteArray(777, 'I'));
        else if (edit == u"truncate")
            data.truncate(5 * 1024 * 1024 + 123);
        else
            data.append(QByteArray(5000, 'A'));
        writeFile(src + QStringLiteral("/big.bin"), data);
        const Run r = syncOnce(src, dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QFile f(dst + QStringLiteral("/big.bin"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QVERIFY(f.readAll() == data);
        // Only the changed region travels, not the 8 MiB file.
        static const QRegularExpression sent(QStringLiteral("(\\d+) bytes sent"));
        const auto m = sent.match(r.err);
        QVERIFY2(m.hasMatch(), qPrintable(r.err));
        QVERIFY2(m.captured(1).toLongLong() < 200 * 1024, qPrintable(r.err));
    }

    void watchModeFollowsChanges()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src + QStringLiteral("/lib"));
        writeFile(src + QStringLiteral("/.gitignore"), "*.log\n");
        writeFile(src + QStringLiteral("/lib/a.txt"), "a");
        QProcess p;
        p.start(kCtl,
                {QStringLiteral("sync"), src, QStringLiteral("--remote-command"),
                 u'\'' + kAgent + QStringLiteral("' serve --root '") + dst + u'\'', QStringLiteral("--git-ignore"),
                 QStringLiteral("--status"), QStringLiteral("json")});
        QVERIFY(p.waitForStarted());
        QString ignoredDir; // set when the rules change below
        auto expected = [&]() {
            auto m = snapshot(src);
            for (auto it = m.begin(); it != m.end();) {
                const bool gone
                    = it.key().endsWith(u".log") || (!ignoredDir.isEmpty() && it.key().startsWith(ignoredDir));
                it = gone ? m.erase(it) : std::next(it);
            }
            return m;
        };
        auto converged = [&]() {
            for (int i = 0; i < 500; ++i) {
                if (snapshot(dst) == expected())
                    return true;
                QTest::qWait(20);
            }
            return false;
        };
        QVERIFY(converged());
        // A burst of editor-like changes.
        writeFile(src + QStringLiteral("/lib/b.txt.tmp"), "b");
        ::rename(QFile::encodeName(src + QStringLiteral("/lib/b.txt.tmp")).constData(),
                 QFile::encodeName(src + QStringLiteral("/lib/b.txt")).constData());
        QDir().mkpath(src + QStringLiteral("/new/deep/er"));
        writeFile(src + QStringLiteral("/new/deep/er/c.txt"), "made right after its folder");
        writeFile(src + QStringLiteral("/debug.log"), "ignored");
        ::chmod(QFile::encodeName(src + QStringLiteral("/lib/a.txt")).constData(), 0755);
        QVERIFY(converged());
        QVERIFY(!QFile::exists(dst + QStringLiteral("/debug.log")));
        // Rename a folder, delete another, change the ignore rules.
        ::rename(QFile::encodeName(src + QStringLiteral("/new")).constData(),
                 QFile::encodeName(src + QStringLiteral("/renamed")).constData());
        QDir(src + QStringLiteral("/lib")).removeRecursively();
        writeFile(src + QStringLiteral("/.gitignore"), "*.log\nrenamed/deep/er/\n");
        ignoredDir = QStringLiteral("renamed/deep/er");
        QVERIFY(converged());
        QVERIFY(!QFile::exists(dst + QStringLiteral("/renamed/deep/er/c.txt")));
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitCode(), 0);
        const QByteArray status = p.readAllStandardOutput();
        QVERIFY(status.contains("\"phase\":\"syncing\""));
        QVERIFY(status.contains("\"phase\":\"idle\""));
    }

    void twoWayFirstRunMergesAndKeepsConflicts()
    {
        QTemporaryDir tmp;
        qputenv("XDG_STATE_HOME", tmp.filePath(QStringLiteral("state")).toUtf8());
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        QDir().mkpath(dst + QStringLiteral("/only/remote"));
        writeFile(src + QStringLiteral("/local.txt"), "local");
        writeFile(dst + QStringLiteral("/only/remote/r.txt"), "remote");
        writeFile(src + QStringLiteral("/both.txt"), "same");
        writeFile(dst + QStringLiteral("/both.txt"), "same");
        writeFile(src + QStringLiteral("/c.txt"), "L");
        writeFile(dst + QStringLiteral("/c.txt"), "R");
        const Run r = syncOnce(src, dst, {QStringLiteral("--mode"), QStringLiteral("sendReceive")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));
        QCOMPARE(readAll(src + QStringLiteral("/c.txt")), QByteArray("L"));
        QCOMPARE(readAll(src + QStringLiteral("/only/remote/r.txt")), QByteArray("remote"));
        const QStringList copies = QDir(src).entryList({QStringLiteral("c.sync-conflict-*.txt")}, QDir::Files);
        QCOMPARE(copies.size(), 1);
        QCOMPARE(readAll(src + u'/' + copies[0]), QByteArray("R")); // nothing lost
        QVERIFY(r.err.contains(u"c.txt: changed on both sides; the remote version is kept as c.sync-conflict-"));
    }

    void twoWayRandomMutationsOnBothSides_data()
    {
        QTest::addColumn<quint32>("seed");
        for (quint32 seed : {21u, 22u, 23u, 24u, 32u, 33u, 35u, 36u})
            QTest::newRow(qPrintable(QStringLiteral("seed %1").arg(seed))) << seed;
    }
    void twoWayRandomMutationsOnBothSides()
    {
        QFETCH(quint32, seed);
        QTemporaryDir tmp;
        qputenv("XDG_STATE_HOME", tmp.filePath(QStringLiteral("state")).toUtf8());
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        TreeMaker local(seed), remote(seed * 7919);
        while (local.entries(src).size() < 40)
            local.populate(src, 0);
        const QStringList twoWay {QStringLiteral("--mode"), QStringLiteral("sendReceive")};
        QCOMPARE(syncOnce(src, dst, twoWay).code, 0);
        for (int round = 0; round < 4; ++round) {
            local.mutate(src, 8);
            remote.mutate(dst, 8);
            while (local.entries(src).size() < 20)
                local.populate(src, 0);
            const Run r = syncOnce(src, dst, twoWay);
            QVERIFY2(r.code == 0, qPrintable(QStringLiteral("round %1: %2").arg(round).arg(r.err)));
            QCOMPARE(snapshot(dst), snapshot(src));
        }
    }

    void killedAgentMidTransferResumes()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        const QString pidFile = tmp.filePath(QStringLiteral("agent.pid"));
        QDir().mkpath(src);
        QByteArray big(96 * 1024 * 1024, '\0');
        QRandomGenerator rng(9);
        for (qsizetype i = 0; i < big.size(); i += 4096)
            big[i] = char(rng.bounded(256));
        writeFile(src + QStringLiteral("/big.bin"), big);
        QProcess p;
        p.start(kCtl,
                {QStringLiteral("sync"), src, QStringLiteral("--remote-command"),
                 QStringLiteral("echo $$ > '%1'; exec '%2' serve --root '%3'").arg(pidFile, kAgent, dst),
                 QStringLiteral("--once")});
        QVERIFY(p.waitForStarted());
        for (int i = 0; i < 400 && !QFile::exists(pidFile); ++i)
            QTest::qWait(5);
        QTest::qWait(30);
        const pid_t agent = pid_t(readAll(pidFile).trimmed().toInt());
        QVERIFY(agent > 0);
        ::kill(agent, SIGKILL);
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 1); // the sync reports the lost agent
        const QFileInfo partial(dst + QStringLiteral("/big.bin"));
        QVERIFY(!partial.exists() || partial.size() == big.size());
        const Run r = syncOnce(src, dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));
        // no staged leftovers either
        QVERIFY(QDir(dst).entryList({QStringLiteral(".iterdeck-stage-*")}, QDir::Files | QDir::Hidden).isEmpty());
    }

    void watchEndsWhenTheAgentDies()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        const QString pidFile = tmp.filePath(QStringLiteral("agent.pid"));
        QDir().mkpath(src);
        writeFile(src + QStringLiteral("/a.txt"), "a");
        QProcess p;
        p.start(kCtl,
                {QStringLiteral("sync"), src, QStringLiteral("--status"), QStringLiteral("json"),
                 QStringLiteral("--remote-command"),
                 QStringLiteral("echo $$ > '%1'; exec '%2' serve --root '%3'").arg(pidFile, kAgent, dst)});
        QVERIFY(p.waitForStarted());
        // Kill the agent once the initial sync is over and the session watches (killed earlier,
        // the same loss is reported from inside the initial sync, with other words).
        QByteArray out;
        for (int i = 0; i < 500 && !out.contains("\"phase\":\"idle\""); ++i) {
            p.waitForReadyRead(20);
            out += p.readAllStandardOutput();
        }
        QVERIFY2(out.contains("\"phase\":\"idle\""), out.constData());
        ::kill(pid_t(readAll(pidFile).trimmed().toInt()), SIGKILL);
        QVERIFY(p.waitForFinished(10000)); // reported and ended, not spinning or waiting for a change
        QCOMPARE(p.exitCode(), 1);
        out += p.readAllStandardOutput();
        const QString said = QString::fromUtf8(out + p.readAllStandardError());
        QVERIFY2(said.contains(u"the agent went away"), qPrintable(said));
    }

    void ignoreAndGitIgnoreDoNotMix()
    {
        QTemporaryDir tmp;
        const Run r = syncOnce(tmp.path(), tmp.filePath(QStringLiteral("dst")),
                               {QStringLiteral("--git-ignore"), QStringLiteral("--ignore"), QStringLiteral("x")});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains(u"--ignore and --git-ignore cannot be combined"));
    }

    void twoWayRestartRemembersDeletions()
    {
        QTemporaryDir tmp;
        qputenv("XDG_STATE_HOME", tmp.filePath(QStringLiteral("state")).toUtf8());
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        writeFile(src + QStringLiteral("/a.txt"), "a");
        writeFile(src + QStringLiteral("/b.txt"), "b");
        const QStringList twoWay {QStringLiteral("--mode"), QStringLiteral("sendreceive")};
        QCOMPARE(syncOnce(src, dst, twoWay).code, 0);
        // While no sync runs: deleted here, edited there.
        QFile::remove(src + QStringLiteral("/a.txt"));
        QTest::qWait(5);
        writeFile(dst + QStringLiteral("/b.txt"), "b edited remotely");
        const Run r = syncOnce(src, dst, twoWay);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(!QFile::exists(dst + QStringLiteral("/a.txt"))); // the deletion went through, not brought back
        QCOMPARE(readAll(src + QStringLiteral("/b.txt")), QByteArray("b edited remotely"));
        QCOMPARE(snapshot(dst), snapshot(src));
        QVERIFY(!r.err.contains(u"changed on both sides"));
    }

    void twoWayWatch()
    {
        QTemporaryDir tmp;
        qputenv("XDG_STATE_HOME", tmp.filePath(QStringLiteral("state")).toUtf8());
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        writeFile(src + QStringLiteral("/keep.txt"), "keep");
        QProcess p;
        p.start(kCtl,
                {QStringLiteral("sync"), src, QStringLiteral("--remote-command"),
                 u'\'' + kAgent + QStringLiteral("' serve --root '") + dst + u'\'', QStringLiteral("--mode"),
                 QStringLiteral("sendReceive")});
        QVERIFY(p.waitForStarted());
        auto converged = [&]() {
            for (int i = 0; i < 500; ++i) {
                if (snapshot(dst) == snapshot(src))
                    return true;
                QTest::qWait(20);
            }
            return false;
        };
        QVERIFY(converged());
        // Built in the container (a generated file), edited locally, at once.
        QDir().mkpath(dst + QStringLiteral("/gen"));
        writeFile(dst + QStringLiteral("/gen/out.txt"), "generated remotely");
        writeFile(src + QStringLiteral("/local.txt"), "local");
        QVERIFY(converged());
        QCOMPARE(readAll(src + QStringLiteral("/gen/out.txt")), QByteArray("generated remotely"));
        // Delete protection (the default): a deletion in the container does not delete here.
        QFile::remove(dst + QStringLiteral("/keep.txt"));
        QVERIFY(converged());
        QVERIFY(QFile::exists(src + QStringLiteral("/keep.txt")));
        QVERIFY(QFile::exists(dst + QStringLiteral("/keep.txt")));
        // A local deletion goes through.
        QFile::remove(src + QStringLiteral("/local.txt"));
        QVERIFY(converged());
        QVERIFY(!QFile::exists(dst + QStringLiteral("/local.txt")));
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitCode(), 0);
    }

    void sameSizeRewriteWithinTheSameSecond()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        const QString file = src + QStringLiteral("/f.txt");
        writeFile(file, "aaaa");
        struct stat before
        {
        };
        ::stat(QFile::encodeName(file).constData(), &before);
        QCOMPARE(syncOnce(src, dst).code, 0);
        writeFile(file, "bbbb");
        // same size, and the same modification time as before, as a fast rewrite can leave it
        const timespec times[2] = {before.st_atim, before.st_mtim};
        ::utimensat(AT_FDCWD, QFile::encodeName(file).constData(), times, 0);
        QCOMPARE(syncOnce(src, dst).code, 0);
        QFile f(dst + QStringLiteral("/f.txt"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("bbbb"));
    }

    void emptySourceHalts()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        QDir().mkpath(dst);
        writeFile(dst + QStringLiteral("/keep.txt"), "precious");
        const Run r = syncOnce(src, dst);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(u"halted: the local folder is empty but the remote one has 1 entries"),
                 qPrintable(r.err));
        QVERIFY(QFile::exists(dst + QStringLiteral("/keep.txt")));
    }

    void ignoredRemoteFilesAreKept()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src + QStringLiteral("/node_modules"));
        QDir().mkpath(dst + QStringLiteral("/node_modules/lib"));
        writeFile(src + QStringLiteral("/app.js"), "app");
        writeFile(src + QStringLiteral("/node_modules/local.js"), "local");
        writeFile(dst + QStringLiteral("/node_modules/lib/built.js"), "built in the container");
        const Run r = syncOnce(src, dst, {QStringLiteral("--ignore"), QStringLiteral("node_modules")});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(QFile::exists(dst + QStringLiteral("/app.js")));
        QVERIFY(QFile::exists(dst + QStringLiteral("/node_modules/lib/built.js")));
        QVERIFY(!QFile::exists(dst + QStringLiteral("/node_modules/local.js")));
    }

    void hostileSourceWritesNothingOutside()
    {
        QTemporaryDir tmp;
        const QString root = tmp.filePath(QStringLiteral("root"));
        const QString outside = tmp.filePath(QStringLiteral("outside"));
        QDir().mkpath(root);
        QDir().mkpath(outside);
        QFile::link(outside, root + QStringLiteral("/evil")); // a symlinked parent
        RawAgent agent(root);
        QVERIFY(agent.hello());
        uint32_t id = 1;
        const QList<QByteArray> paths {"../escape", "/abs", "evil/x", "a/../../escape", "", "a//b", ".", "evil"};
        for (const QByteArray &p : paths) {
            const QByteArray data = "pwned";
            FrameWriter begin(MsgType::PutBegin);
            begin.u32(id)
                .str(std::string_view(p.constData(), size_t(p.size())))
                .u64(uint64_t(data.size()))
                .u32(0644)
                .i64(0)
                .state(FileState {});
            agent.send(begin);
            FrameWriter d(MsgType::PutData);
            d.u32(id).u8(0).bytes(data.constData(), size_t(data.size()));
            agent.send(d);
            FrameWriter end(MsgType::PutEnd);
            end.u32(id).hash(hashBytes(data.constData(), size_t(data.size())));
            agent.send(end);
            const ResultStatus s = agent.result();
            // Refused by the path rules; "evil" itself (an existing symlink where a new file would
            // go) is a conflict, not a refusal.
            QVERIFY2(s == (p == "evil" ? ResultStatus::Changed : ResultStatus::Refused), p.constData());
            ++id;
        }
        FrameWriter mk(MsgType::MakeDir);
        mk.u32(id++).str("evil/sub").u32(0755);
        agent.send(mk);
        QVERIFY(agent.result() != ResultStatus::Ok);
        FrameWriter link(MsgType::MakeSymlink);
        link.u32(id++).str("up").str("../../etc").state(FileState {});
        agent.send(link);
        QVERIFY(agent.result() != ResultStatus::Ok);
        FrameWriter ren(MsgType::Rename);
        ren.u32(id++).str("evil").str("../moved").state(FileState {});
        agent.send(ren);
        QVERIFY(agent.result() != ResultStatus::Ok);
        QVERIFY(QDir(outside).isEmpty());
        QVERIFY(!QFile::exists(tmp.filePath(QStringLiteral("escape"))));
        QVERIFY(!QFile::exists(tmp.filePath(QStringLiteral("moved"))));
        QVERIFY(!QFile::exists(QStringLiteral("/abs")));
    }

    void malformedFramesEndTheSession_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("message");
        QTest::newRow("oversized") << QByteArray("\xF0\xFF\xFF\x0F\x01", 5) << "frame of 268435440 bytes";
        QTest::newRow("truncated") << QByteArray("\x40\x00\x00\x00\x01\x49\x54", 7)
                                   << "the stream ended inside a frame";
        QTest::newRow("empty frame") << QByteArray("\x00\x00\x00\x00", 4) << "frame of 0 bytes";
        QTest::newRow("no hello") << QByteArray("\x05\x00\x00\x00\x28\x01\x00\x00\x00", 9)
                                  << "the first frame must be Hello";
        QTest::newRow("not iterdeck") << QByteArray("\x0b\x00\x00\x00\x01XXXX\x01\x00\x00\x00\x00\x00", 16)
                                      << "not an Iterdeck sync peer";
    }
    void malformedFramesEndTheSession()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        RawAgent agent(tmp.path());
        agent.sendRaw(bytes);
        agent.process().closeWriteChannel();
        QVERIFY(agent.process().waitForFinished(10000));
        QCOMPARE(agent.process().exitCode(), 1);
        const QString err = QString::fromUtf8(agent.process().readAllStandardError());
        QVERIFY2(err.contains(message), qPrintable(err));
        QVERIFY(QDir(tmp.path()).isEmpty());
    }

    void hostileAgentIsRefused()
    {
        // An "agent" that answers the handshake, then lists a path outside the root.
        QTemporaryDir tmp;
        const QString script = tmp.filePath(QStringLiteral("evil.py"));
        writeFile(
            script,
            "import sys, struct\n"
            "def frame(t, p): sys.stdout.buffer.write(struct.pack('<IB', len(p) + 1, t) + p); sys.stdout.flush()\n"
            "def read():\n"
            "    h = sys.stdin.buffer.read(4); n = struct.unpack('<I', h)[0]; return sys.stdin.buffer.read(n)\n"
            "read()\n"
            "frame(1, struct.pack('<IHI', 0x4B445449, 1, 0) + struct.pack('<I', 4) + b'evil')\n"
            "read()\n"
            "path = b'../../etc/passwd'\n"
            "entry = struct.pack('<I', len(path)) + path + struct.pack('<BQqqQI', 1, 4, 0, 0, 1, 0o644) + bytes(16)\n"
            "frame(0x11, entry)\n"
            "frame(0x12, struct.pack('<Q', 1))\n"
            "sys.stdin.buffer.read()\n");
        QDir().mkpath(tmp.filePath(QStringLiteral("src")));
        writeFile(tmp.filePath(QStringLiteral("src/a")), "a");
        QProcess p;
        p.start(kCtl,
                {QStringLiteral("sync"), tmp.filePath(QStringLiteral("src")), QStringLiteral("--remote-command"),
                 QStringLiteral("python3 ") + script, QStringLiteral("--once")});
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 1);
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains(u"protocol error: the agent sent a bad path (path contains \"..\")"), qPrintable(err));
    }

    void killedMidTransferResumes()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath(QStringLiteral("src"));
        const QString dst = tmp.filePath(QStringLiteral("dst"));
        QDir().mkpath(src);
        QByteArray big(120 * 1024 * 1024, '\0');
        QRandomGenerator rng(7);
        for (qsizetype i = 0; i < big.size(); i += 4096)
            big[i] = char(rng.bounded(256)); // not compressible to nothing, cheap to make
        writeFile(src + QStringLiteral("/big.bin"), big);
        for (int i = 0; i < 200; ++i)
            writeFile(src + QStringLiteral("/small%1.txt").arg(i), QByteArray::number(i));
        QProcess p;
        p.start(kCtl,
                {QStringLiteral("sync"), src, QStringLiteral("--remote-command"),
                 u'\'' + kAgent + QStringLiteral("' serve --root '") + dst + u'\'', QStringLiteral("--once")});
        QVERIFY(p.waitForStarted());
        // Wait until the transfer is under way, then kill -9 the sending side.
        for (int i = 0; i < 400; ++i) {
            QDir d(dst);
            if (d.exists() && !d.entryList(QDir::Files | QDir::Hidden).isEmpty())
                break;
            QTest::qWait(5);
        }
        const bool transferStarted = QDir(dst).exists();
        ::kill(pid_t(p.processId()), SIGKILL);
        p.waitForFinished();
        QVERIFY(transferStarted);
        QCOMPARE(p.exitStatus(), QProcess::CrashExit); // killed before it could finish
        // The agent of the killed session finishes what is already in its pipe, then ends; a
        // resumed session that overlapped it would (rightly) report its writes as changes made
        // meanwhile. Wait for it.
        for (int i = 0; i < 500; ++i) {
            if (QProcess::execute(QStringLiteral("pgrep"),
                                  {QStringLiteral("-f"), QStringLiteral("serve --root ") + dst})
                != 0)
                break;
            QTest::qWait(10);
        }
        // Nothing partial is visible: big.bin is either absent or complete.
        const QFileInfo partial(dst + QStringLiteral("/big.bin"));
        QVERIFY(!partial.exists() || partial.size() == big.size());
        const Run r = syncOnce(src, dst);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(snapshot(dst), snapshot(src));
    }
};

QTEST_GUILESS_MAIN(TestSync)
#include "tst_sync.moc"
