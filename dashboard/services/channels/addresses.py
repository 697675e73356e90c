"""Contact details: a person's notification email and mobile number, checked and normalised.

Numbers are stored in E.164. A South African mobile number may be typed the way people write
it (`082 123 4567`, `+27 82 123 4567`, `0027821234567`) and is stored `+27821234567`; other
countries' numbers must be written with their `+` and country code. Anything else is refused
with a field error, never guessed at.
"""
from __future__ import annotations

import re

from ...models import Person, User
from ..errors import ValidationFailed

EMAIL_MAX = 254
#: A plain address: something@domain.tld, no spaces, no angle brackets or quotes.
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: Separators people type inside a number.
_SEPARATORS = re.compile(r"[ \t.\-()/]")
#: A South African mobile number after its country code: 6x, 7x or 8x and seven more digits.
_ZA_MOBILE = re.compile(r"[6-8][0-9]{8}")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
PHONE_MESSAGE = ("Enter a mobile number like 082 123 4567, or an international one with its "
                 "country code, like +44 7700 900123.")
EMAIL_MESSAGE = "Enter an email address like name@example.com."


def parse_phone(value) -> str | None:
    """The number in E.164, None for a blank, or ValidationFailed (field `phone`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed("The mobile number is not valid.", fields={"phone": PHONE_MESSAGE})
    text = value.strip()
    if not text:
        return None
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("0") and _ZA_MOBILE.fullmatch(digits[1:]):
        return "+27" + digits[1:]
    if digits.startswith("27") and _ZA_MOBILE.fullmatch(digits[2:]):
        return "+" + digits
    if digits.startswith("+27"):
        if _ZA_MOBILE.fullmatch(digits[3:]):
            return digits
    elif digits.isascii() and _E164.fullmatch(digits):
        return digits
    raise ValidationFailed("The mobile number is not valid.", fields={"phone": PHONE_MESSAGE})


def parse_email(value) -> str | None:
    """The address (domain in lower case), None for a blank, or ValidationFailed (`email`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed("The email address is not valid.", fields={"email": EMAIL_MESSAGE})
    text = value.strip()
    if not text:
        return None
    if len(text) > EMAIL_MAX or not text.isascii() or not _EMAIL_RE.fullmatch(text) \
            or ".." in text or text.split("@")[1].startswith("-"):
        raise ValidationFailed("The email address is not valid.", fields={"email": EMAIL_MESSAGE})
    local, domain = text.split("@")
    return f"{local}@{domain.lower()}"


def parse_contact(values: dict) -> dict:
    """{email?, phone?} checked together: every bad field named at once. Fields left out
    are left out of the answer (they keep their saved value)."""
    found, errors = {}, {}
    for name, parse in (("email", parse_email), ("phone", parse_phone)):
        if name in values:
            try:
                found[name] = parse(values[name])
            except ValidationFailed as exc:
                errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Some contact details are not valid.", fields=errors)
    return found


def person_for(session, user: User) -> Person:
    """The user's Person; staff without one get one made (named after their email), so a
    first saved address has somewhere to live."""
    if user.person_id is not None:
        person = session.get(Person, user.person_id)
        if person is not None:
            return person
    local = user.email.split("@")[0][:80] or "Staff"
    person = Person(first_name=local, last_name="")
    session.add(person)
    session.flush()
    session.get(User, user.id).person_id = person.id
    return person


def contact_of(session, user: User) -> dict:
    """{email, phone} the user's notifications go to (None where there is none)."""
    person = session.get(Person, user.person_id) if user.person_id else None
    return {"email": person.email if person else None, "phone": person.phone if person else None}


def update_contact(session, user: User, values: dict) -> dict:
    """Check and save the user's notification email and mobile number (those given); the
    sign-in email is not touched. Returns the saved {email, phone}. The caller commits."""
    found = parse_contact(values)
    if found:
        person = person_for(session, user)
        for name, value in found.items():
            setattr(person, name, value)
        session.flush()
    return contact_of(session, session.get(User, user.id))


def update_person_contact(session, person_id: int, values: dict) -> Person:
    """An operator's change of a resident's email and number (the wallet page)."""
    found = parse_contact(values)
    person = session.get(Person, person_id)
    if person is None:
        from ..errors import NotFound

        raise NotFound("No such person.")
    for name, value in found.items():
        setattr(person, name, value)
    session.flush()
    return person
