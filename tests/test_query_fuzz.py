"""Bad query strings: every GET route of the app, pages and API alike, walked from
`app.url_map` (a route added tomorrow is in without anyone listing it), as every role that may
use it (operator, viewer, resident, and anonymous for the public routes), with its path filled
by real ids of seeded rows or by hostile values.

The query strings carry what a client can send: unicode edges (lone surrogates and broken
UTF-8 in percent-encoding, NUL, right-to-left marks, very long strings), extreme numbers and
dates (huge, negative, 1e308, NaN, Infinity, year 0 and 10000), repeated keys, empty values,
keys with no value. The keys are the ones each route reads (recorded while the fixture visits
it, so nobody lists them), the API's documented parameters, and made-up ones. Every answer is
below 500; an API answer of 4xx keeps the error shape {"error": {"code", "message"}}.

Two tests: every key a route reads with each extreme value alone (a table: the classic
overflows, each once), then the property test (hypothesis), each example a sweep of every
(route, role) with random combinations. Examples: BAD_INPUT_EXAMPLES / 5 (default 10; `make
soak` runs 500 / 5, randomised).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask import Request
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict

from dashboard.services.ids import MAX_ID
from dashboard.services.ops import health
from tests.test_security import Site, expected, policy

EXAMPLES = max(1, int(os.environ.get("BAD_INPUT_EXAMPLES", "50")) // 5)
CHECK = settings(max_examples=EXAMPLES, deadline=None, database=None,
                 derandomize=not os.environ.get("BAD_INPUT_RANDOM"),
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.data_too_large])
ROLES = {"operator": "operator", "viewer": "viewer", "resident": "resident_a",
         "anonymous": "anonymous"}
#: Keys no route may read today but one could tomorrow (and keys of other routes).
COMMON_KEYS = ["q", "state", "sort", "limit", "cursor", "before", "after", "after_id", "type",
               "priority", "date", "estate", "estate_id", "read", "unread", "wallet", "run",
               "task", "trigger", "status", "channel", "next", "page", "role", "from", "to",
               "amount", "method", "utility", "scope", "format", "id"]

# -- values ---------------------------------------------------------------------------------------

UNICODE_EDGES = ["\u202e", "\u200f", "\u200e\u202b12", "\ufeff", "\x00", "a\x00b", "e\u0301",
                 "\U0001f4b0", "\U0010ffff", "\ufdfa" * 50, "\u2028", "\x7f", "\t", "\r\n",
                 "\ud800", "x\udfffy", "\uff11\uff12", "\u00b2", "\u0663", "\u0968", "\u03a9",
                 "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%", "%%",
                 "+", " ", "", "null", "true", "[]", "{}", "a" * 10_000, "\u00e9" * 3000]
NUMBERS = ["0", "-0", "-1", "-2147483649", "2147483647", "2147483648", "9223372036854775807",
           "9223372036854775808", "18446744073709551616", "9" * 30, "9" * 400, "9" * 5000,
           "1e308", "-1e308", "1e309", "1e-400", "NaN", "nan", "-NaN", "Infinity", "-Infinity",
           "inf", "0x10", "0o7", "1_000", "+5", ".5", "5.", "1.5", "12,50", "1,234.50",
           "00000000000000000000001", str(MAX_ID), str(MAX_ID + 1)]
DATES = ["0000-01-01", "0001-01-01", "9999-12-31", "10000-01-01", "-0001-01-01",
         "0001-01-01T00:00:00", "9999-12-31T23:59:59", "2024-02-30", "2024-13-01", "2024-00-10",
         "2024-1-1", "20240101", "1970-01-01T00:00:00Z", "2024-01-01T25:61:61", "+275760-09-13",
         "2024-06-01T00:00:00+99:00", "1e10", "today", "now", "9999-12-31T23:59:59.999999999"]
VALUES = st.one_of(
    st.sampled_from(DATES),
    st.sampled_from(NUMBERS),
    st.sampled_from(UNICODE_EDGES),
    st.one_of(st.text(max_size=30),
              st.integers(min_value=-(10**40), max_value=10**40).map(str),
              st.floats(allow_nan=True, allow_infinity=True).map(repr),
              st.dates().map(lambda d: d.isoformat()),
              st.datetimes().map(lambda d: d.isoformat())),
)
#: Percent-escapes that are not (valid) UTF-8: a lone surrogate, overlong "/", truncations.
RAW_ESCAPES = ["%ED%A0%80", "%ED%BF%BF", "%C0%AF", "%FF", "%FE%FF", "%E2%82", "%", "%zz", "%0",
               "%00", "%2"]
#: The table's values, each sent alone to every key of every route: the classic overflows.
EXTREMES = ["0000-01-01", "0001-01-01", "9999-12-31", "10000-01-01", "0001-01-01T00:00:00",
            "9999-12-31T23:59:59", "9" * 30, "9" * 5000, "-1", "1e308", "NaN", "-Infinity",
            "\u0663", "\u00b2", "\u202e1", "\ufeff", "a" * 10_000, ""]


#: Headers every route reads through Flask, htmx or prometheus-client, with values a client
#: may send ("version=abc" was a 500 on /metrics).
HOSTILE_HEADERS = [
    {"Accept": "application/openmetrics-text; version=abc"},
    {"Accept": "application/openmetrics-text; version=1..0, text/plain;q=NaN"},
    {"Accept": "text/plain; version=\u00ff; escaping=%"},
    {"Accept": "*/*;q=1e309, application/json;q=-1"}, {"Accept": ";;,,;"},
    {"HX-Request": "false"}, {"HX-Request": "\xe2\x80\xae"},
    {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    {"HX-Request": "true", "HX-Current-URL": "%ED%A0%80", "HX-Target": "\x00"},
]


def encode(text: str) -> str:
    """Text as a client puts it on the wire: UTF-8 (lone surrogates too), percent-encoded."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def extreme_queries(key: str) -> list[str]:
    """`key` with each extreme value, with no value, repeated, and with broken escapes."""
    name = encode(key)
    return ([f"{name}={encode(value)}" for value in EXTREMES]
            + [name, f"{name}=1&{name}=2&{name}=", f"{name}=%ED%A0%80", f"{name}=%FF%FE"])


@st.composite
def query_strings(draw, keys: list[str]) -> str:
    """A raw query string: one or two of the route's keys most often (so one refused value
    does not hide what another would do), sometimes all of them or none, plus made-up keys;
    each with a hostile value, an empty value or none; keys repeat; broken escapes appear."""
    keys = keys or COMMON_KEYS
    count = draw(st.sampled_from([1, 1, 1, 2, 2, 0, len(keys)]))
    names = draw(st.lists(st.sampled_from(keys), min_size=min(count, len(keys)),
                          max_size=min(count, len(keys)), unique=True))
    names += draw(st.lists(st.one_of(st.sampled_from(COMMON_KEYS), st.text(max_size=8)),
                           max_size=2))
    parts = []
    for key in names:
        name = encode(key)
        form = draw(st.sampled_from(["value"] * 5 + ["empty", "bare", "raw", "repeat"]))
        if form == "empty":
            parts.append(f"{name}=")
        elif form == "bare":
            parts.append(name)
        elif form == "raw":
            parts.append(f"{name}={draw(st.sampled_from(RAW_ESCAPES))}")
        elif form == "repeat":  # ?state=low&state=ok
            parts += [f"{name}={encode(draw(VALUES))}" for _ in range(draw(st.integers(2, 3)))]
        else:
            parts.append(f"{name}={encode(draw(VALUES))}")
    parts = draw(st.permutations(parts))
    return draw(st.sampled_from(["&", "&&"])).join(parts)


# -- the routes and who may use them --------------------------------------------------------------

SEEN: set[str] = set()


class RecordingArgs(ImmutableMultiDict):
    """Query arguments that note every key a route asks for (get, getlist, [] and `in`), so
    the fuzz sends each route the keys it reads, without anyone listing them."""

    def get(self, key, default=None, type=None):  # noqa: A002 - MultiDict's signature
        """Note the key."""
        SEEN.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        """Note the key."""
        SEEN.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        """Note the key."""
        SEEN.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        """Note the key (WTForms asks `name in formdata`)."""
        SEEN.add(key)
        return super().__contains__(key)


class RecordingRequest(Request):
    """A request whose args record the keys read."""

    parameter_storage_class = RecordingArgs


ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@dataclass
class Cell:
    """One GET route as one role: the keys it reads, and the headers under which it reads
    them (a preview reads its fields only for htmx)."""

    role: str
    rule: object
    keys: list[str]
    headers: dict


class Routes:
    """Every GET route × every role that may use it, with the query keys each reads."""

    def __init__(self, site: Site):
        """Visit each (route, role) with the real ids, recording the keys read."""
        from dashboard.api.openapi import document

        self.site = site
        declared = {}
        for path, ops in document()["paths"].items():
            declared["/api/v1" + path] = [p["name"] for p in ops.get("get", {}).get(
                "parameters", ()) if p["in"] == "query"]
        site.app.request_class = RecordingRequest
        self.cells: list[Cell] = []
        for rule in sorted(site.app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods:
                continue
            for role, identity in ROLES.items():
                if expected(policy(rule.endpoint, "GET"), identity, owns=True) != "allow":
                    continue
                seen = {}
                for name, headers in (("plain", {}), ("htmx", {"HX-Request": "true"})):
                    SEEN.clear()
                    # One made-up key: a form built from empty args does not look at its
                    # fields.
                    r = self.get(identity, self.url(rule, {}), headers, "made-up=1")
                    assert r.status_code < 400, (rule.rule, role, headers, r.status_code)
                    seen[name] = SEEN - {"made-up"}
                openapi = ARG.sub(lambda m: "{" + m[2] + "}", rule.rule)
                keys = sorted(seen["plain"] | seen["htmx"] | set(declared.get(openapi, ())))
                htmx = {"HX-Request": "true"} if seen["htmx"] - seen["plain"] else {}
                self.cells.append(Cell(role, rule, keys, htmx))

    def url(self, rule, values: dict) -> str:
        """The rule's path with `values` (raw text, encoded here) or the site's real ids."""

        def fill(match):
            converter, name = match[1], match[2]
            if name not in values:
                return quote(str(self.site.args[name]), safe="/")
            return quote(values[name].encode("utf-8", "surrogatepass"),
                         safe="/" if converter == "path" else "")

        return ARG.sub(fill, rule.rule)

    def get(self, identity: str, url: str, headers: dict, query: str = ""):
        """A GET as `identity`: the bearer token for the API, else the browser session."""
        if url.startswith("/api/"):
            client = self.site.app.test_client()
            headers = {**headers, **self.site.tokens[identity]}
        else:
            client = self.site.pages[identity].client
        return client.get(url, query_string=query, headers=headers)

    def path_values(self, rule, draw) -> dict:
        """Path values for the rule: mostly the real ids, sometimes another row's id (a
        thing that exists but is not this one) or hostile text."""
        values = {}
        real = sorted({str(v) for v in self.site.args.values()})
        for _, name in ARG.findall(rule.rule):
            choice = draw(st.sampled_from(["real", "real", "other", "hostile"]))
            if choice == "other":
                values[name] = draw(st.sampled_from(real))
            elif choice == "hostile":
                values[name] = draw(st.one_of(st.sampled_from(NUMBERS + UNICODE_EDGES[:20]),
                                              st.text(max_size=20),
                                              st.sampled_from(["..", "%2e%2e", "a/b",
                                                               "../../etc/passwd", "."])))
        return values


@pytest.fixture(scope="module")
def routes(redis_url, tmp_path_factory):
    """The security matrix's site (hostile names, two residents, staff, every kind of row)
    and its GET routes."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests.conftest import app_config, fast_database, private_broker_url

    url = fast_database(tmp_path_factory.mktemp("query-fuzz"))
    app = create_app("testing", **app_config(url, redis_url,
                                             CELERY_BROKER_URL=private_broker_url(redis_url)))
    with pytest.MonkeyPatch.context() as patch:
        # No worker listens here: the health checks (/, /readyz, /overview/health) would
        # wait the whole ping timeout on every request of every sweep.
        patch.setattr(health, "PING_TIMEOUT", 0.01)
        yield Routes(Site(app, Session))
    Session.remove()


def check(response, url: str, query: str, role: str) -> None:
    """Below 500; an API 4xx in the error shape."""
    where = f"GET {url}?{query[:300]} as {role}"
    status = response.status_code
    body = response.get_json(silent=True)
    if url == "/readyz" and status == 503 and (body or {}).get("status") == "not ready":
        return  # readiness, not a failure: Redis slower than the probe's 0.3 s on a busy box
    assert status < 500, f"{where}: {status} {response.get_data(as_text=True)[:300]!r}"
    if url.startswith("/api/") and 400 <= status < 500:
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), (where, status)
        error = body["error"]
        assert isinstance(error.get("code"), str) and error["code"], (where, error)
        assert isinstance(error.get("message"), str) and error["message"], (where, error)


def test_every_get_route_and_role_is_fuzzed(routes):
    """The walk covers pages and the API for every role, and found the keys by watching the
    routes read them: a route or key left out would make the tests below prove nothing."""
    cells = {(c.role, c.rule.endpoint) for c in routes.cells}
    assert {"operator", "viewer", "resident", "anonymous"} == {role for role, _ in cells}
    for endpoint in ("wallets.index", "api.list_wallets", "resident.wallet", "api.get_payment",
                     "notifications_log.index", "scans.history", "static", "ops.metrics",
                     "gateway.page", "outbox.index", "auth.login_page"):
        assert any(e == endpoint for _, e in cells), endpoint
    assert ("resident", "resident.transactions") in cells
    assert ("viewer", "api.list_task_runs") in cells
    keys = {c.rule.endpoint: set(c.keys) for c in routes.cells}
    assert {"q", "state", "sort", "cursor"} <= keys["wallets.index"]
    assert {"type", "before", "date"} <= keys["notifications_log.index"]
    assert {"amount", "utility"} <= keys["resident.buy_preview"]  # read only for htmx
    assert len(routes.cells) > 80


def test_every_key_with_each_extreme_value(routes):
    """Each key each GET route reads, alone, with each extreme value (year 0, 1 and 10000,
    30 and 5,000 digits, NaN, other scripts' digits, 10,000 characters, none, repeated, broken
    UTF-8), as the first role that may use the route: never a 5xx."""
    done, sent = set(), 0
    for cell in routes.cells:
        if cell.rule.endpoint in done:
            continue
        done.add(cell.rule.endpoint)
        url = routes.url(cell.rule, {})
        for key in cell.keys:
            for query in extreme_queries(key):
                r = routes.get(ROLES[cell.role], url, cell.headers, query)
                check(r, url, query, cell.role)
                sent += 1
    assert sent > 1000


def test_every_route_with_hostile_headers(routes):
    """Each GET route, as the first role that may use it, with odd Accept and htmx headers:
    never a 5xx (`check` asserts it for each answer)."""
    done = set()
    for cell in routes.cells:
        if cell.rule.endpoint not in done:
            done.add(cell.rule.endpoint)
            url = routes.url(cell.rule, {})
            for headers in HOSTILE_HEADERS:
                check(routes.get(ROLES[cell.role], url, headers), url, str(headers), cell.role)


# -- what the tests above found ----------------------------------------------------------------

@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "3000-01-01"])
def test_the_log_refuses_days_beyond_its_range(routes, day):
    """The notifications log's date filter: a day whose bounds in UTC fall before year 1 or
    after 9999 was a 500 (OverflowError); days outside 2000-2999 are refused beside the
    field (422), for the page and its htmx fragment."""
    client = routes.site.pages["operator"].client
    for headers in ({}, {"HX-Request": "true"}):
        r = client.get("/notifications", query_string={"date": day}, headers=headers)
        assert r.status_code == 422, (day, r.status_code)
        assert "Use a date from 2000-01-01 to 2999-12-31." in r.get_data(as_text=True)


@pytest.mark.parametrize("day", ["2000-01-01", "2999-12-31"])
def test_the_log_takes_the_days_at_the_ends_of_its_range(routes, day):
    r = routes.site.pages["operator"].client.get("/notifications", query_string={"date": day})
    assert r.status_code == 200


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=abc",
                                    "application/openmetrics-text; version=1.0.0-rc"])
def test_metrics_with_an_unreadable_accept_header_are_plain_text(routes, accept):
    """prometheus-client raised a TypeError on a version it cannot parse (a 500): the
    scraper gets the plain text format instead."""
    r = routes.site.app.test_client().get("/metrics", headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == "text/plain", r.status_code
    assert b"quantify_" in r.data


@CHECK
@given(data=st.data())
def test_no_query_string_is_a_500(routes, data):
    """Every (GET route, role), with hostile path values now and then and a hostile query
    string: never a 5xx; the API's 4xx answers keep the error shape (`check` asserts both
    for each answer)."""
    for cell in routes.cells:
        url = routes.url(cell.rule, routes.path_values(cell.rule, data.draw))
        query = data.draw(query_strings(cell.keys), label=f"{cell.role} {cell.rule.rule}")
        headers = data.draw(st.sampled_from([cell.headers, cell.headers, {"HX-Request": "true"},
                                             {"Accept": "application/json"}, *HOSTILE_HEADERS]))
        note(f"{cell.role} GET {url}?{query} {headers}")
        check(routes.get(ROLES[cell.role], url, headers, query), url, query, cell.role)
