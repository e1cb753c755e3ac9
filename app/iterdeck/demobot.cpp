#include "demobot.h"

#include "bot/botservice.h"
#include "bot/crypto.h"
#include "bot/environmentmanager.h"
#include "bot/eventsink.h"
#include "bot/groupmanager.h"
#include "bot/store.h"
#include "config/teammanifestloader.h"
#include "kube/kubeclient.h"

#include <QDebug>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRandomGenerator>
#include <QThread>
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

// Everything of the demo bot, on the bot's thread: made by run(), destroyed with this object
// there (when the thread ends).
class DemoBotWorker : public QObject
{
public:
    explicit DemoBotWorker(DemoBot *owner)
        : m_owner(owner)
    { }
    ~DemoBotWorker() override { stop(); }

    void run(const DemoBot::Options &options, const QByteArray &secret)
    {
        m_secret = secret;
        QString error;
        if (!start(options, &error)) {
            stop();
            QMetaObject::invokeMethod(
                m_owner, [owner = m_owner, error] { Q_EMIT owner->failed(error); }, Qt::QueuedConnection);
            return;
        }
        QList<const QObject *> objects {this, m_bot.get(), &m_bot->server(), &m_bot->stream()};
        objects << m_bot->environments() << m_bot->groups() << m_client.get() << m_nam << m_timer;
        objects.removeAll(nullptr);
        // The owner waits for this thread before it goes: it is there when this arrives.
        QMetaObject::invokeMethod(
            m_owner,
            [owner = m_owner, url = QUrl(m_bot->server().url()), token = m_token, objects] {
                owner->m_url = url;
                owner->m_token = token;
                owner->m_objects = objects;
                Q_EMIT owner->started(url, token);
            },
            Qt::QueuedConnection);
    }

private:
    bool start(const DemoBot::Options &options, QString *error);
    void stop()
    {
        if (m_timer)
            m_timer->stop();
        // The service first (it stops serving and joins its threads), then its cluster client.
        m_bot.reset();
        m_sink.reset();
        m_client.reset();
    }
    void post(const QJsonObject &body);
    void seed();
    void nextBuild();
    void createEnvironmentIfMine(qint64 iterationId);

    DemoBot *m_owner;
    std::unique_ptr<kube::KubeClient> m_client;
    std::unique_ptr<bot::BotService> m_bot;
    std::unique_ptr<bot::EventSink> m_sink;
    QNetworkAccessManager *m_nam = nullptr;
    QTimer *m_timer = nullptr;
    QByteArray m_secret;
    QString m_token;
    QString m_user;
    int m_build = 0;
};

DemoBot::DemoBot(QObject *parent)
    : QObject(parent)
    , m_thread(new QThread(this))
    , m_worker(new DemoBotWorker(this))
{
    m_thread->setObjectName(QStringLiteral("demo-bot"));
    m_worker->moveToThread(m_thread);
    // The worker is destroyed on its own thread, as that thread ends.
    connect(
        m_thread, &QThread::finished, m_thread,
        [this] {
            delete m_worker;
            m_worker = nullptr;
        },
        Qt::DirectConnection);
}

DemoBot::~DemoBot()
{
    if (m_thread->isRunning()) {
        m_thread->quit();
        m_thread->wait();
    }
    delete m_worker; // never started: it made nothing yet
}

void DemoBot::start(const Options &options)
{
    if (m_thread->isRunning() || !m_worker)
        return;
    // The demo's webhooks are signed with a secret of this run, which the bot's hooks read from
    // the environment: set here, before the bot's thread starts.
    const QByteArray secret = QByteArray::number(QRandomGenerator::system()->generate64(), 16);
    qputenv("ITERDECK_WEBHOOK_SECRET", secret);
    m_thread->start();
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, options, secret] { worker->run(options, secret); }, Qt::QueuedConnection);
}

bool DemoBotWorker::start(const DemoBot::Options &options, QString *error)
{
    m_user = options.user;
    const QString projectDir = options.dataDir + QStringLiteral("/project");
    if (!copyProject(projectDir, error))
        return false;
    Diagnostics diag;
    auto manifest = config::TeamManifestLoader().loadFile(projectDir + QStringLiteral("/iterdeck.yaml"), diag);
    if (!manifest) {
        *error = diag.toString();
        return false;
    }
    // The demo's project file says onStart (as the bot's own demo wants); here the environments
    // of the iterations this user is in are created by the demo bot itself, and no other.
    manifest->environment.create = QStringLiteral("onDemand");
    // A client of this thread; the application's client has shown the configuration's warnings.
    kube::ClientConfig cluster = options.cluster;
    cluster.warnings.clear();
    m_client = std::make_unique<kube::KubeClient>(cluster);
    bot::BotServiceOptions service;
    service.store.dataDir = options.dataDir;
    service.environments.manifestDir = projectDir;
    service.environments.rolloutTimeoutMs = 120000;
    auto created = bot::BotService::create(*manifest, m_client.get(), service);
    if (!created) {
        *error = created.error();
        return false;
    }
    m_bot = std::move(*created);
    m_sink = std::make_unique<StartedIterations>([this](qint64 id) {
        // Not from inside the commit: the environment's creation commits events of its own.
        QTimer::singleShot(0, this, [this, id] { createEnvironmentIfMine(id); });
    });
    m_bot->server().addEventSink(m_sink.get());
    bot::BotServerOptions bo;
    bo.port = 0;
    if (!m_bot->start(bo, error))
        return false;
    auto token = m_bot->store().createToken(options.user, false);
    if (!token) {
        *error = token.error().message;
        return false;
    }
    m_token = token->secret;
    m_nam = new QNetworkAccessManager(this);
    m_timer = new QTimer(this);
    connect(m_timer, &QTimer::timeout, this, [this] { nextBuild(); });
    auto iterations = m_bot->store().iterations();
    if (iterations && iterations->isEmpty())
        seed();
    if (options.intervalMs > 0)
        m_timer->start(options.intervalMs);
    return true;
}

void DemoBotWorker::createEnvironmentIfMine(qint64 iterationId)
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

void DemoBotWorker::post(const QJsonObject &body)
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

void DemoBotWorker::seed()
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

void DemoBotWorker::nextBuild()
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
