// The Debian packages, built with cpack from this build tree: their control fields and files,
// a fresh root holding only them where the programs run, a real installation and purge with dpkg
// in a copy-on-write copy of this system, the systemd unit (systemd-analyze verify) and lintian.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <unistd.h>

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run run(const QString &program, const QStringList &args, const QProcessEnvironment &env = {}, int timeoutMs = 120000)
{
    QProcess p;
    if (!env.isEmpty())
        p.setProcessEnvironment(env);
    p.start(program, args);
    Run r;
    if (!p.waitForStarted()) {
        r.err = p.errorString().toUtf8();
        return r;
    }
    p.closeWriteChannel();
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QString have(const QString &tool)
{
    return QStandardPaths::findExecutable(tool);
}

} // namespace

class TestDebPackages : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_desktopDeb;
    QString m_botDeb;
    QString m_root;
    const QString m_version = QStringLiteral(ITERDECK_VERSION "-1");

    QByteArray field(const QString &deb, const QString &name)
    {
        return run(QStringLiteral("dpkg-deb"), {QStringLiteral("--field"), deb, name}).out.trimmed();
    }
    QStringList contents(const QString &deb)
    {
        QStringList paths;
        const Run r = run(QStringLiteral("dpkg-deb"), {QStringLiteral("--contents"), deb});
        for (const QByteArray &line : r.out.split('\n')) {
            const qsizetype at = line.indexOf(" ./");
            if (at >= 0)
                paths << QString::fromUtf8(line.mid(at + 2)).section(QStringLiteral(" -> "), 0, 0);
        }
        return paths;
    }
    QByteArray controlFile(const QString &deb, const QString &name)
    {
        return run(QStringLiteral("dpkg-deb"), {QStringLiteral("--info"), deb, name}).out;
    }
    QProcessEnvironment programEnv() const
    {
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        e.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        e.insert(QStringLiteral("HOME"), m_dir.path());
        e.insert(QStringLiteral("XDG_RUNTIME_DIR"), m_dir.path());
        return e;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        for (const char *tool : {"dpkg-deb", "dpkg-shlibdeps"})
            if (have(QString::fromLatin1(tool)).isEmpty())
                QSKIP(qPrintable(QStringLiteral("%1 is not installed (Debian package dpkg-dev; scripts/bootstrap "
                                                "installs it): the .deb packages cannot be built")
                                     .arg(QString::fromLatin1(tool))));
        const QString out = m_dir.filePath(QStringLiteral("packages"));
        const Run r = run(QStringLiteral(ITERDECK_CPACK_COMMAND),
                          {QStringLiteral("--config"), QStringLiteral(ITERDECK_BINARY_DIR "/CPackConfig.cmake"),
                           QStringLiteral("-B"), out},
                          {}, 600000);
        QVERIFY2(r.exitCode == 0, QByteArray(r.out + r.err).constData());
        const QString arch
            = QString::fromUtf8(run(QStringLiteral("dpkg"), {QStringLiteral("--print-architecture")}).out.trimmed());
        m_desktopDeb = QStringLiteral("%1/iterdeck_%2_%3.deb").arg(out, m_version, arch);
        m_botDeb = QStringLiteral("%1/iterdeck-bot_%2_%3.deb").arg(out, m_version, arch);
        QVERIFY2(QFile::exists(m_desktopDeb), qPrintable(QDir(out).entryList().join(u' ') + QString::fromUtf8(r.out)));
        QVERIFY(QFile::exists(m_botDeb));

        // A fresh root that holds these two packages and nothing else of ours.
        m_root = m_dir.filePath(QStringLiteral("root"));
        for (const QString &deb : {m_desktopDeb, m_botDeb}) {
            const Run x = run(QStringLiteral("dpkg-deb"), {QStringLiteral("-x"), deb, m_root});
            QVERIFY2(x.exitCode == 0, x.err.constData());
        }
    }

    void controlFields()
    {
        QCOMPARE(field(m_desktopDeb, QStringLiteral("Package")), QByteArray("iterdeck"));
        QCOMPARE(field(m_botDeb, QStringLiteral("Package")), QByteArray("iterdeck-bot"));
        for (const QString &deb : {m_desktopDeb, m_botDeb}) {
            QCOMPARE(field(deb, QStringLiteral("Version")), m_version.toUtf8());
            QVERIFY(!field(deb, QStringLiteral("Maintainer")).isEmpty());
            QVERIFY(!field(deb, QStringLiteral("Description")).isEmpty());
            QCOMPARE(field(deb, QStringLiteral("Source")), QByteArray("iterdeck"));
        }
        // dpkg-shlibdeps found the Qt libraries; the plugins loaded at run time are named by hand.
        const QByteArray desktop = field(m_desktopDeb, QStringLiteral("Depends"));
        for (const char *dep : {"libqt6widgets6", "libqt6network6", "libyaml-cpp0.7", "libqt6svg6", "libc6"})
            QVERIFY2(desktop.contains(dep), desktop.constData());
        const QByteArray bot = field(m_botDeb, QStringLiteral("Depends"));
        for (const char *dep : {"adduser", "libqt6sql6-sqlite", "libqt6sql6 ", "libqt6core6"})
            QVERIFY2(bot.contains(dep), bot.constData());
        QVERIFY2(!bot.contains("libqt6widgets6"), bot.constData());
    }

    void files()
    {
        const QStringList desktop = contents(m_desktopDeb);
        for (const char *path :
             {"/usr/bin/iterdeck", "/usr/bin/iterdeckctl", "/usr/bin/iterdeck-agent",
              "/usr/share/applications/iterdeck.desktop", "/usr/share/icons/hicolor/scalable/apps/iterdeck.svg",
              "/etc/xdg/autostart/iterdeck.desktop", "/usr/share/man/man1/iterdeck.1.gz",
              "/usr/share/man/man1/iterdeckctl.1.gz", "/usr/share/man/man1/iterdeck-agent.1.gz",
              "/usr/share/doc/iterdeck/copyright", "/usr/share/doc/iterdeck/changelog.Debian.gz"})
            QVERIFY2(desktop.contains(QString::fromLatin1(path)), path);
        QVERIFY(!desktop.contains(QStringLiteral("/usr/bin/iterdeck-bot")));
        const QStringList bot = contents(m_botDeb);
        for (const char *path : {"/usr/bin/iterdeck-bot", "/etc/iterdeck/iterdeck.yaml", "/etc/default/iterdeck-bot",
                                 "/lib/systemd/system/iterdeck-bot.service", "/usr/share/man/man8/iterdeck-bot.8.gz",
                                 "/usr/share/doc/iterdeck-bot/copyright"})
            QVERIFY2(bot.contains(QString::fromLatin1(path)), path);
        QVERIFY(!bot.contains(QStringLiteral("/usr/bin/iterdeck")));

        QCOMPARE(controlFile(m_desktopDeb, QStringLiteral("conffiles")),
                 QByteArray("/etc/xdg/autostart/iterdeck.desktop\n"));
        QCOMPARE(controlFile(m_botDeb, QStringLiteral("conffiles")),
                 QByteArray("/etc/iterdeck/iterdeck.yaml\n/etc/default/iterdeck-bot\n"));

        // The autostart entry is installed disabled; the menu entry is not.
        QFile autostart(m_root + QStringLiteral("/etc/xdg/autostart/iterdeck.desktop"));
        QVERIFY(autostart.open(QIODevice::ReadOnly));
        const QByteArray a = autostart.readAll();
        QVERIFY(a.contains("\nHidden=true\n"));
        QVERIFY(a.contains("\nX-GNOME-Autostart-enabled=false\n"));
        if (const QString validate = have(QStringLiteral("desktop-file-validate")); !validate.isEmpty()) {
            for (const char *f : {"/usr/share/applications/iterdeck.desktop", "/etc/xdg/autostart/iterdeck.desktop"}) {
                const Run v = run(validate, {m_root + QString::fromLatin1(f)});
                QVERIFY2(v.exitCode == 0 && v.out.isEmpty(), QByteArray(v.out + v.err).constData());
            }
        }
    }

    // The programs run from the fresh root, with only the system's libraries besides.
    void programsRunFromAFreshRoot()
    {
        const QString bin = m_root + QStringLiteral("/usr/bin/");
        Run r = run(bin + QStringLiteral("iterdeck"), {QStringLiteral("--version")}, programEnv());
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out.trimmed(), QByteArray("iterdeck " ITERDECK_VERSION));
        r = run(bin + QStringLiteral("iterdeckctl"), {QStringLiteral("--help")}, programEnv());
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(r.out.contains("sandbox"));
        r = run(bin + QStringLiteral("iterdeck-agent"), {QStringLiteral("--help")}, programEnv());
        QVERIFY2(r.exitCode == 0, r.err.constData());
        r = run(bin + QStringLiteral("iterdeck-bot"), {QStringLiteral("--version")}, programEnv());
        QCOMPARE(r.out.trimmed(), QByteArray("iterdeck-bot " ITERDECK_VERSION));
        // The default manifest passes the check the systemd unit runs before starting the bot.
        r = run(bin + QStringLiteral("iterdeck-bot"),
                {QStringLiteral("--check-config"), QStringLiteral("--config"),
                 m_root + QStringLiteral("/etc/iterdeck/iterdeck.yaml")},
                programEnv());
        QVERIFY2(r.exitCode == 0, QByteArray(r.out + r.err).constData());
        QVERIFY(r.out.contains("valid team manifest for project \"team\""));

        // The agent is copied into containers as it is: static, no interpreter, no libraries.
        if (const QString readelf = have(QStringLiteral("readelf")); !readelf.isEmpty()) {
            r = run(readelf, {QStringLiteral("-d"), QStringLiteral("-l"), bin + QStringLiteral("iterdeck-agent")});
            QVERIFY(!r.out.contains("NEEDED"));
            QVERIFY(!r.out.contains("INTERP"));
        }
        // Stripped (the debug symbols stay in the build tree).
        if (const QString file = have(QStringLiteral("file")); !file.isEmpty()) {
            r = run(file, {bin + QStringLiteral("iterdeck-bot")});
            QVERIFY2(r.out.contains(", stripped"), r.out.constData());
        }
    }

    // Everything the packages depend on is a Debian package this system's apt knows.
    void dependenciesResolve()
    {
        if (have(QStringLiteral("apt-get")).isEmpty())
            QSKIP("apt-get is not installed");
        const Run r = run(QStringLiteral("apt-get"),
                          {QStringLiteral("install"), QStringLiteral("--simulate"), QStringLiteral("-o"),
                           QStringLiteral("Debug::NoLocking=1"), m_desktopDeb, m_botDeb});
        QVERIFY2(r.exitCode == 0, QByteArray(r.out + r.err).constData());
        QVERIFY2(r.out.contains("Inst iterdeck ") && r.out.contains("Inst iterdeck-bot "), r.out.constData());
    }

    // Installed with dpkg, maintainer scripts and all, into a copy-on-write copy of this system
    // (an overlay over "/" in a mount namespace of its own, changed root): the system user and
    // the data directory are made, the programs run from /usr/bin, the bot's user can write its
    // store, and purging removes the programs but keeps the store. The machine is not changed.
    void installsAndPurgesInACopyOfThisSystem()
    {
        if (::geteuid() != 0)
            QSKIP("not root: dpkg -i into an overlay of / needs root (the packages were checked from an "
                  "extracted root above)");
        const QString base = m_dir.filePath(QStringLiteral("overlay"));
        const QString upper = base + QStringLiteral("/upper");
        const QStringList dirs {upper + QStringLiteral("/var/cache/iterdeck-test"), base + QStringLiteral("/work"),
                                base + QStringLiteral("/merged")};
        for (const QString &d : dirs)
            QVERIFY(QDir().mkpath(d));
        for (const QString &deb : {m_desktopDeb, m_botDeb})
            QVERIFY(QFile::copy(deb, upper + QStringLiteral("/var/cache/iterdeck-test/") + QFileInfo(deb).fileName()));
        QFile inside(upper + QStringLiteral("/var/cache/iterdeck-test/check.sh"));
        QVERIFY(inside.open(QIODevice::WriteOnly));
        inside.write(R"sh(set -e
export QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
dpkg -i /var/cache/iterdeck-test/*.deb >/var/cache/iterdeck-test/dpkg.log 2>&1 || { cat /var/cache/iterdeck-test/dpkg.log; exit 1; }
echo "user: $(getent passwd iterdeck-bot | cut -d: -f1,6,7)"
echo "data: $(stat -c '%U:%G %a' /var/lib/iterdeck-bot)"
echo "etc: $(stat -c '%U:%G %a' /etc/iterdeck)"
echo "status: $(dpkg-query -W -f='${db:Status-Status} ' iterdeck iterdeck-bot)"
iterdeck --version
iterdeckctl --help >/dev/null && echo "iterdeckctl: ok"
iterdeck-agent --version
iterdeck-bot --check-config --config /etc/iterdeck/iterdeck.yaml
runuser -u iterdeck-bot -- iterdeck-bot token create alice --data-dir /var/lib/iterdeck-bot >/dev/null
runuser -u iterdeck-bot -- iterdeck-bot token list --data-dir /var/lib/iterdeck-bot | grep -q ' alice ' && echo "store: writable by iterdeck-bot"
dpkg --purge iterdeck iterdeck-bot >/var/cache/iterdeck-test/purge.log 2>&1 || { cat /var/cache/iterdeck-test/purge.log; exit 1; }
test ! -e /usr/bin/iterdeck-bot && test ! -e /usr/bin/iterdeck && test ! -e /etc/iterdeck/iterdeck.yaml && echo "purged"
test -f /var/lib/iterdeck-bot/iterdeck-bot.db && echo "kept: /var/lib/iterdeck-bot/iterdeck-bot.db"
)sh");
        inside.close();
        const QString merged = base + QStringLiteral("/merged");
        const QString outer
            = QStringLiteral("set -e; mount -t overlay overlay -o lowerdir=/,upperdir=%1,workdir=%2 %3; "
                             "mount --bind /proc %3/proc; mount --bind /dev %3/dev; "
                             "exec chroot %3 sh /var/cache/iterdeck-test/check.sh")
                  .arg(upper, base + QStringLiteral("/work"), merged);
        const Run r = run(
            QStringLiteral("unshare"),
            {QStringLiteral("--mount"), QStringLiteral("--fork"), QStringLiteral("sh"), QStringLiteral("-c"), outer},
            {}, 300000);
        if (r.exitCode != 0 && r.err.contains("mount: ") && !r.out.contains("user:"))
            QSKIP(qPrintable(QStringLiteral("an overlay over / cannot be mounted here: %1")
                                 .arg(QString::fromUtf8(r.err.trimmed()))));
        qInfo().noquote() << r.out;
        QVERIFY2(r.exitCode == 0, QByteArray(r.out + r.err).constData());
        QVERIFY2(r.out.contains("user: iterdeck-bot:/var/lib/iterdeck-bot:/usr/sbin/nologin\n"), r.out.constData());
        QVERIFY2(r.out.contains("data: iterdeck-bot:iterdeck-bot 750\n"), r.out.constData());
        QVERIFY2(r.out.contains("etc: root:iterdeck-bot 750\n"), r.out.constData());
        QVERIFY2(r.out.contains("status: installed installed \n"), r.out.constData());
        QVERIFY(r.out.contains("iterdeck " ITERDECK_VERSION "\n"));
        QVERIFY(r.out.contains("iterdeckctl: ok\n"));
        QVERIFY(r.out.contains("iterdeck-agent " ITERDECK_VERSION "\n"));
        QVERIFY(r.out.contains("valid team manifest for project \"team\""));
        QVERIFY(r.out.contains("store: writable by iterdeck-bot\n"));
        QVERIFY(r.out.contains("purged\n"));
        QVERIFY(r.out.contains("kept: /var/lib/iterdeck-bot/iterdeck-bot.db\n"));
    }

    void maintainerScripts()
    {
        for (const char *script : {"postinst", "prerm", "postrm"}) {
            const QByteArray text = controlFile(m_botDeb, QString::fromLatin1(script));
            QVERIFY2(text.startsWith("#!/bin/sh\n"), script);
            QProcess sh;
            sh.start(QStringLiteral("sh"), {QStringLiteral("-n")});
            QVERIFY(sh.waitForStarted());
            sh.write(text);
            sh.closeWriteChannel();
            QVERIFY(sh.waitForFinished());
            QVERIFY2(sh.exitCode() == 0, sh.readAllStandardError().constData());
        }
        const QByteArray postinst = controlFile(m_botDeb, QStringLiteral("postinst"));
        QVERIFY(postinst.contains("adduser --system --group"));
        QVERIFY(postinst.contains("/var/lib/iterdeck-bot"));
    }

    void systemdUnit()
    {
        const QString unitPath = m_root + QStringLiteral("/lib/systemd/system/iterdeck-bot.service");
        QFile f(unitPath);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray unit = f.readAll();
        for (const char *line :
             {"\nUser=iterdeck-bot\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nProtectHome=yes\n",
              "\nPrivateTmp=yes\n", "\nStateDirectory=iterdeck-bot\n", "\nCapabilityBoundingSet=\n",
              "\nExecStartPre=/usr/bin/iterdeck-bot --check-config --config /etc/iterdeck/iterdeck.yaml\n"})
            QVERIFY2(unit.contains(line), line);
        const QString analyze = have(QStringLiteral("systemd-analyze"));
        if (analyze.isEmpty()) {
            qInfo("systemd-analyze is not installed: the unit was not verified");
            return;
        }
        // Verified with the programs of the fresh root in place of /usr/bin.
        QByteArray local = unit;
        local.replace("/usr/bin/iterdeck-bot", (m_root + QStringLiteral("/usr/bin/iterdeck-bot")).toUtf8());
        const QString dir = m_dir.filePath(QStringLiteral("units"));
        QDir().mkpath(dir);
        QFile out(dir + QStringLiteral("/iterdeck-bot.service"));
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(local);
        out.close();
        const Run r = run(analyze, {QStringLiteral("verify"), QStringLiteral("--man=no"), out.fileName()});
        // Complaints about this unit only: the host's other units are not ours to judge.
        QStringList problems;
        for (const QByteArray &line : QByteArray(r.out + r.err).split('\n'))
            if (line.contains("iterdeck-bot.service"))
                problems << QString::fromUtf8(line);
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(u'\n')));
    }

    // lintian finds nothing worse than what packaging/deb/*.lintian-overrides explains.
    void lintian()
    {
        const QString lintian = have(QStringLiteral("lintian"));
        if (lintian.isEmpty())
            QSKIP("lintian is not installed (scripts/bootstrap installs it): the packages were not linted");
        const Run r = run(lintian,
                          {QStringLiteral("--fail-on"), QStringLiteral("error,warning"), QStringLiteral("--info"),
                           QStringLiteral("--display-level"), QStringLiteral(">=warning"), m_desktopDeb, m_botDeb},
                          {}, 300000);
        qInfo().noquote() << "lintian:" << (r.out.isEmpty() ? QByteArray("clean") : r.out);
        QVERIFY2(r.exitCode == 0, QByteArray(r.out + r.err).constData());
        static const QRegularExpression tag(QStringLiteral("^[EW]: "), QRegularExpression::MultilineOption);
        QVERIFY2(!tag.match(QString::fromUtf8(r.out)).hasMatch(), r.out.constData());
    }
};

QTEST_GUILESS_MAIN(TestDebPackages)
#include "tst_debpackages.moc"
