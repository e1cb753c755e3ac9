#include "commandengine.h"

#include "environmentmanager.h"
#include "logging.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QRandomGenerator>

#include <algorithm>

namespace iterdeck::bot {

namespace {

struct CommandInfo
{
    QString name;
    QString usage;
    QString summary;
    bool sideEffect = false;
    bool adminOnly = false;
};

const QList<CommandInfo> &commandTable()
{
    static const QList<CommandInfo> table {
        {QStringLiteral("help"), QStringLiteral("help [COMMAND]"), QStringLiteral("list the commands, or explain one")},
        {QStringLiteral("env"), QStringLiteral("env"), QStringLiteral("the iteration's environment and selections")},
        {QStringLiteral("status"), QStringLiteral("status"),
         QStringLiteral("the iteration, its environment and each component's last deploy")},
        {QStringLiteral("deploy"), QStringLiteral("deploy"),
         QStringLiteral("the deploy card: branches, latest builds, what is selected")},
        {QStringLiteral("env create"), QStringLiteral("env create"),
         QStringLiteral("create the iteration's environment"), true},
        {QStringLiteral("branch"), QStringLiteral("branch COMPONENT|REPOSITORY BRANCH"),
         QStringLiteral("follow a branch (its latest build) for a component"), true},
        {QStringLiteral("pin"), QStringLiteral("pin COMPONENT BUILD"),
         QStringLiteral("deploy one build (build number, tag, digest or #id) and keep it"), true},
        {QStringLiteral("follow"), QStringLiteral("follow COMPONENT [BRANCH]"),
         QStringLiteral("follow a branch again (default: the pinned build's branch, else the default branch)"), true},
        {QStringLiteral("redeploy"), QStringLiteral("redeploy [COMPONENT]"),
         QStringLiteral("deploy the current selection again (all components, or one)"), true},
        {QStringLiteral("members"), QStringLiteral("members"), QStringLiteral("the iteration's members")},
        {QStringLiteral("destroy"), QStringLiteral("destroy"), QStringLiteral("delete the environment now (admins)"),
         true, true},
        {QStringLiteral("confirm"), QStringLiteral("confirm TOKEN"), QStringLiteral("go ahead with a waiting command")},
        {QStringLiteral("cancel"), QStringLiteral("cancel TOKEN"), QStringLiteral("drop a waiting command")},
    };
    return table;
}

const CommandInfo *commandInfo(const QString &name)
{
    for (const CommandInfo &c : commandTable()) {
        if (c.name == name)
            return &c;
    }
    return nullptr;
}

// Edit distance with adjacent transpositions (optimal string alignment): "pni" is one edit from "pin".
int editDistance(const QString &a, const QString &b)
{
    const qsizetype n = a.size(), m = b.size();
    QList<QList<int>> d(n + 1, QList<int>(m + 1));
    for (qsizetype i = 0; i <= n; ++i)
        d[i][0] = int(i);
    for (qsizetype j = 0; j <= m; ++j)
        d[0][j] = int(j);
    for (qsizetype i = 1; i <= n; ++i) {
        for (qsizetype j = 1; j <= m; ++j) {
            const int cost = a.at(i - 1) == b.at(j - 1) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a.at(i - 1) == b.at(j - 2) && a.at(i - 2) == b.at(j - 1))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[n][m];
}

// The known names closest to `wanted`: within an edit distance of a third of its length (at
// least 2), or containing it; nearest first, at most three.
QStringList closest(const QString &wanted, const QStringList &known)
{
    const QString w = wanted.toLower();
    const int limit = std::max<int>(2, int(w.size()) / 3);
    QList<std::pair<int, QString>> scored;
    for (const QString &k : known) {
        const QString lk = k.toLower();
        int d = editDistance(w, lk);
        if (d > limit && !w.isEmpty() && (lk.contains(w) || w.contains(lk)))
            d = limit;
        if (d <= limit)
            scored.append({d, k});
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto &x, const auto &y) { return x.first < y.first; });
    QStringList out;
    for (const auto &s : std::as_const(scored)) {
        if (!out.contains(s.second))
            out.append(s.second);
        if (out.size() == 3)
            break;
    }
    return out;
}

// "did you mean x, y?" or the known names.
QString hint(const QString &what, const QStringList &suggestions, const QStringList &known)
{
    if (!suggestions.isEmpty())
        return QStringLiteral("did you mean %1?").arg(suggestions.join(QStringLiteral(", ")));
    if (known.isEmpty())
        return QStringLiteral("there are no %1 yet").arg(what);
    QStringList shown = known.mid(0, 10);
    if (known.size() > 10)
        shown.append(QStringLiteral("…"));
    return QStringLiteral("known %1: %2").arg(what, shown.join(QStringLiteral(", ")));
}

CommandReply failure(const QString &code, const QString &text, QJsonObject data = {})
{
    CommandReply r;
    r.ok = false;
    r.errorCode = code;
    r.text = text;
    data.insert(QStringLiteral("error"), code);
    data.insert(QStringLiteral("message"), text);
    r.data = data;
    return r;
}

CommandReply usageError(const QString &usage, const QString &message, const QStringList &suggestions = {})
{
    QJsonObject data {{QStringLiteral("usage"), usage}};
    if (!suggestions.isEmpty())
        data.insert(QStringLiteral("suggestions"), QJsonArray::fromStringList(suggestions));
    const QString text = message.isEmpty() ? QString(QStringLiteral("usage: ") + usage)
                                           : QString(message + QStringLiteral("\nusage: ") + usage);
    return failure(QStringLiteral("usage"), text, data);
}

CommandReply success(const QString &text, QJsonObject data = {})
{
    CommandReply r;
    r.text = text;
    r.data = std::move(data);
    return r;
}

QString artifactLabel(const model::Artifact &a)
{
    QString label = !a.imageTag.isEmpty() ? a.imageTag : !a.build.isEmpty() ? a.build : a.digest.left(19);
    if (!a.build.isEmpty() && a.build != label)
        label += QStringLiteral(" (build %1)").arg(a.build);
    return label;
}

im::BuildInfo buildInfo(const model::Artifact &a)
{
    im::BuildInfo b;
    b.id = !a.imageTag.isEmpty() ? a.imageTag : !a.digest.isEmpty() ? a.digest : a.build;
    b.tag = !a.imageTag.isEmpty() ? a.imageTag : !a.build.isEmpty() ? a.build : a.digest.left(19);
    b.commit = a.commit.left(8);
    b.createdAt = a.publishedAt;
    return b;
}

// The artifact a deploy event names (its payload's "artifact").
model::Artifact artifactOfEvent(const model::Event &ev)
{
    const QJsonObject a = ev.payload.value(u"artifact").toObject();
    model::Artifact out;
    out.id = qint64(a.value(u"id").toDouble());
    out.build = a.value(u"build").toString();
    out.imageTag = a.value(u"imageTag").toString();
    out.digest = a.value(u"digest").toString();
    out.branch = a.value(u"branch").toString();
    return out;
}

QString stateName(im::DeployCard::State s)
{
    switch (s) {
    case im::DeployCard::State::Choosing:
        return QStringLiteral("choosing");
    case im::DeployCard::State::Deploying:
        return QStringLiteral("deploying");
    case im::DeployCard::State::Succeeded:
        return QStringLiteral("succeeded");
    case im::DeployCard::State::Failed:
        return QStringLiteral("failed");
    }
    return {};
}

// "https://git.example.com/shop/web.git" -> "web"; "/srv/git/web" -> "web".
QString repositoryName(const QString &repository)
{
    QString r = repository.trimmed();
    while (r.endsWith(u'/'))
        r.chop(1);
    if (r.endsWith(QLatin1String(".git"), Qt::CaseInsensitive))
        r.chop(4);
    const qsizetype cut = std::max(r.lastIndexOf(u'/'), r.lastIndexOf(u':'));
    return cut >= 0 ? r.mid(cut + 1) : r;
}

QString normalizedRepository(QString r)
{
    r = r.trimmed().toLower();
    while (r.endsWith(u'/'))
        r.chop(1);
    if (r.endsWith(QLatin1String(".git")))
        r.chop(4);
    return r;
}

} // namespace

QJsonObject deployCardToJson(const im::DeployCard &card)
{
    QJsonArray components;
    for (const im::CardComponent &c : card.components) {
        QJsonArray branches;
        for (const im::BranchChoice &b : c.branches) {
            QJsonObject branch {{QStringLiteral("name"), b.name}};
            if (b.latest) {
                QJsonObject latest {{QStringLiteral("id"), b.latest->id},
                                    {QStringLiteral("tag"), b.latest->tag},
                                    {QStringLiteral("commit"), b.latest->commit}};
                if (b.latest->createdAt.isValid())
                    latest.insert(QStringLiteral("createdAt"), b.latest->createdAt.toUTC().toString(Qt::ISODateWithMs));
                branch.insert(QStringLiteral("latest"), latest);
            }
            branches.append(branch);
        }
        components.append(QJsonObject {{QStringLiteral("name"), c.name},
                                       {QStringLiteral("branches"), branches},
                                       {QStringLiteral("selectedBranch"), c.selectedBranch},
                                       {QStringLiteral("deployedBuild"), c.deployedBuild},
                                       {QStringLiteral("status"), c.status}});
    }
    return QJsonObject {
        {QStringLiteral("cardId"), card.cardId},           {QStringLiteral("iteration"), card.iteration},
        {QStringLiteral("environment"), card.environment}, {QStringLiteral("state"), stateName(card.state)},
        {QStringLiteral("progress"), card.progress},       {QStringLiteral("result"), card.result},
        {QStringLiteral("requestedBy"), card.requestedBy}, {QStringLiteral("components"), components}};
}

struct CommandEngine::Parsed
{
    QString command; // "env create", "branch", ...
    QStringList args;
    bool yes = false;
    QString iteration; // --iteration
    QString text;
};

CommandEngine::CommandEngine(model::TeamManifest manifest, Store *store, EnvironmentManager *environments,
                             QObject *parent)
    : QObject(parent)
    , m_manifest(std::move(manifest))
    , m_store(store)
    , m_environments(environments)
{
    auto timer = std::make_shared<QElapsedTimer>();
    timer->start();
    m_now = [timer] { return timer->elapsed(); };
}

CommandEngine::~CommandEngine() = default;

void CommandEngine::setRateLimit(int commands, int perSeconds)
{
    m_rateCommands = std::max(1, commands);
    m_ratePerSeconds = std::max(1, perSeconds);
    m_buckets.clear();
}

void CommandEngine::setClock(std::function<qint64()> nowMs)
{
    m_now = std::move(nowMs);
    m_buckets.clear();
}

void CommandEngine::setConfirmationTimeout(int seconds)
{
    m_confirmSeconds = std::max(1, seconds);
}

QList<std::pair<QString, QString>> CommandEngine::usages()
{
    QList<std::pair<QString, QString>> out;
    for (const CommandInfo &c : commandTable())
        out.append({c.name, c.usage});
    return out;
}

qint64 CommandEngine::environmentOfCard(const QString &cardId)
{
    if (!cardId.startsWith(QLatin1String("env-")))
        return 0;
    bool ok = false;
    const qint64 id = cardId.mid(4).toLongLong(&ok);
    return ok && id > 0 ? id : 0;
}

bool CommandEngine::takeToken(const QString &user)
{
    const qint64 now = m_now();
    const QString key = user.toLower();
    auto it = m_buckets.find(key);
    if (it == m_buckets.end())
        it = m_buckets.insert(key, Bucket {double(m_rateCommands), now});
    const double refill = double(now - it->lastMs) * m_rateCommands / (double(m_ratePerSeconds) * 1000.0);
    it->tokens = std::min<double>(m_rateCommands, it->tokens + refill);
    it->lastMs = now;
    if (it->tokens < 1.0)
        return false;
    it->tokens -= 1.0;
    return true;
}

CommandReply CommandEngine::rateLimited() const
{
    // One command comes back every perSeconds / commands seconds.
    const int wait = std::max(1, m_ratePerSeconds / m_rateCommands);
    return failure(QStringLiteral("rate_limited"),
                   QStringLiteral("slow down: at most %1 commands per %2 s; try again in %3 s")
                       .arg(m_rateCommands)
                       .arg(m_ratePerSeconds)
                       .arg(wait),
                   {{QStringLiteral("retryAfterSeconds"), wait}});
}

CommandReply CommandEngine::run(const CommandContext &context, const QString &text)
{
    if (!takeToken(context.who.displayName))
        return rateLimited();

    Parsed p;
    p.text = text;
    QStringList words = text.simplified().split(u' ', Qt::SkipEmptyParts);
    if (!words.isEmpty() && words.first().startsWith(u'/'))
        words.first().remove(0, 1);
    QStringList positional;
    for (qsizetype i = 0; i < words.size(); ++i) {
        const QString &w = words.at(i);
        if (w == u"--yes" || w == u"-y") {
            p.yes = true;
        } else if (w == u"--iteration") {
            if (i + 1 >= words.size())
                return usageError(QStringLiteral("--iteration KEY-or-id"),
                                  QStringLiteral("--iteration needs an iteration key or id"));
            p.iteration = words.at(++i);
        } else if (w.startsWith(QLatin1String("--iteration="))) {
            p.iteration = w.mid(12);
        } else if (w.startsWith(QLatin1String("--"))) {
            const QString cmd = positional.isEmpty() ? QString() : positional.first().toLower();
            const CommandInfo *info = commandInfo(cmd);
            return usageError(info ? QString(info->usage + QStringLiteral(" [--iteration KEY] [--yes]"))
                                   : QStringLiteral("COMMAND [ARGS] [--iteration KEY] [--yes]"),
                              QStringLiteral("unknown option %1; options: --iteration KEY, --yes (desktop)").arg(w));
        } else {
            positional.append(w);
        }
    }
    if (positional.isEmpty())
        return help(p);
    p.command = positional.takeFirst().toLower();
    if (p.command == u"env" && !positional.isEmpty() && positional.first().toLower() == u"create") {
        positional.removeFirst();
        p.command = QStringLiteral("env create");
    }
    p.args = positional;
    CommandReply reply = dispatch(context, p);
    reply.data.insert(QStringLiteral("command"), p.command);
    qCInfo(lcBot).noquote() << "command" << context.channel << context.who.displayName << p.command << "->"
                            << (reply.ok ? QStringLiteral("ok") : reply.errorCode);
    return reply;
}

CommandReply CommandEngine::dispatch(const CommandContext &context, Parsed &p)
{
    const CommandInfo *info = commandInfo(p.command);
    if (!info) {
        QStringList names;
        for (const CommandInfo &c : commandTable())
            names.append(c.name);
        const QStringList near = closest(p.command, names);
        QString text = QStringLiteral("unknown command \"%1\"").arg(p.command);
        if (!near.isEmpty())
            text += QStringLiteral("; did you mean %1?").arg(near.join(QStringLiteral(", ")));
        text += QStringLiteral("\ncommands: %1\n\"help COMMAND\" explains one").arg(names.join(QStringLiteral(", ")));
        QJsonObject data {{QStringLiteral("commands"), QJsonArray::fromStringList(names)},
                          {QStringLiteral("usage"), QStringLiteral("COMMAND [ARGS]")}};
        if (!near.isEmpty())
            data.insert(QStringLiteral("suggestions"), QJsonArray::fromStringList(near));
        return failure(QStringLiteral("usage"), text, data);
    }
    if (p.command == u"help")
        return help(p);
    if (p.command == u"confirm" || p.command == u"cancel")
        return confirm(context, p, p.command == u"cancel");

    // Argument counts, before anything is looked up.
    const auto argCount = [&](int min, int max) { return p.args.size() >= min && p.args.size() <= max; };
    bool countOk = true;
    if (p.command == u"branch" || p.command == u"pin")
        countOk = argCount(2, 2);
    else if (p.command == u"follow")
        countOk = argCount(1, 2);
    else if (p.command == u"redeploy")
        countOk = argCount(0, 1);
    else
        countOk = argCount(0, 0);
    if (!countOk) {
        return usageError(info->usage,
                          p.args.size() > 0 && info->usage.count(u' ') == 0
                              ? QStringLiteral("%1 takes no arguments").arg(p.command)
                              : QStringLiteral("%1: wrong number of arguments").arg(p.command));
    }

    if (info->adminOnly && !context.who.admin) {
        return failure(
            QStringLiteral("forbidden"),
            QStringLiteral("only admins may run \"%1\" (admins are marked in the team manifest)").arg(p.command));
    }
    auto iteration = iterationFor(context, p);
    if (!iteration)
        return iteration.error();
    if (!canSee(context.who, *iteration)) {
        return failure(QStringLiteral("forbidden"),
                       QStringLiteral("%1 is not a member of %2; only its members and admins may run commands on it")
                           .arg(context.who.displayName, iteration->name));
    }
    const bool needsEnvironments = p.command != u"status" && p.command != u"members";
    if (needsEnvironments && !m_environments)
        return failure(QStringLiteral("unavailable"), QStringLiteral("environments are disabled"));

    if (p.command == u"env")
        return env(*iteration);
    if (p.command == u"status")
        return status(*iteration);
    if (p.command == u"deploy")
        return deploy(*iteration);
    if (p.command == u"env create")
        return envCreate(context, p, *iteration);
    if (p.command == u"branch")
        return branch(context, p, *iteration);
    if (p.command == u"pin")
        return pin(context, p, *iteration);
    if (p.command == u"follow")
        return follow(context, p, *iteration);
    if (p.command == u"redeploy")
        return redeploy(context, p, *iteration);
    if (p.command == u"members")
        return members(*iteration);
    return destroy(context, p, *iteration);
}

CommandReply CommandEngine::help(const Parsed &p)
{
    QJsonArray list;
    for (const CommandInfo &c : commandTable()) {
        list.append(QJsonObject {{QStringLiteral("name"), c.name},
                                 {QStringLiteral("usage"), c.usage},
                                 {QStringLiteral("summary"), c.summary},
                                 {QStringLiteral("sideEffect"), c.sideEffect},
                                 {QStringLiteral("adminOnly"), c.adminOnly}});
    }
    const QString topic = p.args.join(u' ').toLower();
    if (!topic.isEmpty()) {
        const CommandInfo *info = commandInfo(topic);
        if (!info) {
            QStringList names;
            for (const CommandInfo &c : commandTable())
                names.append(c.name);
            return usageError(QStringLiteral("help [COMMAND]"),
                              QStringLiteral("no command \"%1\"; %2")
                                  .arg(topic, hint(QStringLiteral("commands"), closest(topic, names), names)),
                              closest(topic, names));
        }
        QString text = info->usage + QStringLiteral(": ") + info->summary;
        if (info->sideEffect)
            text += QStringLiteral("\nAsks for \"confirm TOKEN\" before it acts (the desktop may pass --yes).");
        return success(text, {{QStringLiteral("commands"), QJsonArray {list.at(info - commandTable().constData())}}});
    }
    QStringList lines {QStringLiteral("Commands (add --iteration KEY outside an iteration's group):")};
    for (const CommandInfo &c : commandTable())
        lines.append(QStringLiteral("  %1 - %2").arg(c.usage, c.summary));
    return success(lines.join(u'\n'), {{QStringLiteral("commands"), list}});
}

Expected<model::Iteration, CommandReply> CommandEngine::iterationFor(const CommandContext &context, const Parsed &p)
{
    auto all = m_store->iterations();
    if (!all)
        return unexpected(
            failure(QStringLiteral("unavailable"), QStringLiteral("the store failed: ") + all.error().message));
    if (!p.iteration.isEmpty()) {
        bool isId = false;
        const qint64 id = p.iteration.toLongLong(&isId);
        for (const model::Iteration &it : std::as_const(*all)) {
            if ((isId && it.id == id) || it.key == p.iteration
                || it.name.compare(p.iteration, Qt::CaseInsensitive) == 0)
                return it;
        }
        QStringList keys;
        for (const model::Iteration &it : std::as_const(*all)) {
            if (canSee(context.who, it))
                keys.append(it.key);
        }
        const QStringList near = closest(p.iteration, keys);
        return unexpected(failure(
            QStringLiteral("not_found"),
            QStringLiteral("no iteration \"%1\"; %2").arg(p.iteration, hint(QStringLiteral("iterations"), near, keys)),
            {{QStringLiteral("suggestions"), QJsonArray::fromStringList(near)}}));
    }
    if (context.iterationId) {
        for (const model::Iteration &it : std::as_const(*all)) {
            if (it.id == context.iterationId)
                return it;
        }
        return unexpected(failure(QStringLiteral("not_found"),
                                  QStringLiteral("this chat's iteration %1 is not known").arg(context.iterationId)));
    }
    QList<model::Iteration> mine;
    for (const model::Iteration &it : std::as_const(*all)) {
        if (it.state == model::Iteration::State::Open && isMember(context.who, it))
            mine.append(it);
    }
    if (mine.size() == 1)
        return mine.constFirst();
    QJsonArray listed;
    QStringList lines;
    const QList<model::Iteration> &offer = mine.isEmpty() ? *all : mine;
    for (const model::Iteration &it : offer) {
        if (it.state != model::Iteration::State::Open || !canSee(context.who, it))
            continue;
        listed.append(QJsonObject {
            {QStringLiteral("id"), it.id}, {QStringLiteral("key"), it.key}, {QStringLiteral("name"), it.name}});
        lines.append(QStringLiteral("  %1 (%2, id %3)").arg(it.key, it.name).arg(it.id));
    }
    QString text = mine.isEmpty() ? QStringLiteral("you are a member of no open iteration; name one with "
                                                   "--iteration KEY-or-id")
                                  : QStringLiteral("you are a member of several open iterations; name one with "
                                                   "--iteration KEY-or-id");
    if (!lines.isEmpty())
        text += u'\n' + lines.join(u'\n');
    CommandReply r = usageError(QStringLiteral("%1 --iteration KEY-or-id").arg(commandInfo(p.command)->usage), text);
    r.data.insert(QStringLiteral("iterations"), listed);
    return unexpected(r);
}

Expected<model::Environment, CommandReply> CommandEngine::environmentFor(const model::Iteration &iteration)
{
    auto envs = m_store->environments();
    if (!envs)
        return unexpected(
            failure(QStringLiteral("unavailable"), QStringLiteral("the store failed: ") + envs.error().message));
    for (qsizetype i = envs->size() - 1; i >= 0; --i) {
        const model::Environment &e = envs->at(i);
        if (e.iterationId == iteration.id && e.state != u"deleted")
            return e;
    }
    return unexpected(failure(QStringLiteral("not_found"),
                              QStringLiteral("%1 has no environment; \"env create\" makes one").arg(iteration.name)));
}

Expected<const model::ComponentSpec *, CommandReply> CommandEngine::componentFor(const QString &nameOrRepo,
                                                                                 const QString &usage)
{
    for (const model::ComponentSpec &c : std::as_const(m_manifest.components)) {
        if (c.name.compare(nameOrRepo, Qt::CaseInsensitive) == 0)
            return &c;
    }
    const QString wanted = normalizedRepository(nameOrRepo);
    for (const model::ComponentSpec &c : std::as_const(m_manifest.components)) {
        if (c.repository.isEmpty())
            continue;
        if (normalizedRepository(c.repository) == wanted
            || repositoryName(c.repository).compare(repositoryName(nameOrRepo), Qt::CaseInsensitive) == 0)
            return &c;
    }
    QStringList names;
    for (const model::ComponentSpec &c : std::as_const(m_manifest.components)) {
        names.append(c.name);
        if (!c.repository.isEmpty() && repositoryName(c.repository) != c.name)
            names.append(repositoryName(c.repository));
    }
    const QStringList near = closest(repositoryName(nameOrRepo), names);
    CommandReply r = usageError(usage,
                                QStringLiteral("no component or repository \"%1\"; %2")
                                    .arg(nameOrRepo, hint(QStringLiteral("components"), near, names)),
                                near);
    return unexpected(r);
}

Expected<model::Artifact, QString> CommandEngine::findBuild(const QString &component, const QString &build,
                                                            const QString &branch)
{
    QList<model::Artifact> candidates;
    QStringList branchNames;
    if (!branch.isEmpty()) {
        branchNames.append(branch);
    } else {
        auto branches = m_store->branches(component);
        if (!branches)
            return unexpected(branches.error().message);
        for (const model::Artifact &a : std::as_const(*branches))
            branchNames.append(a.branch);
    }
    for (const QString &b : std::as_const(branchNames)) {
        auto list = m_store->artifacts(component, b, 200);
        if (!list)
            return unexpected(list.error().message);
        candidates += *list;
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const model::Artifact &x, const model::Artifact &y) { return x.id > y.id; });
    const QString wanted = build.startsWith(u'#') ? build.mid(1) : build;
    for (const model::Artifact &a : std::as_const(candidates)) {
        if ((build.startsWith(u'#') && QString::number(a.id) == wanted) || a.build == build || a.imageTag == build
            || (!a.digest.isEmpty() && a.digest == build))
            return a;
    }
    QStringList known;
    for (const model::Artifact &a : std::as_const(candidates)) {
        const QString label = !a.imageTag.isEmpty() ? a.imageTag : a.build;
        if (!label.isEmpty() && !known.contains(label))
            known.append(label);
    }
    return unexpected(QStringLiteral("no build \"%1\" of %2; %3")
                          .arg(build, component, hint(QStringLiteral("builds"), closest(build, known), known)));
}

Expected<im::DeployCard, QString> CommandEngine::deployCard(qint64 environmentId)
{
    auto envs = m_store->environments();
    if (!envs)
        return unexpected(envs.error().message);
    const auto env = std::find_if(envs->cbegin(), envs->cend(),
                                  [&](const model::Environment &e) { return e.id == environmentId; });
    if (env == envs->cend() || env->state == u"deleted")
        return unexpected(QStringLiteral("no environment with id %1").arg(environmentId));
    auto iterations = m_store->iterations();
    if (!iterations)
        return unexpected(iterations.error().message);
    const auto it = std::find_if(iterations->cbegin(), iterations->cend(),
                                 [&](const model::Iteration &i) { return i.id == env->iterationId; });
    auto selections = m_store->selections(environmentId);
    if (!selections)
        return unexpected(selections.error().message);
    auto events = m_store->environmentEvents(environmentId,
                                             {QStringLiteral("deploy.started"), QStringLiteral("deploy.succeeded"),
                                              QStringLiteral("deploy.failed"), QStringLiteral("deploy.waiting")},
                                             500);
    if (!events)
        return unexpected(events.error().message);

    im::DeployCard card;
    card.cardId = QStringLiteral("env-%1").arg(environmentId);
    card.iteration = it != iterations->cend() ? it->name : QString();
    card.environment = env->nameSpace;
    bool deploying = false;
    for (const model::ComponentSpec &spec : std::as_const(m_manifest.components)) {
        im::CardComponent c;
        c.name = spec.name;
        auto branches = m_store->branches(spec.name);
        if (!branches)
            return unexpected(branches.error().message);
        for (const model::Artifact &a : std::as_const(*branches))
            c.branches.append(im::BranchChoice {a.branch, buildInfo(a)});
        const auto sel = std::find_if(selections->cbegin(), selections->cend(),
                                      [&](const model::Selection &s) { return s.component == spec.name; });
        QString pinned;
        if (sel != selections->cend() && sel->mode == model::Selection::Mode::Pin) {
            if (auto a = m_store->artifact(sel->artifactId)) {
                c.selectedBranch = a->branch;
                pinned = artifactLabel(*a);
            }
        } else {
            c.selectedBranch = sel != selections->cend() ? sel->branch : spec.defaultBranch;
        }
        if (!c.selectedBranch.isEmpty()
            && std::none_of(c.branches.cbegin(), c.branches.cend(),
                            [&](const im::BranchChoice &b) { return b.name == c.selectedBranch; }))
            c.branches.append(im::BranchChoice {c.selectedBranch, std::nullopt});
        QString lastType;
        QString lastMessage;
        for (const model::Event &ev : std::as_const(*events)) {
            if (ev.payload.value(u"component").toString() != spec.name)
                continue;
            const model::Artifact deployed = artifactOfEvent(ev);
            const QString label = artifactLabel(deployed);
            if (lastType.isEmpty()) {
                lastType = ev.type;
                lastMessage = ev.type == u"deploy.started" ? QStringLiteral("deploying %1").arg(label)
                    : ev.type == u"deploy.succeeded"       ? QStringLiteral("deployed %1").arg(label)
                    : ev.type == u"deploy.failed"
                    ? QStringLiteral("failed: %1").arg(ev.payload.value(u"message").toString())
                    : ev.payload.value(u"message").toString();
            }
            if (ev.type == u"deploy.succeeded") {
                c.deployedBuild = buildInfo(deployed).tag;
                break;
            }
        }
        if (lastType == u"deploy.started")
            deploying = true;
        c.status = lastMessage;
        if (!pinned.isEmpty())
            c.status = QStringLiteral("pinned to %1").arg(pinned)
                + (lastMessage.isEmpty() ? QString() : QString(u"; " + lastMessage));
        card.components.append(c);
    }
    if (deploying) {
        card.state = im::DeployCard::State::Deploying;
        card.progress = QStringLiteral("deploying to %1").arg(env->nameSpace);
    } else if (env->state == u"failed") {
        card.state = im::DeployCard::State::Failed;
        card.result = QStringLiteral("the last deploy of a component failed");
    }
    return card;
}

void CommandEngine::withDeployCard(CommandReply &reply, qint64 environmentId, const QStringList &components,
                                   const QString &by)
{
    reply.environmentId = environmentId;
    reply.deploying = components;
    auto card = deployCard(environmentId);
    if (!card)
        return;
    card->requestedBy = by;
    card->state = im::DeployCard::State::Deploying;
    card->progress = QStringLiteral("deploying: %1").arg(components.join(QStringLiteral(", ")));
    reply.data.insert(QStringLiteral("card"), deployCardToJson(*card));
    reply.card = *card;
}

CommandReply CommandEngine::confirmOrRun(const CommandContext &context, const Parsed &p, const QString &summary,
                                         QJsonObject preview, std::function<CommandReply()> apply,
                                         std::optional<im::DeployCard> card)
{
    if (context.channel == u"desktop" && p.yes)
        return apply();
    // Expired tokens are dropped whenever a new one is made, so the table stays small.
    const qint64 now = m_now();
    for (auto it = m_pending.begin(); it != m_pending.end();) {
        if (it->expiresAtMs <= now)
            it = m_pending.erase(it);
        else
            ++it;
    }
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";
    QString token;
    do {
        token.clear();
        for (int i = 0; i < 6; ++i)
            token.append(QLatin1Char(alphabet[QRandomGenerator::system()->bounded(int(sizeof(alphabet) - 1))]));
    } while (m_pending.contains(token));
    m_pending.insert(
        token, Pending {context.who.displayName, now + qint64(m_confirmSeconds) * 1000, p.command, std::move(apply)});
    CommandReply r;
    r.confirmToken = token;
    r.text = summary
        + QStringLiteral("\nReply \"confirm %1\" within %2 minutes to go ahead, or \"cancel %1\".")
              .arg(token)
              .arg(std::max(1, m_confirmSeconds / 60));
    preview.insert(QStringLiteral("pending"),
                   QJsonObject {{QStringLiteral("command"), p.command},
                                {QStringLiteral("token"), token},
                                {QStringLiteral("summary"), summary},
                                {QStringLiteral("expiresInSeconds"), m_confirmSeconds}});
    if (card)
        preview.insert(QStringLiteral("card"), deployCardToJson(*card));
    r.data = preview;
    r.card = std::move(card);
    return r;
}

CommandReply CommandEngine::confirm(const CommandContext &context, const Parsed &p, bool cancel)
{
    const QString usage = cancel ? QStringLiteral("cancel TOKEN") : QStringLiteral("confirm TOKEN");
    if (p.args.size() != 1)
        return usageError(usage, QStringLiteral("%1 needs the token of the waiting command").arg(p.command));
    const QString token = p.args.first().toLower();
    auto it = m_pending.find(token);
    if (it != m_pending.end() && it->expiresAtMs <= m_now()) {
        m_pending.erase(it);
        it = m_pending.end();
    }
    if (it == m_pending.end()) {
        return failure(QStringLiteral("not_found"),
                       QStringLiteral("nothing waits for \"%1 %2\"; tokens are valid %3 minutes, run the command "
                                      "again")
                           .arg(p.command, token)
                           .arg(std::max(1, m_confirmSeconds / 60)));
    }
    if (it->user.compare(context.who.displayName, Qt::CaseInsensitive) != 0) {
        return failure(
            QStringLiteral("forbidden"),
            QStringLiteral("only %1, who asked for \"%2\", may %3 it").arg(it->user, it->command, p.command));
    }
    Pending pending = it.value();
    m_pending.erase(it);
    if (cancel) {
        return success(QStringLiteral("cancelled: %1").arg(pending.command),
                       {{QStringLiteral("cancelled"), pending.command}});
    }
    CommandReply r = pending.apply();
    r.data.insert(QStringLiteral("confirmed"), pending.command);
    return r;
}

CommandReply CommandEngine::env(const model::Iteration &it)
{
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    auto selections = m_store->selections(environment->id);
    if (!selections)
        return failure(QStringLiteral("unavailable"), selections.error().message);
    QStringList lines {QStringLiteral("%1: %2 (%3)").arg(it.name, environment->nameSpace, environment->state)};
    if (!environment->domain.isEmpty())
        lines.append(QStringLiteral("domain: %1").arg(environment->domain));
    QJsonArray sel;
    for (const model::Selection &s : std::as_const(*selections)) {
        QJsonObject o = s.toJson();
        if (s.mode == model::Selection::Mode::Pin) {
            auto a = m_store->artifact(s.artifactId);
            const QString label = a ? artifactLabel(*a) : QStringLiteral("#%1").arg(s.artifactId);
            lines.append(QStringLiteral("  %1: pinned to %2").arg(s.component, label));
            if (a)
                o.insert(QStringLiteral("artifact"), a->toJson());
        } else {
            lines.append(QStringLiteral("  %1: follows %2").arg(s.component, s.branch));
        }
        sel.append(o);
    }
    return success(lines.join(u'\n'),
                   {{QStringLiteral("iteration"), it.toJson()},
                    {QStringLiteral("environment"), environment->toJson()},
                    {QStringLiteral("selections"), sel}});
}

CommandReply CommandEngine::status(const model::Iteration &it)
{
    QStringList lines {QStringLiteral("%1 (%2): %3, %4 members")
                           .arg(it.name, it.key, model::iterationStateName(it.state))
                           .arg(it.members.size())};
    QJsonObject data {{QStringLiteral("iteration"), it.toJson()}};
    if (!m_environments) {
        lines.append(QStringLiteral("environments are disabled"));
        return success(lines.join(u'\n'), data);
    }
    auto environment = environmentFor(it);
    if (!environment) {
        lines.append(QStringLiteral("no environment; \"env create\" makes one"));
        data.insert(QStringLiteral("environment"), QJsonValue::Null);
        return success(lines.join(u'\n'), data);
    }
    data.insert(QStringLiteral("environment"), environment->toJson());
    lines.append(QStringLiteral("environment %1: %2").arg(environment->nameSpace, environment->state));
    auto card = deployCard(environment->id);
    if (!card)
        return failure(QStringLiteral("unavailable"), card.error());
    QJsonArray components;
    for (const im::CardComponent &c : std::as_const(card->components)) {
        lines.append(
            QStringLiteral("  %1 (%2): %3")
                .arg(c.name, c.selectedBranch, c.status.isEmpty() ? QStringLiteral("not deployed yet") : c.status));
        components.append(QJsonObject {{QStringLiteral("name"), c.name},
                                       {QStringLiteral("branch"), c.selectedBranch},
                                       {QStringLiteral("deployedBuild"), c.deployedBuild},
                                       {QStringLiteral("status"), c.status}});
    }
    data.insert(QStringLiteral("components"), components);
    return success(lines.join(u'\n'), data);
}

CommandReply CommandEngine::deploy(const model::Iteration &it)
{
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    auto card = deployCard(environment->id);
    if (!card)
        return failure(QStringLiteral("unavailable"), card.error());
    CommandReply r = success(
        im::cardtext::title(*card),
        {{QStringLiteral("environmentId"), environment->id}, {QStringLiteral("card"), deployCardToJson(*card)}});
    r.card = *card;
    return r;
}

CommandReply CommandEngine::envCreate(const CommandContext &context, const Parsed &p, const model::Iteration &it)
{
    if (it.state == model::Iteration::State::Closed)
        return failure(QStringLiteral("conflict"), QStringLiteral("%1 is closed; it gets no environment").arg(it.name));
    if (auto existing = environmentFor(it)) {
        if (existing->state != u"deleting") {
            return success(QStringLiteral("%1 already has the environment %2 (%3)")
                               .arg(it.name, existing->nameSpace, existing->state),
                           {{QStringLiteral("environment"), existing->toJson()}, {QStringLiteral("created"), false}});
        }
        return failure(
            QStringLiteral("conflict"),
            QStringLiteral("the environment %1 is being deleted; try again when it is gone").arg(existing->nameSpace));
    }
    const qint64 iterationId = it.id;
    return confirmOrRun(
        context, p, QStringLiteral("Create the environment of %1?").arg(it.name),
        {{QStringLiteral("iteration"), it.toJson()}}, [this, iterationId] {
            auto created = m_environments->createEnvironment(iterationId);
            if (!created)
                return failure(QStringLiteral("failed"), created.error());
            return success(QStringLiteral("creating the environment %1").arg(created->nameSpace),
                           {{QStringLiteral("environment"), created->toJson()}, {QStringLiteral("created"), true}});
        });
}

CommandReply CommandEngine::branch(const CommandContext &context, const Parsed &p, const model::Iteration &it)
{
    const QString usage = commandInfo(QStringLiteral("branch"))->usage;
    auto spec = componentFor(p.args.at(0), usage);
    if (!spec)
        return spec.error();
    const QString component = (*spec)->name;
    const QString branchName = p.args.at(1);
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    auto latest = m_store->latestArtifact(component, branchName);
    if (!latest)
        return failure(QStringLiteral("unavailable"), latest.error().message);
    if (!latest->has_value()) {
        QStringList known;
        if (auto branches = m_store->branches(component)) {
            for (const model::Artifact &a : std::as_const(*branches))
                known.append(a.branch);
        }
        const QStringList near = closest(branchName, known);
        CommandReply r = failure(QStringLiteral("not_found"),
                                 QStringLiteral("branch \"%1\" of %2 has no build; %3\nusage: %4")
                                     .arg(branchName, component, hint(QStringLiteral("branches"), near, known), usage),
                                 {{QStringLiteral("usage"), usage},
                                  {QStringLiteral("suggestions"), QJsonArray::fromStringList(near)},
                                  {QStringLiteral("component"), component}});
        return r;
    }
    const model::Artifact artifact = **latest;
    auto card = deployCard(environment->id);
    if (!card)
        return failure(QStringLiteral("unavailable"), card.error());
    auto selections = m_store->selections(environment->id);
    const bool unchanged
        = selections && std::any_of(selections->cbegin(), selections->cend(), [&](const model::Selection &s) {
              return s.component == component && s.mode == model::Selection::Mode::Follow && s.branch == branchName;
          });
    QJsonObject data {{QStringLiteral("component"), component},
                      {QStringLiteral("branch"), branchName},
                      {QStringLiteral("artifact"), artifact.toJson()},
                      {QStringLiteral("environmentId"), environment->id},
                      {QStringLiteral("changed"), !unchanged}};
    if (unchanged) {
        data.insert(QStringLiteral("card"), deployCardToJson(*card));
        CommandReply r = success(QStringLiteral("%1 already follows %2 (latest build %3) in %4")
                                     .arg(component, branchName, artifactLabel(artifact), environment->nameSpace),
                                 data);
        r.card = *card;
        return r;
    }
    for (im::CardComponent &c : card->components) {
        if (c.name == component) {
            c.selectedBranch = branchName;
            c.status = QStringLiteral("selected %1 (%2), not deployed yet").arg(branchName, artifactLabel(artifact));
        }
    }
    const qint64 envId = environment->id;
    const QString by = context.who.displayName;
    const QString ns = environment->nameSpace;
    return confirmOrRun(
        context, p,
        QStringLiteral("Deploy %1 from branch %2 (build %3) to %4, and follow the branch?")
            .arg(component, branchName, artifactLabel(artifact), ns),
        data,
        [this, envId, component, branchName, by, artifact, ns] {
            auto s = m_environments->follow(envId, component, branchName, by);
            if (!s)
                return failure(QStringLiteral("failed"), s.error());
            CommandReply r = success(
                QStringLiteral("%1 now follows %2; deploying %3 to %4")
                    .arg(component, branchName, artifactLabel(artifact), ns),
                {{QStringLiteral("selection"), s->toJson()}, {QStringLiteral("artifact"), artifact.toJson()}});
            withDeployCard(r, envId, {component}, by);
            return r;
        },
        *card);
}

CommandReply CommandEngine::pin(const CommandContext &context, const Parsed &p, const model::Iteration &it)
{
    const QString usage = commandInfo(QStringLiteral("pin"))->usage;
    auto spec = componentFor(p.args.at(0), usage);
    if (!spec)
        return spec.error();
    const QString component = (*spec)->name;
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    auto artifact = findBuild(component, p.args.at(1));
    if (!artifact) {
        return failure(QStringLiteral("not_found"), artifact.error() + QStringLiteral("\nusage: ") + usage,
                       {{QStringLiteral("usage"), usage}, {QStringLiteral("component"), component}});
    }
    const model::Artifact a = *artifact;
    const qint64 envId = environment->id;
    const QString by = context.who.displayName;
    const QString ns = environment->nameSpace;
    return confirmOrRun(
        context, p,
        QStringLiteral("Deploy %1 %2 (branch %3) to %4 and keep it there?")
            .arg(component, artifactLabel(a), a.branch, ns),
        {{QStringLiteral("component"), component}, {QStringLiteral("artifact"), a.toJson()}},
        [this, envId, component, a, by, ns] {
            auto s = m_environments->pin(envId, component, a.id, by);
            if (!s)
                return failure(QStringLiteral("failed"), s.error());
            CommandReply r
                = success(QStringLiteral("%1 is pinned to %2; deploying it to %3").arg(component, artifactLabel(a), ns),
                          {{QStringLiteral("selection"), s->toJson()}, {QStringLiteral("artifact"), a.toJson()}});
            withDeployCard(r, envId, {component}, by);
            return r;
        });
}

CommandReply CommandEngine::follow(const CommandContext &context, const Parsed &p, const model::Iteration &it)
{
    const QString usage = commandInfo(QStringLiteral("follow"))->usage;
    auto spec = componentFor(p.args.at(0), usage);
    if (!spec)
        return spec.error();
    const QString component = (*spec)->name;
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    auto selections = m_store->selections(environment->id);
    if (!selections)
        return failure(QStringLiteral("unavailable"), selections.error().message);
    const auto sel = std::find_if(selections->cbegin(), selections->cend(),
                                  [&](const model::Selection &s) { return s.component == component; });
    QString branchName = p.args.size() > 1 ? p.args.at(1) : QString();
    if (branchName.isEmpty()) {
        branchName = (*spec)->defaultBranch;
        if (sel != selections->cend() && sel->mode == model::Selection::Mode::Pin) {
            if (auto a = m_store->artifact(sel->artifactId); a && !a->branch.isEmpty())
                branchName = a->branch;
        }
    }
    if (sel != selections->cend() && sel->mode == model::Selection::Mode::Follow && sel->branch == branchName) {
        return success(QStringLiteral("%1 already follows %2").arg(component, branchName),
                       {{QStringLiteral("component"), component},
                        {QStringLiteral("branch"), branchName},
                        {QStringLiteral("selection"), sel->toJson()},
                        {QStringLiteral("changed"), false}});
    }
    const qint64 envId = environment->id;
    const QString by = context.who.displayName;
    const QString ns = environment->nameSpace;
    return confirmOrRun(context, p,
                        QStringLiteral("Make %1 follow %2 in %3 (its newest build is deployed, and each new one)?")
                            .arg(component, branchName, ns),
                        {{QStringLiteral("component"), component}, {QStringLiteral("branch"), branchName}},
                        [this, envId, component, branchName, by, ns] {
                            auto s = m_environments->follow(envId, component, branchName, by);
                            if (!s)
                                return failure(QStringLiteral("failed"), s.error());
                            CommandReply r
                                = success(QStringLiteral("%1 follows %2 in %3").arg(component, branchName, ns),
                                          {{QStringLiteral("component"), component},
                                           {QStringLiteral("branch"), branchName},
                                           {QStringLiteral("selection"), s->toJson()},
                                           {QStringLiteral("changed"), true}});
                            withDeployCard(r, envId, {component}, by);
                            return r;
                        });
}

CommandReply CommandEngine::redeploy(const CommandContext &context, const Parsed &p, const model::Iteration &it)
{
    QStringList components;
    if (!p.args.isEmpty()) {
        auto spec = componentFor(p.args.at(0), commandInfo(QStringLiteral("redeploy"))->usage);
        if (!spec)
            return spec.error();
        components.append((*spec)->name);
    } else {
        for (const model::ComponentSpec &c : std::as_const(m_manifest.components))
            components.append(c.name);
    }
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    const qint64 envId = environment->id;
    const QString ns = environment->nameSpace;
    return confirmOrRun(
        context, p, QStringLiteral("Deploy %1 again to %2?").arg(components.join(QStringLiteral(", ")), ns),
        {{QStringLiteral("components"), QJsonArray::fromStringList(components)}},
        [this, envId, components, ns, by = context.who.displayName] {
            for (const QString &c : components) {
                if (auto r = m_environments->redeploy(envId, c); !r)
                    return failure(QStringLiteral("failed"), r.error());
            }
            CommandReply r
                = success(QStringLiteral("deploying %1 again to %2").arg(components.join(QStringLiteral(", ")), ns),
                          {{QStringLiteral("components"), QJsonArray::fromStringList(components)}});
            withDeployCard(r, envId, components, by);
            return r;
        });
}

CommandReply CommandEngine::members(const model::Iteration &it)
{
    QStringList lines {QStringLiteral("%1 has %2 members:").arg(it.name).arg(it.members.size())};
    QJsonArray list;
    for (const QString &m : it.members) {
        const Identity who = identify(m_manifest, m);
        lines.append(QStringLiteral("  %1").arg(who.displayName)
                     + (who.displayName != m ? QStringLiteral(" (%1)").arg(m) : QString())
                     + (who.admin ? QStringLiteral(", admin") : QString()));
        list.append(QJsonObject {{QStringLiteral("name"), m},
                                 {QStringLiteral("displayName"), who.displayName},
                                 {QStringLiteral("known"), who.known},
                                 {QStringLiteral("admin"), who.admin}});
    }
    return success(lines.join(u'\n'), {{QStringLiteral("iteration"), it.toJson()}, {QStringLiteral("members"), list}});
}

CommandReply CommandEngine::destroy(const CommandContext &context, const Parsed &p, const model::Iteration &it)
{
    auto environment = environmentFor(it);
    if (!environment)
        return environment.error();
    if (environment->state == u"deleting")
        return failure(QStringLiteral("conflict"),
                       QStringLiteral("the environment %1 is being deleted already").arg(environment->nameSpace));
    const qint64 envId = environment->id;
    const QString by = context.who.displayName;
    const model::Environment e = *environment;
    return confirmOrRun(context, p,
                        QStringLiteral("Delete the environment %1 of %2 now (every component is uninstalled, the "
                                       "namespace deleted)?")
                            .arg(e.nameSpace, it.name),
                        {{QStringLiteral("environment"), e.toJson()}}, [this, envId, by, e] {
                            auto r = m_environments->destroyEnvironment(envId, by);
                            if (!r)
                                return failure(QStringLiteral("failed"), r.error());
                            return success(QStringLiteral("deleting the environment %1").arg(e.nameSpace),
                                           {{QStringLiteral("environment"), e.toJson()}});
                        });
}

CommandReply CommandEngine::applyCard(const CommandContext &context, const im::CardAction &action)
{
    if (!takeToken(context.who.displayName))
        return rateLimited();
    if (!m_environments)
        return failure(QStringLiteral("unavailable"), QStringLiteral("environments are disabled"));
    const qint64 envId = environmentOfCard(action.cardId);
    auto envs = m_store->environments();
    if (!envs)
        return failure(QStringLiteral("unavailable"), envs.error().message);
    const auto env = std::find_if(envs->cbegin(), envs->cend(),
                                  [&](const model::Environment &e) { return e.id == envId && e.state != u"deleted"; });
    if (envId == 0 || env == envs->cend())
        return failure(QStringLiteral("not_found"),
                       QStringLiteral("this card's environment is gone (%1)").arg(action.cardId));
    auto iterations = m_store->iterations();
    if (!iterations)
        return failure(QStringLiteral("unavailable"), iterations.error().message);
    const auto it = std::find_if(iterations->cbegin(), iterations->cend(),
                                 [&](const model::Iteration &i) { return i.id == env->iterationId; });
    if (it == iterations->cend() || !canSee(context.who, *it)) {
        return failure(QStringLiteral("forbidden"),
                       QStringLiteral("%1 is not a member of %2; only its members and admins may deploy to it")
                           .arg(context.who.displayName, it != iterations->cend() ? it->name : QString()));
    }
    if (context.iterationId && context.iterationId != env->iterationId)
        return failure(QStringLiteral("forbidden"), QStringLiteral("this card belongs to another iteration"));

    auto card = deployCard(envId);
    if (!card)
        return failure(QStringLiteral("unavailable"), card.error());
    const auto cardReply = [](const QString &text, const im::DeployCard &c, QJsonObject data = {}) {
        data.insert(QStringLiteral("card"), deployCardToJson(c));
        CommandReply r = success(text, data);
        r.card = c;
        return r;
    };
    if (action.kind == im::CardAction::Kind::Cancel)
        return cardReply(QStringLiteral("nothing changed"), *card, {{QStringLiteral("cancelled"), true}});

    // Every selection is checked before any is applied.
    struct Step
    {
        QString component;
        QString branch;
        std::optional<model::Artifact> pin;
    };
    QList<Step> steps;
    for (const im::CardSelection &s : action.selections) {
        const model::ComponentSpec *spec = m_manifest.component(s.component);
        if (!spec) {
            QStringList names;
            for (const model::ComponentSpec &c : std::as_const(m_manifest.components))
                names.append(c.name);
            return failure(
                QStringLiteral("not_found"),
                QStringLiteral("no component \"%1\"; %2")
                    .arg(s.component, hint(QStringLiteral("components"), closest(s.component, names), names)));
        }
        if (s.branch.isEmpty())
            return failure(QStringLiteral("usage"), QStringLiteral("%1: no branch chosen").arg(s.component));
        Step step {spec->name, s.branch, std::nullopt};
        if (!s.build.isEmpty()) {
            auto a = findBuild(spec->name, s.build, s.branch);
            if (!a)
                return failure(QStringLiteral("not_found"), a.error());
            step.pin = *a;
        }
        steps.append(step);
    }
    if (action.kind == im::CardAction::Kind::Select) {
        for (const Step &s : std::as_const(steps)) {
            for (im::CardComponent &c : card->components) {
                if (c.name == s.component) {
                    c.selectedBranch = s.branch;
                    c.status = s.pin ? QStringLiteral("selected %1, not deployed yet").arg(artifactLabel(*s.pin))
                                     : QStringLiteral("selected %1, not deployed yet").arg(s.branch);
                }
            }
        }
        return cardReply(QStringLiteral("confirm to deploy"), *card);
    }
    if (steps.isEmpty())
        return failure(QStringLiteral("usage"), QStringLiteral("nothing was selected on the card"));
    QJsonArray applied;
    QStringList done;
    for (const Step &s : std::as_const(steps)) {
        Expected<model::Selection, QString> r = s.pin
            ? m_environments->pin(envId, s.component, s.pin->id, context.who.displayName)
            : m_environments->follow(envId, s.component, s.branch, context.who.displayName);
        if (!r)
            return failure(QStringLiteral("failed"), QStringLiteral("%1: %2").arg(s.component, r.error()),
                           {{QStringLiteral("applied"), applied}});
        applied.append(r->toJson());
        done.append(s.pin ? QStringLiteral("%1 pinned to %2").arg(s.component, artifactLabel(*s.pin))
                          : QStringLiteral("%1 follows %2").arg(s.component, s.branch));
    }
    auto fresh = deployCard(envId);
    im::DeployCard shown = fresh ? *fresh : *card;
    shown.requestedBy = context.who.displayName;
    shown.state = im::DeployCard::State::Deploying;
    shown.progress = QStringLiteral("deploying: %1").arg(done.join(QStringLiteral(", ")));
    CommandReply r = cardReply(done.join(u'\n'), shown, {{QStringLiteral("applied"), applied}});
    r.environmentId = envId;
    for (const Step &s : std::as_const(steps)) {
        if (!r.deploying.contains(s.component))
            r.deploying.append(s.component);
    }
    return r;
}

} // namespace iterdeck::bot
