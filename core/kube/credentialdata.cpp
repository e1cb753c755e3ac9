#include "credentialdata.h"

#include <QFile>
#include <QFileInfo>

#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace iterdeck::kube::detail {

namespace {

struct BioFree
{
    void operator()(BIO *b) const { BIO_free(b); }
};
struct PkeyFree
{
    void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
struct X509Free
{
    void operator()(X509 *x) const { X509_free(x); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

BioPtr memoryBio(const QByteArray &bytes)
{
    return BioPtr(BIO_new_mem_buf(bytes.constData(), int(bytes.size())));
}

// Never prompts: a kubeconfig key is not encrypted, and a prompt would block.
int noPassword(char *, int, int, void *)
{
    return 0;
}

QString lastOpenSslError()
{
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return QStringLiteral("not a PEM private key");
    const char *reason = ERR_reason_error_string(e);
    return reason ? QString::fromUtf8(reason) : QStringLiteral("not a PEM private key");
}

} // namespace

Expected<QByteArray, QString> readCredentialFile(const QString &path)
{
    constexpr qint64 maxBytes = qint64(1024) * 1024;
    const QFileInfo info(path);
    if (!info.exists())
        return unexpected(QStringLiteral("no such file"));
    if (!info.isFile())
        return unexpected(QStringLiteral("not a regular file"));
    if (info.size() > maxBytes)
        return unexpected(QStringLiteral("too large (%1 bytes; the limit is %2)").arg(info.size()).arg(maxBytes));
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return unexpected(f.errorString());
    QByteArray bytes = f.read(maxBytes + 1);
    if (bytes.size() > maxBytes)
        return unexpected(QStringLiteral("too large (more than %1 bytes)").arg(maxBytes));
    return bytes;
}

QList<QSslCertificate> parseCertificates(const QByteArray &pem)
{
    if (!pem.contains("-----BEGIN CERTIFICATE-----"))
        return {};
    return QSslCertificate::fromData(pem, QSsl::Pem);
}

Expected<ClientCertificate, QString> parseClientCertificate(const QByteArray &certPem, const QByteArray &keyPem)
{
    const QList<QSslCertificate> certs = parseCertificates(certPem);
    if (certs.isEmpty() || certs.first().isNull())
        return unexpected(QStringLiteral("the client certificate holds no PEM certificate"));
    if (!keyPem.contains("-----BEGIN ") || !keyPem.contains("PRIVATE KEY-----"))
        return unexpected(QStringLiteral("the client key holds no PEM private key"));
    if (keyPem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || keyPem.contains("Proc-Type: 4,ENCRYPTED"))
        return unexpected(QStringLiteral("the client key is encrypted; a kubeconfig key must be stored unencrypted"));

    ERR_clear_error();
    const BioPtr keyBio = memoryBio(keyPem);
    const PkeyPtr pkey(keyBio ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassword, nullptr) : nullptr);
    if (!pkey)
        return unexpected(QStringLiteral("the client key cannot be parsed (%1)").arg(lastOpenSslError()));

    QSsl::KeyAlgorithm algorithm = QSsl::Opaque;
    switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA:
        algorithm = QSsl::Rsa;
        break;
    case EVP_PKEY_EC:
        algorithm = QSsl::Ec;
        break;
    default: {
        const char *name = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey.get()));
        return unexpected(QStringLiteral("the client key is of an unsupported type (%1); only RSA and EC keys "
                                         "can be used")
                              .arg(name ? QString::fromLatin1(name) : QStringLiteral("unknown")));
    }
    }

    const QByteArray leafDer = certs.first().toDer();
    const auto *der = reinterpret_cast<const unsigned char *>(leafDer.constData());
    const X509Ptr leaf(d2i_X509(nullptr, &der, long(leafDer.size())));
    if (!leaf) {
        ERR_clear_error();
        return unexpected(QStringLiteral("the client certificate cannot be parsed"));
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), pkey.get()) != 1) {
        ERR_clear_error();
        const QString subject = certs.first().subjectDisplayName();
        return unexpected(QStringLiteral("the client key does not match the client certificate%1")
                              .arg(subject.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(subject)));
    }

    // Hand Qt the key in the one form every backend reads: unencrypted PKCS#8 PEM.
    const BioPtr out(BIO_new(BIO_s_mem()));
    if (!out || PEM_write_bio_PrivateKey(out.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        ERR_clear_error();
        return unexpected(QStringLiteral("cannot convert the client key"));
    }
    char *data = nullptr;
    const long len = BIO_get_mem_data(out.get(), &data);
    const QByteArray pkcs8(data, qsizetype(len));
    QSslKey key(pkcs8, algorithm, QSsl::Pem, QSsl::PrivateKey);
    if (key.isNull())
        return unexpected(QStringLiteral("the TLS backend cannot use the client key"));
    ClientCertificate result;
    result.leaf = certs.first();
    result.chain = certs.mid(1);
    result.key = key;
    return result;
}

} // namespace iterdeck::kube::detail
