#include "imerror.h"

namespace iterdeck::im {

int ImError::inboundStatus() const
{
    switch (code) {
    case Code::BadSignature:
    case Code::StaleTimestamp:
        return 401;
    case Code::Replay:
        return 200;
    case Code::Malformed:
    case Code::InvalidArgument:
        return 400;
    default:
        return 500;
    }
}

QString ImError::codeName(Code code)
{
    switch (code) {
    case Code::Config:
        return QStringLiteral("config");
    case Code::Network:
        return QStringLiteral("network");
    case Code::Http:
        return QStringLiteral("http");
    case Code::Platform:
        return QStringLiteral("platform");
    case Code::Auth:
        return QStringLiteral("auth");
    case Code::RateLimited:
        return QStringLiteral("rate-limited");
    case Code::BadResponse:
        return QStringLiteral("bad-response");
    case Code::Unsupported:
        return QStringLiteral("unsupported");
    case Code::InvalidArgument:
        return QStringLiteral("invalid-argument");
    case Code::BadSignature:
        return QStringLiteral("bad-signature");
    case Code::StaleTimestamp:
        return QStringLiteral("stale-timestamp");
    case Code::Replay:
        return QStringLiteral("replay");
    case Code::Malformed:
        return QStringLiteral("malformed");
    }
    return QStringLiteral("unknown");
}

QString ImError::toString() const
{
    QString s = codeName(code) + QStringLiteral(": ") + message;
    if (httpStatus > 0)
        s += QStringLiteral(" (HTTP %1)").arg(httpStatus);
    return s;
}

} // namespace iterdeck::im
