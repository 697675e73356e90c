"""Operator pages for alert thresholds: estate defaults, and bulk changes with an impact
preview ("this would put 37 wallets into low") before anything is saved.

The preview and the save are set-based statements in services/estates.py; nothing here loops
over wallets.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..db import Session
from ..models import utcnow
from ..services.errors import ValidationFailed
from ..services.ids import ID_CONVERTER
from ..services.wallets import estates
from .access import operator_required, staff_required
from .fragments import fragment_requested, page_or_fragment

bp = Blueprint("thresholds", __name__, url_prefix="/thresholds")
BULK_FIELDS = ("estate_id", "scope", "low_balance_threshold", "alert_mode", "low_balance_days",
               "alert_frequency_hours", "make_default")
DEFAULT_FIELDS = ("low_balance_threshold", "alert_mode", "low_balance_days",
                  "alert_frequency_hours", "min_low_balance_threshold",
                  "max_low_balance_threshold")


@bp.get("")
@staff_required
def index():
    """Every estate's defaults and (for operators) the bulk change form."""
    return _page()


def _page(status: int = 200, **context):
    """The thresholds page, with a bulk form's values, errors or impact when given."""
    values = {"estates": estates.list_estates(Session), "bulk": {"scope": "all"},
              "bulk_errors": {}, "impact": None, **context}
    return render_template("thresholds/index.html", **values), status


def _bulk_form() -> dict:
    """The bulk form as posted."""
    return {k: request.form.get(k, "").strip() for k in BULK_FIELDS}


@bp.post("/preview")
@operator_required
def preview():
    """What the bulk change would do (one GROUP BY); saves nothing."""
    form = _bulk_form()
    errors, impact = {}, None
    try:
        impact = estates.preview(Session, estates.parse_bulk_change(Session, form), utcnow())
    except ValidationFailed as exc:
        errors = exc.fields
    if fragment_requested():
        return render_template("thresholds/_impact.html", impact=impact, bulk_errors=errors)
    return _page(422 if errors else 200, bulk=form, bulk_errors=errors, impact=impact)


@bp.post("/apply")
@operator_required
def apply():
    """Write the bulk change and the states it gives in one UPDATE; 422 when invalid."""
    form = _bulk_form()
    try:
        change = estates.parse_bulk_change(Session, form)
    except ValidationFailed as exc:
        return _page(422, bulk=form, bulk_errors=exc.fields)
    impact = estates.apply(Session, change, utcnow())
    moved = "; ".join(line.replace("This would put", "moved") for line in impact.sentences())
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
                            estate=found, form=_defaults_values(found), errors={})


@bp.post(f"/estates/<{ID_CONVERTER}:estate_id>")
@operator_required
def save_estate(estate_id: int):
    """Save an estate's defaults; nothing is saved unless every field is valid (422)."""
    found = estates.get_estate(Session, estate_id)
    form = {k: request.form.get(k, "").strip() for k in DEFAULT_FIELDS}
    try:
        values = estates.validate_defaults(found, form)
    except ValidationFailed as exc:
        return page_or_fragment("thresholds/estate.html", "thresholds/_estate_form.html", 422,
                                estate=found, form=form, errors=exc.fields)
    found = estates.save_defaults(Session, found.id, values)
    message = f"Defaults of {found.name} saved. They apply to new wallets."
    if not fragment_requested():
        flash(message, "success")
        return redirect(url_for(".index"), 303)
    return render_template("thresholds/_estate_form.html", estate=found,
                           form=_defaults_values(found), errors={}, saved=message)


def _defaults_values(estate) -> dict:
    """The defaults form's values from the estate as saved."""
    return {"low_balance_threshold": f"{estate.default_low_balance_threshold:.2f}",
            "alert_mode": estate.default_alert_mode,
            "low_balance_days": str(estate.default_low_balance_days),
            "alert_frequency_hours": str(estate.default_alert_frequency_hours),
            "min_low_balance_threshold": f"{estate.min_low_balance_threshold:.2f}",
            "max_low_balance_threshold": f"{estate.max_low_balance_threshold:.2f}"}

