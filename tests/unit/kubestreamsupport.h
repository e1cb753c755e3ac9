#pragma once
// Shared by the exec and port-forward tests: the sandbox's client configuration, waited-for
// KubeClient calls for test setup (pods, deployments), and a fake peer for the upgrade's failures.
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "kube/transport.h"
#include "testutil/sandboxserver.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <functional>
#include <memory>
#include <optional>

namespace iterdeck::testing {

// The sandbox's kubeconfig context (sandbox-admin: token; sandbox-developer: client certificate).
inline kube::ClientConfig sandboxConfig(const SandboxServer &sandbox,
                                        const QString &context = QStringLiteral("sandbox-admin"))
{
    kube::KubeconfigOptions o;
    o.kubeconfigFlag = sandbox.kubeconfigPath();
    o.context = context;
    auto c = kube::loadClientConfig(o);
    if (!c)
        qFatal("kubeconfig: %s", qPrintable(c.error().message));
    return *c;
}

// KubeClient::transport(), waited for.
inline kube::Transport transportOf(kube::KubeClient &client)
{
    std::optional<kube::Transport> t;
    QObject context;
    client.transport(&context, [&](const Expected<kube::Transport, kube::KubeError> &r) {
        if (!r)
            qFatal("transport: %s", qPrintable(r.error().toString()));
        t = *r;
    });
    if (!QTest::qWaitFor([&] { return t.has_value(); }, 30000))
        qFatal("transport: no answer");
    return *t;
}

struct CallResult
{
    bool ok = false;
    kube::KubeError error;
    QJsonObject object;
};

// Test setup only: a KubeCall, waited for.
inline CallResult await(kube::KubeCall *call, int timeoutMs = 30000)
{
    CallResult r;
    bool done = false;
    QObject::connect(call, &kube::KubeCall::finished, call, [&] {
        done = true;
        r.ok = call->isOk();
        r.error = call->error();
        if (auto o = call->object())
            r.object = *o;
    });
    if (!QTest::qWaitFor([&] { return done; }, timeoutMs))
        r.error = kube::KubeError::make(kube::KubeError::Kind::Timeout, QStringLiteral("test gave up waiting"));
    return r;
}

inline bool podIsReady(const QJsonObject &pod)
{
    const QJsonArray conditions
        = pod.value(QLatin1String("status")).toObject().value(QLatin1String("conditions")).toArray();
    for (const QJsonValue &c : conditions)
        if (c.toObject().value(QLatin1String("type")).toString() == QLatin1String("Ready"))
            return c.toObject().value(QLatin1String("status")).toString() == QLatin1String("True");
    return false;
}

// Creates the pod and waits until it runs (and is Ready, when asked).
inline bool createPod(kube::KubeClient &client, const QString &ns, const QJsonObject &pod, bool ready = false)
{
    const CallResult created = await(client.create(kube::ResourceRef::pods(), ns, pod));
    if (!created.ok) {
        qWarning("create pod: %s", qPrintable(created.error.toString()));
        return false;
    }
    const QString name = pod.value(QLatin1String("metadata")).toObject().value(QLatin1String("name")).toString();
    QJsonObject last;
    const bool ok = QTest::qWaitFor(
        [&] {
            last = await(client.get(kube::ResourceRef::pods(), ns, name)).object;
            const QString phase
                = last.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString();
            return phase == QLatin1String("Running") && (!ready || podIsReady(last));
        },
        20000);
    if (!ok)
        qWarning("pod %s did not get ready: %s", qPrintable(name),
                 QJsonDocument(last.value(QLatin1String("status")).toObject()).toJson().constData());
    return ok;
}

// A pod of iterdeck/sandbox-base that sleeps (exec targets) in `ns`.
inline QJsonObject sleeperPod(const QString &name)
{
    return QJsonDocument::fromJson(QStringLiteral(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"%1"},
        "spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"main","image":"iterdeck/sandbox-base:latest",
        "command":["sleep","3600"]}]}})")
                                       .arg(name)
                                       .toUtf8())
        .object();
}

// A plain TCP peer that answers an upgrade request the way `answer` says (given the request,
// with the WebSocket accept value for its key). `answer` returning a null array sends nothing;
// closeAfter closes the connection after the answer.
class FakeUpgradeServer
{
public:
    struct Reply
    {
        QByteArray bytes; // null = stay silent
        bool closeAfter = false;
    };
    using Answer = std::function<Reply(const QByteArray &request, const QByteArray &acceptKey)>;

    explicit FakeUpgradeServer(Answer answer)
        : m_answer(std::move(answer))
    {
        QVERIFY(m_server.listen(QHostAddress::LocalHost, 0));
        QObject::connect(&m_server, &QTcpServer::newConnection, &m_server, [this] {
            while (QTcpSocket *s = m_server.nextPendingConnection()) {
                ++m_connections;
                auto buffer = std::make_shared<QByteArray>();
                QObject::connect(s, &QTcpSocket::readyRead, s, [this, s, buffer] {
                    *buffer += s->readAll();
                    const qsizetype end = buffer->indexOf("\r\n\r\n");
                    if (end < 0 || buffer->isEmpty())
                        return;
                    const QByteArray request = buffer->left(end + 4);
                    buffer->clear();
                    m_lastRequest = request;
                    QByteArray key;
                    for (const QByteArray &line : request.split('\n'))
                        if (line.toLower().startsWith("sec-websocket-key:"))
                            key = line.mid(18).trimmed();
                    const QByteArray input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
                    const QByteArray accept = QCryptographicHash::hash(input, QCryptographicHash::Sha1).toBase64();
                    const Reply r = m_answer(request, accept);
                    if (!r.bytes.isNull())
                        s->write(r.bytes);
                    if (r.closeAfter)
                        s->disconnectFromHost();
                });
                QObject::connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            }
        });
    }

    kube::Transport transport() const
    {
        kube::Transport t;
        t.server = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_server.serverPort()));
        return t;
    }
    quint16 port() const { return m_server.serverPort(); }
    int connections() const { return m_connections; }
    QByteArray lastRequest() const { return m_lastRequest; }

private:
    Answer m_answer;
    QTcpServer m_server;
    int m_connections = 0;
    QByteArray m_lastRequest;
};

// An unmasked server frame.
inline QByteArray serverFrame(quint8 opcode, const QByteArray &payload, bool fin = true)
{
    QByteArray f;
    f += char((fin ? 0x80 : 0) | opcode);
    if (payload.size() < 126) {
        f += char(payload.size());
    } else if (payload.size() <= 0xffff) {
        f += char(126);
        f += char(payload.size() >> 8);
        f += char(payload.size() & 0xff);
    } else {
        f += char(127);
        for (int shift = 56; shift >= 0; shift -= 8)
            f += char((quint64(payload.size()) >> shift) & 0xff);
    }
    return f + payload;
}

} // namespace iterdeck::testing
