// iterdeckctl's kube verbs against the sandbox cluster, side by side with real kubectl: the
// same answers to the same questions, and the behaviours kubectl lacks (port-forward following
// a deployment to its new pod).
#include "config/sourcetext.h"
#include "config/yamlreader.h"

#include "testutil/sandboxserver.h"

#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace iterdeck;
using iterdeck::testing::SandboxServer;

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

QJsonValue yamlToJson(const QByteArray &text)
{
    config::SourceText src(QStringLiteral("out.yaml"), text);
    Diagnostics diag;
    std::vector<YAML::Node> docs;
    if (!config::parseYamlDocuments(src, docs, diag) || docs.empty())
        return {};
    config::ReadContext ctx(src, diag);
    return ctx.toJson(docs.front());
}

// Table output with ages masked: the two tools print a second apart.
QString maskAges(const QByteArray &text)
{
    static const QRegularExpression age(QStringLiteral("\\b\\d+(s|m|h|d)(\\d+(s|m))?\\b"));
    QString t = QString::fromUtf8(text);
    t.replace(age, QStringLiteral("<age>"));
    return t;
}

} // namespace

class TestKubeVerbs : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<SandboxServer> m_sandbox;
    const QString m_ns = QStringLiteral("verbs");

    QProcessEnvironment env() const
    {
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        e.insert(QStringLiteral("KUBECONFIG"), m_sandbox->kubeconfigPath());
        e.insert(QStringLiteral("KUBECACHEDIR"), m_dir.filePath(QStringLiteral("kubecache")));
        e.insert(QStringLiteral("HOME"), m_dir.path());
        return e;
    }
    Run run(const QString &program, const QStringList &args, const QByteArray &input = {}, int timeoutMs = 60000)
    {
        QProcess p;
        p.setProcessEnvironment(env());
        p.start(program, args);
        Run r;
        if (!p.waitForStarted())
            return r;
        if (!input.isEmpty())
            p.write(input);
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
    Run ctl(const QStringList &args, const QByteArray &input = {})
    {
        return run(QStringLiteral(ITERDECKCTL_PATH), args, input);
    }
    Run kubectl(const QStringList &args, const QByteArray &input = {})
    {
        return run(QStringLiteral("kubectl"), args, input);
    }
    QString writeFile(const QString &name, const QByteArray &text)
    {
        const QString path = m_dir.filePath(name);
        QFile f(path);
        if (f.open(QIODevice::WriteOnly))
            f.write(text);
        return path;
    }
    bool waitRunning(const QString &pod)
    {
        return QTest::qWaitFor(
            [&] {
                const Run r = kubectl({QStringLiteral("get"), QStringLiteral("pod"), pod, QStringLiteral("-n"), m_ns,
                                       QStringLiteral("-o"), QStringLiteral("jsonpath={.status.phase}")});
                return r.out == "Running";
            },
            30000);
    }
    QByteArray httpGet(quint16 port, const QString &path = QStringLiteral("/"))
    {
        QNetworkAccessManager nam;
        QNetworkRequest req(QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(port).arg(path)));
        req.setTransferTimeout(10000);
        QNetworkReply *reply = nam.get(req);
        QEventLoop loop;
        connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
        loop.exec();
        reply->deleteLater();
        return reply->error() == QNetworkReply::NoError ? reply->readAll()
                                                        : QByteArray("ERROR: ") + reply->errorString().toUtf8();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_sandbox = std::make_unique<SandboxServer>(m_dir.filePath(QStringLiteral("sandbox")));
        QVERIFY2(m_sandbox->isRunning(), qPrintable(m_sandbox->errorString()));
        const QByteArray manifests = R"(apiVersion: v1
kind: Namespace
metadata:
  name: verbs
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: verbs
  labels: {tier: backend}
data:
  greeting: hello
  empty: ""
  number: "42"
  multi: |
    line one
    line two
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: verbs
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: http
        image: iterdeck/sandbox-base:latest
        command: [sh, -c, 'echo serving; exec python3 -m http.server 8000 --bind $POD_IP']
---
apiVersion: v1
kind: Pod
metadata:
  name: talker
  namespace: verbs
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: iterdeck/sandbox-base:latest
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo talk $i; done; sleep 600']
)";
        const Run r
            = ctl({QStringLiteral("apply"), QStringLiteral("-f"), writeFile(QStringLiteral("app.yaml"), manifests)});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out,
                 QByteArray("namespace/verbs serverside-applied\nconfigmap/settings serverside-applied\n"
                            "deployment.apps/web serverside-applied\npod/talker serverside-applied\n"));
        QVERIFY(waitRunning(QStringLiteral("talker")));
        QVERIFY(QTest::qWaitFor(
            [&] {
                return kubectl({QStringLiteral("get"), QStringLiteral("deploy"), QStringLiteral("web"),
                                QStringLiteral("-n"), m_ns, QStringLiteral("-o"),
                                QStringLiteral("jsonpath={.status.readyReplicas}")})
                           .out
                    == "1";
            },
            30000));
    }
    void cleanupTestCase() { m_sandbox.reset(); }

    void getMatchesKubectl_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("namespaces") << QStringList {QStringLiteral("get"), QStringLiteral("namespaces")};
        QTest::newRow("pods") << QStringList {QStringLiteral("get"), QStringLiteral("pods"), QStringLiteral("-n"),
                                              QStringLiteral("verbs")};
        QTest::newRow("deploy wide") << QStringList {QStringLiteral("get"), QStringLiteral("deploy"),
                                                     QStringLiteral("-n"),  QStringLiteral("verbs"),
                                                     QStringLiteral("-o"),  QStringLiteral("wide")};
        QTest::newRow("cm by label") << QStringList {QStringLiteral("get"), QStringLiteral("cm"),
                                                     QStringLiteral("-n"),  QStringLiteral("verbs"),
                                                     QStringLiteral("-l"),  QStringLiteral("tier=backend")};
        QTest::newRow("names") << QStringList {QStringLiteral("get"), QStringLiteral("configmaps"),
                                               QStringLiteral("-n"),  QStringLiteral("verbs"),
                                               QStringLiteral("-o"),  QStringLiteral("name")};
        QTest::newRow("all namespaces") << QStringList {QStringLiteral("get"), QStringLiteral("deployments.apps"),
                                                        QStringLiteral("-A")};
        QTest::newRow("no resources") << QStringList {QStringLiteral("get"), QStringLiteral("secrets"),
                                                      QStringLiteral("-n"),  QStringLiteral("verbs"),
                                                      QStringLiteral("-l"),  QStringLiteral("none=here")};
        QTest::newRow("not found") << QStringList {QStringLiteral("get"), QStringLiteral("pod"), QStringLiteral("nope"),
                                                   QStringLiteral("-n"), QStringLiteral("verbs")};
        QTest::newRow("unknown kind") << QStringList {QStringLiteral("get"), QStringLiteral("widgets")};
    }
    void getMatchesKubectl()
    {
        QFETCH(QStringList, args);
        const Run ours = ctl(args);
        const Run theirs = kubectl(args);
        QCOMPARE(ours.exitCode, theirs.exitCode);
        QCOMPARE(maskAges(ours.out), maskAges(theirs.out));
        QCOMPARE(QString::fromUtf8(ours.err), QString::fromUtf8(theirs.err));
    }

    void getJsonAndYamlMatchKubectl_data()
    {
        QTest::addColumn<QStringList>("what");
        QTest::newRow("one configmap") << QStringList {QStringLiteral("cm"), QStringLiteral("settings")};
        QTest::newRow("configmap list") << QStringList {QStringLiteral("configmaps")};
        QTest::newRow("deployment") << QStringList {QStringLiteral("deploy"), QStringLiteral("web")};
    }
    void getJsonAndYamlMatchKubectl()
    {
        QFETCH(QStringList, what);
        const QStringList base = QStringList {QStringLiteral("get")} + what
            + QStringList {QStringLiteral("-n"), m_ns, QStringLiteral("-o")};
        const Run kj = kubectl(base + QStringList {QStringLiteral("json")});
        QCOMPARE(kj.exitCode, 0);
        const QJsonValue expected = QJsonDocument::fromJson(kj.out).object();
        const Run oj = ctl(base + QStringList {QStringLiteral("json")});
        QCOMPARE(oj.exitCode, 0);
        QCOMPARE(QJsonValue(QJsonDocument::fromJson(oj.out).object()), expected);
        const Run oy = ctl(base + QStringList {QStringLiteral("yaml")});
        QCOMPARE(oy.exitCode, 0);
        QCOMPARE(yamlToJson(oy.out), expected);
    }

    void getWatchPrintsChanges()
    {
        QProcess watch;
        watch.setProcessEnvironment(env());
        watch.start(QStringLiteral(ITERDECKCTL_PATH),
                    {QStringLiteral("get"), QStringLiteral("cm"), QStringLiteral("-n"), m_ns, QStringLiteral("-w")});
        QVERIFY(watch.waitForStarted());
        QByteArray text;
        QVERIFY(QTest::qWaitFor(
            [&] {
                text += watch.readAllStandardOutput();
                return text.contains("settings");
            },
            20000));
        QCOMPARE(kubectl({QStringLiteral("create"), QStringLiteral("configmap"), QStringLiteral("watched"),
                          QStringLiteral("-n"), m_ns})
                     .exitCode,
                 0);
        QVERIFY2(QTest::qWaitFor(
                     [&] {
                         text += watch.readAllStandardOutput();
                         return text.contains("\nwatched ");
                     },
                     20000),
                 text.constData());
        watch.terminate();
        QVERIFY(watch.waitForFinished(10000));
        QCOMPARE(watch.exitCode(), 0);
        QVERIFY(text.startsWith("NAME "));
    }

    void applyReportsPositionedErrors_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("message");
        QTest::newRow("bad yaml") << QByteArray("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n")
                                  << ":4:1: error: ";
        QTest::newRow("no kind") << QByteArray("apiVersion: v1\nmetadata:\n  name: x\n") << ":1:1: error: kind not set";
        QTest::newRow("no name") << QByteArray("---\napiVersion: v1\nkind: ConfigMap\ndata: {}\n")
                                 << ":2:1: error: metadata.name not set";
        QTest::newRow("unknown kind")
            << QByteArray("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
            << ":1:1: error: resource mapping not found for kind \"Widget\" in version \"example.com/v1\"";
    }
    void applyReportsPositionedErrors()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, message);
        const QString file = writeFile(QStringLiteral("bad.yaml"), text);
        const Run r = ctl({QStringLiteral("apply"), QStringLiteral("-f"), file, QStringLiteral("-n"), m_ns});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(QString::fromUtf8(r.err).startsWith(file + message), r.err.constData());
    }

    void applyUpdatesWhatExists()
    {
        const QString file = writeFile(QStringLiteral("update.yaml"),
                                       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                                       "  labels: {tier: backend}\ndata:\n  greeting: bonjour\n");
        Run r = ctl({QStringLiteral("apply"), QStringLiteral("-f"), file, QStringLiteral("-n"), m_ns});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out, QByteArray("configmap/settings serverside-applied\n"));
        r = kubectl({QStringLiteral("get"), QStringLiteral("cm"), QStringLiteral("settings"), QStringLiteral("-n"),
                     m_ns, QStringLiteral("-o"), QStringLiteral("jsonpath={.data.greeting}")});
        QCOMPARE(r.out, QByteArray("bonjour"));
        // From standard input, with a dry run that changes nothing.
        r = ctl({QStringLiteral("apply"), QStringLiteral("-f"), QStringLiteral("-"), QStringLiteral("-n"), m_ns,
                 QStringLiteral("--dry-run")},
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hola}\n");
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out, QByteArray("configmap/settings serverside-applied (server dry run)\n"));
        r = kubectl({QStringLiteral("get"), QStringLiteral("cm"), QStringLiteral("settings"), QStringLiteral("-n"),
                     m_ns, QStringLiteral("-o"), QStringLiteral("jsonpath={.data.greeting}")});
        QCOMPARE(r.out, QByteArray("bonjour"));
    }

    void logsMatchKubectl_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("all") << QStringList {QStringLiteral("logs"), QStringLiteral("talker"), QStringLiteral("-n"),
                                             QStringLiteral("verbs")};
        QTest::newRow("tail") << QStringList {QStringLiteral("logs"),  QStringLiteral("talker"), QStringLiteral("-n"),
                                              QStringLiteral("verbs"), QStringLiteral("--tail"), QStringLiteral("2")};
        QTest::newRow("deployment") << QStringList {QStringLiteral("logs"), QStringLiteral("deploy/web"),
                                                    QStringLiteral("-n"), QStringLiteral("verbs")};
        QTest::newRow("bad container") << QStringList {QStringLiteral("logs"), QStringLiteral("talker"),
                                                       QStringLiteral("-n"),   QStringLiteral("verbs"),
                                                       QStringLiteral("-c"),   QStringLiteral("nope")};
    }
    void logsMatchKubectl()
    {
        QFETCH(QStringList, args);
        const Run ours = ctl(args);
        const Run theirs = kubectl(args);
        QCOMPARE(ours.out, theirs.out);
        QCOMPARE(ours.exitCode, theirs.exitCode);
        if (theirs.exitCode == 0)
            QVERIFY(!ours.out.isEmpty());
    }

    void logsFollowEndsWithTheContainer()
    {
        QCOMPARE(kubectl({QStringLiteral("run"), QStringLiteral("brief"), QStringLiteral("-n"), m_ns,
                          QStringLiteral("--restart=Never"), QStringLiteral("--image=iterdeck/sandbox-base:latest"),
                          QStringLiteral("--command"), QStringLiteral("--"), QStringLiteral("sh"), QStringLiteral("-c"),
                          QStringLiteral("echo one; sleep 2; echo two")})
                     .exitCode,
                 0);
        QVERIFY(QTest::qWaitFor(
            [&] {
                const QByteArray phase = kubectl({QStringLiteral("get"), QStringLiteral("pod"), QStringLiteral("brief"),
                                                  QStringLiteral("-n"), m_ns, QStringLiteral("-o"),
                                                  QStringLiteral("jsonpath={.status.phase}")})
                                             .out;
                return phase == "Running" || phase == "Succeeded";
            },
            30000));
        const Run r
            = ctl({QStringLiteral("logs"), QStringLiteral("-f"), QStringLiteral("brief"), QStringLiteral("-n"), m_ns});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out, QByteArray("one\ntwo\n"));
    }

    void execPropagatesExitCodesAndStreams()
    {
        Run r = ctl({QStringLiteral("exec"), QStringLiteral("talker"), QStringLiteral("-n"), m_ns, QStringLiteral("--"),
                     QStringLiteral("sh"), QStringLiteral("-c"), QStringLiteral("echo out; echo err >&2; exit 3")});
        QCOMPARE(r.exitCode, 3);
        QCOMPARE(r.out, QByteArray("out\n"));
        QCOMPARE(r.err, QByteArray("err\ncommand terminated with exit code 3\n"));
        const Run k = kubectl({QStringLiteral("exec"), QStringLiteral("talker"), QStringLiteral("-n"), m_ns,
                               QStringLiteral("--"), QStringLiteral("sh"), QStringLiteral("-c"),
                               QStringLiteral("echo out; echo err >&2; exit 3")});
        QCOMPARE(k.exitCode, r.exitCode);
        QCOMPARE(k.out, r.out);
        QCOMPARE(k.err, r.err);

        QByteArray input;
        for (int i = 0; i < 200000; ++i)
            input += QByteArray::number(i) + '\n';
        r = ctl({QStringLiteral("exec"), QStringLiteral("-i"), QStringLiteral("talker"), QStringLiteral("-n"), m_ns,
                 QStringLiteral("--"), QStringLiteral("cat")},
                input);
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.size(), input.size());
        QVERIFY(r.out == input);

        r = ctl({QStringLiteral("exec"), QStringLiteral("deploy/web"), QStringLiteral("-n"), m_ns, QStringLiteral("--"),
                 QStringLiteral("sh"), QStringLiteral("-c"), QStringLiteral("echo $HOSTNAME")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.startsWith("web-"), r.out.constData());

        r = ctl({QStringLiteral("exec"), QStringLiteral("nope"), QStringLiteral("-n"), m_ns, QStringLiteral("--"),
                 QStringLiteral("true")});
        QCOMPARE(r.exitCode, 1);
        QCOMPARE(r.err, QByteArray("Error from server (NotFound): pods \"nope\" not found\n"));
    }

    void portForwardFollowsTheDeployment()
    {
        QProcess pf;
        pf.setProcessEnvironment(env());
        pf.start(QStringLiteral(ITERDECKCTL_PATH),
                 {QStringLiteral("port-forward"), QStringLiteral("deploy/web"), QStringLiteral(":8000"),
                  QStringLiteral("-n"), m_ns});
        QVERIFY(pf.waitForStarted());
        QByteArray text;
        static const QRegularExpression forwarding(QStringLiteral("Forwarding from 127\\.0\\.0\\.1:(\\d+) -> 8000"));
        QRegularExpressionMatch m;
        QVERIFY2(QTest::qWaitFor(
                     [&] {
                         text += pf.readAllStandardOutput();
                         m = forwarding.match(QString::fromUtf8(text));
                         return m.hasMatch();
                     },
                     20000),
                 text.constData());
        const quint16 port = m.captured(1).toUShort();
        QVERIFY2(httpGet(port).contains("Directory listing"),
                 "the pod's HTTP server did not answer through the forward");

        // The pod goes; the deployment makes another; the same local port reaches it.
        const QByteArray oldPod = kubectl({QStringLiteral("get"), QStringLiteral("pods"), QStringLiteral("-n"), m_ns,
                                           QStringLiteral("-l"), QStringLiteral("app=web"), QStringLiteral("-o"),
                                           QStringLiteral("jsonpath={.items[0].metadata.name}")})
                                      .out;
        QCOMPARE(kubectl({QStringLiteral("delete"), QStringLiteral("pod"), QString::fromUtf8(oldPod),
                          QStringLiteral("-n"), m_ns, QStringLiteral("--wait=false")})
                     .exitCode,
                 0);
        QVERIFY2(QTest::qWaitFor([&] { return httpGet(port).contains("Directory listing"); }, 30000),
                 pf.readAllStandardError().constData());
        pf.terminate();
        QVERIFY(pf.waitForFinished(10000));
        QCOMPARE(pf.exitCode(), 0);
    }
};

QTEST_GUILESS_MAIN(TestKubeVerbs)
#include "tst_kubeverbs.moc"
