#include "slackadapter.h"

#include "crypto.h"
#include "logging.h"

#include <QJsonArray>
#include <QRegularExpression>

namespace iterdeck::im {

namespace {

constexpr int kInviteChunk = 100; // older docs' limit per conversations.invite; the newer one is 1000

ImError malformed(const QString &message)
{
    return {ImError::Code::Malformed, message};
}

ImError badSignature(const QString &message)
{
    return {ImError::Code::BadSignature, message};
}

QJsonObject plain(const QString &text)
{
    return {{QStringLiteral("type"), QStringLiteral("plain_text")}, {QStringLiteral("text"), text}};
}

QJsonObject mrkdwn(const QString &text)
{
    return {{QStringLiteral("type"), QStringLiteral("mrkdwn")}, {QStringLiteral("text"), text}};
}

// Slack limits option texts to 75 characters.
QString fit(const QString &s, int max)
{
    return s.size() <= max ? s : s.left(max - 1) + u'…';
}

} // namespace

SlackAdapter::SlackAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent)
    : ImAdapter(parent)
    , m_settings(std::move(settings))
    , m_client(nam, m_settings.apiBaseUrl)
{
    setReplayWindowSeconds(m_settings.timestampWindowSeconds * 2);
    const QByteArray token = m_settings.botToken;
    m_client.authorize = [token](QNetworkRequest &req, QUrl &, const QString &) {
        req.setRawHeader("Authorization", "Bearer " + token);
    };
    m_client.check = [](const ApiAnswer &a) {
        ApiVerdict v;
        if (a.status == 429) {
            v.kind = ApiVerdict::Kind::RateLimited;
            return v;
        }
        if (a.status >= 500) {
            v.kind = ApiVerdict::Kind::Retry;
            v.error = {ImError::Code::Http, QStringLiteral("Slack answered HTTP %1").arg(a.status), a.status};
            return v;
        }
        if (!a.json.contains(u"ok")) {
            v.kind = ApiVerdict::Kind::Fail;
            v.error = {ImError::Code::BadResponse, QStringLiteral("Slack's answer has no \"ok\" field"), a.status};
            return v;
        }
        if (a.json.value(u"ok").toBool())
            return v;
        const QString err = a.json.value(u"error").toString();
        v.kind = ApiVerdict::Kind::Fail;
        static const QStringList authErrors {QStringLiteral("not_authed"),       QStringLiteral("invalid_auth"),
                                             QStringLiteral("account_inactive"), QStringLiteral("token_revoked"),
                                             QStringLiteral("token_expired"),    QStringLiteral("missing_scope")};
        if (err == u"ratelimited") {
            v.kind = ApiVerdict::Kind::RateLimited;
            return v;
        }
        v.error.code = authErrors.contains(err) ? ImError::Code::Auth : ImError::Code::Platform;
        v.error.platformCode = err;
        v.error.httpStatus = a.status;
        v.error.message = QStringLiteral("Slack error \"%1\"").arg(err);
        const QString needed = a.json.value(u"needed").toString();
        if (!needed.isEmpty())
            v.error.message += QStringLiteral(" (needs scope %1)").arg(needed);
        return v;
    };
}

Capabilities SlackAdapter::capabilities() const
{
    Capabilities c;
    c.cleanup = Capabilities::Cleanup::Archive;
    c.maxMembersPerCall = kInviteChunk;
    c.maxGroupMembers = 0; // no documented limit for channels
    c.ackWithinMs = 3000;
    return c;
}

QString SlackAdapter::channelName(const QString &name)
{
    QString out;
    for (const QChar ch : name.toLower()) {
        if ((ch >= u'a' && ch <= u'z') || (ch >= u'0' && ch <= u'9') || ch == u'_' || ch == u'-')
            out += ch;
        else if (!out.endsWith(u'-'))
            out += u'-';
    }
    while (out.startsWith(u'-'))
        out.remove(0, 1);
    while (out.endsWith(u'-'))
        out.chop(1);
    return out.left(80);
}

ImJob *SlackAdapter::createGroup(const GroupSpec &spec)
{
    ImJob *job = newJob();
    const QString name = channelName(spec.name);
    if (name.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument,
                        QStringLiteral("\"%1\" gives no usable Slack channel name").arg(spec.name)});
        return job;
    }
    ApiRequest req;
    req.path = QStringLiteral("/conversations.create");
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("name"), name}, {QStringLiteral("is_private"), true}});
    m_client.call(req, job, [this, job, spec](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        ImResult res;
        res.chatId = r->json.value(u"channel").toObject().value(u"id").toString();
        res.raw = r->json;
        if (res.chatId.isEmpty()) {
            job->fail({ImError::Code::BadResponse, QStringLiteral("conversations.create answered without channel.id")});
            return;
        }
        if (spec.members.isEmpty()) {
            job->succeed(res);
            return;
        }
        invite(job, res.chatId, spec.members, res);
    });
    return job;
}

void SlackAdapter::invite(ImJob *job, const QString &chatId, const QStringList &userIds, ImResult result)
{
    QList<ApiRequest> calls;
    for (qsizetype i = 0; i < userIds.size(); i += kInviteChunk) {
        ApiRequest req;
        req.path = QStringLiteral("/conversations.invite");
        req.serialKey = chatId;
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("channel"), chatId},
                                              {QStringLiteral("users"), userIds.mid(i, kInviteChunk).join(u',')},
                                              {QStringLiteral("force"), true}});
        calls.append(req);
    }
    auto res = std::make_shared<ImResult>(std::move(result));
    res->chatId = chatId;
    callSequence(
        &m_client, calls, job,
        [res](const ApiAnswer &a) {
            // With force, Slack invites whom it can and lists the others in "errors".
            for (const auto &e : a.json.value(u"errors").toArray())
                res->skipped.append(e.toObject().value(u"user").toString());
            res->raw = a.json;
        },
        [job, res](std::optional<ImError> err) {
            if (err)
                job->fail(*err);
            else
                job->succeed(*res);
        });
}

ImJob *SlackAdapter::addMembers(const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    if (userIds.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members to add")});
        return job;
    }
    invite(job, chatId, userIds, {});
    return job;
}

ImJob *SlackAdapter::removeMembers(const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    QList<ApiRequest> calls;
    for (const QString &u : userIds) {
        ApiRequest req;
        req.path = QStringLiteral("/conversations.kick");
        req.serialKey = chatId;
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("channel"), chatId}, {QStringLiteral("user"), u}});
        calls.append(req);
    }
    if (calls.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members to remove")});
        return job;
    }
    callSequence(&m_client, calls, job, {}, [job, chatId](std::optional<ImError> err) {
        if (err)
            job->fail(*err);
        else
            job->succeed({chatId, {}, {}, {}, {}});
    });
    return job;
}

ImJob *SlackAdapter::closeGroup(const QString &chatId, const QStringList &)
{
    ImJob *job = newJob();
    ApiRequest req;
    req.path = QStringLiteral("/conversations.archive");
    req.serialKey = chatId;
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("channel"), chatId}});
    m_client.call(req, job, [job, chatId](Expected<ApiAnswer, ImError> r) {
        if (!r && r.error().platformCode != u"already_archived") {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, {}, {}, QStringLiteral("archived"), r ? r->json : QJsonObject()});
    });
    return job;
}

ImJob *SlackAdapter::postMessage(const QString &chatId, const QString &text)
{
    ImJob *job = newJob();
    ApiRequest req;
    req.path = QStringLiteral("/chat.postMessage");
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("channel"), chatId}, {QStringLiteral("text"), text}});
    m_client.call(req, job, [job, chatId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, r->json.value(u"ts").toString(), {}, {}, r->json});
    });
    return job;
}

ImJob *SlackAdapter::postCard(const QString &chatId, const DeployCard &card)
{
    return updateCard(chatId, {}, {}, card);
}

ImJob *SlackAdapter::reply(const InboundEvent &event, const QString &chatId, const QString &text, const QDateTime &)
{
    if (!isReplyUrl(event.replyToken))
        return postMessage(chatId, text);
    // response_url: no token, valid 30 minutes and 5 times (docs.slack.dev "Handling user interaction").
    ImJob *job = newJob();
    const bool command = event.kind == InboundEvent::Kind::Command;
    ApiRequest req;
    req.url = QUrl(event.replyToken);
    req.path = QStringLiteral("response_url");
    req.needsToken = false;
    req.body = QJsonDocument(QJsonObject {
        {QStringLiteral("text"), text},
        {QStringLiteral("response_type"), command ? QStringLiteral("in_channel") : QStringLiteral("ephemeral")},
        {QStringLiteral("replace_original"), false}});
    m_client.call(req, job, [this, job, chatId, text](Expected<ApiAnswer, ImError> r) {
        if (r) {
            job->succeed({chatId, {}, {}, {}, r->json});
            return;
        }
        qCInfo(lcIm) << "Slack response_url failed, posting instead:" << r.error().toString();
        finishWith(job, postMessage(chatId, text));
    });
    return job;
}

ImJob *SlackAdapter::updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                                const DeployCard &card)
{
    ImJob *job = newJob();
    if (const auto problem = cardProblem(card)) {
        job->failLater({ImError::Code::InvalidArgument, *problem});
        return job;
    }
    if (!messageId.isEmpty() && isReplyUrl(replyToken)) {
        ApiRequest req;
        req.url = QUrl(replyToken);
        req.path = QStringLiteral("response_url");
        req.needsToken = false;
        req.body = QJsonDocument(QJsonObject {
            {QStringLiteral("replace_original"), true},
            {QStringLiteral("text"), QString(cardtext::title(card) + QStringLiteral(": ") + cardtext::stateLine(card))},
            {QStringLiteral("blocks"), renderCard(card)}});
        m_client.call(req, job, [this, job, chatId, messageId, card](Expected<ApiAnswer, ImError> r) {
            if (r) {
                job->succeed({chatId, messageId, {}, {}, r->json});
                return;
            }
            qCInfo(lcIm) << "Slack response_url failed, updating with chat.update:" << r.error().toString();
            finishWith(job, updateCard(chatId, messageId, {}, card));
        });
        return job;
    }
    QJsonObject body {
        {QStringLiteral("channel"), chatId},
        {QStringLiteral("text"), QString(cardtext::title(card) + QStringLiteral(": ") + cardtext::stateLine(card))},
        {QStringLiteral("blocks"), renderCard(card)}};
    ApiRequest req;
    if (messageId.isEmpty()) {
        req.path = QStringLiteral("/chat.postMessage");
    } else {
        req.path = QStringLiteral("/chat.update");
        body.insert(QStringLiteral("ts"), messageId);
    }
    req.body = QJsonDocument(body);
    m_client.call(req, job, [job, chatId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, r->json.value(u"ts").toString(), {}, {}, r->json});
    });
    return job;
}

QJsonArray SlackAdapter::renderCard(const DeployCard &card)
{
    QJsonArray blocks;
    blocks.append(QJsonObject {{QStringLiteral("type"), QStringLiteral("header")},
                               {QStringLiteral("text"), plain(fit(cardtext::title(card), 150))}});
    blocks.append(QJsonObject {{QStringLiteral("type"), QStringLiteral("context")},
                               {QStringLiteral("elements"), QJsonArray {mrkdwn(cardtext::stateLine(card))}}});
    const bool choosing = card.state == DeployCard::State::Choosing;
    for (qsizetype i = 0; i < card.components.size(); ++i) {
        const CardComponent &c = card.components[i];
        QString text = QStringLiteral("*") + c.name + u'*';
        if (!c.selectedBranch.isEmpty())
            text += QStringLiteral("  `") + c.selectedBranch + u'`';
        if (!c.deployedBuild.isEmpty())
            text += QStringLiteral("  ") + c.deployedBuild;
        if (!c.status.isEmpty())
            text += u'\n' + c.status;
        QJsonObject section {{QStringLiteral("type"), QStringLiteral("section")},
                             {QStringLiteral("block_id"), QStringLiteral("idk_c%1").arg(i)},
                             {QStringLiteral("text"), mrkdwn(text)}};
        if (choosing && !c.branches.isEmpty()) {
            QJsonArray options;
            QJsonObject initial;
            for (const BranchChoice &b : c.branches.mid(0, 100)) {
                const CardSelection s {c.name, b.name, b.latest ? b.latest->id : QString()};
                const QJsonObject o {{QStringLiteral("text"), plain(fit(cardtext::buildLabel(b), 75))},
                                     {QStringLiteral("value"),
                                      cardvalue::encode(CardAction::Kind::Select, card.cardId, s).value_or(QString())}};
                if (b.name == c.selectedBranch)
                    initial = o;
                options.append(o);
            }
            QJsonObject select {{QStringLiteral("type"), QStringLiteral("static_select")},
                                {QStringLiteral("action_id"), QStringLiteral("idk_select")},
                                {QStringLiteral("placeholder"), plain(cardtext::choosePlaceholder())},
                                {QStringLiteral("options"), options}};
            if (!initial.isEmpty())
                select.insert(QStringLiteral("initial_option"), initial);
            section.insert(QStringLiteral("accessory"), select);
        }
        blocks.append(section);
    }
    if (choosing) {
        blocks.append(QJsonObject {
            {QStringLiteral("type"), QStringLiteral("actions")},
            {QStringLiteral("block_id"), QStringLiteral("idk_actions")},
            {QStringLiteral("elements"),
             QJsonArray {
                 QJsonObject {{QStringLiteral("type"), QStringLiteral("button")},
                              {QStringLiteral("action_id"), QStringLiteral("idk_confirm")},
                              {QStringLiteral("style"), QStringLiteral("primary")},
                              {QStringLiteral("text"), plain(cardtext::confirmLabel())},
                              {QStringLiteral("value"),
                               cardvalue::encode(CardAction::Kind::Confirm, card.cardId).value_or(QString())}},
                 QJsonObject {{QStringLiteral("type"), QStringLiteral("button")},
                              {QStringLiteral("action_id"), QStringLiteral("idk_cancel")},
                              {QStringLiteral("text"), plain(cardtext::cancelLabel())},
                              {QStringLiteral("value"),
                               cardvalue::encode(CardAction::Kind::Cancel, card.cardId).value_or(QString())}}}}});
    }
    return blocks;
}

Expected<VerifiedRequest, ImError> SlackAdapter::verify(const InboundRequest &request, const QDateTime &now) const
{
    const QByteArray ts = request.header("X-Slack-Request-Timestamp");
    const QByteArray sig = request.header("X-Slack-Signature");
    if (ts.isEmpty())
        return unexpected(badSignature(QStringLiteral("missing X-Slack-Request-Timestamp header")));
    if (sig.isEmpty())
        return unexpected(badSignature(QStringLiteral("missing X-Slack-Signature header")));
    bool ok = false;
    const qint64 t = ts.toLongLong(&ok);
    if (!ok || ts.size() > 12)
        return unexpected(badSignature(QStringLiteral("X-Slack-Request-Timestamp is not a number of seconds")));
    const qint64 skew = now.toSecsSinceEpoch() - t;
    if (std::abs(skew) > m_settings.timestampWindowSeconds) {
        return unexpected(ImError {ImError::Code::StaleTimestamp,
                                   QStringLiteral("X-Slack-Request-Timestamp is %1 s away from now; at most %2 s "
                                                  "are accepted")
                                       .arg(std::abs(skew))
                                       .arg(m_settings.timestampWindowSeconds)});
    }
    if (!sig.startsWith("v0="))
        return unexpected(badSignature(QStringLiteral("X-Slack-Signature is not a v0 signature")));
    const QByteArray expected
        = "v0=" + crypto::hmacSha256(m_settings.signingSecret, "v0:" + ts + ':' + request.body).toHex();
    if (!crypto::constantTimeEquals(expected, sig.toLower()))
        return unexpected(badSignature(QStringLiteral("X-Slack-Signature does not match the request")));
    VerifiedRequest v;
    v.payload = request.body;
    v.contentType = request.header("Content-Type").split(';').value(0).trimmed().toLower();
    v.signature = sig;
    return v;
}

namespace {

InboundEvent parseEventsApi(const QJsonObject &o, Expected<InboundEvent, ImError> *error)
{
    InboundEvent ev;
    const QString type = o.value(u"type").toString();
    ev.eventType = type;
    if (type == u"url_verification") {
        const QString challenge = o.value(u"challenge").toString();
        if (challenge.isEmpty()) {
            *error = unexpected(malformed(QStringLiteral("url_verification without a challenge")));
            return ev;
        }
        ev.kind = InboundEvent::Kind::UrlVerification;
        ev.answer.body
            = QJsonDocument(QJsonObject {{QStringLiteral("challenge"), challenge}}).toJson(QJsonDocument::Compact);
        return ev;
    }
    if (type != u"event_callback") {
        ev.kind = InboundEvent::Kind::Ignored;
        return ev;
    }
    ev.eventId = o.value(u"event_id").toString();
    if (ev.eventId.isEmpty()) {
        *error = unexpected(malformed(QStringLiteral("event_callback without event_id")));
        return ev;
    }
    const QJsonObject e = o.value(u"event").toObject();
    const QString et = e.value(u"type").toString();
    ev.eventType = type + u'/' + et;
    const bool dm = et == u"message" && e.value(u"channel_type").toString() == u"im" && !e.contains(u"bot_id")
        && !e.contains(u"subtype");
    if (et != u"app_mention" && !dm) {
        ev.kind = InboundEvent::Kind::Ignored;
        return ev;
    }
    static const QRegularExpression mention(QStringLiteral("<@[A-Z0-9]+(\\|[^>]*)?>"));
    ev.kind = InboundEvent::Kind::Command;
    ev.chatId = e.value(u"channel").toString();
    ev.userId = e.value(u"user").toString();
    ev.text = e.value(u"text").toString().remove(mention).simplified();
    if (ev.chatId.isEmpty() || ev.userId.isEmpty())
        *error = unexpected(malformed(QStringLiteral("%1 event without channel or user").arg(et)));
    return ev;
}

// application/x-www-form-urlencoded: '+' is a space, then percent-decoding.
QMap<QString, QString> formFields(const QByteArray &body)
{
    QMap<QString, QString> out;
    for (const QByteArray &pair : body.split('&')) {
        if (pair.isEmpty())
            continue;
        const qsizetype eq = pair.indexOf('=');
        QByteArray k = eq < 0 ? pair : pair.left(eq);
        QByteArray v = eq < 0 ? QByteArray() : pair.mid(eq + 1);
        k.replace('+', ' ');
        v.replace('+', ' ');
        out.insert(QString::fromUtf8(QByteArray::fromPercentEncoding(k)),
                   QString::fromUtf8(QByteArray::fromPercentEncoding(v)));
    }
    return out;
}

} // namespace

Expected<InboundEvent, ImError> SlackAdapter::parse(const VerifiedRequest &request) const
{
    Expected<InboundEvent, ImError> result = InboundEvent {};
    if (request.contentType == "application/json") {
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(request.payload, &pe);
        if (!doc.isObject())
            return unexpected(
                malformed(QStringLiteral("the Slack event is not a JSON object: %1").arg(pe.errorString())));
        InboundEvent ev = parseEventsApi(doc.object(), &result);
        if (!result)
            return result;
        return ev;
    }
    if (request.contentType != "application/x-www-form-urlencoded") {
        return unexpected(malformed(QStringLiteral("unexpected Content-Type \"%1\" for a Slack callback")
                                        .arg(QString::fromLatin1(request.contentType))));
    }
    const QMap<QString, QString> form = formFields(request.payload);
    auto field = [&form](const char *name) { return form.value(QString::fromLatin1(name)); };
    InboundEvent ev;
    if (form.contains(QStringLiteral("payload"))) {
        const QByteArray json = field("payload").toUtf8();
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(json, &pe);
        if (!doc.isObject())
            return unexpected(malformed(
                QStringLiteral("the Slack interaction payload is not a JSON object: %1").arg(pe.errorString())));
        const QJsonObject o = doc.object();
        ev.eventType = o.value(u"type").toString();
        if (ev.eventType != u"block_actions") {
            ev.kind = InboundEvent::Kind::Ignored;
            return ev;
        }
        const QJsonArray actions = o.value(u"actions").toArray();
        if (actions.isEmpty())
            return unexpected(malformed(QStringLiteral("block_actions without actions")));
        const QJsonObject a = actions.first().toObject();
        const QString value = a.contains(u"selected_option")
            ? a.value(u"selected_option").toObject().value(u"value").toString()
            : a.value(u"value").toString();
        const auto action = cardvalue::decode(value);
        if (!action) {
            return unexpected(malformed(
                QStringLiteral("block_actions value \"%1\" is not an Iterdeck card action").arg(value.left(160))));
        }
        ev.kind = InboundEvent::Kind::CardAction;
        ev.action = *action;
        ev.userId = o.value(u"user").toObject().value(u"id").toString();
        ev.chatId = o.value(u"channel").toObject().value(u"id").toString();
        if (ev.chatId.isEmpty())
            ev.chatId = o.value(u"container").toObject().value(u"channel_id").toString();
        ev.messageId = o.value(u"message").toObject().value(u"ts").toString();
        if (ev.messageId.isEmpty())
            ev.messageId = o.value(u"container").toObject().value(u"message_ts").toString();
        ev.replyToken = o.value(u"response_url").toString();
        if (ev.userId.isEmpty() || ev.chatId.isEmpty())
            return unexpected(malformed(QStringLiteral("block_actions without user or channel")));
        return ev;
    }
    if (form.contains(QStringLiteral("command"))) {
        ev.eventType = QStringLiteral("slash_command");
        const QString command = field("command");
        if (command != m_settings.slashCommand) {
            ev.kind = InboundEvent::Kind::Ignored;
            return ev;
        }
        ev.kind = InboundEvent::Kind::Command;
        ev.text = field("text").simplified();
        ev.chatId = field("channel_id");
        ev.userId = field("user_id");
        ev.replyToken = field("response_url");
        // Slash commands carry no event id; trigger_id is unique per invocation, so a delivery
        // that comes again carries the same one.
        ev.eventId = field("trigger_id");
        if (ev.chatId.isEmpty() || ev.userId.isEmpty())
            return unexpected(malformed(QStringLiteral("slash command without channel_id or user_id")));
        return ev;
    }
    return unexpected(malformed(QStringLiteral("a Slack form callback without \"payload\" or \"command\"")));
}

} // namespace iterdeck::im
