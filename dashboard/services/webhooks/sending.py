"""Sending one batch of an endpoint's messages: claim, build, sign, post, record.

A batch is sent by one task. It claims the messages that still carry its lease token, builds
the bodies they lack (stored, so retries send the same bytes), signs each per Standard
Webhooks with the standardwebhooks package (webhook-id `msg_<id>`, the same on every retry;
webhook-timestamp the moment of the attempt), and posts them concurrently, at most
`policy.concurrency` at a time, one request per message, each bounded by `policy.timeout`.
On the first failure it stops starting new requests: the rest go back unattempted, and the
endpoint is paused for its backoff step. Every attempt is recorded (status code, time,
error, duration) in one statement, and the outcomes in a few.

Time: `now` (the schedule's clock) is passed in, so tests move it a day ahead; the signature's
timestamp is always the real time, since receivers check it against theirs.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from standardwebhooks import Webhook

from ...db import write_transaction
from ...models import WebhookAttempt, WebhookEndpoint, WebhookMessage, utcnow
from ..errors import ValidationFailed
from . import http, notices, payloads, secrets
from .policy import LEASE, RETRY_WINDOW, Policy
from .urls import check_url

TABLE = WebhookMessage.__table__  # per-row updates (executemany) go through Core


@dataclass
class BatchResult:
    """What a batch did."""

    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    disabled: bool = False
    notification_ids: list[int] = field(default_factory=list)


def claim(session, ids: list[int], token: str, now: datetime) -> list[int]:
    """The messages among `ids` still leased to `token`, held for this task now."""
    m = WebhookMessage
    return sorted(session.scalars(
        update(m).where(m.id.in_(ids), m.lease_token == token, m.status == "pending")
        .values(next_attempt_at=now + LEASE).returning(m.id)
        .execution_options(synchronize_session=False)))


def send_batch(session, endpoint_id: int, ids: list[int], token: str, *, policy: Policy,
               key: str, now: datetime | None = None, resend: bool = False) -> BatchResult:
    """Send the batch (see the module docstring); `resend` marks the attempts as an
    operator's Resend, which is tried even while the endpoint is paused."""
    now = now or utcnow()
    result = BatchResult()
    with write_transaction(session):
        claimed = claim(session, ids, token, now)
        endpoint = session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
        if not claimed or endpoint is None:
            return result
        if not endpoint.enabled:
            _release(session, claimed, now)
            result.skipped = claimed
            return result
        messages = _with_bodies(session, claimed, result, now, zone=policy.zone)
        url, sealed = endpoint.url, endpoint.secret_sealed
    if not messages:
        return result
    answers = _post_all(url, sealed, messages, policy=policy, key=key, resend=resend)
    with write_transaction(session):
        _record(session, endpoint_id, answers, result, policy=policy, now=now, resend=resend)
    return result


def _with_bodies(session, ids: list[int], result: BatchResult, now: datetime, *,
                 zone: str) -> list:
    """The claimed messages as (id, payload) rows, building and storing missing bodies; a
    message whose object is gone fails here."""
    m = WebhookMessage
    rows = session.execute(select(m.id, m.event, m.object_id, m.state, m.previous_state,
                                  m.created_at, m.payload).where(m.id.in_(ids))
                           .order_by(m.id)).all()
    bodies, missing = payloads.build(session, [r for r in rows if r.payload is None],
                                     zone=zone)
    if bodies:
        session.execute(update(TABLE).where(TABLE.c.id == bindparam("mid"))
                        .values(payload=bindparam("p")),
                        [{"mid": i, "p": b} for i, b in bodies.items()])
    if missing:
        session.execute(update(TABLE).where(TABLE.c.id == bindparam("mid"))
                        .values(status="failed", lease_token=None, last_error=bindparam("err")),
                        [{"mid": i, "err": why} for i, why in missing.items()])
        result.failed += list(missing)
    return [(r.id, r.payload or bodies[r.id]) for r in rows if r.id not in missing]


def _post_all(url: str, sealed: str, messages: list, *, policy: Policy, key: str,
              resend: bool) -> dict[int, tuple[datetime, http.Answer | None]]:
    """Post every message concurrently; {id: (when, answer, or None when not attempted)}."""
    refusal = _refusal(url, sealed, policy, key)
    if refusal is not None:
        return {mid: (utcnow(), http.Answer(None, refusal, 0)) for mid, _ in messages}
    signer = Webhook(secrets.unseal(sealed, key))
    stop = threading.Event()
    session = http.shared_client(allow_private=policy.rules.allow_private,
                                 pool_size=policy.concurrency)

    def one(item):
        """Sign and post one message, unless the batch stopped after a failure."""
        mid, body = item
        if stop.is_set() and not resend:
            return mid, (utcnow(), None)
        at = utcnow()
        msg_id = f"msg_{mid}"
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": signer.sign(msg_id, at, body)}
        answer = http.post(session, url, body, headers, policy.timeout)
        if not answer.ok:
            stop.set()
        return mid, (at, answer)

    with ThreadPoolExecutor(max_workers=min(policy.concurrency, len(messages))) as pool:
        return dict(pool.map(one, messages))


def _refusal(url: str, sealed: str, policy: Policy, key: str) -> str | None:
    """Why nothing may be sent to this endpoint now (its URL broke the rules as they are
    now, or its secret cannot be unsealed), else None."""
    try:
        check_url(url, policy.rules)
        secrets.unseal(sealed, key)
    except ValidationFailed as exc:
        return f"Not sent: {exc.fields.get('url', exc.message)}"
    except ValueError as exc:
        return f"Not sent: the signing secret cannot be read ({exc})."
    return None


def _record(session, endpoint_id: int, answers: dict, result: BatchResult, *, policy: Policy,
            now: datetime, resend: bool) -> None:
    """Attempts, message outcomes and the endpoint's health, in the caller's transaction."""
    tried = {mid: (at, a) for mid, (at, a) in answers.items() if a is not None}
    result.skipped = sorted(mid for mid, (_, a) in answers.items() if a is None)
    if tried:
        session.execute(insert(WebhookAttempt.__table__), [
            {"message_id": mid, "endpoint_id": endpoint_id, "attempted_at": now,
             "status_code": a.status_code, "error": a.error, "duration_ms": a.duration_ms,
             "resend": resend} for mid, (_, a) in tried.items()])
    ok = sorted(mid for mid, (_, a) in tried.items() if a.ok)
    bad = {mid: a for mid, (_, a) in tried.items() if not a.ok}
    if ok:
        session.execute(update(TABLE).where(TABLE.c.id == bindparam("mid")).values(
            status="delivered", delivered_at=now, attempts=TABLE.c.attempts + 1,
            lease_token=None, last_status_code=bindparam("code"), last_error=None),
            [{"mid": mid, "code": tried[mid][1].status_code} for mid in ok])
        result.delivered = ok
    if bad:
        _reschedule(session, bad, policy, now)
        result.failed += sorted(bad)
    if result.skipped:
        _release(session, result.skipped, now)
    _health(session, endpoint_id, bool(ok), bad, result, policy=policy, now=now)


def _reschedule(session, bad: dict, policy: Policy, now: datetime) -> None:
    """Each failed message: its next attempt after its backoff step, or failed when its
    window is over."""
    m = WebhookMessage
    rows = session.execute(select(m.id, m.attempts, m.expires_at).where(m.id.in_(list(bad))))
    params = []
    for mid, attempts, expires_at in rows:
        given_up = now >= expires_at
        params.append({"mid": mid, "st": "failed" if given_up else "pending",
                       "next": min(now + policy.delay(attempts + 1), expires_at),
                       "code": bad[mid].status_code, "err": bad[mid].error})
    session.execute(update(TABLE).where(TABLE.c.id == bindparam("mid")).values(
        status=bindparam("st"), next_attempt_at=bindparam("next"), lease_token=None,
        attempts=TABLE.c.attempts + 1, last_status_code=bindparam("code"),
        last_error=bindparam("err")), params)


def _release(session, ids: list[int], now: datetime) -> None:
    """Messages not attempted go back, due now (a paused endpoint holds them)."""
    m = WebhookMessage
    session.execute(update(m).where(m.id.in_(ids)).values(lease_token=None, next_attempt_at=now)
                    .execution_options(synchronize_session=False))


def _health(session, endpoint_id: int, any_ok: bool, bad: dict, result: BatchResult, *,
            policy: Policy, now: datetime) -> None:
    """A 2xx clears the endpoint's failing run; a failed round pauses it for its backoff
    step; failing for the whole retry window disables it and tells operators."""
    endpoint = session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    if any_ok:
        endpoint.failing_since, endpoint.failures, endpoint.paused_until = None, 0, None
        endpoint.last_success_at = now
        return
    if not bad:
        return
    endpoint.failing_since = endpoint.failing_since or now
    endpoint.failures += 1
    endpoint.last_failure_at = now
    if now - endpoint.failing_since >= RETRY_WINDOW:
        last_error = next(iter(bad.values())).error
        result.notification_ids = notices.disable(session, endpoint, now, last_error)
        result.disabled = True
        return
    endpoint.paused_until = min(now + policy.delay(endpoint.failures),
                                endpoint.failing_since + RETRY_WINDOW)
