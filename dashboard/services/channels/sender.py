"""The sender: slices of due deliveries of one channel, claimed, sent concurrently within
the channel's rate, and recorded, until none is due or the time budget is spent.

One slice: triage and claim in one write transaction (committed before any provider is
called, so a claim is on record before its send), the sends on a small thread pool (each
waits for its token of the shared rate limit), then the outcomes in a second transaction.
The first send of a slice that times out or cannot connect stops the slice: sends already
made finish, the rest are given back untried, so a hanging provider costs one timeout.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Event

from ...db import write_transaction
from ...models import utcnow
from . import delivery, messages, transport
from .ratelimit import RateLimit


@dataclass(frozen=True)
class ChannelSettings:
    """How the sender reaches the providers (from config.py, passed in by the worker)."""

    urls: dict[str, str | None]  # channel → Apprise URL template, None when unset
    public_url: str
    tz: str
    timeout: float = 10.0
    concurrency: int = 8
    slice_size: int = 64
    delays: tuple[float, ...] = (60.0, 180.0, 480.0, 1080.0)

    @property
    def configured(self) -> dict[str, bool]:
        """Which channels have a URL."""
        return {channel: bool(url) for channel, url in self.urls.items()}


@dataclass
class Drained:
    """What one drain did."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    held_or_suppressed: int = 0
    slices: int = 0
    retry_in: float | None = None  # seconds until the soonest retry it scheduled
    more: bool = False  # stopped by the budget with deliveries still due
    changed: list[int] = field(default_factory=list)


def compose(row: delivery.Claimed, settings: ChannelSettings) -> dict:
    """The title, body and format of one claimed delivery's message."""
    t = messages.times(row.data, row.zone or settings.tz, row.made_at or utcnow())
    if row.channel == "sms":
        return {"title": "", "body": messages.sms_text(row.kind, row.data, row.unit,
                                                       row.estate, row.message, t),
                "html": False}
    email = messages.email_message(row.kind, row.title, row.message, row.data,
                                   public_url=settings.public_url, wallet_id=row.wallet_id, t=t)
    return {"title": email.subject, "body": email.html, "html": True}


def _send_all(rows, settings: ChannelSettings, limiter: RateLimit) -> list[delivery.Result]:
    """Send the slice's rows concurrently; stop handing out sends after a timeout or a
    connection error (see the module docstring)."""
    stop = Event()
    template = settings.urls[rows[0].channel]

    def one(row: delivery.Claimed) -> delivery.Result:
        """Wait for a token, send, report."""
        if stop.is_set():
            return delivery.Result(row.id, False, True, attempted=False)
        limiter.acquire()
        if stop.is_set():
            return delivery.Result(row.id, False, True, attempted=False)
        outcome = transport.send(template, row.channel, row.address, timeout=settings.timeout,
                                 **compose(row, settings))
        if outcome.stalled:
            stop.set()
        return delivery.Result(row.id, outcome.sent, outcome.transient, outcome.error,
                               outcome.retry_after)

    with ThreadPoolExecutor(max_workers=max(1, min(settings.concurrency, len(rows)))) as pool:
        return list(pool.map(one, rows))


def drain(session, channel: str, settings: ChannelSettings, limiter: RateLimit, *,
          budget: float = 20.0, publish: Callable[[list[int]], None] | None = None) -> Drained:
    """Send due deliveries of `channel` slice by slice for at most `budget` seconds;
    `publish(ids)` is told, after each commit, which deliveries changed status."""
    done = Drained()
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        with write_transaction(session):
            piece = delivery.take_slice(session, channel, utcnow(), limit=settings.slice_size,
                                        tz=settings.tz, configured=settings.configured)
        done.held_or_suppressed += len(piece.changed) - len(piece.claimed)
        _tell(publish, piece.changed, done)
        if not piece.claimed:
            if not piece.changed:
                return done  # nothing due
            continue
        done.slices += 1
        results = _send_all(piece.claimed, settings, limiter)
        attempts = {row.id: row.attempts for row in piece.claimed}
        with write_transaction(session):
            changed, retry_in = delivery.record(session, results, attempts, utcnow(),
                                                delays=settings.delays)
        _tell(publish, changed, done)
        done.sent += sum(r.sent for r in results)
        done.failed += sum(not r.sent and not r.transient for r in results)
        done.retrying += sum(r.transient for r in results)
        if retry_in is not None:
            done.retry_in = retry_in if done.retry_in is None else min(done.retry_in, retry_in)
        if any(not r.attempted for r in results):
            return done  # the provider is not answering: stop, the retry comes back later
    done.more = True
    return done


def _tell(publish, ids: list[int], done: Drained) -> None:
    """Publish changed ids (best effort) and remember them."""
    if ids:
        done.changed.extend(ids)
        if publish is not None:
            publish(ids)
