"""Ids from URLs and forms: whole numbers that fit the database's id columns."""
from __future__ import annotations

from .patterns import upto

#: The largest id: id columns are INTEGER, 32-bit on PostgreSQL (SQLite allows more).
MAX_ID = 2**31 - 1
#: ASCII digits naming a whole number from 0 to MAX_ID (leading zeros allowed), as a regex.
#: The route converter matches ids with it, so a larger id matches no route at all: a 404 for
#: every method. (Werkzeug's `int(max=...)` matched the digits and refused the value after
#: choosing the route, which made PATCH /wallets/2147483648 a 405, and `\d` let "١٢" in.)
ID_PATTERN = f"0*(?:{upto(MAX_ID)})|0+"


def parse_id(value) -> int | None:
    """The id in `value`, or None for anything else ("", "²", "٣", beyond MAX_ID, "-1").

    str.isdigit() alone accepts superscripts and other scripts' digits, which int() then
    refuses or reads as a number nobody typed.
    """
    text = str(value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) <= MAX_ID:
        return int(text)
    return None
