"""HTTP server for cluster tests.

GET /        -> the pod's hostname
GET /healthz -> 200
GET /readyz  -> 200, or 503 while /tmp/unready exists
GET /burn?seconds=N -> spins one CPU for N seconds (at most 300), then answers
GET /metrics -> a Prometheus counter of the requests served
"""

import itertools
import os
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SERVED = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        status, body = 200, socket.gethostname()
        served = next(SERVED)
        if url.path == "/metrics":
            body = f"# TYPE echo_requests_total counter\necho_requests_total {served}\n"
        elif url.path == "/readyz" and os.path.exists("/tmp/unready"):
            status, body = 503, "unready"
        elif url.path == "/burn":
            seconds = min(float(parse_qs(url.query).get("seconds", ["1"])[0]), 300.0)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
