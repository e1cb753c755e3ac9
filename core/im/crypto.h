#pragma once

#include <QByteArray>

#include <optional>

// The primitives the platforms sign and encrypt with (OpenSSL underneath).
namespace iterdeck::im::crypto {

QByteArray sha1(const QByteArray &data);
QByteArray sha256(const QByteArray &data);
QByteArray hmacSha256(const QByteArray &key, const QByteArray &data);
// Compares in time independent of where the first difference is.
bool constantTimeEquals(const QByteArray &a, const QByteArray &b);
// AES-256-CBC. With pkcs7 false no padding is added or removed (WeCom pads to 32 bytes itself).
// nullopt when the key or IV has the wrong size, or the padding is wrong.
std::optional<QByteArray> aes256CbcDecrypt(const QByteArray &key, const QByteArray &iv, const QByteArray &data,
                                           bool pkcs7 = true);
std::optional<QByteArray> aes256CbcEncrypt(const QByteArray &key, const QByteArray &iv, const QByteArray &data,
                                           bool pkcs7 = true);
QByteArray randomBytes(int count);

} // namespace iterdeck::im::crypto
