"""The Users page's forms: the search (a GET form) and setting a password."""
from __future__ import annotations

from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, StopValidation

from ...models import ROLES
from ...services.accounts import check_password_rules
from .base import Form, strip

ROLE_LABELS = {"operator": "Operator", "viewer": "Viewer", "resident": "Resident"}
ACCOUNT_STATE_LABELS = {"active": "Active", "disabled": "Disabled"}
#: Why a sign-in session ended (user_sessions.end_reason), in words.
END_REASON_LABELS = {"signed_out": "Signed out", "password_changed": "Password changed",
                     "disabled": "Account disabled", "revoked": "Sessions revoked",
                     "expired_idle": "Idle too long", "expired_absolute": "Too old"}


class UserFilterForm(Form):
    """Words in the email or name, a role, a state (the users service parses them)."""

    q = StringField(filters=[strip])
    role = SelectField(choices={"": "Any role", **{r: ROLE_LABELS[r] for r in ROLES}},
                       validate_choice=False)
    state = SelectField(choices={"": "Any state", **ACCOUNT_STATE_LABELS},
                        validate_choice=False)

    @property
    def any(self) -> bool:
        """True when any filter is set (the form then offers to clear them)."""
        return any(self.values().values())


class PasswordRules:
    """The password rules of services/accounts/passwords.py, beside the field."""

    def __call__(self, form, field):
        """StopValidation with the rule's message."""
        problem = check_password_rules(field.data or "", form.email)
        if problem:
            raise StopValidation(problem)


class SetPasswordForm(Form):
    """A new password, typed twice."""

    password = PasswordField(validators=[InputRequired("Enter the new password."),
                                         PasswordRules()])
    confirm = PasswordField(validators=[InputRequired("Type the new password again.")])

    def __init__(self, formdata=None, *, email: str = "", **kwargs):
        """`email`: the account's, which the password may not contain."""
        super().__init__(formdata, **kwargs)
        self.email = email

    def validate_confirm(self, field):
        """Both fields must say the same."""
        if field.data != self.password.data:
            raise StopValidation("The two passwords differ.")
