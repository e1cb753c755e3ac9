// The sandbox's kubelet with real processes: logs, exit codes and restart policies with
// CrashLoopBackOff, unknown images, exec (pipes and tty), probes, volumes, stopping and a server
// restart. Every test runs under bubblewrap and as plain processes. The io_context is driven
// by the test itself.
#include "sandbox/runtime.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <filesystem>
#include <map>

using namespace iterdeck::sandbox;
using namespace std::chrono_literals;

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

// Base64 of short ASCII test values.
std::string base64(const std::string &in)
{
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned v = 0;
    int bits = 0;
    for (unsigned char c : in) {
        v = (v << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += table[(v >> bits) & 63];
        }
    }
    if (bits > 0)
        out += table[(v << (6 - bits)) & 63];
    while (out.size() % 4)
        out += '=';
    return out;
}

} // namespace

class TestSandboxRuntime : public QObject
{
    Q_OBJECT
private:
    boost::asio::io_context m_io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_work {m_io.get_executor()};
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<Runtime> m_runtime;
    bool m_bubblewrap = false;
    std::string m_autoIsolation;
    std::map<std::string, Json> m_status; // uid -> latest status
    std::map<std::string, std::vector<Json>> m_history; // uid -> every status reported
    std::vector<std::pair<std::string, RuntimeEvent>> m_events;
    std::map<std::string, Json> m_objects; // "Kind/ns/name"
    std::map<std::string, std::string> m_claims;
    int m_counter = 0;

    RuntimeOptions options()
    {
        RuntimeOptions o;
        o.dataDir = m_tmp->path().toStdString();
        o.isolation = m_bubblewrap ? RuntimeOptions::Isolation::Bubblewrap : RuntimeOptions::Isolation::Plain;
        o.lookup = [this](const std::string &kind, const std::string &ns, const std::string &name) -> Json {
            const auto it = m_objects.find(kind + "/" + ns + "/" + name);
            return it == m_objects.end() ? Json(nullptr) : it->second;
        };
        o.claimDirectory = [this](const std::string &ns, const std::string &claim) {
            const auto it = m_claims.find(ns + "/" + claim);
            return it == m_claims.end() ? std::string() : it->second;
        };
        return o;
    }

    void makeRuntime()
    {
        m_runtime = std::make_unique<Runtime>(m_io, options());
        m_runtime->onStatus = [this](const std::string &uid, const Json &status) {
            m_status[uid] = status;
            m_history[uid].push_back(status);
        };
        m_runtime->onEvent = [this](const std::string &uid, const RuntimeEvent &e) { m_events.emplace_back(uid, e); };
    }

    bool waitFor(const std::function<bool()> &done, std::chrono::milliseconds timeout = 8s)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            m_io.run_for(5ms);
        }
        return true;
    }

    Json makePod(const std::string &name, Json containers, Json spec = Json::object())
    {
        spec["containers"] = std::move(containers);
        if (!spec.contains("restartPolicy"))
            spec["restartPolicy"] = "Never";
        return Json {
            {"metadata",
             {{"name", name}, {"namespace", "default"}, {"uid", name + "-uid-" + std::to_string(++m_counter)}}},
            {"spec", spec}};
    }

    static Json shell(const std::string &script, const std::string &image = "iterdeck/sandbox-base:latest")
    {
        return Json {{"name", "c"}, {"image", image}, {"command", {"sh", "-c", script}}};
    }

    static std::string uidOf(const Json &pod) { return pod["metadata"]["uid"].get<std::string>(); }

    std::string phase(const std::string &uid)
    {
        const auto it = m_status.find(uid);
        return it != m_status.end() && it->second.is_object() ? it->second.value("phase", "") : "";
    }

    Json container(const std::string &uid, std::size_t i = 0)
    {
        const Json &s = m_status[uid];
        return s.contains("containerStatuses") && s["containerStatuses"].size() > i ? s["containerStatuses"][i]
                                                                                    : Json();
    }

    int restarts(const std::string &uid)
    {
        const Json c = container(uid);
        return c.is_object() ? c.value("restartCount", 0) : 0;
    }

    bool conditionTrue(const std::string &uid, const std::string &type)
    {
        for (const auto &c : m_status[uid].value("conditions", Json::array())) {
            if (c["type"] == type)
                return c["status"] == "True";
        }
        return false;
    }

    // Reads a log to its end; nullopt with *error when logs() refuses.
    std::optional<std::string> readLogs(const std::string &uid, LogOptions o, std::string *error = nullptr)
    {
        std::string err;
        auto stream = m_runtime->logs(uid, o, &err);
        if (error)
            *error = err;
        if (!stream)
            return std::nullopt;
        std::string text;
        bool ended = false;
        stream->onData = [&](std::string_view chunk) { text.append(chunk); };
        stream->onEnd = [&] { ended = true; };
        stream->start();
        if (!waitFor([&] { return ended; }))
            return std::string("<log did not end>");
        return text;
    }

    struct ExecResult
    {
        std::string out, err, error;
        int exitCode = -1;
        bool exited = false;
    };

    std::shared_ptr<ExecProcess> startExec(const std::string &uid, const ExecOptions &o, ExecResult &r)
    {
        std::string error;
        auto e = m_runtime->exec(uid, o, &error);
        if (!e) {
            r.error = error;
            return nullptr;
        }
        e->onOutput = [&r](int stream, std::string_view data) { (stream == 2 ? r.err : r.out).append(data); };
        e->onExit = [&r](int code, const std::string &message) {
            QVERIFY(!r.exited);
            r.exited = true;
            r.exitCode = code;
            r.error = message;
        };
        return e;
    }

    std::string startRunning(const Json &pod)
    {
        m_runtime->startPod(pod);
        const std::string uid = uidOf(pod);
        if (!waitFor([&] { return phase(uid) == "Running" && container(uid)["state"].contains("running"); }))
            return {};
        return uid;
    }

    bool sawWaiting(const std::string &uid, const std::string &reason)
    {
        for (const auto &s : m_history[uid]) {
            for (const auto &c : s.value("containerStatuses", Json::array())) {
                if (c["state"].contains("waiting") && c["state"]["waiting"].value("reason", "") == reason)
                    return true;
            }
        }
        return false;
    }

private Q_SLOTS:
    void initTestCase_data()
    {
        QTest::addColumn<bool>("bubblewrap");
        QTest::newRow("bubblewrap") << true;
        QTest::newRow("plain") << false;
    }

    void initTestCase()
    {
        ::setenv("ITERDECK_SANDBOX_BACKOFF_MS", "200", 1);
        QTemporaryDir dir;
        RuntimeOptions o;
        o.dataDir = dir.path().toStdString();
        m_autoIsolation = Runtime(m_io, o).isolationDescription();
        qInfo("isolation chosen automatically: %s", m_autoIsolation.c_str());
    }

    void init()
    {
        QFETCH_GLOBAL(bool, bubblewrap);
        m_bubblewrap = bubblewrap;
        if (bubblewrap && m_autoIsolation != "bubblewrap")
            QSKIP(qPrintable(q("bubblewrap unusable here: " + m_autoIsolation)));
        m_tmp = std::make_unique<QTemporaryDir>();
        QVERIFY(m_tmp->isValid());
        m_status.clear();
        m_history.clear();
        m_events.clear();
        m_objects.clear();
        m_claims.clear();
        makeRuntime();
        QCOMPARE(q(m_runtime->isolationDescription())
                     .startsWith(bubblewrap ? QStringLiteral("bubblewrap") : QStringLiteral("plain (no isolation")),
                 true);
    }

    void cleanup()
    {
        m_runtime.reset();
        m_io.poll();
        m_tmp.reset();
    }

    void catalog()
    {
        const ImageCatalog builtIn = ImageCatalog::builtIn();
        QVERIFY(builtIn.find("iterdeck/sandbox-base:latest"));
        QVERIFY(builtIn.find("iterdeck/sandbox-base"));
        const ImageEntry *web = builtIn.find("iterdeck/demo-web:1.0");
        QVERIFY(web);
        QVERIFY(std::filesystem::exists(web->rootTemplate + "/app/server.py"));
        QVERIFY(builtIn.find("iterdeck/demo-worker:1.0"));
        QVERIFY(!builtIn.find("iterdeck/demo-web:2.0"));

        const QString good = m_tmp->filePath(QStringLiteral("good.yaml"));
        QDir().mkpath(m_tmp->filePath(QStringLiteral("tpl")));
        QFile f(good);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("images:\n  - reference: my/app\n    root: tpl\n    command: [sh]\n    env:\n      - {name: A, value: "
                "b}\n");
        f.close();
        std::string error;
        auto loaded = ImageCatalog::load(good.toStdString(), &error);
        QVERIFY2(loaded, error.c_str());
        const ImageEntry *app = loaded->find("my/app:latest");
        QVERIFY(app);
        QCOMPARE(app->env.size(), std::size_t(1));
        QVERIFY(loaded->find("iterdeck/demo-web:1.0"));

        const QString bad = m_tmp->filePath(QStringLiteral("bad.yaml"));
        QFile g(bad);
        QVERIFY(g.open(QIODevice::WriteOnly));
        g.write("images:\n  x:1:\n    root: nowhere\n");
        g.close();
        QVERIFY(!ImageCatalog::load(bad.toStdString(), &error));
        QVERIFY2(q(error).startsWith(bad + QStringLiteral(":3:11: root directory")), error.c_str());
        QVERIFY(!ImageCatalog::load(m_tmp->filePath(QStringLiteral("missing.yaml")).toStdString(), &error));
    }

    void runAndReadLogs()
    {
        const Json pod = makePod("hello",
                                 Json::array({shell("echo hello; echo ip=$POD_IP host=$HOSTNAME; sleep 0.2; "
                                                    "echo oops >&2; sleep 0.2; printf partial")}));
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return phase(uid) == "Succeeded"; }));
        const Json status = m_status[uid];
        const Json c = container(uid);
        QCOMPARE(q(c["state"]["terminated"]["reason"]), QStringLiteral("Completed"));
        QCOMPARE(c["state"]["terminated"]["exitCode"].get<int>(), 0);
        QVERIFY(q(c["containerID"]).startsWith(QStringLiteral("sandbox://")));
        QCOMPARE(c["restartCount"].get<int>(), 0);
        QCOMPARE(c["ready"].get<bool>(), false);
        QVERIFY(q(c["imageID"]).startsWith(QStringLiteral("sandbox://sha256:")));
        const std::string ip = status["podIP"];
        QCOMPARE(q(ip), q(m_runtime->podIP(uid)));
        QVERIFY(q(ip).startsWith(QStringLiteral("127.")));
        QCOMPARE(q(status["hostIP"]), QStringLiteral("127.0.0.1"));
        QCOMPARE(q(status["qosClass"]), QStringLiteral("BestEffort"));
        const QRegularExpression rfc3339(QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$"));
        QVERIFY(rfc3339.match(q(status["startTime"])).hasMatch());
        QVERIFY(rfc3339.match(q(c["state"]["terminated"]["finishedAt"])).hasMatch());
        for (const auto &cond : status["conditions"]) {
            QVERIFY(rfc3339.match(q(cond["lastTransitionTime"])).hasMatch());
            if (cond["type"] == "Ready")
                QCOMPARE(q(cond.value("reason", "")), QStringLiteral("PodCompleted"));
        }

        auto all = readLogs(uid, {});
        QVERIFY(all);
        QCOMPARE(q(*all), q("hello\nip=" + ip + " host=hello\noops\npartial\n"));
        LogOptions o;
        o.timestamps = true;
        const auto stamped = readLogs(uid, o);
        QVERIFY(stamped);
        const QStringList lines = q(*stamped).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 4);
        const QRegularExpression nano(QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z hello$"));
        QVERIFY2(nano.match(lines[0]).hasMatch(), qPrintable(lines[0]));
        o = {};
        o.tailLines = 2;
        QCOMPARE(q(readLogs(uid, o).value_or("?")), QStringLiteral("oops\npartial\n"));
        o = {};
        o.limitBytes = 3;
        QCOMPARE(q(readLogs(uid, o).value_or("?")), QStringLiteral("hel"));
        o = {};
        o.since = std::chrono::system_clock::now() + 1h;
        QCOMPARE(q(readLogs(uid, o).value_or("?")), QString());

        // The CRI file keeps one timestamped record per line.
        QFile file(m_tmp->filePath(q("pods/" + uid + "/c/0.log")));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QString first = QString::fromUtf8(file.readLine());
        QVERIFY2(QRegularExpression(QStringLiteral("^\\S+Z stdout F hello\\n$")).match(first).hasMatch(),
                 qPrintable(first));

        std::string error;
        LogOptions wrong;
        wrong.container = "nope";
        QVERIFY(!readLogs(uid, wrong, &error));
        QCOMPARE(q(error), QStringLiteral("container nope is not valid for pod hello"));
        LogOptions previous;
        previous.previous = true;
        QVERIFY(!readLogs(uid, previous, &error));
        QCOMPARE(q(error), QStringLiteral("previous terminated container \"c\" in pod \"hello\" not found"));
    }

    void followLogs()
    {
        const Json pod = makePod("follow", Json::array({shell("for i in 1 2 3; do echo line $i; sleep 0.2; done")}));
        const std::string uid = startRunning(pod);
        QVERIFY(!uid.empty());
        LogOptions o;
        o.follow = true;
        std::string err;
        auto stream = m_runtime->logs(uid, o, &err);
        QVERIFY2(stream, err.c_str());
        std::string text;
        bool ended = false;
        stream->onData = [&](std::string_view chunk) { text.append(chunk); };
        stream->onEnd = [&] { ended = true; };
        stream->start();
        QVERIFY(waitFor([&] { return ended; }));
        QCOMPARE(q(text), QStringLiteral("line 1\nline 2\nline 3\n"));
        QCOMPARE(q(phase(uid)), QStringLiteral("Succeeded"));
    }

    void restartPolicies_data()
    {
        QTest::addColumn<QString>("policy");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("finalPhase"); // empty: keeps restarting
        QTest::newRow("Never, failing") << QStringLiteral("Never") << 3 << QStringLiteral("Failed");
        QTest::newRow("Never, succeeding") << QStringLiteral("Never") << 0 << QStringLiteral("Succeeded");
        QTest::newRow("OnFailure, succeeding") << QStringLiteral("OnFailure") << 0 << QStringLiteral("Succeeded");
        QTest::newRow("OnFailure, failing") << QStringLiteral("OnFailure") << 3 << QString();
        QTest::newRow("Always, failing") << QStringLiteral("Always") << 3 << QString();
    }

    void restartPolicies()
    {
        QFETCH(QString, policy);
        QFETCH(int, exitCode);
        QFETCH(QString, finalPhase);
        Json spec = {{"restartPolicy", policy.toStdString()}};
        const Json pod = makePod("crash", Json::array({shell("echo run; exit " + std::to_string(exitCode))}), spec);
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        if (!finalPhase.isEmpty()) {
            QVERIFY(waitFor([&] { return q(phase(uid)) == finalPhase; }));
            const Json c = container(uid);
            QCOMPARE(c["restartCount"].get<int>(), 0);
            QCOMPARE(c["state"]["terminated"]["exitCode"].get<int>(), exitCode);
            QCOMPARE(q(c["state"]["terminated"]["reason"]),
                     exitCode ? QStringLiteral("Error") : QStringLiteral("Completed"));
            return;
        }
        // Restarted at once, then with back-off: CrashLoopBackOff in between.
        QVERIFY(waitFor([&] { return restarts(uid) >= 2; }));
        QVERIFY(sawWaiting(uid, "CrashLoopBackOff"));
        QCOMPARE(q(phase(uid)), QStringLiteral("Running"));
        bool sawMessage = false;
        for (const auto &s : m_history[uid]) {
            const Json &w = s["containerStatuses"][0]["state"].value("waiting", Json::object());
            if (w.value("reason", "") == "CrashLoopBackOff") {
                QVERIFY2(q(w["message"]).startsWith(QStringLiteral("back-off ")), w.dump().c_str());
                QVERIFY(q(w["message"]).endsWith(q(" restarting failed container=c pod=crash_default(" + uid + ")")));
                QCOMPARE(s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"].get<int>(), exitCode);
                sawMessage = true;
            }
        }
        QVERIFY(sawMessage);
        LogOptions previous;
        previous.previous = true;
        QCOMPARE(q(readLogs(uid, previous).value_or("?")), QStringLiteral("run\n"));
        bool backOffEvent = false;
        for (const auto &[eventUid, e] : m_events)
            backOffEvent |= eventUid == uid && e.reason == "BackOff" && e.type == "Warning";
        QVERIFY(backOffEvent);
    }

    void unknownImage()
    {
        const Json pod = makePod("ghost", Json::array({shell("true", "nope/missing:1")}));
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return sawWaiting(uid, "ErrImagePull"); }));
        QVERIFY(waitFor([&] { return sawWaiting(uid, "ImagePullBackOff"); }));
        QCOMPARE(q(phase(uid)), QStringLiteral("Pending"));
        for (const auto &s : m_history[uid]) {
            const Json &w = s["containerStatuses"][0]["state"]["waiting"];
            if (w.value("reason", "") == "ErrImagePull")
                QCOMPARE(
                    q(w["message"]),
                    QStringLiteral("Failed to pull image \"nope/missing:1\": image not found in the sandbox catalog"));
            if (w.value("reason", "") == "ImagePullBackOff")
                QCOMPARE(q(w["message"]), QStringLiteral("Back-off pulling image \"nope/missing:1\""));
        }
        QCOMPARE(q(container(uid)["imageID"]), QString());
        std::string error;
        QVERIFY(!readLogs(uid, {}, &error));
        QVERIFY2(q(error).startsWith(QStringLiteral("container \"c\" in pod \"ghost\" is waiting to start: ")),
                 error.c_str());
        ExecOptions o;
        o.command = {"true"};
        QVERIFY(!m_runtime->exec(uid, o, &error));
        QCOMPARE(q(error), QStringLiteral("container \"c\" in pod \"ghost\" is not running"));
    }

    void exec()
    {
        const Json pod = makePod("box", Json::array({shell("echo data > state.txt; exec sleep 1000")}));
        const std::string uid = startRunning(pod);
        QVERIFY(!uid.empty());

        ExecResult cat;
        ExecOptions o;
        o.command = {"cat"};
        o.stdinOpen = true;
        auto e = startExec(uid, o, cat);
        QVERIFY2(e, cat.error.c_str());
        bool consumed = false;
        e->writeStdin("hello exec\n", [&] { consumed = true; });
        QVERIFY(waitFor([&] { return consumed; }));
        e->closeStdin();
        QVERIFY(waitFor([&] { return cat.exited; }));
        QCOMPARE(cat.exitCode, 0);
        QCOMPARE(q(cat.out), QStringLiteral("hello exec\n"));

        ExecResult status;
        o = {};
        o.command = {"sh", "-c", "cat state.txt; echo err >&2; echo $HOSTNAME $POD_IP; exit 7"};
        auto e2 = startExec(uid, o, status);
        QVERIFY(e2);
        QVERIFY(waitFor([&] { return status.exited; }));
        QCOMPARE(status.exitCode, 7);
        QCOMPARE(q(status.out), q("data\nbox " + m_runtime->podIP(uid) + "\n"));
        QCOMPARE(q(status.err), QStringLiteral("err\n"));
        QVERIFY(status.error.empty());

        ExecResult missing;
        o.command = {"no-such-command"};
        auto e3 = startExec(uid, o, missing);
        QVERIFY(e3);
        QVERIFY(waitFor([&] { return missing.exited; }));
        QCOMPARE(missing.exitCode, 127);
        QCOMPARE(q(missing.error), QStringLiteral("exec: \"no-such-command\": executable file not found in $PATH"));

        ExecResult killed;
        o.command = {"sleep", "100"};
        auto e4 = startExec(uid, o, killed);
        QVERIFY(e4);
        m_io.run_for(100ms);
        e4->kill();
        QVERIFY(waitFor([&] { return killed.exited; }));
        QCOMPARE(killed.exitCode, 137);

        // Paused output is not lost; onExit comes after it.
        ExecResult paused;
        o.command = {"sh", "-c", "seq 1 20000"};
        auto e5 = startExec(uid, o, paused);
        QVERIFY(e5);
        e5->setOutputPaused(true);
        m_io.run_for(300ms);
        QVERIFY(!paused.exited);
        e5->setOutputPaused(false);
        QVERIFY(waitFor([&] { return paused.exited; }));
        QCOMPARE(q(paused.out).count(QLatin1Char('\n')), 20000);

        ExecOptions wrong;
        wrong.container = "other";
        wrong.command = {"true"};
        std::string error;
        QVERIFY(!m_runtime->exec(uid, wrong, &error));
        QCOMPARE(q(error), QStringLiteral("container other is not valid for pod box"));
    }

    void execTty()
    {
        const Json pod = makePod("term", Json::array({shell("exec sleep 1000")}));
        const std::string uid = startRunning(pod);
        QVERIFY(!uid.empty());
        ExecResult r;
        ExecOptions o;
        o.command = {"sh", "-c", "test -t 0 && echo TTY; read line; stty size; echo got $line $TERM; echo err >&2"};
        o.stdinOpen = true;
        o.tty = true;
        auto e = startExec(uid, o, r);
        QVERIFY2(e, r.error.c_str());
        e->resize(120, 40);
        e->writeStdin("abc\n", {});
        QVERIFY(waitFor([&] { return r.exited; }));
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(q(r.out).contains(QStringLiteral("TTY\r\n")), r.out.c_str());
        QVERIFY2(q(r.out).contains(QStringLiteral("40 120\r\n")), r.out.c_str());
        QVERIFY2(q(r.out).contains(QStringLiteral("got abc xterm\r\n")), r.out.c_str());
        QVERIFY2(q(r.out).contains(QStringLiteral("err\r\n")), r.out.c_str());
        QVERIFY(r.err.empty());
        QVERIFY2(r.out.find(std::string(1, char(0))) == std::string::npos, "NUL in tty output");
    }

    void readinessProbe()
    {
        Json c = {{"name", "web"},
                  {"image", "iterdeck/demo-web:1.0"},
                  {"ports", {{{"name", "http"}, {"containerPort", 8080}}}},
                  {"readinessProbe", {{"httpGet", {{"path", "/healthz"}, {"port", "http"}}}, {"periodSeconds", 1}}},
                  {"livenessProbe", {{"tcpSocket", {{"port", 8080}}}, {"periodSeconds", 1}}}};
        const Json pod = makePod("web", Json::array({c}), {{"restartPolicy", "Always"}});
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return phase(uid) == "Running"; }));
        QVERIFY(!conditionTrue(uid, "Ready"));
        QVERIFY(waitFor([&] { return conditionTrue(uid, "Ready"); }));
        QVERIFY(conditionTrue(uid, "ContainersReady"));
        QCOMPARE(container(uid)["ready"].get<bool>(), true);
        QCOMPARE(container(uid)["started"].get<bool>(), true);
        QCOMPARE(container(uid)["restartCount"].get<int>(), 0);
        const auto log = readLogs(uid, {});
        QVERIFY(log);
        QVERIFY2(q(*log).contains(QStringLiteral("\"GET /healthz HTTP/1.1\" 200 \"kube-probe/1.32\"")), log->c_str());
    }

    void livenessRestarts()
    {
        Json c = shell("touch alive; sleep 0.5; rm alive; exec sleep 1000");
        c["livenessProbe"] = {{"exec", {{"command", {"cat", "alive"}}}}, {"periodSeconds", 1}, {"failureThreshold", 2}};
        const Json pod
            = makePod("live", Json::array({c}), {{"restartPolicy", "Always"}, {"terminationGracePeriodSeconds", 1}});
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return restarts(uid) >= 1; }));
        const Json last = container(uid)["lastState"]["terminated"];
        QCOMPARE(last["exitCode"].get<int>(), 143); // SIGTERM
        bool unhealthy = false;
        for (const auto &[eventUid, e] : m_events)
            unhealthy
                |= eventUid == uid && e.reason == "Unhealthy" && e.message.rfind("Liveness probe failed: ", 0) == 0;
        QVERIFY(unhealthy);
    }

    void volumesAndEnv()
    {
        m_objects["ConfigMap/default/settings"]
            = {{"data", {{"greeting", "hello from configmap"}, {"app.conf", "a=1\n"}}}};
        m_objects["Secret/default/creds"] = {{"data", {{"password", base64("s3cret")}}}};
        const std::string claimDir = m_tmp->filePath(QStringLiteral("claims/data")).toStdString();
        m_claims["default/data"] = claimDir;
        Json c
            = shell("cat etc/app/app.conf; cat var/creds/password; echo; echo $GREETING/$PASSWORD/$MY_NAME/$COMBINED;"
                    "echo $MY_IP; echo w > scratch/f && echo wrote; echo pvc > claim/f;"
                    "if [ -n \"$ITERDECK_SANDBOX_ROOT\" ]; then echo plain; else cat /etc/app/greeting; echo;"
                    " (echo x > /etc/app/new) 2>/dev/null || echo read-only; hostname; fi");
        c["env"] = Json::array(
            {{{"name", "GREETING"}, {"valueFrom", {{"configMapKeyRef", {{"name", "settings"}, {"key", "greeting"}}}}}},
             {{"name", "PASSWORD"}, {"valueFrom", {{"secretKeyRef", {{"name", "creds"}, {"key", "password"}}}}}},
             {{"name", "MY_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
             {{"name", "MY_IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
             {{"name", "COMBINED"}, {"value", "$(MY_NAME)-x"}}});
        c["volumeMounts"] = Json::array({{{"name", "config"}, {"mountPath", "/etc/app"}},
                                         {{"name", "creds"}, {"mountPath", "/var/creds"}},
                                         {{"name", "scratch"}, {"mountPath", "/scratch"}},
                                         {{"name", "claim"}, {"mountPath", "/claim"}}});
        Json spec = {{"volumes",
                      Json::array({{{"name", "config"}, {"configMap", {{"name", "settings"}}}},
                                   {{"name", "creds"}, {"secret", {{"secretName", "creds"}}}},
                                   {{"name", "scratch"}, {"emptyDir", Json::object()}},
                                   {{"name", "claim"}, {"persistentVolumeClaim", {{"claimName", "data"}}}}})}};
        const Json pod = makePod("vols", Json::array({c}), spec);
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return phase(uid) == "Succeeded" || phase(uid) == "Failed"; }));
        const std::string ip = m_runtime->podIP(uid);
        std::string expected = "a=1\ns3cret\nhello from configmap/s3cret/vols/vols-x\n" + ip + "\nwrote\n";
        expected += m_bubblewrap ? "hello from configmap\nread-only\nvols\n" : "plain\n";
        QCOMPARE(q(readLogs(uid, {}).value_or("?")), q(expected));
        QCOMPARE(q(phase(uid)), QStringLiteral("Succeeded"));
        QVERIFY(std::filesystem::exists(m_tmp->path().toStdString() + "/pods/" + uid + "/_volumes/scratch/f"));
        QVERIFY(std::filesystem::exists(claimDir + "/f"));
    }

    void missingConfigMap()
    {
        Json c = shell("echo $VALUE");
        c["env"] = Json::array(
            {{{"name", "VALUE"}, {"valueFrom", {{"configMapKeyRef", {{"name", "late"}, {"key", "value"}}}}}}});
        const Json pod = makePod("late", Json::array({c}));
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return sawWaiting(uid, "CreateContainerConfigError"); }));
        QCOMPARE(q(container(uid)["state"]["waiting"]["message"]), QStringLiteral("configmap \"late\" not found"));
        QCOMPARE(q(phase(uid)), QStringLiteral("Pending"));
        m_objects["ConfigMap/default/late"] = {{"data", {{"value", "arrived"}}}};
        m_runtime->startPod(pod); // a new look at the pod retries at once
        QVERIFY(waitFor([&] { return phase(uid) == "Succeeded"; }));
        QCOMPARE(q(readLogs(uid, {}).value_or("?")), QStringLiteral("arrived\n"));
    }

    void initContainers()
    {
        Json spec = {{"initContainers",
                      Json::array({{{"name", "first"},
                                    {"image", "iterdeck/sandbox-base:latest"},
                                    {"command", {"sh", "-c", "echo one > shared/order"}},
                                    {"volumeMounts", {{{"name", "s"}, {"mountPath", "/shared"}}}}},
                                   {{"name", "second"},
                                    {"image", "iterdeck/sandbox-base:latest"},
                                    {"command", {"sh", "-c", "echo two >> shared/order"}},
                                    {"volumeMounts", {{{"name", "s"}, {"mountPath", "/shared"}}}}}})},
                     {"volumes", Json::array({{{"name", "s"}, {"emptyDir", Json::object()}}})}};
        Json c = shell("cat shared/order");
        c["volumeMounts"] = Json::array({{{"name", "s"}, {"mountPath", "/shared"}}});
        const Json pod = makePod("inits", Json::array({c}), spec);
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        QVERIFY(waitFor([&] { return phase(uid) == "Succeeded"; }));
        QCOMPARE(q(readLogs(uid, {}).value_or("?")), QStringLiteral("one\ntwo\n"));
        const Json inits = m_status[uid]["initContainerStatuses"];
        QCOMPARE(inits.size(), std::size_t(2));
        QCOMPARE(q(inits[1]["state"]["terminated"]["reason"]), QStringLiteral("Completed"));
        QVERIFY(conditionTrue(uid, "Initialized"));
        bool sawPodInitializing = false;
        for (const auto &s : m_history[uid])
            sawPodInitializing
                |= s["containerStatuses"][0]["state"].value("waiting", Json::object()).value("reason", "")
                == "PodInitializing";
        QVERIFY(sawPodInitializing);
    }

    void sidecar()
    {
        Json side = shell("echo up > shared/side; exec sleep 1000");
        side["name"] = "side";
        side["restartPolicy"] = "Always";
        side["volumeMounts"] = Json::array({{{"name", "s"}, {"mountPath", "/shared"}}});
        Json c = shell("sleep 0.2; cat shared/side");
        c["volumeMounts"] = side["volumeMounts"];
        const Json pod = makePod("withside", Json::array({c}),
                                 {{"initContainers", Json::array({side})},
                                  {"terminationGracePeriodSeconds", 1},
                                  {"volumes", Json::array({{{"name", "s"}, {"emptyDir", Json::object()}}})}});
        const std::string uid = uidOf(pod);
        m_runtime->startPod(pod);
        // The sidecar runs beside the main container and ends with the pod.
        QVERIFY(waitFor([&] {
            return phase(uid) == "Succeeded"
                && m_status[uid]["initContainerStatuses"][0]["state"].contains("terminated");
        }));
        QCOMPARE(q(readLogs(uid, {}).value_or("?")), QStringLiteral("up\n"));
        QCOMPARE(m_status[uid]["initContainerStatuses"][0]["restartCount"].get<int>(), 0);
    }

    void stopPod()
    {
        const Json quick = makePod("quick", Json::array({shell("exec sleep 1000")}));
        const std::string uid = startRunning(quick);
        QVERIFY(!uid.empty());
        const std::string dir = m_tmp->path().toStdString() + "/pods/" + uid;
        QVERIFY(std::filesystem::exists(dir));
        bool done = false;
        auto t0 = std::chrono::steady_clock::now();
        m_runtime->stopPod(uid, 5, [&] { done = true; });
        QVERIFY(waitFor([&] { return done; }, 4s));
        QVERIFY(std::chrono::steady_clock::now() - t0 < 3s); // sleep ends on SIGTERM
        QVERIFY(!std::filesystem::exists(dir));
        QCOMPARE(q(m_runtime->podIP(uid)), QString());

        // A process that ignores SIGTERM is killed after the grace period.
        const Json stubborn
            = makePod("stubborn", Json::array({shell("trap '' TERM; echo armed; while true; do sleep 0.1; done")}));
        const std::string uid2 = startRunning(stubborn);
        QVERIFY(!uid2.empty());
        // Running is not yet "the trap is set": wait until the shell says so.
        QVERIFY(waitFor(
            [&] {
                const auto log = readLogs(uid2, {});
                return log && log->find("armed") != std::string::npos;
            },
            5s));
        done = false;
        t0 = std::chrono::steady_clock::now();
        m_runtime->stopPod(uid2, 1, [&] { done = true; });
        QVERIFY(waitFor([&] { return done; }, 5s));
        const auto took = std::chrono::steady_clock::now() - t0;
        QVERIFY(took >= 900ms);
        QVERIFY(took < 4s);

        done = false;
        m_runtime->stopPod("unknown-uid", 1, [&] { done = true; });
        QVERIFY(waitFor([&] { return done; }));
    }

    void serverRestart()
    {
        const Json pod
            = makePod("durable", Json::array({shell("echo started; exec sleep 1000")}), {{"restartPolicy", "Always"}});
        const std::string uid = startRunning(pod);
        QVERIFY(!uid.empty());
        QVERIFY(waitFor([&] { return readLogs(uid, {}).value_or("") == "started\n"; }));
        const std::string ip = m_runtime->podIP(uid);
        m_runtime->shutdown();
        QVERIFY(std::filesystem::exists(m_tmp->path().toStdString() + "/pods/" + uid + "/c/0.log"));
        Json stored = pod;
        stored["status"] = m_status[uid];
        m_runtime.reset();
        m_status.clear();
        makeRuntime();
        m_runtime->startPod(stored);
        QVERIFY(waitFor([&] { return phase(uid) == "Running" && container(uid)["state"].contains("running"); }));
        QCOMPARE(q(m_runtime->podIP(uid)), q(ip));
        QCOMPARE(container(uid)["restartCount"].get<int>(), 1);
        QCOMPARE(q(container(uid)["lastState"]["terminated"]["reason"]), QStringLiteral("Unknown"));
        LogOptions previous;
        previous.previous = true;
        QCOMPARE(q(readLogs(uid, previous).value_or("?")), QStringLiteral("started\n"));
    }
};

QTEST_GUILESS_MAIN(TestSandboxRuntime)
#include "tst_sandboxruntime.moc"
