"""Keyset paging of lists: opaque cursors and page sizes, checked before they reach SQL."""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from ..errors import ValidationFailed
from ..ids import MAX_ID

_CURSOR_BALANCE = re.compile(r"-?[0-9]{1,15}\.[0-9]{2}")  # as encode_cursor writes a balance
MAX_LIMIT = 200


@dataclass
class Page:
    """One page of a keyset-paged list."""

    items: list
    next_cursor: str | None


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
