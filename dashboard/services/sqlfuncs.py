"""Small SQL constructs that differ between SQLite and PostgreSQL, compiled per dialect."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

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


def insert_ignore(session, table):
    """An INSERT that skips rows clashing with a unique constraint (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()
