"""Wallets, their alert settings, top-ups, purchases and transactions, through the same
services as the wallet pages (the same checks, the same messages)."""
from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from .. import dispatch, events
from ..db import Session
from ..models import ALERT_MODES, TOPUP_METHODS, UTILITIES, WALLET_STATES, Estate, Unit, utcnow
from ..services import payments, wallets
from ..services.forecast import wallets as forecast_wallets
from ..services.ids import MAX_ID
from ..services.payments import (
    IDEMPOTENCY_KEY_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    OFFICE_METHODS,
    RESIDENT_METHODS,
    ledger,
    transactions,
)
from ..services.serialize import transaction_json, wallet_json
from ..services.wallets.search import FLAGS
from .helpers import int_arg, listing, refuse_viewers, signed_in
from .payments import payment_payload
from .schemas import (
    ALERT_FREQUENCY_HOURS_IN,
    AMOUNT_IN,
    ID_CURSOR,
    LIMIT,
    LOW_BALANCE_DAYS_IN,
    THRESHOLD_IN,
    enum,
    listing_of,
    ref,
)
from .spec import NO_NUL, Body, Field, header, query, route

AMOUNT_TYPE = "Enter an amount in rand, like 49.50."  # parse_amount's words for a non-amount
SETTINGS_BODY = Body(
    low_balance_threshold=Field(THRESHOLD_IN, message=AMOUNT_TYPE),
    alert_mode=Field(enum(ALERT_MODES)),
    low_balance_days=Field(LOW_BALANCE_DAYS_IN),
    alert_frequency_hours=Field(ALERT_FREQUENCY_HOURS_IN))
TOPUP_BODY = Body(amount=Field(AMOUNT_IN, required=True, message=AMOUNT_TYPE),
                  method=Field(enum(TOPUP_METHODS, description=(
                      f"Residents: {', '.join(RESIDENT_METHODS)} (a payment); operators: "
                      f"{', '.join(OFFICE_METHODS)} (credited at once). Any other: 422.")),
                      required=True))
PURCHASE_BODY = Body(utility=Field(enum(UTILITIES), required=True),
                     amount=Field(AMOUNT_IN, required=True, message=AMOUNT_TYPE))
IDEMPOTENCY_KEY = header("Idempotency-Key", {
    "type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_LENGTH,
    "pattern": IDEMPOTENCY_KEY_PATTERN}, "Replaying a key answers the first result (200).")
LIST_PARAMS = [
    query("state", enum(WALLET_STATES)),
    query("q", {"type": "string", "pattern": NO_NUL}, f"Unit number, estate or resident name "
          f"(the first {wallets.SEARCH_LENGTH} characters)."),
    query("sort", enum(wallets.SORTS, default="id")),
    query("estate_id", {"type": "integer", "minimum": 0, "maximum": MAX_ID}),
    query("flag", enum(FLAGS), "zero: wallets at zero; silent: wallets with a silent meter."),
    LIMIT, query("cursor", {"type": "string", "pattern": wallets.CURSOR_PATTERN},
                 "The next_cursor of the previous page (with the same sort).")]
PAID = {201: (ref("TransactionResult"), "Created"),
        200: (ref("TransactionResult"), "An Idempotency-Key replay: the first result")}
PAID_LINKS = {201: {"GetTransactions": {"operationId": "list_transactions",
                                        "parameters": {"wallet_id": "$request.path.wallet_id"}},
                    "GetWallet": {"operationId": "get_wallet",
                                  "parameters": {"wallet_id": "$request.path.wallet_id"}}}}


def _wallet_link(operation: str) -> dict:
    """A link from the wallet list to an operation on its first wallet."""
    return {"operationId": operation, "parameters": {"wallet_id": "$response.body#/items/0/id"}}


def wallet_payload(wallet) -> dict:
    """One wallet with its residents and run-out forecast."""
    return wallets_payload([wallet])[0]


def wallets_payload(found: list) -> list[dict]:
    """Wallets with their residents and run-out forecasts (a query for each, not per wallet)."""
    residents = wallets.residents_of(Session, [w.id for w in found])
    forecasts = forecast_wallets.for_wallets(Session, found, utcnow(),
                                             current_app.config["CELERY_TIMEZONE"])
    return [wallet_json(w, residents[w.id], forecasts[w.id]) for w in found]


@route("GET", "/wallets", summary="Wallets the caller may see", params=LIST_PARAMS,
       answers={200: listing_of("Wallet")},
       links={200: {"GetWallet": _wallet_link("get_wallet"),
                    "TopUp": _wallet_link("create_topup"),
                    "Buy": _wallet_link("create_purchase"),
                    "GetTransactions": _wallet_link("list_transactions")}})
@signed_in
def list_wallets():
    """Wallets the caller may see: ?state=&q=&sort=&estate_id=&flag=&limit=&cursor=."""
    page = wallets.list_wallets(
        Session, current_user, state=request.args.get("state") or None,
        q=request.args.get("q"), sort=request.args.get("sort") or "id",
        estate_id=int_arg("estate_id"), limit=wallets.parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor"), flag=request.args.get("flag") or None)
    return jsonify(listing(wallets_payload(page.items), page.next_cursor))


@route("GET", "/wallets/{wallet_id}", summary="One wallet", answers={200: ref("Wallet")})
@signed_in
def get_wallet(wallet_id: int):
    """One wallet (404 for a resident who does not live there)."""
    return jsonify(wallet_payload(wallets.get_wallet(Session, current_user, wallet_id)))


@route("PATCH", "/wallets/{wallet_id}", summary="Change alert settings", body=SETTINGS_BODY,
       answers={200: ref("Wallet")}, refusals=(403,),
       description="Fields left out keep their value. Viewers: 403.")
@signed_in
def patch_wallet(wallet_id: int):
    """Change alert settings: operators any wallet, residents their own within estate bounds."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    refuse_viewers()
    data = SETTINGS_BODY.read()
    estate = Session.scalar(select(Estate).join(Unit).where(Unit.id == wallet.unit_id))
    settings = wallets.validate_settings(wallet, data, estate=estate,
                                         resident=not current_user.is_staff)
    wallet = wallets.update_settings(Session, wallet.id, settings, utcnow())
    events.publish_wallet(Session, wallet.id)
    return jsonify(wallet_payload(wallet))


def _transaction_response(result):
    """201 for a new transaction, 200 for an Idempotency-Key replay; queue its tasks."""
    dispatch.after_payment(result)
    return jsonify(transaction=transaction_json(result.transaction)), (201 if result.created
                                                                       else 200)


def _can_pay(wallet_id: int):
    """Operators pay into any wallet, residents into their own; viewers never."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    refuse_viewers()
    return wallet


TOPUP_ANSWERS = {
    201: (ref("TransactionResult"), "An operator's top-up, credited at once"),
    202: (ref("PaymentResult"), "A resident's payment, pending: pay at its redirect_url; "
                                "the wallet is credited when the provider confirms it"),
    200: ({"oneOf": [ref("TransactionResult"), ref("PaymentResult")]},
          "An Idempotency-Key replay: the first result")}
TOPUP_LINKS = {**PAID_LINKS, 202: {"GetPayment": {
    "operationId": "get_payment", "parameters": {"payment_id": "$response.body#/payment/id"}}}}


@route("POST", "/wallets/{wallet_id}/topups", summary="Top up a wallet", body=TOPUP_BODY,
       params=[IDEMPOTENCY_KEY], answers=TOPUP_ANSWERS, refusals=(403, 409),
       links=TOPUP_LINKS,
       description="A resident (card, instant_eft) starts a payment: 202 with its "
                   "redirect_url, and nothing is credited until the payment provider's signed "
                   "webhook confirms it (GET /payments/{id} follows it). An operator (cash, "
                   "eft, manual_admin) tops up at once: 201, recorded as theirs. 409 when the "
                   "Idempotency-Key was used for another request. Viewers: 403. 503 when "
                   "paying online is not set up.")
@signed_in
def create_topup(wallet_id: int):
    """Top up the wallet: {amount, method}; a resident's is a pending payment."""
    wallet = _can_pay(wallet_id)
    data = TOPUP_BODY.read()
    key = request.headers.get("Idempotency-Key")
    if current_user.is_staff:
        result = transactions.top_up(Session, wallet.id, data["amount"], data["method"],
                                     now=utcnow(), user_id=current_user.id,
                                     idempotency_key=key, methods=OFFICE_METHODS)
        return _transaction_response(result)
    dispatch.require_checkout()
    started = payments.start_payment(Session, wallet.id, data["amount"], data["method"],
                                     now=utcnow(), user_id=current_user.id,
                                     idempotency_key=key)
    return jsonify(payment=payment_payload(started.payment)), (202 if started.created else 200)


@route("POST", "/wallets/{wallet_id}/purchases", summary="Buy utility credit",
       body=PURCHASE_BODY, params=[IDEMPOTENCY_KEY], answers=PAID, refusals=(403, 409),
       links=PAID_LINKS, description="409 when the balance is short, or the Idempotency-Key "
                                     "was used for another request. Viewers: 403.")
@signed_in
def create_purchase(wallet_id: int):
    """Buy utility credit: {utility, amount}; 409 when the balance is short."""
    wallet = _can_pay(wallet_id)
    data = PURCHASE_BODY.read()
    result = transactions.purchase(Session, wallet.id, data["utility"], data["amount"],
                                   now=utcnow(), user_id=current_user.id,
                                   idempotency_key=request.headers.get("Idempotency-Key"))
    return _transaction_response(result)


@route("GET", "/wallets/{wallet_id}/transactions", summary="A wallet's ledger, newest first",
       params=[LIMIT, ID_CURSOR], answers={200: listing_of("Transaction")})
@signed_in
def list_transactions(wallet_id: int):
    """The wallet's ledger, newest first: ?limit=&cursor= (cursor: the last id seen)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    rows, next_id = ledger.transactions_page(
        Session, wallet.id, before_id=wallets.parse_cursor_id(request.args.get("cursor")),
        limit=wallets.parse_limit(request.args.get("limit")))
    return jsonify(listing([transaction_json(t) for t in rows], next_id))
