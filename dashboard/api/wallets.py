"""Wallets, their alert settings, top-ups, purchases and transactions."""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from .. import dispatch, events
from ..db import Session
from ..models import Estate, Transaction, Unit, utcnow
from ..services import wallets
from ..services.errors import Forbidden, ValidationFailed
from ..services.payments import transactions
from ..services.serialize import transaction_json, wallet_json
from . import bp
from .helpers import ID, int_arg, json_body, listing, require, signed_in


def checked_cursor() -> str | None:
    """?cursor= as we issue it, else 422 (decode_cursor checks every value in it)."""
    raw = request.args.get("cursor")
    wallets.decode_cursor(raw)
    return raw


RESIDENT_METHODS = ("card", "eft", "instant_eft")


def wallet_payload(wallet) -> dict:
    """One wallet with its residents."""
    return wallet_json(wallet, wallets.residents_of(Session, [wallet.id])[wallet.id])


@bp.get("/wallets")
@signed_in
def list_wallets():
    """Wallets the caller may see: ?state=&q=&sort=&limit=&cursor=."""
    page = wallets.list_wallets(
        Session, current_user, state=request.args.get("state") or None,
        q=request.args.get("q"), sort=request.args.get("sort", "id"),
        estate_id=int_arg("estate_id"), limit=wallets.parse_limit(request.args.get("limit")),
        cursor=checked_cursor())
    residents = wallets.residents_of(Session, [w.id for w in page.items])
    return jsonify(listing([wallet_json(w, residents[w.id]) for w in page.items],
                           page.next_cursor))


@bp.get(f"/wallets/<{ID}:wallet_id>")
@signed_in
def get_wallet(wallet_id: int):
    """One wallet (404 for a resident who does not live there)."""
    return jsonify(wallet_payload(wallets.get_wallet(Session, current_user, wallet_id)))


@bp.patch(f"/wallets/<{ID}:wallet_id>")
@signed_in
def patch_wallet(wallet_id: int):
    """Change alert settings: operators any wallet, residents their own within estate bounds."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    if current_user.role == "viewer":
        raise Forbidden("Viewers can look but not change anything.")
    estate = Session.scalar(select(Estate).join(Unit).where(Unit.id == wallet.unit_id))
    settings = wallets.validate_settings(wallet, json_body(), estate=estate,
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
    if current_user.role == "viewer":
        raise Forbidden("Viewers can look but not change anything.")
    return wallet


@bp.post(f"/wallets/<{ID}:wallet_id>/topups")
@signed_in
def create_topup(wallet_id: int):
    """Top up the wallet: {amount, method}."""
    wallet = _can_pay(wallet_id)
    data = json_body()
    require(data, "amount", "method")
    if not current_user.is_staff and data["method"] not in RESIDENT_METHODS:
        # Cash and manual entries are recorded by the office, never by the payer.
        raise ValidationFailed("Invalid payment method.", fields={
            "method": f"Choose one of: {', '.join(RESIDENT_METHODS)}."})
    result = transactions.top_up(Session, wallet.id, data["amount"], data["method"],
                                 now=utcnow(), user_id=current_user.id,
                                 idempotency_key=request.headers.get("Idempotency-Key"))
    return _transaction_response(result)


@bp.post(f"/wallets/<{ID}:wallet_id>/purchases")
@signed_in
def create_purchase(wallet_id: int):
    """Buy utility credit: {utility, amount}; 409 when the balance is short."""
    wallet = _can_pay(wallet_id)
    data = json_body()
    require(data, "utility", "amount")
    result = transactions.purchase(Session, wallet.id, data["utility"], data["amount"],
                                   now=utcnow(), user_id=current_user.id,
                                   idempotency_key=request.headers.get("Idempotency-Key"))
    return _transaction_response(result)


@bp.get(f"/wallets/<{ID}:wallet_id>/transactions")
@signed_in
def list_transactions(wallet_id: int):
    """The wallet's ledger, newest first: ?limit=&cursor= (cursor: the last id seen)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    limit = wallets.parse_limit(request.args.get("limit"))
    after = wallets.decode_cursor(checked_cursor())
    query = select(Transaction).where(Transaction.wallet_id == wallet.id)
    if after:
        query = query.where(Transaction.id < after["id"])
    rows = list(Session.scalars(query.order_by(Transaction.id.desc()).limit(limit + 1)))
    next_cursor = wallets.encode_cursor({"id": rows[limit - 1].id}) if len(rows) > limit else None
    return jsonify(listing([transaction_json(t) for t in rows[:limit]], next_cursor))


