"""Payments: top-ups and purchases (the ledger), their real-time notices and the sweep that
sends a notice whose task never reached the broker."""
from .ledger import PurchaseQuote, Tariff, quote, tariffs, transactions_page
from .notices import notify_transaction
from .sweep import unnotified_transactions
from .transactions import (
    IDEMPOTENCY_KEY_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    RESIDENT_METHODS,
    TransactionResult,
    check_method,
    purchase,
    top_up,
    units_for,
    validate_key,
)

__all__ = ["IDEMPOTENCY_KEY_LENGTH", "IDEMPOTENCY_KEY_PATTERN", "RESIDENT_METHODS",
           "PurchaseQuote", "Tariff", "TransactionResult", "check_method", "notify_transaction",
           "purchase", "quote", "tariffs", "top_up", "transactions_page", "units_for",
           "unnotified_transactions", "validate_key"]
