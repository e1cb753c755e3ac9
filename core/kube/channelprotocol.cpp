#include "channelprotocol.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

#include <algorithm>

namespace iterdeck::kube::channel {

ExecResult parseExecStatus(QByteArrayView statusJson)
{
    ExecResult r;
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(statusJson.toByteArray(), &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        r.error = KubeError::make(
            KubeError::Kind::Decode,
            QStringLiteral("the command's status is not a Kubernetes Status: %1")
                .arg(QString::fromUtf8(statusJson.first(std::min<qsizetype>(200, statusJson.size())))));
        return r;
    }
    const QJsonObject o = doc.object();
    const QString status = o.value(QLatin1String("status")).toString();
    if (status == QLatin1String("Success")) {
        r.exitCode = 0;
        return r;
    }
    if (status != QLatin1String("Failure")) {
        r.error = KubeError::make(
            KubeError::Kind::Decode,
            QStringLiteral("the command's status is neither Success nor Failure: \"%1\"").arg(status));
        return r;
    }
    if (o.value(QLatin1String("reason")).toString() == QLatin1String("NonZeroExitCode")) {
        const KubeError e = KubeError::fromStatus(o, 0);
        for (const StatusCause &c : e.causes) {
            if (c.reason != QLatin1String("ExitCode"))
                continue;
            bool ok = false;
            const uint code = c.message.toUInt(&ok, 10);
            if (!ok || code > 255 || c.message.isEmpty() || !c.message.front().isDigit()) {
                r.error = KubeError::make(
                    KubeError::Kind::Decode,
                    QStringLiteral("the command's status has an invalid exit code: \"%1\"").arg(c.message));
                return r;
            }
            r.exitCode = int(code);
            return r;
        }
        r.error = KubeError::make(KubeError::Kind::Decode,
                                  QStringLiteral("the command's status names no exit code: %1").arg(e.message));
        return r;
    }
    r.error = KubeError::fromStatus(o, 0);
    return r;
}

QByteArray resizePayload(int columns, int rows)
{
    return QByteArrayLiteral("{\"Width\":") + QByteArray::number(columns) + QByteArrayLiteral(",\"Height\":")
        + QByteArray::number(rows) + '}';
}

bool parsePortPrefix(QByteArrayView payload, quint16 *port)
{
    if (payload.size() != 2)
        return false;
    *port = quint16(quint8(payload[0]) | (quint8(payload[1]) << 8));
    return true;
}

} // namespace iterdeck::kube::channel
