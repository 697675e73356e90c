"""The run-out in email and SMS: the words the in-app message quoted, in the estate's time,
and every SMS one GSM-7 segment, whatever the amounts and the length of the estate's name."""
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.services.channels import messages

MADE = datetime(2026, 3, 10, 6, 0, tzinfo=timezone.utc)  # Tuesday 08:00 in Johannesburg
SAT_2AM = int(datetime(2026, 3, 14, 0, 0, tzinfo=timezone.utc).timestamp())
MON_7AM = int(datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc).timestamp())
FAR = int(datetime(2026, 4, 21, 5, 0, tzinfo=timezone.utc).timestamp())
KINDS = ("low_credit", "critical_credit", "credit_depleted")


def test_times_are_named_in_the_estates_zone_as_the_message_named_them():
    """Seconds since 1970 in the data become the words of the notification's moment."""
    data = {"runs_out_at": SAT_2AM, "supply_until": MON_7AM}
    assert messages.times(data, "Africa/Johannesburg", MADE) == \
        {"runs_out_at": "Sat 02:00", "supply_until": "Mon 07:00"}
    assert messages.times(data, "Europe/London", MADE) == \
        {"runs_out_at": "Sat 00:00", "supply_until": "Mon 05:00"}
    assert messages.times({"runs_out_at": FAR}, "Africa/Johannesburg", MADE) == \
        {"runs_out_at": "Tue 21 Apr 07:00"}
    assert messages.times({"runs_out_at": None}, "Africa/Johannesburg", MADE) == {}


def test_the_sms_and_email_quote_the_run_out_and_the_supply():
    """A low alert's SMS and email figures carry both times."""
    t = messages.times({"runs_out_at": SAT_2AM, "supply_until": MON_7AM},
                       "Africa/Johannesburg", MADE)
    data = {"balance": "45.00", "threshold": "50.00"}
    sms = messages.sms_text("low_credit", data, "A001", "Sunset Ridge", "", t)
    assert sms == ("Quantify: unit A001, Sunset Ridge has R 45.00 left. Credit runs out about "
                   "Sat 02:00; supply stays on till Mon 07:00. Top up soon.")
    email = messages.email_message("low_credit", "Your credit is running low", "…", data,
                                   public_url="http://x.test", wallet_id=7, t=t)
    assert "Credit runs out around: Sat 02:00" in email.text
    assert "Friendly hours keep the supply on until: Mon 07:00" in email.text
    depleted = messages.sms_text("credit_depleted", {"balance": "0.00"}, "A001", "Sunset Ridge",
                                 "", {"supply_until": "Mon 07:00"})
    assert "supply on till Mon 07:00" in depleted and messages.is_one_segment(depleted)


def test_operators_emails_link_to_the_dashboard():
    """A digest's email lists its links to the filtered lists, no resident settings link."""
    data = {"critical": 3, "links": {"critical": "/wallets?estate=1&state=critical"}}
    email = messages.email_message("operator_digest", "Morning digest", "3 critical", data,
                                   public_url="http://dash.test", wallet_id=None)
    assert "Critical wallets: http://dash.test/wallets?estate=1&state=critical" in email.text
    assert "/me/settings" not in email.text and "Critical wallets: 3" in email.text


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS),
       balance=st.decimals(min_value=0, max_value=99_999_999, places=2),
       threshold=st.decimals(min_value=0, max_value=99_999, places=2),
       estate=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=120),
       number=st.text(alphabet="ABCDEFGH0123456789-", min_size=1, max_size=20),
       runs_out=st.sampled_from([None, SAT_2AM, FAR]),
       supply=st.sampled_from([None, MON_7AM, FAR]))
def test_every_credit_sms_is_one_segment(kind, balance, threshold, estate, number, runs_out,
                                         supply):
    """Whatever the figures, names and times: at most 160 GSM-7 characters, no emoji."""
    data = {"balance": str(balance), "threshold": str(threshold), "runs_out_at": runs_out,
            "supply_until": supply}
    t = messages.times(data, "Africa/Johannesburg", MADE)
    text = messages.sms_text(kind, data, number, estate, "", t)
    assert messages.is_one_segment(text), (len(text), text)


@pytest.mark.parametrize("kind", ["meter_silent", "operator_digest"])
def test_operators_types_fit_an_sms_too(kind):
    """Should an operator choose SMS for them, the message is cut to one segment."""
    text = messages.sms_text(kind, {}, "A001", "Sunset Ridge", "x " * 200)
    assert messages.is_one_segment(text)
