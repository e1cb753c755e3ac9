#pragma once
// The sandbox's kubelet: runs each pod's containers as local processes, each in its own root
// directory made from its image (under bubblewrap when available), and reports truthful status.
// Single-threaded: everything runs on the io_context given to the constructor, and every
// callback is invoked from it (posted, never from inside the call that caused it).
//
// Files: dataDir/pods/<uid>/ holds pod.json (the Pod as last started), podip.txt, _volumes/<name>/
// (emptyDir, configMap, secret, downwardAPI, projected) and per container <name>/root/ (its root
// directory) and <name>/<restart>.log (its output, CRI format: "<RFC3339Nano> stdout F text",
// long lines split into P records; restart N = restartCount N).
//
// Roots: for every (re)start the image's template is copied into a fresh root, which is writable
// (a restarted container starts from its image again, as in Kubernetes). /tmp, /root, /var/tmp
// and the working directory are plain directories of it.
//
// Isolation "bubblewrap" (when `bwrap` works here): the root is bound as "/" with new PID, UTS
// (hostname = pod) and mount namespaces, but the host's network. The host's /usr (and the /bin,
// /lib* links to it) is bound read-only; /etc is the root's own directory: the image's files,
// a generated /etc/hosts and /etc/hostname, and links to the host's entries (bound read-only at
// /run/host/etc), so volumes can be mounted anywhere under it. /proc and /dev are fresh. Volumes
// are bound at their mountPath (read-only for configMap, secret, downwardAPI, projected and
// readOnly mounts). bwrap --die-with-parent ends everything if the server dies.
// Isolation "plain" (fallback): the process runs with its working directory inside the root and
// HOME/TMPDIR/ITERDECK_SANDBOX_ROOT pointing into it, but sees the host's file system and
// processes. Mounts are not possible: each mountPath becomes a link inside the root to the
// volume, reachable through paths relative to the working directory ("etc/app/x" from "/").
// A command given by absolute path is looked up in the root first.
//
// Network: each pod gets its own loopback address (127.1.0.1 upward, round robin so a released
// address is not reused at once; kept across server restarts) in POD_IP and status.podIP; all
// pods share the host's ports, so servers should bind $POD_IP. HOSTNAME is the pod's name.
//
// Exec (and exec probes): a new process with the same root, binds, environment and working
// directory. Under bubblewrap it gets its own PID namespace: it shares the container's files
// (including /tmp) but does not see the container's processes. It is killed when the container
// ends. With a tty it gets a real pseudo terminal (TERM=xterm unless set); closeStdin then
// sends ^D.
//
// Stopping: SIGTERM to the container's processes (under bubblewrap every process of its PID
// namespace except bwrap's init, which exits with the command; plain: its process group),
// SIGKILL after the grace period. When the main process exits, its process group goes with it.
//
// Simplified compared with a kubelet: no resource limits or cgroups, no securityContext (the
// processes run as the server's user), no lifecycle hooks, no container stdin/tty (attach), no
// service environment variables or cluster DNS, grpc and HTTPS probes fail, the service account
// token file is empty, configMap/secret volumes are refreshed at container starts only, and a
// changed container spec in startPod for a known pod is ignored (pods are immutable here).
#include "sandbox/json.h"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace iterdeck::sandbox {

// One image of the catalog (YAML: a list or map of image reference -> entry).
struct ImageEntry
{
    std::string reference; // "iterdeck/sandbox-base:latest"
    std::string rootTemplate; // directory copied as the (writable) root; empty = host tools only
    std::vector<std::string> command; // default entrypoint (used when the container gives no command)
    std::vector<std::string> args; // default args
    std::vector<std::pair<std::string, std::string>> env;
    std::string workingDir;
};

class ImageCatalog
{
public:
    // The built-in catalog: iterdeck/sandbox-base:latest (host /usr etc. read-only: sh, cat,
    // python3...) and the demo images of resources/sandbox/.
    static ImageCatalog builtIn();
    // Loads a catalog file; on error returns nullopt and sets *error to "file:line:col: what".
    // Entries of the file are added on top of the built-in ones.
    static std::optional<ImageCatalog> load(const std::string &path, std::string *error);
    const ImageEntry *find(const std::string &reference) const; // accepts "name" as "name:latest"
    std::vector<ImageEntry> entries;
};

struct RuntimeOptions
{
    std::string dataDir; // pods live in dataDir/pods/<uid>/...
    ImageCatalog catalog = ImageCatalog::builtIn();
    enum class Isolation { Auto, Bubblewrap, Plain } isolation = Isolation::Auto;
    // Resolves objects a pod refers to (configMap/secret volumes and env, PVC directories).
    // kind is "ConfigMap", "Secret" or "PersistentVolumeClaim"; returns null Json when absent.
    std::function<Json(const std::string &kind, const std::string &ns, const std::string &name)> lookup;
    // Directory that backs a bound PVC (the API server binds claims to directories).
    std::function<std::string(const std::string &ns, const std::string &claim)> claimDirectory;
};

// A process started by exec in a running container.
class ExecProcess
{
public:
    virtual ~ExecProcess() = default;
    // Output as it arrives: stream 1 = stdout, 2 = stderr (with a tty everything is stdout).
    std::function<void(int stream, std::string_view data)> onOutput;
    // Exactly once, after all output was delivered. exitCode is the process exit status
    // (128+signal when killed); error is non-empty when the process could not be started.
    std::function<void(int exitCode, const std::string &error)> onExit;

    // Queues stdin bytes; `consumed` fires once they were written to the process (back-pressure).
    virtual void writeStdin(std::string data, std::function<void()> consumed) = 0;
    virtual void closeStdin() = 0;
    virtual void resize(int width, int height) = 0; // no-op without a tty
    virtual void setOutputPaused(bool paused) = 0; // stop reading output while the client is slow
    virtual void kill() = 0; // SIGKILL; onExit still fires
};

struct ExecOptions
{
    std::string container;
    std::vector<std::string> command;
    bool stdinOpen = false;
    bool tty = false;
};

struct LogOptions
{
    std::string container;
    bool follow = false;
    bool previous = false;
    bool timestamps = false;
    std::optional<long> tailLines;
    std::optional<std::chrono::system_clock::time_point> since; // from sinceSeconds or sinceTime
    std::optional<long> limitBytes;
};

// A log read; data arrives through onData, then onEnd once (container exited while following,
// end of file when not following, or cancel()).
class LogStream
{
public:
    virtual ~LogStream() = default;
    std::function<void(std::string_view chunk)> onData;
    std::function<void()> onEnd;
    virtual void start() = 0; // call after setting the callbacks
    virtual void cancel() = 0;
    virtual void setPaused(bool paused) = 0;
};

// A Kubernetes Event about a pod, worded as the kubelet's (Pulling, Pulled, Created, Started,
// Killing, Unhealthy, BackOff, Failed, FailedMount). fieldPath is "spec.containers{name}",
// "spec.initContainers{name}" or empty for the pod itself.
struct RuntimeEvent
{
    std::string type; // "Normal" or "Warning"
    std::string reason;
    std::string message;
    std::string fieldPath;
};

class Runtime
{
public:
    Runtime(boost::asio::io_context &io, RuntimeOptions options);
    ~Runtime();

    // "bubblewrap" or "plain (no isolation: <why>)".
    std::string isolationDescription() const;

    // Called whenever a pod's status changes; `status` is the complete Pod .status object
    // (phase, conditions, podIP/podIPs, hostIP, startTime, containerStatuses, initContainerStatuses, qosClass).
    std::function<void(const std::string &uid, const Json &status)> onStatus;
    // Optional: the kubelet's events for the pod (for kubectl describe / get events).
    std::function<void(const std::string &uid, const RuntimeEvent &event)> onEvent;

    // Starts (or keeps running) the pod described by the full Pod object; idempotent per
    // metadata.uid. Reports Pending + ErrImagePull/ImagePullBackOff for an unknown image,
    // honours restartPolicy with CrashLoopBackOff back-off, runs probes.
    void startPod(const Json &pod);
    // SIGTERM to every container, SIGKILL after the grace period (< 0: the pod's
    // terminationGracePeriodSeconds); `done` fires when all are gone and the pod's directory is
    // removed. Status updates stop with `done`. An unknown uid only has its directory removed.
    void stopPod(const std::string &uid, int gracePeriodSeconds, std::function<void()> done);
    // Stops everything at once: SIGKILL and reap synchronously (used on shutdown; leaves pod
    // directories for a restart, where startPod with the stored Pod continues it: restartCount
    // goes on, lastState says "Unknown", the pod keeps its IP; a Succeeded/Failed pod stays so).
    // No callback fires afterwards, not even ExecProcess::onExit.
    void shutdown();

    // nullptr and *error set ("container x is not valid for pod y", "... is not running") on failure.
    std::shared_ptr<ExecProcess> exec(const std::string &uid, const ExecOptions &options, std::string *error);
    std::shared_ptr<LogStream> logs(const std::string &uid, const LogOptions &options, std::string *error);

    // The pod's IP (each pod gets its own 127.x.y.z loopback address; exported as POD_IP).
    std::string podIP(const std::string &uid) const;

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::sandbox
