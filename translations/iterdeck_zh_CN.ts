<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>IterdeckCtl</name>
    <message>
        <source>team manifest</source>
        <translation>团队清单</translation>
    </message>
    <message>
        <source>dev config</source>
        <translation>开发配置</translation>
    </message>
    <message>
        <source>%1: valid %2 (%3 warning(s))
</source>
        <translation>%1：%2有效（%3 个警告）
</translation>
    </message>
    <message>
        <source>%1: invalid %2 (%3 error(s), %4 warning(s))
</source>
        <translation>%1：%2无效（%3 个错误，%4 个警告）
</translation>
    </message>
    <message>
        <source>Print the version and exit</source>
        <translation>打印版本号并退出</translation>
    </message>
    <message>
        <source>Print this help and exit</source>
        <translation>打印本帮助并退出</translation>
    </message>
    <message>
        <source>Check and show team manifests and dev configs</source>
        <translation>检查并显示团队清单与开发配置</translation>
    </message>
    <message>
        <source>Report every problem in each FILE as FILE:LINE:COL: message. The kind of each file (team manifest or dev config) is detected unless --kind is given.</source>
        <translation>以 FILE:LINE:COL: 消息 的形式报告每个 FILE 中的所有问题。除非指定 --kind，否则自动识别每个文件的类型（团队清单或开发配置）。</translation>
    </message>
    <message>
        <source>Files to check</source>
        <translation>要检查的文件</translation>
    </message>
    <message>
        <source>Treat every FILE as this kind</source>
        <translation>将所有 FILE 视为此类型</translation>
    </message>
    <message>
        <source>Print only problems, not a summary line per file</source>
        <translation>只打印问题，不打印每个文件的汇总行</translation>
    </message>
    <message>
        <source>Print FILE as Iterdeck will use it: normalized, every default filled in, secrets as references</source>
        <translation>按 Iterdeck 实际使用的样子打印 FILE：已规范化、填入所有默认值、密钥仅显示引用</translation>
    </message>
    <message>
        <source>File to show</source>
        <translation>要显示的文件</translation>
    </message>
    <message>
        <source>Treat FILE as this kind</source>
        <translation>将 FILE 视为此类型</translation>
    </message>
    <message>
        <source>Print JSON (the default and only format)</source>
        <translation>打印 JSON（默认且唯一的格式）</translation>
    </message>
    <message>
        <source>Run with --help for usage.</source>
        <translation>使用 --help 查看用法。</translation>
    </message>
    <message>
        <source>Keep a remote folder identical to LOCAL_DIR. The remote end is an iterdeck-agent started by --remote-command on its stdin/stdout (directly, or through ssh, docker exec or kubectl exec).</source>
        <translation>让远端文件夹与 LOCAL_DIR 保持一致。远端是由 --remote-command 启动、通过其标准输入输出通信的 iterdeck-agent（可直接运行，也可经由 ssh、docker exec 或 kubectl exec）。</translation>
    </message>
    <message>
        <source>The local folder</source>
        <translation>本地文件夹</translation>
    </message>
    <message>
        <source>Command that starts the agent, e.g. &quot;iterdeck-agent serve --root /app&quot;</source>
        <translation>启动代理的命令，例如 &quot;iterdeck-agent serve --root /app&quot;</translation>
    </message>
    <message>
        <source>Exit after the initial sync: 0 only when both sides are identical</source>
        <translation>首次同步后退出：仅当两端完全一致时返回 0</translation>
    </message>
    <message>
        <source>A pattern of paths not to sync (syncthing syntax, as Nocalhost&apos;s ignoreFilePattern); repeatable</source>
        <translation>不同步的路径模式（syncthing 语法，同 Nocalhost 的 ignoreFilePattern）；可重复</translation>
    </message>
    <message>
        <source>Ignore what the .gitignore files ignore, as git does</source>
        <translation>像 git 一样忽略 .gitignore 文件所忽略的内容</translation>
    </message>
    <message>
        <source>Sync the .git folder too</source>
        <translation>同时同步 .git 文件夹</translation>
    </message>
    <message>
        <source>json: print status events as JSON lines</source>
        <translation>json：以每行一个 JSON 对象的形式打印状态事件</translation>
    </message>
    <message>
        <source>send (one-way, the default) or sendReceive (two-way; any letter case)</source>
        <translation>send（单向，默认）或 sendReceive（双向；不区分大小写）</translation>
    </message>
    <message>
        <source>Two-way: let deletions on the remote side delete local files (by default they do not, as in Nocalhost)</source>
        <translation>双向：允许远端的删除操作删除本地文件（默认不允许，与 Nocalhost 一致）</translation>
    </message>
    <message>
        <source>yes (the default; for networks) or no (faster over a local pipe)</source>
        <translation>yes（默认；适合网络）或 no（本地管道上更快）</translation>
    </message>
    <message>
        <source>Run the sandbox Kubernetes cluster</source>
        <translation>运行沙箱 Kubernetes 集群</translation>
    </message>
    <message>
        <source>Serve a single-process Kubernetes API whose pods run as local processes, until SIGINT or SIGTERM</source>
        <translation>提供单进程的 Kubernetes API，其 Pod 以本地进程运行，直到收到 SIGINT 或 SIGTERM</translation>
    </message>
    <message>
        <source>Where certificates, tokens, objects and pods live (default: $XDG_STATE_HOME/iterdeck/sandbox)</source>
        <translation>证书、令牌、对象和 Pod 的存放位置（默认：$XDG_STATE_HOME/iterdeck/sandbox）</translation>
    </message>
    <message>
        <source>HTTPS port (default: the previous one, else any free port)</source>
        <translation>HTTPS 端口（默认：上次使用的端口，否则任一空闲端口）</translation>
    </message>
    <message>
        <source>Address to listen on</source>
        <translation>监听地址</translation>
    </message>
    <message>
        <source>Where to write the kubeconfig (default: DATA_DIR/kubeconfig)</source>
        <translation>kubeconfig 的写入位置（默认：DATA_DIR/kubeconfig）</translation>
    </message>
    <message>
        <source>An image catalog (YAML) added to the built-in one</source>
        <translation>追加到内置目录之上的镜像目录（YAML）</translation>
    </message>
    <message>
        <source>How containers run: bubblewrap, plain, or auto</source>
        <translation>容器的运行方式：bubblewrap、plain 或 auto</translation>
    </message>
    <message>
        <source>Sandbox cluster serving at https://%1:%2 (pods: %3)</source>
        <translation>沙箱集群已在 https://%1:%2 提供服务（Pod：%3）</translation>
    </message>
    <message>
        <source>Try: KUBECONFIG=%1 kubectl get namespaces</source>
        <translation>试试：KUBECONFIG=%1 kubectl get namespaces</translation>
    </message>
    <message>
        <source>Stopping the sandbox cluster</source>
        <translation>正在停止沙箱集群</translation>
    </message>
    <message>
        <source>iterdeckctl: check Iterdeck and Nocalhost configs, sync folders, work with Kubernetes clusters, and run a sandbox cluster.</source>
        <translation>iterdeckctl：检查 Iterdeck 与 Nocalhost 配置、同步文件夹、操作 Kubernetes 集群，并运行沙箱集群。</translation>
    </message>
    <message>
        <source>Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)</source>
        <translation>kubeconfig 文件路径（默认：$KUBECONFIG，否则 ~/.kube/config）</translation>
    </message>
    <message>
        <source>The kubeconfig context to use</source>
        <translation>要使用的 kubeconfig 上下文</translation>
    </message>
    <message>
        <source>The namespace (default: the context&apos;s)</source>
        <translation>命名空间（默认：上下文中的命名空间）</translation>
    </message>
    <message>
        <source>List resources of KIND, or show one by NAME (like kubectl get)</source>
        <translation>列出 KIND 类型的资源，或按 NAME 显示其中一个（同 kubectl get）</translation>
    </message>
    <message>
        <source>Resource type: pods, deploy, svc, cm, ...</source>
        <translation>资源类型：pods、deploy、svc、cm……</translation>
    </message>
    <message>
        <source>One object&apos;s name</source>
        <translation>某个对象的名称</translation>
    </message>
    <message>
        <source>Label selector, e.g. app=web</source>
        <translation>标签选择器，例如 app=web</translation>
    </message>
    <message>
        <source>Field selector, e.g. status.phase=Running</source>
        <translation>字段选择器，例如 status.phase=Running</translation>
    </message>
    <message>
        <source>Output format: wide, json, yaml or name</source>
        <translation>输出格式：wide、json、yaml 或 name</translation>
    </message>
    <message>
        <source>After listing, print changes as they happen</source>
        <translation>列出之后，持续打印发生的变更</translation>
    </message>
    <message>
        <source>List across all namespaces</source>
        <translation>列出所有命名空间中的资源</translation>
    </message>
    <message>
        <source>Run a command in a container: exec [-i] [-t] POD [-c C] -- CMD... The exit status is the command&apos;s.</source>
        <translation>在容器中运行命令：exec [-i] [-t] POD [-c C] -- CMD…… 退出码即该命令的退出码。</translation>
    </message>
    <message>
        <source>Pod, pod/NAME or deploy/NAME</source>
        <translation>Pod、pod/NAME 或 deploy/NAME</translation>
    </message>
    <message>
        <source>The command and its arguments, after --</source>
        <translation>命令及其参数，写在 -- 之后</translation>
    </message>
    <message>
        <source>Container name</source>
        <translation>容器名称</translation>
    </message>
    <message>
        <source>Pass standard input to the command</source>
        <translation>将标准输入传给命令</translation>
    </message>
    <message>
        <source>Give the command a terminal</source>
        <translation>为命令分配终端</translation>
    </message>
    <message>
        <source>Print a container&apos;s log</source>
        <translation>打印容器日志</translation>
    </message>
    <message>
        <source>Keep printing new lines (reconnecting if the stream breaks)</source>
        <translation>持续打印新行（连接中断时自动重连）</translation>
    </message>
    <message>
        <source>Lines from the end to start with</source>
        <translation>从末尾起显示的行数</translation>
    </message>
    <message>
        <source>Only lines newer than this, e.g. 10s, 5m, 1h</source>
        <translation>只显示比此时长更新的行，例如 10s、5m、1h</translation>
    </message>
    <message>
        <source>Prefix each line with its time</source>
        <translation>在每行前加上时间</translation>
    </message>
    <message>
        <source>The log of the previous instance of the container</source>
        <translation>容器上一个实例的日志</translation>
    </message>
    <message>
        <source>Forward local ports to a pod: port-forward POD|deploy/NAME|svc/NAME LOCAL:REMOTE... A workload is followed to its new pod after a restart.</source>
        <translation>将本地端口转发到 Pod：port-forward POD|deploy/NAME|svc/NAME LOCAL:REMOTE…… 工作负载重启后会自动跟随到新的 Pod。</translation>
    </message>
    <message>
        <source>Pod, pod/NAME, deploy/NAME or svc/NAME</source>
        <translation>Pod、pod/NAME、deploy/NAME 或 svc/NAME</translation>
    </message>
    <message>
        <source>LOCAL:REMOTE, :REMOTE or PORT</source>
        <translation>LOCAL:REMOTE、:REMOTE 或 PORT</translation>
    </message>
    <message>
        <source>Local address to listen on</source>
        <translation>本地监听地址</translation>
    </message>
    <message>
        <source>Create or update objects from YAML or JSON manifests (server-side apply)</source>
        <translation>根据 YAML 或 JSON 清单创建或更新对象（服务端应用）</translation>
    </message>
    <message>
        <source>Manifest file, or - for stdin</source>
        <translation>清单文件，- 表示标准输入</translation>
    </message>
    <message>
        <source>Name of the field manager</source>
        <translation>字段管理者名称</translation>
    </message>
    <message>
        <source>Take over fields that other managers own</source>
        <translation>接管其他管理者拥有的字段</translation>
    </message>
    <message>
        <source>Ask the server to check without saving</source>
        <translation>请服务器只做检查而不保存</translation>
    </message>
    <message>
        <source>Exit status: 0 on success, 1 when a file is invalid, a sync fails or halts, or the cluster says no, 2 on a usage error; exec: the command&apos;s status.
Documentation: docs/cli.md</source>
        <translation>退出码：成功为 0，文件无效、同步失败或中止、集群拒绝时为 1，用法错误为 2；exec 返回命令自身的退出码。
文档：docs/cli.md</translation>
    </message>
    <message>
        <source>Develop inside a running workload (Nocalhost-style dev mode)</source>
        <translation>在运行中的工作负载里开发（Nocalhost 式开发模式）</translation>
    </message>
    <message>
        <source>deploy/NAME or sts/NAME</source>
        <translation>deploy/名称 或 sts/名称</translation>
    </message>
    <message>
        <source>Enter dev mode (or resume it), sync LOCAL into the container and keep the port-forwards until interrupted; dev mode stays on afterwards</source>
        <translation>进入开发模式（或恢复它），把本地目录同步到容器并保持端口转发直到中断；之后开发模式保持开启</translation>
    </message>
    <message>
        <source>The local source folder to sync</source>
        <translation>要同步的本地源码目录</translation>
    </message>
    <message>
        <source>The container to develop in (default: the config&apos;s, else the first)</source>
        <translation>在哪个容器里开发（默认：配置中的容器，否则第一个）</translation>
    </message>
    <message>
        <source>The dev image (overrides the config&apos;s)</source>
        <translation>开发镜像（覆盖配置中的镜像）</translation>
    </message>
    <message>
        <source>replace (the workload itself) or duplicate (a copy no Service routes to)</source>
        <translation>replace（替换工作负载本身）或 duplicate（一个不接收 Service 流量的副本）</translation>
    </message>
    <message>
        <source>The dev config (default: LOCAL/.nocalhost/config.yaml, then the workload&apos;s dev.nocalhost annotation, then the ConfigMap)</source>
        <translation>开发配置（默认：LOCAL/.nocalhost/config.yaml，其次是工作负载的 dev.nocalhost 注解，再次是 ConfigMap）</translation>
    </message>
    <message>
        <source>The application whose ConfigMap dev.nocalhost.config.APP holds the config</source>
        <translation>其 ConfigMap dev.nocalhost.config.APP 保存配置的应用</translation>
    </message>
    <message>
        <source>Enter dev mode without syncing files</source>
        <translation>进入开发模式但不同步文件</translation>
    </message>
    <message>
        <source>Open a shell in the dev container once ready; leaving it stops</source>
        <translation>就绪后在开发容器中打开 shell；退出 shell 即停止</translation>
    </message>
    <message>
        <source>End dev mode (restore the workload) when stopping</source>
        <translation>停止时结束开发模式（恢复工作负载）</translation>
    </message>
    <message>
        <source>End dev mode: restore the workload exactly (same object) and its autoscalers</source>
        <translation>结束开发模式：精确恢复工作负载（同一对象）及其自动伸缩器</translation>
    </message>
    <message>
        <source>End it even when another user started it</source>
        <translation>即使是其他用户开启的也结束</translation>
    </message>
    <message>
        <source>List the workloads in dev mode and whose they are</source>
        <translation>列出处于开发模式的工作负载及其所有者</translation>
    </message>
    <message>
        <source>Print JSON</source>
        <translation>输出 JSON</translation>
    </message>
    <message>
        <source>In every namespace</source>
        <translation>在所有命名空间中</translation>
    </message>
    <message>
        <source>Restore everything you left in dev mode, even when its pod cannot start</source>
        <translation>恢复你留在开发模式中的一切，即使其 Pod 无法启动</translation>
    </message>
    <message>
        <source>Open a shell in the dev container, in its workDir</source>
        <translation>在开发容器的 workDir 中打开 shell</translation>
    </message>
    <message>
        <source>Run the config&apos;s command.run in the dev container</source>
        <translation>在开发容器中运行配置的 command.run</translation>
    </message>
    <message>
        <source>Extra arguments, after --</source>
        <translation>附加参数，放在 -- 之后</translation>
    </message>
    <message>
        <source>Run the config&apos;s command.debug, with remoteDebugPort forwarded</source>
        <translation>运行配置的 command.debug，并转发 remoteDebugPort</translation>
    </message>
    <message>
        <source>Print the dev container&apos;s log</source>
        <translation>输出开发容器的日志</translation>
    </message>
    <message>
        <source>Keep printing new lines</source>
        <translation>持续输出新行</translation>
    </message>
</context>
<context>
    <name>iterdeck</name>
    <message>
        <source>Iterdeck desktop app. The tray and its windows are not part of this version yet.</source>
        <translation>Iterdeck 桌面应用。托盘及其窗口尚未包含在此版本中。</translation>
    </message>
    <message>
        <source>the tray app is not part of this version yet; use iterdeckctl</source>
        <translation>托盘应用尚未包含在此版本中；请使用 iterdeckctl</translation>
    </message>
</context>
<context>
    <name>iterdeck-bot</name>
    <message>
        <source>The Iterdeck ChatOps controller. This version checks the team manifest (iterdeck.yaml).</source>
        <translation>Iterdeck ChatOps 控制器。此版本检查团队清单（iterdeck.yaml）。</translation>
    </message>
    <message>
        <source>The team manifest to use (default: ./iterdeck.yaml).</source>
        <translation>要使用的团队清单（默认：./iterdeck.yaml）。</translation>
    </message>
    <message>
        <source>Check the team manifest, print every problem, and exit: 0 when valid, 1 when not.</source>
        <translation>检查团队清单，打印所有问题后退出：有效为 0，无效为 1。</translation>
    </message>
    <message>
        <source>unexpected argument: %1</source>
        <translation>多余的参数：%1</translation>
    </message>
    <message>
        <source>this version can only check a manifest: run with --check-config</source>
        <translation>此版本只能检查清单：请使用 --check-config 运行</translation>
    </message>
    <message>
        <source>%1: valid team manifest for project &quot;%2&quot; (%3 components, %4 webhook sources, %5 people)</source>
        <translation>%1：项目“%2”的团队清单有效（%3 个组件，%4 个 Webhook 来源，%5 位成员）</translation>
    </message>
</context>
<context>
    <name>iterdeck::im::DeployCard</name>
    <message>
        <source>Deploy to %1 (%2)</source>
        <translation>部署到 %1（%2）</translation>
    </message>
    <message>
        <source>Pick a branch for each component, then confirm.</source>
        <translation>为每个组件选择分支，然后确认。</translation>
    </message>
    <message>
        <source>Deploying (confirmed by %1): %2</source>
        <translation>部署中（由 %1 确认）：%2</translation>
    </message>
    <message>
        <source>Deployed: %1</source>
        <translation>已部署：%1</translation>
    </message>
    <message>
        <source>Deploy failed: %1</source>
        <translation>部署失败：%1</translation>
    </message>
    <message>
        <source>Deploy</source>
        <translation>部署</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Choose a branch</source>
        <translation>选择分支</translation>
    </message>
    <message>
        <source>no build yet</source>
        <translation>尚无构建</translation>
    </message>
    <message>
        <source>Received</source>
        <translation>已收到</translation>
    </message>
</context>
</TS>
