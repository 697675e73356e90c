"""The operator overview: wallets by state, the scans, and the live feed."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user
from sqlalchemy import func, select

from ..db import Session
from ..models import Wallet, utcnow
from ..services import notifications, scan_control
from .access import staff_required

bp = Blueprint("overview", __name__)


@bp.get("/")
@staff_required
def index():
    """The operator's home page."""
    by_state = dict(Session.execute(select(Wallet.state, func.count())
                                    .group_by(Wallet.state)).all())
    scans = scan_control.describe(Session, utcnow(), current_app.config["CELERY_TIMEZONE"])
    return render_template("overview/index.html", by_state=by_state, scans=scans, feed=_feed())


@bp.get("/feed")
@staff_required
def feed():
    """The live feed partial, refreshed by htmx when a notification arrives."""
    return render_template("overview/_feed.html", feed=_feed())


def _feed(limit: int = 20) -> list:
    """The newest notifications."""
    return [n for n, _read in notifications.list_for(Session, current_user, limit=limit)]
