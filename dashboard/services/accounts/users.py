"""Accounts: finding, checking and creating users, and the operator actions on them.

Every action that takes access away (disable, revoke sessions and tokens, set a password)
bumps the account's token_version, which ends its API tokens, and ends its open sessions
(services/accounts/sessions.py), in one committed transaction. The result says which
account changed so the caller can close its open sockets at once, after the commit
(dashboard.events.close_sockets); services never talk to Socket.IO themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select

from ...db import write_transaction
from ...models import ROLES, Person, User
from ...models.user import hash_password, password_matches
from ..errors import Conflict, NotFound, ValidationFailed
from . import sessions as login_sessions
from .passwords import check_password_rules

STATES = ("active", "disabled")
PAGE_SIZE = 50
MAX_QUERY = 100

_dummy_hash: list[str] = []


def normal_email(email) -> str:
    """An email as accounts are keyed: stripped and lower-cased."""
    return email.strip().lower() if isinstance(email, str) else ""


def find_by_email(session, email) -> User | None:
    """The user with this email, ignoring case and surrounding spaces."""
    email = normal_email(email)
    if not email:
        return None
    return session.scalars(select(User).where(func.lower(User.email) == email)).first()


def dummy_hash() -> str:
    """A hash made exactly as real passwords are (same algorithm and cost), once per process,
    so an email without an account costs one password check like an email with one."""
    if not _dummy_hash:
        _dummy_hash.append(hash_password("no account has this password"))
    return _dummy_hash[0]


def authenticate(session, email, password, *, refused_emails=frozenset()) -> User | None:
    """The active user with this email and password, else None; the same work either way.

    An unknown email checks the password against a dummy hash of the same algorithm, and a
    disabled account (or one of `refused_emails`, the demo logins in production) has its
    password checked before it is refused, so neither the time taken nor the answer tells
    whether the email has an account.
    """
    user = find_by_email(session, email)
    password = password if isinstance(password, str) else ""
    matches = password_matches(user.password_hash if user else dummy_hash(), password)
    if user is None or not matches or not user.active:
        return None
    if normal_email(user.email) in refused_emails:
        return None
    return user


@dataclass(frozen=True)
class AccountChange:
    """What an action did to one account."""

    user_id: int
    email: str
    action: str  # disabled | enabled | revoked | password_set
    ended_sessions: list[int] = field(default_factory=list)

    @property
    def close_sockets(self) -> bool:
        """Whether the account's open sockets must be closed now."""
        return self.action != "enabled"


def get_user(session, user_id) -> User:
    """The user with this id, or NotFound."""
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise NotFound("No such user.")
    return user


def _take_access(session, user: User, reason: str, now: datetime, keep: int | None) -> list[int]:
    """Bump the token version and end the sessions (but `keep`), in the caller's transaction."""
    user.token_version = (user.token_version or 0) + 1
    return login_sessions.end_for_user(session, user.id, reason, now=now, keep=keep)


def disable(session, user_id: int, *, now: datetime, by_user_id: int | None = None
            ) -> AccountChange:
    """Disable an account: it cannot sign in, its sessions and tokens end. An operator may
    not disable their own account (nobody would be left to enable it from the dashboard)."""
    if by_user_id is not None and by_user_id == user_id:
        raise Conflict("You cannot disable your own account.")
    with write_transaction(session):
        user = get_user(session, user_id)
        user.active = False
        ended = _take_access(session, user, login_sessions.DISABLED, now, None)
    return AccountChange(user.id, user.email, "disabled", ended)


def enable(session, user_id: int) -> AccountChange:
    """Enable an account again (its old sessions and tokens stay ended)."""
    with write_transaction(session):
        user = get_user(session, user_id)
        user.active = True
    return AccountChange(user.id, user.email, "enabled")


def revoke(session, user_id: int, *, now: datetime, keep: int | None = None) -> AccountChange:
    """End every session and API token of an account (but the session `keep`)."""
    with write_transaction(session):
        user = get_user(session, user_id)
        ended = _take_access(session, user, login_sessions.REVOKED, now, keep)
    return AccountChange(user.id, user.email, "revoked", ended)


def set_password(session, user_id: int, password, *, now: datetime,
                 keep: int | None = None) -> AccountChange:
    """A new password (the rules of passwords.py); every other session and every token of
    the account ends. `keep`: the session of an operator setting their own password."""
    user = get_user(session, user_id)
    problem = check_password_rules(password, user.email)
    if problem:
        raise ValidationFailed(problem, fields={"password": problem})
    with write_transaction(session):
        user = get_user(session, user_id)
        user.set_password(password)
        ended = _take_access(session, user, login_sessions.PASSWORD_CHANGED, now, keep)
    return AccountChange(user.id, user.email, "password_set", ended)


def create_user(session, email, role: str, password, person_id: int | None = None) -> User:
    """A new account with a hashed password, committed; ValidationFailed or Conflict."""
    email = normal_email(email)
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}",
                               fields={"role": f"Choose one of: {', '.join(ROLES)}."})
    problem = check_password_rules(password, email)
    if problem:
        raise ValidationFailed(problem, fields={"password": problem})
    with write_transaction(session):
        if find_by_email(session, email):
            raise Conflict(f"a user with email {email} exists")
        if person_id is not None and session.get(Person, person_id) is None:
            raise NotFound(f"no person with id {person_id}")
        user = User(email=email, role=role, person_id=person_id)
        user.set_password(password)
        session.add(user)
    return user


@dataclass(frozen=True)
class UserFilters:
    """The Users page's search: words in the email or name, a role, a state."""

    q: str = ""
    role: str = ""
    state: str = ""


def parse_filters(values: dict) -> UserFilters:
    """UserFilters from text values; ValidationFailed naming each bad field."""
    q = (values.get("q") or "").strip()
    role = values.get("role") or ""
    state = values.get("state") or ""
    problems = {}
    if len(q) > MAX_QUERY:
        problems["q"] = f"Use at most {MAX_QUERY} characters."
    if role not in ("", *ROLES):
        problems["role"] = f"Choose one of: {', '.join(ROLES)}."
    if state not in ("", *STATES):
        problems["state"] = f"Choose one of: {', '.join(STATES)}."
    if problems:
        raise ValidationFailed("Check the filters.", fields=problems)
    return UserFilters(q, role, state)


def list_users(session, filters: UserFilters, *, after_id: int | None = None,
               limit: int = PAGE_SIZE) -> tuple[list[User], int | None]:
    """One page of users in id order, and the cursor of the next page (None at the end)."""
    query = select(User).outerjoin(Person, Person.id == User.person_id)
    if filters.q:
        escaped = filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        name = Person.first_name + " " + Person.last_name
        query = query.where(or_(User.email.ilike(f"%{escaped}%", escape="\\"),
                                name.ilike(f"%{escaped}%", escape="\\")))
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.state:
        query = query.where(User.active.is_(filters.state == "active"))
    if after_id is not None:
        query = query.where(User.id > after_id)
    users = list(session.scalars(query.order_by(User.id).limit(limit + 1)))
    more = len(users) > limit
    users = users[:limit]
    return users, (users[-1].id if more else None)
