#include "feishuadapter.h"

#include "crypto.h"
#include "logging.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QRegularExpression>

namespace iterdeck::im {

namespace {

constexpr int kMemberChunk = 50; // chat members: at most 50 users per call

ImError malformed(const QString &message)
{
    return {ImError::Code::Malformed, message};
}

ImError badSignature(const QString &message)
{
    return {ImError::Code::BadSignature, message};
}

QJsonObject text(const QString &tag, const QString &content)
{
    return {{QStringLiteral("tag"), tag}, {QStringLiteral("content"), content}};
}

QString headerTemplate(DeployCard::State s)
{
    switch (s) {
    case DeployCard::State::Choosing:
        return QStringLiteral("blue");
    case DeployCard::State::Deploying:
        return QStringLiteral("orange");
    case DeployCard::State::Succeeded:
        return QStringLiteral("green");
    case DeployCard::State::Failed:
        return QStringLiteral("red");
    }
    return QStringLiteral("blue");
}

} // namespace

FeishuAdapter::FeishuAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent)
    : ImAdapter(parent)
    , m_settings(std::move(settings))
    , m_client(nam, m_settings.apiBaseUrl)
{
    m_client.authorize = [](QNetworkRequest &req, QUrl &, const QString &token) {
        req.setRawHeader("Authorization", "Bearer " + token.toUtf8());
    };
    m_client.check = [](const ApiAnswer &a) {
        ApiVerdict v;
        const int code = a.json.value(u"code").toInt(-1);
        if (a.status == 429 || code == 99991400) {
            // Feishu's hint is x-ogw-ratelimit-reset (seconds); some older APIs answer 400.
            v.kind = ApiVerdict::Kind::RateLimited;
            bool ok = false;
            const int reset = a.headers.value("x-ogw-ratelimit-reset").trimmed().toInt(&ok);
            if (ok)
                v.retryAfterSeconds = reset;
            return v;
        }
        if (code == 232019) {
            // A member change ran concurrently on the same chat: wait and try again.
            v.kind = ApiVerdict::Kind::RateLimited;
            return v;
        }
        if (code == 99991663 || code == 99991661 || code == 99991664) {
            v.kind = ApiVerdict::Kind::TokenExpired;
            v.error = {ImError::Code::Auth, QStringLiteral("Feishu rejected the tenant access token (%1)").arg(code),
                       a.status, QString::number(code)};
            return v;
        }
        if (a.status >= 500 && !a.json.contains(u"code")) {
            v.kind = ApiVerdict::Kind::Retry;
            v.error = {ImError::Code::Http, QStringLiteral("Feishu answered HTTP %1").arg(a.status), a.status};
            return v;
        }
        if (code == 0 && a.status < 400)
            return v;
        v.kind = ApiVerdict::Kind::Fail;
        if (code < 0) {
            v.error = {ImError::Code::BadResponse,
                       QStringLiteral("Feishu's answer (HTTP %1) has no \"code\" field").arg(a.status), a.status};
            return v;
        }
        v.error = {ImError::Code::Platform,
                   QStringLiteral("Feishu error %1: %2").arg(code).arg(a.json.value(u"msg").toString()), a.status,
                   QString::number(code)};
        return v;
    };
    m_client.fetchToken = [this](ApiClient *client, ApiClient::TokenDone done) {
        ApiRequest req;
        req.path = QStringLiteral("/open-apis/auth/v3/tenant_access_token/internal");
        req.needsToken = false;
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("app_id"), m_settings.appId},
                                              {QStringLiteral("app_secret"), QString::fromUtf8(m_settings.appSecret)}});
        client->call(req, this, [done](Expected<ApiAnswer, ImError> r) {
            if (!r) {
                ImError e = r.error();
                if (e.code == ImError::Code::Platform)
                    e.code = ImError::Code::Auth;
                e.message = QStringLiteral("getting the tenant access token failed: ") + e.message;
                done(unexpected(e));
                return;
            }
            const QString token = r->json.value(u"tenant_access_token").toString();
            if (token.isEmpty()) {
                done(unexpected(ImError {ImError::Code::BadResponse,
                                         QStringLiteral("tenant_access_token missing in Feishu's answer")}));
                return;
            }
            done(std::make_pair(token, r->json.value(u"expire").toInt(7200)));
        });
    };
}

Capabilities FeishuAdapter::capabilities() const
{
    Capabilities c;
    c.cleanup = Capabilities::Cleanup::Disband;
    c.maxMembersPerCall = kMemberChunk;
    c.maxGroupMembers = 5000;
    c.cardUpdateWindowSeconds = 14 * 24 * 3600;
    c.ackWithinMs = 3000;
    c.serialisedMemberChanges = true;
    return c;
}

ImJob *FeishuAdapter::createGroup(const GroupSpec &spec)
{
    ImJob *job = newJob();
    if (spec.name.trimmed().isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("a Feishu group needs a name")});
        return job;
    }
    ApiRequest req;
    req.path = QStringLiteral("/open-apis/im/v1/chats");
    req.query.addQueryItem(QStringLiteral("user_id_type"), QStringLiteral("open_id"));
    QJsonObject body {{QStringLiteral("name"), spec.name.left(60)},
                      {QStringLiteral("description"), spec.description.left(100)},
                      {QStringLiteral("chat_mode"), QStringLiteral("group")},
                      {QStringLiteral("chat_type"), QStringLiteral("private")},
                      {QStringLiteral("user_id_list"), QJsonArray::fromStringList(spec.members.mid(0, kMemberChunk))}};
    if (!spec.owner.isEmpty())
        body.insert(QStringLiteral("owner_id"), spec.owner);
    req.body = QJsonDocument(body);
    m_client.call(req, job, [this, job, spec](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        const QJsonObject data = r->json.value(u"data").toObject();
        ImResult res;
        res.chatId = data.value(u"chat_id").toString();
        res.raw = r->json;
        if (res.chatId.isEmpty()) {
            job->fail({ImError::Code::BadResponse, QStringLiteral("chats.create answered without data.chat_id")});
            return;
        }
        for (const auto &id : data.value(u"invalid_id_list").toArray())
            res.skipped.append(id.toString());
        const QStringList rest = spec.members.mid(kMemberChunk);
        if (rest.isEmpty()) {
            job->succeed(res);
            return;
        }
        changeMembers(job, "POST", res.chatId, rest, res);
    });
    return job;
}

void FeishuAdapter::changeMembers(ImJob *job, const QByteArray &method, const QString &chatId,
                                  const QStringList &userIds, ImResult result)
{
    QList<ApiRequest> calls;
    for (qsizetype i = 0; i < userIds.size(); i += kMemberChunk) {
        ApiRequest req;
        req.method = method;
        req.path = QStringLiteral("/open-apis/im/v1/chats/%1/members")
                       .arg(QString::fromLatin1(QUrl::toPercentEncoding(chatId)));
        req.query.addQueryItem(QStringLiteral("member_id_type"), QStringLiteral("open_id"));
        req.serialKey = chatId; // concurrent member changes of one chat fail with 232019
        req.body = QJsonDocument(
            QJsonObject {{QStringLiteral("id_list"), QJsonArray::fromStringList(userIds.mid(i, kMemberChunk))}});
        calls.append(req);
    }
    auto res = std::make_shared<ImResult>(std::move(result));
    res->chatId = chatId;
    callSequence(
        &m_client, calls, job,
        [res](const ApiAnswer &a) {
            const QJsonObject data = a.json.value(u"data").toObject();
            for (const char *key : {"invalid_id_list", "not_existed_id_list"}) {
                for (const auto &id : data.value(QLatin1String(key)).toArray())
                    res->skipped.append(id.toString());
            }
            res->raw = a.json;
        },
        [job, res](std::optional<ImError> err) {
            if (err)
                job->fail(*err);
            else
                job->succeed(*res);
        });
}

ImJob *FeishuAdapter::addMembers(const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    if (userIds.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members to add")});
        return job;
    }
    changeMembers(job, "POST", chatId, userIds, {});
    return job;
}

ImJob *FeishuAdapter::removeMembers(const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    if (userIds.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members to remove")});
        return job;
    }
    changeMembers(job, "DELETE", chatId, userIds, {});
    return job;
}

ImJob *FeishuAdapter::closeGroup(const QString &chatId, const QStringList &)
{
    ImJob *job = newJob();
    ApiRequest req;
    req.method = "DELETE";
    req.path = QStringLiteral("/open-apis/im/v1/chats/%1").arg(QString::fromLatin1(QUrl::toPercentEncoding(chatId)));
    req.serialKey = chatId;
    m_client.call(req, job, [job, chatId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, {}, {}, QStringLiteral("disbanded"), r->json});
    });
    return job;
}

namespace {

ApiRequest sendMessage(const QString &chatId, const QString &msgType, const QString &content)
{
    ApiRequest req;
    req.path = QStringLiteral("/open-apis/im/v1/messages");
    req.query.addQueryItem(QStringLiteral("receive_id_type"), QStringLiteral("chat_id"));
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("receive_id"), chatId},
                                          {QStringLiteral("msg_type"), msgType},
                                          {QStringLiteral("content"), content}});
    return req;
}

} // namespace

ImJob *FeishuAdapter::postMessage(const QString &chatId, const QString &text)
{
    ImJob *job = newJob();
    const QString content
        = QString::fromUtf8(QJsonDocument(QJsonObject {{QStringLiteral("text"), text}}).toJson(QJsonDocument::Compact));
    m_client.call(
        sendMessage(chatId, QStringLiteral("text"), content), job, [job, chatId](Expected<ApiAnswer, ImError> r) {
            if (!r) {
                job->fail(r.error());
                return;
            }
            job->succeed({chatId, r->json.value(u"data").toObject().value(u"message_id").toString(), {}, {}, r->json});
        });
    return job;
}

ImJob *FeishuAdapter::postCard(const QString &chatId, const DeployCard &card)
{
    return updateCard(chatId, {}, {}, card);
}

ImJob *FeishuAdapter::updateCard(const QString &chatId, const QString &messageId, const QString &,
                                 const DeployCard &card)
{
    ImJob *job = newJob();
    if (const auto problem = cardProblem(card)) {
        job->failLater({ImError::Code::InvalidArgument, *problem});
        return job;
    }
    const QString content = QString::fromUtf8(QJsonDocument(renderCard(card)).toJson(QJsonDocument::Compact));
    ApiRequest req;
    if (messageId.isEmpty()) {
        req = sendMessage(chatId, QStringLiteral("interactive"), content);
    } else {
        // PATCH works for 14 days on cards sent with update_multi; the 30-minute delayed-update
        // token of a callback is not needed for that.
        req.method = "PATCH";
        req.path = QStringLiteral("/open-apis/im/v1/messages/%1")
                       .arg(QString::fromLatin1(QUrl::toPercentEncoding(messageId)));
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("content"), content}});
        req.serialKey = messageId; // 5 QPS per message
    }
    m_client.call(req, job, [job, chatId, messageId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        const QString id = r->json.value(u"data").toObject().value(u"message_id").toString();
        job->succeed({chatId, id.isEmpty() ? messageId : id, {}, {}, r->json});
    });
    return job;
}

QJsonObject FeishuAdapter::renderCard(const DeployCard &card)
{
    QJsonArray elements;
    elements.append(QJsonObject {{QStringLiteral("tag"), QStringLiteral("div")},
                                 {QStringLiteral("text"), text(QStringLiteral("lark_md"), cardtext::stateLine(card))}});
    const bool choosing = card.state == DeployCard::State::Choosing;
    for (const CardComponent &c : card.components) {
        QString line = QStringLiteral("**") + c.name + QStringLiteral("**");
        if (!c.selectedBranch.isEmpty())
            line += QStringLiteral("  ") + c.selectedBranch;
        if (!c.deployedBuild.isEmpty())
            line += QStringLiteral("  ") + c.deployedBuild;
        if (!c.status.isEmpty())
            line += u'\n' + c.status;
        elements.append(QJsonObject {{QStringLiteral("tag"), QStringLiteral("div")},
                                     {QStringLiteral("text"), text(QStringLiteral("lark_md"), line)}});
        if (!choosing || c.branches.isEmpty())
            continue;
        QJsonArray options;
        QString initial;
        for (const BranchChoice &b : c.branches) {
            const CardSelection s {c.name, b.name, b.latest ? b.latest->id : QString()};
            const QString value = cardvalue::encode(CardAction::Kind::Select, card.cardId, s).value_or(QString());
            if (b.name == c.selectedBranch)
                initial = value;
            options.append(
                QJsonObject {{QStringLiteral("text"), text(QStringLiteral("plain_text"), cardtext::buildLabel(b))},
                             {QStringLiteral("value"), value}});
        }
        QJsonObject select {
            {QStringLiteral("tag"), QStringLiteral("select_static")},
            {QStringLiteral("placeholder"), text(QStringLiteral("plain_text"), cardtext::choosePlaceholder())},
            {QStringLiteral("options"), options},
            {QStringLiteral("value"), QJsonObject {{QStringLiteral("component"), c.name}}}};
        if (!initial.isEmpty())
            select.insert(QStringLiteral("initial_option"), initial);
        elements.append(QJsonObject {{QStringLiteral("tag"), QStringLiteral("action")},
                                     {QStringLiteral("actions"), QJsonArray {select}}});
    }
    if (choosing) {
        auto button = [&card](CardAction::Kind kind, const QString &label, const QString &type) {
            return QJsonObject {
                {QStringLiteral("tag"), QStringLiteral("button")},
                {QStringLiteral("text"), text(QStringLiteral("plain_text"), label)},
                {QStringLiteral("type"), type},
                {QStringLiteral("value"),
                 QJsonObject {{QStringLiteral("idk"), cardvalue::encode(kind, card.cardId).value_or(QString())}}}};
        };
        elements.append(QJsonObject {
            {QStringLiteral("tag"), QStringLiteral("action")},
            {QStringLiteral("actions"),
             QJsonArray {button(CardAction::Kind::Confirm, cardtext::confirmLabel(), QStringLiteral("primary")),
                         button(CardAction::Kind::Cancel, cardtext::cancelLabel(), QStringLiteral("default"))}}});
    }
    return QJsonObject {
        {QStringLiteral("config"),
         QJsonObject {{QStringLiteral("wide_screen_mode"), true}, {QStringLiteral("update_multi"), true}}},
        {QStringLiteral("header"),
         QJsonObject {{QStringLiteral("template"), headerTemplate(card.state)},
                      {QStringLiteral("title"), text(QStringLiteral("plain_text"), cardtext::title(card))}}},
        {QStringLiteral("elements"), elements}};
}

std::optional<QByteArray> FeishuAdapter::decrypt(const QByteArray &encryptKey, const QByteArray &base64)
{
    const auto decoded = QByteArray::fromBase64Encoding(base64, QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded || decoded.decoded.size() < 32)
        return std::nullopt;
    return crypto::aes256CbcDecrypt(crypto::sha256(encryptKey), decoded.decoded.left(16), decoded.decoded.mid(16));
}

Expected<VerifiedRequest, ImError> FeishuAdapter::verify(const InboundRequest &request, const QDateTime &now) const
{
    QJsonParseError pe;
    const QJsonDocument outer = QJsonDocument::fromJson(request.body, &pe);
    if (!outer.isObject())
        return unexpected(
            malformed(QStringLiteral("the Feishu callback is not a JSON object: %1").arg(pe.errorString())));
    VerifiedRequest v;
    v.contentType = "application/json";
    QByteArray plaintext = request.body;
    bool signatureChecked = false;
    if (!m_settings.encryptKey.isEmpty()) {
        const QByteArray ts = request.header("X-Lark-Request-Timestamp");
        const QByteArray nonce = request.header("X-Lark-Request-Nonce");
        const QByteArray sig = request.header("X-Lark-Signature");
        if (!sig.isEmpty()) {
            bool ok = false;
            const qint64 t = ts.toLongLong(&ok);
            if (!ok || ts.size() > 12)
                return unexpected(badSignature(QStringLiteral("X-Lark-Request-Timestamp is not a number of seconds")));
            const qint64 skew = std::abs(now.toSecsSinceEpoch() - t);
            if (skew > m_settings.timestampWindowSeconds) {
                return unexpected(
                    ImError {ImError::Code::StaleTimestamp,
                             QStringLiteral("X-Lark-Request-Timestamp is %1 s away from now; at most %2 s "
                                            "are accepted")
                                 .arg(skew)
                                 .arg(m_settings.timestampWindowSeconds)});
            }
            const QByteArray expected = crypto::sha256(ts + nonce + m_settings.encryptKey + request.body).toHex();
            if (!crypto::constantTimeEquals(expected, sig.toLower()))
                return unexpected(badSignature(QStringLiteral("X-Lark-Signature does not match the request")));
            signatureChecked = true;
            v.signature = sig;
        }
        const QJsonValue enc = outer.object().value(u"encrypt");
        if (!enc.isString())
            return unexpected(badSignature(QStringLiteral("the callback is not encrypted, but an Encrypt Key is set")));
        const auto clear = decrypt(m_settings.encryptKey, enc.toString().toLatin1());
        if (!clear)
            return unexpected(badSignature(QStringLiteral("the callback does not decrypt with the Encrypt Key")));
        plaintext = *clear;
    }
    const QJsonDocument inner = QJsonDocument::fromJson(plaintext, &pe);
    if (!inner.isObject())
        return unexpected(
            malformed(QStringLiteral("the decrypted Feishu callback is not a JSON object: %1").arg(pe.errorString())));
    const QJsonObject o = inner.object();
    const bool isChallenge = o.value(u"type").toString() == u"url_verification";
    // Signature headers come with events, not with the URL check; the token proves that one.
    if (!signatureChecked && !isChallenge && !m_settings.encryptKey.isEmpty() && m_settings.verificationToken.isEmpty())
        return unexpected(badSignature(QStringLiteral("missing X-Lark-Signature header")));
    if (!m_settings.verificationToken.isEmpty() || (isChallenge && !signatureChecked)) {
        QString token = o.value(u"token").toString();
        if (o.value(u"schema").toString() == u"2.0")
            token = o.value(u"header").toObject().value(u"token").toString();
        if (m_settings.verificationToken.isEmpty())
            return unexpected(
                badSignature(QStringLiteral("a URL check cannot be verified without the Verification Token")));
        if (!crypto::constantTimeEquals(token.toUtf8(), m_settings.verificationToken))
            return unexpected(badSignature(QStringLiteral("the Verification Token does not match")));
    }
    v.payload = plaintext;
    return v;
}

Expected<InboundEvent, ImError> FeishuAdapter::parse(const VerifiedRequest &request) const
{
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(request.payload, &pe);
    if (!doc.isObject())
        return unexpected(
            malformed(QStringLiteral("the Feishu callback is not a JSON object: %1").arg(pe.errorString())));
    const QJsonObject o = doc.object();
    InboundEvent ev;
    if (o.value(u"type").toString() == u"url_verification") {
        const QString challenge = o.value(u"challenge").toString();
        if (challenge.isEmpty())
            return unexpected(malformed(QStringLiteral("url_verification without a challenge")));
        ev.kind = InboundEvent::Kind::UrlVerification;
        ev.eventType = QStringLiteral("url_verification");
        ev.answer.body
            = QJsonDocument(QJsonObject {{QStringLiteral("challenge"), challenge}}).toJson(QJsonDocument::Compact);
        return ev;
    }
    QJsonObject event;
    if (o.value(u"schema").toString() == u"2.0") {
        const QJsonObject header = o.value(u"header").toObject();
        ev.eventId = header.value(u"event_id").toString();
        ev.eventType = header.value(u"event_type").toString();
        if (ev.eventId.isEmpty() || ev.eventType.isEmpty())
            return unexpected(malformed(QStringLiteral("a 2.0 event without header.event_id or header.event_type")));
        event = o.value(u"event").toObject();
    } else if (o.contains(u"open_message_id") && o.contains(u"action")) {
        // The legacy card callback (card.action.trigger_v1): flat, no envelope.
        ev.eventType = QStringLiteral("card.action.trigger_v1");
        event = o;
    } else {
        ev.eventType = o.value(u"event").toObject().value(u"type").toString();
        ev.kind = InboundEvent::Kind::Ignored; // the 1.0 event envelope: nothing the bot subscribes to
        return ev;
    }
    if (ev.eventType == u"im.message.receive_v1") {
        const QJsonObject message = event.value(u"message").toObject();
        ev.chatId = message.value(u"chat_id").toString();
        ev.userId = event.value(u"sender").toObject().value(u"sender_id").toObject().value(u"open_id").toString();
        if (message.value(u"message_type").toString() != u"text") {
            ev.kind = InboundEvent::Kind::Ignored;
            return ev;
        }
        const QJsonDocument content = QJsonDocument::fromJson(message.value(u"content").toString().toUtf8());
        if (!content.isObject())
            return unexpected(malformed(QStringLiteral("im.message.receive_v1: message.content is not JSON")));
        static const QRegularExpression mention(QStringLiteral("@_user_\\d+"));
        ev.text = content.object().value(u"text").toString().remove(mention).simplified();
        if (ev.chatId.isEmpty() || ev.userId.isEmpty())
            return unexpected(malformed(QStringLiteral("im.message.receive_v1 without chat_id or sender open_id")));
        ev.kind = InboundEvent::Kind::Command;
        return ev;
    }
    if (ev.eventType == u"card.action.trigger" || ev.eventType == u"card.action.trigger_v1") {
        const QJsonObject action = event.value(u"action").toObject();
        QString value = action.value(u"option").toString();
        if (value.isEmpty())
            value = action.value(u"value").toObject().value(u"idk").toString();
        const auto decoded = cardvalue::decode(value);
        if (!decoded)
            return unexpected(malformed(
                QStringLiteral("card action value \"%1\" is not an Iterdeck card action").arg(value.left(160))));
        ev.kind = InboundEvent::Kind::CardAction;
        ev.action = *decoded;
        if (ev.eventType == u"card.action.trigger") {
            ev.userId = event.value(u"operator").toObject().value(u"open_id").toString();
            const QJsonObject context = event.value(u"context").toObject();
            ev.messageId = context.value(u"open_message_id").toString();
            ev.chatId = context.value(u"open_chat_id").toString();
            ev.replyToken = event.value(u"token").toString();
        } else {
            ev.userId = event.value(u"open_id").toString();
            ev.messageId = event.value(u"open_message_id").toString();
            ev.chatId = event.value(u"open_chat_id").toString();
            ev.replyToken = event.value(u"token").toString();
            ev.eventId = ev.messageId + u'/' + value; // the legacy callback carries no event id
        }
        if (ev.userId.isEmpty() || ev.messageId.isEmpty())
            return unexpected(malformed(QStringLiteral("%1 without operator or message id").arg(ev.eventType)));
        // Acknowledge within 3 s; the card itself is updated later by PATCH.
        ev.answer.body
            = QJsonDocument(
                  QJsonObject {{QStringLiteral("toast"),
                                QJsonObject {{QStringLiteral("type"), QStringLiteral("info")},
                                             {QStringLiteral("content"),
                                              QCoreApplication::translate("iterdeck::im::DeployCard", "Received")}}}})
                  .toJson(QJsonDocument::Compact);
        return ev;
    }
    ev.kind = InboundEvent::Kind::Ignored;
    return ev;
}

} // namespace iterdeck::im
