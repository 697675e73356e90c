"""Ids from URLs and forms: whole numbers that fit the database's id columns."""
from __future__ import annotations

#: The largest id: id columns are INTEGER, 32-bit on PostgreSQL (SQLite allows more).
MAX_ID = 2**31 - 1


def parse_id(value) -> int | None:
    """The id in `value`, or None for anything else ("", "²", "٣", beyond MAX_ID, "-1").

    str.isdigit() alone accepts superscripts and other scripts' digits, which int() then
    refuses or reads as a number nobody typed.
    """
    text = str(value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) <= MAX_ID:
        return int(text)
    return None
