#include "kubeconfig.h"

#include "config/sourcetext.h"
#include "config/yamlreader.h"
#include "credentialdata.h"
#include "kubeconfig_p.h"

#include <QDir>
#include <QFileInfo>
#include <QSet>

#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/yaml.h>

namespace iterdeck::kube {

using config::MapReader;
using config::ReadContext;
using UnknownKeys = MapReader::UnknownKeys;

namespace {

const QString execExtensionName = QStringLiteral("client.authentication.k8s.io/exec");
const QString execV1 = QStringLiteral("client.authentication.k8s.io/v1");
const QString execV1beta1 = QStringLiteral("client.authentication.k8s.io/v1beta1");
const QString execV1alpha1 = QStringLiteral("client.authentication.k8s.io/v1alpha1");

// The -data fields are Go []byte values, which encoding/json reads with base64.StdEncoding (line
// breaks skipped). Other blanks are skipped too: a folded YAML scalar turns line breaks into spaces.
std::optional<QByteArray> decodeBase64(const QString &text, QString *why)
{
    QByteArray clean;
    clean.reserve(text.size());
    int padding = 0;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char16_t c = text[i].unicode();
        if (c == u' ' || c == u'\t' || c == u'\r' || c == u'\n')
            continue;
        if (c == u'=' && padding < 2) {
            ++padding;
            clean += '=';
            continue;
        }
        const bool alphabet = (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z') || (c >= u'0' && c <= u'9')
            || c == u'+' || c == u'/';
        if (!alphabet || padding > 0) {
            const QString shown = text[i].isPrint() && c != u'\''
                ? QStringLiteral("'%1'").arg(text[i])
                : QStringLiteral("U+%1").arg(uint(c), 4, 16, QLatin1Char('0')).toUpper().replace(u'X', u'x');
            *why = QStringLiteral("%1 at offset %2").arg(shown).arg(i);
            return std::nullopt;
        }
        clean += char(c);
    }
    if (clean.size() % 4 != 0) {
        *why = QStringLiteral("it ends in the middle of a group of 4 characters");
        return std::nullopt;
    }
    return QByteArray::fromBase64(clean);
}

QString located(const SourceLocation &where, const QString &message)
{
    const QString at = where.toString();
    return at.isEmpty() ? message : at + u": " + message;
}

// Reads the entries of one kubeconfig file.
class Parser
{
public:
    Parser(ReadContext &ctx, QString dir)
        : m_ctx(ctx)
        , m_dir(std::move(dir))
    { }

    void read(const YAML::Node &doc, KubeconfigFile &out)
    {
        if (config::isNullNode(doc))
            return; // an empty file is an empty configuration, as for kubectl
        if (!doc.IsMap()) {
            m_ctx.error(doc,
                        QStringLiteral("a kubeconfig must be a mapping (apiVersion, kind, clusters, users, contexts, "
                                       "current-context), not %1")
                            .arg(config::describeNode(doc)));
            return;
        }
        MapReader top(m_ctx, doc, {}, UnknownKeys::Ignore);
        QString apiVersion;
        if (top.string("apiVersion", apiVersion) && !apiVersion.isEmpty() && apiVersion != u"v1") {
            m_ctx.error(valueAt(top, "apiVersion"),
                        QStringLiteral("apiVersion \"%1\" is not a kubeconfig version; kubeconfigs are \"v1\"")
                            .arg(apiVersion));
        }
        QString kind;
        if (top.string("kind", kind) && !kind.isEmpty() && kind != u"Config") {
            m_ctx.error(valueAt(top, "kind"),
                        QStringLiteral("kind \"%1\" is not a kubeconfig; a kubeconfig has kind \"Config\"").arg(kind));
        }
        if (top.string("current-context", out.currentContext))
            out.currentContextAt = valueAt(top, "current-context");

        namedList(top, "clusters", "cluster", [&](const QString &name, MapReader &entry) {
            ClusterConfig c;
            c.name = name;
            c.locations.insert(QStringLiteral("name"), valueAt(entry, "name"));
            bool hasServer = false;
            withMapping(entry, "cluster", [&](MapReader &m) { hasServer = readCluster(m, c); });
            if (!hasServer) {
                c.problems.error(c.locations.value(QStringLiteral("name")),
                                 QStringLiteral("no server found for cluster \"%1\"").arg(name));
            }
            out.clusters.append(c);
        });
        namedList(top, "users", "user", [&](const QString &name, MapReader &entry) {
            UserConfig u;
            u.name = name;
            u.locations.insert(QStringLiteral("name"), valueAt(entry, "name"));
            withMapping(entry, "user", [&](MapReader &m) { readUser(m, u); });
            out.users.append(u);
        });
        namedList(top, "contexts", "context", [&](const QString &name, MapReader &entry) {
            KubeconfigFile::Context c;
            c.name = name;
            c.locations.insert(QStringLiteral("name"), valueAt(entry, "name"));
            withMapping(entry, "context", [&](MapReader &m) {
                recordLocations(m, c.locations);
                m.string("cluster", c.cluster);
                m.string("user", c.user);
                m.string("namespace", c.ns);
            });
            out.contexts.append(c);
        });
    }

private:
    ReadContext &m_ctx;
    QString m_dir;

    // As client-go's ResolvePath: relative to the folder of the file that says it.
    QString resolve(const QString &path) const
    {
        if (path.isEmpty() || QDir::isAbsolutePath(path))
            return path;
        return QDir::cleanPath(m_dir + u'/' + path);
    }

    SourceLocation valueAt(MapReader &m, const char *key)
    {
        const SourceLocation at = m_ctx.at(m.take(key));
        return at.isValid() ? at : m.keyLocation(key);
    }

    void recordLocations(MapReader &m, QHash<QString, SourceLocation> &out)
    {
        for (const QString &key : m.keys()) {
            const QByteArray latin = key.toLatin1();
            out.insert(key, valueAt(m, latin.constData()));
        }
    }

    // Calls `fn` with a reader of entry[key] when it is a mapping (or absent: a reader that sees
    // no keys); reports any other type.
    void withMapping(MapReader &entry, const char *key, const std::function<void(MapReader &)> &fn)
    {
        const YAML::Node inner = entry.take(key);
        if (!config::isPlainNull(inner) && !inner.IsMap()) {
            m_ctx.error(
                inner,
                QStringLiteral("\"%1\" must be a mapping, not %2").arg(entry.pathOf(key), config::describeNode(inner)));
            return;
        }
        if (!config::isPlainNull(inner) && !m_ctx.spend(inner))
            return;
        MapReader reader(m_ctx, inner, entry.pathOf(key), UnknownKeys::Ignore);
        fn(reader);
    }

    // A kubeconfig list of named entries ([{name: n, <item>: {...}}]). client-go turns each into a
    // map and refuses a name given twice in one list; an entry without a name can never be used.
    void namedList(MapReader &parent, const char *key, const char *itemKey,
                   const std::function<void(const QString &, MapReader &)> &each)
    {
        QHash<QString, int> seen; // name -> line of its first entry
        parent.list(key, [&](const YAML::Node &item, const QString &path) {
            if (!item.IsMap()) {
                m_ctx.error(item,
                            QStringLiteral("\"%1\" must be a mapping with \"name\" and \"%2\", not %3")
                                .arg(path, QString::fromLatin1(itemKey), config::describeNode(item)));
                return;
            }
            MapReader entry(m_ctx, item, path, UnknownKeys::Ignore);
            QString name;
            if (!entry.string("name", name))
                return;
            if (name.isEmpty()) {
                m_ctx.warning(entry.has("name") ? valueAt(entry, "name") : entry.location(),
                              QStringLiteral("\"%1\" has no name and is ignored").arg(path));
                return;
            }
            if (const auto it = seen.constFind(name); it != seen.cend()) {
                m_ctx.error(valueAt(entry, "name"),
                            QStringLiteral("duplicate name \"%1\" in %2 (first on line %3)")
                                .arg(name, QString::fromLatin1(key))
                                .arg(*it));
                return;
            }
            seen.insert(name, valueAt(entry, "name").line);
            each(name, entry);
        });
    }

    // A -data field: base64 of the bytes (PEM) that the plain field names a file of.
    void readData(MapReader &m, const char *key, const char *fileKey, QByteArray &out)
    {
        QString text;
        if (!m.string(key, text) || text.isEmpty())
            return;
        QString why;
        const auto bytes = decodeBase64(text, &why);
        if (!bytes) {
            if (text.trimmed().startsWith(u"-----BEGIN")) {
                why = QStringLiteral("it holds PEM text itself; \"%1\" takes the base64 of the PEM (or use "
                                     "\"%2\" with a file name)")
                          .arg(QString::fromLatin1(key), QString::fromLatin1(fileKey));
            }
            m_ctx.error(valueAt(m, key), QStringLiteral("\"%1\" is not valid base64: %2").arg(m.pathOf(key), why));
            return;
        }
        out = *bytes;
    }

    // Returns whether a server is given.
    bool readCluster(MapReader &m, ClusterConfig &c)
    {
        recordLocations(m, c.locations);
        const auto at = [&](const char *key) { return c.locations.value(QString::fromLatin1(key)); };
        QString server;
        m.string("server", server);
        QString caFile;
        m.string("certificate-authority", caFile);
        c.certificateAuthorityFile = resolve(caFile);
        readData(m, "certificate-authority-data", "certificate-authority", c.certificateAuthorityPem);
        m.string("tls-server-name", c.tlsServerName);
        m.boolean("insecure-skip-tls-verify", c.insecureSkipTlsVerify);
        QString proxy;
        m.string("proxy-url", proxy);
        m.boolean("disable-compression", c.disableCompression);
        namedList(m, "extensions", "extension", [&](const QString &name, MapReader &entry) {
            if (name == execExtensionName)
                c.execExtension = m_ctx.toJson(entry.take("extension"));
        });

        if (!server.isEmpty()) {
            // rest.DefaultServerURL: a bare host:port means https.
            const QString full = server.contains(u"://") ? server : u"https://" + server;
            QUrl url(full, QUrl::StrictMode);
            QString why;
            if (!url.isValid())
                why = QStringLiteral("not a URL (%1)").arg(url.errorString());
            else if (url.scheme() != u"https" && url.scheme() != u"http")
                why = QStringLiteral("the scheme must be https or http, not \"%1\"").arg(url.scheme());
            else if (url.host().isEmpty())
                why = QStringLiteral("no host");
            if (why.isEmpty()) {
                url.setQuery(QString());
                url.setFragment(QString());
                c.server = url;
            } else {
                c.problems.error(
                    at("server"),
                    QStringLiteral("invalid server \"%1\" for cluster \"%2\": %3").arg(server, c.name, why));
            }
        }
        if (!caFile.isEmpty() && !c.certificateAuthorityPem.isEmpty()) {
            c.problems.error(at("certificate-authority-data"),
                             QStringLiteral("certificate-authority-data and certificate-authority are both specified "
                                            "for %1; keep only one of them")
                                 .arg(c.name));
        }
        if (c.insecureSkipTlsVerify && (!caFile.isEmpty() || !c.certificateAuthorityPem.isEmpty())) {
            c.problems.error(at("insecure-skip-tls-verify"),
                             QStringLiteral("specifying a root certificates file with the insecure flag is not "
                                            "allowed (cluster \"%1\")")
                                 .arg(c.name));
        }
        if (!proxy.isEmpty()) {
            const QUrl url(proxy);
            QString why;
            if (!url.isValid())
                why = QStringLiteral("could not parse: %1").arg(url.errorString());
            else if (url.scheme() != u"http" && url.scheme() != u"https" && url.scheme() != u"socks5")
                why = QStringLiteral("unsupported scheme \"%1\", must be http, https, or socks5").arg(url.scheme());
            if (why.isEmpty()) {
                c.proxyUrl = url;
            } else {
                c.problems.error(
                    at("proxy-url"),
                    QStringLiteral("invalid 'proxy-url' \"%1\" for cluster \"%2\": %3").arg(proxy, c.name, why));
            }
        }
        return !server.isEmpty();
    }

    void readUser(MapReader &m, UserConfig &u)
    {
        recordLocations(m, u.locations);
        const auto at = [&](const char *key) { return u.locations.value(QString::fromLatin1(key)); };
        m.string("token", u.token);
        QString tokenFile;
        m.string("tokenFile", tokenFile);
        u.tokenFile = resolve(tokenFile);
        QString certFile;
        QString keyFile;
        m.string("client-certificate", certFile);
        m.string("client-key", keyFile);
        u.clientCertificateFile = resolve(certFile);
        u.clientKeyFile = resolve(keyFile);
        readData(m, "client-certificate-data", "client-certificate", u.clientCertificatePem);
        readData(m, "client-key-data", "client-key", u.clientKeyPem);
        m.string("username", u.username);
        m.string("password", u.password);
        m.string("as", u.impersonateUser);
        m.string("as-uid", u.impersonateUid);
        m.stringList("as-groups", u.impersonateGroups);
        readExtra(m, u.impersonateExtra);
        QString authProvider;
        m.mapping(
            "auth-provider", [&](MapReader &p) { p.string("name", authProvider); }, UnknownKeys::Ignore);
        m.mapping(
            "exec", [&](MapReader &e) { readExec(m, e, u); }, UnknownKeys::Ignore);

        // validateAuthInfo and the transport's checks, kept for when this user is chosen.
        const bool hasCert = !certFile.isEmpty() || !u.clientCertificatePem.isEmpty();
        const bool hasKey = !keyFile.isEmpty() || !u.clientKeyPem.isEmpty();
        if (!certFile.isEmpty() && !u.clientCertificatePem.isEmpty()) {
            u.problems.error(at("client-certificate-data"),
                             QStringLiteral("client-certificate-data and client-certificate are both specified for "
                                            "%1; keep only one of them")
                                 .arg(u.name));
        }
        if (!keyFile.isEmpty() && !u.clientKeyPem.isEmpty()) {
            u.problems.error(at("client-key-data"),
                             QStringLiteral("client-key-data and client-key are both specified for %1; keep only one "
                                            "of them")
                                 .arg(u.name));
        }
        if (hasCert && !hasKey) {
            u.problems.error(at(certFile.isEmpty() ? "client-certificate-data" : "client-certificate"),
                             QStringLiteral("client-key-data or client-key must be specified for %1 to use the "
                                            "clientCert authentication method")
                                 .arg(u.name));
        }
        if (hasKey && !hasCert) {
            u.problems.warning(at(keyFile.isEmpty() ? "client-key-data" : "client-key"),
                               QStringLiteral("user %1 has a client key but no client certificate; the key is not "
                                              "used")
                                   .arg(u.name));
        }
        const bool basic = !u.username.isEmpty() || !u.password.isEmpty();
        if (!u.token.isEmpty() && basic) {
            u.problems.error(at(u.username.isEmpty() ? "password" : "username"),
                             QStringLiteral("more than one authentication method found for %1; found [token "
                                            "basicAuth], only one is allowed")
                                 .arg(u.name));
        } else if (!u.tokenFile.isEmpty() && basic) {
            u.problems.error(
                at("tokenFile"),
                QStringLiteral("username/password or bearer token may be set, but not both (user %1)").arg(u.name));
        }
        if ((!u.impersonateGroups.isEmpty() || !u.impersonateExtra.isEmpty()) && u.impersonateUser.isEmpty()) {
            u.problems.error(
                at(u.impersonateGroups.isEmpty() ? "as-user-extra" : "as-groups"),
                QStringLiteral("requesting groups or user-extra for %1 without impersonating a user").arg(u.name));
        }
        if (u.locations.contains(QStringLiteral("auth-provider"))) {
            u.problems.error(at("auth-provider"),
                             QStringLiteral("auth-provider%1 is not supported (kubectl dropped the built-in ones too); "
                                            "use an exec credential plugin instead, e.g. kubelogin for OIDC")
                                 .arg(authProvider.isEmpty() ? QString() : u" \"" + authProvider + u'"'));
        }
    }

    // as-user-extra: a map of string lists (the keys are free text, so not read through MapReader's
    // Latin-1 key lookups).
    void readExtra(MapReader &m, QMap<QString, QStringList> &out)
    {
        const YAML::Node node = m.take("as-user-extra");
        if (config::isPlainNull(node))
            return;
        if (!node.IsMap()) {
            m_ctx.error(node,
                        QStringLiteral("\"%1\" must be a mapping of lists of strings, not %2")
                            .arg(m.pathOf("as-user-extra"), config::describeNode(node)));
            return;
        }
        for (const auto &kv : node) {
            if (!m_ctx.spend(kv.second))
                return;
            const auto key = config::scalarString(kv.first);
            if (!key) {
                m_ctx.error(kv.first,
                            QStringLiteral("a key must be a plain string, not %1").arg(config::describeNode(kv.first)));
                continue;
            }
            const QString path = m.pathOf("as-user-extra") + u'.' + *key;
            QStringList values;
            if (const auto one = config::scalarString(kv.second)) {
                values.append(*one);
            } else if (kv.second.IsSequence()) {
                for (const YAML::Node &item : kv.second) {
                    const auto value = config::scalarString(item);
                    if (!value) {
                        m_ctx.error(item,
                                    QStringLiteral("\"%1\" must be a list of strings, not one holding %2")
                                        .arg(path, config::describeNode(item)));
                        break;
                    }
                    values.append(*value);
                }
            } else if (!config::isPlainNull(kv.second)) {
                m_ctx.error(kv.second,
                            QStringLiteral("\"%1\" must be a list of strings, not %2")
                                .arg(path, config::describeNode(kv.second)));
                continue;
            }
            out.insert(*key, values);
        }
    }

    void readExec(MapReader &user, MapReader &e, UserConfig &u)
    {
        ExecPluginConfig x;
        x.where = user.keyLocation("exec");
        QHash<QString, SourceLocation> where;
        recordLocations(e, where);
        const auto at = [&](const char *key) {
            const auto it = where.constFind(QString::fromLatin1(key));
            return it != where.cend() ? *it : x.where;
        };
        e.string("apiVersion", x.apiVersion);
        e.string("command", x.command);
        e.stringList("args", x.args);
        bool envNamesOk = true;
        e.list("env", [&](const YAML::Node &item, const QString &path) {
            if (!item.IsMap()) {
                m_ctx.error(item,
                            QStringLiteral("\"%1\" must be a mapping with \"name\" and \"value\", not %2")
                                .arg(path, config::describeNode(item)));
                return;
            }
            MapReader var(m_ctx, item, path, UnknownKeys::Ignore);
            QString name;
            QString value;
            var.string("name", name);
            var.string("value", value);
            if (name.isEmpty())
                envNamesOk = false;
            x.env.append({name, value});
        });
        e.string("interactiveMode", x.interactiveMode);
        e.boolean("provideClusterInfo", x.provideClusterInfo);
        e.string("installHint", x.installHint);
        // client-go's ResolveLocalPaths: a command with a slash is a path; a bare name is looked up on PATH.
        if (x.command.contains(u'/'))
            x.command = resolve(x.command);
        // SetDefaults_ExecConfig: only the beta versions default interactiveMode.
        if (x.interactiveMode.isEmpty() && (x.apiVersion == execV1beta1 || x.apiVersion == execV1alpha1))
            x.interactiveMode = QStringLiteral("IfAvailable");

        if (x.command.isEmpty()) {
            u.problems.error(
                at("command"),
                QStringLiteral("command must be specified for %1 to use exec authentication plugin").arg(u.name));
        }
        if (x.apiVersion.isEmpty()) {
            u.problems.error(
                at("apiVersion"),
                QStringLiteral("apiVersion must be specified for %1 to use exec authentication plugin").arg(u.name));
        } else if (x.apiVersion != execV1 && x.apiVersion != execV1beta1) {
            u.problems.error(at("apiVersion"),
                             QStringLiteral("exec plugin: invalid apiVersion \"%1\"; use \"%2\" or \"%3\"")
                                 .arg(x.apiVersion, execV1, execV1beta1));
        }
        if (!envNamesOk) {
            u.problems.error(at("env"),
                             QStringLiteral("env variable name must be specified for %1 to use exec authentication "
                                            "plugin")
                                 .arg(u.name));
        }
        if (x.interactiveMode.isEmpty()) {
            u.problems.error(x.where,
                             QStringLiteral("interactiveMode must be specified for %1 to use exec authentication "
                                            "plugin")
                                 .arg(u.name));
        } else if (x.interactiveMode != u"Never" && x.interactiveMode != u"IfAvailable"
                   && x.interactiveMode != u"Always") {
            u.problems.error(at("interactiveMode"),
                             QStringLiteral("invalid interactiveMode for %1: \"%2\"").arg(u.name, x.interactiveMode));
        }
        u.exec = x;
    }
};

KubeError configError(const QString &message)
{
    return KubeError::make(KubeError::Kind::Config, message);
}

// The problems of one entry as message lines; warnings go to `warnings`.
void collect(const Diagnostics &problems, QStringList &errors, QStringList &warnings)
{
    for (const Diagnostic &d : problems.sorted())
        (d.isError() ? errors : warnings).append(located(d.where, d.message));
}

} // namespace

std::optional<KubeconfigFile> parseKubeconfig(const QString &path, const QByteArray &text, Diagnostics &diag)
{
    config::LoadLimits limits;
    limits.maxFileBytes = detail::maxKubeconfigBytes;
    const auto checked = config::checkText(text, path, limits);
    if (!checked) {
        diag.add(checked.error());
        return std::nullopt;
    }
    const config::SourceText src(path, *checked);
    std::vector<YAML::Node> docs;
    Diagnostics local;
    if (!config::parseYamlDocuments(src, docs, local)) {
        diag.append(local);
        return std::nullopt;
    }
    KubeconfigFile file;
    file.path = QFileInfo(path).absoluteFilePath();
    ReadContext ctx(src, local, limits);
    try {
        Parser parser(ctx, QFileInfo(file.path).absolutePath());
        if (!docs.empty())
            parser.read(docs.front(), file);
        // kubectl decodes the first document only.
        for (size_t i = 1; i < docs.size(); ++i) {
            if (!config::isNullNode(docs[i])) {
                ctx.warning(docs[i],
                            QStringLiteral("only the first YAML document of a kubeconfig is read (as kubectl does); "
                                           "this one is ignored"));
                break;
            }
        }
    } catch (const YAML::Exception &e) {
        ctx.error(src.locate(e.mark.line, e.mark.column),
                  u"cannot read YAML: " + QString::fromUtf8(e.msg.data(), qsizetype(e.msg.size())));
    }
    diag.append(local);
    if (local.hasErrors())
        return std::nullopt;
    return file;
}

namespace detail {

Expected<ClientConfig, KubeError> resolveClientConfig(const QList<KubeconfigFile> &files,
                                                      const KubeconfigOptions &options)
{
    // The first file to define a name wins for the whole entry; the first non-empty
    // current-context wins.
    QHash<QString, const ClusterConfig *> clusters;
    QHash<QString, const UserConfig *> users;
    QHash<QString, const KubeconfigFile::Context *> contexts;
    QStringList contextNames;
    QString current;
    SourceLocation currentAt;
    ClientConfig result;
    for (const KubeconfigFile &f : files) {
        result.files.append(f.path);
        for (const ClusterConfig &c : f.clusters) {
            if (!clusters.contains(c.name))
                clusters.insert(c.name, &c);
        }
        for (const UserConfig &u : f.users) {
            if (!users.contains(u.name))
                users.insert(u.name, &u);
        }
        for (const KubeconfigFile::Context &c : f.contexts) {
            if (!contexts.contains(c.name)) {
                contexts.insert(c.name, &c);
                contextNames.append(c.name);
            }
        }
        if (current.isEmpty() && !f.currentContext.isEmpty()) {
            current = f.currentContext;
            currentAt = f.currentContextAt;
        }
    }
    if (clusters.isEmpty() && users.isEmpty() && contexts.isEmpty() && current.isEmpty() && options.context.isEmpty()) {
        return unexpected(configError(QStringLiteral("no configuration has been provided, try setting KUBECONFIG or "
                                                     "--kubeconfig (%1 defines no clusters, users or contexts)")
                                          .arg(result.files.join(QStringLiteral(", ")))));
    }

    const QString contextName = options.context.isEmpty() ? current : options.context;
    if (contextName.isEmpty()) {
        return unexpected(configError(
            contextNames.isEmpty()
                ? QStringLiteral("no context chosen: the kubeconfig defines no contexts")
                : QStringLiteral("no context chosen: current-context is not set; pass --context (the contexts are "
                                 "%1)")
                      .arg(contextNames.join(QStringLiteral(", ")))));
    }
    const KubeconfigFile::Context *context = contexts.value(contextName);
    if (!context) {
        const QString message = QStringLiteral("context \"%1\" does not exist").arg(contextName);
        return unexpected(configError(options.context.isEmpty() ? located(currentAt, message) : message));
    }
    result.contextName = contextName;
    result.contexts = contextNames;

    QStringList errors;
    QStringList warnings;
    const auto contextAt = [&](const char *key) {
        const auto it = context->locations.constFind(QString::fromLatin1(key));
        return it != context->locations.cend() ? *it : context->locations.value(QStringLiteral("name"));
    };
    const ClusterConfig *cluster = nullptr;
    if (context->cluster.isEmpty()) {
        errors.append(located(contextAt("cluster"),
                              QStringLiteral("cluster was not specified for context \"%1\"").arg(contextName)));
    } else if (!(cluster = clusters.value(context->cluster))) {
        errors.append(located(
            contextAt("cluster"),
            QStringLiteral("cluster \"%1\" was not found for context \"%2\"").arg(context->cluster, contextName)));
    }
    const UserConfig *user = nullptr;
    if (!context->user.isEmpty() && !(user = users.value(context->user))) {
        errors.append(
            located(contextAt("user"),
                    QStringLiteral("user \"%1\" was not found for context \"%2\"").arg(context->user, contextName)));
    }
    if (!errors.isEmpty() || !cluster)
        return unexpected(configError(errors.join(u'\n')));

    result.cluster = *cluster;
    if (user)
        result.user = *user; // a context without a user talks to the cluster anonymously
    ClusterConfig &c = result.cluster;
    UserConfig &u = result.user;
    collect(c.problems, errors, warnings);
    collect(u.problems, errors, warnings);

    // Only the files of the chosen entries are read (kubectl's ConfirmUsable looks no further).
    const auto readInto = [&](const QString &file, QByteArray &out, const SourceLocation &at, const QString &what,
                              const QString &owner) {
        if (file.isEmpty() || !out.isEmpty())
            return;
        const auto bytes = readCredentialFile(file);
        if (bytes)
            out = *bytes;
        else
            errors.append(located(
                at, QStringLiteral("unable to read %1 %2 for %3 due to %4").arg(what, file, owner, bytes.error())));
    };
    if (errors.isEmpty()) {
        readInto(c.certificateAuthorityFile, c.certificateAuthorityPem,
                 c.locations.value(QStringLiteral("certificate-authority")), QStringLiteral("certificate-authority"),
                 c.name);
        readInto(u.clientCertificateFile, u.clientCertificatePem,
                 u.locations.value(QStringLiteral("client-certificate")), QStringLiteral("client-cert"), u.name);
        readInto(u.clientKeyFile, u.clientKeyPem, u.locations.value(QStringLiteral("client-key")),
                 QStringLiteral("client-key"), u.name);
    }
    if (errors.isEmpty() && !c.certificateAuthorityPem.isEmpty()
        && parseCertificates(c.certificateAuthorityPem).isEmpty()) {
        const bool fromFile = !c.certificateAuthorityFile.isEmpty();
        errors.append(located(
            c.locations.value(fromFile ? QStringLiteral("certificate-authority")
                                       : QStringLiteral("certificate-authority-data")),
            QStringLiteral("unable to load root certificates for cluster \"%1\": %2 holds no PEM certificate")
                .arg(c.name, fromFile ? c.certificateAuthorityFile : QStringLiteral("certificate-authority-data"))));
    }
    if (errors.isEmpty() && !u.clientCertificatePem.isEmpty() && !u.clientKeyPem.isEmpty()) {
        const auto pair = parseClientCertificate(u.clientCertificatePem, u.clientKeyPem);
        if (!pair) {
            const bool fromFile = !u.clientCertificateFile.isEmpty();
            errors.append(located(u.locations.value(fromFile ? QStringLiteral("client-certificate")
                                                             : QStringLiteral("client-certificate-data")),
                                  QStringLiteral("user \"%1\": %2").arg(u.name, pair.error())));
        }
    }
    if (!errors.isEmpty())
        return unexpected(configError(errors.join(u'\n')));

    if (c.insecureSkipTlsVerify) {
        warnings.append(located(c.locations.value(QStringLiteral("insecure-skip-tls-verify")),
                                QStringLiteral("cluster \"%1\" sets insecure-skip-tls-verify: the server's certificate "
                                               "is not checked, so anyone on the way to %2 can read and change the "
                                               "traffic, credentials included")
                                    .arg(c.name, c.server.toString())));
    }
    // client-go only reads the user's credentials for an https server (IsConfigTransportTLS).
    const bool hasCredentials = !u.token.isEmpty() || !u.tokenFile.isEmpty() || !u.username.isEmpty()
        || !u.password.isEmpty() || !u.clientCertificatePem.isEmpty() || u.exec.has_value();
    if (c.server.scheme() == u"http" && hasCredentials) {
        warnings.append(located(c.locations.value(QStringLiteral("server")),
                                QStringLiteral("server %1 of cluster \"%2\" is plain http: the credentials of user "
                                               "%3 are not sent (as with kubectl)")
                                    .arg(c.server.toString(), c.name, u.name)));
        u.token.clear();
        u.tokenFile.clear();
        u.username.clear();
        u.password.clear();
        u.clientCertificatePem.clear();
        u.clientKeyPem.clear();
        u.exec.reset();
    }

    if (!options.ns.isEmpty()) {
        result.ns = options.ns;
        result.namespaceExplicit = true;
    } else if (!context->ns.isEmpty()) {
        result.ns = context->ns;
        result.namespaceExplicit = true;
    }
    result.warnings = warnings;
    return result;
}

} // namespace detail

QStringList kubeconfigPaths(const KubeconfigOptions &options)
{
    if (!options.kubeconfigFlag.isEmpty())
        return {QFileInfo(options.kubeconfigFlag).absoluteFilePath()};
    QStringList candidates;
    const QString env = options.kubeconfigEnv ? *options.kubeconfigEnv : qEnvironmentVariable("KUBECONFIG");
    if (env.isEmpty()) {
        const QString home = options.homeDir.isEmpty() ? QDir::homePath() : options.homeDir;
        candidates.append(QDir::cleanPath(home + QStringLiteral("/.kube/config")));
    } else {
        for (const QString &part : env.split(u':', Qt::SkipEmptyParts)) {
            const QString path = QDir::cleanPath(QFileInfo(part).absoluteFilePath());
            if (!candidates.contains(path))
                candidates.append(path);
        }
    }
    return candidates;
}

Expected<ClientConfig, KubeError> loadClientConfig(const KubeconfigOptions &options)
{
    const QStringList candidates = kubeconfigPaths(options);
    if (!options.kubeconfigFlag.isEmpty() && !QFileInfo::exists(candidates.first())) {
        // --kubeconfig: exactly this file, which must exist.
        return unexpected(configError(
            QStringLiteral("the kubeconfig given by --kubeconfig does not exist: %1").arg(candidates.first())));
    }

    config::LoadLimits limits;
    limits.maxFileBytes = detail::maxKubeconfigBytes;
    QList<KubeconfigFile> files;
    QStringList missing;
    QStringList errors;
    QStringList warnings;
    for (const QString &path : std::as_const(candidates)) {
        if (!QFileInfo::exists(path)) { // missing files in KUBECONFIG are skipped
            missing.append(path);
            continue;
        }
        const auto bytes = config::readTextFile(path, limits);
        if (!bytes) {
            errors.append(located(bytes.error().where, bytes.error().message));
            continue;
        }
        Diagnostics diag;
        const auto file = parseKubeconfig(path, *bytes, diag);
        collect(diag, errors, warnings);
        if (file)
            files.append(*file);
    }
    if (!errors.isEmpty())
        return unexpected(configError(errors.join(u'\n')));
    if (files.isEmpty()) {
        const QString message = QStringLiteral("no configuration has been provided, try setting KUBECONFIG or "
                                               "--kubeconfig");
        return unexpected(configError(
            missing.isEmpty() ? message
                              : QStringLiteral("%1 (not found: %2)").arg(message, missing.join(QStringLiteral(", ")))));
    }
    auto result = detail::resolveClientConfig(files, options);
    if (result)
        result->warnings = warnings + result->warnings;
    return result;
}

} // namespace iterdeck::kube
