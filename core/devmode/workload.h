#pragma once
// What dev mode does to a workload, as pure functions on its JSON: the saved original, the
// replace-mode spec, the duplicate copy, the JSON patches that enter and restore, and the
// comparison after a restore. No I/O here; DevSession and DevControl send the results.
#include "model/devconfig.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <optional>

namespace iterdeck::devmode {

// The annotations and labels that record dev mode on the cluster. They are the only state:
// whoever looks (the CLI after a crash, the desktop app, another user) reads them there.
namespace keys {
inline constexpr auto prefix = "dev.iterdeck.io/";
inline const QString original = QStringLiteral("dev.iterdeck.io/original"); // the cleaned original, JSON
inline const QString owner = QStringLiteral("dev.iterdeck.io/owner"); // user@machine
inline const QString user = QStringLiteral("dev.iterdeck.io/user"); // label: the user, label-safe
inline const QString since = QStringLiteral("dev.iterdeck.io/since"); // RFC 3339
inline const QString mode = QStringLiteral("dev.iterdeck.io/mode"); // replace | duplicate
inline const QString container = QStringLiteral("dev.iterdeck.io/container");
inline const QString image = QStringLiteral("dev.iterdeck.io/image");
inline const QString workDir = QStringLiteral("dev.iterdeck.io/work-dir");
inline const QString configSource = QStringLiteral("dev.iterdeck.io/config-source");
inline const QString localDir = QStringLiteral("dev.iterdeck.io/local-dir");
inline const QString duplicateOf = QStringLiteral("dev.iterdeck.io/duplicate-of"); // label on a copy
inline const QString devContainer = QStringLiteral("dev.iterdeck.io/dev-container"); // pod template
inline const QString hpaOriginal = QStringLiteral("dev.iterdeck.io/hpa-original"); // {minReplicas, maxReplicas}
inline const QString hpaTarget = QStringLiteral("dev.iterdeck.io/hpa-target"); // deploy/NAME
inline const QString workDirVolume = QStringLiteral("iterdeck-workdir");
} // namespace keys

enum class WorkloadKind { Deployment, StatefulSet };

struct WorkloadRef
{
    WorkloadKind kind = WorkloadKind::Deployment;
    QString name;

    QString resource() const; // deployments | statefulsets
    QString shortName() const; // deploy/NAME | sts/NAME
    QString kindName() const; // Deployment | StatefulSet

    // deploy/NAME, deployment/NAME, deployments/NAME, deployment.apps/NAME, sts/NAME, statefulset/NAME...
    // Other kinds (daemonset, job, pod, ...) are refused with "not supported yet"; a bare name too.
    static std::optional<WorkloadRef> parse(const QString &text, QString *error);
};

// The identity written as the owner: who and on which machine.
struct Owner
{
    QString user; // as typed: the login name
    QString machine;
    QString display() const { return user + QLatin1Char('@') + machine; }
    QString label() const; // user as a label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends
    static Owner current();
};

// What the dev container becomes: the config's container dev settings, with command-line overrides.
struct DevSpec
{
    WorkloadKind kind = WorkloadKind::Deployment;
    QString container; // the target container's name (resolved)
    QString image; // the dev image (required)
    model::ContainerDevConfig dev; // workDir, env, resources, persistentVolumeDirs, ...
    QList<model::EnvVar> extraEnv; // from envFiles, read by the caller
    // PVC names for persistentVolumeDirs, by path (the caller finds or creates them).
    QHash<QString, QString> claims;
};

// The original as it is saved: without status, managedFields, resourceVersion, uid, generation,
// creationTimestamp, kubectl's last-applied configuration, and without our own keys.
QJsonObject cleanOriginal(const QJsonObject &live);

// The containers of a workload's pod template, by name.
QStringList containerNames(const QJsonObject &workload);

// The replace-mode spec: dev image, keep-alive command, workingDir, env, resources, probes
// removed from every container, replicas 1, Recreate (Deployment), the workDir volume and
// persistent dirs, the dev-container marker on the pod template. `error` when the container
// is missing.
std::optional<QJsonObject> devSpec(const QJsonObject &spec, const DevSpec &dev, QString *error);

// The JSON patch (RFC 6902) entering replace mode: guarded by the live resourceVersion, it
// replaces the spec and adds the annotations (the original first among them) and the user label.
QJsonArray enterPatch(const QJsonObject &live, const QJsonObject &newSpec, const QJsonObject &annotations,
                      const QJsonObject &labels);

// The JSON patch restoring the saved original over the live object: spec, labels, annotations.
QJsonArray restorePatch(const QJsonObject &live, const QJsonObject &original);

// The duplicate-mode copy: named `<name>-dev-<user>`, its labels and selector replaced by
// dev.iterdeck.io/duplicate-of and dev.iterdeck.io/user so that no Service selects its pods.
QJsonObject duplicateOf(const QJsonObject &original, const Owner &owner, const QJsonObject &newSpec,
                        const QJsonObject &annotations);
QString duplicateName(const QString &name, const Owner &owner);

// matchLabels (and matchExpressions) of a workload's selector, as a label selector string.
QString selectorString(const QJsonObject &workload);

// The paths (JSON-pointer-like, e.g. "spec.template.spec.containers[0].image") where `b`
// differs from `a`, at most `limit`.
QStringList differences(const QJsonValue &a, const QJsonValue &b, int limit = 50);

// True when the pod runs the dev container (the marker and the dev image), is Running with
// that container running, and is not being deleted.
bool isReadyDevPod(const QJsonObject &pod, const QString &container, const QString &image);
// A reason to give up waiting (ImagePullBackOff, CrashLoopBackOff, ...), or empty.
QString devPodProblem(const QJsonObject &pod, const QString &container);

} // namespace iterdeck::devmode
