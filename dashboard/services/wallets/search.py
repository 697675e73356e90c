"""The wallet list: filters, search by unit number or resident name, keyset pages.

"Cuts out soonest" (sort `runs_out`) orders by the stored credit_seconds (services/forecast):
at one moment every wallet's run-out is now plus those seconds, and the supply's end never
comes before a run-out that comes before it, so that order is the order of both, and it
pages through its index (credit_seconds, id) like any other sort. Wallets without a forecast
(no purchases in 30 days) come after all the others, by id: the cursor says which part of
the list a page ended in.
"""
from __future__ import annotations

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
)
from sqlalchemy.orm import joinedload

from ...models import WALLET_STATES, Estate, Meter, Occupancy, Person, Unit, User, Wallet
from ..errors import ValidationFailed
from ..money import money_str
from .access import visible
from .paging import Page, decode_cursor, encode_cursor
from .silence import silent_meters

SORTS = ("id", "balance", "-balance", "runs_out")
#: Extra filters: wallets at zero, wallets with a silent meter (the operators' digest links).
FLAGS = ("zero", "silent")
SEARCH_LENGTH = 100  # characters of a search that are used; the rest is ignored


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


def _filtered(query, session, user: User, state: str | None, estate_id: int | None,
              flag: str | None = None):
    """`query` (which joins Unit when `estate_id` is given) limited to the wallets `user` may
    see, in `state`, on estate `estate_id`, with `flag` (FLAGS)."""
    query = query.where(visible(session, user))
    if state:
        query = query.where(Wallet.state == state)
    if estate_id:
        query = query.where(Unit.estate_id == estate_id)
    if flag == "zero":
        query = query.where(Wallet.balance <= 0)
    elif flag == "silent":
        # Few meters are silent: their partial index (ix_meters_silent_unit) gives the units.
        query = query.where(Wallet.unit_id.in_(select(Meter.unit_id).where(silent_meters())))
    return query


def _walk_end(session, user: User, state, estate_id, sort: str, after: tuple | None,
              budget: int, flag: str | None = None) -> tuple | None:
    """The key of the `budget`-th wallet after `after` in page order, or None when fewer
    remain: the end of the stretch a search walk may test. Reads only the key columns, which
    an index covers (the primary key, (balance, id) or the state indexes)."""
    query = select(*_key_columns(sort))
    if estate_id:
        query = query.join(Unit, Unit.id == Wallet.unit_id)
    query = _filtered(query, session, user, state, estate_id, flag).where(
        _keyset(sort, after, None))
    row = session.execute(query.order_by(*_order_by(sort)).offset(budget - 1).limit(1)).first()
    return tuple(row) if row else None


def _page(session, user: User, state, estate_id, sort: str, limit: int, after: tuple | None,
          upto: tuple | None, match, flag: str | None = None) -> list:
    """Up to limit + 1 wallets after `after` (and up to `upto`) matching `match`, in order."""
    query = (select(Wallet).join(Unit, Unit.id == Wallet.unit_id)
             .options(joinedload(Wallet.unit).joinedload(Unit.estate)))
    query = _filtered(query, session, user, state, estate_id, flag)
    query = query.where(_keyset(sort, after, upto), match).order_by(*_order_by(sort))
    return list(session.scalars(query.limit(limit + 1)).unique())


def _runs_out_page(session, user: User, state, estate_id, flag, limit: int,
                   after: tuple | None, match) -> list:
    """limit + 1 wallets "cutting out soonest" after `after` ((credit_seconds, id), the
    seconds None among the wallets without a forecast): those with a forecast by
    (credit_seconds, id), then the others by id."""
    query = (select(Wallet).join(Unit, Unit.id == Wallet.unit_id)
             .options(joinedload(Wallet.unit).joinedload(Unit.estate)))
    query = _filtered(query, session, user, state, estate_id, flag).where(match)
    rows: list = []
    if after is None or after[0] is not None:
        ranked = query.where(Wallet.credit_seconds.is_not(None))
        if after is not None:
            ranked = ranked.where(tuple_(Wallet.credit_seconds, Wallet.id) > after)
        rows = list(session.scalars(ranked.order_by(Wallet.credit_seconds, Wallet.id)
                                    .limit(limit + 1)).unique())
    if len(rows) <= limit:
        rest = query.where(Wallet.credit_seconds.is_(None))
        if after is not None and after[0] is None:
            rest = rest.where(Wallet.id > after[1])
        rows += session.scalars(rest.order_by(Wallet.id).limit(limit + 1 - len(rows))).unique()
    return rows


def _search_page(session, user: User, state, estate_id, sort: str, limit: int,
                 after: tuple | None, q: str, flag: str | None = None) -> list:
    """limit + 1 wallets of a search: by walking when `q` is common (and the walk fills the
    page within its budget), else through the indexed union; the same rows either way."""
    terms = _search_terms(session, q)
    if _is_common(session, terms):
        end = _walk_end(session, user, state, estate_id, sort, after,
                        WALK_ROWS_PER_ITEM * (limit + 1), flag)
        rows = _page(session, user, state, estate_id, sort, limit, after, end,
                     search_match(terms), flag)
        # A full page, or a walk that reached the last wallet, is the whole answer: the first
        # matches of a stretch that starts at the cursor are the first matches after it.
        if len(rows) > limit or end is None:
            return rows
    return _page(session, user, state, estate_id, sort, limit, after, None,
                 search_condition(terms), flag)


def list_wallets(session, user: User, *, state: str | None = None, q: str | None = None,
                 estate_id: int | None = None, sort: str = "id", limit: int = 50,
                 cursor: str | None = None, flag: str | None = None) -> Page:
    """A keyset-paged list of the wallets `user` may see, filtered and sorted."""
    if state and state not in WALLET_STATES:
        raise ValidationFailed("Invalid state.",
                               fields={"state": f"Use one of: {', '.join(WALLET_STATES)}."})
    if sort not in SORTS:
        raise ValidationFailed("Invalid sort.", fields={"sort": f"Use one of: {', '.join(SORTS)}."})
    if flag and flag not in FLAGS:
        raise ValidationFailed("Invalid filter.",
                               fields={"flag": f"Use one of: {', '.join(FLAGS)}."})
    q = (q or "").strip()[:SEARCH_LENGTH]
    after = _after(sort, decode_cursor(cursor))
    if sort == "runs_out":
        # Searches take the indexed union here: the walk's stretch is one index's order.
        match = search_condition(_search_terms(session, q)) if q else True
        rows = _runs_out_page(session, user, state, estate_id, flag, limit, after, match)
    elif q or flag:
        rows = (_search_page(session, user, state, estate_id, sort, limit, after, q, flag) if q
                else _page(session, user, state, estate_id, sort, limit, after, None, True, flag))
    else:
        rows = _page(session, user, state, estate_id, sort, limit, after, None, True)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(_cursor_of(sort, rows[-1]))
    return Page(rows, next_cursor)


def _after(sort: str, values: dict | None) -> tuple | None:
    """The keyset key a cursor names for `sort`."""
    if not values:
        return None
    if sort == "runs_out":
        # A cursor of another sort carries no seconds: read as 0, as a balance sort reads an
        # id cursor's missing balance.
        return (values.get("credit", 0), values["id"])
    if sort == "id":
        return (values["id"],)
    return (Decimal(str(values.get("balance", "0"))), values["id"])


def _cursor_of(sort: str, wallet: Wallet) -> dict:
    """The values of the cursor after `wallet` in `sort`'s order."""
    if sort == "id":
        return {"id": wallet.id}
    if sort == "runs_out":
        return {"id": wallet.id, "credit": wallet.credit_seconds}
    return {"id": wallet.id, "balance": money_str(wallet.balance)}
