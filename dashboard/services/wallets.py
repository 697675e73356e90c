"""Finding, showing and configuring wallets, with the access rule: residents see their own."""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    and_,
    false,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union,
    union_all,
    update,
)
from sqlalchemy.orm import joinedload

from ..db import write_transaction
from ..models import (
    ALERT_MODES,
    WALLET_STATES,
    Estate,
    Occupancy,
    Person,
    Unit,
    User,
    Wallet,
    utcnow,
)
from .errors import NotFound, ValidationFailed
from .ids import MAX_ID
from .money import parse_amount
from .wallet_state import compute_state, spend_30d

SORTS = ("id", "balance", "-balance")
_CURSOR_BALANCE = re.compile(r"-?[0-9]{1,15}\.[0-9]{2}")  # as encode_cursor writes a balance
MAX_LIMIT = 200


@dataclass
class Page:
    """One page of a keyset-paged list."""

    items: list
    next_cursor: str | None


def _current_occupancy(today):
    """Occupancies in force today."""
    return (Occupancy.start_date <= today) & (
        (Occupancy.end_date.is_(None)) | (Occupancy.end_date >= today))


def wallet_ids_of(session, user: User) -> select:
    """A subquery of the wallet ids a resident may see (their units' wallets)."""
    today = utcnow().date()
    return (select(Wallet.id).join(Occupancy, Occupancy.unit_id == Wallet.unit_id)
            .where(Occupancy.person_id == user.person_id, _current_occupancy(today)))


def visible(session, user: User):
    """A condition limiting wallets to those `user` may see."""
    if user.is_staff:
        return True
    if user.person_id is None:
        return False
    return Wallet.id.in_(wallet_ids_of(session, user))


def get_wallet(session, user: User, wallet_id: int) -> Wallet:
    """The wallet, if `user` may see it; otherwise NotFound (never a hint that it exists)."""
    wallet = session.scalars(
        select(Wallet).options(joinedload(Wallet.unit).joinedload(Unit.estate))
        .where(Wallet.id == wallet_id, visible(session, user))
    ).first()
    if wallet is None:
        raise NotFound("No such wallet.")
    return wallet


def residents_of(session, wallet_ids: list[int]) -> dict[int, list[dict]]:
    """People living in each wallet's unit today: {wallet_id: [{id, name}]}."""
    result: dict[int, list[dict]] = {i: [] for i in wallet_ids}
    if not wallet_ids:
        return result
    today = utcnow().date()
    rows = session.execute(
        select(Wallet.id, Person.id, Person.first_name, Person.last_name, Occupancy.role,
               Occupancy.is_primary)
        .join(Occupancy, Occupancy.unit_id == Wallet.unit_id)
        .join(Person, Person.id == Occupancy.person_id)
        .where(Wallet.id.in_(wallet_ids), _current_occupancy(today))
        .order_by(Wallet.id, Occupancy.is_primary.desc(), Person.id)
    )
    for wallet_id, pid, first, last, role, primary in rows:
        result[wallet_id].append({"id": pid, "name": f"{first} {last}", "role": role,
                                  "primary": primary})
    return result


def encode_cursor(values: dict) -> str:
    """An opaque cursor for the next page."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict | None:
    """The values inside a cursor; ValidationFailed when it was tampered with.

    Checks every value that reaches SQL: a crafted cursor with an id beyond 32 bits, `true`,
    or a balance like "abc" used to answer 500.
    """
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, dict) or type(values.get("id")) is not int \
                or not 0 <= values["id"] <= MAX_ID:
            raise ValueError
        balance = values.get("balance", "0.00")
        if not isinstance(balance, str) or not _CURSOR_BALANCE.fullmatch(balance):
            raise ValueError
        return values
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed("Invalid cursor.", fields={"cursor": "Use the next_cursor "
                                                                    "of a previous page."}) from None


def parse_limit(value, default: int = 50) -> int:
    """A page size from 1 to MAX_LIMIT."""
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed("Invalid limit.", fields={"limit": f"Use 1 to {MAX_LIMIT}."})
    return limit


def prefix_range(expr, text: str):
    """`expr` starts with `text`, written as a range so an index on `expr` serves it
    (LIKE 'abc%' cannot use an expression index on SQLite; >= 'abc' AND < 'abd' can)."""
    return and_(expr >= text, expr < text[:-1] + chr(ord(text[-1]) + 1))


def _search_terms(session, q: str) -> tuple:
    """The three ways a wallet matches `q` (any case), as conditions: its unit's number, its
    unit's estate (the name starts with `q`), a resident's first, last or full name.

    The few estates are matched here, first: a condition on their ids lets PostgreSQL estimate
    the search (it has no statistics on lower(estates.name), guessed that an estate and all its
    units matched every search, and joined every wallet by hash even when nothing matched).
    """
    text_lower = q.lower()
    estate_ids = list(session.scalars(
        select(Estate.id).where(prefix_range(func.lower(Estate.name), text_lower))))
    # The space is written into the SQL, not bound, so the expression matches the index's.
    full_name = func.lower(Person.first_name + literal_column("' '") + Person.last_name)
    return (prefix_range(func.lower(Unit.number), text_lower),
            Unit.estate_id.in_(estate_ids) if estate_ids else false(),
            or_(prefix_range(func.lower(Person.first_name), text_lower),
                prefix_range(func.lower(Person.last_name), text_lower),
                prefix_range(full_name, text_lower)))


def search_condition(terms: tuple):
    """Wallets matching the search `terms` (of _search_terms), as the union of the matching
    units.

    The matching units come from indexed prefix lookups (lower-case expression indexes on
    units and people), so a search costs the size of its answer, not a pass over every wallet.
    """
    by_number, by_estate, by_person = terms
    return Wallet.unit_id.in_(union(
        select(Unit.id).where(by_number),
        select(Unit.id).where(by_estate),
        select(Occupancy.unit_id).join(Person, Person.id == Occupancy.person_id)
        .where(by_person)))


def search_match(terms: tuple):
    """The same match as search_condition, tested on one wallet of a query that joins its Unit:
    cheap per wallet, for walking wallets in page order (the cost of a page is then the number
    of wallets walked to fill it, whatever the size of the whole answer)."""
    by_number, by_estate, by_person = terms
    # A scalar subquery, not EXISTS: PostgreSQL may run an EXISTS under OR as a hashed subplan,
    # collecting every resident that matches first (what the walk avoids); this one it runs
    # per wallet, stopping at the first match, as SQLite does.
    resident = (select(Occupancy.id).join(Person, Person.id == Occupancy.person_id)
                .where(Occupancy.unit_id == Wallet.unit_id, by_person).limit(1))
    return or_(by_number, by_estate, resident.scalar_subquery().is_not(None))


# Searching a common name walks wallets in page order, testing each, and stops at a full page;
# a rare one collects its few matches through the indexes (search_condition). The walk costs a
# few microseconds a wallet, so it gives up after WALK_ROWS_PER_ITEM wallets per row of the
# page (fewer than 1% of the wallets walked match) and the union answers.
WALK_ROWS_PER_ITEM = 100


def _is_common(session, terms: tuple) -> bool:
    """True when the search `terms` match at least one wallet in WALK_ROWS_PER_ITEM (people,
    units and estate units counted, an estimate of the wallets), so a walk should fill a page
    within its budget. The count stops there: at 1M wallets it reads at most 10,000 index
    entries."""
    # The highest id stands in for the number of wallets: count(*) would read all of them.
    wallets = session.scalar(select(func.max(Wallet.id))) or 0
    needed = max(1, wallets // WALK_ROWS_PER_ITEM)
    by_number, by_estate, by_person = terms
    one = literal_column("1")
    candidates = union_all(
        select(one).select_from(Unit).where(by_number),
        select(one).select_from(Unit).where(by_estate),
        select(one).select_from(Person).where(by_person)).limit(needed).subquery()
    return session.scalar(select(func.count()).select_from(candidates)) >= needed


def _key_columns(sort: str) -> tuple:
    """The columns a sort orders by, the last one unique: its keyset key."""
    return (Wallet.id,) if sort == "id" else (Wallet.balance, Wallet.id)


def _keyset(sort: str, after: tuple | None, upto: tuple | None):
    """Rows after the key `after` (exclusive) and up to `upto` (inclusive), in `sort`'s order.

    A row-value comparison, (balance, id) > (:b, :id), lets SQLite and PostgreSQL seek in the
    (balance, id) index; the equivalent `balance > :b OR (balance = :b AND id > :id)` made
    SQLite scan that index from its start, so a deep page cost the rows before it.
    """
    columns = _key_columns(sort)
    single = len(columns) == 1
    key = columns[0] if single else tuple_(*columns)
    descending = sort.startswith("-")
    conditions = []
    if after is not None:
        value = after[0] if single else after
        conditions.append(key < value if descending else key > value)
    if upto is not None:
        value = upto[0] if single else upto
        conditions.append(key >= value if descending else key <= value)
    return and_(True, *conditions)


def _order_by(sort: str) -> list:
    """ORDER BY terms of a sort."""
    columns = _key_columns(sort)
    return [c.desc() for c in columns] if sort.startswith("-") else list(columns)


def _filtered(query, session, user: User, state: str | None, estate_id: int | None):
    """`query` (which joins Unit when `estate_id` is given) limited to the wallets `user` may
    see, in `state`, on estate `estate_id`."""
    query = query.where(visible(session, user))
    if state:
        query = query.where(Wallet.state == state)
    if estate_id:
        query = query.where(Unit.estate_id == estate_id)
    return query


def _walk_end(session, user: User, state, estate_id, sort: str, after: tuple | None,
              budget: int) -> tuple | None:
    """The key of the `budget`-th wallet after `after` in page order, or None when fewer
    remain: the end of the stretch a search walk may test. Reads only the key columns, which
    an index covers (the primary key, (balance, id) or the state indexes)."""
    query = select(*_key_columns(sort))
    if estate_id:
        query = query.join(Unit, Unit.id == Wallet.unit_id)
    query = _filtered(query, session, user, state, estate_id).where(_keyset(sort, after, None))
    row = session.execute(query.order_by(*_order_by(sort)).offset(budget - 1).limit(1)).first()
    return tuple(row) if row else None


def _page(session, user: User, state, estate_id, sort: str, limit: int, after: tuple | None,
          upto: tuple | None, match) -> list:
    """Up to limit + 1 wallets after `after` (and up to `upto`) matching `match`, in order."""
    query = (select(Wallet).join(Unit, Unit.id == Wallet.unit_id)
             .options(joinedload(Wallet.unit).joinedload(Unit.estate)))
    query = _filtered(query, session, user, state, estate_id)
    query = query.where(_keyset(sort, after, upto), match).order_by(*_order_by(sort))
    return list(session.scalars(query.limit(limit + 1)).unique())


def _search_page(session, user: User, state, estate_id, sort: str, limit: int,
                 after: tuple | None, q: str) -> list:
    """limit + 1 wallets of a search: by walking when `q` is common (and the walk fills the
    page within its budget), else through the indexed union; the same rows either way."""
    terms = _search_terms(session, q)
    if _is_common(session, terms):
        end = _walk_end(session, user, state, estate_id, sort, after,
                        WALK_ROWS_PER_ITEM * (limit + 1))
        rows = _page(session, user, state, estate_id, sort, limit, after, end,
                     search_match(terms))
        # A full page, or a walk that reached the last wallet, is the whole answer: the first
        # matches of a stretch that starts at the cursor are the first matches after it.
        if len(rows) > limit or end is None:
            return rows
    return _page(session, user, state, estate_id, sort, limit, after, None,
                 search_condition(terms))


def list_wallets(session, user: User, *, state: str | None = None, q: str | None = None,
                 estate_id: int | None = None, sort: str = "id", limit: int = 50,
                 cursor: str | None = None) -> Page:
    """A keyset-paged list of the wallets `user` may see, filtered and sorted."""
    if state and state not in WALLET_STATES:
        raise ValidationFailed("Invalid state.",
                               fields={"state": f"Use one of: {', '.join(WALLET_STATES)}."})
    if sort not in SORTS:
        raise ValidationFailed("Invalid sort.", fields={"sort": f"Use one of: {', '.join(SORTS)}."})
    q = (q or "").strip()[:100]
    values = decode_cursor(cursor)
    after = None
    if values:
        after = ((values["id"],) if sort == "id"
                 else (Decimal(str(values.get("balance", "0"))), values["id"]))
    if q:
        rows = _search_page(session, user, state, estate_id, sort, limit, after, q)
    else:
        rows = _page(session, user, state, estate_id, sort, limit, after, None, True)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor({"id": last.id, "balance": str(last.balance)})
    return Page(rows, next_cursor)


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
    days = _int_field(data, "low_balance_days", 1, 60, errors, wallet.low_balance_days)
    hours = _int_field(data, "alert_frequency_hours", 1, 720, errors,
                       wallet.alert_frequency_hours)
    unknown = set(data) - {"low_balance_threshold", "alert_mode", "low_balance_days",
                           "alert_frequency_hours"}
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
        session.execute(update(Wallet).where(Wallet.id == wallet_id).values(
            low_balance_threshold=settings.low_balance_threshold,
            alert_mode=settings.alert_mode, low_balance_days=settings.low_balance_days,
            alert_frequency_hours=settings.alert_frequency_hours, state=state, updated_at=now))
    session.refresh(wallet)
    return wallet
