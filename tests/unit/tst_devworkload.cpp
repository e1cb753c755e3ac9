// What dev mode does to a workload's JSON (core/devmode/workload.h), without a cluster.
#include "devmode/workload.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace iterdeck::devmode;

namespace {

QJsonObject json(const char *text)
{
    return QJsonDocument::fromJson(QByteArray(text)).object();
}

const char *kDeployment = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "ns", "uid": "u-1", "resourceVersion": "42", "generation": 3,
               "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "kubectl"}],
               "labels": {"app": "web"},
               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a",
                               "dev.iterdeck.io/owner": "x@y"}},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
           "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
           "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"volumes": [{"name": "data", "emptyDir": {}}],
                                 "containers": [
                                   {"name": "web", "image": "web:1", "args": ["--port", "80"],
                                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                    "readinessProbe": {"httpGet": {"port": 80}}, "livenessProbe": {"tcpSocket": {"port": 80}},
                                    "startupProbe": {"tcpSocket": {"port": 80}}},
                                   {"name": "side", "image": "side:1", "readinessProbe": {"exec": {"command": ["true"]}}}]}}},
  "status": {"replicas": 3}
})";

} // namespace

class TestDevWorkload : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parse_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("shortName"); // empty: refused
        QTest::addColumn<QString>("error");
        QTest::newRow("deploy") << "deploy/web"
                                << "deploy/web"
                                << "";
        QTest::newRow("deployment") << "deployment/web"
                                    << "deploy/web"
                                    << "";
        QTest::newRow("plural.group") << "deployments.apps/web"
                                      << "deploy/web"
                                      << "";
        QTest::newRow("Kind") << "Deployment/web"
                              << "deploy/web"
                              << "";
        QTest::newRow("sts") << "sts/db"
                             << "sts/db"
                             << "";
        QTest::newRow("statefulset") << "statefulset/db"
                                     << "sts/db"
                                     << "";
        QTest::newRow("daemonset") << "ds/agent"
                                   << ""
                                   << "dev mode for ds is not supported yet: use a Deployment (deploy/NAME) or a "
                                      "StatefulSet (sts/NAME)";
        QTest::newRow("pod") << "pod/x"
                             << ""
                             << "dev mode for pod is not supported yet";
        QTest::newRow("job") << "job/x"
                             << ""
                             << "dev mode for job is not supported yet";
        QTest::newRow("unknown kind") << "svc/web"
                                      << ""
                                      << "\"svc\" is not a workload kind: use deploy/NAME or sts/NAME";
        QTest::newRow("bare name") << "web"
                                   << ""
                                   << "\"web\": name the workload as deploy/NAME or sts/NAME";
        QTest::newRow("no name") << "deploy/"
                                 << ""
                                 << "name the workload as deploy/NAME or sts/NAME";
        QTest::newRow("bad name") << "deploy/Web_1"
                                  << ""
                                  << "\"Web_1\" is not a valid workload name";
        QTest::newRow("slash in name") << "deploy/a/b"
                                       << ""
                                       << "\"a/b\" is not a valid workload name";
    }
    void parse()
    {
        QFETCH(QString, text);
        QFETCH(QString, shortName);
        QFETCH(QString, error);
        QString got;
        const auto ref = WorkloadRef::parse(text, &got);
        if (shortName.isEmpty()) {
            QVERIFY(!ref);
            QVERIFY2(got.contains(error), qPrintable(got));
        } else {
            QVERIFY2(ref, qPrintable(got));
            QCOMPARE(ref->shortName(), shortName);
        }
    }

    void ownerLabel_data()
    {
        QTest::addColumn<QString>("user");
        QTest::addColumn<QString>("label");
        QTest::newRow("plain") << "alice"
                               << "alice";
        QTest::newRow("dotted") << "a.b-c_d"
                                << "a.b-c_d";
        QTest::newRow("spaces and umlaut") << QStringLiteral("J\u00f6hn Doe") << "J_hn_Doe";
        QTest::newRow("edges") << "-_x_-"
                               << "x";
        QTest::newRow("domain") << "CORP\\bob"
                                << "CORP_bob";
        QTest::newRow("empty after cleaning") << "___"
                                              << "user";
        QTest::newRow("long") << QString(80, u'a') << QString(63, u'a');
    }
    void ownerLabel()
    {
        QFETCH(QString, user);
        QFETCH(QString, label);
        Owner o;
        o.user = user;
        o.machine = QStringLiteral("m");
        QCOMPARE(o.label(), label);
    }

    void cleanOriginalDropsServerFields()
    {
        const QJsonObject o = cleanOriginal(json(kDeployment));
        QVERIFY(!o.contains(QStringLiteral("status")));
        const QJsonObject meta = o.value(QStringLiteral("metadata")).toObject();
        for (const char *k : {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"})
            QVERIFY2(!meta.contains(QLatin1String(k)), k);
        const QJsonObject ann = meta.value(QStringLiteral("annotations")).toObject();
        QCOMPARE(ann, QJsonObject({{QStringLiteral("team"), QStringLiteral("a")}}));
        QCOMPARE(meta.value(QStringLiteral("labels")).toObject().value(QStringLiteral("app")).toString(),
                 QStringLiteral("web"));
        QCOMPARE(o.value(QStringLiteral("spec")), json(kDeployment).value(QStringLiteral("spec")));
    }

    void devSpecReplaceMode()
    {
        DevSpec dev;
        dev.container = QStringLiteral("web");
        dev.image = QStringLiteral("dev:1");
        dev.dev.workDir = QStringLiteral("/src/");
        dev.dev.env = {{QStringLiteral("B"), QStringLiteral("two")}, {QStringLiteral("C"), QStringLiteral("3")}};
        dev.dev.limits.cpu = QStringLiteral("2");
        QString error;
        const auto spec = devSpec(json(kDeployment).value(QStringLiteral("spec")).toObject(), dev, &error);
        QVERIFY2(spec, qPrintable(error));
        QCOMPARE(spec->value(QStringLiteral("replicas")).toInt(), 1);
        QCOMPARE(spec->value(QStringLiteral("strategy")).toObject(),
                 QJsonObject({{QStringLiteral("type"), QStringLiteral("Recreate")}}));
        const QJsonObject tmpl = spec->value(QStringLiteral("template")).toObject();
        QCOMPARE(tmpl.value(QStringLiteral("metadata"))
                     .toObject()
                     .value(QStringLiteral("annotations"))
                     .toObject()
                     .value(keys::devContainer)
                     .toString(),
                 QStringLiteral("web"));
        const QJsonObject pod = tmpl.value(QStringLiteral("spec")).toObject();
        const QJsonArray containers = pod.value(QStringLiteral("containers")).toArray();
        for (const QJsonValue &c : containers) {
            for (const char *probe : {"readinessProbe", "livenessProbe", "startupProbe"})
                QVERIFY(!c.toObject().contains(QLatin1String(probe)));
        }
        const QJsonObject web = containers.at(0).toObject();
        QCOMPARE(web.value(QStringLiteral("image")).toString(), QStringLiteral("dev:1"));
        QCOMPARE(web.value(QStringLiteral("command")).toArray(),
                 QJsonArray({QStringLiteral("/bin/sh"), QStringLiteral("-c"), QStringLiteral("tail -f /dev/null")}));
        QVERIFY(!web.contains(QStringLiteral("args")));
        QCOMPARE(web.value(QStringLiteral("workingDir")).toString(), QStringLiteral("/src"));
        QCOMPARE(QJsonDocument(web.value(QStringLiteral("env")).toArray()).toJson(QJsonDocument::Compact),
                 QByteArray(R"([{"name":"A","value":"1"},{"name":"B","value":"two"},{"name":"C","value":"3"}])"));
        QCOMPARE(web.value(QStringLiteral("resources")).toObject(), json(R"({"limits": {"cpu": "2"}})"));
        QCOMPARE(web.value(QStringLiteral("volumeMounts")).toArray(),
                 QJsonArray({QJsonObject {{QStringLiteral("name"), keys::workDirVolume},
                                          {QStringLiteral("mountPath"), QStringLiteral("/src")}}}));
        QCOMPARE(containers.at(1).toObject().value(QStringLiteral("image")).toString(), QStringLiteral("side:1"));
        const QJsonArray volumes = pod.value(QStringLiteral("volumes")).toArray();
        QCOMPARE(volumes.size(), 2);
        QCOMPARE(volumes.at(1).toObject(), json(R"({"name": "iterdeck-workdir", "emptyDir": {}})"));
    }

    void devSpecStatefulSetAndClaims()
    {
        QJsonObject spec = json(kDeployment).value(QStringLiteral("spec")).toObject();
        spec.remove(QStringLiteral("strategy"));
        spec.insert(QStringLiteral("serviceName"), QStringLiteral("db"));
        DevSpec dev;
        dev.kind = WorkloadKind::StatefulSet;
        dev.container = QStringLiteral("side");
        dev.image = QStringLiteral("dev:1");
        dev.dev.workDir = QStringLiteral("/work");
        dev.dev.persistentVolumeDirs = {{QStringLiteral("/work"), QStringLiteral("1Gi"), false},
                                        {QStringLiteral("/cache/"), QStringLiteral("1Gi"), false}};
        dev.claims = {{QStringLiteral("/work"), QStringLiteral("pvc-work")},
                      {QStringLiteral("/cache"), QStringLiteral("pvc-cache")}};
        QString error;
        const auto out = devSpec(spec, dev, &error);
        QVERIFY2(out, qPrintable(error));
        QVERIFY(!out->contains(QStringLiteral("strategy")));
        const QJsonObject pod
            = out->value(QStringLiteral("template")).toObject().value(QStringLiteral("spec")).toObject();
        const QJsonArray volumes = pod.value(QStringLiteral("volumes")).toArray();
        QCOMPARE(volumes.at(1).toObject(),
                 json(R"({"name": "iterdeck-workdir", "persistentVolumeClaim": {"claimName": "pvc-work"}})"));
        QCOMPARE(volumes.at(2).toObject(),
                 json(R"({"name": "iterdeck-persist-0", "persistentVolumeClaim": {"claimName": "pvc-cache"}})"));
        const QJsonArray mounts = pod.value(QStringLiteral("containers"))
                                      .toArray()
                                      .at(1)
                                      .toObject()
                                      .value(QStringLiteral("volumeMounts"))
                                      .toArray();
        QCOMPARE(mounts.size(), 2);
        QCOMPARE(mounts.at(1).toObject().value(QStringLiteral("mountPath")).toString(), QStringLiteral("/cache"));

        dev.container = QStringLiteral("nope");
        QVERIFY(!devSpec(spec, dev, &error));
        QCOMPARE(error, QStringLiteral("container \"nope\" not found"));
    }

    void enterAndRestorePatches()
    {
        const QJsonObject live = json(kDeployment);
        const QJsonArray enter
            = enterPatch(live, json(R"({"replicas": 1})"), json(R"({"dev.iterdeck.io/mode": "replace"})"),
                         json(R"({"dev.iterdeck.io/user": "alice"})"));
        QCOMPARE(enter.at(0).toObject(), json(R"({"op": "test", "path": "/metadata/resourceVersion", "value": "42"})"));
        QCOMPARE(enter.at(1).toObject(), json(R"({"op": "replace", "path": "/spec", "value": {"replicas": 1}})"));
        QCOMPARE(
            enter.at(2).toObject().value(QStringLiteral("value")).toObject().value(QStringLiteral("team")).toString(),
            QStringLiteral("a"));
        QCOMPARE(enter.at(3).toObject().value(QStringLiteral("value")).toObject(),
                 json(R"({"app": "web", "dev.iterdeck.io/user": "alice"})"));

        // An original without labels or annotations gets the maps dev mode added removed.
        QJsonObject bare = cleanOriginal(live);
        QJsonObject meta = bare.value(QStringLiteral("metadata")).toObject();
        meta.remove(QStringLiteral("labels"));
        meta.remove(QStringLiteral("annotations"));
        bare.insert(QStringLiteral("metadata"), meta);
        QJsonObject inDev = live;
        QJsonObject liveMeta = inDev.value(QStringLiteral("metadata")).toObject();
        liveMeta.insert(QStringLiteral("labels"), json(R"({"dev.iterdeck.io/user": "alice"})"));
        liveMeta.insert(QStringLiteral("annotations"), json(R"({"dev.iterdeck.io/owner": "alice@m"})"));
        inDev.insert(QStringLiteral("metadata"), liveMeta);
        const QJsonArray restore = restorePatch(inDev, bare);
        QCOMPARE(restore.size(), 4);
        QCOMPARE(restore.at(1).toObject().value(QStringLiteral("value")), bare.value(QStringLiteral("spec")));
        QCOMPARE(restore.at(2).toObject(), json(R"({"op": "remove", "path": "/metadata/annotations"})"));
        QCOMPARE(restore.at(3).toObject(), json(R"({"op": "remove", "path": "/metadata/labels"})"));

        // Keys others added meanwhile stay; ours go; the saved ones come back.
        liveMeta.insert(QStringLiteral("annotations"),
                        json(R"({"dev.iterdeck.io/owner": "alice@m", "other": "kept", "team": "b"})"));
        inDev.insert(QStringLiteral("metadata"), liveMeta);
        const QJsonArray restore2 = restorePatch(inDev, cleanOriginal(live));
        QCOMPARE(restore2.at(2).toObject().value(QStringLiteral("value")).toObject(),
                 json(R"({"other": "kept", "team": "a"})"));
    }

    void duplicateCopy()
    {
        Owner alice {QStringLiteral("Alice.Smith"), QStringLiteral("m")};
        const QJsonObject original = cleanOriginal(json(kDeployment));
        const QJsonObject copy = duplicateOf(original, alice, original.value(QStringLiteral("spec")).toObject(),
                                             json(R"({"dev.iterdeck.io/mode": "duplicate"})"));
        const QJsonObject meta = copy.value(QStringLiteral("metadata")).toObject();
        QCOMPARE(meta.value(QStringLiteral("name")).toString(), QStringLiteral("web-dev-alice-smith"));
        const QJsonObject labels
            = json(R"({"dev.iterdeck.io/duplicate-of": "web", "dev.iterdeck.io/user": "Alice.Smith"})");
        QCOMPARE(meta.value(QStringLiteral("labels")).toObject(), labels);
        const QJsonObject spec = copy.value(QStringLiteral("spec")).toObject();
        QCOMPARE(spec.value(QStringLiteral("selector")).toObject(),
                 QJsonObject({{QStringLiteral("matchLabels"), labels}}));
        // No label of the original on the pods: a Service selecting app=web does not pick them.
        QCOMPARE(spec.value(QStringLiteral("template"))
                     .toObject()
                     .value(QStringLiteral("metadata"))
                     .toObject()
                     .value(QStringLiteral("labels"))
                     .toObject(),
                 labels);
        QCOMPARE(selectorString(copy),
                 QStringLiteral("dev.iterdeck.io/duplicate-of=web,dev.iterdeck.io/user=Alice.Smith"));
        QCOMPARE(duplicateName(QString(60, u'a'), alice).size(), 52);
    }

    void selectorExpressions()
    {
        const QJsonObject w = json(R"({"spec": {"selector": {"matchLabels": {"app": "a"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["x", "y"]}, {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "k", "operator": "Exists"}, {"key": "gone", "operator": "DoesNotExist"}]}}})");
        QCOMPARE(selectorString(w), QStringLiteral("app=a,tier in (x,y),env notin (prod),k,!gone"));
    }

    void differencesPaths()
    {
        const QJsonObject a = json(kDeployment);
        QVERIFY(differences(a, a).isEmpty());
        QJsonObject b = json(R"({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "x"}]}}}})");
        QJsonObject c = json(
            R"({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "y"}]}}, "paused": true}})");
        QCOMPARE(differences(b, c),
                 QStringList({QStringLiteral("spec.replicas"), QStringLiteral("spec.template.spec.containers[0].image"),
                              QStringLiteral("spec.paused")}));
        QCOMPARE(differences(json(R"({"l": [1, 2]})"), json(R"({"l": [1]})")), QStringList({QStringLiteral("l")}));
        QCOMPARE(differences(QJsonValue(1), QJsonValue(2)), QStringList({QStringLiteral("(root)")}));
    }

    void devPodState_data()
    {
        QTest::addColumn<QByteArray>("pod");
        QTest::addColumn<bool>("ready");
        QTest::addColumn<QString>("problem");
        const QByteArray base
            = R"({"metadata": {"name": "p", "annotations": {"dev.iterdeck.io/dev-container": "web"}%1},
            "spec": {"containers": [{"name": "web", "image": "%2"}]},
            "status": {"phase": "%3", "containerStatuses": [{"name": "web", "state": %4}]}})";
        auto pod = [&](const char *extra, const char *image, const char *phase, const char *state) {
            return QString::fromUtf8(base)
                .arg(QLatin1String(extra), QLatin1String(image), QLatin1String(phase), QLatin1String(state))
                .toUtf8();
        };
        QTest::newRow("running") << pod("", "dev:1", "Running", R"({"running": {}})") << true << "";
        QTest::newRow("old image") << pod("", "web:1", "Running", R"({"running": {}})") << false << "";
        QTest::newRow("terminating") << pod(R"(, "deletionTimestamp": "2026-01-01T00:00:00Z")", "dev:1", "Running",
                                            R"({"running": {}})")
                                     << false << "";
        QTest::newRow("pending") << pod("", "dev:1", "Pending", R"({"waiting": {"reason": "ContainerCreating"}})")
                                 << false << "";
        QTest::newRow("pull back-off") << pod(
            "", "dev:1", "Pending",
            "{\"waiting\": {\"reason\": \"ImagePullBackOff\", \"message\": \"Back-off pulling image 'dev:1'\"}}")
                                       << false << "ImagePullBackOff: Back-off pulling image 'dev:1'";
        QTest::newRow("crash loop") << pod("", "dev:1", "Running", R"({"waiting": {"reason": "CrashLoopBackOff"}})")
                                    << false << "CrashLoopBackOff";
    }
    void devPodState()
    {
        QFETCH(QByteArray, pod);
        QFETCH(bool, ready);
        QFETCH(QString, problem);
        const QJsonObject p = QJsonDocument::fromJson(pod).object();
        QVERIFY(!p.isEmpty());
        QCOMPARE(isReadyDevPod(p, QStringLiteral("web"), QStringLiteral("dev:1")), ready);
        QCOMPARE(devPodProblem(p, QStringLiteral("web")), problem);
        QVERIFY(!isReadyDevPod(p, QStringLiteral("other"), QStringLiteral("dev:1")));
    }
};

QTEST_GUILESS_MAIN(TestDevWorkload)
#include "tst_devworkload.moc"
