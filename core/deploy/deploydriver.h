#pragma once
// The deploy driver interface: install or update one component in one environment, or remove
// it. Each call is a job that reports progress lines and finishes exactly once.
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QStringList>

namespace iterdeck::deploy {

// What to deploy where.
struct DeployTarget
{
    QString project;
    QString iteration;
    QString ns; // the environment's namespace
    QString domain; // the environment's domain (may be empty)
    QString component;
    QString image; // repository, e.g. registry.example.com/team/api
    QString tag; // image tag (may be empty when a digest pins it)
    QString digest; // sha256:... (may be empty)
    QString chartVersion; // helm: the chart version (empty: the driver's policy)
    QJsonObject values; // the component's values for the environment's class
    QMap<QString, QString> extra; // further template variables

    // repository:tag, repository@digest, or repository:tag@digest.
    QString imageRef() const;
    // The variables a manifest template may use: namespace, domain, component, project,
    // iteration, image, imageRepository, tag, digest, chartVersion, values.KEY (flattened), extra.
    QHash<QString, QString> variables() const;
};

struct DeployOutcome
{
    bool ok = false;
    QString summary; // one line: "3 objects applied, 1 pruned, rolled out" / the failure
    QStringList output; // the driver's lines, last ones kept (at most 200)
    QStringList applied; // kind/name
    QStringList pruned;
    QString revision; // helm: the release revision
};

class DeployJob : public QObject
{
    Q_OBJECT
public:
    explicit DeployJob(QObject *parent = nullptr)
        : QObject(parent)
    { }
    const DeployOutcome &outcome() const { return m_outcome; }
    bool isFinished() const { return m_finished; }
    // Stops what is running; finished() follows with ok = false.
    virtual void cancel() = 0;

Q_SIGNALS:
    void progress(const QString &line);
    void finished();

protected:
    void addLine(const QString &line)
    {
        m_outcome.output.append(line);
        while (m_outcome.output.size() > 200)
            m_outcome.output.removeFirst();
        Q_EMIT progress(line);
    }
    void finish(bool ok, const QString &summary)
    {
        if (m_finished)
            return;
        m_finished = true;
        m_outcome.ok = ok;
        m_outcome.summary = summary;
        Q_EMIT finished();
    }
    DeployOutcome m_outcome;

private:
    bool m_finished = false;
};

class DeployDriver
{
public:
    virtual ~DeployDriver() = default;
    virtual QString name() const = 0;
    // The job is owned by `parent`; it starts at once and finishes later (never inside the call).
    virtual DeployJob *deploy(const DeployTarget &target, QObject *parent) = 0;
    virtual DeployJob *uninstall(const DeployTarget &target, QObject *parent) = 0;
};

} // namespace iterdeck::deploy
