#!/usr/bin/env python3
"""Desktop app benchmark: cold start until the tray icon is shown, RSS after start and with 500
workloads (the size of 50 iterations x 10 components) in the namespace, CPU over idle seconds.

Runs a sandbox cluster (iterdeckctl sandbox up), Xvfb and a real system tray (trayer); the app
starts with --kubeconfig and -n. "Shown" means the tray icon's window is embedded in trayer's
panel (xwininfo -tree lists a child of trayer named iterdeck).
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, threading, time

TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def tray_has_icon(display):
    out = subprocess.run(["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True).stdout
    return '"iterdeck"' in out or '"Iterdeck"' in out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workloads", type=int, default=500)
    ap.add_argument("--idle-seconds", type=int, default=60)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="iterdeck-appbench-")
    display = f":{80 + os.getpid() % 9}"
    env = dict(os.environ, DISPLAY=display, HOME=work, XDG_CONFIG_HOME=os.path.join(work, "config"),
               XDG_STATE_HOME=os.path.join(work, "state"), KUBECONFIG=os.path.join(work, "kubeconfig"))
    procs = []

    def spawn(cmd, **kw):
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        procs.append(p)
        return p

    try:
        spawn(["Xvfb", display, "-screen", "0", "1280x800x24"])
        time.sleep(1)
        spawn(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "28"])
        sandbox = subprocess.Popen([args.ctl, "sandbox", "up", "--data-dir", os.path.join(work, "sandbox"), "--port", "0",
                                    "--kubeconfig-out", env["KUBECONFIG"], "--isolation", "plain"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(sandbox)
        for raw in iter(sandbox.stdout.readline, b""):
            if raw.startswith(b"kubeconfig:"):
                break
        threading.Thread(target=lambda: sandbox.stdout.read(), daemon=True).start()
        docs = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n"]
        for i in range(args.workloads):
            docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: c{i:03d}, namespace: bench, labels: {{app: c{i:03d}}}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: c{i:03d}}}}}
  template:
    metadata: {{labels: {{app: c{i:03d}}}}}
    spec: {{containers: [{{name: c, image: iterdeck/demo-web:1.0}}]}}
""")
        log(f"creating {args.workloads} deployments...")
        subprocess.run([args.ctl, "apply", "-f", "-"], input="---\n".join(docs).encode(), env=env, check=True,
                       stdout=subprocess.DEVNULL)

        starts = []
        for run in range(args.repeat):
            t0 = time.perf_counter()
            app = subprocess.Popen([args.app, "--kubeconfig", env["KUBECONFIG"], "-n", "default"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not tray_has_icon(display):
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("the tray icon never appeared")
                time.sleep(0.005)
            starts.append(time.perf_counter() - t0)
            if run < args.repeat - 1:
                app.send_signal(signal.SIGTERM)
                app.wait(20)
        log(f"starts: {', '.join(f'{s * 1000:.0f} ms' for s in starts)}")
        time.sleep(3)
        rss_start = rss_kb(app.pid)
        app.send_signal(signal.SIGTERM)
        app.wait(20)
        # With the 500 workloads: the model, the watches and the table.
        app = subprocess.Popen([args.app, "--kubeconfig", env["KUBECONFIG"], "-n", "bench", "--show"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(8)
        rss_loaded = rss_kb(app.pid)
        log(f"idle for {args.idle_seconds} s...")
        c0, t0 = cpu_ticks(app.pid), time.perf_counter()
        time.sleep(args.idle_seconds)
        c1, t1 = cpu_ticks(app.pid), time.perf_counter()
        idle_cpu = (c1 - c0) / TICK / (t1 - t0) * 100
        app.send_signal(signal.SIGTERM)
        app.wait(20)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    s = sorted(starts)
    print(f"\n## iterdeck desktop app ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, Xvfb + trayer, sandbox cluster)\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| cold start until the tray icon is shown, median of {len(s)} (min-max) | {s[len(s) // 2] * 1000:.0f} ms "
          f"({s[0] * 1000:.0f}-{s[-1] * 1000:.0f} ms) | <= 500 ms |")
    print(f"| RSS after start (small namespace) | {rss_start / 1024:.1f} MB | <= 80 MB |")
    print(f"| RSS with {args.workloads} workloads shown | {rss_loaded / 1024:.1f} MB | <= 80 MB |")
    print(f"| CPU over {args.idle_seconds} idle seconds ({args.workloads} workloads watched) | {idle_cpu:.3f} % of a core | <= 0.2 % |")


if __name__ == "__main__":
    main()
