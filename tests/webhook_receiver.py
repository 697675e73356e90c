"""A local HTTP server that plays an integrator's webhook receiver in tests.

It keeps every request (headers and raw body) and answers with the statuses it is told, one
per request in order (then the last one for every request after), so a test can make it fail
a few times and then accept.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class Receiver:
    """A receiver on 127.0.0.1 and a free port, in a thread of the test process."""

    def __init__(self, statuses=(200,)):
        """`statuses`: the answers, in order; the last one repeats."""
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            """Records the request and answers the next status."""

            def do_POST(self):  # noqa: N802 - http.server's naming
                """Keep headers and body; answer."""
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    status = (receiver.statuses.pop(0) if len(receiver.statuses) > 1
                              else receiver.statuses[0])
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verified(self, secret: str) -> list[dict]:
        """Every body received, each verified with standardwebhooks' Webhook.verify (raises
        on a bad signature)."""
        with self.lock:
            received = list(self.requests)
        return [Webhook(secret).verify(body, headers) for headers, body in received]

    def of(self, secret: str, event: str) -> list[dict]:
        """The verified bodies of one event type."""
        return [b for b in self.verified(secret) if b["type"] == event]

    def ids(self) -> list[str]:
        """The webhook-id header of every request, in order."""
        with self.lock:
            return [h.get("webhook-id") or h.get("Webhook-Id") for h, _ in self.requests]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def bodies(receiver: Receiver) -> list[dict]:
    """The raw JSON bodies (unverified), for quick looks."""
    return [json.loads(b) for _, b in receiver.requests]
