"""The sign-in form: both fields needed; whether they match an account is auth's to say."""
from __future__ import annotations

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired

from .base import Form


class LoginForm(Form):
    """Email and password."""

    email = StringField(validators=[DataRequired("Enter your email address.")])
    # A password may be all spaces; only an empty one is missing.
    password = PasswordField(validators=[InputRequired("Enter your password.")])
