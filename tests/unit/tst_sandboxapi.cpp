// The sandbox API in-process (no sockets, no container processes): REST semantics, errors as
// Status objects, watch resume and expiry, authorization, and the controllers.
#include "testutil/sandboxharness.h"

#include <QDir>
#include <QTemporaryDir>
#include <QTest>

using iterdeck::sandbox::Json;
using iterdeck::sandbox::testing::ApiHarness;

// Compares a JSON value with an expected one, printing the value on failure.
#define JCOMPARE(actual, expected) QVERIFY2((actual) == Json(expected), (actual).dump().c_str())

namespace {

Json body(const std::shared_ptr<iterdeck::sandbox::testing::CapturedReply> &r)
{
    return Json::parse(r->response.body);
}

std::string configMap(const std::string &name, const std::string &labels = "{}")
{
    return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" + labels
        + R"(},"data":{"k":"v"}})";
}

std::string deployment(const std::string &image, int replicas)
{
    return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":)"
        + std::to_string(replicas)
        + R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":")"
        + image + R"("}]}}}})";
}

std::vector<Json> events(const std::string &stream)
{
    std::vector<Json> out;
    std::size_t start = 0;
    while (start < stream.size()) {
        auto nl = stream.find('\n', start);
        out.push_back(Json::parse(stream.substr(start, nl - start)));
        start = nl + 1;
    }
    return out;
}

} // namespace

class TestSandboxApi : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_api = std::make_unique<ApiHarness>(m_dir->path().toStdString());
    }
    void cleanup()
    {
        m_api.reset();
        m_dir.reset();
    }

    void createGetConflict()
    {
        auto r = m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("a"));
        QCOMPARE(r->response.status, 201);
        Json created = body(r);
        JCOMPARE(created["metadata"]["namespace"], "default");
        QVERIFY(created["metadata"]["uid"].is_string());
        QVERIFY(created["metadata"]["resourceVersion"].is_string());

        r = m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("a"));
        QCOMPARE(r->response.status, 409);
        JCOMPARE(body(r)["reason"], "AlreadyExists");
        JCOMPARE(body(r)["message"], "configmaps \"a\" already exists");

        r = m_api->request("GET", "/api/v1/namespaces/default/configmaps/a");
        QCOMPARE(r->response.status, 200);
        JCOMPARE(body(r)["data"]["k"], "v");

        // A PUT with an old resourceVersion is a conflict; with the current one it succeeds.
        Json stale = created;
        stale["data"]["k"] = "w";
        m_api->request("PATCH", "/api/v1/namespaces/default/configmaps/a", R"({"data":{"k":"x"}})",
                       "application/merge-patch+json");
        r = m_api->request("PUT", "/api/v1/namespaces/default/configmaps/a", stale.dump());
        QCOMPARE(r->response.status, 409);
        JCOMPARE(body(r)["reason"], "Conflict");
        QVERIFY(body(r)["message"].get<std::string>().find("the object has been modified") != std::string::npos);
        stale["metadata"].erase("resourceVersion");
        r = m_api->request("PUT", "/api/v1/namespaces/default/configmaps/a", stale.dump());
        QCOMPARE(r->response.status, 200);
        JCOMPARE(body(r)["data"]["k"], "w");
    }

    void errorsAreStatusObjects_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("body");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("reason");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown resource") << "GET"
                                          << "/api/v1/namespaces/default/widgets"
                                          << "" << 404 << "NotFound"
                                          << "the server could not find the requested resource";
        QTest::newRow("missing object") << "GET"
                                        << "/apis/apps/v1/namespaces/default/deployments/x"
                                        << "" << 404 << "NotFound"
                                        << "deployments.apps \"x\" not found";
        QTest::newRow("malformed json") << "POST"
                                        << "/api/v1/namespaces/default/configmaps"
                                        << "{\"kind\":" << 400 << "BadRequest"
                                        << "the request body is not valid JSON";
        QTest::newRow("wrong kind") << "POST"
                                    << "/api/v1/namespaces/default/configmaps"
                                    << R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}})" << 400
                                    << "BadRequest"
                                    << "kind Secret does not belong at configmaps";
        QTest::newRow("invalid name") << "POST"
                                      << "/api/v1/namespaces/default/configmaps"
                                      << QString::fromStdString(configMap("Not_Valid")) << 422 << "Invalid"
                                      << "ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value";
        QTest::newRow("no namespace") << "POST"
                                      << "/api/v1/namespaces/nope/configmaps" << QString::fromStdString(configMap("a"))
                                      << 404 << "NotFound"
                                      << "namespaces \"nope\" not found";
        QTest::newRow("bad selector") << "GET"
                                      << "/api/v1/pods?labelSelector=a%20in%20("
                                      << "" << 400 << "BadRequest"
                                      << "unable to parse requirement";
        QTest::newRow("bad field") << "GET"
                                   << "/api/v1/pods?fieldSelector=spec.image%3Dx"
                                   << "" << 400 << "BadRequest"
                                   << "field label not supported: spec.image";
        QTest::newRow("method") << "PUT"
                                << "/api/v1/namespaces/default/configmaps"
                                << "{}" << 405 << "MethodNotAllowed"
                                << "does not allow this method";
    }
    void errorsAreStatusObjects()
    {
        QFETCH(QString, method);
        QFETCH(QString, target);
        QFETCH(QString, body);
        QFETCH(int, code);
        QFETCH(QString, reason);
        QFETCH(QString, message);
        auto r = m_api->request(method.toStdString(), target.toStdString(), body.toStdString());
        QCOMPARE(r->response.status, code);
        QCOMPARE(r->response.contentType, std::string("application/json"));
        Json s = ::body(r);
        JCOMPARE(s["kind"], "Status");
        JCOMPARE(s["code"], code);
        QCOMPARE(QString::fromStdString(s["reason"].get<std::string>()), reason);
        QVERIFY2(s["message"].get<std::string>().find(message.toStdString()) != std::string::npos,
                 s["message"].get<std::string>().c_str());
        if (code == 422) {
            JCOMPARE(s["details"]["causes"][0]["field"], "metadata.name");
            JCOMPARE(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
        }
    }

    void listPagesWithContinue()
    {
        for (int i = 0; i < 5; ++i)
            QCOMPARE(m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("c" + std::to_string(i)))
                         ->response.status,
                     201);
        std::vector<std::string> seen;
        std::string cont;
        int pages = 0;
        do {
            auto r = m_api->request("GET",
                                    "/api/v1/namespaces/default/configmaps?limit=2"
                                        + (cont.empty() ? std::string() : "&continue=" + cont));
            QCOMPARE(r->response.status, 200);
            Json l = body(r);
            JCOMPARE(l["kind"], "ConfigMapList");
            for (const auto &i : l["items"])
                seen.push_back(i["metadata"]["name"]);
            cont = l["metadata"].value("continue", "");
            ++pages;
        } while (!cont.empty() && pages < 10);
        QCOMPARE(pages, 3);
        QCOMPARE(seen, (std::vector<std::string> {"c0", "c1", "c2", "c3", "c4"}));
    }

    void watchFromResourceVersion()
    {
        m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("w", R"({"team":"a"})"));
        std::string rv
            = body(m_api->request("GET", "/api/v1/namespaces/default/configmaps/w"))["metadata"]["resourceVersion"];
        m_api->request("PATCH", "/api/v1/namespaces/default/configmaps/w", R"({"data":{"k":"2"}})",
                       "application/merge-patch+json");
        // Leaving the selector is a DELETED event for that watch.
        m_api->request("PATCH", "/api/v1/namespaces/default/configmaps/w", R"({"metadata":{"labels":{"team":"b"}}})",
                       "application/merge-patch+json");
        auto r = m_api->request(
            "GET", "/api/v1/namespaces/default/configmaps?watch=true&labelSelector=team%3Da&resourceVersion=" + rv);
        QCOMPARE(r->response.status, 200);
        QVERIFY(r->streamed);
        auto evs = events(r->streamed->text);
        QCOMPARE(evs.size(), std::size_t(2));
        JCOMPARE(evs[0]["type"], "MODIFIED");
        JCOMPARE(evs[0]["object"]["data"]["k"], "2");
        JCOMPARE(evs[1]["type"], "DELETED");
        JCOMPARE(evs[0]["object"]["kind"], "ConfigMap");

        // Live events follow.
        m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("w2", R"({"team":"a"})"));
        evs = events(r->streamed->text);
        QCOMPARE(evs.size(), std::size_t(3));
        JCOMPARE(evs[2]["type"], "ADDED");
        JCOMPARE(evs[2]["object"]["metadata"]["name"], "w2");

        // Without a resourceVersion: the current state as ADDED events.
        auto r2
            = m_api->request("GET", "/api/v1/namespaces/default/configmaps?watch=1&fieldSelector=metadata.name%3Dw");
        evs = events(r2->streamed->text);
        QCOMPARE(evs.size(), std::size_t(1));
        JCOMPARE(evs[0]["type"], "ADDED");
    }

    void watchTooOldIsExpired()
    {
        m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("x"));
        for (std::size_t i = 0; i < iterdeck::sandbox::Store::kHistory + 10; ++i)
            m_api->store.put("configmaps", body(m_api->request("GET", "/api/v1/namespaces/default/configmaps/x")));
        auto r = m_api->request("GET", "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2");
        QCOMPARE(r->response.status, 200);
        auto evs = events(r->streamed->text);
        QCOMPARE(evs.size(), std::size_t(1));
        JCOMPARE(evs[0]["type"], "ERROR");
        JCOMPARE(evs[0]["object"]["code"], 410);
        JCOMPARE(evs[0]["object"]["reason"], "Expired");
        QVERIFY(evs[0]["object"]["message"].get<std::string>().rfind("too old resource version: 2 (", 0) == 0);
        QVERIFY(r->streamed->finished);
    }

    void authentication()
    {
        auto r = m_api->request("GET", "/api/v1/namespaces", {}, {}, "");
        QCOMPARE(r->response.status, 401);
        JCOMPARE(body(r)["reason"], "Unauthorized");
        r = m_api->request("GET", "/api/v1/namespaces", {}, {}, "wrong");
        QCOMPARE(r->response.status, 401);
        r = m_api->request("POST", "/api/v1/namespaces/default/configmaps", configMap("a"), "application/json",
                           "dev-token");
        QCOMPARE(r->response.status, 403);
        JCOMPARE(body(r)["message"],
                 "configmaps is forbidden: User \"developer\" cannot create resource \"configmaps\" in "
                 "API group \"\" in the namespace \"default\"");
        r = m_api->request("POST", "/api/v1/namespaces/dev-a/configmaps", configMap("a"), "application/json",
                           "dev-token");
        QCOMPARE(r->response.status, 201);
        r = m_api->request("GET", "/api/v1/namespaces/default/pods", {}, {}, "dev-token");
        QCOMPARE(r->response.status, 200);
        // The access review answers from the same policy, for JSON and for kubectl's protobuf.
        r = m_api->request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"dev-b","verb":"delete","resource":"pods"}}})",
            "application/json", "dev-token");
        QCOMPARE(r->response.status, 201);
        JCOMPARE(body(r)["status"]["allowed"], true);
        // "can-i create configmaps" in the runtime.Unknown protobuf envelope kubectl's typed client sends.
        const std::string ssar("\x6b\x38\x73\x00\x0a\x32\x0a\x17\x61\x75\x74\x68\x6f\x72\x69\x7a\x61\x74\x69\x6f\x6e"
                               "\x2e\x6b\x38\x73\x2e\x69\x6f\x2f\x76\x31\x12\x17\x53\x65\x6c\x66\x53\x75\x62\x6a\x65"
                               "\x63\x74\x41\x63\x63\x65\x73\x73\x52\x65\x76\x69\x65\x77\x12\x1a\x0a\x00\x12\x16\x0a"
                               "\x14\x12\x06\x63\x72\x65\x61\x74\x65\x2a\x0a\x63\x6f\x6e\x66\x69\x67\x6d\x61\x70\x73",
                               84);
        r = m_api->request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ssar,
                           "application/vnd.kubernetes.protobuf", "dev-token");
        QCOMPARE(r->response.status, 201);
        JCOMPARE(body(r)["spec"]["resourceAttributes"]["verb"], "create");
        JCOMPARE(body(r)["status"]["allowed"], false);
    }

    void deploymentController()
    {
        auto r = m_api->request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment("img:1", 3));
        QCOMPARE(r->response.status, 201);
        auto rs = body(m_api->request("GET", "/apis/apps/v1/namespaces/default/replicasets"))["items"];
        QCOMPARE(rs.size(), std::size_t(1));
        JCOMPARE(rs[0]["spec"]["replicas"], 3);
        JCOMPARE(rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
        auto pods = body(m_api->request("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"))["items"];
        QCOMPARE(pods.size(), std::size_t(3));
        for (const auto &p : pods) {
            JCOMPARE(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
            JCOMPARE(p["spec"]["nodeName"], "sandbox");
        }
        Json d = body(m_api->request("GET", "/apis/apps/v1/namespaces/default/deployments/web"));
        JCOMPARE(d["status"]["observedGeneration"], 1);
        JCOMPARE(d["status"]["replicas"], 3);

        // A new template makes a second replica set (the images are not in the catalog, so no
        // pod becomes available and the old replica set keeps its pods: maxUnavailable 25% of 3 = 0).
        r = m_api->request(
            "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
            R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"name":"web","image":"img:2"}]}}}})",
            "application/strategic-merge-patch+json");
        QCOMPARE(r->response.status, 200);
        JCOMPARE(body(r)["metadata"]["generation"], 2);
        rs = body(m_api->request("GET", "/apis/apps/v1/namespaces/default/replicasets"))["items"];
        QCOMPARE(rs.size(), std::size_t(2));
        d = body(m_api->request("GET", "/apis/apps/v1/namespaces/default/deployments/web"));
        JCOMPARE(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
        JCOMPARE(d["status"]["updatedReplicas"], 1);

        // Deleting the deployment takes its replica sets and pods with it.
        r = m_api->request("DELETE", "/apis/apps/v1/namespaces/default/deployments/web");
        QCOMPARE(r->response.status, 200);
        for (int i = 0; i < 50 && !body(m_api->request("GET", "/api/v1/namespaces/default/pods"))["items"].empty();
             ++i) {
            m_api->io.run_for(std::chrono::milliseconds(50));
            m_api->settle();
        }
        QCOMPARE(body(m_api->request("GET", "/apis/apps/v1/namespaces/default/replicasets"))["items"].size(),
                 std::size_t(0));
        QCOMPARE(body(m_api->request("GET", "/api/v1/namespaces/default/pods"))["items"].size(), std::size_t(0));
    }

    void namespaceDeletionTakesContents()
    {
        m_api->request("POST", "/api/v1/namespaces",
                       R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"gone"}})");
        m_api->request("POST", "/api/v1/namespaces/gone/configmaps", configMap("a"));
        auto r = m_api->request("DELETE", "/api/v1/namespaces/gone");
        QCOMPARE(r->response.status, 200);
        QCOMPARE(m_api->request("GET", "/api/v1/namespaces/gone/configmaps/a")->response.status, 404);
        QCOMPARE(m_api->request("GET", "/api/v1/namespaces/gone")->response.status, 404);
    }

    void fuzzCorpusReplays()
    {
        QDir dir(QStringLiteral(ITERDECK_SOURCE_DIR "/tests/fuzz/corpus/sandbox_api"));
        const auto files = dir.entryInfoList(QDir::Files);
        QVERIFY(files.size() >= 8);
        for (const auto &fi : files) {
            QFile f(fi.filePath());
            QVERIFY(f.open(QIODevice::ReadOnly));
            std::string in = f.readAll().toStdString();
            auto nl1 = in.find('\n');
            auto nl2 = in.find('\n', nl1 + 1);
            std::string first = in.substr(0, nl1);
            auto sp = first.find(' ');
            auto r
                = m_api->request(first.substr(0, sp), first.substr(sp + 1),
                                 nl2 == std::string::npos ? "" : in.substr(nl2 + 1), in.substr(nl1 + 1, nl2 - nl1 - 1));
            QVERIFY2(r->answered, qPrintable(fi.fileName()));
            QVERIFY2(r->response.status >= 200 && r->response.status < 600, qPrintable(fi.fileName()));
        }
    }

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<ApiHarness> m_api;
};

QTEST_GUILESS_MAIN(TestSandboxApi)
#include "tst_sandboxapi.moc"
