#!/usr/bin/python3
"""Conformance of the sandbox cluster with real clients.

Starts `iterdeckctl sandbox up` (the binary named by $ITERDECK_CTL) on a private data directory
and drives it with the real kubectl (/usr/bin/kubectl), the Python `kubernetes` client and raw
HTTPS requests. Every check asserts an exact outcome (exit code, output text, HTTP status,
Status.reason) and everything has a timeout, so a broken server fails the suite instead of
hanging it.

Run with Debian's interpreter, which has python3-kubernetes and python3-websocket:
    ITERDECK_CTL=/path/to/iterdeckctl /usr/bin/python3 conformance.py [-k pattern]
CONFORMANCE_KEEP=1 keeps the temporary directory (data dirs, kubeconfigs, server logs).
"""

import fcntl
import http.client
import json
import os
import pty
import queue
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

import yaml
from kubernetes import client as kclient
from kubernetes import config as kconfig
from kubernetes import watch as kwatch
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward as kportforward
from kubernetes.stream import stream as kstream

CTL = os.environ.get("ITERDECK_CTL", "")
KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
KEEP = os.environ.get("CONFORMANCE_KEEP") == "1"

BASE_IMAGE = "iterdeck/sandbox-base:latest"
ADMIN = "sandbox-admin"
DEVELOPER = "sandbox-developer"
DEMO_MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                             "resources", "sandbox", "demo-app.yaml")

START_TIMEOUT = 60      # server start until "kubeconfig: FILE"
STOP_TIMEOUT = 30       # SIGTERM until exit
POD_TIMEOUT = 60        # pod until Running and ready
KUBECTL_TIMEOUT = 45    # any single kubectl run
HTTP_TIMEOUT = 15       # any single raw HTTPS request
RESPONSIVE = 5.0        # a request while the server is being abused must answer within this

# Prints a pod's log lines forever: "started", then "tick 1", "tick 2"... one a second.
TICKER = ["sh", "-c", 'echo started; i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 1; done']
# Serves hello.txt over HTTP on the pod's own address.
WEB_SERVER = ["sh", "-c", 'd=$(mktemp -d) && echo "hello from the pod" > "$d/hello.txt" && cd "$d" '
              '&& exec python3 -m http.server 8080 --bind "$POD_IP"']

ROOT = tempfile.mkdtemp(prefix="sandbox-conformance-")
SANDBOXES = []  # every Sandbox started, for the log tails of a failed run


# ---------------------------------------------------------------------------------------------
# Helpers


def wait_for(what, predicate, timeout, interval=0.5):
    """Calls predicate until it returns something truthy; fails with the last value or exception."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as e:  # noqa: BLE001 - any error is "not yet", reported on timeout
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s; last: %r" % (timeout, what, last))
        time.sleep(interval)


class LineReader:
    """Reads a pipe's lines on a thread so a test can wait for one with a timeout."""

    def __init__(self, pipe):
        self.lines = []
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            self._queue.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._queue.put(None)

    def expect(self, what, predicate, timeout):
        """Returns the first new line for which predicate is true."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %ss waiting for %s; lines so far: %r"
                                     % (timeout, what, self.lines))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)  # stays at end of stream
                raise AssertionError("stream ended while waiting for %s; lines: %r" % (what, self.lines))
            self.lines.append(line)
            if predicate(line):
                return line


def stop_process(proc, timeout=5):
    """Ends a process this suite started (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def status_of(body):
    """Parses a Status body (bytes or str); None if it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, TypeError):
        return None


class Sandbox:
    """One `iterdeckctl sandbox up` process with its data dir, kubeconfig and clients."""

    def __init__(self, name):
        self.dir = os.path.join(ROOT, name)
        self.data_dir = os.path.join(self.dir, "data")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.cache_dir = os.path.join(self.dir, "kubecache")
        self.home = os.path.join(self.dir, "home")
        self.log_path = os.path.join(self.dir, "sandbox.log")
        for d in (self.dir, self.home):
            os.makedirs(d, exist_ok=True)
        self.proc = None
        self._reader = None
        self.starts = 0
        SANDBOXES.append(self)

    # -- process

    def start(self):
        if not CTL or not os.access(CTL, os.X_OK):
            raise AssertionError("ITERDECK_CTL must name the iterdeckctl binary (got %r)" % CTL)
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write("==== start %d\n" % self.starts)
        cmd = [CTL, "sandbox", "up", "--data-dir", self.data_dir, "--port", "0",
               "--kubeconfig-out", self.kubeconfig]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        lines = queue.Queue()

        def pump(pipe):
            with open(self.log_path, "ab", buffering=0) as log:
                for raw in iter(pipe.readline, b""):
                    log.write(raw)
                    lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
            lines.put(None)

        self._reader = threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        printed = None
        self.listening = None
        while printed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError("sandbox did not print 'kubeconfig: FILE' within %ss:\n%s"
                                     % (START_TIMEOUT, self.log_tail()))
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                raise AssertionError("sandbox exited (%s) before it was ready:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            m = re.match(r"^\s*listening: (https://\S+)\s*$", line)
            if m:
                self.listening = m.group(1)
            m = re.match(r"^\s*kubeconfig: (.+?)\s*$", line)
            if m:
                printed = m.group(1)
        if os.path.realpath(printed) != os.path.realpath(self.kubeconfig):
            raise AssertionError("sandbox printed kubeconfig %r, expected %r" % (printed, self.kubeconfig))
        self._load_kubeconfig()

    def stop(self):
        """SIGTERM and wait; returns the exit code (fails if it does not stop in time)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                raise AssertionError("sandbox did not stop within %ss of SIGTERM" % STOP_TIMEOUT)
        if self._reader:
            self._reader.join(timeout=5)
        proc.stdout.close()
        return proc.returncode

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc.stdout.close()
        self.proc = None

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "<no log>"

    # -- kubeconfig

    def _load_kubeconfig(self):
        with open(self.kubeconfig) as f:
            cfg = yaml.safe_load(f)
        contexts = {c["name"]: c["context"] for c in cfg.get("contexts", [])}
        users = {u["name"]: u["user"] for u in cfg.get("users", [])}
        clusters = {c["name"]: c["cluster"] for c in cfg.get("clusters", [])}
        if cfg.get("current-context") != ADMIN or ADMIN not in contexts or DEVELOPER not in contexts:
            raise AssertionError("kubeconfig needs contexts %s (current) and %s: %r"
                                 % (ADMIN, DEVELOPER, cfg))
        cluster = clusters[contexts[ADMIN]["cluster"]]
        self.server = cluster["server"]
        m = re.match(r"^https://(127\.0\.0\.1|localhost|\[::1\]):(\d+)/?$", self.server)
        if not m:
            raise AssertionError("unexpected server URL %r" % self.server)
        self.host, self.port = "127.0.0.1", int(m.group(2))
        self.ca_file = os.path.join(self.dir, "ca.crt")
        if "certificate-authority-data" in cluster:
            import base64
            with open(self.ca_file, "wb") as f:
                f.write(base64.b64decode(cluster["certificate-authority-data"]))
        else:
            shutil.copyfile(cluster["certificate-authority"], self.ca_file)
        self.admin_token = users[contexts[ADMIN]["user"]].get("token")
        if not self.admin_token:
            raise AssertionError("the admin user has no bearer token: %r" % users[contexts[ADMIN]["user"]])
        developer = users[contexts[DEVELOPER]["user"]]
        if not (developer.get("client-certificate-data") or developer.get("client-certificate")):
            raise AssertionError("the developer user has no client certificate: %r" % developer)
        self._clients = {}

    # -- clients

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(KUBECONFIG=self.kubeconfig, KUBECACHEDIR=self.cache_dir, HOME=self.home,
                   LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="dumb")
        return env

    def kubectl(self, *args, context=None, input=None, timeout=KUBECTL_TIMEOUT):
        cmd = [KUBECTL] + (["--context", context] if context else []) + list(args)
        try:
            return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                                  env=self.env())
        except subprocess.TimeoutExpired as e:
            raise AssertionError("kubectl %s did not finish within %ss; stdout %r, stderr %r"
                                 % (" ".join(args), timeout, e.stdout, e.stderr)) from None

    def kubectl_popen(self, *args, context=None, **kwargs):
        cmd = [KUBECTL] + (["--context", context] if context else []) + list(args)
        return subprocess.Popen(cmd, env=self.env(), **kwargs)

    def api_client(self, context=ADMIN):
        if context not in self._clients:
            self._clients[context] = kconfig.new_client_from_config(config_file=self.kubeconfig,
                                                                    context=context)
        return self._clients[context]

    def core(self, context=ADMIN):
        return kclient.CoreV1Api(self.api_client(context))

    def apps(self, context=ADMIN):
        return kclient.AppsV1Api(self.api_client(context))

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def tls_socket(self, rcvbuf=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(HTTP_TIMEOUT)
        raw.connect((self.host, self.port))
        return self.ssl_context().wrap_socket(raw, server_hostname=self.host)

    def https(self, method, path, body=None, token=True, content_type="application/json",
              timeout=HTTP_TIMEOUT):
        """One request on a fresh connection; returns (status, content type, body bytes)."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl_context(), timeout=timeout)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + (token if isinstance(token, str) else self.admin_token)
        if body is not None:
            headers["Content-Type"] = content_type
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()

    # -- objects

    def ensure_namespace(self, name):
        try:
            self.core().create_namespace(kclient.V1Namespace(api_version="v1", kind="Namespace",
                                                             metadata=kclient.V1ObjectMeta(name=name)),
                                         _request_timeout=HTTP_TIMEOUT)
        except ApiException as e:
            if e.status != 409:
                raise
        return name

    def create_pod(self, ns, name, command, restart_policy="Always", labels=None):
        pod = kclient.V1Pod(
            api_version="v1", kind="Pod",
            metadata=kclient.V1ObjectMeta(name=name, labels=labels or {"app": name}),
            spec=kclient.V1PodSpec(restart_policy=restart_policy, termination_grace_period_seconds=2,
                                   containers=[kclient.V1Container(name="main", image=BASE_IMAGE,
                                                                   command=command)]))
        return self.core().create_namespaced_pod(ns, pod, _request_timeout=HTTP_TIMEOUT)

    def create_deployment(self, ns, name, replicas=1, command=None):
        labels = {"app": name}
        dep = kclient.V1Deployment(
            api_version="apps/v1", kind="Deployment",
            metadata=kclient.V1ObjectMeta(name=name, labels=dict(labels)),
            spec=kclient.V1DeploymentSpec(
                replicas=replicas,
                selector=kclient.V1LabelSelector(match_labels=dict(labels)),
                template=kclient.V1PodTemplateSpec(
                    metadata=kclient.V1ObjectMeta(labels=dict(labels)),
                    spec=kclient.V1PodSpec(termination_grace_period_seconds=2, containers=[
                        kclient.V1Container(name="main", image=BASE_IMAGE, command=command or TICKER)]))))
        return self.apps().create_namespaced_deployment(ns, dep, _request_timeout=HTTP_TIMEOUT)

    def pod_running(self, ns, name):
        """The pod when it is Running with every container ready, else None."""
        pod = self.core().read_namespaced_pod(name, ns, _request_timeout=HTTP_TIMEOUT)
        statuses = pod.status.container_statuses or []
        if pod.status.phase == "Running" and statuses and all(s.ready for s in statuses):
            return pod
        return None

    def wait_pod_running(self, ns, name, timeout=POD_TIMEOUT):
        try:
            return wait_for("pod %s/%s Running and ready" % (ns, name), lambda: self.pod_running(ns, name),
                            timeout)
        except AssertionError as e:
            try:
                pod = self.core().read_namespaced_pod(name, ns, _request_timeout=HTTP_TIMEOUT)
            except ApiException:
                raise e from None
            raise AssertionError("%s\nstatus: %s" % (e, pod.status)) from None

    def wait_pods_running(self, ns, selector, count, timeout=POD_TIMEOUT):
        def check():
            pods = self.core().list_namespaced_pod(ns, label_selector=selector,
                                                   _request_timeout=HTTP_TIMEOUT).items
            live = [p for p in pods if p.metadata.deletion_timestamp is None]
            ready = [p for p in live if p.status.phase == "Running"
                     and p.status.container_statuses and all(s.ready for s in p.status.container_statuses)]
            return ready if len(ready) == count and len(live) == count else None
        return wait_for("%d pods %s in %s Running" % (count, selector, ns), check, timeout)


def deployment_manifest(ns, name, replicas=1, command=("sleep", "3600")):
    """A Deployment as kubectl reads it from a file (sent as JSON, unlike `kubectl create deployment`)."""
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 2,
                                           "containers": [{"name": "main", "image": BASE_IMAGE,
                                                           "command": list(command)}]}}}}


class SandboxTestCase(unittest.TestCase):
    """Assertions on kubectl results and Status bodies."""

    sandbox = None  # set by setUpModule or the class

    maxDiff = None

    def kubectl(self, *args, **kwargs):
        return self.sandbox.kubectl(*args, **kwargs)

    def describe(self, r):
        return "kubectl %s\n  exit %s\n  stdout: %r\n  stderr: %r" % (" ".join(r.args[1:]), r.returncode,
                                                                      r.stdout, r.stderr)

    def assertKubectl(self, r, code=0, stdout=None, stderr=None, stdout_re=None, stderr_re=None,
                      stderr_has=None):
        """Exit code and output of a kubectl run, all failures show the whole run."""
        self.assertEqual(r.returncode, code, self.describe(r))
        if stdout is not None:
            self.assertEqual(r.stdout, stdout, self.describe(r))
        if stderr is not None:
            self.assertEqual(r.stderr, stderr, self.describe(r))
        if stdout_re is not None:
            self.assertRegex(r.stdout, stdout_re, self.describe(r))
        if stderr_re is not None:
            self.assertRegex(r.stderr, stderr_re, self.describe(r))
        for text in ([stderr_has] if isinstance(stderr_has, str) else stderr_has or []):
            self.assertIn(text, r.stderr, self.describe(r))
        return r

    def kubectl_ok(self, *args, **kwargs):
        return self.assertKubectl(self.kubectl(*args, **kwargs)).stdout

    def assertStatus(self, status, content_type, body, code, reason):
        what = "HTTP %s %s: %r" % (status, content_type, body[:600])
        self.assertEqual(status, code, what)
        self.assertTrue(content_type.startswith("application/json"), what)
        st = status_of(body)
        self.assertIsInstance(st, dict, what)
        self.assertEqual(st.get("kind"), "Status", what)
        self.assertEqual(st.get("apiVersion"), "v1", what)
        self.assertEqual(st.get("status"), "Failure", what)
        self.assertEqual(st.get("reason"), reason, what)
        self.assertEqual(st.get("code"), code, what)
        self.assertTrue(st.get("message"), what)
        return st

    def assertApiError(self, call, code, reason):
        with self.assertRaises(ApiException) as caught:
            call()
        e = caught.exception
        self.assertEqual(e.status, code, "%s %s" % (e.status, e.body))
        st = status_of(e.body)
        self.assertIsInstance(st, dict, e.body)
        self.assertEqual(st.get("reason"), reason, e.body)
        return st


# ---------------------------------------------------------------------------------------------
# The shared sandbox: namespace dev-conf with a ticking "worker" pod and an HTTP "web" pod.

SHARED = None
FIXTURE_NS = "dev-conf"


def setUpModule():
    global SHARED
    SHARED = Sandbox("shared")
    SHARED.start()
    SandboxTestCase.sandbox = SHARED
    SHARED.ensure_namespace(FIXTURE_NS)
    for name, command in (("worker", TICKER), ("web", WEB_SERVER)):
        try:
            SHARED.create_pod(FIXTURE_NS, name, command)
        except Exception as e:  # noqa: BLE001 - the tests using the pod report it
            FixturePods._state[name] = AssertionError("could not create it: %r" % e)


def tearDownModule():
    if SHARED is not None:
        SHARED.stop()


class FixturePods:
    """Waits for the shared pods once; a pod that never started fails every later user at once."""

    _state = {}

    @classmethod
    def running(cls, name):
        if name not in cls._state:
            try:
                cls._state[name] = SHARED.wait_pod_running(FIXTURE_NS, name)
            except AssertionError as e:
                cls._state[name] = e
        state = cls._state[name]
        if isinstance(state, AssertionError):
            raise AssertionError("fixture pod %s/%s is not running: %s" % (FIXTURE_NS, name, state))
        return state


# ---------------------------------------------------------------------------------------------
# kubectl


class KubectlNamespaceTests(SandboxTestCase):

    def test_namespace_create_get_delete(self):
        ns = "dev-lifecycle"
        self.assertKubectl(self.kubectl("create", "namespace", ns), stdout="namespace/%s created\n" % ns)
        self.assertKubectl(self.kubectl("create", "namespace", ns), code=1,
                           stderr='Error from server (AlreadyExists): namespaces "%s" already exists\n' % ns)
        self.assertKubectl(self.kubectl("get", "namespace", ns, "-o", "jsonpath={.status.phase}"),
                           stdout="Active")
        table = self.kubectl_ok("get", "namespace", ns).splitlines()
        self.assertEqual(table[0].split()[0], "NAME", table)
        self.assertEqual(table[1].split()[0], ns, table)
        self.assertIn("namespace/default", self.kubectl_ok("get", "namespaces", "-o", "name").split())

        # Contents: a config map and a running pod.
        self.assertKubectl(self.kubectl("create", "configmap", "cm1", "-n", ns, "--from-literal=a=b"),
                           stdout="configmap/cm1 created\n")
        # (It ends on SIGTERM, so the namespace need not wait out the 30 s grace period.)
        self.assertKubectl(self.kubectl("run", "sleeper", "-n", ns, "--image", BASE_IMAGE, "--restart=Never",
                                        "--", "sh", "-c", 'trap "exit 0" TERM; sleep 3600 & wait'),
                           stdout="pod/sleeper created\n")
        self.sandbox.wait_pod_running(ns, "sleeper")

        # kubectl waits until the namespace is gone (GET until 404).
        self.assertKubectl(self.kubectl("delete", "namespace", ns, "--timeout=60s", timeout=75),
                           stdout='namespace "%s" deleted\n' % ns)
        self.assertKubectl(self.kubectl("get", "namespace", ns), code=1,
                           stderr='Error from server (NotFound): namespaces "%s" not found\n' % ns)

        # Made again, it starts empty: the contents went with the namespace.
        self.assertKubectl(self.kubectl("create", "namespace", ns), stdout="namespace/%s created\n" % ns)
        self.assertKubectl(self.kubectl("get", "configmaps,pods", "-n", ns, "-o", "name"), stdout="")
        self.assertKubectl(self.kubectl("get", "configmap", "cm1", "-n", ns), code=1,
                           stderr='Error from server (NotFound): configmaps "cm1" not found\n')
        self.assertKubectl(self.kubectl("get", "pod", "sleeper", "-n", ns), code=1,
                           stderr='Error from server (NotFound): pods "sleeper" not found\n')
        self.assertKubectl(self.kubectl("delete", "namespace", ns, "--timeout=60s", timeout=75),
                           stdout='namespace "%s" deleted\n' % ns)


class KubectlApplyTests(SandboxTestCase):

    def manifest(self, ns, image):
        return [
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}},
                                   "spec": {"terminationGracePeriodSeconds": 2,
                                            "containers": [{"name": "web", "image": image, "command": TICKER,
                                                            "ports": [{"containerPort": 8080}]}]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "web", "namespace": ns},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        ]

    def write_manifest(self, ns, image):
        path = os.path.join(self.sandbox.dir, "apply-%s.yaml" % ns)
        with open(path, "w") as f:
            yaml.safe_dump_all(self.manifest(ns, image), f)
        return path

    def test_apply_created_unchanged_configured(self):
        ns = self.sandbox.ensure_namespace("dev-apply")
        path = self.write_manifest(ns, BASE_IMAGE)
        self.assertKubectl(self.kubectl("apply", "-f", path),
                           stdout="deployment.apps/web created\nservice/web created\n")
        self.assertKubectl(self.kubectl("apply", "-f", path),
                           stdout="deployment.apps/web unchanged\nservice/web unchanged\n")
        self.assertKubectl(self.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s",
                                        timeout=75),
                           stdout_re=r'deployment "web" successfully rolled out\n$')

        # Same image by its short name: a change of the pod template.
        path = self.write_manifest(ns, "iterdeck/sandbox-base")
        self.assertKubectl(self.kubectl("apply", "-f", path),
                           stdout="deployment.apps/web configured\nservice/web unchanged\n")
        self.assertKubectl(self.kubectl("get", "deployment", "web", "-n", ns, "-o",
                                        "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}"),
                           stdout="iterdeck/sandbox-base 2")
        applied = self.kubectl_ok("get", "deployment", "web", "-n", ns, "-o", "jsonpath={.metadata.annotations}")
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration", applied)
        self.assertKubectl(self.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s",
                                        timeout=75),
                           stdout_re=r'deployment "web" successfully rolled out\n$')
        pods = self.sandbox.wait_pods_running(ns, "app=web", 1)
        self.assertEqual(pods[0].spec.containers[0].image, "iterdeck/sandbox-base")
        svc = self.sandbox.core().read_namespaced_service("web", ns, _request_timeout=HTTP_TIMEOUT)
        self.assertEqual([(p.port, p.target_port) for p in svc.spec.ports], [(80, 8080)])

    def test_rollout_status(self):
        ns = self.sandbox.ensure_namespace("dev-roll")
        self.assertKubectl(self.kubectl("create", "-f", "-", input=json.dumps(deployment_manifest(ns, "roll", 2))),
                           stdout="deployment.apps/roll created\n")
        r = self.assertKubectl(self.kubectl("rollout", "status", "deployment/roll", "-n", ns, "--timeout=60s",
                                            timeout=75))
        self.assertEqual(r.stdout.splitlines()[-1], 'deployment "roll" successfully rolled out', self.describe(r))
        self.assertKubectl(self.kubectl("get", "deployment", "roll", "-n", ns, "-o",
                                        "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}"),
                           stdout="2/2")
        self.sandbox.wait_pods_running(ns, "app=roll", 2, timeout=20)

    def test_create_deployment_command(self):
        # `kubectl create deployment` goes through a typed client, which sends protobuf.
        ns = self.sandbox.ensure_namespace("dev-roll")
        self.assertKubectl(self.kubectl("create", "deployment", "made", "-n", ns, "--image", BASE_IMAGE,
                                        "--replicas=1", "--", "sleep", "3600"),
                           stdout="deployment.apps/made created\n")
        self.assertKubectl(self.kubectl("get", "deployment", "made", "-n", ns, "-o",
                                        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].name}"),
                           stdout="1 sandbox-base")
        self.sandbox.wait_pods_running(ns, "app=made", 1)

    def test_demo_manifest(self):
        if not os.path.exists(DEMO_MANIFEST):
            self.skipTest("no %s yet" % DEMO_MANIFEST)
        with open(DEMO_MANIFEST) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        prefix = {"Deployment": "deployment.apps", "Service": "service"}
        namespaces = {d["metadata"].get("namespace") for d in docs}
        ns = namespaces.pop() if len(namespaces) == 1 and None not in namespaces else None
        args = ["apply", "-f", DEMO_MANIFEST]
        if ns is None:
            ns = self.sandbox.ensure_namespace("dev-demo")
            args += ["-n", ns]
        else:
            self.sandbox.ensure_namespace(ns)
        expected = "".join("%s/%s created\n" % (prefix.get(d["kind"], d["kind"].lower()), d["metadata"]["name"])
                           for d in docs)
        self.assertKubectl(self.kubectl(*args), stdout=expected)
        for d in docs:
            if d["kind"] == "Deployment":
                name = d["metadata"]["name"]
                self.assertKubectl(self.kubectl("rollout", "status", "deployment/" + name, "-n", ns,
                                                "--timeout=60s", timeout=75),
                                   stdout_re=r'deployment "%s" successfully rolled out\n$' % re.escape(name))


class KubectlPodTests(SandboxTestCase):

    def test_get_pods_wide(self):
        worker = FixturePods.running("worker")
        lines = self.kubectl_ok("get", "pods", "-n", FIXTURE_NS, "-o", "wide").splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                            "NOMINATED", "NODE", "READINESS", "GATES"], lines)
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertIn("worker", rows, lines)
        row = rows["worker"]
        self.assertEqual(row[1:4], ["1/1", "Running", "0"], lines)
        self.assertRegex(worker.status.pod_ip or "", r"^127\.\d+\.\d+\.\d+$")
        self.assertEqual(row[5], worker.status.pod_ip, lines)
        self.assertEqual(row[6], worker.spec.node_name or "<none>", lines)

    def test_get_pods_watch(self):
        ns = self.sandbox.ensure_namespace("dev-watch")
        self.sandbox.create_pod(ns, "first", ["sleep", "3600"])
        proc = self.sandbox.kubectl_popen("get", "pods", "-n", ns, "-w", stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            out = LineReader(proc.stdout)
            header = out.expect("the header", lambda line: line.startswith("NAME"), 20)
            self.assertEqual(header.split()[:5], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
            out.expect("the row of pod first", lambda line: line.split()[:1] == ["first"], 20)
            self.sandbox.create_pod(ns, "second", ["sleep", "3600"])
            out.expect("a row for the new pod second", lambda line: line.split()[:1] == ["second"], 20)
            self.sandbox.wait_pod_running(ns, "second")
            out.expect("pod second Running", lambda line: line.split()[:3:2] == ["second", "Running"], 20)
            self.assertIsNone(proc.poll(), "kubectl get -w ended by itself")
        finally:
            stop_process(proc)
            proc.stderr.close()
            proc.stdout.close()

    def test_exec_stdin_and_exit_code(self):
        FixturePods.running("worker")
        r = self.kubectl("exec", "-i", "worker", "-n", FIXTURE_NS, "--", "sh", "-c", "cat; exit 3",
                         input="hello\nworld\n")
        self.assertKubectl(r, code=3, stdout="hello\nworld\n", stderr_has="command terminated with exit code 3")
        r = self.kubectl("exec", "worker", "-n", FIXTURE_NS, "--", "sh", "-c", "echo out; echo err >&2")
        self.assertKubectl(r, stdout="out\n", stderr="err\n")

    def test_exec_tty(self):
        FixturePods.running("worker")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        proc = self.sandbox.kubectl_popen("exec", "-it", "worker", "-n", FIXTURE_NS, "--", "sh",
                                          stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        seen = bytearray()

        def read_until(pattern, timeout):
            deadline = time.monotonic() + timeout
            while not re.search(pattern, bytes(seen)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                ready, _, _ = select.select([master], [], [], left)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: kubectl exited and the pty closed
                        return bool(re.search(pattern, bytes(seen)))
                    if not chunk:
                        return False
                    seen.extend(chunk)
            return True

        try:
            read_until(rb"[$#] ?$", 10)  # a prompt; typed input is queued anyway if there is none
            os.write(master, b"echo $((6*7))\r")
            self.assertTrue(read_until(rb"(^|\n)42\r?\n", 20), "no 42 from the shell; terminal: %r" % bytes(seen))
            os.write(master, b"exit\r")
            proc.wait(timeout=20)
            self.assertEqual(proc.returncode, 0, "terminal: %r" % bytes(seen))
        finally:
            stop_process(proc)
            os.close(master)

    def test_logs_follow(self):
        FixturePods.running("worker")
        ticks = [int(n) for n in re.findall(r"^tick (\d+)$",
                                            self.kubectl_ok("logs", "worker", "-n", FIXTURE_NS), re.M)]
        before = max(ticks, default=0)
        self.assertKubectl(self.kubectl("logs", "worker", "-n", FIXTURE_NS, "--tail=1"), stdout_re=r"^tick \d+\n$")
        proc = self.sandbox.kubectl_popen("logs", "-f", "worker", "-n", FIXTURE_NS, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            out = LineReader(proc.stdout)
            out.expect("the first line", lambda line: line == "started", 15)
            out.expect("a tick logged after the follow began",
                       lambda line: re.fullmatch(r"tick (\d+)", line) and int(line.split()[1]) > before + 1, 15)
            self.assertIsNone(proc.poll())
        finally:
            stop_process(proc)
            proc.stderr.close()
            proc.stdout.close()

        # Following a container that exits ends with it.
        ns = self.sandbox.ensure_namespace("dev-logs")
        self.sandbox.create_pod(ns, "twolines", ["sh", "-c", "echo one; sleep 3; echo two"], restart_policy="Never")
        wait_for("pod twolines started", lambda: self.sandbox.core().read_namespaced_pod(
            "twolines", ns, _request_timeout=HTTP_TIMEOUT).status.phase in ("Running", "Succeeded"), POD_TIMEOUT)
        self.assertKubectl(self.kubectl("logs", "-f", "twolines", "-n", ns, timeout=30), stdout="one\ntwo\n")


# The pod behind `kubectl port-forward deploy/pf`: HTTP on 8080 (hello.txt and a 4 MiB blob) and a
# TCP echo server on 9090, both on the pod's own address.
PF_BLOB_SIZE = 4 * 1024 * 1024
PF_BLOB = "import random, sys; sys.stdout.buffer.write(random.Random(7).randbytes({}))".format(PF_BLOB_SIZE)
PF_ECHO = """
import os, socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ["POD_IP"], 9090))
s.listen(16)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
PF_SERVER = ["sh", "-c", 'd=$(mktemp -d) && echo "hello from the pod" > "$d/hello.txt" '
             '&& python3 -c "$0" > "$d/blob.bin" && (python3 -c "$1" &) '
             '&& cd "$d" && exec python3 -m http.server 8080 --bind "$POD_IP"', PF_BLOB, PF_ECHO]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=15):
    """One HTTP/1.0 GET on 127.0.0.1:port; returns (status line, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path.encode())
        data = bytearray()
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


def echo_roundtrip(port, payload, timeout=30):
    """Sends payload to an echo server while reading; half-closes; returns all that came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        def send():
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send, daemon=True)
        t.start()
        back = bytearray()
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            back += chunk
        t.join(timeout=timeout)
    return bytes(back)


class LineCollector:
    """Collects all lines of a pipe on a thread (LineReader only keeps the lines it was asked for)."""

    def __init__(self, pipe):
        self.lines = []
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def text(self, wait=0):
        self._thread.join(timeout=wait)
        return "\n".join(self.lines)


class KubectlPortForwardTests(SandboxTestCase):
    """Real `kubectl port-forward` (SPDY/3.1): through the WebSocket tunnel (kubectl 1.32's default)
    and through the classic `Upgrade: SPDY/3.1` (KUBECTL_PORT_FORWARD_WEBSOCKETS=false)."""

    TRANSPORTS = (("websocket", {}), ("spdy", {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}))

    @classmethod
    def setUpClass(cls):
        cls.sandbox.create_deployment(FIXTURE_NS, "pf", command=PF_SERVER)

    def forward(self, target, ports, env):
        """Starts kubectl port-forward; returns (process, stdout reader, stderr reader) once it listens."""
        full = dict(self.sandbox.env(), **env)
        # -v=4 logs the WebSocket negotiation, so the test sees which transport ran.
        cmd = [KUBECTL, "-v=4", "port-forward", "-n", FIXTURE_NS, "--address", "127.0.0.1", target] + list(ports)
        proc = subprocess.Popen(cmd, env=full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        out, err = LineReader(proc.stdout), LineCollector(proc.stderr)
        try:
            for p in ports:
                local, remote = p.split(":")
                out.expect("Forwarding from 127.0.0.1:%s" % local,
                           lambda line, l=local, r=remote: line == "Forwarding from 127.0.0.1:%s -> %s" % (l, r), 20)
        except AssertionError as e:
            stop_process(proc)
            raise AssertionError("%s\nstderr: %r" % (e, err.lines)) from None
        return proc, out, err

    def finish(self, proc, err, transport):
        """Stops kubectl; checks that it used the transport meant (no silent fallback)."""
        try:
            self.assertIsNone(proc.poll(), "kubectl port-forward ended by itself; stderr: %r" % err.lines)
        finally:
            stop_process(proc)
            proc.stdout.close()
            proc.stderr.close()
        log = err.text(wait=5)
        tunnel = "negotiated protocol: portforward.k8s.io" in log
        self.assertEqual(tunnel, transport == "websocket", "kubectl's log: %s" % log)

    def wait_listening(self, pod, *ports):
        """The servers in the pod may still be starting, and kubectl gives up on the first refused
        connection: wait until they listen (pods share the host's network)."""
        def listening():
            for port in ports:
                with socket.create_connection((pod.status.pod_ip, port), timeout=2):
                    pass
            return True
        wait_for("%s listening on %s" % (pod.metadata.name, ports), listening, 20, 0.2)

    def test_pod_http_concurrent(self):
        self.wait_listening(FixturePods.running("web"), 8080)
        for transport, env in self.TRANSPORTS:
            with self.subTest(transport=transport):
                local = free_port()
                proc, out, err = self.forward("pod/web", ["%d:8080" % local], env)
                try:
                    results = [None] * 8

                    def get(i):
                        try:
                            results[i] = http_get(local, "/hello.txt")
                        except Exception as e:  # noqa: BLE001 - reported below
                            results[i] = e
                    threads = [threading.Thread(target=get, args=(i,)) for i in range(len(results))]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join(timeout=30)
                    for r in results:
                        self.assertIsInstance(r, tuple, "request failed: %r; stderr %r" % (r, err.lines))
                        self.assertTrue(r[0].startswith(b"HTTP/1.0 200"), r)
                        self.assertEqual(r[1], b"hello from the pod\n")
                    out.expect("Handling connection", lambda line: line == "Handling connection for %d" % local, 5)
                finally:
                    self.finish(proc, err, transport)

    def test_deployment_transfer_byte_exact(self):
        pod = self.sandbox.wait_pods_running(FIXTURE_NS, "app=pf", 1)[0]
        self.assertTrue(pod.metadata.name.startswith("pf-"))
        self.wait_listening(pod, 8080, 9090)
        blob = subprocess.run([sys.executable, "-c", PF_BLOB], capture_output=True, check=True).stdout
        self.assertEqual(len(blob), PF_BLOB_SIZE)
        upload = os.urandom(3 * 1024 * 1024 + 17)
        for transport, env in self.TRANSPORTS:
            with self.subTest(transport=transport):
                web, echo = free_port(), free_port()
                proc, out, err = self.forward("deploy/pf", ["%d:8080" % web, "%d:9090" % echo], env)
                try:
                    status, body = http_get(web, "/blob.bin", timeout=30)
                    self.assertTrue(status.startswith(b"HTTP/1.0 200"), status)
                    self.assertEqual(len(body), len(blob))
                    self.assertTrue(body == blob, "the 4 MiB download differs")
                    back = echo_roundtrip(echo, upload)
                    self.assertEqual(len(back), len(upload))
                    self.assertTrue(back == upload, "the echoed 3 MiB differ")
                finally:
                    self.finish(proc, err, transport)

    def upgrade_request(self, headers):
        """A raw POST .../pods/web/portforward with `headers`; returns (status, headers, body start)."""
        sock = self.sandbox.tls_socket()
        try:
            request = ("POST /api/v1/namespaces/%s/pods/web/portforward HTTP/1.1\r\nHost: %s\r\n"
                       "Authorization: Bearer %s\r\nContent-Length: 0\r\n" % (FIXTURE_NS, self.sandbox.host,
                                                                             self.sandbox.admin_token))
            request += "".join("%s: %s\r\n" % kv for kv in headers) + "\r\n"
            sock.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        return int(lines[0].split()[1]), fields, body

    def test_spdy_upgrade_handshake(self):
        FixturePods.running("web")
        status, fields, _ = self.upgrade_request([("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                                                  ("X-Stream-Protocol-Version", "portforward.k8s.io")])
        self.assertEqual(status, 101, fields)
        self.assertEqual(fields.get("connection"), "Upgrade")
        self.assertEqual(fields.get("upgrade"), "SPDY/3.1")
        self.assertEqual(fields.get("x-stream-protocol-version"), "portforward.k8s.io")
        status, fields, _ = self.upgrade_request([("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")])
        self.assertEqual(status, 400, fields)
        status, fields, _ = self.upgrade_request([("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                                                  ("X-Stream-Protocol-Version", "v4.channel.k8s.io")])
        self.assertEqual(status, 403, fields)
        self.assertEqual(fields.get("x-accepted-stream-protocol-versions"), "portforward.k8s.io")

    def test_nothing_listening(self):
        web = FixturePods.running("web")
        for transport, env in self.TRANSPORTS:
            with self.subTest(transport=transport):
                local = free_port()
                proc, out, err = self.forward("pod/web", ["%d:9999" % local], env)
                try:
                    with socket.create_connection(("127.0.0.1", local), timeout=10) as sock:
                        sock.settimeout(10)
                        self.assertEqual(sock.recv(100), b"")  # closed without data
                    proc.wait(timeout=10)
                    text = err.text(wait=5)
                    expected = ("error forwarding port 9999 to pod web, uid %s: dial tcp %s:9999: connect: "
                                "connection refused" % (web.metadata.uid, web.status.pod_ip))
                    self.assertIn(expected, text)
                    self.assertIn("error: lost connection to pod", text)
                    self.assertEqual(proc.returncode, 1)
                finally:
                    stop_process(proc)
                    proc.stdout.close()
                    proc.stderr.close()


class KubectlPatchDeleteTests(SandboxTestCase):

    @classmethod
    def setUpClass(cls):
        cls.ns = cls.sandbox.ensure_namespace("dev-patch")

    def containers(self, name):
        dep = self.sandbox.apps().read_namespaced_deployment(name, self.ns, _request_timeout=HTTP_TIMEOUT)
        return dep, dep.spec.template.spec.containers

    def test_patch_strategic(self):
        self.sandbox.create_deployment(self.ns, "pt-strategic")
        patch = json.dumps({"spec": {"template": {"spec": {"containers": [
            {"name": "main", "env": [{"name": "GREETING", "value": "hi"}]}]}}}})
        self.assertKubectl(self.kubectl("patch", "deployment", "pt-strategic", "-n", self.ns, "-p", patch),
                           stdout="deployment.apps/pt-strategic patched\n")
        dep, containers = self.containers("pt-strategic")
        # Merged by the container name: the image and command stay.
        self.assertEqual([(c.name, c.image, c.command) for c in containers], [("main", BASE_IMAGE, TICKER)])
        self.assertEqual([(e.name, e.value) for e in containers[0].env], [("GREETING", "hi")])
        self.assertEqual(dep.metadata.generation, 2)
        # Once the rollout is over nothing changes the object, so the same patch changes nothing.
        self.assertKubectl(self.kubectl("rollout", "status", "deployment/pt-strategic", "-n", self.ns,
                                        "--timeout=60s", timeout=75))
        self.assertKubectl(self.kubectl("patch", "deployment", "pt-strategic", "-n", self.ns, "-p", patch),
                           stdout="deployment.apps/pt-strategic patched (no change)\n")
        self.assertKubectl(self.kubectl("patch", "deployment", "pt-strategic", "-n", self.ns, "--type", "strategic",
                                        "-p", json.dumps({"spec": {"template": {"spec": {"containers": [
                                            {"name": "main", "env": [{"name": "GREETING", "$patch": "delete"}]}]}}}})),
                           stdout="deployment.apps/pt-strategic patched\n")
        _, containers = self.containers("pt-strategic")
        self.assertFalse(containers[0].env, containers[0].env)

    def test_patch_merge(self):
        self.sandbox.create_deployment(self.ns, "pt-merge")
        self.assertKubectl(self.kubectl("patch", "deployment", "pt-merge", "-n", self.ns, "--type", "merge", "-p",
                                        '{"metadata":{"labels":{"tier":"backend"}},"spec":{"replicas":2}}'),
                           stdout="deployment.apps/pt-merge patched\n")
        self.assertKubectl(self.kubectl("get", "deployment", "pt-merge", "-n", self.ns, "-o",
                                        "jsonpath={.metadata.labels.tier} {.spec.replicas}"),
                           stdout="backend 2")
        # null removes a key; a list is replaced whole.
        self.assertKubectl(self.kubectl("patch", "deployment", "pt-merge", "-n", self.ns, "--type", "merge", "-p",
                                        json.dumps({"metadata": {"labels": {"tier": None}},
                                                    "spec": {"template": {"spec": {"containers": [
                                                        {"name": "other", "image": BASE_IMAGE,
                                                         "command": ["sleep", "3600"]}]}}}})),
                           stdout="deployment.apps/pt-merge patched\n")
        dep, containers = self.containers("pt-merge")
        self.assertNotIn("tier", dep.metadata.labels)
        self.assertEqual([(c.name, c.command) for c in containers], [("other", ["sleep", "3600"])])

    def test_patch_json(self):
        self.sandbox.create_deployment(self.ns, "pt-json")
        ops = [{"op": "replace", "path": "/spec/replicas", "value": 3},
               {"op": "add", "path": "/metadata/labels/patched", "value": "json"},
               {"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["sleep", "3600"]}]
        self.assertKubectl(self.kubectl("patch", "deployment", "pt-json", "-n", self.ns, "--type", "json", "-p",
                                        json.dumps(ops)),
                           stdout="deployment.apps/pt-json patched\n")
        dep, containers = self.containers("pt-json")
        self.assertEqual(dep.spec.replicas, 3)
        self.assertEqual(dep.metadata.labels.get("patched"), "json")
        self.assertEqual(containers[0].command, ["sleep", "3600"])

    def test_delete(self):
        self.sandbox.create_deployment(self.ns, "gone")
        self.sandbox.create_pod(self.ns, "single", ["sleep", "3600"])
        self.sandbox.wait_pods_running(self.ns, "app=gone", 1)
        self.assertKubectl(self.kubectl("delete", "pod", "single", "-n", self.ns, "--timeout=60s", timeout=75),
                           stdout='pod "single" deleted\n')
        self.assertKubectl(self.kubectl("get", "pod", "single", "-n", self.ns), code=1,
                           stderr='Error from server (NotFound): pods "single" not found\n')
        self.assertKubectl(self.kubectl("delete", "deployment", "gone", "-n", self.ns, "--timeout=60s", timeout=75),
                           stdout='deployment.apps "gone" deleted\n')
        self.assertKubectl(self.kubectl("get", "deployment", "gone", "-n", self.ns), code=1,
                           stderr='Error from server (NotFound): deployments.apps "gone" not found\n')
        # Its pods go with it.
        wait_for("the pods of deployment gone to be deleted", lambda: not self.sandbox.core().list_namespaced_pod(
            self.ns, label_selector="app=gone", _request_timeout=HTTP_TIMEOUT).items, 60)
        self.assertKubectl(self.kubectl("delete", "configmap", "nope", "-n", self.ns), code=1,
                           stderr='Error from server (NotFound): configmaps "nope" not found\n')


class KubectlAuthTests(SandboxTestCase):

    def can_i(self, context, *args):
        return self.kubectl("auth", "can-i", *args, context=context)

    def assertYes(self, context, *args):
        self.assertKubectl(self.can_i(context, *args), stdout="yes\n")

    def assertNo(self, context, *args):
        self.assertKubectl(self.can_i(context, *args), code=1, stdout_re=r"^no( - .*)?\n$")

    def test_can_i_admin(self):
        self.assertYes(ADMIN, "create", "deployments.apps", "-n", "default")
        self.assertYes(ADMIN, "delete", "namespaces")
        self.assertYes(ADMIN, "create", "secrets", "-n", "default")
        self.assertYes(ADMIN, "*", "*", "--all-namespaces")

    def test_can_i_developer(self):
        for verb in ("get", "list", "watch"):
            self.assertYes(DEVELOPER, verb, "pods", "-n", "default")
            self.assertYes(DEVELOPER, verb, "deployments.apps", "-n", "default")
        self.assertYes(DEVELOPER, "list", "namespaces")
        self.assertYes(DEVELOPER, "create", "deployments.apps", "-n", "dev-x")
        self.assertYes(DEVELOPER, "delete", "pods", "-n", "dev-x")
        self.assertYes(DEVELOPER, "patch", "configmaps", "-n", "dev-x")
        self.assertYes(DEVELOPER, "create", "secrets", "-n", "dev-x")
        self.assertNo(DEVELOPER, "create", "deployments.apps", "-n", "default")
        self.assertNo(DEVELOPER, "patch", "configmaps", "-n", "default")
        self.assertNo(DEVELOPER, "delete", "pods", "-n", "kube-system")
        self.assertNo(DEVELOPER, "create", "secrets", "-n", "default")
        self.assertNo(DEVELOPER, "create", "namespaces")
        self.assertNo(DEVELOPER, "delete", "namespace/dev-x")

    def test_developer_is_held_to_the_policy(self):
        ns = self.sandbox.ensure_namespace("dev-devaccess")

        def configmap(namespace, name):
            return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}})

        self.assertKubectl(self.kubectl("create", "-f", "-", context=DEVELOPER, input=configmap(ns, "allowed")),
                           stdout="configmap/allowed created\n")
        self.assertKubectl(self.kubectl("get", "pods", "-n", "default", "-o", "name", context=DEVELOPER))
        self.assertKubectl(self.kubectl("create", "-f", "-", context=DEVELOPER, input=configmap("default", "blocked")),
                           code=1, stderr_has=["Error from server (Forbidden)",
                                               'User "developer" cannot create resource "configmaps" in API group ""'
                                               ' in the namespace "default"'])
        self.assertKubectl(self.kubectl("delete", "namespace", ns, context=DEVELOPER), code=1,
                           stderr_has=["Error from server (Forbidden)",
                                       'User "developer" cannot delete resource "namespaces"'])


class KubectlErrorTests(SandboxTestCase):

    def test_unknown_resource(self):
        self.assertKubectl(self.kubectl("get", "widgets", "-n", FIXTURE_NS), code=1,
                           stderr='error: the server doesn\'t have a resource type "widgets"\n')

    def test_unknown_name(self):
        self.assertKubectl(self.kubectl("get", "pod", "nope", "-n", FIXTURE_NS), code=1,
                           stderr='Error from server (NotFound): pods "nope" not found\n')
        self.assertKubectl(self.kubectl("get", "deployment", "nope", "-n", FIXTURE_NS), code=1,
                           stderr='Error from server (NotFound): deployments.apps "nope" not found\n')

    def test_unknown_name_in_missing_namespace(self):
        # kubectl 1.32 looks the namespace up after a NotFound and reports the namespace instead;
        # the server answers the object's own GET with the object's NotFound (checked raw below).
        self.assertKubectl(self.kubectl("get", "configmap", "nope", "-n", "dev-never-made"), code=1,
                           stderr='Error from server (NotFound): namespaces "dev-never-made" not found\n')

    def test_invalid_name(self):
        manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "Bad_Name", "namespace": FIXTURE_NS}, "data": {"a": "b"}})
        self.assertKubectl(self.kubectl("create", "-f", "-", input=manifest), code=1,
                           stderr_re=r'(^|\n)The ConfigMap "Bad_Name" is invalid: metadata\.name: '
                                     r'Invalid value: "Bad_Name": .*RFC 1123')

    def test_unauthorized(self):
        self.assertKubectl(self.kubectl("get", "pods", "-n", "default", "--token", "not-the-token"), code=1,
                           stderr_re=r"(^|\n)error: You must be logged in to the server \(Unauthorized\)\n$")
        status, ctype, body = self.sandbox.https("GET", "/api/v1/namespaces", token=False)
        self.assertStatus(status, ctype, body, 401, "Unauthorized")


# ---------------------------------------------------------------------------------------------
# The Python client


class PythonClientTests(SandboxTestCase):

    def test_core_crud(self):
        v1 = self.sandbox.core()
        ns = "dev-pycore"
        created = v1.create_namespace(kclient.V1Namespace(api_version="v1", kind="Namespace",
                                                          metadata=kclient.V1ObjectMeta(name=ns)),
                                      _request_timeout=HTTP_TIMEOUT)
        self.assertEqual(created.metadata.name, ns)
        self.assertIn(ns, [n.metadata.name for n in v1.list_namespace(_request_timeout=HTTP_TIMEOUT).items])

        cm = kclient.V1ConfigMap(api_version="v1", kind="ConfigMap",
                                 metadata=kclient.V1ObjectMeta(name="py-cm", labels={"app": "py"}), data={"a": "1"})
        made = v1.create_namespaced_config_map(ns, cm, _request_timeout=HTTP_TIMEOUT)
        self.assertTrue(made.metadata.uid and made.metadata.resource_version and made.metadata.creation_timestamp)
        self.assertEqual(made.metadata.namespace, ns)
        self.assertApiError(lambda: v1.create_namespaced_config_map(ns, cm, _request_timeout=HTTP_TIMEOUT),
                            409, "AlreadyExists")
        self.assertEqual(v1.read_namespaced_config_map("py-cm", ns, _request_timeout=HTTP_TIMEOUT).data, {"a": "1"})
        listed = v1.list_namespaced_config_map(ns, label_selector="app=py", _request_timeout=HTTP_TIMEOUT)
        self.assertEqual([c.metadata.name for c in listed.items], ["py-cm"])
        self.assertEqual(v1.list_namespaced_config_map(ns, label_selector="app=other",
                                                       _request_timeout=HTTP_TIMEOUT).items, [])
        patched = v1.patch_namespaced_config_map("py-cm", ns, {"data": {"b": "2"}}, _request_timeout=HTTP_TIMEOUT)
        self.assertEqual(patched.data, {"a": "1", "b": "2"})
        self.assertNotEqual(patched.metadata.resource_version, made.metadata.resource_version)

        v1.delete_namespaced_config_map("py-cm", ns, _request_timeout=HTTP_TIMEOUT)
        st = self.assertApiError(lambda: v1.read_namespaced_config_map("py-cm", ns, _request_timeout=HTTP_TIMEOUT),
                                 404, "NotFound")
        self.assertEqual(st["message"], 'configmaps "py-cm" not found')

        v1.delete_namespace(ns, _request_timeout=HTTP_TIMEOUT)
        wait_for("namespace %s to be gone" % ns, lambda: self._gone(lambda: v1.read_namespace(
            ns, _request_timeout=HTTP_TIMEOUT)), 60)

    def test_create_without_kind(self):
        # The generated models leave kind and apiVersion out unless set; the real API server takes
        # them from the URL, so Python code that omits them works against a real cluster.
        v1 = self.sandbox.core()
        made = v1.create_namespaced_config_map(
            FIXTURE_NS, kclient.V1ConfigMap(metadata=kclient.V1ObjectMeta(name="no-kind"), data={"a": "1"}),
            _request_timeout=HTTP_TIMEOUT)
        self.assertEqual((made.kind, made.api_version, made.data), ("ConfigMap", "v1", {"a": "1"}))
        v1.delete_namespaced_config_map("no-kind", FIXTURE_NS, _request_timeout=HTTP_TIMEOUT)

    def _gone(self, read):
        try:
            read()
            return False
        except ApiException as e:
            if e.status == 404:
                return True
            raise

    def test_apps_crud(self):
        apps = self.sandbox.apps()
        ns = self.sandbox.ensure_namespace("dev-pyapps")
        made = self.sandbox.create_deployment(ns, "pyweb")
        self.assertEqual(made.metadata.generation, 1)
        dep = apps.read_namespaced_deployment("pyweb", ns, _request_timeout=HTTP_TIMEOUT)
        self.assertEqual(dep.spec.replicas, 1)
        self.assertEqual([d.metadata.name for d in apps.list_namespaced_deployment(
            ns, label_selector="app=pyweb", _request_timeout=HTTP_TIMEOUT).items], ["pyweb"])
        patched = apps.patch_namespaced_deployment("pyweb", ns, {"spec": {"replicas": 2}},
                                                   _request_timeout=HTTP_TIMEOUT)
        self.assertEqual((patched.spec.replicas, patched.metadata.generation), (2, 2))
        wait_for("deployment pyweb with 2 ready replicas", lambda: apps.read_namespaced_deployment(
            "pyweb", ns, _request_timeout=HTTP_TIMEOUT).status.ready_replicas == 2, POD_TIMEOUT)
        self.sandbox.wait_pods_running(ns, "app=pyweb", 2)
        apps.delete_namespaced_deployment("pyweb", ns, _request_timeout=HTTP_TIMEOUT)
        self.assertApiError(lambda: apps.read_namespaced_deployment("pyweb", ns, _request_timeout=HTTP_TIMEOUT),
                            404, "NotFound")

    def test_watch_stream(self):
        v1 = self.sandbox.core()
        ns = self.sandbox.ensure_namespace("dev-pywatch")
        v1.create_namespaced_config_map(ns, kclient.V1ConfigMap(api_version="v1", kind="ConfigMap",
                                                                metadata=kclient.V1ObjectMeta(name="w0")),
                                        _request_timeout=HTTP_TIMEOUT)

        # Without a resourceVersion: ADDED for what exists; the stream ends after timeout_seconds.
        started = time.monotonic()
        events = [(e["type"], e["object"].metadata.name) for e in kwatch.Watch().stream(
            v1.list_namespaced_config_map, ns, timeout_seconds=2, _request_timeout=30) if e["type"] != "BOOKMARK"]
        elapsed = time.monotonic() - started
        self.assertEqual(events, [("ADDED", "w0")])
        self.assertTrue(1.5 <= elapsed <= 10, "watch with timeout_seconds=2 took %.1fs" % elapsed)

        # From the list's resourceVersion: only the changes after it, in order.
        rv = v1.list_namespaced_config_map(ns, _request_timeout=HTTP_TIMEOUT).metadata.resource_version
        seen = []
        w = kwatch.Watch()

        def run():
            try:
                for e in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20,
                                  _request_timeout=30):
                    if e["type"] == "BOOKMARK":
                        continue
                    seen.append((e["type"], e["object"].metadata.name,
                                 (e["object"].data or {}).get("k")))
                    if e["type"] == "DELETED":
                        w.stop()
            except Exception as ex:  # noqa: BLE001 - reported through `seen`
                seen.append(("EXCEPTION", repr(ex), None))

        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(0.5)
        w1 = kclient.V1ConfigMap(api_version="v1", kind="ConfigMap", metadata=kclient.V1ObjectMeta(name="w1"),
                                 data={"k": "1"})
        v1.create_namespaced_config_map(ns, w1, _request_timeout=HTTP_TIMEOUT)
        v1.patch_namespaced_config_map("w1", ns, {"data": {"k": "2"}}, _request_timeout=HTTP_TIMEOUT)
        v1.delete_namespaced_config_map("w1", ns, _request_timeout=HTTP_TIMEOUT)
        t.join(timeout=25)
        self.assertFalse(t.is_alive(), "watch did not deliver DELETED; events: %r" % seen)
        self.assertEqual(seen, [("ADDED", "w1", "1"), ("MODIFIED", "w1", "2"), ("DELETED", "w1", "2")])

    def test_exec_stream(self):
        v1 = self.sandbox.core()
        FixturePods.running("worker")
        out = kstream(v1.connect_get_namespaced_pod_exec, "worker", FIXTURE_NS, command=["echo", "hello"],
                      stdin=False, stdout=True, stderr=True, tty=False, _request_timeout=30)
        self.assertEqual(out, "hello\n")

        ws = kstream(v1.connect_get_namespaced_pod_exec, "worker", FIXTURE_NS,
                     command=["sh", "-c", 'read line; echo "got:$line"; echo "err:$line" >&2; exit 7'],
                     stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
        try:
            ws.write_stdin("ping\n")
            ws.run_forever(timeout=30)
            self.assertFalse(ws.is_open(), "exec did not end")
            self.assertEqual(ws.read_stdout(), "got:ping\n")
            self.assertEqual(ws.read_stderr(), "err:ping\n")
            self.assertEqual(ws.returncode, 7)
        finally:
            ws.close()

        ws = kstream(v1.connect_get_namespaced_pod_exec, "worker", FIXTURE_NS, command=["true"],
                     stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
        try:
            ws.run_forever(timeout=30)
            self.assertFalse(ws.is_open())
            self.assertEqual(ws.returncode, 0)
        finally:
            ws.close()

    def test_portforward_http(self):
        v1 = self.sandbox.core()
        web = FixturePods.running("web")
        pod_ip = kstream(v1.connect_get_namespaced_pod_exec, "web", FIXTURE_NS, command=["sh", "-c", 'echo "$POD_IP"'],
                         stdin=False, stdout=True, stderr=True, tty=False, _request_timeout=30).strip()
        self.assertEqual(pod_ip, web.status.pod_ip)

        def get_once():
            pf = kportforward(v1.connect_get_namespaced_pod_portforward, "web", FIXTURE_NS, ports="8080")
            try:
                sock = pf.socket(8080)
                sock.settimeout(10)
                sock.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
                data = b""
                while True:
                    head, sep, body = data.partition(b"\r\n\r\n")
                    m = re.search(rb"(?im)^content-length: *(\d+)", head)
                    if sep and m and len(body) >= int(m.group(1)):
                        break
                    try:
                        chunk = sock.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    data += chunk
                return data, pf.error(8080)
            finally:
                pf.close()

        # The server in the pod may still be starting: retry while nothing comes back.
        attempts = []

        def answered():
            data, error = get_once()
            attempts.append((data[:200], error))
            return data if data.startswith(b"HTTP/") else None

        try:
            data = wait_for("an HTTP answer through the port-forward", answered, 30, 1)
        except AssertionError as e:
            raise AssertionError("%s; attempts (answer, error channel): %r" % (e, attempts)) from None
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200"), data)
        self.assertEqual(body, b"hello from the pod\n")
        self.assertIsNone(attempts[-1][1])

    def test_pod_log(self):
        v1 = self.sandbox.core()
        FixturePods.running("worker")
        text = v1.read_namespaced_pod_log("worker", FIXTURE_NS, _request_timeout=HTTP_TIMEOUT)
        self.assertTrue(text.startswith("started\ntick 1\n"), text[:200])
        last = v1.read_namespaced_pod_log("worker", FIXTURE_NS, tail_lines=1, _request_timeout=HTTP_TIMEOUT)
        self.assertRegex(last, r"^tick \d+\n$")
        before = int(last.split()[1])

        resp = v1.read_namespaced_pod_log("worker", FIXTURE_NS, follow=True, tail_lines=1, _preload_content=False,
                                          _request_timeout=30)
        got = ""
        try:
            deadline = time.monotonic() + 15
            for chunk in resp.stream(1024):
                got += chunk.decode()
                later = [int(n) for n in re.findall(r"^tick (\d+)$", got, re.M)]
                if later and max(later) >= before + 2:
                    break
                if time.monotonic() > deadline:
                    break
        finally:
            resp.close()
        self.assertRegex(got, r"^tick \d+\n")
        self.assertTrue([n for n in re.findall(r"^tick (\d+)$", got, re.M) if int(n) >= before + 2],
                        "follow delivered no new lines: %r" % got)


# ---------------------------------------------------------------------------------------------
# Raw HTTPS: bad input and abusive clients


class RawHttpTests(SandboxTestCase):

    def path(self, resource="configmaps", ns=FIXTURE_NS):
        return "/api/v1/namespaces/%s/%s" % (ns, resource)

    def test_malformed_json(self):
        status, ctype, body = self.sandbox.https("POST", self.path(), body=b'{"apiVersion": "v1", "kind": ')
        self.assertStatus(status, ctype, body, 400, "BadRequest")

    def test_wrong_kind(self):
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrong-kind"}, "data": {}}
        status, ctype, body = self.sandbox.https("POST", self.path(), body=secret)
        self.assertStatus(status, ctype, body, 400, "BadRequest")
        status, _, _ = self.sandbox.https("GET", self.path() + "/wrong-kind")
        self.assertEqual(status, 404)

    def test_unknown_name_in_missing_namespace(self):
        status, ctype, body = self.sandbox.https("GET", self.path(ns="dev-never-made") + "/nope")
        self.assertStatus(status, ctype, body, 404, "NotFound")
        self.assertEqual(json.loads(body)["message"], 'configmaps "nope" not found')

    def test_oversized_body(self):
        size = 4 * 1024 * 1024
        sock = self.sandbox.tls_socket()
        try:
            sock.sendall(("POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                          % (self.path(), self.sandbox.host, self.sandbox.port, self.sandbox.admin_token,
                             size)).encode())
            prefix = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"'
            sent, chunk = 0, b"x" * 65536
            sock.sendall(prefix)
            sent += len(prefix)
            # Send until done, or until the server answers (it may answer early and stop reading).
            while sent < size:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable or sock.pending():
                    break
                piece = chunk[:min(len(chunk), size - sent)]
                try:
                    sock.sendall(piece)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    break
                sent += len(piece)
            resp = http.client.HTTPResponse(sock, method="POST")
            try:
                resp.begin()
            except (ConnectionResetError, http.client.RemoteDisconnected, ssl.SSLError) as e:
                self.fail("no HTTP answer to a %d-byte body (sent %d): %r" % (size, sent, e))
            body = resp.read()
            self.assertStatus(resp.status, resp.getheader("Content-Type", ""), body, 413, "RequestEntityTooLarge")
        finally:
            sock.close()
        status, _, _ = self.sandbox.https("GET", self.path() + "/huge")
        self.assertEqual(status, 404)

    def test_unknown_resource(self):
        status, ctype, body = self.sandbox.https("GET", self.path("widgets"))
        self.assertStatus(status, ctype, body, 404, "NotFound")
        status, ctype, body = self.sandbox.https("GET", "/apis/nothing.example.com/v1/things")
        self.assertStatus(status, ctype, body, 404, "NotFound")

    def test_invalid_name(self):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}, "data": {"a": "b"}}
        status, ctype, body = self.sandbox.https("POST", self.path(), body=cm)
        st = self.assertStatus(status, ctype, body, 422, "Invalid")
        details = st.get("details") or {}
        self.assertEqual((details.get("kind"), details.get("name")), ("ConfigMap", "Bad_Name"), st)
        causes = details.get("causes") or []
        self.assertTrue(causes, st)
        self.assertEqual(causes[0].get("field"), "metadata.name", st)
        self.assertEqual(causes[0].get("reason"), "FieldValueInvalid", st)
        self.assertTrue(causes[0].get("message", "").startswith('Invalid value: "Bad_Name": '), st)

    def test_no_token(self):
        status, ctype, body = self.sandbox.https("GET", "/api/v1/namespaces", token=False)
        self.assertStatus(status, ctype, body, 401, "Unauthorized")
        status, ctype, body = self.sandbox.https("GET", "/api/v1/namespaces", token="wrong-token")
        self.assertStatus(status, ctype, body, 401, "Unauthorized")

    def assertResponsive(self, what):
        started = time.monotonic()
        try:
            status, _, body = self.sandbox.https("GET", "/api/v1/namespaces/%s" % FIXTURE_NS, timeout=RESPONSIVE)
        except (OSError, http.client.HTTPException) as e:
            self.fail("%s: no answer within %ss (%r)" % (what, RESPONSIVE, e))
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200, "%s: %r" % (what, body[:300]))
        self.assertLess(elapsed, RESPONSIVE, what)

    def test_stalled_watch_does_not_block_others(self):
        ns = self.sandbox.ensure_namespace("dev-stall")
        # A watcher that never reads, with a tiny receive buffer, while big events pile up.
        idle = self.sandbox.tls_socket(rcvbuf=4096)
        try:
            idle.sendall(("GET /api/v1/namespaces/%s/configmaps?watch=true HTTP/1.1\r\nHost: %s:%d\r\n"
                          "Authorization: Bearer %s\r\nAccept: application/json\r\n\r\n"
                          % (ns, self.sandbox.host, self.sandbox.port, self.sandbox.admin_token)).encode())
            big = "x" * (100 * 1024)
            status, ctype, body = self.sandbox.https("POST", "/api/v1/namespaces/%s/configmaps" % ns,
                                                     body={"apiVersion": "v1", "kind": "ConfigMap",
                                                           "metadata": {"name": "big"}, "data": {"v": big}})
            self.assertEqual(status, 201, body[:300])
            started = time.monotonic()
            for i in range(80):  # ~8 MB of MODIFIED events for the idle watcher
                status, _, body = self.sandbox.https(
                    "PATCH", "/api/v1/namespaces/%s/configmaps/big" % ns,
                    body={"data": {"v": big, "i": str(i)}}, content_type="application/merge-patch+json",
                    timeout=RESPONSIVE * 2)
                self.assertEqual(status, 200, "patch %d: %r" % (i, body[:300]))
                if i % 20 == 19:
                    self.assertResponsive("a GET after %d patches with a stalled watcher" % (i + 1))
            self.assertLess(time.monotonic() - started, 60, "80 patches took too long with a stalled watcher")
            self.assertKubectl(self.kubectl("get", "configmap", "big", "-n", ns, "-o", "jsonpath={.data.i}",
                                            timeout=20), stdout="79")
        finally:
            idle.close()
        self.assertResponsive("a GET after the stalled watcher left")

    def test_slowloris_does_not_block_others(self):
        stuck = []
        try:
            # TCP connected, no TLS handshake at all.
            raw = socket.create_connection((self.sandbox.host, self.sandbox.port), timeout=HTTP_TIMEOUT)
            stuck.append(raw)
            # TLS done, request headers half sent.
            half = self.sandbox.tls_socket()
            half.sendall(("GET /api/v1/namespaces HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                          % (self.sandbox.host, self.sandbox.port, self.sandbox.admin_token)).encode())
            stuck.append(half)
            # Headers complete, body short of its Content-Length.
            short = self.sandbox.tls_socket()
            short.sendall(("POST /api/v1/namespaces/%s/configmaps HTTP/1.1\r\nHost: %s:%d\r\n"
                           "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
                           "\r\n{\"apiVersion\":" % (FIXTURE_NS, self.sandbox.host, self.sandbox.port,
                                                    self.sandbox.admin_token)).encode())
            stuck.append(short)
            for i in range(5):
                self.assertResponsive("GET %d while three clients stall" % (i + 1))
            self.assertKubectl(self.kubectl("get", "namespace", FIXTURE_NS, "-o", "name", timeout=20),
                               stdout="namespace/%s\n" % FIXTURE_NS)
        finally:
            for s in stuck:
                s.close()


# ---------------------------------------------------------------------------------------------
# Restart: state lives in the data dir


class RestartTests(SandboxTestCase):

    @classmethod
    def setUpClass(cls):
        cls.sandbox = Sandbox("restart")
        cls.sandbox.start()

    @classmethod
    def tearDownClass(cls):
        cls.sandbox.stop()

    def test_state_survives_restart(self):
        ns = "dev-persist"
        self.assertKubectl(self.kubectl("create", "namespace", ns), stdout="namespace/%s created\n" % ns)
        self.assertKubectl(self.kubectl("create", "configmap", "keep", "-n", ns, "--from-literal=k=v"),
                           stdout="configmap/keep created\n")
        self.assertKubectl(self.kubectl("create", "-f", "-", input=json.dumps(deployment_manifest(ns, "survivor"))),
                           stdout="deployment.apps/survivor created\n")
        self.assertKubectl(self.kubectl("rollout", "status", "deployment/survivor", "-n", ns, "--timeout=60s",
                                        timeout=75), stdout_re=r'deployment "survivor" successfully rolled out\n$')
        uid = self.kubectl_ok("get", "configmap", "keep", "-n", ns, "-o", "jsonpath={.metadata.uid}")
        self.assertTrue(uid)

        started = time.monotonic()
        self.assertEqual(self.sandbox.stop(), 0, "exit code after SIGTERM; log:\n%s" % self.sandbox.log_tail())
        self.assertLess(time.monotonic() - started, STOP_TIMEOUT)

        self.sandbox.start()
        self.assertKubectl(self.kubectl("get", "namespace", ns, "-o", "jsonpath={.status.phase}"), stdout="Active")
        self.assertKubectl(self.kubectl("get", "configmap", "keep", "-n", ns,
                                        "-o", "jsonpath={.metadata.uid} {.data.k}"), stdout="%s v" % uid)
        self.assertKubectl(self.kubectl("get", "deployment", "survivor", "-n", ns, "-o", "name"),
                           stdout="deployment.apps/survivor\n")
        pods = self.sandbox.wait_pods_running(ns, "app=survivor", 1)
        self.assertKubectl(self.kubectl("exec", pods[0].metadata.name, "-n", ns, "--", "echo", "alive"),
                           stdout="alive\n")
        self.assertKubectl(self.kubectl("rollout", "status", "deployment/survivor", "-n", ns, "--timeout=60s",
                                        timeout=75), stdout_re=r'deployment "survivor" successfully rolled out\n$')


# ---------------------------------------------------------------------------------------------


def main():
    try:
        program = unittest.main(verbosity=2, exit=False)
        ok = program.result.wasSuccessful()
    finally:
        for sb in SANDBOXES:
            sb.kill()
    if not ok:
        for sb in SANDBOXES:
            sys.stderr.write("\n---- %s (last lines)\n%s" % (sb.log_path, sb.log_tail()))
    if KEEP:
        sys.stderr.write("\nkept %s\n" % ROOT)
    else:
        shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
