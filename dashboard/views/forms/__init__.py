"""The pages' forms (Flask-WTF), operator and resident alike: see forms.base for how a form
is filled, checked, refused by a service and drawn."""
from .alerts import (
    AlertSettingsForm,
    BulkChangeForm,
    EstateDefaultsForm,
    EstateHoursForm,
    ResidentAlertsForm,
)
from .base import Form, KeyField, OneOfChoices, ServiceRule, new_key, strip
from .filters import LogFilterForm
from .login import LoginForm
from .payments import (
    RESIDENT_METHODS,
    BuyForm,
    GatewayForm,
    PaymentForm,
    ResidentTopUpForm,
    TopUpForm,
    pay,
)
from .users import SetPasswordForm, UserFilterForm
from .webhooks import EVENT_LABELS, WebhookForm

__all__ = ["EVENT_LABELS", "RESIDENT_METHODS", "AlertSettingsForm", "BulkChangeForm", "BuyForm",
           "EstateDefaultsForm", "EstateHoursForm", "Form", "GatewayForm", "KeyField",
           "LogFilterForm", "LoginForm",
           "OneOfChoices", "PaymentForm", "ResidentAlertsForm", "ResidentTopUpForm",
           "ServiceRule", "SetPasswordForm", "TopUpForm", "UserFilterForm", "WebhookForm",
           "new_key", "pay", "strip"]
