"""Which notifications a resident gets by email and SMS, and their quiet hours.

Defaults (DESIGN): critical_credit and credit_depleted by SMS and email, low_credit and
high_usage by email, the operators' digest by email (to operators with an address), the rest
in-app only. In-app is always on. A resident's own choice for a type replaces the
default for that type. The critical rule: critical credit cannot be left without an outside
channel while the resident has an address for one (else the warning that matters most would
reach them only if a tab were open).

Quiet hours are in local time (CELERY_TIMEZONE), default 21:00–07:00: email and SMS of every
type but those in URGENT wait until they end (services/channels/delivery.py holds them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select

from ...models import OUTSIDE_CHANNELS, ChannelPreference, QuietHours, User, utcnow
from ..errors import ValidationFailed
from ..notifications.messages import TYPES
from .addresses import contact_of

#: The estate defaults: type → the outside channels it goes by when the resident did not say.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "critical_credit": ("email", "sms"),
    "credit_depleted": ("email", "sms"),
    "low_credit": ("email",),
    "high_usage": ("email",),
    "operator_digest": ("email",),  # to operators with an email address
}
#: Types that go at once whatever the hour (and that the critical rule protects).
URGENT = ("critical_credit", "credit_depleted")
PROTECTED = "critical_credit"
DEFAULT_QUIET = (21 * 60, 7 * 60)  # 21:00–07:00
TIME_PATTERN = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"
_TIME_RE = re.compile(TIME_PATTERN)
TIME_MESSAGE = "Enter a time like 21:00."
CRITICAL_MESSAGE = ("Critical credit alerts must go by email or SMS while you have an "
                    "address for one.")


def default_channels(kind: str) -> tuple[str, ...]:
    """The outside channels of `kind` for a resident who kept the defaults."""
    return DEFAULTS.get(kind, ())


@dataclass
class Preferences:
    """A resident's effective choices: {type: [channels]} for every type, and quiet hours."""

    channels: dict[str, list[str]]
    quiet_start: int
    quiet_end: int

    def as_json(self) -> dict:
        """The API's shape: {channels: {type: [..]}, quiet_hours: {start, end}}."""
        return {"channels": self.channels,
                "quiet_hours": {"start": hhmm(self.quiet_start), "end": hhmm(self.quiet_end)}}


def hhmm(minutes: int) -> str:
    """Minutes after midnight as "HH:MM"."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(value, field: str) -> int:
    """"HH:MM" (24-hour) as minutes after midnight, or ValidationFailed naming `field`."""
    text = value.strip() if isinstance(value, str) else ""
    if not _TIME_RE.fullmatch(text):
        raise ValidationFailed("A time is not valid.", fields={field: TIME_MESSAGE})
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def get_preferences(session, user: User) -> Preferences:
    """What `user` gets: their saved choices over the defaults, their quiet hours."""
    saved = {p.type: p for p in session.scalars(
        select(ChannelPreference).where(ChannelPreference.user_id == user.id))}
    channels = {}
    for kind in TYPES:
        row = saved.get(kind)
        if row is None:
            channels[kind] = list(default_channels(kind))
        else:
            channels[kind] = [c for c in OUTSIDE_CHANNELS if getattr(row, c)]
    quiet = session.get(QuietHours, user.id)
    start, end = (quiet.start_minute, quiet.end_minute) if quiet else DEFAULT_QUIET
    return Preferences(channels, start, end)


def parse_channels(value) -> dict[str, list[str]]:
    """{type: [channels]} from the API or the form; ValidationFailed naming each bad type."""
    if not isinstance(value, dict):
        raise ValidationFailed("Channels are not valid.",
                               fields={"channels": "Send an object of type: [channels]."})
    found, errors = {}, {}
    for kind, chosen in value.items():
        if kind not in TYPES:
            errors[str(kind)[:40]] = f"Use one of: {', '.join(TYPES)}."
        elif not isinstance(chosen, list) or any(c not in OUTSIDE_CHANNELS for c in chosen):
            errors[kind] = "Choose from email and sms."
        else:
            found[kind] = [c for c in OUTSIDE_CHANNELS if c in chosen]
    if errors:
        raise ValidationFailed("Some channels are not valid.", fields=errors)
    return found


def check_critical_rule(channels: dict[str, list[str]], contact: dict) -> None:
    """ValidationFailed when critical credit would reach none of the resident's addresses
    although they have one."""
    reachable = {c for c, field in (("email", "email"), ("sms", "phone")) if contact.get(field)}
    if reachable and not reachable & set(channels.get(PROTECTED, ())):
        raise ValidationFailed(CRITICAL_MESSAGE, fields={PROTECTED: CRITICAL_MESSAGE})


def save_preferences(session, user: User, *, channels: dict | None = None,
                     quiet_start: int | None = None, quiet_end: int | None = None,
                     contact: dict | None = None) -> Preferences:
    """Save the types given (the others keep what they had) and the quiet hours; refuses
    what breaks the critical rule. `contact` is the {email, phone} to check the rule against
    (default: the saved ones). The caller commits."""
    current = get_preferences(session, user)
    merged = {**current.channels, **(channels or {})}
    check_critical_rule(merged, contact if contact is not None else contact_of(session, user))
    for kind, chosen in (channels or {}).items():
        session.merge(ChannelPreference(user_id=user.id, type=kind, email="email" in chosen,
                                        sms="sms" in chosen))
    if quiet_start is not None and quiet_end is not None:
        session.merge(QuietHours(user_id=user.id, start_minute=quiet_start,
                                 end_minute=quiet_end, updated_at=utcnow()))
    session.flush()
    return get_preferences(session, user)


def reset_preferences(session, user_id: int) -> None:
    """Back to the defaults (used by tests and account removal)."""
    session.execute(delete(ChannelPreference).where(ChannelPreference.user_id == user_id))
    session.execute(delete(QuietHours).where(QuietHours.user_id == user_id))
