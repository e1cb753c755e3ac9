#include "teammanifestloader.h"

#include "common/textutil.h"
#include "yamlreader.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>
#include <QUrl>

#include <yaml-cpp/yaml.h>

namespace iterdeck::config {

using model::SecretRef;
using UnknownKeys = MapReader::UnknownKeys;

std::optional<qint64> parseDuration(const QString &text)
{
    static const QRegularExpression whole(QStringLiteral("^(?:\\d+[smhd])+$"));
    static const QRegularExpression part(QStringLiteral("(\\d+)([smhd])"));
    const QString t = text.trimmed();
    if (!whole.match(t).hasMatch())
        return std::nullopt;
    qint64 total = 0;
    for (auto it = part.globalMatch(t); it.hasNext();) {
        const auto m = it.next();
        bool ok = false;
        const qint64 n = m.captured(1).toLongLong(&ok);
        if (!ok || n > 100000000)
            return std::nullopt;
        const QChar unit = m.captured(2)[0];
        total += n * (unit == u's' ? 1 : unit == u'm' ? 60 : unit == u'h' ? 3600 : 86400);
    }
    return total;
}

namespace {

// The value of `key` in mapping `map`, without reporting anything (the readers already did).
YAML::Node findKey(const YAML::Node &map, const char *key)
{
    if (map.IsDefined() && map.IsMap()) {
        for (const auto &kv : map) {
            if (kv.first.IsScalar() && kv.first.Scalar() == key)
                return kv.second;
        }
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

struct Checker
{
    ReadContext &ctx;
    QString baseDir;
    model::TeamManifest m;

    QString resolvePath(const QString &p) const
    {
        if (p.isEmpty() || p.startsWith(u'~') || QFileInfo(p).isAbsolute())
            return p;
        return QDir::cleanPath(baseDir + u'/' + p);
    }

    // {env: NAME} or {file: PATH}
    bool secret(MapReader &r, const char *key, SecretRef &out, bool required)
    {
        const YAML::Node v = r.take(key);
        if (isPlainNull(v)) {
            if (required)
                r.missing(key);
            return !required;
        }
        const QString path = r.pathOf(key);
        if (!v.IsMap()) {
            ctx.error(v,
                      QStringLiteral("\"%1\" must reference the secret, not contain it: write {env: NAME} or "
                                     "{file: PATH}")
                          .arg(path));
            return false;
        }
        MapReader s(ctx, v, path);
        QString env, file;
        s.string("env", env);
        s.string("file", file);
        s.finish();
        if (env.isEmpty() == file.isEmpty()) {
            ctx.error(v, QStringLiteral("\"%1\" must have exactly one of \"env\" or \"file\"").arg(path));
            return false;
        }
        if (!env.isEmpty()) {
            static const QRegularExpression envName(QStringLiteral("^[A-Za-z_][A-Za-z0-9_]*$"));
            if (!envName.match(env).hasMatch()) {
                ctx.error(s.take("env"), QStringLiteral("\"%1\" is not a valid environment variable name").arg(env));
                return false;
            }
            out = {SecretRef::Kind::Env, env};
        } else {
            out = {SecretRef::Kind::File, resolvePath(file)};
        }
        return true;
    }

    void checkTemplate(const YAML::Node &node, const QString &what, const QString &value, const QStringList &allowed)
    {
        SourceLocation loc = ctx.at(node);
        const bool quoted = node.IsDefined() && node.Tag() == "!";
        qsizetype i = 0;
        while ((i = value.indexOf(u'{', i)) >= 0) {
            const qsizetype close = value.indexOf(u'}', i);
            if (close < 0) {
                SourceLocation at = loc;
                at.column += int(i) + (quoted ? 1 : 0);
                ctx.error(at, QStringLiteral("%1: \"{\" without a closing \"}\"").arg(what));
                return;
            }
            const QString name = value.mid(i + 1, close - i - 1);
            if (!allowed.contains(name)) {
                SourceLocation at = loc;
                at.column += int(i) + (quoted ? 1 : 0);
                const QStringList all = model::environmentPlaceholders();
                QString msg = all.contains(name)
                    ? QStringLiteral("%1: the placeholder {%2} cannot be used here; allowed: %3")
                          .arg(what, name, text::quotedList(allowed, u"and"))
                    : QStringLiteral("%1: unknown placeholder {%2}%3; allowed: %4")
                          .arg(what, name, text::didYouMeanSuffix(name, allowed), text::quotedList(allowed, u"and"));
                ctx.error(at, msg);
            }
            i = close + 1;
        }
    }

    // A URL, or a reference to where the URL is ({env: NAME} / {file: PATH}), for Lark, proxies and tests.
    void readApiBaseUrl(MapReader &r)
    {
        const YAML::Node v = r.take("apiBaseUrl");
        if (isPlainNull(v))
            return;
        if (v.IsMap()) {
            SecretRef ref;
            if (secret(r, "apiBaseUrl", ref, false) && ref.isSet())
                m.im.secrets.insert(QStringLiteral("apiBaseUrl"), ref);
            return;
        }
        QString url;
        if (!r.string("apiBaseUrl", url))
            return;
        const QUrl u(url, QUrl::StrictMode);
        if (!u.isValid() || (u.scheme() != u"https" && u.scheme() != u"http") || u.host().isEmpty() || u.hasQuery()
            || u.hasFragment()) {
            ctx.error(v,
                      QStringLiteral("\"im.apiBaseUrl\" must be an http or https URL without query, such as "
                                     "https://open.larksuite.com, not \"%1\"")
                          .arg(url));
            return;
        }
        m.im.values.insert(QStringLiteral("apiBaseUrl"), url);
    }

    void readIm(MapReader &r)
    {
        const QStringList adapters {QStringLiteral("none"), QStringLiteral("feishu"), QStringLiteral("wecom"),
                                    QStringLiteral("slack"), QStringLiteral("dingtalk")};
        if (!r.has("adapter")) {
            r.missing("adapter");
            return;
        }
        r.choice("adapter", m.im.adapter, adapters);
        struct Field
        {
            const char *key;
            bool secret;
            bool required;
        };
        QList<Field> fields;
        const QString a = m.im.adapter;
        if (a == u"feishu") {
            fields = {{"appId", false, true},
                      {"appSecret", true, true},
                      {"verificationToken", true, false},
                      {"encryptKey", true, false},
                      {"domain", false, false}};
        } else if (a == u"wecom") {
            fields = {{"corpId", false, true},
                      {"agentId", false, true},
                      {"secret", true, true},
                      {"token", true, true},
                      {"encodingAESKey", true, true}};
        } else if (a == u"slack") {
            fields = {{"botToken", true, true}, {"signingSecret", true, true}};
        } else if (a == u"dingtalk") {
            fields = {{"appKey", false, true},
                      {"appSecret", true, true},
                      {"robotCode", false, false},
                      {"templateId", false, false},
                      {"cardTemplateId", false, false}};
        }
        if (a != u"none")
            readApiBaseUrl(r);
        for (const Field &f : fields) {
            if (f.secret) {
                SecretRef ref;
                if (secret(r, f.key, ref, f.required) && ref.isSet())
                    m.im.secrets.insert(QString::fromLatin1(f.key), ref);
            } else {
                QString v;
                if (qstrcmp(f.key, "domain") == 0) {
                    v = QStringLiteral("feishu");
                    r.choice("domain", v, {QStringLiteral("feishu"), QStringLiteral("lark")});
                } else if (qstrcmp(f.key, "agentId") == 0) {
                    qint64 id = 0;
                    if (!r.has("agentId"))
                        r.missing("agentId");
                    else if (r.integer("agentId", id, 1, std::numeric_limits<qint32>::max()))
                        v = QString::number(id);
                } else {
                    r.string(f.key, v, f.required);
                }
                if (!v.isEmpty())
                    m.im.values.insert(QString::fromLatin1(f.key), v);
            }
        }
    }

    void readCluster(MapReader &r)
    {
        r.boolean("inCluster", m.cluster.inCluster);
        r.string("kubeconfig", m.cluster.kubeconfig);
        r.string("context", m.cluster.context);
        if (m.cluster.inCluster && !m.cluster.kubeconfig.isEmpty()) {
            ctx.error(r.keyLocation("kubeconfig"),
                      QStringLiteral("\"cluster.kubeconfig\" cannot be used with \"cluster.inCluster: true\""));
        }
        m.cluster.kubeconfig = resolvePath(m.cluster.kubeconfig);
    }

    void readEnvironment(MapReader &r)
    {
        const QStringList nsAllowed {QStringLiteral("project"), QStringLiteral("iteration")};
        const QStringList domainAllowed = model::environmentPlaceholders();
        if (r.string("namespace", m.environment.namespaceTemplate, false))
            checkTemplate(r.take("namespace"), QStringLiteral("environment.namespace"), m.environment.namespaceTemplate,
                          nsAllowed);
        if (r.string("domain", m.environment.domainTemplate))
            checkTemplate(r.take("domain"), QStringLiteral("environment.domain"), m.environment.domainTemplate,
                          domainAllowed);
        r.string("valuesClass", m.environment.valuesClass);
        r.choice("create", m.environment.create, {QStringLiteral("onStart"), QStringLiteral("onDemand")});
    }

    void readCleanup(MapReader &r)
    {
        QString grace;
        if (r.string("gracePeriod", grace) && !grace.isEmpty()) {
            const auto secs = parseDuration(grace);
            if (!secs) {
                ctx.error(r.take("gracePeriod"),
                          QStringLiteral(
                              "\"cleanup.gracePeriod\" must be a duration such as 30m, 24h, 7d or 1h30m, not \"%1\"")
                              .arg(grace));
            } else {
                m.environment.cleanupGraceSeconds = *secs;
            }
        }
    }

    void readComponent(const YAML::Node &node, const QString &path)
    {
        if (!node.IsMap()) {
            ctx.error(node, QStringLiteral("\"%1\" must be a mapping, not %2").arg(path, describeNode(node)));
            return;
        }
        model::ComponentSpec c;
        c.where = ctx.at(node);
        MapReader r(ctx, node, path);
        if (r.string("name", c.name, true) && !text::isDnsLabel(c.name)) {
            ctx.error(r.take("name"),
                      QStringLiteral("component name \"%1\" is not a valid DNS label (lower-case letters, "
                                     "digits and '-', at most 63 characters)")
                          .arg(c.name));
        }
        if (r.string("repository", c.repository, true) && !isRepositoryUrl(c.repository)) {
            ctx.error(
                r.take("repository"),
                QStringLiteral("\"%1.repository\" must be a git URL (https://, ssh://, git@host:path or a local path), "
                               "not \"%2\"")
                    .arg(path, c.repository));
        }
        if (r.string("image", c.image, true))
            checkImage(r.take("image"), path, c.image);
        r.string("defaultBranch", c.defaultBranch);
        r.string("devConfig", c.devConfig);
        if (r.string("workload", c.workload) && !c.workload.isEmpty()) {
            static const QRegularExpression wl(
                QStringLiteral("^(deploy|deployment|sts|statefulset)/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$"));
            const auto match = wl.match(c.workload);
            if (!match.hasMatch()) {
                ctx.error(r.take("workload"),
                          QStringLiteral("\"%1.workload\" must be deploy/NAME or sts/NAME, not \"%2\"")
                              .arg(path, c.workload));
            } else {
                const QString kind
                    = match.captured(1).startsWith(u'd') ? QStringLiteral("deploy") : QStringLiteral("sts");
                c.workload = kind + u'/' + match.captured(2);
            }
        }
        if (c.workload.isEmpty())
            c.workload = u"deploy/" + c.name;
        if (isPlainNull(r.take("deploy"))) {
            r.missing("deploy");
        } else {
            r.mapping("deploy", [&](MapReader &d) {
                d.choice("driver", c.deploy.driver, {QStringLiteral("helm"), QStringLiteral("manifests")});
                if (c.deploy.driver == u"helm") {
                    d.string("chart", c.deploy.chart, true);
                    if (d.string("version", c.deploy.versionPolicy) && !isVersionPolicy(c.deploy.versionPolicy)) {
                        ctx.error(
                            d.take("version"),
                            QStringLiteral("\"%1.deploy.version\" must be \"latest\", a version such as 1.4.2, or a "
                                           "range such as \"^1.4\" or \">=1.0 <2.0\", not \"%2\"")
                                .arg(path, c.deploy.versionPolicy));
                    }
                    d.string("release", c.deploy.releaseName);
                    if (d.has("path"))
                        ctx.error(d.keyLocation("path"),
                                  QStringLiteral("\"%1.deploy.path\" is for the manifests driver; "
                                                 "the helm driver takes \"chart\"")
                                      .arg(path));
                    d.accept("path");
                } else if (c.deploy.driver == u"manifests") {
                    d.string("path", c.deploy.manifestsPath, true);
                    for (const char *k : {"chart", "version", "release"}) {
                        if (d.has(k))
                            ctx.error(d.keyLocation(k),
                                      QStringLiteral("\"%1.deploy.%2\" is for the helm driver; the "
                                                     "manifests driver takes \"path\"")
                                          .arg(path, QString::fromLatin1(k)));
                        d.accept(k);
                    }
                } else {
                    for (const char *k : {"chart", "version", "release", "path"})
                        d.accept(k);
                }
            });
        }
        if (c.deploy.releaseName.isEmpty())
            c.deploy.releaseName = c.name;
        const YAML::Node values = r.take("values");
        if (!isPlainNull(values)) {
            if (!values.IsMap()) {
                ctx.error(values,
                          QStringLiteral("\"%1.values\" must map a values class to its values, not %2")
                              .arg(path, describeNode(values)));
            } else {
                MapReader vr(ctx, values, path + QStringLiteral(".values"), UnknownKeys::Ignore);
                for (const QString &cls : vr.keys()) {
                    const YAML::Node v = vr.take(cls.toUtf8().constData());
                    if (isPlainNull(v)) {
                        c.values.insert(cls, {});
                    } else if (!v.IsMap()) {
                        ctx.error(v,
                                  QStringLiteral("\"%1.values.%2\" must be a mapping of chart values, not %3")
                                      .arg(path, cls, describeNode(v)));
                    } else {
                        c.values.insert(cls, ctx.toJson(v).toObject());
                    }
                }
            }
        }
        r.finish();
        m.components.append(c);
    }

    static bool isRepositoryUrl(const QString &s)
    {
        static const QRegularExpression scpLike(QStringLiteral("^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\\s]+$"));
        if (scpLike.match(s).hasMatch())
            return true;
        const QUrl u(s, QUrl::StrictMode);
        if (!u.isValid() || s.contains(u' '))
            return false;
        const QString scheme = u.scheme();
        if (scheme == u"https" || scheme == u"http" || scheme == u"ssh" || scheme == u"git")
            return !u.host().isEmpty();
        if (scheme == u"file")
            return true;
        return scheme.isEmpty() && (s.startsWith(u'/') || s.startsWith(u"./") || s.startsWith(u"../"));
    }

    static bool isVersionPolicy(const QString &s)
    {
        if (s == u"latest")
            return true;
        static const QRegularExpression exact(
            QStringLiteral("^v?\\d+(\\.\\d+){0,2}(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$"));
        static const QRegularExpression range(QStringLiteral("^(\\s*(\\|\\|)?\\s*(\\^|~|>=|<=|>|<|=)?\\s*v?(\\d+|[xX*])"
                                                             "(\\.(\\d+|[xX*])){0,2}(-[0-9A-Za-z.-]+)?,?)+\\s*$"));
        return exact.match(s).hasMatch() || range.match(s).hasMatch();
    }

    void checkImage(const YAML::Node &node, const QString &path, const QString &image)
    {
        // A repository reference, [host[:port]/]path, without tag or digest: tags come from artifacts.
        static const QRegularExpression repo(
            QStringLiteral("^(?:([a-zA-Z0-9.-]+(?::\\d+)?)/)?([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/"
                           "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$"));
        if (image.contains(u'@')) {
            ctx.error(node,
                      QStringLiteral("\"%1.image\" must be an image repository without a digest; builds are "
                                     "chosen per environment")
                          .arg(path));
            return;
        }
        const qsizetype slash = image.lastIndexOf(u'/');
        if (image.indexOf(u':', slash + 1) >= 0) {
            ctx.error(node,
                      QStringLiteral("\"%1.image\" must be an image repository without a tag (\"%2\"); builds are "
                                     "chosen per environment")
                          .arg(path, image.left(image.indexOf(u':', slash + 1))));
            return;
        }
        if (!repo.match(image).hasMatch()) {
            ctx.error(node, QStringLiteral("\"%1.image\" is not a valid image repository: \"%2\"").arg(path, image));
        }
    }

    void readWebhook(const YAML::Node &node, const QString &path)
    {
        if (!node.IsMap()) {
            ctx.error(node, QStringLiteral("\"%1\" must be a mapping, not %2").arg(path, describeNode(node)));
            return;
        }
        model::WebhookSource w;
        w.where = ctx.at(node);
        MapReader r(ctx, node, path);
        const QStringList sources {QStringLiteral("generic"), QStringLiteral("github"),  QStringLiteral("gitlab"),
                                   QStringLiteral("jira"),    QStringLiteral("jenkins"), QStringLiteral("registry"),
                                   QStringLiteral("harbor")};
        if (!r.has("source"))
            r.missing("source");
        r.choice("source", w.source, sources);
        w.name = w.source;
        if (r.string("name", w.name) && !text::isDnsLabel(w.name) && !w.source.isEmpty()) {
            ctx.error(r.take("name"),
                      QStringLiteral("webhook name \"%1\" must be a DNS label; it becomes the path "
                                     "/hooks/NAME")
                          .arg(w.name));
        }
        secret(r, "secret", w.secret, true);
        r.finish();
        m.webhooks.append(w);
    }

    void readPerson(const YAML::Node &node, const QString &path)
    {
        if (!node.IsMap()) {
            ctx.error(node, QStringLiteral("\"%1\" must be a mapping, not %2").arg(path, describeNode(node)));
            return;
        }
        model::Person p;
        p.where = ctx.at(node);
        MapReader r(ctx, node, path);
        r.string("name", p.name, true);
        r.string("im", p.imUserId);
        r.stringList("collab", p.collabUsers, true);
        r.string("kube", p.kubeUser);
        r.boolean("admin", p.admin);
        if (p.imUserId.isEmpty() && p.collabUsers.isEmpty() && p.kubeUser.isEmpty() && !p.name.isEmpty()) {
            ctx.error(node,
                      QStringLiteral("person \"%1\" needs at least one identity: \"im\", \"collab\" or \"kube\"")
                          .arg(p.name));
        }
        r.finish();
        m.people.append(p);
    }

    void crossChecks(const YAML::Node &root)
    {
        QSet<QString> names;
        for (const auto &c : std::as_const(m.components)) {
            if (!c.name.isEmpty() && names.contains(c.name))
                ctx.error(c.where, QStringLiteral("component \"%1\" is defined twice").arg(c.name));
            names.insert(c.name);
        }
        QSet<QString> hooks;
        for (const auto &w : std::as_const(m.webhooks)) {
            if (!w.name.isEmpty() && hooks.contains(w.name))
                ctx.error(w.where,
                          QStringLiteral("two webhooks are named \"%1\"; give one a different \"name\"").arg(w.name));
            hooks.insert(w.name);
        }
        QMap<QString, QString> ims, kubes, collabs;
        for (const auto &p : std::as_const(m.people)) {
            auto dup = [&](QMap<QString, QString> &seen, const QString &id, const char *what) {
                if (id.isEmpty())
                    return;
                if (seen.contains(id)) {
                    ctx.error(p.where,
                              QStringLiteral("%1 identity \"%2\" is given to both \"%3\" and \"%4\"")
                                  .arg(QString::fromLatin1(what), id, seen[id], p.name));
                }
                seen.insert(id, p.name);
            };
            dup(ims, p.imUserId, "IM");
            dup(kubes, p.kubeUser, "Kubernetes");
            for (const QString &cu : p.collabUsers)
                dup(collabs, cu, "collaboration-tool");
        }
        // Templates must give valid names once expanded.
        if (text::isDnsLabel(m.project)) {
            const QString longIteration(30, u'i');
            const QMap<QString, QString> sample {{QStringLiteral("project"), m.project},
                                                 {QStringLiteral("iteration"), QStringLiteral("sprint-42")},
                                                 {QStringLiteral("component"), QStringLiteral("api")}};
            const YAML::Node env = findKey(root, "environment");
            const SourceLocation nsLoc = ctx.at(findKey(env, "namespace"));
            const SourceLocation domLoc = ctx.at(findKey(env, "domain"));
            QMap<QString, QString> nsSample = sample;
            nsSample.remove(QStringLiteral("component")); // not allowed there, reported already
            const QString ns = model::expandTemplate(m.environment.namespaceTemplate, nsSample);
            if (!ns.contains(u'{') && !text::isDnsLabel(ns)) {
                ctx.error(
                    nsLoc.isValid() ? nsLoc : ctx.source().fileStart(),
                    QStringLiteral("environment.namespace \"%1\" expands to \"%2\", which is not a valid namespace "
                                   "name (a DNS label: lower-case letters, digits and '-', at most 63 characters)")
                        .arg(m.environment.namespaceTemplate, ns));
            } else if (!ns.contains(u'{')) {
                QMap<QString, QString> longSample = nsSample;
                longSample.insert(QStringLiteral("iteration"), longIteration);
                const QString longNs = model::expandTemplate(m.environment.namespaceTemplate, longSample);
                if (longNs.size() > 63) {
                    ctx.error(
                        nsLoc.isValid() ? nsLoc : ctx.source().fileStart(),
                        QStringLiteral("environment.namespace \"%1\" can exceed 63 characters: with a 30-character "
                                       "iteration name it is %2 characters long")
                            .arg(m.environment.namespaceTemplate)
                            .arg(longNs.size()));
                }
            }
            if (!m.environment.domainTemplate.isEmpty()) {
                const QString d = model::expandTemplate(m.environment.domainTemplate, sample);
                QMap<QString, QString> longSample = sample;
                longSample.insert(QStringLiteral("iteration"), longIteration);
                const QString longDomain = model::expandTemplate(m.environment.domainTemplate, longSample);
                if (!d.contains(u'{') && !text::isDnsSubdomain(d)) {
                    ctx.error(
                        domLoc.isValid() ? domLoc : ctx.source().fileStart(),
                        QStringLiteral("environment.domain \"%1\" expands to \"%2\", which is not a valid domain name")
                            .arg(m.environment.domainTemplate, d));
                } else if (!longDomain.contains(u'{') && !text::isDnsSubdomain(longDomain)) {
                    ctx.error(
                        domLoc.isValid() ? domLoc : ctx.source().fileStart(),
                        QStringLiteral("environment.domain \"%1\" can break the 63-character limit of a domain label "
                                       "with a 30-character iteration name (\"%2\")")
                            .arg(m.environment.domainTemplate, longDomain));
                }
            }
        }
        for (const auto &c : std::as_const(m.components)) {
            if (!c.values.isEmpty() && !c.values.contains(m.environment.valuesClass)) {
                const QStringList classes = c.values.keys();
                ctx.warning(c.where,
                            QStringLiteral("component \"%1\" has values for %2 but none for the environment's "
                                           "values class \"%3\"%4")
                                .arg(c.name, text::quotedList(classes, u"and"), m.environment.valuesClass,
                                     text::didYouMeanSuffix(m.environment.valuesClass, classes)));
            }
        }
        const bool anyAdmin
            = std::any_of(m.people.cbegin(), m.people.cend(), [](const model::Person &p) { return p.admin; });
        if (!m.people.isEmpty() && !anyAdmin)
            ctx.warning(ctx.source().fileStart(),
                        QStringLiteral("no person is an admin; nobody can run admin commands"));
    }

    void read(const YAML::Node &root)
    {
        MapReader r(ctx, root, {});
        qint64 version = 1;
        if (r.integer("version", version, 1, 1000) && version != 1)
            ctx.error(r.take("version"),
                      QStringLiteral("unsupported manifest version %1; this Iterdeck reads version 1").arg(version));
        if (r.string("project", m.project, true) && !text::isDnsLabel(m.project)) {
            ctx.error(r.take("project"),
                      QStringLiteral("project name \"%1\" is not a valid DNS label (lower-case letters, "
                                     "digits and '-', at most 63 characters)")
                          .arg(m.project));
        }
        if (!r.has("im"))
            r.missing("im");
        r.mapping("im", [&](MapReader &im) { readIm(im); });
        r.mapping("cluster", [&](MapReader &c) { readCluster(c); });
        r.mapping("environment", [&](MapReader &e) { readEnvironment(e); });
        r.mapping("cleanup", [&](MapReader &c) { readCleanup(c); });
        r.list("components", [&](const YAML::Node &n, const QString &p) { readComponent(n, p); });
        r.list("webhooks", [&](const YAML::Node &n, const QString &p) { readWebhook(n, p); });
        r.list("people", [&](const YAML::Node &n, const QString &p) { readPerson(n, p); });
        r.finish();
        if (!ctx.exhausted())
            crossChecks(root);
        if (m.components.isEmpty() && r.has("project") && !r.has("components"))
            ctx.warning(r.location(), QStringLiteral("no components: environments will be empty"));
    }
};

} // namespace

std::optional<model::TeamManifest> TeamManifestLoader::loadFile(const QString &path, Diagnostics &diag) const
{
    auto bytes = readTextFile(path, m_limits);
    if (!bytes) {
        diag.add(bytes.error());
        return std::nullopt;
    }
    return loadText(*bytes, path, QFileInfo(path).absolutePath(), diag);
}

std::optional<model::TeamManifest> TeamManifestLoader::loadText(const QByteArray &textIn, const QString &name,
                                                                const QString &baseDir, Diagnostics &diag) const
{
    auto checked = checkText(textIn, name, m_limits);
    if (!checked) {
        diag.add(checked.error());
        return std::nullopt;
    }
    const SourceText src(name, *checked);
    std::vector<YAML::Node> docs;
    Diagnostics local;
    if (!parseYamlDocuments(src, docs, local)) {
        diag.append(local);
        return std::nullopt;
    }
    // Skip empty documents (a leading "---" or trailing comments make them).
    std::vector<YAML::Node> real;
    for (const auto &d : docs) {
        if (!isPlainNull(d))
            real.push_back(d);
    }
    if (real.empty()) {
        diag.error(src.fileStart(),
                   QStringLiteral("empty file: a team manifest needs at least \"project\" and \"im\""));
        return std::nullopt;
    }
    if (real.size() > 1) {
        ReadContext ctx(src, local, m_limits);
        ctx.error(real[1], QStringLiteral("a team manifest is one YAML document; found %1").arg(real.size()));
        diag.append(local);
        return std::nullopt;
    }
    ReadContext ctx(src, local, m_limits);
    if (!real[0].IsMap()) {
        ctx.error(
            real[0],
            QStringLiteral("a team manifest must be a mapping at the top level, not %1").arg(describeNode(real[0])));
        diag.append(local);
        return std::nullopt;
    }
    Checker c {ctx, baseDir, {}};
    c.read(real[0]);
    diag.append(local);
    if (local.hasErrors())
        return std::nullopt;
    return c.m;
}

} // namespace iterdeck::config
