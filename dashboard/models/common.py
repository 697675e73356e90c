"""Names and helpers shared by the models."""
from __future__ import annotations

from datetime import datetime, timezone

UTILITIES = ("electricity", "water", "solar", "hot_water")
#: The unit each utility is sold in.
UTILITY_UNITS = {"electricity": "kWh", "water": "kL", "solar": "kWh", "hot_water": "kL"}
ROLES = ("operator", "viewer", "resident")
#: Roles that see the whole estate and have no read state of their own.
STAFF_ROLES = ("operator", "viewer")
ALERT_MODES = ("amount", "days")
WALLET_STATES = ("ok", "low", "critical")
TOPUP_METHODS = ("card", "eft", "instant_eft", "cash", "manual_admin")
TRANSACTION_TYPES = ("topup", "purchase")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only way times are stored)."""
    return datetime.now(timezone.utc)
