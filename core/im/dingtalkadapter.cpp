#include "dingtalkadapter.h"

#include "crypto.h"
#include "logging.h"

#include <QJsonArray>

namespace iterdeck::im {

namespace {

ImError malformed(const QString &message)
{
    return {ImError::Code::Malformed, message};
}

ImError badSignature(const QString &message)
{
    return {ImError::Code::BadSignature, message};
}

const QString kV1 = QStringLiteral("/v1.0/");
constexpr char kTrackPrefix[] = "idk-"; // outTrackId of the bot's interactive cards

} // namespace

QByteArray DingTalkAdapter::sign(const QByteArray &timestamp, const QByteArray &appSecret)
{
    return crypto::hmacSha256(appSecret, timestamp + '\n' + appSecret).toBase64();
}

DingTalkAdapter::DingTalkAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent)
    : ImAdapter(parent)
    , m_settings(std::move(settings))
    , m_client(nam, m_settings.apiBaseUrl)
{
    if (m_settings.robotCode.isEmpty())
        m_settings.robotCode = m_settings.appKey;
    const QUrl oapi = m_settings.apiBaseUrl;
    const QUrl v1 = m_settings.newApiBaseUrl;
    m_client.authorize = [oapi, v1](QNetworkRequest &req, QUrl &url, const QString &token) {
        if (url.path().contains(kV1)) {
            // The new API lives on its own host, with the token in a header.
            QUrl u = joinUrl(v1, url.path().mid(url.path().indexOf(kV1)));
            u.setQuery(url.query());
            url = u;
            req.setRawHeader("x-acs-dingtalk-access-token", token.toUtf8());
            return;
        }
        QUrlQuery q(url);
        q.addQueryItem(QStringLiteral("access_token"), token);
        url.setQuery(q);
    };
    m_client.check = [](const ApiAnswer &a) {
        ApiVerdict v;
        if (a.status == 429) {
            v.kind = ApiVerdict::Kind::RateLimited;
            return v;
        }
        if (a.json.contains(u"errcode")) {
            const int code = a.json.value(u"errcode").toInt();
            const QString msg = a.json.value(u"errmsg").toString();
            if (code == 0 && a.status < 400)
                return v;
            if (code == 40014 || code == 42001 || code == 88) {
                v.kind = ApiVerdict::Kind::TokenExpired;
                v.error = {ImError::Code::Auth,
                           QStringLiteral("DingTalk rejected the access token (%1 %2)").arg(code).arg(msg), a.status,
                           QString::number(code)};
                return v;
            }
            if (code == 90018 || code == 90002 || code == -1) {
                // Call frequency over the app's limit, or the system is busy.
                v.kind = ApiVerdict::Kind::RateLimited;
                v.error = {ImError::Code::RateLimited, QStringLiteral("DingTalk error %1: %2").arg(code).arg(msg),
                           a.status, QString::number(code)};
                return v;
            }
            v.kind = ApiVerdict::Kind::Fail;
            v.error = {ImError::Code::Platform, QStringLiteral("DingTalk error %1: %2").arg(code).arg(msg), a.status,
                       QString::number(code)};
            return v;
        }
        if (a.status >= 500) {
            v.kind = ApiVerdict::Kind::Retry;
            v.error = {ImError::Code::Http, QStringLiteral("DingTalk answered HTTP %1").arg(a.status), a.status};
            return v;
        }
        if (a.status >= 400) {
            // The v1.0 API: {"code": "...", "message": "..."} with an HTTP error status.
            const QString code = a.json.value(u"code").toString();
            const QString msg = a.json.value(u"message").toString();
            if (code.contains(u"QpsLimit") || code.contains(u"Throttling")) {
                v.kind = ApiVerdict::Kind::RateLimited;
                return v;
            }
            if (code == u"InvalidAuthentication") {
                v.kind = ApiVerdict::Kind::TokenExpired;
                v.error = {ImError::Code::Auth, QStringLiteral("DingTalk rejected the access token"), a.status, code};
                return v;
            }
            v.kind = ApiVerdict::Kind::Fail;
            v.error = {code.isEmpty() ? ImError::Code::Http : ImError::Code::Platform,
                       QStringLiteral("DingTalk error %1: %2 (HTTP %3)").arg(code, msg).arg(a.status), a.status, code};
            return v;
        }
        return v;
    };
    m_client.fetchToken = [this](ApiClient *client, ApiClient::TokenDone done) {
        ApiRequest req;
        req.method = "GET";
        req.path = QStringLiteral("/gettoken");
        req.needsToken = false;
        req.query.addQueryItem(QStringLiteral("appkey"), m_settings.appKey);
        req.query.addQueryItem(QStringLiteral("appsecret"),
                               QString::fromLatin1(QUrl::toPercentEncoding(QString::fromUtf8(m_settings.appSecret))));
        client->call(req, this, [done](Expected<ApiAnswer, ImError> r) {
            if (!r) {
                ImError e = r.error();
                if (e.code == ImError::Code::Platform)
                    e.code = ImError::Code::Auth;
                e.message = QStringLiteral("getting the access token failed: ") + e.message;
                done(unexpected(e));
                return;
            }
            const QString token = r->json.value(u"access_token").toString();
            if (token.isEmpty()) {
                done(unexpected(
                    ImError {ImError::Code::BadResponse, QStringLiteral("access_token missing in DingTalk's answer")}));
                return;
            }
            done(std::make_pair(token, r->json.value(u"expires_in").toInt(7200)));
        });
    };
}

Capabilities DingTalkAdapter::capabilities() const
{
    Capabilities c;
    c.cardsInGroups = true;
    c.cardUpdates = !m_settings.cardTemplateId.isEmpty();
    c.cardUpdatesRepeat = c.cardUpdates;
    c.cleanup = Capabilities::Cleanup::RemoveMembersAndRename;
    c.maxMembersPerCall = 20;
    c.maxGroupMembers = 1000;
    c.ackWithinMs = 3000;
    c.serialisedMemberChanges = true;
    return c;
}

ImJob *DingTalkAdapter::createGroup(const GroupSpec &spec)
{
    ImJob *job = newJob();
    if (m_settings.templateId.isEmpty()) {
        job->failLater(
            {ImError::Code::Config, QStringLiteral("DingTalk scene groups need a group template: set im.templateId")});
        return job;
    }
    const QString owner = spec.owner.isEmpty() ? spec.members.value(0) : spec.owner;
    if (owner.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("a DingTalk scene group needs an owner")});
        return job;
    }
    ApiRequest req;
    req.path = QStringLiteral("/topapi/im/chat/scenegroup/create");
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("title"), spec.name.left(64)},
                                          {QStringLiteral("template_id"), m_settings.templateId},
                                          {QStringLiteral("owner_user_id"), owner},
                                          {QStringLiteral("user_ids"), spec.members.join(u',')}});
    m_client.call(req, job, [job](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        const QString id = r->json.value(u"result").toObject().value(u"open_conversation_id").toString();
        if (id.isEmpty()) {
            job->fail({ImError::Code::BadResponse,
                       QStringLiteral("scenegroup/create answered without open_conversation_id")});
            return;
        }
        job->succeed({id, {}, {}, {}, r->json});
    });
    return job;
}

ImJob *DingTalkAdapter::changeMembers(const QString &path, const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    if (userIds.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members given")});
        return job;
    }
    QList<ApiRequest> calls;
    for (qsizetype i = 0; i < userIds.size(); i += 20) {
        ApiRequest req;
        req.path = path;
        req.serialKey = chatId;
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("open_conversation_id"), chatId},
                                              {QStringLiteral("user_ids"), userIds.mid(i, 20).join(u',')}});
        calls.append(req);
    }
    callSequence(&m_client, calls, job, {}, [job, chatId](std::optional<ImError> err) {
        if (err)
            job->fail(*err);
        else
            job->succeed({chatId, {}, {}, {}, {}});
    });
    return job;
}

ImJob *DingTalkAdapter::addMembers(const QString &chatId, const QStringList &userIds)
{
    return changeMembers(QStringLiteral("/topapi/im/chat/scenegroup/member/add"), chatId, userIds);
}

ImJob *DingTalkAdapter::removeMembers(const QString &chatId, const QStringList &userIds)
{
    return changeMembers(QStringLiteral("/topapi/im/chat/scenegroup/member/delete"), chatId, userIds);
}

ImJob *DingTalkAdapter::closeGroup(const QString &chatId, const QStringList &members)
{
    // No API dismisses a scene group: take the members out and mark the title.
    ImJob *job = newJob();
    QList<ApiRequest> calls;
    for (qsizetype i = 0; i < members.size(); i += 20) {
        ApiRequest req;
        req.path = QStringLiteral("/topapi/im/chat/scenegroup/member/delete");
        req.serialKey = chatId;
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("open_conversation_id"), chatId},
                                              {QStringLiteral("user_ids"), members.mid(i, 20).join(u',')}});
        calls.append(req);
    }
    ApiRequest rename;
    rename.path = QStringLiteral("/topapi/im/chat/scenegroup/update");
    rename.serialKey = chatId;
    rename.body = QJsonDocument(QJsonObject {{QStringLiteral("open_conversation_id"), chatId},
                                             {QStringLiteral("title"), QStringLiteral("[closed]")}});
    calls.append(rename);
    const qsizetype n = members.size();
    callSequence(&m_client, calls, job, {}, [job, chatId, n](std::optional<ImError> err) {
        if (err)
            job->fail(*err);
        else
            job->succeed(
                {chatId,
                 {},
                 {},
                 QStringLiteral("DingTalk cannot dismiss scene groups: removed %1 members and renamed the group")
                     .arg(n),
                 {}});
    });
    return job;
}

ImJob *DingTalkAdapter::sendRobotMessage(const QString &chatId, const QString &msgKey, const QJsonObject &param)
{
    ImJob *job = newJob();
    ApiRequest req;
    req.path = QStringLiteral("/v1.0/robot/groupMessages/send");
    req.body = QJsonDocument(QJsonObject {
        {QStringLiteral("robotCode"), m_settings.robotCode},
        {QStringLiteral("openConversationId"), chatId},
        {QStringLiteral("msgKey"), msgKey},
        {QStringLiteral("msgParam"), QString::fromUtf8(QJsonDocument(param).toJson(QJsonDocument::Compact))}});
    m_client.call(req, job, [job, chatId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, r->json.value(u"processQueryKey").toString(), {}, {}, r->json});
    });
    return job;
}

ImJob *DingTalkAdapter::postMessage(const QString &chatId, const QString &text)
{
    return sendRobotMessage(chatId, QStringLiteral("sampleText"), QJsonObject {{QStringLiteral("content"), text}});
}

ImJob *DingTalkAdapter::postCard(const QString &chatId, const DeployCard &card)
{
    if (const auto problem = cardProblem(card)) {
        ImJob *job = newJob();
        job->failLater({ImError::Code::InvalidArgument, *problem});
        return job;
    }
    if (!m_settings.cardTemplateId.isEmpty() && card.state != DeployCard::State::Choosing)
        return updateCard(chatId, {}, {}, card); // a card whose state will change: interactive
    return sendRobotMessage(chatId, QStringLiteral("sampleMarkdown"), renderCard(card));
}

ImJob *DingTalkAdapter::updateCard(const QString &chatId, const QString &messageId, const QString &,
                                   const DeployCard &card)
{
    if (m_settings.cardTemplateId.isEmpty()) {
        // Robot messages cannot be edited: the new state is a new message.
        return postCard(chatId, card);
    }
    ImJob *job = newJob();
    if (const auto problem = cardProblem(card)) {
        job->failLater({ImError::Code::InvalidArgument, *problem});
        return job;
    }
    const QJsonObject data {{QStringLiteral("cardParamMap"), cardParams(card)}};
    ApiRequest req;
    QString track = messageId;
    if (messageId.startsWith(QLatin1String(kTrackPrefix))) {
        // Our own interactive card: changed in place.
        req.method = "PUT";
        req.path = QStringLiteral("/v1.0/im/interactiveCards");
        req.serialKey = messageId;
        req.body = QJsonDocument(QJsonObject {
            {QStringLiteral("outTrackId"), messageId},
            {QStringLiteral("cardData"), data},
            {QStringLiteral("cardOptions"), QJsonObject {{QStringLiteral("updateCardDataByKey"), false}}}});
    } else {
        // A markdown card (the one clicked) cannot change: the progress gets a card of its own.
        track = QLatin1String(kTrackPrefix) + QString::fromLatin1(crypto::randomBytes(12).toHex());
        req.path = QStringLiteral("/v1.0/im/interactiveCards/send");
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("cardTemplateId"), m_settings.cardTemplateId},
                                              {QStringLiteral("openConversationId"), chatId},
                                              {QStringLiteral("outTrackId"), track},
                                              {QStringLiteral("robotCode"), m_settings.robotCode},
                                              {QStringLiteral("conversationType"), 1},
                                              {QStringLiteral("cardData"), data}});
    }
    m_client.call(req, job, [job, chatId, track](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, track, {}, {}, r->json});
    });
    return job;
}

ImJob *DingTalkAdapter::reply(const InboundEvent &event, const QString &chatId, const QString &text,
                              const QDateTime &now)
{
    const bool valid
        = isReplyUrl(event.replyToken) && (!event.replyTokenExpires.isValid() || now < event.replyTokenExpires);
    if (!valid)
        return postMessage(chatId, text);
    // The sessionWebhook takes the custom robot's message body, no access token.
    ImJob *job = newJob();
    ApiRequest req;
    req.url = QUrl(event.replyToken);
    req.path = QStringLiteral("sessionWebhook");
    req.needsToken = false;
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("msgtype"), QStringLiteral("text")},
                                          {QStringLiteral("text"), QJsonObject {{QStringLiteral("content"), text}}}});
    m_client.call(req, job, [this, job, chatId, text](Expected<ApiAnswer, ImError> r) {
        if (r) {
            job->succeed({chatId, {}, {}, {}, r->json});
            return;
        }
        qCInfo(lcIm) << "DingTalk sessionWebhook failed, sending through the robot API:" << r.error().toString();
        finishWith(job, postMessage(chatId, text));
    });
    return job;
}

QJsonObject DingTalkAdapter::cardParams(const DeployCard &card)
{
    static const char *states[] = {"choosing", "deploying", "succeeded", "failed"};
    return {{QStringLiteral("title"), cardtext::title(card)},
            {QStringLiteral("markdown"), renderCard(card).value(u"text").toString()},
            {QStringLiteral("state"), QString::fromLatin1(states[int(card.state)])}};
}

QJsonObject DingTalkAdapter::renderCard(const DeployCard &card)
{
    auto link = [](const QString &label, const QString &value) -> QString {
        // dtmd: the client sends `value` to the robot as the user's message.
        return QStringLiteral("[") + label + QStringLiteral("](dtmd://dingtalkclient/sendMessage?content=")
            + QString::fromLatin1(QUrl::toPercentEncoding(value)) + u')';
    };
    QString md = QStringLiteral("### ") + cardtext::title(card) + QStringLiteral("\n\n") + cardtext::stateLine(card);
    const bool choosing = card.state == DeployCard::State::Choosing;
    for (const CardComponent &c : card.components) {
        md += QStringLiteral("\n\n**") + c.name + QStringLiteral("**");
        if (!c.selectedBranch.isEmpty())
            md += QStringLiteral(" `") + c.selectedBranch + u'`';
        if (!c.deployedBuild.isEmpty())
            md += u' ' + c.deployedBuild;
        if (!c.status.isEmpty())
            md += QStringLiteral("\n\n") + c.status;
        if (!choosing)
            continue;
        for (const BranchChoice &b : c.branches) {
            // One click picks and confirms: a markdown link cannot hold a selection.
            const CardSelection s {c.name, b.name, b.latest ? b.latest->id : QString()};
            md += QStringLiteral("\n- ")
                + link(cardtext::buildLabel(b),
                       cardvalue::encode(CardAction::Kind::Confirm, card.cardId, s).value_or(QString()));
        }
    }
    if (choosing)
        md += QStringLiteral("\n\n")
            + link(cardtext::cancelLabel(),
                   cardvalue::encode(CardAction::Kind::Cancel, card.cardId).value_or(QString()));
    return QJsonObject {{QStringLiteral("title"), cardtext::title(card)}, {QStringLiteral("text"), md}};
}

Expected<VerifiedRequest, ImError> DingTalkAdapter::verify(const InboundRequest &request, const QDateTime &now) const
{
    const QByteArray ts = request.header("timestamp");
    const QByteArray sig = request.header("sign");
    if (ts.isEmpty() || sig.isEmpty())
        return unexpected(badSignature(QStringLiteral("missing timestamp or sign header")));
    bool ok = false;
    const qint64 t = ts.toLongLong(&ok);
    if (!ok || ts.size() > 15)
        return unexpected(badSignature(QStringLiteral("the timestamp header is not a number of milliseconds")));
    const qint64 skew = std::abs(now.toMSecsSinceEpoch() - t) / 1000;
    if (skew > m_settings.timestampWindowSeconds) {
        return unexpected(
            ImError {ImError::Code::StaleTimestamp,
                     QStringLiteral("the timestamp header is %1 s away from now; at most %2 s are accepted")
                         .arg(skew)
                         .arg(m_settings.timestampWindowSeconds)});
    }
    if (!crypto::constantTimeEquals(sign(ts, m_settings.appSecret), sig))
        return unexpected(badSignature(QStringLiteral("the sign header does not match")));
    VerifiedRequest v;
    v.payload = request.body;
    v.contentType = "application/json";
    v.signature = sig;
    return v;
}

Expected<InboundEvent, ImError> DingTalkAdapter::parse(const VerifiedRequest &request) const
{
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(request.payload, &pe);
    if (!doc.isObject())
        return unexpected(
            malformed(QStringLiteral("the DingTalk callback is not a JSON object: %1").arg(pe.errorString())));
    const QJsonObject o = doc.object();
    InboundEvent ev;
    ev.eventType = o.value(u"msgtype").toString();
    ev.eventId = o.value(u"msgId").toString();
    ev.chatId = o.value(u"conversationId").toString();
    ev.userId = o.value(u"senderStaffId").toString();
    ev.replyToken = o.value(u"sessionWebhook").toString();
    if (const qint64 expires = qint64(o.value(u"sessionWebhookExpiredTime").toDouble()); expires > 0)
        ev.replyTokenExpires = QDateTime::fromMSecsSinceEpoch(expires, Qt::UTC);
    ev.answer.body = "{}";
    if (ev.eventId.isEmpty() || ev.chatId.isEmpty())
        return unexpected(malformed(QStringLiteral("the DingTalk callback has no msgId or conversationId")));
    if (ev.eventType != u"text") {
        ev.kind = InboundEvent::Kind::Ignored;
        return ev;
    }
    const QString text = o.value(u"text").toObject().value(u"content").toString().trimmed();
    if (text.startsWith(u"idk1|")) {
        const auto action = cardvalue::decode(text);
        if (!action)
            return unexpected(malformed(QStringLiteral("\"%1\" is not an Iterdeck card action").arg(text.left(160))));
        ev.kind = InboundEvent::Kind::CardAction;
        ev.action = *action;
        return ev;
    }
    ev.kind = InboundEvent::Kind::Command;
    ev.text = text.simplified();
    return ev;
}

} // namespace iterdeck::im
