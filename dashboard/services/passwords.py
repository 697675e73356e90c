"""Password rules for new passwords."""
from __future__ import annotations

MIN_LENGTH = 10
COMMON = {"password", "password1", "1234567890", "qwertyuiop", "letmein123", "welcome123"}


def check_password_rules(password: str, email: str = "") -> str | None:
    """What is wrong with a new password, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > 200:
        return "Use at most 200 characters."
    if password.lower() in COMMON or (email and password.lower() == email.lower()):
        return "That password is too easy to guess."
    return None
