#!/usr/bin/env python3
"""iterdeck/demo-worker: prints one line every ${INTERVAL:-1} seconds until stopped."""
import os
import signal
import sys
import time

POD = os.environ.get("HOSTNAME", "demo-worker")
INTERVAL = float(os.environ.get("INTERVAL", "1"))


def stop(signum, frame):
    print(f"{POD}: received signal {signum}, done", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
tick = 0
while True:
    tick += 1
    print(f"{POD}: tick {tick} at {time.strftime('%H:%M:%S')}", flush=True)
    time.sleep(INTERVAL)
