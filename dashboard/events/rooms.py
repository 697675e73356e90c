"""The rooms events are addressed to: one per user, and one for the staff.

dashboard.sockets puts each connection in its rooms; the publishers name them.
"""
from __future__ import annotations

OPERATORS = "operators"  # operators and viewers: the whole feed


def user_room(user_id: int) -> str:
    """The room every connection of one user joins."""
    return f"user:{user_id}"
