#include "kubecommands.h"

#include "clisupport.h"
#include "text.h"

#include "config/sourcetext.h"
#include "config/yamlreader.h"
#include "kube/discovery.h"
#include "kube/exec.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "kube/logstream.h"
#include "kube/manifests.h"
#include "kube/portforward.h"

#include <QCoreApplication>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QRegularExpression>
#include <QSocketNotifier>
#include <QTimer>

#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

namespace iterdeck::ctl {

using namespace iterdeck::kube;

namespace {

QString metaOf(const QJsonObject &o, const char *key)
{
    return o.value(QLatin1String("metadata")).toObject().value(QLatin1String(key)).toString();
}

// ---------------------------------------------------------------------------------------------
// Output

QString yamlScalar(const QString &s)
{
    static const QRegularExpression plain(QStringLiteral("^[A-Za-z_/.][A-Za-z0-9_./@+-]*$"));
    static const QStringList reserved {QStringLiteral("true"), QStringLiteral("false"), QStringLiteral("null"),
                                       QStringLiteral("yes"),  QStringLiteral("no"),    QStringLiteral("on"),
                                       QStringLiteral("off"),  QStringLiteral("y"),     QStringLiteral("n"),
                                       QStringLiteral("~")};
    if (plain.match(s).hasMatch() && !reserved.contains(s, Qt::CaseInsensitive))
        return s;
    // A JSON string is a valid YAML double-quoted scalar.
    const QByteArray json = QJsonDocument(QJsonArray {s}).toJson(QJsonDocument::Compact);
    return QString::fromUtf8(json.mid(1, json.size() - 2));
}

void yamlValue(QString &outText, const QJsonValue &v, int indent);

void yamlObject(QString &outText, const QJsonObject &o, int indent, bool firstInline)
{
    bool first = true;
    for (auto it = o.begin(); it != o.end(); ++it) {
        if (!(first && firstInline))
            outText += QString(indent, u' ');
        first = false;
        outText += yamlScalar(it.key()) + u':';
        const QJsonValue v = it.value();
        if (v.isObject() && !v.toObject().isEmpty()) {
            outText += u'\n';
            yamlObject(outText, v.toObject(), indent + 2, false);
        } else if (v.isArray() && !v.toArray().isEmpty()) {
            outText += u'\n';
            yamlValue(outText, v, indent); // sequences sit at their key's indent, as kubectl prints them
        } else {
            outText += u' ';
            yamlValue(outText, v, indent);
        }
    }
}

void yamlValue(QString &outText, const QJsonValue &v, int indent)
{
    switch (v.type()) {
    case QJsonValue::Object:
        if (v.toObject().isEmpty())
            outText += QStringLiteral("{}\n");
        else
            yamlObject(outText, v.toObject(), indent, false);
        return;
    case QJsonValue::Array: {
        const QJsonArray a = v.toArray();
        if (a.isEmpty()) {
            outText += QStringLiteral("[]\n");
            return;
        }
        for (const QJsonValue &e : a) {
            outText += QString(indent, u' ') + QStringLiteral("- ");
            if (e.isObject() && !e.toObject().isEmpty())
                yamlObject(outText, e.toObject(), indent + 2, true);
            else if (e.isArray() && !e.toArray().isEmpty()) {
                outText += u'\n';
                yamlValue(outText, e, indent + 2);
            } else
                yamlValue(outText, e, indent + 2);
        }
        return;
    }
    case QJsonValue::String:
        outText += yamlScalar(v.toString()) + u'\n';
        return;
    case QJsonValue::Double: {
        const double d = v.toDouble();
        outText += (d == double(qint64(d)) ? QString::number(qint64(d)) : QString::number(d, 'g', 17)) + u'\n';
        return;
    }
    case QJsonValue::Bool:
        outText += (v.toBool() ? QStringLiteral("true") : QStringLiteral("false")) + u'\n';
        return;
    default:
        outText += QStringLiteral("null\n");
    }
}

QString toYaml(const QJsonObject &o)
{
    QString text;
    yamlObject(text, o, 0, false);
    return text;
}

QString kindGroupName(const ResourceRef &ref, const QString &name)
{
    const QString kind = ref.kind.toLower();
    return (ref.group.isEmpty() ? kind : kind + u'.' + ref.group) + u'/' + name;
}

QString cellText(const QJsonValue &v)
{
    if (v.isString())
        return v.toString();
    if (v.isDouble()) {
        const double d = v.toDouble();
        return d == double(qint64(d)) ? QString::number(qint64(d)) : QString::number(d);
    }
    if (v.isBool())
        return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    if (v.isNull() || v.isUndefined())
        return QStringLiteral("<none>");
    return QString::fromUtf8(QJsonDocument(v.isArray() ? QJsonDocument(v.toArray()) : QJsonDocument(v.toObject()))
                                 .toJson(QJsonDocument::Compact));
}

struct TableColumns
{
    QList<int> indexes;
    QStringList header;
};

TableColumns tableColumns(const QJsonObject &table, bool wide, bool withNamespace)
{
    TableColumns c;
    if (withNamespace)
        c.header.append(QStringLiteral("NAMESPACE"));
    const QJsonArray defs = table.value(QLatin1String("columnDefinitions")).toArray();
    for (int i = 0; i < defs.size(); ++i) {
        const QJsonObject d = defs[i].toObject();
        if (d.value(QLatin1String("priority")).toInt() > 0 && !wide)
            continue;
        c.indexes.append(i);
        c.header.append(d.value(QLatin1String("name")).toString().toUpper());
    }
    return c;
}

void addTableRows(TablePrinter &printer, const QJsonObject &table, const TableColumns &columns, bool withNamespace)
{
    const QJsonArray rows = table.value(QLatin1String("rows")).toArray();
    for (const QJsonValue &rv : rows) {
        const QJsonObject row = rv.toObject();
        const QJsonArray cells = row.value(QLatin1String("cells")).toArray();
        QStringList line;
        if (withNamespace)
            line.append(metaOf(row.value(QLatin1String("object")).toObject(), "namespace"));
        for (int i : columns.indexes)
            line.append(cellText(cells.at(i)));
        printer.addRow(line);
    }
}

// ---------------------------------------------------------------------------------------------
// get

struct GetRun
{
    GetOptions options;
    std::unique_ptr<KubeClient> client;
    Discovery *discovery = nullptr;
    ResourceRef ref;
    QString ns;
    TablePrinter printer;
    TableColumns columns;
    QPointer<QNetworkReply> watch;
    QByteArray pending;
    std::function<void(int)> exit;
};

void printObjects(GetRun &run, const QJsonObject &obj, bool single)
{
    const QString o = qs(run.options.output);
    if (o == QLatin1String("json")) {
        out(QJsonDocument(obj).toJson(QJsonDocument::Indented));
    } else if (o == QLatin1String("yaml")) {
        out(toYaml(obj));
    } else if (o == QLatin1String("name")) {
        if (single) {
            out(kindGroupName(run.ref, metaOf(obj, "name")) + u'\n');
        } else {
            for (const QJsonValue &v : obj.value(QLatin1String("items")).toArray())
                out(kindGroupName(run.ref, metaOf(v.toObject(), "name")) + u'\n');
        }
    }
}

QJsonObject asKubectlList(const QJsonObject &serverList, const ResourceRef &ref)
{
    // kubectl prints lists as a v1 List whose items carry kind and apiVersion.
    QJsonArray items;
    for (const QJsonValue &v : serverList.value(QLatin1String("items")).toArray()) {
        QJsonObject o = v.toObject();
        if (!o.contains(QLatin1String("apiVersion")))
            o.insert(QLatin1String("apiVersion"), ref.groupVersion());
        if (!o.contains(QLatin1String("kind")))
            o.insert(QLatin1String("kind"), ref.kind);
        items.append(o);
    }
    return QJsonObject {{QStringLiteral("apiVersion"), QStringLiteral("v1")},
                        {QStringLiteral("kind"), QStringLiteral("List")},
                        {QStringLiteral("items"), items},
                        {QStringLiteral("metadata"), QJsonObject {{QStringLiteral("resourceVersion"), QString()}}}};
}

bool humanOutput(const GetOptions &o)
{
    return o.output.empty() || o.output == "wide";
}

void startWatch(const std::shared_ptr<GetRun> &run, const QString &resourceVersion)
{
    KubeRequest r;
    r.path = run->ref.path(run->ns, QString());
    r.query.addQueryItem(QStringLiteral("watch"), QStringLiteral("true"));
    r.query.addQueryItem(QStringLiteral("resourceVersion"), resourceVersion);
    if (!run->options.name.empty())
        r.query.addQueryItem(QStringLiteral("fieldSelector"), QStringLiteral("metadata.name=") + qs(run->options.name));
    else if (!run->options.fieldSelector.empty())
        r.query.addQueryItem(QStringLiteral("fieldSelector"), qs(run->options.fieldSelector));
    if (!run->options.selector.empty())
        r.query.addQueryItem(QStringLiteral("labelSelector"), qs(run->options.selector));
    if (humanOutput(run->options))
        r.accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    r.timeoutMs = 0;
    run->client->openStream(r, qApp, [run](QNetworkReply *reply, const KubeError &error) {
        if (!reply) {
            run->exit(fail(error));
            return;
        }
        run->watch = reply;
        QObject::connect(reply, &QNetworkReply::readyRead, qApp, [run, reply] {
            const QVariant st = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
            if (st.isValid() && st.toInt() >= 300)
                return;
            run->pending += reply->readAll();
            qsizetype nl;
            while ((nl = run->pending.indexOf('\n')) >= 0) {
                const QByteArray line = run->pending.left(nl);
                run->pending.remove(0, nl + 1);
                const QJsonObject ev = QJsonDocument::fromJson(line).object();
                const QString type = ev.value(QLatin1String("type")).toString();
                const QJsonObject obj = ev.value(QLatin1String("object")).toObject();
                if (type == QLatin1String("ERROR")) {
                    run->exit(fail(KubeError::fromStatus(obj, 0)));
                    return;
                }
                if (type == QLatin1String("BOOKMARK"))
                    continue;
                if (humanOutput(run->options)) {
                    addTableRows(run->printer, obj, run->columns, run->options.allNamespaces);
                    out(run->printer.render(false));
                } else if (run->options.output == "json") {
                    out(QJsonDocument(obj).toJson(QJsonDocument::Indented));
                } else if (run->options.output == "yaml") {
                    out(QStringLiteral("---\n") + toYaml(obj));
                } else {
                    out(kindGroupName(run->ref, metaOf(obj, "name")) + u'\n');
                }
            }
        });
        QObject::connect(reply, &QNetworkReply::finished, qApp, [run, reply] {
            reply->deleteLater();
            const KubeError e = replyError(reply, run->client->config().cluster.server, false);
            run->exit(e.isError() && e.kind != KubeError::Kind::Cancelled ? fail(e) : 0);
        });
    });
}

void runGetResolved(const std::shared_ptr<GetRun> &run)
{
    const GetOptions &o = run->options;
    run->ns = run->ref.namespaced && !o.allNamespaces ? run->client->defaultNamespace() : QString();
    KubeRequest r;
    r.path = run->ref.path(run->ns, qs(o.name));
    if (o.name.empty()) {
        if (!o.selector.empty())
            r.query.addQueryItem(QStringLiteral("labelSelector"), qs(o.selector));
        if (!o.fieldSelector.empty())
            r.query.addQueryItem(QStringLiteral("fieldSelector"), qs(o.fieldSelector));
        r.query.addQueryItem(QStringLiteral("limit"), QStringLiteral("500"));
    }
    const bool human = humanOutput(o);
    if (human)
        r.accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    // Pages of a table are printed as they come; JSON and YAML lists are merged first.
    auto merged = std::make_shared<QJsonObject>();
    auto fetch = std::make_shared<std::function<void(const QString &)>>();
    *fetch = [run, r, human, merged, fetch](const QString &continueToken) {
        KubeRequest req = r;
        if (!continueToken.isEmpty())
            req.query.addQueryItem(QStringLiteral("continue"), continueToken);
        KubeCall *call = run->client->send(req);
        QObject::connect(call, &KubeCall::finished, qApp, [run, call, human, merged, fetch] {
            auto obj = call->object();
            if (!obj) {
                run->exit(fail(obj.error()));
                return;
            }
            const GetOptions &opts = run->options;
            const bool single = !opts.name.empty();
            const QString next
                = obj->value(QLatin1String("metadata")).toObject().value(QLatin1String("continue")).toString();
            const QString rv
                = obj->value(QLatin1String("metadata")).toObject().value(QLatin1String("resourceVersion")).toString();
            if (human) {
                const bool isTable = obj->value(QLatin1String("kind")).toString() == QLatin1String("Table");
                if (!isTable) {
                    // A server without tables: kubectl's default NAME and AGE columns.
                    QJsonArray rows;
                    const QJsonArray items = single ? QJsonArray {*obj} : obj->value(QLatin1String("items")).toArray();
                    for (const QJsonValue &v : items) {
                        rows.append(QJsonObject {
                            {QStringLiteral("cells"), QJsonArray {metaOf(v.toObject(), "name"), QString()}},
                            {QStringLiteral("object"), v}});
                    }
                    obj->insert(QLatin1String("columnDefinitions"),
                                QJsonArray {QJsonObject {{QStringLiteral("name"), QStringLiteral("Name")}},
                                            QJsonObject {{QStringLiteral("name"), QStringLiteral("Age")}}});
                    obj->insert(QLatin1String("rows"), rows);
                }
                if (run->columns.header.isEmpty()) {
                    run->columns = tableColumns(*obj, opts.output == "wide", opts.allNamespaces);
                    run->printer.setHeader(run->columns.header);
                }
                addTableRows(run->printer, *obj, run->columns, opts.allNamespaces);
                if (!next.isEmpty()) {
                    (*fetch)(next);
                    return;
                }
                if (run->printer.isEmpty() && !opts.watch) {
                    if (run->ns.isEmpty())
                        err(QStringLiteral("No resources found\n"));
                    else
                        err(QStringLiteral("No resources found in %1 namespace.\n").arg(run->ns));
                } else {
                    out(run->printer.render(true));
                }
            } else if (single) {
                printObjects(*run, *obj, true);
            } else {
                QJsonArray items = merged->value(QLatin1String("items")).toArray();
                for (const QJsonValue &v : obj->value(QLatin1String("items")).toArray())
                    items.append(v);
                *merged = *obj;
                merged->insert(QLatin1String("items"), items);
                if (!next.isEmpty()) {
                    (*fetch)(next);
                    return;
                }
                if (opts.output == "name")
                    printObjects(*run, *merged, false);
                else
                    printObjects(*run, asKubectlList(*merged, run->ref), false);
            }
            if (opts.watch)
                startWatch(run, rv);
            else
                run->exit(0);
        });
    };
    (*fetch)(QString());
}

} // namespace

int runGet(const GetOptions &options)
{
    KubeError error;
    auto client = makeClient(options.kube, &error);
    if (!client)
        return fail(error);
    auto run = std::make_shared<GetRun>();
    run->options = options;
    run->client = std::move(client);
    SignalWatcher signals([] { QCoreApplication::exit(0); });
    return runLoop([run](const std::function<void(int)> &exit) {
        run->exit = exit;
        run->discovery = new Discovery(run->client.get(), run->client.get());
        run->discovery->refresh([run](const KubeError &e) {
            if (e.isError()) {
                run->exit(fail(e));
                return;
            }
            auto ref = run->discovery->resolve(qs(run->options.kind));
            if (!ref) {
                run->exit(
                    fail(QStringLiteral("the server doesn't have a resource type \"%1\"").arg(qs(run->options.kind))));
                return;
            }
            run->ref = *ref;
            runGetResolved(run);
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Pods behind names: POD, pod/NAME, deploy/NAME, svc/NAME

namespace {

struct PodChoice
{
    QJsonObject pod;
    QString selector; // the workload's selector when the target named one
};

QString selectorOf(const QJsonObject &matchLabelsOwner)
{
    QStringList parts;
    const QJsonObject labels = matchLabelsOwner;
    for (auto it = labels.begin(); it != labels.end(); ++it)
        parts.append(it.key() + u'=' + it.value().toString());
    return parts.join(u',');
}

// Resolves `target` to a pod as kubectl does: a pod by name, or the first Running (else first)
// pod of a workload's or service's selector.
void resolvePod(KubeClient *client, const QString &target, std::function<void(Expected<PodChoice, KubeError>)> done)
{
    const QString ns = client->defaultNamespace();
    QString kind = QStringLiteral("pod");
    QString name = target;
    if (const qsizetype slash = target.indexOf(u'/'); slash > 0) {
        kind = target.left(slash).toLower();
        name = target.mid(slash + 1);
    }
    if (kind == QLatin1String("pod") || kind == QLatin1String("pods") || kind == QLatin1String("po")) {
        KubeCall *call = client->get(ResourceRef::pods(), ns, name);
        QObject::connect(call, &KubeCall::finished, qApp, [call, done] {
            auto pod = call->object();
            if (!pod)
                done(unexpected(pod.error()));
            else
                done(PodChoice {*pod, {}});
        });
        return;
    }
    ResourceRef ref;
    if (kind == QLatin1String("deploy") || kind == QLatin1String("deployment") || kind == QLatin1String("deployments"))
        ref = ResourceRef::deployments();
    else if (kind == QLatin1String("sts") || kind == QLatin1String("statefulset")
             || kind == QLatin1String("statefulsets"))
        ref = ResourceRef::statefulSets();
    else if (kind == QLatin1String("rs") || kind == QLatin1String("replicaset") || kind == QLatin1String("replicasets"))
        ref = ResourceRef::replicaSets();
    else if (kind == QLatin1String("svc") || kind == QLatin1String("service") || kind == QLatin1String("services"))
        ref = ResourceRef::services();
    else {
        done(unexpected(
            KubeError::make(KubeError::Kind::Config,
                            QStringLiteral("cannot attach to %1: selector for %1 not implemented").arg(kind))));
        return;
    }
    KubeCall *call = client->get(ref, ns, name);
    QObject::connect(call, &KubeCall::finished, qApp, [client, call, ref, ns, done] {
        auto owner = call->object();
        if (!owner) {
            done(unexpected(owner.error()));
            return;
        }
        const QJsonObject spec = owner->value(QLatin1String("spec")).toObject();
        const QJsonObject labels = ref.resource == QLatin1String("services")
            ? spec.value(QLatin1String("selector")).toObject()
            : spec.value(QLatin1String("selector")).toObject().value(QLatin1String("matchLabels")).toObject();
        const QString selector = selectorOf(labels);
        if (selector.isEmpty()) {
            done(unexpected(KubeError::make(KubeError::Kind::Config,
                                            QStringLiteral("%1 has no selector").arg(metaOf(*owner, "name")))));
            return;
        }
        KubeCall *pods = client->list(ResourceRef::pods(), ns, ListOptions {selector, {}, 500, {}});
        QObject::connect(pods, &KubeCall::finished, qApp, [pods, selector, done] {
            auto list = pods->object();
            if (!list) {
                done(unexpected(list.error()));
                return;
            }
            QJsonObject chosen;
            for (const QJsonValue &v : list->value(QLatin1String("items")).toArray()) {
                const QJsonObject p = v.toObject();
                if (!metaOf(p, "deletionTimestamp").isEmpty())
                    continue;
                const bool running
                    = p.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString()
                    == QLatin1String("Running");
                if (chosen.isEmpty()
                    || (running
                        && chosen.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString()
                            != QLatin1String("Running")))
                    chosen = p;
            }
            if (chosen.isEmpty()) {
                done(unexpected(KubeError::make(KubeError::Kind::Server,
                                                QStringLiteral("no pods found for selector %1").arg(selector))));
                return;
            }
            done(PodChoice {chosen, selector});
        });
    });
}

// kubectl's container defaulting: -c, else the default-container annotation, else the first.
QString chooseContainer(const QJsonObject &pod, const QString &requested, QString *error)
{
    const QJsonArray containers
        = pod.value(QLatin1String("spec")).toObject().value(QLatin1String("containers")).toArray();
    QStringList names;
    for (const QJsonValue &c : containers)
        names.append(c.toObject().value(QLatin1String("name")).toString());
    if (!requested.isEmpty()) {
        if (!names.contains(requested)) {
            *error = QStringLiteral("container %1 not found in pod %2").arg(requested, metaOf(pod, "name"));
            return {};
        }
        return requested;
    }
    const QString annotated = pod.value(QLatin1String("metadata"))
                                  .toObject()
                                  .value(QLatin1String("annotations"))
                                  .toObject()
                                  .value(QLatin1String("kubectl.kubernetes.io/default-container"))
                                  .toString();
    if (!annotated.isEmpty() && names.contains(annotated))
        return annotated;
    if (names.size() > 1) {
        err(QStringLiteral("Defaulted container \"%1\" out of: %2\n")
                .arg(names.first(), names.join(QStringLiteral(", "))));
    }
    return names.value(0);
}

// Puts the terminal in raw mode for -t and restores it.
class RawTerminal
{
public:
    bool enable()
    {
        if (::tcgetattr(STDIN_FILENO, &m_saved) != 0)
            return false;
        termios raw = m_saved;
        ::cfmakeraw(&raw);
        m_active = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        return m_active;
    }
    void restore()
    {
        if (m_active)
            ::tcsetattr(STDIN_FILENO, TCSANOW, &m_saved);
        m_active = false;
    }
    ~RawTerminal() { restore(); }

private:
    termios m_saved {};
    bool m_active = false;
};

} // namespace

int runExec(const ExecCliOptions &options)
{
    KubeError error;
    auto client = makeClient(options.kube, &error);
    if (!client)
        return fail(error);
    if (options.command.empty())
        return fail(QStringLiteral("you must specify at least one command for the container"));
    const bool tty = options.tty && ::isatty(STDIN_FILENO);
    if (options.tty && !tty && options.stdinEnabled)
        err(QStringLiteral("Unable to use a TTY - input is not a terminal or the right kind of file\n"));
    RawTerminal terminal;
    auto session = std::make_shared<ExecSession>();
    return runLoop([&](const std::function<void(int)> &exit) {
        resolvePod(client.get(), qs(options.pod), [&, exit](Expected<PodChoice, KubeError> choice) {
            if (!choice) {
                exit(fail(choice.error()));
                return;
            }
            const QJsonObject &pod = choice->pod;
            const QString phase
                = pod.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString();
            if (phase == QLatin1String("Succeeded") || phase == QLatin1String("Failed")) {
                exit(fail(
                    QStringLiteral("cannot exec into a container in a completed pod; current phase is %1").arg(phase)));
                return;
            }
            QString containerError;
            const QString container = chooseContainer(pod, qs(options.container), &containerError);
            if (!containerError.isEmpty()) {
                exit(fail(containerError));
                return;
            }
            ExecOptions eo;
            eo.ns = metaOf(pod, "namespace");
            eo.pod = metaOf(pod, "name");
            eo.container = container;
            for (const auto &c : options.command)
                eo.command.append(qs(c));
            eo.stdinEnabled = options.stdinEnabled;
            eo.tty = tty;
            eo.stderrEnabled = !tty;
            client->transport(qApp, [&, eo, exit](const Expected<Transport, KubeError> &t) {
                if (!t) {
                    exit(fail(t.error()));
                    return;
                }
                ExecSession *s = session.get();
                QObject::connect(s, &ExecSession::stdoutReady, qApp, [s] { out(s->readStdout()); });
                QObject::connect(s, &ExecSession::stderrReady, qApp, [s] {
                    const QByteArray b = s->readStderr();
                    writeAll(STDERR_FILENO, b.constData(), b.size());
                });
                QObject::connect(s, &ExecSession::finished, qApp, [s, exit, &terminal] {
                    out(s->readStdout());
                    // Messages after the command's output go to a cooked terminal again.
                    terminal.restore();
                    const QByteArray e = s->readStderr();
                    writeAll(STDERR_FILENO, e.constData(), e.size());
                    if (s->error().isError()) {
                        exit(fail(s->error()));
                        return;
                    }
                    if (s->exitCode() > 0)
                        err(QStringLiteral("command terminated with exit code %1\n").arg(s->exitCode()));
                    exit(std::max(0, s->exitCode()));
                });
                if (eo.stdinEnabled) {
                    // Read stdin while the stream keeps up; pause above 4 MiB in flight.
                    auto *notifier = new QSocketNotifier(STDIN_FILENO, QSocketNotifier::Read, s);
                    constexpr qint64 HighWater = 4 * 1024 * 1024;
                    QObject::connect(notifier, &QSocketNotifier::activated, s, [s, notifier] {
                        static char buf[256 * 1024];
                        const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
                        if (n > 0) {
                            s->writeStdin(QByteArray(buf, qsizetype(n)));
                            if (s->stdinBytesToWrite() > HighWater)
                                notifier->setEnabled(false);
                        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                            notifier->setEnabled(false);
                            notifier->deleteLater();
                            s->closeStdin();
                        }
                    });
                    QPointer<QSocketNotifier> guard(notifier);
                    QObject::connect(s, &ExecSession::stdinBytesWritten, s, [s, guard] {
                        if (guard && !guard->isEnabled() && s->stdinBytesToWrite() <= HighWater / 2)
                            guard->setEnabled(true);
                    });
                }
                if (tty) {
                    terminal.enable();
                    auto *sizer = new QTimer(s);
                    auto last = std::make_shared<QPair<int, int>>(-1, -1);
                    auto check = [s, last] {
                        winsize ws {};
                        if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0
                            && (ws.ws_col != last->first || ws.ws_row != last->second)) {
                            *last = {ws.ws_col, ws.ws_row};
                            s->resize(ws.ws_col, ws.ws_row);
                        }
                    };
                    QObject::connect(sizer, &QTimer::timeout, s, check);
                    // The size goes with the first frames (ExecSession sends what was asked before started()).
                    check();
                    QObject::connect(s, &ExecSession::started, s, [sizer] { sizer->start(250); });
                }
                s->start(*t, eo);
            });
        });
    });
}

// ---------------------------------------------------------------------------------------------
// logs

namespace {

int parseDurationSeconds(const QString &text, bool *ok)
{
    static const QRegularExpression re(QStringLiteral("^(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?$"));
    const auto m = re.match(text);
    *ok = m.hasMatch() && !text.isEmpty();
    if (!*ok)
        return 0;
    return m.captured(1).toInt() * 3600 + m.captured(2).toInt() * 60 + m.captured(3).toInt();
}

} // namespace

int runLogs(const LogsCliOptions &options)
{
    KubeError error;
    auto client = makeClient(options.kube, &error);
    if (!client)
        return fail(error);
    int since = -1;
    if (!options.since.empty()) {
        bool ok = false;
        since = parseDurationSeconds(qs(options.since), &ok);
        if (!ok)
            return fail(QStringLiteral("invalid argument \"%1\" for \"--since\" flag: time: invalid duration")
                            .arg(qs(options.since)));
    }
    std::unique_ptr<LogStream> stream;
    SignalWatcher signals([] { QCoreApplication::exit(0); });
    return runLoop([&](const std::function<void(int)> &exit) {
        resolvePod(client.get(), qs(options.pod), [&, exit](Expected<PodChoice, KubeError> choice) {
            if (!choice) {
                exit(fail(choice.error()));
                return;
            }
            QString containerError;
            const QString container = chooseContainer(choice->pod, qs(options.container), &containerError);
            if (!containerError.isEmpty()) {
                exit(fail(containerError));
                return;
            }
            LogOptions lo;
            lo.ns = metaOf(choice->pod, "namespace");
            lo.pod = metaOf(choice->pod, "name");
            lo.container = container;
            lo.follow = options.follow;
            lo.timestamps = options.timestamps;
            lo.previous = options.previous;
            lo.tailLines = options.tail;
            lo.sinceSeconds = since;
            stream = std::make_unique<LogStream>(client.get(), lo);
            LogStream *s = stream.get();
            QObject::connect(s, &LogStream::data, qApp, [](const QByteArray &b) { out(b); });
            QObject::connect(s, &LogStream::finished, qApp, [s, exit] {
                exit(s->error().isError() && s->error().kind != KubeError::Kind::Cancelled ? fail(s->error()) : 0);
            });
            s->start();
        });
    });
}

// ---------------------------------------------------------------------------------------------
// port-forward

int runPortForward(const PortForwardCliOptions &options)
{
    KubeError error;
    auto client = makeClient(options.kube, &error);
    if (!client)
        return fail(error);
    QList<PortMapping> mappings;
    for (const auto &p : options.ports) {
        const QString spec = qs(p);
        const auto m = PortMapping::parse(spec);
        if (!m)
            return fail(QStringLiteral("invalid port mapping \"%1\": use LOCAL:REMOTE, :REMOTE or PORT").arg(spec));
        mappings.append(*m);
    }
    if (mappings.isEmpty())
        return fail(QStringLiteral("at least 1 PORT is required for port-forward"));
    QHostAddress address = QHostAddress::LocalHost;
    if (!options.addresses.empty()) {
        const QString a = qs(options.addresses.front());
        if (a != QLatin1String("localhost") && !address.setAddress(a))
            return fail(QStringLiteral("%1 is not a valid IP").arg(a));
    }
    std::unique_ptr<PortForwarder> forwarder;
    SignalWatcher signals([] { QCoreApplication::exit(0); });
    return runLoop([&](const std::function<void(int)> &exit) {
        resolvePod(client.get(), qs(options.target), [&, exit](Expected<PodChoice, KubeError> choice) {
            if (!choice) {
                exit(fail(choice.error()));
                return;
            }
            const QJsonObject &pod = choice->pod;
            if (pod.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString()
                != QLatin1String("Running")) {
                exit(fail(
                    QStringLiteral("unable to forward port because pod is not running. Current status=%1")
                        .arg(pod.value(QLatin1String("status")).toObject().value(QLatin1String("phase")).toString())));
                return;
            }
            PortForwardTarget target;
            target.ns = metaOf(pod, "namespace");
            if (choice->selector.isEmpty())
                target.pod = metaOf(pod, "name");
            else
                target.labelSelector = choice->selector;
            forwarder = std::make_unique<PortForwarder>(client.get(), target, mappings);
            forwarder->setAddress(address);
            PortForwarder *f = forwarder.get();
            auto announced = std::make_shared<bool>(false);
            QObject::connect(
                f, &PortForwarder::stateChanged, qApp,
                [f, mappings, address, announced, exit](PortForwarder::State st) {
                    if (st == PortForwarder::State::Listening && !*announced) {
                        *announced = true;
                        for (int i = 0; i < mappings.size(); ++i) {
                            out(QStringLiteral("Forwarding from %1:%2 -> %3\n")
                                    .arg(address.toString())
                                    .arg(f->localPort(i))
                                    .arg(mappings[i].remotePort));
                        }
                    } else if (st == PortForwarder::State::Reconnecting) {
                        err(QStringLiteral("Pod gone (%1); waiting for a new one\n").arg(f->failureReason()));
                    } else if (st == PortForwarder::State::Listening) {
                        err(QStringLiteral("Forwarding to pod %1\n").arg(f->currentPod()));
                    } else if (st == PortForwarder::State::Failed) {
                        exit(fail(f->failureReason()));
                    }
                });
            QObject::connect(f, &PortForwarder::connectionOpened, qApp,
                             [](quint16 port) { out(QStringLiteral("Handling connection for %1\n").arg(port)); });
            QObject::connect(f, &PortForwarder::connectionClosed, qApp, [](quint16, const QString &e) {
                if (!e.isEmpty())
                    err(QStringLiteral("error: %1\n").arg(e));
            });
            f->start();
        });
    });
}

// ---------------------------------------------------------------------------------------------
// apply (server-side)

namespace {

bool readManifests(const QString &file, QList<Manifest> &manifests)
{
    QByteArray bytes;
    const QString name = file == QLatin1String("-") ? QStringLiteral("<stdin>") : file;
    if (file == QLatin1String("-")) {
        QFile in;
        if (!in.open(stdin, QIODevice::ReadOnly)) {
            fail(QStringLiteral("cannot read standard input"));
            return false;
        }
        bytes = in.readAll();
        auto checked = config::checkText(bytes, name);
        if (!checked) {
            err(checked.error().toString() + u'\n');
            return false;
        }
        bytes = *checked;
    } else {
        auto read = config::readTextFile(file);
        if (!read) {
            err(read.error().toString() + u'\n');
            return false;
        }
        bytes = *read;
    }
    config::SourceText src(name, bytes);
    Diagnostics diag;
    if (!parseManifests(src, manifests, diag)) {
        err(diag.toString() + u'\n');
        return false;
    }
    return true;
}

} // namespace

int runApply(const ApplyCliOptions &options)
{
    KubeError error;
    auto client = makeClient(options.kube, &error);
    if (!client)
        return fail(error);
    QList<Manifest> manifests;
    for (const auto &f : options.files) {
        if (!readManifests(qs(f), manifests))
            return 1;
    }
    if (manifests.isEmpty())
        return fail(QStringLiteral("no objects passed to apply"));
    Discovery discovery(client.get());
    int failures = 0;
    return runLoop([&](const std::function<void(int)> &exit) {
        discovery.refresh([&, exit](const KubeError &e) {
            if (e.isError()) {
                exit(fail(e));
                return;
            }
            // One at a time, in file order, as kubectl does (a namespace before what goes in it).
            auto next = std::make_shared<std::function<void(int)>>();
            *next = [&, exit, next](int index) {
                if (index >= manifests.size()) {
                    exit(failures ? 1 : 0);
                    return;
                }
                const Manifest &m = manifests[index];
                const QString apiVersion = m.object.value(QLatin1String("apiVersion")).toString();
                const QString kind = m.object.value(QLatin1String("kind")).toString();
                auto ref = discovery.forKind(apiVersion, kind);
                if (!ref) {
                    err(QStringLiteral("%1: error: resource mapping not found for kind \"%2\" in version \"%3\"\n")
                            .arg(m.where.toString(), kind, apiVersion));
                    ++failures;
                    (*next)(index + 1);
                    return;
                }
                QJsonObject obj = m.object;
                QString ns = metaOf(obj, "namespace");
                if (ref->namespaced && ns.isEmpty()) {
                    ns = client->defaultNamespace();
                } else if (ref->namespaced && client->config().namespaceExplicit && !options.kube.ns.empty()
                           && ns != client->defaultNamespace()) {
                    err(QStringLiteral("%1: error: the namespace from the provided object \"%2\" does not match the "
                                       "namespace \"%3\". You must pass '--namespace=%2' to perform this operation.\n")
                            .arg(m.where.toString(), ns, client->defaultNamespace()));
                    ++failures;
                    (*next)(index + 1);
                    return;
                }
                const QString name = metaOf(obj, "name");
                KubeRequest r;
                r.verb = "PATCH";
                r.path = ref->path(ref->namespaced ? ns : QString(), name);
                r.contentType = patchContentType(PatchType::Apply);
                r.body = QJsonDocument(obj).toJson(QJsonDocument::Compact);
                r.query.addQueryItem(QStringLiteral("fieldManager"), qs(options.fieldManager));
                r.query.addQueryItem(QStringLiteral("force"),
                                     options.forceConflicts ? QStringLiteral("true") : QStringLiteral("false"));
                if (options.dryRun)
                    r.query.addQueryItem(QStringLiteral("dryRun"), QStringLiteral("All"));
                r.retry = true;
                const ResourceRef resolved = *ref;
                KubeCall *call = client->send(r);
                QObject::connect(call, &KubeCall::finished, qApp, [&, call, resolved, name, index, next] {
                    if (!call->isOk()) {
                        fail(call->error());
                        if (call->error().isConflict())
                            err(QStringLiteral("Please review the fields above--they currently have other managers. "
                                               "Use --force-conflicts to take them over.\n"));
                        ++failures;
                    } else {
                        out(kindGroupName(resolved, name)
                            + (options.dryRun ? QStringLiteral(" serverside-applied (server dry run)\n")
                                              : QStringLiteral(" serverside-applied\n")));
                    }
                    (*next)(index + 1);
                });
            };
            (*next)(0);
        });
    });
}

} // namespace iterdeck::ctl
