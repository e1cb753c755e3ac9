#pragma once

// One fuzz iteration over every IM adapter's inbound path (verify + parse + replay check);
// shared by the libFuzzer target and tst_imcore, which replays the corpus and regressions/im_callbacks.
// Byte 0 chooses: bits 0-1 the adapter (slack, feishu, wecom, dingtalk); bit 2 whether the
// harness signs (and encrypts) the rest as the platform would, so that parsing is reached;
// bit 3 WeCom's GET URL check; bit 4 Slack's JSON (else form) body.
#include "im/crypto.h"
#include "im/dingtalkadapter.h"
#include "im/feishuadapter.h"
#include "im/slackadapter.h"
#include "im/wecomadapter.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace iterdeck::fuzz {

struct ImAdapters
{
    std::unique_ptr<im::SlackAdapter> slack;
    std::unique_ptr<im::FeishuAdapter> feishu;
    std::unique_ptr<im::WeComAdapter> wecom;
    std::unique_ptr<im::DingTalkAdapter> dingtalk;

    ImAdapters()
    {
        im::SlackAdapter::Settings s;
        s.botToken = "xoxb-fuzz";
        s.signingSecret = "slack-secret";
        slack = std::make_unique<im::SlackAdapter>(s, nullptr);
        im::FeishuAdapter::Settings f;
        f.appId = QStringLiteral("cli_fuzz");
        f.appSecret = "feishu-secret";
        f.encryptKey = "feishu-key";
        f.verificationToken = "feishu-token";
        feishu = std::make_unique<im::FeishuAdapter>(f, nullptr);
        im::WeComAdapter::Settings w;
        w.corpId = QStringLiteral("wwfuzz");
        w.agentId = 1;
        w.secret = "wecom-secret";
        w.token = "QDG6eK";
        w.encodingAesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
        wecom = std::make_unique<im::WeComAdapter>(w, nullptr);
        im::DingTalkAdapter::Settings d;
        d.appKey = QStringLiteral("dingfuzz");
        d.appSecret = "ding-secret";
        dingtalk = std::make_unique<im::DingTalkAdapter>(d, nullptr);
    }
};

// Returns false when an outcome breaks the contract (a bug); crashes and hangs are bugs too.
inline bool imCallbackOnce(ImAdapters &a, const uint8_t *data, size_t size, bool *accepted = nullptr)
{
    if (size < 1)
        return true;
    const uint8_t mode = data[0];
    const QByteArray body(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    const qint64 now = 1700000000;
    const QByteArray ts = QByteArray::number(now);
    const bool sign = mode & 4;
    im::InboundRequest r;
    r.body = body;
    im::ImAdapter *adapter = nullptr;
    switch (mode & 3) {
    case 0:
        adapter = a.slack.get();
        r.setHeader("Content-Type", (mode & 16) ? "application/json" : "application/x-www-form-urlencoded");
        r.setHeader("X-Slack-Request-Timestamp", ts);
        r.setHeader("X-Slack-Signature",
                    sign ? "v0=" + im::crypto::hmacSha256("slack-secret", "v0:" + ts + ':' + body).toHex()
                         : body.left(67));
        break;
    case 1: {
        adapter = a.feishu.get();
        if (sign) {
            const QByteArray iv(16, 'i');
            const QByteArray enc
                = iv + im::crypto::aes256CbcEncrypt(im::crypto::sha256("feishu-key"), iv, body).value_or(QByteArray());
            r.body = QJsonDocument(QJsonObject {{QStringLiteral("encrypt"), QString::fromLatin1(enc.toBase64())}})
                         .toJson(QJsonDocument::Compact);
        }
        r.setHeader("X-Lark-Request-Timestamp", ts);
        r.setHeader("X-Lark-Request-Nonce", "n");
        r.setHeader("X-Lark-Signature",
                    sign ? im::crypto::sha256(ts + "n" + "feishu-key" + r.body).toHex() : body.left(64));
        break;
    }
    case 2: {
        adapter = a.wecom.get();
        const QByteArray key = *im::WeComAdapter::aesKey("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
        QByteArray enc = sign ? im::WeComAdapter::encrypt(key, body, "wwfuzz", QByteArray(16, 'r')) : body.left(200);
        if (mode & 8) {
            r.method = "GET";
            r.body.clear();
            r.query.addQueryItem(QStringLiteral("echostr"),
                                 QString::fromLatin1(QUrl::toPercentEncoding(QString::fromLatin1(enc))));
        } else if (sign) {
            r.body = "<xml><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>";
        }
        r.query.addQueryItem(QStringLiteral("msg_signature"),
                             sign ? im::WeComAdapter::signature("QDG6eK", ts, "1", enc)
                                  : QString::fromLatin1(body.left(40).toHex()));
        r.query.addQueryItem(QStringLiteral("timestamp"), QString::fromLatin1(ts));
        r.query.addQueryItem(QStringLiteral("nonce"), QStringLiteral("1"));
        break;
    }
    default: {
        adapter = a.dingtalk.get();
        const QByteArray ms = ts + "000";
        r.setHeader("timestamp", ms);
        r.setHeader("sign", sign ? im::DingTalkAdapter::sign(ms, "ding-secret") : body.left(44));
        break;
    }
    }
    const auto ev = adapter->receive(r, QDateTime::fromSecsSinceEpoch(now, Qt::UTC));
    if (accepted)
        *accepted = ev.hasValue();
    if (!ev) {
        const int status = ev.error().inboundStatus();
        return !ev.error().message.isEmpty() && (status == 200 || status == 400 || status == 401);
    }
    if (ev->kind == im::InboundEvent::Kind::CardAction && ev->action.cardId.isEmpty() && (mode & 3) != 2)
        return false;
    if (ev->kind == im::InboundEvent::Kind::UrlVerification && ev->answer.body.isEmpty())
        return false;
    return true;
}

} // namespace iterdeck::fuzz
