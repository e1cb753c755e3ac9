#include "devcommands.h"

#include "clisupport.h"

#include "devmode/devcontrol.h"
#include "devmode/devsession.h"
#include "devmode/devsupport.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QTimer>

#include <unistd.h>

namespace iterdeck::ctl {

using namespace iterdeck::kube;
using namespace iterdeck::devmode;

namespace {

std::optional<WorkloadRef> parseWorkload(const std::string &text)
{
    QString error;
    auto ref = WorkloadRef::parse(qs(text), &error);
    if (!ref)
        fail(error);
    return ref;
}

QString nsOf(const KubeClient &client)
{
    return client.defaultNamespace();
}

QString stepName(DevSession::Step step)
{
    switch (step) {
    case DevSession::Step::Workload:
        return QStringLiteral("workload");
    case DevSession::Step::Config:
        return QStringLiteral("config");
    case DevSession::Step::Preflight:
        return QStringLiteral("preflight");
    case DevSession::Step::Patch:
        return QStringLiteral("patch");
    case DevSession::Step::Pod:
        return QStringLiteral("pod");
    case DevSession::Step::Agent:
        return QStringLiteral("agent");
    case DevSession::Step::Sync:
        return QStringLiteral("sync");
    case DevSession::Step::PortForward:
        return QStringLiteral("port-forward");
    }
    return {};
}

QString humanBytes(quint64 b)
{
    if (b < 10 * 1024)
        return QStringLiteral("%1 B").arg(b);
    if (b < 10 * 1024 * 1024)
        return QStringLiteral("%1 KiB").arg(b / 1024);
    return QStringLiteral("%1 MiB").arg(b / (1024 * 1024));
}

void printEnd(const EndResult &r)
{
    if (!r.error.isEmpty()) {
        err(QStringLiteral("error: %1: %2\n").arg(r.workload, r.error));
        return;
    }
    for (const QString &h : r.restoredHpas)
        err(QStringLiteral("%1: horizontalpodautoscaler/%2 restored\n").arg(r.workload, h));
    if (!r.deletedCopy.isEmpty()) {
        out(QStringLiteral("%1: dev mode ended, copy %2 deleted\n").arg(r.workload, r.deletedCopy));
        return;
    }
    if (r.mode.isEmpty()) {
        out(QStringLiteral("%1: was not in dev mode; its autoscalers were still held at one replica and are restored\n")
                .arg(r.workload));
        return;
    }
    if (r.differences.isEmpty()) {
        out(QStringLiteral("%1: dev mode ended, restored exactly (same object)\n").arg(r.workload));
        return;
    }
    err(QStringLiteral("warning: %1 was restored, but its spec differs from the saved original at: %2\n")
            .arg(r.workload, r.differences.join(QStringLiteral(", "))));
}

// Runs an iterdeckctl of our own with the same kube flags (shell, port-forward).
QStringList kubeArgs(const KubeFlags &k, const QString &ns)
{
    QStringList a;
    if (!k.kubeconfig.empty())
        a << QStringLiteral("--kubeconfig") << qs(k.kubeconfig);
    if (!k.context.empty())
        a << QStringLiteral("--context") << qs(k.context);
    a << QStringLiteral("-n") << ns;
    return a;
}

QString shellQuote(const QString &s)
{
    QString q = s;
    q.replace(QLatin1Char('\''), QStringLiteral("'\\''"));
    return QLatin1Char('\'') + q + QLatin1Char('\'');
}

} // namespace

int runDevStart(const DevCliOptions &o)
{
    const auto ref = parseWorkload(o.workload);
    if (!ref)
        return 2;
    if (!o.noSync && o.localDir.empty()) {
        fail(QStringLiteral("--local DIR is required (or --no-sync)"));
        return 2;
    }
    KubeError error;
    auto client = makeClient(o.kube, &error);
    if (!client)
        return fail(error);
    DevStartOptions options;
    options.ns = nsOf(*client);
    options.workload = *ref;
    options.localDir = o.localDir.empty() ? QString() : QFileInfo(qs(o.localDir)).absoluteFilePath();
    options.container = qs(o.container);
    options.image = qs(o.image);
    options.mode = qs(o.mode);
    options.configFile = qs(o.configFile);
    options.app = qs(o.app);
    options.noSync = o.noSync;
    options.agentPath = defaultAgentPath();
    DevSession session(client.get(), options);
    std::unique_ptr<QProcess> shell;
    bool interrupted = false;
    return runLoop([&](const std::function<void(int)> &exit) {
        auto finish = [&, exit](int code) {
            session.stop();
            if (!o.endOnExit) {
                if (code == 0 && session.state() != DevSession::State::Failed)
                    err(QStringLiteral("dev mode stays on for %1; end it with \"iterdeckctl dev end %1 -n %2\"\n")
                            .arg(ref->shortName(), options.ns));
                exit(code);
                return;
            }
            err(QStringLiteral("ending dev mode...\n"));
            endDevMode(client.get(), qApp, options.ns, *ref, options.owner, false, [exit, code](const EndResult &r) {
                printEnd(r);
                exit(r.error.isEmpty() && r.differences.isEmpty() ? code : 1);
            });
        };
        static std::unique_ptr<SignalWatcher> watcher;
        watcher = std::make_unique<SignalWatcher>([&, finish] {
            if (interrupted)
                return;
            interrupted = true;
            err(QStringLiteral("\nstopping the sync and the port-forwards\n"));
            finish(0);
        });
        QObject::connect(&session, &DevSession::stepStarted, qApp,
                         [](DevSession::Step, const QString &text) { err(text + QStringLiteral("...\n")); });
        QObject::connect(&session, &DevSession::message, qApp,
                         [](const QString &text) { err(QStringLiteral("note: ") + text + u'\n'); });
        QObject::connect(&session, &DevSession::stateChanged, qApp, [&, finish](DevSession::State s) {
            if (s == DevSession::State::Failed) {
                err(QStringLiteral("error: dev start failed at step \"%1\": %2\n")
                        .arg(stepName(session.step()), session.failure()));
                finish(1);
            } else if (s == DevSession::State::Reconnecting) {
                err(QStringLiteral("reconnecting to the dev pod...\n"));
            } else if (s == DevSession::State::Ready && session.resumed() && interrupted) {
                return;
            }
        });
        auto lastProgress = std::make_shared<qint64>(0);
        QObject::connect(&session, &DevSession::syncProgress, qApp, [lastProgress](const SyncProgress &p) {
            if (p.phase == SyncProgress::Phase::Halted || p.phase == SyncProgress::Phase::Error) {
                err(QStringLiteral("sync %1: %2\n").arg(phaseName(p.phase), p.message));
                return;
            }
            if (!p.conflicts.isEmpty())
                err(QStringLiteral("sync conflict, kept both copies: %1\n")
                        .arg(p.conflicts.join(QStringLiteral(", "))));
            const qint64 now = QDateTime::currentMSecsSinceEpoch();
            if (p.phase == SyncProgress::Phase::Syncing && ::isatty(STDERR_FILENO) && now - *lastProgress > 500) {
                *lastProgress = now;
                err(QStringLiteral("syncing: %1/%2 files, %3 of %4\n")
                        .arg(p.filesDone)
                        .arg(p.filesTotal)
                        .arg(humanBytes(p.bytesDone), humanBytes(p.bytesTotal)));
            }
        });
        QObject::connect(&session, &DevSession::portForwardStateChanged, qApp,
                         [&](PortForwarder::State s, const QString &reason) {
                             if (s == PortForwarder::State::Reconnecting)
                                 err(QStringLiteral("port-forward: following the dev pod to its replacement\n"));
                             else if (s == PortForwarder::State::Failed)
                                 err(QStringLiteral("port-forward failed: %1\n").arg(reason));
                         });
        QObject::connect(&session, &DevSession::ready, qApp, [&, finish] {
            out(QStringLiteral("dev mode ready: %1 in pod %2, container %3, %4 at %5%6\n")
                    .arg(ref->shortName(), session.podName(), session.container(),
                         o.noSync ? QStringLiteral("no sync") : QStringLiteral("synced"), session.workDir(),
                         session.resumed() ? QStringLiteral(" (resumed)") : QString()));
            const QList<quint16> ports = session.localPorts();
            const QStringList specs = session.portForwardSpecs();
            for (int i = 0; i < ports.size() && i < specs.size(); ++i) {
                const QString remote = specs.at(i).section(u':', -1);
                out(QStringLiteral("Forwarding from 127.0.0.1:%1 -> %2\n").arg(ports.at(i)).arg(remote));
            }
            if (!o.shell) {
                out(QStringLiteral("syncing; press Ctrl+C to stop\n"));
                return;
            }
            // The shell is an iterdeckctl exec of our own, in the foreground with the terminal.
            shell = std::make_unique<QProcess>();
            shell->setProcessChannelMode(QProcess::ForwardedChannels);
            shell->setInputChannelMode(QProcess::ForwardedInputChannel);
            const QString sh = session.devConfig().shell.isEmpty() ? QStringLiteral("sh") : session.devConfig().shell;
            QStringList args {QStringLiteral("exec"), QStringLiteral("-i")};
            if (::isatty(STDIN_FILENO))
                args << QStringLiteral("-t");
            args << kubeArgs(o.kube, options.ns) << session.podName() << QStringLiteral("-c") << session.container()
                 << QStringLiteral("--") << QStringLiteral("/bin/sh") << QStringLiteral("-c")
                 << QStringLiteral("cd %1 2>/dev/null; exec %2").arg(shellQuote(session.workDir()), sh);
            QObject::connect(shell.get(), &QProcess::finished, qApp, [&, finish](int) {
                if (!interrupted) {
                    interrupted = true;
                    finish(0);
                }
            });
            shell->start(QCoreApplication::applicationFilePath(), args);
        });
        session.start();
    });
}

int runDevEnd(const DevCliOptions &o)
{
    const auto ref = parseWorkload(o.workload);
    if (!ref)
        return 2;
    KubeError error;
    auto client = makeClient(o.kube, &error);
    if (!client)
        return fail(error);
    return runLoop([&](const std::function<void(int)> &exit) {
        endDevMode(client.get(), qApp, nsOf(*client), *ref, Owner::current(), o.force, [exit](const EndResult &r) {
            printEnd(r);
            exit(r.error.isEmpty() && r.differences.isEmpty() ? 0 : 1);
        });
    });
}

int runDevStatus(const DevCliOptions &o)
{
    KubeError error;
    auto client = makeClient(o.kube, &error);
    if (!client)
        return fail(error);
    const Owner me = Owner::current();
    return runLoop([&](const std::function<void(int)> &exit) {
        const QString ns = o.allNamespaces ? QString() : nsOf(*client);
        listDevWorkloads(
            client.get(), qApp, ns, nullptr, [&, exit, ns](const QList<DevRecord> &records, const KubeError &e) {
                if (e.isError()) {
                    exit(fail(e));
                    return;
                }
                if (o.json) {
                    QJsonArray items;
                    for (const DevRecord &r : records) {
                        items.append(QJsonObject {{QStringLiteral("namespace"), r.ns},
                                                  {QStringLiteral("workload"), r.workload.shortName()},
                                                  {QStringLiteral("devWorkload"), r.devName},
                                                  {QStringLiteral("mode"), r.mode},
                                                  {QStringLiteral("owner"), r.owner},
                                                  {QStringLiteral("mine"), r.userLabel == me.label()},
                                                  {QStringLiteral("since"), r.since},
                                                  {QStringLiteral("configSource"), r.configSource},
                                                  {QStringLiteral("container"), r.container},
                                                  {QStringLiteral("image"), r.image},
                                                  {QStringLiteral("workDir"), r.workDir},
                                                  {QStringLiteral("localDir"), r.localDir}});
                    }
                    out(QJsonDocument(QJsonObject {{QStringLiteral("items"), items}}).toJson(QJsonDocument::Indented));
                    exit(0);
                    return;
                }
                if (records.isEmpty()) {
                    err(ns.isEmpty() ? QStringLiteral("Nothing is in dev mode.\n")
                                     : QStringLiteral("Nothing is in dev mode in namespace \"%1\".\n").arg(ns));
                    exit(0);
                    return;
                }
                TablePrinter table;
                QStringList header {QStringLiteral("WORKLOAD"), QStringLiteral("MODE"),   QStringLiteral("OWNER"),
                                    QStringLiteral("SINCE"),    QStringLiteral("CONFIG"), QStringLiteral("IMAGE"),
                                    QStringLiteral("LOCAL")};
                if (ns.isEmpty())
                    header.prepend(QStringLiteral("NAMESPACE"));
                table.setHeader(header);
                for (const DevRecord &r : records) {
                    QStringList row {r.mode == u"duplicate"
                                         ? r.workload.shortName() + QStringLiteral(" (copy ") + r.devName + u')'
                                         : r.workload.shortName(),
                                     r.mode,
                                     r.owner + (r.userLabel == me.label() ? QStringLiteral(" (you)") : QString()),
                                     r.since,
                                     r.configSource,
                                     r.image,
                                     r.localDir.isEmpty() ? QStringLiteral("-") : r.localDir};
                    if (ns.isEmpty())
                        row.prepend(r.ns);
                    table.addRow(row);
                }
                out(table.render(true));
                exit(0);
            });
    });
}

int runDevReset(const DevCliOptions &o)
{
    KubeError error;
    auto client = makeClient(o.kube, &error);
    if (!client)
        return fail(error);
    return runLoop([&](const std::function<void(int)> &exit) {
        const QString ns = o.allNamespaces ? QString() : nsOf(*client);
        resetDevMode(client.get(), qApp, ns, Owner::current(),
                     [exit, ns](const QList<EndResult> &results, const KubeError &e) {
                         if (e.isError()) {
                             exit(fail(e));
                             return;
                         }
                         if (results.isEmpty())
                             err(QStringLiteral("You have nothing in dev mode%1.\n")
                                     .arg(ns.isEmpty() ? QString() : QStringLiteral(" in namespace \"%1\"").arg(ns)));
                         int code = 0;
                         for (const EndResult &r : results) {
                             printEnd(r);
                             if (!r.error.isEmpty() || !r.differences.isEmpty())
                                 code = 1;
                         }
                         exit(code);
                     });
    });
}

namespace {

// Finds the dev pod, then hands over to `then` (outside the event loop).
std::optional<DevRecord> locate(const DevCliOptions &o, const WorkloadRef &ref, QString *ns)
{
    KubeError error;
    auto client = makeClient(o.kube, &error);
    if (!client) {
        fail(error);
        return std::nullopt;
    }
    *ns = nsOf(*client);
    std::optional<DevRecord> found;
    const int rc = runLoop([&](const std::function<void(int)> &exit) {
        locateDevPod(client.get(), qApp, *ns, ref, Owner::current(), [&, exit](const DevRecord &r, const QString &e) {
            if (!e.isEmpty()) {
                exit(fail(e));
                return;
            }
            found = r;
            exit(0);
        });
    });
    if (rc != 0)
        return std::nullopt;
    return found;
}

// The workload named on the command line, in dev mode, with its running dev pod; `exitCode`
// says why not (2: a bad name, 1: not in dev mode or no pod).
std::optional<DevRecord> locateNamed(const DevCliOptions &o, QString *ns, int *exitCode)
{
    const auto ref = parseWorkload(o.workload);
    *exitCode = ref ? 1 : 2;
    return ref ? locate(o, *ref, ns) : std::nullopt;
}

// An exec into the dev container, with stdin and (on a terminal) a tty.
ExecCliOptions devExec(const DevCliOptions &o, const QString &ns, const DevRecord &r, const QString &script)
{
    ExecCliOptions e;
    e.kube = o.kube;
    e.kube.ns = ns.toStdString();
    e.pod = r.pod.toStdString();
    e.container = r.container.toStdString();
    e.stdinEnabled = true;
    e.tty = ::isatty(STDIN_FILENO) != 0;
    e.command = {"/bin/sh", "-c", script.toStdString()};
    return e;
}

} // namespace

int runDevShell(const DevCliOptions &o)
{
    QString ns;
    int located = 0;
    const auto r = locateNamed(o, &ns, &located);
    if (!r)
        return located;
    QString sh = r->commands.value(QStringLiteral("shell")).toString();
    if (sh.isEmpty())
        sh = QStringLiteral("sh");
    const ExecCliOptions e
        = devExec(o, ns, *r, QStringLiteral("cd %1 2>/dev/null; exec %2").arg(shellQuote(r->workDir), sh));
    return runExec(e);
}

int runDevRun(const DevCliOptions &o, bool debug)
{
    QString ns;
    int located = 0;
    const auto r = locateNamed(o, &ns, &located);
    if (!r)
        return located;
    const WorkloadRef *ref = &r->workload;
    const char *which = debug ? "debug" : "run";
    QStringList command;
    for (const QJsonValue &v : r->commands.value(QLatin1String(which)).toArray())
        command << v.toString();
    for (const std::string &a : o.args)
        command << shellQuote(qs(a));
    if (command.isEmpty())
        return fail(
            QStringLiteral("the dev config of %1 has no command.%2").arg(ref->shortName(), QLatin1String(which)));
    // Nocalhost's way: the command's words joined with spaces, under sh -c, in the workDir.
    const ExecCliOptions e
        = devExec(o, ns, *r, QStringLiteral("cd %1 && %2").arg(shellQuote(r->workDir), command.join(u' ')));
    std::unique_ptr<QProcess> forward;
    const int debugPort = r->commands.value(QStringLiteral("remoteDebugPort")).toInt();
    if (debug && debugPort > 0) {
        // The debugger's port, forwarded for as long as the command runs.
        forward = std::make_unique<QProcess>();
        forward->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        forward->setStandardOutputFile(QProcess::nullDevice());
        forward->start(QCoreApplication::applicationFilePath(),
                       QStringList {QStringLiteral("port-forward")} << kubeArgs(o.kube, ns) << r->pod
                                                                    << QStringLiteral("%1:%1").arg(debugPort));
        err(QStringLiteral("debugger port: 127.0.0.1:%1 -> %2:%1\n").arg(debugPort).arg(r->pod));
    }
    const int rc = runExec(e);
    if (forward) {
        forward->terminate();
        forward->waitForFinished(3000);
    }
    return rc;
}

int runDevLogs(const DevCliOptions &o)
{
    QString ns;
    int located = 0;
    const auto r = locateNamed(o, &ns, &located);
    if (!r)
        return located;
    LogsCliOptions l;
    l.kube = o.kube;
    l.kube.ns = ns.toStdString();
    l.pod = r->pod.toStdString();
    l.container = r->container.toStdString();
    l.follow = o.follow;
    l.tail = o.tail;
    return runLogs(l);
}

} // namespace iterdeck::ctl
