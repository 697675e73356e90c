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
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from html import escape
from zoneinfo import ZoneInfo

from ...models import UTILITY_UNITS
from ..forecast.words import when_text
from ..money import format_rand
from ..notifications.messages import OPERATOR_TYPES, UTILITY_NAMES, format_quantity

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


def times(data: dict, zone: str, made_at: datetime) -> dict[str, str]:
    """The local words ("Sat 02:00") of the times a notification's data keeps as seconds
    since 1970 (runs_out_at, supply_until), named as the in-app message named them when it
    was made at `made_at`."""
    tz = ZoneInfo(zone)
    return {key: when_text(datetime.fromtimestamp(value, timezone.utc), made_at, tz)
            for key in ("runs_out_at", "supply_until")
            if isinstance(value := (data or {}).get(key), int)}


def _forecast(t: dict) -> str:
    """The run-out in an SMS: " Credit runs out about Sat 02:00; supply stays on till Mon
    07:00." (the supply only when friendly hours hold it)."""
    supply = f"; supply stays on till {t['supply_until']}" if t.get("supply_until") else ""
    return f" Credit runs out about {t['runs_out_at']}{supply}."


def _sms_body(kind: str, data: dict, unit: str, message: str, t: dict) -> str:
    """The SMS wording of one notification type, for unit label `unit`; `t` the words of
    its times (see `times`)."""
    d = data or {}
    if kind in ("critical_credit", "low_credit") and t.get("runs_out_at"):
        only = "only " if kind == "critical_credit" else ""
        now = "now" if kind == "critical_credit" else "soon"
        return (f"{BRAND}: unit {unit} has {only}{_rand(d.get('balance'))} left."
                f"{_forecast(t)} Top up {now}.")
    if kind == "critical_credit":
        return (f"{BRAND}: unit {unit} has only {_rand(d.get('balance'))} left. Top up now "
                f"so your electricity and water are not cut off.")
    if kind == "credit_depleted":
        if t.get("supply_until"):
            return (f"{BRAND}: unit {unit} has run out of credit. Friendly hours keep your "
                    f"supply on till {t['supply_until']}. Top up now.")
        return (f"{BRAND}: unit {unit} has run out of credit and the supply can be cut off "
                f"at any time. Top up now.")
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


def sms_text(kind: str, data: dict, number: str, estate: str, message: str = "",
             t: dict | None = None) -> str:
    """One GSM-7 segment for a notification of unit `number` on `estate`: the full label
    ("A001, Green Estate") when it fits, else the estate shortened, else the number alone,
    and as a last resort the text cut at a word. `t`: the words of its times (`times`)."""
    number, estate, t = gsm7(number), gsm7(estate), t or {}
    shortened = [f"{number}, {estate[:n].rstrip()}." for n in (24, 16, 8) if len(estate) > n]
    for label in [f"{number}, {estate}", *shortened, number]:
        text = gsm7(_sms_body(kind, data, label, message, t))
        if gsm7_length(text) <= SMS_LIMIT:
            return text
    text = gsm7(_sms_body(kind, data, number, message, t))
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


def figures(kind: str, data: dict, t: dict | None = None) -> list[tuple[str, str]]:
    """The figures a notification quotes, as (label, value) pairs; `t` the words of its
    times (`times`)."""
    d, t = data or {}, t or {}
    if kind in ("low_credit", "critical_credit", "credit_depleted"):
        rows = [("Balance", _rand(d.get("balance", "0")))]
        if d.get("threshold") is not None:
            rows.append(("Alert level", _rand(d["threshold"])))
        if d.get("days_left"):
            rows.append(("Days of credit left", str(d["days_left"])))
        if t.get("runs_out_at"):
            rows.append(("Credit runs out around", t["runs_out_at"]))
        if t.get("supply_until"):
            rows.append(("Friendly hours keep the supply on until", t["supply_until"]))
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
    if kind == "meter_silent":
        return [("Meter", str(d.get("serial", ""))), ("Last reading", str(d.get("since", "")))]
    if kind == "operator_digest":
        return [(label, f"{d.get(key, 0):,}") for key, label in DIGEST_FIGURES] + [
            ("Top-ups in the last 24 hours", f"{d.get('topups', 0):,} for "
                                             f"{_rand(d.get('topup_total', '0'))}"),
            ("Purchases in the last 24 hours", f"{d.get('purchases', 0):,} for "
                                               f"{_rand(d.get('purchase_total', '0'))}")]
    return []


#: The digest's counts as its email lists them.
DIGEST_FIGURES = (("critical", "Critical wallets"), ("critical_new", "New critical wallets"),
                  ("low", "Low wallets"), ("low_new", "New low wallets"),
                  ("zero", "Wallets at zero"), ("silent_meters", "Silent meters"),
                  ("high_usage", "High-usage alerts in the last 24 hours"))
#: The digest's links to the wallet list, as its email names them.
DIGEST_LINKS = {"critical": "Critical wallets", "low": "Low wallets", "zero": "Wallets at zero",
                "silent": "Wallets with a silent meter", "high_usage": "High-usage alerts"}


def email_message(kind: str, title: str, message: str, data: dict, *, public_url: str,
                  wallet_id: int | None, t: dict | None = None) -> Email:
    """The email of a notification: its title, message and figures, and a link to the
    resident's page (and to their alert settings); an operators' notification links to the
    dashboard (the wallet, or the digest's filtered lists) instead."""
    base = (public_url or "").rstrip("/")
    rows = figures(kind, data, t)
    if kind in OPERATOR_TYPES:
        links = [(DIGEST_LINKS.get(name, name), f"{base}{path}")
                 for name, path in ((data or {}).get("links") or {}).items()]
        if wallet_id and not links:
            links = [("Open the wallet", f"{base}/wallets/{wallet_id}")]
    else:
        page = f"{base}/me/wallets/{wallet_id}" if wallet_id else f"{base}/me/"
        links = [("Open your wallet", page), ("Choose how you are told", f"{base}/me/settings")]
    text_lines = [message, ""] + [f"{label}: {value}" for label, value in rows]
    for label, href in links:
        text_lines += ["", f"{label}: {href}"]
    html = (f"<p>{escape(message)}</p>"
            + ("<ul>" + "".join(f"<li>{escape(label)}: <strong>{escape(value)}</strong></li>"
                                for label, value in rows) + "</ul>" if rows else "")
            + "".join(_link_html(label, href) for label, href in links))
    return Email(subject=title, html=html, text="\n".join(text_lines))


def _link_html(label: str, href: str) -> str:
    """A link paragraph of an email; the settings link in small print."""
    link = f'{escape(label)}: <a href="{escape(href)}">{escape(href)}</a>'
    return f"<p><small>{link}</small></p>" if href.endswith("/me/settings") else f"<p>{link}</p>"
