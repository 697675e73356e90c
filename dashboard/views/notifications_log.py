"""Operator pages: notifications_log (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("notifications_log", __name__)
