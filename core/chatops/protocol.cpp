#include "protocol.h"

#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QUrl>

namespace iterdeck::chatops {

namespace {

struct CodeName
{
    ErrorCode code;
    const char *name;
};
constexpr CodeName kCodes[] = {
    {ErrorCode::BadRequest, "bad_request"},   {ErrorCode::Unauthorized, "unauthorized"},
    {ErrorCode::Forbidden, "forbidden"},      {ErrorCode::NotFound, "not_found"},
    {ErrorCode::Conflict, "conflict"},        {ErrorCode::Unavailable, "unavailable"},
    {ErrorCode::RateLimited, "rate_limited"}, {ErrorCode::Internal, "internal"},
    {ErrorCode::Timeout, "timeout"},          {ErrorCode::Disconnected, "disconnected"},
};

QString isoTime(const QDateTime &t)
{
    return t.isValid() ? t.toUTC().toString(Qt::ISODateWithMs) : QString();
}

QDateTime parseTime(const QJsonValue &v)
{
    return QDateTime::fromString(v.toString(), Qt::ISODateWithMs);
}

template<class T, class F> QJsonArray toArray(const QList<T> &list, F f)
{
    QJsonArray a;
    for (const T &t : list)
        a.append(f(t));
    return a;
}

template<class T, class F> QList<T> fromArray(const QJsonValue &v, F f)
{
    QList<T> out;
    for (const QJsonValue &x : v.toArray())
        out.append(f(x.toObject()));
    return out;
}

} // namespace

QString errorCodeName(ErrorCode code)
{
    for (const CodeName &c : kCodes) {
        if (c.code == code)
            return QLatin1String(c.name);
    }
    return QStringLiteral("internal");
}

std::optional<ErrorCode> errorCodeFromName(const QString &name)
{
    for (const CodeName &c : kCodes) {
        if (name == QLatin1String(c.name))
            return c.code;
    }
    return std::nullopt;
}

QJsonObject ProtocolError::toJson() const
{
    return {{QStringLiteral("code"), errorCodeName(code)}, {QStringLiteral("message"), message}};
}

ProtocolError ProtocolError::fromJson(const QJsonObject &o)
{
    return {errorCodeFromName(o.value(u"code").toString()).value_or(ErrorCode::Internal),
            o.value(u"message").toString()};
}

QJsonObject ComponentInfo::toJson() const
{
    return {{QStringLiteral("name"), name},
            {QStringLiteral("repository"), repository},
            {QStringLiteral("image"), image},
            {QStringLiteral("defaultBranch"), defaultBranch},
            {QStringLiteral("workload"), workload}};
}

ComponentInfo ComponentInfo::fromJson(const QJsonObject &o)
{
    return {o.value(u"name").toString(), o.value(u"repository").toString(), o.value(u"image").toString(),
            o.value(u"defaultBranch").toString(), o.value(u"workload").toString()};
}

QJsonObject Deployment::toJson() const
{
    QJsonObject o {{QStringLiteral("environment"), environmentId},
                   {QStringLiteral("component"), component},
                   {QStringLiteral("state"), state},
                   {QStringLiteral("seq"), seq}};
    if (artifact.id)
        o.insert(QStringLiteral("artifact"), artifact.toJson());
    if (!image.isEmpty())
        o.insert(QStringLiteral("image"), image);
    if (!message.isEmpty())
        o.insert(QStringLiteral("message"), message);
    if (at.isValid())
        o.insert(QStringLiteral("at"), isoTime(at));
    return o;
}

Deployment Deployment::fromJson(const QJsonObject &o)
{
    Deployment d;
    d.environmentId = o.value(u"environment").toInteger();
    d.component = o.value(u"component").toString();
    d.state = o.value(u"state").toString();
    d.seq = o.value(u"seq").toInteger();
    d.artifact = model::Artifact::fromJson(o.value(u"artifact").toObject());
    d.image = o.value(u"image").toString();
    d.message = o.value(u"message").toString();
    d.at = parseTime(o.value(u"at"));
    return d;
}

std::optional<Deployment> Deployment::fromEvent(const model::Event &event)
{
    if (!event.type.startsWith(u"deploy.") || !event.environmentId)
        return std::nullopt;
    Deployment d;
    d.environmentId = event.environmentId;
    d.component = event.payload.value(u"component").toString();
    if (d.component.isEmpty())
        return std::nullopt;
    d.state = event.type.mid(7);
    d.artifact = model::Artifact::fromJson(event.payload.value(u"artifact").toObject());
    d.image = event.payload.value(u"image").toString();
    d.message = event.payload.value(u"message").toString();
    d.at = event.at;
    d.seq = event.seq;
    return d;
}

QJsonObject Snapshot::toJson() const
{
    QJsonObject o {
        {QStringLiteral("type"), QLatin1String(msg::Snapshot)},
        {QStringLiteral("seq"), seq},
        {QStringLiteral("project"), project},
        {QStringLiteral("components"), toArray(components, [](const ComponentInfo &c) { return c.toJson(); })},
        {QStringLiteral("iterations"), toArray(iterations, [](const model::Iteration &i) { return i.toJson(); })},
        {QStringLiteral("environments"), toArray(environments, [](const model::Environment &e) { return e.toJson(); })},
        {QStringLiteral("selections"), toArray(selections, [](const model::Selection &s) { return s.toJson(); })},
        {QStringLiteral("deployments"), toArray(deployments, [](const Deployment &d) { return d.toJson(); })},
    };
    if (truncated)
        o.insert(QStringLiteral("truncated"), true);
    return o;
}

Snapshot Snapshot::fromJson(const QJsonObject &o)
{
    Snapshot s;
    s.seq = o.value(u"seq").toInteger();
    s.truncated = o.value(u"truncated").toBool();
    s.project = o.value(u"project").toString();
    s.components = fromArray<ComponentInfo>(o.value(u"components"), ComponentInfo::fromJson);
    s.iterations = fromArray<model::Iteration>(o.value(u"iterations"), model::Iteration::fromJson);
    s.environments = fromArray<model::Environment>(o.value(u"environments"), model::Environment::fromJson);
    s.selections = fromArray<model::Selection>(o.value(u"selections"), model::Selection::fromJson);
    s.deployments = fromArray<Deployment>(o.value(u"deployments"), Deployment::fromJson);
    return s;
}

QByteArray encode(const QJsonObject &message)
{
    return QJsonDocument(message).toJson(QJsonDocument::Compact);
}

Expected<QJsonObject, QString> decode(const QByteArray &text)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(text, &error);
    if (error.error != QJsonParseError::NoError)
        return unexpected(QStringLiteral("not JSON: %1 at offset %2").arg(error.errorString()).arg(error.offset));
    if (!doc.isObject())
        return unexpected(QStringLiteral("a message must be a JSON object"));
    QJsonObject o = doc.object();
    if (!o.value(u"type").isString())
        return unexpected(QStringLiteral("a message needs a string \"type\""));
    return o;
}

QJsonObject helloMessage(qint64 lastSeq, const QString &client)
{
    QJsonObject o {{QStringLiteral("type"), QLatin1String(msg::Hello)},
                   {QStringLiteral("protocol"), kProtocolVersion},
                   {QStringLiteral("client"), client}};
    if (lastSeq >= 0)
        o.insert(QStringLiteral("lastSeq"), lastSeq);
    return o;
}

QJsonObject requestMessage(const QString &id, const QString &method, const QJsonObject &params)
{
    return {{QStringLiteral("type"), QLatin1String(msg::Request)},
            {QStringLiteral("id"), id},
            {QStringLiteral("method"), method},
            {QStringLiteral("params"), params}};
}

QJsonObject responseMessage(const QString &id, const QJsonObject &result)
{
    return {{QStringLiteral("type"), QLatin1String(msg::Response)},
            {QStringLiteral("id"), id},
            {QStringLiteral("result"), result}};
}

QJsonObject errorMessage(const QString &id, const ProtocolError &error)
{
    QJsonObject o {{QStringLiteral("type"), QLatin1String(msg::Error)}, {QStringLiteral("error"), error.toJson()}};
    if (!id.isEmpty())
        o.insert(QStringLiteral("id"), id);
    return o;
}

QJsonObject eventMessage(const model::Event &event)
{
    return {{QStringLiteral("type"), QLatin1String(msg::Event)}, {QStringLiteral("event"), event.toJson()}};
}

QJsonObject heartbeatMessage(qint64 seq)
{
    return {{QStringLiteral("type"), QLatin1String(msg::Heartbeat)}, {QStringLiteral("seq"), seq}};
}

bool isSecureBotUrl(const QUrl &url)
{
    const QString scheme = url.scheme().toLower();
    if (scheme == u"https" || scheme == u"wss")
        return true;
    if (scheme != u"http" && scheme != u"ws")
        return false;
    const QString host = url.host();
    if (host.compare(u"localhost", Qt::CaseInsensitive) == 0)
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

QUrl streamUrl(const QUrl &botUrl)
{
    QUrl u = botUrl;
    const QString scheme = u.scheme().toLower();
    if (scheme == u"https")
        u.setScheme(QStringLiteral("wss"));
    else if (scheme == u"http")
        u.setScheme(QStringLiteral("ws"));
    QString path = u.path();
    while (path.endsWith(u'/'))
        path.chop(1);
    if (!path.endsWith(QLatin1String(kStreamPath)))
        path += QLatin1String(kStreamPath);
    u.setPath(path);
    u.setQuery(QString());
    return u;
}

} // namespace iterdeck::chatops
