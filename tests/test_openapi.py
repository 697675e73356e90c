"""The OpenAPI document says what the API really accepts and answers: it covers every route,
quotes the parsers' own patterns and bounds (checked here against the parsers, property by
property), and schemathesis, with every check and its stateful phase, finds no difference
between the document and a live server."""
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.api.openapi import document, error_statuses
from dashboard.api.spec import MAX_BODY_BYTES, OPERATIONS
from dashboard.models import ALERT_MODES, RUN_STATES, TOPUP_METHODS, TRIGGERS, UTILITIES
from dashboard.services.errors import ValidationFailed
from dashboard.services.ids import ID_PATTERN, MAX_ID
from dashboard.services.money import AMOUNT_OR_ZERO_PATTERN, AMOUNT_PATTERN, parse_amount
from dashboard.services.notifications.messages import TYPES
from dashboard.services.patterns import upto
from dashboard.services.payments import OFFICE_METHODS
from dashboard.services.scans import SCANS
from dashboard.services.wallets import CURSOR_PATTERN, MAX_LIMIT, decode_cursor, encode_cursor
from dashboard.services.wallets.readings import READING_PATTERN, parse_reading
from dashboard.services.wallets.settings import ALERT_FREQUENCY_HOURS, LOW_BALANCE_DAYS
from tests import factories

CONFIG = Path(__file__).with_name("schemathesis.toml")
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def test_every_api_route_is_documented(app):
    documented = {("/api/v1" + path).replace("{", "<").replace("}", ">")
                  for path in document()["paths"]}
    routes = {re.sub(r"<\w+(\([^)]*\))?:", "<", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1") and not rule.rule.endswith("openapi.json")}
    assert routes == documented


def test_document_is_served(client):
    body = client.get("/api/v1/openapi.json").get_json()
    assert body["openapi"].startswith("3.") and "/wallets/{wallet_id}/purchases" in body["paths"]
    assert body["components"]["securitySchemes"]["session"]["name"] == "session"


# -- the document quotes the code's constants ----------------------------------------------------

def _param(path: str, method: str, name: str) -> dict:
    """The schema of one parameter of an operation."""
    params = document()["paths"][path][method]["parameters"]
    return next(p["schema"] for p in params if p["name"] == name)


def _body(path: str, method: str) -> dict:
    """The request body schema of an operation."""
    return document()["paths"][path][method]["requestBody"]["content"]["application/json"][
        "schema"]


def test_limits_ids_and_cursors_are_the_parsers():
    """Every list's limit is parse_limit's, every path id MAX_ID, every cursor the pattern or
    the id range the parsers accept."""
    for path, methods in document()["paths"].items():
        for op in methods.values():
            for p in op.get("parameters", []):
                if p["name"] == "limit":
                    assert (p["schema"]["minimum"], p["schema"]["maximum"]) == (1, MAX_LIMIT)
                if p["in"] == "path" and p["name"].endswith("_id"):
                    assert (p["schema"]["minimum"], p["schema"]["maximum"]) == (1, MAX_ID)
                if p["in"] == "query":
                    assert p["allowEmptyValue"] is True, (path, p["name"])  # ?state= is "any"
    assert _param("/wallets", "get", "cursor")["pattern"] == CURSOR_PATTERN
    assert _param("/task-runs", "get", "cursor")["maximum"] == MAX_ID


def test_enums_and_bounds_are_the_models_and_services():
    """Money patterns, enums and settings bounds come from where the code checks them."""
    topup, purchase = _body("/wallets/{wallet_id}/topups", "post"), _body(
        "/wallets/{wallet_id}/purchases", "post")
    assert topup["properties"]["amount"]["pattern"] == AMOUNT_PATTERN
    assert topup["properties"]["method"]["enum"] == list(TOPUP_METHODS)
    assert purchase["properties"]["utility"]["enum"] == list(UTILITIES)
    settings_body = _body("/wallets/{wallet_id}", "patch")["properties"]
    assert settings_body["low_balance_threshold"]["pattern"] == AMOUNT_OR_ZERO_PATTERN
    assert settings_body["alert_mode"]["enum"] == list(ALERT_MODES)
    for name, bounds in (("low_balance_days", LOW_BALANCE_DAYS),
                         ("alert_frequency_hours", ALERT_FREQUENCY_HOURS)):
        assert (settings_body[name]["minimum"], settings_body[name]["maximum"]) == bounds
    reading = _body("/meters/{meter_id}/readings", "post")["properties"]["reading"]
    assert reading["pattern"] == READING_PATTERN
    assert _param("/notifications", "get", "type")["enum"] == list(TYPES)
    assert _param("/task-runs", "get", "state")["enum"] == list(RUN_STATES)
    assert _param("/task-runs", "get", "trigger")["enum"] == list(TRIGGERS)
    assert _param("/task-runs", "get", "task")["enum"] == list(SCANS)
    assert _param("/scans/{name}/run", "post", "name")["enum"] == list(SCANS)
    run = document()["components"]["schemas"]["TaskRun"]["properties"]
    assert run["state"]["enum"] == list(RUN_STATES) and run["task"]["enum"] == list(SCANS)


def test_every_operation_lists_the_refusals_its_checks_can_answer():
    """400 and 503 everywhere; a body adds 413/415/422, a path id 404, the role decorators
    401/403/404; the token route alone is public and rate-limited."""
    for path, methods in OPERATIONS.items():
        for method, op in methods.items():
            statuses = set(error_statuses(op))
            documented = {int(s) for s in document()["paths"][path][method]["responses"]}
            assert statuses <= documented and {400, 503} <= statuses, (method, path)
            if op.body is not None:
                assert {413, 415, 422} <= statuses, (method, path)
            if "{" in path:
                assert 404 in statuses, (method, path)
            assert (401 in statuses) or path == "/auth/token"
    assert {401, 429} <= set(error_statuses(OPERATIONS["/auth/token"]["post"]))
    assert 403 in error_statuses(OPERATIONS["/scans/{name}/run"]["post"])
    assert 409 in error_statuses(OPERATIONS["/wallets/{wallet_id}/purchases"]["post"])


# -- the patterns are the parsers, property by property ------------------------------------------

NUMBERISH = st.text(alphabet="0123456789.- \t\n\u00a0١e", max_size=14)


def _accepts(parse, value) -> bool:
    """True when `parse(value)` does not refuse it."""
    try:
        parse(value)
    except ValidationFailed:
        return False
    return True


@pytest.mark.parametrize("pattern,allow_zero", [(AMOUNT_PATTERN, False),
                                                (AMOUNT_OR_ZERO_PATTERN, True)])
@PROPERTY
@given(data=st.data())
def test_the_amount_pattern_is_what_parse_amount_accepts(pattern, allow_zero, data):
    """A text matches the documented pattern exactly when parse_amount takes it."""
    text = data.draw(st.one_of(st.from_regex(pattern, fullmatch=True), NUMBERISH,
                               st.decimals(min_value=-1, max_value=200000, places=2).map(str)))
    assert bool(re.search(pattern, text)) == _accepts(
        lambda v: parse_amount(v, allow_zero=allow_zero), text), repr(text)


@PROPERTY
@given(text=st.one_of(st.from_regex(READING_PATTERN, fullmatch=True), NUMBERISH,
                      st.decimals(min_value=-1, max_value=Decimal("1e10"), places=4).map(str)))
def test_the_reading_pattern_is_what_parse_reading_accepts(text):
    """A text matches the documented pattern exactly when parse_reading takes it."""
    assert bool(re.search(READING_PATTERN, text)) == _accepts(parse_reading, text), repr(text)


@PROPERTY
@given(text=st.one_of(st.from_regex(CURSOR_PATTERN, fullmatch=True),
                      st.text(alphabet="0123456789._-e", min_size=1, max_size=24)))
def test_the_cursor_pattern_is_what_decode_cursor_accepts(text):
    """A cursor matches the documented pattern exactly when decode_cursor takes it (an empty
    one is no cursor, as allowEmptyValue says), and encode_cursor's cursors decode to their
    values."""
    assert bool(re.search(CURSOR_PATTERN, text)) == _accepts(decode_cursor, text), repr(text)
    assert decode_cursor(encode_cursor({"id": 7, "balance": "-12.50"})) == {
        "id": 7, "balance": "-12.50"}
    assert decode_cursor(encode_cursor({"id": 7})) == {"id": 7}


@PROPERTY
@given(number=st.one_of(st.integers(0, 2**40), st.integers(MAX_ID - 1000, MAX_ID + 1000)),
       zeros=st.integers(0, 3))
def test_the_id_pattern_bounds_ids(number, zeros):
    """ID_PATTERN (the route converter's) matches exactly the numbers from 0 to MAX_ID."""
    assert bool(re.fullmatch(f"(?:{ID_PATTERN})", "0" * zeros + str(number))) == (
        number <= MAX_ID)
    assert bool(re.fullmatch(f"(?:{upto(number + 1)})", str(number))) == (number >= 1)


# -- what the server answers where the document says so ------------------------------------------

def test_ids_out_of_range_are_404_for_every_method(client, make, op_token):
    """An id beyond MAX_ID, or in another script's digits, matches no route: 404 whatever the
    method (PATCH /wallets/2147483648 used to be a 405, because GET's rule matched the text)."""
    for wallet_id in (str(MAX_ID + 1), "9" * 30, "١"):
        for method in ("GET", "PATCH", "POST", "DELETE"):
            r = client.open(f"/api/v1/wallets/{wallet_id}", method=method, headers=op_token,
                            json={})
            assert r.status_code == 404, (wallet_id, method, r.status_code)
    assert client.get(f"/api/v1/wallets/{make.wallet().id}", headers=op_token).status_code == 200


def test_every_405_says_which_methods_are_allowed(client, make, op_token):
    """RFC 9110: a 405 lists the resource's methods in Allow (in the API's error shape)."""
    wallet = make.wallet()
    r = client.delete(f"/api/v1/wallets/{wallet.id}", headers=op_token)
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"
    assert {"GET", "PATCH"} <= {m.strip() for m in r.headers["Allow"].split(",")}
    r = client.open("/api/v1/auth/token", method="TRACE")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert client.open("/scans/history", method="TRACE").headers["Allow"]  # pages too


def test_bodies_are_checked_as_documented(client, make, op_token):
    """Too large: 413; not JSON: 415; unknown fields, missing ones and numbers where the
    document says strings: 422 naming each; nothing is paid."""
    url = f"/api/v1/wallets/{make.wallet('10.00').id}/topups"
    big = '{"amount": "1.00", "method": "card", "x": "%s"}' % ("a" * MAX_BODY_BYTES)
    assert client.post(url, data=big, content_type="application/json",
                       headers=op_token).status_code == 413
    assert client.post(url, data="amount=1", headers=op_token).status_code == 415
    for body, field, message in [
        ({"amount": "1.00", "method": "card", "ammount": "2"}, "ammount", "Unknown field."),
        ({"method": "card"}, "amount", "This field is required."),
        ({"amount": 12, "method": "card"}, "amount", "Enter an amount in rand, like 49.50."),
        ({"amount": "1.00", "method": 3}, "method", "Choose one of: " + ", ".join(OFFICE_METHODS)
         + "."),  # an operator's choices
    ]:
        r = client.post(url, json=body, headers=op_token)
        assert r.status_code == 422, body
        assert r.get_json()["error"]["fields"][field] == message, body
    r = client.patch(url.rsplit("/", 1)[0], json={"low_balance_days": "5"}, headers=op_token)
    assert r.get_json()["error"]["fields"] == {
        "low_balance_days": "Enter a whole number from 1 to 60."}


@pytest.fixture
def op_token(db, client):
    """Bearer headers of an operator."""
    return factories.operator_and_token(db, client)


# -- schemathesis against a live server ----------------------------------------------------------

@pytest.fixture
def fuzz_server(redis_url, tmp_path):
    """A web server of its own for fuzzing: its own database, its own broker database and
    channel, so no other test's worker or data is touched by random requests. A few
    notifications give the links from the list to "mark read" something to follow."""
    from dashboard.db import Session, init_engine
    from dashboard.migrate import upgrade
    from dashboard.models import utcnow
    from dashboard.services import notifications, payments
    from tests.stack import Stack

    db_url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    upgrade(db_url)
    init_engine(db_url)
    estate = factories.estate(Session)
    for balance in ("5.00", "40.00", "500.00"):
        w = factories.wallet(Session, balance, estate_obj=estate, meters=True)
    resident = factories.resident(Session, w, email="fuzz-resident@example.test")
    factories.user(Session, "operator", email="fuzz-op@example.test")
    Session.commit()
    # A payment for GET /payments/{id} to answer (the operator's top-ups never make one).
    payments.start_payment(Session, w.id, "25.00", "card", now=utcnow(), user_id=resident.id)
    notifications.store(Session, [notifications.notification_row(
        "topup_success", "Top-up received", "R 10.00 was added.", dedup_key=f"fuzz-{i}",
        now=utcnow(), wallet_id=w.id) for i in range(3)])
    Session.commit()
    Session.remove()
    server = Stack(db_url, redis_url.rsplit("/", 1)[0] + "/7", tmp_path)
    server.start("web")
    yield server
    server.stop()


@pytest.mark.stack
def test_schemathesis_all_checks_pass(fuzz_server):
    """Every schemathesis check (server errors, status codes, response schemas and headers,
    valid data accepted, invalid data refused, unsupported methods with Allow, auth...) over
    the examples, coverage, fuzzing and stateful (links) phases, with a fixed seed.

    tests/schemathesis.toml holds the one exception, with its reason."""
    token = fuzz_server.token("fuzz-op@example.test")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
         f"{fuzz_server.url}/api/v1/openapi.json", "--checks", "all",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "50",
         "--seed", "1", "-H", f"Authorization: Bearer {token}", "--request-timeout", "10",
         "--no-color"],
        capture_output=True, text=True, timeout=600)
    output = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, output
    assert "Failures:" not in result.stdout, output
    covered = re.search(r"API Links:\s+(\d+) covered", result.stdout)
    assert covered and int(covered.group(1)) >= 5, output  # the stateful phase followed links
