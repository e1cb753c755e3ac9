#pragma once

#include "common/expected.h"
#include "model/artifact.h"

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

#include <memory>
#include <variant>

namespace iterdeck::bot {

// One HTTP request to /hooks/<name>, as received: the body is the raw bytes that were signed.
struct WebhookRequest
{
    QByteArray body;
    QMap<QByteArray, QByteArray> headers; // names in lower case
    QMap<QString, QString> query; // decoded query parameters

    QByteArray header(const QByteArray &lowerName) const { return headers.value(lowerName); }
    bool hasHeader(const QByteArray &lowerName) const { return headers.contains(lowerName); }
};

struct WebhookError
{
    enum class Code {
        Unauthenticated, // missing or wrong signature, token or Authorization header: 401
        Malformed, // not the format the source sends: 400
    };
    Code code = Code::Malformed;
    QString message;

    int httpStatus() const { return code == Code::Unauthenticated ? 401 : 400; }
};

// An iteration started, closed, or its members changed.
struct IterationChange
{
    enum class Kind { Started, Closed, MembersChanged };
    Kind kind = Kind::Started;
    QString key; // source-qualified: "github:octo/shop/milestone/3"
    QString name;
    QString url;
    QDateTime at;
    bool hasMembers = false; // Started may carry members; MembersChanged always does
    QStringList members; // collaboration-tool user names

    friend bool operator==(const IterationChange &, const IterationChange &) = default;
};

// A build output was published. The component is found later from these hints.
struct ArtifactPublished
{
    QString component; // explicit (generic source), else empty
    QString repository; // "owner/repo", a path or a Git URL
    QString image; // "host/path" of the image, when known
    QString jobName; // a CI job name (Jenkins), when known
    model::Artifact artifact; // component left empty

    friend bool operator==(const ArtifactPublished &, const ArtifactPublished &) = default;
};

using WebhookEvent = std::variant<IterationChange, ArtifactPublished>;

// What a verified request carries.
struct ParsedDelivery
{
    QString deliveryId; // unique per delivery, the same across the sender's retries
    QString event; // the sender's event name ("milestone", "Pipeline Hook", ...)
    QList<WebhookEvent> events;
    // Set when the delivery is valid but carries nothing the bot acts on (an unknown event,
    // a failed build, a blob push): answered 202.
    QString ignoredReason;
};

// The parser and verifier of one kind of sender. Implementations are stateless.
class WebhookParser
{
public:
    virtual ~WebhookParser() = default;
    virtual QString kind() const = 0;
    // Checks the request's signature or token against `secret`, on the raw bytes, before
    // anything of the body is looked at. Comparisons take constant time.
    virtual Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const = 0;
    // Turns a verified request into events.
    virtual Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const = 0;
};

// Kinds: generic, github, gitlab, jira, jenkins, registry, harbor. Null for an unknown kind.
std::unique_ptr<WebhookParser> makeWebhookParser(const QString &kind);
QStringList webhookKinds();

// verify(), then parse().
Expected<ParsedDelivery, WebhookError> verifyAndParse(const WebhookParser &parser, const WebhookRequest &request,
                                                      const QByteArray &secret);

// The media types of image manifests and indexes; other pushes (blobs, layers) are not artifacts.
bool isManifestMediaType(const QString &mediaType);

} // namespace iterdeck::bot
