"""The resident's forms: Top up, Buy and alert settings, in the resident's words.

The forms are the shared Flask-WTF forms (views/forms/): the form checks what it can with the
services' own parsers, so all its problems come back together beside the fields, and the
services (payments, wallets) still make the final decision. Every rendering of a payment form
carries a fresh Idempotency-Key: a double click or a resubmitted form replays the first
payment instead of paying twice. Top up starts a payment that credits nothing until the
payment provider confirms it; Buy spends the balance at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..models import Wallet
from ..services import payments, wallets
from ..services.errors import ValidationFailed
from ..services.money import format_rand, parse_amount
from ..services.notifications.messages import format_quantity
from ..services.payments import transactions
from .forms import RESIDENT_METHODS, BuyForm, ResidentAlertsForm, ResidentTopUpForm, pay
from .labels import METHOD_NAMES
from .resident_model import UtilityOption


@dataclass
class Preview:
    """What the form says before it is sent: the units it gives and the confirmation."""

    text: str
    confirm: str


def blank_topup() -> ResidentTopUpForm:
    """An empty Top up form (by card), with a new key."""
    return ResidentTopUpForm(data={"method": RESIDENT_METHODS[0]})


def buy_form(options: list[UtilityOption], formdata=None, **kwargs) -> BuyForm:
    """The Buy form offering the utilities this estate sells."""
    return BuyForm(formdata, utilities={o.utility: o.label for o in options}, **kwargs)


def blank_buy(options: list[UtilityOption]) -> BuyForm:
    """An empty Buy form, electricity (or the first utility sold) chosen, with a new key."""
    return buy_form(options, data={"utility": options[0].utility if options else ""})


def alerts_form(wallet: Wallet, formdata=None, message: str | None = None
                ) -> ResidentAlertsForm:
    """The alert form filled with the wallet's settings (and what was sent over them)."""
    form = ResidentAlertsForm.of(wallet, formdata)
    form.message = message
    return form


def _amount_or_none(text) -> Decimal | None:
    """The amount typed, or None while it is not (yet) a valid amount."""
    try:
        return parse_amount(text)
    except ValidationFailed:
        return None


# -- previews ------------------------------------------------------------------------------

def topup_preview(form: ResidentTopUpForm) -> Preview:
    """The Top up confirmation, naming the amount and method once they are valid."""
    amount = _amount_or_none(form.amount.data)
    method = form.method.data
    if amount is None or method not in RESIDENT_METHODS:
        return Preview("Enter the amount to pay in.",
                       "Pay this amount into your wallet? You will go to the payment page.")
    return Preview(f"You will pay {format_rand(amount)} by {METHOD_NAMES[method]}.",
                   f"Pay {format_rand(amount)} by {METHOD_NAMES[method]} into your wallet? "
                   f"You will go to the payment page.")


def buy_preview(session, wallet: Wallet, options: list[UtilityOption], form: BuyForm
                ) -> Preview:
    """The units an amount buys at the estate's tariff, and the Buy confirmation."""
    amount = _amount_or_none(form.amount.data)
    option = next((o for o in options if o.utility == form.utility.data), None)
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
    """The Buy form after a purchase attempt, and the service's result when it went in."""

    form: BuyForm
    result: transactions.TransactionResult | None = None


@dataclass
class Started:
    """The Top up form after it was sent, and the payment it started (or replayed)."""

    form: ResidentTopUpForm
    result: payments.PaymentResult | None = None


def submit_topup(session, wallet: Wallet, formdata, *, user_id: int, now: datetime
                 ) -> Started:
    """Start a payment from the form: {amount, method, idempotency_key}. Nothing is credited
    here: the resident pays on the provider's page, whose webhook credits the wallet."""
    form = ResidentTopUpForm(formdata)
    result = pay(form, lambda key: payments.start_payment(
        session, wallet.id, form.amount.data, form.method.data, now=now, user_id=user_id,
        idempotency_key=key), with_reason=True)
    if result is None:
        return Started(form)
    return Started(form.fresh(None, method=RESIDENT_METHODS[0]), result)


def payment_message(payment) -> str:
    """What the resident's payment card says about a payment, plainly."""
    amount = format_rand(payment.amount)
    return {
        "pending": f"Waiting for your bank to confirm {amount}.",
        "succeeded": f"Payment received: {amount} was added to your wallet.",
        "failed": f"Your payment of {amount} was declined. Nothing was added to your wallet; "
                  f"you can try again.",
        "expired": f"Your payment of {amount} expired: it was not completed within 30 "
                   f"minutes. Nothing was added to your wallet.",
    }[payment.status]


def submit_buy(session, wallet: Wallet, options: list[UtilityOption], formdata, *,
               user_id: int, now: datetime) -> Payment:
    """Buy utility credit from the form: {utility, amount, idempotency_key}."""
    form = buy_form(options, formdata)
    result = pay(form, lambda key: transactions.purchase(
        session, wallet.id, form.utility.data, form.amount.data, now=now, user_id=user_id,
        idempotency_key=key), with_reason=True)
    if result is None:
        return Payment(form)
    tx = result.transaction
    option = next(o for o in options if o.utility == tx.utility)
    bought = f"{format_quantity(tx.units)} {option.unit} of {option.name}"
    if result.created:
        message = (f"You bought {bought} for {format_rand(tx.amount)}. Your balance is now "
                   f"{format_rand(tx.balance_after)}.")
    else:
        message = f"This purchase of {bought} was already made. You were not charged twice."
    # Buying the same utility again is the common case.
    return Payment(form.fresh(message, utility=tx.utility), result)


# -- alert settings --------------------------------------------------------------------------

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


def submit_alerts(session, wallet: Wallet, estate, formdata, *, now: datetime
                  ) -> tuple[ResidentAlertsForm, Wallet | None]:
    """Save alert settings within the estate's bounds; nothing is saved when any is invalid.

    A field left out keeps its saved value; the wallet service checks the others together.
    """
    form = alerts_form(wallet, formdata)
    try:
        settings = wallets.validate_settings(wallet, form.submitted(), estate=estate,
                                             resident=True)
    except ValidationFailed as exc:
        form.refuse(exc)
        return form, None
    saved = wallets.update_settings(session, wallet.id, settings, now)
    return alerts_form(saved, message="Saved. " + describe_settings(saved)), saved


def alerts_preview(session, wallet: Wallet, estate, args, *, now: datetime) -> str:
    """The state the wallet would be in with the settings typed so far ("" while invalid)."""
    try:
        settings = wallets.validate_settings(wallet, alerts_form(wallet, args).submitted(),
                                             estate=estate, resident=True)
    except ValidationFailed:
        return ""
    if settings.low_balance_threshold <= 0:
        return "With these settings credit alerts are off."
    state = wallets.preview_state(session, wallet, settings, now)
    return f"With these settings your credit would show as {state}."
