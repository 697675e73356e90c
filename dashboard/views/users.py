"""The operators' Users page: every account with its role and state, searched and paged, and
per account the actions Disable / Enable, Revoke sessions and Set password.

Operators only. Viewers get 403: watching the estate does not need the list of staff
emails and account states (the map a phishing or password-guessing attack wants), and
they could not act on it anyway. Residents get 404, as for every staff page.

Each action goes through services/accounts (which commits), then closes the account's open
sockets on every web process at once (auth.after_account_change): a disabled operator's
dashboard stops receiving the feed within a second, not at the next 30 s sweep.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import auth
from ..db import Session
from ..routing import ID_CONVERTER
from ..services import accounts
from ..services.accounts import sessions as login_sessions
from ..services.errors import Conflict, ValidationFailed
from ..services.ids import parse_id
from .access import staff_required
from .forms import SetPasswordForm, UserFilterForm
from .forms.users import ACCOUNT_STATE_LABELS, END_REASON_LABELS, ROLE_LABELS
from .fragments import page_or_fragment

bp = Blueprint("users", __name__, url_prefix="/users")
LABELS = {"roles": ROLE_LABELS, "states": ACCOUNT_STATE_LABELS, "ends": END_REASON_LABELS}


def operators_only(view):
    """Operators only: viewers 403, residents 404."""

    @staff_required
    @wraps(view)
    def wrapper(*args, **kwargs):
        """403 for viewers."""
        if not current_user.is_operator:
            abort(403, "Only operators manage users.")
        return view(*args, **kwargs)

    return wrapper


@bp.get("")
@operators_only
def index():
    """?q=&role=&state=&after= : one page of accounts (the table alone for htmx)."""
    form = UserFilterForm(request.args)
    try:
        filters = accounts.parse_filters(form.values())
    except ValidationFailed as exc:
        form.refuse(exc)
        filters = accounts.UserFilters()
    after = parse_id(request.args.get("after", ""))
    users, next_cursor = accounts.list_users(Session, filters, after_id=after)
    counts = login_sessions.open_counts(Session, [u.id for u in users], now=auth.now(),
                                        lifetimes=auth.lifetimes())
    args = {k: v for k, v in (("q", filters.q), ("role", filters.role),
                              ("state", filters.state)) if v}
    return page_or_fragment("users/index.html", "users/_table.html", form.status, form=form,
                            users=users, counts=counts, args=args, after=after,
                            next_cursor=next_cursor, labels_=LABELS)


def _detail(user, form: SetPasswordForm, status: int = 200):
    """The account's page: its details, recent sessions, actions and the password form."""
    history = login_sessions.of_user(Session, user.id)
    counts = login_sessions.open_counts(Session, [user.id], now=auth.now(),
                                        lifetimes=auth.lifetimes())[user.id]
    lifetimes, now = auth.lifetimes(), auth.now()
    open_ids = {s.id for s in history
                if s.ended_at is None and not login_sessions.expiry(s, now, lifetimes)}
    return render_template("users/detail.html", account=user, form=form, sessions=history,
                           open_ids=open_ids, counts=counts, labels_=LABELS,
                           is_self=user.id == current_user.id), status


@bp.get(f"/<{ID_CONVERTER}:user_id>")
@operators_only
def detail(user_id: int):
    """One account."""
    user = accounts.get_user(Session, user_id)
    return _detail(user, SetPasswordForm(email=user.email))


def _done(change: accounts.AccountChange, message: str):
    """Close the account's sockets, say what happened, and go back to its page (or to
    sign-in, when the operator has just ended their own session)."""
    auth.after_account_change(change)
    flash(message, "success")
    if not current_user.is_authenticated or change.user_id == current_user.id \
            and auth.current_login_id() in change.ended_sessions:
        return redirect(url_for("auth.login_page"))
    return redirect(url_for("users.detail", user_id=change.user_id))


@bp.post(f"/<{ID_CONVERTER}:user_id>/disable")
@operators_only
def disable(user_id: int):
    """Disable the account: no sign-in, its sessions, tokens and sockets end now."""
    try:
        change = accounts.disable(Session, user_id, now=auth.now(), by_user_id=current_user.id)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("users.detail", user_id=user_id))
    sessions = len(change.ended_sessions)
    return _done(change, f"{change.email} is disabled; {sessions} open session"
                         f"{'s' if sessions != 1 else ''} ended.")


@bp.post(f"/<{ID_CONVERTER}:user_id>/enable")
@operators_only
def enable(user_id: int):
    """Enable the account again (it signs in afresh)."""
    change = accounts.enable(Session, user_id)
    return _done(change, f"{change.email} is enabled.")


@bp.post(f"/<{ID_CONVERTER}:user_id>/revoke")
@operators_only
def revoke(user_id: int):
    """End every session and API token of the account, and close its sockets."""
    change = accounts.revoke(Session, user_id, now=auth.now())
    sessions = len(change.ended_sessions)
    return _done(change, f"Sessions of {change.email} revoked: {sessions} ended, and every "
                         "API token stopped working.")


@bp.post(f"/<{ID_CONVERTER}:user_id>/password")
@operators_only
def set_password(user_id: int):
    """Set a new password: every other session and every token of the account end."""
    user = accounts.get_user(Session, user_id)
    form = SetPasswordForm(request.form, email=user.email)
    if not form.validate():
        return _detail(user, form, 422)
    keep = auth.current_login_id() if user.id == current_user.id else None
    try:
        change = accounts.set_password(Session, user.id, form.password.data, now=auth.now(),
                                       keep=keep)
    except ValidationFailed as exc:
        form.refuse(exc)
        return _detail(user, form, 422)
    if keep is not None:
        auth.keep_signed_in(accounts.get_user(Session, user.id))
    return _done(change, f"New password set for {change.email}; its other sessions and its "
                         "API tokens ended.")
