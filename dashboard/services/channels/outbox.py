"""The development outbox: what the local SMTP server and SMS sink received, one JSON line
per message in OUTBOX_DIR/email.jsonl and sms.jsonl (dashboard/cli/sinks.py writes, the
development-only Outbox page reads)."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

KINDS = ("email", "sms")
_lock = threading.Lock()


def append(folder: str | Path, kind: str, record: dict) -> dict:
    """Add one received message (with its arrival time) to the outbox."""
    record = {"received_at": datetime.now(UTC).isoformat(timespec="seconds"), **record}
    path = Path(folder) / f"{kind}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)  # no fsync: a development outbox, and the sinks take hundreds a second
    return record


def read(folder: str | Path | None, kind: str, limit: int = 50) -> list[dict]:
    """The newest `limit` messages of one kind, newest first ([] without an outbox)."""
    if not folder:
        return []
    path = Path(folder) / f"{kind}.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-limit:]
    found = []
    for line in reversed(lines):
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return found


def parse_email(rcpt_tos: list[str], content: bytes) -> dict:
    """What the Outbox shows of one email: recipients, subject, plain text and HTML."""
    message = message_from_bytes(content, policy=policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {"to": list(rcpt_tos), "from": str(message.get("From", "")),
            "subject": str(message.get("Subject", "")),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else ""}


def parse_sms(body: bytes) -> dict:
    """What the Outbox shows of one SMS posted by Apprise's json:// plugin: {to, message}."""
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return {"to": str(data.get("to", "")), "message": str(data.get("message", "")),
            "title": str(data.get("title", ""))}
