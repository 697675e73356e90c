"""Small SQL constructs that differ between SQLite and PostgreSQL, compiled per dialect."""
from __future__ import annotations

import re
from string import Formatter

from sqlalchemy import cast, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.selectable import Join
from sqlalchemy.types import JSON, Float, String

from ..models.types import UTCDateTime


class add_hours(FunctionElement):  # noqa: N801 - used like an SQL function
    """`timestamp + hours` where hours is a column or expression."""

    type = UTCDateTime()
    inherit_cache = True
    name = "add_hours"


@compiles(add_hours, "sqlite")
def _add_hours_sqlite(element, compiler, **kw):
    """SQLite keeps timestamps as ISO text; strftime keeps the same sortable layout."""
    ts, hours = list(element.clauses)
    return (f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(ts, **kw)}, "
            f"'+' || ({compiler.process(hours, **kw)}) || ' hours')")


@compiles(add_hours, "postgresql")
def _add_hours_pg(element, compiler, **kw):
    """PostgreSQL: interval arithmetic."""
    ts, hours = list(element.clauses)
    return f"({compiler.process(ts, **kw)} + ({compiler.process(hours, **kw)}) * interval '1 hour')"


class epoch_seconds(FunctionElement):  # noqa: N801
    """Seconds since 1970 of a timestamp, as a float."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    """julianday counts days from noon 4714 BC; 2440587.5 is 1970-01-01."""
    (ts,) = list(element.clauses)
    return f"((julianday({compiler.process(ts, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element, compiler, **kw):
    """PostgreSQL: extract(epoch)."""
    (ts,) = list(element.clauses)
    return f"extract(epoch from {compiler.process(ts, **kw)})"


class _InOrder(Join):
    """An inner JOIN that SQLite must loop over left to right (see `joined_in_order`)."""

    inherit_cache = True


@compiles(_InOrder)
def _in_order_default(join, compiler, **kw):
    """PostgreSQL and the rest: a plain JOIN (their planners have fresh statistics)."""
    return compiler.visit_join(join, **kw)


@compiles(_InOrder, "sqlite")
def _in_order_sqlite(join, compiler, asfrom=False, from_linter=None, **kw):
    """SQLite: `CROSS JOIN … ON`, which its planner never reorders (visit_join's text
    otherwise, the linter's edges included)."""
    if from_linter:
        from_linter.edges.update((_original(left), _original(right))
                                 for left in join.left._from_objects
                                 for right in join.right._from_objects)
    return (join.left._compiler_dispatch(compiler, asfrom=True, from_linter=from_linter, **kw)
            + " CROSS JOIN "
            + join.right._compiler_dispatch(compiler, asfrom=True, from_linter=from_linter,
                                            **kw)
            + " ON " + join.onclause._compiler_dispatch(compiler, from_linter=from_linter, **kw))


def _original(element):
    """The element a clone was made from (what the cartesian-product linter compares)."""
    while element._is_clone_of is not None:
        element = element._is_clone_of
    return element


def joined_in_order(first, *steps):
    """`first JOIN t1 ON c1 JOIN t2 ON c2 …` for steps of (table, condition), looped over in
    that order on SQLite too.

    SQLite's planner picks the outer table from its statistics, and stale ones flip a plan
    from an index range to a full scan: the deliveries of one new notification scanned every
    user (bench/RESULTS.md, round 3, and round 1's hot spot 4) when `sqlite_stat1` was taken
    while `notifications` was empty. A CROSS JOIN keeps the order written, so a statement
    driven by a small id range stays driven by it, whatever the statistics say.
    """
    joined = first
    for table, condition in steps:
        joined = _InOrder(joined, table, condition)
    return joined


def insert_ignore(session, table):
    """An INSERT that skips rows clashing with a unique constraint (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


class rand_text(FunctionElement):  # noqa: N801
    """An amount in cents shown as money.format_rand does: `R 1,234.50`, `-R 12.00`."""

    type = String()
    inherit_cache = True
    name = "rand_text"


@compiles(rand_text, "sqlite")
def _rand_text_sqlite(element, compiler, **kw):
    """printf's `,` flag groups thousands (SQLite 3.38 and later)."""
    (cents,) = [compiler.process(c, **kw) for c in element.clauses]
    return (f"(CASE WHEN {cents} < 0 THEN '-' ELSE '' END || 'R ' || "
            f"printf('%,d', abs({cents}) / 100) || '.' || printf('%02d', abs({cents}) % 100))")


@compiles(rand_text, "postgresql")
def _rand_text_pg(element, compiler, **kw):
    """to_char groups thousands with a literal comma (not the locale's separator). mod(), not
    `%`, which psycopg's parameter style would take for a placeholder."""
    (cents,) = [compiler.process(c, **kw) for c in element.clauses]
    return (f"(CASE WHEN {cents} < 0 THEN '-' ELSE '' END || 'R ' || "
            f"to_char(abs({cents}) / 100, 'FM999,999,999,999,990') || '.' || "
            f"lpad(CAST(mod(abs({cents}), 100) AS TEXT), 2, '0'))")


class money_text(FunctionElement):  # noqa: N801
    """An amount in cents as the API's money string, money.money_str: `1234.50`, `-0.05`."""

    type = String()
    inherit_cache = True
    name = "money_text"


@compiles(money_text, "sqlite")
def _money_text_sqlite(element, compiler, **kw):
    """Integer division and remainder of the absolute value, so -5 cents is `-0.05`."""
    (cents,) = [compiler.process(c, **kw) for c in element.clauses]
    return (f"(CASE WHEN {cents} < 0 THEN '-' ELSE '' END || (abs({cents}) / 100) || '.' || "
            f"printf('%02d', abs({cents}) % 100))")


@compiles(money_text, "postgresql")
def _money_text_pg(element, compiler, **kw):
    """The same on PostgreSQL, with explicit casts to text."""
    (cents,) = [compiler.process(c, **kw) for c in element.clauses]
    return (f"(CASE WHEN {cents} < 0 THEN '-' ELSE '' END || CAST(abs({cents}) / 100 AS TEXT) "
            f"|| '.' || lpad(CAST(mod(abs({cents}), 100) AS TEXT), 2, '0'))")


class json_object(FunctionElement):  # noqa: N801
    """A JSON object from alternating constant keys and SQL values.

    Keys are rendered inline (they are identifiers of ours, checked below); give bound values
    an explicit CAST, because PostgreSQL cannot type a parameter of json_build_object.
    """

    type = JSON()
    inherit_cache = True
    name = "json_object"


def _json_pairs(element, compiler, **kw) -> str:
    """`'key', value, ...` with each key checked to be a plain identifier."""
    parts = list(element.clauses)
    out = []
    for key, value in zip(parts[::2], parts[1::2], strict=True):
        name = key.value
        if not re.fullmatch(r"[a-z_]+", name):
            raise ValueError(f"json_object key {name!r} is not a plain identifier")
        out.append(f"'{name}', {compiler.process(value, **kw)}")
    return ", ".join(out)


@compiles(json_object, "sqlite")
def _json_object_sqlite(element, compiler, **kw):
    """SQLite's JSON1 (built in since 3.38)."""
    return f"json_object({_json_pairs(element, compiler, **kw)})"


@compiles(json_object, "postgresql")
def _json_object_pg(element, compiler, **kw):
    """PostgreSQL's json_build_object keeps the keys in the order given."""
    return f"json_build_object({_json_pairs(element, compiler, **kw)})"


def text_sql(value) -> ColumnElement:
    """A bound string typed as text on every database (`'x' || col` needs a known type)."""
    return cast(literal(value), String)


def format_sql(template: str, **values) -> ColumnElement:
    """The SQL counterpart of `template.format(**values)`: constant text and SQL values joined
    with `||`, so a message has one wording whether Python or the database renders it."""
    parts: list[ColumnElement] = []
    for text, field, spec, conversion in Formatter().parse(template):
        if text:
            parts.append(text_sql(text))
        if field is not None:
            if spec or conversion:
                raise ValueError(f"format_sql supports plain {{name}} fields only: {template!r}")
            parts.append(cast(values[field], String))
    result = parts[0]
    for part in parts[1:]:
        result = result + part
    return result


class clock_text(FunctionElement):  # noqa: N801
    """The clock of a local time, from its seconds since 1970 (local): "02:00", to the
    minute (forecast.words.clock)."""

    type = String()
    inherit_cache = True
    name = "clock_text"


@compiles(clock_text, "sqlite")
def _clock_text_sqlite(element, compiler, **kw):
    """printf of the hour and minute (cheaper than strftime, which parses its format)."""
    (at,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"printf('%02d:%02d', (({at}) % 86400) / 3600, (({at}) % 3600) / 60)"


@compiles(clock_text, "postgresql")
def _clock_text_pg(element, compiler, **kw):
    """lpad of the hour and minute; mod(), not `%`, which psycopg would read as a
    placeholder."""
    (at,) = (compiler.process(c, **kw) for c in element.clauses)
    return (f"(lpad(CAST(mod(({at}), 86400) / 3600 AS TEXT), 2, '0') || ':' || "
            f"lpad(CAST(mod(({at}), 3600) / 60 AS TEXT), 2, '0'))")
