#pragma once
// The sandbox's kubelet: runs each pod's containers as local processes, each in its own root
// directory made from its image (under bubblewrap when available), and reports truthful status.
// Single-threaded: everything runs on the io_context given to the constructor, and every
// callback is invoked from it.
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
    std::string reference;           // "iterdeck/sandbox-base:latest"
    std::string rootTemplate;        // directory copied (or bind-mounted read-only) as the root; empty = host tools only
    std::vector<std::string> command; // default entrypoint (used when the container gives no command)
    std::vector<std::string> args;    // default args
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
    std::string dataDir;         // pods live in dataDir/pods/<uid>/...
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
    virtual void resize(int width, int height) = 0;           // no-op without a tty
    virtual void setOutputPaused(bool paused) = 0;            // stop reading output while the client is slow
    virtual void kill() = 0;                                  // SIGKILL; onExit still fires
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
    virtual void start() = 0;  // call after setting the callbacks
    virtual void cancel() = 0;
    virtual void setPaused(bool paused) = 0;
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

    // Starts (or keeps running) the pod described by the full Pod object; idempotent per
    // metadata.uid. Reports Pending + ErrImagePull/ImagePullBackOff for an unknown image,
    // honours restartPolicy with CrashLoopBackOff back-off, runs probes.
    void startPod(const Json &pod);
    // SIGTERM to every container, SIGKILL after the grace period; `done` fires when all are gone
    // and the pod's directory is removed.
    void stopPod(const std::string &uid, int gracePeriodSeconds, std::function<void()> done);
    // Stops everything at once (used on shutdown; leaves pod directories for a restart).
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
