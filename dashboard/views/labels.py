"""What the pages call the domain's values: methods, priorities, read states, alert modes...

The services and models hold the values themselves (and check them); the names people read
live here, one map per value set, each checked against the values it names when the app
starts, so a new value cannot reach a page without a name.
"""
from __future__ import annotations

from ..models import ALERT_MODES, TOPUP_METHODS, WALLET_STATES
from ..services.channels.messages import DIGEST_LINKS
from ..services.notifications.log import READ_STATES
from ..services.notifications.messages import PRIORITY_LEVELS, TYPES
from ..services.wallets import SORTS
from ..services.wallets.estates import SCOPES
from ..services.wallets.search import FLAGS

# Payment methods as the estate office reads them, and as residents do.
METHOD_LABELS = {"card": "Card", "eft": "EFT", "instant_eft": "Instant EFT", "cash": "Cash",
                 "manual_admin": "Manual (admin)"}
METHOD_NAMES = {"card": "Card", "eft": "EFT", "instant_eft": "Instant EFT", "cash": "Cash",
                "manual_admin": "Added by the estate office"}
# A resident's ledger line for a top-up.
TOPUP_NAMES = {"card": "Top-up by card", "eft": "Top-up by EFT",
               "instant_eft": "Top-up by instant EFT", "cash": "Cash top-up",
               "manual_admin": "Added by the estate office"}
# The resident's inbox filter: notification types in their words.
TYPE_NAMES = {"low_credit": "Low credit", "critical_credit": "Critical credit",
              "credit_depleted": "Credit run out", "topup_success": "Top-ups",
              "purchase_success": "Purchases", "high_usage": "High usage",
              "meter_silent": "Silent meter", "operator_digest": "Morning digest",
              "webhook_disabled": "Webhook turned off"}
PRIORITY_LABELS = {"normal": "Normal", "high": "High", "critical": "Critical"}
# The operators' log filter on the residents' reading of a notification.
READ_LABELS = {"unread": "Unread", "read": "Read", "none": "No recipient"}
# Operator pages: what each alert mode means, in the words of the settings forms.
ALERT_MODE_LABELS = {"amount": "the balance is below the amount",
                     "days": "few days of credit are left"}
# The resident's alert form says it in the first person.
RESIDENT_ALERT_MODE_LABELS = {"amount": "When my balance is below my alert level",
                              "days": "When fewer days of credit are left than I choose"}
SORT_LABELS = {"id": "Number", "balance": "Lowest balance", "-balance": "Highest balance",
               "runs_out": "Cuts out soonest"}
# The wallet list's extra filters (the operators' digest links to them).
FLAG_LABELS = {"zero": "Zero balance", "silent": "Silent meter"}
# The operators' digest's links, as its email names them.
DIGEST_LINK_LABELS = DIGEST_LINKS
# The bulk change: every wallet, or only those still on their estate's default threshold.
SCOPE_LABELS = {"all": "Every wallet", "default": "Only those on the estate default"}


def impact_sentences(impact, verb: str = "This would put") -> list[str]:
    """'This would put 37 wallets into low': one line per state that gains wallets."""
    lines = []
    for state in ("low", "critical", "ok"):
        count = impact.into(state)
        if count:
            lines.append(f"{verb} {count:,} {'wallet' if count == 1 else 'wallets'} into {state}")
    return lines


def _names_every(labels: dict, values, what: str) -> None:
    """Fail at start-up when a label map and the values it names drift apart."""
    if set(labels) != set(values):
        raise AssertionError(f"{what} labels {sorted(labels)} do not match {sorted(values)}")


for _labels, _values, _what in (
        (METHOD_LABELS, TOPUP_METHODS, "method"), (METHOD_NAMES, TOPUP_METHODS, "method"),
        (TOPUP_NAMES, TOPUP_METHODS, "top-up"), (TYPE_NAMES, TYPES, "type"),
        (PRIORITY_LABELS, PRIORITY_LEVELS, "priority"), (READ_LABELS, READ_STATES, "read"),
        (ALERT_MODE_LABELS, ALERT_MODES, "alert mode"),
        (RESIDENT_ALERT_MODE_LABELS, ALERT_MODES, "alert mode"),
        (SORT_LABELS, SORTS, "sort"), (FLAG_LABELS, FLAGS, "flag"),
        (SCOPE_LABELS, SCOPES, "scope"),
        # impact_sentences names each state
        (dict.fromkeys(("ok", "low", "critical")), WALLET_STATES, "state")):
    _names_every(_labels, _values, _what)
