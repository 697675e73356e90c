"""What an email and an SMS say, from the notification the in-app feed shows.

The email is the in-app notification itself (its title as subject, its message, written by
services/notifications/messages.py's templates) with the figures it quotes and a link to the
resident's page under PUBLIC_URL; Apprise sends it as HTML with a plain-text part made from
the same HTML. An SMS is one segment: at most 160 GSM-7 characters (no emoji, nothing that
would switch the phone to UCS-2 and 70 characters), with the amount and what to do; the
unit's label is shortened until it fits.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape

from ...models import UTILITY_UNITS
from ..money import format_rand
from ..notifications.messages import UTILITY_NAMES, format_quantity

SMS_LIMIT = 160
BRAND = "Quantify"
# GSM 03.38: the basic set (one septet each) and the extension table (an escape plus one).
GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = "^{}\\[~]|€"
_GSM7 = set(GSM7_BASIC)
# What people and databases write that GSM-7 lacks, as the nearest GSM-7 text.
_PLAIN = {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "\t": " ",
          "\u00a0": " ", "á": "a", "â": "a", "ã": "a", "ê": "e", "ë": "e", "í": "i", "î": "i",
          "ï": "i", "ó": "o", "ô": "o", "õ": "o", "ú": "u", "û": "u", "ç": "c", "`": "'"}


def gsm7(text: str) -> str:
    """`text` in the GSM-7 alphabet: look-alikes replaced, anything else (emoji) dropped."""
    out = []
    for char in text:
        char = _PLAIN.get(char, char)
        if all(c in _GSM7 or c in GSM7_EXTENDED for c in char):
            out.append(char)
    return "".join(out)


def gsm7_length(text: str) -> int:
    """Septets `text` takes (extension characters take two); text must be GSM-7."""
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


def is_one_segment(text: str) -> bool:
    """True when `text` is GSM-7 and fits one SMS."""
    return gsm7(text) == text and gsm7_length(text) <= SMS_LIMIT


def _rand(value) -> str:
    """A money string of the notification's data ("49.50") as `R 49.50`."""
    try:
        return format_rand(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def _percent(last_24h: str, average: str) -> int:
    """How far above its average a meter's last day was, in whole percent."""
    try:
        avg = Decimal(str(average))
        return int((Decimal(str(last_24h)) / avg - 1) * 100) if avg > 0 else 0
    except (InvalidOperation, ValueError, ArithmeticError):
        return 0


def _sms_body(kind: str, data: dict, unit: str, message: str) -> str:
    """The SMS wording of one notification type, for unit label `unit`."""
    d = data or {}
    if kind == "critical_credit":
        return (f"{BRAND}: unit {unit} has only {_rand(d.get('balance'))} left. Top up now "
                f"so your electricity and water are not cut off.")
    if kind == "low_credit":
        if d.get("days_left"):
            return (f"{BRAND}: unit {unit} has {_rand(d.get('balance'))} left, about "
                    f"{d['days_left']} days. Top up soon to keep your supply on.")
        return (f"{BRAND}: unit {unit} has {_rand(d.get('balance'))} left, below your alert "
                f"level of {_rand(d.get('threshold'))}. Top up soon.")
    if kind == "topup_success":
        return (f"{BRAND}: {_rand(d.get('amount'))} added to unit {unit}. Balance now "
                f"{_rand(d.get('balance_after'))}.")
    if kind == "purchase_success":
        utility = d.get("utility", "")
        units = f"{format_quantity(Decimal(str(d.get('units', '0'))))} " \
                f"{UTILITY_UNITS.get(utility, '')}".strip()
        return (f"{BRAND}: {units} of {UTILITY_NAMES.get(utility, utility)} bought for unit "
                f"{unit} ({_rand(d.get('amount'))}). Balance now {_rand(d.get('balance_after'))}.")
    if kind == "high_usage":
        utility = d.get("utility", "")
        used = f"{format_quantity(Decimal(str(d.get('last_24h', '0'))))} " \
               f"{UTILITY_UNITS.get(utility, '')}".strip()
        return (f"{BRAND}: unit {unit} used {used} of {UTILITY_NAMES.get(utility, utility)} in "
                f"24h, {_percent(d.get('last_24h'), d.get('daily_average'))}% above average. "
                f"Check for a leak or appliance left on.")
    return f"{BRAND}: {message}"


def sms_text(kind: str, data: dict, number: str, estate: str, message: str = "") -> str:
    """One GSM-7 segment for a notification of unit `number` on `estate`: the full label
    ("A001, Green Estate") when it fits, else the estate shortened, else the number alone,
    and as a last resort the text cut at a word."""
    number, estate = gsm7(number), gsm7(estate)
    shortened = [f"{number}, {estate[:n].rstrip()}." for n in (24, 16, 8) if len(estate) > n]
    for label in [f"{number}, {estate}", *shortened, number]:
        text = gsm7(_sms_body(kind, data, label, message))
        if gsm7_length(text) <= SMS_LIMIT:
            return text
    text = gsm7(_sms_body(kind, data, number, message))
    while gsm7_length(text) > SMS_LIMIT - 3:
        text = text[:text.rstrip().rfind(" ")] if " " in text.rstrip() else text[:SMS_LIMIT - 3]
    return text + "..."


@dataclass
class Email:
    """An email: subject, HTML (Apprise makes the plain-text part from it) and plain text
    (what the Outbox and the logs show)."""

    subject: str
    html: str
    text: str


def figures(kind: str, data: dict) -> list[tuple[str, str]]:
    """The figures a notification quotes, as (label, value) pairs."""
    d = data or {}
    if kind in ("low_credit", "critical_credit", "credit_depleted"):
        rows = [("Balance", _rand(d.get("balance", "0")))]
        if d.get("threshold") is not None:
            rows.append(("Alert level", _rand(d["threshold"])))
        if d.get("days_left"):
            rows.append(("Days of credit left", str(d["days_left"])))
        return rows
    if kind == "topup_success":
        return [("Amount", _rand(d.get("amount"))), ("Balance", _rand(d.get("balance_after")))]
    if kind == "purchase_success":
        utility = d.get("utility", "")
        return [("Bought", f"{format_quantity(Decimal(str(d.get('units', '0'))))} "
                           f"{UTILITY_UNITS.get(utility, '')} of "
                           f"{UTILITY_NAMES.get(utility, utility)}"),
                ("Cost", _rand(d.get("amount"))), ("Balance", _rand(d.get("balance_after")))]
    if kind == "high_usage":
        utility = d.get("utility", "")
        unit = UTILITY_UNITS.get(utility, "")
        return [("Last 24 hours", f"{format_quantity(Decimal(str(d.get('last_24h', '0'))))} {unit}"),
                ("Daily average", f"{format_quantity(Decimal(str(d.get('daily_average', '0'))))} "
                                  f"{unit}"),
                ("Meter", str(d.get("serial", "")))]
    return []


def email_message(kind: str, title: str, message: str, data: dict, *, public_url: str,
                  wallet_id: int | None) -> Email:
    """The email of a notification: its title, message and figures, and a link to the
    resident's page (and to their alert settings)."""
    base = (public_url or "").rstrip("/")
    page = f"{base}/me/wallets/{wallet_id}" if wallet_id else f"{base}/me/"
    settings = f"{base}/me/settings"
    rows = figures(kind, data)
    text_lines = [message, ""] + [f"{label}: {value}" for label, value in rows]
    text_lines += ["", f"Open your wallet: {page}", "",
                   f"Choose how you are told: {settings}"]
    html = (f"<p>{escape(message)}</p>"
            + ("<ul>" + "".join(f"<li>{escape(label)}: <strong>{escape(value)}</strong></li>"
                                for label, value in rows) + "</ul>" if rows else "")
            + f'<p>Open your wallet: <a href="{escape(page)}">{escape(page)}</a></p>'
            + f'<p><small>Choose how you are told: <a href="{escape(settings)}">'
              f"{escape(settings)}</a></small></p>")
    return Email(subject=title, html=html, text="\n".join(text_lines))
