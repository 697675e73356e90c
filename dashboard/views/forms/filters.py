"""The operators' notifications log filter: a GET form whose bad values come back beside
their fields (the log service parses and names them)."""
from __future__ import annotations

from wtforms import HiddenField, SelectField, StringField

from ...services.notifications.messages import TYPES
from ..labels import PRIORITY_LABELS, READ_LABELS
from .base import Form


class LogFilterForm(Form):
    """Search, type, priority, date, estate and read state; wallet and run ride along."""

    q = StringField()
    type = SelectField(choices={"": "Any type", **{t: t.replace("_", " ") for t in TYPES}},
                       validate_choice=False)
    priority = SelectField(choices={"": "Any priority", **PRIORITY_LABELS},
                           validate_choice=False)
    date = StringField()
    estate = SelectField(validate_choice=False)
    read = SelectField(choices={"": "Read or not", **READ_LABELS},
                       validate_choice=False)
    wallet = HiddenField()
    run = HiddenField()

    def __init__(self, formdata=None, *, estates=(), **kwargs):
        """`estates`: the estates to choose from."""
        super().__init__(formdata, **kwargs)
        self.estate.choices = {"": "All estates", **{str(e.id): e.name for e in estates}}

    @property
    def any(self) -> bool:
        """True when any filter is set (the form then offers to clear them)."""
        return any(self.values().values())
