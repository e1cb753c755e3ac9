#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>

namespace iterdeck::im::crypto {

QByteArray sha1(const QByteArray &data)
{
    QByteArray out(SHA_DIGEST_LENGTH, Qt::Uninitialized);
    SHA1(reinterpret_cast<const unsigned char *>(data.constData()), size_t(data.size()),
         reinterpret_cast<unsigned char *>(out.data()));
    return out;
}

QByteArray sha256(const QByteArray &data)
{
    QByteArray out(SHA256_DIGEST_LENGTH, Qt::Uninitialized);
    SHA256(reinterpret_cast<const unsigned char *>(data.constData()), size_t(data.size()),
           reinterpret_cast<unsigned char *>(out.data()));
    return out;
}

QByteArray hmacSha256(const QByteArray &key, const QByteArray &data)
{
    QByteArray out(EVP_MAX_MD_SIZE, Qt::Uninitialized);
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.constData(), int(key.size()), reinterpret_cast<const unsigned char *>(data.constData()),
         size_t(data.size()), reinterpret_cast<unsigned char *>(out.data()), &len);
    out.truncate(int(len));
    return out;
}

bool constantTimeEquals(const QByteArray &a, const QByteArray &b)
{
    if (a.size() != b.size())
        return false;
    return CRYPTO_memcmp(a.constData(), b.constData(), size_t(a.size())) == 0;
}

namespace {

std::optional<QByteArray> aes(bool encrypt, const QByteArray &key, const QByteArray &iv, const QByteArray &data,
                              bool pkcs7)
{
    if (key.size() != 32 || iv.size() != 16)
        return std::nullopt;
    if (!encrypt && (data.isEmpty() || data.size() % 16 != 0))
        return std::nullopt;
    if (encrypt && !pkcs7 && data.size() % 16 != 0)
        return std::nullopt;
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
    if (!ctx)
        return std::nullopt;
    const auto *k = reinterpret_cast<const unsigned char *>(key.constData());
    const auto *v = reinterpret_cast<const unsigned char *>(iv.constData());
    if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, k, v, encrypt ? 1 : 0) != 1)
        return std::nullopt;
    EVP_CIPHER_CTX_set_padding(ctx.get(), pkcs7 ? 1 : 0);
    QByteArray out(data.size() + 32, Qt::Uninitialized);
    int n1 = 0, n2 = 0;
    if (EVP_CipherUpdate(ctx.get(), reinterpret_cast<unsigned char *>(out.data()), &n1,
                         reinterpret_cast<const unsigned char *>(data.constData()), int(data.size()))
        != 1)
        return std::nullopt;
    if (EVP_CipherFinal_ex(ctx.get(), reinterpret_cast<unsigned char *>(out.data()) + n1, &n2) != 1)
        return std::nullopt;
    out.truncate(n1 + n2);
    return out;
}

} // namespace

std::optional<QByteArray> aes256CbcDecrypt(const QByteArray &key, const QByteArray &iv, const QByteArray &data,
                                           bool pkcs7)
{
    return aes(false, key, iv, data, pkcs7);
}

std::optional<QByteArray> aes256CbcEncrypt(const QByteArray &key, const QByteArray &iv, const QByteArray &data,
                                           bool pkcs7)
{
    return aes(true, key, iv, data, pkcs7);
}

QByteArray randomBytes(int count)
{
    QByteArray out(count, Qt::Uninitialized);
    if (RAND_bytes(reinterpret_cast<unsigned char *>(out.data()), count) != 1)
        out.fill('\0');
    return out;
}

} // namespace iterdeck::im::crypto
