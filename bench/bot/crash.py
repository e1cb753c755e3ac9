#!/usr/bin/env python3
"""kill -9 during a burst of webhooks whose sender retries what was not acknowledged.

A sender posts COUNT signed generic artifact.published webhooks, each with its own delivery id,
as fast as it can over several keep-alive connections, and posts again every one that got no 2xx
(connection errors, 5xx). When a quarter are acknowledged the bot is killed with SIGKILL and
started again on the same data directory and port; the sender keeps retrying until all are
acknowledged. Then the store is opened read-only (Python's sqlite3) and checked: every delivery
id exactly once in `deliveries`, exactly one artifact.published event per delivery, event
sequence numbers without holes. Exit 0 when all holds (tst_botcrash runs it with --count 300)."""
import argparse, http.client, json, os, shutil, signal, sqlite3, sys, tempfile, threading, time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import botproc  # noqa: E402


class Sender:
    def __init__(self, count, tag):
        self.count, self.tag = count, tag
        self.pending = list(range(count))
        self.acked = set()
        self.lock = threading.Lock()
        self.port = 0
        self.failures = 0  # connection errors and 5xx: retried
        self.duplicates = 0  # retries the store already had: processed before the kill, answer lost
        self.done = threading.Event()

    def body(self, n):
        return json.dumps({"id": f"{self.tag}-{n}", "type": "artifact.published",
                           "artifact": {"component": "web", "branch": "crash", "build": str(n),
                                        "tag": f"crash-{n}"}}).encode()

    def take(self):
        with self.lock:
            if self.pending:
                return self.pending.pop(0)
            return None if len(self.acked) == self.count else -1

    def run(self):
        conn = None
        while True:
            n = self.take()
            if n is None:
                return
            if n < 0:
                time.sleep(0.01)  # others are in flight; one of them may come back
                continue
            body = self.body(n)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/hooks/generic", body,
                             {"Content-Type": "application/json", "X-Iterdeck-Signature": botproc.sign(body)})
                r = conn.getresponse()
                answer = r.read()
                ok = r.status in (200, 202)
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                ok, answer = False, b""
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.02)  # the bot is down: try again soon
            with self.lock:
                if ok:
                    self.acked.add(n)
                    if b'"duplicate"' in answer:
                        self.duplicates += 1
                    if len(self.acked) == self.count:
                        self.done.set()
                else:
                    self.failures += 1
                    self.pending.append(n)


def verify(db, tag, count):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    deliveries = Counter(d for (d,) in con.execute("SELECT delivery_id FROM deliveries WHERE delivery_id LIKE ?",
                                                   (tag + "-%",)))
    events = Counter()
    for (payload,) in con.execute("SELECT payload FROM events WHERE type = 'artifact.published'"):
        d = json.loads(payload).get("delivery", "")
        if d.startswith(tag + "-"):
            events[d] += 1
    n, lo, hi = con.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM events").fetchone()
    con.close()
    want = {f"{tag}-{i}" for i in range(count)}
    return {
        "deliveries missing": len(want - set(deliveries)),
        "deliveries recorded twice": sum(1 for v in deliveries.values() if v > 1),
        "events missing": len(want - set(events)),
        "deliveries with more than one event": sum(1 for v in events.values() if v > 1),
        "holes or repeats in the event sequence": 0 if (n == 0 or (lo == 1 and hi == n)) else abs(hi - n) + 1,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bot", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=8, help="parallel keep-alive connections of the sender")
    ap.add_argument("--kill-at", type=float, default=0.25, help="kill when this share is acknowledged")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="iterdeck-botcrash-")
    data = os.path.join(work, "data")
    env = botproc.environment(work)
    manifest = botproc.write_manifest(work)
    bot = botproc.Bot(args.bot, manifest, data, env, os.path.join(work, "bot.log"))
    sender = Sender(args.count, f"crash{os.getpid()}")
    ok = False
    try:
        sender.port = bot.start()
        t0 = time.monotonic()
        threads = [threading.Thread(target=sender.run, daemon=True) for _ in range(args.connections)]
        for t in threads:
            t.start()
        while len(sender.acked) < args.count * args.kill_at:
            if time.monotonic() - t0 > args.timeout:
                raise RuntimeError("the burst did not get going")
            time.sleep(0.001)
        acked_at_kill = len(sender.acked)
        bot.kill()
        killed_at = time.monotonic()
        time.sleep(0.2)  # a window in which senders see connection errors
        bot.start(sender.port)
        restarted_in = time.monotonic() - killed_at
        if not sender.done.wait(args.timeout):
            raise RuntimeError(f"only {len(sender.acked)} of {args.count} acknowledged in {args.timeout} s")
        elapsed = time.monotonic() - t0
        for t in threads:
            t.join(10)
        bot.stop()
        result = verify(os.path.join(data, "iterdeck-bot.db"), sender.tag, args.count)
        ok = all(v == 0 for v in result.values())
        print(f"\n## iterdeck-bot: kill -9 during a burst of {args.count} retried webhooks\n")
        print("| measure | value | target | result |\n|---|---|---|---|")
        print(f"| acknowledged before kill -9 | {acked_at_kill} | - | - |")
        print(f"| failed attempts retried (connection errors, 5xx) | {sender.failures} | - | - |")
        print(f"| retries found already processed (answer lost in the kill) | {sender.duplicates} | - | - |")
        print(f"| kill to restarted (new process listening) | {restarted_in * 1000:.0f} ms | - | - |")
        print(f"| all {args.count} acknowledged after | {elapsed:.1f} s | - | - |")
        for k, v in result.items():
            print(f"| {k} | {v} | 0 | {'pass' if v == 0 else 'FAIL'} |")
    finally:
        bot.stop()
        if args.keep or not ok:
            print(f"bench/bot/crash: kept {work} (bot.log, data/)", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
