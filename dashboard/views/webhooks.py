"""The operators' Webhooks page: endpoints with their state and recent failures, register
one (its secret shown once, on the page that answers the registration), enable, disable,
delete; one endpoint's messages and attempts, with Resend.

Viewers see everything but the forms and buttons; residents get 404. The secret is never
put in a flash message or a redirect (the session cookie is signed, not encrypted): the
registration's own answer shows it, and no later page can.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import dispatch
from ..db import Session
from ..models import MESSAGE_STATES, utcnow
from ..routing import ID_CONVERTER
from ..services import webhooks
from ..services.errors import Conflict, Unavailable, ValidationFailed
from ..services.wallets import parse_cursor_id
from .access import operator_required, staff_required
from .forms import EVENT_LABELS, WebhookForm

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
DELIVERIES = "deliveries"


def _page(form: WebhookForm | None = None, status: int = 200, registered=None):
    """The list page, with the registration form as sent and a new secret when given."""
    found = webhooks.list_endpoints(Session, utcnow())
    return render_template("webhooks/index.html", endpoints=found, form=form or WebhookForm(),
                           labels_events=EVENT_LABELS, registered=registered), status


@bp.get("")
@staff_required
def index():
    """Every endpoint with its state, what is waiting and the last day's failures."""
    return _page()


@bp.post("")
@operator_required
def register():
    """Register an endpoint; the answer is the page with the secret, this once (201)."""
    form = WebhookForm(request.form)
    try:
        made = webhooks.register(Session, form.url.data, form.events.data,
                                 rules=webhooks.rules_from(current_app.config),
                                 key=webhooks.sealing_key(current_app.config),
                                 user_id=current_user.id, now=utcnow())
    except ValidationFailed as exc:
        form.refuse(exc)
        return _page(form, 422)
    response = _page(None, 201, registered=made)
    return response[0], 201, {"Cache-Control": "no-store"}


@bp.get(f"/<{ID_CONVERTER}:endpoint_id>")
@staff_required
def endpoint(endpoint_id: int):
    """One endpoint: its messages (filter by status) and attempts, newest first."""
    found = webhooks.get_endpoint(Session, endpoint_id)
    status = request.args.get("status") or None
    if status not in (None, *MESSAGE_STATES):
        status = None
    messages, next_message = webhooks.messages(
        Session, endpoint_id, status=status, limit=50,
        before_id=parse_cursor_id(request.args.get("before")))
    attempts, _ = webhooks.attempts(Session, endpoint_id, limit=50)
    return render_template("webhooks/endpoint.html", endpoint=found, messages=messages,
                           next_message=next_message, attempts=attempts, status=status,
                           states=MESSAGE_STATES, labels_events=EVENT_LABELS)


@bp.post(f"/<{ID_CONVERTER}:endpoint_id>/enable")
@operator_required
def enable(endpoint_id: int):
    """Enable: it starts afresh, and what is still pending goes out at the next sweep."""
    found = webhooks.set_enabled(Session, endpoint_id, True, utcnow())
    flash(f"Enabled {found.url}.", "success")
    return _back(endpoint_id)


def _back(endpoint_id: int):
    """Back to the endpoint's page when the button was there, else to the list."""
    if request.form.get("back") == "endpoint":
        return redirect(url_for(".endpoint", endpoint_id=endpoint_id), 303)
    return redirect(url_for(".index"), 303)


@bp.post(f"/<{ID_CONVERTER}:endpoint_id>/disable")
@operator_required
def disable(endpoint_id: int):
    """Disable: no new messages are made for it and nothing is sent."""
    found = webhooks.set_enabled(Session, endpoint_id, False, utcnow())
    flash(f"Disabled {found.url}.", "success")
    return _back(endpoint_id)


@bp.post(f"/<{ID_CONVERTER}:endpoint_id>/delete")
@operator_required
def delete(endpoint_id: int):
    """Delete the endpoint with its messages and attempts."""
    found = webhooks.delete_endpoint(Session, endpoint_id)
    flash(f"Deleted {found.url} and its log.", "success")
    return redirect(url_for(".index"), 303)


@bp.post(f"/messages/<{ID_CONVERTER}:message_id>/resend")
@operator_required
def resend(message_id: int):
    """Resend: a new attempt of this message now (refused while its endpoint is off)."""
    try:
        batch = webhooks.resend(Session, message_id, utcnow())
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for(".index"), 303)
    try:
        dispatch.send("send_webhooks", queue=DELIVERIES, endpoint_id=batch.endpoint_id,
                      message_ids=batch.message_ids, token=batch.token, resend=True)
        flash(f"Message {message_id} is being sent again.", "success")
    except Unavailable:
        flash(f"The task queue is unreachable: message {message_id} goes out within "
              "10 minutes, once it is back.", "error")
    return redirect(url_for(".endpoint", endpoint_id=batch.endpoint_id), 303)
