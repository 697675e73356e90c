"""Notifications: stored once with their deliveries, read back by the people who may see them,
logged for operators and pruned after the retention period."""
from .cursor import UNKNOWN, resume_after, settled_id
from .inbox import (
    get_for,
    list_for,
    mark_all_read,
    mark_read,
    unread_count,
    unread_counts,
    visible_query,
)
from .store import (
    IN_APP,
    deliver,
    notification_row,
    recipient_ids,
    recipients_query,
    resolve_credit_alerts,
    store,
    store_selected,
)

__all__ = ["IN_APP", "UNKNOWN", "deliver", "get_for", "list_for", "mark_all_read", "mark_read",
           "notification_row", "recipient_ids", "recipients_query", "resolve_credit_alerts",
           "resume_after", "settled_id", "store", "store_selected", "unread_count", "unread_counts",
           "visible_query"]
