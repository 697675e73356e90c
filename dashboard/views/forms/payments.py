"""Top up and Buy, for the estate office and for residents: one form class per payment, and
the test gateway's Pay / Decline.

Every rendering of a payment form carries a fresh Idempotency-Key (KeyField): a double click
or a resubmitted form replays the first payment instead of paying twice, and a form that
comes back without its key is out of date, so nothing is ever paid unkeyed. The amount is
checked with the payment service's own parser, so all of a form's problems come back at once;
the service still decides (the balance, the estate's tariff) and its refusal lands beside the
field it names.
"""
from __future__ import annotations

from collections.abc import Callable

from wtforms import SelectField, StringField

from ...services.errors import ServiceError
from ...services.money import parse_amount
from ...services.payments.transactions import (
    OFFICE_METHODS,
    RESIDENT_METHODS,
    TransactionResult,
)
from ..labels import METHOD_LABELS, METHOD_NAMES
from .base import Form, KeyField, OneOfChoices, ServiceRule, new_key, strip


class PaymentForm(Form):
    """An amount in rand and the form's Idempotency-Key."""

    action = "Pay"  # the button's name, as the messages tell people to press it
    amount = StringField(filters=[strip], validators=[ServiceRule(parse_amount)])
    idempotency_key = KeyField()

    def validate(self, extra_validators=None) -> bool:
        """The fields' checks, and the key: a form without one is out of date."""
        valid = super().validate(extra_validators)
        if not self.idempotency_key.data:
            self.form_errors.append(f"This form is out of date. Check the details and press "
                                    f"{self.action} again.")
            self.idempotency_key.data = new_key()
            return False
        return valid

    def refuse(self, exc: ServiceError, *, with_reason: bool = False) -> None:
        """As Form.refuse; a key already used for another payment gets the form a new one."""
        if exc.code == "idempotency_key_reused":
            # The person went back and changed an old form: nothing was charged; a new key
            # lets them send the changed request deliberately.
            self.form_errors.append("This form was already used for an earlier payment, so "
                                    "nothing was charged now. Check the details and press "
                                    f"{self.action} again.")
            self.idempotency_key.data = new_key()
            return
        super().refuse(exc, with_reason=with_reason)

    def fresh(self, message: str, **data) -> PaymentForm:
        """The same kind of form drawn anew (a new key) after a payment, saying `message`."""
        form = type(self)(data=data)
        for name, field in form._fields.items():
            if isinstance(field, SelectField):  # choices set for this request carry over
                field.choices = dict(self[name].choices)
        form.message = message
        return form


class TopUpForm(PaymentForm):
    """The estate office's top-up, credited at once: an amount and how it was paid to the
    office (cash, EFT into the estate's account, a manual entry)."""

    action = "Top up"
    method = SelectField(choices={m: METHOD_LABELS[m] for m in OFFICE_METHODS},
                         validate_choice=False, validators=[OneOfChoices()])


class ResidentTopUpForm(TopUpForm):
    """A resident's top-up: a payment by card or instant EFT on the provider's page."""

    method = SelectField(choices={m: METHOD_NAMES[m] for m in RESIDENT_METHODS},
                         validate_choice=False,
                         validators=[OneOfChoices("Choose card or instant EFT.")])


class GatewayForm(Form):
    """The test gateway's choice, as the provider's page would offer it: Pay or Decline."""

    outcome = SelectField(choices={"pay": "Pay", "decline": "Decline"}, validate_choice=False,
                          validators=[OneOfChoices("Press Pay or Decline.")])


class BuyForm(PaymentForm):
    """Buy utility credit from the balance: an amount and one of the estate's utilities."""

    action = "Buy"
    utility = SelectField(validate_choice=False,
                          validators=[OneOfChoices("Choose a utility this estate sells.")])

    def __init__(self, formdata=None, *, utilities: dict[str, str] | None = None, **kwargs):
        """`utilities`: {value: label} of each utility the wallet's estate sells."""
        super().__init__(formdata, **kwargs)
        self.utility.choices = dict(utilities or {})


def pay(form: PaymentForm, run: Callable[[str], TransactionResult], *,
        with_reason: bool = False) -> TransactionResult | None:
    """Send a valid form to the payment service with its key: `run(key)` makes the payment.

    None when the form or the service refused it; the errors are then on the form.
    """
    if not form.validate():
        return None
    try:
        return run(form.idempotency_key.data)
    except ServiceError as exc:
        form.refuse(exc, with_reason=with_reason)
        return None
