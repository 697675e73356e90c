"""A wallet's ledger page and what a purchase would buy, for the dashboard's wallet page."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from ...models import UTILITIES, UTILITY_UNITS, Estate, Transaction, Unit, Wallet
from ..errors import ValidationFailed
from ..money import parse_amount
from .transactions import units_for


def transactions_page(session, wallet_id: int, *, before_id: int | None = None,
                      limit: int = 10) -> tuple[list[Transaction], int | None]:
    """Newest first, keyset-paged by id (ix_transactions_wallet_id)."""
    query = select(Transaction).where(Transaction.wallet_id == wallet_id)
    if before_id:
        query = query.where(Transaction.id < before_id)
    rows = list(session.scalars(query.order_by(Transaction.id.desc()).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


@dataclass
class Tariff:
    """Rand per unit of one utility on the wallet's estate."""

    utility: str
    price: Decimal
    unit: str


def tariffs(session, wallet: Wallet) -> list[Tariff]:
    """The utilities the wallet's estate sells, with their prices."""
    estate = session.scalar(select(Estate).join(Unit).where(Unit.id == wallet.unit_id))
    return [Tariff(u, estate.tariff(u), UTILITY_UNITS[u]) for u in UTILITIES
            if u in (estate.tariffs or {})]


@dataclass
class PurchaseQuote:
    """What an amount buys: units of a utility, and whether the balance covers it."""

    utility: str
    amount: Decimal
    units: Decimal
    unit: str
    affordable: bool


def quote(session, wallet: Wallet, utility: str, amount) -> PurchaseQuote:
    """Units `amount` buys at the estate's tariff (the rounding the purchase itself uses)."""
    errors = {}
    if utility not in UTILITIES:
        errors["utility"] = f"Choose one of: {', '.join(UTILITIES)}."
    try:
        value = parse_amount(amount)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Cannot work out the units.", fields=errors)
    units = units_for(session, wallet, utility, value)
    return PurchaseQuote(utility, value, units, UTILITY_UNITS[utility], value <= wallet.balance)
