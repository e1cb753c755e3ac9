#include "fakeimserver.h"

#include "im/crypto.h"
#include "im/dingtalkadapter.h"
#include "im/feishuadapter.h"
#include "im/wecomadapter.h"

#include <QHostAddress>
#include <QJsonDocument>
#include <QPointer>
#include <QRegularExpression>
#include <QTcpSocket>
#include <QTimer>

#include <algorithm>

namespace iterdeck::testing {

FakeResponse FakeResponse::json(int status, const QJsonObject &o, QMap<QByteArray, QByteArray> headers)
{
    headers.insert("content-type", "application/json; charset=utf-8");
    return {status, headers, QJsonDocument(o).toJson(QJsonDocument::Compact)};
}

FakeImServer::FakeImServer(QObject *parent)
    : QObject(parent)
{
    connect(&m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket *s = m_server.nextPendingConnection()) {
            s->setParent(this);
            auto buffer = std::make_shared<QByteArray>();
            connect(s, &QTcpSocket::readyRead, this, [this, s, buffer] {
                *buffer += s->readAll();
                for (;;) {
                    const qsizetype end = buffer->indexOf("\r\n\r\n");
                    if (end < 0)
                        return;
                    const QByteArray head = buffer->left(end);
                    FakeRequest r;
                    qsizetype length = 0;
                    const QList<QByteArray> lines = head.split('\n');
                    for (qsizetype i = 1; i < lines.size(); ++i) {
                        const QByteArray line = lines[i].trimmed();
                        const qsizetype colon = line.indexOf(':');
                        if (colon > 0)
                            r.headers.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
                    }
                    length = r.headers.value("content-length").toLongLong();
                    if (buffer->size() < end + 4 + length)
                        return;
                    const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
                    r.method = first.value(0);
                    const QUrl target(QString::fromLatin1(first.value(1)));
                    r.path = target.path();
                    r.query = QUrlQuery(target.query(QUrl::FullyEncoded));
                    r.body = buffer->mid(end + 4, length);
                    buffer->remove(0, end + 4 + length);
                    const QJsonDocument doc = QJsonDocument::fromJson(r.body);
                    if (doc.isObject())
                        r.json = doc.object();
                    m_requests.append(r);
                    respond(s, r);
                }
            });
            connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
        }
    });
}

void FakeImServer::respond(QTcpSocket *socket, const FakeRequest &r)
{
    const QString key = concurrencyKey(r);
    std::optional<FakeResponse> answer;
    if (!key.isEmpty() && m_open.value(key) > 0) {
        ++m_overlaps;
        answer = concurrentAnswer(r);
    }
    if (!answer)
        answer = handle(r);
    if (!key.isEmpty())
        ++m_open[key];
    QByteArray raw = "HTTP/1.1 " + QByteArray::number(answer->status) + " Fake\r\n";
    for (auto it = answer->headers.cbegin(); it != answer->headers.cend(); ++it)
        raw += it.key() + ": " + it.value() + "\r\n";
    raw += "Content-Length: " + QByteArray::number(answer->body.size()) + "\r\n\r\n" + answer->body;
    QPointer<QTcpSocket> s(socket);
    auto send = [this, s, raw, key] {
        if (!key.isEmpty())
            --m_open[key];
        if (s)
            s->write(raw);
    };
    const int delay = m_delays.value(r.path);
    if (delay > 0)
        QTimer::singleShot(delay, this, send);
    else
        send();
}

bool FakeImServer::listen()
{
    return m_server.listen(QHostAddress::LocalHost, 0);
}

QUrl FakeImServer::url() const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_server.serverPort()));
}

QStringList FakeImServer::paths() const
{
    QStringList out;
    for (const auto &r : m_requests)
        out.append(QString::fromLatin1(r.method) + u' ' + r.path);
    return out;
}

int FakeImServer::count(const QString &path) const
{
    int n = 0;
    for (const auto &r : m_requests)
        n += r.path == path ? 1 : 0;
    return n;
}

std::optional<FakeResponse> FakeImServer::takeInjected(const QString &path)
{
    auto it = m_injected.find(path);
    if (it == m_injected.end() || it->isEmpty())
        return std::nullopt;
    return it->takeFirst();
}

// ---- Slack --------------------------------------------------------------------------------

QUrl FakeSlack::apiUrl() const
{
    QUrl u = url();
    u.setPath(QStringLiteral("/api"));
    return u;
}

QString FakeSlack::concurrencyKey(const FakeRequest &r) const
{
    if (r.path.startsWith(u"/api/conversations.invite") || r.path.startsWith(u"/api/conversations.kick"))
        return r.json.value(u"channel").toString();
    return {};
}

namespace {

QJsonObject slackError(const char *error)
{
    return {{QStringLiteral("ok"), false}, {QStringLiteral("error"), QString::fromLatin1(error)}};
}

// The Block Kit rules the deploy card relies on (docs.slack.dev "Blocks" and "Block elements").
QString checkBlocks(const QJsonArray &blocks)
{
    if (blocks.size() > 50)
        return QStringLiteral("more than 50 blocks");
    static const QSet<QString> types {QStringLiteral("header"), QStringLiteral("context"), QStringLiteral("section"),
                                      QStringLiteral("actions"), QStringLiteral("divider")};
    for (const auto &b : blocks) {
        const QJsonObject o = b.toObject();
        const QString type = o.value(u"type").toString();
        if (!types.contains(type))
            return QStringLiteral("unknown block type \"%1\"").arg(type);
        if (type == u"header" && o.value(u"text").toObject().value(u"text").toString().size() > 150)
            return QStringLiteral("header text over 150 characters");
        if (type == u"section") {
            const QJsonObject acc = o.value(u"accessory").toObject();
            if (!acc.isEmpty()) {
                const QJsonArray options = acc.value(u"options").toArray();
                if (acc.value(u"type").toString() != u"static_select" || options.isEmpty() || options.size() > 100)
                    return QStringLiteral("bad static_select");
                for (const auto &opt : options) {
                    const QJsonObject oo = opt.toObject();
                    if (oo.value(u"value").toString().size() > 150 || oo.value(u"value").toString().isEmpty()
                        || oo.value(u"text").toObject().value(u"text").toString().size() > 75)
                        return QStringLiteral("option value over 150 or text over 75 characters");
                }
            }
        }
        if (type == u"actions") {
            for (const auto &e : o.value(u"elements").toArray()) {
                const QJsonObject eo = e.toObject();
                if (eo.value(u"type").toString() == u"button"
                    && (eo.value(u"value").toString().size() > 2000 || eo.value(u"action_id").toString().isEmpty()))
                    return QStringLiteral("bad button");
            }
        }
    }
    return {};
}

} // namespace

QString FakeSlack::newResponseUrl(const QString &channel, const QString &ts)
{
    const QString id = QString::number(m_next++);
    responseUrls.insert(id, {channel, ts, 0});
    return url().toString() + QStringLiteral("/response/") + id;
}

FakeResponse FakeSlack::handle(const FakeRequest &r)
{
    if (r.path.startsWith(u"/response/")) {
        // response_url (docs.slack.dev "Handling user interaction"): JSON POST, no token; 5 uses.
        const QString id = r.path.mid(10);
        if (!responseUrls.contains(id))
            return FakeResponse::json(404, slackError("expired_url"));
        ResponseUrl &u = responseUrls[id];
        if (++u.uses > 5)
            return FakeResponse::json(200, slackError("used_url"));
        if (r.method != "POST" || !r.headers.value("content-type").startsWith("application/json")) {
            shapeError(QStringLiteral("response_url: not a JSON POST"));
            return FakeResponse::json(400, slackError("invalid_payload"));
        }
        if (r.headers.contains("authorization"))
            shapeError(QStringLiteral("response_url: sent with a token"));
        const QJsonObject &b = r.json;
        if (b.value(u"text").toString().isEmpty() && b.value(u"blocks").toArray().isEmpty())
            return FakeResponse::json(200, slackError("no_text"));
        if (const QString problem = checkBlocks(b.value(u"blocks").toArray()); !problem.isEmpty()) {
            shapeError(problem);
            return FakeResponse::json(200, slackError("invalid_blocks"));
        }
        QJsonObject m = b;
        m.insert(QStringLiteral("channel"), u.channel);
        if (b.value(u"replace_original").toBool()) {
            if (u.ts.isEmpty() || !messages.contains(u.ts))
                return FakeResponse::json(404, slackError("message_not_found"));
            messages.insert(u.ts, m);
            m.insert(QStringLiteral("ts"), u.ts);
            updates.append(m);
        } else if (b.value(u"response_type").toString() == u"in_channel") {
            messages.insert(QStringLiteral("1700000000.%1").arg(m_next++, 6, 10, QLatin1Char('0')), m);
        } else {
            ephemeral.append(m);
        }
        return FakeResponse::json(200, {{QStringLiteral("ok"), true}});
    }
    if (!r.path.startsWith(u"/api/"))
        return FakeResponse::json(404, {});
    const QString method = r.path.mid(5);
    const QByteArray auth = r.headers.value("authorization");
    if (auth.isEmpty())
        return FakeResponse::json(200, slackError("not_authed"));
    if (auth != "Bearer " + botToken)
        return FakeResponse::json(200, slackError("invalid_auth"));
    if (auto injected = takeInjected(r.path))
        return *injected;
    if (r.method != "POST" || !r.headers.value("content-type").startsWith("application/json")) {
        shapeError(method + QStringLiteral(": not a JSON POST"));
        return FakeResponse::json(200, slackError("invalid_arguments"));
    }
    const QJsonObject &b = r.json;
    const QString channel = b.value(u"channel").toString();
    auto ok = [](QJsonObject o) {
        o.insert(QStringLiteral("ok"), true);
        return FakeResponse::json(200, o);
    };
    if (method == u"conversations.create") {
        static const QRegularExpression valid(QStringLiteral("^[a-z0-9_-]{1,80}$"));
        const QString name = b.value(u"name").toString();
        if (!valid.match(name).hasMatch())
            return FakeResponse::json(200, slackError("invalid_name_specials"));
        for (const auto &c : std::as_const(channels)) {
            if (c.name == name)
                return FakeResponse::json(200, slackError("name_taken"));
        }
        const QString id = QStringLiteral("C%1").arg(m_next++, 8, 10, QLatin1Char('0'));
        channels.insert(id, {name, {}, false});
        return ok({{QStringLiteral("channel"),
                    QJsonObject {{QStringLiteral("id"), id},
                                 {QStringLiteral("name"), name},
                                 {QStringLiteral("is_private"), b.value(u"is_private").toBool()}}}});
    }
    if (!channels.contains(channel))
        return FakeResponse::json(200, slackError("channel_not_found"));
    Channel &c = channels[channel];
    if (method == u"conversations.invite") {
        if (c.archived)
            return FakeResponse::json(200, slackError("is_archived"));
        const QStringList ids = b.value(u"users").toString().split(u',', Qt::SkipEmptyParts);
        if (ids.isEmpty())
            return FakeResponse::json(200, slackError("no_user"));
        if (ids.size() > 1000)
            return FakeResponse::json(200, slackError("too_many_users"));
        QJsonArray errors;
        for (const QString &u : ids) {
            if (!users.contains(u))
                errors.append(QJsonObject {{QStringLiteral("user"), u},
                                           {QStringLiteral("ok"), false},
                                           {QStringLiteral("error"), QStringLiteral("user_not_found")}});
        }
        if (!errors.isEmpty() && !b.value(u"force").toBool())
            return FakeResponse::json(200, slackError("user_not_found"));
        for (const QString &u : ids) {
            if (users.contains(u) && !c.members.contains(u))
                c.members.append(u);
        }
        QJsonObject res {{QStringLiteral("channel"), QJsonObject {{QStringLiteral("id"), channel}}}};
        if (!errors.isEmpty())
            res.insert(QStringLiteral("errors"), errors);
        return ok(res);
    }
    if (method == u"conversations.kick") {
        const QString u = b.value(u"user").toString();
        if (!c.members.contains(u))
            return FakeResponse::json(200, slackError("not_in_channel"));
        c.members.removeAll(u);
        return ok({});
    }
    if (method == u"conversations.archive") {
        if (c.archived)
            return FakeResponse::json(200, slackError("already_archived"));
        c.archived = true;
        return ok({});
    }
    if (method == u"chat.postMessage" || method == u"chat.update") {
        if (c.archived)
            return FakeResponse::json(200, slackError("is_archived"));
        if (b.value(u"text").toString().isEmpty() && b.value(u"blocks").toArray().isEmpty())
            return FakeResponse::json(200, slackError("no_text"));
        const QString problem = checkBlocks(b.value(u"blocks").toArray());
        if (!problem.isEmpty()) {
            shapeError(problem);
            return FakeResponse::json(200, slackError("invalid_blocks"));
        }
        QString ts = b.value(u"ts").toString();
        if (method == u"chat.update") {
            if (!messages.contains(ts) || messages[ts].value(u"channel").toString() != channel)
                return FakeResponse::json(200, slackError("message_not_found"));
            updates.append(b);
        } else {
            ts = QStringLiteral("1700000000.%1").arg(m_next++, 6, 10, QLatin1Char('0'));
        }
        messages.insert(ts, b);
        return ok({{QStringLiteral("channel"), channel}, {QStringLiteral("ts"), ts}});
    }
    shapeError(QStringLiteral("unknown method ") + method);
    return FakeResponse::json(200, slackError("unknown_method"));
}

im::InboundRequest FakeSlack::callback(const QByteArray &body, const QByteArray &contentType, qint64 timestamp) const
{
    im::InboundRequest r;
    r.path = QStringLiteral("/hooks/slack");
    r.body = body;
    const QByteArray ts = QByteArray::number(timestamp);
    r.setHeader("Content-Type", contentType);
    r.setHeader("X-Slack-Request-Timestamp", ts);
    r.setHeader("X-Slack-Signature", "v0=" + im::crypto::hmacSha256(signingSecret, "v0:" + ts + ':' + body).toHex());
    return r;
}

im::InboundRequest FakeSlack::slashCommand(const QString &channel, const QString &user, const QString &text,
                                           const QString &triggerId, qint64 timestamp)
{
    QByteArray form;
    auto add = [&form](const char *key, const QString &value) {
        form += (form.isEmpty() ? "" : "&") + QByteArray(key) + '=' + QUrl::toPercentEncoding(value);
    };
    add("token", QStringLiteral("gIkuvaNzQIHg97ATvDxqgjtO"));
    add("team_id", QStringLiteral("T0001"));
    add("team_domain", QStringLiteral("example"));
    add("channel_id", channel);
    add("channel_name", QStringLiteral("iteration"));
    add("user_id", user);
    add("user_name", user.toLower());
    add("command", QStringLiteral("/iterdeck"));
    add("text", text);
    add("api_app_id", QStringLiteral("A0001"));
    add("response_url", newResponseUrl(channel, {}));
    add("trigger_id", triggerId);
    return callback(form, "application/x-www-form-urlencoded", timestamp);
}

im::InboundRequest FakeSlack::blockAction(const QString &channel, const QString &user, const QString &ts,
                                          const QString &actionId, const QString &value, bool select, qint64 timestamp)
{
    QJsonObject action {{QStringLiteral("action_id"), actionId},
                        {QStringLiteral("block_id"), QStringLiteral("idk_actions")},
                        {QStringLiteral("type"), select ? QStringLiteral("static_select") : QStringLiteral("button")},
                        {QStringLiteral("action_ts"), QStringLiteral("1700000001.000100")}};
    if (select)
        action.insert(QStringLiteral("selected_option"), QJsonObject {{QStringLiteral("value"), value}});
    else
        action.insert(QStringLiteral("value"), value);
    const QJsonObject payload {{QStringLiteral("type"), QStringLiteral("block_actions")},
                               {QStringLiteral("user"), QJsonObject {{QStringLiteral("id"), user}}},
                               {QStringLiteral("channel"), QJsonObject {{QStringLiteral("id"), channel}}},
                               {QStringLiteral("container"),
                                QJsonObject {{QStringLiteral("type"), QStringLiteral("message")},
                                             {QStringLiteral("message_ts"), ts},
                                             {QStringLiteral("channel_id"), channel}}},
                               {QStringLiteral("message"), QJsonObject {{QStringLiteral("ts"), ts}}},
                               {QStringLiteral("response_url"), newResponseUrl(channel, ts)},
                               {QStringLiteral("actions"), QJsonArray {action}}};
    const QByteArray body = "payload="
        + QUrl::toPercentEncoding(QString::fromUtf8(QJsonDocument(payload).toJson(QJsonDocument::Compact)));
    return callback(body, "application/x-www-form-urlencoded", timestamp);
}

// ---- Feishu -------------------------------------------------------------------------------

QString FakeFeishu::concurrencyKey(const FakeRequest &r) const
{
    static const QRegularExpression members(QStringLiteral("^/open-apis/im/v1/chats/([^/]+)/members$"));
    const auto m = members.match(r.path);
    return m.hasMatch() ? m.captured(1) : QString();
}

std::optional<FakeResponse> FakeFeishu::concurrentAnswer(const FakeRequest &) const
{
    // Documented for chat members: concurrent changes of one chat fail.
    return FakeResponse::json(400,
                              {{QStringLiteral("code"), 232019},
                               {QStringLiteral("msg"),
                                QStringLiteral("The request has been processed by other "
                                               "requests, please try again later.")}});
}

namespace {
FakeResponse feishu(int code, const QString &msg, const QJsonObject &data = {}, int status = 200)
{
    QJsonObject o {{QStringLiteral("code"), code}, {QStringLiteral("msg"), msg}};
    if (code == 0)
        o.insert(QStringLiteral("data"), data);
    return FakeResponse::json(status, o);
}
} // namespace

FakeResponse FakeFeishu::handle(const FakeRequest &r)
{
    if (r.path == u"/open-apis/auth/v3/tenant_access_token/internal") {
        if (r.method != "POST") {
            shapeError(QStringLiteral("token: not POST"));
            return feishu(99991400 - 1, QStringLiteral("bad method"));
        }
        if (r.json.value(u"app_id").toString() != appId || r.json.value(u"app_secret").toString().toUtf8() != appSecret)
            return FakeResponse::json(
                200, {{QStringLiteral("code"), 10014}, {QStringLiteral("msg"), QStringLiteral("app secret invalid")}});
        const QString token = QStringLiteral("t-fake-%1").arg(++tokensIssued);
        m_valid.insert(token);
        return FakeResponse::json(200,
                                  {{QStringLiteral("code"), 0},
                                   {QStringLiteral("msg"), QStringLiteral("ok")},
                                   {QStringLiteral("tenant_access_token"), token},
                                   {QStringLiteral("expire"), 7200}});
    }
    const QByteArray auth = r.headers.value("authorization");
    if (!auth.startsWith("Bearer ") || !m_valid.contains(QString::fromLatin1(auth.mid(7))))
        return feishu(99991663,
                      QStringLiteral("Invalid access token for authorization. Please make a request with token "
                                     "attached."),
                      {}, 400);
    if (auto injected = takeInjected(r.path))
        return *injected;
    static const QRegularExpression chatPath(QStringLiteral("^/open-apis/im/v1/chats/([^/]+)(/members)?$"));
    static const QRegularExpression msgPath(QStringLiteral("^/open-apis/im/v1/messages/([^/]+)$"));
    if (r.path == u"/open-apis/im/v1/chats" && r.method == "POST") {
        if (r.query.queryItemValue(QStringLiteral("user_id_type")) != u"open_id")
            shapeError(QStringLiteral("chats.create without user_id_type=open_id"));
        const QJsonArray list = r.json.value(u"user_id_list").toArray();
        if (r.json.value(u"name").toString().isEmpty() || list.size() > 50)
            return feishu(232001, QStringLiteral("invalid request parameters"), {}, 400);
        Chat c {r.json.value(u"name").toString(), {}};
        QJsonArray invalid;
        for (const auto &u : list) {
            if (users.contains(u.toString()))
                c.members.append(u.toString());
            else
                invalid.append(u);
        }
        const QString id = QStringLiteral("oc_fake%1").arg(m_next++);
        chats.insert(id, c);
        return feishu(0, QStringLiteral("success"),
                      {{QStringLiteral("chat_id"), id},
                       {QStringLiteral("name"), c.name},
                       {QStringLiteral("invalid_id_list"), invalid}});
    }
    if (const auto m = chatPath.match(r.path); m.hasMatch()) {
        const QString id = m.captured(1);
        if (!chats.contains(id))
            return feishu(232011, QStringLiteral("chat not found"), {}, 400);
        if (m.captured(2).isEmpty()) {
            if (r.method != "DELETE") {
                shapeError(QStringLiteral("chat: only DELETE is used"));
                return feishu(232001, QStringLiteral("bad method"), {}, 400);
            }
            chats.remove(id);
            return feishu(0, QStringLiteral("success"));
        }
        if (r.query.queryItemValue(QStringLiteral("member_id_type")) != u"open_id")
            shapeError(QStringLiteral("members without member_id_type=open_id"));
        const QJsonArray ids = r.json.value(u"id_list").toArray();
        if (ids.isEmpty() || ids.size() > 50)
            return feishu(232001, QStringLiteral("id_list must hold 1 to 50 ids"), {}, 400);
        QJsonArray invalid, missing;
        Chat &c = chats[id];
        for (const auto &v : ids) {
            const QString u = v.toString();
            if (!users.contains(u)) {
                invalid.append(u);
                continue;
            }
            if (r.method == "POST" && !c.members.contains(u))
                c.members.append(u);
            else if (r.method == "DELETE" && !c.members.removeAll(u))
                missing.append(u);
        }
        QJsonObject data {{QStringLiteral("invalid_id_list"), invalid}};
        if (r.method == "POST")
            data.insert(QStringLiteral("not_existed_id_list"), QJsonArray());
        return feishu(0, QStringLiteral("success"), data);
    }
    if (r.path == u"/open-apis/im/v1/messages" && r.method == "POST") {
        if (r.query.queryItemValue(QStringLiteral("receive_id_type")) != u"chat_id")
            shapeError(QStringLiteral("messages without receive_id_type=chat_id"));
        const QString chat = r.json.value(u"receive_id").toString();
        const QString type = r.json.value(u"msg_type").toString();
        const QJsonDocument content = QJsonDocument::fromJson(r.json.value(u"content").toString().toUtf8());
        if (!chats.contains(chat))
            return feishu(230002, QStringLiteral("Bot/User can NOT be out of the chat."), {}, 400);
        if ((type != u"text" && type != u"interactive") || !content.isObject()) {
            shapeError(QStringLiteral("message: bad msg_type or content"));
            return feishu(230001, QStringLiteral("invalid message content"), {}, 400);
        }
        if (type == u"interactive" && content.object().value(u"elements").toArray().isEmpty())
            shapeError(QStringLiteral("card without elements"));
        const QString id = QStringLiteral("om_fake%1").arg(m_next++);
        messages.insert(id,
                        {{QStringLiteral("chat_id"), chat},
                         {QStringLiteral("msg_type"), type},
                         {QStringLiteral("content"), content.object()}});
        return feishu(0, QStringLiteral("success"),
                      {{QStringLiteral("message_id"), id}, {QStringLiteral("chat_id"), chat}});
    }
    if (const auto m = msgPath.match(r.path); m.hasMatch() && r.method == "PATCH") {
        const QString id = m.captured(1);
        if (!messages.contains(id))
            return feishu(230011, QStringLiteral("message not found"), {}, 400);
        QJsonObject &msg = messages[id];
        const QJsonDocument content = QJsonDocument::fromJson(r.json.value(u"content").toString().toUtf8());
        if (msg.value(u"msg_type").toString() != u"interactive"
            || !msg.value(u"content").toObject().value(u"config").toObject().value(u"update_multi").toBool())
            return feishu(230031, QStringLiteral("the message is not a shared card (update_multi)"), {}, 400);
        if (!content.isObject())
            return feishu(230001, QStringLiteral("invalid message content"), {}, 400);
        msg.insert(QStringLiteral("content"), content.object());
        return feishu(0, QStringLiteral("success"));
    }
    shapeError(QStringLiteral("unknown call ") + QString::fromLatin1(r.method) + u' ' + r.path);
    return feishu(404, QStringLiteral("not found"), {}, 404);
}

im::InboundRequest FakeFeishu::callback(const QJsonObject &clear, qint64 timestamp, const QByteArray &nonce) const
{
    const QByteArray iv = im::crypto::randomBytes(16);
    const QByteArray enc = iv
        + im::crypto::aes256CbcEncrypt(im::crypto::sha256(encryptKey), iv,
                                       QJsonDocument(clear).toJson(QJsonDocument::Compact))
              .value_or(QByteArray());
    im::InboundRequest r;
    r.path = QStringLiteral("/hooks/feishu");
    r.body = QJsonDocument(QJsonObject {{QStringLiteral("encrypt"), QString::fromLatin1(enc.toBase64())}})
                 .toJson(QJsonDocument::Compact);
    const QByteArray ts = QByteArray::number(timestamp);
    r.setHeader("Content-Type", "application/json; charset=utf-8");
    r.setHeader("X-Lark-Request-Timestamp", ts);
    r.setHeader("X-Lark-Request-Nonce", nonce);
    r.setHeader("X-Lark-Signature", im::crypto::sha256(ts + nonce + encryptKey + r.body).toHex());
    return r;
}

// ---- WeCom --------------------------------------------------------------------------------

namespace {
FakeResponse wecom(int code, const QString &msg, QJsonObject extra = {})
{
    extra.insert(QStringLiteral("errcode"), code);
    extra.insert(QStringLiteral("errmsg"), msg);
    return FakeResponse::json(200, extra);
}
} // namespace

QString FakeWeCom::issueResponseCode()
{
    const QString code = QStringLiteral("rc-fake-%1").arg(m_next++);
    responseCodes.insert(code, false);
    return code;
}

FakeResponse FakeWeCom::handle(const FakeRequest &r)
{
    if (r.path == u"/cgi-bin/gettoken") {
        if (r.method != "GET")
            shapeError(QStringLiteral("gettoken: not GET"));
        if (r.query.queryItemValue(QStringLiteral("corpid")) != corpId)
            return wecom(40013, QStringLiteral("invalid corpid"));
        if (r.query.queryItemValue(QStringLiteral("corpsecret"), QUrl::FullyDecoded).toUtf8() != secret)
            return wecom(40001, QStringLiteral("invalid credential"));
        const QString t = QStringLiteral("wecom-token-%1").arg(++tokensIssued);
        m_valid.insert(t);
        return wecom(0, QStringLiteral("ok"),
                     {{QStringLiteral("access_token"), t}, {QStringLiteral("expires_in"), 7200}});
    }
    const QString token = r.query.queryItemValue(QStringLiteral("access_token"));
    if (token.isEmpty())
        return wecom(41001, QStringLiteral("access_token missing"));
    if (!m_valid.contains(token))
        return wecom(token.startsWith(u"wecom-token-") ? 42001 : 40014,
                     token.startsWith(u"wecom-token-") ? QStringLiteral("access_token expired")
                                                       : QStringLiteral("invalid access_token"));
    if (auto injected = takeInjected(r.path))
        return *injected;
    const QJsonObject &b = r.json;
    if (r.path == u"/cgi-bin/appchat/create") {
        QStringList list;
        for (const auto &u : b.value(u"userlist").toArray())
            list.append(u.toString());
        if (list.size() < 2 || list.size() > 2000)
            return wecom(86215, QStringLiteral("chat member count out of range"));
        for (const QString &u : list) {
            if (!users.contains(u))
                return wecom(60111, QStringLiteral("userid not found: ") + u);
        }
        const QString owner = b.value(u"owner").toString();
        if (!owner.isEmpty() && !list.contains(owner))
            return wecom(86216, QStringLiteral("owner not in userlist"));
        QString id = b.value(u"chatid").toString();
        if (id.isEmpty())
            id = QStringLiteral("wrfakechat%1").arg(m_next++);
        chats.insert(id, {b.value(u"name").toString(), owner.isEmpty() ? list.first() : owner, list});
        return wecom(0, QStringLiteral("ok"), {{QStringLiteral("chatid"), id}});
    }
    const QString chatid = r.path == u"/cgi-bin/appchat/get" ? r.query.queryItemValue(QStringLiteral("chatid"))
                                                             : b.value(u"chatid").toString();
    if (r.path.startsWith(u"/cgi-bin/appchat/") && !chats.contains(chatid))
        return wecom(86003, QStringLiteral("chat not exist"));
    if (r.path == u"/cgi-bin/appchat/update") {
        Chat &c = chats[chatid];
        if (b.contains(u"name"))
            c.name = b.value(u"name").toString();
        for (const auto &u : b.value(u"add_user_list").toArray()) {
            if (!users.contains(u.toString()))
                return wecom(60111, QStringLiteral("userid not found: ") + u.toString());
            if (!c.members.contains(u.toString()))
                c.members.append(u.toString());
        }
        for (const auto &u : b.value(u"del_user_list").toArray()) {
            if (u.toString() == c.owner)
                return wecom(86217, QStringLiteral("cannot remove the owner"));
            c.members.removeAll(u.toString());
        }
        return wecom(0, QStringLiteral("ok"));
    }
    if (r.path == u"/cgi-bin/appchat/get") {
        const Chat &c = chats[chatid];
        return wecom(0, QStringLiteral("ok"),
                     {{QStringLiteral("chat_info"),
                       QJsonObject {{QStringLiteral("chatid"), chatid},
                                    {QStringLiteral("name"), c.name},
                                    {QStringLiteral("owner"), c.owner},
                                    {QStringLiteral("userlist"), QJsonArray::fromStringList(c.members)}}}});
    }
    if (r.path == u"/cgi-bin/appchat/send") {
        static const QSet<QString> types {
            QStringLiteral("text"),  QStringLiteral("image"),  QStringLiteral("voice"),
            QStringLiteral("video"), QStringLiteral("file"),   QStringLiteral("textcard"),
            QStringLiteral("news"),  QStringLiteral("mpnews"), QStringLiteral("markdown")};
        const QString type = b.value(u"msgtype").toString();
        if (!types.contains(type))
            return wecom(40008, QStringLiteral("invalid message type"));
        if (b.value(type).toObject().value(u"content").toString().isEmpty() && (type == u"text" || type == u"markdown"))
            return wecom(44004, QStringLiteral("empty content"));
        chatMessages.append(b);
        return wecom(0, QStringLiteral("ok"));
    }
    if (r.path == u"/cgi-bin/message/send") {
        if (b.value(u"agentid").toInt() != agentId)
            return wecom(40056, QStringLiteral("invalid agentid"));
        if (b.value(u"msgtype").toString() != u"template_card") {
            shapeError(QStringLiteral("message/send is only used for template_card"));
            return wecom(40008, QStringLiteral("invalid message type"));
        }
        const QJsonObject tc = b.value(u"template_card").toObject();
        static const QRegularExpression taskId(QStringLiteral("^[a-zA-Z0-9_@-]{1,128}$"));
        const QJsonArray selects = tc.value(u"select_list").toArray();
        if (tc.value(u"card_type").toString() != u"multiple_interaction"
            || !taskId.match(tc.value(u"task_id").toString()).hasMatch() || selects.isEmpty() || selects.size() > 3
            || tc.value(u"submit_button").toObject().value(u"key").toString().isEmpty())
            return wecom(40058, QStringLiteral("invalid template_card"));
        for (const auto &s : selects) {
            const QJsonArray options = s.toObject().value(u"option_list").toArray();
            if (options.isEmpty() || options.size() > 10)
                return wecom(40058, QStringLiteral("option_list must hold 1 to 10 options"));
            for (const auto &o : options) {
                if (o.toObject().value(u"id").toString().toUtf8().size() > 128)
                    return wecom(40058, QStringLiteral("option id over 128 bytes"));
            }
        }
        if (cards.contains(tc.value(u"task_id").toString()))
            return wecom(40102, QStringLiteral("task_id already used"));
        QStringList invalid;
        for (const QString &u : b.value(u"touser").toString().split(u'|')) {
            if (!users.contains(u))
                invalid.append(u);
        }
        cards.insert(tc.value(u"task_id").toString(), tc);
        return wecom(0, QStringLiteral("ok"),
                     {{QStringLiteral("invaliduser"), invalid.join(u'|')},
                      {QStringLiteral("msgid"), QStringLiteral("msg-%1").arg(m_next++)}});
    }
    if (r.path == u"/cgi-bin/message/update_template_card") {
        const QString code = b.value(u"response_code").toString();
        if (!responseCodes.contains(code))
            return wecom(40059, QStringLiteral("invalid response_code"));
        if (responseCodes.value(code))
            return wecom(40060, QStringLiteral("response_code already used"));
        if (b.value(u"agentid").toInt() != agentId)
            return wecom(40056, QStringLiteral("invalid agentid"));
        responseCodes[code] = true;
        const QJsonObject tc = b.value(u"template_card").toObject();
        cards.insert(tc.value(u"task_id").toString(), tc);
        return wecom(0, QStringLiteral("ok"));
    }
    shapeError(QStringLiteral("unknown call ") + r.path);
    return FakeResponse::json(404, {});
}

im::InboundRequest FakeWeCom::callback(const QByteArray &clearXml, qint64 timestamp, const QByteArray &nonce) const
{
    const QByteArray key = im::WeComAdapter::aesKey(encodingAesKey).value_or(QByteArray());
    const QByteArray enc = im::WeComAdapter::encrypt(key, clearXml, corpId.toUtf8(), im::crypto::randomBytes(16));
    const QByteArray ts = QByteArray::number(timestamp);
    im::InboundRequest r;
    r.path = QStringLiteral("/hooks/wecom");
    r.body = "<xml><ToUserName><![CDATA[" + corpId.toUtf8() + "]]></ToUserName><Encrypt><![CDATA[" + enc
        + "]]></Encrypt><AgentID><![CDATA[" + QByteArray::number(agentId) + "]]></AgentID></xml>";
    r.query.addQueryItem(QStringLiteral("msg_signature"), im::WeComAdapter::signature(token, ts, nonce, enc));
    r.query.addQueryItem(QStringLiteral("timestamp"), QString::fromLatin1(ts));
    r.query.addQueryItem(QStringLiteral("nonce"), QString::fromLatin1(nonce));
    return r;
}

im::InboundRequest FakeWeCom::urlCheck(const QByteArray &echo, qint64 timestamp) const
{
    const QByteArray key = im::WeComAdapter::aesKey(encodingAesKey).value_or(QByteArray());
    const QByteArray enc = im::WeComAdapter::encrypt(key, echo, corpId.toUtf8(), im::crypto::randomBytes(16));
    const QByteArray ts = QByteArray::number(timestamp);
    im::InboundRequest r;
    r.method = "GET";
    r.path = QStringLiteral("/hooks/wecom");
    r.query.addQueryItem(QStringLiteral("msg_signature"), im::WeComAdapter::signature(token, ts, "42", enc));
    r.query.addQueryItem(QStringLiteral("timestamp"), QString::fromLatin1(ts));
    r.query.addQueryItem(QStringLiteral("nonce"), QStringLiteral("42"));
    r.query.addQueryItem(QStringLiteral("echostr"),
                         QString::fromLatin1(QUrl::toPercentEncoding(QString::fromLatin1(enc))));
    return r;
}

// ---- DingTalk -----------------------------------------------------------------------------

QString FakeDingTalk::concurrencyKey(const FakeRequest &r) const
{
    if (r.path.startsWith(u"/topapi/im/chat/scenegroup/member/"))
        return r.json.value(u"open_conversation_id").toString();
    return {};
}

namespace {
FakeResponse ding(int code, const QString &msg, QJsonObject extra = {})
{
    extra.insert(QStringLiteral("errcode"), code);
    extra.insert(QStringLiteral("errmsg"), msg);
    if (code == 0)
        extra.insert(QStringLiteral("success"), true);
    return FakeResponse::json(200, extra);
}
} // namespace

QString FakeDingTalk::sessionWebhook(const QString &conversationId)
{
    const QString session = QStringLiteral("session-%1").arg(m_next++);
    m_sessions.insert(session, conversationId);
    return url().toString() + QStringLiteral("/robot/sendBySession?session=") + session;
}

namespace {
// cardParamMap: every value a string (DingTalk answers MissingStringValue otherwise).
bool stringParams(const QJsonObject &params)
{
    return !params.isEmpty()
        && std::all_of(params.begin(), params.end(), [](const QJsonValue &v) { return v.isString(); });
}
} // namespace

FakeResponse FakeDingTalk::handle(const FakeRequest &r)
{
    if (r.path == u"/robot/sendBySession") {
        // The sessionWebhook of a robot callback: the custom robot's body, no access token.
        const QString session = r.query.queryItemValue(QStringLiteral("session"));
        if (!m_sessions.contains(session))
            return ding(300001, QStringLiteral("session not found"));
        const QString type = r.json.value(u"msgtype").toString();
        if ((type != u"text" || r.json.value(u"text").toObject().value(u"content").toString().isEmpty())
            && (type != u"markdown" || r.json.value(u"markdown").toObject().value(u"text").toString().isEmpty())) {
            shapeError(QStringLiteral("sessionWebhook: bad msgtype or content"));
            return ding(40035, QStringLiteral("invalid parameter"));
        }
        QJsonObject m = r.json;
        m.insert(QStringLiteral("conversationId"), m_sessions.value(session));
        sessionMessages.append(m);
        return ding(0, QStringLiteral("ok"));
    }
    if (r.path == u"/gettoken") {
        if (r.query.queryItemValue(QStringLiteral("appkey")) != appKey
            || r.query.queryItemValue(QStringLiteral("appsecret"), QUrl::FullyDecoded).toUtf8() != appSecret)
            return ding(40089, QStringLiteral("不合法的corpid或corpsecret"));
        const QString t = QStringLiteral("ding-token-%1").arg(++tokensIssued);
        m_valid.insert(t);
        return ding(0, QStringLiteral("ok"),
                    {{QStringLiteral("access_token"), t}, {QStringLiteral("expires_in"), 7200}});
    }
    if (r.path.startsWith(u"/v1.0/")) {
        if (!m_valid.contains(QString::fromLatin1(r.headers.value("x-acs-dingtalk-access-token"))))
            return FakeResponse::json(401,
                                      {{QStringLiteral("code"), QStringLiteral("InvalidAuthentication")},
                                       {QStringLiteral("message"), QStringLiteral("不合法的access_token")}});
        if (auto injected = takeInjected(r.path))
            return *injected;
        const QJsonObject &b = r.json;
        auto invalid = [this](const QString &what) {
            shapeError(what);
            return FakeResponse::json(400,
                                      {{QStringLiteral("code"), QStringLiteral("InvalidParameter")},
                                       {QStringLiteral("message"), QStringLiteral("invalid parameter")}});
        };
        if (r.path == u"/v1.0/im/interactiveCards/send" && r.method == "POST") {
            const QString track = b.value(u"outTrackId").toString();
            const QJsonObject params = b.value(u"cardData").toObject().value(u"cardParamMap").toObject();
            if (b.value(u"cardTemplateId").toString() != cardTemplateId || b.value(u"robotCode").toString() != appKey
                || !groups.contains(b.value(u"openConversationId").toString()) || track.isEmpty()
                || b.value(u"conversationType").toInt(-1) != 1 || !stringParams(params))
                return invalid(QStringLiteral("interactiveCards/send: bad template, robot, conversation or data"));
            if (interactiveCards.contains(track))
                return invalid(QStringLiteral("interactiveCards/send: outTrackId used twice"));
            interactiveCards.insert(track, {b.value(u"openConversationId").toString(), params, 0});
            return FakeResponse::json(
                200,
                {{QStringLiteral("success"), true},
                 {QStringLiteral("result"),
                  QJsonObject {{QStringLiteral("processQueryKey"), QStringLiteral("pqk-%1").arg(m_next++)}}}});
        }
        if (r.path == u"/v1.0/im/interactiveCards" && r.method == "PUT") {
            const QString track = b.value(u"outTrackId").toString();
            const QJsonObject params = b.value(u"cardData").toObject().value(u"cardParamMap").toObject();
            if (!interactiveCards.contains(track))
                return FakeResponse::json(400,
                                          {{QStringLiteral("code"), QStringLiteral("param.cardNotExist")},
                                           {QStringLiteral("message"), QStringLiteral("card not found")}});
            if (!stringParams(params))
                return invalid(QStringLiteral("interactiveCards update: cardParamMap values must be strings"));
            InteractiveCard &card = interactiveCards[track];
            if (b.value(u"cardOptions").toObject().value(u"updateCardDataByKey").toBool()) {
                for (auto it = params.begin(); it != params.end(); ++it)
                    card.params.insert(it.key(), it.value());
            } else {
                card.params = params;
            }
            ++card.updates;
            cardUpdates.append(b);
            return FakeResponse::json(200, {{QStringLiteral("success"), true}, {QStringLiteral("result"), true}});
        }
        if (r.path != u"/v1.0/robot/groupMessages/send") {
            shapeError(QStringLiteral("unknown call ") + QString::fromLatin1(r.method) + u' ' + r.path);
            return FakeResponse::json(404, {});
        }
        const QJsonDocument param = QJsonDocument::fromJson(b.value(u"msgParam").toString().toUtf8());
        const QString key = b.value(u"msgKey").toString();
        const bool paramOk = param.isObject()
            && ((key == u"sampleText" && !param.object().value(u"content").toString().isEmpty())
                || (key == u"sampleMarkdown" && !param.object().value(u"title").toString().isEmpty()
                    && !param.object().value(u"text").toString().isEmpty()));
        if (b.value(u"robotCode").toString() != appKey || !groups.contains(b.value(u"openConversationId").toString())
            || !paramOk) {
            shapeError(QStringLiteral("robot message: bad robotCode, conversation or msgParam"));
            return FakeResponse::json(400,
                                      {{QStringLiteral("code"), QStringLiteral("InvalidParameter")},
                                       {QStringLiteral("message"), QStringLiteral("invalid parameter")}});
        }
        QJsonObject stored = b;
        stored.insert(QStringLiteral("msgParam"), param.object());
        robotMessages.append(stored);
        return FakeResponse::json(200, {{QStringLiteral("processQueryKey"), QStringLiteral("pqk-%1").arg(m_next++)}});
    }
    const QString token = r.query.queryItemValue(QStringLiteral("access_token"));
    if (!m_valid.contains(token))
        return ding(token.isEmpty() ? 40014 : 42001, QStringLiteral("不合法的access_token"));
    if (auto injected = takeInjected(r.path))
        return *injected;
    const QJsonObject &b = r.json;
    auto userList = [&b] { return b.value(u"user_ids").toString().split(u',', Qt::SkipEmptyParts); };
    if (r.path == u"/topapi/im/chat/scenegroup/create") {
        if (b.value(u"template_id").toString() != templateId)
            return ding(4000003, QStringLiteral("template not found"));
        const QString owner = b.value(u"owner_user_id").toString();
        if (!users.contains(owner) || b.value(u"title").toString().isEmpty())
            return ding(40035, QStringLiteral("invalid parameter"));
        Group g {b.value(u"title").toString(), owner, {owner}};
        for (const QString &u : userList()) {
            if (users.contains(u) && !g.members.contains(u))
                g.members.append(u);
        }
        const QString id = QStringLiteral("cidfake%1==").arg(m_next++);
        groups.insert(id, g);
        return ding(0, QStringLiteral("ok"),
                    {{QStringLiteral("result"),
                      QJsonObject {{QStringLiteral("open_conversation_id"), id},
                                   {QStringLiteral("chat_id"), QStringLiteral("chat%1").arg(m_next)}}}});
    }
    const QString id = b.value(u"open_conversation_id").toString();
    if (!groups.contains(id))
        return ding(4000001, QStringLiteral("group not found"));
    Group &g = groups[id];
    if (r.path == u"/topapi/im/chat/scenegroup/member/add" || r.path == u"/topapi/im/chat/scenegroup/member/delete") {
        const QStringList list = userList();
        if (list.isEmpty() || list.size() > 20)
            return ding(40035, QStringLiteral("user_ids must hold 1 to 20 ids"));
        for (const QString &u : list) {
            if (r.path.endsWith(u"add")) {
                if (users.contains(u) && !g.members.contains(u))
                    g.members.append(u);
            } else if (u != g.owner) {
                g.members.removeAll(u);
            }
        }
        return ding(0, QStringLiteral("ok"), {{QStringLiteral("result"), true}});
    }
    if (r.path == u"/topapi/im/chat/scenegroup/update") {
        if (b.contains(u"title"))
            g.title = b.value(u"title").toString();
        return ding(0, QStringLiteral("ok"), {{QStringLiteral("result"), true}});
    }
    shapeError(QStringLiteral("unknown call ") + r.path);
    return FakeResponse::json(404, {});
}

im::InboundRequest FakeDingTalk::callback(const QJsonObject &body, qint64 timestampMs) const
{
    im::InboundRequest r;
    r.path = QStringLiteral("/hooks/dingtalk");
    r.body = QJsonDocument(body).toJson(QJsonDocument::Compact);
    const QByteArray ts = QByteArray::number(timestampMs);
    r.setHeader("Content-Type", "application/json");
    r.setHeader("timestamp", ts);
    r.setHeader("sign", im::DingTalkAdapter::sign(ts, appSecret));
    return r;
}

} // namespace iterdeck::testing
