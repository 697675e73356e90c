"""Signed outbound webhooks for integrators (DESIGN.md "Channels and delivery").

Operators register endpoints {url, events} (endpoints.py; the `whsec_` secret is shown once
and kept sealed, secrets.py). Where an event happens, a hook writes one message per
subscribed endpoint in the same transaction, set-based (hooks.py). The worker's sweep leases
due messages to send tasks (dispatch.py); a task signs and posts its batch concurrently and
records every attempt (sending.py, http.py), retrying with backoff for 24 h from the row's
`next_attempt_at`; an endpoint failing for 24 h is disabled and operators are told
(notices.py). Bodies are the API's JSON of the object (payloads.py).
"""
from .dispatch import Batch, Swept, disable_failing, due_batches, expire, prune, resend, sweep
from .endpoints import (
    Health,
    Registered,
    attempts,
    check_events,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    messages,
    register,
    set_enabled,
)
from .hooks import (
    NOTIFICATION_CREATED,
    TASK_RUN_FINISHED,
    WALLET_STATE_CHANGED,
    notifications_created,
    subscribers,
    task_runs_finished,
    wallet_state_changed,
    wallet_states_changing,
)
from .policy import LEASE, RETRY_WINDOW, Policy, UrlRules, policy_from, rules_from, sealing_key
from .shapes import attempt_json, endpoint_json, message_json
from .urls import URL_MAX, URL_PATTERN, check_url


def __getattr__(name: str):
    """send_batch and BatchResult (sending.py), imported when first asked for: they load
    requests and standardwebhooks, which the send task needs and storing a notification (a
    hook, on every one) does not."""
    if name in ("BatchResult", "send_batch"):
        from . import sending

        return getattr(sending, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "LEASE", "NOTIFICATION_CREATED", "RETRY_WINDOW", "TASK_RUN_FINISHED", "URL_MAX",
    "URL_PATTERN", "WALLET_STATE_CHANGED", "Batch", "BatchResult", "Health", "Policy",
    "Registered", "Swept", "UrlRules", "attempt_json", "attempts", "check_events",
    "check_url", "disable_failing",
    "delete_endpoint", "due_batches", "endpoint_json", "expire", "get_endpoint",
    "list_endpoints", "message_json", "messages", "notifications_created", "policy_from",
    "prune", "register", "resend", "rules_from", "sealing_key", "send_batch", "set_enabled",
    "subscribers", "sweep", "task_runs_finished", "wallet_state_changed",
    "wallet_states_changing",
]
