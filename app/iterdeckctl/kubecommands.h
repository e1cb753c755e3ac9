#pragma once
// The kube verbs of iterdeckctl: get, exec, logs, port-forward, apply. Same flags and output as
// kubectl where kubectl has them, built on core/kube.
#include <string>
#include <vector>

namespace iterdeck::ctl {

struct KubeFlags
{
    std::string kubeconfig;
    std::string context;
    std::string ns;
    int requestTimeoutSeconds = 0; // 0 = the client's default
};

struct GetOptions
{
    KubeFlags kube;
    std::string kind;
    std::string name;
    std::string selector;
    std::string fieldSelector;
    std::string output; // "", wide, json, yaml, name
    bool watch = false;
    bool allNamespaces = false;
};

struct ExecCliOptions
{
    KubeFlags kube;
    std::string pod;
    std::string container;
    bool stdinEnabled = false;
    bool tty = false;
    std::vector<std::string> command;
};

struct LogsCliOptions
{
    KubeFlags kube;
    std::string pod;
    std::string container;
    bool follow = false;
    bool timestamps = false;
    bool previous = false;
    int tail = -1;
    std::string since; // 10s, 5m, 1h
};

struct PortForwardCliOptions
{
    KubeFlags kube;
    std::string target; // POD, pod/NAME, deploy/NAME, deployment/NAME, svc/NAME
    std::vector<std::string> ports; // LOCAL:REMOTE, :REMOTE, PORT
    std::vector<std::string> addresses; // default localhost
};

struct ApplyCliOptions
{
    KubeFlags kube;
    std::vector<std::string> files; // "-" = stdin
    std::string fieldManager = "iterdeckctl";
    bool forceConflicts = false;
    bool dryRun = false;
};

// Exit codes: 0 success; 1 failure (the error as kubectl prints it); exec: the command's exit code.
int runGet(const GetOptions &options);
int runExec(const ExecCliOptions &options);
int runLogs(const LogsCliOptions &options);
int runPortForward(const PortForwardCliOptions &options);
int runApply(const ApplyCliOptions &options);

} // namespace iterdeck::ctl
