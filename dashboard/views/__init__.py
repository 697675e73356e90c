"""Server-rendered pages: the operator dashboard and the resident pages."""
from __future__ import annotations

from flask import Flask

from .context import register_context


def register_views(app: Flask) -> None:
    """Register every page blueprint and the template helpers."""
    from . import overview, resident

    register_context(app)
    app.register_blueprint(overview.bp)
    app.register_blueprint(resident.bp)
