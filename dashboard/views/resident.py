"""The resident's pages: their wallet and their notifications."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from ..db import Session
from ..models import Wallet
from ..services import notifications, wallets
from .access import resident_required

bp = Blueprint("resident", __name__, url_prefix="/me")


@bp.get("/")
@resident_required
def home():
    """The resident's wallets and their newest notifications."""
    mine = list(Session.scalars(select(Wallet).where(wallets.visible(Session, current_user))
                                .order_by(Wallet.id)))
    inbox = notifications.list_for(Session, current_user, limit=20)
    return render_template("resident/home.html", wallets=mine, inbox=inbox)
