"""Regular expressions for bounded numbers, shared by the parsers and the API's document.

A parser that checks "a whole number up to N" with a pattern, and the OpenAPI document that
quotes the same pattern, cannot disagree about which texts are numbers in range.
"""
from __future__ import annotations

#: Whitespace the parsers allow around a number typed into a form or sent in JSON: ASCII only,
#: so the pattern means the same to Python's `re` and to an ECMAScript validator.
SPACE = r"[ \t\r\n]*"


def upto(n: int) -> str:
    """A regex (no anchors, no capturing groups) matching the whole numbers 1..n written
    without leading zeros, e.g. upto(250) = "[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|250"."""
    if n < 1:
        raise ValueError("upto needs n >= 1")
    digits = str(n)
    if set(digits) == {"9"}:  # 9, 99, 999...: every number of up to that many digits
        return "[1-9]" + (f"[0-9]{{0,{len(digits) - 1}}}" if len(digits) > 1 else "")
    parts = []
    if len(digits) > 1:  # the shorter numbers
        parts.append("[1-9]" + (f"[0-9]{{0,{len(digits) - 2}}}" if len(digits) > 2 else ""))
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        high = int(digit) - 1
        if high >= low:  # same prefix, a smaller digit here, anything after
            rest = len(digits) - i - 1
            parts.append(digits[:i] + _digit_range(low, high)
                         + (f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]" if rest == 1 else ""))
    parts.append(digits)
    return "|".join(parts)


def _digit_range(low: int, high: int) -> str:
    """One digit from low to high as a character class (or the digit itself)."""
    return str(low) if low == high else f"[{low}-{high}]"
