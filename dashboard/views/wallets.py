"""Operator pages for wallets: the searchable list and one wallet's page with its widgets.

Every widget (summary, alert settings, top up and buy, transactions, notifications) is an
underscore partial with its own route. Forms post to real URLs and work without JavaScript;
with htmx the same routes answer with the widget alone (422 when a form has errors).
"""
from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from flask_login import current_user

from .. import dispatch, events
from ..db import Session
from ..models import TOPUP_METHODS, UTILITIES, UTILITY_UNITS, WALLET_STATES, utcnow
from ..services import notifications, wallets
from ..services.errors import Conflict, ServiceError, ValidationFailed
from ..services.ids import ID_CONVERTER, parse_id
from ..services.money import format_rand
from ..services.payments import ledger, transactions
from ..services.wallets import SORTS, estates, usage
from .access import operator_required, staff_required
from .fragments import fragment_requested, page_or_fragment, tz

bp = Blueprint("wallets", __name__, url_prefix="/wallets")
SORT_LABELS = {"id": "Number", "balance": "Lowest balance", "-balance": "Highest balance"}
METHOD_LABELS = {"card": "Card", "eft": "EFT", "instant_eft": "Instant EFT", "cash": "Cash",
                 "manual_admin": "Manual (admin)"}


def list_args() -> dict:
    """The list's filters from the query string, blanks dropped."""
    keys = ("q", "state", "estate", "sort", "limit", "cursor")
    args = {k: request.args.get(k, "").strip() for k in keys}
    return {k: v for k, v in args.items() if v}


@bp.get("")
@staff_required
def index():
    """Wallets: search by unit, resident or estate, filter by state, sort, keyset paging.

    No total count: counting a million filtered wallets on every page is what makes lists
    slow. The page asks for one row more than it shows to know whether there is a next page.
    """
    args = list_args()
    estate_id = parse_id(args.get("estate"))
    page = wallets.list_wallets(Session, current_user, state=args.get("state"), q=args.get("q"),
                                estate_id=estate_id, sort=args.get("sort", "id"),
                                limit=wallets.parse_limit(args.get("limit"), default=25),
                                cursor=args.get("cursor"))
    residents = wallets.residents_of(Session, [w.id for w in page.items])
    return page_or_fragment("wallets/index.html", "wallets/_table.html", page=page,
                            residents=residents, args=args, estates=estates.list_estates(Session),
                            states=WALLET_STATES, sorts=SORT_LABELS)


@bp.get(f"/<{ID_CONVERTER}:wallet_id>")
@staff_required
def detail(wallet_id: int):
    """One wallet: balances, alert settings, top up and buy, usage, ledger, notifications."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    return render_template("wallets/detail.html", **_detail_context(wallet)), 200


def _detail_context(wallet, **overrides) -> dict:
    """Everything the wallet page shows; `overrides` carry a form's values and errors."""
    now = utcnow()
    txs, tx_next = ledger.transactions_page(Session, wallet.id)
    context = {
        "wallet": wallet, "residents": wallets.residents_of(Session, [wallet.id])[wallet.id],
        "tariffs": ledger.tariffs(Session, wallet),
        "usage": usage.daily_usage(Session, wallet.unit_id, now, tz()),
        "txs": txs, "tx_next": tx_next, "before": None,
        "feed": _wallet_notifications(wallet.id),
        "settings_form": _settings_values(wallet), "settings_errors": {},
        "preview": None, **_pay_context(wallet),
    }
    context.update(overrides)
    return context


@bp.get(f"/<{ID_CONVERTER}:wallet_id>/summary")
@staff_required
def summary(wallet_id: int):
    """Balance, state, credit per utility and residents (refreshed when the wallet changes)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    return page_or_fragment("wallets/widget.html", "wallets/_summary.html",
                            widget="wallets/_summary.html", wallet=wallet,
                            residents=wallets.residents_of(Session, [wallet.id])[wallet.id])


@bp.get(f"/<{ID_CONVERTER}:wallet_id>/transactions", endpoint="transactions")
@staff_required
def transactions_list(wallet_id: int):
    """The ledger, newest first, ten at a time (?before=<id> for older ones)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    before = request.args.get("before", "")
    before_id = parse_id(before)
    txs, tx_next = ledger.transactions_page(Session, wallet.id, before_id=before_id)
    return page_or_fragment("wallets/widget.html", "wallets/_transactions.html",
                            widget="wallets/_transactions.html", wallet=wallet, txs=txs,
                            tx_next=tx_next, before=before_id)


@bp.get(f"/<{ID_CONVERTER}:wallet_id>/notifications")
@staff_required
def wallet_notifications(wallet_id: int):
    """This wallet's newest notifications (refreshed when one arrives)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    return page_or_fragment("wallets/widget.html", "wallets/_notifications.html",
                            widget="wallets/_notifications.html", wallet=wallet,
                            feed=_wallet_notifications(wallet.id))


def _wallet_notifications(wallet_id: int) -> list:
    """The last ten notifications about a wallet (ix_notifications_wallet_id)."""
    return [n for n, _ in notifications.list_for(Session, current_user, wallet_id=wallet_id,
                                                 limit=10)]


# -- alert settings -------------------------------------------------------------------------

SETTING_FIELDS = ("low_balance_threshold", "alert_mode", "low_balance_days",
                  "alert_frequency_hours")


def _settings_values(wallet) -> dict:
    """The form's values from the wallet as saved."""
    return {"low_balance_threshold": f"{wallet.low_balance_threshold:.2f}",
            "alert_mode": wallet.alert_mode, "low_balance_days": str(wallet.low_balance_days),
            "alert_frequency_hours": str(wallet.alert_frequency_hours)}


def _submitted_settings() -> dict:
    """The four settings as posted (strings, trimmed)."""
    return {k: request.form.get(k, "").strip() for k in SETTING_FIELDS}


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/settings")
@operator_required
def save_settings(wallet_id: int):
    """Save alert settings: nothing is saved unless every field is valid (422 otherwise)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = _submitted_settings()
    try:
        settings = wallets.validate_settings(wallet, form)
    except ValidationFailed as exc:
        return _settings_response(wallet, form, exc.fields, 422)
    wallet = wallets.update_settings(Session, wallet.id, settings, utcnow())
    events.publish_wallet(Session, wallet.id)
    message = f"Alert settings saved. The wallet is {wallet.state}."
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".detail", wallet_id=wallet.id), 303)
    return make_response(render_template("wallets/_settings.html", wallet=wallet,
                                         settings_form=_settings_values(wallet),
                                         settings_errors={}, saved=message),
                         trigger="wallet-updated")


def _settings_response(wallet, form: dict, errors: dict, status: int):
    """The settings widget (htmx) or the whole page (no JavaScript) showing errors."""
    if fragment_requested():
        return render_template("wallets/_settings.html", wallet=wallet, settings_form=form,
                               settings_errors=errors), status
    return render_template("wallets/detail.html", **_detail_context(
        wallet, settings_form=form, settings_errors=errors)), status


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/settings/preview")
@operator_required
def preview_settings(wallet_id: int):
    """The state the posted settings would give this wallet; saves nothing."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = _submitted_settings()
    try:
        settings = wallets.validate_settings(wallet, form)
        preview = {"state": wallets.preview_state(Session, wallet, settings, utcnow())}
    except ValidationFailed as exc:
        preview = {"error": next(iter(exc.fields.values()), exc.message)}
    if fragment_requested():
        return render_template("wallets/_settings_preview.html", wallet=wallet,
                               preview=preview), 200
    return render_template("wallets/detail.html", **_detail_context(
        wallet, settings_form=form, preview=preview)), 200


# -- top up and buy ---------------------------------------------------------------------------

def _pay_context(wallet, **overrides) -> dict:
    """The pay forms with fresh Idempotency-Keys (made when the form is drawn, so a double
    submit of one form replays the first transaction instead of paying twice)."""
    context = {"topup_form": {"idempotency_key": uuid.uuid4().hex, "method": "manual_admin"},
               "buy_form": {"idempotency_key": uuid.uuid4().hex, "utility": "electricity"},
               "topup_errors": {}, "buy_errors": {}, "pay_message": None, "quote": None,
               "methods": METHOD_LABELS, "utilities": UTILITIES}
    context.update(overrides)
    return context


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/topups")
@operator_required
def top_up(wallet_id: int):
    """An operator's top-up; the hidden idempotency_key makes a resubmit a replay."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = {k: request.form.get(k, "").strip() for k in ("amount", "method", "idempotency_key")}
    return _pay(wallet, "topup", form, lambda: transactions.top_up(
        Session, wallet.id, form["amount"], form["method"], now=utcnow(),
        user_id=current_user.id, idempotency_key=form["idempotency_key"] or None))


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/purchases")
@operator_required
def purchase(wallet_id: int):
    """An operator's utility purchase from the wallet's balance."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = {k: request.form.get(k, "").strip() for k in ("amount", "utility", "idempotency_key")}
    return _pay(wallet, "buy", form, lambda: transactions.purchase(
        Session, wallet.id, form["utility"], form["amount"], now=utcnow(),
        user_id=current_user.id, idempotency_key=form["idempotency_key"] or None))


def _pay(wallet, kind: str, form: dict, run):
    """Run a top-up or purchase and answer with the pay widget, the page or a redirect.

    Refusals a person can fix (a bad amount, a short balance) come back beside the field with
    422: the form widget is what htmx swaps, and the amount is the field to change.
    """
    try:
        result = run()
    except (ValidationFailed, Conflict) as exc:
        errors = dict(exc.fields) or {"form": exc.message}
        if exc.code == "idempotency_key_reused":
            errors = {"form": "This form was already used for another payment. It has been "
                              "reset: check the amounts and send it again."}
            form = {**form, "idempotency_key": uuid.uuid4().hex}
        overrides = {f"{kind}_form": form, f"{kind}_errors": errors}
        if fragment_requested():
            return render_template("wallets/_pay.html", wallet=wallet,
                                   tariffs=ledger.tariffs(Session, wallet),
                                   **_pay_context(wallet, **overrides)), 422
        return render_template("wallets/detail.html",
                               **_detail_context(wallet, **_pay_context(wallet, **overrides))), 422
    tx = result.transaction
    if result.created:
        # As the API does: queue the notifications, publish resolved alerts and the wallet.
        dispatch.after_transaction(tx)
        events.publish_notifications(Session, result.resolved_ids, with_unread=False)
        events.publish_wallet(Session, wallet.id)
        message = _pay_message(tx)
    else:
        message = (f"This form was already sent: transaction {tx.id} stands and nothing was "
                   f"charged twice.")
    if not fragment_requested():
        flash(message, "success" if result.created else "info")
        return redirect(url_for(".detail", wallet_id=wallet.id), 303)
    wallet = wallets.get_wallet(Session, current_user, wallet.id)
    return make_response(render_template("wallets/_pay.html", wallet=wallet,
                                         tariffs=ledger.tariffs(Session, wallet),
                                         **_pay_context(wallet, pay_message=message)),
                         trigger="wallet-updated")


def _pay_message(tx) -> str:
    """What just happened, in rand (and units for a purchase)."""
    if tx.type == "topup":
        return (f"Topped up {format_rand(tx.amount)} (transaction {tx.id}). "
                f"Balance now {format_rand(tx.balance_after)}.")
    return (f"Bought {tx.units:,.3f} {UTILITY_UNITS[tx.utility]} of "
            f"{tx.utility.replace('_', ' ')} for "
            f"{format_rand(tx.amount)} (transaction {tx.id}). "
            f"Balance now {format_rand(tx.balance_after)}.")


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/purchases/preview")
@operator_required
def purchase_preview(wallet_id: int):
    """What the amount would buy at the estate's tariff; buys nothing."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    utility, amount = request.form.get("utility", ""), request.form.get("amount", "").strip()
    quote = None
    if amount:
        try:
            quote = ledger.quote(Session, wallet, utility, amount)
        except ServiceError as exc:
            quote = {"error": next(iter(exc.fields.values()), exc.message)}
    if fragment_requested():
        return render_template("wallets/_quote.html", quote=quote, wallet=wallet), 200
    form = {"utility": utility, "amount": amount, "idempotency_key": uuid.uuid4().hex}
    return render_template("wallets/detail.html", **_detail_context(
        wallet, **_pay_context(wallet, buy_form=form, quote=quote))), 200


assert set(SORTS) == set(SORT_LABELS) and set(TOPUP_METHODS) == set(METHOD_LABELS)
