"""Parsing and showing money: Decimal with two places, in rand."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import ValidationFailed

MAX_AMOUNT = Decimal("100000.00")  # one transaction; larger needs an operator's manual entry
# ASCII digits only: `\d` also matches Arabic-Indic and full-width digits, which Decimal()
# accepts, so "١٢" was taken as R 12.00.
_AMOUNT_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


def parse_amount(value, field: str = "amount", *, allow_zero: bool = False,
                 maximum: Decimal = MAX_AMOUNT) -> Decimal:
    """A positive rand amount from a JSON string or number, or ValidationFailed for `field`.

    Accepts "49.50", "49", 49.5; refuses negatives, NaN, infinities, exponents, "12,50",
    three decimals and anything that is not a number, so nothing is silently rounded.
    """
    if isinstance(value, bool) or value is None:
        raise ValidationFailed(f"Enter the {field.replace('_', ' ')}.",
                               fields={field: "Enter an amount in rand, like 49.50."})
    if isinstance(value, float):
        text = repr(value)  # 1e309 -> "inf", nan -> "nan": both fail the pattern below
    elif isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.",
                               fields={field: "Enter an amount in rand, like 49.50."})
    if not _AMOUNT_RE.match(text):
        if re.match(r"^[0-9]+\.[0-9]{3,}$", text):
            message = "Use at most two decimal places (cents)."
        elif text.startswith("-"):
            message = "The amount must be more than zero."
        else:
            message = "Enter an amount in rand, like 49.50."
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.", fields={field: message})
    try:
        amount = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:  # pragma: no cover - the pattern already rules this out
        raise ValidationFailed("Invalid amount.",
                               fields={field: "Enter an amount in rand."}) from None
    if amount == 0 and not allow_zero:
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.",
                               fields={field: "The amount must be more than zero."})
    if amount > maximum:
        raise ValidationFailed(f"Invalid {field.replace('_', ' ')}.",
                               fields={field: f"The most allowed is {format_rand(maximum)}."})
    return amount


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
