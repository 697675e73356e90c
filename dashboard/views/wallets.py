"""Operator pages: wallets (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("wallets", __name__)
