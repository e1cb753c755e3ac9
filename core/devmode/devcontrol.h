#pragma once
// Dev mode seen from outside a session: which workloads are in dev mode (and whose), ending
// dev mode with an exact restore, resetting everything a user left on, and finding the dev pod
// for a shell, a command or the logs. All of it reads the cluster only, so it works after a
// crash and even when the dev pod cannot start.
#include "kube/kubeerror.h"
#include "workload.h"

#include <QJsonObject>
#include <QObject>

#include <functional>

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::devmode {

struct DevRecord
{
    QString ns;
    WorkloadRef workload; // the original
    QString devName; // the workload in dev mode: the original (replace) or the copy (duplicate)
    QString mode; // replace | duplicate
    QString owner; // user@machine
    QString userLabel;
    QString since;
    QString configSource;
    QString container, image, workDir, localDir;
    QJsonObject commands; // run, debug, build, shell, remoteDebugPort
    QString selector; // of the dev pods
    QString pod; // a running dev pod, when locate() found one
};

struct EndResult
{
    QString ns;
    QString workload; // deploy/NAME
    QString mode;
    QStringList restoredHpas;
    QString deletedCopy;
    // Where the restored spec differs from the saved original (empty: identical).
    QStringList differences;
    QString error;
    bool notInDevMode = false; // the error: there was nothing to end
};

// Workloads in dev mode in `ns` (empty: every namespace), only `owner`'s when given.
void listDevWorkloads(kube::KubeClient *client, QObject *context, const QString &ns, const Owner *owner,
                      std::function<void(const QList<DevRecord> &records, const kube::KubeError &error)> done);

// Ends dev mode for `workload`: HPAs restored, then the workload restored by a JSON patch
// (same object, same UID; guarded by its resourceVersion, retried on a conflict) and compared
// with the saved original; in duplicate mode the copy is deleted. Another user's dev mode is
// ended only with `force`.
void endDevMode(kube::KubeClient *client, QObject *context, const QString &ns, const WorkloadRef &workload,
                const Owner &owner, bool force, std::function<void(const EndResult &result)> done);

// Ends every dev mode `owner` has in `ns` (empty: every namespace), one after the other.
void resetDevMode(kube::KubeClient *client, QObject *context, const QString &ns, const Owner &owner,
                  std::function<void(const QList<EndResult> &results, const kube::KubeError &error)> done);

// The dev record of `workload` for `owner` (replace mode, or the owner's copy) with its running
// dev pod; `error` when it is not in dev mode or no dev pod runs.
void locateDevPod(kube::KubeClient *client, QObject *context, const QString &ns, const WorkloadRef &workload,
                  const Owner &owner, std::function<void(const DevRecord &record, const QString &error)> done);

} // namespace iterdeck::devmode

Q_DECLARE_METATYPE(iterdeck::devmode::DevRecord)
