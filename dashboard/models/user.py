"""Sign-in accounts: operators, read-only viewers and residents."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .common import STAFF_ROLES, utcnow
from .estate import Person
from .types import UTCDateTime

# werkzeug.security is imported where a password is hashed or checked, not with the models:
# importing werkzeug loads its development server and test client too, which the worker and
# the command line (python run.py scan, at every start) never need.


def hash_password(password: str) -> str:
    """A salted hash of `password` (scrypt), the form every account's password is kept in."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    """True when `password` matches a hash made by hash_password (or an older method)."""
    from werkzeug.security import check_password_hash

    return check_password_hash(password_hash, password)


class User(Base):
    """An account. Residents are linked to a Person, whose occupancies give their units.

    It is Flask-Login's user as well (is_authenticated, is_active, is_anonymous, get_id, and
    equal by id, as flask_login.UserMixin would give it), written out here so the models do
    not import Flask.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))  # operator | viewer | resident
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped to revoke every API token and session of the account at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person | None] = relationship()

    def set_password(self, password: str) -> None:
        """Store a salted hash of `password` (scrypt), never the password itself."""
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        """True when `password` matches the stored hash."""
        return password_matches(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        """Flask-Login: disabled accounts cannot sign in."""
        return self.active

    @property
    def is_authenticated(self) -> bool:
        """Flask-Login: an account is signed in while it is active."""
        return self.is_active

    @property
    def is_anonymous(self) -> bool:
        """Flask-Login: an account is never the anonymous user."""
        return False

    def get_id(self) -> str:
        """Flask-Login: the id the session remembers."""
        return str(self.id)

    def __eq__(self, other) -> bool:
        """Two loads of one account are the same user (compared by id)."""
        if isinstance(other, User):
            return self.get_id() == other.get_id()
        return NotImplemented

    __hash__ = object.__hash__  # a mapped object keeps its identity hash

    @property
    def is_operator(self) -> bool:
        """Operators may act; viewers only look."""
        return self.role == "operator"

    @property
    def is_staff(self) -> bool:
        """Operators and viewers see the whole estate."""
        return self.role in STAFF_ROLES

    @property
    def display_name(self) -> str:
        """The person's name where there is one, else the email."""
        return self.person.name if self.person else self.email


class UserSession(Base):
    """One sign-in of a browser: the server's half of a session cookie.

    The cookie carries a random token; this row keeps only its SHA-256 (a copy of the table
    cannot sign anyone in). A session is valid while it has not ended, has been used within
    the idle lifetime and is younger than the absolute lifetime (services/accounts/sessions.py
    decides); signing out, a password change, disabling the account or revoking its sessions
    set `ended_at`, so every copy of the cookie stops working at once.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # signed_out | password_changed | disabled | revoked | expired_idle | expired_absolute
    end_reason: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(45))  # the client address at sign-in
    user_agent: Mapped[str | None] = mapped_column(String(200))
