"""Local stand-ins for the providers, so `make run` sends email and SMS with none configured.

An SMTP server (aiosmtpd) and an HTTP SMS sink that takes what Apprise's `json://` plugin
posts ({to, message}); both write what they receive to the outbox (services/channels/
outbox.py), which the development Outbox page shows. `python run.py all` starts them as a
child when EMAIL_URL / SMS_URL are unset in development and points the channels at them:

    python -m dashboard.cli.sinks --outbox DIR --smtp-port N --sms-port M

The tests build their providers from the same classes, with scripted answers.
"""
from __future__ import annotations

import argparse
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from ..services.channels import outbox


def email_url(port: int, host: str = "127.0.0.1") -> str:
    """EMAIL_URL for the local SMTP server (plain SMTP, no login)."""
    return f"mailto://{host}:{port}?from=alerts@quantify.local&to={{email}}&mode=insecure"


def sms_url(port: int, host: str = "127.0.0.1") -> str:
    """SMS_URL for the local SMS sink (Apprise's JSON POST, the number as `to`)."""
    return f"json://{host}:{port}/sms?:to={{phone}}"


class SmtpSink:
    """An SMTP server that keeps every message: in `messages` and, with a folder, in the
    outbox. `answer(envelope)` may return another SMTP reply ("550 ...") to refuse one."""

    def __init__(self, port: int, *, folder=None, host: str = "127.0.0.1", answer=None):
        """Prepare; `start` listens."""
        self.folder, self.answer, self.messages = folder, answer, []
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname=host, port=port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        """One message: keep it (unless `answer` refuses it)."""
        reply = self.answer(envelope) if self.answer else None
        if reply:
            return reply
        record = outbox.parse_email(envelope.rcpt_tos, envelope.original_content
                                    or envelope.content)
        with self.lock:
            self.messages.append(record)
        if self.folder:
            outbox.append(self.folder, "email", record)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        """Listen in a thread of this process."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()


class SmsSink(ThreadingHTTPServer):
    """An HTTP server playing an SMS gateway: every POST body is kept (`messages`, and the
    outbox with a folder) and answered by `answer(record)` → (status, headers) or 200."""

    daemon_threads = True
    request_queue_size = 128  # many senders at once must queue, not be refused

    def __init__(self, port: int, *, folder=None, host: str = "127.0.0.1", answer=None):
        """Bind; `start` serves."""
        self.folder, self.answer, self.messages = folder, answer, []
        self.requests_seen = []  # every request, accepted or not: (status, body)
        self.lock = threading.Lock()
        super().__init__((host, port), _SmsHandler)

    def start(self) -> SmsSink:
        """Serve in a thread of this process."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.shutdown()
        self.server_close()


class _SmsHandler(BaseHTTPRequestHandler):
    """POST: an SMS to send."""

    server: SmsSink

    def do_POST(self):  # noqa: N802 - http.server's name
        """Keep the message and answer as the sink's `answer` says (200 by default)."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            record = outbox.parse_sms(body)
        except ValueError:
            self._reply(400, {}, b'{"error": "not JSON"}')
            return
        status, headers = 200, {}
        if self.server.answer:
            answer = self.server.answer(record)
            if answer:
                status, headers = answer
        with self.server.lock:
            self.server.requests_seen.append((status, record))
            if status < 300:
                self.server.messages.append(record)
        if status < 300 and self.server.folder:
            outbox.append(self.server.folder, "sms", record)
        self._reply(status, headers, json.dumps({"status": status}).encode())

    def _reply(self, status: int, headers: dict, body: bytes) -> None:
        """Send the answer."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        """Quiet: the outbox is the log."""


def main(argv=None) -> None:
    """Run both sinks until SIGTERM or Ctrl-C."""
    p = argparse.ArgumentParser(prog="python -m dashboard.cli.sinks")
    p.add_argument("--outbox", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--sms-port", type=int, required=True)
    args = p.parse_args(argv)
    smtp = SmtpSink(args.smtp_port, folder=args.outbox).start()
    sms = SmsSink(args.sms_port, folder=args.outbox).start()
    print(f"Local SMTP server on 127.0.0.1:{args.smtp_port}, SMS sink on "
          f"127.0.0.1:{args.sms_port}; outbox {args.outbox}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    smtp.stop()
    sms.stop()


if __name__ == "__main__":
    main()
