#include "botcommands.h"

#include "clisupport.h"

#include "chatops/botclient.h"
#include "chatops/eventtext.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTimer>

namespace iterdeck::ctl {

using namespace iterdeck::chatops;

namespace {

QString tr(const char *text)
{
    // The context lupdate gives the calls of this helper: their namespace.
    return QCoreApplication::translate("iterdeck::ctl", text);
}

// Connects, waits for the snapshot, runs `body`; `body` calls done(code) once.
int withBot(const BotCliOptions &o, bool live,
            const std::function<void(BotClient &, const Snapshot &, const std::function<void(int)> &done)> &body,
            qint64 lastSeq = -1)
{
    BotClientOptions co;
    const QString url = o.bot.empty() ? qEnvironmentVariable("ITERDECK_BOT_URL") : qs(o.bot);
    co.token = o.token.empty() ? qEnvironmentVariable("ITERDECK_TOKEN") : qs(o.token);
    if (url.isEmpty()) {
        err(tr("error: no bot: pass --bot URL or set ITERDECK_BOT_URL\n"));
        return 2;
    }
    if (co.token.isEmpty()) {
        err(tr("error: no token: pass --token TOKEN or set ITERDECK_TOKEN (an admin creates one with "
               "\"iterdeck-bot token create USER\")\n"));
        return 2;
    }
    co.botUrl = QUrl::fromUserInput(url);
    co.allowInsecure = o.allowInsecure;
    co.caFile = qs(o.caFile);
    co.clientName = QStringLiteral("iterdeckctl");
    BotClient client;
    if (auto ok = client.setOptions(co); !ok) {
        err(QStringLiteral("error: %1\n").arg(ok.error()));
        return 2;
    }
    client.setLastSeq(lastSeq);
    bool started = false;
    std::function<void(int)> exit; // lives as long as the loop: the handlers below refer to it
    return runLoop([&](const std::function<void(int)> &quit) {
        // The socket closes while the event loop still runs.
        exit = [&client, quit](int code) {
            client.stop();
            quit(code);
        };
        QObject::connect(&client, &BotClient::connectionError, qApp, [&](const QString &message) {
            // Before the first snapshot an error ends a one-shot command; `watch` keeps retrying.
            if (!started && !live) {
                err(QStringLiteral("error: %1: %2\n").arg(co.botUrl.toString(), message));
                exit(1);
            } else {
                err(tr("warning: %1 (reconnecting)\n").arg(message));
            }
        });
        QObject::connect(&client, &BotClient::snapshotReceived, qApp, [&](const Snapshot &s) {
            if (started)
                return;
            started = true;
            body(client, s, exit);
        });
        QTimer::singleShot(live ? 24 * 3600 * 1000 : 20000, qApp, [&]() {
            if (!started) {
                err(tr("error: %1: no answer from the bot in 20 s\n").arg(co.botUrl.toString()));
                exit(1);
            }
        });
        client.start();
    });
}

QString ago(const QDateTime &t)
{
    if (!t.isValid())
        return QStringLiteral("-");
    const qint64 s = t.secsTo(QDateTime::currentDateTimeUtc());
    if (s < 120)
        return QStringLiteral("%1s").arg(std::max<qint64>(0, s));
    if (s < 7200)
        return QStringLiteral("%1m").arg(s / 60);
    if (s < 172800)
        return QStringLiteral("%1h").arg(s / 3600);
    return QStringLiteral("%1d").arg(s / 86400);
}

const model::Iteration *iterationOf(const Snapshot &s, qint64 id)
{
    for (const auto &it : s.iterations) {
        if (it.id == id)
            return &it;
    }
    return nullptr;
}

// ENV: a namespace, an environment id, or an iteration's key or name.
const model::Environment *findEnvironment(const Snapshot &s, const QString &name)
{
    for (const auto &e : s.environments) {
        if (e.nameSpace == name || QString::number(e.id) == name)
            return &e;
    }
    for (const auto &e : s.environments) {
        const model::Iteration *it = iterationOf(s, e.iterationId);
        if (it && (it->key == name || it->name.compare(name, Qt::CaseInsensitive) == 0))
            return &e;
    }
    return nullptr;
}

QString environmentNames(const Snapshot &s)
{
    QStringList names;
    for (const auto &e : s.environments)
        names.append(e.nameSpace);
    return names.isEmpty() ? tr("none") : names.join(QStringLiteral(", "));
}

QString selectionText(const Snapshot &s, qint64 env, const QString &component)
{
    for (const auto &sel : s.selections) {
        if (sel.environmentId == env && sel.component == component) {
            return sel.mode == model::Selection::Mode::Follow ? sel.branch : tr("pinned #%1").arg(sel.artifactId);
        }
    }
    return QStringLiteral("-");
}

const Deployment *deploymentOf(const Snapshot &s, qint64 env, const QString &component)
{
    for (const auto &d : s.deployments) {
        if (d.environmentId == env && d.component == component)
            return &d;
    }
    return nullptr;
}

void printJson(const QJsonObject &o)
{
    out(QJsonDocument(o).toJson(QJsonDocument::Indented));
}

void request(BotClient &client, const QString &method, const QJsonObject &params,
             const std::function<void(const QJsonObject &)> &onResult, const std::function<void(int)> &done)
{
    client.request(method, params, qApp, [onResult, done](const BotClient::Result &r) {
        if (!r) {
            err(QStringLiteral("error: %1 (%2)\n").arg(r.error().message, errorCodeName(r.error().code)));
            done(1);
            return;
        }
        onResult(*r);
    });
}

} // namespace

int runBotStatus(const BotCliOptions &o)
{
    return withBot(o, false, [&o](BotClient &client, const Snapshot &s, const std::function<void(int)> &done) {
        if (o.output == "json") {
            QJsonObject j = s.toJson();
            j.remove(QStringLiteral("type"));
            j.insert(QStringLiteral("user"), client.user());
            j.insert(QStringLiteral("admin"), client.isAdmin());
            printJson(j);
            return done(0);
        }
        out(tr("Bot:        %1\n").arg(client.options().botUrl.toString()));
        out(tr("User:       %1%2\n").arg(client.user(), client.isAdmin() ? tr(" (admin)") : QString()));
        out(tr("Project:    %1 (%2 components)\n").arg(s.project).arg(s.components.size()));
        out(tr("Event log:  at #%1\n").arg(s.seq));
        out(tr("Iterations: %1\n").arg(s.iterations.size()));
        for (const auto &it : s.iterations) {
            QString env = tr("no environment");
            for (const auto &e : s.environments) {
                if (e.iterationId == it.id)
                    env = QStringLiteral("%1 (%2)").arg(e.nameSpace, e.state);
            }
            out(QStringLiteral("  %1  %2  %3  %4\n")
                    .arg(it.name, model::iterationStateName(it.state), env, it.members.join(u',')));
        }
        done(0);
    });
}

int runBotEnvs(const BotCliOptions &o)
{
    return withBot(o, false, [&o](BotClient &, const Snapshot &s, const std::function<void(int)> &done) {
        if (o.output == "json") {
            QJsonArray envs;
            for (const auto &e : s.environments) {
                QJsonObject j = e.toJson();
                QJsonArray comps;
                for (const auto &c : s.components) {
                    QJsonObject cj {{QStringLiteral("name"), c.name},
                                    {QStringLiteral("follows"), selectionText(s, e.id, c.name)}};
                    if (const Deployment *d = deploymentOf(s, e.id, c.name))
                        cj.insert(QStringLiteral("deployment"), d->toJson());
                    comps.append(cj);
                }
                j.insert(QStringLiteral("components"), comps);
                envs.append(j);
            }
            printJson({{QStringLiteral("environments"), envs}});
            return done(0);
        }
        if (s.environments.isEmpty()) {
            out(tr("No environments of yours. Create one from the desktop app or with "
                   "\"iterdeckctl bot run env create\".\n"));
            return done(0);
        }
        TablePrinter t;
        t.setHeader({tr("NAMESPACE"), tr("ITERATION"), tr("STATE"), tr("COMPONENT"), tr("FOLLOWS"), tr("DEPLOYED"),
                     tr("RESULT"), tr("AGE")});
        for (const auto &e : s.environments) {
            const model::Iteration *it = iterationOf(s, e.iterationId);
            for (const auto &c : s.components) {
                const Deployment *d = deploymentOf(s, e.id, c.name);
                t.addRow({e.nameSpace, it ? it->name : QString::number(e.iterationId), e.state, c.name,
                          selectionText(s, e.id, c.name),
                          d && d->artifact.id ? buildLabel(d->artifact) : QStringLiteral("-"),
                          d ? d->state : QStringLiteral("-"), d ? ago(d->at) : QStringLiteral("-")});
            }
        }
        out(t.render(true));
        done(0);
    });
}

int runBotDeploy(const BotCliOptions &o)
{
    return withBot(o, false, [&o](BotClient &client, const Snapshot &s, const std::function<void(int)> &done) {
        const model::Environment *env = findEnvironment(s, qs(o.environment));
        if (!env) {
            err(tr("error: no environment \"%1\" of yours; yours: %2\n").arg(qs(o.environment), environmentNames(s)));
            return done(1);
        }
        const qint64 envId = env->id;
        const QString component = qs(o.component);
        if (!o.follow.empty() || !o.pin.empty()) {
            if (component.isEmpty()) {
                err(tr("error: --follow and --pin need a COMPONENT\n"));
                return done(2);
            }
            auto select = [&client, envId, component, done](const QJsonObject &params) {
                QJsonObject p = params;
                p.insert(QStringLiteral("environment"), envId);
                p.insert(QStringLiteral("component"), component);
                request(
                    client, QLatin1String(method::Select), p,
                    [done](const QJsonObject &r) {
                        const auto sel = model::Selection::fromJson(r.value(u"selection").toObject());
                        out(sel.mode == model::Selection::Mode::Follow
                                ? tr("%1 now follows %2; deploying.\n").arg(sel.component, sel.branch)
                                : tr("%1 pinned to artifact #%2; deploying.\n").arg(sel.component).arg(sel.artifactId));
                        done(0);
                    },
                    done);
            };
            if (!o.follow.empty())
                return select({{QStringLiteral("follow"), qs(o.follow)}});
            // --pin: an artifact id, or a build / tag / digest of the followed branch's recent builds.
            bool isId = false;
            const qint64 id = qs(o.pin).toLongLong(&isId);
            request(
                client, QLatin1String(method::Artifacts),
                {{QStringLiteral("component"), component}, {QStringLiteral("limit"), 200}},
                [select, pin = qs(o.pin), id, isId, component, done](const QJsonObject &r) {
                    for (const QJsonValue &v : r.value(u"artifacts").toArray()) {
                        const auto a = model::Artifact::fromJson(v.toObject());
                        if ((isId && a.id == id) || a.build == pin || a.imageTag == pin || a.digest == pin)
                            return select({{QStringLiteral("pin"), a.id}});
                    }
                    err(tr("error: no build \"%1\" of %2 among its recent builds\n").arg(pin, component));
                    done(1);
                },
                done);
            return;
        }
        if (o.redeploy) {
            QJsonObject p {{QStringLiteral("environment"), envId}};
            if (!component.isEmpty())
                p.insert(QStringLiteral("component"), component);
            request(
                client, QLatin1String(method::Redeploy), p,
                [done](const QJsonObject &r) {
                    QStringList names;
                    for (const QJsonValue &v : r.value(u"components").toArray())
                        names.append(v.toString());
                    out(tr("Redeploying %1.\n").arg(names.join(QStringLiteral(", "))));
                    done(0);
                },
                done);
            return;
        }
        // No change asked for: the deploy card.
        request(
            client, QLatin1String(method::DeployCard), {{QStringLiteral("environment"), envId}},
            [&o, component, done](const QJsonObject &card) {
                if (o.output == "json") {
                    printJson(card);
                    return done(0);
                }
                TablePrinter t;
                t.setHeader({tr("COMPONENT"), tr("BRANCH"), tr("LATEST BUILD"), tr("PUBLISHED"), tr("SELECTED")});
                for (const QJsonValue &cv : card.value(u"components").toArray()) {
                    const QJsonObject c = cv.toObject();
                    const QString name = c.value(u"name").toString();
                    if (!component.isEmpty() && name != component)
                        continue;
                    const QJsonArray branches = c.value(u"branches").toArray();
                    if (branches.isEmpty())
                        t.addRow({name, QStringLiteral("-"), tr("no builds yet"), QStringLiteral("-"), QString()});
                    for (const QJsonValue &bv : branches) {
                        const QJsonObject b = bv.toObject();
                        const auto a = model::Artifact::fromJson(b.value(u"latest").toObject());
                        const bool selected = b.value(u"name").toString() == c.value(u"selectedBranch").toString();
                        t.addRow({name, b.value(u"name").toString(), a.id ? buildLabel(a) : QStringLiteral("-"),
                                  ago(a.publishedAt), selected ? c.value(u"selection").toString() : QString()});
                    }
                }
                out(t.render(true));
                out(tr("Change with: iterdeckctl bot deploy %1 COMPONENT --follow BRANCH | --pin BUILD\n")
                        .arg(card.value(u"namespace").toString()));
                done(0);
            },
            done);
    });
}

int runBotRun(const BotCliOptions &o)
{
    return withBot(o, false, [&o](BotClient &client, const Snapshot &, const std::function<void(int)> &done) {
        QStringList words;
        for (const auto &w : o.words)
            words.append(qs(w));
        QJsonObject params {{QStringLiteral("text"), words.join(u' ')}};
        request(
            client, QLatin1String(method::Command), params,
            [&o, done](const QJsonObject &r) {
                if (o.output == "json") {
                    printJson(r);
                    return done(r.value(u"ok").toBool(true) ? 0 : 1);
                }
                const QString text = r.value(u"text").toString();
                if (r.value(u"ok").toBool(true))
                    out(text.endsWith(u'\n') ? text : text + u'\n');
                else
                    err(text.endsWith(u'\n') ? text : text + u'\n');
                const QString token = r.value(u"confirmToken").toString();
                if (!token.isEmpty())
                    out(tr("Confirm with: iterdeckctl bot run confirm %1\n").arg(token));
                done(r.value(u"ok").toBool(true) ? 0 : 1);
            },
            done);
    });
}

int runBotWatch(const BotCliOptions &o)
{
    int code = 0;
    SignalWatcher signals([&code]() {
        code = 0;
        QCoreApplication::exit(0);
    });
    return withBot(
        o, true,
        [&o](BotClient &client, const Snapshot &, const std::function<void(int)> &) {
            // Events after the snapshot (and, with --since, the replayed ones) until interrupted.
            auto print = [&o](const model::Event &e, bool) {
                if (o.output == "json") {
                    out(QJsonDocument(e.toJson()).toJson(QJsonDocument::Compact) + '\n');
                    return;
                }
                out(QStringLiteral("%1  #%2  %3  %4\n")
                        .arg(e.at.toUTC().toString(Qt::ISODate), QString::number(e.seq), e.type.leftJustified(20, u' '),
                             describeEvent(e)));
            };
            QObject::connect(&client, &BotClient::eventReceived, qApp, print);
        },
        o.since);
}

} // namespace iterdeck::ctl
