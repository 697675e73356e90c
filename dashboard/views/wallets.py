"""Operator pages for wallets: the searchable list and one wallet's page with its widgets.

Every widget (summary, alert settings, top up and buy, transactions, notifications) is an
underscore partial with its own route. Forms post to real URLs and work without JavaScript;
with htmx the same routes answer with the widget alone (422 when a form has errors).
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from flask_login import current_user

from .. import dispatch, events
from ..db import Session
from ..models import UTILITY_UNITS, WALLET_STATES, utcnow
from ..routing import ID_CONVERTER
from ..services import notifications, wallets
from ..services.channels import log as channel_log
from ..services.errors import ServiceError, ValidationFailed
from ..services.forecast import wallets as forecast_wallets
from ..services.ids import parse_id
from ..services.money import format_rand
from ..services.payments import ledger, transactions
from ..services.wallets import estates, silence, usage
from .access import operator_required, staff_required
from .contacts import residents_with_contacts
from .forms import AlertSettingsForm, BuyForm, TopUpForm, new_key, pay
from .fragments import fragment_requested, page_or_fragment, tz
from .labels import FLAG_LABELS, SORT_LABELS

bp = Blueprint("wallets", __name__, url_prefix="/wallets")


def list_args() -> dict:
    """The list's filters from the query string, blanks dropped."""
    keys = ("q", "state", "estate", "flag", "sort", "limit", "cursor")
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
                                cursor=args.get("cursor"), flag=args.get("flag"))
    residents = wallets.residents_of(Session, [w.id for w in page.items])
    return page_or_fragment("wallets/index.html", "wallets/_table.html", page=page,
                            residents=residents, args=args, estates=estates.list_estates(Session),
                            states=WALLET_STATES, sorts=SORT_LABELS, flags=FLAG_LABELS,
                            forecasts=forecast_wallets.for_wallets(Session, page.items, utcnow(),
                                                                   tz()),
                            silent=silence.silent_of_units(
                                Session, [w.unit_id for w in page.items]))


@bp.get(f"/<{ID_CONVERTER}:wallet_id>")
@staff_required
def detail(wallet_id: int):
    """One wallet: balances, alert settings, top up and buy, usage, ledger, notifications."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    return render_template("wallets/detail.html", **_detail_context(wallet)), 200


def _detail_context(wallet, **overrides) -> dict:
    """Everything the wallet page shows; `overrides` carry a form as sent, with its errors
    (settings, topup, buy), a settings preview or a purchase quote."""
    now = utcnow()
    txs, tx_next = ledger.transactions_page(Session, wallet.id)
    return {
        "wallet": wallet, "residents": wallets.residents_of(Session, [wallet.id])[wallet.id],
        **_forecast_context(wallet, now),
        "usage": usage.daily_usage(Session, wallet.unit_id, now, tz()),
        "txs": txs, "tx_next": tx_next, "before": None,
        "feed": _wallet_notifications(wallet.id),
        "feed_deliveries": _feed_deliveries(wallet.id),
        "contacts": residents_with_contacts(wallet.id),
        "settings": overrides.pop("settings", None) or AlertSettingsForm.of(wallet),
        "preview": overrides.pop("preview", None), **_pay_context(wallet, **overrides),
    }


@bp.get(f"/<{ID_CONVERTER}:wallet_id>/summary")
@staff_required
def summary(wallet_id: int):
    """Balance, state, credit per utility and residents (refreshed when the wallet changes)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    return page_or_fragment("wallets/widget.html", "wallets/_summary.html",
                            widget="wallets/_summary.html", wallet=wallet,
                            residents=wallets.residents_of(Session, [wallet.id])[wallet.id],
                            **_forecast_context(wallet, utcnow()))


def _forecast_context(wallet, now) -> dict:
    """The wallet's run-out forecast and its silent meters, as the summary shows them."""
    return {"forecast": forecast_wallets.for_wallets(Session, [wallet], now, tz())[wallet.id],
            "silent": silence.silent_of_units(Session, [wallet.unit_id])[wallet.unit_id]}


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
    feed = _wallet_notifications(wallet.id)
    return page_or_fragment("wallets/widget.html", "wallets/_notifications.html",
                            widget="wallets/_notifications.html", wallet=wallet, feed=feed,
                            feed_deliveries=channel_log.of_notifications(
                                Session, [n.id for n in feed]))


def _feed_deliveries(wallet_id: int) -> dict:
    """The email and SMS deliveries of the wallet's newest notifications."""
    return channel_log.of_notifications(Session, [n.id for n in _wallet_notifications(wallet_id)])


def _wallet_notifications(wallet_id: int) -> list:
    """The last ten notifications about a wallet (ix_notifications_wallet_id)."""
    return [n for n, _ in notifications.list_for(Session, current_user, wallet_id=wallet_id,
                                                 limit=10)]


# -- alert settings -------------------------------------------------------------------------

@bp.post(f"/<{ID_CONVERTER}:wallet_id>/settings")
@operator_required
def save_settings(wallet_id: int):
    """Save alert settings: nothing is saved unless every field is valid (422 otherwise)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = AlertSettingsForm.of(wallet, request.form)
    try:
        settings = wallets.validate_settings(wallet, form.submitted())
    except ValidationFailed as exc:
        form.refuse(exc)
        if fragment_requested():
            return render_template("wallets/_settings.html", wallet=wallet,
                                   settings=form), 422
        return render_template("wallets/detail.html",
                               **_detail_context(wallet, settings=form)), 422
    wallet = wallets.update_settings(Session, wallet.id, settings, utcnow())
    events.publish_wallet(Session, wallet.id)
    message = f"Alert settings saved. The wallet is {wallet.state}."
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".detail", wallet_id=wallet.id), 303)
    saved = AlertSettingsForm.of(wallet)
    saved.message = message
    return make_response(render_template("wallets/_settings.html", wallet=wallet,
                                         settings=saved), trigger="wallet-updated")


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/settings/preview")
@operator_required
def preview_settings(wallet_id: int):
    """The state the posted settings would give this wallet; saves nothing."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = AlertSettingsForm.of(wallet, request.form)
    try:
        settings = wallets.validate_settings(wallet, form.submitted())
        preview = {"state": wallets.preview_state(Session, wallet, settings, utcnow())}
    except ValidationFailed as exc:
        preview = {"error": next(iter(exc.fields.values()), exc.message)}
    if fragment_requested():
        return render_template("wallets/_settings_preview.html", wallet=wallet,
                               preview=preview), 200
    return render_template("wallets/detail.html", **_detail_context(
        wallet, settings=form, preview=preview)), 200


# -- top up and buy ---------------------------------------------------------------------------

def _utilities(tariffs) -> dict[str, str]:
    """The Buy form's choices: each utility the estate sells, with its price."""
    return {t.utility: f"{t.utility.replace('_', ' ').capitalize()} ({format_rand(t.price)}/"
                       f"{t.unit})" for t in tariffs}


# What a pay form starts with when drawn afresh.
DEFAULTS = {"topup": {"method": "manual_admin"}, "buy": {"utility": "electricity"}}


def _pay_context(wallet, **forms_given) -> dict:
    """The pay forms; forms not given are drawn afresh, each with a new Idempotency-Key (made
    when the form is drawn, so a double submit replays the first payment)."""
    tariffs = ledger.tariffs(Session, wallet)
    topup = forms_given.get("topup") or TopUpForm(data=DEFAULTS["topup"])
    buy = forms_given.get("buy") or BuyForm(utilities=_utilities(tariffs), data=DEFAULTS["buy"])
    return {"topup": topup, "buy": buy, "tariffs": tariffs, "quote": forms_given.get("quote")}


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/topups")
@operator_required
def top_up(wallet_id: int):
    """An operator's top-up; the form's Idempotency-Key makes a resubmit a replay."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = TopUpForm(request.form)
    result = pay(form, lambda key: transactions.top_up(
        Session, wallet.id, form.amount.data, form.method.data, now=utcnow(),
        user_id=current_user.id, idempotency_key=key, methods=transactions.OFFICE_METHODS))
    return _paid(wallet, "topup", form, result)


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/purchases")
@operator_required
def purchase(wallet_id: int):
    """An operator's utility purchase from the wallet's balance."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    form = BuyForm(request.form, utilities=_utilities(ledger.tariffs(Session, wallet)))
    result = pay(form, lambda key: transactions.purchase(
        Session, wallet.id, form.utility.data, form.amount.data, now=utcnow(),
        user_id=current_user.id, idempotency_key=key))
    return _paid(wallet, "buy", form, result)


def _paid(wallet, kind: str, form, result):
    """The pay widget (htmx), the page with the errors, or a redirect after a payment.

    Refusals a person can fix (a bad amount, a short balance) come back beside the field with
    422: the form widget is what htmx swaps, and the amount is the field to change.
    """
    if result is None:
        if fragment_requested():
            return render_template("wallets/_pay.html", wallet=wallet,
                                   **_pay_context(wallet, **{kind: form})), 422
        return render_template("wallets/detail.html",
                               **_detail_context(wallet, **{kind: form})), 422
    dispatch.after_payment(result)
    tx = result.transaction
    if result.created:
        message = _pay_message(tx)
    else:
        message = (f"This form was already sent: transaction {tx.id} stands and nothing was "
                   f"charged twice.")
    if not fragment_requested():
        flash(message, "success" if result.created else "info")
        return redirect(url_for(".detail", wallet_id=wallet.id), 303)
    wallet = wallets.get_wallet(Session, current_user, wallet.id)
    context = _pay_context(wallet, **{kind: form.fresh(message, **DEFAULTS[kind])})
    return make_response(render_template("wallets/_pay.html", wallet=wallet, **context),
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
    form = BuyForm(request.form, utilities=_utilities(ledger.tariffs(Session, wallet)))
    quote = None
    if form.amount.data:
        try:
            quote = ledger.quote(Session, wallet, form.utility.data, form.amount.data)
        except ServiceError as exc:
            quote = {"error": next(iter(exc.fields.values()), exc.message)}
    if fragment_requested():
        return render_template("wallets/_quote.html", quote=quote, wallet=wallet), 200
    form.idempotency_key.data = new_key()  # drawn again: a new form to send
    return render_template("wallets/detail.html", **_detail_context(
        wallet, buy=form, quote=quote)), 200
