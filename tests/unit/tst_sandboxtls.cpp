// The sandbox's certificates: the chain verifies (with the openssl tool and with the OpenSSL
// API), the server certificate names 127.0.0.1, ::1 and localhost, client certificates carry
// user and groups, files are reused when valid and remade when not, and keys stay private.
#include "sandbox/tls.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <memory>

using namespace iterdeck::sandbox;

namespace {

struct X509Free
{
    void operator()(X509 *p) const { X509_free(p); }
    void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
    void operator()(BIO *p) const { BIO_free(p); }
    void operator()(X509_STORE *p) const { X509_STORE_free(p); }
    void operator()(X509_STORE_CTX *p) const { X509_STORE_CTX_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, X509Free>;

X509Ptr parseCert(const std::string &pem)
{
    std::unique_ptr<BIO, X509Free> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr parseKey(const std::string &pem)
{
    std::unique_ptr<BIO, X509Free> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string certPem(X509 *cert)
{
    std::unique_ptr<BIO, X509Free> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    char *data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size_t(len));
}

// X509_verify_cert of `leaf` against `ca` for a purpose (X509_PURPOSE_SSL_SERVER/CLIENT).
int verifyWithApi(const std::string &leafPem, const std::string &caPem, int purpose)
{
    X509Ptr leaf = parseCert(leafPem), ca = parseCert(caPem);
    if (!leaf || !ca)
        return -1;
    std::unique_ptr<X509_STORE, X509Free> store(X509_STORE_new());
    std::unique_ptr<X509_STORE_CTX, X509Free> ctx(X509_STORE_CTX_new());
    X509_STORE_add_cert(store.get(), ca.get());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
    X509_STORE_CTX_set_purpose(ctx.get(), purpose);
    if (X509_verify_cert(ctx.get()) == 1)
        return X509_V_OK;
    return X509_STORE_CTX_get_error(ctx.get());
}

// Runs the openssl tool; returns exit code, stdout+stderr in *output.
int openssl(const QStringList &args, QString *output)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral("openssl"), args);
    if (!p.waitForFinished(30000)) {
        p.kill();
        p.waitForFinished();
        *output = QStringLiteral("<openssl did not finish>");
        return -1;
    }
    *output = QString::fromUtf8(p.readAll());
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

QByteArray fileBytes(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeBytes(const QString &path, const QByteArray &data)
{
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly | QIODevice::Truncate), qPrintable(path));
    QCOMPARE(f.write(data), data.size());
}

int fileMode(const QString &path)
{
    struct stat st
    {
    };
    if (::stat(QFile::encodeName(path).constData(), &st) != 0)
        return -1;
    return int(st.st_mode & 07777);
}

// Days from now until the certificate's notAfter.
int daysLeft(const std::string &pem)
{
    X509Ptr cert = parseCert(pem);
    int days = 0, secs = 0;
    if (!cert || ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get())) != 1)
        return -1;
    return days;
}

// A server certificate signed by the sandbox CA for the existing server key, valid `days` days,
// with the given subjectAltName (empty = none): what an older or foreign run could have left.
std::string forgeServerCert(const TlsMaterial &m, int days, const char *san)
{
    X509Ptr ca = parseCert(m.caCertPem);
    KeyPtr caKey = parseKey(m.caKeyPem), key = parseKey(m.serverKeyPem);
    if (!ca || !caKey || !key)
        return {};
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(days) * 86400);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("forged"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca.get(), cert.get(), nullptr, nullptr, 0);
    auto add = [&](int nid, const char *value) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        if (ext) {
            X509_add_ext(cert.get(), ext, -1);
            X509_EXTENSION_free(ext);
        }
    };
    add(NID_basic_constraints, "critical,CA:FALSE");
    add(NID_ext_key_usage, "serverAuth");
    if (san && *san)
        add(NID_subject_alt_name, san);
    if (X509_sign(cert.get(), caKey.get(), EVP_sha256()) <= 0)
        return {};
    return certPem(cert.get());
}

const QRegularExpression kTokenChars(QStringLiteral("^[A-Za-z0-9_-]*$"));

} // namespace

class TestSandboxTls : public QObject
{
    Q_OBJECT
private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_dir;
    mode_t m_oldUmask = 0;

    QString path(const char *name) const { return m_dir + QLatin1Char('/') + QLatin1String(name); }

    TlsMaterial make()
    {
        std::string error;
        auto m = loadOrCreateTls(m_dir.toStdString(), &error);
        [&] { QVERIFY2(m, error.c_str()); }();
        return m ? *m : TlsMaterial {};
    }

private Q_SLOTS:
    void init()
    {
        m_tmp = std::make_unique<QTemporaryDir>();
        QVERIFY(m_tmp->isValid());
        m_dir = m_tmp->filePath(QStringLiteral("data/tls")); // not there yet: made on demand
        // Permissive umask: the key modes must not depend on the caller's.
        m_oldUmask = ::umask(0);
    }
    void cleanup()
    {
        ::umask(m_oldUmask);
        m_tmp.reset();
    }

    void createsFilesAndChainVerifies()
    {
        const TlsMaterial m = make();
        QVERIFY(!m.caCertPem.empty() && !m.caKeyPem.empty() && !m.serverCertPem.empty() && !m.serverKeyPem.empty());
        QCOMPARE(fileBytes(path("ca.crt")).toStdString(), m.caCertPem);
        QCOMPARE(fileBytes(path("ca.key")).toStdString(), m.caKeyPem);
        QCOMPARE(fileBytes(path("server.crt")).toStdString(), m.serverCertPem);
        QCOMPARE(fileBytes(path("server.key")).toStdString(), m.serverKeyPem);

        QString out;
        QCOMPARE(openssl({QStringLiteral("verify"), QStringLiteral("-purpose"), QStringLiteral("sslserver"),
                          QStringLiteral("-CAfile"), path("ca.crt"), path("server.crt")},
                         &out),
                 0);
        QCOMPARE(out.trimmed(), path("server.crt") + QStringLiteral(": OK"));
        QCOMPARE(verifyWithApi(m.serverCertPem, m.caCertPem, X509_PURPOSE_SSL_SERVER), X509_V_OK);

        // The key belongs to the certificate, EC P-256, signed with SHA-256.
        X509Ptr cert = parseCert(m.serverCertPem), ca = parseCert(m.caCertPem);
        KeyPtr key = parseKey(m.serverKeyPem);
        QVERIFY(cert && ca && key);
        QCOMPARE(X509_check_private_key(cert.get(), key.get()), 1);
        QVERIFY(EVP_PKEY_is_a(key.get(), "EC"));
        QCOMPARE(EVP_PKEY_get_bits(key.get()), 256);
        QCOMPARE(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
        QVERIFY(X509_check_ca(ca.get()) >= 1);
        QCOMPARE(X509_check_ca(cert.get()), 0);

        // Validity: CA about 10 years, server about 1 year.
        QVERIFY2(daysLeft(m.caCertPem) >= 3640, qPrintable(QString::number(daysLeft(m.caCertPem))));
        QVERIFY(daysLeft(m.serverCertPem) >= 360 && daysLeft(m.serverCertPem) <= 366);
    }

    void serverCertificateNamesAndUsages()
    {
        const TlsMaterial m = make();
        QString text;
        QCOMPARE(openssl({QStringLiteral("x509"), QStringLiteral("-noout"), QStringLiteral("-text"),
                          QStringLiteral("-in"), path("server.crt")},
                         &text),
                 0);
        for (const char *expected :
             {"IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "DNS:localhost", "CA:FALSE", "Digital Signature",
              "TLS Web Server Authentication", "Signature Algorithm: ecdsa-with-SHA256", "ASN1 OID: prime256v1"})
            QVERIFY2(text.contains(QLatin1String(expected)), expected);
        QVERIFY(!text.contains(QLatin1String("TLS Web Client Authentication")));

        X509Ptr cert = parseCert(m.serverCertPem);
        QCOMPARE(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
        QCOMPARE(X509_check_ip_asc(cert.get(), "::1", 0), 1);
        QCOMPARE(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
        QCOMPARE(X509_check_host(cert.get(), "example.com", 0, 0, nullptr), 0);
        QVERIFY(X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE);
        QVERIFY(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
        QVERIFY(X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE);

        QString caText;
        QCOMPARE(openssl({QStringLiteral("x509"), QStringLiteral("-noout"), QStringLiteral("-text"),
                          QStringLiteral("-in"), path("ca.crt")},
                         &caText),
                 0);
        QVERIFY(caText.contains(QLatin1String("CA:TRUE")));
        QVERIFY(caText.contains(QLatin1String("Certificate Sign")));
    }

    void keyFilesArePrivate()
    {
        make();
        QCOMPARE(fileMode(path("ca.key")), 0600);
        QCOMPARE(fileMode(path("server.key")), 0600);
        QCOMPARE(fileMode(path("ca.crt")) & 077 & ~044, 0); // certificates may be readable, never writable by others
        std::string error;
        const auto client = loadOrCreateClientCert(m_dir.toStdString(), "developer", make(), "developer",
                                                   {"iterdeck:developers"}, &error);
        QVERIFY2(client, error.c_str());
        QCOMPARE(fileMode(path("developer.key")), 0600);

        // A key left readable by an older run gets its mode back when reused.
        QVERIFY(::chmod(QFile::encodeName(path("server.key")).constData(), 0644) == 0);
        make();
        QCOMPARE(fileMode(path("server.key")), 0600);
        // No temporary files are left behind.
        const QStringList files = QDir(m_dir).entryList(QDir::Files, QDir::Name);
        QCOMPARE(
            files,
            QStringList({QStringLiteral("ca.crt"), QStringLiteral("ca.key"), QStringLiteral("developer.crt"),
                         QStringLiteral("developer.key"), QStringLiteral("server.crt"), QStringLiteral("server.key")}));
    }

    void reuseKeepsTheSameFiles()
    {
        const TlsMaterial first = make();
        const QDateTime mtime = QFileInfo(path("server.crt")).lastModified();
        const TlsMaterial second = make();
        QCOMPARE(second.caCertPem, first.caCertPem);
        QCOMPARE(second.caKeyPem, first.caKeyPem);
        QCOMPARE(second.serverCertPem, first.serverCertPem);
        QCOMPARE(second.serverKeyPem, first.serverKeyPem);
        QCOMPARE(fileBytes(path("server.crt")).toStdString(), first.serverCertPem);
        QCOMPARE(QFileInfo(path("server.crt")).lastModified(), mtime);
    }

    void expiringServerCertIsRemade()
    {
        const TlsMaterial first = make();
        const std::string forged = forgeServerCert(first, 10, "IP:127.0.0.1,IP:::1,DNS:localhost");
        QVERIFY(!forged.empty());
        writeBytes(path("server.crt"), QByteArray::fromStdString(forged));
        QVERIFY(daysLeft(forged) >= 9 && daysLeft(forged) <= 10);

        const TlsMaterial second = make();
        QCOMPARE(second.caCertPem, first.caCertPem); // the CA stays
        QCOMPARE(second.caKeyPem, first.caKeyPem);
        QVERIFY(second.serverCertPem != forged);
        QVERIFY(daysLeft(second.serverCertPem) >= 360);
        QCOMPARE(fileBytes(path("server.crt")).toStdString(), second.serverCertPem);
        QCOMPARE(verifyWithApi(second.serverCertPem, second.caCertPem, X509_PURPOSE_SSL_SERVER), X509_V_OK);

        // A certificate valid for longer than the renewal window is kept.
        const std::string longer = forgeServerCert(second, 60, "IP:127.0.0.1,IP:::1,DNS:localhost");
        writeBytes(path("server.crt"), QByteArray::fromStdString(longer));
        writeBytes(path("server.key"), QByteArray::fromStdString(second.serverKeyPem));
        QCOMPARE(make().serverCertPem, longer);
    }

    void serverCertLackingANameIsRemade()
    {
        const TlsMaterial first = make();
        const std::string forged = forgeServerCert(first, 200, "IP:127.0.0.1,DNS:localhost"); // no ::1
        writeBytes(path("server.crt"), QByteArray::fromStdString(forged));
        const TlsMaterial second = make();
        QVERIFY(second.serverCertPem != forged);
        X509Ptr cert = parseCert(second.serverCertPem);
        QCOMPARE(X509_check_ip_asc(cert.get(), "::1", 0), 1);
    }

    void serverCertWithForeignKeyIsRemade()
    {
        const TlsMaterial first = make();
        // The key of the CA is not the server certificate's key.
        writeBytes(path("server.key"), QByteArray::fromStdString(first.caKeyPem));
        const TlsMaterial second = make();
        QVERIFY(second.serverCertPem != first.serverCertPem);
        QVERIFY(second.serverKeyPem != first.caKeyPem);
        KeyPtr key = parseKey(second.serverKeyPem);
        X509Ptr cert = parseCert(second.serverCertPem);
        QCOMPARE(X509_check_private_key(cert.get(), key.get()), 1);
    }

    void brokenCaIsRemadeWithANewServerCert()
    {
        const TlsMaterial first = make();
        writeBytes(path("ca.crt"), "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
        const TlsMaterial second = make();
        QVERIFY(second.caCertPem != first.caCertPem);
        QVERIFY(second.serverCertPem != first.serverCertPem); // the old one was signed by the old CA
        QCOMPARE(verifyWithApi(second.serverCertPem, second.caCertPem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
        QVERIFY(verifyWithApi(first.serverCertPem, second.caCertPem, X509_PURPOSE_SSL_SERVER) != X509_V_OK);
    }

    void clientCertificateCarriesUserAndGroups()
    {
        const TlsMaterial m = make();
        std::string error;
        const auto client = loadOrCreateClientCert(m_dir.toStdString(), "developer", m, "developer",
                                                   {"iterdeck:developers", "system:authenticated"}, &error);
        QVERIFY2(client, error.c_str());
        QCOMPARE(fileBytes(path("developer.crt")).toStdString(), client->certPem);
        QCOMPARE(fileBytes(path("developer.key")).toStdString(), client->keyPem);

        QString out;
        QCOMPARE(openssl({QStringLiteral("verify"), QStringLiteral("-purpose"), QStringLiteral("sslclient"),
                          QStringLiteral("-CAfile"), path("ca.crt"), path("developer.crt")},
                         &out),
                 0);
        QCOMPARE(out.trimmed(), path("developer.crt") + QStringLiteral(": OK"));
        QCOMPARE(verifyWithApi(client->certPem, m.caCertPem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
        // Not usable as a server certificate.
        QVERIFY(verifyWithApi(client->certPem, m.caCertPem, X509_PURPOSE_SSL_SERVER) != X509_V_OK);

        QString subject;
        QCOMPARE(openssl({QStringLiteral("x509"), QStringLiteral("-noout"), QStringLiteral("-subject"),
                          QStringLiteral("-nameopt"), QStringLiteral("RFC2253"), QStringLiteral("-in"),
                          path("developer.crt")},
                         &subject),
                 0);
        QCOMPARE(subject.trimmed(),
                 QStringLiteral("subject=CN=developer,O=system:authenticated,O=iterdeck:developers"));
        QString text;
        QCOMPARE(openssl({QStringLiteral("x509"), QStringLiteral("-noout"), QStringLiteral("-text"),
                          QStringLiteral("-in"), path("developer.crt")},
                         &text),
                 0);
        QVERIFY(text.contains(QLatin1String("TLS Web Client Authentication")));
        QVERIFY(text.contains(QLatin1String("CA:FALSE")));

        const auto identity = identityOfPem(client->certPem);
        QVERIFY(identity);
        QCOMPARE(identity->user, std::string("developer"));
        QCOMPARE(identity->groups, (std::vector<std::string> {"iterdeck:developers", "system:authenticated"}));

        // Reused as long as the identity is the same; remade when the groups change.
        const auto again = loadOrCreateClientCert(m_dir.toStdString(), "developer", m, "developer",
                                                  {"iterdeck:developers", "system:authenticated"}, &error);
        QVERIFY(again);
        QCOMPARE(again->certPem, client->certPem);
        QCOMPARE(again->keyPem, client->keyPem);
        const auto changed
            = loadOrCreateClientCert(m_dir.toStdString(), "developer", m, "developer", {"iterdeck:admins"}, &error);
        QVERIFY(changed);
        QVERIFY(changed->certPem != client->certPem);
        QCOMPARE(identityOfPem(changed->certPem)->groups, std::vector<std::string> {"iterdeck:admins"});

        // A user without groups.
        const auto lone = loadOrCreateClientCert(m_dir.toStdString(), "alice", m, "alice", {}, &error);
        QVERIFY(lone);
        QCOMPARE(identityOfPem(lone->certPem)->user, std::string("alice"));
        QVERIFY(identityOfPem(lone->certPem)->groups.empty());
    }

    void clientCertFromAnotherCaIsRemade()
    {
        const TlsMaterial m = make();
        std::string error;
        const auto client = loadOrCreateClientCert(m_dir.toStdString(), "developer", m, "developer", {"devs"}, &error);
        QVERIFY(client);
        // A new CA (another data dir) does not accept the old client certificate: it is remade.
        QTemporaryDir other;
        const auto otherCa = loadOrCreateTls(other.path().toStdString(), &error);
        QVERIFY(otherCa);
        const auto remade
            = loadOrCreateClientCert(m_dir.toStdString(), "developer", *otherCa, "developer", {"devs"}, &error);
        QVERIFY(remade);
        QVERIFY(remade->certPem != client->certPem);
        QCOMPARE(verifyWithApi(remade->certPem, otherCa->caCertPem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    }

    void clientCertRejectsBadArguments()
    {
        const TlsMaterial m = make();
        std::string error;
        QVERIFY(!loadOrCreateClientCert(m_dir.toStdString(), "x", m, "", {}, &error));
        QVERIFY(!error.empty());
        error.clear();
        QVERIFY(!loadOrCreateClientCert(m_dir.toStdString(), "../escape", m, "bob", {}, &error));
        QVERIFY(!error.empty());
        error.clear();
        TlsMaterial broken = m;
        broken.caKeyPem = "not a key";
        QVERIFY(!loadOrCreateClientCert(m_dir.toStdString(), "bob", broken, "bob", {}, &error));
        QVERIFY(!error.empty());
    }

    void unusableDirectoryIsAnError()
    {
        const QString file = m_tmp->filePath(QStringLiteral("plain-file"));
        writeBytes(file, "x");
        std::string error;
        QVERIFY(!loadOrCreateTls(file.toStdString(), &error));
        QVERIFY2(error.find("plain-file") != std::string::npos, error.c_str());
    }

    void identityOfPemRejectsGarbage()
    {
        QVERIFY(!identityOfPem(""));
        QVERIFY(!identityOfPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
        const TlsMaterial m = make();
        const auto server = identityOfPem(m.serverCertPem);
        QVERIFY(server);
        QCOMPARE(server->user, std::string("iterdeck-sandbox"));
    }

    void randomTokens()
    {
        QSet<QString> seen;
        for (int i = 0; i < 200; ++i) {
            const QString token = QString::fromStdString(randomToken());
            QCOMPARE(token.size(), 32); // 24 bytes, base64url without padding
            QVERIFY2(kTokenChars.match(token).hasMatch(), qPrintable(token));
            seen.insert(token);
        }
        QCOMPARE(seen.size(), 200);
        QCOMPARE(randomToken(1).size(), size_t(2));
        QCOMPARE(randomToken(2).size(), size_t(3));
        QCOMPARE(randomToken(3).size(), size_t(4));
        QCOMPARE(randomToken(32).size(), size_t(43));
        // Every one of the 64 characters shows up over enough tokens (no skewed alphabet).
        QSet<QChar> chars;
        for (int i = 0; i < 200; ++i)
            for (QChar c : QString::fromStdString(randomToken(48)))
                chars.insert(c);
        QCOMPARE(chars.size(), 64);
    }
};

QTEST_GUILESS_MAIN(TestSandboxTls)
#include "tst_sandboxtls.moc"
