"""Ids from URLs and forms: whole numbers that fit the database's 64-bit integers."""
from __future__ import annotations

#: Werkzeug route converter for ids: a larger number is a 404, not an overflow (a 500).
ID_CONVERTER = "int(max=9223372036854775807)"


def parse_id(value) -> int | None:
    """The id in `value`, or None for anything else ("", "²", "٣", 30 digits, "-1").

    str.isdigit() alone accepts superscripts and other scripts' digits, which int() then
    refuses or reads as a number nobody typed.
    """
    text = str(value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
