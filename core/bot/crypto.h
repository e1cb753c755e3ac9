#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace iterdeck::bot {

// Compares two byte strings in time that depends only on their lengths, never on where they
// differ, so that a caller cannot learn a secret one byte at a time.
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);
// HMAC-SHA256 of `data` with `key`, raw bytes.
QByteArray hmacSha256(QByteArrayView key, QByteArrayView data);
// SHA-256, lower-case hex.
QByteArray sha256Hex(QByteArrayView data);
// `n` bytes from the system's cryptographic random source.
QByteArray randomBytes(int n);

} // namespace iterdeck::bot
