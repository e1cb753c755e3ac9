// Dev mode end to end: iterdeckctl dev against the sandbox cluster (bubblewrap pods, HTTPS),
// with the real agent installed over exec, the real sync and port-forwards. The CLI is killed
// with SIGKILL half-way, as a crash would, and `dev reset` must restore the workload exactly.
#include "testutil/sandboxserver.h"

#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include <signal.h>

using iterdeck::testing::SandboxServer;

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out, err;
};

const char *kManifests = R"(apiVersion: v1
kind: Namespace
metadata: {name: dev-a}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: dev-a
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes: [{name: scratch, emptyDir: {}}]
      containers:
      - name: web
        image: iterdeck/demo-web:1.0
        env: [{name: GREETING, value: hello}]
        volumeMounts: [{name: scratch, mountPath: /scratch}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        livenessProbe: {tcpSocket: {port: 8080}}
      - name: worker
        image: iterdeck/demo-worker:1.0
        readinessProbe: {exec: {command: [sh, -c, "true"]}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: dev-a}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: dev-a}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: dev-a}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: iterdeck/demo-worker:1.0
        readinessProbe: {exec: {command: [sh, -c, "true"]}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: team}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: iterdeck/demo-worker:1.0}]
)";

const char *kDevConfig = R"(name: web
serviceType: deployment
containers:
  - name: web
    dev:
      image: iterdeck/sandbox-base:latest
      workDir: /home/dev
      shell: sh
      command:
        run: ["python3", "-m", "http.server", "9000"]
        debug: ["echo", "debugging", "$$GREETING", "$$DEBUG"]
      env:
        - name: DEBUG
          value: "1"
      portForward:
        - ":9000"
)";

const char *kStsConfig = R"(name: db
serviceType: statefulset
containers:
  - name: db
    dev:
      image: iterdeck/sandbox-base:latest
      workDir: /work
)";

} // namespace

class TestDevMode : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxServer> m_sandbox;
    const QString m_ns = QStringLiteral("dev-a");

    QProcessEnvironment env(const QString &user = QStringLiteral("tester")) const
    {
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        e.insert(QStringLiteral("KUBECONFIG"), m_sandbox->kubeconfigPath());
        e.insert(QStringLiteral("HOME"), m_dir.path());
        e.insert(QStringLiteral("XDG_STATE_HOME"), m_dir.filePath(QStringLiteral("state")));
        e.insert(QStringLiteral("ITERDECK_AGENT"), QStringLiteral(ITERDECK_AGENT_PATH));
        e.insert(QStringLiteral("ITERDECK_USER"), user);
        return e;
    }
    Run ctl(const QStringList &args, const QString &user = QStringLiteral("tester"), int timeoutMs = 90000)
    {
        QProcess p;
        p.setProcessEnvironment(env(user));
        p.start(QStringLiteral(ITERDECKCTL_PATH), args);
        Run r;
        if (!p.waitForStarted())
            return r;
        p.closeWriteChannel();
        if (!p.waitForFinished(timeoutMs)) {
            p.kill();
            p.waitForFinished();
        }
        r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        r.out = p.readAllStandardOutput();
        r.err = p.readAllStandardError();
        return r;
    }
    // A long-running iterdeckctl (dev start, dev run) in the background.
    std::unique_ptr<QProcess> spawn(const QStringList &args, const QString &user = QStringLiteral("tester"))
    {
        auto p = std::make_unique<QProcess>();
        p->setProcessEnvironment(env(user));
        p->start(QStringLiteral(ITERDECKCTL_PATH), args);
        p->waitForStarted();
        return p;
    }
    // Waits until the process printed `marker` on stdout; returns everything it printed.
    static bool waitOutput(QProcess *p, const QByteArray &marker, QByteArray *out, int timeoutMs = 60000)
    {
        return QTest::qWaitFor(
                   [&] {
                       *out += p->readAllStandardOutput();
                       return out->contains(marker) || p->state() == QProcess::NotRunning;
                   },
                   timeoutMs)
            && out->contains(marker);
    }
    static void kill9(QProcess *p)
    {
        ::kill(pid_t(p->processId()), SIGKILL);
        p->waitForFinished(5000);
    }
    QJsonObject getJson(const QString &what, const QString &name)
    {
        const Run r = ctl({QStringLiteral("get"), what, name, QStringLiteral("-n"), m_ns, QStringLiteral("-o"),
                           QStringLiteral("json")});
        return QJsonDocument::fromJson(r.out).object();
    }
    QByteArray catInPod(const QString &target, const QString &container, const QString &path)
    {
        return ctl({QStringLiteral("exec"), target, QStringLiteral("-n"), m_ns, QStringLiteral("-c"), container,
                    QStringLiteral("--"), QStringLiteral("cat"), path})
            .out;
    }
    static QByteArray httpGet(quint16 port)
    {
        QNetworkAccessManager nam;
        QNetworkRequest req(QUrl(QStringLiteral("http://127.0.0.1:%1/").arg(port)));
        req.setTransferTimeout(5000);
        QNetworkReply *reply = nam.get(req);
        QEventLoop loop;
        connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
        loop.exec();
        reply->deleteLater();
        return reply->error() == QNetworkReply::NoError ? reply->readAll() : QByteArray();
    }
    QString localDir(const QString &name, const char *config)
    {
        const QString dir = m_dir.filePath(name);
        QDir().mkpath(dir + QStringLiteral("/.nocalhost"));
        QFile f(dir + QStringLiteral("/.nocalhost/config.yaml"));
        if (f.open(QIODevice::WriteOnly))
            f.write(config);
        return dir;
    }
    static void writeFile(const QString &path, const QByteArray &content)
    {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
    }
    // What must come back exactly after dev mode: the spec (containers, probes, replicas,
    // strategy, volumes), labels, and the annotations other than the controller's revision.
    static QJsonObject comparable(QJsonObject o)
    {
        QJsonObject meta = o.value(QStringLiteral("metadata")).toObject();
        QJsonObject ann = meta.value(QStringLiteral("annotations")).toObject();
        ann.remove(QStringLiteral("deployment.kubernetes.io/revision"));
        return QJsonObject {{QStringLiteral("spec"), o.value(QStringLiteral("spec"))},
                            {QStringLiteral("labels"), meta.value(QStringLiteral("labels"))},
                            {QStringLiteral("annotations"), ann},
                            {QStringLiteral("uid"), meta.value(QStringLiteral("uid"))}};
    }
    QList<QString> endpointIps(const QString &service)
    {
        QList<QString> ips;
        const QJsonObject ep = getJson(QStringLiteral("endpoints"), service);
        for (const QJsonValue &s : ep.value(QStringLiteral("subsets")).toArray())
            for (const QJsonValue &a : s.toObject().value(QStringLiteral("addresses")).toArray())
                ips << a.toObject().value(QStringLiteral("ip")).toString();
        return ips;
    }
    bool waitReady(const QString &deployment, int replicas)
    {
        return QTest::qWaitFor(
            [&] {
                const QJsonObject d = getJson(QStringLiteral("deployment"), deployment);
                const QJsonObject st = d.value(QStringLiteral("status")).toObject();
                return st.value(QStringLiteral("readyReplicas")).toInt() == replicas
                    && st.value(QStringLiteral("replicas")).toInt() == replicas;
            },
            60000);
    }

private Q_SLOTS:
    // Whatever a failed test left in dev mode is restored before the next one.
    void cleanup()
    {
        if (m_sandbox)
            ctl({QStringLiteral("dev"), QStringLiteral("reset"), QStringLiteral("-n"), m_ns});
    }

    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        if (QStandardPaths::findExecutable(QStringLiteral("bwrap")).isEmpty())
            QSKIP("bubblewrap is not installed: dev-mode paths such as /home/dev need isolated pods");
        m_sandbox
            = std::make_unique<SandboxServer>(m_dir.filePath(QStringLiteral("sandbox")), QStringLiteral("bubblewrap"));
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
        QFile manifests(m_dir.filePath(QStringLiteral("app.yaml")));
        QVERIFY(manifests.open(QIODevice::WriteOnly));
        manifests.write(kManifests);
        manifests.close();
        const Run r = ctl({QStringLiteral("apply"), QStringLiteral("-f"), manifests.fileName()});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY(waitReady(QStringLiteral("web"), 2));
    }

    // Bad requests are refused before anything is touched, each with its reason.
    void refusals_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("message");
        const QString ns = QStringLiteral("-n"), dev = QStringLiteral("dev-a");
        QTest::newRow("daemonset") << QStringList {QStringLiteral("ds/agent"), ns, dev, QStringLiteral("--no-sync")}
                                   << 2 << QStringLiteral("dev mode for ds is not supported yet");
        QTest::newRow("bare name") << QStringList {QStringLiteral("web"), ns, dev, QStringLiteral("--no-sync")} << 2
                                   << QStringLiteral("name the workload as deploy/NAME or sts/NAME");
        QTest::newRow("missing workload")
            << QStringList {QStringLiteral("deploy/nope"), ns, dev, QStringLiteral("--no-sync")} << 1
            << QStringLiteral("deploy/nope not found in namespace \"dev-a\"");
        QTest::newRow("no dev image") << QStringList {QStringLiteral("deploy/web"), ns, dev,
                                                      QStringLiteral("--no-sync")}
                                      << 1 << QStringLiteral("no dev image for deploy/web");
        QTest::newRow("unknown container")
            << QStringList {QStringLiteral("deploy/web"),
                            ns,
                            dev,
                            QStringLiteral("--no-sync"),
                            QStringLiteral("-c"),
                            QStringLiteral("nope"),
                            QStringLiteral("--image"),
                            QStringLiteral("iterdeck/sandbox-base:latest")}
            << 1 << QStringLiteral("container \"nope\" not found in deploy/web (it has: web, worker)");
        // The developer may change things in dev-* namespaces only: the preflight says so.
        QTest::newRow("rbac")
            << QStringList {QStringLiteral("deploy/api"), ns,
                            QStringLiteral("team"),       QStringLiteral("--no-sync"),
                            QStringLiteral("--context"),  QStringLiteral("sandbox-developer"),
                            QStringLiteral("--image"),    QStringLiteral("iterdeck/sandbox-base:latest")}
            << 1
            << QStringLiteral("your account may not use dev mode on deploy/api here: it cannot patch resource "
                              "\"deployments\" in API group \"apps\" in the namespace \"team\"");
    }
    void refusals()
    {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QString, message);
        const QJsonObject before = comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web")));
        const Run r = ctl(QStringList {QStringLiteral("dev"), QStringLiteral("start")} << args);
        QCOMPARE(r.exitCode, exitCode);
        QVERIFY2(r.err.contains(message.toUtf8()), r.err.constData());
        QCOMPARE(comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web"))), before);
    }

    void replaceModeRoundTrip()
    {
        const QJsonObject original = getJson(QStringLiteral("deployment"), QStringLiteral("web"));
        const QJsonObject hpaBefore
            = getJson(QStringLiteral("hpa"), QStringLiteral("web")).value(QStringLiteral("spec")).toObject();
        const QString src = localDir(QStringLiteral("web-src"), kDevConfig);
        writeFile(src + QStringLiteral("/index.txt"), "first\n");
        auto start = spawn({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("deploy/web"),
                            QStringLiteral("-n"), m_ns, QStringLiteral("--local"), src});
        QByteArray out;
        QVERIFY2(waitOutput(start.get(), "syncing; press Ctrl+C", &out),
                 QByteArray(out + start->readAllStandardError()).constData());
        const QRegularExpressionMatch m = QRegularExpression(QStringLiteral("Forwarding from 127.0.0.1:(\\d+) -> 9000"))
                                              .match(QString::fromUtf8(out));
        QVERIFY2(m.hasMatch(), out.constData());
        const quint16 port = m.captured(1).toUShort();

        // The pod runs the dev image, with no probes anywhere; the HPA holds it at one.
        const QJsonObject dev = getJson(QStringLiteral("deployment"), QStringLiteral("web"));
        QCOMPARE(dev.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("uid")),
                 original.value(QStringLiteral("metadata")).toObject().value(QStringLiteral("uid")));
        const QJsonObject devSpec = dev.value(QStringLiteral("spec")).toObject();
        QCOMPARE(devSpec.value(QStringLiteral("replicas")).toInt(), 1);
        QCOMPARE(devSpec.value(QStringLiteral("strategy")).toObject().value(QStringLiteral("type")).toString(),
                 QStringLiteral("Recreate"));
        for (const QJsonValue &c : devSpec.value(QStringLiteral("template"))
                                       .toObject()
                                       .value(QStringLiteral("spec"))
                                       .toObject()
                                       .value(QStringLiteral("containers"))
                                       .toArray()) {
            QVERIFY(!c.toObject().contains(QStringLiteral("readinessProbe")));
            QVERIFY(!c.toObject().contains(QStringLiteral("livenessProbe")));
        }
        const QJsonObject hpa
            = getJson(QStringLiteral("hpa"), QStringLiteral("web")).value(QStringLiteral("spec")).toObject();
        QCOMPARE(hpa.value(QStringLiteral("maxReplicas")).toInt(), 1);

        // A file written locally appears in the container.
        QTRY_COMPARE_WITH_TIMEOUT(
            catInPod(QStringLiteral("deploy/web"), QStringLiteral("web"), QStringLiteral("/home/dev/index.txt")),
            QByteArray("first\n"), 10000);
        writeFile(src + QStringLiteral("/later.txt"), "second\n");
        QTRY_COMPARE_WITH_TIMEOUT(
            catInPod(QStringLiteral("deploy/web"), QStringLiteral("web"), QStringLiteral("/home/dev/later.txt")),
            QByteArray("second\n"), 10000);

        // dev debug runs the config's command in the workDir with the config's env.
        const Run debug = ctl(
            {QStringLiteral("dev"), QStringLiteral("debug"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns});
        QCOMPARE(debug.exitCode, 0);
        QCOMPARE(debug.out, QByteArray("debugging hello 1\n"));

        // dev run serves the synced folder; an HTTP request through the port-forward reaches it.
        auto run = spawn(
            {QStringLiteral("dev"), QStringLiteral("run"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns});
        QByteArray page;
        QVERIFY2(QTest::qWaitFor(
                     [&] {
                         page = httpGet(port);
                         return page.contains("later.txt");
                     },
                     20000),
                 page.constData());
        QVERIFY(page.contains("index.txt"));

        // dev status shows it, with the config's source.
        const Run status = ctl(
            {QStringLiteral("dev"), QStringLiteral("status"), QStringLiteral("-n"), m_ns, QStringLiteral("--json")});
        const QJsonArray items = QJsonDocument::fromJson(status.out).object().value(QStringLiteral("items")).toArray();
        QCOMPARE(items.size(), 1);
        QCOMPARE(items.at(0).toObject().value(QStringLiteral("configSource")).toString(), QStringLiteral("local"));
        QCOMPARE(items.at(0).toObject().value(QStringLiteral("workload")).toString(), QStringLiteral("deploy/web"));

        // Another user cannot take it over, and is told whose it is.
        const Run other = ctl({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("deploy/web"),
                               QStringLiteral("-n"), m_ns, QStringLiteral("--no-sync")},
                              QStringLiteral("alice"));
        QCOMPARE(other.exitCode, 1);
        QVERIFY2(other.err.contains("is in dev mode by tester@"), other.err.constData());

        // A crash: both processes die at once. Dev mode is still on: the next start resumes it
        // (no new patch) and finds the agent already installed.
        kill9(run.get());
        kill9(start.get());
        const QString rvBefore = getJson(QStringLiteral("deployment"), QStringLiteral("web"))
                                     .value(QStringLiteral("metadata"))
                                     .toObject()
                                     .value(QStringLiteral("resourceVersion"))
                                     .toString();
        auto resumed = spawn({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("deploy/web"),
                              QStringLiteral("-n"), m_ns, QStringLiteral("--local"), src});
        QByteArray resumedOut;
        const bool resumedReady = waitOutput(resumed.get(), "syncing; press Ctrl+C", &resumedOut);
        const QByteArray resumedErr = resumed->readAllStandardError();
        QVERIFY2(resumedReady, QByteArray(resumedOut + resumedErr).constData());
        QVERIFY(resumedOut.contains("(resumed)"));
        QVERIFY2(resumedErr.contains("already in dev mode by you"), resumedErr.constData());
        QVERIFY2(resumedErr.contains("the agent is already in the container"), resumedErr.constData());
        QCOMPARE(getJson(QStringLiteral("deployment"), QStringLiteral("web"))
                     .value(QStringLiteral("metadata"))
                     .toObject()
                     .value(QStringLiteral("resourceVersion"))
                     .toString(),
                 rvBefore);
        kill9(resumed.get());
        // ... and reset restores everything.
        const Run reset = ctl({QStringLiteral("dev"), QStringLiteral("reset"), QStringLiteral("-n"), m_ns});
        QVERIFY2(reset.exitCode == 0, reset.err.constData());
        QVERIFY2(reset.out.contains("deploy/web: dev mode ended, restored exactly (same object)"),
                 reset.out.constData());
        QVERIFY2(reset.err.contains("horizontalpodautoscaler/web restored"), reset.err.constData());
        QCOMPARE(comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web"))), comparable(original));
        const QJsonObject hpaAfter = getJson(QStringLiteral("hpa"), QStringLiteral("web"));
        QCOMPARE(hpaAfter.value(QStringLiteral("spec")).toObject(), hpaBefore);
        for (const QString &k : hpaAfter.value(QStringLiteral("metadata"))
                                    .toObject()
                                    .value(QStringLiteral("annotations"))
                                    .toObject()
                                    .keys())
            QVERIFY2(!k.startsWith(QLatin1String("dev.iterdeck.io/")), qPrintable(k));
        QVERIFY(waitReady(QStringLiteral("web"), 2));
        const Run none = ctl({QStringLiteral("dev"), QStringLiteral("reset"), QStringLiteral("-n"), m_ns});
        QCOMPARE(none.exitCode, 0);
        QVERIFY(none.err.contains("You have nothing in dev mode"));
    }

    // The sync follows the pod: deleted under it, a new one is found, the agent reinstalled and
    // the change made meanwhile arrives. A second start resumes instead of patching again.
    void resumesAfterPodRestart()
    {
        const QString src = localDir(QStringLiteral("web-src"), kDevConfig);
        auto start
            = spawn({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("deploy/web"), QStringLiteral("-n"),
                     m_ns, QStringLiteral("--local"), src, QStringLiteral("--end-on-exit")});
        QByteArray out;
        QVERIFY2(waitOutput(start.get(), "syncing; press Ctrl+C", &out),
                 QByteArray(out + start->readAllStandardError()).constData());
        QVERIFY(!out.contains("(resumed)"));
        // Real kubectl deletes the dev pod under the running session.
        QProcess kubectl;
        QProcessEnvironment e = env();
        e.insert(QStringLiteral("KUBECACHEDIR"), m_dir.filePath(QStringLiteral("kubecache")));
        kubectl.setProcessEnvironment(e);
        kubectl.start(QStringLiteral("kubectl"),
                      {QStringLiteral("delete"), QStringLiteral("pods"), QStringLiteral("-n"), m_ns,
                       QStringLiteral("-l"), QStringLiteral("app=web"), QStringLiteral("--wait=false")});
        QVERIFY(kubectl.waitForFinished(30000));
        QCOMPARE(kubectl.exitCode(), 0);
        writeFile(src + QStringLiteral("/after-restart.txt"), "still here\n");
        QTRY_COMPARE_WITH_TIMEOUT(catInPod(QStringLiteral("deploy/web"), QStringLiteral("web"),
                                           QStringLiteral("/home/dev/after-restart.txt")),
                                  QByteArray("still here\n"), 45000);
        // Interrupted with --end-on-exit: dev mode ends with an exact restore.
        ::kill(pid_t(start->processId()), SIGINT);
        QVERIFY(start->waitForFinished(60000));
        out += start->readAllStandardOutput();
        QCOMPARE(start->exitCode(), 0);
        QVERIFY2(out.contains("restored exactly"), out.constData());
        QVERIFY(waitReady(QStringLiteral("web"), 2));
    }

    // Duplicate mode: a copy whose pods no Service routes to; the original is not touched.
    void duplicateMode()
    {
        const QJsonObject original = comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web")));
        const QString src = localDir(QStringLiteral("web-src"), kDevConfig);
        auto start
            = spawn({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("deploy/web"), QStringLiteral("-n"),
                     m_ns, QStringLiteral("--local"), src, QStringLiteral("--mode"), QStringLiteral("duplicate")});
        QByteArray out;
        QVERIFY2(waitOutput(start.get(), "syncing; press Ctrl+C", &out),
                 QByteArray(out + start->readAllStandardError()).constData());
        const QJsonObject copy = getJson(QStringLiteral("deployment"), QStringLiteral("web-dev-tester"));
        QVERIFY(!copy.isEmpty());
        const QJsonObject pods = getJson(QStringLiteral("pods"), QString());
        QString copyIp;
        for (const QJsonValue &p : pods.value(QStringLiteral("items")).toArray()) {
            const QJsonObject meta = p.toObject().value(QStringLiteral("metadata")).toObject();
            if (meta.value(QStringLiteral("name")).toString().startsWith(QLatin1String("web-dev-tester")))
                copyIp
                    = p.toObject().value(QStringLiteral("status")).toObject().value(QStringLiteral("podIP")).toString();
        }
        QVERIFY(!copyIp.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(catInPod(QStringLiteral("deploy/web-dev-tester"), QStringLiteral("web"),
                                           QStringLiteral("/home/dev/index.txt")),
                                  QByteArray("first\n"), 10000);
        for (int i = 0; i < 5; ++i) {
            const QList<QString> ips = endpointIps(QStringLiteral("web"));
            QCOMPARE(ips.size(), 2);
            QVERIFY2(!ips.contains(copyIp), qPrintable(copyIp));
            QTest::qWait(200);
        }
        QCOMPARE(comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web"))), original);
        kill9(start.get());
        const Run end = ctl(
            {QStringLiteral("dev"), QStringLiteral("end"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns});
        QVERIFY2(end.exitCode == 0, end.err.constData());
        QVERIFY(end.out.contains("copy web-dev-tester deleted"));
        QVERIFY(getJson(QStringLiteral("deployment"), QStringLiteral("web-dev-tester")).isEmpty());
        QCOMPARE(comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web"))), original);
    }

    // A saved original that was tampered with is refused with its reason, not applied.
    void damagedOriginal()
    {
        const QJsonObject before = comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web")));
        const Run start = ctl({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("deploy/web"),
                               QStringLiteral("-n"), m_ns, QStringLiteral("--no-sync"), QStringLiteral("--image"),
                               QStringLiteral("iterdeck/sandbox-base:latest")},
                              QStringLiteral("tester"), 5000); // runs until killed: the timeout ends it
        Q_UNUSED(start);
        const QJsonObject inDev = getJson(QStringLiteral("deployment"), QStringLiteral("web"));
        const QString saved = inDev.value(QStringLiteral("metadata"))
                                  .toObject()
                                  .value(QStringLiteral("annotations"))
                                  .toObject()
                                  .value(QStringLiteral("dev.iterdeck.io/original"))
                                  .toString();
        QVERIFY(!saved.isEmpty());
        auto annotate = [&](const QString &value) {
            QJsonObject patch {{QStringLiteral("metadata"),
                                QJsonObject {{QStringLiteral("annotations"),
                                              QJsonObject {{QStringLiteral("dev.iterdeck.io/original"), value}}}}}};
            QProcess kubectl;
            QProcessEnvironment e = env();
            e.insert(QStringLiteral("KUBECACHEDIR"), m_dir.filePath(QStringLiteral("kubecache")));
            kubectl.setProcessEnvironment(e);
            kubectl.start(QStringLiteral("kubectl"),
                          {QStringLiteral("patch"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns,
                           QStringLiteral("--type=merge"), QStringLiteral("-p"),
                           QString::fromUtf8(QJsonDocument(patch).toJson(QJsonDocument::Compact))});
            return kubectl.waitForFinished(30000) && kubectl.exitCode() == 0;
        };
        QVERIFY(annotate(QStringLiteral("{\"spec\": [truncated")));
        const Run bad = ctl(
            {QStringLiteral("dev"), QStringLiteral("end"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns});
        QCOMPARE(bad.exitCode, 1);
        QVERIFY2(bad.err.contains("the saved original of deploy/web (annotation dev.iterdeck.io/original) is damaged"),
                 bad.err.constData());
        QVERIFY(annotate(saved));
        const Run good = ctl(
            {QStringLiteral("dev"), QStringLiteral("end"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns});
        QVERIFY2(good.exitCode == 0, good.err.constData());
        QCOMPARE(comparable(getJson(QStringLiteral("deployment"), QStringLiteral("web"))), before);
        QVERIFY(waitReady(QStringLiteral("web"), 2));
    }

    void statefulSetRoundTrip()
    {
        const QJsonObject original = getJson(QStringLiteral("statefulset"), QStringLiteral("db"));
        QVERIFY(!original.isEmpty());
        const QString src = localDir(QStringLiteral("db-src"), kStsConfig);
        writeFile(src + QStringLiteral("/schema.sql"), "create table t(x int);\n");
        auto start = spawn({QStringLiteral("dev"), QStringLiteral("start"), QStringLiteral("sts/db"),
                            QStringLiteral("-n"), m_ns, QStringLiteral("--local"), src});
        QByteArray out;
        QVERIFY2(waitOutput(start.get(), "syncing; press Ctrl+C", &out),
                 QByteArray(out + start->readAllStandardError()).constData());
        QTRY_COMPARE_WITH_TIMEOUT(
            catInPod(QStringLiteral("db-0"), QStringLiteral("db"), QStringLiteral("/work/schema.sql")),
            QByteArray("create table t(x int);\n"), 10000);
        kill9(start.get());
        const Run end
            = ctl({QStringLiteral("dev"), QStringLiteral("end"), QStringLiteral("sts/db"), QStringLiteral("-n"), m_ns});
        QVERIFY2(end.exitCode == 0, end.err.constData());
        QVERIFY2(end.out.contains("sts/db: dev mode ended, restored exactly (same object)"), end.out.constData());
        QCOMPARE(comparable(getJson(QStringLiteral("statefulset"), QStringLiteral("db"))), comparable(original));
    }
};

QTEST_GUILESS_MAIN(TestDevMode)
#include "tst_devmode.moc"
