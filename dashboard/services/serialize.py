"""The JSON shapes of the API (wallet, transaction, payment, notification, task run), shared
by the API and the live events."""
from __future__ import annotations

from datetime import datetime, timezone

from ..models import UTILITIES, Notification, Payment, TaskRun, Transaction, Wallet
from .money import money_str

#: Times a notification's data keeps as seconds since 1970 (the scans write them so, in
#: bulk); the API shows them as every other time.
EPOCH_FIELDS = ("runs_out_at", "supply_until")


def iso(value: datetime | None) -> str | None:
    """UTC timestamps as ISO 8601 with a zone."""
    return value.isoformat() if value else None


def wallet_json(wallet: Wallet, residents: list[dict] | None = None, forecast=None) -> dict:
    """A wallet with its unit, balances, alert settings, state, run-out forecast
    (services/forecast: null without purchases in 30 days) and residents."""
    unit = wallet.unit
    return {
        "id": wallet.id,
        "unit": {"id": unit.id, "number": unit.number, "estate": unit.estate.name},
        "balance": money_str(wallet.balance),
        "balances": {u: money_str(getattr(wallet, f"{u}_credit")) for u in UTILITIES},
        "low_balance_threshold": money_str(wallet.low_balance_threshold),
        "alert_mode": wallet.alert_mode,
        "low_balance_days": wallet.low_balance_days,
        "alert_frequency_hours": wallet.alert_frequency_hours,
        "state": wallet.state,
        "runs_out_at": iso(forecast.runs_out_at) if forecast else None,
        "supply_until": iso(forecast.supply_until) if forecast else None,
        "residents": residents if residents is not None else [],
    }


def wallet_event(wallet: Wallet) -> dict:
    """The small `wallet` live event."""
    return {"id": wallet.id, "balance": money_str(wallet.balance), "state": wallet.state}


def transaction_json(tx: Transaction) -> dict:
    """A ledger row."""
    return {
        "id": tx.id, "wallet_id": tx.wallet_id, "type": tx.type, "utility": tx.utility,
        "amount": money_str(tx.amount), "units": None if tx.units is None else f"{tx.units:.3f}",
        "balance_before": money_str(tx.balance_before),
        "balance_after": money_str(tx.balance_after), "method": tx.method,
        "status": tx.status, "created_at": iso(tx.created_at),
    }


def payment_json(payment: Payment, redirect_url: str | None = None) -> dict:
    """A resident's payment; `redirect_url` (the provider's page) only while it is pending."""
    return {
        "id": payment.id, "wallet_id": payment.wallet_id, "amount": money_str(payment.amount),
        "method": payment.method, "status": payment.status,
        "redirect_url": redirect_url if payment.status == "pending" else None,
        "provider_ref": payment.provider_ref, "transaction_id": payment.transaction_id,
        "failure_reason": payment.failure_reason, "created_at": iso(payment.created_at),
        "expires_at": iso(payment.expires_at), "settled_at": iso(payment.settled_at),
    }


def notification_json(n: Notification, read_at: datetime | None = None) -> dict:
    """A notification as one recipient (or an operator) sees it."""
    return {
        "id": n.id, "type": n.type, "title": n.title, "message": n.message,
        "priority": n.priority, "channel": "in_app", "wallet_id": n.wallet_id,
        "created_at": iso(n.created_at), "read_at": iso(read_at),
        "resolved_at": iso(n.resolved_at),
        "data": {**_data(n.data), "transaction_id": n.transaction_id,
                 "task_run_id": n.task_run_id, "meter_id": n.meter_id},
    }


def _data(data: dict | None) -> dict:
    """A notification's data with its EPOCH_FIELDS as ISO times."""
    out = dict(data or {})
    for key in EPOCH_FIELDS:
        if isinstance(out.get(key), int):
            out[key] = iso(datetime.fromtimestamp(out[key], timezone.utc))
    return out


def task_run_json(run: TaskRun) -> dict:
    """A scan run with its progress and counts."""
    return {
        "id": run.id, "task": run.task, "trigger": run.trigger, "who": run.requested_by,
        "state": run.state, "queued_at": iso(run.queued_at), "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at), "duration_seconds": run.duration_seconds,
        "progress": {"done": run.progress_done, "total": run.progress_total},
        "result": {"scanned": run.scanned, "notified": run.notified, "skipped": run.skipped},
        "error": run.error, "attempts": run.attempts,
    }
