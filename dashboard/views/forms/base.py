"""One way to handle a form, for operators and residents alike: Flask-WTF form classes.

A form class declares its fields. The route fills it from what was sent (formdata is always
passed explicitly, so a GET preview reads the query string and nothing guesses from the
request), the form's own checks call the very service functions that make the final decision
(so both say the same thing), and a refusal the service raises (ValidationFailed, Conflict) is
put beside the field it names with `refuse`. Templates draw every error with the macros in
templates/macros/forms.html: beside the field, tied to it by aria-describedby and marked
aria-invalid.

The app checks the CSRF token of every unsafe request before any route runs, for forms, htmx
and the session API alike, so these forms do not check it a second time (Meta.csrf = False);
templates carry the token with the csrf() macro.
"""
from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import StopValidation

from ...services.errors import Conflict, ServiceError, ValidationFailed

FORM = "form"  # the name a form-wide message goes under in `messages()`


def strip(value):
    """Surrounding spaces are not part of what was typed (a filter for text fields)."""
    return value.strip() if isinstance(value, str) else value


def new_key() -> str:
    """A fresh Idempotency-Key for one rendering of a payment form."""
    return uuid.uuid4().hex


class Form(FlaskForm):
    """A form whose errors sit beside its fields, and whose status says whether it failed."""

    class Meta:
        """CSRF is the app's check, made before the route (see the module docstring)."""

        csrf = False

    def __init__(self, formdata=None, **kwargs):
        """`formdata`: request.form or request.args as sent; None draws the form afresh."""
        super().__init__(formdata=formdata, **kwargs)
        self.message: str | None = None  # what the form says after it went through

    @property
    def failed(self) -> bool:
        """True when any field, or the form as a whole, has an error."""
        return bool(self.form_errors) or any(field.errors for field in self)

    @property
    def status(self) -> int:
        """422 when the form has errors (htmx swaps the form in all the same), else 200."""
        return 422 if self.failed else 200

    def add_error(self, name: str, text: str) -> None:
        """An error beside field `name`, or for the whole form when it has no such field."""
        field = self._fields.get(name)
        if field is None or isinstance(field, KeyField):
            self.form_errors.append(text)
        else:
            field.errors = [*field.errors, text]

    def refuse(self, exc: ServiceError, *, with_reason: bool = False) -> None:
        """Put a service's refusal on the form: each field message beside its field.

        `with_reason` puts a conflict's own sentence before its field message (a resident
        reads "The balance of R 30.00 is less than R 50.00. The most you can spend is ...").
        Anything but a refusal of these values (not found, forbidden, unavailable) is raised
        again for the app's error handlers.
        """
        if not isinstance(exc, (ValidationFailed, Conflict)):
            raise exc
        explain = with_reason and isinstance(exc, Conflict)
        for name, text in exc.fields.items():
            self.add_error(str(name), f"{exc.message} {text}" if explain else text)
        if not exc.fields:
            self.form_errors.append(exc.message)

    def messages(self) -> dict[str, str]:
        """Every error as {field name: text}, a form-wide one under "form"."""
        found = {name: " ".join(field.errors) for name, field in self._fields.items()
                 if field.errors}
        if self.form_errors:
            found[FORM] = " ".join(self.form_errors)
        return found

    def values(self) -> dict:
        """Every field's value (None for a field neither sent nor filled in)."""
        return {name: field.data for name, field in self._fields.items()
                if not isinstance(field, KeyField)}

    def submitted(self) -> dict:
        """The fields that were sent, as sent: what a partial update changes (a field left
        out keeps its saved value; a field sent blank is an error the service names)."""
        return {name: field.data for name, field in self._fields.items()
                if field.raw_data and not isinstance(field, KeyField)}


class KeyField(HiddenField):
    """The Idempotency-Key of one rendering of a payment form: new each time the form is
    drawn afresh, as sent when it comes back, and "" when a post came without one."""

    def __init__(self, label=None, **kwargs):
        """A hidden field whose default is a fresh key."""
        super().__init__(label, default=new_key, **kwargs)

    def process_formdata(self, valuelist):
        """The key as sent; a missing one is "" (never a fresh key nobody was shown)."""
        self.data = valuelist[0].strip() if valuelist else ""


class ServiceRule:
    """A field check that is a service's own parser (parse_amount...): the form reports what
    the service would, beside the field, together with the form's other problems."""

    def __init__(self, parse, **options):
        """`parse(value, **options)` raises ValidationFailed for a bad value."""
        self.parse = parse
        self.options = options

    def __call__(self, form, field):
        """StopValidation with the service's message for this value."""
        try:
            self.parse(field.data, **self.options)
        except ValidationFailed as exc:
            raise StopValidation(next(iter(exc.fields.values()), exc.message)) from None


class OneOfChoices:
    """The value must be one of the field's choices (choices can be set per request)."""

    def __init__(self, message: str | None = None):
        """`message` defaults to "Choose one of: a, b, c." (the services' wording)."""
        self.message = message

    def __call__(self, form, field):
        """StopValidation unless the value is one of the choices."""
        values = list(field.choices or {})  # choices are {value: label}
        if field.data not in values:
            raise StopValidation(self.message or f"Choose one of: {', '.join(values)}.")
