#pragma once
// Client certificates for the kube tests, made with the openssl tool at test time (nothing
// private is committed): RSA and EC pairs in the key formats kubeconfigs carry.
#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QString>
#include <QStringList>

namespace iterdeck::test {

class TestPki
{
public:
    // Makes everything under `dir`; false (with `error`) when openssl fails.
    bool create(const QString &dir, QString *error)
    {
        m_dir = dir;
        QDir().mkpath(dir);
        const QString ecParams = QStringLiteral("ec_paramgen_curve:prime256v1");
        return selfSigned(QStringLiteral("rsa"), {QStringLiteral("-newkey"), QStringLiteral("rsa:2048")}, error)
            && selfSigned(QStringLiteral("ec"),
                          {QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"), ecParams},
                          error)
            && selfSigned(QStringLiteral("ed25519"), {QStringLiteral("-newkey"), QStringLiteral("ed25519")}, error)
            // PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY") forms of the same keys
            && run({QStringLiteral("rsa"), QStringLiteral("-in"), path(QStringLiteral("rsa.key")),
                    QStringLiteral("-traditional"), QStringLiteral("-out"), path(QStringLiteral("rsa-pkcs1.key"))},
                   error)
            && run({QStringLiteral("ec"), QStringLiteral("-in"), path(QStringLiteral("ec.key")), QStringLiteral("-out"),
                    path(QStringLiteral("ec-sec1.key"))},
                   error)
            && run({QStringLiteral("pkey"), QStringLiteral("-in"), path(QStringLiteral("rsa.key")),
                    QStringLiteral("-aes256"), QStringLiteral("-passout"), QStringLiteral("pass:secret"),
                    QStringLiteral("-out"), path(QStringLiteral("rsa-encrypted.key"))},
                   error)
            && corrupt(error);
    }

    QString path(const QString &name) const { return m_dir + u'/' + name; }
    QByteArray pem(const QString &name) const
    {
        QFile f(path(name));
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }
    QByteArray base64(const QString &name) const { return pem(name).toBase64(); }

private:
    QString m_dir;

    // A key whose PEM armour is right and whose body is not a key.
    bool corrupt(QString *error)
    {
        QFile f(path(QStringLiteral("corrupt.key")));
        if (!f.open(QIODevice::WriteOnly)) {
            *error = f.errorString();
            return false;
        }
        f.write("-----BEGIN PRIVATE KEY-----\nTm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n");
        return true;
    }

    bool run(const QStringList &args, QString *error)
    {
        QProcess p;
        p.start(QStringLiteral("openssl"), args);
        if (!p.waitForFinished(60000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
            *error = QStringLiteral("openssl %1 failed: %2")
                         .arg(args.join(u' '), QString::fromLocal8Bit(p.readAllStandardError()));
            return false;
        }
        return true;
    }

    bool selfSigned(const QString &stem, const QStringList &keyArgs, QString *error)
    {
        QStringList args {QStringLiteral("req"),
                          QStringLiteral("-x509"),
                          QStringLiteral("-nodes"),
                          QStringLiteral("-days"),
                          QStringLiteral("2"),
                          QStringLiteral("-subj"),
                          QStringLiteral("/CN=%1-user/O=testers").arg(stem)};
        args += keyArgs;
        args += {QStringLiteral("-keyout"), path(stem + u".key"), QStringLiteral("-out"), path(stem + u".crt")};
        return run(args, error);
    }
};

} // namespace iterdeck::test
