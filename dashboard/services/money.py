"""Parsing and showing money: Decimal with two places, in rand."""
from __future__ import annotations

import re
from decimal import Decimal

from .errors import ValidationFailed
from .patterns import SPACE

MAX_AMOUNT = Decimal("100000.00")  # one transaction; larger needs an operator's manual entry
AMOUNT_DIGITS = 9  # whole-rand digits an amount may be written with (leading zeros count)
# ASCII digits only: `\d` also matches Arabic-Indic and full-width digits, which Decimal()
# accepts, so "١٢" was taken as R 12.00.
_AMOUNT_RE = re.compile(f"{SPACE}([0-9]{{1,{AMOUNT_DIGITS}}}(?:\\.[0-9]{{1,2}})?){SPACE}")


def amount_pattern(*, allow_zero: bool = False, maximum: Decimal = MAX_AMOUNT) -> str:
    """The regex (anchored) of the texts parse_amount accepts with these settings: the API's
    document quotes it, so the document and the parser agree on every amount.

    Up to AMOUNT_DIGITS whole digits (leading zeros allowed) and two decimals, surrounding
    ASCII whitespace allowed, above zero (or zero) and at most `maximum`, which must be a
    power of ten in rand (R 100,000.00).
    """
    top = str(int(maximum))
    if maximum != int(maximum) or top.rstrip("0") != "1" or len(top) > AMOUNT_DIGITS:
        raise ValueError("amount_pattern needs a maximum of R 10, R 100, R 1,000...")
    d, cents = AMOUNT_DIGITS, "(?:\\.[0-9]{1,2})?"
    parts = [f"0{{0,{d - len(top)}}}{top}(?:\\.0{{1,2}})?"]  # the maximum, without cents
    for width in range(1, len(top)):  # 1 to just under the maximum, by significant digits
        parts.append(f"0{{0,{d - width}}}[1-9]" + (f"[0-9]{{{width - 1}}}" if width > 1 else "")
                     + cents)
    parts.append(f"0{{1,{d}}}\\.(?:0[1-9]|[1-9][0-9]?)")  # under R 1, above zero
    if allow_zero:
        parts.append(f"0{{1,{d}}}(?:\\.0{{1,2}})?")
    return f"^{SPACE}(?:{'|'.join(parts)}){SPACE}$"


#: A positive amount up to MAX_AMOUNT (top-ups, purchases), and one that may be zero
#: (alert thresholds: zero turns alerts off).
AMOUNT_PATTERN = amount_pattern()
AMOUNT_OR_ZERO_PATTERN = amount_pattern(allow_zero=True)
#: Amounts in the API's answers, as money_str writes them.
MONEY_OUT_PATTERN = "^-?[0-9]+\\.[0-9]{2}$"


def parse_amount(value, field: str = "amount", *, allow_zero: bool = False,
                 maximum: Decimal = MAX_AMOUNT) -> Decimal:
    """A positive rand amount from text (a form, the API's JSON strings) or a number (callers
    in code), or ValidationFailed for `field`.

    Accepts "49.50", "49", " 049.5 ", 49.5 (text matching amount_pattern); refuses
    negatives, NaN, infinities, exponents, "12,50", three decimals and anything that is not
    a number, so nothing is silently rounded.
    """
    if isinstance(value, bool) or value is None:
        raise ValidationFailed(f"Enter the {field.replace('_', ' ')}.",
                               fields={field: "Enter an amount in rand, like 49.50."})
    if isinstance(value, float):
        text = repr(value)  # 1e309 -> "inf", nan -> "nan": both fail the pattern below
    elif isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.",
                               fields={field: "Enter an amount in rand, like 49.50."})
    match = _AMOUNT_RE.fullmatch(text)
    if not match:
        text = text.strip(" \t\r\n")
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
            message = "Use at most two decimal places (cents)."
        elif text.startswith("-"):
            message = "The amount must be more than zero."
        else:
            message = "Enter an amount in rand, like 49.50."
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.", fields={field: message})
    amount = Decimal(match.group(1))  # exact: compared before any rounding to cents
    if amount == 0 and not allow_zero:
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.",
                               fields={field: "The amount must be more than zero."})
    if amount > maximum:
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.",
                               fields={field: f"The most allowed is {format_rand(maximum)}."})
    return amount.quantize(Decimal("0.01"))


def format_rand(amount: Decimal | int | float | str | None) -> str:
    """`R 1,234.50`; negative amounts as `-R 12.00`."""
    if amount is None:
        return "—"
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    return f"{sign}R {abs(value):,.2f}"


def money_str(amount: Decimal | None) -> str | None:
    """An amount as the JSON string of the API ("49.50")."""
    return None if amount is None else f"{Decimal(amount).quantize(Decimal('0.01')):.2f}"
