"""Meter readings: consumption is the delta, backwards readings need a replacement flag."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dashboard.errors import http_status
from dashboard.models import MeterReading, utcnow
from dashboard.services.errors import ValidationFailed
from dashboard.services.wallets.readings import record_reading
from tests import factories

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def meter(make):
    """An electricity meter in a unit with a wallet."""
    return make.meter(make.wallet("100.00"))


def count(db):
    """Stored readings."""
    return db.scalar(select(func.count()).select_from(MeterReading))


def test_consumption_is_the_delta_since_the_last_reading(db, meter):
    """First reading: 0 consumed (nothing to compare); then each reading minus the previous."""
    first = record_reading(db, meter.id, "10432.500", "2026-03-08T06:00:00+02:00", now=NOW)
    second = record_reading(db, meter.id, "10450.125", "2026-03-09T06:00:00+02:00", now=NOW)
    third = record_reading(db, meter.id, 10450.125, "2026-03-10T04:00:00Z", now=NOW)
    assert (first.consumption, second.consumption, third.consumption) == \
        (Decimal("0"), Decimal("17.625"), Decimal("0"))
    assert second.taken_at == datetime(2026, 3, 9, 4, 0, tzinfo=timezone.utc)


def test_backwards_reading_is_refused_clearly(db, meter):
    """A lower register value is a 422 naming the last reading and the replacement flag."""
    record_reading(db, meter.id, "500", "2026-03-09T06:00:00+02:00", now=NOW)
    with pytest.raises(ValidationFailed) as err:
        record_reading(db, meter.id, "499.999", "2026-03-10T06:00:00+02:00", now=NOW)
    assert http_status(err.value) == 422
    assert "lower than the last" in err.value.message
    assert "500" in err.value.fields["reading"] and "is_replacement" in err.value.fields["reading"]
    assert count(db) == 1


def test_backwards_reading_flagged_as_replacement_is_accepted(db, meter):
    """A replaced meter restarts its register: consumption is the new register value."""
    record_reading(db, meter.id, "500", "2026-03-09T06:00:00+02:00", now=NOW)
    row = record_reading(db, meter.id, "3.5", "2026-03-10T06:00:00+02:00", now=NOW,
                         is_replacement=True)
    nxt = record_reading(db, meter.id, "9", "2026-03-10T07:00:00+02:00", now=NOW)
    assert (row.consumption, row.is_replacement, nxt.consumption) == \
        (Decimal("3.5"), True, Decimal("5.5"))


def test_future_time_is_refused(db, meter):
    """A reading stamped after now is refused."""
    with pytest.raises(ValidationFailed) as err:
        record_reading(db, meter.id, "1", (NOW + timedelta(seconds=1)).isoformat(), now=NOW)
    assert err.value.fields == {"taken_at": "The time is in the future."}
    assert count(db) == 0


def test_reading_older_than_the_last_is_refused(db, meter):
    """Readings come in time order: one at or before the latest is refused."""
    record_reading(db, meter.id, "5", "2026-03-10T06:00:00+02:00", now=NOW)
    for taken in ("2026-03-10T06:00:00+02:00", "2026-03-10T05:59:59+02:00"):
        with pytest.raises(ValidationFailed):
            record_reading(db, meter.id, "6", taken, now=NOW)
    assert count(db) == 1


# -- through the API ----------------------------------------------------------------------

def test_api_records_a_reading(client, db, make, meter):
    """POST /meters/<id>/readings: 201 with the consumption since the last reading."""
    headers = factories.operator_and_token(db, client)
    url = f"/api/v1/meters/{meter.id}/readings"
    taken = (utcnow() - timedelta(hours=2)).isoformat()
    assert client.post(url, json={"reading": "100.5", "taken_at": taken},
                       headers=headers).status_code == 201
    r = client.post(url, json={"reading": "112"}, headers=headers)  # taken now
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["consumption"] == "11.500" and body["reading"] == "112.000"
    assert body["meter_id"] == meter.id and body["is_replacement"] is False


def test_api_backwards_reading_is_422_then_ok_as_replacement(client, db, meter):
    """The API explains the refusal, and accepts the same value flagged as a replacement."""
    headers = factories.operator_and_token(db, client)
    url = f"/api/v1/meters/{meter.id}/readings"
    client.post(url, json={"reading": "900", "taken_at": (utcnow() - timedelta(hours=1))
                           .isoformat()}, headers=headers)
    r = client.post(url, json={"reading": "12"}, headers=headers)
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "validation_failed" and "reading" in err["fields"]
    r = client.post(url, json={"reading": "12", "is_replacement": True}, headers=headers)
    assert r.status_code == 201 and r.get_json()["consumption"] == "12.000"


BAD_BODIES = [
    ({}, "reading"),
    ({"reading": "abc"}, "reading"),
    ({"reading": "-1"}, "reading"),
    ({"reading": "1.2345"}, "reading"),
    ({"reading": "NaN"}, "reading"),
    ({"reading": "Infinity"}, "reading"),
    ({"reading": True}, "reading"),
    ({"reading": [1]}, "reading"),
    ({"reading": "1e12"}, "reading"),
    ({"reading": "1e3"}, "reading"),
    ({"reading": "1_000"}, "reading"),
    ({"reading": "١٢"}, "reading"),
    ({"reading": "5", "taken_at": "yesterday"}, "taken_at"),
    ({"reading": "5", "taken_at": "2026-03-10T06:00:00"}, "taken_at"),  # no zone
    ({"reading": "5", "taken_at": "2999-01-01T00:00:00Z"}, "taken_at"),
    ({"reading": "5", "taken_at": 1700000000}, "taken_at"),
    ({"reading": "5", "is_replacement": "yes"}, "is_replacement"),
]


def test_api_bad_readings_are_422_and_write_nothing(client, db, meter):
    """Bad values give 422 with the field named, never a 500, and store nothing."""
    headers = factories.operator_and_token(db, client)
    url = f"/api/v1/meters/{meter.id}/readings"
    for body, field in BAD_BODIES:
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 422, (body, r.get_json())
        assert field in r.get_json()["error"]["fields"], body
    assert count(db) == 0


def test_api_readings_roles(client, db, make, meter):
    """Viewers get 403, residents 404, unknown meters 404."""
    viewer = factories.operator_and_token(db, client, role="viewer")
    operator = factories.operator_and_token(db, client)
    w = make.wallet("10.00")
    make.resident(w, email="meter-res@example.test")
    r = client.post("/api/v1/auth/token", json={"email": "meter-res@example.test",
                                                "password": "correct-horse-battery"})
    resident = {"Authorization": f"Bearer {r.get_json()['token']}"}
    url = f"/api/v1/meters/{meter.id}/readings"
    assert client.post(url, json={"reading": "1"}, headers=viewer).status_code == 403
    assert client.post(url, json={"reading": "1"}, headers=resident).status_code == 404
    assert client.post("/api/v1/meters/999999/readings", json={"reading": "1"},
                       headers=operator).status_code == 404
    assert count(db) == 0
