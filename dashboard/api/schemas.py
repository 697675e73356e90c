"""The JSON shapes of the API for its OpenAPI document, built from the constants the code
checks and writes: the enums of the models, the money and reading patterns of the parsers,
the bounds of the settings, and the keys services/serialize.py writes (every key is required
and no other is allowed, so the fuzzing in tests/test_openapi.py notices a drift).
"""
from __future__ import annotations

from ..models import (
    ALERT_MODES,
    PAYMENT_METHODS,
    PAYMENT_STATES,
    ROLES,
    RUN_STATES,
    TOPUP_METHODS,
    TRANSACTION_TYPES,
    TRIGGERS,
    UTILITIES,
    WALLET_STATES,
)
from ..services.ids import MAX_ID
from ..services.money import AMOUNT_OR_ZERO_PATTERN, AMOUNT_PATTERN, MONEY_OUT_PATTERN
from ..services.notifications import IN_APP
from ..services.notifications.messages import PRIORITIES, TYPES
from ..services.scans import SCANS
from ..services.wallets.paging import DEFAULT_LIMIT, MAX_LIMIT
from ..services.wallets.readings import READING_PATTERN
from ..services.wallets.settings import ALERT_FREQUENCY_HOURS, LOW_BALANCE_DAYS
from .spec import query


def scan_names() -> list[str]:
    """The scans' names (their Celery task names), in catalogue order: the one place the
    API's document reads them from."""
    return list(SCANS)


def ref(name: str) -> dict:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict, **extra) -> dict:
    """An object with exactly these properties, all required."""
    return {"type": "object", "required": list(properties), "additionalProperties": False,
            "properties": properties, **extra}


def nullable(schema: dict) -> dict:
    """`schema` or null."""
    return {**schema, "nullable": True}


def enum(values, **extra) -> dict:
    """A string from `values`."""
    return {"type": "string", "enum": list(values), **extra}


def listing_of(name: str) -> dict:
    """The {items, next_cursor} envelope of a list."""
    return obj({"items": {"type": "array", "items": ref(name)},
                "next_cursor": nullable({"type": "string", "description":
                                         "Pass as ?cursor= for the next page; null on the last."})})


INTEGER = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
TIME = {"type": "string", "format": "date-time", "example": "2026-11-29T04:00:00+00:00"}
MONEY = {"type": "string", "pattern": MONEY_OUT_PATTERN, "example": "49.50"}
QUANTITY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{3}$", "example": "10432.500"}
#: Amounts the API accepts: JSON strings, positive, at most R 100,000.00 (or zero, for a
#: threshold), at most two decimals.
AMOUNT_IN = {"type": "string", "pattern": AMOUNT_PATTERN, "example": "49.50",
             "description": "Rand as a string with at most two decimals, above zero, "
                            "at most 100000.00."}
THRESHOLD_IN = {"type": "string", "pattern": AMOUNT_OR_ZERO_PATTERN, "example": "50.00",
                "description": "Rand as a string; 0 turns alerts off. Residents stay within "
                               "their estate's bounds (else 422)."}
READING_IN = {"type": "string", "pattern": READING_PATTERN, "example": "10432.5",
              "description": "The meter's register, at most three decimals."}


def bounded(low_high: tuple[int, int], example: int) -> dict:
    """A whole number within the bounds the service checks."""
    low, high = low_high
    return {"type": "integer", "minimum": low, "maximum": high, "example": example}


LOW_BALANCE_DAYS_IN = bounded(LOW_BALANCE_DAYS, 3)
ALERT_FREQUENCY_HOURS_IN = bounded(ALERT_FREQUENCY_HOURS, 24)

ERROR = obj({"error": obj(
    {"code": TEXT, "message": TEXT,
     "fields": {"type": "object", "additionalProperties": TEXT,
                "description": "What is wrong with each field, by name."}},
    required=["code", "message"])})


def task_run() -> dict:
    """A scan run (serialize.task_run_json)."""
    return obj({
        "id": INTEGER, "task": enum(scan_names()), "trigger": enum(TRIGGERS),
        "who": nullable(TEXT), "state": enum(RUN_STATES), "queued_at": TIME,
        "started_at": nullable(TIME), "finished_at": nullable(TIME),
        "duration_seconds": nullable({"type": "number", "minimum": 0}),
        "progress": obj({"done": COUNT, "total": COUNT}),
        "result": obj({"scanned": COUNT, "notified": COUNT, "skipped": COUNT}),
        "error": nullable(TEXT), "attempts": COUNT})


def components() -> dict:
    """Every component schema."""
    return {
        "Error": ERROR,
        "Wallet": obj({
            "id": INTEGER,
            "unit": obj({"id": INTEGER, "number": TEXT, "estate": TEXT}),
            "balance": MONEY,
            "balances": obj({u: MONEY for u in UTILITIES},
                            description="Credit bought per utility."),
            "low_balance_threshold": MONEY, "alert_mode": enum(ALERT_MODES),
            "low_balance_days": INTEGER, "alert_frequency_hours": INTEGER,
            "state": enum(WALLET_STATES),
            "runs_out_at": {**nullable(TIME), "description": (
                "When the credit runs out at the average daily spend of the last 30 days; "
                "null without purchases in 30 days.")},
            "supply_until": {**nullable(TIME), "description": (
                "When the supply is cut: the run-out, or the end of the estate's friendly "
                "hours holding it.")},
            "residents": {"type": "array", "items": obj(
                {"id": INTEGER, "name": TEXT, "role": TEXT, "primary": {"type": "boolean"}})}}),
        "Transaction": obj({
            "id": INTEGER, "wallet_id": INTEGER, "type": enum(TRANSACTION_TYPES),
            "utility": nullable(enum(UTILITIES)), "amount": MONEY, "units": nullable(QUANTITY),
            "balance_before": MONEY, "balance_after": MONEY,
            "method": nullable(enum(TOPUP_METHODS)), "status": TEXT, "created_at": TIME}),
        "Notification": obj({
            "id": INTEGER, "type": enum(TYPES), "title": TEXT, "message": TEXT,
            "priority": enum(sorted(set(PRIORITIES.values()))), "channel": enum([IN_APP]),
            "wallet_id": nullable(INTEGER), "created_at": TIME, "read_at": nullable(TIME),
            "resolved_at": nullable(TIME),
            "data": {"type": "object", "description": "The ids it concerns and the figures "
                                                      "it quotes.",
                     "required": ["transaction_id", "task_run_id", "meter_id"],
                     "properties": {"transaction_id": nullable(INTEGER),
                                    "task_run_id": nullable(INTEGER),
                                    "meter_id": nullable(INTEGER)}}}),
        "TaskRun": task_run(),
        "Scan": obj({"name": enum(scan_names()), "schedule": TEXT, "next_run_at": TIME,
                     "last_run": nullable(ref("TaskRun")), "running": {"type": "boolean"}}),
        "Reading": obj({"id": INTEGER, "meter_id": INTEGER, "reading": QUANTITY,
                        "consumption": QUANTITY, "taken_at": TIME,
                        "is_replacement": {"type": "boolean"}}),
        "Token": obj({"token": TEXT, "user": obj({"id": INTEGER, "email": TEXT,
                                                  "role": enum(ROLES)})}),
        "TransactionResult": obj({"transaction": ref("Transaction")}),
        "Payment": obj({
            "id": INTEGER, "wallet_id": INTEGER, "amount": MONEY,
            "method": enum(PAYMENT_METHODS), "status": enum(PAYMENT_STATES),
            "redirect_url": nullable({**TEXT, "description": "Where the resident pays; null "
                                                            "once the payment is settled."}),
            "provider_ref": nullable(TEXT),
            "transaction_id": nullable({**INTEGER, "description": "The top-up that credited "
                                                                 "it."}),
            "failure_reason": nullable(TEXT), "created_at": TIME, "expires_at": TIME,
            "settled_at": nullable(TIME)}),
        "PaymentResult": obj({"payment": ref("Payment")}),
        "TaskRunResult": obj({"task_run": ref("TaskRun")}),
    }


# -- parameters shared by the lists ---------------------------------------------------------

LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT}, "Items per page.")
ID_CURSOR = query("cursor", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                  "The next_cursor of the previous page.")
