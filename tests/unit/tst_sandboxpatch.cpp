// The sandbox's PATCH flavours: RFC 6902 (with the RFC's appendix A), RFC 7386 (appendix A) and
// Kubernetes' strategic merge patch with every directive, in the shapes kubectl really sends.
#include "sandbox/patch.h"

#include "fuzz/fuzzsandboxpatch.h"

#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QTest>

#include <string>

using namespace iterdeck::sandbox;

namespace {

Json parse(const QString &text)
{
    return Json::parse(text.toStdString());
}

QString show(const Json &value)
{
    return QString::fromStdString(value.dump());
}

// Whether a directive of the strategic merge patch is left anywhere in `value`.
bool hasDirective(const Json &value)
{
    if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) {
            const std::string &key = it.key();
            if (key == "$patch" || key == "$retainKeys" || key.rfind("$setElementOrder", 0) == 0
                || key.rfind("$deleteFromPrimitiveList", 0) == 0 || hasDirective(it.value()))
                return true;
        }
    } else if (value.is_array()) {
        for (const Json &item : value) {
            if (hasDirective(item))
                return true;
        }
    }
    return false;
}

// Checks a PatchResult against an expected document (errorCode 0) or an expected error.
void verifyResult(const PatchResult &result, const QString &expected, int errorCode)
{
    if (errorCode == 0) {
        if (const auto *error = std::get_if<ApiError>(&result))
            QFAIL(qPrintable(QStringLiteral("unexpected error %1 %2: %3")
                                 .arg(error->code)
                                 .arg(QString::fromStdString(error->reason), QString::fromStdString(error->message))));
        const Json &doc = std::get<Json>(result);
        QCOMPARE(show(doc), show(parse(expected)));
    } else {
        if (const auto *doc = std::get_if<Json>(&result))
            QFAIL(qPrintable(QStringLiteral("expected error %1, got %2").arg(errorCode).arg(show(*doc))));
        const ApiError &error = std::get<ApiError>(result);
        QCOMPARE(error.code, errorCode);
        QCOMPARE(QString::fromStdString(error.reason),
                 errorCode == 400       ? QStringLiteral("BadRequest")
                     : errorCode == 413 ? QStringLiteral("RequestEntityTooLarge")
                                        : QStringLiteral("Invalid"));
        QVERIFY(!error.message.empty());
    }
}

QString cell(const char *text)
{
    return QString::fromUtf8(text);
}

QString cell(const QString &text)
{
    return text;
}

int cell(int value)
{
    return value;
}

// QTest::newRow(name) << values..., with string literals as QString cells.
template<typename... Values> void row(const char *name, const Values &...values)
{
    QTestData &data = QTest::newRow(name);
    ((data << cell(values)), ...);
}

// `depth` nested objects {"a":{"a":...}}.
QString nestedObjects(int depth)
{
    return QStringLiteral("{\"a\":").repeated(depth) + QStringLiteral("1") + QStringLiteral("}").repeated(depth);
}

// A Deployment as the sandbox stores it, for the strategic merge patch rows.
const char *const kDeployment = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"},
               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
               "finalizers": ["a.example.com/one", "a.example.com/two"]},
  "spec": {
    "replicas": 2,
    "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {
        "securityContext": {"runAsUser": 1000},
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "web-conf"}}],
        "containers": [
          {"name": "web", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
           "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}],
           "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
           "volumeMounts": [{"mountPath": "/data", "name": "data"}]},
          {"name": "sidecar", "image": "busybox", "command": ["sleep", "infinity"]}
        ]
      }
    }
  },
  "status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}
})";

// `kDeployment` with `edit` applied as an RFC 7386 merge patch: the expected results of the
// strategic rows are written as the change they make.
QString deploymentWith(const char *edit)
{
    Json doc = Json::parse(kDeployment);
    doc.merge_patch(Json::parse(edit));
    return show(doc);
}

QString deployment()
{
    return show(Json::parse(kDeployment));
}

} // namespace

class TestSandboxPatch : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void jsonPatch_data();
    void jsonPatch();
    void jsonPatchLimits();
    void mergePatch_data();
    void mergePatch();
    void strategic_data();
    void strategic();
    void strategicKinds_data();
    void strategicKinds();
    void neverThrows_data();
    void neverThrows();
    void deepPatches();
    void largeLists();
    void fuzzReplay_data();
    void fuzzReplay();
};

void TestSandboxPatch::jsonPatch_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<int>("errorCode");

    // RFC 6902 appendix A.
    row("A.1 add object member", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
        R"({"baz":"qux","foo":"bar"})", 0);
    row("A.2 add array element", R"({"foo":["bar","baz"]})", R"([{"op":"add","path":"/foo/1","value":"qux"}])",
        R"({"foo":["bar","qux","baz"]})", 0);
    row("A.3 remove object member", R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])",
        R"({"foo":"bar"})", 0);
    row("A.4 remove array element", R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])",
        R"({"foo":["bar","baz"]})", 0);
    row("A.5 replace", R"({"baz":"qux","foo":"bar"})", R"([{"op":"replace","path":"/baz","value":"boo"}])",
        R"({"baz":"boo","foo":"bar"})", 0);
    row("A.6 move value", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
        R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
        R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})", 0);
    row("A.7 move array element", R"({"foo":["all","grass","cows","eat"]})",
        R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])", R"({"foo":["all","cows","eat","grass"]})", 0);
    row("A.8 test success", R"({"baz":"qux","foo":["a",2,"c"]})",
        R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
        R"({"baz":"qux","foo":["a",2,"c"]})", 0);
    row("A.9 test error", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])", QString(), 422);
    row("A.10 add nested object", R"({"foo":"bar"})", R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
        R"({"foo":"bar","child":{"grandchild":{}}})", 0);
    row("A.11 unrecognized members ignored", R"({"foo":"bar"})",
        R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})", 0);
    row("A.12 add to nonexistent target", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])",
        QString(), 422);
    // A.13 (an operation with two "op" members) cannot be expressed once the JSON is parsed.
    row("A.14 ~ escape ordering", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
        R"({"/":9,"~1":10})", 0);
    row("A.15 strings are not numbers", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])",
        QString(), 422);
    row("A.16 add array value", R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
        R"({"foo":["bar",["abc","def"]]})", 0);

    // Pointers, escaping and the other operations.
    row("~1 is a slash", R"({"a/b":1})", R"([{"op":"replace","path":"/a~1b","value":2}])", R"({"a/b":2})", 0);
    row("label key with slash", R"({"metadata":{"labels":{"app.kubernetes.io/name":"x"}}})",
        R"([{"op":"remove","path":"/metadata/labels/app.kubernetes.io~1name"}])", R"({"metadata":{"labels":{}}})", 0);
    row("~0 is a tilde", R"({"a~b":1})", R"([{"op":"remove","path":"/a~0b"}])", R"({})", 0);
    row("empty key", R"({"":1})", R"([{"op":"replace","path":"/","value":2}])", R"({"":2})", 0);
    row("append with -", R"({"a":[1]})", R"([{"op":"add","path":"/a/-","value":2}])", R"({"a":[1,2]})", 0);
    row("add at end index", R"({"a":[1]})", R"([{"op":"add","path":"/a/1","value":2}])", R"({"a":[1,2]})", 0);
    row("add replaces member", R"({"a":1})", R"([{"op":"add","path":"/a","value":2}])", R"({"a":2})", 0);
    row("add whole document", R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])", R"([1])", 0);
    row("replace whole document", R"({"a":1})", R"([{"op":"replace","path":"","value":{"b":2}}])", R"({"b":2})", 0);
    row("copy", R"({"a":{"x":1}})", R"([{"op":"copy","from":"/a","path":"/b"}])", R"({"a":{"x":1},"b":{"x":1}})", 0);
    row("copy into array", R"({"a":[1,2],"b":3})", R"([{"op":"copy","from":"/b","path":"/a/0"}])",
        R"({"a":[3,1,2],"b":3})", 0);
    row("move to same place", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])", R"({"a":1})", 0);
    row("move to parent", R"({"a":{"b":{"c":1}}})", R"([{"op":"move","from":"/a/b","path":"/a"}])", R"({"a":{"c":1}})",
        0);
    row("test whole document", R"({"a":[1,{"b":null}]})", R"([{"op":"test","path":"","value":{"a":[1,{"b":null}]}}])",
        R"({"a":[1,{"b":null}]})", 0);
    row("test number forms", R"({"a":1})", R"([{"op":"test","path":"/a","value":1.0}])", R"({"a":1})", 0);
    row("test null value", R"({"a":null})", R"([{"op":"test","path":"/a","value":null}])", R"({"a":null})", 0);
    row("ops run in order", R"({})", R"([{"op":"add","path":"/a","value":{}},{"op":"add","path":"/a/b","value":1},
                                            {"op":"move","from":"/a/b","path":"/c"},{"op":"test","path":"/c","value":1}])",
        R"({"a":{},"c":1})", 0);
    row("empty patch", R"({"a":1})", R"([])", R"({"a":1})", 0);
    row("kubectl scale-like replace", R"({"spec":{"replicas":1}})",
        R"([{"op":"replace","path":"/spec/replicas","value":3}])", R"({"spec":{"replicas":3}})", 0);

    // Operations that do not apply: 422.
    row("remove missing", R"({"a":1})", R"([{"op":"remove","path":"/b"}])", QString(), 422);
    row("remove whole document", R"({"a":1})", R"([{"op":"remove","path":""}])", QString(), 422);
    row("remove -", R"({"a":[1]})", R"([{"op":"remove","path":"/a/-"}])", QString(), 422);
    row("remove out of bounds", R"({"a":[1]})", R"([{"op":"remove","path":"/a/1"}])", QString(), 422);
    row("replace missing", R"({"a":1})", R"([{"op":"replace","path":"/b","value":1}])", QString(), 422);
    row("add past end", R"({"a":[1]})", R"([{"op":"add","path":"/a/2","value":1}])", QString(), 422);
    row("leading zero index", R"({"a":[1,2]})", R"([{"op":"replace","path":"/a/01","value":1}])", QString(), 422);
    row("negative index", R"({"a":[1,2]})", R"([{"op":"add","path":"/a/-1","value":1}])", QString(), 422);
    row("index into scalar", R"({"a":1})", R"([{"op":"add","path":"/a/b","value":1}])", QString(), 422);
    row("move into own child", R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/c"}])", QString(), 422);
    row("move missing from", R"({"a":1})", R"([{"op":"move","from":"/b","path":"/c"}])", QString(), 422);
    row("copy missing from", R"({"a":1})", R"([{"op":"copy","from":"/b","path":"/c"}])", QString(), 422);
    row("test missing path", R"({"a":1})", R"([{"op":"test","path":"/b","value":null}])", QString(), 422);
    row("failing op after good ones", R"({"a":1})",
        R"([{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":2}])", QString(), 422);

    // Malformed patch documents: 400.
    row("not an array", R"({"a":1})", R"({"op":"add","path":"/a","value":1})", QString(), 400);
    row("null patch", R"({"a":1})", R"(null)", QString(), 400);
    row("operation not an object", R"({"a":1})", R"(["add"])", QString(), 400);
    row("missing op", R"({"a":1})", R"([{"path":"/a","value":1}])", QString(), 400);
    row("op not a string", R"({"a":1})", R"([{"op":1,"path":"/a","value":1}])", QString(), 400);
    row("unknown op", R"({"a":1})", R"([{"op":"merge","path":"/a","value":1}])", QString(), 400);
    row("missing path", R"({"a":1})", R"([{"op":"remove"}])", QString(), 400);
    row("missing value", R"({"a":1})", R"([{"op":"add","path":"/b"}])", QString(), 400);
    row("missing from", R"({"a":1})", R"([{"op":"copy","path":"/b"}])", QString(), 400);
    row("pointer without slash", R"({"a":1})", R"([{"op":"remove","path":"a"}])", QString(), 400);
    row("bad escape", R"({"a":1})", R"([{"op":"remove","path":"/~2"}])", QString(), 400);
    row("dangling escape", R"({"a~":1})", R"([{"op":"remove","path":"/a~"}])", QString(), 400);
    row("malformed later op", R"({"a":1})", R"([{"op":"remove","path":"/a"},{"op":"bogus"}])", QString(), 400);
}

void TestSandboxPatch::jsonPatch()
{
    QFETCH(QString, target);
    QFETCH(QString, patch);
    QFETCH(QString, expected);
    QFETCH(int, errorCode);
    const Json original = parse(target);
    verifyResult(applyJsonPatch(original, parse(patch)), expected, errorCode);
    QCOMPARE(show(original), show(parse(target))); // pure
}

void TestSandboxPatch::jsonPatchLimits()
{
    // Copies that double the document every time stop at the accumulated-copy limit.
    Json patch = Json::array();
    patch.push_back({{"op", "add"}, {"path", "/a"}, {"value", std::string(1000, 'x')}});
    for (int i = 0; i < 40; ++i)
        patch.push_back({{"op", "copy"}, {"from", "/a"}, {"path", "/a2"}}),
            patch.push_back({{"op", "add"}, {"path", "/a"}, {"value", Json::array()}}),
            patch.push_back({{"op", "move"}, {"from", "/a2"}, {"path", "/a/-"}}),
            patch.push_back({{"op", "copy"}, {"from", "/a/0"}, {"path", "/a/-"}});
    verifyResult(applyJsonPatch(Json::object(), patch), QString(), 422);

    // More operations than the apiserver accepts.
    Json many = Json::array();
    for (int i = 0; i < 10001; ++i)
        many.push_back({{"op", "test"}, {"path", ""}, {"value", Json::object()}});
    verifyResult(applyJsonPatch(Json::object(), many), QString(), 413);
    many.erase(many.size() - 1);
    verifyResult(applyJsonPatch(Json::object(), many), QStringLiteral("{}"), 0);
}

void TestSandboxPatch::mergePatch_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<int>("errorCode");

    // RFC 7386 appendix A, row by row.
    row("A.1", R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})", 0);
    row("A.2", R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})", 0);
    row("A.3", R"({"a":"b"})", R"({"a":null})", R"({})", 0);
    row("A.4", R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})", 0);
    row("A.5", R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})", 0);
    row("A.6", R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})", 0);
    row("A.7", R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})", 0);
    row("A.8", R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})", 0);
    row("A.9", R"(["a","b"])", R"(["c","d"])", R"(["c","d"])", 0);
    row("A.10", R"({"a":"b"})", R"(["c"])", R"(["c"])", 0);
    row("A.11", R"({"a":"foo"})", R"(null)", R"(null)", 0);
    row("A.12", R"({"a":"foo"})", R"("bar")", R"("bar")", 0);
    row("A.13", R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})", 0);
    row("A.14", R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})", 0);
    row("A.15", R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})", 0);

    row("kubectl scale", R"({"spec":{"replicas":1,"selector":{"app":"a"}}})", R"({"spec":{"replicas":3}})",
        R"({"spec":{"replicas":3,"selector":{"app":"a"}}})", 0);
    row("lists replaced wholesale", R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"y"}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"y"}]}})", 0);
    row("directives are plain keys", R"({"a":{"b":1}})", R"({"a":{"$patch":"delete"}})",
        R"({"a":{"b":1,"$patch":"delete"}})", 0);
    row("empty patch", R"({"a":1})", R"({})", R"({"a":1})", 0);
    row("too deep", R"({})", nestedObjects(1200), QString(), 400);
    row("deep but fine", R"({})", nestedObjects(900), nestedObjects(900), 0);
}

void TestSandboxPatch::mergePatch()
{
    QFETCH(QString, target);
    QFETCH(QString, patch);
    QFETCH(QString, expected);
    QFETCH(int, errorCode);
    verifyResult(applyMergePatch(parse(target), parse(patch)), expected, errorCode);
}

void TestSandboxPatch::strategic_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<int>("errorCode");

    // What kubectl apply sends after an image change (kube-protocol.md §4).
    row("kubectl apply image change", deployment(),
        R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"}},
              "spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
                                          "containers":[{"image":"nginx:1.27","name":"web"}]}}}})",
        deploymentWith(
            R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"}},
              "spec":{"template":{"spec":{"containers":[
                {"name":"web","image":"nginx:1.27","args":["-g","daemon off;"],
                 "ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}],
                 "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                 "volumeMounts":[{"mountPath":"/data","name":"data"}]},
                {"name":"sidecar","image":"busybox","command":["sleep","infinity"]}]}}}})"),
        0);
    // kubectl apply after the sidecar was dropped from the manifest.
    row("kubectl apply removes a container", deployment(),
        R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],
                                           "containers":[{"$patch":"delete","name":"sidecar"}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"containers":[
                {"name":"web","image":"nginx:1.25","args":["-g","daemon off;"],
                 "ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}],
                 "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                 "volumeMounts":[{"mountPath":"/data","name":"data"}]}]}}}})"),
        0);
    // kubectl apply after env B was dropped and C added before A.
    row("kubectl apply env edit", deployment(),
        R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
              "containers":[{"$setElementOrder/env":[{"name":"C"},{"name":"A"}],
                             "env":[{"name":"C","value":"3"},{"$patch":"delete","name":"B"}],"name":"web"}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"containers":[
                {"name":"web","image":"nginx:1.25","args":["-g","daemon off;"],
                 "ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}],
                 "env":[{"name":"C","value":"3"},{"name":"A","value":"1"}],
                 "volumeMounts":[{"mountPath":"/data","name":"data"}]},
                {"name":"sidecar","image":"busybox","command":["sleep","infinity"]}]}}}})"),
        0);
    row("new container goes first without an order", deployment(),
        R"({"spec":{"template":{"spec":{"containers":[{"name":"debug","image":"alpine"}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"containers":[
                {"name":"debug","image":"alpine"},
                {"name":"web","image":"nginx:1.25","args":["-g","daemon off;"],
                 "ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}],
                 "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                 "volumeMounts":[{"mountPath":"/data","name":"data"}]},
                {"name":"sidecar","image":"busybox","command":["sleep","infinity"]}]}}}})"),
        0);
    row("new container placed by $setElementOrder", deployment(),
        R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"},{"name":"debug"}],
              "containers":[{"name":"debug","image":"alpine"}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"containers":[
                {"name":"web","image":"nginx:1.25","args":["-g","daemon off;"],
                 "ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}],
                 "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                 "volumeMounts":[{"mountPath":"/data","name":"data"}]},
                {"name":"sidecar","image":"busybox","command":["sleep","infinity"]},
                {"name":"debug","image":"alpine"}]}}}})"),
        0);
    row("$setElementOrder alone reorders", R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}})",
        R"({"spec":{"containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}})", 0);
    // Server-only items (not in the order list) keep their place relative to the live list.
    row("$setElementOrder with a server-only item",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"b"},{"name":"c"},{"name":"a"}]}})", 0);
    row("$setElementOrder of primitives", R"({"metadata":{"finalizers":["x","y","z"]}})",
        R"({"metadata":{"$setElementOrder/finalizers":["z","w","y","x"],"finalizers":["w"]}})",
        R"({"metadata":{"finalizers":["z","w","y","x"]}})", 0);
    row("$setElementOrder must list the patch items", R"({"metadata":{"finalizers":["x","y","z"]}})",
        R"({"metadata":{"$setElementOrder/finalizers":["z","y","x"],"finalizers":["w"]}})", QString(), 400);
    row("$setElementOrder for a new list", R"({"spec":{}})",
        R"({"spec":{"$setElementOrder/initContainers":[{"name":"b"},{"name":"a"}],
                      "initContainers":[{"name":"b","env":[{"name":"X","value":null}]},{"name":"a"}]}})",
        R"({"spec":{"initContainers":[{"name":"b","env":[{"name":"X"}]},{"name":"a"}]}})", 0);
    row("$setElementOrder with a null list deletes it", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"$setElementOrder/containers":[],"containers":null}})", R"({"spec":{}})", 0);
    row("$setElementOrder disagreeing with the patch", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"name":"b"},{"name":"a"}]}})",
        QString(), 400);
    row("$setElementOrder missing the merge key", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"image":"a"}]}})", QString(), 400);
    row("$setElementOrder not a list", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"$setElementOrder/containers":{"name":"a"}}})", QString(), 400);
    row("$setElementOrder without a list name", R"({"spec":{}})", R"({"spec":{"$setElementOrder":[]}})", QString(),
        400);

    // Orders as apimachinery produces them (its patch_test.go raw cases compare exact order).
    row("patch order wins without $setElementOrder",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b","image":"x"},{"name":"c"}]}})",
        R"({"spec":{"containers":[{"name":"c","tty":true},{"name":"a","tty":true}]}})",
        R"({"spec":{"containers":[{"name":"b","image":"x"},{"name":"c","tty":true},{"name":"a","tty":true}]}})", 0);
    row("primitive patch order wins", R"({"metadata":{"finalizers":["a","b","c"]}})",
        R"({"metadata":{"finalizers":["c","a"]}})", R"({"metadata":{"finalizers":["b","c","a"]}})", 0);
    row("server-only items keep their place",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"z"},{"name":"c"},{"name":"d"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"d"},{"name":"c"}]}})",
        R"({"spec":{"containers":[{"name":"b"},{"name":"a"},{"name":"z"},{"name":"d"},{"name":"c"}]}})", 0);
    row("several server-only items keep their place",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"p"},{"name":"q"},{"name":"r"},{"name":"c"},{"name":"d"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"d"},{"name":"c"}]}})",
        R"({"spec":{"containers":[{"name":"b"},{"name":"a"},{"name":"p"},{"name":"q"},{"name":"r"},{"name":"d"},{"name":"c"}]}})",
        0);
    row("server-only primitives keep their place", R"({"metadata":{"finalizers":["a","z","b"]}})",
        R"({"metadata":{"$setElementOrder/finalizers":["c","a","b"],"finalizers":["c"]}})",
        R"({"metadata":{"finalizers":["c","a","z","b"]}})", 0);
    row("new item after a server-only item that took a deleted slot",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b","image":"x"},{"name":"d","image":"y"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"c"}],
                    "containers":[{"name":"c"},{"$patch":"delete","name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"b","image":"x"},{"name":"d","image":"y"},{"name":"c"}]}})", 0);
    row("new items beyond the freed slots",
        R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"d","image":"y"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"c"}],
                    "containers":[{"name":"b"},{"name":"c"},{"$patch":"delete","name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"d","image":"y"},{"name":"b"},{"name":"c"}]}})", 0);
    row("new item with a server-only item and no deletion",
        R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"z"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"name":"b"}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"},{"name":"z"}]}})", 0);
    row("order list naming a deleted item", R"({"spec":{"containers":[{"name":"x"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"h"},{"name":"gone"}],
                    "containers":[{"name":"h"},{"$patch":"delete","name":"gone"}]}})",
        R"({"spec":{"containers":[{"name":"h"},{"name":"x"}]}})", 0);
    row("order list with duplicates in the live list",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b","image":"1"},{"name":"c"},{"name":"b","image":"2"},{"name":"d"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"d"},{"name":"c"},{"name":"b"}]}})",
        R"({"spec":{"containers":[{"name":"b","image":"1"},{"name":"b","image":"2"},{"name":"a"},{"name":"d"},{"name":"c"}]}})",
        0);
    row("nested $setElementOrder in a merged element",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"A"},{"name":"B","value":"b"}]},{"name":"s"}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":"w"},{"name":"s"}],
                    "containers":[{"name":"w","$setElementOrder/env":[{"name":"B"},{"name":"A"}],"env":[{"name":"A","value":"a"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"B","value":"b"},{"name":"A","value":"a"}]},{"name":"s"}]}})",
        0);
    row("add, delete and reorder primitives at once", R"({"metadata":{"finalizers":["a","b","c","d"]}})",
        R"({"metadata":{"finalizers":["e"],"$deleteFromPrimitiveList/finalizers":["b"],
                        "$setElementOrder/finalizers":["a","c","e"]}})",
        R"({"metadata":{"finalizers":["a","c","e","d"]}})", 0);
    row("nulls filtered from a new atomic list of maps", R"({"spec":{}})",
        R"({"spec":{"tolerations":[{"key":"k","effect":null,"extra":{"a":"x","b":null}}]}})",
        R"({"spec":{"tolerations":[{"key":"k","extra":{"a":"x"}}]}})", 0);
    row("nulls kept in a new list of primitives", R"({"spec":{}})",
        R"({"spec":{"containers":[{"name":"w","args":["a",null,"b"]}]}})",
        R"({"spec":{"containers":[{"name":"w","args":["a",null,"b"]}]}})", 0);
    row("nulls in the original are kept", R"({"a":null,"b":{"c":null}})", R"({"d":{"e":5}})",
        R"({"a":null,"b":{"c":null},"d":{"e":5}})", 0);
    row("new map of nulls becomes empty", R"({})", R"({"spec":{"x":null}})", R"({"spec":{}})", 0);
    row("$patch delete inside a new list element of an atomic list", R"({"spec":{}})",
        R"({"spec":{"tolerations":[{"key":"a"},{"$patch":"delete","key":"b"}]}})",
        R"({"spec":{"tolerations":[{"key":"a"}]}})", 0);

    // Merge keys, by field and by context.
    row("env merges by name",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"B","value":"3"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"A","value":"1"},{"name":"B","value":"3"}]}]}})", 0);
    row("env value null drops the field", R"({"spec":{"containers":[{"name":"w","env":[{"name":"A","value":"1"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"A","value":null,"valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}})",
        R"({"spec":{"containers":[{"name":"w","env":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}})",
        0);
    row("container ports merge by containerPort",
        R"({"spec":{"containers":[{"name":"w","ports":[{"containerPort":80,"name":"http"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":81}]}]}})",
        R"({"spec":{"containers":[{"name":"w","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":81}]}]}})",
        0);
    row("volumeMounts merge by mountPath",
        R"({"spec":{"containers":[{"name":"w","volumeMounts":[{"mountPath":"/a","name":"x"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","volumeMounts":[{"mountPath":"/a","readOnly":true}]}]}})",
        R"({"spec":{"containers":[{"name":"w","volumeMounts":[{"mountPath":"/a","name":"x","readOnly":true}]}]}})", 0);
    row("volumeDevices merge by devicePath",
        R"({"spec":{"containers":[{"name":"w","volumeDevices":[{"devicePath":"/dev/a","name":"x"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","volumeDevices":[{"devicePath":"/dev/a","name":"y"}]}]}})",
        R"({"spec":{"containers":[{"name":"w","volumeDevices":[{"devicePath":"/dev/a","name":"y"}]}]}})", 0);
    row("initContainers and ephemeralContainers merge by name",
        R"({"spec":{"initContainers":[{"name":"i","image":"a"}],"ephemeralContainers":[{"name":"e","image":"a"}]}})",
        R"({"spec":{"initContainers":[{"name":"i","image":"b"}],"ephemeralContainers":[{"name":"e","tty":true}]}})",
        R"({"spec":{"initContainers":[{"name":"i","image":"b"}],"ephemeralContainers":[{"name":"e","image":"a","tty":true}]}})",
        0);
    row("imagePullSecrets merge by name", R"({"spec":{"imagePullSecrets":[{"name":"a"}]}})",
        R"({"spec":{"imagePullSecrets":[{"name":"b"},{"name":"a"}]}})",
        R"({"spec":{"imagePullSecrets":[{"name":"b"},{"name":"a"}]}})", 0);
    row("hostAliases merge by ip", R"({"spec":{"hostAliases":[{"ip":"10.0.0.1","hostnames":["a"]}]}})",
        R"({"spec":{"hostAliases":[{"ip":"10.0.0.1","hostnames":["b"]}]}})",
        R"({"spec":{"hostAliases":[{"ip":"10.0.0.1","hostnames":["b"]}]}})", 0);
    row("topologySpreadConstraints merge by topologyKey",
        R"({"spec":{"topologySpreadConstraints":[{"topologyKey":"zone","maxSkew":1},{"topologyKey":"host","maxSkew":1}]}})",
        R"({"spec":{"topologySpreadConstraints":[{"topologyKey":"host","maxSkew":2}]}})",
        R"({"spec":{"topologySpreadConstraints":[{"topologyKey":"zone","maxSkew":1},{"topologyKey":"host","maxSkew":2}]}})",
        0);
    row("volumes merge by name", deployment(),
        R"({"spec":{"template":{"spec":{"volumes":[{"name":"conf","configMap":{"name":"other"}}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"volumes":[{"name":"data","emptyDir":{}},
                                                                       {"name":"conf","configMap":{"name":"other"}}]}}}})"),
        0);
    row("ownerReferences merge by uid",
        R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b"}]}})",
        R"({"metadata":{"ownerReferences":[{"uid":"2","controller":true}]}})",
        R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b","controller":true}]}})", 0);
    row("status conditions merge by type", deployment(),
        R"({"status":{"conditions":[{"type":"Progressing","status":"False","reason":"X"}]}})",
        deploymentWith(R"({"status":{"conditions":[{"type":"Available","status":"True"},
                                                      {"type":"Progressing","status":"False","reason":"X"}]}})"),
        0);

    // Atomic lists are replaced.
    row("args replaced", R"({"spec":{"containers":[{"name":"w","args":["a","b"]}]}})",
        R"({"spec":{"containers":[{"name":"w","args":["c"]}]}})",
        R"({"spec":{"containers":[{"name":"w","args":["c"]}]}})", 0);
    row("command replaced", R"({"spec":{"containers":[{"name":"w","command":["a"]}]}})",
        R"({"spec":{"containers":[{"name":"w","command":[]}]}})",
        R"({"spec":{"containers":[{"name":"w","command":[]}]}})", 0);
    row("tolerations replaced", deployment(),
        R"({"spec":{"template":{"spec":{"tolerations":[{"key":"b","operator":"Exists","value":null}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"tolerations":[{"key":"b","operator":"Exists"}]}}}})"), 0);
    row("matchExpressions replaced", deployment(), R"({"spec":{"selector":{"matchExpressions":[]}}})",
        deploymentWith(R"({"spec":{"selector":{"matchExpressions":[]}}})"), 0);
    row("unknown list replaced", R"({"spec":{"items":[{"name":"a"},{"name":"b"}]}})",
        R"({"spec":{"items":[{"name":"b","x":1}]}})", R"({"spec":{"items":[{"name":"b","x":1}]}})", 0);

    // Finalizers are a set of primitives (patchStrategy:"merge" without a key).
    row("finalizers merge as a set", R"({"metadata":{"finalizers":["a","b"]}})",
        R"({"metadata":{"finalizers":["c","a"]}})", R"({"metadata":{"finalizers":["c","a","b"]}})", 0);
    row("finalizers new one first", R"({"metadata":{"finalizers":["a","b"]}})", R"({"metadata":{"finalizers":["c"]}})",
        R"({"metadata":{"finalizers":["c","a","b"]}})", 0);
    row("finalizers duplicates collapse", R"({"metadata":{}})", R"({"metadata":{"finalizers":["a","a","b"]}})",
        R"({"metadata":{"finalizers":["a","b"]}})", 0);
    row("$deleteFromPrimitiveList", R"({"metadata":{"finalizers":["a","b","c"]}})",
        R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b","x"]}})", R"({"metadata":{"finalizers":["a","c"]}})",
        0);
    row("$deleteFromPrimitiveList with additions", R"({"metadata":{"finalizers":["a","b"]}})",
        R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"finalizers":["c"]}})",
        R"({"metadata":{"finalizers":["c","b"]}})", 0);
    row("$deleteFromPrimitiveList on an atomic list", R"({"spec":{"containers":[{"name":"w","args":["a","b","a"]}]}})",
        R"({"spec":{"containers":[{"name":"w","$deleteFromPrimitiveList/args":["a"]}]}})",
        R"({"spec":{"containers":[{"name":"w","args":["b"]}]}})", 0);
    row("$deleteFromPrimitiveList of a missing list", R"({"metadata":{}})",
        R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})", R"({"metadata":{}})", 0);
    row("$deleteFromPrimitiveList not a list", R"({"metadata":{"finalizers":["a"]}})",
        R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}})", QString(), 400);
    row("$deleteFromPrimitiveList without a list name", R"({"metadata":{}})",
        R"({"metadata":{"$deleteFromPrimitiveList":["a"]}})", QString(), 400);

    // null deletes.
    row("null deletes a label", deployment(), R"({"metadata":{"labels":{"tier":null,"new":"x"}}})",
        deploymentWith(R"({"metadata":{"labels":{"tier":null,"new":"x"}}})"), 0);
    row("null deletes a list", deployment(), R"({"metadata":{"finalizers":null}})",
        deploymentWith(R"({"metadata":{"finalizers":null}})"), 0);
    row("null for a missing key", R"({"a":1})", R"({"b":null})", R"({"a":1})", 0);
    row("nulls inside a new map are dropped", R"({"spec":{}})",
        R"({"spec":{"template":{"metadata":{"annotations":{"a":"1","b":null}}}}})",
        R"({"spec":{"template":{"metadata":{"annotations":{"a":"1"}}}}})", 0);

    // $patch in maps.
    row("$patch replace in a map", deployment(),
        R"({"spec":{"selector":{"$patch":"replace","matchLabels":{"app":"other"}}}})",
        deploymentWith(R"({"spec":{"selector":{"matchLabels":{"app":"other"},"matchExpressions":null}}})"), 0);
    row("$patch replace processes the rest", R"({"a":{"x":1}})", R"({"a":{"$patch":"replace","b":{"c":null,"d":1}}})",
        R"({"a":{"b":{"d":1}}})", 0);
    row("$patch delete in a map", deployment(),
        R"({"spec":{"template":{"spec":{"securityContext":{"$patch":"delete"}}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"securityContext":{"runAsUser":null}}}}})"), 0);
    row("$patch delete of a missing map", R"({"spec":{}})", R"({"spec":{"securityContext":{"$patch":"delete"}}})",
        R"({"spec":{}})", 0);
    row("$patch delete of the whole object", deployment(), R"({"$patch":"delete"})", R"({})", 0);
    row("$patch replace of the whole object", deployment(),
        R"({"$patch":"replace","kind":"Deployment","spec":{"replicas":1}})",
        R"({"kind":"Deployment","spec":{"replicas":1}})", 0);
    row("$patch merge in a map", R"({"a":{"x":1}})", R"({"a":{"$patch":"merge","y":2}})", R"({"a":{"x":1,"y":2}})", 0);
    row("$patch unknown in a map", R"({"a":{"x":1}})", R"({"a":{"$patch":"explode"}})", QString(), 400);
    row("$patch not a string", R"({"a":{"x":1}})", R"({"a":{"$patch":1}})", QString(), 400);

    // $patch in list elements.
    row("$patch delete a list element", R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
        R"({"spec":{"containers":[{"name":"b","$patch":"delete"}]}})",
        R"({"spec":{"containers":[{"name":"a"},{"name":"c"}]}})", 0);
    row("$patch delete every matching element",
        R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"a","x":1}]}})",
        R"({"spec":{"containers":[{"name":"a","$patch":"delete"}]}})", R"({"spec":{"containers":[{"name":"b"}]}})", 0);
    row("$patch delete of a missing element", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"z","$patch":"delete"}]}})", R"({"spec":{"containers":[{"name":"a"}]}})", 0);
    row("$patch delete element without merge key", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"$patch":"delete"}]}})", QString(), 400);
    row("$patch replace a list", R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"}]}})",
        R"({"spec":{"containers":[{"$patch":"replace"},{"name":"only","image":"y","env":[{"name":"E","value":null}]}]}})",
        R"({"spec":{"containers":[{"name":"only","image":"y","env":[{"name":"E"}]}]}})", 0);
    row("$patch replace a list with nothing", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"$patch":"replace"}]}})", R"({"spec":{"containers":[]}})", 0);
    row("$patch merge list element", R"({"spec":{"containers":[{"name":"a","image":"x"}]}})",
        R"({"spec":{"containers":[{"name":"a","$patch":"merge","tty":true}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"x","tty":true}]}})", 0);
    row("$patch unknown in a list element", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"a","$patch":"nope"}]}})", QString(), 400);
    row("list element missing merge key", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"image":"x"}]}})", QString(), 400);
    row("directives in a new list are processed", R"({"spec":{}})",
        R"({"spec":{"containers":[{"name":"a","$patch":"delete"},{"name":"b","securityContext":{"$patch":"delete"}}]}})",
        R"({"spec":{"containers":[{"name":"b"}]}})", 0);
    row("same merge key twice in a patch", R"({"spec":{"containers":[]}})",
        R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"a","tty":true}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"x","tty":true}]}})", 0);

    // $retainKeys.
    row("$retainKeys deployment strategy", deployment(),
        R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})",
        deploymentWith(R"({"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}})"), 0);
    row("$retainKeys volume source change", deployment(),
        R"({"spec":{"template":{"spec":{"$setElementOrder/volumes":[{"name":"data"},{"name":"conf"}],
              "volumes":[{"$retainKeys":["hostPath","name"],"hostPath":{"path":"/srv"},"name":"data"}]}}}})",
        deploymentWith(R"({"spec":{"template":{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/srv"}},
                                                                       {"name":"conf","configMap":{"name":"web-conf"}}]}}}})"),
        0);
    row("$retainKeys allows nulls and directives", R"({"a":{"x":1,"y":2,"z":3}})",
        R"({"a":{"$retainKeys":["x"],"y":null,"$setElementOrder/x":[]}})", R"({"a":{"x":1}})", 0);
    row("$retainKeys mismatching the patch", R"({"a":{"x":1}})", R"({"a":{"$retainKeys":["x"],"y":2}})", QString(),
        422);
    row("$retainKeys not a list", R"({"a":{"x":1}})", R"({"a":{"$retainKeys":"x"}})", QString(), 400);

    // Values of another type replace; malformed lists are refused.
    row("map replaces a string", R"({"a":"x"})", R"({"a":{"b":1,"c":null}})", R"({"a":{"b":1}})", 0);
    row("list replaces a map", R"({"spec":{"containers":{"x":1}}})", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"a"}]}})", 0);
    row("scalar replaces a list", R"({"metadata":{"finalizers":["a"]}})", R"({"metadata":{"finalizers":"a"}})",
        R"({"metadata":{"finalizers":"a"}})", 0);
    row("list of lists in a merge list", R"({"metadata":{"finalizers":["a"]}})",
        R"({"metadata":{"finalizers":[["b"]]}})", QString(), 422);
    row("mixed element types in a merge list", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":["b"]}})", QString(), 422);
    row("maps in a primitive merge list", R"({"metadata":{"finalizers":["a"]}})",
        R"({"metadata":{"finalizers":[{"a":1}]}})", QString(), 422);
    row("unknown directive keys are dropped", R"({"a":1})", R"({"$unknown":1,"b":{"$x":2}})", R"({"a":1,"b":{}})", 0);
    row("empty patch", deployment(), R"({})", deployment(), 0);

    // Malformed patches and limits.
    row("patch is an array", R"({"a":1})", R"([{"op":"add"}])", QString(), 400);
    row("patch is a string", R"({"a":1})", R"("x")", QString(), 400);
    row("patch is null", R"({"a":1})", R"(null)", QString(), 400);
    row("too deep", R"({})", nestedObjects(1200), QString(), 400);
    row("target not an object", R"([1])", R"({"a":1})", R"({"a":1})", 0);
}

void TestSandboxPatch::strategic()
{
    QFETCH(QString, target);
    QFETCH(QString, patch);
    QFETCH(QString, expected);
    QFETCH(int, errorCode);
    const Json original = parse(target);
    // Rows without a kind are shaped like a Pod.
    const std::string kind = original.is_object() ? original.value("kind", "Pod") : "Pod";
    const PatchResult result = applyStrategicMergePatch(original, parse(patch), kind);
    verifyResult(result, expected, errorCode);
    if (const auto *doc = std::get_if<Json>(&result))
        QVERIFY(!hasDirective(*doc));
    QCOMPARE(show(original), show(parse(target))); // pure
}

void TestSandboxPatch::strategicKinds_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("expected");

    row("Pod containers", "Pod", R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"y"}]}})",
        R"({"spec":{"containers":[{"name":"a","image":"y"},{"name":"b"}]}})");
    row("Pod status podIPs", "Pod", R"({"status":{"podIPs":[{"ip":"10.0.0.1"}]}})",
        R"({"status":{"podIPs":[{"ip":"10.0.0.2"}]}})",
        R"({"status":{"podIPs":[{"ip":"10.0.0.2"},{"ip":"10.0.0.1"}]}})");
    row("Pod has no template", "Pod", R"({"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}})",
        R"({"spec":{"template":{"spec":{"containers":[{"name":"b"}]}}}})",
        R"({"spec":{"template":{"spec":{"containers":[{"name":"b"}]}}}})");
    row("Service ports merge by port", "Service",
        R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":8443}]}})",
        R"({"spec":{"$setElementOrder/ports":[{"port":80},{"port":443}],"ports":[{"port":443,"targetPort":9443}]}})",
        R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":9443}]}})");
    row("Deployment spec.ports is not a merge list", "Deployment", R"({"spec":{"ports":[{"port":80},{"port":443}]}})",
        R"({"spec":{"ports":[{"port":443}]}})", R"({"spec":{"ports":[{"port":443}]}})");
    row("StatefulSet template", "StatefulSet", R"({"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}})",
        R"({"spec":{"template":{"spec":{"containers":[{"name":"b"}]}}}})",
        R"({"spec":{"template":{"spec":{"containers":[{"name":"b"},{"name":"a"}]}}}})");
    row("DaemonSet template", "DaemonSet", R"({"spec":{"template":{"spec":{"volumes":[{"name":"a"}]}}}})",
        R"({"spec":{"template":{"spec":{"volumes":[{"name":"a","emptyDir":{}}]}}}})",
        R"({"spec":{"template":{"spec":{"volumes":[{"name":"a","emptyDir":{}}]}}}})");
    row("Job template", "Job", R"({"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}})",
        R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}})",
        R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}})");
    row("CronJob job template", "CronJob",
        R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}}}})",
        R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}}})",
        R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}}})");
    row("ConfigMap data merges", "ConfigMap", R"({"data":{"a":"1","b":"2"}})", R"({"data":{"b":null,"c":"3"}})",
        R"({"data":{"a":"1","c":"3"}})");
    row("Secret finalizers", "Secret", R"({"metadata":{"finalizers":["a"]}})", R"({"metadata":{"finalizers":["b"]}})",
        R"({"metadata":{"finalizers":["b","a"]}})");
    row("Namespace conditions", "Namespace", R"({"status":{"conditions":[{"type":"A","status":"True"}]}})",
        R"({"status":{"conditions":[{"type":"A","status":"False"}]}})",
        R"({"status":{"conditions":[{"type":"A","status":"False"}]}})");
    row("Node addresses", "Node", R"({"status":{"addresses":[{"type":"InternalIP","address":"1"}]}})",
        R"({"status":{"addresses":[{"type":"Hostname","address":"h"}]}})",
        R"({"status":{"addresses":[{"type":"Hostname","address":"h"},{"type":"InternalIP","address":"1"}]}})");
    row("unknown kind lists replaced", "Widget", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"containers":[{"name":"b"}]}})", R"({"spec":{"containers":[{"name":"b"}]}})");
}

void TestSandboxPatch::strategicKinds()
{
    QFETCH(QString, kind);
    QFETCH(QString, target);
    QFETCH(QString, patch);
    QFETCH(QString, expected);
    verifyResult(applyStrategicMergePatch(parse(target), parse(patch), kind.toStdString()), expected, 0);
}

void TestSandboxPatch::neverThrows_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("patch");

    row("scalars", R"(1)", R"(2)");
    row("null target", R"(null)", R"({"a":{"$patch":"delete"}})");
    row("nested directives", R"({"spec":{"containers":[{"name":null}]}})",
        R"({"spec":{"$setElementOrder/containers":[{"name":null}],"containers":[{"name":null,"$patch":"delete"}]}})");
    row("null elements", R"({"spec":{"containers":[null,{"name":"a"}]}})",
        R"({"spec":{"containers":[null,{"name":"a","image":"x"}]}})");
    row("merge key is an object", R"({"spec":{"containers":[{"name":{"x":1}}]}})",
        R"({"spec":{"containers":[{"name":{"x":1},"image":"x"}]}})");
    row("setElementOrder with scalars for maps", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"$setElementOrder/containers":["a"]}})");
    row("deleteFromPrimitiveList of maps", R"({"spec":{"containers":[{"name":"a"}]}})",
        R"({"spec":{"$deleteFromPrimitiveList/containers":[{"name":"a"}]}})");
    row("retainKeys with non-strings", R"({"a":{"x":1}})", R"({"a":{"$retainKeys":[1,null,{}]}})");
    row("json patch in every shape", R"([[],{}])", R"([{"op":"move","from":"/0","path":"/1/a"}])");
}

void TestSandboxPatch::neverThrows()
{
    QFETCH(QString, target);
    QFETCH(QString, patch);
    const Json t = parse(target);
    const Json p = parse(patch);
    for (const char *kind : {"Pod", "Deployment", "Service", "Widget"}) {
        const PatchResult smp = applyStrategicMergePatch(t, p, kind);
        if (const auto *error = std::get_if<ApiError>(&smp))
            QVERIFY2(error->code == 400 || error->code == 422, error->message.c_str());
        else
            QVERIFY(!hasDirective(std::get<Json>(smp)));
    }
    const PatchResult merge = applyMergePatch(t, p);
    QVERIFY(std::holds_alternative<Json>(merge));
    const PatchResult json = applyJsonPatch(t, p);
    if (const auto *error = std::get_if<ApiError>(&json))
        QVERIFY2(error->code == 400 || error->code == 422, error->message.c_str());
}

// Patch documents nested deeper than any object are refused before anything recurses into them.
void TestSandboxPatch::deepPatches()
{
    // Deep enough to be refused, shallow enough for this test's own (recursive) copies.
    const auto deep = [] {
        Json value = Json::array();
        for (int i = 0; i < 5000; ++i)
            value = Json::array({std::move(value)});
        return value;
    };
    const Json target = Json::parse(R"({"a":1})");
    verifyResult(applyMergePatch(target, Json {{"a", deep()}}), QString(), 400);
    verifyResult(applyStrategicMergePatch(target, Json {{"a", deep()}}, "Pod"), QString(), 400);
    verifyResult(applyJsonPatch(target, Json::array({{{"op", "add"}, {"path", "/b"}, {"value", deep()}}})), QString(),
                 400);
    // A deep merge key value inside a list element.
    const Json pod = Json::parse(R"({"spec":{"containers":[{"name":"a"}]}})");
    verifyResult(
        applyStrategicMergePatch(pod, Json {{"spec", {{"containers", Json::array({{{"name", deep()}}})}}}}, "Pod"),
        QString(), 400);
}

// Lists of thousands of entries merge in about linear time (the single-threaded sandbox server
// must not stall on one large patch).
void TestSandboxPatch::largeLists()
{
    constexpr int n = 10000;
    Json containers = Json::array(), finalizers = Json::array(), order = Json::array(), patchList = Json::array(),
         added = Json::array(), removed = Json::array();
    for (int i = 0; i < n; ++i) {
        const std::string name = "c" + std::to_string(i);
        containers.push_back({{"name", name}, {"image", "x"}});
        finalizers.push_back(name);
        order.push_back({{"name", "c" + std::to_string(n - 1 - i)}});
        // The patch lists items in the order of $setElementOrder (reversed), as kubectl does.
        const std::string reversed = "c" + std::to_string(n - 1 - i);
        if ((n - 1 - i) % 2 == 0)
            patchList.push_back({{"name", reversed}, {"image", "y"}});
        else
            patchList.push_back({{"name", reversed}, {"$patch", "delete"}});
        added.push_back("n" + std::to_string(i));
        if (i % 2)
            removed.push_back(name);
    }
    Json evenOrder = Json::array();
    for (const Json &entry : order) {
        if (std::stoi(entry["name"].get<std::string>().substr(1)) % 2 == 0)
            evenOrder.push_back(entry);
    }
    const Json target = {{"metadata", {{"finalizers", finalizers}}}, {"spec", {{"containers", containers}}}};
    const Json patch = {{"metadata",
                         {{"finalizers", added},
                          {"$deleteFromPrimitiveList/finalizers", removed},
                          {"$setElementOrder/finalizers", Json::array()}}},
                        {"spec", {{"$setElementOrder/containers", evenOrder}, {"containers", patchList}}}};
    QElapsedTimer timer;
    timer.start();
    const PatchResult result = applyStrategicMergePatch(target, patch, "Pod");
    const qint64 elapsed = timer.elapsed();
    if (const auto *error = std::get_if<ApiError>(&result))
        QFAIL(error->message.c_str());
    const auto *doc = std::get_if<Json>(&result);
    const Json &merged = (*doc)["spec"]["containers"];
    QCOMPARE(int(merged.size()), n / 2);
    QCOMPARE(show(merged.front()), show(Json({{"name", "c" + std::to_string(n - 2)}, {"image", "y"}})));
    QCOMPARE(show(merged.back()), show(Json({{"name", "c0"}, {"image", "y"}})));
    QCOMPARE(int((*doc)["metadata"]["finalizers"].size()), n / 2 + n);
    QVERIFY2(elapsed < 60000, qPrintable(QString::number(elapsed))); // seconds even with sanitizers, not hours
}

// The fuzzer's seeds and every input it found troublesome (tests/fuzz/regressions/sandbox_patch)
// still satisfy its invariants.
void TestSandboxPatch::fuzzReplay_data()
{
    QTest::addColumn<QByteArray>("input");
    int rows = 0;
    for (const char *dir : {"/tests/fuzz/corpus/sandbox_patch", "/tests/fuzz/regressions/sandbox_patch"}) {
        QDirIterator it(QStringLiteral(ITERDECK_SOURCE_DIR) + QString::fromLatin1(dir), QDir::Files);
        while (it.hasNext()) {
            const QString path = it.next();
            QFile file(path);
            QVERIFY(file.open(QIODevice::ReadOnly));
            QTest::newRow(qPrintable(QString::fromLatin1(dir).section(u'/', -1) + u'/' + QFileInfo(path).fileName()))
                << file.readAll();
            ++rows;
        }
    }
    QVERIFY(rows >= 10);
}

void TestSandboxPatch::fuzzReplay()
{
    QFETCH(QByteArray, input);
    QVERIFY(iterdeck::fuzz::sandboxPatchOnce(reinterpret_cast<const uint8_t *>(input.constData()),
                                             std::size_t(input.size())));
}

QTEST_GUILESS_MAIN(TestSandboxPatch)
#include "tst_sandboxpatch.moc"
