"""Shared by bench/bot/bench.py and crash.py: a bench team manifest, tokens, and an iterdeck-bot
process started on loopback without a cluster (environments disabled: only the webhook and the
desktop stream paths are measured)."""
import hashlib, hmac, os, re, subprocess, time, urllib.request

SECRET = "bench-secret"
USERS = [f"user{i:02d}" for i in range(1, 11)]


def write_manifest(work):
    os.makedirs(os.path.join(work, "deploy", "web"), exist_ok=True)
    people = "".join(f"  - {{name: User {u[4:]}, collab: {u}}}\n" for u in USERS)
    path = os.path.join(work, "iterdeck.yaml")
    with open(path, "w") as f:
        f.write("version: 1\nproject: bench\nim: {adapter: none}\n"
                "components:\n"
                "  - name: web\n    repository: https://github.com/bench/web.git\n    image: bench/web\n"
                "    deploy: {driver: manifests, path: deploy/web}\n"
                "webhooks:\n  - {source: generic, secret: {env: BENCH_BOT_SECRET}}\n"
                "people:\n" + people)
    return path


def environment(work):
    # No cluster: KUBECONFIG names a file that does not exist, HOME has no ~/.kube.
    env = dict(os.environ, BENCH_BOT_SECRET=SECRET, HOME=work, KUBECONFIG=os.path.join(work, "no-kubeconfig"),
               LANGUAGE="en")
    env.pop("ITERDECK_STORE", None)
    return env


def create_tokens(bot, data, env):
    tokens = []
    for u in USERS:
        out = subprocess.run([bot, "token", "create", u, "--data-dir", data], env=env, check=True,
                             capture_output=True, text=True).stdout
        tokens.append(out.strip().splitlines()[-1])
    return tokens


class Bot:
    def __init__(self, bot, manifest, data, env, log_path):
        self.bot, self.manifest, self.data, self.env, self.log_path = bot, manifest, data, env, log_path
        self.proc, self.port = None, 0

    def start(self, port=0):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.bot, "--config", self.manifest, "--data-dir", self.data,
                                      "--listen", f"127.0.0.1:{port}"], env=self.env,
                                     stdout=subprocess.PIPE, stderr=log)
        log.close()
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.wait(10)
            raise RuntimeError(f"iterdeck-bot did not start (see {self.log_path}): {line!r}")
        self.port = int(m.group(1))
        return self.port

    def kill(self):
        self.proc.kill()  # SIGKILL
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sign(body):
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def post(port, body, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/generic", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Iterdeck-Signature": sign(body)})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()
