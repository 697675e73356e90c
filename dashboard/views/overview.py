"""The operator overview: wallets by state, notifications today, scans, health, live feed.

Each widget is one underscore partial with its own route; the page includes them all, and an
htmx request to a widget's route gets only that widget (one rendering path for page and fragment).
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from ..checks import system_checks
from ..db import Session
from ..models import utcnow
from ..services import notifications
from ..services.channels import status as channel_status
from ..services.ops import stats as overview_stats
from ..services.scans import control as scan_control
from .access import staff_required
from .fragments import page_or_fragment, tz

bp = Blueprint("overview", __name__)
FEED_SIZE = 20


@bp.get("/")
@staff_required
def index():
    """The operator's home page."""
    return render_template("overview/index.html", by_state=_by_state(), today=_today(),
                           scans=_scans(), checks=system_checks(), feed=feed_items(),
                           channels=_channels())


@bp.get("/overview/channels")
@staff_required
def channels():
    """Email and SMS: configured, sent and failed today, waiting (refreshed on deliveries)."""
    return page_or_fragment("overview/index_widget.html", "overview/_channels.html",
                            widget="overview/_channels.html", channels=_channels())


def _channels() -> list:
    """Each outside channel's health today."""
    cfg = current_app.config
    return channel_status.channel_health(Session, {"email": cfg.get("EMAIL_URL"),
                                                   "sms": cfg.get("SMS_URL")}, utcnow(), tz())


@bp.get("/overview/states")
@staff_required
def states():
    """Wallet counts per state (refreshed when wallets change)."""
    return page_or_fragment("overview/index_widget.html", "overview/_states.html",
                            widget="overview/_states.html", by_state=_by_state())


@bp.get("/overview/today")
@staff_required
def today():
    """Notifications made today, per type."""
    return page_or_fragment("overview/index_widget.html", "overview/_today.html",
                            widget="overview/_today.html", today=_today())


@bp.get("/overview/scans")
@staff_required
def scans():
    """The last run of each scan."""
    return page_or_fragment("overview/index_widget.html", "overview/_scans.html",
                            widget="overview/_scans.html", scans=_scans())


@bp.get("/overview/health")
@staff_required
def health_widget():
    """Redis, beat and worker health (each probe bounded to half a second)."""
    return page_or_fragment("overview/index_widget.html", "overview/_health.html",
                            widget="overview/_health.html", checks=system_checks())


@bp.get("/feed")
@staff_required
def feed():
    """The live feed, refreshed by htmx when a notification arrives."""
    return page_or_fragment("overview/index_widget.html", "overview/_feed.html",
                            widget="overview/_feed.html", feed=feed_items())


def feed_items(limit: int = FEED_SIZE) -> list:
    """The newest notifications (all of them: staff see every notification)."""
    return [n for n, _read in notifications.list_for(Session, current_user, limit=limit)]


def _by_state() -> dict[str, int]:
    """Wallets per state."""
    return overview_stats.wallets_by_state(Session)


def _today() -> dict[str, int]:
    """Notifications since local midnight per type."""
    return overview_stats.today_by_type(Session, utcnow(), tz())


def _scans() -> list:
    """The three scans with schedule, next run and last run."""
    return scan_control.describe(Session, utcnow(), tz())
