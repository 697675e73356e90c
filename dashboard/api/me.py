"""The signed-in person: their notification email and mobile number, and which alerts reach
them by email and SMS (with their quiet hours). The sign-in email is not changed here:
changing the identity one signs in with is a security action of its own."""
from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from ..db import Session, write_transaction
from ..models import OUTSIDE_CHANNELS, User
from ..services.channels import addresses, preferences
from ..services.notifications.messages import TYPES
from .helpers import signed_in
from .schemas import INTEGER, TEXT, enum, nullable, obj
from .spec import NO_NUL, Body, Field, route

CONTACT_TEXT = {"type": "string", "pattern": NO_NUL, "nullable": True}
ME = obj({"id": INTEGER, "role": TEXT, "name": TEXT, "sign_in_email": TEXT,
          "email": nullable(TEXT), "phone": nullable(TEXT)})
ME_BODY = Body(
    email=Field({**CONTACT_TEXT, "example": "resident@example.com",
                 "description": "Where email alerts go; null clears it."}),
    phone=Field({**CONTACT_TEXT, "example": "082 123 4567",
                 "description": "A mobile number; South African numbers may be written "
                                "nationally (082 123 4567) and are stored in E.164 "
                                "(+27821234567). null clears it."}))
TIME_IN = {"type": "string", "pattern": preferences.TIME_PATTERN, "example": "21:00"}
CHANNEL_LIST = {"type": "array", "items": enum(OUTSIDE_CHANNELS)}
QUIET = obj({"start": TIME_IN, "end": TIME_IN},
            description="Local time; email and SMS (but critical alerts) wait until the end.")
PREFERENCES = obj({
    "channels": obj({kind: CHANNEL_LIST for kind in TYPES},
                    description="For each type, the channels beyond in-app it goes by."),
    "quiet_hours": QUIET})
PREFERENCES_BODY = Body(
    channels=Field({"type": "object", "additionalProperties": False,
                    "properties": {kind: CHANNEL_LIST for kind in TYPES},
                    "description": "Types left out keep their choice."}),
    quiet_hours=Field(QUIET))
RULE = ("422 also when critical_credit would reach none of the addresses the person has "
        "(the critical rule).")


def me_json(user: User) -> dict:
    """The caller with their notification addresses."""
    contact = addresses.contact_of(Session, user)
    return {"id": user.id, "role": user.role, "name": user.display_name,
            "sign_in_email": user.email, **contact}


@route("GET", "/me", summary="The caller and where their notifications go",
       answers={200: ME})
@signed_in
def get_me():
    """Who is signed in, and their notification email and mobile number."""
    return jsonify(me_json(current_user))


@route("PATCH", "/me", summary="Change the caller's notification email or mobile number",
       body=ME_BODY, answers={200: ME}, description="Fields left out keep their value. " + RULE)
@signed_in
def patch_me():
    """{email, phone}: checked, normalised (E.164) and saved; field errors otherwise."""
    data = ME_BODY.read()
    found = addresses.parse_contact(data)
    with write_transaction(Session):
        user = Session.get(User, current_user.id)
        contact = {**addresses.contact_of(Session, user), **found}
        preferences.check_critical_rule(preferences.get_preferences(Session, user).channels,
                                        contact)
        addresses.update_contact(Session, user, found)
    return jsonify(me_json(Session.get(User, current_user.id)))


@route("GET", "/me/preferences", summary="Which alerts reach the caller by email and SMS",
       answers={200: PREFERENCES})
@signed_in
def get_preferences():
    """{channels: {type: [email, sms]}, quiet_hours: {start, end}}."""
    return jsonify(preferences.get_preferences(Session, current_user).as_json())


@route("PUT", "/me/preferences", summary="Choose the caller's alert channels and quiet hours",
       body=PREFERENCES_BODY, answers={200: PREFERENCES}, description=RULE)
@signed_in
def put_preferences():
    """Save the types given and the quiet hours; answer what is now in force."""
    data = PREFERENCES_BODY.read()
    channels = preferences.parse_channels(data["channels"]) if "channels" in data else None
    start = end = None
    if "quiet_hours" in data:
        start, end = parse_quiet(data["quiet_hours"])
    with write_transaction(Session):
        saved = preferences.save_preferences(Session, Session.get(User, current_user.id),
                                             channels=channels, quiet_start=start,
                                             quiet_end=end)
    return jsonify(saved.as_json())


def parse_quiet(value) -> tuple[int, int]:
    """{start, end} as minutes; field errors under quiet_hours.start / .end."""
    from ..services.errors import ValidationFailed

    if not isinstance(value, dict) or set(value) - {"start", "end"}:
        raise ValidationFailed("Quiet hours are not valid.", fields={
            "quiet_hours": "Send {start, end} as times like 21:00."})
    errors, found = {}, {}
    for key in ("start", "end"):
        try:
            found[key] = preferences.parse_time(value.get(key), f"quiet_hours.{key}")
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Quiet hours are not valid.", fields=errors)
    return found["start"], found["end"]
