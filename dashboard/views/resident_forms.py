"""The resident's forms: Top up, Buy and alert settings.

Each form is checked here before a service is called, so all its problems come back together as
field messages a resident can act on, and the services (transactions, wallets) still make the
final decision. Every rendering of a payment form carries a fresh Idempotency-Key: a double
click or a resubmitted form replays the first payment instead of paying twice.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ..models import Wallet
from ..services import wallets
from ..services.errors import ServiceError, ValidationFailed
from ..services.money import format_rand, parse_amount
from ..services.notifications.messages import format_quantity
from ..services.payments import transactions
from .resident_model import METHOD_NAMES, UtilityOption

# Residents pay by card or EFT; cash and manual entries are the estate office's to record.
RESIDENT_METHODS = ("card", "eft", "instant_eft")
ALERT_FIELDS = ("alert_mode", "low_balance_threshold", "low_balance_days")


@dataclass
class FormState:
    """What a form shows: its values, field errors, its Idempotency-Key and a message."""

    values: dict
    errors: dict = field(default_factory=dict)
    key: str = ""
    message: str | None = None

    @property
    def status(self) -> int:
        """422 when the form has errors (htmx swaps it in), else 200."""
        return 422 if self.errors else 200


@dataclass
class Preview:
    """What the form says before it is sent: the units it gives and the confirmation."""

    text: str
    confirm: str


def new_key() -> str:
    """A fresh Idempotency-Key for one rendering of a payment form."""
    return secrets.token_urlsafe(18)


def blank_topup() -> FormState:
    """An empty Top up form."""
    return FormState({"amount": "", "method": RESIDENT_METHODS[0]}, key=new_key())


def blank_buy(options: list[UtilityOption]) -> FormState:
    """An empty Buy form, electricity (or the first utility sold) chosen."""
    return FormState({"amount": "", "utility": options[0].utility if options else ""},
                     key=new_key())


def alerts_state(wallet: Wallet, message: str | None = None) -> FormState:
    """The alert form filled with the wallet's current settings."""
    return FormState({"alert_mode": wallet.alert_mode,
                      "low_balance_threshold": f"{wallet.low_balance_threshold:.2f}",
                      "low_balance_days": str(wallet.low_balance_days)}, message=message)


def _amount_or_none(text: str) -> Decimal | None:
    """The amount typed, or None while it is not (yet) a valid amount."""
    try:
        return parse_amount(text)
    except ValidationFailed:
        return None


# -- previews ------------------------------------------------------------------------------

def topup_preview(values: dict) -> Preview:
    """The Top up confirmation, naming the amount and method once they are valid."""
    amount = _amount_or_none(values.get("amount", ""))
    method = values.get("method")
    if amount is None or method not in RESIDENT_METHODS:
        return Preview("Enter the amount to pay in.",
                       "Pay this amount into your wallet? (Simulated payment.)")
    return Preview(f"You will pay {format_rand(amount)} by {METHOD_NAMES[method]}.",
                   f"Pay {format_rand(amount)} by {METHOD_NAMES[method]} into your wallet? "
                   f"(Simulated payment.)")


def buy_preview(session, wallet: Wallet, options: list[UtilityOption], values: dict) -> Preview:
    """The units an amount buys at the estate's tariff, and the Buy confirmation."""
    amount = _amount_or_none(values.get("amount", ""))
    option = next((o for o in options if o.utility == values.get("utility")), None)
    if option is None:
        return Preview("Choose what to buy.", "Buy this credit from your wallet balance?")
    if amount is None:
        return Preview(f"Enter an amount to see how many {option.unit} it buys.",
                       "Buy this credit from your wallet balance?")
    # The very function the purchase uses, so the preview and the receipt always agree.
    units = format_quantity(transactions.units_for(session, wallet, option.utility, amount))
    return Preview(f"{format_rand(amount)} buys {units} {option.unit} of {option.name}.",
                   f"Buy {units} {option.unit} of {option.name} for {format_rand(amount)} "
                   f"from your wallet balance?")


# -- payments ------------------------------------------------------------------------------

@dataclass
class Payment:
    """The form to show after a payment attempt, and the service's result when it went in."""

    form: FormState
    result: transactions.TransactionResult | None = None


def _check_amount(values: dict, errors: dict) -> None:
    """Field message for the amount, if it is not a valid rand amount."""
    try:
        parse_amount(values["amount"])
    except ValidationFailed as exc:
        errors.update(exc.fields)


def _refused(values: dict, key: str, exc: ServiceError, action: str) -> FormState:
    """The form again, with the service's refusal beside the field it concerns."""
    if exc.code == "idempotency_key_reused":
        # The person went back and changed an old form: nothing was charged; a new key lets
        # them send the changed request deliberately.
        return FormState(values, {"form": "This form was already used for an earlier payment, "
                                          "so nothing was charged now. Check the details and "
                                          f"press {action} again."}, new_key())
    if exc.code == "insufficient_funds":
        return FormState(values, {"amount": f"{exc.message} {exc.fields.get('amount', '')}"
                                  .strip()}, key)
    if isinstance(exc, ValidationFailed):
        errors = {name if name in values else "form": text for name, text in exc.fields.items()}
        return FormState(values, errors or {"form": exc.message}, key)
    raise exc


def _form_key(form, errors: dict, action: str) -> str:
    """The form's Idempotency-Key; a form without one is out of date (never pay unkeyed)."""
    key = (form.get("idempotency_key") or "").strip()
    if not key:
        errors["form"] = f"This form is out of date. Check the details and press {action} again."
    return key


def submit_topup(session, wallet: Wallet, form, *, user_id: int, now: datetime) -> Payment:
    """Top up from the form: {amount, method, idempotency_key}."""
    values = {"amount": (form.get("amount") or "").strip(), "method": form.get("method") or ""}
    errors: dict[str, str] = {}
    _check_amount(values, errors)
    if values["method"] not in RESIDENT_METHODS:
        errors["method"] = "Choose card, EFT or instant EFT."
    key = _form_key(form, errors, "Top up")
    if errors:
        return Payment(FormState(values, errors, key or new_key()))
    try:
        result = transactions.top_up(session, wallet.id, values["amount"], values["method"],
                                     now=now, user_id=user_id, idempotency_key=key)
    except ServiceError as exc:
        return Payment(_refused(values, key, exc, "Top up"))
    tx = result.transaction
    if result.created:
        message = (f"{format_rand(tx.amount)} was added to your wallet. Your balance is now "
                   f"{format_rand(tx.balance_after)}.")
    else:
        message = (f"This top-up of {format_rand(tx.amount)} was already made. "
                   f"You were not charged twice.")
    return Payment(FormState(blank_topup().values, key=new_key(), message=message), result)


def submit_buy(session, wallet: Wallet, options: list[UtilityOption], form, *, user_id: int,
               now: datetime) -> Payment:
    """Buy utility credit from the form: {utility, amount, idempotency_key}."""
    values = {"amount": (form.get("amount") or "").strip(), "utility": form.get("utility") or ""}
    errors: dict[str, str] = {}
    _check_amount(values, errors)
    if values["utility"] not in {o.utility for o in options}:
        errors["utility"] = "Choose a utility this estate sells."
    key = _form_key(form, errors, "Buy")
    if errors:
        return Payment(FormState(values, errors, key or new_key()))
    try:
        result = transactions.purchase(session, wallet.id, values["utility"], values["amount"],
                                       now=now, user_id=user_id, idempotency_key=key)
    except ServiceError as exc:
        return Payment(_refused(values, key, exc, "Buy"))
    tx = result.transaction
    option = next(o for o in options if o.utility == tx.utility)
    bought = f"{format_quantity(tx.units)} {option.unit} of {option.name}"
    if result.created:
        message = (f"You bought {bought} for {format_rand(tx.amount)}. Your balance is now "
                   f"{format_rand(tx.balance_after)}.")
    else:
        message = f"This purchase of {bought} was already made. You were not charged twice."
    fresh = blank_buy(options)
    fresh.values["utility"] = tx.utility  # buying the same utility again is the common case
    return Payment(FormState(fresh.values, key=new_key(), message=message), result)


# -- alert settings --------------------------------------------------------------------------

def alert_data(form) -> dict:
    """The alert fields from a form; other fields (the CSRF token) are not settings."""
    return {name: (form.get(name) or "").strip() for name in ALERT_FIELDS if name in form}


def describe_settings(wallet: Wallet) -> str:
    """When this wallet alerts, in a sentence."""
    if wallet.low_balance_threshold <= 0:
        return "Credit alerts are off for this wallet."
    critical = format_rand(wallet.low_balance_threshold / 5)
    if wallet.alert_mode == "days":
        return (f"You will be alerted when fewer than {wallet.low_balance_days} days of credit "
                f"are left at your average spend, and at once below {critical}.")
    return (f"You will be alerted when your balance is below "
            f"{format_rand(wallet.low_balance_threshold)}, and at once below {critical}.")


def submit_alerts(session, wallet: Wallet, estate, form, *, now: datetime
                  ) -> tuple[FormState, Wallet | None]:
    """Save alert settings within the estate's bounds; nothing is saved when any is invalid."""
    data = alert_data(form)
    try:
        settings = wallets.validate_settings(wallet, data, estate=estate, resident=True)
    except ValidationFailed as exc:
        return FormState({**alerts_state(wallet).values, **data}, dict(exc.fields)), None
    saved = wallets.update_settings(session, wallet.id, settings, now)
    return alerts_state(saved, "Saved. " + describe_settings(saved)), saved


def alerts_preview(session, wallet: Wallet, estate, args, *, now: datetime) -> str:
    """The state the wallet would be in with the settings typed so far ("" while invalid)."""
    try:
        settings = wallets.validate_settings(wallet, alert_data(args), estate=estate,
                                             resident=True)
    except ValidationFailed:
        return ""
    if settings.low_balance_threshold <= 0:
        return "With these settings credit alerts are off."
    state = wallets.preview_state(session, wallet, settings, now)
    return f"With these settings your credit would show as {state}."
