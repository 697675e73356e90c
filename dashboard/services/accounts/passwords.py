"""Password rules for new passwords (create-user today; any future password form too).

Length and "not guessable" only, no composition rules (NIST SP 800-63B): 10 to 200
characters; not a well-known password (also with digits or symbols tacked on), not a
keyboard or alphabet run, not one or two characters repeated, and not the email address or
its name part.
"""
from __future__ import annotations

import re

MIN_LENGTH = 10
MAX_LENGTH = 200
COMMON = {"password", "password1", "1234567890", "qwertyuiop", "letmein123", "welcome123"}
# Words that stay guessable with digits or symbols added ("Password123!", "qwerty2026").
COMMON_WORDS = {"password", "passw0rd", "qwerty", "qwertyuiop", "letmein", "welcome", "admin",
                "administrator", "iloveyou", "monkey", "dragon", "football", "sunshine",
                "princess", "changeme", "secret", "quantify", "operator", "resident", "login"}
RUNS = ("01234567890123456789", "98765432109876543210", "abcdefghijklmnopqrstuvwxyz",
        "zyxwvutsrqponmlkjihgfedcba", "qwertyuiopasdfghjklzxcvbnm",
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm", "qazwsxedcrfvtgbyhnujmikolp")


def check_password_rules(password: str, email: str = "") -> str | None:
    """What is wrong with a new password, or None when it is acceptable."""
    if not isinstance(password, str) or not password:
        return "Enter a password."
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    base = re.sub(r"[\d\W_]+$", "", lowered)  # "password123!" -> "password"
    guessable = (
        lowered in COMMON or base in COMMON_WORDS
        or len(set(lowered)) <= 2  # "aaaaaaaaaa", "abababababab", ten spaces
        or any(lowered in run for run in RUNS)  # "abcdefghij", "9876543210", keyboard rows
        or (email and lowered == email.strip().lower())
    )
    if guessable:
        return "That password is too easy to guess."
    local = email.strip().lower().split("@", 1)[0] if email else ""
    if len(local) >= 4 and local in lowered:
        return "Do not use your email address or its name part in the password."
    return None
