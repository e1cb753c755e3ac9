#include "postgresserver.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace iterdeck::test {

PostgresServer::PostgresServer() = default;

PostgresServer::~PostgresServer()
{
    stop();
}

QString PostgresServer::binDir()
{
    QStringList candidates {QStringLiteral("/usr/lib/postgresql/15/bin")};
    const QDir root(QStringLiteral("/usr/lib/postgresql"));
    const QStringList versions = root.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name | QDir::Reversed);
    for (const QString &v : versions)
        candidates.append(root.filePath(v) + QStringLiteral("/bin"));
    for (const QString &c : std::as_const(candidates)) {
        if (QFile::exists(c + QStringLiteral("/initdb")) && QFile::exists(c + QStringLiteral("/postgres")))
            return c;
    }
    return {};
}

QStringList PostgresServer::wrap(const QString &program, const QStringList &args) const
{
    if (m_runAs.isEmpty())
        return QStringList {program} + args;
    return QStringList {QStringLiteral("runuser"), QStringLiteral("-u"), m_runAs, QStringLiteral("--"), program} + args;
}

bool PostgresServer::run(const QString &program, const QStringList &args, QString *error, int timeoutMs)
{
    const QStringList cmd = wrap(program, args);
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.setWorkingDirectory(m_dir->path());
    p.start(cmd.constFirst(), cmd.mid(1));
    if (!p.waitForFinished(timeoutMs) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        *error = QStringLiteral("%1 failed: %2").arg(cmd.join(u' '), QString::fromLocal8Bit(p.readAll()));
        return false;
    }
    return true;
}

bool PostgresServer::start(QString *error)
{
    m_bin = binDir();
    if (m_bin.isEmpty()) {
        *error = QStringLiteral("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
        return false;
    }
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/iterdeck-pg-XXXXXX"));
    if (!m_dir->isValid()) {
        *error = QStringLiteral("cannot create a temporary folder");
        return false;
    }
    if (::geteuid() == 0) {
        // initdb and postgres refuse root: hand the folder to an unprivileged account.
        const char *user = ::getpwnam("postgres") ? "postgres" : "nobody";
        const passwd *pw = ::getpwnam(user);
        if (!pw || ::chown(QFile::encodeName(m_dir->path()).constData(), pw->pw_uid, pw->pw_gid) != 0) {
            *error = QStringLiteral("cannot give %1 to the %2 account").arg(m_dir->path(), QLatin1String(user));
            return false;
        }
        m_runAs = QLatin1String(user);
    }
    const QString data = m_dir->filePath(QStringLiteral("data"));
    if (!run(m_bin + QStringLiteral("/initdb"),
             {QStringLiteral("-D"), data, QStringLiteral("-U"), QStringLiteral("iterdeck"), QStringLiteral("-A"),
              QStringLiteral("trust"), QStringLiteral("-E"), QStringLiteral("UTF8"), QStringLiteral("--no-sync"),
              QStringLiteral("--no-instructions")},
             error))
        return false;

    // A free port: bind, note, release. A race with another process is possible but rare; the
    // start below fails clearly when it happens.
    {
        QTcpServer probe;
        if (!probe.listen(QHostAddress::LocalHost, 0)) {
            *error = QStringLiteral("no free port");
            return false;
        }
        m_port = probe.serverPort();
    }
    const QStringList cmd
        = wrap(m_bin + QStringLiteral("/postgres"),
               {QStringLiteral("-D"), data, QStringLiteral("-p"), QString::number(m_port), QStringLiteral("-k"),
                m_dir->path(), QStringLiteral("-c"), QStringLiteral("listen_addresses=127.0.0.1"), QStringLiteral("-c"),
                QStringLiteral("fsync=off"), QStringLiteral("-c"), QStringLiteral("full_page_writes=off")});
    m_server.setProcessChannelMode(QProcess::MergedChannels);
    m_server.setWorkingDirectory(m_dir->path());
    m_server.start(cmd.constFirst(), cmd.mid(1));
    if (!m_server.waitForStarted(10000)) {
        *error = QStringLiteral("cannot start postgres: %1").arg(m_server.errorString());
        return false;
    }
    const QDeadlineTimer deadline(60000);
    QByteArray out;
    while (!deadline.hasExpired()) {
        m_server.waitForReadyRead(200);
        out += m_server.readAll();
        if (out.contains("database system is ready to accept connections")) {
            m_log = QString::fromLocal8Bit(out);
            return true;
        }
        if (m_server.state() == QProcess::NotRunning) {
            *error = QStringLiteral("postgres exited: %1").arg(QString::fromLocal8Bit(out));
            return false;
        }
    }
    *error = QStringLiteral("postgres did not get ready within 60 s: %1").arg(QString::fromLocal8Bit(out));
    stop();
    return false;
}

bool PostgresServer::isRunning() const
{
    return m_server.state() == QProcess::Running;
}

QString PostgresServer::createDatabase(const QString &name, QString *error)
{
    if (!run(m_bin + QStringLiteral("/createdb"),
             {QStringLiteral("-h"), QStringLiteral("127.0.0.1"), QStringLiteral("-p"), QString::number(m_port),
              QStringLiteral("-U"), QStringLiteral("iterdeck"), name},
             error))
        return {};
    return QStringLiteral("postgresql://iterdeck@127.0.0.1:%1/%2").arg(m_port).arg(name);
}

QString PostgresServer::log() const
{
    return m_log;
}

void PostgresServer::stop()
{
    if (m_server.state() == QProcess::NotRunning)
        return;
    QString error;
    run(m_bin + QStringLiteral("/pg_ctl"),
        {QStringLiteral("stop"), QStringLiteral("-D"), m_dir->filePath(QStringLiteral("data")), QStringLiteral("-m"),
         QStringLiteral("fast"), QStringLiteral("-w")},
        &error, 30000);
    if (!m_server.waitForFinished(20000)) {
        m_server.kill();
        m_server.waitForFinished(5000);
    }
}

} // namespace iterdeck::test
