#!/usr/bin/python3
"""Kube client benchmark: iterdeckctl and kubectl side by side on one sandbox cluster.

Starts `iterdeckctl sandbox up` (plain processes) on a fresh data dir, then measures with
both tools, alternating runs so that neither gets a warmer machine:
  - exec: N MB through `exec -i POD -- cat` (stdin -> stdout), MB/s, output checked byte-exact;
  - get: sequential `get pod NAME -o json` invocations (whole process: start, config,
    discovery, request), p50/p99 in ms;
  - port-forward: N MB downloaded through `port-forward pod/NAME LOCAL:9000`, MB/s.
Prints a table with the ratio ours/kubectl (throughput: higher is better; latency: lower).
"""
import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.2)
    raise RuntimeError("timed out waiting for " + what)


SERVER = r"""
import os, socket
n = int(os.environ["BYTES"])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ["POD_IP"], 9000)); s.listen(8)
block = b"\0" * (1 << 20)
while True:
    c, _ = s.accept()
    left = n
    while left > 0:
        k = c.send(block[:min(left, len(block))])
        left -= k
    c.close()
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="kube-bench-")
        self.env = dict(os.environ, KUBECACHEDIR=os.path.join(self.tmp, "kubecache"), HOME=self.tmp)
        self.proc = subprocess.Popen([args.ctl, "sandbox", "up", "--data-dir", os.path.join(self.tmp, "sandbox"),
                                      "--isolation", "plain"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=self.env)
        kubeconfig = None
        for line in self.proc.stdout:
            m = re.match(r"kubeconfig: (.*)", line.strip())
            if m:
                kubeconfig = m.group(1)
                break
        if not kubeconfig:
            raise RuntimeError("the sandbox did not start")
        self.env["KUBECONFIG"] = kubeconfig

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def tool(self, which):
        return [self.args.ctl] if which == "iterdeckctl" else ["kubectl"]

    def kubectl(self, *a, **kw):
        return subprocess.run(["kubectl", *a], env=self.env, check=True, capture_output=True, text=True, **kw).stdout

    def setup(self):
        mb = self.args.mb
        manifest = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: bench}}
---
apiVersion: v1
kind: Pod
metadata: {{name: cat, namespace: bench}}
spec:
  containers:
  - {{name: main, image: "iterdeck/sandbox-base:latest", command: [sleep, "100000"]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: source, namespace: bench}}
spec:
  containers:
  - name: main
    image: "iterdeck/sandbox-base:latest"
    command: [python3, -c, {json.dumps(SERVER)}]
    env: [{{name: BYTES, value: "{mb * 1024 * 1024}"}}]
"""
        subprocess.run(["kubectl", "apply", "-f", "-"], input=manifest, text=True, env=self.env, check=True,
                       capture_output=True)
        for pod in ("cat", "source"):
            wait_for(pod + " running", lambda: self.kubectl("get", "pod", pod, "-n", "bench", "-o",
                                                          "jsonpath={.status.phase}") == "Running", 60)
        self.input = os.path.join(self.tmp, "input.bin")
        with open(self.input, "wb") as f:
            chunk = os.urandom(1 << 20)
            for i in range(mb):
                f.write(chunk[i % 97:] + chunk[:i % 97])
        with open(self.input, "rb") as f:
            self.input_sha = hashlib.sha256(f.read()).hexdigest()

    def exec_cat(self, which):
        out = os.path.join(self.tmp, "out.bin")
        with open(self.input, "rb") as fin, open(out, "wb") as fout:
            t = time.perf_counter()
            subprocess.run(self.tool(which) + ["exec", "-i", "cat", "-n", "bench", "--", "cat"], stdin=fin,
                           stdout=fout, env=self.env, check=True)
            dt = time.perf_counter() - t
        with open(out, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != self.input_sha:
                raise RuntimeError(which + ": exec cat returned different bytes")
        return self.args.mb / dt

    def get_pod(self, which):
        t = time.perf_counter()
        subprocess.run(self.tool(which) + ["get", "pod", "cat", "-n", "bench", "-o", "json"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        return (time.perf_counter() - t) * 1000

    def port_forward(self, which):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = subprocess.Popen(self.tool(which) + ["port-forward", "pod/source", f"{port}:9000", "-n", "bench"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        try:
            line = p.stdout.readline()
            if "Forwarding from" not in line:
                raise RuntimeError(which + " port-forward: " + line + p.stderr.read())
            want = self.args.mb * 1024 * 1024
            got = 0
            t = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port)) as c:
                while True:
                    b = c.recv(1 << 20)
                    if not b:
                        break
                    got += len(b)
            dt = time.perf_counter() - t
            if got != want:
                p.send_signal(signal.SIGINT)
                _, err = p.communicate(timeout=10)
                raise RuntimeError(f"{which} port-forward: got {got} of {want} bytes: {err.strip()}")
            return self.args.mb / dt
        finally:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--mb", type=int, default=200, help="megabytes through exec and port-forward")
    ap.add_argument("--gets", type=int, default=100, help="sequential get invocations per tool")
    ap.add_argument("--rounds", type=int, default=3, help="exec and port-forward runs per tool (best is kept)")
    args = ap.parse_args()
    b = Bench(args)
    rows = []
    try:
        b.setup()
        tools = ("iterdeckctl", "kubectl")
        ex = {t: [] for t in tools}
        pf = {t: [] for t in tools}
        pf_err = {}
        gets = {t: [] for t in tools}
        for _ in range(args.rounds):
            for t in tools:
                ex[t].append(b.exec_cat(t))
                try:
                    pf[t].append(b.port_forward(t))
                except Exception as e:  # kubectl may not reach the sandbox's port-forward
                    pf_err[t] = str(e).strip().splitlines()[-1][:80]
        for t in tools:
            b.get_pod(t)  # warm caches (kubectl's discovery cache)
        for _ in range(args.gets):
            for t in tools:
                gets[t].append(b.get_pod(t))
        def fmt(v, unit):
            return f"{v:.1f} {unit}" if v == v else "n/a"
        def ratio(a, k):
            return f"{a / k:.2f}" if a == a and k == k and k else "n/a"
        mx = lambda xs: max(xs) if xs else float("nan")
        rows.append(("exec cat stdin->stdout", fmt(mx(ex["iterdeckctl"]), "MB/s"), fmt(mx(ex["kubectl"]), "MB/s"),
                     ratio(mx(ex["iterdeckctl"]), mx(ex["kubectl"]))))
        rows.append(("port-forward download", fmt(mx(pf["iterdeckctl"]), "MB/s"), fmt(mx(pf["kubectl"]), "MB/s"),
                     ratio(mx(pf["iterdeckctl"]), mx(pf["kubectl"]))))
        for p in (50, 99):
            a, k = pct(gets["iterdeckctl"], p), pct(gets["kubectl"], p)
            rows.append((f"get pod p{p} (process)", fmt(a, "ms"), fmt(k, "ms"), ratio(a, k)))
        print(f"\nkube client benchmark: {args.mb} MB transfers (best of {args.rounds}), {args.gets} sequential gets, "
              f"sandbox with plain processes\n")
        w = max(len(r[0]) for r in rows)
        print(f"{'measure':<{w}}  {'iterdeckctl':>14}  {'kubectl':>14}  {'ours/kubectl':>12}")
        for r in rows:
            print(f"{r[0]:<{w}}  {r[1]:>14}  {r[2]:>14}  {r[3]:>12}")
        for t, e in pf_err.items():
            print(f"note: {t} port-forward failed: {e}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
