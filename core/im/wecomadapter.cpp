#include "wecomadapter.h"

#include "crypto.h"
#include "logging.h"

#include <QJsonArray>
#include <QXmlStreamReader>

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

struct XmlNode
{
    QString name;
    QString text;
    QList<XmlNode> children;
    const XmlNode *child(QStringView n) const
    {
        for (const auto &c : children) {
            if (c.name == n)
                return &c;
        }
        return nullptr;
    }
    QString value(QStringView n) const
    {
        const XmlNode *c = child(n);
        return c ? c->text : QString();
    }
};

// The callback XML: <xml> with elements, some nested (SelectedItems). No DTDs, bounded depth.
std::optional<XmlNode> parseXml(const QByteArray &data, QString *error)
{
    QXmlStreamReader r(data);
    XmlNode root;
    QList<XmlNode *> stack;
    while (!r.atEnd()) {
        r.readNext();
        if (r.isDTD() || r.isEntityReference()) {
            *error = QStringLiteral("DTDs and entities are not accepted");
            return std::nullopt;
        }
        if (r.isStartElement()) {
            if (stack.isEmpty()) {
                root.name = r.name().toString();
                stack.append(&root);
            } else {
                if (stack.size() > 8) {
                    *error = QStringLiteral("nested too deeply");
                    return std::nullopt;
                }
                stack.last()->children.append({r.name().toString(), {}, {}});
                stack.append(&stack.last()->children.last());
            }
        } else if (r.isCharacters() && !stack.isEmpty()) {
            stack.last()->text += r.text();
        } else if (r.isEndElement() && !stack.isEmpty()) {
            stack.last()->text = stack.last()->text.trimmed();
            stack.removeLast();
        }
    }
    if (r.hasError()) {
        *error = QStringLiteral("line %1: %2").arg(r.lineNumber()).arg(r.errorString());
        return std::nullopt;
    }
    if (root.name.isEmpty()) {
        *error = QStringLiteral("no root element");
        return std::nullopt;
    }
    return root;
}

QString optionId(const QString &branch, const QString &build)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(branch) + '|' + QUrl::toPercentEncoding(build));
}

} // namespace

std::optional<QByteArray> WeComAdapter::aesKey(const QByteArray &encodingAesKey)
{
    if (encodingAesKey.size() != 43)
        return std::nullopt;
    const auto d = QByteArray::fromBase64Encoding(encodingAesKey + '=', QByteArray::AbortOnBase64DecodingErrors);
    if (!d || d.decoded.size() != 32)
        return std::nullopt;
    return d.decoded;
}

QString WeComAdapter::signature(const QByteArray &token, const QByteArray &timestamp, const QByteArray &nonce,
                                const QByteArray &encrypted)
{
    QList<QByteArray> parts {token, timestamp, nonce, encrypted};
    std::sort(parts.begin(), parts.end());
    return QString::fromLatin1(crypto::sha1(parts.join()).toHex());
}

QByteArray WeComAdapter::encrypt(const QByteArray &key, const QByteArray &message, const QByteArray &receiveId,
                                 const QByteArray &random16)
{
    QByteArray plain = random16.left(16);
    const quint32 n = quint32(message.size());
    plain += char((n >> 24) & 0xff);
    plain += char((n >> 16) & 0xff);
    plain += char((n >> 8) & 0xff);
    plain += char(n & 0xff);
    plain += message + receiveId;
    const int pad = 32 - int(plain.size() % 32);
    plain += QByteArray(pad, char(pad));
    return crypto::aes256CbcEncrypt(key, key.left(16), plain, false).value_or(QByteArray()).toBase64();
}

WeComAdapter::WeComAdapter(Settings settings, QNetworkAccessManager *nam, QObject *parent)
    : ImAdapter(parent)
    , m_settings(std::move(settings))
    , m_aesKey(aesKey(m_settings.encodingAesKey).value_or(QByteArray()))
    , m_client(nam, m_settings.apiBaseUrl)
{
    m_client.authorize = [](QNetworkRequest &, QUrl &url, const QString &token) {
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
        if (a.status >= 500) {
            v.kind = ApiVerdict::Kind::Retry;
            v.error = {ImError::Code::Http, QStringLiteral("WeCom answered HTTP %1").arg(a.status), a.status};
            return v;
        }
        if (!a.json.contains(u"errcode")) {
            v.kind = ApiVerdict::Kind::Fail;
            v.error = {ImError::Code::BadResponse,
                       QStringLiteral("WeCom's answer (HTTP %1) has no errcode").arg(a.status), a.status};
            return v;
        }
        const int code = a.json.value(u"errcode").toInt();
        const QString msg = a.json.value(u"errmsg").toString();
        if (code == 0)
            return v;
        if (code == 40014 || code == 42001 || code == 41001) {
            v.kind = ApiVerdict::Kind::TokenExpired;
            v.error
                = {ImError::Code::Auth, QStringLiteral("WeCom rejected the access token (%1 %2)").arg(code).arg(msg),
                   a.status, QString::number(code)};
            return v;
        }
        if (code == 45009 || code == 45033 || code == -1) {
            // 45009: frequency limit; 45033: too many concurrent calls; -1: system busy.
            v.kind = ApiVerdict::Kind::RateLimited;
            v.error = {ImError::Code::RateLimited, QStringLiteral("WeCom error %1: %2").arg(code).arg(msg), a.status,
                       QString::number(code)};
            return v;
        }
        v.kind = ApiVerdict::Kind::Fail;
        v.error = {code == 40001 || code == 40013 || code == 60011 ? ImError::Code::Auth : ImError::Code::Platform,
                   QStringLiteral("WeCom error %1: %2").arg(code).arg(msg), a.status, QString::number(code)};
        return v;
    };
    m_client.fetchToken = [this](ApiClient *client, ApiClient::TokenDone done) {
        ApiRequest req;
        req.method = "GET";
        req.path = QStringLiteral("/cgi-bin/gettoken");
        req.needsToken = false;
        req.query.addQueryItem(QStringLiteral("corpid"), m_settings.corpId);
        req.query.addQueryItem(QStringLiteral("corpsecret"),
                               QString::fromLatin1(QUrl::toPercentEncoding(QString::fromUtf8(m_settings.secret))));
        client->call(req, this, [done](Expected<ApiAnswer, ImError> r) {
            if (!r) {
                ImError e = r.error();
                e.message = QStringLiteral("getting the access token failed: ") + e.message;
                done(unexpected(e));
                return;
            }
            const QString token = r->json.value(u"access_token").toString();
            if (token.isEmpty()) {
                done(unexpected(
                    ImError {ImError::Code::BadResponse, QStringLiteral("access_token missing in WeCom's answer")}));
                return;
            }
            done(std::make_pair(token, r->json.value(u"expires_in").toInt(7200)));
        });
    };
}

Capabilities WeComAdapter::capabilities() const
{
    Capabilities c;
    c.cardsInGroups = false;
    c.cardUpdates = true; // once per click, with its response code
    c.cardUpdatesRepeat = false; // later states: markdown messages to the group
    c.cleanup = Capabilities::Cleanup::RemoveMembersAndRename;
    c.maxMembersPerCall = 2000;
    c.maxGroupMembers = 2000;
    c.cardUpdateWindowSeconds = 72 * 3600;
    c.ackWithinMs = 5000;
    c.serialisedMemberChanges = true;
    return c;
}

ImJob *WeComAdapter::sendToChat(const QString &chatId, const QJsonObject &message)
{
    ImJob *job = newJob();
    ApiRequest req;
    req.path = QStringLiteral("/cgi-bin/appchat/send");
    QJsonObject body = message;
    body.insert(QStringLiteral("chatid"), chatId);
    req.body = QJsonDocument(body);
    m_client.call(req, job, [job, chatId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, {}, {}, {}, r->json});
    });
    return job;
}

ImJob *WeComAdapter::createGroup(const GroupSpec &spec)
{
    ImJob *job = newJob();
    if (spec.members.size() < 2) {
        job->failLater(
            {ImError::Code::InvalidArgument,
             QStringLiteral("a WeCom group chat needs at least 2 members, not %1").arg(spec.members.size())});
        return job;
    }
    if (spec.members.size() > 2000) {
        job->failLater(
            {ImError::Code::InvalidArgument,
             QStringLiteral("a WeCom group chat takes at most 2000 members, not %1").arg(spec.members.size())});
        return job;
    }
    ApiRequest req;
    req.path = QStringLiteral("/cgi-bin/appchat/create");
    req.body = QJsonDocument(
        QJsonObject {{QStringLiteral("name"), spec.name.left(50)},
                     {QStringLiteral("owner"), spec.owner.isEmpty() ? spec.members.first() : spec.owner},
                     {QStringLiteral("userlist"), QJsonArray::fromStringList(spec.members)}});
    m_client.call(req, job, [this, job, spec](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        const QString chatId = r->json.value(u"chatid").toString();
        if (chatId.isEmpty()) {
            job->fail({ImError::Code::BadResponse, QStringLiteral("appchat/create answered without chatid")});
            return;
        }
        m_members.insert(chatId, spec.members);
        job->succeed({chatId, {}, {}, {}, r->json});
    });
    return job;
}

ImJob *WeComAdapter::addMembers(const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    if (userIds.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members to add")});
        return job;
    }
    ApiRequest req;
    req.path = QStringLiteral("/cgi-bin/appchat/update");
    req.serialKey = chatId;
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("chatid"), chatId},
                                          {QStringLiteral("add_user_list"), QJsonArray::fromStringList(userIds)}});
    m_client.call(req, job, [this, job, chatId, userIds](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        QStringList &m = m_members[chatId];
        for (const QString &u : userIds) {
            if (!m.contains(u))
                m.append(u);
        }
        job->succeed({chatId, {}, {}, {}, r->json});
    });
    return job;
}

ImJob *WeComAdapter::removeMembers(const QString &chatId, const QStringList &userIds)
{
    ImJob *job = newJob();
    if (userIds.isEmpty()) {
        job->failLater({ImError::Code::InvalidArgument, QStringLiteral("no members to remove")});
        return job;
    }
    ApiRequest req;
    req.path = QStringLiteral("/cgi-bin/appchat/update");
    req.serialKey = chatId;
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("chatid"), chatId},
                                          {QStringLiteral("del_user_list"), QJsonArray::fromStringList(userIds)}});
    m_client.call(req, job, [this, job, chatId, userIds](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        QStringList &m = m_members[chatId];
        for (const QString &u : userIds)
            m.removeAll(u);
        job->succeed({chatId, {}, {}, {}, r->json});
    });
    return job;
}

ImJob *WeComAdapter::closeGroup(const QString &chatId, const QStringList &members)
{
    // WeCom has no API that dismisses an app group chat: take everyone out the bot put in, and
    // mark the name, so the group is visibly over.
    ImJob *job = newJob();
    ApiRequest get;
    get.method = "GET";
    get.path = QStringLiteral("/cgi-bin/appchat/get");
    get.query.addQueryItem(QStringLiteral("chatid"), chatId);
    get.serialKey = chatId;
    m_client.call(get, job, [this, job, chatId, members](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        const QJsonObject info = r->json.value(u"chat_info").toObject();
        const QString owner = info.value(u"owner").toString();
        QStringList remove;
        QStringList current;
        for (const auto &u : info.value(u"userlist").toArray())
            current.append(u.toString());
        for (const QString &u : members.isEmpty() ? current : members) {
            if (u != owner && current.contains(u) && !remove.contains(u))
                remove.append(u);
        }
        QJsonObject body {
            {QStringLiteral("chatid"), chatId},
            {QStringLiteral("name"), QString(QStringLiteral("[closed] ") + info.value(u"name").toString())}};
        if (!remove.isEmpty())
            body.insert(QStringLiteral("del_user_list"), QJsonArray::fromStringList(remove));
        ApiRequest update;
        update.path = QStringLiteral("/cgi-bin/appchat/update");
        update.serialKey = chatId;
        update.body = QJsonDocument(body);
        m_client.call(update, job, [this, job, chatId, remove](Expected<ApiAnswer, ImError> r2) {
            if (!r2) {
                job->fail(r2.error());
                return;
            }
            m_members.remove(chatId);
            job->succeed({chatId,
                          {},
                          {},
                          QStringLiteral("WeCom cannot dismiss group chats: removed %1 members and renamed the group")
                              .arg(remove.size()),
                          r2->json});
        });
    });
    return job;
}

ImJob *WeComAdapter::postMessage(const QString &chatId, const QString &text)
{
    return sendToChat(chatId,
                      QJsonObject {{QStringLiteral("msgtype"), QStringLiteral("text")},
                                   {QStringLiteral("text"), QJsonObject {{QStringLiteral("content"), text}}},
                                   {QStringLiteral("safe"), 0}});
}

ImJob *WeComAdapter::postCard(const QString &chatId, const DeployCard &card)
{
    ImJob *job = newJob();
    if (const auto problem = cardProblem(card)) {
        job->failLater({ImError::Code::InvalidArgument, *problem});
        return job;
    }
    if (card.components.size() > 3) {
        job->failLater({ImError::Code::InvalidArgument,
                        QStringLiteral("a WeCom template card holds at most 3 selections; this deploy card has %1 "
                                       "components")
                            .arg(card.components.size())});
        return job;
    }
    // WeCom takes a task_id once per app: each posted card gets its own, the card id with a
    // suffix after '@' (which parse drops again).
    QJsonObject tc = renderCard(card);
    const QString taskId
        = tc.value(u"task_id").toString().left(119) + u'@' + QString::fromLatin1(crypto::randomBytes(4).toHex());
    tc.insert(QStringLiteral("task_id"), taskId);
    // The group's members: who the adapter put there, else ask WeCom.
    auto sendCard = [this, job, chatId, card, tc, taskId](const QStringList &members) {
        ApiRequest req;
        req.path = QStringLiteral("/cgi-bin/message/send");
        req.body = QJsonDocument(QJsonObject {{QStringLiteral("touser"), members.join(u'|')},
                                              {QStringLiteral("msgtype"), QStringLiteral("template_card")},
                                              {QStringLiteral("agentid"), m_settings.agentId},
                                              {QStringLiteral("template_card"), tc}});
        m_client.call(req, job, [this, job, chatId, card, taskId](Expected<ApiAnswer, ImError> r) {
            if (!r) {
                job->fail(r.error());
                return;
            }
            ImResult res {chatId, taskId, {}, {}, r->json};
            for (const QString &u : r->json.value(u"invaliduser").toString().split(u'|', Qt::SkipEmptyParts))
                res.skipped.append(u);
            ApiRequest md;
            md.path = QStringLiteral("/cgi-bin/appchat/send");
            md.body = QJsonDocument(QJsonObject {
                {QStringLiteral("chatid"), chatId},
                {QStringLiteral("msgtype"), QStringLiteral("markdown")},
                {QStringLiteral("markdown"), QJsonObject {{QStringLiteral("content"), renderMarkdown(card)}}}});
            m_client.call(md, job, [job, res](Expected<ApiAnswer, ImError> r2) {
                if (!r2)
                    job->fail(r2.error());
                else
                    job->succeed(res);
            });
        });
    };
    if (m_members.contains(chatId)) {
        sendCard(m_members.value(chatId));
        return job;
    }
    ApiRequest get;
    get.method = "GET";
    get.path = QStringLiteral("/cgi-bin/appchat/get");
    get.query.addQueryItem(QStringLiteral("chatid"), chatId);
    m_client.call(get, job, [job, sendCard](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        QStringList members;
        for (const auto &u : r->json.value(u"chat_info").toObject().value(u"userlist").toArray())
            members.append(u.toString());
        sendCard(members);
    });
    return job;
}

ImJob *WeComAdapter::updateCard(const QString &chatId, const QString &messageId, const QString &replyToken,
                                const DeployCard &card)
{
    if (replyToken.isEmpty()) {
        ImJob *job = sendToChat(chatId,
                                QJsonObject {{QStringLiteral("msgtype"), QStringLiteral("markdown")},
                                             {QStringLiteral("markdown"),
                                              QJsonObject {{QStringLiteral("content"), renderMarkdown(card)}}}});
        return job;
    }
    ImJob *job = newJob();
    QJsonObject tc = renderCard(card);
    if (!messageId.isEmpty())
        tc.insert(QStringLiteral("task_id"), messageId); // the posted card's own
    ApiRequest req;
    req.path = QStringLiteral("/cgi-bin/message/update_template_card");
    req.body = QJsonDocument(QJsonObject {{QStringLiteral("atall"), 1},
                                          {QStringLiteral("agentid"), m_settings.agentId},
                                          {QStringLiteral("response_code"), replyToken},
                                          {QStringLiteral("template_card"), tc}});
    m_client.call(req, job, [job, chatId, messageId](Expected<ApiAnswer, ImError> r) {
        if (!r) {
            job->fail(r.error());
            return;
        }
        job->succeed({chatId, messageId, {}, {}, r->json});
    });
    return job;
}

QJsonObject WeComAdapter::renderCard(const DeployCard &card)
{
    QString taskId;
    for (const QChar ch : card.cardId) {
        if (ch.isLetterOrNumber() || ch == u'_' || ch == u'-')
            taskId += ch;
        else
            taskId += u'_';
    }
    QJsonArray selects;
    for (const CardComponent &c : card.components) {
        QJsonArray options;
        QString selected;
        for (const BranchChoice &b : c.branches.mid(0, 10)) {
            // A template card has one choice per question: the branch, which the environment then
            // follows (its newest build now, and the next ones as CI publishes them).
            const QString id = optionId(b.name, QString());
            if (b.name == c.selectedBranch)
                selected = id;
            options.append(QJsonObject {{QStringLiteral("id"), id}, {QStringLiteral("text"), cardtext::buildLabel(b)}});
        }
        QJsonObject s {{QStringLiteral("question_key"), c.name},
                       {QStringLiteral("title"), c.name},
                       {QStringLiteral("option_list"), options}};
        if (!selected.isEmpty())
            s.insert(QStringLiteral("selected_id"), selected);
        selects.append(s);
    }
    const bool choosing = card.state == DeployCard::State::Choosing;
    return QJsonObject {
        {QStringLiteral("card_type"), QStringLiteral("multiple_interaction")},
        {QStringLiteral("source"), QJsonObject {{QStringLiteral("desc"), QStringLiteral("Iterdeck")}}},
        {QStringLiteral("main_title"),
         QJsonObject {{QStringLiteral("title"), cardtext::title(card).left(36)},
                      {QStringLiteral("desc"), cardtext::stateLine(card).left(44)}}},
        {QStringLiteral("task_id"), taskId.left(128)},
        {QStringLiteral("select_list"), selects},
        {QStringLiteral("submit_button"),
         QJsonObject {
             {QStringLiteral("text"), choosing ? cardtext::confirmLabel() : cardtext::stateLine(card).left(10)},
             {QStringLiteral("key"), choosing ? QStringLiteral("idk_confirm") : QStringLiteral("idk_done")}}}};
}

QString WeComAdapter::renderMarkdown(const DeployCard &card)
{
    QString md = QStringLiteral("**") + cardtext::title(card) + QStringLiteral("**\n") + cardtext::stateLine(card);
    for (const CardComponent &c : card.components) {
        md += QStringLiteral("\n> ") + c.name;
        if (!c.selectedBranch.isEmpty())
            md += QStringLiteral(": `") + c.selectedBranch + u'`';
        if (!c.deployedBuild.isEmpty())
            md += u' ' + c.deployedBuild;
        if (!c.status.isEmpty())
            md += QStringLiteral(" — ") + c.status;
    }
    return md;
}

Expected<VerifiedRequest, ImError> WeComAdapter::verify(const InboundRequest &request, const QDateTime &now) const
{
    if (m_aesKey.isEmpty())
        return unexpected(
            ImError {ImError::Code::Config, QStringLiteral("the EncodingAESKey is not 43 base64 characters")});
    const QByteArray sig = request.query.queryItemValue(QStringLiteral("msg_signature")).toLatin1();
    const QByteArray ts = request.query.queryItemValue(QStringLiteral("timestamp")).toLatin1();
    const QByteArray nonce = request.query.queryItemValue(QStringLiteral("nonce"), QUrl::FullyDecoded).toUtf8();
    if (sig.isEmpty() || ts.isEmpty() || nonce.isEmpty())
        return unexpected(badSignature(QStringLiteral("missing msg_signature, timestamp or nonce in the query")));
    bool ok = false;
    const qint64 t = ts.toLongLong(&ok);
    if (!ok || ts.size() > 12)
        return unexpected(badSignature(QStringLiteral("timestamp is not a number of seconds")));
    const qint64 skew = std::abs(now.toSecsSinceEpoch() - t);
    if (skew > m_settings.timestampWindowSeconds) {
        return unexpected(ImError {ImError::Code::StaleTimestamp,
                                   QStringLiteral("timestamp is %1 s away from now; at most %2 s are accepted")
                                       .arg(skew)
                                       .arg(m_settings.timestampWindowSeconds)});
    }
    VerifiedRequest v;
    QByteArray encrypted;
    if (request.method == "GET") {
        encrypted = request.query.queryItemValue(QStringLiteral("echostr"), QUrl::FullyDecoded).toLatin1();
        if (encrypted.isEmpty())
            return unexpected(malformed(QStringLiteral("a GET callback without echostr")));
        v.urlCheck = true;
    } else if (request.body.trimmed().startsWith('{')) {
        // Smart-robot callbacks are JSON: {"tousername", "encrypt", "agentid"}.
        const QJsonDocument doc = QJsonDocument::fromJson(request.body);
        encrypted = doc.object().value(u"encrypt").toString().toLatin1();
        if (encrypted.isEmpty())
            return unexpected(malformed(QStringLiteral("the JSON callback has no \"encrypt\" field")));
    } else {
        QString error;
        const auto xml = parseXml(request.body, &error);
        if (!xml)
            return unexpected(malformed(QStringLiteral("the callback body is not XML: ") + error));
        encrypted = xml->value(u"Encrypt").toLatin1();
        if (encrypted.isEmpty())
            return unexpected(malformed(QStringLiteral("the callback XML has no Encrypt element")));
    }
    if (!crypto::constantTimeEquals(signature(m_settings.token, ts, nonce, encrypted).toLatin1(), sig.toLower()))
        return unexpected(badSignature(QStringLiteral("msg_signature does not match")));
    const auto raw = QByteArray::fromBase64Encoding(encrypted, QByteArray::AbortOnBase64DecodingErrors);
    if (!raw || raw.decoded.isEmpty() || raw.decoded.size() % 16 != 0)
        return unexpected(malformed(QStringLiteral("the encrypted message is not base64 of whole AES blocks")));
    auto plain = crypto::aes256CbcDecrypt(m_aesKey, m_aesKey.left(16), raw.decoded, false);
    if (!plain)
        return unexpected(malformed(QStringLiteral("the message does not decrypt")));
    const int pad = uchar(plain->back());
    if (pad < 1 || pad > 32 || pad > plain->size())
        return unexpected(malformed(QStringLiteral("the decrypted message has bad padding")));
    plain->chop(pad);
    if (plain->size() < 20)
        return unexpected(malformed(QStringLiteral("the decrypted message is too short")));
    const quint32 len = (quint32(uchar(plain->at(16))) << 24) | (quint32(uchar(plain->at(17))) << 16)
        | (quint32(uchar(plain->at(18))) << 8) | quint32(uchar(plain->at(19)));
    if (len > quint32(plain->size() - 20))
        return unexpected(malformed(QStringLiteral("the decrypted message's length field is larger than the message")));
    const QByteArray receiver = plain->mid(20 + len);
    if (receiver != m_settings.corpId.toUtf8()) {
        return unexpected(badSignature(QStringLiteral("the message is for receiver \"%1\", not this corp")
                                           .arg(QString::fromUtf8(receiver.left(64)))));
    }
    v.payload = plain->mid(20, len);
    v.contentType = v.urlCheck ? "text/plain" : "text/xml";
    v.signature = sig;
    v.query = request.query;
    return v;
}

Expected<InboundEvent, ImError> WeComAdapter::parse(const VerifiedRequest &request) const
{
    InboundEvent ev;
    if (request.urlCheck) {
        // WeCom's echostr is a random number; an empty answer would tell WeCom nothing.
        if (request.payload.isEmpty())
            return unexpected(malformed(QStringLiteral("the URL check's echostr decrypts to nothing")));
        ev.kind = InboundEvent::Kind::UrlVerification;
        ev.eventType = QStringLiteral("url_verification");
        ev.answer.contentType = "text/plain";
        ev.answer.body = request.payload;
        return ev;
    }
    QString error;
    const auto xml = parseXml(request.payload, &error);
    if (!xml)
        return unexpected(malformed(QStringLiteral("the decrypted message is not XML: ") + error));
    ev.answer.contentType = "text/plain";
    ev.answer.body = "";
    const QString type = xml->value(u"MsgType");
    const QString from = xml->value(u"FromUserName");
    ev.userId = from;
    if (type == u"text") {
        ev.eventType = QStringLiteral("text");
        ev.kind = InboundEvent::Kind::Command;
        ev.eventId = xml->value(u"MsgId");
        ev.chatId = from; // messages to the app arrive one-to-one
        ev.text = xml->value(u"Content").simplified();
        if (from.isEmpty() || ev.eventId.isEmpty())
            return unexpected(malformed(QStringLiteral("a text message without FromUserName or MsgId")));
        return ev;
    }
    if (type == u"event") {
        ev.eventType = xml->value(u"Event");
        ev.eventId = from + u'/' + xml->value(u"CreateTime");
        if (ev.eventType != u"template_card_event") {
            ev.kind = InboundEvent::Kind::Ignored;
            return ev;
        }
        ev.kind = InboundEvent::Kind::CardAction;
        ev.chatId = from;
        ev.messageId = xml->value(u"TaskId");
        ev.replyToken = xml->value(u"ResponseCode");
        ev.eventId += u'/' + ev.messageId;
        const QString key = xml->value(u"EventKey");
        ev.action.cardId = ev.messageId.section(u'@', 0, 0); // without the suffix postCard added
        ev.action.kind = key == u"idk_confirm" ? CardAction::Kind::Confirm : CardAction::Kind::Cancel;
        if (key != u"idk_confirm" && key != u"idk_cancel")
            return unexpected(malformed(
                QStringLiteral("template_card_event key \"%1\" is not an Iterdeck card action").arg(key.left(160))));
        if (const XmlNode *items = xml->child(u"SelectedItems")) {
            for (const XmlNode &item : items->children) {
                const XmlNode *ids = item.child(u"OptionIds");
                const QString option = ids && !ids->children.isEmpty() ? ids->children.first().text : QString();
                const qsizetype bar = option.indexOf(u'|');
                if (bar < 0)
                    return unexpected(
                        malformed(QStringLiteral("template_card_event option \"%1\" is not an Iterdeck option")
                                      .arg(option.left(160))));
                ev.action.selections.append({item.value(u"QuestionKey"),
                                             QUrl::fromPercentEncoding(option.left(bar).toLatin1()),
                                             QUrl::fromPercentEncoding(option.mid(bar + 1).toLatin1())});
            }
        }
        if (from.isEmpty() || ev.messageId.isEmpty() || ev.replyToken.isEmpty())
            return unexpected(
                malformed(QStringLiteral("template_card_event without FromUserName, TaskId or ResponseCode")));
        return ev;
    }
    ev.eventType = type;
    ev.kind = InboundEvent::Kind::Ignored;
    return ev;
}

} // namespace iterdeck::im
