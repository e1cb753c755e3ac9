// kubeconfig loading: parsing (YAML and JSON, positions of every problem, hostile input), the
// KUBECONFIG merge rules, context and namespace choice, relative paths, and the checks kubectl
// makes for the chosen context only.
#include "fuzz/fuzzkubeconfig.h"
#include "kube/kubeconfig.h"
#include "kubetestpki.h"

#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::kube;

namespace {

const QString parsePath = QStringLiteral("/k/config");

// Line numbers are what the position assertions below count from.
const QByteArray base = "apiVersion: v1\n" // 1
                        "kind: Config\n" // 2
                        "current-context: dev\n" // 3
                        "clusters:\n" // 4
                        "- name: c1\n" // 5
                        "  cluster:\n" // 6
                        "    server: https://127.0.0.1:6443\n" // 7
                        "users:\n" // 8
                        "- name: u1\n" // 9
                        "  user:\n" // 10
                        "    token: abc\n" // 11
                        "contexts:\n" // 12
                        "- name: dev\n" // 13
                        "  context: {cluster: c1, user: u1, namespace: team-a}\n"; // 14

QString parse(const QByteArray &text, std::optional<KubeconfigFile> *out = nullptr)
{
    Diagnostics diag;
    const auto f = parseKubeconfig(parsePath, text, diag);
    if (out)
        *out = f;
    if (f.has_value() == diag.hasErrors())
        return QStringLiteral("result and diagnostics disagree: ") + diag.toString();
    return diag.toString();
}

// For QVERIFY2, which builds its message even when the check passes.
QString why(const Expected<ClientConfig, KubeError> &r)
{
    return r ? QString() : r.error().message;
}

QByteArray replaced(QByteArray text, const QByteArray &from, const QByteArray &to)
{
    if (!text.contains(from))
        qFatal("test bug: \"%s\" is not in the text", from.constData());
    return text.replace(from, to);
}

} // namespace

class TestKubeconfig : public QObject
{
    Q_OBJECT

    QTemporaryDir m_tmp;
    test::TestPki m_pki;
    int m_counter = 0;

    // A fresh folder per test row, so rows never see each other's files.
    QString freshDir()
    {
        const QString dir = m_tmp.path() + QStringLiteral("/t%1").arg(++m_counter);
        QDir().mkpath(dir);
        return dir;
    }

    static QString write(const QString &path, const QByteArray &text)
    {
        QDir().mkpath(QFileInfo(path).absolutePath());
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            qFatal("cannot write %s", qPrintable(path));
        f.write(text);
        return path;
    }

    static Expected<ClientConfig, KubeError> loadOne(const QString &path, const QString &context = {},
                                                     const QString &ns = {})
    {
        KubeconfigOptions o;
        o.kubeconfigFlag = path;
        o.context = context;
        o.ns = ns;
        return loadClientConfig(o);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        QString error;
        QVERIFY2(m_pki.create(m_tmp.path() + QStringLiteral("/pki"), &error), qPrintable(error));
    }

    // ---- parsing -----------------------------------------------------------------------------

    void parseFields()
    {
        const QByteArray text
            = "apiVersion: v1\n"
              "kind: Config\n"
              "preferences: {colors: true}\n"
              "current-context: dev\n"
              "clusters:\n"
              "- name: c1\n"
              "  cluster:\n"
              "    server: https://10.0.0.1:6443/prefix?x=1\n"
              "    certificate-authority: certs/ca.crt\n"
              "    tls-server-name: kubernetes\n"
              "    proxy-url: socks5://proxy:1080\n"
              "    disable-compression: true\n"
              "    unknown-key: ignored\n"
              "    extensions:\n"
              "    - name: other\n"
              "      extension: {a: 1}\n"
              "    - name: client.authentication.k8s.io/exec\n"
              "      extension: {audience: dev, count: 2, nested: [x, true]}\n"
              "- name: bare\n"
              "  cluster: {server: \"10.0.0.2:6443\", certificate-authority: /abs/ca.pem}\n"
              "users:\n"
              "- name: u1\n"
              "  user:\n"
              "    tokenFile: ../tokens/t\n"
              "    client-certificate: u1.crt\n"
              "    client-key: ./keys/u1.key\n"
              "    as: admin\n"
              "    as-uid: \"42\"\n"
              "    as-groups: [ops, dev]\n"
              "    as-user-extra: {scopes: [a, b], team: x, \u4f8b: [y]}\n"
              "- name: plugin\n"
              "  user:\n"
              "    exec:\n"
              "      apiVersion: client.authentication.k8s.io/v1beta1\n"
              "      command: ./bin/get-token\n"
              "      args: [--audience, dev]\n"
              "      env: [{name: FOO, value: bar}, {name: EMPTY}]\n"
              "      provideClusterInfo: true\n"
              "      installHint: install it\n"
              "- name: onpath\n"
              "  user:\n"
              "    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubelogin, interactiveMode: Never}\n"
              "contexts:\n"
              "- name: dev\n"
              "  context: {cluster: c1, user: u1, namespace: team-a}\n";
        std::optional<KubeconfigFile> f;
        QCOMPARE(parse(text, &f), QString());
        QVERIFY(f);
        QCOMPARE(f->path, parsePath);
        QCOMPARE(f->currentContext, QStringLiteral("dev"));
        QCOMPARE(f->currentContextAt.toString(), QStringLiteral("/k/config:4:18"));
        QCOMPARE(f->clusters.size(), 2);
        const ClusterConfig &c = f->clusters[0];
        QCOMPARE(c.name, QStringLiteral("c1"));
        QCOMPARE(c.server, QUrl(QStringLiteral("https://10.0.0.1:6443/prefix")));
        QCOMPARE(c.certificateAuthorityFile, QStringLiteral("/k/certs/ca.crt"));
        QVERIFY(c.certificateAuthorityPem.isEmpty()); // files are read for the chosen context only
        QCOMPARE(c.tlsServerName, QStringLiteral("kubernetes"));
        QCOMPARE(c.proxyUrl, QUrl(QStringLiteral("socks5://proxy:1080")));
        QVERIFY(c.disableCompression);
        QVERIFY(!c.insecureSkipTlsVerify);
        QCOMPARE(QJsonDocument(c.execExtension.toObject()).toJson(QJsonDocument::Compact),
                 QByteArray(R"({"audience":"dev","count":2,"nested":["x",true]})"));
        QCOMPARE(c.locations.value(QStringLiteral("server")).toString(), QStringLiteral("/k/config:8:13"));
        QCOMPARE(c.locations.value(QStringLiteral("name")).toString(), QStringLiteral("/k/config:6:9"));
        QVERIFY(c.problems.isEmpty());
        QCOMPARE(f->clusters[1].server, QUrl(QStringLiteral("https://10.0.0.2:6443")));
        QCOMPARE(f->clusters[1].certificateAuthorityFile, QStringLiteral("/abs/ca.pem"));

        QCOMPARE(f->users.size(), 3);
        const UserConfig &u = f->users[0];
        QCOMPARE(u.tokenFile, QStringLiteral("/tokens/t"));
        QCOMPARE(u.clientCertificateFile, QStringLiteral("/k/u1.crt"));
        QCOMPARE(u.clientKeyFile, QStringLiteral("/k/keys/u1.key"));
        QCOMPARE(u.impersonateUser, QStringLiteral("admin"));
        QCOMPARE(u.impersonateUid, QStringLiteral("42"));
        QCOMPARE(u.impersonateGroups, (QStringList {QStringLiteral("ops"), QStringLiteral("dev")}));
        QCOMPARE(u.impersonateExtra.value(QStringLiteral("scopes")),
                 (QStringList {QStringLiteral("a"), QStringLiteral("b")}));
        QCOMPARE(u.impersonateExtra.value(QStringLiteral("team")), QStringList {QStringLiteral("x")});
        QCOMPARE(u.impersonateExtra.value(QStringLiteral("\u4f8b")), QStringList {QStringLiteral("y")});
        QVERIFY(!u.exec);

        const UserConfig &p = f->users[1];
        QVERIFY(p.exec);
        QCOMPARE(p.exec->command, QStringLiteral("/k/bin/get-token"));
        QCOMPARE(p.exec->args, (QStringList {QStringLiteral("--audience"), QStringLiteral("dev")}));
        QCOMPARE(p.exec->env.size(), 2);
        QCOMPARE(p.exec->env[0], qMakePair(QStringLiteral("FOO"), QStringLiteral("bar")));
        QCOMPARE(p.exec->env[1], qMakePair(QStringLiteral("EMPTY"), QString()));
        QCOMPARE(p.exec->interactiveMode, QStringLiteral("IfAvailable")); // the v1beta1 default
        QVERIFY(p.exec->provideClusterInfo);
        QCOMPARE(p.exec->installHint, QStringLiteral("install it"));
        QCOMPARE(p.exec->where.toString(), QStringLiteral("/k/config:33:5"));
        QVERIFY(p.problems.isEmpty());
        QCOMPARE(f->users[2].exec->command, QStringLiteral("kubelogin")); // bare names are looked up on PATH

        QCOMPARE(f->contexts.size(), 1);
        QCOMPARE(f->contexts[0].cluster, QStringLiteral("c1"));
        QCOMPARE(f->contexts[0].user, QStringLiteral("u1"));
        QCOMPARE(f->contexts[0].ns, QStringLiteral("team-a"));
    }

    void parseJson()
    {
        // Tabs, escaped slashes and \u escapes: JSON as other tools write it.
        const QByteArray text
            = "{\n"
              "\t\"apiVersion\": \"v1\",\n"
              "\t\"kind\": \"Config\",\n"
              "\t\"clusters\": [{\"name\": \"c1\", \"cluster\": {\"server\": \"https:\\/\\/example.test\", "
              "\"insecure-skip-tls-verify\": true,\n"
              "\t              \"certificate-authority-data\": \""
            + m_pki.base64(QStringLiteral("rsa.crt"))
            + "\"}}],\n"
              "\t\"users\": [{\"name\": \"u1\", \"user\": {\"token\": \"t\\u00e9\", \"exec\": null}}],\n"
              "\t\"contexts\": [{\"name\": \"dev\", \"context\": {\"cluster\": \"c1\", \"user\": \"u1\"}}],\n"
              "\t\"current-context\": \"dev\"\n"
              "}\n";
        std::optional<KubeconfigFile> f;
        QCOMPARE(parse(text, &f), QString());
        QCOMPARE(f->clusters[0].server, QUrl(QStringLiteral("https://example.test")));
        QVERIFY(f->clusters[0].insecureSkipTlsVerify);
        QCOMPARE(f->clusters[0].certificateAuthorityPem, m_pki.pem(QStringLiteral("rsa.crt")));
        // Kept for the chosen cluster: insecure together with a CA.
        QCOMPARE(f->clusters[0].problems.toString(),
                 QStringLiteral("/k/config:4:106: error: specifying a root certificates file with the insecure flag "
                                "is not allowed (cluster \"c1\")\n"));
        QCOMPARE(f->users[0].token, QString::fromUtf8("t\xc3\xa9"));
        QVERIFY(!f->users[0].exec);
        QCOMPARE(f->currentContext, QStringLiteral("dev"));
    }

    void windowsLineEndings()
    {
        QByteArray text = base;
        text.replace("\n", "\r\n");
        std::optional<KubeconfigFile> f;
        QCOMPARE(parse(text, &f), QString());
        QCOMPARE(f->clusters[0].server, QUrl(QStringLiteral("https://127.0.0.1:6443")));
        QCOMPARE(f->users[0].token, QStringLiteral("abc"));
        QCOMPARE(f->contexts[0].ns, QStringLiteral("team-a"));
        QCOMPARE(f->clusters[0].locations.value(QStringLiteral("server")).toString(), QStringLiteral("/k/config:7:13"));
    }

    void parseEmpty_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::newRow("empty") << QByteArray();
        QTest::newRow("blank lines") << QByteArray("\n\n  \n");
        QTest::newRow("comment") << QByteArray("# nothing yet\n");
        QTest::newRow("null") << QByteArray("null\n");
        QTest::newRow("empty lists") << QByteArray("clusters: []\nusers: ~\ncontexts:\n");
        QTest::newRow("BOM") << QByteArray("\xEF\xBB\xBF{}");
    }
    void parseEmpty()
    {
        QFETCH(QByteArray, text);
        std::optional<KubeconfigFile> f;
        QCOMPARE(parse(text, &f), QString());
        QVERIFY(f->clusters.isEmpty() && f->users.isEmpty() && f->contexts.isEmpty());
        QVERIFY(f->currentContext.isEmpty());
    }

    void parseProblems_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");

        QTest::newRow("unclosed flow mapping")
            << replaced(base, "namespace: team-a}", "namespace: team-a")
            << "/k/config:15:1: error: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping "
               "at line 14)\n";
        QTest::newRow("tab indentation")
            << replaced(base, "    token: abc", "\ttoken: abc")
            << "/k/config:11:1: error: invalid YAML: found character that cannot start any token (while scanning for "
               "the next token); this line is indented with a tab, and YAML indentation must be spaces\n";
        QTest::newRow("truncated JSON") << QByteArray(R"({"clusters": [{"name": "c1", "cluster": {"ser)")
                                        << "/k/config:1:46: error: invalid YAML: found unexpected end of stream "
                                           "(while scanning a quoted scalar at line 1)\n";
        QTest::newRow("top-level list") << QByteArray("- a\n- b\n")
                                        << "/k/config:1:1: error: a kubeconfig must be a mapping (apiVersion, kind, "
                                           "clusters, users, contexts, current-context), not a list\n";
        QTest::newRow("top-level scalar") << QByteArray("hello\n")
                                          << "/k/config:1:1: error: a kubeconfig must be a mapping (apiVersion, kind, "
                                             "clusters, users, contexts, current-context), not the scalar \"hello\"\n";
        QTest::newRow("apiVersion") << replaced(base, "apiVersion: v1", "apiVersion: v2")
                                    << "/k/config:1:13: error: apiVersion \"v2\" is not a kubeconfig version; "
                                       "kubeconfigs are \"v1\"\n";
        QTest::newRow("kind") << replaced(base, "kind: Config", "kind: Pod")
                              << "/k/config:2:7: error: kind \"Pod\" is not a kubeconfig; a kubeconfig has kind "
                                 "\"Config\"\n";
        QTest::newRow("clusters is a mapping")
            << replaced(base, "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n",
                        "clusters:\n  c1: {server: x}\n")
            << "/k/config:5:3: error: \"clusters\" must be a list, not a mapping\n";
        QTest::newRow("entry is a scalar")
            << replaced(base, "- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n", "- c1\n")
            << "/k/config:5:3: error: \"clusters[0]\" must be a mapping with \"name\" "
               "and \"cluster\", not the scalar \"c1\"\n";
        QTest::newRow("cluster is a list")
            << replaced(base, "  cluster:\n    server: https://127.0.0.1:6443\n", "  cluster:\n  - server: x\n")
            << "/k/config:7:3: error: \"clusters[0].cluster\" must be a mapping, not a list\n";
        QTest::newRow("server is a mapping")
            << replaced(base, "server: https://127.0.0.1:6443", "server: {host: x}")
            << "/k/config:7:13: error: \"clusters[0].cluster.server\" must be a string, not a mapping\n";
        QTest::newRow("name is a list") << replaced(base, "- name: u1", "- name: [u1]")
                                        << "/k/config:9:9: error: \"users[0].name\" must be a string, not a list\n";
        QTest::newRow("insecure is not a boolean")
            << replaced(base, "    server: https://127.0.0.1:6443\n",
                        "    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: maybe\n")
            << "/k/config:8:31: error: \"clusters[0].cluster.insecure-skip-tls-verify\" must be true or false, not "
               "the scalar \"maybe\"\n";
        QTest::newRow("args is a string")
            << replaced(base, "    token: abc\n",
                        "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, args: -v, "
                        "interactiveMode: Never}\n")
            << "/k/config:11:75: error: \"users[0].user.exec.args\" must be a list of strings, not the scalar "
               "\"-v\"\n";
        QTest::newRow("user-extra value is a mapping")
            << replaced(base, "    token: abc\n", "    token: abc\n    as: x\n    as-user-extra: {scopes: {a: b}}\n")
            << "/k/config:13:29: error: \"users[0].user.as-user-extra.scopes\" must be a list of strings, not a "
               "mapping\n";
        QTest::newRow("env entry is a string")
            << replaced(base, "    token: abc\n",
                        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n"
                        "      interactiveMode: Never\n      env: [FOO=bar]\n")
            << "/k/config:15:13: error: \"users[0].user.exec.env[0]\" must be a mapping with \"name\" and \"value\", "
               "not the scalar \"FOO=bar\"\n";
        QTest::newRow("bad base64")
            << replaced(base, "    server: https://127.0.0.1:6443\n",
                        "    server: https://127.0.0.1:6443\n    certificate-authority-data: LS0tLS1C*UdJTg==\n")
            << "/k/config:8:33: error: \"clusters[0].cluster.certificate-authority-data\" is not valid base64: '*' at "
               "offset 8\n";
        QTest::newRow("truncated base64")
            << replaced(base, "    token: abc\n", "    token: abc\n    client-key-data: LS0tLS1CRUdJTg\n")
            << "/k/config:12:22: error: \"users[0].user.client-key-data\" is not valid base64: it ends in the middle "
               "of a group of 4 characters\n";
        QTest::newRow("data after padding")
            << replaced(base, "    token: abc\n", "    token: abc\n    client-key-data: QQ==QUFB\n")
            << "/k/config:12:22: error: \"users[0].user.client-key-data\" is not valid base64: 'Q' at offset 4\n";
        QTest::newRow("PEM where base64 belongs")
            << replaced(base, "    token: abc\n",
                        "    client-certificate-data: |\n      -----BEGIN CERTIFICATE-----\n      MIIB\n"
                        "      -----END CERTIFICATE-----\n")
            << "/k/config:11:30: error: \"users[0].user.client-certificate-data\" is not valid base64: it holds PEM "
               "text itself; \"client-certificate-data\" takes the base64 of the PEM (or use "
               "\"client-certificate\" with a file name)\n";
        QTest::newRow("duplicate cluster")
            << replaced(base, "users:\n", "- name: c1\n  cluster: {server: https://other}\nusers:\n")
            << "/k/config:8:9: error: duplicate name \"c1\" in clusters (first on line "
               "5)\n";
        QTest::newRow("duplicate user") << replaced(base, "contexts:\n", "- name: u1\n  user: {}\ncontexts:\n")
                                        << "/k/config:12:9: error: duplicate name \"u1\" in users (first on line 9)\n";
        QTest::newRow("duplicate context")
            << base + "- name: dev\n  context: {cluster: c1}\n"
            << "/k/config:15:9: error: duplicate name \"dev\" in contexts (first on line 13)\n";
        QTest::newRow("duplicate key") << replaced(base, "    token: abc\n", "    token: abc\n    token: def\n")
                                       << "/k/config:12:5: error: duplicate key \"token\" in users[0].user (first "
                                          "given on line 11)\n";
        QTest::newRow("several problems, all reported")
            << replaced(replaced(base, "server: https://127.0.0.1:6443", "server: [x]"), "token: abc", "token: {}")
            << "/k/config:7:13: error: \"clusters[0].cluster.server\" must be a string, not a list\n"
               "/k/config:11:12: error: \"users[0].user.token\" must be a string, not a mapping\n";
        QTest::newRow("NUL byte") << QByteArray("apiVersion: v1\nkind: Con\0fig\n", 29)
                                  << "/k/config:2:10: error: binary data (a NUL byte) where YAML text was expected\n";
        QTest::newRow("invalid UTF-8") << QByteArray("current-context: d\xE9v\n")
                                       << "/k/config:1:19: error: not valid UTF-8 text (byte 0xE9); config files "
                                          "must be UTF-8\n";
        QTest::newRow("alias bomb")
            << QByteArray("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                          "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                          "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                          "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                          "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                          "clusters:\n- name: c\n  cluster:\n    extensions:\n"
                          "    - {name: client.authentication.k8s.io/exec, extension: [*f, *f, *f]}\n")
            << "/k/config:1:20: error: document too large: more than 200000 nodes once aliases are expanded (an alias "
               "bomb?); stopped reading here\n";
        // yaml-cpp 0.7 loops forever where it and libyaml disagree on where an anchor name ends.
        QTest::newRow("anchor glued to '?'") << QByteArray("&Y?,")
                                             << "/k/config:1:3: error: invalid YAML: the anchor \"&Y\" must be "
                                                "followed by a space or a line break, not '?'\n";
        QTest::newRow("anchor glued to ':'")
            << QByteArray("clusters:\n- name: &c1:x\n")
            << "/k/config:2:12: error: invalid YAML: the anchor \"&c1\" must be followed by a space or a line "
               "break, not ':'\n";
        QTest::newRow("deep nesting") << QByteArray("clusters: ") + QByteArray(5000, '[')
                                      << "/k/config:1:111: error: nesting deeper than 100 levels; this is not a config "
                                         "file\n";
        QTest::newRow("second document ignored")
            << base + "---\nclusters: 7\n"
            << "/k/config:16:1: warning: only the first YAML document of a kubeconfig is read (as kubectl does); this "
               "one is ignored\n";
        QTest::newRow("unnamed entry ignored") << replaced(base, "contexts:\n", "- user: {token: x}\ncontexts:\n")
                                               << "/k/config:12:3: warning: \"users[1]\" has no name and is ignored\n";
    }
    void parseProblems()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        QCOMPARE(parse(text), expected);
    }

    void parseHuge()
    {
        QByteArray text = base + "# ";
        text += QByteArray(int(detail::maxKubeconfigBytes), 'x');
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(parse(text),
                 QStringLiteral("/k/config: error: too large to be a config file (%1 bytes; the limit "
                                "is 16777216)\n")
                     .arg(text.size()));
        QVERIFY(timer.elapsed() < 2000);
    }

    // Problems kubectl reports only when the entry is used are kept with the entry.
    void entryProblems_data()
    {
        QTest::addColumn<QByteArray>("from");
        QTest::addColumn<QByteArray>("to");
        QTest::addColumn<QString>("expected");
        const QByteArray server = "    server: https://127.0.0.1:6443\n";
        const QByteArray token = "    token: abc\n";
        QTest::newRow("no server") << server << QByteArray("    tls-server-name: x\n")
                                   << "/k/config:5:9: error: no server found for cluster \"c1\"\n";
        QTest::newRow("no cluster mapping") << QByteArray("  cluster:\n") + server << QByteArray()
                                            << "/k/config:5:9: error: no server found for cluster \"c1\"\n";
        QTest::newRow("bad server") << server << QByteArray("    server: ftp://x\n")
                                    << "/k/config:7:13: error: invalid server \"ftp://x\" for cluster \"c1\": the "
                                       "scheme must be https or http, not \"ftp\"\n";
        QTest::newRow("server without host")
            << server << QByteArray("    server: https://\n")
            << "/k/config:7:13: error: invalid server \"https://\" for cluster \"c1\": "
               "no host\n";
        QTest::newRow("CA and CA data")
            << server
            << QByteArray(server + "    certificate-authority: ca.crt\n    certificate-authority-data: QUJD\n")
            << "/k/config:9:33: error: certificate-authority-data and certificate-authority are both specified for "
               "c1; keep only one of them\n";
        QTest::newRow("insecure with CA")
            << server << QByteArray(server + "    insecure-skip-tls-verify: true\n    certificate-authority: ca.crt\n")
            << "/k/config:8:31: error: specifying a root certificates file with the insecure flag is not allowed "
               "(cluster \"c1\")\n";
        QTest::newRow("proxy scheme") << server << QByteArray(server + "    proxy-url: ftp://proxy\n")
                                      << "/k/config:8:16: error: invalid 'proxy-url' \"ftp://proxy\" for cluster "
                                         "\"c1\": unsupported scheme \"ftp\", must be http, https, or socks5\n";
        QTest::newRow("token and basic") << token << QByteArray(token + "    username: admin\n    password: secret\n")
                                         << "/k/config:12:15: error: more than one authentication method found for "
                                            "u1; found [token basicAuth], only one is allowed\n";
        QTest::newRow("token file and basic") << token << QByteArray("    tokenFile: t\n    password: secret\n")
                                              << "/k/config:11:16: error: username/password or bearer token may be "
                                                 "set, but not both (user u1)\n";
        QTest::newRow("cert and cert data")
            << token
            << QByteArray("    client-certificate: a.crt\n    client-certificate-data: QUJD\n    client-key: a.key\n")
            << "/k/config:12:30: error: client-certificate-data and client-certificate are both specified for u1; "
               "keep only one of them\n";
        QTest::newRow("key and key data")
            << token << QByteArray("    client-certificate: a.crt\n    client-key: a.key\n    client-key-data: QUJD\n")
            << "/k/config:13:22: error: client-key-data and client-key are both specified for u1; keep only one of "
               "them\n";
        QTest::newRow("cert without key") << token << QByteArray("    client-certificate-data: QUJD\n")
                                          << "/k/config:11:30: error: client-key-data or client-key must be specified "
                                             "for u1 to use the clientCert authentication method\n";
        QTest::newRow("key without cert") << token << QByteArray("    client-key: u.key\n")
                                          << "/k/config:11:17: warning: user u1 has a client key but no client "
                                             "certificate; the key is not used\n";
        QTest::newRow("groups without as") << token << QByteArray(token + "    as-groups: [ops]\n")
                                           << "/k/config:12:16: error: requesting groups or user-extra for u1 without "
                                              "impersonating a user\n";
        QTest::newRow("auth-provider") << token << QByteArray("    auth-provider: {name: oidc, config: {}}\n")
                                       << "/k/config:11:20: error: auth-provider \"oidc\" is not supported (kubectl "
                                          "dropped the built-in ones too); use an exec credential plugin instead, "
                                          "e.g. kubelogin for OIDC\n";
        const QByteArray exec = "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n";
        QTest::newRow("exec v1 without interactiveMode")
            << token << QByteArray(exec)
            << "/k/config:11:5: error: interactiveMode must be specified for u1 to use exec authentication plugin\n";
        QTest::newRow("exec bad interactiveMode")
            << token << QByteArray(exec + "      interactiveMode: Sometimes\n")
            << "/k/config:14:24: error: invalid interactiveMode for u1: \"Sometimes\"\n";
        QTest::newRow("exec without command")
            << token << QByteArray("    exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}\n")
            << "/k/config:11:5: error: command must be specified for u1 to use exec authentication plugin\n";
        QTest::newRow("exec without apiVersion")
            << token << QByteArray("    exec: {command: x, interactiveMode: Never}\n")
            << "/k/config:11:5: error: apiVersion must be specified for u1 to use exec authentication plugin\n";
        QTest::newRow("exec v1alpha1")
            << token << QByteArray("    exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}\n")
            << "/k/config:11:36: error: exec plugin: invalid apiVersion \"client.authentication.k8s.io/v1alpha1\"; use "
               "\"client.authentication.k8s.io/v1\" or \"client.authentication.k8s.io/v1beta1\"\n";
        QTest::newRow("exec env without name")
            << token << QByteArray(exec + "      interactiveMode: Never\n      env: [{value: x}]\n")
            << "/k/config:15:12: error: env variable name must be specified for u1 to use exec authentication "
               "plugin\n";
    }
    void entryProblems()
    {
        QFETCH(QByteArray, from);
        QFETCH(QByteArray, to);
        QFETCH(QString, expected);
        std::optional<KubeconfigFile> f;
        QCOMPARE(parse(replaced(base, from, to), &f), QString());
        Diagnostics all;
        for (const auto &c : f->clusters)
            all.append(c.problems);
        for (const auto &u : f->users)
            all.append(u.problems);
        QCOMPARE(all.toString(), expected);
    }

    // ---- loading -----------------------------------------------------------------------------

    void mergeFirstWins()
    {
        const QString dir = freshDir();
        const QString a = write(dir + QStringLiteral("/a/config"),
                                "clusters:\n"
                                "- name: shared\n"
                                "  cluster: {server: https://a.example}\n"
                                "users:\n"
                                "- name: red-user\n"
                                "  user: {username: red}\n" // no password: b's password must not leak in
                                "contexts:\n"
                                "- name: ctx\n"
                                "  context: {cluster: shared, user: red-user}\n"
                                "current-context: \"\"\n");
        const QString b = write(dir + QStringLiteral("/b/config"),
                                "current-context: ctx\n"
                                "clusters:\n"
                                "- name: shared\n"
                                "  cluster: {server: https://b.example, tls-server-name: b}\n"
                                "users:\n"
                                "- name: red-user\n"
                                "  user: {username: blue, password: secret}\n"
                                "contexts:\n"
                                "- name: ctx\n"
                                "  context: {cluster: shared, user: red-user, namespace: from-b}\n"
                                "- name: other\n"
                                "  context: {cluster: shared}\n");
        const QString c = write(dir + QStringLiteral("/c/config"), "current-context: other\n");
        KubeconfigOptions o;
        // Relative entries resolve against the working directory; duplicates and empties are dropped;
        // missing files are skipped.
        QVERIFY(QDir::setCurrent(dir));
        o.kubeconfigEnv = QStringLiteral("a/config::%1:%2/missing:./a/config:%3:%1").arg(b, dir, c);
        const auto r = loadClientConfig(o);
        QVERIFY2(r, qPrintable(why(r)));
        QCOMPARE(r->files, (QStringList {a, b, c}));
        QCOMPARE(r->contextName, QStringLiteral("ctx")); // first non-empty current-context
        QCOMPARE(r->cluster.server, QUrl(QStringLiteral("https://a.example")));
        QVERIFY(r->cluster.tlsServerName.isEmpty()); // b's entry is dropped as a whole
        QCOMPARE(r->user.username, QStringLiteral("red"));
        QVERIFY(r->user.password.isEmpty());
        QCOMPARE(r->ns, QStringLiteral("default")); // a's context has no namespace
        QVERIFY(!r->namespaceExplicit);
        QVERIFY(r->warnings.isEmpty());

        o.context = QStringLiteral("other"); // defined only in b
        const auto other = loadClientConfig(o);
        QVERIFY2(other, qPrintable(why(other)));
        QCOMPARE(other->contextName, QStringLiteral("other"));
        QCOMPARE(other->user.name, QString()); // no user: anonymous
        QVERIFY(other->user.username.isEmpty());
    }

    void contextAndNamespace_data()
    {
        QTest::addColumn<QString>("contextFlag");
        QTest::addColumn<QString>("nsFlag");
        QTest::addColumn<QString>("context");
        QTest::addColumn<QString>("ns");
        QTest::addColumn<bool>("explicitNs");
        QTest::newRow("current-context") << QString() << QString() << "dev"
                                         << "team-a" << true;
        QTest::newRow("--namespace wins") << QString() << "mine"
                                          << "dev"
                                          << "mine" << true;
        QTest::newRow("--context") << "prod" << QString() << "prod"
                                   << "default" << false;
        QTest::newRow("--context and --namespace") << "prod"
                                                   << "x"
                                                   << "prod"
                                                   << "x" << true;
    }
    void contextAndNamespace()
    {
        QFETCH(QString, contextFlag);
        QFETCH(QString, nsFlag);
        QFETCH(QString, context);
        QFETCH(QString, ns);
        QFETCH(bool, explicitNs);
        const QString path = write(freshDir() + QStringLiteral("/config"),
                                   base + "- name: prod\n  context: {cluster: c1, user: u1}\n");
        const auto r = loadOne(path, contextFlag, nsFlag);
        QVERIFY2(r, qPrintable(why(r)));
        QCOMPARE(r->contextName, context);
        QCOMPARE(r->ns, ns);
        QCOMPARE(r->namespaceExplicit, explicitNs);
        QCOMPARE(r->user.token, QStringLiteral("abc"));
        QCOMPARE(r->files, QStringList {path});
    }

    void homeConfig()
    {
        const QString home = freshDir();
        write(home + QStringLiteral("/.kube/config"), base);
        KubeconfigOptions o;
        o.kubeconfigEnv = QString(); // set but empty: the same as unset
        o.homeDir = home;
        const auto r = loadClientConfig(o);
        QVERIFY2(r, qPrintable(why(r)));
        QCOMPARE(r->files, QStringList {home + QStringLiteral("/.kube/config")});
    }

    void relativePaths()
    {
        const QString dir = freshDir();
        // Each file's relative names resolve against its own folder.
        QDir().mkpath(dir + QStringLiteral("/clusters/pki"));
        QDir().mkpath(dir + QStringLiteral("/users/keys"));
        QVERIFY(QFile::copy(m_pki.path(QStringLiteral("ec.crt")), dir + QStringLiteral("/clusters/pki/ca.crt")));
        QVERIFY(QFile::copy(m_pki.path(QStringLiteral("rsa.crt")), dir + QStringLiteral("/users/keys/me.crt")));
        QVERIFY(QFile::copy(m_pki.path(QStringLiteral("rsa.key")), dir + QStringLiteral("/users/keys/me.key")));
        const QString clusters
            = write(dir + QStringLiteral("/clusters/config"),
                    "clusters:\n- name: c\n  cluster: {server: https://x, certificate-authority: pki/ca.crt}\n"
                    "contexts:\n- name: ctx\n  context: {cluster: c, user: me}\ncurrent-context: ctx\n");
        const QString users = write(dir + QStringLiteral("/users/config"),
                                    "users:\n- name: me\n  user:\n    client-certificate: keys/me.crt\n"
                                    "    client-key: ./keys/../keys/me.key\n    tokenFile: t/../token\n");
        KubeconfigOptions o;
        o.kubeconfigEnv = clusters + u':' + users;
        const auto r = loadClientConfig(o);
        QVERIFY2(r, qPrintable(why(r)));
        QCOMPARE(r->cluster.certificateAuthorityFile, dir + QStringLiteral("/clusters/pki/ca.crt"));
        QCOMPARE(r->cluster.certificateAuthorityPem, m_pki.pem(QStringLiteral("ec.crt")));
        QCOMPARE(r->user.clientCertificateFile, dir + QStringLiteral("/users/keys/me.crt"));
        QCOMPARE(r->user.clientCertificatePem, m_pki.pem(QStringLiteral("rsa.crt")));
        QCOMPARE(r->user.clientKeyFile, dir + QStringLiteral("/users/keys/me.key"));
        QCOMPARE(r->user.clientKeyPem, m_pki.pem(QStringLiteral("rsa.key")));
        QCOMPARE(r->user.tokenFile, dir + QStringLiteral("/users/token")); // read by the credential provider
    }

    void clientCertificates_data()
    {
        QTest::addColumn<QString>("cert");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("error"); // %L = the client-certificate location
        QTest::newRow("RSA PKCS#8") << "rsa.crt"
                                    << "rsa.key" << QString();
        QTest::newRow("RSA PKCS#1") << "rsa.crt"
                                    << "rsa-pkcs1.key" << QString();
        QTest::newRow("EC PKCS#8") << "ec.crt"
                                   << "ec.key" << QString();
        QTest::newRow("EC SEC1") << "ec.crt"
                                 << "ec-sec1.key" << QString();
        QTest::newRow("mismatched key") << "rsa.crt"
                                        << "ec.key"
                                        << "%L: user \"me\": the client key does not match the client certificate "
                                           "(rsa-user)";
        QTest::newRow("encrypted key") << "rsa.crt"
                                       << "rsa-encrypted.key"
                                       << "%L: user \"me\": the client key is encrypted; a kubeconfig key must be "
                                          "stored unencrypted";
        QTest::newRow("Ed25519") << "ed25519.crt"
                                 << "ed25519.key"
                                 << "%L: user \"me\": the client key is of an unsupported type (ED25519); only RSA "
                                    "and EC keys can be used";
        QTest::newRow("certificate as key") << "rsa.crt"
                                            << "rsa.crt"
                                            << "%L: user \"me\": the client key holds no PEM private key";
        QTest::newRow("corrupt key") << "rsa.crt"
                                     << "corrupt.key"
                                     << "%L: user \"me\": the client key cannot be parsed (unsupported)";
        QTest::newRow("key as certificate") << "rsa.key"
                                            << "rsa.key"
                                            << "%L: user \"me\": the client certificate holds no PEM certificate";
    }
    void clientCertificates()
    {
        QFETCH(QString, cert);
        QFETCH(QString, key);
        QFETCH(QString, error);
        // Both through files and through -data fields.
        for (const bool inline_ : {false, true}) {
            const QString dir = freshDir();
            const QByteArray user = inline_ ? QByteArray("    client-certificate-data: " + m_pki.base64(cert)
                                                         + "\n    client-key-data: " + m_pki.base64(key) + "\n")
                                            : QByteArray("    client-certificate: " + m_pki.path(cert).toUtf8()
                                                         + "\n    client-key: " + m_pki.path(key).toUtf8() + "\n");
            const QString path = write(dir + QStringLiteral("/config"),
                                       replaced(replaced(base, "    token: abc\n", user), "u1", "me"));
            const auto r = loadOne(path);
            if (error.isEmpty()) {
                QVERIFY2(r, qPrintable(why(r)));
                QCOMPARE(r->user.clientCertificatePem, m_pki.pem(cert));
                QCOMPARE(r->user.clientKeyPem, m_pki.pem(key));
            } else {
                QVERIFY(!r);
                QCOMPARE(r.error().kind, KubeError::Kind::Config);
                QCOMPARE(r.error().message,
                         QString(error).replace(QStringLiteral("%L"), path + (inline_ ? u":11:30" : u":11:25")));
            }
        }
    }

    void loadErrors_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("context");
        QTest::addColumn<QString>("expected"); // %F = the file
        QTest::newRow("--context missing") << base << "nope"
                                           << "context \"nope\" does not exist";
        QTest::newRow("current-context missing") << replaced(base, "current-context: dev", "current-context: gone")
                                                 << QString() << "%F:3:18: context \"gone\" does not exist";
        QTest::newRow("no current-context") << replaced(base, "current-context: dev\n", "") << QString()
                                            << "no context chosen: current-context is not set; pass --context (the "
                                               "contexts are dev)";
        QTest::newRow("no contexts") << QByteArray("clusters:\n- name: c1\n  cluster: {server: https://x}\n")
                                     << QString() << "no context chosen: the kubeconfig defines no contexts";
        QTest::newRow("nothing at all") << QByteArray("apiVersion: v1\nkind: Config\npreferences: {}\n") << QString()
                                        << "no configuration has been provided, try setting KUBECONFIG or "
                                           "--kubeconfig (%F defines no clusters, users or contexts)";
        QTest::newRow("cluster missing") << replaced(base, "{cluster: c1,", "{cluster: c9,") << QString()
                                         << "%F:14:22: cluster \"c9\" was not found for context \"dev\"";
        QTest::newRow("user missing") << replaced(base, "user: u1,", "user: u9,") << QString()
                                      << "%F:14:32: user \"u9\" was not found for context \"dev\"";
        QTest::newRow("both missing") << replaced(base, "{cluster: c1, user: u1,", "{cluster: c9, user: u9,")
                                      << QString()
                                      << "%F:14:22: cluster \"c9\" was not found for context \"dev\"\n"
                                         "%F:14:32: user \"u9\" was not found for context \"dev\"";
        QTest::newRow("no cluster in context") << replaced(base, "{cluster: c1, ", "{") << QString()
                                               << "%F:13:9: cluster was not specified for context \"dev\"";
        QTest::newRow("chosen cluster has no server")
            << replaced(base, "server: https://127.0.0.1:6443", "tls-server-name: x") << QString()
            << "%F:5:9: no server found for cluster \"c1\"";
        QTest::newRow("chosen user has two methods")
            << replaced(base, "    token: abc\n", "    token: abc\n    username: u\n") << QString()
            << "%F:12:15: more than one authentication method found for u1; found [token basicAuth], only one is "
               "allowed";
        QTest::newRow("problems of cluster and user")
            << replaced(replaced(base, "https://127.0.0.1:6443", "https://x\n    proxy-url: gopher://p"),
                        "    token: abc\n", "    exec: {command: x, apiVersion: client.authentication.k8s.io/v1}\n")
            << QString()
            << "%F:8:16: invalid 'proxy-url' \"gopher://p\" for cluster \"c1\": unsupported scheme \"gopher\", must be "
               "http, https, or socks5\n"
               "%F:12:5: interactiveMode must be specified for u1 to use exec authentication plugin";
        QTest::newRow("CA file missing")
            << replaced(base, "6443\n", "6443\n    certificate-authority: no/ca.crt\n") << QString()
            << "%F:8:28: unable to read certificate-authority %D/no/ca.crt for c1 due to no such file";
        QTest::newRow("CA file is a folder")
            << replaced(base, "6443\n", "6443\n    certificate-authority: .\n") << QString()
            << "%F:8:28: unable to read certificate-authority %D for c1 due to not a regular file";
        QTest::newRow("CA data is not PEM")
            << replaced(base, "6443\n", "6443\n    certificate-authority-data: aGVsbG8=\n") << QString()
            << "%F:8:33: unable to load root certificates for cluster \"c1\": certificate-authority-data holds no PEM "
               "certificate";
        QTest::newRow("client key file missing")
            << replaced(base, "    token: abc\n", "    client-certificate: /nonexistent/c.crt\n    client-key: k.key\n")
            << QString()
            << "%F:11:25: unable to read client-cert /nonexistent/c.crt for u1 due to no such file\n"
               "%F:12:17: unable to read client-key %D/k.key for u1 due to no such file";
        QTest::newRow("parse error") << replaced(base, "token: abc", "token: [abc") << QString()
                                     << "%F:12:9: invalid YAML: did not find expected ',' or ']' (while parsing a "
                                        "flow sequence at line 11)";
    }
    void loadErrors()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, context);
        QFETCH(QString, expected);
        const QString dir = freshDir();
        const QString path = write(dir + QStringLiteral("/config"), text);
        const auto r = loadOne(path, context);
        QVERIFY(!r);
        QCOMPARE(r.error().kind, KubeError::Kind::Config);
        QCOMPARE(r.error().message,
                 QString(expected).replace(QStringLiteral("%F"), path).replace(QStringLiteral("%D"), dir));
    }

    // kubectl checks only what the chosen context uses; broken neighbours do not stop it.
    void unusedEntriesMayBeBroken()
    {
        const QString dir = freshDir();
        const QString good = write(dir + QStringLiteral("/good"), base);
        const QString bad = write(dir + QStringLiteral("/bad"),
                                  "clusters:\n"
                                  "- name: both\n"
                                  "  cluster: {certificate-authority: missing.crt, certificate-authority-data: QUJD,"
                                  " insecure-skip-tls-verify: true}\n"
                                  "users:\n"
                                  "- name: bad\n"
                                  "  user:\n"
                                  "    client-certificate: missing.crt\n"
                                  "    client-key: missing.key\n"
                                  "    token: x\n"
                                  "    username: y\n"
                                  "    exec: {command: x, apiVersion: client.authentication.k8s.io/v1}\n"
                                  "contexts:\n"
                                  "- name: broken\n"
                                  "  context: {cluster: both, user: bad}\n");
        KubeconfigOptions o;
        o.kubeconfigEnv = good + u':' + bad;
        const auto r = loadClientConfig(o);
        QVERIFY2(r, qPrintable(why(r)));
        QCOMPARE(r->contextName, QStringLiteral("dev"));
        QVERIFY(r->warnings.isEmpty());
        // ... but the broken context reports all of its problems at once.
        o.context = QStringLiteral("broken");
        const auto broken = loadClientConfig(o);
        QVERIFY(!broken);
        QCOMPARE(broken.error().message,
                 QStringLiteral("%1:2:9: no server found for cluster \"both\"\n"
                                "%1:3:77: certificate-authority-data and certificate-authority are both specified for "
                                "both; keep only one of them\n"
                                "%1:3:109: specifying a root certificates file with the insecure flag is not allowed "
                                "(cluster \"both\")\n"
                                "%1:10:15: more than one authentication method found for bad; found [token basicAuth], "
                                "only one is allowed\n"
                                "%1:11:5: interactiveMode must be specified for bad to use exec authentication plugin")
                     .arg(bad));
    }

    void noConfiguration()
    {
        const QString dir = freshDir();
        KubeconfigOptions o;
        o.kubeconfigEnv = dir + QStringLiteral("/a:") + dir + QStringLiteral("/b");
        auto r = loadClientConfig(o);
        QVERIFY(!r);
        QCOMPARE(r.error().kind, KubeError::Kind::Config);
        QCOMPARE(r.error().message,
                 QStringLiteral("no configuration has been provided, try setting KUBECONFIG or "
                                "--kubeconfig (not found: %1/a, %1/b)")
                     .arg(dir));
        o.kubeconfigEnv.reset();
        o.homeDir = dir;
        qputenv("KUBECONFIG", "");
        r = loadClientConfig(o);
        QVERIFY(!r);
        QCOMPARE(r.error().message,
                 QStringLiteral("no configuration has been provided, try setting KUBECONFIG or "
                                "--kubeconfig (not found: %1/.kube/config)")
                     .arg(dir));
        o.kubeconfigEnv = QStringLiteral("::"); // set, but naming nothing: no fallback to ~/.kube/config
        r = loadClientConfig(o);
        QVERIFY(!r);
        QCOMPARE(r.error().message,
                 QStringLiteral("no configuration has been provided, try setting KUBECONFIG or --kubeconfig"));
        // --kubeconfig names exactly one file, which must exist; KUBECONFIG is not consulted.
        write(dir + QStringLiteral("/a"), base);
        o.kubeconfigEnv = dir + QStringLiteral("/a");
        o.kubeconfigFlag = dir + QStringLiteral("/missing");
        r = loadClientConfig(o);
        QVERIFY(!r);
        QCOMPARE(r.error().message,
                 QStringLiteral("the kubeconfig given by --kubeconfig does not exist: %1/missing").arg(dir));
    }

    void badFileInList()
    {
        const QString dir = freshDir();
        const QString good = write(dir + QStringLiteral("/good"), base);
        const QString broken = write(dir + QStringLiteral("/broken"), "clusters: {}\n");
        QDir().mkpath(dir + QStringLiteral("/folder"));
        KubeconfigOptions o;
        o.kubeconfigEnv = QStringLiteral("%1:%2:%3/folder").arg(good, broken, dir);
        const auto r = loadClientConfig(o);
        QVERIFY(!r);
        QCOMPARE(r.error().message,
                 QStringLiteral("%1:1:11: \"clusters\" must be a list, not a mapping\n"
                                "%2/folder: is a directory, not a file")
                     .arg(broken, dir));
    }

    void hugeFile()
    {
        QByteArray text = base + "# ";
        text += QByteArray(int(detail::maxKubeconfigBytes), 'x');
        const QString path = write(freshDir() + QStringLiteral("/config"), text);
        const auto r = loadOne(path);
        QVERIFY(!r);
        QCOMPARE(
            r.error().message,
            path
                + QStringLiteral(": too large to be a config file (%1 bytes; the limit is 16777216)").arg(text.size()));
    }

    void warnings()
    {
        const QString path
            = write(freshDir() + QStringLiteral("/config"),
                    replaced(base, "6443\n", "6443\n    insecure-skip-tls-verify: true\n") + "---\n{}\n");
        const auto r = loadOne(path);
        QVERIFY2(r, qPrintable(why(r)));
        QVERIFY(r->cluster.insecureSkipTlsVerify);
        QCOMPARE(r->warnings,
                 (QStringList {path
                                   + QStringLiteral(":17:1: only the first YAML document of a kubeconfig is read (as "
                                                    "kubectl does); this one is ignored"),
                               path
                                   + QStringLiteral(":8:31: cluster \"c1\" sets insecure-skip-tls-verify: the "
                                                    "server's certificate is not checked, so anyone on the way to "
                                                    "https://127.0.0.1:6443 can read and change the traffic, "
                                                    "credentials included")}));
    }

    // client-go sends no user credentials to a plain-http server.
    void plainHttpServer()
    {
        const QString path = write(freshDir() + QStringLiteral("/config"),
                                   replaced(replaced(base, "https://127.0.0.1:6443", "http://127.0.0.1:8080"),
                                            "    token: abc\n", "    token: abc\n    as: admin\n"));
        const auto r = loadOne(path);
        QVERIFY2(r, qPrintable(why(r)));
        QVERIFY(r->user.token.isEmpty());
        QCOMPARE(r->user.impersonateUser, QStringLiteral("admin"));
        QCOMPARE(r->warnings,
                 QStringList {path
                              + QStringLiteral(":7:13: server http://127.0.0.1:8080 of cluster \"c1\" is "
                                               "plain http: the credentials of user u1 are not sent (as "
                                               "with kubectl)")});
    }

    // ---- fuzzing -----------------------------------------------------------------------------

    void fuzzReplay_data()
    {
        QTest::addColumn<QString>("file");
        int rows = 0;
        QDirIterator corpus(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/fuzz/corpus/kubeconfig"), QDir::Files);
        while (corpus.hasNext()) {
            const QString f = corpus.next();
            QTest::newRow(qPrintable(u"corpus/" + QFileInfo(f).fileName())) << f;
            ++rows;
        }
        QDirIterator regressions(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/fuzz/regressions"),
                                 {QStringLiteral("kubeconfig-*")}, QDir::Files);
        while (regressions.hasNext()) {
            const QString f = regressions.next();
            QTest::newRow(qPrintable(u"regressions/" + QFileInfo(f).fileName())) << f;
            ++rows;
        }
        QVERIFY(rows >= 5);
    }
    void fuzzReplay()
    {
        QFETCH(QString, file);
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QElapsedTimer timer;
        timer.start();
        QVERIFY(fuzz::kubeconfigOnce(reinterpret_cast<const uint8_t *>(bytes.constData()), size_t(bytes.size())));
        QVERIFY(timer.elapsed() < 2000);
    }

    // The seed corpus is made of realistic kubeconfigs: each parses cleanly.
    void corpusLoads()
    {
        QDirIterator corpus(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/fuzz/corpus/kubeconfig"), QDir::Files);
        while (corpus.hasNext()) {
            const QString f = corpus.next();
            QFile in(f);
            QVERIFY(in.open(QIODevice::ReadOnly));
            Diagnostics diag;
            const auto parsed = parseKubeconfig(f, in.readAll(), diag);
            QVERIFY2(parsed && diag.isEmpty(), qPrintable(f + u": " + diag.toString()));
            QVERIFY(!parsed->contexts.isEmpty());
        }
    }
};

QTEST_GUILESS_MAIN(TestKubeconfig)
#include "tst_kubeconfig.moc"
