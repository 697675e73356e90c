"""Role checks for pages."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def staff_required(view):
    """Operators and viewers only; a resident gets 404."""

    @login_required
    @wraps(view)
    def wrapper(*args, **kwargs):
        """404 for residents."""
        if not current_user.is_staff:
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def operator_required(view):
    """Actions: operators only; viewers get 403, residents 404."""

    @staff_required
    @wraps(view)
    def wrapper(*args, **kwargs):
        """403 for viewers."""
        if not current_user.is_operator:
            abort(403, "Viewers can look but not change anything.")
        return view(*args, **kwargs)

    return wrapper


def resident_required(view):
    """Resident pages; staff are sent to 404 (they use the dashboard)."""

    @login_required
    @wraps(view)
    def wrapper(*args, **kwargs):
        """404 for staff."""
        if current_user.is_staff:
            abort(404)
        return view(*args, **kwargs)

    return wrapper
