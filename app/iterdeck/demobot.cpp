#include "demobot.h"

#include "bot/botservice.h"
#include "bot/crypto.h"
#include "bot/environmentmanager.h"
#include "bot/eventsink.h"
#include "bot/store.h"
#include "config/teammanifestloader.h"

#include <QDebug>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRandomGenerator>
#include <QTimer>

namespace iterdeck::app {

namespace {

// The demo project from the resources into `dir` (the manifests driver reads real files).
bool copyProject(const QString &dir, QString *error)
{
    QDirIterator it(QStringLiteral(":/demoproject"), QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString from = it.next();
        const QString to = dir + from.mid(QStringLiteral(":/demoproject").size());
        QDir().mkpath(QFileInfo(to).absolutePath());
        QFile::remove(to);
        if (!QFile::copy(from, to)) {
            *error = DemoBot::tr("cannot write %1").arg(to);
            return false;
        }
        QFile::setPermissions(to, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    }
    return true;
}

// Started iterations, handed to the demo bot after they are committed.
class StartedIterations : public bot::EventSink
{
public:
    explicit StartedIterations(std::function<void(qint64)> started)
        : m_started(std::move(started))
    { }
    void eventsCommitted(const QList<model::Event> &events) override
    {
        for (const model::Event &e : events) {
            if (e.type == u"iteration.started")
                m_started(e.iterationId);
        }
    }

private:
    std::function<void(qint64)> m_started;
};

} // namespace

DemoBot::DemoBot(QObject *parent)
    : QObject(parent)
    , m_nam(new QNetworkAccessManager(this))
    , m_timer(new QTimer(this))
{
    connect(m_timer, &QTimer::timeout, this, &DemoBot::nextBuild);
}

DemoBot::~DemoBot()
{
    m_timer->stop();
    m_bot.reset();
    m_sink.reset();
}

bool DemoBot::start(kube::KubeClient *client, const QString &dataDir, const QString &user, int intervalMs,
                    QString *error)
{
    m_user = user;
    const QString projectDir = dataDir + QStringLiteral("/project");
    if (!copyProject(projectDir, error))
        return false;
    // The demo's webhooks are signed with a secret of this run.
    m_secret = QByteArray::number(QRandomGenerator::system()->generate64(), 16);
    qputenv("ITERDECK_WEBHOOK_SECRET", m_secret);
    Diagnostics diag;
    auto manifest = config::TeamManifestLoader().loadFile(projectDir + QStringLiteral("/iterdeck.yaml"), diag);
    if (!manifest) {
        *error = diag.toString();
        return false;
    }
    // The demo's project file says onStart (as the bot's own demo wants); here the environments
    // of the iterations this user is in are created by the demo bot itself, and no other.
    manifest->environment.create = QStringLiteral("onDemand");
    bot::BotServiceOptions options;
    options.store.dataDir = dataDir;
    options.environments.manifestDir = projectDir;
    options.environments.rolloutTimeoutMs = 120000;
    auto service = bot::BotService::create(*manifest, client, options);
    if (!service) {
        *error = service.error();
        return false;
    }
    m_bot = std::move(*service);
    m_sink = std::make_unique<StartedIterations>([this](qint64 id) {
        // Not from inside the commit: the environment's creation commits events of its own.
        QTimer::singleShot(0, this, [this, id] { createEnvironmentIfMine(id); });
    });
    m_bot->server().addEventSink(m_sink.get());
    bot::BotServerOptions bo;
    bo.port = 0;
    if (!m_bot->start(bo, error))
        return false;
    auto token = m_bot->store().createToken(user, false);
    if (!token) {
        *error = token.error().message;
        return false;
    }
    m_token = token->secret;
    auto iterations = m_bot->store().iterations();
    if (iterations && iterations->isEmpty())
        seed();
    if (intervalMs > 0)
        m_timer->start(intervalMs);
    return true;
}

void DemoBot::createEnvironmentIfMine(qint64 iterationId)
{
    if (!m_bot)
        return;
    const auto iterations = m_bot->store().iterations();
    if (!iterations)
        return;
    for (const model::Iteration &it : *iterations) {
        if (it.id != iterationId || !it.members.contains(m_user))
            continue;
        if (auto r = m_bot->environments()->createEnvironment(iterationId); !r)
            qWarning().noquote() << "demo: the environment of" << it.name << "was not created:" << r.error();
    }
}

QUrl DemoBot::url() const
{
    return m_bot ? QUrl(m_bot->server().url()) : QUrl();
}

void DemoBot::post(const QJsonObject &body)
{
    QJsonObject b = body;
    b.insert(QStringLiteral("id"),
             QStringLiteral("demo-%1-%2")
                 .arg(QDateTime::currentMSecsSinceEpoch())
                 .arg(QRandomGenerator::global()->generate()));
    const QByteArray bytes = QJsonDocument(b).toJson(QJsonDocument::Compact);
    QNetworkRequest req(QUrl(m_bot->server().url() + QStringLiteral("/hooks/generic")));
    req.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    req.setRawHeader("X-Iterdeck-Signature", "sha256=" + bot::hmacSha256(m_secret, bytes).toHex());
    QNetworkReply *reply = m_nam->post(req, bytes);
    connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
}

void DemoBot::seed()
{
    auto artifact = [this](const QString &component, const QString &branch, const QString &tag, int build,
                           const QString &commit) {
        post({{QStringLiteral("type"), QStringLiteral("artifact.published")},
              {QStringLiteral("artifact"),
               QJsonObject {{QStringLiteral("component"), component},
                            {QStringLiteral("branch"), branch},
                            {QStringLiteral("tag"), tag},
                            {QStringLiteral("build"), QString::number(build)},
                            {QStringLiteral("commit"), commit}}}});
    };
    // Builds first, so that the environment deploys them at once.
    artifact(QStringLiteral("web"), QStringLiteral("main"), QStringLiteral("1.0"), 101, QStringLiteral("3f2a9c1"));
    artifact(QStringLiteral("worker"), QStringLiteral("main"), QStringLiteral("1.0"), 57, QStringLiteral("b81d0e4"));
    artifact(QStringLiteral("web"), QStringLiteral("feature/login"), QStringLiteral("1.1"), 102,
             QStringLiteral("c0ffee7"));
    post({{QStringLiteral("type"), QStringLiteral("iteration.started")},
          {QStringLiteral("iteration"),
           QJsonObject {
               {QStringLiteral("id"), QStringLiteral("sprint-1")},
               {QStringLiteral("name"), QStringLiteral("Sprint 1")},
               {QStringLiteral("members"), QJsonArray {m_user, QStringLiteral("alice"), QStringLiteral("bob")}}}}});
    // Someone else's iteration: this user does not see it.
    post({{QStringLiteral("type"), QStringLiteral("iteration.started")},
          {QStringLiteral("iteration"),
           QJsonObject {{QStringLiteral("id"), QStringLiteral("hotfix-7")},
                        {QStringLiteral("name"), QStringLiteral("Hotfix 7")},
                        {QStringLiteral("members"), QJsonArray {QStringLiteral("carol")}}}}});
    m_build = 102;
}

void DemoBot::nextBuild()
{
    static const char *tags[] = {"1.0", "1.1", "1.2"};
    ++m_build;
    post({{QStringLiteral("type"), QStringLiteral("artifact.published")},
          {QStringLiteral("artifact"),
           QJsonObject {
               {QStringLiteral("component"), QStringLiteral("web")},
               {QStringLiteral("branch"), QStringLiteral("main")},
               {QStringLiteral("tag"), QLatin1String(tags[m_build % 3])},
               {QStringLiteral("build"), QString::number(m_build)},
               {QStringLiteral("commit"), QString::number(QRandomGenerator::global()->generate() & 0xfffffff, 16)}}}});
}

} // namespace iterdeck::app
