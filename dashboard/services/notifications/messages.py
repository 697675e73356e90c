"""What each notification says: titles and messages in plain resident language, in rand."""
from __future__ import annotations

from decimal import Decimal

from ...models import UTILITY_UNITS
from ..money import format_rand

PRIORITIES = {
    "low_credit": "high",
    "critical_credit": "critical",
    "topup_success": "normal",
    "purchase_success": "normal",
    "high_usage": "high",
    "webhook_disabled": "high",  # operators only (services/webhooks/notices.py)
}
TYPES = tuple(PRIORITIES)
PRIORITY_LEVELS = ("normal", "high", "critical")  # lowest first
UTILITY_NAMES = {"electricity": "electricity", "water": "water", "solar": "solar power",
                 "hot_water": "hot water"}


def format_quantity(value: Decimal) -> str:
    """A quantity without trailing zeros: 62.5, 12.125, 3."""
    text = f"{Decimal(value):,.3f}".rstrip("0").rstrip(".")
    return text or "0"


# Credit alerts are written in SQL, a whole chunk of wallets per statement
# (credit_alerts.insert_alerts renders these templates with sqlfuncs.format_sql). Amounts
# read as `format_rand` gives them, days left with one decimal (wallet_state.days_left).
LOW_CREDIT_TITLE = "Your credit is running low"
LOW_CREDIT = ("Unit {unit} has {balance} left, below your alert level of {threshold}. "
              "Top up soon so your supply stays on.")
LOW_CREDIT_DAYS = ("Unit {unit} has {balance} left, about {days_left} days at your usual spend. "
                   "Top up soon so your supply stays on.")
CRITICAL_CREDIT_TITLE = "Your credit is almost finished"
CRITICAL_CREDIT = ("Unit {unit} has only {balance} left. Top up now so your electricity and "
                   "water are not cut off.")



def topup_success(unit: str, amount: Decimal, balance_after: Decimal):
    """A completed top-up."""
    return ("Top-up received",
            f"{format_rand(amount)} was added to the wallet of unit {unit}. "
            f"Your balance is now {format_rand(balance_after)}.")


def purchase_success(unit: str, utility: str, amount: Decimal, units: Decimal,
                     balance_after: Decimal):
    """A completed utility purchase, with the units it bought."""
    name = UTILITY_NAMES.get(utility, utility)
    bought = f"{format_quantity(units)} {UTILITY_UNITS[utility]}"
    return (f"{name.capitalize()} bought",
            f"You bought {bought} of {name} for unit {unit}, costing {format_rand(amount)}. "
            f"Your wallet balance is now {format_rand(balance_after)}.")


def high_usage(unit: str, utility: str, last_24h: Decimal, daily_average: Decimal):
    """A meter used much more than usual in the last day."""
    name = UTILITY_NAMES.get(utility, utility)
    unit_name = UTILITY_UNITS[utility]
    percent = int(((last_24h / daily_average) - 1) * 100) if daily_average > 0 else 0
    used = f"{format_quantity(last_24h)} {unit_name}"
    usual = f"{format_quantity(daily_average)} {unit_name}"
    return (f"High {name} use",
            f"Unit {unit} used {used} of {name} in the last 24 hours, {percent}% more than its "
            f"daily average of {usual}. Check for a geyser, leak or appliance left on.")
