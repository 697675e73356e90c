"""Operator pages: thresholds (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("thresholds", __name__)
