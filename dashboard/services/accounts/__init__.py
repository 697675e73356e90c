"""Accounts: passwords, sign-in checks and limits, sessions, and the actions on users.

Modules: passwords (rules for new passwords), users (authenticate, create, disable, enable,
revoke, set a password, the Users page's list), sessions (sign-in sessions kept on the
server), limits (the sign-in limits per account and per address), redirects (where a
sign-in may go next).
"""
from . import sessions
from .limits import Attempt, Decision, LocalStore, Policy, SignInLimiter
from .passwords import check_password_rules
from .redirects import safe_path
from .users import (
    AccountChange,
    UserFilters,
    authenticate,
    create_user,
    disable,
    enable,
    find_by_email,
    get_user,
    list_users,
    normal_email,
    parse_filters,
    revoke,
    set_password,
)

__all__ = [
    "AccountChange", "Attempt", "Decision", "LocalStore", "Policy", "SignInLimiter",
    "UserFilters", "authenticate", "check_password_rules", "create_user", "disable", "enable",
    "find_by_email", "get_user", "list_users", "normal_email", "parse_filters", "revoke",
    "safe_path", "sessions", "set_password",
]
