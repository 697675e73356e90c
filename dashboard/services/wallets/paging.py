"""Keyset paging of lists: cursors and page sizes, checked before they reach SQL.

A cursor names the last row of the previous page: its id ("1234"), for lists sorted by
balance the balance first ("49.50_1234"), for "cuts out soonest" the seconds of credit
("c86400_1234", or "c_1234" among the wallets without a forecast, which come last). Every
form is plain text the API's document can state exactly (CURSOR_PATTERN, ID_PATTERN), and
every value is checked before it reaches SQL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ValidationFailed
from ..ids import ID_PATTERN, parse_id

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
#: A balance as encode_cursor writes one (a wallet's balance may be negative in the data).
CURSOR_BALANCE_PATTERN = r"-?[0-9]{1,15}\.[0-9]{2}"
#: Seconds of credit as encode_cursor writes them ("c" alone: none).
CURSOR_CREDIT_PATTERN = r"c[0-9]{0,12}"
#: Every cursor decode_cursor accepts.
CURSOR_PATTERN = (f"^(?:(?:{CURSOR_BALANCE_PATTERN}|{CURSOR_CREDIT_PATTERN})_)?"
                  f"(?:{ID_PATTERN})$")
_CURSOR_RE = re.compile(f"(?:(?:({CURSOR_BALANCE_PATTERN})|({CURSOR_CREDIT_PATTERN}))_)?"
                        f"({ID_PATTERN})")
_INVALID_CURSOR = {"cursor": "Use the next_cursor of a previous page."}


@dataclass
class Page:
    """One page of a keyset-paged list."""

    items: list
    next_cursor: str | None


def encode_cursor(values: dict) -> str:
    """The cursor of a row: {"id"}, {"id", "balance"} (a balance as text, "49.50") or
    {"id", "credit"} (seconds of credit, None for a wallet without a forecast)."""
    if "credit" in values:
        credit = values["credit"]
        return f"c{'' if credit is None else credit}_{values['id']}"
    if values.get("balance") is None:
        return str(values["id"])
    return f"{values['balance']}_{values['id']}"


def decode_cursor(cursor: str | None) -> dict | None:
    """The values of a cursor ({"id"}, and "balance" or "credit" when it has one);
    ValidationFailed for anything encode_cursor does not write (a crafted id beyond 32 bits,
    a balance "abc")."""
    if not cursor:
        return None
    match = _CURSOR_RE.fullmatch(cursor) if isinstance(cursor, str) else None
    if match is None:
        raise ValidationFailed("Invalid cursor.", fields=_INVALID_CURSOR)
    values: dict = {"id": int(match.group(3))}
    if match.group(1) is not None:
        values["balance"] = match.group(1)
    if match.group(2) is not None:
        values["credit"] = int(match.group(2)[1:]) if len(match.group(2)) > 1 else None
    return values


def parse_cursor_id(value) -> int | None:
    """An id cursor (the last id of the previous page: 1 to MAX_ID); None when absent."""
    if value in (None, ""):
        return None
    number = parse_id(value)
    if number is None or number < 1:
        raise ValidationFailed("Invalid cursor.", fields=_INVALID_CURSOR)
    return number


def parse_limit(value, default: int = DEFAULT_LIMIT) -> int:
    """A page size from 1 to MAX_LIMIT, in ASCII digits ("٥" and "5_0" are not sizes)."""
    if value in (None, ""):
        return default
    limit = parse_id(value)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed("Invalid limit.", fields={"limit": f"Use 1 to {MAX_LIMIT}."})
    return limit
