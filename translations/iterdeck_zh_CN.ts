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
</context>
</TS>
