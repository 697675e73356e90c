"""The run-out forecast and friendly hours: when a wallet's credit runs out, and until when
its supply stays on (DESIGN "Run-out forecast and friendly hours").

`calendar`: friendly hours (estate settings, time zone, public holidays) and the spans the
database keeps of them; `words`: how a time is named; `runout`: the forecast in Python;
`sql`: the forecast in SQL for the scans, tested to agree; `wallets`: the forecasts of a
page of wallets and the stored sort key; `estate_settings`: an estate's friendly hours and
the settings beside them, checked, previewed and saved. Only the leaves are imported here,
so that any layer may read the calendar without pulling in the wallet services.
"""
from .calendar import DEFAULT_ZONE, FriendlyHours, public_holidays, spans, supply_until
from .words import when_text

__all__ = ["DEFAULT_ZONE", "FriendlyHours", "public_holidays", "spans", "supply_until",
           "when_text"]
