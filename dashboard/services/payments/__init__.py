"""Payments: the ledger (the office's top-ups and every purchase), a resident's payments
(pending until the provider's signed webhook credits them, or expired), their real-time
follow-up (the notice and the wallet check) and the sweep that does it for a transaction
whose task never reached the broker."""
from .checkout import (
    PAYMENT_TTL,
    PaymentResult,
    checkout_url,
    expire_due,
    get_payment,
    latest_payment,
    start_payment,
)
from .ledger import PurchaseQuote, Tariff, quote, tariffs, transactions_page
from .notices import FollowUp, follow_up, notify_transaction
from .sweep import Swept, follow_up_missed, unnotified_transactions
from .transactions import (
    IDEMPOTENCY_KEY_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    OFFICE_METHODS,
    RESIDENT_METHODS,
    TransactionResult,
    check_method,
    purchase,
    top_up,
    units_for,
    validate_key,
)
from .webhook import (
    EVENTS,
    InvalidSignature,
    Settlement,
    event_body,
    parse_event,
    settle,
    sign,
    verify,
)

__all__ = ["EVENTS", "IDEMPOTENCY_KEY_LENGTH", "IDEMPOTENCY_KEY_PATTERN", "OFFICE_METHODS",
           "PAYMENT_TTL", "RESIDENT_METHODS", "FollowUp", "InvalidSignature", "PaymentResult",
           "PurchaseQuote", "Settlement", "Swept", "Tariff", "TransactionResult",
           "check_method", "checkout_url", "event_body", "expire_due", "follow_up",
           "follow_up_missed", "get_payment", "latest_payment",
           "notify_transaction", "parse_event", "purchase", "quote", "settle", "sign",
           "start_payment", "tariffs", "top_up", "transactions_page", "units_for",
           "unnotified_transactions", "validate_key", "verify"]
