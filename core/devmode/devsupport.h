#pragma once
// The steps dev mode is made of, each an asynchronous call that reports once: a command run
// in a container with its output captured, an RBAC question, the dev config from its
// sources, the agent's installation.
#include "kube/exec.h"
#include "kube/kubeclient.h"
#include "kube/kubeerror.h"
#include "model/devconfig.h"

#include <QJsonObject>
#include <QObject>

#include <functional>

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::devmode {

enum class ConfigSource;
enum class WorkloadKind;

// Where the objects dev mode touches live.
kube::ResourceRef workloadResource(WorkloadKind kind);
kube::ResourceRef hpaResource();

struct ExecResult
{
    int exitCode = -1;
    QByteArray out, err;
    kube::KubeError error; // the stream failed (kind None when the command ran, whatever its exit code)
};
// Runs `options.command`, sends `input` on stdin (then EOF) when not empty, and collects the
// output. `done` runs once, in `context`'s thread, unless `context` is gone.
void execCapture(kube::KubeClient *client, QObject *context, kube::ExecOptions options, const QByteArray &input,
                 std::function<void(const ExecResult &)> done);

// SelfSubjectAccessReview: may the current user do this? `reason` says who may not, as kubectl
// would put it ("cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"x\"").
struct AccessQuestion
{
    QString verb, group, resource, subresource, name;
};
void canI(kube::KubeClient *client, QObject *context, const QString &ns, const QList<AccessQuestion> &questions,
          std::function<void(const QStringList &denied, const kube::KubeError &error)> done);

// The dev config for a workload, from the first source that has one: the local file
// (`configFile`, else LOCAL/.nocalhost/config.yaml), the workload's `dev.nocalhost`
// annotation, the ConfigMap `dev.nocalhost.config.<app>`; else Nocalhost's defaults.
struct ResolvedConfig
{
    ConfigSource source {};
    QString origin; // the file, "annotation dev.nocalhost on deploy/x", "configmap/dev.nocalhost.config.app"
    QString container; // the container named by the service config (may be empty)
    model::ContainerDevConfig dev;
    QStringList warnings;
};
void resolveConfig(kube::KubeClient *client, QObject *context, const QString &ns, const QJsonObject &workload,
                   const QString &localDir, const QString &configFile, const QString &app,
                   std::function<void(const ResolvedConfig &config, const QString &error)> done);

// Installs the agent at /tmp/.iterdeck/iterdeck-agent-<hash> in the container unless the same
// binary is already there: uploaded over exec stdin with `cat` (then `dd`, then `head -c` for
// images without cat), then checked by its own `checksum` command. `done` gets the path.
void installAgent(kube::KubeClient *client, QObject *context, const QString &ns, const QString &pod,
                  const QString &container, const QString &localAgent,
                  std::function<void(const QString &remotePath, bool uploaded, const QString &error)> done);

// The default agent binary: ITERDECK_AGENT, else iterdeck-agent next to this program (or in
// the build tree's app/iterdeck-agent), else on PATH.
QString defaultAgentPath();

} // namespace iterdeck::devmode
