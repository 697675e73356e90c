"""The run-out forecast in Python: when the credit runs out, and until when friendly hours
keep the supply on (the estate's daily window, weekends, South Africa's public holidays, in
its own time zone); and the spans the database keeps of the same calendar."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from dashboard.services.forecast import FriendlyHours, spans, supply_until
from dashboard.services.forecast.runout import (
    MAX_SECONDS,
    credit_seconds,
    forecast,
    quoted,
)
from dashboard.services.forecast.words import when_text

JHB = ZoneInfo("Africa/Johannesburg")
HOURS = FriendlyHours("Africa/Johannesburg")  # the defaults: 18:00-07:00, weekends, holidays


def local(*args) -> datetime:
    """A Johannesburg wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=JHB).astimezone(timezone.utc)


@pytest.mark.parametrize(("runs_out", "cut"), [
    # Tuesday 10 March 2026: an ordinary weekday.
    (local(2026, 3, 10, 17, 59), local(2026, 3, 10, 17, 59)),  # a minute before: cut at once
    (local(2026, 3, 10, 18, 0), local(2026, 3, 11, 7, 0)),  # exactly 18:00: kept to 07:00
    (local(2026, 3, 11, 6, 59, 59), local(2026, 3, 11, 7, 0)),  # a second before 07:00
    (local(2026, 3, 11, 7, 0), local(2026, 3, 11, 7, 0)),  # exactly 07:00: cut then
    (local(2026, 3, 11, 2, 0), local(2026, 3, 11, 7, 0)),  # in the night
    # Friday night runs through the weekend to Monday 07:00.
    (local(2026, 3, 13, 18, 0), local(2026, 3, 16, 7, 0)),
    (local(2026, 3, 14, 2, 0), local(2026, 3, 16, 7, 0)),  # "runs out around Sat 02:00"
    (local(2026, 3, 15, 23, 59), local(2026, 3, 16, 7, 0)),
    (local(2026, 3, 13, 17, 0), local(2026, 3, 13, 17, 0)),  # Friday afternoon: cut at once
    # Easter 2026: Good Friday 3 April and Family Day Monday 6 April are public holidays,
    # so Thursday evening runs to Tuesday 07:00.
    (local(2026, 4, 2, 19, 0), local(2026, 4, 7, 7, 0)),
    (local(2026, 4, 5, 12, 0), local(2026, 4, 7, 7, 0)),  # before the holiday Monday
    (local(2026, 4, 6, 20, 0), local(2026, 4, 7, 7, 0)),
    # Day of Reconciliation, Wednesday 16 December 2026: the whole day, and its night.
    (local(2026, 12, 16, 12, 0), local(2026, 12, 17, 7, 0)),
])
def test_supply_until_follows_the_default_friendly_hours(runs_out, cut):
    """The edges are inclusive at the start and exclusive at the end of friendly hours."""
    assert supply_until(runs_out, HOURS) == cut


def test_friendly_hours_off_keep_nothing_on():
    """Off: the supply goes when the credit does, whatever the day."""
    off = FriendlyHours("Africa/Johannesburg", on=False)
    for at in (local(2026, 3, 14, 2, 0), local(2026, 4, 6, 12, 0), local(2026, 3, 10, 20, 0)):
        assert supply_until(at, off) == at


def test_weekends_and_holidays_can_each_be_left_out():
    """Without weekends a Saturday afternoon is cut; without holidays Family Day is not
    friendly by day (but Easter Sunday night still runs to Monday 07:00)."""
    no_weekends = FriendlyHours("Africa/Johannesburg", weekends=False)
    assert supply_until(local(2026, 3, 14, 14, 0), no_weekends) == local(2026, 3, 14, 14, 0)
    assert supply_until(local(2026, 3, 14, 2, 0), no_weekends) == local(2026, 3, 14, 7, 0)
    no_holidays = FriendlyHours("Africa/Johannesburg", holidays=False)
    assert supply_until(local(2026, 4, 6, 12, 0), no_holidays) == local(2026, 4, 6, 12, 0)
    assert supply_until(local(2026, 4, 5, 23, 0), no_holidays) == local(2026, 4, 6, 7, 0)


def test_a_daytime_window_and_no_window():
    """Start before end is a window within the day; start equal to end is no daily window
    (weekends stay friendly)."""
    lunch = FriendlyHours("Africa/Johannesburg", start=12 * 60, end=14 * 60, weekends=False)
    assert supply_until(local(2026, 3, 10, 13, 0), lunch) == local(2026, 3, 10, 14, 0)
    assert supply_until(local(2026, 3, 10, 20, 0), lunch) == local(2026, 3, 10, 20, 0)
    none = FriendlyHours("Africa/Johannesburg", start=18 * 60, end=18 * 60)
    assert supply_until(local(2026, 3, 10, 20, 0), none) == local(2026, 3, 10, 20, 0)
    assert supply_until(local(2026, 3, 14, 20, 0), none) == local(2026, 3, 16, 0, 0)


def test_an_estate_in_another_zone_keeps_its_own_hours_across_a_clock_change():
    """London's clocks go back on Sunday 25 October 2026: the weekend still ends at Monday
    07:00 local time, which is 07:00 UTC after the change (06:00 UTC before)."""
    london = FriendlyHours("Europe/London")
    friday = datetime(2026, 10, 23, 18, 30, tzinfo=ZoneInfo("Europe/London"))
    assert supply_until(friday.astimezone(timezone.utc), london) == \
        datetime(2026, 10, 26, 7, 0, tzinfo=timezone.utc)
    week_before = datetime(2026, 10, 16, 18, 30, tzinfo=ZoneInfo("Europe/London"))
    assert supply_until(week_before.astimezone(timezone.utc), london) == \
        datetime(2026, 10, 19, 6, 0, tzinfo=timezone.utc)


def test_the_forecast_is_now_plus_balance_over_average_daily_spend():
    """R 45 at R 300 in 30 days (R 10 a day) runs out 4.5 days from now."""
    now = local(2026, 3, 10, 8, 0)
    found = forecast(D("45.00"), D("300.00"), now, HOURS)
    assert found.runs_out_at == now + timedelta(days=4, hours=12)  # Sat 14 Mar 20:00
    assert found.supply_until == local(2026, 3, 16, 7, 0) and found.friendly
    assert (found.runs_out_text, found.supply_text) == ("Sat 20:00", "Mon 07:00")
    assert found.sentence() == ("Your credit runs out around Sat 20:00; friendly hours keep "
                                "your supply on until Mon 07:00.")


def test_no_spend_history_means_no_forecast():
    """Without purchases in 30 days there is nothing to divide by."""
    assert forecast(D("45.00"), D("0"), local(2026, 3, 10, 8, 0), HOURS) is None
    assert credit_seconds(D("45.00"), D("0")) is None


def test_an_empty_wallet_runs_out_now_and_a_rich_one_stops_at_a_century():
    """Zero (or less) is now; the figure is capped so a date can always hold it; alerts quote
    a run-out only with some credit and within QUOTE_DAYS."""
    assert credit_seconds(D("0.00"), D("300.00")) == 0
    assert credit_seconds(D("-5.00"), D("300.00")) == 0
    assert credit_seconds(D("10000000000.00"), D("0.01")) == MAX_SECONDS
    assert credit_seconds(D("0.01"), D("3.00")) == 8640  # a tenth of a day
    assert not quoted(0) and not quoted(None) and quoted(1)
    assert not quoted(credit_seconds(D("700.00"), D("300.00")))  # 70 days
    now = local(2026, 3, 10, 8, 0)
    empty = forecast(D("0.00"), D("300.00"), now, HOURS)
    assert empty.runs_out_at == now == empty.supply_until


def test_times_are_named_by_weekday_near_and_by_date_further_off():
    """Within six days "Sat 02:00"; beyond, "Sat 21 Mar 02:00"."""
    now = local(2026, 3, 10, 8, 0)
    assert when_text(local(2026, 3, 14, 2, 0), now, JHB) == "Sat 02:00"
    assert when_text(local(2026, 3, 16, 7, 59, 59), now, JHB) == "Mon 07:59"
    assert when_text(now + timedelta(days=6), now, JHB) == "Mon 16 Mar 08:00"


def test_spans_cover_the_time_without_gaps_and_say_the_same_as_the_walk():
    """Cut at midnights, friendly edges and clock changes; each span's run end is what
    supply_until says for any instant in it, and its offset is the zone's there."""
    for hours in (HOURS, FriendlyHours("Europe/London"),
                  FriendlyHours("America/Santiago", start=20 * 60, end=6 * 60)):
        start = datetime(2026, 3, 20, 3, 17, tzinfo=timezone.utc)
        end = start + timedelta(days=45)
        found = spans(hours, start, end)
        assert found[0].starts_at == start and found[-1].ends_at == end
        for a, b in zip(found, found[1:], strict=False):
            assert a.ends_at == b.starts_at and a.starts_at < a.ends_at
        for span in found:
            for at in (span.starts_at, span.ends_at - timedelta(seconds=1)):
                expected = supply_until(at, hours)
                assert (span.supply_until or at) == expected, (hours.zone, at)
                local_at = at.astimezone(hours.tz)
                assert local_at.date() == span.day
                assert local_at.utcoffset() == timedelta(minutes=span.utc_offset)
