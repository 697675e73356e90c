"""Column types: exact decimals stored as scaled integers.

SQLite has no exact decimal type (NUMERIC columns hold floats), and a float balance drifts a
cent at a time under many small purchases. Money is therefore stored as integer cents and
quantities (kWh, kL) as integer thousandths, on every database, and appear in Python as Decimal.
"""
from __future__ import annotations

import operator
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.types import TypeDecorator


class ScaledDecimal(TypeDecorator):
    """A Decimal with a fixed number of places, stored as an integer count of the smallest unit."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int):
        """`places` is the number of decimal places kept (2 for money, 3 for quantities)."""
        super().__init__()
        self.places = places
        self.factor = 10**places
        self.quantum = Decimal(1).scaleb(-places)

    def process_bind_param(self, value, dialect):
        """Decimal (or int/str) → integer of smallest units, rounding half up."""
        if value is None:
            return None
        scaled = (Decimal(value) * self.factor).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return int(scaled)

    def process_result_value(self, value, dialect):
        """Integer of smallest units (or a float from an SQL average) → Decimal."""
        if value is None:
            return None
        return (Decimal(value) / self.factor).quantize(self.quantum, rounding=ROUND_HALF_UP)

    @property
    def python_type(self):
        """Decimal, for introspection."""
        return Decimal

    def coerce_compared_value(self, op, value):
        """Scale amounts compared with a column (balance < 50) but not factors (balance * 5)."""
        if op in (operator.mul, operator.truediv, operator.floordiv, operator.mod):
            return BigInteger()
        return self


def Money() -> ScaledDecimal:  # noqa: N802 - reads like a type in column declarations
    """Rand amounts with two places, stored as cents."""
    return ScaledDecimal(2)


def Quantity() -> ScaledDecimal:  # noqa: N802
    """Meter quantities (kWh, kL) with three places, stored as thousandths."""
    return ScaledDecimal(3)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps timestamps as text without a zone; this makes every value UTC on the way in
    and aware on the way out, so comparisons in SQL and in Python agree on every database.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        """TIMESTAMP WITH TIME ZONE where the database has it."""
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    def process_result_value(self, value, dialect):
        """Always an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class EpochTime(TypeDecorator):
    """A UTC instant stored as whole seconds since 1970, returned as an aware datetime.

    For the friendly-hours calendar, which SQL compares and adds to in integer arithmetic:
    `now + seconds of credit left` and "the first span ending after it" must be the same
    number on SQLite (whose timestamps are text, where '…00.000' sorts before '…00.000000')
    and on PostgreSQL. Sub-second parts are dropped (floored).
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """A datetime (naive = UTC) or a number of seconds → whole seconds since 1970."""
        if value is None or isinstance(value, int):
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return epoch(value)

    def process_result_value(self, value, dialect):
        """Seconds since 1970 → an aware UTC datetime."""
        if value is None:
            return None
        return datetime.fromtimestamp(int(value), timezone.utc)

    def coerce_compared_value(self, op, value):
        """Plain numbers compared or added to the column stay numbers."""
        if isinstance(value, int):
            return BigInteger()
        return self

    @property
    def python_type(self):
        """datetime, for introspection."""
        return datetime


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch(value: datetime) -> int:
    """Whole seconds since 1970 of an aware datetime (floored, as EpochTime stores it)."""
    return (value - EPOCH) // timedelta(seconds=1)
