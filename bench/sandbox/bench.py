#!/usr/bin/python3
"""Sandbox cluster benchmark: request latency, watch fan-out and pod start time.

Starts `iterdeckctl sandbox up` on a fresh data dir and measures, over HTTPS with the
admin token and keep-alive connections (as client-go does):
  - GET of one pod (p50/p99 over N requests),
  - LIST of 1,000 pods (p50/p99),
  - 100 concurrent watches while 1,000 updates are made (events delivered, p99 delay),
  - pod create -> Running (p50/p99 over a few pods, real processes),
and prints a table.
"""
import argparse
import base64
import http.client
import json
import multiprocessing as mp
import re
import selectors
import socket
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import yaml


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


class Client:
    def __init__(self, host, port, ctx, token):
        self.conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=60)
        self.headers = {"Authorization": "Bearer " + token, "Accept": "application/json",
                        "Content-Type": "application/json"}

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=self.headers)
        r = self.conn.getresponse()
        payload = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {payload[:200]!r}")
        return payload


def watch_worker(host, port, cafile, token, rv, count, updates, ready, queue):
    ctx = ssl.create_default_context(cafile=cafile)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        raw = socket.create_connection((host, port))
        s = ctx.wrap_socket(raw, server_hostname=host)
        s.sendall((f"GET /api/v1/namespaces/bench/configmaps?watch=1&fieldSelector=metadata.name%3Dtick"
                   f"&resourceVersion={rv} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, {"buf": b"", "got": 0})
    ready.wait(timeout=60)
    pattern = re.compile(rb'"t":"([0-9.]+)"')
    delays = []
    open_ = count
    deadline = time.time() + 180
    while open_ and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            st = key.data
            try:
                while True:
                    chunk = key.fileobj.recv(65536)
                    if not chunk:
                        raise EOFError
                    now = time.time()
                    st["buf"] += chunk
                    last = 0
                    for m in pattern.finditer(st["buf"]):
                        delays.append((now - float(m.group(1))) * 1000)
                        st["got"] += 1
                        last = m.end()
                    st["buf"] = st["buf"][last:] if last else st["buf"][-256:]
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except (EOFError, OSError):
                st["got"] = updates
            if st["got"] >= updates:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_ -= 1
    queue.put(delays)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True, help="path to iterdeckctl")
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--gets", type=int, default=2000)
    ap.add_argument("--lists", type=int, default=50)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--updates", type=int, default=1000)
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="iterdeck-bench-sandbox-")
    proc = subprocess.Popen([args.ctl, "sandbox", "up", "--data-dir", data, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kubeconfig = None
    for line in proc.stdout:
        if line.startswith("kubeconfig: "):
            kubeconfig = line.split(": ", 1)[1].strip()
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    if not kubeconfig:
        sys.exit("the sandbox did not start")
    cfg = yaml.safe_load(open(kubeconfig))
    server = cfg["clusters"][0]["cluster"]["server"]
    ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"])
    token = next(u["user"]["token"] for u in cfg["users"] if "token" in u["user"])
    host, port = server[len("https://"):].rsplit(":", 1)
    port = int(port)
    cafile = os.path.join(data, "bench-ca.crt")
    open(cafile, "wb").write(ca)
    ctx = ssl.create_default_context(cafile=cafile)
    c = Client(host, port, ctx, token)
    rows = []
    try:
        c.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "bench"}})
        # Pods with an image outside the catalog stay Pending: API objects without processes.
        t0 = time.perf_counter()
        for i in range(args.pods):
            c.request("POST", "/api/v1/namespaces/bench/pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"p-{i:04d}", "labels": {"app": "bench", "i": str(i % 10)}},
                "spec": {"containers": [{"name": "c", "image": "bench/none:1",
                                         "env": [{"name": "K", "value": "v" * 64}]}]}})
        create_s = time.perf_counter() - t0
        rows.append(("create pod (POST, sequential)", f"{args.pods / create_s:,.0f}/s", "", ""))

        lat = []
        for i in range(args.gets):
            t = time.perf_counter()
            c.request("GET", f"/api/v1/namespaces/bench/pods/p-{i % args.pods:04d}")
            lat.append((time.perf_counter() - t) * 1000)
        rows.append(("GET pod", f"{pct(lat, 50):.2f} ms", f"{pct(lat, 99):.2f} ms", f"n={args.gets}"))

        lat = []
        size = 0
        for i in range(args.lists):
            t = time.perf_counter()
            body = c.request("GET", "/api/v1/namespaces/bench/pods")
            lat.append((time.perf_counter() - t) * 1000)
            size = len(body)
        n = len(json.loads(body)["items"])
        rows.append((f"LIST {n} pods", f"{pct(lat, 50):.1f} ms", f"{pct(lat, 99):.1f} ms",
                     f"{size / 1e6:.1f} MB each"))

        lat = []
        for i in range(args.lists):
            t = time.perf_counter()
            c.request("GET", "/api/v1/namespaces/bench/pods?labelSelector=i%3D3")
            lat.append((time.perf_counter() - t) * 1000)
        rows.append((f"LIST with labelSelector (1/10 of {n})", f"{pct(lat, 50):.1f} ms", f"{pct(lat, 99):.1f} ms", ""))

        # Watch fan-out: watchers spread over a few processes that only scan the stream for the
        # send time each update carries, so that the client's cost stays out of the measure.
        c.request("POST", "/api/v1/namespaces/bench/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tick"}, "data": {"t": "0", "n": "-1"}})
        rv = json.loads(c.request("GET", "/api/v1/namespaces/bench/configmaps/tick"))["metadata"]["resourceVersion"]
        procs = 4
        per = [args.watchers // procs + (1 if i < args.watchers % procs else 0) for i in range(procs)]
        queue = mp.Queue()
        ready = mp.Barrier(procs + 1)
        workers = [mp.Process(target=watch_worker, args=(host, port, cafile, token, rv, n, args.updates, ready, queue))
                   for n in per if n]
        for w in workers:
            w.start()
        ready = ready  # all watches are open once the barrier passes
        ready.wait(timeout=60)
        t0 = time.perf_counter()
        for i in range(args.updates):
            c.request("PUT", "/api/v1/namespaces/bench/configmaps/tick", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tick"},
                "data": {"t": repr(time.time()), "n": str(i)}})
        upd_s = time.perf_counter() - t0
        all_delays = []
        for _ in workers:
            all_delays.extend(queue.get(timeout=180))
        for w in workers:
            w.join(timeout=30)
        expected = args.watchers * args.updates
        rows.append((f"{args.watchers} watches x {args.updates} updates", f"{len(all_delays)}/{expected} delivered",
                     f"p99 delay {pct(all_delays, 99):.1f} ms",
                     f"p50 {pct(all_delays, 50):.1f} ms; {args.updates / upd_s:,.0f} updates/s"))

        # Pod start: real processes (sandbox-base runs the host's sleep).
        start = []
        for i in range(args.starts):
            name = f"start-{i}"
            t = time.perf_counter()
            c.request("POST", "/api/v1/namespaces/bench/pods", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "iterdeck/sandbox-base:latest",
                                         "command": ["sleep", "3600"]}]}})
            while True:
                pod = json.loads(c.request("GET", f"/api/v1/namespaces/bench/pods/{name}"))
                if pod.get("status", {}).get("phase") == "Running":
                    break
                if time.perf_counter() - t > 30:
                    raise RuntimeError(f"{name} not Running after 30 s: {pod.get('status')}")
                time.sleep(0.002)
            start.append((time.perf_counter() - t) * 1000)
        rows.append(("pod create -> Running", f"{pct(start, 50):.0f} ms", f"{pct(start, 99):.0f} ms",
                     f"n={args.starts}"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["rm", "-rf", data])

    print()
    print(f"{'measure':40} {'p50 / value':>22} {'p99':>22}  notes")
    print("-" * 110)
    for r in rows:
        print(f"{r[0]:40} {r[1]:>22} {r[2]:>22}  {r[3]}")


if __name__ == "__main__":
    main()
