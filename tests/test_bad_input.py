"""Bad input, property-based (hypothesis): every API body and every HTML form, fed negatives,
zero, NaN, 1e309, "12,50", three decimals, very long and unicode strings, missing fields and
wrong types. Each gets a 4xx (JSON with field messages, or the form again with its errors),
never a 500, and nothing is written: every table is compared before and after each example.

What counts as valid is decided here by small oracles written from the API's rules (amounts are
rand with at most two decimals, above zero, at most R 100,000.00), not by calling the
services under test; generated values the oracle accepts are filtered out, so every example
must be refused. Examples per test: BAD_INPUT_EXAMPLES (default 50; `make soak` uses 500,
randomised).
"""
from __future__ import annotations

import json
import math
import os
import re
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from dashboard.db import Base
from dashboard.models import ALERT_MODES, TOPUP_METHODS, UTILITIES, Meter
from tests import factories
from tests.conftest import Auth

EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "50"))
CHECK = settings(max_examples=EXAMPLES, deadline=None, database=None,
                 derandomize=not os.environ.get("BAD_INPUT_RANDOM"),
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.filter_too_much])

# -- oracles: what a valid value is, from the contract ------------------------------------------

MONEY_RE = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")
MAX_AMOUNT = Decimal("100000.00")


def money_text(value) -> str | None:
    """The text of a JSON string or number as the API reads money, or None for other types."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def valid_amount(value, *, allow_zero: bool = False) -> bool:
    """A rand amount: digits with up to two decimals, above zero (or zero), at most R 100,000."""
    text = money_text(value)
    if text is None or not MONEY_RE.fullmatch(text):
        return False
    amount = Decimal(text)
    return (amount >= 0 if allow_zero else amount > 0) and amount <= MAX_AMOUNT


def valid_whole(value, low: int, high: int) -> bool:
    """A whole number from low to high: a JSON integer, or ASCII digits in a string."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value.strip()):
        value = int(value.strip())
    return isinstance(value, int) and low <= value <= high


def valid_reading(value) -> bool:
    """A meter register: a non-negative decimal number with at most three decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]+(\.[0-9]{1,3})?", text):
        return False
    try:
        return Decimal(text) <= Decimal("999999999.999")
    except InvalidOperation:
        return False


# -- strategies ------------------------------------------------------------------------------

SPECIAL_TEXT = ["-1", "-0.01", "0", "0.00", "-0", "NaN", "nan", "Infinity", "-Infinity",
                "inf", "1e309", "1E3", "12,50", "1,234.50", "12.345", "49.999", "0.001",
                "R 10", "10 ZAR", "", " ", "\t", "١٢", "１２", "²", "12\x00", "1_000",
                "100000.01", "999999999999", "0x10", "+5", ".5", "5.", "<script>", "null",
                "true", "[]", "{}", "💰", "ﷺ" * 50]
LONG_TEXT = st.builds(lambda c, n: c * n, st.characters(codec="utf-8"),
                      st.integers(1000, 20000))
ANY_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(SPECIAL_TEXT), LONG_TEXT)
WRONG_TYPES = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
JSON_NUMBERS = st.one_of(st.integers(min_value=-10**30, max_value=10**30),
                         st.floats(allow_nan=True, allow_infinity=True))


def bad_amount(*, allow_zero: bool = False):
    """JSON values that are not a valid amount."""
    return st.one_of(ANY_TEXT, JSON_NUMBERS, WRONG_TYPES).filter(
        lambda v: not valid_amount(v, allow_zero=allow_zero))


def bad_choice(allowed):
    """JSON values outside an enumeration."""
    return st.one_of(ANY_TEXT, JSON_NUMBERS, WRONG_TYPES).filter(lambda v: v not in allowed)


def bad_whole(low: int, high: int):
    """JSON values that are not a whole number from low to high."""
    return st.one_of(ANY_TEXT, JSON_NUMBERS, WRONG_TYPES).filter(
        lambda v: not valid_whole(v, low, high))


def bad_form_amount():
    """Form text that is not a valid amount."""
    return ANY_TEXT.filter(lambda v: not valid_amount(v))


def bad_form_choice(allowed):
    """Form text outside an enumeration."""
    return ANY_TEXT.filter(lambda v: v not in allowed)


# -- the world the examples run against ----------------------------------------------------------

class World:
    """One wallet with meters and a resident, an operator, and their credentials."""

    def __init__(self, app, db):
        """Make the data and sign everybody in (bearer tokens and browser sessions)."""
        self.app, self.db = app, db
        estate = factories.estate(db)
        self.wallet = factories.wallet(db, "100.00", estate_obj=estate, meters=True)
        self.estate_id = estate.id
        factories.resident(db, self.wallet, email="bad-res@example.test")
        factories.user(db, "operator", email="bad-op@example.test")
        db.commit()
        self.meter_id = db.scalar(select(Meter.id).where(Meter.unit_id == self.wallet.unit_id))
        self.wallet_id = self.wallet.id
        self.api = app.test_client()
        self.op = self._token("bad-op@example.test")
        self.res = self._token("bad-res@example.test")
        self.res_page = Auth(app.test_client())
        assert self.res_page.login("bad-res@example.test").status_code == 302
        self.op_page = Auth(app.test_client())
        assert self.op_page.login("bad-op@example.test").status_code == 302

    def _token(self, email: str) -> dict:
        """Bearer headers."""
        r = self.api.post("/api/v1/auth/token",
                          json={"email": email, "password": "correct-horse-battery"})
        return {"Authorization": f"Bearer {r.get_json()['token']}"}

    def snapshot(self) -> dict:
        """Every row of every table: the proof that nothing was written."""
        self.db.rollback()
        return {table.name: sorted(map(repr, self.db.execute(select(table)).all()))
                for table in Base.metadata.sorted_tables}


@pytest.fixture(scope="module")
def world(redis_url, tmp_path_factory):
    """The data and the signed-in clients, shared by every test of this module: nothing may
    be written, which every test checks, and one app compiles its templates once."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config, fast_database, private_broker_url

    url = fast_database(tmp_path_factory.mktemp("bad-input"))
    app = create_app("testing", **app_config(url, redis_url,
                                             CELERY_BROKER_URL=private_broker_url(redis_url)))
    yield World(app, Session)
    Session.remove()


def refused_json(response, field: str | None = None) -> dict:
    """A 4xx JSON error naming `field` when given; returns the error object."""
    assert 400 <= response.status_code < 500, (response.status_code,
                                               response.get_data(as_text=True)[:300])
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    if field is not None and response.status_code == 422:
        assert field in error.get("fields", {}), error
    return error


def refused_form(response) -> str:
    """A 4xx page or fragment that shows what is wrong beside the fields; returns the HTML."""
    html = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, html[:300])
    assert any(mark in html for mark in ('aria-invalid="true"', 'class="field-error"',
                                         "flash-error")), html[:1000]
    return html


# -- API bodies --------------------------------------------------------------------------------

@CHECK
@given(field=st.sampled_from(["amount", "method"]), data=st.data(),
       as_resident=st.booleans())
def test_top_up_bodies(world, field, data, as_resident):
    """POST /wallets/<id>/topups with one bad or missing field: 422 naming it."""
    body = {"amount": "10.00", "method": "card"}
    bad = data.draw(st.one_of(st.just("<missing>"),
                              bad_amount() if field == "amount" else bad_choice(TOPUP_METHODS)))
    if bad == "<missing>":
        del body[field]
    else:
        body[field] = bad
    before = world.snapshot()
    r = world.api.post(f"/api/v1/wallets/{world.wallet_id}/topups", json=body,
                       headers=world.res if as_resident else world.op)
    refused_json(r, field)
    assert world.snapshot() == before


@CHECK
@given(field=st.sampled_from(["amount", "utility"]), data=st.data())
def test_purchase_bodies(world, field, data):
    """POST /wallets/<id>/purchases with one bad or missing field: 422 naming it."""
    body = {"amount": "10.00", "utility": "electricity"}
    bad = data.draw(st.one_of(st.just("<missing>"),
                              bad_amount() if field == "amount" else bad_choice(UTILITIES)))
    if bad == "<missing>":
        del body[field]
    else:
        body[field] = bad
    before = world.snapshot()
    r = world.api.post(f"/api/v1/wallets/{world.wallet_id}/purchases", json=body,
                       headers=world.res)
    refused_json(r, field)
    assert world.snapshot() == before


SETTINGS_BAD = {
    "low_balance_threshold": lambda: bad_amount(allow_zero=True),
    "alert_mode": lambda: bad_choice(ALERT_MODES),
    "low_balance_days": lambda: bad_whole(1, 60),
    "alert_frequency_hours": lambda: bad_whole(1, 720),
}


@CHECK
@given(field=st.sampled_from(sorted(SETTINGS_BAD)), data=st.data(), as_resident=st.booleans())
def test_wallet_settings_bodies(world, field, data, as_resident):
    """PATCH /wallets/<id> with every field valid but one: 422 naming it, nothing saved."""
    body = {"low_balance_threshold": "40.00", "alert_mode": "days", "low_balance_days": 5,
            "alert_frequency_hours": 12}
    body[field] = data.draw(SETTINGS_BAD[field]())
    before = world.snapshot()
    r = world.api.patch(f"/api/v1/wallets/{world.wallet_id}", json=body,
                        headers=world.res if as_resident else world.op)
    refused_json(r, field)
    assert world.snapshot() == before


@CHECK
@given(extra=st.text(min_size=1, max_size=30).filter(lambda k: k not in SETTINGS_BAD))
def test_wallet_settings_unknown_fields(world, extra):
    """An unknown field in PATCH /wallets/<id> is refused, not ignored: a typo must not look
    saved."""
    before = world.snapshot()
    r = world.api.patch(f"/api/v1/wallets/{world.wallet_id}",
                        json={"low_balance_days": 5, extra: 1}, headers=world.op)
    # A name with a NUL character is refused before any route (400 bad_text).
    assert r.status_code == (400 if "\x00" in extra else 422), r.get_json()
    assert world.snapshot() == before


TIME_BAD = st.one_of(ANY_TEXT, JSON_NUMBERS, WRONG_TYPES,
                     st.sampled_from(["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                                      "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                      "9999-12-31T23:59:59Z", "2026-01-01T00:00:00",
                                      "yesterday", "1700000000"])
                     ).filter(lambda v: v not in (None, ""))


@CHECK
@given(field=st.sampled_from(["reading", "taken_at", "is_replacement"]), data=st.data())
def test_meter_reading_bodies(world, field, data):
    """POST /meters/<id>/readings with one bad field (or the reading missing): 422 naming it."""
    body = {"reading": "1234.5", "taken_at": "2026-01-01T06:00:00+02:00",
            "is_replacement": False}
    if field == "reading":
        bad = data.draw(st.one_of(st.just("<missing>"), st.one_of(
            ANY_TEXT, JSON_NUMBERS, WRONG_TYPES).filter(lambda v: not valid_reading(v))))
    elif field == "taken_at":
        bad = data.draw(TIME_BAD)
    else:
        bad = data.draw(st.one_of(ANY_TEXT, JSON_NUMBERS, st.none(), st.lists(st.booleans()))
                        .filter(lambda v: not isinstance(v, bool) and v is not None))
    if bad == "<missing>":
        del body[field]
    else:
        body[field] = bad
    before = world.snapshot()
    r = world.api.post(f"/api/v1/meters/{world.meter_id}/readings", json=body, headers=world.op)
    refused_json(r, field)
    assert world.snapshot() == before


@CHECK
@given(email=st.one_of(ANY_TEXT, JSON_NUMBERS, WRONG_TYPES, st.just("<missing>")),
       password=st.one_of(ANY_TEXT, JSON_NUMBERS, WRONG_TYPES, st.just("<missing>")))
def test_token_bodies(world, email, password):
    """POST /auth/token with anything but a right email and password: 401 or 422, no token."""
    body = {k: v for k, v in (("email", email), ("password", password)) if v != "<missing>"}
    before = world.snapshot()
    r = world.api.post("/api/v1/auth/token", json=body)
    error = refused_json(r)
    assert r.status_code in (401, 422) and "token" not in r.get_json(), error
    assert world.snapshot() == before


UNSAFE_API = ["/api/v1/wallets/{w}/topups", "/api/v1/wallets/{w}/purchases",
              "/api/v1/meters/{m}/readings", "/api/v1/auth/token"]


@CHECK
@given(path=st.sampled_from(UNSAFE_API + ["PATCH /api/v1/wallets/{w}"]),
       raw=st.one_of(
           st.sampled_from(['{"amount": 1e309, "method": "card", "utility": "water", '
                            '"reading": 1e309}', '{"amount": NaN, "method": "card"}',
                            '{"amount": -Infinity}', "[]", '"x"', "1", "null", "{",
                            '{"amount": "1"', "\x00", "{}" * 1000, '{"a":' * 200]),
           st.text(max_size=60),
           st.builds(json.dumps, st.one_of(JSON_NUMBERS, st.lists(st.integers()),
                                           st.text(max_size=10)))),
       content_type=st.sampled_from(["application/json", "text/plain", None]))
def test_malformed_json_bodies(world, path, raw, content_type):
    """Not a JSON object (or not JSON, or numbers JSON cannot hold, or deeply nested):
    400/401/415/422, never a 500, nothing written."""
    method = "PATCH" if path.startswith("PATCH ") else "POST"
    url = path.removeprefix("PATCH ").format(w=world.wallet_id, m=world.meter_id)
    before = world.snapshot()
    headers = dict(world.op)
    if content_type:
        headers["Content-Type"] = content_type
    r = world.api.open(url, method=method, data=raw.encode("utf-8", "surrogatepass"),
                       headers=headers)
    refused_json(r)
    assert world.snapshot() == before


def valid_key(key: str) -> bool:
    """An Idempotency-Key: 1 to 100 printable characters once surrounding spaces go."""
    key = key.strip()
    return 0 < len(key) <= 100 and key.isprintable()


@CHECK
@given(key=st.one_of(st.just(""), st.just(" \t "), st.text(min_size=101, max_size=300),
                     st.builds(lambda c: f"key{c}x", st.characters(
                         categories=["Cc", "Cf", "Zl", "Zp"]).filter(
                         lambda c: c not in "\r\n"))).filter(
    lambda k: not valid_key(k) and "\r" not in k and "\n" not in k))  # no header splitting
def test_bad_idempotency_keys(world, key):
    """An Idempotency-Key that is empty, too long or not printable: 422, nothing paid."""
    before = world.snapshot()
    r = world.api.post(f"/api/v1/wallets/{world.wallet_id}/topups",
                       json={"amount": "10.00", "method": "cash"},  # the office's method
                       headers={**world.op, "Idempotency-Key": key})
    refused_json(r, "Idempotency-Key")
    assert world.snapshot() == before


# -- HTML forms ----------------------------------------------------------------------------------

@CHECK
@given(email=st.one_of(ANY_TEXT, st.just("<missing>")),
       password=st.one_of(ANY_TEXT, st.just("<missing>")))
def test_login_form(world, email, password):
    """The sign-in form with any email and password but a right pair: the form again with
    its message (401 wrong, 422 missing), never a 500, nothing written."""
    client = world.app.test_client()
    page = Auth(client)
    from tests.conftest import csrf_from
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form = {"csrf_token": token}
    if email != "<missing>":
        form["email"] = email
    if password != "<missing>":
        form["password"] = password
    before = world.snapshot()
    r = client.post("/login", data=form)
    if any("\x00" in value for value in form.values()):
        # Refused before any route: no field may hold NUL (PostgreSQL cannot store it).
        assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)
        return
    html = refused_form(r)
    assert r.status_code in (401, 422) and "Sign in" in html
    assert page.client.get("/me/").status_code == 302  # still signed out
    assert world.snapshot() == before


RESIDENT_FORMS = {
    # form: (url suffix, valid values, {field: strategy of bad values})
    "topup": ("topups", {"amount": "10.00", "method": "card", "idempotency_key": "k-1"},
              {"amount": bad_form_amount, "method": lambda: bad_form_choice(
                  ("card", "instant_eft")), "idempotency_key": lambda: st.just("")}),
    "buy": ("purchases", {"amount": "10.00", "utility": "electricity",
                          "idempotency_key": "k-2"},
            {"amount": bad_form_amount, "utility": lambda: bad_form_choice(UTILITIES),
             "idempotency_key": lambda: st.just("")}),
    "alerts": ("alerts", {"alert_mode": "amount", "low_balance_threshold": "40.00",
                          "low_balance_days": "3"},
               {"alert_mode": lambda: bad_form_choice(ALERT_MODES),
                "low_balance_threshold": lambda: ANY_TEXT.filter(
                    lambda v: not valid_amount(v, allow_zero=True)),
                "low_balance_days": lambda: ANY_TEXT.filter(lambda v: not valid_whole(v, 1, 60))}),
}
RESIDENT_CASES = [(form, field) for form, (_, _, bad) in RESIDENT_FORMS.items() for field in bad]


@CHECK
@given(case=st.sampled_from(RESIDENT_CASES), data=st.data(), htmx=st.booleans(),
       missing=st.booleans())
def test_resident_forms(world, case, data, htmx, missing):
    """The resident's Top up, Buy and alert forms with one bad or missing field: 422 and the
    form again with the error beside the field (as a fragment for htmx, else the whole
    page), nothing paid or saved."""
    form_name, field = case
    note(f"{form_name}.{field}")
    suffix, valid, bad = RESIDENT_FORMS[form_name]
    form = {**valid, "csrf_token": world.res_page.csrf}
    if missing and field != "idempotency_key":
        del form[field]
    else:
        form[field] = data.draw(bad[field]())
    if form_name == "alerts" and missing:
        return  # a field left out keeps its saved value: that is a valid save
    headers = {"HX-Request": "true"} if htmx else {}
    before = world.snapshot()
    r = world.res_page.client.post(f"/me/wallets/{world.wallet_id}/{suffix}", data=form,
                                   headers=headers)
    assert r.status_code == 422, (r.status_code, r.get_data(as_text=True)[:300])
    refused_form(r)
    assert world.snapshot() == before


@CHECK
@given(which=st.sampled_from(["topups/preview", "purchases/preview", "alerts/preview"]),
       args=st.dictionaries(st.sampled_from(["amount", "method", "utility", "alert_mode",
                                             "low_balance_threshold", "low_balance_days"]),
                            ANY_TEXT, max_size=4))
def test_resident_previews(world, which, args):
    """The live previews under the resident's forms take anything typed: 200 with a hint,
    never a 500, nothing written."""
    before = world.snapshot()
    r = world.res_page.client.get(f"/me/wallets/{world.wallet_id}/{which}",
                                  query_string=args, headers={"HX-Request": "true"})
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:300])
    assert world.snapshot() == before


# Operator forms (the operator dashboard's own routes, read but not changed here).
OPERATOR_FORMS = {
    "wallet settings": ("/wallets/{w}/settings", {
        "low_balance_threshold": "40.00", "alert_mode": "amount", "low_balance_days": "3",
        "alert_frequency_hours": "24"}, {
        "low_balance_threshold": lambda: ANY_TEXT.filter(
            lambda v: not valid_amount(v, allow_zero=True)),
        "alert_mode": lambda: bad_form_choice(ALERT_MODES),
        "low_balance_days": lambda: ANY_TEXT.filter(lambda v: not valid_whole(v, 1, 60)),
        "alert_frequency_hours": lambda: ANY_TEXT.filter(
            lambda v: not valid_whole(v, 1, 720))}),
    "wallet top-up": ("/wallets/{w}/topups", {
        "amount": "10.00", "method": "cash", "idempotency_key": "op-k-1"}, {
        "amount": bad_form_amount, "method": lambda: bad_form_choice(TOPUP_METHODS)}),
    "wallet purchase": ("/wallets/{w}/purchases", {
        "amount": "10.00", "utility": "water", "idempotency_key": "op-k-2"}, {
        "amount": bad_form_amount, "utility": lambda: bad_form_choice(UTILITIES)}),
    "estate defaults": ("/thresholds/estates/{e}", {
        "low_balance_threshold": "50.00", "alert_mode": "amount", "low_balance_days": "3",
        "alert_frequency_hours": "24", "min_low_balance_threshold": "0.00",
        "max_low_balance_threshold": "2000.00"}, {
        "low_balance_threshold": lambda: ANY_TEXT.filter(
            lambda v: not valid_amount(v, allow_zero=True)),
        "alert_mode": lambda: bad_form_choice(ALERT_MODES),
        "low_balance_days": lambda: ANY_TEXT.filter(lambda v: not valid_whole(v, 1, 60)),
        "alert_frequency_hours": lambda: ANY_TEXT.filter(
            lambda v: not valid_whole(v, 1, 720)),
        "max_low_balance_threshold": lambda: ANY_TEXT.filter(
            lambda v: not valid_amount(v, allow_zero=True))}),
    "bulk thresholds": ("/thresholds/apply", {
        "estate_id": "{e}", "scope": "all", "low_balance_threshold": "40.00",
        "alert_mode": "amount", "low_balance_days": "3", "alert_frequency_hours": "24"}, {
        "estate_id": lambda: ANY_TEXT,  # filtered in the test: blank, "all" or the id
        "low_balance_threshold": lambda: ANY_TEXT.filter(
            lambda v: not valid_amount(v, allow_zero=True) and v.strip() != ""),
        "alert_mode": lambda: ANY_TEXT.filter(lambda v: v.strip() not in ALERT_MODES + ("",)),
        "low_balance_days": lambda: ANY_TEXT.filter(
            lambda v: not valid_whole(v, 1, 60) and v.strip() != ""),
        "alert_frequency_hours": lambda: ANY_TEXT.filter(
            lambda v: not valid_whole(v, 1, 720) and v.strip() != "")}),
}
OPERATOR_CASES = [(form, field) for form, (_, _, bad) in OPERATOR_FORMS.items() for field in bad]


@CHECK
@given(case=st.sampled_from(OPERATOR_CASES), data=st.data(), htmx=st.booleans())
def test_operator_forms(world, case, data, htmx):
    """The operator's wallet settings, top-up, purchase, estate defaults and bulk threshold
    forms with one bad field: 422 and the form again with its errors, nothing written."""
    form_name, field = case
    url, valid, bad = OPERATOR_FORMS[form_name]
    form = {k: v.format(w=world.wallet_id, e=world.estate_id) for k, v in valid.items()}
    strategy = bad[field]()
    if field == "estate_id":  # blank and "all" mean every estate; the one estate's id is valid
        strategy = strategy.filter(lambda v: v.strip() not in ("", "all") and not (
            v.strip().isascii() and v.strip().isdigit() and int(v) == world.estate_id))
    form[field] = data.draw(strategy)
    assume(not known_bug(url, form))
    form["csrf_token"] = world.op_page.csrf
    headers = {"HX-Request": "true"} if htmx else {}
    before = world.snapshot()
    r = world.op_page.client.post(url.format(w=world.wallet_id, e=world.estate_id), data=form,
                                  headers=headers)
    assert r.status_code == 422, (form_name, field, r.status_code,
                                  r.get_data(as_text=True)[:300])
    refused_form(r)
    assert world.snapshot() == before


OPERATOR_PREVIEWS = ["/wallets/{w}/settings/preview", "/wallets/{w}/purchases/preview",
                     "/thresholds/preview"]
PREVIEW_FIELDS = ["amount", "utility", "low_balance_threshold", "alert_mode",
                  "low_balance_days", "alert_frequency_hours", "estate_id", "scope"]


@CHECK
@given(url=st.sampled_from(OPERATOR_PREVIEWS),
       form=st.dictionaries(st.sampled_from(PREVIEW_FIELDS), ANY_TEXT, max_size=5),
       htmx=st.booleans())
def test_operator_previews(world, url, form, htmx):
    """The operator's previews (settings, purchase quote, bulk impact) with anything typed:
    never a 500, nothing written."""
    assume(not known_bug(url, form))
    before = world.snapshot()
    r = world.op_page.client.post(url.format(w=world.wallet_id),
                                  data={**form, "csrf_token": world.op_page.csrf},
                                  headers={"HX-Request": "true"} if htmx else {})
    assert r.status_code < 500, (url, form, r.get_data(as_text=True)[:300])
    assert world.snapshot() == before


FILTER_PAGES = {
    "/wallets": ["q", "state", "estate", "sort", "limit", "cursor"],
    "/notifications": ["type", "priority", "date", "estate", "read", "q", "wallet", "run",
                       "before"],
    "/scans/history": ["task", "state", "trigger", "before"],
    "/wallets/{w}/transactions": ["before"],
    "/me/notifications": ["type", "unread", "before"],
}


@CHECK
@given(page=st.sampled_from(sorted(FILTER_PAGES)), data=st.data(), htmx=st.booleans())
def test_filter_forms(world, page, data, htmx):
    """The GET filter forms (wallet search, notifications log, task history, the ledger's
    paging, the resident's inbox) with anything in their fields: 200 or 422 with the
    errors, never a 500."""
    args = data.draw(st.dictionaries(st.sampled_from(FILTER_PAGES[page]), ANY_TEXT,
                                     max_size=4))
    assume(not known_bug(page, args))
    client = (world.res_page if page.startswith("/me/") else world.op_page).client
    before = world.snapshot()
    r = client.get(page.format(w=world.wallet_id), query_string=args,
                   headers={"HX-Request": "true"} if htmx else {})
    assert r.status_code in (200, 422), (page, args, r.status_code,
                                         r.get_data(as_text=True)[:300])
    assert world.snapshot() == before


@pytest.mark.parametrize("value", ["²", "٣", "9" * 30])
def test_numeric_query_arguments_in_the_api(world, value):
    """after_id, cursor, limit and estate_id take ASCII digits only; anything else is 422
    ("²" used to be a 500 and "٣" was read as 3)."""
    for url in (f"/api/v1/notifications?after_id={value}", f"/api/v1/task-runs?cursor={value}",
                f"/api/v1/wallets?estate_id={value}", f"/api/v1/notifications?cursor={value}"):
        r = world.api.get(url, headers=world.op)
        assert r.status_code == 422, (url, r.status_code)
        refused_json(r)


def test_nan_and_infinite_floats_never_reach_the_database(world):
    """Python's json reads NaN, Infinity and 1e309 as floats: each is refused as an amount,
    a threshold and a reading."""
    before = world.snapshot()
    for literal in ("NaN", "Infinity", "-Infinity", "1e309", "-1e309"):
        for url, template in ((f"/api/v1/wallets/{world.wallet_id}/topups",
                               '{"amount": %s, "method": "card"}'),
                              (f"/api/v1/meters/{world.meter_id}/readings", '{"reading": %s}')):
            r = world.api.post(url, data=template % literal, headers=world.op,
                               content_type="application/json")
            refused_json(r, "amount" if "topups" in url else "reading")
        r = world.api.patch(f"/api/v1/wallets/{world.wallet_id}",
                            data='{"low_balance_threshold": %s}' % literal,
                            headers=world.op, content_type="application/json")
        refused_json(r, "low_balance_threshold")
    assert world.snapshot() == before
    assert math.isnan(float("nan"))  # the literals above really are what Python reads


# -- numbers that are not ASCII digits, and ids beyond 64 bits ------------------------------------
#
# "²".isdigit() is True but int("²") raises, "٣" is read as 3, and an id of 30 digits makes the
# database driver raise OverflowError: every field that takes a number meets these three.

TRAPS = ["²", "٣", "9" * 30]
NUMERIC_FIELDS = [  # (method, page, field)
    ("GET", "/wallets", "estate"), ("GET", "/wallets", "limit"),
    ("GET", "/notifications", "before"), ("GET", "/notifications", "wallet"),
    ("GET", "/notifications", "run"), ("GET", "/notifications", "estate"),
    ("GET", "/scans/history", "before"), ("GET", "/wallets/{w}/transactions", "before"),
    ("GET", "/me/notifications", "before"), ("GET", "/api/v1/wallets", "limit"),
    ("POST", "/thresholds/preview", "estate_id"), ("POST", "/thresholds/apply", "estate_id"),
    ("POST", "/wallets/{w}/settings", "low_balance_days"),
    ("POST", "/me/wallets/{w}/alerts", "low_balance_days"),
]
# Refused with a 500 when this was written; owned by the operator dashboard (reported to its
# owner, not changed here). Remove an entry once it is fixed.
KNOWN_500: dict[tuple[str, str, str], str] = {}  # none left: fill in when a 500 is found


def known_bug(page: str, values: dict) -> bool:
    """True when `values` would hit one of KNOWN_500's bugs on `page` (any non-ASCII digit
    or more than 18 digits in an affected field), so the property tests skip just those."""
    fields = {field for p, field, _ in KNOWN_500 if p == page}
    return any(isinstance(v, str) and k in fields and v.strip().isdigit()
               and (not v.strip().isascii() or len(v.strip()) > 18) for k, v in values.items())


def _trap_cases():
    """Every numeric field with every trap, the known 500s marked."""
    for method, page, field in NUMERIC_FIELDS:
        for value in TRAPS:
            reason = KNOWN_500.get((page, field, value))
            marks = [pytest.mark.xfail(reason=f"500: {reason}", strict=False)] if reason else []
            yield pytest.param(method, page, field, value, marks=marks,
                               id=f"{method} {page} {field}={value[:3]}")


@pytest.mark.parametrize("method,page,field,value", list(_trap_cases()))
def test_numeric_fields_refuse_what_is_not_ascii_digits(world, method, page, field, value):
    """A number field given "²", "٣" or 30 nines: 200 (ignored or looked up as nothing), 422
    with the error, or 404: never a 500, nothing written."""
    is_resident = page.startswith("/me/")
    auth = world.res_page if is_resident else world.op_page
    url = page.format(w=world.wallet_id)
    before = world.snapshot()
    if page.startswith("/api/"):
        r = world.api.get(url, query_string={field: value}, headers=world.op)
    elif method == "GET":
        r = auth.client.get(url, query_string={field: value})
    else:
        r = auth.client.post(url, data={field: value, "csrf_token": auth.csrf,
                                        "low_balance_threshold": "40.00"})
    assert r.status_code in (200, 404, 422), (r.status_code, r.get_data(as_text=True)[:200])
    assert world.snapshot() == before


@pytest.mark.parametrize("value", ["-0", "-0.00", "-0.000", " -0 ", -0.0])
def test_negative_zero_is_refused_everywhere(world, value):
    """Minus zero is not a reading, an amount or a threshold ("-0" used to be stored as a
    meter reading of "-0.000")."""
    before = world.snapshot()
    cases = [(f"/api/v1/meters/{world.meter_id}/readings", {"reading": value}, "reading"),
             (f"/api/v1/wallets/{world.wallet_id}/topups",
              {"amount": value, "method": "card"}, "amount")]
    for url, body, field in cases:
        refused_json(world.api.post(url, json=body, headers=world.op), field)
    r = world.api.patch(f"/api/v1/wallets/{world.wallet_id}",
                        json={"low_balance_threshold": value}, headers=world.op)
    refused_json(r, "low_balance_threshold")
    assert world.snapshot() == before
