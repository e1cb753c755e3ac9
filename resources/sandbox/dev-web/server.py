#!/usr/bin/env python3
"""The demo-web component as a developer has it checked out: edit this file while dev mode
syncs it into the container, then `iterdeckctl dev run deploy/demo-web` serves it."""
import http.server
import os

HOST = os.environ.get("POD_IP", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8080"))
GREETING = os.environ.get("GREETING", "Hello")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{GREETING} (served from {os.getcwd()}, edited locally)\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
