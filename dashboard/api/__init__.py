"""The JSON API under /api/v1 (its OpenAPI document: /api/v1/openapi.json)."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import (  # noqa: E402,F401  (routes)
    auth,
    deliveries,
    me,
    meters,
    notifications,
    openapi,
    payments,
    scans,
    wallets,
    webhooks,
)
