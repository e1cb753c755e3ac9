#include "adapterfactory.h"

#include "dingtalkadapter.h"
#include "feishuadapter.h"
#include "slackadapter.h"
#include "wecomadapter.h"

#include <QFile>

namespace iterdeck::im {

SecretReader processSecretReader()
{
    return [](const QString &key, const model::SecretRef &ref) -> Expected<QByteArray, ImError> {
        switch (ref.kind) {
        case model::SecretRef::Kind::Env: {
            const QByteArray name = ref.name.toLocal8Bit();
            if (!qEnvironmentVariableIsSet(name.constData()))
                return unexpected(
                    ImError {ImError::Code::Config,
                             QStringLiteral("im.%1: environment variable %2 is not set").arg(key, ref.name)});
            return qgetenv(name.constData());
        }
        case model::SecretRef::Kind::File: {
            QFile f(ref.name);
            if (!f.open(QIODevice::ReadOnly))
                return unexpected(
                    ImError {ImError::Code::Config,
                             QStringLiteral("im.%1: cannot read %2: %3").arg(key, ref.name, f.errorString())});
            QByteArray v = f.read(64 * 1024);
            if (v.endsWith('\n'))
                v.chop(1);
            if (v.endsWith('\r'))
                v.chop(1);
            return v;
        }
        case model::SecretRef::Kind::None:
            break;
        }
        return unexpected(ImError {ImError::Code::Config, QStringLiteral("im.%1 is not set").arg(key)});
    };
}

Expected<ImAdapter *, ImError> createAdapter(const model::ImSettings &settings, QNetworkAccessManager *nam,
                                             QObject *parent, SecretReader readSecret)
{
    if (settings.adapter == u"none")
        return static_cast<ImAdapter *>(nullptr);
    QHash<QString, QByteArray> secrets;
    for (auto it = settings.secrets.cbegin(); it != settings.secrets.cend(); ++it) {
        auto v = readSecret(it.key(), it.value());
        if (!v)
            return unexpected(v.error());
        secrets.insert(it.key(), *v);
    }
    auto value = [&](const char *key) { return settings.values.value(QString::fromLatin1(key)); };
    QUrl base;
    const QString baseText = secrets.contains(QStringLiteral("apiBaseUrl"))
        ? QString::fromUtf8(secrets.value(QStringLiteral("apiBaseUrl"))).trimmed()
        : value("apiBaseUrl");
    if (!baseText.isEmpty()) {
        base = QUrl(baseText, QUrl::StrictMode);
        if (!base.isValid() || (base.scheme() != u"https" && base.scheme() != u"http") || base.host().isEmpty())
            return unexpected(
                ImError {ImError::Code::Config,
                         QStringLiteral("im.apiBaseUrl \"%1\" is not an http or https URL").arg(baseText)});
    }
    auto need = [&](const char *key) -> std::optional<ImError> {
        if (secrets.value(QString::fromLatin1(key)).isEmpty())
            return ImError {ImError::Code::Config, QStringLiteral("im.%1 is empty").arg(QString::fromLatin1(key))};
        return std::nullopt;
    };
    if (settings.adapter == u"slack") {
        for (const char *k : {"botToken", "signingSecret"}) {
            if (auto e = need(k))
                return unexpected(*e);
        }
        SlackAdapter::Settings s;
        if (!base.isEmpty())
            s.apiBaseUrl = base;
        s.botToken = secrets.value(QStringLiteral("botToken"));
        s.signingSecret = secrets.value(QStringLiteral("signingSecret"));
        return static_cast<ImAdapter *>(new SlackAdapter(s, nam, parent));
    }
    if (settings.adapter == u"feishu") {
        if (auto e = need("appSecret"))
            return unexpected(*e);
        FeishuAdapter::Settings s;
        if (!base.isEmpty())
            s.apiBaseUrl = base;
        else if (value("domain") == u"lark")
            s.apiBaseUrl = QUrl(QStringLiteral("https://open.larksuite.com"));
        s.appId = value("appId");
        s.appSecret = secrets.value(QStringLiteral("appSecret"));
        s.verificationToken = secrets.value(QStringLiteral("verificationToken"));
        s.encryptKey = secrets.value(QStringLiteral("encryptKey"));
        if (s.verificationToken.isEmpty() && s.encryptKey.isEmpty())
            return unexpected(ImError {ImError::Code::Config,
                                       QStringLiteral("im: Feishu callbacks cannot be verified without "
                                                      "verificationToken or encryptKey")});
        return static_cast<ImAdapter *>(new FeishuAdapter(s, nam, parent));
    }
    if (settings.adapter == u"wecom") {
        for (const char *k : {"secret", "token", "encodingAESKey"}) {
            if (auto e = need(k))
                return unexpected(*e);
        }
        WeComAdapter::Settings s;
        if (!base.isEmpty())
            s.apiBaseUrl = base;
        s.corpId = value("corpId");
        s.agentId = value("agentId").toInt();
        s.secret = secrets.value(QStringLiteral("secret"));
        s.token = secrets.value(QStringLiteral("token"));
        s.encodingAesKey = secrets.value(QStringLiteral("encodingAESKey"));
        if (!WeComAdapter::aesKey(s.encodingAesKey))
            return unexpected(
                ImError {ImError::Code::Config, QStringLiteral("im.encodingAESKey must be 43 base64 characters")});
        return static_cast<ImAdapter *>(new WeComAdapter(s, nam, parent));
    }
    if (settings.adapter == u"dingtalk") {
        if (auto e = need("appSecret"))
            return unexpected(*e);
        DingTalkAdapter::Settings s;
        if (!base.isEmpty()) {
            s.apiBaseUrl = base;
            s.newApiBaseUrl = base;
        }
        s.appKey = value("appKey");
        s.appSecret = secrets.value(QStringLiteral("appSecret"));
        s.robotCode = value("robotCode");
        s.templateId = value("templateId");
        s.cardTemplateId = value("cardTemplateId");
        return static_cast<ImAdapter *>(new DingTalkAdapter(s, nam, parent));
    }
    return unexpected(
        ImError {ImError::Code::Config, QStringLiteral("unknown IM adapter \"%1\"").arg(settings.adapter)});
}

} // namespace iterdeck::im
