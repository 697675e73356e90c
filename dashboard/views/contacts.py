"""Operators change a resident's notification email and mobile number on the wallet page
(the residents of that wallet's unit only). The checks are the resident's own settings page's
(services/channels/addresses.py); a refusal comes back beside its field with 422."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from flask_login import current_user
from sqlalchemy import select

from ..db import Session, write_transaction
from ..models import Person
from ..routing import ID_CONVERTER
from ..services import wallets
from ..services.channels import addresses
from ..services.errors import ValidationFailed
from .access import operator_required
from .forms.channels import ContactForm
from .fragments import fragment_requested

bp = Blueprint("contacts", __name__, url_prefix="/wallets")


def residents_with_contacts(wallet_id: int) -> list[dict]:
    """The wallet's residents with their email and number (for the wallet page)."""
    people = wallets.residents_of(Session, [wallet_id])[wallet_id]
    ids = [p["id"] for p in people]
    found = {p.id: p for p in Session.scalars(select(Person).where(Person.id.in_(ids)))} \
        if ids else {}
    return [{**p, "email": found[p["id"]].email, "phone": found[p["id"]].phone,
             "form": ContactForm(data={"email": found[p["id"]].email or "",
                                       "phone": found[p["id"]].phone or ""})}
            for p in people if p["id"] in found]


@bp.post(f"/<{ID_CONVERTER}:wallet_id>/residents/<{ID_CONVERTER}:person_id>/contact")
@operator_required
def save(wallet_id: int, person_id: int):
    """Save one resident's email and number (404 for a person not living there)."""
    wallet = wallets.get_wallet(Session, current_user, wallet_id)
    people = residents_with_contacts(wallet.id)
    if person_id not in {p["id"] for p in people}:
        abort(404)
    form = ContactForm(request.form)
    status, message = 200, None
    try:
        with write_transaction(Session):
            addresses.update_person_contact(Session, person_id, {"email": form.email.data,
                                                                 "phone": form.phone.data})
        message = "Contact details saved."
    except ValidationFailed as exc:
        form.refuse(exc)
        status = 422
    if not fragment_requested():
        if status == 200:
            flash(message, "success")
            return redirect(url_for("wallets.detail", wallet_id=wallet.id), 303)
        abort(422, " ".join(form.messages().values()))
    people = residents_with_contacts(wallet.id)
    for p in people:
        if p["id"] == person_id:
            p["form"] = form if status == 422 else p["form"]
            p["form"].message = message
    return make_response(render_template("wallets/_contacts.html", wallet=wallet,
                                         contacts=people), status)
