#pragma once

#include <QProcess>
#include <QString>
#include <QTemporaryDir>

#include <memory>

namespace iterdeck::test {

// A throwaway PostgreSQL server for tests: initdb into a temporary folder, then `postgres` on
// a free loopback port with trust authentication. As root, both run as the "postgres" (or
// "nobody") account through runuser, since PostgreSQL refuses to run as root.
class PostgresServer
{
public:
    PostgresServer();
    ~PostgresServer();

    // The folder of initdb and postgres (Debian: /usr/lib/postgresql/<major>/bin), or empty.
    static QString binDir();

    // Initialises and starts the server; false with *error set when it cannot.
    bool start(QString *error);
    void stop();
    bool isRunning() const;

    quint16 port() const { return m_port; }
    // Creates a database and returns its DSN: postgresql://iterdeck@127.0.0.1:PORT/NAME.
    QString createDatabase(const QString &name, QString *error);
    // The server's log so far (for failure messages).
    QString log() const;

private:
    bool run(const QString &program, const QStringList &args, QString *error, int timeoutMs = 60000);
    QStringList wrap(const QString &program, const QStringList &args) const;

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_bin;
    QString m_runAs; // empty: run as ourselves
    quint16 m_port = 0;
    QProcess m_server;
    QString m_log;
};

} // namespace iterdeck::test
