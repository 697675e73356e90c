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
from ..services.wallets import estates
from .access import operator_required, staff_required
from .forms import BulkChangeForm, EstateDefaultsForm
from .fragments import fragment_requested, page_or_fragment
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
    """One estate's defaults: a form for operators, the values for viewers."""
    found = estates.get_estate(Session, estate_id)
    return page_or_fragment("thresholds/estate.html", "thresholds/_estate_form.html",
                            estate=found, form=EstateDefaultsForm.of(found))


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
                                estate=found, form=form)
    found = estates.save_defaults(Session, found.id, values)
    message = f"Defaults of {found.name} saved. They apply to new wallets."
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".index"), 303)
    saved = EstateDefaultsForm.of(found)
    saved.message = message
    return render_template("thresholds/_estate_form.html", estate=found, form=saved)
