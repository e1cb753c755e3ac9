<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>DevController</name>
    <message>
        <source>off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>starting</source>
        <translation>启动中</translation>
    </message>
    <message>
        <source>on</source>
        <translation>开启</translation>
    </message>
    <message>
        <source>reconnecting</source>
        <translation>重新连接中</translation>
    </message>
    <message>
        <source>ending</source>
        <translation>结束中</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
</context>
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
    <message>
        <source>Talk to iterdeck-bot: your iterations and environments, deploys, chat commands, the event stream. Takes --bot URL and --token TOKEN, or $ITERDECK_BOT_URL and $ITERDECK_TOKEN.</source>
        <translation>与 iterdeck-bot 交互：你的迭代与环境、部署、聊天命令、事件流。需要 --bot URL 和 --token TOKEN，或 $ITERDECK_BOT_URL 和 $ITERDECK_TOKEN。</translation>
    </message>
    <message>
        <source>The bot&apos;s URL, e.g. https://bot.example.com (default: $ITERDECK_BOT_URL)</source>
        <translation>机器人地址，例如 https://bot.example.com（默认：$ITERDECK_BOT_URL）</translation>
    </message>
    <message>
        <source>Your desktop token (default: $ITERDECK_TOKEN)</source>
        <translation>你的桌面令牌（默认：$ITERDECK_TOKEN）</translation>
    </message>
    <message>
        <source>PEM certificates to trust for the bot&apos;s HTTPS (a private CA)</source>
        <translation>访问机器人 HTTPS 时要信任的 PEM 证书（私有 CA）</translation>
    </message>
    <message>
        <source>Send the token over plain http to a host that is not this machine (refused by default: anyone on the way could read it)</source>
        <translation>通过明文 http 向非本机的主机发送令牌（默认拒绝：途经的任何人都可能读取令牌）</translation>
    </message>
    <message>
        <source>Output format: json</source>
        <translation>输出格式：json</translation>
    </message>
    <message>
        <source>Who you are to the bot, and your iterations</source>
        <translation>你在机器人中的身份，以及你的迭代</translation>
    </message>
    <message>
        <source>Your environments: per component what it follows and what is deployed</source>
        <translation>你的环境：每个组件跟随的分支及已部署的内容</translation>
    </message>
    <message>
        <source>Show an environment&apos;s deploy card (branches and their latest builds), or change what a component runs: ENV [COMPONENT] [--follow BRANCH | --pin BUILD | --redeploy]</source>
        <translation>显示环境的部署卡片（各分支及其最新构建），或更改组件运行的内容：ENV [COMPONENT] [--follow BRANCH | --pin BUILD | --redeploy]</translation>
    </message>
    <message>
        <source>The environment: its namespace, or the iteration&apos;s name or key</source>
        <translation>环境：其命名空间，或迭代的名称或标识</translation>
    </message>
    <message>
        <source>The component</source>
        <translation>组件</translation>
    </message>
    <message>
        <source>Follow this branch: deploy its builds as they come</source>
        <translation>跟随此分支：有新构建时即部署</translation>
    </message>
    <message>
        <source>Pin this build (artifact id, build number, tag or digest)</source>
        <translation>固定此构建（制品 ID、构建号、标签或摘要）</translation>
    </message>
    <message>
        <source>Deploy the current selection again (all components without COMPONENT)</source>
        <translation>重新部署当前选择（未指定 COMPONENT 时为所有组件）</translation>
    </message>
    <message>
        <source>Run a chat command as in the iteration&apos;s group, e.g. &quot;run status&quot;, &quot;run branch web feature/x&quot;, &quot;run help&quot;</source>
        <translation>像在迭代群组中一样运行聊天命令，例如 &quot;run status&quot;、&quot;run branch web feature/x&quot;、&quot;run help&quot;</translation>
    </message>
    <message>
        <source>The command and its arguments</source>
        <translation>命令及其参数</translation>
    </message>
    <message>
        <source>Print your iterations&apos; events as they happen, until interrupted</source>
        <translation>实时打印你的迭代事件，直到被中断</translation>
    </message>
    <message>
        <source>First print the events after this sequence number (0: all)</source>
        <translation>先打印此序号之后的事件（0：全部）</translation>
    </message>
</context>
<context>
    <name>iterdeck</name>
    <message>
        <source>Run the demo: a sandbox cluster on this machine with a demo application, no setup needed.</source>
        <translation>运行演示：在本机启动带演示应用的沙箱集群，无需任何配置。</translation>
    </message>
    <message>
        <source>Open the main window at start (else only the tray icon).</source>
        <translation>启动时打开主窗口（否则只显示托盘图标）。</translation>
    </message>
    <message>
        <source>The kubeconfig to use (default: the settings, then $KUBECONFIG).</source>
        <translation>要使用的 kubeconfig（默认：设置中的，其次是 $KUBECONFIG）。</translation>
    </message>
    <message>
        <source>The namespace to show.</source>
        <translation>要显示的命名空间。</translation>
    </message>
    <message>
        <source>Iterdeck desktop app: your workloads with their pods, one-click dev mode with sync, port-forwards, shell and logs, in the system tray.</source>
        <translation>Iterdeck 桌面应用：在系统托盘中查看你的工作负载及其 Pod，一键开发模式（含同步、端口转发、shell 和日志）。</translation>
    </message>
    <message>
        <source>already running: its window is shown</source>
        <translation>已在运行：已显示其窗口</translation>
    </message>
</context>
<context>
    <name>iterdeck-bot</name>
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
        <source>%1: valid team manifest for project &quot;%2&quot; (%3 components, %4 webhook sources, %5 people)</source>
        <translation>%1：项目“%2”的团队清单有效（%3 个组件，%4 个 Webhook 来源，%5 位成员）</translation>
    </message>
    <message>
        <source>usage: iterdeck-bot token create USER [--admin] | token revoke TOKEN_ID | token list</source>
        <translation>用法：iterdeck-bot token create USER [--admin] | token revoke TOKEN_ID | token list</translation>
    </message>
    <message>
        <source>Created token %1 for %2%3. It is shown only now; keep it secret:</source>
        <translation>已为 %2%3 创建令牌 %1。令牌只显示这一次，请妥善保密：</translation>
    </message>
    <message>
        <source> (admin)</source>
        <translation>（管理员）</translation>
    </message>
    <message>
        <source>Revoked token %1 of %2.</source>
        <translation>已吊销 %2 的令牌 %1。</translation>
    </message>
    <message>
        <source>USER</source>
        <translation>用户</translation>
    </message>
    <message>
        <source>ADMIN</source>
        <translation>管理员</translation>
    </message>
    <message>
        <source>CREATED</source>
        <translation>创建时间</translation>
    </message>
    <message>
        <source>REVOKED</source>
        <translation>吊销时间</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
    <message>
        <source>The Iterdeck ChatOps controller: receives the collaboration tool&apos;s and CI&apos;s webhooks and keeps iterations and artifacts in its store.

Commands:
  (none)                  serve
  token create USER       create a desktop token (--admin for an admin)
  token revoke TOKEN_ID   revoke a desktop token
  token list              list desktop tokens</source>
        <translation>Iterdeck ChatOps 控制器：接收协作工具和 CI 的 Webhook，并把迭代和制品记录在存储中。

命令：
  （无）                  提供服务
  token create USER       创建桌面令牌（--admin 表示管理员）
  token revoke TOKEN_ID   吊销桌面令牌
  token list              列出桌面令牌</translation>
    </message>
    <message>
        <source>Where the SQLite store lives (default: %1).</source>
        <translation>SQLite 存储所在的目录（默认：%1）。</translation>
    </message>
    <message>
        <source>The store instead of SQLite in the data directory: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or sqlite:///PATH. Default: the environment variable ITERDECK_STORE, if set.</source>
        <translation>代替数据目录中 SQLite 的存储：postgresql://USER[:PASSWORD]@HOST[:PORT]/DB 或 sqlite:///PATH。默认：环境变量 ITERDECK_STORE（如已设置）。</translation>
    </message>
    <message>
        <source>Address and port to serve on (default: 127.0.0.1:8080; :8080 for all).</source>
        <translation>监听的地址和端口（默认：127.0.0.1:8080；:8080 表示所有地址）。</translation>
    </message>
    <message>
        <source>Serve HTTPS with this PEM certificate chain.</source>
        <translation>使用此 PEM 证书链提供 HTTPS 服务。</translation>
    </message>
    <message>
        <source>The PEM private key of --tls-cert.</source>
        <translation>--tls-cert 对应的 PEM 私钥。</translation>
    </message>
    <message>
        <source>Largest webhook body accepted, in bytes (default: 1048576).</source>
        <translation>可接受的最大 Webhook 请求体，单位字节（默认：1048576）。</translation>
    </message>
    <message>
        <source>With token create: the token is an admin&apos;s.</source>
        <translation>与 token create 一起使用：创建管理员令牌。</translation>
    </message>
    <message>
        <source>--admin belongs to &quot;token create&quot;</source>
        <translation>--admin 只能与“token create”一起使用</translation>
    </message>
    <message>
        <source>--listen wants ADDR:PORT, not &quot;%1&quot;</source>
        <translation>--listen 需要 ADDR:PORT，而不是“%1”</translation>
    </message>
    <message>
        <source>--max-body wants a positive number of bytes, not &quot;%1&quot;</source>
        <translation>--max-body 需要一个正的字节数，而不是“%1”</translation>
    </message>
    <message>
        <source>environments are disabled: %1</source>
        <translation>环境管理已停用：%1</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::Application</name>
    <message>
        <source>the demo application could not be applied: %1</source>
        <translation>无法部署演示应用：%1</translation>
    </message>
    <message>
        <source>the sandbox cluster stopped (exit code %1): %2</source>
        <translation>沙箱集群已停止（退出码 %1）：%2</translation>
    </message>
    <message>
        <source>Dev mode ended</source>
        <translation>开发模式已结束</translation>
    </message>
    <message>
        <source>Dev mode left on</source>
        <translation>开发模式仍处于开启状态</translation>
    </message>
    <message>
        <source>These workloads are still in dev mode from an earlier session:
%1

Resume syncing them, or restore them as they were?</source>
        <translation>以下工作负载在之前的会话中仍处于开发模式：
%1

要恢复同步，还是把它们还原为原样？</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>恢复同步</translation>
    </message>
    <message>
        <source>Restore</source>
        <translation>还原</translation>
    </message>
    <message>
        <source>Later</source>
        <translation>稍后</translation>
    </message>
    <message>
        <source>%1: its local folder is unknown here; toggle dev mode to choose it</source>
        <translation>%1：本机不知道它的本地目录；请切换开发模式来选择</translation>
    </message>
    <message>
        <source>No system tray was found: Iterdeck runs in this window. Closing it quits.</source>
        <translation>未找到系统托盘：Iterdeck 在此窗口中运行，关闭窗口即退出。</translation>
    </message>
    <message>
        <source>The cluster settings take effect when Iterdeck starts again.</source>
        <translation>集群设置将在 Iterdeck 下次启动时生效。</translation>
    </message>
    <message>
        <source>No workloads in %1</source>
        <translation>%1 中没有工作负载</translation>
    </message>
    <message>
        <source>cluster unreachable: %1</source>
        <translation>无法连接集群：%1</translation>
    </message>
    <message>
        <source>dev mode needs attention</source>
        <translation>开发模式需要处理</translation>
    </message>
    <message>
        <source>working</source>
        <translation>处理中</translation>
    </message>
    <message numerus="yes">
        <source>%n workload(s) in dev mode</source>
        <translation>
            <numerusform>%n 个工作负载处于开发模式</numerusform>
        </translation>
    </message>
    <message>
        <source>connected</source>
        <translation>已连接</translation>
    </message>
    <message>
        <source>The demo bot could not start: %1</source>
        <translation>演示机器人无法启动：%1</translation>
    </message>
    <message>
        <source>Open the environment</source>
        <translation>打开环境</translation>
    </message>
    <message>
        <source>Deploy…</source>
        <translation>部署…</translation>
    </message>
    <message>
        <source>Create environment</source>
        <translation>创建环境</translation>
    </message>
    <message>
        <source>Dev mode</source>
        <translation>开发模式</translation>
    </message>
    <message>
        <source>%1 is not running yet; try again in a moment</source>
        <translation>%1 尚未运行；请稍后再试</translation>
    </message>
    <message numerus="yes">
        <source>Open the group (%n new)</source>
        <translation>
            <numerusform>打开群组（%n 条新消息）</numerusform>
        </translation>
    </message>
    <message>
        <source>Open the group</source>
        <translation>打开群组</translation>
    </message>
    <message>
        <source>bot unreachable: %1</source>
        <translation>无法连接机器人：%1</translation>
    </message>
    <message>
        <source>a deploy failed</source>
        <translation>有部署失败</translation>
    </message>
    <message>
        <source>deploying</source>
        <translation>部署中</translation>
    </message>
    <message numerus="yes">
        <source>%n unread in your iterations</source>
        <translation>
            <numerusform>你的迭代中有 %n 条未读</numerusform>
        </translation>
    </message>
    <message>
        <source>The new language is used when Iterdeck starts again.</source>
        <translation>新语言将在 Iterdeck 下次启动时生效。</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>Iterdeck shows the new language when it starts again. Restart it now? Dev mode stays on; its sync resumes after the restart.</source>
        <translation>Iterdeck 下次启动时将显示新语言。现在重新启动吗？开发模式会保持开启，同步会在重启后继续。</translation>
    </message>
    <message>
        <source>Restart now</source>
        <translation>立即重启</translation>
    </message>
    <message>
        <source>Restart</source>
        <translation>重启</translation>
    </message>
    <message>
        <source>Iterdeck could not be started again; quit and start it yourself.</source>
        <translation>无法重新启动 Iterdeck，请手动退出后再启动。</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::BotSession</name>
    <message>
        <source>no bot configured (Settings → Bot URL and token)</source>
        <translation>未配置机器人（设置 → 机器人地址和令牌）</translation>
    </message>
    <message>
        <source>no bot token (Settings → Bot token)</source>
        <translation>没有机器人令牌（设置 → 机器人令牌）</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::DemoBot</name>
    <message>
        <source>cannot write %1</source>
        <translation>无法写入 %1</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::DeployCardDialog</name>
    <message>
        <source>Deploy</source>
        <translation>部署</translation>
    </message>
    <message>
        <source>Loading the deploy card…</source>
        <translation>正在加载部署卡片…</translation>
    </message>
    <message>
        <source>The deploy card could not be loaded: %1</source>
        <translation>无法加载部署卡片：%1</translation>
    </message>
    <message>
        <source>&lt;b&gt;%1&lt;/b&gt; — choose what each component runs. Following a branch deploys its new builds as they come; a pinned build stays.</source>
        <translation>&lt;b&gt;%1&lt;/b&gt; — 选择每个组件运行的内容。跟随分支会在有新构建时自动部署；固定的构建则保持不变。</translation>
    </message>
    <message>
        <source>&lt;b&gt;Component&lt;/b&gt;</source>
        <translation>&lt;b&gt;组件&lt;/b&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;Branch&lt;/b&gt;</source>
        <translation>&lt;b&gt;分支&lt;/b&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;Build&lt;/b&gt;</source>
        <translation>&lt;b&gt;构建&lt;/b&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;Follow new builds&lt;/b&gt;</source>
        <translation>&lt;b&gt;跟随新构建&lt;/b&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;Status&lt;/b&gt;</source>
        <translation>&lt;b&gt;状态&lt;/b&gt;</translation>
    </message>
    <message>
        <source>%1 — no builds yet</source>
        <translation>%1 — 尚无构建</translation>
    </message>
    <message>
        <source>(builds unavailable: %1)</source>
        <translation>（无法获取构建：%1）</translation>
    </message>
    <message>
        <source>%1: follow %2 (its latest build now, new builds as they come)</source>
        <translation>%1：跟随 %2（立即部署其最新构建，之后有新构建时自动部署）</translation>
    </message>
    <message>
        <source>%1: pin build %2 of %3</source>
        <translation>%1：固定 %3 的构建 %2</translation>
    </message>
    <message>
        <source>Nothing changes yet.</source>
        <translation>暂无更改。</translation>
    </message>
    <message>
        <source>Will change:
</source>
        <translation>将更改：
</translation>
    </message>
    <message>
        <source>Sending…</source>
        <translation>正在发送…</translation>
    </message>
    <message>
        <source>queued</source>
        <translation>已排队</translation>
    </message>
    <message>
        <source>refused</source>
        <translation>已拒绝</translation>
    </message>
    <message>
        <source>Accepted; deploying. You can close this card.</source>
        <translation>已接受，正在部署。你可以关闭此卡片。</translation>
    </message>
    <message>
        <source>Refused:
</source>
        <translation>已拒绝：
</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>deploying %1…</source>
        <translation>正在部署 %1…</translation>
    </message>
    <message>
        <source>✓ %1</source>
        <translation>✓ %1</translation>
    </message>
    <message>
        <source>✗ failed: %1</source>
        <translation>✗ 失败：%1</translation>
    </message>
    <message>
        <source>waiting for a build</source>
        <translation>等待构建</translation>
    </message>
    <message>
        <source>Deploy — %1</source>
        <translation>部署 — %1</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::DevController</name>
    <message>
        <source>Dev mode failed</source>
        <translation>开发模式失败</translation>
    </message>
    <message>
        <source>syncing %1/%2 files</source>
        <translation>同步中 %1/%2 个文件</translation>
    </message>
    <message>
        <source>scanning</source>
        <translation>扫描中</translation>
    </message>
    <message>
        <source>in sync</source>
        <translation>已同步</translation>
    </message>
    <message numerus="yes">
        <source>in sync, %n conflict(s)</source>
        <translation>
            <numerusform>已同步，%n 个冲突</numerusform>
        </translation>
    </message>
    <message>
        <source>halted: %1</source>
        <translation>已暂停：%1</translation>
    </message>
    <message>
        <source>error: %1</source>
        <translation>错误：%1</translation>
    </message>
    <message>
        <source>connecting</source>
        <translation>连接中</translation>
    </message>
    <message>
        <source>Sync conflict</source>
        <translation>同步冲突</translation>
    </message>
    <message>
        <source>Both copies were kept: %1</source>
        <translation>两份副本均已保留：%1</translation>
    </message>
    <message>
        <source>restoring %1</source>
        <translation>正在还原 %1</translation>
    </message>
    <message>
        <source>%1: dev mode ended, copy %2 deleted</source>
        <translation>%1：开发模式已结束，副本 %2 已删除</translation>
    </message>
    <message>
        <source>%1: dev mode ended, restored exactly</source>
        <translation>%1：开发模式已结束，已精确还原</translation>
    </message>
    <message>
        <source>%1 was restored, but differs from the saved original at: %2</source>
        <translation>%1 已还原，但与保存的原始版本在以下位置不同：%2</translation>
    </message>
    <message>
        <source>%1: port-forward</source>
        <translation>%1：端口转发</translation>
    </message>
    <message>
        <source>%1 has no pods to forward to</source>
        <translation>%1 没有可转发到的 Pod</translation>
    </message>
    <message>
        <source>%1 could not be forwarded again: %2</source>
        <translation>%1 无法重新转发：%2</translation>
    </message>
    <message>
        <source>%1: dev mode not entered, nothing was changed</source>
        <translation>%1：未进入开发模式，未做任何更改</translation>
    </message>
    <message>
        <source>cancelling</source>
        <translation>正在取消</translation>
    </message>
    <message>
        <source>%1: dev mode not entered, restored exactly</source>
        <translation>%1：未进入开发模式，已完全还原</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::GroupPanel</name>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Write to the iteration&apos;s group…</source>
        <translation>在迭代群里发消息…</translation>
    </message>
    <message>
        <source>Choose an iteration to see its group.</source>
        <translation>选择一个迭代以查看其群组。</translation>
    </message>
    <message>
        <source>The group of %1</source>
        <translation>%1 的群组</translation>
    </message>
    <message>
        <source>No messages yet</source>
        <translation>暂无消息</translation>
    </message>
    <message>
        <source>Not sent: %1</source>
        <translation>未发送：%1</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::IterationsModel</name>
    <message>
        <source> (closed)</source>
        <translation>（已关闭）</translation>
    </message>
    <message>
        <source>no environment</source>
        <translation>尚无环境</translation>
    </message>
    <message numerus="yes">
        <source> · %n new</source>
        <translation>
            <numerusform> · %n 条新消息</numerusform>
        </translation>
    </message>
    <message>
        <source>Members: %1</source>
        <translation>成员：%1</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::MainWindow</name>
    <message>
        <source>Dev mode</source>
        <translation>开发模式</translation>
    </message>
    <message>
        <source>Shell</source>
        <translation>Shell</translation>
    </message>
    <message>
        <source>Logs</source>
        <translation>日志</translation>
    </message>
    <message>
        <source>Open forwarded port</source>
        <translation>打开转发端口</translation>
    </message>
    <message>
        <source>Cluster: %1 (context %2)</source>
        <translation>集群：%1（上下文 %2）</translation>
    </message>
    <message>
        <source>Namespace:</source>
        <translation>命名空间：</translation>
    </message>
    <message>
        <source>Switch the selected component into dev mode: your folder is synced into its container</source>
        <translation>将所选组件切换到开发模式：你的目录会同步到其容器中</translation>
    </message>
    <message>
        <source>Settings…</source>
        <translation>设置…</translation>
    </message>
    <message>
        <source>Activity</source>
        <translation>动态</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>清空</translation>
    </message>
    <message>
        <source>End dev mode</source>
        <translation>结束开发模式</translation>
    </message>
    <message>
        <source>%1: ending dev mode</source>
        <translation>%1：正在结束开发模式</translation>
    </message>
    <message>
        <source>The local folder to sync into %1</source>
        <translation>要同步到 %1 的本地目录</translation>
    </message>
    <message>
        <source>%1: entering dev mode with %2</source>
        <translation>%1：正在以 %2 进入开发模式</translation>
    </message>
    <message>
        <source>No terminal emulator was found (set $TERMINAL). In a terminal, run:
%1 dev shell %2 -n %3</source>
        <translation>未找到终端模拟器（请设置 $TERMINAL）。请在终端中运行：
%1 dev shell %2 -n %3</translation>
    </message>
    <message>
        <source>No pod to show the logs of</source>
        <translation>没有可显示日志的 Pod</translation>
    </message>
    <message>
        <source>Logs — %1</source>
        <translation>日志 — %1</translation>
    </message>
    <message>
        <source>Show only lines containing…</source>
        <translation>只显示包含以下内容的行…</translation>
    </message>
    <message>
        <source>— %1</source>
        <translation>— %1</translation>
    </message>
    <message>
        <source>— the container ended</source>
        <translation>— 容器已结束</translation>
    </message>
    <message>
        <source>Create environment</source>
        <translation>创建环境</translation>
    </message>
    <message>
        <source>Deploy…</source>
        <translation>部署…</translation>
    </message>
    <message>
        <source>Redeploy</source>
        <translation>重新部署</translation>
    </message>
    <message>
        <source>Open URL</source>
        <translation>打开网址</translation>
    </message>
    <message>
        <source>My iterations</source>
        <translation>我的迭代</translation>
    </message>
    <message>
        <source>Creating the environment failed: %1</source>
        <translation>创建环境失败：%1</translation>
    </message>
    <message>
        <source>Redeploy refused: %1</source>
        <translation>重新部署被拒绝：%1</translation>
    </message>
    <message>
        <source>Bot: %1</source>
        <translation>机器人：%1</translation>
    </message>
    <message>
        <source>You are in no iteration yet.</source>
        <translation>你还没有参与任何迭代。</translation>
    </message>
    <message>
        <source>Choose an iteration.</source>
        <translation>请选择一个迭代。</translation>
    </message>
    <message>
        <source>&lt;b&gt;%1&lt;/b&gt; has no environment yet.</source>
        <translation>&lt;b&gt;%1&lt;/b&gt; 尚无环境。</translation>
    </message>
    <message>
        <source>&lt;b&gt;%1&lt;/b&gt; · namespace &lt;b&gt;%2&lt;/b&gt; · %3</source>
        <translation>&lt;b&gt;%1&lt;/b&gt; · 命名空间 &lt;b&gt;%2&lt;/b&gt; · %3</translation>
    </message>
    <message>
        <source>Choose the branch or build each component runs (Ctrl+D)</source>
        <translation>选择每个组件运行的分支或构建（Ctrl+D）</translation>
    </message>
    <message>
        <source>The kubeconfig context Iterdeck uses</source>
        <translation>Iterdeck 使用的 kubeconfig 上下文</translation>
    </message>
    <message>
        <source>Port-forwards</source>
        <translation>端口转发</translation>
    </message>
    <message>
        <source>The kubeconfig changed: now %1 (context %2)</source>
        <translation>kubeconfig 已变更：现在使用 %1（上下文 %2）</translation>
    </message>
    <message>
        <source>%1 could not be started.</source>
        <translation>无法启动 %1。</translation>
    </message>
    <message>
        <source>The port-forwards of the selected workload</source>
        <translation>所选工作负载的端口转发</translation>
    </message>
    <message>
        <source>Group</source>
        <translation>群组</translation>
    </message>
    <message>
        <source>The selected iteration&apos;s group</source>
        <translation>所选迭代的群组</translation>
    </message>
    <message>
        <source>Cancel dev mode</source>
        <translation>取消开发模式</translation>
    </message>
    <message>
        <source>Stop entering dev mode and restore whatever was changed already</source>
        <translation>停止进入开发模式，并还原已做的更改</translation>
    </message>
    <message>
        <source>%1 is not deployed yet</source>
        <translation>%1 尚未部署</translation>
    </message>
    <message>
        <source>%1: cancelling dev mode</source>
        <translation>%1：正在取消开发模式</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::PortForwardsPanel</name>
    <message>
        <source>dev config</source>
        <translation>开发配置</translation>
    </message>
    <message>
        <source>added by you</source>
        <translation>手动添加</translation>
    </message>
    <message>
        <source>%1 → %2 (%3): %4</source>
        <translation>%1 → %2（%3）：%4</translation>
    </message>
    <message>
        <source>%1 → %2 (%3): starting</source>
        <translation>%1 → %2（%3）：正在启动</translation>
    </message>
    <message>
        <source>127.0.0.1:%1 → %2 (%3%4)</source>
        <translation>127.0.0.1:%1 → %2（%3%4）</translation>
    </message>
    <message>
        <source>Add</source>
        <translation>添加</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>any free port</source>
        <translation>任一空闲端口</translation>
    </message>
    <message>
        <source>The port on this computer (127.0.0.1); &quot;any free port&quot; lets the system pick one</source>
        <translation>本机（127.0.0.1）上的端口；“任一空闲端口”由系统自动选择</translation>
    </message>
    <message>
        <source>Stop the selected forward and forget it (forwards of the dev config stay)</source>
        <translation>停止所选转发并不再记住它（开发配置中的转发保留）</translation>
    </message>
    <message>
        <source>Local port:</source>
        <translation>本地端口：</translation>
    </message>
    <message>
        <source>Container port:</source>
        <translation>容器端口：</translation>
    </message>
    <message>
        <source>No port-forwards yet</source>
        <translation>还没有端口转发</translation>
    </message>
    <message>
        <source>Could not forward %1: %2</source>
        <translation>无法转发 %1：%2</translation>
    </message>
    <message>
        <source>, following the pod</source>
        <translation>，跟随 Pod</translation>
    </message>
    <message>
        <source>, waiting for a pod</source>
        <translation>，等待 Pod</translation>
    </message>
    <message>
        <source>The port in the container</source>
        <translation>容器中的端口</translation>
    </message>
    <message>
        <source>Port-forwards move to the new pod once dev mode has started or ended.</source>
        <translation>开发模式启动或结束后，端口转发会移到新的 Pod。</translation>
    </message>
    <message>
        <source>Select a running workload to forward its ports.</source>
        <translation>选择一个正在运行的工作负载以转发其端口。</translation>
    </message>
    <message>
        <source>Port-forwards of %1 (to its dev pod)</source>
        <translation>%1 的端口转发（到其开发 Pod）</translation>
    </message>
    <message>
        <source>Port-forwards of %1 (to its pods)</source>
        <translation>%1 的端口转发（到其 Pod）</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::SettingsDialog</name>
    <message>
        <source>cannot remove %1</source>
        <translation>无法删除 %1</translation>
    </message>
    <message>
        <source>cannot write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>Start Iterdeck when I log in</source>
        <translation>登录时启动 Iterdeck</translation>
    </message>
    <message>
        <source>Dev mode: failures, conflicts, restores</source>
        <translation>开发模式：失败、冲突、还原</translation>
    </message>
    <message>
        <source>Deploys and new builds of my iterations</source>
        <translation>我的迭代的部署和新构建</translation>
    </message>
    <message>
        <source>Iterdeck settings</source>
        <translation>Iterdeck 设置</translation>
    </message>
    <message>
        <source>default: $KUBECONFIG, else ~/.kube/config</source>
        <translation>默认：$KUBECONFIG，否则 ~/.kube/config</translation>
    </message>
    <message>
        <source>default: the kubeconfig&apos;s current context</source>
        <translation>默认：kubeconfig 的当前上下文</translation>
    </message>
    <message>
        <source>default: the context&apos;s namespace</source>
        <translation>默认：上下文的命名空间</translation>
    </message>
    <message>
        <source>System language</source>
        <translation>系统语言</translation>
    </message>
    <message>
        <source>Kubeconfig</source>
        <translation>Kubeconfig</translation>
    </message>
    <message>
        <source>Context</source>
        <translation>上下文</translation>
    </message>
    <message>
        <source>Namespace</source>
        <translation>命名空间</translation>
    </message>
    <message>
        <source>Bot URL</source>
        <translation>机器人地址</translation>
    </message>
    <message>
        <source>Bot token</source>
        <translation>机器人令牌</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>通知</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>No keychain is available (%1): the token cannot be stored safely and is kept for this session only.</source>
        <translation>没有可用的密钥环（%1）：无法安全保存令牌，令牌仅在本次会话中保留。</translation>
    </message>
    <message>
        <source>Iterations starting and closing, and group messages</source>
        <translation>迭代的开始与关闭，以及群组消息</translation>
    </message>
    <message>
        <source>Allow plain http to a bot on another computer (the token is sent unencrypted)</source>
        <translation>允许通过明文 http 连接其他计算机上的机器人（令牌将以未加密方式发送）</translation>
    </message>
    <message>
        <source>Iterdeck shows the new language when it starts again.</source>
        <translation>Iterdeck 下次启动时将显示新语言。</translation>
    </message>
    <message>
        <source>Start at login</source>
        <translation>登录时启动</translation>
    </message>
    <message>
        <source>Bot token not saved</source>
        <translation>机器人令牌未保存</translation>
    </message>
    <message>
        <source>The token could not be stored in the keychain (%1). It is used until Iterdeck quits; enter it again after the next start.</source>
        <translation>无法将令牌存入钥匙串（%1）。在 Iterdeck 退出前仍会使用它；下次启动后请重新输入。</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::TrayIcon</name>
    <message>
        <source>Dev mode</source>
        <translation>开发模式</translation>
    </message>
    <message>
        <source>Open Iterdeck</source>
        <translation>打开 Iterdeck</translation>
    </message>
    <message>
        <source>Pause notifications</source>
        <translation>暂停通知</translation>
    </message>
    <message>
        <source>Settings…</source>
        <translation>设置…</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
</context>
<context>
    <name>iterdeck::app::WorkloadsModel</name>
    <message>
        <source>Component</source>
        <translation>组件</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Image</source>
        <translation>镜像</translation>
    </message>
    <message>
        <source>Pods</source>
        <translation>Pod</translation>
    </message>
    <message>
        <source>Dev mode</source>
        <translation>开发模式</translation>
    </message>
    <message>
        <source>Sync</source>
        <translation>同步</translation>
    </message>
    <message>
        <source>on (not syncing)</source>
        <translation>开启（未同步）</translation>
    </message>
    <message>
        <source>on, by %1</source>
        <translation>开启，由 %1</translation>
    </message>
    <message>
        <source>Follows</source>
        <translation>跟随</translation>
    </message>
    <message>
        <source>Deployed</source>
        <translation>已部署</translation>
    </message>
    <message>
        <source>deploying %1…</source>
        <translation>正在部署 %1…</translation>
    </message>
    <message>
        <source>failed: %1</source>
        <translation>失败：%1</translation>
    </message>
    <message>
        <source>waiting for a build</source>
        <translation>等待构建</translation>
    </message>
    <message numerus="yes">
        <source>%ns ago</source>
        <translation>
            <numerusform>%n 秒前</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%nm ago</source>
        <translation>
            <numerusform>%n 分钟前</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%nh ago</source>
        <translation>
            <numerusform>%n 小时前</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%nd ago</source>
        <translation>
            <numerusform>%n 天前</numerusform>
        </translation>
    </message>
    <message>
        <source>%1 runs as %2, which is not in the cluster yet</source>
        <translation>%1 以 %2 运行，但它尚未出现在集群中</translation>
    </message>
    <message>
        <source>not deployed</source>
        <translation>未部署</translation>
    </message>
    <message>
        <source>pinned: %1</source>
        <translation>固定：%1</translation>
    </message>
    <message>
        <source>pinned: build %1</source>
        <translation>固定：构建 %1</translation>
    </message>
</context>
<context>
    <name>iterdeck::chatops</name>
    <message>
        <source>Iteration %1 started</source>
        <translation>迭代 %1 已开始</translation>
    </message>
    <message>
        <source>Iteration %1 closed</source>
        <translation>迭代 %1 已关闭</translation>
    </message>
    <message>
        <source>Members of %1: %2</source>
        <translation>%1 的成员：%2</translation>
    </message>
    <message>
        <source>Environment %1 created</source>
        <translation>环境 %1 已创建</translation>
    </message>
    <message>
        <source>Environment %1 is ready</source>
        <translation>环境 %1 已就绪</translation>
    </message>
    <message>
        <source>Environment %1 failed</source>
        <translation>环境 %1 失败</translation>
    </message>
    <message>
        <source>Environment %1 failed: %2</source>
        <translation>环境 %1 失败：%2</translation>
    </message>
    <message>
        <source>Environment %1 is being removed</source>
        <translation>环境 %1 正在删除</translation>
    </message>
    <message>
        <source>Environment %1 was removed</source>
        <translation>环境 %1 已删除</translation>
    </message>
    <message>
        <source>Deploying %1 %2 to %3</source>
        <translation>正在将 %1 %2 部署到 %3</translation>
    </message>
    <message>
        <source>%1 %2 deployed to %3</source>
        <translation>%1 %2 已部署到 %3</translation>
    </message>
    <message>
        <source>Deploy of %1 to %2 failed: %3</source>
        <translation>将 %1 部署到 %2 失败：%3</translation>
    </message>
    <message>
        <source>%1 in %2 waits for a first build</source>
        <translation>%2 中的 %1 正在等待首次构建</translation>
    </message>
    <message>
        <source>New build of %1 on %2: %3</source>
        <translation>%1 在 %2 上有新构建：%3</translation>
    </message>
    <message>
        <source>pinned to build #%1</source>
        <translation>固定于构建 #%1</translation>
    </message>
    <message>
        <source>follows %1</source>
        <translation>跟随 %1</translation>
    </message>
    <message>
        <source>%1 %2</source>
        <translation>%1 %2</translation>
    </message>
    <message>
        <source>%1 %2 (by %3)</source>
        <translation>%1 %2（由 %3 操作）</translation>
    </message>
    <message>
        <source>%1: %2</source>
        <translation>%1：%2</translation>
    </message>
    <message>
        <source>%1 in %2</source>
        <translation>%2 中的 %1</translation>
    </message>
    <message>
        <source>Group %1 opened</source>
        <translation>群组 %1 已开启</translation>
    </message>
    <message>
        <source>Group members: %1</source>
        <translation>群组成员：%1</translation>
    </message>
    <message>
        <source>Group archived</source>
        <translation>群组已归档</translation>
    </message>
</context>
<context>
    <name>iterdeck::chatops::BotClient</name>
    <message>
        <source>no heartbeat from the bot for %1 s</source>
        <translation>已有 %1 秒未收到机器人的心跳</translation>
    </message>
    <message>
        <source>the bot URL must look like https://bot.example.com, not &quot;%1&quot;</source>
        <translation>机器人地址应形如 https://bot.example.com，而不是“%1”</translation>
    </message>
    <message>
        <source>refusing to send the token in clear to %1: use https, or allow an insecure connection explicitly (--allow-insecure)</source>
        <translation>拒绝以明文向 %1 发送令牌：请使用 https，或明确允许不安全的连接（--allow-insecure）</translation>
    </message>
    <message>
        <source>a desktop token is needed (ask an admin: iterdeck-bot token create USER)</source>
        <translation>需要桌面令牌（请联系管理员：iterdeck-bot token create USER）</translation>
    </message>
    <message>
        <source>%1: no PEM certificate in it</source>
        <translation>%1：其中没有 PEM 证书</translation>
    </message>
    <message>
        <source>the connection was closed</source>
        <translation>连接已关闭</translation>
    </message>
    <message>
        <source>the bot refused the token (unknown or revoked)</source>
        <translation>机器人拒绝了该令牌（未知或已吊销）</translation>
    </message>
    <message>
        <source>the token was revoked</source>
        <translation>令牌已被吊销</translation>
    </message>
    <message>
        <source>the connection to the bot dropped</source>
        <translation>与机器人的连接已断开</translation>
    </message>
    <message>
        <source>the bot sent something that is not a protocol message: %1</source>
        <translation>机器人发送了非协议消息：%1</translation>
    </message>
    <message>
        <source>not connected to the bot</source>
        <translation>未连接到机器人</translation>
    </message>
    <message>
        <source>the bot did not answer in time</source>
        <translation>机器人未及时响应</translation>
    </message>
</context>
<context>
    <name>iterdeck::ctl</name>
    <message>
        <source>error: no bot: pass --bot URL or set ITERDECK_BOT_URL
</source>
        <translation>错误：未指定机器人：请传入 --bot URL 或设置 ITERDECK_BOT_URL
</translation>
    </message>
    <message>
        <source>error: no token: pass --token TOKEN or set ITERDECK_TOKEN (an admin creates one with &quot;iterdeck-bot token create USER&quot;)
</source>
        <translation>错误：未指定令牌：请传入 --token TOKEN 或设置 ITERDECK_TOKEN（管理员可用 &quot;iterdeck-bot token create USER&quot; 创建）
</translation>
    </message>
    <message>
        <source>warning: %1 (reconnecting)
</source>
        <translation>警告：%1（正在重新连接）
</translation>
    </message>
    <message>
        <source>error: %1: no answer from the bot in 20 s
</source>
        <translation>错误：%1：机器人在 20 秒内没有响应
</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>pinned #%1</source>
        <translation>固定于 #%1</translation>
    </message>
    <message>
        <source>Bot:        %1
</source>
        <translation>机器人：    %1
</translation>
    </message>
    <message>
        <source>User:       %1%2
</source>
        <translation>用户：      %1%2
</translation>
    </message>
    <message>
        <source> (admin)</source>
        <translation>（管理员）</translation>
    </message>
    <message>
        <source>Project:    %1 (%2 components)
</source>
        <translation>项目：      %1（%2 个组件）
</translation>
    </message>
    <message>
        <source>Event log:  at #%1
</source>
        <translation>事件日志：  位于 #%1
</translation>
    </message>
    <message>
        <source>Iterations: %1
</source>
        <translation>迭代：      %1
</translation>
    </message>
    <message>
        <source>no environment</source>
        <translation>尚无环境</translation>
    </message>
    <message>
        <source>No environments of yours. Create one from the desktop app or with &quot;iterdeckctl bot run env create&quot;.
</source>
        <translation>你还没有环境。请在桌面应用中创建，或使用 &quot;iterdeckctl bot run env create&quot; 创建。
</translation>
    </message>
    <message>
        <source>NAMESPACE</source>
        <translation>命名空间</translation>
    </message>
    <message>
        <source>ITERATION</source>
        <translation>迭代</translation>
    </message>
    <message>
        <source>STATE</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>COMPONENT</source>
        <translation>组件</translation>
    </message>
    <message>
        <source>FOLLOWS</source>
        <translation>跟随</translation>
    </message>
    <message>
        <source>DEPLOYED</source>
        <translation>已部署</translation>
    </message>
    <message>
        <source>RESULT</source>
        <translation>结果</translation>
    </message>
    <message>
        <source>AGE</source>
        <translation>时长</translation>
    </message>
    <message>
        <source>error: no environment &quot;%1&quot; of yours; yours: %2
</source>
        <translation>错误：你没有环境“%1”；你的环境：%2
</translation>
    </message>
    <message>
        <source>error: --follow and --pin need a COMPONENT
</source>
        <translation>错误：--follow 和 --pin 需要指定 COMPONENT
</translation>
    </message>
    <message>
        <source>%1 now follows %2; deploying.
</source>
        <translation>%1 现在跟随 %2；正在部署。
</translation>
    </message>
    <message>
        <source>%1 pinned to artifact #%2; deploying.
</source>
        <translation>%1 已固定到制品 #%2；正在部署。
</translation>
    </message>
    <message>
        <source>error: no build &quot;%1&quot; of %2 among its recent builds
</source>
        <translation>错误：在 %2 的最近构建中没有构建“%1”
</translation>
    </message>
    <message>
        <source>Redeploying %1.
</source>
        <translation>正在重新部署 %1。
</translation>
    </message>
    <message>
        <source>BRANCH</source>
        <translation>分支</translation>
    </message>
    <message>
        <source>LATEST BUILD</source>
        <translation>最新构建</translation>
    </message>
    <message>
        <source>PUBLISHED</source>
        <translation>发布时间</translation>
    </message>
    <message>
        <source>SELECTED</source>
        <translation>已选</translation>
    </message>
    <message>
        <source>no builds yet</source>
        <translation>尚无构建</translation>
    </message>
    <message>
        <source>Change with: iterdeckctl bot deploy %1 COMPONENT --follow BRANCH | --pin BUILD
</source>
        <translation>修改方式：iterdeckctl bot deploy %1 COMPONENT --follow BRANCH | --pin BUILD
</translation>
    </message>
    <message>
        <source>Confirm with: iterdeckctl bot run confirm %1
</source>
        <translation>确认方式：iterdeckctl bot run confirm %1
</translation>
    </message>
</context>
<context>
    <name>iterdeck::devmode</name>
    <message>
        <source>reading %1</source>
        <translation>正在读取 %1</translation>
    </message>
    <message>
        <source>loading the dev config</source>
        <translation>正在加载开发配置</translation>
    </message>
    <message>
        <source>checking the workload and your permissions</source>
        <translation>正在检查工作负载和你的权限</translation>
    </message>
    <message>
        <source>preparing persistent folders</source>
        <translation>正在准备持久化目录</translation>
    </message>
    <message>
        <source>holding the autoscaler at one replica</source>
        <translation>正在将自动扩缩容保持为一个副本</translation>
    </message>
    <message>
        <source>switching %1 to the dev image</source>
        <translation>正在将 %1 切换为开发镜像</translation>
    </message>
    <message>
        <source>creating your copy of %1</source>
        <translation>正在创建你的 %1 副本</translation>
    </message>
    <message>
        <source>waiting for the dev pod</source>
        <translation>正在等待开发 Pod</translation>
    </message>
    <message>
        <source>installing the sync agent in %1</source>
        <translation>正在 %1 中安装同步代理</translation>
    </message>
    <message>
        <source>syncing %1 to %2:%3</source>
        <translation>正在将 %1 同步到 %2:%3</translation>
    </message>
    <message>
        <source>forwarding %1</source>
        <translation>正在转发 %1</translation>
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
<context>
    <name>iterdeck::kube::KubeconfigWatcher</name>
    <message>
        <source>The context &quot;%1&quot; is no longer in the kubeconfig (%2). Iterdeck keeps its last connection; choose another context.</source>
        <translation>上下文“%1”已不在 kubeconfig（%2）中。Iterdeck 保持原有连接；请选择其他上下文。</translation>
    </message>
    <message>
        <source>The kubeconfig cannot be used: %1. Iterdeck keeps its last connection.</source>
        <translation>kubeconfig 无法使用：%1。Iterdeck 保持原有连接。</translation>
    </message>
</context>
</TS>
