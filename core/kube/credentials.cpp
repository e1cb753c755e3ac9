#include "credentials.h"

#include "credentialdata.h"
#include "logging.h"

#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTimer>

#include <csignal>
#include <cstdio>

#include <sys/types.h>
#include <unistd.h>

namespace iterdeck::kube {

using namespace std::chrono_literals;

QByteArray Credentials::authorizationHeader() const
{
    if (!bearerToken.isEmpty())
        return "Bearer " + bearerToken;
    if (!username.isEmpty())
        return "Basic " + QString(username + u':' + password).toUtf8().toBase64();
    return {};
}

namespace {

const QString execV1 = QStringLiteral("client.authentication.k8s.io/v1");
const QString execV1beta1 = QStringLiteral("client.authentication.k8s.io/v1beta1");

// client-go re-reads a token file about once a minute (transport.NewCachedFileTokenSource).
constexpr qint64 tokenFileMaxAgeMs = qint64(60) * 1000;
// A credential this close to its expirationTimestamp counts as expired: a request sent with it
// could arrive after it (client-go's token sources use the same 10 s leeway).
constexpr qint64 expiryLeewaySeconds = 10;
constexpr qsizetype maxPluginStdout = qsizetype(4) * 1024 * 1024;
constexpr qsizetype stderrTailBytes = 2048;
constexpr std::chrono::milliseconds defaultTimeout = 60s;
constexpr std::chrono::milliseconds defaultInteractiveTimeout = 10min;

const char installHintVerboseHelp[]
    = "\n\nIt looks like you are trying to use a client-go credential plugin that is not "
      "installed.\n\nTo learn more about this feature, consult the documentation "
      "available at:\n      https://kubernetes.io/docs/reference/access-authn-authz/"
      "authentication/#client-go-credential-plugins";

KubeError authError(const QString &message, KubeError::Kind kind = KubeError::Kind::Auth)
{
    return KubeError::make(kind, message);
}

// RFC 3339 as metav1.Time reads it: date, 'T', time, optional fraction, and a zone.
QDateTime parseRfc3339(const QString &text)
{
    static const QRegularExpression re(
        QStringLiteral("^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$"));
    if (!re.match(text).hasMatch())
        return {};
    return QDateTime::fromString(text.toUpper(), Qt::ISODateWithMs);
}

bool expiresSoon(const QDateTime &expiry)
{
    return expiry.isValid() && QDateTime::currentDateTimeUtc().addSecs(expiryLeewaySeconds) >= expiry;
}

} // namespace

class CredentialProvider::Private
{
public:
    struct Waiter
    {
        QPointer<QObject> context;
        Callback done;
    };

    CredentialProvider *q;
    ClientConfig config;
    bool interactive = false;
    std::optional<std::chrono::milliseconds> timeout;

    // Static credentials.
    std::optional<Expected<detail::ClientCertificate, QString>> clientCert; // parsed once
    QByteArray fileToken;
    qint64 fileTokenReadAt = -1; // msecs since epoch, -1 = not read

    // The exec plugin.
    std::optional<Credentials> execCredentials;
    QProcess *process = nullptr;
    QString program;
    bool ownProcessGroup = false;
    std::chrono::milliseconds runLimit {0};
    bool timedOut = false;
    bool stdoutOverflow = false;
    QByteArray stdoutData;
    QByteArray stderrTail;
    bool stderrTruncated = false;
    QList<Waiter> waiters;

    Private(CredentialProvider *owner, ClientConfig c)
        : q(owner)
        , config(std::move(c))
    { }

    const UserConfig &user() const { return config.user; }

    // client-go consults the plugin only when the user has no token, basic auth or client
    // certificate of its own (exec.Authenticator.UpdateTransportConfig).
    bool usesExec() const
    {
        const UserConfig &u = user();
        return u.exec && u.token.isEmpty() && u.tokenFile.isEmpty() && u.username.isEmpty()
            && (u.clientCertificatePem.isEmpty() || u.clientKeyPem.isEmpty());
    }

    static void deliver(QObject *context, const Callback &done, const Expected<Credentials, KubeError> &result)
    {
        QMetaObject::invokeMethod(
            context, [done, result]() { done(result); }, Qt::QueuedConnection);
    }

    void deliverAll(const Expected<Credentials, KubeError> &result)
    {
        const QList<Waiter> pending = std::exchange(waiters, {});
        for (const Waiter &w : pending) {
            if (w.context)
                deliver(w.context, w.done, result);
        }
    }

    Expected<QByteArray, KubeError> tokenFromFile()
    {
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        if (fileTokenReadAt >= 0 && now - fileTokenReadAt < tokenFileMaxAgeMs)
            return fileToken;
        const auto bytes = detail::readCredentialFile(user().tokenFile);
        if (!bytes) {
            return unexpected(
                authError(QStringLiteral("failed to read token file \"%1\": %2").arg(user().tokenFile, bytes.error())));
        }
        const QByteArray token = bytes->trimmed();
        if (token.isEmpty())
            return unexpected(authError(QStringLiteral("read empty token from file \"%1\"").arg(user().tokenFile)));
        fileToken = token;
        fileTokenReadAt = now;
        return token;
    }

    Expected<Credentials, KubeError> staticCredentials()
    {
        const UserConfig &u = user();
        Credentials c;
        if (!u.token.isEmpty()) {
            c.bearerToken = u.token.toUtf8();
        } else if (!u.tokenFile.isEmpty()) {
            auto token = tokenFromFile();
            if (!token)
                return unexpected(token.error());
            c.bearerToken = *token;
        }
        if (!u.username.isEmpty()) {
            c.username = u.username;
            c.password = u.password;
        }
        if (!u.clientCertificatePem.isEmpty() && !u.clientKeyPem.isEmpty()) {
            if (!clientCert)
                clientCert = detail::parseClientCertificate(u.clientCertificatePem, u.clientKeyPem);
            if (!*clientCert) {
                return unexpected(KubeError::make(
                    KubeError::Kind::Config,
                    QStringLiteral("client certificate of user \"%1\": %2").arg(u.name, clientCert->error())));
            }
            c.clientCertificate = (*clientCert)->leaf;
            c.clientChain = (*clientCert)->chain;
            c.clientKey = (*clientCert)->key;
        }
        return c;
    }

    QByteArray execInfo(bool runInteractive) const
    {
        const ExecPluginConfig &x = *user().exec;
        QJsonObject spec {{QStringLiteral("interactive"), runInteractive}};
        if (x.provideClusterInfo) {
            const ClusterConfig &c = config.cluster;
            QJsonObject cluster {{QStringLiteral("server"), c.server.toString()}};
            if (!c.tlsServerName.isEmpty())
                cluster.insert(QStringLiteral("tls-server-name"), c.tlsServerName);
            if (c.insecureSkipTlsVerify)
                cluster.insert(QStringLiteral("insecure-skip-tls-verify"), true);
            if (!c.certificateAuthorityPem.isEmpty()) {
                cluster.insert(QStringLiteral("certificate-authority-data"),
                               QString::fromLatin1(c.certificateAuthorityPem.toBase64()));
            }
            if (!c.proxyUrl.isEmpty())
                cluster.insert(QStringLiteral("proxy-url"), c.proxyUrl.toString());
            if (c.disableCompression)
                cluster.insert(QStringLiteral("disable-compression"), true);
            if (!c.execExtension.isUndefined() && !c.execExtension.isNull())
                cluster.insert(QStringLiteral("config"), c.execExtension);
            spec.insert(QStringLiteral("cluster"), cluster);
        }
        const QJsonObject info {{QStringLiteral("kind"), QStringLiteral("ExecCredential")},
                                {QStringLiteral("apiVersion"), x.apiVersion},
                                {QStringLiteral("spec"), spec}};
        return QJsonDocument(info).toJson(QJsonDocument::Compact);
    }

    void fail(const QString &message, KubeError::Kind kind = KubeError::Kind::Auth)
    {
        deliverAll(unexpected(authError(u"getting credentials: " + message, kind)));
    }

    void startPlugin()
    {
        const ExecPluginConfig &x = *user().exec;
        if (x.apiVersion != execV1 && x.apiVersion != execV1beta1)
            return fail(QStringLiteral("exec plugin: invalid apiVersion \"%1\"").arg(x.apiVersion));
        bool runInteractive = false;
        if (x.interactiveMode == u"IfAvailable") {
            runInteractive = interactive;
        } else if (x.interactiveMode == u"Always") {
            if (!interactive) {
                return fail(QStringLiteral("exec plugin cannot support interactive mode: standard input is not a "
                                           "terminal"));
            }
            runInteractive = true;
        } else if (x.interactiveMode != u"Never") {
            return fail(QStringLiteral("exec plugin cannot support interactive mode: unknown interactiveMode: \"%1\"")
                            .arg(x.interactiveMode));
        }

        // Like exec.Command: a name with a slash is a path, anything else is looked up on our PATH.
        program = x.command.contains(u'/') ? x.command : QStandardPaths::findExecutable(x.command);
        const QFileInfo info(program);
        if (x.command.isEmpty() || program.isEmpty() || !info.exists()) {
            QString message = QStringLiteral("exec: executable %1 not found").arg(x.command)
                + QString::fromLatin1(installHintVerboseHelp);
            if (!x.installHint.isEmpty())
                message += u"\n\n" + x.installHint;
            return fail(message);
        }
        if (!info.isFile() || !info.isExecutable())
            return fail(QStringLiteral("exec: fork/exec %1: permission denied").arg(program));

        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const auto &[name, value] : x.env)
            env.insert(name, value);
        env.insert(QStringLiteral("KUBERNETES_EXEC_INFO"), QString::fromUtf8(execInfo(runInteractive)));

        timedOut = false;
        stdoutOverflow = false;
        stdoutData.clear();
        stderrTail.clear();
        stderrTruncated = false;
        ownProcessGroup = !runInteractive;
        process = new QProcess(q);
        process->setProgram(program);
        process->setArguments(x.args);
        process->setProcessEnvironment(env);
        process->setProcessChannelMode(QProcess::SeparateChannels);
        if (runInteractive) {
            process->setInputChannelMode(QProcess::ForwardedInputChannel);
        } else {
            process->setStandardInputFile(QProcess::nullDevice());
            // A group of its own, so that a timeout also ends whatever the plugin started. An
            // interactive plugin stays in ours: it must be in the terminal's foreground group.
            process->setChildProcessModifier([] { ::setpgid(0, 0); });
        }
        QObject::connect(process, &QProcess::readyReadStandardOutput, q, [this] { readStdout(); });
        QObject::connect(process, &QProcess::readyReadStandardError, q, [this] { readStderr(); });
        QObject::connect(process, &QProcess::errorOccurred, q, [this](QProcess::ProcessError error) {
            if (error == QProcess::FailedToStart)
                finishRun(-1, QProcess::CrashExit, true);
        });
        QObject::connect(process, &QProcess::finished, q,
                         [this](int exitCode, QProcess::ExitStatus status) { finishRun(exitCode, status, false); });
        auto *timer = new QTimer(process);
        timer->setSingleShot(true);
        runLimit = timeout.value_or(runInteractive ? defaultInteractiveTimeout : defaultTimeout);
        timer->setInterval(runLimit);
        QObject::connect(timer, &QTimer::timeout, q, [this] {
            timedOut = true;
            killPlugin();
        });
        qCDebug(lcKube) << "running credential plugin" << program << x.args;
        process->start();
        timer->start();
    }

    void readStdout()
    {
        const QByteArray chunk = process->readAllStandardOutput();
        if (stdoutOverflow)
            return;
        stdoutData += chunk;
        if (stdoutData.size() > maxPluginStdout) {
            stdoutOverflow = true;
            stdoutData.clear();
            killPlugin();
        }
    }

    // The plugin's stderr is the user's to read (prompts, hints), and its tail explains a failure.
    void readStderr()
    {
        const QByteArray chunk = process->readAllStandardError();
        if (chunk.isEmpty())
            return;
        std::fwrite(chunk.constData(), 1, size_t(chunk.size()), stderr);
        std::fflush(stderr);
        stderrTail += chunk;
        if (stderrTail.size() > stderrTailBytes) {
            stderrTail = stderrTail.right(stderrTailBytes);
            stderrTruncated = true;
        }
    }

    void killPlugin()
    {
        if (!process)
            return;
        const qint64 pid = process->processId();
        if (ownProcessGroup && pid > 1)
            ::kill(-pid_t(pid), SIGKILL);
        process->kill();
    }

    QString stderrSuffix() const
    {
        QString tail = QString::fromUtf8(stderrTail).trimmed();
        if (tail.isEmpty())
            return {};
        if (stderrTruncated)
            tail.prepend(QStringLiteral("..."));
        return QStringLiteral("; stderr: %1").arg(tail);
    }

    void finishRun(int exitCode, QProcess::ExitStatus status, bool failedToStart)
    {
        if (!process)
            return;
        if (!failedToStart) {
            readStdout();
            readStderr();
        }
        const QString startError = process->errorString();
        process->disconnect(q);
        process->deleteLater();
        process = nullptr;

        const QString name = user().exec->command;
        if (failedToStart)
            return fail(QStringLiteral("exec: %1").arg(startError));
        if (timedOut) {
            const auto seconds = std::chrono::duration_cast<std::chrono::duration<double>>(runLimit);
            return fail(QStringLiteral("exec: executable %1 did not finish within %2 s and was killed%3")
                            .arg(name)
                            .arg(seconds.count())
                            .arg(stderrSuffix()),
                        KubeError::Kind::Timeout);
        }
        if (stdoutOverflow) {
            return fail(QStringLiteral("exec: executable %1 wrote more than %2 bytes to stdout and was killed")
                            .arg(name)
                            .arg(maxPluginStdout));
        }
        if (status == QProcess::CrashExit)
            return fail(QStringLiteral("exec: executable %1 was killed by a signal%2").arg(name, stderrSuffix()));
        if (exitCode != 0) {
            return fail(QStringLiteral("exec: executable %1 failed with exit code %2%3")
                            .arg(name)
                            .arg(exitCode)
                            .arg(stderrSuffix()));
        }
        auto result = parseOutput(stdoutData);
        stdoutData.clear();
        if (!result)
            return deliverAll(result);
        execCredentials = *result;
        deliverAll(result);
    }

    Expected<Credentials, KubeError> parseOutput(const QByteArray &out) const
    {
        const ExecPluginConfig &x = *user().exec;
        const auto error
            = [](const QString &message) { return unexpected(authError(u"getting credentials: " + message)); };
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(out, &pe);
        if (out.trimmed().isEmpty())
            return error(QStringLiteral("decoding stdout: the plugin wrote nothing"));
        if (pe.error != QJsonParseError::NoError)
            return error(QStringLiteral("decoding stdout: %1 at offset %2").arg(pe.errorString()).arg(pe.offset));
        if (!doc.isObject())
            return error(QStringLiteral("decoding stdout: not a JSON object"));
        const QJsonObject o = doc.object();
        const QString kind = o.value(u"kind").toString();
        if (kind != u"ExecCredential") {
            return error(kind.isEmpty()
                             ? QStringLiteral("decoding stdout: Object 'Kind' is missing")
                             : QStringLiteral("decoding stdout: kind \"%1\" is not ExecCredential").arg(kind));
        }
        const QString apiVersion = o.value(u"apiVersion").toString();
        if (apiVersion != x.apiVersion) {
            return error(QStringLiteral("exec plugin is configured to use API version %1, plugin returned version %2")
                             .arg(x.apiVersion, apiVersion));
        }
        const QJsonValue statusValue = o.value(u"status");
        if (!statusValue.isObject())
            return error(QStringLiteral("exec plugin didn't return a status field"));
        const QJsonObject status = statusValue.toObject();
        for (const char *key : {"token", "clientCertificateData", "clientKeyData", "expirationTimestamp"}) {
            const QJsonValue v = status.value(QLatin1String(key));
            if (!v.isUndefined() && !v.isNull() && !v.isString())
                return error(QStringLiteral("decoding stdout: status.%1 must be a string").arg(QLatin1String(key)));
        }
        const QString token = status.value(u"token").toString();
        const QString cert = status.value(u"clientCertificateData").toString();
        const QString key = status.value(u"clientKeyData").toString();
        if (token.isEmpty() && cert.isEmpty() && key.isEmpty())
            return error(QStringLiteral("exec plugin didn't return a token or cert/key pair"));
        if (cert.isEmpty() != key.isEmpty())
            return error(QStringLiteral("exec plugin returned only certificate or key, not both"));
        Credentials c;
        const QString expiry = status.value(u"expirationTimestamp").toString();
        if (!expiry.isEmpty()) {
            c.expiry = parseRfc3339(expiry);
            if (!c.expiry.isValid()) {
                return error(QStringLiteral("decoding stdout: status.expirationTimestamp \"%1\" is not an RFC 3339 "
                                            "time")
                                 .arg(expiry));
            }
        }
        c.bearerToken = token.toUtf8();
        if (!cert.isEmpty()) {
            const auto pair = detail::parseClientCertificate(cert.toUtf8(), key.toUtf8());
            if (!pair)
                return error(QStringLiteral("failed parsing client key/certificate: %1").arg(pair.error()));
            c.clientCertificate = pair->leaf;
            c.clientChain = pair->chain;
            c.clientKey = pair->key;
        }
        return c;
    }
};

CredentialProvider::CredentialProvider(ClientConfig config, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, std::move(config)))
{ }

CredentialProvider::~CredentialProvider()
{
    if (d->process) {
        d->process->disconnect(this);
        d->killPlugin();
        d->process->waitForFinished(1000);
        delete d->process;
        d->process = nullptr;
    }
    d->deliverAll(unexpected(authError(QStringLiteral("the credential provider was destroyed while waiting for the "
                                                      "exec plugin"),
                                       KubeError::Kind::Cancelled)));
}

void CredentialProvider::fetch(QObject *context, Callback done)
{
    Q_ASSERT(context);
    if (!d->usesExec())
        return Private::deliver(context, done, d->staticCredentials());
    if (d->execCredentials && !expiresSoon(d->execCredentials->expiry))
        return Private::deliver(context, done, *d->execCredentials);
    d->waiters.append({context, std::move(done)});
    if (!d->process)
        d->startPlugin();
}

void CredentialProvider::invalidate()
{
    d->execCredentials.reset();
    d->fileTokenReadAt = -1;
}

bool CredentialProvider::canRefresh() const
{
    return d->usesExec() || (d->user().token.isEmpty() && !d->user().tokenFile.isEmpty());
}

void CredentialProvider::setInteractive(bool interactive)
{
    d->interactive = interactive;
}

void CredentialProvider::setPluginTimeout(std::chrono::milliseconds timeout)
{
    d->timeout = timeout;
}

} // namespace iterdeck::kube

// Compiled here rather than in the library's mocs_compilation.cpp, so that using this class links
// only its own meta-object.
#include "moc_credentials.cpp" // NOLINT(bugprone-suspicious-include)
