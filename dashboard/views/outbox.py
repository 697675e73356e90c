"""Development only: the Outbox, what the local SMTP server and SMS sink received (so `make
run` shows every email and SMS it would have sent). Registered in development and testing
only (dashboard/views/__init__.py): production never has this page."""
from __future__ import annotations

from flask import Blueprint, current_app

from ..services.channels import outbox
from .access import staff_required
from .fragments import page_or_fragment

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
ENVIRONMENTS = ("development", "testing")


@bp.get("")
@staff_required
def index():
    """The newest emails and SMS received, newest first."""
    folder = current_app.config.get("OUTBOX_DIR")
    return page_or_fragment("outbox/index.html", "outbox/_messages.html", folder=folder,
                            emails=outbox.read(folder, "email"), sms=outbox.read(folder, "sms"))
