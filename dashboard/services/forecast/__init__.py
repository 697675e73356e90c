"""The run-out forecast and friendly hours: when a wallet's credit runs out, and until when
its supply stays on (DESIGN "Run-out forecast and friendly hours").

`calendar`: friendly hours (estate settings, time zone, public holidays) and the spans the
database keeps of them; `runout`: the forecast in Python; `words`: how a time is named;
`sql`: the forecast in SQL for the scans, tested to agree; `wallets`: the forecasts of a
page of wallets and the stored sort key.
"""
from .calendar import FriendlyHours, public_holidays, spans, supply_until
from .runout import QUOTE_DAYS, Forecast, credit_seconds, forecast, quoted
from .words import when_text

__all__ = ["QUOTE_DAYS", "Forecast", "FriendlyHours", "credit_seconds", "forecast",
           "public_holidays", "quoted", "spans", "supply_until", "when_text"]
