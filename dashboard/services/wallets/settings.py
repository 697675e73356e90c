"""A wallet's alert settings: validated together, saved with the state they give."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    update,
)

from ...db import write_transaction
from ...models import ALERT_MODES, Estate, Wallet
from .. import webhooks
from ..errors import NotFound, ValidationFailed
from ..money import parse_amount
from .state import compute_state, spend_30d

#: Bounds of the whole-number settings, (lowest, highest): the API's document quotes them.
LOW_BALANCE_DAYS = (1, 60)
ALERT_FREQUENCY_HOURS = (1, 720)
SETTING_FIELDS = ("low_balance_threshold", "alert_mode", "low_balance_days",
                  "alert_frequency_hours")


@dataclass
class AlertSettings:
    """Validated alert settings of one wallet."""

    low_balance_threshold: Decimal
    alert_mode: str
    low_balance_days: int
    alert_frequency_hours: int


def _int_field(data: dict, name: str, low: int, high: int, errors: dict, default: int) -> int:
    """A whole number within bounds, or an error message for `name`."""
    value = data.get(name, default)
    # ASCII digits only, a few of them: str.isdigit() is also true for "²" (then int() raised
    # ValueError, a 500) and for "٣" (taken as 3), the same trap parse_amount avoids.
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[name] = f"Enter a whole number from {low} to {high}."
        return default
    return value


def validate_settings(wallet: Wallet, data: dict, *, estate: Estate | None = None,
                      resident: bool = False) -> AlertSettings:
    """Check new alert settings against the rules (and the estate's bounds for residents).

    Fields left out keep their current value. All problems are reported together.
    """
    if not isinstance(data, dict):
        raise ValidationFailed("Send a JSON object.")
    errors: dict[str, str] = {}
    threshold = wallet.low_balance_threshold
    if "low_balance_threshold" in data:
        try:
            threshold = parse_amount(data["low_balance_threshold"], "low_balance_threshold",
                                     allow_zero=True)
        except ValidationFailed as exc:
            errors.update(exc.fields)
        if resident and estate is not None and "low_balance_threshold" not in errors and \
                threshold != 0 and not (estate.min_low_balance_threshold <= threshold
                                        <= estate.max_low_balance_threshold):
            errors["low_balance_threshold"] = (
                f"Choose an amount from R {estate.min_low_balance_threshold:,.2f} to "
                f"R {estate.max_low_balance_threshold:,.2f}, or 0 to turn alerts off.")
    mode = data.get("alert_mode", wallet.alert_mode)
    if mode not in ALERT_MODES:
        errors["alert_mode"] = "Choose amount or days."
        mode = wallet.alert_mode
    days = _int_field(data, "low_balance_days", *LOW_BALANCE_DAYS, errors,
                      wallet.low_balance_days)
    hours = _int_field(data, "alert_frequency_hours", *ALERT_FREQUENCY_HOURS, errors,
                       wallet.alert_frequency_hours)
    unknown = set(data) - set(SETTING_FIELDS)
    for name in sorted(unknown)[:10]:
        errors[str(name)[:60]] = "Unknown field."
    if errors:
        raise ValidationFailed("Some alert settings are not valid.", fields=errors)
    return AlertSettings(threshold, mode, days, hours)


def preview_state(session, wallet: Wallet, settings: AlertSettings, now: datetime) -> str:
    """The state the wallet would be in with these settings."""
    return compute_state(wallet.balance, settings.low_balance_threshold, settings.alert_mode,
                         settings.low_balance_days, spend_30d(session, wallet.id, now))


def update_settings(session, wallet_id: int, settings: AlertSettings, now: datetime) -> Wallet:
    """Save alert settings and the state they give, in one write transaction."""
    with write_transaction(session):
        wallet = session.get(Wallet, wallet_id, populate_existing=True)
        if wallet is None:
            raise NotFound("No such wallet.")
        state = compute_state(wallet.balance, settings.low_balance_threshold,
                              settings.alert_mode, settings.low_balance_days,
                              spend_30d(session, wallet.id, now))
        webhooks.wallet_state_changed(session, wallet_id, wallet.state, state, now)
        session.execute(update(Wallet).where(Wallet.id == wallet_id).values(
            low_balance_threshold=settings.low_balance_threshold,
            alert_mode=settings.alert_mode, low_balance_days=settings.low_balance_days,
            alert_frequency_hours=settings.alert_frequency_hours, state=state, updated_at=now))
    session.refresh(wallet)
    return wallet
