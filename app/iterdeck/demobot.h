#pragma once
// The bot of `iterdeck --sandbox`, in this process: the demo project (resources/demo) on the
// sandbox cluster, a SQLite store in the demo's data folder, a desktop token for this user, and
// a stream of demo webhooks through the bot's real HTTP endpoint (an iteration that has this
// user as a member, one that has not, builds of two branches, then a new build now and then).
// Environments cost pods on the demo cluster: only the iterations this user is a member of get
// one (created when they start); the others stay without, as with `create: onDemand`.
#include <QObject>
#include <QUrl>

#include <memory>

class QNetworkAccessManager;
class QTimer;

namespace iterdeck::kube {
class KubeClient;
}
namespace iterdeck::bot {
class BotService;
class EventSink;
} // namespace iterdeck::bot

namespace iterdeck::app {

class DemoBot : public QObject
{
    Q_OBJECT
public:
    explicit DemoBot(QObject *parent = nullptr);
    ~DemoBot() override;

    // Starts serving on 127.0.0.1 (any free port); false with *error when it cannot.
    // `intervalMs`: how often a new demo build arrives (0: never).
    bool start(kube::KubeClient *client, const QString &dataDir, const QString &user, int intervalMs, QString *error);
    QUrl url() const;
    QString token() const { return m_token; }

private:
    void post(const QJsonObject &body);
    void seed();
    void nextBuild();
    void createEnvironmentIfMine(qint64 iterationId);

    std::unique_ptr<bot::BotService> m_bot;
    std::unique_ptr<bot::EventSink> m_sink;
    QNetworkAccessManager *m_nam = nullptr;
    QTimer *m_timer = nullptr;
    QByteArray m_secret;
    QString m_token;
    QString m_user;
    int m_build = 0;
};

} // namespace iterdeck::app
