"""Estate alert defaults and bulk changes to wallets' alert settings, with an impact preview.

A bulk change touches every wallet of an estate (or all estates), so both the preview and the
save are single set-based statements: the preview groups the wallets by (state now, state
after) with the new settings substituted into the state rule; the save is one UPDATE that
writes the settings and the state they give. Nothing loops over wallets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    case,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.sql import ColumnElement

from ...db import write_transaction
from ...models import Estate, Unit, Wallet
from .. import webhooks
from ..errors import NotFound, ValidationFailed
from ..ids import parse_id
from ..money import parse_amount
from .settings import validate_settings
from .state import SPEND_WINDOW_DAYS, spend_30d_sql

SETTINGS = ("low_balance_threshold", "alert_mode", "low_balance_days", "alert_frequency_hours")


def list_estates(session) -> list[Estate]:
    """Every estate, by name (a handful per operator, never a million)."""
    return list(session.scalars(select(Estate).order_by(Estate.name)))


def get_estate(session, estate_id: int) -> Estate:
    """One estate or NotFound."""
    estate = session.get(Estate, estate_id)
    if estate is None:
        raise NotFound("No such estate.")
    return estate


def _defaults_view(estate: Estate) -> SimpleNamespace:
    """The estate's defaults under the wallet attribute names validate_settings reads."""
    return SimpleNamespace(low_balance_threshold=estate.default_low_balance_threshold,
                           alert_mode=estate.default_alert_mode,
                           low_balance_days=estate.default_low_balance_days,
                           alert_frequency_hours=estate.default_alert_frequency_hours)


@dataclass
class EstateDefaults:
    """Validated defaults of an estate and the range residents may choose from."""

    low_balance_threshold: Decimal
    alert_mode: str
    low_balance_days: int
    alert_frequency_hours: int
    min_low_balance_threshold: Decimal
    max_low_balance_threshold: Decimal


def validate_defaults(estate: Estate, data: dict) -> EstateDefaults:
    """The wallet rules for the defaults (same messages as the API), plus min ≤ max."""
    errors: dict[str, str] = {}
    settings = None
    try:
        settings = validate_settings(_defaults_view(estate), {k: data.get(k) for k in SETTINGS})
    except ValidationFailed as exc:
        errors.update(exc.fields)
    bounds = {}
    for name in ("min_low_balance_threshold", "max_low_balance_threshold"):
        try:
            bounds[name] = parse_amount(data.get(name), name, allow_zero=True)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if len(bounds) == 2 and bounds["min_low_balance_threshold"] > \
            bounds["max_low_balance_threshold"]:
        errors["max_low_balance_threshold"] = "The highest must not be below the lowest."
    if errors:
        raise ValidationFailed("Some defaults are not valid.", fields=errors)
    return EstateDefaults(settings.low_balance_threshold, settings.alert_mode,
                          settings.low_balance_days, settings.alert_frequency_hours, **bounds)


def save_defaults(session, estate_id: int, values: EstateDefaults) -> Estate:
    """Store an estate's defaults (they apply to new wallets; use a bulk change for others)."""
    with write_transaction(session):
        session.execute(update(Estate).where(Estate.id == estate_id).values(
            default_low_balance_threshold=values.low_balance_threshold,
            default_alert_mode=values.alert_mode,
            default_low_balance_days=values.low_balance_days,
            default_alert_frequency_hours=values.alert_frequency_hours,
            min_low_balance_threshold=values.min_low_balance_threshold,
            max_low_balance_threshold=values.max_low_balance_threshold))
    return get_estate(session, estate_id)


# -- bulk changes ----------------------------------------------------------------------------

SCOPES = ("all", "default")  # every wallet, or only wallets still on the estate's default


@dataclass
class BulkChange:
    """New values for some settings (None: leave as each wallet has it) over a set of wallets."""

    estate_id: int | None
    scope: str = "all"
    low_balance_threshold: Decimal | None = None
    alert_mode: str | None = None
    low_balance_days: int | None = None
    alert_frequency_hours: int | None = None
    make_default: bool = False

    def values(self) -> dict:
        """The settings this change sets."""
        return {k: getattr(self, k) for k in SETTINGS if getattr(self, k) is not None}


def parse_bulk_change(session, data: dict) -> BulkChange:
    """A bulk change from form fields; blank setting fields mean "unchanged"."""
    errors: dict[str, str] = {}
    estate_id = None
    raw_estate = (data.get("estate_id") or "").strip()
    if raw_estate and raw_estate != "all":
        estate_id = parse_id(raw_estate)
        if estate_id is None or session.get(Estate, estate_id) is None:
            errors["estate_id"] = "Choose an estate from the list."
            estate_id = None
    scope = data.get("scope") or "all"
    if scope not in SCOPES:
        errors["scope"] = "Choose which wallets to change."
    given = {k: data[k].strip() for k in SETTINGS
             if isinstance(data.get(k), str) and data[k].strip()}
    settings = None
    if not given:
        errors["form"] = "Enter at least one setting to change."
    else:
        # Validate against a neutral wallet so the rules and messages match the API's.
        neutral = SimpleNamespace(low_balance_threshold=Decimal(0), alert_mode="amount",
                                  low_balance_days=3, alert_frequency_hours=24)
        try:
            settings = validate_settings(neutral, given)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Some fields are not valid.", fields=errors)
    return BulkChange(estate_id, scope, **{k: getattr(settings, k) for k in given},
                      make_default=data.get("make_default") in ("1", "on", "true", True))


def _scope(change: BulkChange) -> ColumnElement:
    """Which wallets the change touches, as a condition on the wallets table."""
    w = Wallet.__table__.c
    units = select(Unit.id)
    if change.estate_id is not None:
        units = units.where(Unit.estate_id == change.estate_id)
    condition = w.unit_id.in_(units) if change.estate_id is not None else true()
    if change.scope == "default":
        default = (select(Estate.__table__.c.default_low_balance_threshold)
                   .join(Unit.__table__, Unit.__table__.c.estate_id == Estate.__table__.c.id)
                   .where(Unit.__table__.c.id == w.unit_id).correlate(Wallet.__table__)
                   .scalar_subquery())
        condition = and_(condition, w.low_balance_threshold == default)
    return condition


def state_after(change: BulkChange, now: datetime) -> ColumnElement:
    """The state rule of wallet_state.state_sql with this change's values substituted.

    Works in raw cents like state_sql. Settings the change leaves alone stay columns; a new
    mode or zero threshold is decided here in Python, so no literal is compared to a literal.
    """
    w = Wallet.__table__.c
    if change.low_balance_threshold is not None:
        if change.low_balance_threshold <= 0:
            return literal("ok")  # a zero threshold turns alerts off
        threshold = literal(int(change.low_balance_threshold * 100), BigInteger())
        whens = []
    else:
        threshold = w.low_balance_threshold
        whens = [(w.low_balance_threshold <= 0, literal("ok"))]
    days = (literal(change.low_balance_days, Integer()) if change.low_balance_days is not None
            else w.low_balance_days)
    low_amount = w.balance < threshold
    low_days = w.balance * SPEND_WINDOW_DAYS < days * spend_30d_sql(now)
    if change.alert_mode == "amount":
        low = low_amount
    elif change.alert_mode == "days":
        low = low_days
    else:
        low = case((w.alert_mode == "amount", low_amount), else_=low_days)
    whens += [(w.balance * 5 < threshold, literal("critical")), (low, literal("low"))]
    return case(*whens, else_=literal("ok"))


@dataclass
class Impact:
    """What a bulk change would do: how many wallets it touches and how their states move."""

    wallets: int = 0
    moves: dict[tuple[str, str], int] = field(default_factory=dict)

    def into(self, state: str) -> int:
        """Wallets that would enter `state` from another state."""
        return sum(n for (before, after), n in self.moves.items()
                   if after == state and before != state)

    @property
    def unchanged(self) -> int:
        """Wallets whose state stays the same."""
        return sum(n for (before, after), n in self.moves.items() if before == after)


def preview(session, change: BulkChange, now: datetime) -> Impact:
    """One GROUP BY over the affected wallets: (state now, state after) → count."""
    after = state_after(change, now).label("after")
    w = Wallet.__table__.c
    rows = session.execute(select(w.state, after, func.count()).where(_scope(change))
                           .group_by(w.state, after))
    impact = Impact()
    for before, new_state, count in rows:
        impact.moves[(before, new_state)] = impact.moves.get((before, new_state), 0) + count
        impact.wallets += count
    return impact


def apply(session, change: BulkChange, now: datetime) -> Impact:
    """Preview, then write the settings and their state in one UPDATE (one transaction).

    The returned impact is measured inside the write transaction, so it is what was saved.
    """
    with write_transaction(session):
        impact = preview(session, change, now)
        # SET expressions read the row as it was, so the state uses the old columns for
        # settings left alone and the new literals for those changed: both are right.
        webhooks.wallet_states_changing(session, _scope(change), state_after(change, now), now)
        session.execute(update(Wallet.__table__).where(_scope(change)).values(
            **change.values(), state=state_after(change, now), updated_at=now))
        if change.make_default:
            defaults = {f"default_{k}": v for k, v in change.values().items()}
            query = update(Estate)
            if change.estate_id is not None:
                query = query.where(Estate.id == change.estate_id)
            session.execute(query.values(**defaults))
    return impact

