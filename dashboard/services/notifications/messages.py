"""What each notification says: titles and messages in plain resident language, in rand."""
from __future__ import annotations

from decimal import Decimal

from ...models import UTILITY_UNITS
from ..money import format_rand

PRIORITIES = {
    "low_credit": "high",
    "critical_credit": "critical",
    "credit_depleted": "critical",
    "topup_success": "normal",
    "purchase_success": "normal",
    "high_usage": "high",
    "meter_silent": "high",  # operators only (services/scans/silent_meters.py)
    "operator_digest": "normal",  # operators only (services/scans/digests.py)
    "webhook_disabled": "high",  # operators only (services/webhooks/notices.py)
}
TYPES = tuple(PRIORITIES)
#: Types that concern the running of the estates, not a resident: no resident receives
#: them, even when they name a wallet (a silent meter's); operators see every notification.
OPERATOR_TYPES = ("meter_silent", "operator_digest", "webhook_disabled")
#: The types a resident may receive, and choose channels for.
RESIDENT_TYPES = tuple(t for t in TYPES if t not in OPERATOR_TYPES)
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
# {forecast} is FORECAST or FORECAST_FRIENDLY (with its leading space), or nothing when the
# wallet has no purchases to go by or more than forecast.QUOTE_DAYS of credit; times as
# forecast.when_text names them ("Sat 02:00").
LOW_CREDIT_TITLE = "Your credit is running low"
LOW_CREDIT = ("Unit {unit} has {balance} left, below your alert level of {threshold}.{forecast} "
              "Top up soon so your supply stays on.")
LOW_CREDIT_DAYS = ("Unit {unit} has {balance} left, about {days_left} days at your usual "
                   "spend.{forecast} Top up soon so your supply stays on.")
CRITICAL_CREDIT_TITLE = "Your credit is almost finished"
CRITICAL_CREDIT = ("Unit {unit} has only {balance} left.{forecast} Top up now so your "
                   "electricity and water are not cut off.")
FORECAST = " Your credit runs out around {runs_out}."
FORECAST_FRIENDLY = (" Your credit runs out around {runs_out}; friendly hours keep your supply "
                     "on until {supply_until}.")
# The balance has reached zero: the supply goes at once, unless friendly hours hold it.
CREDIT_DEPLETED_TITLE = "Your credit has run out"
CREDIT_DEPLETED = ("Unit {unit} has run out of credit.{supply} Top up now to keep your "
                   "electricity and water on.")
DEPLETED_FRIENDLY = " Friendly hours keep your supply on until {supply_until}."
DEPLETED_NOW = " Your supply can be cut off at any time."


def forecast_sentence(runs_out: str | None, supply_until: str | None = None) -> str:
    """The {forecast} of a credit alert: nothing without a run-out time, else when it runs
    out and, when friendly hours hold the supply past it, until when."""
    if runs_out is None:
        return ""
    if supply_until is None:
        return FORECAST.format(runs_out=runs_out)
    return FORECAST_FRIENDLY.format(runs_out=runs_out, supply_until=supply_until)


def depleted_sentence(supply_until: str | None) -> str:
    """The {supply} of credit_depleted: until when friendly hours hold the supply, or that
    it can go at any time."""
    if supply_until is None:
        return DEPLETED_NOW
    return DEPLETED_FRIENDLY.format(supply_until=supply_until)



def _count(n: int, one: str, many: str | None = None) -> str:
    """"1 wallet", "3 wallets"."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


METER_SILENT_TITLE = "A meter stopped reporting"


def meter_silent(unit: str, utility: str, serial: str, since: str, hours: int) -> str:
    """An operator's notice of a meter with no reading for the estate's silence limit."""
    name = UTILITY_NAMES.get(utility, utility)
    return (f"The {name} meter {serial} of unit {unit} has sent no reading since {since} "
            f"(more than {_count(hours, 'hour')}). Check its power and its connection.")


def operator_digest(estate: str, day: str, figures: dict) -> tuple[str, str]:
    """The operators' morning digest of one estate: its wallets in trouble, silent meters,
    high usage, and the money of the last 24 hours."""
    f = figures
    title = f"Morning digest for {estate}, {day}"
    message = (
        f"{_count(f['critical'], 'critical wallet')} ({f['critical_new']:,} new since the last "
        f"digest), {_count(f['low'], 'low wallet')} ({f['low_new']:,} new), "
        f"{_count(f['zero'], 'wallet')} with a zero balance. "
        f"{_count(f['silent_meters'], 'silent meter')}, "
        f"{_count(f['high_usage'], 'high-usage alert')} in the last 24 hours. "
        f"Last 24 hours: {_count(f['topups'], 'top-up')} for {format_rand(f['topup_total'])} "
        f"and {_count(f['purchases'], 'purchase')} for {format_rand(f['purchase_total'])}.")
    return title, message


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
