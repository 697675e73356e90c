"""The sign-in and sign-out pages (blueprint `auth`: /login, /logout)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..auth import authenticate, rate_limited, safe_next
from ..models import User
from .forms import LoginForm

bp = Blueprint("auth", __name__)


def home_for(user: User) -> str:
    """Where a user lands after sign-in: the dashboard for staff, their wallet for residents."""
    return url_for("overview.index") if user.is_staff else url_for("resident.home")


@bp.route("/login", methods=["GET", "POST"])
def login_page():
    """The sign-in form; on success, a fresh session and a redirect home."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm(request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if not form.validate():
            status = 422
        elif rate_limited(form.email.data):
            form.form_errors.append("Too many sign-in attempts. Wait a few minutes and try again.")
            status = 429
        else:
            user = authenticate(form.email.data, form.password.data)
            if user is None:
                form.form_errors.append("That email and password do not match an account.")
                status = 401
            else:
                login_user(user)
                session["token_version"] = user.token_version
                return redirect(safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out (POST, so a link or image elsewhere cannot sign you out)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login_page"))
