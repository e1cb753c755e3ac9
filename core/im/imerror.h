#pragma once

#include <QString>

namespace iterdeck::im {

// The one error type of the IM layer: outbound API calls and inbound callbacks.
struct ImError
{
    enum class Code {
        Config, // the adapter cannot run with these settings (missing secret, bad URL)
        Network, // no answer: connection refused, TLS, timeout
        Http, // an HTTP status the platform does not document for the call
        Platform, // the platform answered with an error code (platformCode, message)
        Auth, // the platform rejected our credentials
        RateLimited, // still limited after the retries; retryAfterSeconds says how long
        BadResponse, // the answer is not what the platform documents
        Unsupported, // the platform has no such operation
        InvalidArgument, // the caller asked for something the platform cannot take
        // Inbound callbacks:
        BadSignature, // missing or wrong signature / token: answer 401, no side effect
        StaleTimestamp, // outside the accepted window: answer 401
        Replay, // seen before: answer 200, no side effect
        Malformed, // verified but not parseable: answer 400
    };

    ImError() = default;
    ImError(Code c, QString m, int status = 0, QString platform = {})
        : code(c)
        , message(std::move(m))
        , httpStatus(status)
        , platformCode(std::move(platform))
    { }

    Code code = Code::Platform;
    QString message;
    int httpStatus = 0; // outbound: the platform's status; 0 when none
    QString platformCode; // outbound: the platform's error code or name ("ratelimited", "232019")
    int retryAfterSeconds = -1;

    // The HTTP status the bot answers an inbound callback with for this error.
    int inboundStatus() const;
    QString toString() const;
    static QString codeName(Code code);
};

} // namespace iterdeck::im
