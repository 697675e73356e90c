"""`python run.py create-user` and `python run.py user disable|enable|revoke-tokens|set-password`.

The actions are the Users page's (services/accounts), so both say and do the same: disabling,
revoking and setting a password end the account's sessions and API tokens, and the account's
open sockets are closed on every web process through the Socket.IO message queue as soon as
the change is committed. When Redis cannot be reached the change still holds (it is in the
database); the web processes' sweeps then close the sockets within 30 s, and the output says
so.
"""
from __future__ import annotations

from dashboard import events
from dashboard.db import Session, init_engine
from dashboard.models import utcnow

from ..services import accounts
from ..services.errors import ServiceError

ACTIONS = ("disable", "enable", "revoke-tokens", "set-password")


def create_user(config, email: str, role: str, password: str, person_id: int | None) -> dict:
    """Create a user with a hashed password; RuntimeError with a message when refused."""
    init_engine(config.DATABASE_URL)
    try:
        user = accounts.create_user(Session, email, role, password, person_id)
    except ServiceError as exc:
        raise RuntimeError(exc.message) from None
    finally:
        Session.remove()
    return {"id": user.id, "email": user.email, "role": user.role}


def user_action(config, action: str, email: str, password: str | None = None) -> dict:
    """Run one action on the account with this email; what changed, as a dict for JSON.

    RuntimeError with a message for an unknown action or email, or a refused password.
    """
    if action not in ACTIONS:
        raise RuntimeError(f"action must be one of {', '.join(ACTIONS)}")
    init_engine(config.DATABASE_URL)
    try:
        user = accounts.find_by_email(Session, email)
        if user is None:
            raise RuntimeError(f"no user with email {accounts.normal_email(email)}")
        now = utcnow()
        if action == "disable":
            change = accounts.disable(Session, user.id, now=now)
        elif action == "enable":
            change = accounts.enable(Session, user.id)
        elif action == "revoke-tokens":
            change = accounts.revoke(Session, user.id, now=now)
        else:
            change = accounts.set_password(Session, user.id, password, now=now)
    except ServiceError as exc:
        raise RuntimeError(exc.message) from None
    finally:
        Session.remove()
    result = {"id": change.user_id, "email": change.email, "action": change.action,
              "sessions_ended": len(change.ended_sessions)}
    if change.close_sockets:
        result["sockets"] = "closed" if close_sockets(config, change) else \
            "Redis unreachable: open sockets close at the web processes' next check (30 s)"
    return result


def close_sockets(config, change: accounts.AccountChange) -> bool:
    """Ask every web process to close the account's sockets now; False when Redis failed."""
    events.init_queue(config.SOCKETIO_MESSAGE_QUEUE, config.SOCKETIO_CHANNEL)
    return events.close_sockets(users=[change.user_id], sessions=change.ended_sessions)
