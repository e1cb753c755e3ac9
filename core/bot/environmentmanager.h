#pragma once
// The environment manager: one test environment (a namespace and a domain) per iteration, each
// component deployed from its selection, redeployed when a followed branch gets a new artifact,
// and removed after the iteration ends. Everything it decides is stored and logged as events.
//
// - Creating: namespace and domain from the manifest's templates; the namespace is labelled
//   with project and iteration and applied server-side (so repeating it is harmless); every
//   component follows its default branch; a component with no artifact yet is "waiting for a
//   build" until one arrives.
// - Deploying: one deploy at a time per environment, the rest queued per component; artifacts
//   arriving within `coalesceMs` of each other (a burst) are deployed once, with the newest.
// - Cleaning up: an iteration closed at T is cleaned up at T + the grace period (re-armed from
//   the store at start(), so a restart keeps it); a reopen before then cancels it.
#include "common/expected.h"
#include "eventsink.h"
#include "model/teammanifest.h"
#include "store.h"

#include <QHash>
#include <QObject>
#include <QPointer>
#include <QSet>

#include <map>
#include <memory>

class QTimer;

namespace iterdeck::kube {
class KubeClient;
}
namespace iterdeck::deploy {
class DeployDriver;
class DeployJob;
struct DeployTarget;
} // namespace iterdeck::deploy

namespace iterdeck::bot {

// Labels of an environment's namespace.
inline const QString kProjectLabel = QStringLiteral("iterdeck.io/project");
inline const QString kIterationLabel = QStringLiteral("iterdeck.io/iteration");

struct EnvironmentManagerOptions
{
    QString manifestDir; // relative `deploy.path`s are resolved against it
    int coalesceMs = 2000; // how long a new artifact waits for the rest of its burst
    int rolloutTimeoutMs = 300000; // manifests driver: rollout wait (0: do not wait)
    int outputTailLines = 20; // lines of the driver's output in a deploy.failed event
};

class EnvironmentManager : public QObject, public EventSink
{
    Q_OBJECT

public:
    // `store` and `client` are not owned and must outlive the manager.
    EnvironmentManager(model::TeamManifest manifest, Store *store, kube::KubeClient *client,
                       EnvironmentManagerOptions options, QObject *parent = nullptr);
    ~EnvironmentManager() override;

    // Picks up what the store says: re-arms cleanup timers of closed iterations, finishes
    // deletions and creations a restart interrupted. Call once, before events arrive.
    void start();

    // Reacts to iteration.started / iteration.closed / artifact.published.
    void eventsCommitted(const QList<model::Event> &events) override;

    // Creates the iteration's environment (or returns the one it has); the namespace and the
    // deploys follow asynchronously. An error when the iteration is unknown or closed.
    Expected<model::Environment, QString> createEnvironment(qint64 iterationId);
    // Stores the selection and deploys it.
    Expected<model::Selection, QString> follow(qint64 environmentId, const QString &component, const QString &branch,
                                               const QString &by);
    Expected<model::Selection, QString> pin(qint64 environmentId, const QString &component, qint64 artifactId,
                                            const QString &by);
    // Deploys the component's selection again.
    Expected<bool, QString> redeploy(qint64 environmentId, const QString &component);
    // Deletes the environment now, as its cleanup would (uninstall, namespace; the iteration may be
    // open). `by` goes into the environment.deleting event.
    Expected<bool, QString> destroyEnvironment(qint64 environmentId, const QString &by);

    // True when nothing is being created, deployed, queued or deleted.
    bool isIdle() const;
    // Whether a deploy of the component runs in the environment right now.
    bool isDeploying(qint64 environmentId, const QString &component) const;

Q_SIGNALS:
    // The manager's own events, after they were committed.
    void eventsAppended(const QList<model::Event> &events);
    // Emitted when the last running or queued work of an environment ended.
    void environmentIdle(qint64 environmentId);

private:
    struct Env
    {
        model::Environment env;
        QString iterationKey;
        QString iterationSlug;
        QStringList pending; // components to deploy, in order, each once
        QPointer<deploy::DeployJob> job;
        QString jobComponent;
        QTimer *coalesce = nullptr;
        QTimer *cleanup = nullptr;
        QDateTime cleanupDue;
        QSet<QString> failed; // components whose last deploy failed
        bool provisioning = false; // the namespace is being applied
        bool deleting = false;
        QStringList uninstallLeft;
    };

    Env *envFor(qint64 environmentId);
    Env *envOfIteration(qint64 iterationId);
    Env &track(const model::Environment &environment, const model::Iteration &iteration);
    std::optional<model::Iteration> iterationById(qint64 id);

    void onIterationStarted(qint64 iterationId);
    void onIterationClosed(qint64 iterationId);
    void onArtifact(const model::Artifact &artifact);

    Expected<model::Selection, QString> applySelection(const Env &env, const model::Selection &selection);
    void provision(qint64 environmentId);
    void enqueue(qint64 environmentId, const QString &component, int delayMs);
    void runNext(qint64 environmentId);
    void deployFinished(qint64 environmentId, deploy::DeployJob *job);
    void settle(qint64 environmentId);

    void scheduleCleanup(qint64 environmentId, const QDateTime &due);
    void cancelCleanup(qint64 environmentId, bool logEvent);
    void cleanupDue(qint64 environmentId);
    void beginDeletion(qint64 environmentId, const QString &by);
    void continueDeletion(qint64 environmentId);
    void deleteNamespace(qint64 environmentId);

    deploy::DeployDriver *driverFor(const model::ComponentSpec &component, QString *error);
    deploy::DeployTarget targetFor(const Env &env, const model::ComponentSpec &component) const;

    // Appends events (and sets the environment's state when `state` is not empty) in one
    // transaction; then tells eventsAppended.
    void record(QList<model::Event> events, qint64 environmentId = 0, const QString &state = {});
    model::Event event(const QString &type, const Env &env, QJsonObject payload = {}) const;

    model::TeamManifest m_manifest;
    Store *m_store;
    kube::KubeClient *m_client;
    EnvironmentManagerOptions m_options;
    std::map<qint64, Env> m_envs; // stable addresses
    std::map<QString, std::unique_ptr<deploy::DeployDriver>> m_drivers;
};

} // namespace iterdeck::bot
