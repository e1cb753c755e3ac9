#pragma once
// iterdeckctl dev: start, end, status, reset, shell, run, debug, logs (core/devmode).
#include "kubecommands.h"

#include <string>
#include <vector>

namespace iterdeck::ctl {

struct DevCliOptions
{
    KubeFlags kube;
    std::string workload; // deploy/NAME or sts/NAME
    std::string localDir;
    std::string container;
    std::string image;
    std::string mode;
    std::string configFile;
    std::string app;
    bool noSync = false;
    bool shell = false;
    bool endOnExit = false;
    bool force = false; // end: another user's dev mode too
    bool json = false; // status
    bool allNamespaces = false; // status, reset
    bool follow = false; // logs
    int tail = -1; // logs
    std::vector<std::string> args; // run/debug: appended to the command
};

// Exit codes: 0 done; 1 failed (the reason on stderr); 2 usage. start returns 0 after an
// interrupt with dev mode left on (or ended with --end-on-exit); shell/run/debug return the
// command's exit code.
int runDevStart(const DevCliOptions &options);
int runDevEnd(const DevCliOptions &options);
int runDevStatus(const DevCliOptions &options);
int runDevReset(const DevCliOptions &options);
int runDevShell(const DevCliOptions &options);
int runDevRun(const DevCliOptions &options, bool debug);
int runDevLogs(const DevCliOptions &options);

} // namespace iterdeck::ctl
