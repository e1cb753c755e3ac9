// Throughput of exec and port-forward against the in-process sandbox cluster (HTTPS), with
// kubectl's exec as the reference:
//   exec cat      N MB stdin -> cat -> stdout through ExecSession (both directions at once)
//   kubectl cat   kubectl exec -i POD -- cat < file > out, same pod, same server
//   pf echo       N MB to an echo server through PortForwarder and back (both directions at once)
//   pf download   N MB from the pod through PortForwarder
//   kubectl pf    the same two through `kubectl port-forward` (SPDY; the sandbox serves it)
// Usage: bench_kubestreams [--mb N] [--runs R] [--kubectl PATH] [--only exec|kubectl|pf] (a prefix
// of the row names)
#include "kube/exec.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "kube/portforward.h"
#include "testutil/podprograms.h"
#include "testutil/sandboxserver.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRandomGenerator>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <functional>

using namespace iterdeck;
using namespace iterdeck::kube;

namespace {

bool waitFor(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeoutMs)
            return false;
        QEventLoop loop;
        QTimer::singleShot(5, &loop, &QEventLoop::quit);
        loop.exec();
    }
    return true;
}

bool awaitCall(KubeCall *call, QJsonObject *object = nullptr)
{
    bool done = false, ok = false;
    QObject::connect(call, &KubeCall::finished, call, [&] {
        done = true;
        ok = call->isOk();
        if (!ok)
            std::fprintf(stderr, "call failed: %s\n", qPrintable(call->error().toString()));
        if (object)
            if (auto o = call->object())
                *object = *o;
    });
    waitFor([&] { return done; }, 30000);
    return ok;
}

bool podRunning(KubeClient &client, const QString &name)
{
    return waitFor(
        [&] {
            QJsonObject pod;
            awaitCall(client.get(ResourceRef::pods(), QStringLiteral("default"), name), &pod);
            return pod.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString()
                == QLatin1String("Running");
        },
        20000);
}

// Pod addresses repeat across sandboxes on one machine: ports of our own avoid clashes.
const quint16 echoPort = quint16(40000 + QCoreApplication::applicationPid() % 20000);
const quint16 sourcePort = echoPort + 1;

QJsonObject pod(const QString &name, const QStringList &command)
{
    QJsonObject container {{QStringLiteral("name"), QStringLiteral("main")},
                           {QStringLiteral("image"), QStringLiteral("iterdeck/sandbox-base:latest")},
                           {QStringLiteral("command"), QJsonArray::fromStringList(command)},
                           {QStringLiteral("env"),
                            QJsonArray {QJsonObject {{QStringLiteral("name"), QStringLiteral("ECHO_PORT")},
                                                     {QStringLiteral("value"), QString::number(echoPort)}},
                                        QJsonObject {{QStringLiteral("name"), QStringLiteral("SOURCE_PORT")},
                                                     {QStringLiteral("value"), QString::number(sourcePort)}}}}};
    return {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
            {QStringLiteral("kind"), QStringLiteral("Pod")},
            {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("name"), name}}},
            {QStringLiteral("spec"), QJsonObject {{QStringLiteral("containers"), QJsonArray {container}}}}};
}

// Seconds for exec cat of `data`, or -1.
double execCat(const Transport &t, const QByteArray &data)
{
    ExecOptions o;
    o.ns = QStringLiteral("default");
    o.pod = QStringLiteral("bench");
    o.command = {QStringLiteral("cat")};
    o.stdinEnabled = true;
    ExecSession s;
    qint64 written = 0, received = 0;
    bool finished = false;
    auto feed = [&] {
        while (written < data.size() && s.stdinBytesToWrite() < 4 * 1024 * 1024) {
            const qint64 n = std::min<qint64>(1024 * 1024, data.size() - written);
            s.writeStdin(data.mid(written, n));
            written += n;
        }
        if (written == data.size())
            s.closeStdin();
    };
    QObject::connect(&s, &ExecSession::started, &s, feed);
    QObject::connect(&s, &ExecSession::stdinBytesWritten, &s, [&] {
        if (written < data.size())
            feed();
    });
    QObject::connect(&s, &ExecSession::stdoutReady, &s, [&] { received += s.readStdout().size(); });
    QObject::connect(&s, &ExecSession::finished, &s, [&] { finished = true; });
    QElapsedTimer timer;
    timer.start();
    s.start(t, o);
    waitFor([&] { return finished; }, 600000);
    received += s.readStdout().size();
    const double secs = timer.nsecsElapsed() / 1e9;
    if (s.error().isError() || s.exitCode() != 0 || received != data.size()) {
        std::fprintf(stderr, "exec cat: %s, exit %d, %lld of %lld bytes\n", qPrintable(s.error().message), s.exitCode(),
                     received, qint64(data.size()));
        return -1;
    }
    return secs;
}

double kubectlCat(const QString &kubectl, const QString &kubeconfig, const QString &file, const QString &out,
                  qint64 size)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    p.setStandardInputFile(file);
    p.setStandardOutputFile(out);
    QElapsedTimer timer;
    timer.start();
    p.start(kubectl,
            {QStringLiteral("--kubeconfig"), kubeconfig, QStringLiteral("exec"), QStringLiteral("-i"),
             QStringLiteral("bench"), QStringLiteral("--"), QStringLiteral("cat")});
    bool finished = false;
    QObject::connect(&p, &QProcess::finished, &p, [&] { finished = true; });
    waitFor([&] { return finished; }, 600000);
    const double secs = timer.nsecsElapsed() / 1e9;
    if (p.exitCode() != 0 || QFileInfo(out).size() != size) {
        std::fprintf(stderr, "kubectl: exit %d, %lld bytes\n", p.exitCode(), QFileInfo(out).size());
        return -1;
    }
    return secs;
}

double pfEcho(quint16 port, const QByteArray &data)
{
    QTcpSocket s;
    qint64 sent = 0, received = 0;
    auto feed = [&] {
        while (sent < data.size() && s.bytesToWrite() < 4 * 1024 * 1024) {
            const qint64 n = std::min<qint64>(1024 * 1024, data.size() - sent);
            s.write(data.constData() + sent, n);
            sent += n;
        }
    };
    QObject::connect(&s, &QTcpSocket::connected, &s, feed);
    QObject::connect(&s, &QTcpSocket::bytesWritten, &s, feed);
    QObject::connect(&s, &QTcpSocket::readyRead, &s, [&] { received += s.readAll().size(); });
    QElapsedTimer timer;
    timer.start();
    s.connectToHost(QHostAddress::LocalHost, port);
    waitFor([&] { return received >= data.size() || s.state() == QAbstractSocket::UnconnectedState; }, 600000);
    const double secs = timer.nsecsElapsed() / 1e9;
    if (received != data.size()) {
        std::fprintf(stderr, "pf echo: %lld of %lld bytes\n", received, qint64(data.size()));
        return -1;
    }
    return secs;
}

double pfDownload(quint16 port, qint64 size)
{
    QTcpSocket s;
    qint64 received = 0;
    QObject::connect(&s, &QTcpSocket::connected, &s, [&] { s.write(QByteArray::number(size) + '\n'); });
    QObject::connect(&s, &QTcpSocket::readyRead, &s, [&] { received += s.readAll().size(); });
    QElapsedTimer timer;
    timer.start();
    s.connectToHost(QHostAddress::LocalHost, port);
    waitFor([&] { return received >= size || s.state() == QAbstractSocket::UnconnectedState; }, 600000);
    const double secs = timer.nsecsElapsed() / 1e9;
    if (received != size) {
        std::fprintf(stderr, "pf download: %lld of %lld bytes\n", received, size);
        return -1;
    }
    return secs;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QStringList args = app.arguments();
    int mb = 200, runs = 3;
    QString kubectl = QStringLiteral("/usr/bin/kubectl"), only;
    for (int i = 1; i + 1 < args.size(); i += 2) {
        if (args[i] == QLatin1String("--mb"))
            mb = args[i + 1].toInt();
        else if (args[i] == QLatin1String("--runs"))
            runs = args[i + 1].toInt();
        else if (args[i] == QLatin1String("--kubectl"))
            kubectl = args[i + 1];
        else if (args[i] == QLatin1String("--only"))
            only = args[i + 1];
    }
    QTemporaryDir dir;
    testing::SandboxServer sandbox(dir.path());
    if (!sandbox.isRunning()) {
        std::fprintf(stderr, "sandbox: %s\n", qPrintable(sandbox.errorString()));
        return 1;
    }
    KubeconfigOptions ko;
    ko.kubeconfigFlag = sandbox.kubeconfigPath();
    auto config = loadClientConfig(ko);
    if (!config) {
        std::fprintf(stderr, "kubeconfig: %s\n", qPrintable(config.error().message));
        return 1;
    }
    KubeClient client(*config);
    std::optional<Transport> transport;
    client.transport(&app, [&](const Expected<Transport, KubeError> &t) {
        if (t)
            transport = *t;
    });
    waitFor([&] { return transport.has_value(); }, 10000);
    awaitCall(client.create(ResourceRef::pods(), QStringLiteral("default"),
                            pod(QStringLiteral("bench"), {QStringLiteral("sleep"), QStringLiteral("3600")})));
    awaitCall(client.create(
        ResourceRef::pods(), QStringLiteral("default"),
        pod(QStringLiteral("echo"),
            {QStringLiteral("python3"), QStringLiteral("-c"), QString::fromLatin1(iterdeck::testing::echoServer)})));
    if (!transport || !podRunning(client, QStringLiteral("bench")) || !podRunning(client, QStringLiteral("echo"))) {
        std::fprintf(stderr, "setup failed\n");
        return 1;
    }

    QByteArray data(qsizetype(mb) * 1024 * 1024, Qt::Uninitialized);
    QRandomGenerator gen(1);
    gen.fillRange(reinterpret_cast<quint32 *>(data.data()), data.size() / 4);
    const QString file = dir.filePath(QStringLiteral("data.bin"));
    const QString out = dir.filePath(QStringLiteral("out.bin"));
    {
        QFile f(file);
        if (!f.open(QIODevice::WriteOnly) || f.write(data) != data.size())
            return 1;
    }

    PortForwarder forwarder(&client, {QStringLiteral("default"), QStringLiteral("echo"), {}},
                            {{0, echoPort}, {0, sourcePort}});
    forwarder.start();
    waitFor([&] { return forwarder.state() == PortForwarder::State::Listening; }, 10000);

    auto report = [&](const char *name, const std::function<double()> &run) {
        if (!only.isEmpty() && !QString::fromLatin1(name).startsWith(only))
            return;
        QList<double> mbps;
        for (int i = 0; i < runs; ++i) {
            const double secs = run();
            if (secs > 0)
                mbps << mb / secs;
        }
        std::sort(mbps.begin(), mbps.end());
        if (mbps.isEmpty()) {
            std::printf("| %-19s | failed |\n", name);
        } else {
            std::printf("| %-19s | %4d MB | median %7.1f MB/s | best %7.1f MB/s | runs %lld |\n", name, mb,
                        mbps[mbps.size() / 2], mbps.last(), qint64(mbps.size()));
        }
        std::fflush(stdout);
    };
    // kubectl port-forward to the same pod and ports, on two free local ports.
    quint16 kubectlPorts[2] = {0, 0};
    for (quint16 &p : kubectlPorts) {
        QTcpServer probe;
        probe.listen(QHostAddress::LocalHost, 0);
        p = probe.serverPort();
    }
    QProcess kubectlForward;
    QByteArray kubectlOut;
    if (only.isEmpty() || only.startsWith(QLatin1String("kubectl"))) {
        QObject::connect(&kubectlForward, &QProcess::readyReadStandardOutput, &kubectlForward,
                         [&] { kubectlOut += kubectlForward.readAllStandardOutput(); });
        kubectlForward.start(kubectl,
                             {QStringLiteral("--kubeconfig"), sandbox.kubeconfigPath(), QStringLiteral("port-forward"),
                              QStringLiteral("pod/echo"), QStringLiteral("%1:%2").arg(kubectlPorts[0]).arg(echoPort),
                              QStringLiteral("%1:%2").arg(kubectlPorts[1]).arg(sourcePort)});
        if (!waitFor([&] { return kubectlOut.count("Forwarding from") >= 2; }, 15000))
            std::fprintf(stderr, "kubectl port-forward did not start: %s\n", kubectlOut.constData());
    }

    report("exec cat", [&] { return execCat(*transport, data); });
    report("kubectl cat", [&] { return kubectlCat(kubectl, sandbox.kubeconfigPath(), file, out, data.size()); });
    report("pf echo", [&] { return pfEcho(forwarder.localPort(0), data); });
    report("pf download", [&] { return pfDownload(forwarder.localPort(1), data.size()); });
    report("kubectl pf echo", [&] { return pfEcho(kubectlPorts[0], data); });
    report("kubectl pf download", [&] { return pfDownload(kubectlPorts[1], data.size()); });
    kubectlForward.terminate();
    kubectlForward.waitForFinished(5000);
    return 0;
}
