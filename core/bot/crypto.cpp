#include "crypto.h"

#include <QCryptographicHash>
#include <QMessageAuthenticationCode>
#include <QRandomGenerator>

namespace iterdeck::bot {

bool constantTimeEquals(QByteArrayView a, QByteArrayView b)
{
    // Walk the longer length so that the time does not reveal a common prefix either.
    const qsizetype n = std::max(a.size(), b.size());
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (qsizetype i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

QByteArray hmacSha256(QByteArrayView key, QByteArrayView data)
{
    return QMessageAuthenticationCode::hash(data.toByteArray(), key.toByteArray(), QCryptographicHash::Sha256);
}

QByteArray sha256Hex(QByteArrayView data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

QByteArray randomBytes(int n)
{
    QByteArray out(n, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(out.data()), n / 4);
    for (int i = n - n % 4; i < n; ++i)
        out[i] = static_cast<char>(QRandomGenerator::system()->generate() & 0xff);
    return out;
}

} // namespace iterdeck::bot
