"""The sign-in and sign-out pages (blueprint `auth`: /login, /logout)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import auth
from ..models import User
from .forms import LoginForm

bp = Blueprint("auth", __name__)
BAD_CREDENTIALS = "That email and password do not match an account."
LIMITED = "Too many sign-in attempts. Wait {wait} and try again."


def home_for(user: User) -> str:
    """Where a user lands after sign-in: the dashboard for staff, their wallet for residents."""
    return url_for("overview.index") if user.is_staff else url_for("resident.home")


def wait_text(seconds: int) -> str:
    """A wait in words: "30 seconds", "2 minutes"."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


@bp.route("/login", methods=["GET", "POST"])
def login_page():
    """The sign-in form; on success, a fresh session and a redirect to `next` (a page of
    this site only) or home. Refusals: 422 (a field missing), 401 (no such email and
    password, always the same answer), 429 with Retry-After (a sign-in limit)."""
    if current_user.is_authenticated:
        return redirect(auth.safe_next(request.args.get("next")) or home_for(current_user))
    form = LoginForm(request.form if request.method == "POST" else None)
    status, headers = 200, {}
    if request.method == "POST":
        if not form.validate():
            status = 422
        else:
            result = auth.check_credentials(form.email.data, form.password.data)
            if result.limited:
                form.form_errors.append(LIMITED.format(wait=wait_text(result.retry_after)))
                status, headers = 429, {"Retry-After": str(result.retry_after)}
            elif result.user is None:
                form.form_errors.append(BAD_CREDENTIALS)
                status = 401
            else:
                auth.sign_in(result.user)
                return redirect(auth.safe_next(request.args.get("next"))
                                or home_for(result.user))
    return render_template("auth/login.html", form=form), status, headers


@bp.post("/logout")
@login_required
def logout():
    """Sign out (POST, so a link or image elsewhere cannot sign you out): the session ends
    on the server, so a copy of its cookie no longer works, and its open sockets close."""
    auth.sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login_page"))
