// The webhook senders the bot understands. Each one checks its signature or token on the raw
// bytes first, then reads only the fields it needs, naming the first missing or mistyped one.
// Formats and headers: docs/bot.md, "Webhook sources".
#include "webhook.h"

#include "crypto.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QUrl>
#include <QUrlQuery>

namespace iterdeck::bot {

namespace {

WebhookError malformed(const QString &message)
{
    return WebhookError {WebhookError::Code::Malformed, message};
}

WebhookError unauthenticated(const QString &message)
{
    return WebhookError {WebhookError::Code::Unauthenticated, message};
}

QString jsonTypeName(const QJsonValue &v)
{
    switch (v.type()) {
    case QJsonValue::Null:
        return QStringLiteral("null");
    case QJsonValue::Bool:
        return QStringLiteral("a boolean");
    case QJsonValue::Double:
        return QStringLiteral("a number");
    case QJsonValue::String:
        return QStringLiteral("a string");
    case QJsonValue::Array:
        return QStringLiteral("an array");
    case QJsonValue::Object:
        return QStringLiteral("an object");
    case QJsonValue::Undefined:
        break;
    }
    return QStringLiteral("missing");
}

Expected<QJsonObject, WebhookError> parseObject(const QByteArray &body)
{
    if (body.trimmed().isEmpty())
        return unexpected(malformed(QStringLiteral("the body is empty")));
    QJsonParseError e;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &e);
    if (e.error != QJsonParseError::NoError) {
        return unexpected(malformed(
            QStringLiteral("the body is not valid JSON: %1 at offset %2").arg(e.errorString()).arg(e.offset)));
    }
    if (!doc.isObject())
        return unexpected(malformed(QStringLiteral("the body must be a JSON object")));
    return doc.object();
}

// Reads fields by dotted path and remembers the first problem.
class Fields
{
public:
    explicit Fields(QJsonObject root)
        : m_root(std::move(root))
    { }

    QJsonValue at(const QString &path) const
    {
        QJsonValue v = m_root;
        for (const QString &part : path.split(u'.')) {
            if (!v.isObject())
                return QJsonValue(QJsonValue::Undefined);
            v = v.toObject().value(part);
        }
        return v;
    }

    // A required string.
    QString string(const QString &path)
    {
        const QJsonValue v = at(path);
        if (v.isString())
            return v.toString();
        fail(path, v, QStringLiteral("a string"));
        return {};
    }
    // A required non-empty string.
    QString text(const QString &path)
    {
        const QString s = string(path);
        if (!failed() && s.isEmpty())
            m_error = QStringLiteral("field \"%1\" must not be empty").arg(path);
        return s;
    }
    // An optional string; a present non-string is an error.
    QString optString(const QString &path)
    {
        const QJsonValue v = at(path);
        if (v.isUndefined() || v.isNull())
            return {};
        if (v.isString())
            return v.toString();
        fail(path, v, QStringLiteral("a string"));
        return {};
    }
    // A required id: a string, or a whole number written as digits.
    QString id(const QString &path)
    {
        const QJsonValue v = at(path);
        if (v.isString() && !v.toString().isEmpty())
            return v.toString();
        if (v.isDouble()) {
            const double d = v.toDouble();
            if (d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<qint64>(d)))
                return QString::number(static_cast<qint64>(d));
            if (!failed())
                m_error = QStringLiteral("field \"%1\" must be a whole number").arg(path);
            return {};
        }
        fail(path, v, QStringLiteral("a string or a whole number"));
        return {};
    }
    QJsonObject object(const QString &path)
    {
        const QJsonValue v = at(path);
        if (v.isObject())
            return v.toObject();
        fail(path, v, QStringLiteral("an object"));
        return {};
    }
    QJsonArray array(const QString &path)
    {
        const QJsonValue v = at(path);
        if (v.isArray())
            return v.toArray();
        fail(path, v, QStringLiteral("an array"));
        return {};
    }
    bool optBool(const QString &path, bool fallback)
    {
        const QJsonValue v = at(path);
        if (v.isUndefined() || v.isNull())
            return fallback;
        if (v.isBool())
            return v.toBool();
        fail(path, v, QStringLiteral("a boolean"));
        return fallback;
    }
    QStringList stringList(const QString &path)
    {
        QStringList out;
        const QJsonArray a = array(path);
        for (qsizetype i = 0; i < a.size(); ++i) {
            if (!a.at(i).isString() || a.at(i).toString().isEmpty()) {
                if (!failed())
                    m_error = QStringLiteral("field \"%1\" must be a list of non-empty strings (item %2 is %3)")
                                  .arg(path)
                                  .arg(i)
                                  .arg(jsonTypeName(a.at(i)));
                return {};
            }
            out.append(a.at(i).toString());
        }
        return out;
    }
    // An optional RFC 3339 / ISO 8601 time; invalid when absent.
    QDateTime time(const QString &path)
    {
        const QString s = optString(path);
        if (s.isEmpty())
            return {};
        QDateTime t = QDateTime::fromString(s, Qt::ISODateWithMs);
        if (!t.isValid()) {
            // GitLab writes "2016-08-12 15:26:29 UTC".
            t = QDateTime::fromString(s, QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
            t.setTimeSpec(Qt::UTC);
        }
        if (!t.isValid() && !failed())
            m_error = QStringLiteral("field \"%1\" is not a time: \"%2\"").arg(path, s);
        return t.toUTC();
    }

    bool failed() const { return !m_error.isEmpty(); }
    WebhookError error() const { return malformed(m_error); }

private:
    void fail(const QString &path, const QJsonValue &v, const QString &expected)
    {
        if (failed())
            return;
        if (v.isUndefined())
            m_error = QStringLiteral("field \"%1\" is missing").arg(path);
        else
            m_error = QStringLiteral("field \"%1\" must be %2, not %3").arg(path, expected, jsonTypeName(v));
    }

    QJsonObject m_root;
    QString m_error;
};

ParsedDelivery ignored(QString deliveryId, QString event, QString reason)
{
    ParsedDelivery d;
    d.deliveryId = std::move(deliveryId);
    d.event = std::move(event);
    d.ignoredReason = std::move(reason);
    return d;
}

QString bodyDigestId(const QByteArray &body)
{
    return QStringLiteral("sha256:") + QString::fromLatin1(sha256Hex(body));
}

// "sha256=<64 hex>" HMAC-SHA256 over the body, in `header` (GitHub, Jira, generic).
Expected<bool, WebhookError> verifyHubSignature(const WebhookRequest &request, const QByteArray &secret,
                                                const QByteArray &header, const char *headerName)
{
    if (!request.hasHeader(header))
        return unexpected(unauthenticated(QStringLiteral("missing %1 header").arg(QLatin1String(headerName))));
    const QByteArray value = request.header(header).trimmed();
    if (!value.startsWith("sha256=") || value.size() != 7 + 64) {
        return unexpected(
            unauthenticated(QStringLiteral("%1 must be \"sha256=\" and 64 hex digits").arg(QLatin1String(headerName))));
    }
    const QByteArray expected = hmacSha256(secret, request.body).toHex();
    if (!constantTimeEquals(value.mid(7).toLower(), expected))
        return unexpected(unauthenticated(QStringLiteral("%1 does not match the body").arg(QLatin1String(headerName))));
    return true;
}

// A shared token in `header`, compared as is.
Expected<bool, WebhookError> verifyToken(const QByteArray &given, bool present, const QByteArray &secret,
                                         const QString &what)
{
    if (!present)
        return unexpected(unauthenticated(QStringLiteral("missing %1").arg(what)));
    if (!constantTimeEquals(given, secret))
        return unexpected(unauthenticated(QStringLiteral("%1 does not match").arg(what)));
    return true;
}

// The Authorization header the sender was configured with: the secret itself, or
// "Bearer <secret>" when the secret is just the token.
Expected<bool, WebhookError> verifyAuthorization(const WebhookRequest &request, const QByteArray &secret)
{
    if (!request.hasHeader("authorization"))
        return unexpected(unauthenticated(QStringLiteral("missing Authorization header")));
    const QByteArray given = request.header("authorization").trimmed();
    const bool whole = constantTimeEquals(given, secret);
    const QByteArray withScheme = QByteArray("Bearer ") + secret;
    const bool bearer = constantTimeEquals(given, withScheme);
    if (!(whole || bearer))
        return unexpected(unauthenticated(QStringLiteral("Authorization header does not match")));
    return true;
}

QString stripBranchPrefix(QString ref)
{
    for (const char *prefix : {"refs/heads/", "origin/", "refs/remotes/origin/"}) {
        if (ref.startsWith(QLatin1String(prefix)))
            return ref.mid(int(qstrlen(prefix)));
    }
    return ref;
}

// ---------------------------------------------------------------- generic

// The documented format of docs/bot.md: {"id", "type", "iteration"|"artifact"}; signed like GitHub
// in X-Iterdeck-Signature.
class GenericParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("generic"); }

    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        return verifyHubSignature(request, secret, "x-iterdeck-signature", "X-Iterdeck-Signature");
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        auto root = parseObject(request.body);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        ParsedDelivery d;
        d.deliveryId = f.text(QStringLiteral("id"));
        d.event = f.text(QStringLiteral("type"));
        if (f.failed())
            return unexpected(f.error());
        const QString &type = d.event;
        if (type.startsWith(QLatin1String("iteration."))) {
            IterationChange c;
            if (type == QLatin1String("iteration.started"))
                c.kind = IterationChange::Kind::Started;
            else if (type == QLatin1String("iteration.closed"))
                c.kind = IterationChange::Kind::Closed;
            else if (type == QLatin1String("iteration.members"))
                c.kind = IterationChange::Kind::MembersChanged;
            else
                return ignored(d.deliveryId, d.event, QStringLiteral("unknown event type \"%1\"").arg(type));
            c.key = QStringLiteral("generic:") + f.text(QStringLiteral("iteration.id"));
            c.name = f.optString(QStringLiteral("iteration.name"));
            c.url = f.optString(QStringLiteral("iteration.url"));
            c.at = f.time(QStringLiteral("time"));
            if (c.kind == IterationChange::Kind::MembersChanged
                || !f.at(QStringLiteral("iteration.members")).isUndefined()) {
                c.hasMembers = true;
                c.members = f.stringList(QStringLiteral("iteration.members"));
            }
            if (f.failed())
                return unexpected(f.error());
            if (c.name.isEmpty())
                c.name = c.key.mid(8);
            d.events.append(c);
            return d;
        }
        if (type == QLatin1String("artifact.published")) {
            ArtifactPublished a;
            a.component = f.optString(QStringLiteral("artifact.component"));
            a.repository = f.optString(QStringLiteral("artifact.repository"));
            a.image = f.optString(QStringLiteral("artifact.image"));
            a.artifact.branch = f.text(QStringLiteral("artifact.branch"));
            a.artifact.build = f.optString(QStringLiteral("artifact.build"));
            a.artifact.commit = f.optString(QStringLiteral("artifact.commit"));
            a.artifact.imageTag = f.optString(QStringLiteral("artifact.tag"));
            a.artifact.digest = f.optString(QStringLiteral("artifact.digest"));
            a.artifact.chartVersion = f.optString(QStringLiteral("artifact.chartVersion"));
            a.artifact.link = f.optString(QStringLiteral("artifact.link"));
            a.artifact.publishedAt = f.time(QStringLiteral("time"));
            if (f.failed())
                return unexpected(f.error());
            if (a.component.isEmpty() && a.repository.isEmpty() && a.image.isEmpty()) {
                return unexpected(malformed(
                    QStringLiteral("an artifact needs one of \"artifact.component\", \"artifact.repository\" or "
                                   "\"artifact.image\"")));
            }
            if (a.artifact.imageTag.isEmpty() && a.artifact.digest.isEmpty() && a.artifact.chartVersion.isEmpty()) {
                return unexpected(malformed(QStringLiteral(
                    "an artifact needs one of \"artifact.tag\", \"artifact.digest\" or \"artifact.chartVersion\"")));
            }
            d.events.append(a);
            return d;
        }
        return ignored(d.deliveryId, d.event, QStringLiteral("unknown event type \"%1\"").arg(type));
    }
};

// ---------------------------------------------------------------- GitHub

class GitHubParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("github"); }

    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        return verifyHubSignature(request, secret, "x-hub-signature-256", "X-Hub-Signature-256");
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        if (request.header("x-github-event").trimmed().isEmpty())
            return unexpected(malformed(QStringLiteral("missing X-GitHub-Event header")));
        if (request.header("x-github-delivery").isEmpty())
            return unexpected(malformed(QStringLiteral("missing X-GitHub-Delivery header")));
        const QString event = QString::fromUtf8(request.header("x-github-event"));
        const QString id = QString::fromUtf8(request.header("x-github-delivery"));
        QByteArray json = request.body;
        // Hooks may be set to deliver application/x-www-form-urlencoded: payload=<json>.
        if (request.header("content-type").startsWith("application/x-www-form-urlencoded")) {
            const QUrlQuery form(QString::fromUtf8(request.body));
            if (!form.hasQueryItem(QStringLiteral("payload")))
                return unexpected(malformed(QStringLiteral("a form-encoded delivery needs a \"payload\" field")));
            json = form.queryItemValue(QStringLiteral("payload"), QUrl::FullyDecoded).toUtf8();
        }
        auto root = parseObject(json);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        ParsedDelivery d;
        d.deliveryId = id;
        d.event = event;
        if (event == QLatin1String("milestone"))
            return milestone(f, d);
        if (event == QLatin1String("workflow_run"))
            return workflowRun(f, d);
        if (event == QLatin1String("registry_package") || event == QLatin1String("package"))
            return package(f, d,
                           event == QLatin1String("registry_package") ? QStringLiteral("registry_package")
                                                                      : QStringLiteral("package"));
        return ignored(id, event, QStringLiteral("GitHub event \"%1\" is not used").arg(event));
    }

private:
    static Expected<ParsedDelivery, WebhookError> milestone(Fields &f, ParsedDelivery d)
    {
        const QString action = f.text(QStringLiteral("action"));
        const QString repo = f.text(QStringLiteral("repository.full_name"));
        const QString number = f.id(QStringLiteral("milestone.number"));
        IterationChange c;
        c.name = f.text(QStringLiteral("milestone.title"));
        c.url = f.optString(QStringLiteral("milestone.html_url"));
        if (f.failed())
            return unexpected(f.error());
        c.key = QStringLiteral("github:%1/milestone/%2").arg(repo, number);
        if (action == QLatin1String("created") || action == QLatin1String("opened")) {
            c.kind = IterationChange::Kind::Started;
            c.at = f.time(QStringLiteral("milestone.created_at"));
        } else if (action == QLatin1String("closed") || action == QLatin1String("deleted")) {
            c.kind = IterationChange::Kind::Closed;
            c.at = f.time(QStringLiteral("milestone.closed_at"));
            if (!c.at.isValid())
                c.at = f.time(QStringLiteral("milestone.updated_at"));
        } else {
            return ignored(d.deliveryId, d.event, QStringLiteral("milestone action \"%1\" is not used").arg(action));
        }
        if (f.failed())
            return unexpected(f.error());
        d.events.append(c);
        return d;
    }

    static Expected<ParsedDelivery, WebhookError> workflowRun(Fields &f, ParsedDelivery d)
    {
        const QString action = f.text(QStringLiteral("action"));
        if (f.failed())
            return unexpected(f.error());
        if (action != QLatin1String("completed"))
            return ignored(d.deliveryId, d.event, QStringLiteral("workflow_run action \"%1\" is not used").arg(action));
        const QString conclusion = f.optString(QStringLiteral("workflow_run.conclusion"));
        ArtifactPublished a;
        a.repository = f.text(QStringLiteral("repository.full_name"));
        a.artifact.branch = f.text(QStringLiteral("workflow_run.head_branch"));
        a.artifact.build = f.id(QStringLiteral("workflow_run.run_number"));
        a.artifact.commit = f.text(QStringLiteral("workflow_run.head_sha"));
        a.artifact.link = f.optString(QStringLiteral("workflow_run.html_url"));
        a.artifact.publishedAt = f.time(QStringLiteral("workflow_run.updated_at"));
        if (f.failed())
            return unexpected(f.error());
        if (conclusion != QLatin1String("success")) {
            return ignored(d.deliveryId, d.event,
                           QStringLiteral("workflow run %1 of %2 did not succeed (conclusion \"%3\")")
                               .arg(a.artifact.build, a.repository, conclusion));
        }
        d.events.append(a);
        return d;
    }

    static Expected<ParsedDelivery, WebhookError> package(Fields &f, ParsedDelivery d, const QString &root)
    {
        const QString action = f.text(QStringLiteral("action"));
        if (f.failed())
            return unexpected(f.error());
        if (action != QLatin1String("published"))
            return ignored(d.deliveryId, d.event, QStringLiteral("%1 action \"%2\" is not used").arg(root, action));
        const QString v = root + QStringLiteral(".package_version");
        // The published examples contradict themselves (a container with package_type "npm", an npm
        // package of ecosystem "docker"): container metadata is what marks a container image.
        const QString type = f.optString(root + QStringLiteral(".package_type")).toLower();
        const bool container = f.at(v + QStringLiteral(".container_metadata")).isObject()
            || type == QLatin1String("container") || type == QLatin1String("docker");
        if (f.failed())
            return unexpected(f.error());
        if (!container) {
            return ignored(d.deliveryId, d.event,
                           QStringLiteral("package of type \"%1\" is not a container image").arg(type));
        }
        ArtifactPublished a;
        a.repository = f.text(QStringLiteral("repository.full_name"));
        const QString owner = f.optString(root + QStringLiteral(".owner.login")).toLower();
        const QString name = f.text(root + QStringLiteral(".name"));
        // package_url: "ghcr.io/owner/name:" (the tag left off) when GitHub gives it.
        QString image = f.optString(v + QStringLiteral(".package_url")).toLower();
        if (const qsizetype colon = image.lastIndexOf(u':'); colon > image.lastIndexOf(u'/'))
            image.truncate(colon);
        a.image = !image.isEmpty()
            ? image
            : QStringLiteral("ghcr.io/") + (owner.isEmpty() ? QString() : owner + u'/') + name.toLower();
        a.artifact.branch = stripBranchPrefix(f.optString(v + QStringLiteral(".target_commitish")));
        a.artifact.build = f.id(v + QStringLiteral(".id"));
        a.artifact.imageTag = f.optString(v + QStringLiteral(".container_metadata.tag.name"));
        a.artifact.digest = f.optString(v + QStringLiteral(".container_metadata.tag.digest"));
        // Label names contain dots: look the label up in its object.
        a.artifact.commit = f.at(v + QStringLiteral(".container_metadata.labels.all_labels"))
                                .toObject()
                                .value(QStringLiteral("org.opencontainers.image.revision"))
                                .toString();
        a.artifact.link = f.optString(v + QStringLiteral(".html_url"));
        if (a.artifact.link.isEmpty())
            a.artifact.link = f.optString(root + QStringLiteral(".html_url"));
        a.artifact.publishedAt = f.time(root + QStringLiteral(".updated_at"));
        if (f.failed())
            return unexpected(f.error());
        if (a.artifact.commit.isEmpty())
            a.artifact.commit = f.optString(v + QStringLiteral(".target_oid"));
        if (a.artifact.digest.isEmpty() && a.artifact.imageTag.isEmpty())
            return unexpected(malformed(QStringLiteral("the package version has neither a tag nor a digest")));
        d.events.append(a);
        return d;
    }
};

// ---------------------------------------------------------------- GitLab

class GitLabParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("gitlab"); }

    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        return verifyToken(request.header("x-gitlab-token"), request.hasHeader("x-gitlab-token"), secret,
                           QStringLiteral("X-Gitlab-Token header"));
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        if (request.header("x-gitlab-event").trimmed().isEmpty())
            return unexpected(malformed(QStringLiteral("missing X-Gitlab-Event header")));
        const QString event = QString::fromUtf8(request.header("x-gitlab-event"));
        // Idempotency-Key stays the same across GitLab's retries; older GitLab sends only the event UUID.
        QString id = QString::fromUtf8(request.header("idempotency-key"));
        if (id.isEmpty())
            id = QString::fromUtf8(request.header("x-gitlab-event-uuid"));
        if (id.isEmpty())
            id = bodyDigestId(request.body);
        auto root = parseObject(request.body);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        ParsedDelivery d;
        d.deliveryId = id;
        d.event = event;
        if (event == QLatin1String("Milestone Hook"))
            return milestone(f, d);
        if (event == QLatin1String("Pipeline Hook"))
            return pipeline(f, d);
        return ignored(id, event, QStringLiteral("GitLab event \"%1\" is not used").arg(event));
    }

private:
    static Expected<ParsedDelivery, WebhookError> milestone(Fields &f, ParsedDelivery d)
    {
        const QString action = f.text(QStringLiteral("action"));
        const QString project = f.text(QStringLiteral("project.path_with_namespace"));
        const QString iid = f.id(QStringLiteral("object_attributes.iid"));
        IterationChange c;
        c.name = f.text(QStringLiteral("object_attributes.title"));
        const QString web = f.optString(QStringLiteral("project.web_url"));
        if (f.failed())
            return unexpected(f.error());
        c.key = QStringLiteral("gitlab:%1/milestone/%2").arg(project, iid);
        if (!web.isEmpty())
            c.url = web + QStringLiteral("/-/milestones/") + iid;
        if (action == QLatin1String("create") || action == QLatin1String("reopen")) {
            c.kind = IterationChange::Kind::Started;
            c.at = f.time(QStringLiteral("object_attributes.created_at"));
        } else if (action == QLatin1String("close") || action == QLatin1String("delete")) {
            c.kind = IterationChange::Kind::Closed;
            c.at = f.time(QStringLiteral("object_attributes.updated_at"));
        } else {
            return ignored(d.deliveryId, d.event, QStringLiteral("milestone action \"%1\" is not used").arg(action));
        }
        if (f.failed())
            return unexpected(f.error());
        d.events.append(c);
        return d;
    }

    static Expected<ParsedDelivery, WebhookError> pipeline(Fields &f, ParsedDelivery d)
    {
        const QString status = f.text(QStringLiteral("object_attributes.status"));
        const bool tag = f.optBool(QStringLiteral("object_attributes.tag"), false);
        ArtifactPublished a;
        a.repository = f.text(QStringLiteral("project.path_with_namespace"));
        a.artifact.branch = f.text(QStringLiteral("object_attributes.ref"));
        a.artifact.build = f.id(QStringLiteral("object_attributes.id"));
        a.artifact.commit = f.text(QStringLiteral("object_attributes.sha"));
        a.artifact.link = f.optString(QStringLiteral("object_attributes.url"));
        a.artifact.publishedAt = f.time(QStringLiteral("object_attributes.finished_at"));
        if (f.failed())
            return unexpected(f.error());
        if (status != QLatin1String("success")) {
            return ignored(d.deliveryId, d.event,
                           QStringLiteral("pipeline %1 of %2 is \"%3\", not \"success\"")
                               .arg(a.artifact.build, a.repository, status));
        }
        if (tag) {
            return ignored(d.deliveryId, d.event,
                           QStringLiteral("pipeline %1 ran for tag \"%2\", not a branch")
                               .arg(a.artifact.build, a.artifact.branch));
        }
        d.events.append(a);
        return d;
    }
};

// ---------------------------------------------------------------- Jira

class JiraParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("jira"); }

    // Jira Cloud admin webhooks with a secret: X-Hub-Signature: sha256=<HMAC-SHA256 hex of the body>.
    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        return verifyHubSignature(request, secret, "x-hub-signature", "X-Hub-Signature");
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        auto root = parseObject(request.body);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        ParsedDelivery d;
        d.event = f.text(QStringLiteral("webhookEvent"));
        if (f.failed())
            return unexpected(f.error());
        // Unique per delivery and unchanged across Jira's retries.
        d.deliveryId = QString::fromUtf8(request.header("x-atlassian-webhook-identifier"));
        if (d.deliveryId.isEmpty())
            d.deliveryId = bodyDigestId(request.body);
        IterationChange c;
        if (d.event == QLatin1String("sprint_started"))
            c.kind = IterationChange::Kind::Started;
        else if (d.event == QLatin1String("sprint_closed"))
            c.kind = IterationChange::Kind::Closed;
        else
            return ignored(d.deliveryId, d.event, QStringLiteral("Jira event \"%1\" is not used").arg(d.event));
        c.key = QStringLiteral("jira:sprint/") + f.id(QStringLiteral("sprint.id"));
        c.name = f.text(QStringLiteral("sprint.name"));
        c.url = f.optString(QStringLiteral("sprint.self"));
        c.at = f.time(c.kind == IterationChange::Kind::Started ? QStringLiteral("sprint.startDate")
                                                               : QStringLiteral("sprint.completeDate"));
        if (f.failed())
            return unexpected(f.error());
        d.events.append(c);
        return d;
    }
};

// ---------------------------------------------------------------- Jenkins

// The Notification plugin (plugins.jenkins.io/notification) in JSON format. It sends no
// signature: the token is part of the URL (?token=) or given as "Authorization: Bearer".
class JenkinsParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("jenkins"); }

    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        if (request.query.contains(QStringLiteral("token"))) {
            return verifyToken(request.query.value(QStringLiteral("token")).toUtf8(), true, secret,
                               QStringLiteral("token query parameter"));
        }
        if (request.hasHeader("authorization"))
            return verifyAuthorization(request, secret);
        return unexpected(unauthenticated(QStringLiteral("missing token: add ?token=SECRET to the URL")));
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        auto root = parseObject(request.body);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        const QString job = f.text(QStringLiteral("name"));
        const QString number = f.id(QStringLiteral("build.number"));
        const QString phase = f.text(QStringLiteral("build.phase"));
        const QString status = f.optString(QStringLiteral("build.status"));
        if (f.failed())
            return unexpected(f.error());
        ParsedDelivery d;
        d.event = phase;
        // COMPLETED and FINALIZED report the same build: one delivery id, so it counts once.
        d.deliveryId = QStringLiteral("%1#%2").arg(job, number);
        if (phase != QLatin1String("COMPLETED") && phase != QLatin1String("FINALIZED")) {
            d.deliveryId += u':' + phase;
            return ignored(d.deliveryId, d.event, QStringLiteral("build phase \"%1\" is not used").arg(phase));
        }
        if (status != QLatin1String("SUCCESS")) {
            return ignored(d.deliveryId + u':' + phase, d.event,
                           QStringLiteral("build %1 of %2 is \"%3\", not \"SUCCESS\"").arg(number, job, status));
        }
        ArtifactPublished a;
        a.jobName = job;
        a.repository = f.optString(QStringLiteral("build.scm.url"));
        a.artifact.branch = stripBranchPrefix(f.optString(QStringLiteral("build.scm.branch")));
        a.artifact.commit = f.optString(QStringLiteral("build.scm.commit"));
        a.artifact.build = number;
        a.artifact.link = f.optString(QStringLiteral("build.full_url"));
        // Parameters, when the job has them, may name what it pushed.
        const QJsonValue params = f.at(QStringLiteral("build.parameters"));
        if (params.isObject()) {
            const QJsonObject p = params.toObject();
            a.artifact.imageTag = p.value(QStringLiteral("IMAGE_TAG")).toString();
            a.artifact.chartVersion = p.value(QStringLiteral("CHART_VERSION")).toString();
            if (a.artifact.branch.isEmpty())
                a.artifact.branch = stripBranchPrefix(p.value(QStringLiteral("BRANCH")).toString());
        }
        if (f.failed())
            return unexpected(f.error());
        if (a.artifact.branch.isEmpty()) {
            return unexpected(malformed(
                QStringLiteral("build %1 of %2 names no branch: \"build.scm.branch\" is missing").arg(number, job)));
        }
        d.events.append(a);
        return d;
    }
};

// ---------------------------------------------------------------- Docker distribution

class RegistryParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("registry"); }

    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        return verifyAuthorization(request, secret);
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        const QByteArray type = request.header("content-type").split(';').constFirst().trimmed().toLower();
        if (type != "application/vnd.docker.distribution.events.v1+json"
            && type != "application/vnd.docker.distribution.events.v2+json") {
            return unexpected(malformed(
                QStringLiteral("Content-Type must be application/vnd.docker.distribution.events.v1+json (or v2), "
                               "not \"%1\"")
                    .arg(QString::fromUtf8(type))));
        }
        auto root = parseObject(request.body);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        const QJsonArray events = f.array(QStringLiteral("events"));
        if (f.failed())
            return unexpected(f.error());
        ParsedDelivery d;
        d.event = QStringLiteral("envelope");
        QStringList ids;
        int blobs = 0, others = 0;
        for (qsizetype i = 0; i < events.size(); ++i) {
            if (!events.at(i).isObject())
                return unexpected(malformed(QStringLiteral("events[%1] must be an object").arg(i)));
            Fields e(events.at(i).toObject());
            const QString prefix = QStringLiteral("events[%1].").arg(i);
            const QString id = e.text(QStringLiteral("id"));
            const QString action = e.text(QStringLiteral("action"));
            const QString mediaType = e.optString(QStringLiteral("target.mediaType"));
            if (e.failed())
                return unexpected(malformed(prefix + e.error().message));
            ids.append(id);
            if (action != QLatin1String("push")) {
                ++others;
                continue;
            }
            if (!isManifestMediaType(mediaType)) {
                ++blobs;
                continue;
            }
            ArtifactPublished a;
            a.repository = e.text(QStringLiteral("target.repository"));
            const QString host = e.optString(QStringLiteral("request.host"));
            a.image = host.isEmpty() ? a.repository : host + u'/' + a.repository;
            a.artifact.digest = e.text(QStringLiteral("target.digest"));
            a.artifact.imageTag = e.optString(QStringLiteral("target.tag"));
            a.artifact.branch = a.artifact.imageTag;
            a.artifact.link = e.optString(QStringLiteral("target.url"));
            a.artifact.publishedAt = e.time(QStringLiteral("timestamp"));
            if (e.failed())
                return unexpected(malformed(prefix + e.error().message));
            d.events.append(a);
        }
        if (ids.isEmpty())
            return unexpected(malformed(QStringLiteral("the envelope has no events")));
        // The registry retries an envelope as it was: its event ids identify it.
        d.deliveryId = ids.size() == 1
            ? ids.constFirst()
            : QStringLiteral("events:") + QString::fromLatin1(sha256Hex(ids.join(u'\n').toUtf8()));
        if (d.events.isEmpty()) {
            d.ignoredReason = QStringLiteral("no manifest push in the envelope (%1 blob pushes, %2 other events)")
                                  .arg(blobs)
                                  .arg(others);
        }
        return d;
    }
};

// ---------------------------------------------------------------- Harbor

class HarborParser final : public WebhookParser
{
public:
    QString kind() const override { return QStringLiteral("harbor"); }

    Expected<bool, WebhookError> verify(const WebhookRequest &request, const QByteArray &secret) const override
    {
        return verifyAuthorization(request, secret);
    }

    Expected<ParsedDelivery, WebhookError> parse(const WebhookRequest &request) const override
    {
        auto root = parseObject(request.body);
        if (!root)
            return unexpected(root.error());
        Fields f(*root);
        ParsedDelivery d;
        d.event = f.text(QStringLiteral("type"));
        if (f.failed())
            return unexpected(f.error());
        // Default format: {type, occur_at, event_data}; CloudEvents: {specversion, id, type, data}.
        const bool cloudEvents = !f.at(QStringLiteral("specversion")).isUndefined();
        const QString dataKey = cloudEvents ? QStringLiteral("data") : QStringLiteral("event_data");
        d.deliveryId = cloudEvents ? f.text(QStringLiteral("id")) : bodyDigestId(request.body);
        if (f.failed())
            return unexpected(f.error());
        if (d.event != QLatin1String("PUSH_ARTIFACT") && d.event != QLatin1String("harbor.artifact.pushed"))
            return ignored(d.deliveryId, d.event, QStringLiteral("Harbor event \"%1\" is not used").arg(d.event));
        const QString repository = f.text(dataKey + QStringLiteral(".repository.repo_full_name"));
        const QJsonArray resources = f.array(dataKey + QStringLiteral(".resources"));
        QDateTime at;
        if (!cloudEvents) {
            const QJsonValue occur = f.at(QStringLiteral("occur_at"));
            if (occur.isDouble())
                at = QDateTime::fromSecsSinceEpoch(qint64(occur.toDouble()), Qt::UTC);
        } else {
            at = f.time(QStringLiteral("time"));
        }
        if (f.failed())
            return unexpected(f.error());
        for (qsizetype i = 0; i < resources.size(); ++i) {
            if (!resources.at(i).isObject())
                return unexpected(malformed(QStringLiteral("%1.resources[%2] must be an object").arg(dataKey).arg(i)));
            Fields r(resources.at(i).toObject());
            ArtifactPublished a;
            a.repository = repository;
            const QString url = r.text(QStringLiteral("resource_url"));
            a.artifact.digest = r.optString(QStringLiteral("digest"));
            const QString tag = r.optString(QStringLiteral("tag"));
            if (r.failed())
                return unexpected(
                    malformed(QStringLiteral("%1.resources[%2]: ").arg(dataKey).arg(i) + r.error().message));
            // Pushed by digest, Harbor repeats the digest as the "tag".
            if (!tag.startsWith(QLatin1String("sha256:")))
                a.artifact.imageTag = tag;
            a.artifact.branch = a.artifact.imageTag;
            // resource_url: host/project/repo:tag or host/project/repo@digest
            QString image = url;
            if (const qsizetype at = image.indexOf(u'@'); at >= 0)
                image.truncate(at);
            else if (const qsizetype colon = image.lastIndexOf(u':'); colon > image.lastIndexOf(u'/'))
                image.truncate(colon);
            a.image = image;
            a.artifact.link = url;
            a.artifact.publishedAt = at;
            d.events.append(a);
        }
        if (d.events.isEmpty())
            d.ignoredReason = QStringLiteral("the Harbor push names no artifact");
        return d;
    }
};

} // namespace

bool isManifestMediaType(const QString &mediaType)
{
    static const QStringList types {
        QStringLiteral("application/vnd.docker.distribution.manifest.v2+json"),
        QStringLiteral("application/vnd.docker.distribution.manifest.list.v2+json"),
        QStringLiteral("application/vnd.docker.distribution.manifest.v1+json"),
        QStringLiteral("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        QStringLiteral("application/vnd.oci.image.manifest.v1+json"),
        QStringLiteral("application/vnd.oci.image.index.v1+json"),
    };
    return types.contains(mediaType);
}

QStringList webhookKinds()
{
    return {QStringLiteral("generic"), QStringLiteral("github"),   QStringLiteral("gitlab"), QStringLiteral("jira"),
            QStringLiteral("jenkins"), QStringLiteral("registry"), QStringLiteral("harbor")};
}

std::unique_ptr<WebhookParser> makeWebhookParser(const QString &kind)
{
    if (kind == QLatin1String("generic"))
        return std::make_unique<GenericParser>();
    if (kind == QLatin1String("github"))
        return std::make_unique<GitHubParser>();
    if (kind == QLatin1String("gitlab"))
        return std::make_unique<GitLabParser>();
    if (kind == QLatin1String("jira"))
        return std::make_unique<JiraParser>();
    if (kind == QLatin1String("jenkins"))
        return std::make_unique<JenkinsParser>();
    if (kind == QLatin1String("registry"))
        return std::make_unique<RegistryParser>();
    if (kind == QLatin1String("harbor"))
        return std::make_unique<HarborParser>();
    return nullptr;
}

Expected<ParsedDelivery, WebhookError> verifyAndParse(const WebhookParser &parser, const WebhookRequest &request,
                                                      const QByteArray &secret)
{
    auto ok = parser.verify(request, secret);
    if (!ok)
        return unexpected(ok.error());
    return parser.parse(request);
}

} // namespace iterdeck::bot
