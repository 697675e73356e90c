"""Alert settings: a wallet's (operators and residents), an estate's defaults, bulk changes.

The fields are text as typed; the wallet services check them all together (validate_settings,
validate_defaults, parse_bulk_change) and their field messages come back beside the fields,
so these forms declare fields and choices, not rules of their own.
"""
from __future__ import annotations

from wtforms import BooleanField, RadioField, SelectField, StringField

from ..labels import ALERT_MODE_LABELS, RESIDENT_ALERT_MODE_LABELS, SCOPE_LABELS
from .base import Form, strip


def _text():
    """A text field, spaces around it dropped."""
    return StringField(filters=[strip])


class AlertSettingsForm(Form):
    """A wallet's alert settings, as the operator's wallet page edits them."""

    low_balance_threshold = _text()
    alert_mode = SelectField(choices=dict(ALERT_MODE_LABELS), validate_choice=False)
    low_balance_days = _text()
    alert_frequency_hours = _text()

    @classmethod
    def of(cls, wallet, formdata=None, **kwargs):
        """The form filled with the wallet's saved settings (and what was sent over them)."""
        saved = {"low_balance_threshold": f"{wallet.low_balance_threshold:.2f}",
                 "alert_mode": wallet.alert_mode,
                 "low_balance_days": str(wallet.low_balance_days),
                 "alert_frequency_hours": str(wallet.alert_frequency_hours)}
        return cls(formdata, data=saved, **kwargs)


class ResidentAlertsForm(AlertSettingsForm):
    """The resident's alert form: level or days, within the estate's bounds."""

    alert_mode = RadioField(choices=dict(RESIDENT_ALERT_MODE_LABELS),
                            validate_choice=False)
    alert_frequency_hours = None  # how often alerts repeat stays the estate office's choice


class EstateDefaultsForm(AlertSettingsForm):
    """An estate's defaults for new wallets, and the range residents may choose from."""

    min_low_balance_threshold = _text()
    max_low_balance_threshold = _text()

    @classmethod
    def of(cls, estate, formdata=None, **kwargs):
        """The form filled with the estate's saved defaults."""
        saved = {"low_balance_threshold": f"{estate.default_low_balance_threshold:.2f}",
                 "alert_mode": estate.default_alert_mode,
                 "low_balance_days": str(estate.default_low_balance_days),
                 "alert_frequency_hours": str(estate.default_alert_frequency_hours),
                 "min_low_balance_threshold": f"{estate.min_low_balance_threshold:.2f}",
                 "max_low_balance_threshold": f"{estate.max_low_balance_threshold:.2f}"}
        return cls(formdata, data=saved, **kwargs)


class BulkChangeForm(Form):
    """New settings for many wallets at once; a blank setting stays as each wallet has it."""

    estate_id = SelectField(validate_choice=False, default="all")
    scope = SelectField(choices=dict(SCOPE_LABELS), validate_choice=False,
                        default="all")
    low_balance_threshold = _text()
    alert_mode = SelectField(choices={"": "unchanged", **ALERT_MODE_LABELS},
                             validate_choice=False)
    low_balance_days = _text()
    alert_frequency_hours = _text()
    make_default = BooleanField(false_values=("", "0", "false", "off"))

    def __init__(self, formdata=None, *, estates=(), **kwargs):
        """`estates`: the estates to choose from (all of them is the first choice)."""
        super().__init__(formdata, **kwargs)
        self.estate_id.choices = {"all": "All estates", **{str(e.id): e.name for e in estates}}


class EstateHoursForm(Form):
    """An estate's friendly hours, time zone, meter silence limit and SMS delay (the checks:
    services/forecast/estate_settings.py)."""

    friendly_hours = BooleanField(false_values=("", "0", "false", "off"))
    friendly_start = _text()
    friendly_end = _text()
    friendly_weekends = BooleanField(false_values=("", "0", "false", "off"))
    friendly_holidays = BooleanField(false_values=("", "0", "false", "off"))
    timezone = _text()
    meter_silent_hours = _text()
    sms_delay_minutes = _text()

    @classmethod
    def of(cls, settings, formdata=None, **kwargs):
        """The form filled with an estate's EstateHours (and what was sent over them)."""
        return cls(formdata, data=settings.form_data(), **kwargs)
