"""The resident's settings page: where their alerts go (email, mobile number), which alerts
go by email and SMS, and their quiet hours. One form, saved whole or not at all: every
refusal of the services (a bad number, an unknown time, the critical rule) comes back beside
its field with 422."""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..db import Session, write_transaction
from ..models import User
from ..services.channels import addresses, preferences
from ..services.errors import ValidationFailed
from .access import resident_required
from .forms.channels import choice_name, settings_form
from .fragments import fragment_requested

bp = Blueprint("settings", __name__, url_prefix="/me/settings")
SAVED = "Saved. Your alerts go where you chose."


def _render(form, status: int = 200):
    """The page, or the form alone for htmx."""
    template = "settings/_form.html" if fragment_requested() else "settings/index.html"
    response = make_response(render_template(template, form=form), status)
    response.vary.add("HX-Request")
    return response


@bp.get("")
@resident_required
def index():
    """The settings as saved."""
    return _render(settings_form(addresses.contact_of(Session, current_user),
                                 preferences.get_preferences(Session, current_user)))


def _checked(form) -> tuple[dict, tuple[int, int] | None, dict[str, str]]:
    """What the form says, checked by the services: (contact, quiet hours, errors)."""
    errors: dict[str, str] = {}
    contact = {}
    try:
        contact = addresses.parse_contact({"email": form.email.data, "phone": form.phone.data})
    except ValidationFailed as exc:
        errors.update(exc.fields)
    quiet = []
    for name in ("quiet_start", "quiet_end"):
        try:
            quiet.append(preferences.parse_time(form[name].data, name))
        except ValidationFailed as exc:
            errors.update(exc.fields)
    return contact, (tuple(quiet) if len(quiet) == 2 else None), errors


@bp.post("")
@resident_required
def save():
    """Check everything, save everything (or nothing), answer the form."""
    saved_contact = addresses.contact_of(Session, current_user)
    form = settings_form(saved_contact, preferences.get_preferences(Session, current_user),
                         request.form)
    contact, quiet, errors = _checked(form)
    channels = form.choices()
    if not errors:
        try:
            preferences.check_critical_rule(channels, {**saved_contact, **contact})
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        for name, text in errors.items():
            form.add_error(choice_name(name, "email") if name == preferences.PROTECTED
                           else name, text)
        return _render(form, 422)
    with write_transaction(Session):
        user = Session.get(User, current_user.id)
        addresses.update_contact(Session, user, contact)
        preferences.save_preferences(Session, user, channels=channels, quiet_start=quiet[0],
                                     quiet_end=quiet[1], contact={**saved_contact, **contact})
    if not fragment_requested():
        flash(SAVED, "success")
        return redirect(url_for(".index"), 303)
    fresh = settings_form(addresses.contact_of(Session, current_user),
                          preferences.get_preferences(Session, current_user))
    fresh.message = SAVED
    return _render(fresh)
