"""The resident's pages: their wallet, paying in, buying credit, alert settings and the inbox.

Paying in (Top up) starts a payment and sends the resident to the payment provider's page
(the test gateway in development); the wallet's payment card says how it stands (waiting for
the bank, received, declined, expired) and refreshes when the provider's webhook settles it.

Each widget is an underscore partial under templates/resident/ that owns its id. A page route
renders the whole page; the widget's own route returns the partial to htmx (HX-Request) and
sends people without JavaScript back to the page, so there is one rendering path. Live events
(wallet-updated, notification-created) make widgets refresh through those same routes.
"""
from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_htmx import make_response as htmx_response
from flask_login import current_user
from sqlalchemy import select

from .. import dispatch, events
from ..db import Session, write_transaction
from ..extensions import htmx
from ..models import Wallet, utcnow
from ..routing import ID_CONVERTER
from ..services import notifications, payments, wallets
from ..services.errors import Unavailable
from . import resident_forms as forms
from . import resident_model as view_model
from .access import resident_required
from .fragments import tz

bp = Blueprint("resident", __name__, url_prefix="/me")
ID = ID_CONVERTER  # bounded: an id beyond what a column holds is a 404, not a 500
#: The payment card shows the resident's newest payment of this long ago at most.
RECENT_PAYMENT = timedelta(days=1)


# -- helpers ---------------------------------------------------------------------------------

def _my_wallets() -> list[Wallet]:
    """The wallets of the signed-in resident's units, oldest first."""
    return list(Session.scalars(select(Wallet).where(wallets.visible(Session, current_user))
                                .order_by(Wallet.id)))


def _wallet(wallet_id: int) -> Wallet:
    """The resident's own wallet; NotFound (404) for anybody else's, never a hint it exists."""
    return wallets.get_wallet(Session, current_user, wallet_id)


def _render(template: str, status: int = 200, **context):
    """A rendered template that caches keep apart from its full-page twin."""
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def _back_to(wallet: Wallet, anchor: str):
    """Without htmx a widget URL is not a page: send the person to the wallet's page."""
    response = redirect(url_for("resident.wallet", wallet_id=wallet.id, _anchor=anchor))
    response.vary.add("HX-Request")
    return response


def _wallet_context(wallet: Wallet, **forms_given) -> dict:
    """Everything the wallet page shows; forms not given start empty."""
    now = utcnow()
    summary = view_model.wallet_summary(Session, wallet, now, tz())
    topup = forms_given.get("topup") or forms.blank_topup()
    buy = forms_given.get("buy") or forms.blank_buy(summary.options)
    alerts = forms_given.get("alerts") or forms.alerts_form(wallet)
    return {
        "wallet": wallet, "summary": summary, "my_wallets": _my_wallets(),
        **_payment_context(wallet, now),
        "estate": summary.estate, "options": summary.options,
        "transactions": view_model.recent_transactions(Session, wallet.id),
        "charts": view_model.usage_charts(Session, wallet, now,
                                          current_app.config["CELERY_TIMEZONE"]),
        "topup": topup, "topup_preview": forms.topup_preview(topup),
        "buy": buy, "buy_preview": forms.buy_preview(Session, wallet, summary.options, buy),
        "alerts": alerts, "alerts_note": forms.describe_settings(wallet),
        "inbox": view_model.inbox_page(Session, current_user, view_model.InboxFilter()),
    }


def _payment_context(wallet: Wallet, now) -> dict:
    """The resident's newest recent payment into the wallet, for its card."""
    payment = payments.latest_payment(Session, current_user, wallet.id,
                                      since=now - RECENT_PAYMENT, now=now)
    url = None
    if payment is not None:
        try:
            url = dispatch.checkout_url(payment)
        except Unavailable:  # a misconfigured provider page: the card still says the status
            url = None
    return {"payment": payment, "payment_url": url,
            "payment_text": forms.payment_message(payment) if payment else None}


def _wallet_page(wallet: Wallet, status: int = 200, **forms_given):
    """The whole wallet page (also used to show a form's errors to people without htmx)."""
    return _render("resident/home.html", status, **_wallet_context(wallet, **forms_given))


# -- the wallet page and its widgets ---------------------------------------------------------

@bp.get("/")
@resident_required
def home():
    """The resident's home: their (first) wallet and their inbox."""
    mine = _my_wallets()
    if not mine:
        inbox = view_model.inbox_page(Session, current_user, view_model.InboxFilter())
        return _render("resident/home.html", wallet=None, my_wallets=[], inbox=inbox)
    return _wallet_page(mine[0])


@bp.get(f"/wallets/<{ID}:wallet_id>")
@resident_required
def wallet(wallet_id: int):
    """One of the resident's wallets (for people living in more than one unit)."""
    return _wallet_page(_wallet(wallet_id))


@bp.get(f"/wallets/<{ID}:wallet_id>/balance")
@resident_required
def balance(wallet_id: int):
    """The balance card, refreshed live on wallet-updated."""
    wallet = _wallet(wallet_id)
    if not htmx:
        return _back_to(wallet, f"balance-{wallet.id}")
    return _render("resident/_balance.html", wallet=wallet,
                   summary=view_model.wallet_summary(Session, wallet, utcnow(), tz()))


@bp.get(f"/wallets/<{ID}:wallet_id>/transactions")
@resident_required
def transactions(wallet_id: int):
    """The recent transactions card, refreshed live on wallet-updated."""
    wallet = _wallet(wallet_id)
    if not htmx:
        return _back_to(wallet, f"transactions-{wallet.id}")
    return _render("resident/_transactions.html", wallet=wallet,
                   transactions=view_model.recent_transactions(Session, wallet.id))


@bp.get(f"/wallets/<{ID}:wallet_id>/payment")
@resident_required
def payment(wallet_id: int):
    """The payment card, refreshed live when the provider's webhook settles the payment."""
    wallet = _wallet(wallet_id)
    if not htmx:
        return _back_to(wallet, f"payment-{wallet.id}")
    return _render("resident/_payment.html", wallet=wallet, **_payment_context(wallet, utcnow()))


def _payment_response(wallet: Wallet, payment, form_name: str, template: str, **extra):
    """The form after a purchase attempt: the partial for htmx, else redirect or full page."""
    dispatch.after_payment(payment.result)
    status = payment.form.status
    if htmx:
        body = render_template(template, wallet=wallet, **{form_name: payment.form}, **extra)
        # The paying tab refreshes its balance at once, even if its live socket is down.
        trigger = "wallet-updated" if payment.result is not None else None
        response = htmx_response(body, status, trigger=trigger)
        response.vary.add("HX-Request")
        return response
    if status == 200:
        flash(payment.form.message, "success")
        return _back_to(wallet, f"balance-{wallet.id}")
    return _wallet_page(wallet, status, **{form_name: payment.form})


@bp.post(f"/wallets/<{ID}:wallet_id>/topups")
@resident_required
def topup(wallet_id: int):
    """Top up: start a payment (amount and method; once per form rendering) and go to the
    payment page. Nothing is credited until the provider confirms the payment."""
    wallet = _wallet(wallet_id)
    dispatch.require_checkout()
    started = forms.submit_topup(Session, wallet, request.form, user_id=current_user.id,
                                 now=utcnow())
    if started.result is None:
        if htmx:
            body = render_template("resident/_topup_form.html", wallet=wallet,
                                   topup=started.form,
                                   topup_preview=forms.topup_preview(started.form))
            response = htmx_response(body, started.form.status)
            response.vary.add("HX-Request")
            return response
        return _wallet_page(wallet, started.form.status, topup=started.form)
    # A replay of a payment already settled has no payment page: its card says how it went.
    target = (dispatch.checkout_url(started.result.payment)
              or url_for("resident.wallet", wallet_id=wallet.id, _anchor=f"payment-{wallet.id}"))
    if htmx:
        # htmx follows HX-Redirect with a full navigation, as a plain form follows the 303.
        response = htmx_response("", 200, redirect=target)
        response.vary.add("HX-Request")
        return response
    response = redirect(target, 303)
    response.vary.add("HX-Request")
    return response


@bp.get(f"/wallets/<{ID}:wallet_id>/topups/preview")
@resident_required
def topup_preview(wallet_id: int):
    """The Top up button with a confirmation naming the amount (swapped in by htmx)."""
    wallet = _wallet(wallet_id)
    if not htmx:
        return _back_to(wallet, f"topup-{wallet.id}")
    return _render("resident/_topup_preview.html", wallet=wallet,
                   topup_preview=forms.topup_preview(forms.ResidentTopUpForm(request.args)))


@bp.post(f"/wallets/<{ID}:wallet_id>/purchases")
@resident_required
def buy(wallet_id: int):
    """Buy utility credit from the balance; more than the balance is refused beside the amount."""
    wallet = _wallet(wallet_id)
    options = view_model.utility_options(view_model.estate_of(Session, wallet))
    payment = forms.submit_buy(Session, wallet, options, request.form,
                               user_id=current_user.id, now=utcnow())
    return _payment_response(wallet, payment, "buy", "resident/_buy_form.html", options=options,
                             buy_preview=forms.buy_preview(Session, wallet, options,
                                                           payment.form))


@bp.get(f"/wallets/<{ID}:wallet_id>/purchases/preview")
@resident_required
def buy_preview(wallet_id: int):
    """The units an amount buys at the estate's tariff, and the Buy confirmation."""
    wallet = _wallet(wallet_id)
    if not htmx:
        return _back_to(wallet, f"buy-{wallet.id}")
    options = view_model.utility_options(view_model.estate_of(Session, wallet))
    form = forms.buy_form(options, request.args)
    return _render("resident/_buy_preview.html", wallet=wallet,
                   buy_preview=forms.buy_preview(Session, wallet, options, form))


@bp.post(f"/wallets/<{ID}:wallet_id>/alerts")
@resident_required
def alerts(wallet_id: int):
    """Save alert settings within the estate's bounds; 422 with the errors beside the fields."""
    wallet = _wallet(wallet_id)
    estate = view_model.estate_of(Session, wallet)
    state, saved = forms.submit_alerts(Session, wallet, estate, request.form, now=utcnow())
    if saved is not None:
        # The new settings can change the wallet's state: balance cards everywhere follow.
        events.publish_wallet(Session, saved.id)
        wallet = saved
    if htmx:
        body = render_template("resident/_alerts_form.html", wallet=wallet, alerts=state,
                               alerts_note=forms.describe_settings(wallet), estate=estate)
        response = htmx_response(body, state.status,
                                 trigger="wallet-updated" if saved is not None else None)
        response.vary.add("HX-Request")
        return response
    if saved is not None:
        flash(state.message, "success")
        return _back_to(wallet, f"alerts-{wallet.id}")
    return _wallet_page(wallet, state.status, alerts=state)


@bp.get(f"/wallets/<{ID}:wallet_id>/alerts/preview")
@resident_required
def alerts_preview(wallet_id: int):
    """What the wallet's state would be with the settings typed so far."""
    wallet = _wallet(wallet_id)
    if not htmx:
        return _back_to(wallet, f"alerts-{wallet.id}")
    text = forms.alerts_preview(Session, wallet, view_model.estate_of(Session, wallet),
                                request.args, now=utcnow())
    return _render("resident/_alerts_preview.html", wallet=wallet, text=text)


# -- the inbox -------------------------------------------------------------------------------

def _inbox_response(flt: view_model.InboxFilter):
    """The inbox partial for htmx, or the Notifications page."""
    inbox = view_model.inbox_page(Session, current_user, flt)
    return _render("resident/_inbox.html" if htmx else "resident/notifications.html",
                   inbox=inbox)


@bp.get("/notifications")
@resident_required
def notifications_page():
    """Newest first, filtered by type or unread, paged by id; refreshed live."""
    return _inbox_response(view_model.parse_inbox_filter(request.args))


def _after_read(flt: view_model.InboxFilter):
    """Every open tab learns the new unread count; this one gets its inbox back."""
    # After the commit, so a tab that refetches on the event sees the change.
    events.publish_unread_counts(Session, [current_user.id])
    if htmx:
        return _inbox_response(flt)
    return redirect(url_for("resident.notifications_page", **flt.params()))


@bp.post(f"/notifications/<{ID}:notification_id>/read")
@resident_required
def mark_read(notification_id: int):
    """Mark one notification read (404 for one that is not yours)."""
    with write_transaction(Session):
        notifications.mark_read(Session, current_user, notification_id, utcnow())
    return _after_read(view_model.parse_inbox_filter(request.form))


@bp.post("/notifications/read-all")
@resident_required
def mark_all_read():
    """Mark every notification read."""
    with write_transaction(Session):
        notifications.mark_all_read(Session, current_user, utcnow())
    return _after_read(view_model.parse_inbox_filter(request.form))
