"""Operator pages: scans (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("scans", __name__)
