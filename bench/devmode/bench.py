#!/usr/bin/env python3
"""Dev mode benchmark on the sandbox cluster (bubblewrap pods, HTTPS), printing a table.

Measures, for a 10,000-file project (shared/bench/gen_tree.py, ~217 MB):
  * `iterdeckctl dev start` until "ready, first sync done", split into the steps before the
    sync (workload, config, preflight, patch, pod, agent) and the initial sync itself;
  * single-edit latency through the Kubernetes exec transport (a 20 KB rewrite, from the
    writer's close() until the container's copy has the new content), next to the same engine
    over a plain pipe (`iterdeckctl sync --remote-command "iterdeck-agent serve ..."`);
  * `iterdeckctl dev end` (restore by patch, verified).
The container's files are read on the host: a bubblewrap pod's volumes are host folders under
the sandbox's data dir, so polling them costs no exec round trip.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.normpath(os.path.join(HERE, "../../../shared/bench/gen_tree.py"))

DEPLOYMENT = """apiVersion: v1
kind: Namespace
metadata: {name: dev-bench}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: dev-bench}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: iterdeck/demo-web:1.0
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
"""

CONFIG = """name: app
serviceType: deployment
containers:
  - name: app
    dev:
      image: iterdeck/sandbox-base:latest
      workDir: /home/dev
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


class Lines:
    """Collects a process's output lines with their arrival times."""

    def __init__(self, proc, t0):
        self.lines = []
        self.t0 = t0
        self.lock = threading.Lock()
        for stream, name in ((proc.stdout, "out"), (proc.stderr, "err")):
            threading.Thread(target=self._read, args=(stream, name), daemon=True).start()

    def _read(self, stream, name):
        for raw in iter(stream.readline, b""):
            with self.lock:
                self.lines.append((time.perf_counter() - self.t0, name, raw.decode(errors="replace").rstrip("\n")))

    def find(self, text, timeout):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                for t, _, line in self.lines:
                    if text in line:
                        return t
            time.sleep(0.005)
        return None

    def dump(self):
        with self.lock:
            return "\n".join(f"{t:7.3f} {n} {l}" for t, n, l in self.lines)


def edit_latencies(src_file, dst_file, count, gap):
    out = []
    for i in range(count):
        data = (f"edit {i} ".encode() * 4000)[:20480]
        with open(src_file, "wb") as f:
            f.write(data)
        t0 = time.perf_counter()
        deadline = t0 + 10
        while True:
            try:
                if os.stat(dst_file).st_size == len(data):
                    with open(dst_file, "rb") as f:
                        if f.read() == data:
                            break
            except FileNotFoundError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"edit {i} did not arrive in 10 s")
            time.sleep(0.0005)
        out.append(time.perf_counter() - t0)
        time.sleep(gap)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between edits")
    ap.add_argument("--workdir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="iterdeck-devbench-", dir=args.workdir)
    data = os.path.join(work, "sandbox")
    kc = os.path.join(work, "kubeconfig")
    env = dict(os.environ, KUBECONFIG=kc, HOME=work, XDG_STATE_HOME=os.path.join(work, "state"),
               ITERDECK_AGENT=args.agent, KUBECACHEDIR=os.path.join(work, "kubecache"))
    sandbox = subprocess.Popen([args.ctl, "sandbox", "up", "--data-dir", data, "--port", "0", "--kubeconfig-out", kc,
                                "--isolation", "bubblewrap"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        for raw in iter(sandbox.stdout.readline, b""):
            if raw.startswith(b"kubeconfig:"):
                break
        threading.Thread(target=lambda: sandbox.stdout.read(), daemon=True).start()
        subprocess.run([args.ctl, "apply", "-f", "-"], input=DEPLOYMENT.encode(), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        src = os.path.join(work, "src")
        log("generating the 10,000-file project...")
        subprocess.run([sys.executable, GEN, src], check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(src, ".nocalhost"))
        with open(os.path.join(src, ".nocalhost/config.yaml"), "w") as f:
            f.write(CONFIG)
        ns = ["-n", "dev-bench"]
        starts, ends, exec_lat = [], [], []
        for run in range(args.repeat):
            if run == 0:
                shutil.rmtree(os.path.join(work, "state"), ignore_errors=True)
            t0 = time.perf_counter()
            proc = subprocess.Popen([args.ctl, "dev", "start", "deploy/app", *ns, "--local", src],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            lines = Lines(proc, t0)
            ready = lines.find("syncing; press Ctrl+C", 300)
            if ready is None:
                proc.kill()
                raise RuntimeError("dev start did not become ready:\n" + lines.dump())
            sync_begin = lines.find("syncing " + src, 1)
            starts.append((ready, sync_begin, ready - sync_begin))
            log(f"run {run + 1}: ready after {ready:.2f} s (sync began at {sync_begin:.2f} s)")
            if run == 0 and args.edits:
                probe = os.path.join(src, "edit-probe.txt")
                with open(probe, "w") as f:
                    f.write("probe")
                dst = None
                for _ in range(2000):
                    found = subprocess.run(["find", os.path.join(data, "pods"), "-name", "edit-probe.txt"],
                                           capture_output=True, text=True).stdout.split()
                    if found:
                        dst = os.path.dirname(found[0])
                        break
                    time.sleep(0.01)
                if not dst:
                    raise RuntimeError("the probe file never reached the pod")
                log(f"edits over exec ({args.edits})...")
                exec_lat = edit_latencies(os.path.join(src, "edit.txt"), os.path.join(dst, "edit.txt"), args.edits,
                                          args.gap)
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            t1 = time.perf_counter()
            subprocess.run([args.ctl, "dev", "end", "deploy/app", *ns], env=env, check=True, stdout=subprocess.DEVNULL)
            ends.append(time.perf_counter() - t1)
            # The next start waits for the restored pod to be gone like any user would not:
            # let the rollout settle first so every run starts from the same state.
            time.sleep(2)

        pipe_lat = []
        if args.edits:
            log(f"edits over a plain pipe ({args.edits})...")
            dst2 = os.path.join(work, "pipe-dst")
            os.makedirs(dst2)
            proc = subprocess.Popen([args.ctl, "sync", src, "--remote-command", f"{args.agent} serve --root {dst2}",
                                     "--status", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            lines = Lines(proc, time.perf_counter())
            if lines.find('"phase":"idle"', 300) is None:
                proc.kill()
                raise RuntimeError("the pipe sync never became idle:\n" + lines.dump())
            pipe_lat = edit_latencies(os.path.join(src, "edit.txt"), os.path.join(dst2, "edit.txt"), args.edits, args.gap)
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            sandbox.wait(30)
        except subprocess.TimeoutExpired:
            sandbox.kill()
        shutil.rmtree(work, ignore_errors=True)

    ms = lambda s: f"{s * 1000:.1f} ms"
    sec = lambda s: f"{s:.2f} s"
    print(f"\n## dev mode on the sandbox ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"project 10,000 files / ~217 MB on tmpfs)\n")
    print("| measure | value |")
    print("|---|---|")
    for i, (ready, before, sync) in enumerate(starts):
        tag = "first start (no local index)" if i == 0 else f"start {i + 1} (local index kept, fresh pod)"
        print(f"| dev start to ready, {tag} | {sec(ready)} = {sec(before)} before the sync + {sec(sync)} initial sync |")
    print(f"| dev end (restore + verify), median of {len(ends)} | {sec(sorted(ends)[len(ends) // 2])} |")
    if exec_lat:
        for name, xs in (("over the Kubernetes exec stream (dev start)", exec_lat), ("over a plain pipe (iterdeckctl sync)", pipe_lat)):
            print(f"| single edit {name}, n={len(xs)} | p50 {ms(pct(xs, 50))}, p90 {ms(pct(xs, 90))}, p99 {ms(pct(xs, 99))} |")


if __name__ == "__main__":
    main()
