"""Operator pages for alert thresholds: estate defaults, and bulk changes with an impact
preview ("this would put 37 wallets into low") before anything is saved.

The preview and the save are set-based statements in services/wallets/estates.py; nothing
here loops over wallets.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..db import Session
from ..models import utcnow
from ..routing import ID_CONVERTER
from ..services.errors import ValidationFailed
from ..services.forecast import estate_settings
from ..services.wallets import estates
from .access import operator_required, staff_required
from .forms import BulkChangeForm, EstateDefaultsForm, EstateHoursForm
from .fragments import fragment_requested, page_or_fragment, tz
from .labels import impact_sentences

bp = Blueprint("thresholds", __name__, url_prefix="/thresholds")


@bp.get("")
@staff_required
def index():
    """Every estate's defaults and (for operators) the bulk change form."""
    return _page()


def _page(status: int = 200, form: BulkChangeForm | None = None, impact=None):
    """The thresholds page, with a bulk form as sent (its errors) and its impact when given."""
    found = estates.list_estates(Session)
    return render_template("thresholds/index.html", estates=found,
                           bulk=form or BulkChangeForm(estates=found),
                           **_impact_context(impact)), status


def _impact_context(impact) -> dict:
    """The impact of a bulk change and its sentences, for thresholds/_impact.html."""
    return {"impact": impact, "moves": impact_sentences(impact) if impact else []}


def _bulk_form() -> BulkChangeForm:
    """The bulk form as posted."""
    return BulkChangeForm(request.form, estates=estates.list_estates(Session))


def _bulk_change(form: BulkChangeForm):
    """The change the form asks for, or None with the service's refusal on the form."""
    try:
        return estates.parse_bulk_change(Session, form.values())
    except ValidationFailed as exc:
        form.refuse(exc)
        return None


@bp.post("/preview")
@operator_required
def preview():
    """What the bulk change would do (one GROUP BY); saves nothing."""
    form = _bulk_form()
    change = _bulk_change(form)
    impact = estates.preview(Session, change, utcnow()) if change else None
    if fragment_requested():
        return render_template("thresholds/_impact.html", bulk=form, **_impact_context(impact))
    return _page(form.status, form, impact)


@bp.post("/apply")
@operator_required
def apply():
    """Write the bulk change and the states it gives in one UPDATE; 422 when invalid."""
    form = _bulk_form()
    change = _bulk_change(form)
    if change is None:
        return _page(422, form)
    impact = estates.apply(Session, change, utcnow())
    moved = "; ".join(impact_sentences(impact, verb="moved"))
    flash(f"Saved for {impact.wallets:,} wallet{'s' if impact.wallets != 1 else ''}"
          f"{': ' + moved if moved else '; no state changed'}. Alerts follow at the next scan.",
          "success")
    return redirect(url_for(".index"), 303)


@bp.get(f"/estates/<{ID_CONVERTER}:estate_id>")
@staff_required
def estate(estate_id: int):
    """One estate's defaults and hours: forms for operators, the values for viewers."""
    found = estates.get_estate(Session, estate_id)
    return page_or_fragment("thresholds/estate.html", "thresholds/_estate_form.html",
                            estate=found, form=EstateDefaultsForm.of(found),
                            **_hours_context(found))


def _hours_context(estate, form=None, impact=None) -> dict:
    """The hours form (as sent, or as saved), its impact, and the system's zone."""
    return {"hours": form or EstateHoursForm.of(estate_settings.EstateHours.of(estate)),
            "hours_impact": impact, "system_zone": tz()}


def _hours_form(estate_id: int):
    """The estate and its hours form as posted, with the settings it asks for (None with
    the service's refusals on the form)."""
    found = estates.get_estate(Session, estate_id)
    form = EstateHoursForm(request.form)
    try:
        return found, form, estate_settings.validate_hours(form.values())
    except ValidationFailed as exc:
        form.refuse(exc)
        return found, form, None


@bp.post(f"/estates/<{ID_CONVERTER}:estate_id>/hours/preview")
@operator_required
def preview_hours(estate_id: int):
    """How many residents would see another run-out time with the posted hours; saves
    nothing."""
    found, form, values = _hours_form(estate_id)
    impact = (estate_settings.preview_hours(Session, found, values, utcnow(), tz())
              if values else None)
    if fragment_requested():
        return render_template("thresholds/_hours_impact.html", estate=found, hours=form,
                               hours_impact=impact)
    return render_template("thresholds/estate.html", estate=found,
                           form=EstateDefaultsForm.of(found),
                           **_hours_context(found, form, impact)), form.status


@bp.post(f"/estates/<{ID_CONVERTER}:estate_id>/hours")
@operator_required
def save_hours(estate_id: int):
    """Save the estate's hours (the calendar of friendly hours is remade at once); 422 with
    the fields' errors when any is invalid."""
    found, form, values = _hours_form(estate_id)
    if values is None:
        return page_or_fragment("thresholds/estate.html", "thresholds/_hours_form.html", 422,
                                estate=found, form=EstateDefaultsForm.of(found),
                                **_hours_context(found, form))
    found = estate_settings.save_hours(Session, found.id, values, utcnow(), tz())
    message = f"Friendly hours and meter settings of {found.name} saved."
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".estate", estate_id=found.id), 303)
    saved = EstateHoursForm.of(estate_settings.EstateHours.of(found))
    saved.message = message
    return render_template("thresholds/_hours_form.html", estate=found,
                           **_hours_context(found, saved))


@bp.post(f"/estates/<{ID_CONVERTER}:estate_id>")
@operator_required
def save_estate(estate_id: int):
    """Save an estate's defaults; nothing is saved unless every field is valid (422)."""
    found = estates.get_estate(Session, estate_id)
    form = EstateDefaultsForm(request.form)
    try:
        values = estates.validate_defaults(found, form.values())
    except ValidationFailed as exc:
        form.refuse(exc)
        return page_or_fragment("thresholds/estate.html", "thresholds/_estate_form.html", 422,
                                estate=found, form=form, **_hours_context(found))
    found = estates.save_defaults(Session, found.id, values)
    message = f"Defaults of {found.name} saved. They apply to new wallets."
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".index"), 303)
    saved = EstateDefaultsForm.of(found)
    saved.message = message
    return render_template("thresholds/_estate_form.html", estate=found, form=saved)
