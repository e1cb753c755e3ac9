// iterdeckctl: the command-line face of Iterdeck.
#include "botcommands.h"
#include "configcommands.h"
#include "devcommands.h"
#include "kubecommands.h"
#include "sandboxcommand.h"
#include "synccommand.h"
#include "text.h"

#include "common/i18n.h"
#include "common/version.h"

#include <QCoreApplication>

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

std::string str(const QString &s)
{
    return s.toStdString();
}

QStringList toQt(const std::vector<std::string> &v)
{
    QStringList out;
    for (const auto &s : v)
        out.append(QString::fromStdString(s));
    return out;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("iterdeckctl"));
    QCoreApplication::setApplicationVersion(iterdeck::version());
    iterdeck::installTranslations(app);

    CLI::App cli {str(IterdeckCtl::tr("iterdeckctl: check Iterdeck and Nocalhost configs, sync folders, work with "
                                      "Kubernetes clusters, and run a sandbox cluster.")),
                  "iterdeckctl"};
    cli.set_version_flag("--version", "iterdeckctl " + iterdeck::version().toStdString(),
                         str(IterdeckCtl::tr("Print the version and exit")));
    cli.set_help_flag("-h,--help", str(IterdeckCtl::tr("Print this help and exit")));
    cli.require_subcommand(1);
    cli.footer(str(IterdeckCtl::tr("Exit status: 0 on success, 1 when a file is invalid, a sync fails or "
                                   "halts, or the cluster says no, 2 on a usage error; exec: the command's "
                                   "status.\nDocumentation: docs/cli.md")));

    auto *config = cli.add_subcommand("config", str(IterdeckCtl::tr("Check and show team manifests and dev configs")));
    config->require_subcommand(1);

    std::vector<std::string> checkFiles;
    std::string checkKind;
    bool quiet = false;
    auto *check = config->add_subcommand(
        "check",
        str(IterdeckCtl::tr("Report every problem in each FILE as FILE:LINE:COL: message. The kind of each file "
                            "(team manifest or dev config) is detected unless --kind is given.")));
    check->add_option("FILE", checkFiles, str(IterdeckCtl::tr("Files to check")))->required();
    check->add_option("--kind", checkKind, str(IterdeckCtl::tr("Treat every FILE as this kind")))
        ->check(CLI::IsMember({"team", "dev"}));
    check->add_flag("-q,--quiet", quiet, str(IterdeckCtl::tr("Print only problems, not a summary line per file")));

    std::string showFile;
    std::string showKind;
    bool json = true;
    auto *show = config->add_subcommand(
        "show",
        str(IterdeckCtl::tr(
            "Print FILE as Iterdeck will use it: normalized, every default filled in, secrets as references")));
    show->add_option("FILE", showFile, str(IterdeckCtl::tr("File to show")))->required();
    show->add_option("--kind", showKind, str(IterdeckCtl::tr("Treat FILE as this kind")))
        ->check(CLI::IsMember({"team", "dev"}));
    show->add_flag("--json", json, str(IterdeckCtl::tr("Print JSON (the default and only format)")));

    iterdeck::ctl::SyncOptions syncOptions;
    auto *sync = cli.add_subcommand(
        "sync",
        str(IterdeckCtl::tr("Keep a remote folder identical to LOCAL_DIR. The remote end is an iterdeck-agent "
                            "started by --remote-command on its stdin/stdout (directly, or through ssh, docker "
                            "exec or kubectl exec).")));
    sync->add_option("LOCAL_DIR", syncOptions.localDir, str(IterdeckCtl::tr("The local folder")))->required();
    sync->add_option("--remote-command", syncOptions.remoteCommand,
                     str(IterdeckCtl::tr("Command that starts the agent, e.g. \"iterdeck-agent serve --root /app\"")))
        ->required();
    sync->add_option("--mode", syncOptions.mode,
                     str(IterdeckCtl::tr("send (one-way, the default) or sendReceive (two-way; any letter case)")));
    sync->add_flag("--no-delete-protection", syncOptions.noDeleteProtection,
                   str(IterdeckCtl::tr("Two-way: let deletions on the remote side delete local files (by default "
                                       "they do not, as in Nocalhost)")));
    sync->add_flag("--once", syncOptions.once,
                   str(IterdeckCtl::tr("Exit after the initial sync: 0 only when both sides are identical")));
    sync->add_option("--ignore", syncOptions.ignore,
                     str(IterdeckCtl::tr("A pattern of paths not to sync (syncthing syntax, as Nocalhost's "
                                         "ignoreFilePattern); repeatable")));
    sync->add_flag("--git-ignore", syncOptions.gitIgnore,
                   str(IterdeckCtl::tr("Ignore what the .gitignore files ignore, as git does")));
    sync->add_flag("--sync-git", syncOptions.syncGit, str(IterdeckCtl::tr("Sync the .git folder too")));
    sync->add_option("--compress", syncOptions.compress,
                     str(IterdeckCtl::tr("yes (the default; for networks) or no (faster over a local pipe)")))
        ->check(CLI::IsMember({"yes", "no"}));
    sync->add_option("--status", syncOptions.status, str(IterdeckCtl::tr("json: print status events as JSON lines")))
        ->check(CLI::IsMember({"json"}));

    iterdeck::ctl::SandboxUpOptions sandboxOptions;
    auto *sandbox = cli.add_subcommand("sandbox", str(IterdeckCtl::tr("Run the sandbox Kubernetes cluster")));
    sandbox->require_subcommand(1);
    auto *sandboxUp = sandbox->add_subcommand(
        "up",
        str(IterdeckCtl::tr("Serve a single-process Kubernetes API whose pods run as local processes, until "
                            "SIGINT or SIGTERM")));
    sandboxUp->add_option("--data-dir", sandboxOptions.dataDir,
                          str(IterdeckCtl::tr("Where certificates, tokens, objects and pods live (default: "
                                              "$XDG_STATE_HOME/iterdeck/sandbox)")));
    sandboxUp->add_option("--port", sandboxOptions.port,
                          str(IterdeckCtl::tr("HTTPS port (default: the previous one, else any free port)")));
    sandboxUp->add_option("--address", sandboxOptions.address, str(IterdeckCtl::tr("Address to listen on")))
        ->capture_default_str();
    sandboxUp->add_option("--kubeconfig-out", sandboxOptions.kubeconfigOut,
                          str(IterdeckCtl::tr("Where to write the kubeconfig (default: DATA_DIR/kubeconfig)")));
    sandboxUp->add_option("--images", sandboxOptions.imagesFile,
                          str(IterdeckCtl::tr("An image catalog (YAML) added to the built-in one")));
    sandboxUp
        ->add_option("--isolation", sandboxOptions.isolation,
                     str(IterdeckCtl::tr("How containers run: bubblewrap, plain, or auto")))
        ->check(CLI::IsMember({"auto", "bubblewrap", "plain"}))
        ->capture_default_str();

    // The kube verbs, with kubectl's flags.
    auto addKubeFlags = [](CLI::App *cmd, iterdeck::ctl::KubeFlags &flags) {
        cmd->add_option(
            "--kubeconfig", flags.kubeconfig,
            str(IterdeckCtl::tr("Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")));
        cmd->add_option("--context", flags.context, str(IterdeckCtl::tr("The kubeconfig context to use")));
        cmd->add_option("-n,--namespace", flags.ns, str(IterdeckCtl::tr("The namespace (default: the context's)")));
    };
    iterdeck::ctl::GetOptions getOptions;
    auto *get = cli.add_subcommand(
        "get", str(IterdeckCtl::tr("List resources of KIND, or show one by NAME (like kubectl get)")));
    get->add_option("KIND", getOptions.kind, str(IterdeckCtl::tr("Resource type: pods, deploy, svc, cm, ...")))
        ->required();
    get->add_option("NAME", getOptions.name, str(IterdeckCtl::tr("One object's name")));
    get->add_option("-l,--selector", getOptions.selector, str(IterdeckCtl::tr("Label selector, e.g. app=web")));
    get->add_option("--field-selector", getOptions.fieldSelector,
                    str(IterdeckCtl::tr("Field selector, e.g. status.phase=Running")));
    get->add_option("-o,--output", getOptions.output, str(IterdeckCtl::tr("Output format: wide, json, yaml or name")))
        ->check(CLI::IsMember({"wide", "json", "yaml", "name"}));
    get->add_flag("-w,--watch", getOptions.watch, str(IterdeckCtl::tr("After listing, print changes as they happen")));
    get->add_flag("-A,--all-namespaces", getOptions.allNamespaces, str(IterdeckCtl::tr("List across all namespaces")));
    addKubeFlags(get, getOptions.kube);

    iterdeck::ctl::ExecCliOptions execOptions;
    auto *exec = cli.add_subcommand(
        "exec",
        str(IterdeckCtl::tr("Run a command in a container: exec [-i] [-t] POD [-c C] -- CMD... The exit "
                            "status is the command's.")));
    exec->add_option("POD", execOptions.pod, str(IterdeckCtl::tr("Pod, pod/NAME or deploy/NAME")))->required();
    exec->add_option("COMMAND", execOptions.command, str(IterdeckCtl::tr("The command and its arguments, after --")));
    exec->add_option("-c,--container", execOptions.container, str(IterdeckCtl::tr("Container name")));
    exec->add_flag("-i,--stdin", execOptions.stdinEnabled, str(IterdeckCtl::tr("Pass standard input to the command")));
    exec->add_flag("-t,--tty", execOptions.tty, str(IterdeckCtl::tr("Give the command a terminal")));
    addKubeFlags(exec, execOptions.kube);

    iterdeck::ctl::LogsCliOptions logsOptions;
    auto *logs = cli.add_subcommand("logs", str(IterdeckCtl::tr("Print a container's log")));
    logs->add_option("POD", logsOptions.pod, str(IterdeckCtl::tr("Pod, pod/NAME or deploy/NAME")))->required();
    logs->add_option("-c,--container", logsOptions.container, str(IterdeckCtl::tr("Container name")));
    logs->add_flag("-f,--follow", logsOptions.follow,
                   str(IterdeckCtl::tr("Keep printing new lines (reconnecting if the stream breaks)")));
    logs->add_option("--tail", logsOptions.tail, str(IterdeckCtl::tr("Lines from the end to start with")));
    logs->add_option("--since", logsOptions.since,
                     str(IterdeckCtl::tr("Only lines newer than this, e.g. 10s, 5m, 1h")));
    logs->add_flag("--timestamps", logsOptions.timestamps, str(IterdeckCtl::tr("Prefix each line with its time")));
    logs->add_flag("-p,--previous", logsOptions.previous,
                   str(IterdeckCtl::tr("The log of the previous instance of the container")));
    addKubeFlags(logs, logsOptions.kube);

    iterdeck::ctl::PortForwardCliOptions pfOptions;
    auto *portForward = cli.add_subcommand(
        "port-forward",
        str(IterdeckCtl::tr("Forward local ports to a pod: port-forward POD|deploy/NAME|svc/NAME LOCAL:REMOTE... "
                            "A workload is followed to its new pod after a restart.")));
    portForward->add_option("TARGET", pfOptions.target, str(IterdeckCtl::tr("Pod, pod/NAME, deploy/NAME or svc/NAME")))
        ->required();
    portForward->add_option("PORTS", pfOptions.ports, str(IterdeckCtl::tr("LOCAL:REMOTE, :REMOTE or PORT")))
        ->required();
    portForward->add_option("--address", pfOptions.addresses, str(IterdeckCtl::tr("Local address to listen on")));
    addKubeFlags(portForward, pfOptions.kube);

    iterdeck::ctl::ApplyCliOptions applyOptions;
    auto *apply = cli.add_subcommand(
        "apply", str(IterdeckCtl::tr("Create or update objects from YAML or JSON manifests (server-side apply)")));
    apply->add_option("-f,--filename", applyOptions.files, str(IterdeckCtl::tr("Manifest file, or - for stdin")))
        ->required();
    apply->add_option("--field-manager", applyOptions.fieldManager, str(IterdeckCtl::tr("Name of the field manager")))
        ->capture_default_str();
    apply->add_flag("--force-conflicts", applyOptions.forceConflicts,
                    str(IterdeckCtl::tr("Take over fields that other managers own")));
    apply->add_flag("--dry-run", applyOptions.dryRun, str(IterdeckCtl::tr("Ask the server to check without saving")));
    addKubeFlags(apply, applyOptions.kube);

    // The bot's desktop API (core/chatops).
    auto *bot = cli.add_subcommand(
        "bot",
        str(IterdeckCtl::tr("Talk to iterdeck-bot: your iterations and environments, deploys, chat commands, "
                            "the event stream. Takes --bot URL and --token TOKEN, or $ITERDECK_BOT_URL and "
                            "$ITERDECK_TOKEN.")));
    bot->require_subcommand(1);
    iterdeck::ctl::BotCliOptions botOptions;
    auto addBotFlags = [&botOptions](CLI::App *cmd) {
        cmd->add_option(
            "--bot", botOptions.bot,
            str(IterdeckCtl::tr("The bot's URL, e.g. https://bot.example.com (default: $ITERDECK_BOT_URL)")));
        cmd->add_option("--token", botOptions.token,
                        str(IterdeckCtl::tr("Your desktop token (default: $ITERDECK_TOKEN)")));
        cmd->add_option("--ca", botOptions.caFile,
                        str(IterdeckCtl::tr("PEM certificates to trust for the bot's HTTPS (a private CA)")));
        cmd->add_flag("--allow-insecure", botOptions.allowInsecure,
                      str(IterdeckCtl::tr("Send the token over plain http to a host that is not this machine "
                                          "(refused by default: anyone on the way could read it)")));
    };
    auto addBotOutput = [&botOptions](CLI::App *cmd) {
        cmd->add_option("-o,--output", botOptions.output, str(IterdeckCtl::tr("Output format: json")))
            ->check(CLI::IsMember({"json"}));
    };
    auto *botStatus
        = bot->add_subcommand("status", str(IterdeckCtl::tr("Who you are to the bot, and your iterations")));
    addBotFlags(botStatus);
    addBotOutput(botStatus);
    auto *botEnvs = bot->add_subcommand(
        "envs", str(IterdeckCtl::tr("Your environments: per component what it follows and what is deployed")));
    addBotFlags(botEnvs);
    addBotOutput(botEnvs);
    auto *botDeploy = bot->add_subcommand(
        "deploy",
        str(IterdeckCtl::tr("Show an environment's deploy card (branches and their latest builds), or "
                            "change what a component runs: ENV [COMPONENT] [--follow BRANCH | --pin BUILD "
                            "| --redeploy]")));
    botDeploy
        ->add_option("ENV", botOptions.environment,
                     str(IterdeckCtl::tr("The environment: its namespace, or the iteration's name or key")))
        ->required();
    botDeploy->add_option("COMPONENT", botOptions.component, str(IterdeckCtl::tr("The component")));
    auto *followOpt = botDeploy->add_option("--follow", botOptions.follow,
                                            str(IterdeckCtl::tr("Follow this branch: deploy its builds as they come")));
    auto *pinOpt = botDeploy->add_option(
        "--pin", botOptions.pin, str(IterdeckCtl::tr("Pin this build (artifact id, build number, tag or digest)")));
    auto *redeployOpt = botDeploy->add_flag(
        "--redeploy", botOptions.redeploy,
        str(IterdeckCtl::tr("Deploy the current selection again (all components without COMPONENT)")));
    followOpt->excludes(pinOpt);
    redeployOpt->excludes(followOpt)->excludes(pinOpt);
    addBotFlags(botDeploy);
    addBotOutput(botDeploy);
    auto *botRun = bot->add_subcommand(
        "run",
        str(IterdeckCtl::tr("Run a chat command as in the iteration's group, e.g. \"run status\", "
                            "\"run branch web feature/x\", \"run help\"")));
    botRun->add_option("WORDS", botOptions.words, str(IterdeckCtl::tr("The command and its arguments")))->required();
    addBotFlags(botRun);
    addBotOutput(botRun);
    auto *botWatch = bot->add_subcommand(
        "watch", str(IterdeckCtl::tr("Print your iterations' events as they happen, until interrupted")));
    botWatch->add_option("--since", botOptions.since,
                         str(IterdeckCtl::tr("First print the events after this sequence number (0: all)")));
    addBotFlags(botWatch);
    addBotOutput(botWatch);

    // Dev mode (core/devmode).
    auto *dev = cli.add_subcommand(
        "dev", str(IterdeckCtl::tr("Develop inside a running workload (Nocalhost-style dev mode)")));
    dev->require_subcommand(1);
    iterdeck::ctl::DevCliOptions devOptions;
    auto addWorkload = [&devOptions](CLI::App *cmd) {
        cmd->add_option("WORKLOAD", devOptions.workload, str(IterdeckCtl::tr("deploy/NAME or sts/NAME")))->required();
    };
    auto *devStart = dev->add_subcommand(
        "start",
        str(IterdeckCtl::tr("Enter dev mode (or resume it), sync LOCAL into the container and keep the "
                            "port-forwards until interrupted; dev mode stays on afterwards")));
    addWorkload(devStart);
    devStart->add_option("--local", devOptions.localDir, str(IterdeckCtl::tr("The local source folder to sync")));
    devStart->add_option("-c,--container", devOptions.container,
                         str(IterdeckCtl::tr("The container to develop in (default: the config's, else the first)")));
    devStart->add_option("--image", devOptions.image, str(IterdeckCtl::tr("The dev image (overrides the config's)")));
    devStart
        ->add_option("--mode", devOptions.mode,
                     str(IterdeckCtl::tr("replace (the workload itself) or duplicate (a copy no Service routes to)")))
        ->check(CLI::IsMember({"replace", "duplicate"}, CLI::ignore_case));
    devStart->add_option("--config", devOptions.configFile,
                         str(IterdeckCtl::tr("The dev config (default: LOCAL/.nocalhost/config.yaml, then the "
                                             "workload's dev.nocalhost annotation, then the ConfigMap)")));
    devStart->add_option(
        "--app", devOptions.app,
        str(IterdeckCtl::tr("The application whose ConfigMap dev.nocalhost.config.APP holds the config")));
    devStart->add_flag("--no-sync", devOptions.noSync, str(IterdeckCtl::tr("Enter dev mode without syncing files")));
    devStart->add_flag("--shell", devOptions.shell,
                       str(IterdeckCtl::tr("Open a shell in the dev container once ready; leaving it stops")));
    devStart->add_flag("--end-on-exit", devOptions.endOnExit,
                       str(IterdeckCtl::tr("End dev mode (restore the workload) when stopping")));
    addKubeFlags(devStart, devOptions.kube);
    auto *devEnd = dev->add_subcommand(
        "end", str(IterdeckCtl::tr("End dev mode: restore the workload exactly (same object) and its autoscalers")));
    addWorkload(devEnd);
    devEnd->add_flag("--force", devOptions.force, str(IterdeckCtl::tr("End it even when another user started it")));
    addKubeFlags(devEnd, devOptions.kube);
    auto *devStatus
        = dev->add_subcommand("status", str(IterdeckCtl::tr("List the workloads in dev mode and whose they are")));
    devStatus->add_flag("--json", devOptions.json, str(IterdeckCtl::tr("Print JSON")));
    devStatus->add_flag("-A,--all-namespaces", devOptions.allNamespaces, str(IterdeckCtl::tr("In every namespace")));
    addKubeFlags(devStatus, devOptions.kube);
    auto *devReset = dev->add_subcommand(
        "reset", str(IterdeckCtl::tr("Restore everything you left in dev mode, even when its pod cannot start")));
    devReset->add_flag("-A,--all-namespaces", devOptions.allNamespaces, str(IterdeckCtl::tr("In every namespace")));
    addKubeFlags(devReset, devOptions.kube);
    auto *devShell
        = dev->add_subcommand("shell", str(IterdeckCtl::tr("Open a shell in the dev container, in its workDir")));
    addWorkload(devShell);
    addKubeFlags(devShell, devOptions.kube);
    auto *devRun
        = dev->add_subcommand("run", str(IterdeckCtl::tr("Run the config's command.run in the dev container")));
    addWorkload(devRun);
    devRun->add_option("ARGS", devOptions.args, str(IterdeckCtl::tr("Extra arguments, after --")));
    addKubeFlags(devRun, devOptions.kube);
    auto *devDebug = dev->add_subcommand(
        "debug", str(IterdeckCtl::tr("Run the config's command.debug, with remoteDebugPort forwarded")));
    addWorkload(devDebug);
    devDebug->add_option("ARGS", devOptions.args, str(IterdeckCtl::tr("Extra arguments, after --")));
    addKubeFlags(devDebug, devOptions.kube);
    auto *devLogs = dev->add_subcommand("logs", str(IterdeckCtl::tr("Print the dev container's log")));
    addWorkload(devLogs);
    devLogs->add_flag("-f,--follow", devOptions.follow, str(IterdeckCtl::tr("Keep printing new lines")));
    devLogs->add_option("--tail", devOptions.tail, str(IterdeckCtl::tr("Lines from the end to start with")));
    addKubeFlags(devLogs, devOptions.kube);

    try {
        cli.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return cli.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return cli.exit(e);
    } catch (const CLI::CallForVersion &e) {
        return cli.exit(e);
    } catch (const CLI::ParseError &e) {
        std::cerr << "iterdeckctl: " << e.what() << "\n" << str(IterdeckCtl::tr("Run with --help for usage.")) << "\n";
        return 2;
    }

    if (*check) {
        return iterdeck::ctl::runConfigCheck({toQt(checkFiles), QString::fromStdString(checkKind), quiet}, stdout);
    }
    if (*sync)
        return iterdeck::ctl::runSync(syncOptions);
    if (*sandboxUp)
        return iterdeck::ctl::runSandboxUp(sandboxOptions);
    if (*get)
        return iterdeck::ctl::runGet(getOptions);
    if (*exec)
        return iterdeck::ctl::runExec(execOptions);
    if (*logs)
        return iterdeck::ctl::runLogs(logsOptions);
    if (*portForward)
        return iterdeck::ctl::runPortForward(pfOptions);
    if (*apply)
        return iterdeck::ctl::runApply(applyOptions);
    if (*botStatus)
        return iterdeck::ctl::runBotStatus(botOptions);
    if (*botEnvs)
        return iterdeck::ctl::runBotEnvs(botOptions);
    if (*botDeploy)
        return iterdeck::ctl::runBotDeploy(botOptions);
    if (*botRun)
        return iterdeck::ctl::runBotRun(botOptions);
    if (*botWatch)
        return iterdeck::ctl::runBotWatch(botOptions);
    if (*devStart)
        return iterdeck::ctl::runDevStart(devOptions);
    if (*devEnd)
        return iterdeck::ctl::runDevEnd(devOptions);
    if (*devStatus)
        return iterdeck::ctl::runDevStatus(devOptions);
    if (*devReset)
        return iterdeck::ctl::runDevReset(devOptions);
    if (*devShell)
        return iterdeck::ctl::runDevShell(devOptions);
    if (*devRun)
        return iterdeck::ctl::runDevRun(devOptions, false);
    if (*devDebug)
        return iterdeck::ctl::runDevRun(devOptions, true);
    if (*devLogs)
        return iterdeck::ctl::runDevLogs(devOptions);
    if (*show) {
        return iterdeck::ctl::runConfigShow({QString::fromStdString(showFile), QString::fromStdString(showKind)},
                                            stdout);
    }
    return 2;
}
