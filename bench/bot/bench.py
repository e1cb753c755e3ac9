#!/usr/bin/env python3
"""iterdeck-bot under load: starts a bot (SQLite store in a temporary directory, no cluster),
creates 10 desktop tokens whose users are all members of one iteration, and runs bot-loadgen
(N desktop WebSocket clients, R signed generic webhooks/s for D seconds), which prints the table."""
import argparse, json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import botproc  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bot", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--senders", type=int, default=16, help="keep-alive HTTP connections posting webhooks")
    ap.add_argument("--threads", type=int, default=2, help="the generator's threads reading the WebSocket clients")
    ap.add_argument("--drain", type=int, default=20, help="seconds to wait for events after the last answer")
    ap.add_argument("--work-dir", help="where the bot's data goes (default: a new temporary directory, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (the bot's log is bot.log)")
    args = ap.parse_args()

    work = args.work_dir or tempfile.mkdtemp(prefix="iterdeck-botbench-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    env = botproc.environment(work)
    manifest = botproc.write_manifest(work)
    tokens = botproc.create_tokens(args.bot, data, env)
    tokens_file = os.path.join(work, "tokens")
    with open(tokens_file, "w") as f:
        f.write("\n".join(tokens) + "\n")
    bot = botproc.Bot(args.bot, manifest, data, env, os.path.join(work, "bot.log"))
    rc = 1
    try:
        port = bot.start()
        body = json.dumps({"id": f"bench-iteration-{os.getpid()}", "type": "iteration.started",
                           "iteration": {"id": "bench", "name": "Bench", "members": botproc.USERS}}).encode()
        status, _ = botproc.post(port, body)
        if status not in (200, 202):
            raise RuntimeError(f"iteration.started answered {status}")
        print(f"bench/bot: iterdeck-bot pid {bot.proc.pid} on port {port}, data in {data}", file=sys.stderr)
        rc = subprocess.run([args.loadgen, "--port", str(port), "--secret", botproc.SECRET, "--tokens", tokens_file,
                             "--component", "web", "--connections", str(args.connections), "--rate", str(args.rate),
                             "--duration", str(args.duration), "--senders", str(args.senders),
                             "--threads", str(args.threads), "--drain", str(args.drain), "--bot-pid", str(bot.proc.pid)]).returncode
    finally:
        bot.stop()
        if args.keep or args.work_dir:
            print(f"bench/bot: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
