"""The body of each message: {type, timestamp, data}, `data` the API's JSON of the object.

Built at a message's first attempt, for a whole batch at once (one query per kind of object),
and stored with the message, so every retry and Resend sends the same bytes. `timestamp` is
when the event happened. For wallet.state_changed, `data` is the wallet as the API shows it
(GET /wallets/<id>) when the message is first sent, with `state` the state the wallet
entered at the change and `previous_state` the one it left.
"""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ...models import Notification, TaskRun, Unit, Wallet, utcnow
from ..forecast.calendar import DEFAULT_ZONE
from ..serialize import iso, notification_json, task_run_json, wallet_json
from ..wallets import access as wallet_access
from .hooks import NOTIFICATION_CREATED, TASK_RUN_FINISHED, WALLET_STATE_CHANGED

GONE = "The {what} no longer exists (pruned or deleted); nothing to send."


def body(event: str, timestamp, data: dict) -> str:
    """The JSON text of one message, compact."""
    return json.dumps({"type": event, "timestamp": iso(timestamp), "data": data},
                      separators=(",", ":"), ensure_ascii=False)


def build(session, messages, *, zone: str = DEFAULT_ZONE
          ) -> tuple[dict[int, str], dict[int, str]]:
    """Bodies for the messages that have none yet: ({message id: body}, {message id: why
    there is none}). `messages` are rows with id, event, object_id, state, previous_state
    and created_at; `zone` is that of estates without their own (run-out forecasts)."""
    by_event: dict[str, list] = {}
    for m in messages:
        by_event.setdefault(m.event, []).append(m)
    bodies: dict[int, str] = {}
    missing: dict[int, str] = {}
    for event, rows in by_event.items():
        objects = _objects(session, event, sorted({m.object_id for m in rows}), zone)
        for m in rows:
            data = objects.get(m.object_id)
            if data is None:
                missing[m.id] = GONE.format(what=event.split(".")[0].replace("_", " "))
                continue
            if event == WALLET_STATE_CHANGED:
                data = {**data, "state": m.state, "previous_state": m.previous_state}
            bodies[m.id] = body(event, m.created_at, data)
    return bodies, missing


def _objects(session, event: str, ids: list[int], zone: str) -> dict[int, dict]:
    """The API JSON of each object of `event` with these ids."""
    if event == NOTIFICATION_CREATED:
        found = session.scalars(select(Notification).where(Notification.id.in_(ids)))
        return {n.id: notification_json(n) for n in found}
    if event == TASK_RUN_FINISHED:
        found = session.scalars(select(TaskRun).where(TaskRun.id.in_(ids)))
        return {r.id: task_run_json(r) for r in found}
    if event == WALLET_STATE_CHANGED:
        # Here, not at the top: the forecast reads the wallet services, which tell webhooks.
        from ..forecast import wallets as forecast_wallets

        found = list(session.scalars(select(Wallet).where(Wallet.id.in_(ids)).options(
            joinedload(Wallet.unit).joinedload(Unit.estate))))
        residents = wallet_access.residents_of(session, [w.id for w in found])
        forecasts = forecast_wallets.for_wallets(session, found, utcnow(), zone)
        return {w.id: wallet_json(w, residents.get(w.id, []), forecasts[w.id]) for w in found}
    return {}
