"""The data model. Import models from here."""
from .channels import (
                     CHANNELS,
                     DELIVERY_STATUSES,
                     OUTSIDE_CHANNELS,
                     ChannelPreference,
                     QuietHours,
)
from .common import (
                     ALERT_MODES,
                     ROLES,
                     STAFF_ROLES,
                     TOPUP_METHODS,
                     TRANSACTION_TYPES,
                     UTILITIES,
                     UTILITY_UNITS,
                     WALLET_STATES,
                     utcnow,
)
from .estate import CalendarSpan, Estate, Occupancy, Person, Unit
from .metering import Meter, MeterReading
from .notification import Notification, NotificationDelivery
from .payment import PAYMENT_METHODS, PAYMENT_STATES, Payment
from .task_run import ACTIVE_STATES, RUN_STATES, TRIGGERS, TaskRun, TaskRunChunk
from .user import User, UserSession
from .wallet import Transaction, Wallet
from .webhook import (
    MESSAGE_STATES,
    WEBHOOK_EVENTS,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

__all__ = [
    "ALERT_MODES", "ROLES", "STAFF_ROLES", "TOPUP_METHODS", "TRANSACTION_TYPES", "UTILITIES",
    "UTILITY_UNITS", "WALLET_STATES",
    "CHANNELS", "DELIVERY_STATUSES", "OUTSIDE_CHANNELS", "ChannelPreference", "QuietHours",
    "ACTIVE_STATES", "RUN_STATES", "TRIGGERS", "utcnow",
    "CalendarSpan", "Estate", "Occupancy", "Person", "Unit", "Meter", "MeterReading", "Notification",
    "NotificationDelivery", "TaskRun", "TaskRunChunk", "User", "UserSession", "Transaction",
    "Wallet", "PAYMENT_METHODS", "PAYMENT_STATES", "Payment",
    "MESSAGE_STATES", "WEBHOOK_EVENTS", "WebhookAttempt", "WebhookEndpoint", "WebhookMessage",
]
