"""Forms of the channels: the resident's settings (contact details, alert channels, quiet
hours), an operator's change of a resident's contact details, the Deliveries filter.

The checks are the services' (services/channels: addresses, preferences); these forms only
declare the fields and put the services' refusals beside them.
"""
from __future__ import annotations

from wtforms import BooleanField, SelectField, StringField

from ...models import CHANNELS, DELIVERY_STATUSES, OUTSIDE_CHANNELS
from ...services.notifications.messages import RESIDENT_TYPES
from ..labels import TYPE_NAMES
from .base import Form, strip

#: Each type as the "Alert channels" checkboxes name it: "Low credit by SMS".
ALERT_NAMES = {"low_credit": "Low credit", "critical_credit": "Critical credit",
               "credit_depleted": "Credit run out", "topup_success": "Top-up received",
               "purchase_success": "Purchase made", "high_usage": "High usage"}
CHANNEL_NAMES = {"in_app": "In-app", "email": "email", "sms": "SMS"}  # within a sentence
CHANNEL_TITLES = {"in_app": "In-app", "email": "Email", "sms": "SMS"}  # on their own
STATUS_NAMES = {"pending": "Pending", "held": "Held", "sending": "Sending", "sent": "Sent",
                "failed": "Failed", "suppressed": "Suppressed"}


def alert_name(kind: str) -> str:
    """A type's name on the settings page (a type added later falls back to the inbox's)."""
    return ALERT_NAMES.get(kind) or TYPE_NAMES.get(kind) or kind.replace("_", " ").capitalize()


def choice_name(kind: str, channel: str) -> str:
    """The form field of one type by one channel: "low_credit__sms"."""
    return f"{kind}__{channel}"


def choice_label(kind: str, channel: str) -> str:
    """"Low credit by SMS"."""
    return f"{alert_name(kind)} by {CHANNEL_NAMES[channel]}"


class _SettingsBase(Form):
    """Contact details and quiet hours; the checkboxes are added below, one per type and
    channel."""

    email = StringField(filters=[strip])
    phone = StringField(filters=[strip])
    quiet_start = StringField(filters=[strip])
    quiet_end = StringField(filters=[strip])

    def choices(self) -> dict[str, list[str]]:
        """{type: [channels ticked]} as posted."""
        return {kind: [c for c in OUTSIDE_CHANNELS if self[choice_name(kind, c)].data]
                for kind in RESIDENT_TYPES}

    def rows(self):
        """(type name, [(field, label) per channel]) for the template's table."""
        return [(alert_name(kind), [(self[choice_name(kind, c)], choice_label(kind, c))
                                    for c in OUTSIDE_CHANNELS]) for kind in RESIDENT_TYPES]


SettingsForm = type("SettingsForm", (_SettingsBase,), {
    choice_name(kind, channel): BooleanField(choice_label(kind, channel),
                                             false_values=("", "0", "false", "off"))
    for kind in RESIDENT_TYPES for channel in OUTSIDE_CHANNELS})
SettingsForm.__doc__ = "The resident's settings page: every field of _SettingsBase and a " \
                       "checkbox per type and channel."


def settings_form(contact: dict, prefs, formdata=None) -> Form:
    """The settings form, filled with what is saved (and what was posted over it)."""
    from ...services.channels.preferences import hhmm

    data = {"email": contact.get("email") or "", "phone": contact.get("phone") or "",
            "quiet_start": hhmm(prefs.quiet_start), "quiet_end": hhmm(prefs.quiet_end)}
    for kind, chosen in prefs.channels.items():
        if kind not in RESIDENT_TYPES:
            continue  # the operators' types are not the resident's to choose
        for channel in OUTSIDE_CHANNELS:
            data[choice_name(kind, channel)] = channel in chosen
    return SettingsForm(formdata, data=data)


class ContactForm(Form):
    """An operator's change of one resident's notification email and mobile number."""

    email = StringField(filters=[strip])
    phone = StringField(filters=[strip])


class DeliveryFilterForm(Form):
    """The Deliveries page's filter (a GET form): channel and status."""

    channel = SelectField(choices={"": "Email and SMS", **{c: CHANNEL_TITLES[c]
                                                          for c in CHANNELS}},
                          validate_choice=False)
    # Sent as `status`; not named so here, where Form.status is the answer's status code.
    state = SelectField(name="status", choices={"": "Any status", **{
        s: STATUS_NAMES[s] for s in DELIVERY_STATUSES}}, validate_choice=False)
