// The webhook parsers on the senders' published payloads (../shared/fixtures/webhooks) and
// signature vectors, and on bad input: every rejection is checked by its exact message.
#include "bot/crypto.h"
#include "bot/webhook.h"

#include "fuzz/fuzzwebhooks.h"
#include "testutil/testutil.h"

#include <QDirIterator>

#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

using namespace iterdeck;
using namespace iterdeck::bot;

namespace {

const QByteArray secret = "It's a Secret to Everybody";

QByteArray fixture(const QString &name)
{
    const QByteArray bytes = test::readFile(test::fixturesDir() + QStringLiteral("/webhooks/") + name);
    if (bytes.isEmpty())
        qFatal("missing fixture %s", qPrintable(name));
    return bytes;
}

QByteArray hubSignature(const QByteArray &key, const QByteArray &body)
{
    return "sha256=" + hmacSha256(key, body).toHex();
}

// A request as each sender signs it, with `key`.
WebhookRequest signedRequest(const QString &kind, const QByteArray &body, const QByteArray &key = secret)
{
    WebhookRequest r;
    r.body = body;
    if (kind == QLatin1String("github")) {
        r.headers.insert("x-hub-signature-256", hubSignature(key, body));
        r.headers.insert("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    } else if (kind == QLatin1String("generic")) {
        r.headers.insert("x-iterdeck-signature", hubSignature(key, body));
    } else if (kind == QLatin1String("jira")) {
        r.headers.insert("x-hub-signature", hubSignature(key, body));
        r.headers.insert("x-atlassian-webhook-identifier", "jira-delivery-1");
    } else if (kind == QLatin1String("gitlab")) {
        r.headers.insert("x-gitlab-token", key);
        r.headers.insert("idempotency-key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
    } else if (kind == QLatin1String("jenkins")) {
        r.query.insert(QStringLiteral("token"), QString::fromUtf8(key));
    } else if (kind == QLatin1String("registry")) {
        r.headers.insert("authorization", "Bearer " + key);
        r.headers.insert("content-type", "application/vnd.docker.distribution.events.v1+json");
    } else if (kind == QLatin1String("harbor")) {
        r.headers.insert("authorization", key);
        r.headers.insert("content-type", "application/json");
    }
    return r;
}

QString describe(const WebhookEvent &e)
{
    if (const auto *c = std::get_if<IterationChange>(&e)) {
        const char *kinds[] = {"started", "closed", "members"};
        QString s = QStringLiteral("%1 %2 \"%3\"").arg(QLatin1String(kinds[int(c->kind)]), c->key, c->name);
        if (!c->url.isEmpty())
            s += QStringLiteral(" url=") + c->url;
        if (c->at.isValid())
            s += QStringLiteral(" at=") + c->at.toString(Qt::ISODate);
        if (c->hasMembers)
            s += QStringLiteral(" members=") + c->members.join(u',');
        return s;
    }
    const auto &a = std::get<ArtifactPublished>(e);
    QStringList parts {QStringLiteral("artifact")};
    auto put = [&parts](const char *k, const QString &v) {
        if (!v.isEmpty())
            parts.append(QLatin1String(k) + u'=' + v);
    };
    put("component", a.component);
    put("repo", a.repository);
    put("image", a.image);
    put("job", a.jobName);
    put("branch", a.artifact.branch);
    put("build", a.artifact.build);
    put("commit", a.artifact.commit);
    put("tag", a.artifact.imageTag);
    put("digest", a.artifact.digest);
    put("chart", a.artifact.chartVersion);
    put("link", a.artifact.link);
    if (a.artifact.publishedAt.isValid())
        put("at", a.artifact.publishedAt.toString(Qt::ISODate));
    return parts.join(u' ');
}

QString describe(const ParsedDelivery &d)
{
    QStringList lines {QStringLiteral("id=") + d.deliveryId + QStringLiteral(" event=") + d.event};
    if (!d.ignoredReason.isEmpty())
        lines.append(QStringLiteral("ignored: ") + d.ignoredReason);
    for (const auto &e : d.events)
        lines.append(describe(e));
    return lines.join(u'\n');
}

// Jira publishes no sprint payload example (see ../shared/fixtures/webhooks/SOURCES.md); this one
// follows the fields of Jira's sprint resource (GET /rest/agile/1.0/sprint/{id}).
const QByteArray jiraSprintStarted
    = "{\"timestamp\":1700000000000,\"webhookEvent\":\"sprint_started\",\"sprint\":{\"id\":37,\"self\":\"https://"
      "example.atlassian.net/rest/agile/1.0/sprint/37\",\"state\":\"active\",\"name\":\"Sprint "
      "42\",\"startDate\":\"2023-11-14T22:13:20.000Z\",\"endDate\":\"2023-11-28T22:13:20.000Z\",\"originBoardId\":5,"
      "\"goal\":\"Payments\"}}";
const QByteArray jiraSprintClosed
    = "{\"timestamp\":1700000000000,\"webhookEvent\":\"sprint_closed\",\"sprint\":{\"id\":37,\"self\":\"https://"
      "example.atlassian.net/rest/agile/1.0/sprint/37\",\"state\":\"closed\",\"name\":\"Sprint "
      "42\",\"startDate\":\"2023-11-14T22:13:20.000Z\",\"endDate\":\"2023-11-28T22:13:20.000Z\",\"completeDate\":"
      "\"2023-11-28T10:00:00.000Z\",\"originBoardId\":5}}";
const QByteArray genericStarted
    = "{\"id\":\"d-1\",\"type\":\"iteration.started\",\"time\":\"2026-01-05T09:00:00Z\",\"iteration\":{\"id\":\"sprint-"
      "42\",\"name\":\"Sprint 42\",\"url\":\"https://plan.example.com/s/42\",\"members\":[\"alice\",\"bob\"]}}";
const QByteArray genericArtifact
    = "{\"id\":\"d-2\",\"type\":\"artifact.published\",\"artifact\":{\"component\":\"api\",\"branch\":\"main\","
      "\"build\":\"128\",\"commit\":\"9f2c1b\",\"tag\":\"main-128\",\"digest\":\"sha256:0123\",\"chartVersion\":\"1.4."
      "0\",\"link\":\"https://ci.example.com/128\"}}";

} // namespace

class TestBotWebhooks : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void githubSignatureVector()
    {
        const QJsonObject v = QJsonDocument::fromJson(fixture(QStringLiteral("github/signature-vector.json"))).object();
        const QByteArray key = v.value(QStringLiteral("secret")).toString().toUtf8();
        const QByteArray payload = v.value(QStringLiteral("payload")).toString().toUtf8();
        QCOMPARE(hmacSha256(key, payload).toHex(), v.value(QStringLiteral("expected_signature")).toString().toLatin1());
        WebhookRequest r;
        r.body = payload;
        r.headers.insert("x-hub-signature-256", v.value(QStringLiteral("expected_header_value")).toString().toLatin1());
        auto github = makeWebhookParser(QStringLiteral("github"));
        QVERIFY(github->verify(r, key));
        // Upper-case hex digits are the same signature.
        r.headers.insert("x-hub-signature-256", "sha256=" + hmacSha256(key, payload).toHex().toUpper());
        QVERIFY(github->verify(r, key));
        QVERIFY(!github->verify(r, key + 'x'));
    }

    void constantTimeCompare_data()
    {
        QTest::addColumn<QByteArray>("a");
        QTest::addColumn<QByteArray>("b");
        QTest::addColumn<bool>("equal");
        QTest::newRow("same") << QByteArray("abc") << QByteArray("abc") << true;
        QTest::newRow("empty") << QByteArray() << QByteArray("") << true;
        QTest::newRow("last byte") << QByteArray("abc") << QByteArray("abd") << false;
        QTest::newRow("prefix") << QByteArray("abc") << QByteArray("abcd") << false;
        QTest::newRow("empty vs one") << QByteArray() << QByteArray("\0", 1) << false;
    }

    void constantTimeCompare()
    {
        QFETCH(QByteArray, a);
        QFETCH(QByteArray, b);
        QFETCH(bool, equal);
        QCOMPARE(constantTimeEquals(a, b), equal);
        QCOMPARE(constantTimeEquals(b, a), equal);
    }

    void fixtures_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("event"); // the event header, where the sender has one
        QTest::addColumn<QString>("expected");

        QTest::newRow("github milestone created")
            << QStringLiteral("github") << fixture(QStringLiteral("github/milestone.created.json"))
            << QByteArray("milestone")
            << QStringLiteral("id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=milestone\n"
                              "started github:Codertocat/Hello-World/milestone/1 \"v1.0\" "
                              "url=https://github.com/Codertocat/Hello-World/milestone/1 at=2019-05-15T15:20:17Z");
        QTest::newRow("github milestone closed")
            << QStringLiteral("github") << fixture(QStringLiteral("github/milestone.closed.json"))
            << QByteArray("milestone")
            << QStringLiteral("id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=milestone\n"
                              "closed github:Codertocat/Hello-World/milestone/1 \"v1.0\" "
                              "url=https://github.com/Codertocat/Hello-World/milestone/1 at=2019-05-15T15:20:18Z");
        QTest::newRow("github workflow_run")
            << QStringLiteral("github") << fixture(QStringLiteral("github/workflow_run.completed.json"))
            << QByteArray("workflow_run")
            << QStringLiteral(
                   "id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=workflow_run\n"
                   "artifact repo=octo-org/octo-repo branch=master build=163 "
                   "commit=3484a3fb816e0859fd6e1cea078d76385ff50625 "
                   "link=https://github.com/octo-org/octo-repo/actions/runs/289782451 at=2020-10-05T16:33:49Z");
        QTest::newRow("github workflow_run with pull requests")
            << QStringLiteral("github")
            << fixture(QStringLiteral("github/workflow_run.completed.with-pull-requests.json"))
            << QByteArray("workflow_run")
            << QStringLiteral(
                   "id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=workflow_run\n"
                   "artifact repo=octo-org/octo-repo branch=master build=163 "
                   "commit=3484a3fb816e0859fd6e1cea078d76385ff50625 "
                   "link=https://github.com/octo-org/octo-repo/actions/runs/289782451 at=2020-10-05T16:33:49Z");
        QTest::newRow("github registry_package")
            << QStringLiteral("github") << fixture(QStringLiteral("github/registry_package.published.json"))
            << QByteArray("registry_package")
            << QStringLiteral("id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=registry_package\n"
                              "artifact repo=Codertocat/hello-world-npm image=ghcr.io/codertocat/hello-world "
                              "branch=master build=57755791 commit=6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b "
                              "digest=sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b "
                              "link=https://github.com/orgs/Codertocat/packages/container/hello-world/57755791 "
                              "at=2019-05-09T23:28:29Z");
        QTest::newRow("github package")
            << QStringLiteral("github") << fixture(QStringLiteral("github/package.published.json"))
            << QByteArray("package")
            << QStringLiteral("id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=package\n"
                              "artifact repo=Codertocat/hello-world-npm image=ghcr.io/codertocat/hello-world "
                              "branch=master build=57755790 commit=6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b "
                              "digest=sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b "
                              "link=https://github.com/Codertocat/container/hello-world/10696 at=2019-05-09T23:28:29Z");
        QTest::newRow("github npm package")
            << QStringLiteral("github") << fixture(QStringLiteral("github/package.published.npm.json"))
            << QByteArray("package")
            << QStringLiteral("id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=package\n"
                              "ignored: package of type \"npm\" is not a container image");
        QTest::newRow("github push") << QStringLiteral("github") << fixture(QStringLiteral("github/push.json"))
                                     << QByteArray("push")
                                     << QStringLiteral("id=72d3162e-cc78-11e3-81ab-4c9367dc0958 event=push\n"
                                                       "ignored: GitHub event \"push\" is not used");
        QTest::newRow("gitlab milestone")
            << QStringLiteral("gitlab") << fixture(QStringLiteral("gitlab/milestone.json"))
            << QByteArray("Milestone Hook")
            << QStringLiteral("id=f5e5f430-f57b-4e6e-9fac-d9128cd7232f event=Milestone Hook\n"
                              "started gitlab:gitlabhq/gitlab-test/milestone/10 \"v1.0\" "
                              "url=http://example.com/gitlabhq/gitlab-test/-/milestones/10 at=2025-06-16T14:10:57Z");
        QTest::newRow("gitlab pipeline")
            << QStringLiteral("gitlab") << fixture(QStringLiteral("gitlab/pipeline.json"))
            << QByteArray("Pipeline Hook")
            << QStringLiteral("id=f5e5f430-f57b-4e6e-9fac-d9128cd7232f event=Pipeline Hook\n"
                              "artifact repo=gitlab-org/gitlab-test branch=master build=31 "
                              "commit=bcbb5ec396a2c0f828686f14fac9b80b780504f2 "
                              "link=http://example.com/gitlab-org/gitlab-test/-/pipelines/31 at=2016-08-12T15:26:29Z");
        QTest::newRow("gitlab push") << QStringLiteral("gitlab") << fixture(QStringLiteral("gitlab/push.json"))
                                     << QByteArray("Push Hook")
                                     << QStringLiteral("id=f5e5f430-f57b-4e6e-9fac-d9128cd7232f event=Push Hook\n"
                                                       "ignored: GitLab event \"Push Hook\" is not used");
        QTest::newRow("jenkins completed")
            << QStringLiteral("jenkins") << fixture(QStringLiteral("jenkins/notification-plugin.build.completed.json"))
            << QByteArray()
            << QStringLiteral(
                   "id=asgard#18 event=COMPLETED\n"
                   "artifact repo=https://github.com/evgeny-goldin/asgard.git job=asgard branch=master build=18 "
                   "commit=c6d86dc654b12425e706bcf951adfe5a8627a517 link=http://localhost:8080/job/asgard/18/");
        QTest::newRow("jenkins started")
            << QStringLiteral("jenkins") << fixture(QStringLiteral("jenkins/notification-plugin.build.started.json"))
            << QByteArray()
            << QStringLiteral("id=JobName#1:STARTED event=STARTED\nignored: build phase \"STARTED\" is not used");
        QTest::newRow("registry push")
            << QStringLiteral("registry") << fixture(QStringLiteral("distribution/envelope.push.json")) << QByteArray()
            << QStringLiteral("id=events:%1 event=envelope\n"
                              "artifact repo=library/test image=registrycluster.local/library/test "
                              "digest=sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf "
                              "link=https://example.com/v2/library/test/manifests/"
                              "sha256:c3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d5 "
                              "at=2006-01-02T15:04:05Z")
                   .arg(QString::fromLatin1(
                       sha256Hex("asdf-asdf-asdf-asdf-0\nasdf-asdf-asdf-asdf-1\nasdf-asdf-asdf-asdf-2")));
        QTest::newRow("registry pull")
            << QStringLiteral("registry") << fixture(QStringLiteral("distribution/envelope.pull.json")) << QByteArray()
            << QStringLiteral("id=320678d8-ca14-430f-8bb6-4ca139cd83f7 event=envelope\n"
                              "ignored: no manifest push in the envelope (0 blob pushes, 1 other events)");
        QTest::newRow("harbor push")
            << QStringLiteral("harbor") << fixture(QStringLiteral("harbor/push_artifact.default.json")) << QByteArray()
            << QStringLiteral(
                   "id=sha256:%1 event=PUSH_ARTIFACT\n"
                   "artifact repo=harbor/alpine image=localhost/harbor/alpine "
                   "digest=sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4 "
                   "link=localhost/harbor/alpine@sha256:"
                   "954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4 at=2023-04-03T06:04:53Z")
                   .arg(QString::fromLatin1(sha256Hex(fixture(QStringLiteral("harbor/push_artifact.default.json")))));
        QTest::newRow("jira sprint started")
            << QStringLiteral("jira") << jiraSprintStarted << QByteArray()
            << QStringLiteral("id=jira-delivery-1 event=sprint_started\n"
                              "started jira:sprint/37 \"Sprint 42\" "
                              "url=https://example.atlassian.net/rest/agile/1.0/sprint/37 at=2023-11-14T22:13:20Z");
        QTest::newRow("jira sprint closed")
            << QStringLiteral("jira") << jiraSprintClosed << QByteArray()
            << QStringLiteral("id=jira-delivery-1 event=sprint_closed\n"
                              "closed jira:sprint/37 \"Sprint 42\" "
                              "url=https://example.atlassian.net/rest/agile/1.0/sprint/37 at=2023-11-28T10:00:00Z");
        QTest::newRow("jira issue") << QStringLiteral("jira")
                                    << QByteArray("{\"webhookEvent\":\"jira:issue_created\",\"issue\":{}}")
                                    << QByteArray()
                                    << QStringLiteral("id=jira-delivery-1 event=jira:issue_created\n"
                                                      "ignored: Jira event \"jira:issue_created\" is not used");
        QTest::newRow("generic iteration")
            << QStringLiteral("generic") << genericStarted << QByteArray()
            << QStringLiteral("id=d-1 event=iteration.started\n"
                              "started generic:sprint-42 \"Sprint 42\" url=https://plan.example.com/s/42 "
                              "at=2026-01-05T09:00:00Z members=alice,bob");
        QTest::newRow("generic artifact")
            << QStringLiteral("generic") << genericArtifact << QByteArray()
            << QStringLiteral("id=d-2 event=artifact.published\n"
                              "artifact component=api branch=main build=128 commit=9f2c1b tag=main-128 "
                              "digest=sha256:0123 chart=1.4.0 link=https://ci.example.com/128");
        QTest::newRow("generic members")
            << QStringLiteral("generic")
            << QByteArray(
                   "{\"id\":\"d-3\",\"type\":\"iteration.members\",\"iteration\":{\"id\":\"s1\",\"members\":[]}}")
            << QByteArray() << QStringLiteral("id=d-3 event=iteration.members\nmembers generic:s1 \"s1\" members=");
        QTest::newRow("generic unknown type")
            << QStringLiteral("generic") << QByteArray("{\"id\":\"d-4\",\"type\":\"deploy.finished\"}") << QByteArray()
            << QStringLiteral("id=d-4 event=deploy.finished\nignored: unknown event type \"deploy.finished\"");
    }

    void fixtures()
    {
        QFETCH(QString, kind);
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, event);
        QFETCH(QString, expected);
        auto parser = makeWebhookParser(kind);
        QVERIFY(parser);
        QCOMPARE(parser->kind(), kind);
        WebhookRequest r = signedRequest(kind, body);
        if (kind == QLatin1String("github"))
            r.headers.insert("x-github-event", event);
        if (kind == QLatin1String("gitlab"))
            r.headers.insert("x-gitlab-event", event);
        auto d = verifyAndParse(*parser, r, secret);
        QVERIFY2(d, d ? "" : qPrintable(d.error().message));
        QCOMPARE(describe(*d), expected);
    }

    // Harbor's CloudEvents example has // comments, so it is not JSON as published: it is refused
    // as it is and understood once the comments are gone.
    void harborCloudEvents()
    {
        const QByteArray jsonc = fixture(QStringLiteral("harbor/push_artifact.cloudevents.jsonc"));
        auto parser = makeWebhookParser(QStringLiteral("harbor"));
        auto refused = verifyAndParse(*parser, signedRequest(QStringLiteral("harbor"), jsonc), secret);
        QVERIFY(!refused);
        QCOMPARE(refused.error().httpStatus(), 400);
        QVERIFY2(refused.error().message.startsWith(QStringLiteral("the body is not valid JSON: ")),
                 qPrintable(refused.error().message));
        QByteArray stripped;
        for (const QByteArray &line : jsonc.split('\n')) {
            const qsizetype c = line.indexOf("//");
            stripped += (c >= 0 && !line.left(c).contains("http") ? line.left(c) : line) + '\n';
        }
        auto d = verifyAndParse(*parser, signedRequest(QStringLiteral("harbor"), stripped), secret);
        QVERIFY2(d, d ? "" : qPrintable(d.error().message));
        QCOMPARE(d->event, QStringLiteral("harbor.artifact.pushed"));
        QVERIFY(!d->deliveryId.isEmpty());
        QVERIFY(!d->deliveryId.startsWith(QStringLiteral("sha256:"))); // the CloudEvents id
        QCOMPARE(d->events.size(), 1);
        QCOMPARE(std::get<ArtifactPublished>(d->events.at(0)).repository, QStringLiteral("harbor/alpine"));
    }

    void unauthenticated_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("change"); // what is wrong with the request
        QTest::addColumn<QString>("message");
        const QStringList kinds {QStringLiteral("github"), QStringLiteral("generic"), QStringLiteral("jira")};
        const QStringList headers {QStringLiteral("X-Hub-Signature-256"), QStringLiteral("X-Iterdeck-Signature"),
                                   QStringLiteral("X-Hub-Signature")};
        for (int i = 0; i < kinds.size(); ++i) {
            const QString &k = kinds.at(i);
            const QString &h = headers.at(i);
            const char *name = qPrintable(k);
            QTest::addRow("%s wrong secret", name)
                << k << QStringLiteral("secret") << h + QStringLiteral(" does not match the body");
            QTest::addRow("%s body changed", name)
                << k << QStringLiteral("body") << h + QStringLiteral(" does not match the body");
            QTest::addRow("%s missing", name)
                << k << QStringLiteral("drop") << QStringLiteral("missing ") + h + QStringLiteral(" header");
            QTest::addRow("%s sha1", name)
                << k << QStringLiteral("sha1") << h + QStringLiteral(" must be \"sha256=\" and 64 hex digits");
            QTest::addRow("%s truncated", name)
                << k << QStringLiteral("truncate") << h + QStringLiteral(" must be \"sha256=\" and 64 hex digits");
        }
        QTest::newRow("gitlab wrong token") << QStringLiteral("gitlab") << QStringLiteral("secret")
                                            << QStringLiteral("X-Gitlab-Token header does not match");
        QTest::newRow("gitlab missing token")
            << QStringLiteral("gitlab") << QStringLiteral("drop") << QStringLiteral("missing X-Gitlab-Token header");
        QTest::newRow("jenkins wrong token") << QStringLiteral("jenkins") << QStringLiteral("secret")
                                             << QStringLiteral("token query parameter does not match");
        QTest::newRow("jenkins no token") << QStringLiteral("jenkins") << QStringLiteral("drop")
                                          << QStringLiteral("missing token: add ?token=SECRET to the URL");
        QTest::newRow("registry wrong") << QStringLiteral("registry") << QStringLiteral("secret")
                                        << QStringLiteral("Authorization header does not match");
        QTest::newRow("registry missing")
            << QStringLiteral("registry") << QStringLiteral("drop") << QStringLiteral("missing Authorization header");
        QTest::newRow("harbor wrong") << QStringLiteral("harbor") << QStringLiteral("secret")
                                      << QStringLiteral("Authorization header does not match");
        QTest::newRow("harbor missing") << QStringLiteral("harbor") << QStringLiteral("drop")
                                        << QStringLiteral("missing Authorization header");
    }

    void unauthenticated()
    {
        QFETCH(QString, kind);
        QFETCH(QString, change);
        QFETCH(QString, message);
        // Not even JSON: a bad signature must be found before the body is looked at.
        const QByteArray body = "{ not json";
        WebhookRequest r = signedRequest(kind, body, change == QLatin1String("secret") ? QByteArray("wrong") : secret);
        const QByteArray header = kind == QLatin1String("github") ? "x-hub-signature-256"
            : kind == QLatin1String("generic")                    ? "x-iterdeck-signature"
            : kind == QLatin1String("jira")                       ? "x-hub-signature"
            : kind == QLatin1String("gitlab")                     ? "x-gitlab-token"
                                                                  : "authorization";
        if (change == QLatin1String("body"))
            r.body += ' ';
        if (change == QLatin1String("drop")) {
            r.headers.remove(header);
            r.query.clear();
        }
        if (change == QLatin1String("sha1"))
            r.headers.insert(header, "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6");
        if (change == QLatin1String("truncate"))
            r.headers.insert(header, r.headers.value(header).chopped(1));
        auto parser = makeWebhookParser(kind);
        auto d = verifyAndParse(*parser, r, secret);
        QVERIFY(!d);
        QCOMPARE(d.error().code, WebhookError::Code::Unauthenticated);
        QCOMPARE(d.error().httpStatus(), 401);
        QCOMPARE(d.error().message, message);
    }

    void authorizationForms()
    {
        // The registry's configured header may be the secret itself or "Bearer <secret>".
        auto parser = makeWebhookParser(QStringLiteral("registry"));
        WebhookRequest r = signedRequest(QStringLiteral("registry"), "{}");
        QVERIFY(parser->verify(r, secret));
        r.headers.insert("authorization", secret);
        QVERIFY(parser->verify(r, secret));
        r.headers.insert("authorization", "Basic " + secret);
        QVERIFY(!parser->verify(r, secret));
        // Jenkins may send the token as a bearer header instead of in the URL.
        auto jenkins = makeWebhookParser(QStringLiteral("jenkins"));
        WebhookRequest j;
        j.headers.insert("authorization", "Bearer " + secret);
        QVERIFY(jenkins->verify(j, secret));
    }

    void malformed_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("event");
        QTest::addColumn<QString>("message");
        QTest::newRow("empty") << QStringLiteral("github") << QByteArray() << QByteArray("milestone")
                               << QStringLiteral("the body is empty");
        QTest::newRow("truncated") << QStringLiteral("gitlab") << QByteArray("{\"object_kind\": \"pipe")
                                   << QByteArray("Pipeline Hook")
                                   << QStringLiteral("the body is not valid JSON: unterminated string at offset 22");
        QTest::newRow("array") << QStringLiteral("jira") << QByteArray("[1,2]") << QByteArray()
                               << QStringLiteral("the body must be a JSON object");
        QTest::newRow("github no event header") << QStringLiteral("github") << QByteArray("{}") << QByteArray()
                                                << QStringLiteral("missing X-GitHub-Event header");
        QTest::newRow("github milestone without number")
            << QStringLiteral("github")
            << QByteArray(
                   "{\"action\":\"created\",\"milestone\":{\"title\":\"v1\"},\"repository\":{\"full_name\":\"o/r\"}}")
            << QByteArray("milestone") << QStringLiteral("field \"milestone.number\" is missing");
        QTest::newRow("github milestone number as object")
            << QStringLiteral("github")
            << QByteArray("{\"action\":\"created\",\"milestone\":{\"number\":{},\"title\":\"v1\"},\"repository\":{"
                          "\"full_name\":\"o/r\"}}")
            << QByteArray("milestone")
            << QStringLiteral("field \"milestone.number\" must be a string or a whole number, not an object");
        QTest::newRow("github fractional number")
            << QStringLiteral("github")
            << QByteArray("{\"action\":\"created\",\"milestone\":{\"number\":1.5,\"title\":\"v1\"},\"repository\":{"
                          "\"full_name\":\"o/r\"}}")
            << QByteArray("milestone") << QStringLiteral("field \"milestone.number\" must be a whole number");
        QTest::newRow("github workflow no sha")
            << QStringLiteral("github")
            << QByteArray("{\"action\":\"completed\",\"workflow_run\":{\"conclusion\":\"success\",\"head_branch\":"
                          "\"main\",\"run_number\":3},\"repository\":{\"full_name\":\"o/r\"}}")
            << QByteArray("workflow_run") << QStringLiteral("field \"workflow_run.head_sha\" is missing");
        QTest::newRow("github bad time")
            << QStringLiteral("github")
            << QByteArray("{\"action\":\"created\",\"milestone\":{\"number\":1,\"title\":\"v1\",\"created_at\":"
                          "\"yesterday\"},\"repository\":{\"full_name\":\"o/r\"}}")
            << QByteArray("milestone") << QStringLiteral("field \"milestone.created_at\" is not a time: \"yesterday\"");
        QTest::newRow("gitlab no event header") << QStringLiteral("gitlab") << QByteArray("{}") << QByteArray()
                                                << QStringLiteral("missing X-Gitlab-Event header");
        QTest::newRow("gitlab empty event header") << QStringLiteral("gitlab") << QByteArray("{}") << QByteArray(" ")
                                                   << QStringLiteral("missing X-Gitlab-Event header");
        QTest::newRow("github empty event header") << QStringLiteral("github") << QByteArray("{}") << QByteArray(" ")
                                                   << QStringLiteral("missing X-GitHub-Event header");
        QTest::newRow("gitlab pipeline ref number")
            << QStringLiteral("gitlab")
            << QByteArray("{\"object_attributes\":{\"status\":\"success\",\"ref\":7,\"id\":1,\"sha\":\"a\"},"
                          "\"project\":{\"path_with_namespace\":\"g/p\"}}")
            << QByteArray("Pipeline Hook")
            << QStringLiteral("field \"object_attributes.ref\" must be a string, not a number");
        QTest::newRow("jira no event") << QStringLiteral("jira") << QByteArray("{\"sprint\":{}}") << QByteArray()
                                       << QStringLiteral("field \"webhookEvent\" is missing");
        QTest::newRow("jira sprint without name")
            << QStringLiteral("jira") << QByteArray("{\"webhookEvent\":\"sprint_started\",\"sprint\":{\"id\":3}}")
            << QByteArray() << QStringLiteral("field \"sprint.name\" is missing");
        QTest::newRow("jenkins no branch")
            << QStringLiteral("jenkins")
            << QByteArray("{\"name\":\"api\",\"build\":{\"number\":4,\"phase\":\"COMPLETED\",\"status\":\"SUCCESS\"}}")
            << QByteArray() << QStringLiteral("build 4 of api names no branch: \"build.scm.branch\" is missing");
        QTest::newRow("jenkins number negative")
            << QStringLiteral("jenkins")
            << QByteArray("{\"name\":\"api\",\"build\":{\"number\":-4,\"phase\":\"COMPLETED\"}}") << QByteArray()
            << QStringLiteral("field \"build.number\" must be a whole number");
        QTest::newRow("registry events not a list")
            << QStringLiteral("registry") << QByteArray("{\"events\":{}}") << QByteArray()
            << QStringLiteral("field \"events\" must be an array, not an object");
        QTest::newRow("registry event not an object") << QStringLiteral("registry") << QByteArray("{\"events\":[3]}")
                                                      << QByteArray() << QStringLiteral("events[0] must be an object");
        QTest::newRow("registry manifest without digest")
            << QStringLiteral("registry")
            << QByteArray("{\"events\":[{\"id\":\"e1\",\"action\":\"push\",\"target\":{\"mediaType\":\"application/"
                          "vnd.oci.image.manifest.v1+json\",\"repository\":\"a/b\"}}]}")
            << QByteArray() << QStringLiteral("events[0].field \"target.digest\" is missing");
        QTest::newRow("registry no events") << QStringLiteral("registry") << QByteArray("{\"events\":[]}")
                                            << QByteArray() << QStringLiteral("the envelope has no events");
        QTest::newRow("harbor resources not a list")
            << QStringLiteral("harbor")
            << QByteArray("{\"type\":\"PUSH_ARTIFACT\",\"event_data\":{\"resources\":\"x\",\"repository\":{\"repo_full_"
                          "name\":\"p/r\"}}}")
            << QByteArray() << QStringLiteral("field \"event_data.resources\" must be an array, not a string");
        QTest::newRow("generic no id") << QStringLiteral("generic") << QByteArray("{\"type\":\"iteration.started\"}")
                                       << QByteArray() << QStringLiteral("field \"id\" is missing");
        QTest::newRow("generic empty id")
            << QStringLiteral("generic") << QByteArray("{\"id\":\"\",\"type\":\"iteration.started\"}") << QByteArray()
            << QStringLiteral("field \"id\" must not be empty");
        QTest::newRow("generic members not strings")
            << QStringLiteral("generic")
            << QByteArray(
                   "{\"id\":\"1\",\"type\":\"iteration.members\",\"iteration\":{\"id\":\"s\",\"members\":[\"a\",2]}}")
            << QByteArray()
            << QStringLiteral("field \"iteration.members\" must be a list of non-empty strings (item 1 is a number)");
        QTest::newRow("generic artifact without target")
            << QStringLiteral("generic")
            << QByteArray(
                   "{\"id\":\"1\",\"type\":\"artifact.published\",\"artifact\":{\"branch\":\"main\",\"tag\":\"x\"}}")
            << QByteArray()
            << QStringLiteral("an artifact needs one of \"artifact.component\", \"artifact.repository\" or "
                              "\"artifact.image\"");
        QTest::newRow("generic artifact without version")
            << QStringLiteral("generic")
            << QByteArray("{\"id\":\"1\",\"type\":\"artifact.published\",\"artifact\":{\"component\":\"api\","
                          "\"branch\":\"main\"}}")
            << QByteArray()
            << QStringLiteral("an artifact needs one of \"artifact.tag\", \"artifact.digest\" or "
                              "\"artifact.chartVersion\"");
    }

    void malformed()
    {
        QFETCH(QString, kind);
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, event);
        QFETCH(QString, message);
        WebhookRequest r = signedRequest(kind, body);
        if (!event.isEmpty())
            r.headers.insert(kind == QLatin1String("github") ? "x-github-event" : "x-gitlab-event", event);
        auto d = verifyAndParse(*makeWebhookParser(kind), r, secret);
        QVERIFY(!d);
        QCOMPARE(d.error().code, WebhookError::Code::Malformed);
        QCOMPARE(d.error().httpStatus(), 400);
        QCOMPARE(d.error().message, message);
    }

    void githubHeaders()
    {
        auto github = makeWebhookParser(QStringLiteral("github"));
        WebhookRequest r
            = signedRequest(QStringLiteral("github"), fixture(QStringLiteral("github/milestone.created.json")));
        r.headers.insert("x-github-event", "milestone");
        r.headers.remove("x-github-delivery");
        auto d = github->parse(r);
        QVERIFY(!d);
        QCOMPARE(d.error().message, QStringLiteral("missing X-GitHub-Delivery header"));
        // Form-encoded deliveries carry the JSON in "payload".
        WebhookRequest form;
        form.headers.insert("content-type", "application/x-www-form-urlencoded");
        form.headers.insert("x-github-event", "milestone");
        form.headers.insert("x-github-delivery", "d");
        form.body = "payload=" + fixture(QStringLiteral("github/milestone.created.json")).toPercentEncoding();
        auto f = github->parse(form);
        QVERIFY2(f, f ? "" : qPrintable(f.error().message));
        QCOMPARE(f->events.size(), 1);
        form.body = "other=1";
        QCOMPARE(github->parse(form).error().message,
                 QStringLiteral("a form-encoded delivery needs a \"payload\" field"));
    }

    void registryContentType()
    {
        auto registry = makeWebhookParser(QStringLiteral("registry"));
        WebhookRequest r
            = signedRequest(QStringLiteral("registry"), fixture(QStringLiteral("distribution/envelope.push.json")));
        r.headers.insert("content-type", "application/json");
        auto d = registry->parse(r);
        QVERIFY(!d);
        QCOMPARE(d.error().message,
                 QStringLiteral("Content-Type must be application/vnd.docker.distribution.events.v1+json "
                                "(or v2), not \"application/json\""));
        r.headers.insert("content-type", "application/vnd.docker.distribution.events.v2+json; charset=utf-8");
        QVERIFY(registry->parse(r));
    }

    void jenkinsPhasesShareOneDelivery()
    {
        // COMPLETED and FINALIZED of one successful build must count once.
        const QByteArray completed = fixture(QStringLiteral("jenkins/notification-plugin.build.completed.json"));
        QByteArray finalized = completed;
        finalized.replace("\"COMPLETED\"", "\"FINALIZED\"");
        auto jenkins = makeWebhookParser(QStringLiteral("jenkins"));
        auto a = jenkins->parse(signedRequest(QStringLiteral("jenkins"), completed));
        auto b = jenkins->parse(signedRequest(QStringLiteral("jenkins"), finalized));
        QVERIFY(a && b);
        QCOMPARE(a->deliveryId, b->deliveryId);
        QCOMPARE(a->events.size(), 1);
        QCOMPARE(b->events.size(), 1);
    }

    void unknownKind() { QVERIFY(!makeWebhookParser(QStringLiteral("bitbucket"))); }

    // The fuzzer's seeds and every input it found troublesome keep passing its checks.
    void fuzzReplay_data()
    {
        QTest::addColumn<QString>("file");
        int rows = 0;
        for (const char *dir : {"/tests/fuzz/corpus/webhooks", "/tests/fuzz/regressions"}) {
            QDirIterator it(QStringLiteral(ITERDECK_SOURCE_DIR) + QString::fromLatin1(dir), QDir::Files);
            while (it.hasNext()) {
                const QString f = it.next();
                if (QLatin1String(dir).endsWith(QLatin1String("regressions"))
                    && !QFileInfo(f).fileName().startsWith(QLatin1String("webhooks-")))
                    continue;
                QTest::newRow(qPrintable(QFileInfo(f).fileName())) << f;
                ++rows;
            }
        }
        QVERIFY(rows >= 18);
    }

    void fuzzReplay()
    {
        QFETCH(QString, file);
        const QByteArray bytes = test::readFile(file);
        QVERIFY(!bytes.isEmpty());
        const auto *data = reinterpret_cast<const uint8_t *>(bytes.constData());
        QVERIFY(fuzz::webhooksOnce(data, size_t(bytes.size())));
        // The same request signed wrongly is refused with 401, whatever it holds.
        QByteArray wrong = bytes;
        wrong[1] = char(wrong[1] | 1);
        QVERIFY(fuzz::webhooksOnce(reinterpret_cast<const uint8_t *>(wrong.constData()), size_t(wrong.size())));
    }
};

QTEST_GUILESS_MAIN(TestBotWebhooks)
#include "tst_botwebhooks.moc"
