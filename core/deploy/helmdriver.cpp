#include "helmdriver.h"

#include "logging.h"

#include <QJsonDocument>
#include <QProcess>
#include <QTemporaryFile>
#include <QTimer>

#include <memory>

namespace iterdeck::deploy {

namespace {

// Runs helm commands one after the other; the output lines become the job's progress.
class HelmJob : public DeployJob
{
public:
    struct Step
    {
        QStringList args;
        bool statusStep = false; // parse the output as `helm status -o json`
    };

    HelmJob(HelmSettings settings, QList<Step> steps, std::unique_ptr<QTemporaryFile> values, QString what,
            QObject *parent)
        : DeployJob(parent)
        , m_settings(std::move(settings))
        , m_steps(std::move(steps))
        , m_values(std::move(values))
        , m_what(std::move(what))
    {
        QTimer::singleShot(0, this, [this] { next(); });
    }

    void cancel() override
    {
        if (isFinished())
            return;
        if (m_process) {
            m_process->disconnect(this);
            m_process->kill();
        }
        finish(false, QStringLiteral("cancelled"));
    }

private:
    void next()
    {
        if (isFinished())
            return;
        if (m_steps.isEmpty()) {
            finish(true, m_summary);
            return;
        }
        const Step step = m_steps.takeFirst();
        m_process = new QProcess(this);
        m_process->setProcessChannelMode(QProcess::SeparateChannels);
        auto killer = new QTimer(m_process);
        killer->setSingleShot(true);
        connect(killer, &QTimer::timeout, m_process, [this] {
            addLine(QStringLiteral("helm ran for more than %1 s: stopped").arg(m_settings.processTimeoutMs / 1000));
            m_process->kill();
        });
        connect(m_process, &QProcess::readyReadStandardError, this, [this] {
            for (const QByteArray &l : m_process->readAllStandardError().split('\n')) {
                if (!l.trimmed().isEmpty())
                    addLine(QString::fromUtf8(l));
            }
        });
        connect(m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
            if (e == QProcess::FailedToStart)
                finish(false,
                       QStringLiteral("cannot run %1: %2 (is helm installed and on PATH?)")
                           .arg(m_settings.program, m_process->errorString()));
        });
        connect(m_process, &QProcess::finished, this, [this, step](int code, QProcess::ExitStatus status) {
            const QByteArray out = m_process->readAllStandardOutput();
            if (!step.statusStep) {
                for (const QByteArray &l : out.split('\n')) {
                    if (!l.trimmed().isEmpty())
                        addLine(QString::fromUtf8(l));
                }
            }
            m_process->deleteLater();
            m_process = nullptr;
            if (status != QProcess::NormalExit || code != 0) {
                finish(false,
                       QStringLiteral("helm %1 failed (%2)")
                           .arg(step.args.value(0),
                                status != QProcess::NormalExit ? QStringLiteral("killed")
                                                               : QStringLiteral("exit code %1").arg(code)));
                return;
            }
            if (step.statusStep) {
                const auto release = HelmDriver::parseStatus(out);
                if (!release) {
                    finish(false, QStringLiteral("helm status: ") + release.error());
                    return;
                }
                m_outcome.revision = QString::number(release->revision);
                addLine(QStringLiteral("release %1 revision %2: %3 (%4)")
                            .arg(release->name)
                            .arg(release->revision)
                            .arg(release->status, release->chart));
                if (release->status != u"deployed") {
                    finish(false,
                           QStringLiteral("release %1 is %2: %3")
                               .arg(release->name, release->status, release->description));
                    return;
                }
                m_summary = QStringLiteral("%1: release %2 revision %3 deployed (%4)")
                                .arg(m_what, release->name)
                                .arg(release->revision)
                                .arg(release->chart);
            } else if (m_summary.isEmpty()) {
                m_summary = m_what;
            }
            next();
        });
        addLine(QStringLiteral("$ %1 %2").arg(m_settings.program, step.args.join(u' ')));
        killer->start(m_settings.processTimeoutMs);
        m_process->start(m_settings.program, step.args);
    }

    HelmSettings m_settings;
    QList<Step> m_steps;
    std::unique_ptr<QTemporaryFile> m_values;
    QString m_what;
    QString m_summary;
    QProcess *m_process = nullptr;
};

} // namespace

HelmDriver::HelmDriver(HelmSettings settings)
    : m_settings(std::move(settings))
{ }

QString HelmDriver::releaseName(const DeployTarget &target) const
{
    return m_settings.release.isEmpty() ? target.component : m_settings.release;
}

QStringList HelmDriver::connectionArguments() const
{
    QStringList a;
    if (!m_settings.kubeconfig.isEmpty())
        a << QStringLiteral("--kubeconfig") << m_settings.kubeconfig;
    if (!m_settings.context.isEmpty())
        a << QStringLiteral("--kube-context") << m_settings.context;
    return a;
}

QStringList HelmDriver::upgradeArguments(const DeployTarget &target, const QString &valuesFile) const
{
    QStringList a {QStringLiteral("upgrade"), QStringLiteral("--install"),   releaseName(target),
                   m_settings.chart,          QStringLiteral("--namespace"), target.ns};
    if (!target.chartVersion.isEmpty())
        a << QStringLiteral("--version") << target.chartVersion;
    if (!valuesFile.isEmpty())
        a << QStringLiteral("-f") << valuesFile;
    // --set-string: a tag such as 1.10 or a digest must stay a string, never a number.
    if (!target.image.isEmpty())
        a << QStringLiteral("--set-string") << QStringLiteral("image.repository=") + target.image;
    if (!target.tag.isEmpty())
        a << QStringLiteral("--set-string") << QStringLiteral("image.tag=") + target.tag;
    if (!target.digest.isEmpty())
        a << QStringLiteral("--set-string") << QStringLiteral("image.digest=") + target.digest;
    if (!target.domain.isEmpty())
        a << QStringLiteral("--set-string") << QStringLiteral("domain=") + target.domain;
    if (m_settings.wait)
        a << QStringLiteral("--wait") << QStringLiteral("--timeout") << m_settings.timeout;
    if (m_settings.atomic)
        a << QStringLiteral("--atomic");
    return a << connectionArguments();
}

QStringList HelmDriver::statusArguments(const DeployTarget &target) const
{
    return QStringList {QStringLiteral("status"), releaseName(target),   QStringLiteral("--namespace"), target.ns,
                        QStringLiteral("-o"),     QStringLiteral("json")}
    << connectionArguments();
}

QStringList HelmDriver::uninstallArguments(const DeployTarget &target) const
{
    QStringList a {QStringLiteral("uninstall"), releaseName(target), QStringLiteral("--namespace"), target.ns};
    if (m_settings.wait)
        a << QStringLiteral("--wait") << QStringLiteral("--timeout") << m_settings.timeout;
    return a << connectionArguments();
}

Expected<HelmRelease, QString> HelmDriver::parseStatus(const QByteArray &json)
{
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &err);
    if (err.error != QJsonParseError::NoError)
        return unexpected(QStringLiteral("not JSON (%1 at offset %2)").arg(err.errorString()).arg(err.offset));
    if (!doc.isObject())
        return unexpected(QStringLiteral("expected a JSON object, not %1")
                              .arg(doc.isArray() ? QStringLiteral("an array") : QStringLiteral("a scalar")));
    const QJsonObject o = doc.object();
    HelmRelease r;
    r.name = o.value(QLatin1String("name")).toString();
    r.ns = o.value(QLatin1String("namespace")).toString();
    r.revision = o.value(QLatin1String("version")).toInt();
    const QJsonObject info = o.value(QLatin1String("info")).toObject();
    r.status = info.value(QLatin1String("status")).toString();
    r.description = info.value(QLatin1String("description")).toString();
    r.lastDeployed = QDateTime::fromString(info.value(QLatin1String("last_deployed")).toString(), Qt::ISODateWithMs);
    const QJsonObject meta = o.value(QLatin1String("chart")).toObject().value(QLatin1String("metadata")).toObject();
    r.chart = meta.value(QLatin1String("name")).toString() + u'-' + meta.value(QLatin1String("version")).toString();
    r.appVersion = meta.value(QLatin1String("appVersion")).toString();
    if (r.name.isEmpty())
        return unexpected(QStringLiteral("the release has no name"));
    if (r.status.isEmpty())
        return unexpected(QStringLiteral("the release %1 has no info.status").arg(r.name));
    if (r.revision <= 0)
        return unexpected(QStringLiteral("the release %1 has no version (revision)").arg(r.name));
    return r;
}

DeployJob *HelmDriver::deploy(const DeployTarget &target, QObject *parent)
{
    auto values = std::make_unique<QTemporaryFile>(QStringLiteral("iterdeck-values-XXXXXX.json"));
    QString valuesPath;
    if (!target.values.isEmpty() && values->open()) {
        values->write(QJsonDocument(target.values).toJson());
        values->flush();
        valuesPath = values->fileName();
    }
    QList<HelmJob::Step> steps {{upgradeArguments(target, valuesPath), false}, {statusArguments(target), true}};
    return new HelmJob(m_settings, steps, std::move(values),
                       QStringLiteral("%1 deployed to %2").arg(target.component, target.ns), parent);
}

DeployJob *HelmDriver::uninstall(const DeployTarget &target, QObject *parent)
{
    return new HelmJob(m_settings, {{uninstallArguments(target), false}}, nullptr,
                       QStringLiteral("%1 removed from %2").arg(target.component, target.ns), parent);
}

} // namespace iterdeck::deploy
