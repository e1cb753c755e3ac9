#include "secrets.h"

#include <QFile>

namespace iterdeck::bot {

Expected<QByteArray, QString> readSecret(const model::SecretRef &ref)
{
    QByteArray value;
    switch (ref.kind) {
    case model::SecretRef::Kind::None:
        return unexpected(QStringLiteral("no secret is configured"));
    case model::SecretRef::Kind::Env:
        if (!qEnvironmentVariableIsSet(ref.name.toLocal8Bit().constData()))
            return unexpected(QStringLiteral("environment variable %1 is not set").arg(ref.name));
        value = qgetenv(ref.name.toLocal8Bit().constData());
        break;
    case model::SecretRef::Kind::File: {
        QFile f(ref.name);
        if (!f.open(QIODevice::ReadOnly))
            return unexpected(QStringLiteral("cannot read secret file %1: %2").arg(ref.name, f.errorString()));
        if (f.size() > 64 * 1024)
            return unexpected(QStringLiteral("secret file %1 is larger than 64 KiB").arg(ref.name));
        value = f.readAll();
        while (value.endsWith('\n') || value.endsWith('\r'))
            value.chop(1);
        break;
    }
    }
    if (value.isEmpty()) {
        return unexpected(ref.kind == model::SecretRef::Kind::Env
                              ? QStringLiteral("environment variable %1 is empty").arg(ref.name)
                              : QStringLiteral("secret file %1 is empty").arg(ref.name));
    }
    return value;
}

} // namespace iterdeck::bot
