// Label and field selectors as the apiserver parses them: the query syntax with its exact error
// texts, key/value validation, metav1.LabelSelector objects, matching, and per-kind fields.
#include "sandbox/selector.h"

#include <QStringList>
#include <QTest>

using namespace iterdeck::sandbox;

namespace {

Json parse(const QString &text)
{
    return Json::parse(text.toStdString());
}

QString cell(const char *text)
{
    return QString::fromUtf8(text);
}

QString cell(const std::string &text)
{
    return QString::fromStdString(text);
}

bool cell(bool value)
{
    return value;
}

// QTest::newRow(name) << values..., with string literals as QString cells.
template<typename... Values> void row(const char *name, const Values &...values)
{
    QTestData &data = QTest::newRow(name);
    ((data << cell(values)), ...);
}

// The requirements in the apiserver's String() form, e.g. "a in (x,y),!b".
QString render(const LabelSelector &selector)
{
    QStringList parts;
    for (const LabelSelector::Requirement &r : selector.requirements()) {
        const QString key = QString::fromStdString(r.key);
        QStringList values;
        for (const std::string &v : r.values)
            values << QString::fromStdString(v);
        switch (r.op) {
        case LabelSelector::Op::Equals:
            parts << key + u'=' + values.join(u',');
            break;
        case LabelSelector::Op::NotEquals:
            parts << key + QStringLiteral("!=") + values.join(u',');
            break;
        case LabelSelector::Op::In:
            parts << key + QStringLiteral(" in (") + values.join(u',') + u')';
            break;
        case LabelSelector::Op::NotIn:
            parts << key + QStringLiteral(" notin (") + values.join(u',') + u')';
            break;
        case LabelSelector::Op::Exists:
            parts << key;
            break;
        case LabelSelector::Op::DoesNotExist:
            parts << u'!' + key;
            break;
        case LabelSelector::Op::GreaterThan:
            parts << key + u'>' + values.join(u',');
            break;
        case LabelSelector::Op::LessThan:
            parts << key + u'<' + values.join(u',');
            break;
        }
    }
    return parts.join(u',');
}

const std::string kNameRegexError
    = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kValueRegexError
    = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
      "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
      "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const std::string kPrefixRegexError
    = "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
      "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

} // namespace

class TestSandboxSelector : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void labelParse_data();
    void labelParse();
    void labelMatch_data();
    void labelMatch();
    void labelObject_data();
    void labelObject();
    void fieldParse_data();
    void fieldParse();
    void fieldMatch_data();
    void fieldMatch();
    void fieldExactValue();
};

void TestSandboxSelector::labelParse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected"); // requirements, sorted by key, when it parses
    QTest::addColumn<QString>("error"); // the exact error otherwise

    row("empty", "", "", "");
    row("blank", " \t\r\n ", "", "");
    row("equals", "a=b", "a=b", "");
    row("double equals", "a==b", "a=b", "");
    row("not equals", "a!=b", "a!=b", "");
    row("in", "a in (x,y)", "a in (x,y)", "");
    row("in sorts and dedupes", "a in (y,x,y)", "a in (x,y)", "");
    row("notin", "a notin (x)", "a notin (x)", "");
    row("exists", "a", "a", "");
    row("does not exist", "!a", "!a", "");
    row("all together", "a=b,c!=d,e in (x,y),f notin (z),g,!h", "a=b,c!=d,e in (x,y),f notin (z),g,!h", "");
    row("sorted by key", "z=1,a=2,m", "a=2,m,z=1", "");
    row("whitespace everywhere", "  a  =  b  ,  c  in  ( x , y )  ,  ! d ", "a=b,c in (x,y),!d", "");
    row("tabs and newlines", "a\t=\tb,\nc", "a=b,c", "");
    row("empty value", "a=", "a=", "");
    row("empty value before comma", "a=,b", "a=,b", "");
    row("empty set", "x in ()", "x in ()", "");
    row("empty members", "x in (foo,,baz)", "x in (,baz,foo)", "");
    row("leading comma in set", "x in (,a)", "x in (,a)", "");
    row("trailing comma in set", "x in (a,)", "x in (,a)", "");
    row("prefixed key", "app.kubernetes.io/name=web", "app.kubernetes.io/name=web", "");
    row("in as key and value", "in in (in)", "in in (in)", "");
    row("notin as key", "notin=notin", "notin=notin", "");
    row("greater than", "a>1", "a>1", "");
    row("less than", "a<10", "a<10", "");
    row("63 char name", std::string(63, 'a') + "=" + std::string(63, 'b'),
        std::string(63, 'a') + "=" + std::string(63, 'b'), "");
    row("dots dashes underscores", "a.b-c_d=e.f-g_h", "a.b-c_d=e.f-g_h", "");

    row("missing operator", "a b", "",
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
    row("trailing comma", "a=b,", "", "found '', expected: identifier after ','");
    row("leading comma", ",a", "", "found ',', expected: !, identifier, or 'end of string'");
    row("double comma", "a,,b", "", "found ',', expected: identifier after ','");
    row("in without parens", "a in b", "", "unable to parse requirement: found 'b' expected: '('");
    row("unclosed set", "a in (b", "", "unable to parse requirement: found '', expected: ',' or ')'");
    row("set missing comma", "a in (b c)", "", "unable to parse requirement: found 'c', expected: ',' or ')'");
    row("operator in set", "a in (b,=)", "", "unable to parse requirement: found '=', expected: ',', or identifier");
    row("set starting with an operator", "a in (=)", "",
        "unable to parse requirement: found '=', expected: ',', ')' or identifier");
    row("junk after value", "a=b c", "", "found 'c', expected: ',' or 'end of string'");
    row("value is a paren", "a=(b)", "", "unable to parse requirement: found '(', expected: identifier");
    row("lone bang", "!", "", "unable to parse requirement: found '', expected: identifier");
    row("bang with operator", "!a=b", "", "found '=', expected: ',' or 'end of string'");
    row("starts with operator", "=a", "", "found '=', expected: !, identifier, or 'end of string'");
    row("less or equal is not an operator", "a<=1", "", "unable to parse requirement: found '=', expected: identifier");
    row("bad key", "a$=b", "", "unable to parse requirement: <nil>: Invalid value: \"a$\": " + kNameRegexError);
    row("key ends with dash", "a-", "",
        "unable to parse requirement: <nil>: Invalid value: \"a-\": " + kNameRegexError);
    row("key too long", std::string(64, 'k'), "",
        "unable to parse requirement: <nil>: Invalid value: \"" + std::string(64, 'k')
            + "\": name part must be no more than 63 characters");
    row("uppercase prefix", "Example.com/a=b", "",
        "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": " + kPrefixRegexError);
    row("empty prefix", "/a", "",
        "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty");
    row("empty name", "a.com/", "",
        "unable to parse requirement: <nil>: Invalid value: \"a.com/\": name part must be non-empty; "
            + kNameRegexError);
    row("two slashes", "a/b/c", "",
        "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric "
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
        "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
        "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    row("bad value", "a=b$", "",
        "unable to parse requirement: values[0][a]: Invalid value: \"b$\": " + kValueRegexError);
    row("value too long", "a=" + std::string(64, 'v'), "",
        "unable to parse requirement: values[0][a]: Invalid value: \"" + std::string(64, 'v')
            + "\": must be no more than 63 characters");
    row("two bad values", "a in (x$,y$)", "",
        "unable to parse requirement: [values[0][a]: Invalid value: \"x$\": " + kValueRegexError
            + ", values[1][a]: Invalid value: \"y$\": " + kValueRegexError + "]");
    row("gt needs an integer", "a>b", "",
        "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be "
        "an integer");
    row("control character quoted", "a=b\x01", "",
        "unable to parse requirement: values[0][a]: Invalid value: \"b\\x01\": " + kValueRegexError);
}

void TestSandboxSelector::labelParse()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    QFETCH(QString, error);
    std::string message;
    const auto selector = LabelSelector::parse(text.toStdString(), &message);
    if (error.isEmpty()) {
        QVERIFY2(selector, message.c_str());
        QCOMPARE(render(*selector), expected);
        QCOMPARE(selector->empty(), expected.isEmpty());
        QVERIFY(!selector->matchesNothing());
    } else {
        QVERIFY(!selector);
        QCOMPARE(QString::fromStdString(message), error);
        QVERIFY(!LabelSelector::parse(text.toStdString(), nullptr)); // a null error pointer is fine
    }
}

void TestSandboxSelector::labelMatch_data()
{
    QTest::addColumn<QString>("selector");
    QTest::addColumn<QString>("labels");
    QTest::addColumn<bool>("matches");

    row("empty matches all", "", R"({"a":"b"})", true);
    row("empty matches no labels", "", "null", true);
    row("equals", "app=web", R"({"app":"web","x":"y"})", true);
    row("equals other value", "app=web", R"({"app":"db"})", false);
    row("equals missing", "app=web", R"({})", false);
    row("equals empty value", "app=", R"({"app":""})", true);
    row("equals empty value missing", "app=", R"({})", false);
    row("not equals other", "app!=web", R"({"app":"db"})", true);
    row("not equals missing", "app!=web", R"({})", true);
    row("not equals same", "app!=web", R"({"app":"web"})", false);
    row("in", "env in (dev,qa)", R"({"env":"qa"})", true);
    row("in missing", "env in (dev,qa)", R"({})", false);
    row("in empty member", "env in (,dev)", R"({"env":""})", true);
    row("notin", "env notin (prod)", R"({"env":"qa"})", true);
    row("notin missing", "env notin (prod)", "null", true);
    row("notin listed", "env notin (prod)", R"({"env":"prod"})", false);
    row("exists", "tier", R"({"tier":""})", true);
    row("exists missing", "tier", R"({"x":"y"})", false);
    row("does not exist", "!tier", R"({"x":"y"})", true);
    row("does not exist present", "!tier", R"({"tier":"a"})", false);
    row("and", "app=web,!canary,env in (dev)", R"({"app":"web","env":"dev"})", true);
    row("and fails one", "app=web,!canary,env in (dev)", R"({"app":"web","env":"dev","canary":"1"})", false);
    row("gt", "replicas>2", R"({"replicas":"3"})", true);
    row("gt equal", "replicas>2", R"({"replicas":"2"})", false);
    row("gt not a number", "replicas>2", R"({"replicas":"three"})", false);
    row("gt missing", "replicas>2", R"({})", false);
    row("lt", "replicas<2", R"({"replicas":"1"})", true);
    row("prefixed key", "app.kubernetes.io/name=web", R"({"app.kubernetes.io/name":"web"})", true);
}

void TestSandboxSelector::labelMatch()
{
    QFETCH(QString, selector);
    QFETCH(QString, labels);
    QFETCH(bool, matches);
    std::string error;
    const auto parsed = LabelSelector::parse(selector.toStdString(), &error);
    QVERIFY2(parsed, error.c_str());
    QCOMPARE(parsed->matches(parse(labels)), matches);
}

void TestSandboxSelector::labelObject_data()
{
    QTest::addColumn<QString>("object");
    QTest::addColumn<QString>("expected"); // rendered requirements
    QTest::addColumn<QString>("labels");
    QTest::addColumn<bool>("matches");
    QTest::addColumn<QString>("error");

    row("null matches nothing", "null", "", R"({})", false, "");
    row("empty matches everything", "{}", "", R"({"a":"b"})", true, "");
    row("empty parts match everything", R"({"matchLabels":{},"matchExpressions":[]})", "", R"({})", true, "");
    row("null parts match everything", R"({"matchLabels":null,"matchExpressions":null})", "", R"({})", true, "");
    row("matchLabels", R"({"matchLabels":{"app":"web","tier":"front"}})", "app=web,tier=front",
        R"({"app":"web","tier":"front","x":"1"})", true, "");
    row("matchLabels mismatch", R"({"matchLabels":{"app":"web"}})", "app=web", R"({"app":"db"})", false, "");
    row("expressions", R"({"matchExpressions":[{"key":"env","operator":"In","values":["qa","dev"]},
                                              {"key":"canary","operator":"DoesNotExist"},
                                              {"key":"tier","operator":"Exists"},
                                              {"key":"zone","operator":"NotIn","values":["b"]}]})",
        "!canary,env in (qa,dev),tier,zone notin (b)", R"({"env":"dev","tier":"x","zone":"a"})", true, "");
    row("labels and expressions",
        R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"app","operator":"NotIn","values":["db"]}]})",
        "app=web,app notin (db)", R"({"app":"web"})", true, "");
    row("In without values", R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})", "", "{}", false,
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty");
    row("Exists with values", R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})", "", "{}",
        false, "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist");
    row("unknown operator", R"({"matchExpressions":[{"key":"a","operator":"Gt","values":["1"]}]})", "", "{}", false,
        "\"Gt\" is not a valid label selector operator");
    row("bad key", R"({"matchLabels":{"a b":"c"}})", "", "{}", false,
        "key: Invalid value: \"a b\": " + kNameRegexError);
    row("missing key", R"({"matchExpressions":[{"operator":"Exists"}]})", "", "{}", false,
        "key: Invalid value: \"\": name part must be non-empty; " + kNameRegexError);
    row("bad value", R"({"matchLabels":{"a":"-x"}})", "", "{}", false,
        "values[0][a]: Invalid value: \"-x\": " + kValueRegexError);
    row("value not a string", R"({"matchLabels":{"a":1}})", "", "{}", false, "matchLabels.a: must be a string");
    row("not an object", R"(["a"])", "", "{}", false, "a label selector must be an object, got array");
}

void TestSandboxSelector::labelObject()
{
    QFETCH(QString, object);
    QFETCH(QString, expected);
    QFETCH(QString, labels);
    QFETCH(bool, matches);
    QFETCH(QString, error);
    std::string message;
    const auto selector = LabelSelector::fromObject(parse(object), &message);
    if (!error.isEmpty()) {
        QVERIFY(!selector);
        QCOMPARE(QString::fromStdString(message), error);
        return;
    }
    QVERIFY2(selector, message.c_str());
    QCOMPARE(render(*selector), expected);
    QCOMPARE(selector->matches(parse(labels)), matches);
    QCOMPARE(selector->matchesNothing(), object == QStringLiteral("null"));
    QCOMPARE(selector->empty(), expected.isEmpty() && !selector->matchesNothing());
}

void TestSandboxSelector::fieldParse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected"); // "field=value" or "field!=value", ";" separated
    QTest::addColumn<QString>("error");

    row("empty", "", "Pod", "", "");
    row("name", "metadata.name=web", "Pod", "metadata.name=web", "");
    row("double equals", "metadata.name==web", "ConfigMap", "metadata.name=web", "");
    row("not equals", "status.phase!=Running", "Pod", "status.phase!=Running", "");
    row("several sorted", "spec.nodeName=n1,metadata.namespace=default", "Pod",
        "metadata.namespace=default;spec.nodeName=n1", "");
    row("empty terms skipped", "metadata.name=a,,", "Pod", "metadata.name=a", "");
    row("empty value", "spec.nodeName=", "Pod", "spec.nodeName=", "");
    row("escaped comma", R"(metadata.name=a\,b)", "Pod", "metadata.name=a,b", "");
    row("escaped equals and backslash", R"(metadata.name=a\=b\\c)", "Pod", R"(metadata.name=a=b\c)", "");
    row("resource plural", "status.phase=Running", "pods", "status.phase=Running", "");
    row("pod fields",
        "spec.restartPolicy=Always,spec.schedulerName=s,spec.serviceAccountName=sa,status.podIP=1,status."
        "nominatedNodeName=n",
        "Pod",
        "spec.restartPolicy=Always;spec.schedulerName=s;spec.serviceAccountName=sa;status.nominatedNodeName=n;"
        "status.podIP=1",
        "");
    row("event fields", "involvedObject.kind=Pod,involvedObject.name=web,reason=Started,source=kubelet,type=Normal",
        "Event", "involvedObject.kind=Pod;involvedObject.name=web;reason=Started;source=kubelet;type=Normal", "");
    row("secret type", "type=kubernetes.io/tls", "Secret", "type=kubernetes.io/tls", "");
    row("namespace phase", "status.phase=Active", "Namespace", "status.phase=Active", "");

    row("unsupported field", "status.phase=Running", "Deployment", "", "field label not supported: status.phase");
    row("secret field on a pod", "type=Opaque", "Pod", "", "field label not supported: type");
    row("spaces are not trimmed", "metadata.name = x", "Pod", "", "field label not supported: metadata.name ");
    row("no operator", "metadata.name", "Pod", "",
        "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
    row("unescaped equals", "metadata.name=a=b", "Pod", "", "invalid field selector: unescaped character in value: =");
    row("bad escape", R"(metadata.name=a\x)", "Pod", "", R"(invalid field selector: invalid escape sequence: \x)");
    row("trailing backslash", R"(metadata.name=a\)", "Pod", "",
        R"(invalid field selector: invalid escape sequence: \)");
    row("label syntax", "metadata.name in (a)", "Pod", "",
        "invalid selector: 'metadata.name in (a)'; can't understand 'metadata.name in (a)'");
}

void TestSandboxSelector::fieldParse()
{
    QFETCH(QString, text);
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    QFETCH(QString, error);
    std::string message;
    const auto selector = FieldSelector::parse(text.toStdString(), kind.toStdString(), &message);
    if (!error.isEmpty()) {
        QVERIFY(!selector);
        QCOMPARE(QString::fromStdString(message), error);
        return;
    }
    QVERIFY2(selector, message.c_str());
    // FieldSelector keeps no public list of requirements; check them through exactValue.
    for (const QString &part : expected.split(u';', Qt::SkipEmptyParts)) {
        const bool negate = part.contains(QStringLiteral("!="));
        const QString field = part.section(negate ? QStringLiteral("!=") : QStringLiteral("="), 0, 0);
        const QString value = part.section(negate ? QStringLiteral("!=") : QStringLiteral("="), 1);
        if (!negate)
            QCOMPARE(QString::fromStdString(selector->exactValue(field.toStdString()).value_or("<none>")), value);
    }
    QCOMPARE(selector->empty(), expected.isEmpty());
}

void TestSandboxSelector::fieldMatch_data()
{
    QTest::addColumn<QString>("selector");
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("object");
    QTest::addColumn<bool>("matches");

    const char *pod = R"({"metadata":{"name":"web-1","namespace":"default"},
                          "spec":{"nodeName":"n1","restartPolicy":"Always","hostNetwork":true},
                          "status":{"phase":"Running","podIP":"10.0.0.5"}})";
    row("name", "metadata.name=web-1", "Pod", pod, true);
    row("name mismatch", "metadata.name=web-2", "Pod", pod, false);
    row("namespace and node", "metadata.namespace=default,spec.nodeName=n1", "Pod", pod, true);
    row("phase not", "status.phase!=Running", "Pod", pod, false);
    row("phase not other", "status.phase!=Pending", "Pod", pod, true);
    row("podIP", "status.podIP=10.0.0.5", "Pod", pod, true);
    row("missing field is empty", "status.nominatedNodeName=", "Pod", pod, true);
    row("missing field not empty", "status.nominatedNodeName!=", "Pod", pod, false);
    row("unscheduled pod", "spec.nodeName=", "Pod", R"({"metadata":{"name":"x"},"spec":{}})", true);
    row("bool field", "spec.hostNetwork=true", "Pod", pod, true);
    row("bool field default", "spec.hostNetwork=false", "Pod", R"({"spec":{}})", true);
    row("cluster-scoped namespace", "metadata.namespace=", "Namespace", R"({"metadata":{"name":"default"}})", true);
    row("event source", "source=kubelet", "Event", R"({"source":{"component":"kubelet"}})", true);
    row("event source from reportingComponent", "source=ctrl", "Event", R"({"reportingComponent":"ctrl"})", true);
    row("event involved object", "involvedObject.kind=Pod,involvedObject.name=web-1", "Event",
        R"({"involvedObject":{"kind":"Pod","name":"web-1"}})", true);
    row("secret type", "type=Opaque", "Secret", R"({"type":"Opaque"})", true);
    row("replicas number", "status.replicas=3", "ReplicaSet", R"({"status":{"replicas":3}})", true);
    row("replicas default", "status.replicas=0", "ReplicaSet", R"({"status":{}})", true);
    row("job successful", "status.successful=1", "Job", R"({"status":{"succeeded":1}})", true);
    row("node unschedulable", "spec.unschedulable=false", "Node", R"({"spec":{}})", true);
    row("escaped value", R"(metadata.name=a\,b)", "ConfigMap", R"({"metadata":{"name":"a,b"}})", true);
    row("empty selector", "", "Pod", R"({})", true);
}

void TestSandboxSelector::fieldMatch()
{
    QFETCH(QString, selector);
    QFETCH(QString, kind);
    QFETCH(QString, object);
    QFETCH(bool, matches);
    std::string error;
    const auto parsed = FieldSelector::parse(selector.toStdString(), kind.toStdString(), &error);
    QVERIFY2(parsed, error.c_str());
    QCOMPARE(parsed->matches(parse(object)), matches);
}

void TestSandboxSelector::fieldExactValue()
{
    std::string error;
    const auto selector
        = FieldSelector::parse("status.phase!=Failed,metadata.name=web,spec.nodeName!=n1", "Pod", &error);
    QVERIFY2(selector, error.c_str());
    QCOMPARE(selector->exactValue("metadata.name").value_or("<none>"), std::string("web"));
    QVERIFY(!selector->exactValue("status.phase"));
    QVERIFY(!selector->exactValue("spec.nodeName"));
    QVERIFY(!selector->exactValue("metadata.namespace"));
}

QTEST_GUILESS_MAIN(TestSandboxSelector)
#include "tst_sandboxselector.moc"
