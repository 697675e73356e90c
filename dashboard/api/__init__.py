"""The JSON API under /api/v1 (its OpenAPI document: /api/v1/openapi.json)."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import auth, meters, notifications, openapi, scans, wallets, webhooks  # noqa: E402,F401  (routes)
