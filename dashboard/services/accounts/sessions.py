"""Sign-in sessions kept on the server (table user_sessions), so a session can really end.

A browser's session cookie is signed but lives on the client: a copy of it, taken before
sign-out, used to stay valid for as long as the account did. Now each sign-in makes a row
here and the cookie carries a random token naming it (the row keeps only the token's
SHA-256). Every request looks the row up (`check`): the session counts only while it has not
ended, was used within the idle lifetime and is younger than the absolute lifetime. Signing
out, a password change, disabling the account and revoking its sessions end rows (`end`,
`end_for_user`), so every copy of the cookie fails on its next request, on every web
process, whatever Redis is doing.

Why the database and not server-side sessions in Redis: our Redis keeps nothing across a
restart (development starts a private one; production may too), and a Redis outage would
then either sign everybody out or, worse, be tempted to let unknown sessions through. The
check is one indexed lookup that replaces the user lookup Flask-Login made anyway, and
`last_seen_at` is written at most once per `touch` interval, not on every request.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from ...db import write_transaction
from ...models import User, UserSession

ADDRESS_LENGTH = 45
AGENT_LENGTH = 200
# Why a session ended (user_sessions.end_reason).
SIGNED_OUT = "signed_out"
PASSWORD_CHANGED = "password_changed"
DISABLED = "disabled"
REVOKED = "revoked"
EXPIRED_IDLE = "expired_idle"
EXPIRED_ABSOLUTE = "expired_absolute"


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lasts: unused for `idle`, or at all for `absolute`; `touch` is how
    often its last use is written down (the idle lifetime is as precise as that)."""

    idle: timedelta
    absolute: timedelta
    touch: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Checked:
    """A session cookie's token looked up: the user and the session, while both are valid."""

    user: User
    login: UserSession


def token_hash(token: str) -> str:
    """What the table keeps of a token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(session, user: User, *, now: datetime, address: str | None = None,
          user_agent: str | None = None) -> tuple[str, UserSession]:
    """A new session for `user`, committed: (the token for the cookie, the row)."""
    token = secrets.token_urlsafe(32)
    with write_transaction(session):
        row = UserSession(user_id=user.id, token_hash=token_hash(token), created_at=now,
                          last_seen_at=now, address=(address or "")[:ADDRESS_LENGTH] or None,
                          user_agent=(user_agent or "")[:AGENT_LENGTH] or None)
        session.add(row)
    return token, row


def expiry(login: UserSession, now: datetime, lifetimes: Lifetimes) -> str | None:
    """Why an open session is over by now (EXPIRED_IDLE / EXPIRED_ABSOLUTE), else None."""
    if now - login.created_at >= lifetimes.absolute:
        return EXPIRED_ABSOLUTE
    if now - login.last_seen_at >= lifetimes.idle:
        return EXPIRED_IDLE
    return None


def check(session, token: str | None, *, now: datetime, lifetimes: Lifetimes) -> Checked | None:
    """The user and session a cookie's token names, or None when there is none, it ended,
    it expired (it is then marked ended) or the account is disabled.

    A valid session's last use is written when the previous one is `lifetimes.touch` old.
    """
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    found = session.execute(select(UserSession, User).join(User, User.id == UserSession.user_id)
                            .where(UserSession.token_hash == token_hash(token))).first()
    if found is None:
        return None
    login, user = found
    if login.ended_at is not None or not user.active:
        return None
    reason = expiry(login, now, lifetimes)
    if reason:
        end(session, [login.id], reason, now=now)
        return None
    if now - login.last_seen_at >= lifetimes.touch:
        with write_transaction(session):
            session.execute(update(UserSession).where(UserSession.id == login.id)
                            .values(last_seen_at=now))
        login.last_seen_at = now
    return Checked(user, login)


def end(session, ids, reason: str, *, now: datetime) -> list[int]:
    """End the open sessions among `ids`, committed; the ids that were open."""
    ids = sorted(set(ids))
    if not ids:
        return []
    with write_transaction(session):
        ended = session.scalars(select(UserSession.id).where(
            UserSession.id.in_(ids), UserSession.ended_at.is_(None))).all()
        if ended:
            session.execute(update(UserSession).where(UserSession.id.in_(ended))
                            .values(ended_at=now, end_reason=reason))
    return list(ended)


def end_for_user(session, user_id: int, reason: str, *, now: datetime,
                 keep: int | None = None) -> list[int]:
    """End every open session of one user (but `keep`, when given) in the caller's write
    transaction; the ids ended. The caller commits."""
    query = select(UserSession.id).where(UserSession.user_id == user_id,
                                         UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(UserSession).where(UserSession.id.in_(ids))
                        .values(ended_at=now, end_reason=reason))
    return ids


def still_open(session, ids, *, now: datetime, lifetimes: Lifetimes) -> set[int]:
    """Which of these sessions are open and unexpired now (the socket sweep's check), in
    one query per 500 ids. Expired ones are marked ended."""
    ids = sorted(set(ids))
    alive, expired = set(), {EXPIRED_IDLE: [], EXPIRED_ABSOLUTE: []}
    for start_at in range(0, len(ids), 500):
        rows = session.scalars(select(UserSession).where(
            UserSession.id.in_(ids[start_at:start_at + 500]), UserSession.ended_at.is_(None)))
        for login in rows:
            reason = expiry(login, now, lifetimes)
            if reason:
                expired[reason].append(login.id)
            else:
                alive.add(login.id)
    for reason, ended in expired.items():
        end(session, ended, reason, now=now)
    return alive


def open_counts(session, user_ids, *, now: datetime, lifetimes: Lifetimes) -> dict[int, dict]:
    """Per user: {"open": sessions open and unexpired, "last": the last sign-in time}, in
    one query (the Users page)."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return {}
    fresh = (UserSession.ended_at.is_(None)
             & (UserSession.created_at > now - lifetimes.absolute)
             & (UserSession.last_seen_at > now - lifetimes.idle))
    rows = session.execute(
        select(UserSession.user_id, func.count().filter(fresh),
               func.max(UserSession.created_at))
        .where(UserSession.user_id.in_(user_ids)).group_by(UserSession.user_id)).all()
    found = {uid: {"open": count, "last": last} for uid, count, last in rows}
    return {uid: found.get(uid, {"open": 0, "last": None}) for uid in user_ids}


def of_user(session, user_id: int, *, limit: int = 20) -> list[UserSession]:
    """A user's most recent sessions, newest first (the user's page)."""
    return list(session.scalars(select(UserSession).where(UserSession.user_id == user_id)
                                .order_by(UserSession.id.desc()).limit(limit)))


def prune(session, now: datetime, *, days: int = 90) -> int:
    """Delete sessions that ended or began more than `days` ago (they are long over: the
    absolute lifetime is hours), in batches, committing after each; how many went."""
    cutoff = now - timedelta(days=days)
    gone = 0
    while True:
        ids = list(session.scalars(select(UserSession.id).where(or_(
            UserSession.ended_at < cutoff, UserSession.created_at < cutoff)).limit(5000)))
        if not ids:
            return gone
        gone += session.execute(delete(UserSession).where(UserSession.id.in_(ids))).rowcount or 0
        session.commit()
