#!/usr/bin/env python3
"""iterdeck/demo-web: a small HTTP server for the sandbox demo.

Serves on $POD_IP:${PORT:-8080} and prints one log line per request.
GET /healthz answers "ok" (for probes); any other path answers a JSON document
naming the pod that served it.
"""
import http.server
import json
import os
import signal
import sys
import threading
import time

HOST = os.environ.get("POD_IP", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8080"))
POD = os.environ.get("HOSTNAME", "demo-web")
GREETING = os.environ.get("GREETING", "Hello from the Iterdeck sandbox")
STARTED = time.time()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "demo-web/1.0"
    requests = 0

    def do_GET(self):
        Handler.requests += 1
        if self.path == "/healthz":
            body, kind = b"ok\n", "text/plain"
        else:
            doc = {
                "greeting": GREETING,
                "pod": POD,
                "podIP": HOST,
                "path": self.path,
                "requests": Handler.requests,
                "uptimeSeconds": round(time.time() - STARTED, 1),
            }
            body, kind = (json.dumps(doc) + "\n").encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        agent = self.headers.get("User-Agent", "-") if self.headers else "-"
        print(f'{self.client_address[0]} "{self.requestline}" {code} "{agent}"', flush=True)

    def log_message(self, format, *args):
        print(format % args, file=sys.stderr, flush=True)


def main():
    server = http.server.ThreadingHTTPServer((HOST, PORT), Handler)

    def stop(signum, frame):
        print(f"{POD}: received signal {signum}, shutting down", flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"{POD}: serving on http://{HOST}:{PORT}/", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
