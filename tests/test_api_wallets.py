"""The wallets API: shapes, validation, roles, paging, Idempotency-Key, and the tasks it queues."""
import json
from decimal import Decimal

import pytest
import redis
from sqlalchemy import event, func, select

from dashboard import dispatch
from dashboard.db import get_engine
from dashboard.models import Occupancy, Person, Transaction, User, Wallet
from dashboard.services.wallets import search as wallet_service
from tests import factories, provider
from tests.conftest import PG_URL, private_broker_url


@pytest.fixture
def op(db, client):
    """Operator bearer headers."""
    return factories.operator_and_token(db, client)


def token_for(client, email):
    """Bearer headers for an existing user."""
    r = client.post("/api/v1/auth/token", json={"email": email,
                                                "password": "correct-horse-battery"})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def tx_count(db):
    """Ledger rows."""
    return db.scalar(select(func.count()).select_from(Transaction))


def balance(db, wallet_id):
    """The stored balance."""
    return db.get(Wallet, wallet_id, populate_existing=True).balance


def assert_error(response, status, code=None):
    """The API's error shape: {"error": {code, message, fields?}}."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    assert set(body["error"]) <= {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


# -- reading wallets ------------------------------------------------------------------------

def test_wallet_shape(client, make, op):
    """A wallet: unit, amounts as strings with two places, settings, state and residents."""
    e = make.estate(name="Sunset Ridge")
    w = make.wallet("49.50", estate_obj=e)
    make.resident(w, name=("Thandi", "Nkosi"))
    body = client.get(f"/api/v1/wallets/{w.id}", headers=op).get_json()
    assert body["id"] == w.id
    assert body["unit"]["estate"] == "Sunset Ridge" and body["unit"]["number"].startswith("U")
    assert body["balance"] == "49.50" and body["low_balance_threshold"] == "50.00"
    assert body["balances"] == {"electricity": "0.00", "water": "0.00", "solar": "0.00",
                                "hot_water": "0.00"}
    assert (body["alert_mode"], body["low_balance_days"], body["alert_frequency_hours"],
            body["state"]) == ("amount", 3, 24, "low")
    assert [r["name"] for r in body["residents"]] == ["Thandi Nkosi"]


def test_wallet_list_pages_with_next_cursor(client, make, op):
    """limit=2 over 5 wallets: 2, 2, 1, each id once, next_cursor null at the end."""
    e = make.estate()
    ids = [make.wallet(f"{10 * i}.00", estate_obj=e).id for i in range(1, 6)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/wallets?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=op).get_json()
        assert set(body) == {"items", "next_cursor"}
        seen += [w["id"] for w in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ids and pages == 3


def test_wallet_list_pages_by_balance(client, make, op):
    """sort=-balance pages keep the order across equal balances and cursors."""
    e = make.estate()
    for amount in ("30.00", "90.00", "30.00", "60.00", "30.00"):
        make.wallet(amount, estate_obj=e)
    seen, cursor = [], ""
    for _ in range(5):
        body = client.get(f"/api/v1/wallets?sort=-balance&limit=2&cursor={cursor}",
                          headers=op).get_json()
        seen += [(w["balance"], w["id"]) for w in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert [b for b, _ in seen] == ["90.00", "60.00", "30.00", "30.00", "30.00"]
    assert len({i for _, i in seen}) == 5


def test_wallet_list_filters_by_state(client, make, op):
    """?state=critical lists only critical wallets."""
    e = make.estate()
    make.wallet("80.00", estate_obj=e)
    crit = make.wallet("5.00", estate_obj=e)
    body = client.get("/api/v1/wallets?state=critical", headers=op).get_json()
    assert [w["id"] for w in body["items"]] == [crit.id] and body["next_cursor"] is None


def test_wallet_list_bad_queries_are_422(client, op):
    """Bad filters, limits and cursors are 422 naming the parameter, never a 500."""
    for query, field in [
        ("state=broke", "state"), ("limit=0", "limit"), ("limit=abc", "limit"),
        ("limit=100000", "limit"), ("cursor=not-a-cursor", "cursor"), ("cursor=e30", "cursor"),
        ("sort=owner", "sort"), ("estate_id=-1", "estate_id"),
    ]:
        err = assert_error(client.get(f"/api/v1/wallets?{query}", headers=op), 422)
        assert field in err["fields"], query


def test_unknown_and_huge_wallet_ids_are_404(client, op):
    """Ids that do not exist, even beyond 64 bits, are 404s."""
    assert_error(client.get("/api/v1/wallets/424242", headers=op), 404, "not_found")
    assert_error(client.get("/api/v1/wallets/99999999999999999999999", headers=op), 404)
    assert_error(client.post("/api/v1/wallets/99999999999999999999999/topups", headers=op,
                             json={"amount": "1.00", "method": "card"}), 404)


def test_anonymous_calls_are_401(client, make):
    """No session, no token, or a forged token: 401 in the error shape."""
    w = make.wallet()
    forged = {"Authorization": "Bearer forged"}
    assert_error(client.get("/api/v1/wallets"), 401, "unauthorized")
    assert_error(client.get("/api/v1/wallets", headers=forged), 401)
    assert_error(client.post(f"/api/v1/wallets/{w.id}/topups", headers=forged,
                             json={"amount": "1.00", "method": "card"}), 401)


def cursor_of(values) -> str:
    """A cursor as the server encodes one (base64 JSON), for forging."""
    import base64
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


FORGED_CURSORS = [
    {"id": 10 ** 30}, {"id": True}, {"id": -1}, {"id": 1, "balance": "abc"},
    {"id": 1, "balance": "NaN"}, {"id": 1, "balance": [1]}, {"id": 1, "balance": "1e999"},
]


def test_forged_cursors_are_422_not_500(client, make, op):
    """A cursor that decodes but was not issued by us is refused, never reaches the SQL."""
    w = make.wallet("10.00")
    for path in ("/api/v1/wallets?sort=balance&", "/api/v1/wallets?",
                 f"/api/v1/wallets/{w.id}/transactions?"):
        for values in FORGED_CURSORS:
            r = client.get(path + "cursor=" + cursor_of(values), headers=op)
            assert r.status_code == 422, (path, values, r.status_code)
            assert_error(r, 422, "validation_failed")


# -- search strategies and keyset seeks ---------------------------------------------------

def search_world(db) -> User:
    """Wallets on three estates with tied balances in every state, and residents whose names
    are common (Thandi), rare (Zola, a past occupant) or shared with an estate (Thandeka).
    Returns an operator."""
    import random
    from datetime import date, timedelta

    rng = random.Random(7)
    estates = [factories.estate(db, name=n) for n in ("Thandeka Gardens", "Acacia Park",
                                                      "Sunset Ridge")]
    for i in range(60):
        w = factories.wallet(db, rng.choice(["0.00", "5.00", "30.00", "30.00", "60.00",
                                             "120.00"]), estate_obj=estates[i % 3])
        for _ in range(rng.choice([0, 1, 1, 2])):
            first = rng.choice(["Thandi", "Thandi", "Thabo", "Lindiwe", "Sipho"])
            person = Person(first_name=first, last_name=rng.choice(["Nkosi", "Dube", "Thandeka"]))
            db.add(person)
            db.flush()
            db.add(Occupancy(unit_id=w.unit_id, person_id=person.id, role="tenant",
                             is_primary=True, start_date=date.today() - timedelta(days=30)))
        if i in (11, 40):
            zola = Person(first_name="Zola", last_name="Mbeki")
            db.add(zola)
            db.flush()
            # Moved out: search_condition matches past occupants too, and so must the walk.
            db.add(Occupancy(unit_id=w.unit_id, person_id=zola.id, role="owner",
                             is_primary=False, start_date=date.today() - timedelta(days=900),
                             end_date=date.today() - timedelta(days=400)))
    operator = factories.user(db, "operator")
    db.commit()
    return operator


def all_pages(db, user, **kw) -> list:
    """Every page of a listing: [(wallet ids, next_cursor)] following the cursors."""
    pages, cursor = [], None
    while True:
        page = wallet_service.list_wallets(db, user, cursor=cursor, **kw)
        pages.append(([w.id for w in page.items], page.next_cursor))
        cursor = page.next_cursor
        if not cursor:
            return pages


def matching_ids(db, q: str, sort: str, state: str | None) -> list[int]:
    """The answer of a search worked out in Python: wallets whose unit number, estate name or
    a (past or present) resident's name starts with `q`, in `sort`'s order."""
    names: dict[int, list[str]] = {}
    for unit_id, first, last in db.execute(select(Occupancy.unit_id, Person.first_name,
                                                  Person.last_name).join(Person)):
        names.setdefault(unit_id, []).extend([first, last, f"{first} {last}"])
    found = [(w.balance, w.id) for w in db.scalars(select(Wallet))
             if (state is None or w.state == state) and any(
                 text.lower().startswith(q.lower()) for text in
                 [w.unit.number, w.unit.estate.name, *names.get(w.unit_id, [])])]
    found.sort(key=(lambda key: key[1]) if sort == "id" else None, reverse=sort == "-balance")
    return [wallet_id for _, wallet_id in found]


def test_search_walk_and_union_give_the_same_pages(db, monkeypatch):
    """A search answers the same rows, order and cursors whether it walks wallets (common
    names) or collects matches through the indexes (rare ones), also when the walk runs out of
    budget on a page and the union finishes it; and the rows are the ones Python finds."""
    operator = search_world(db)
    checked = 0
    for q in ("Thandi", "thandi nk", "Zola", "Thandeka", "U", "t", "nobody"):
        for sort in ("id", "balance", "-balance"):
            for state in (None, "low", "critical"):
                kw = {"q": q, "sort": sort, "state": state, "limit": 4}
                monkeypatch.setattr(wallet_service, "_is_common", lambda session, terms: False)
                expected = all_pages(db, operator, **kw)
                assert [i for ids, _ in expected for i in ids] == \
                    matching_ids(db, q, sort, state), kw
                monkeypatch.setattr(wallet_service, "_is_common", lambda session, terms: True)
                for budget in (100, 3, 1):  # the whole list, some pages, never enough
                    monkeypatch.setattr(wallet_service, "WALK_ROWS_PER_ITEM", budget)
                    assert all_pages(db, operator, **kw) == expected, (kw, budget)
                checked += sum(len(ids) for ids, _ in expected)
    assert checked > 500  # the searches found wallets, not only empty pages


def test_common_means_one_wallet_in_the_walk_budget(db, monkeypatch):
    """_is_common: a name on at least one wallet in WALK_ROWS_PER_ITEM, by a capped count."""
    search_world(db)
    monkeypatch.setattr(wallet_service, "WALK_ROWS_PER_ITEM", 10)  # 6 matches needed of 60
    def common(q):
        return wallet_service._is_common(db, wallet_service._search_terms(db, q))

    assert common("Thandi") and common("sunset") and not common("Zola")
    assert not common("nobody")


def query_plans(db, fn) -> list[str]:
    """EXPLAIN QUERY PLAN (SQLite) of every SELECT `fn` runs, one string per statement."""
    statements = []

    def grab(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(get_engine(), "before_cursor_execute", grab)
    try:
        fn()
    finally:
        event.remove(get_engine(), "before_cursor_execute", grab)
    return [" | ".join(row[3] for row in db.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + sql, params)) for sql, params in statements]


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's EXPLAIN QUERY PLAN")
def test_pages_seek_in_their_index(db, monkeypatch):
    """A balance-sorted page after a cursor seeks in (balance, id) instead of scanning it from
    the start (the OR form of the keyset did); a common-name search walks wallets in order."""
    operator = search_world(db)
    after = wallet_service.encode_cursor({"id": 30, "balance": "30.00"})
    for sort, seek in (("balance", "balance>?"), ("-balance", "balance<?")):
        plans = query_plans(db, lambda sort=sort: wallet_service.list_wallets(
            db, operator, sort=sort, cursor=after))
        assert f"SEARCH wallets USING INDEX ix_wallets_balance_id ({seek})" in plans[0], plans
    monkeypatch.setattr(wallet_service, "_is_common", lambda session, terms: True)
    monkeypatch.setattr(wallet_service, "WALK_ROWS_PER_ITEM", 6)  # a stretch of 30 wallets
    plans = query_plans(db, lambda: wallet_service.list_wallets(db, operator, q="Thandi",
                                                                limit=4))
    # The matching estates, the end of the stretch, then a walk that filled the page.
    assert len(plans) == 3, plans
    assert "SEARCH wallets USING INTEGER PRIMARY KEY (rowid<?)" in plans[2], plans
    assert "CORRELATED SCALAR SUBQUERY" in plans[2] and "TEMP B-TREE" not in plans[2], plans


# -- residents and viewers ----------------------------------------------------------------

def test_residents_see_only_their_own_wallets(client, db, make):
    """A resident lists their one wallet; any other wallet is 404 for every verb."""
    mine, theirs = make.wallet("80.00"), make.wallet("90.00")
    make.resident(mine, email="me@example.test")
    make.resident(theirs, email="them@example.test")
    headers = token_for(client, "me@example.test")
    body = client.get("/api/v1/wallets", headers=headers).get_json()
    assert [w["id"] for w in body["items"]] == [mine.id]
    assert client.get(f"/api/v1/wallets/{mine.id}", headers=headers).status_code == 200
    other = f"/api/v1/wallets/{theirs.id}"
    assert_error(client.get(other, headers=headers), 404)
    assert_error(client.get(other + "/transactions", headers=headers), 404)
    assert_error(client.patch(other, json={"alert_mode": "days"}, headers=headers), 404)
    assert_error(client.post(other + "/topups", json={"amount": "5.00", "method": "card"},
                             headers=headers), 404)
    assert_error(client.post(other + "/purchases", json={"amount": "5.00", "utility": "water"},
                             headers=headers), 404)
    assert balance(db, theirs.id) == Decimal("90.00") and tx_count(db) == 0
    # ...and the search cannot reach other wallets either.
    assert client.get("/api/v1/wallets?q=U", headers=headers).get_json()["items"][0]["id"] \
        == mine.id


def test_resident_can_pay_into_their_own_wallet(client, db, make):
    """Residents top up (a payment the provider's webhook credits) and buy for their own
    unit."""
    w = make.wallet("10.00")
    make.resident(w, email="payer@example.test")
    headers = token_for(client, "payer@example.test")
    r = client.post(f"/api/v1/wallets/{w.id}/topups", json={"amount": "40.00", "method": "card"},
                    headers=headers)
    assert r.status_code == 202 and balance(db, w.id) == Decimal("10.00")
    paid = provider.post(client, *provider.signed(r.get_json()["payment"]["id"], "40.00"))
    assert paid.status_code == 200
    assert balance(db, w.id) == Decimal("50.00")
    bought = client.post(f"/api/v1/wallets/{w.id}/purchases", headers=headers,
                         json={"amount": "20.00", "utility": "water"})
    assert bought.status_code == 201 and balance(db, w.id) == Decimal("30.00")


def test_viewer_reads_but_gets_403_on_actions(client, db, make):
    """Viewers see wallets; top-ups, purchases and settings are 403 and write nothing."""
    w = make.wallet("80.00")
    viewer = factories.operator_and_token(db, client, role="viewer")
    assert client.get(f"/api/v1/wallets/{w.id}", headers=viewer).status_code == 200
    url = f"/api/v1/wallets/{w.id}"
    assert_error(client.post(url + "/topups", json={"amount": "5.00", "method": "card"},
                             headers=viewer), 403, "forbidden")
    assert_error(client.post(url + "/purchases", json={"amount": "5.00", "utility": "water"},
                             headers=viewer), 403)
    assert_error(client.patch(url, json={"alert_mode": "days"}, headers=viewer), 403)
    assert tx_count(db) == 0 and db.get(Wallet, w.id).alert_mode == "amount"


# -- validation -----------------------------------------------------------------------------

BAD_AMOUNTS = [
    ("-5.00", "amount"), ("0", "amount"), ("0.00", "amount"), ("12,50", "amount"),
    ("1.234", "amount"), ("", "amount"), ("  ", "amount"), ("abc", "amount"), ("1e3", "amount"),
    ("100000.01", "amount"), ("999999999999", "amount"), ("١٢", "amount"), ("0x10", "amount"),
    (-5, "amount"), (0, "amount"), (1.234, "amount"), (0.1 + 0.2, "amount"),
    (10 ** 30, "amount"), (True, "amount"), (None, "amount"), ([], "amount"), ({}, "amount"),
    (["5.00"], "amount"),
]


@pytest.mark.parametrize("path, other", [("topups", {"method": "cash"}),
                                         ("purchases", {"utility": "water"})])
def test_bad_amounts_are_422_and_write_nothing(client, db, make, op, path, other):
    """Negative, zero, "12,50", three decimals, huge, wrong types, null: each 422 with fields."""
    wallet_id = make.wallet("20.00").id
    for amount, field in BAD_AMOUNTS:
        r = client.post(f"/api/v1/wallets/{wallet_id}/{path}", headers=op,
                        json={"amount": amount, **other})
        err = assert_error(r, 422)
        assert field in err.get("fields", {}), (amount, err)
    assert balance(db, wallet_id) == Decimal("20.00") and tx_count(db) == 0


def test_non_finite_amounts_are_422(client, db, make, op):
    """NaN and infinities (1e309 parses as infinity) are refused like any bad amount."""
    wallet_id = make.wallet("20.00").id
    for raw in ("NaN", "Infinity", "-Infinity", "1e309", "-1e309", '"NaN"', '"Infinity"'):
        for path, other in (("topups", '"method": "cash"'), ("purchases", '"utility": "water"')):
            r = client.post(f"/api/v1/wallets/{wallet_id}/{path}", headers=op,
                            data=f'{{"amount": {raw}, {other}}}', content_type="application/json")
            assert "amount" in assert_error(r, 422)["fields"], raw
    assert tx_count(db) == 0


def test_missing_and_wrong_fields_are_named(client, db, make, op):
    """Missing or wrong fields are 422 listing each one."""
    wallet_id = make.wallet("20.00").id
    for path, body, fields in [
        ("topups", {}, {"amount", "method"}),
        ("topups", {"amount": "5.00"}, {"method"}),
        ("topups", {"amount": "5.00", "method": "bitcoin"}, {"method"}),
        ("topups", {"amount": "5.00", "method": ["card"]}, {"method"}),
        ("topups", {"amount": "5.00", "method": {"card": 1}}, {"method"}),
        ("purchases", {}, {"amount", "utility"}),
        ("purchases", {"amount": "5.00", "utility": "gas"}, {"utility"}),
        ("purchases", {"amount": "5.00", "utility": 7}, {"utility"}),
        ("purchases", {"amount": "5.00", "utility": ["water"]}, {"utility"}),
    ]:
        err = assert_error(client.post(f"/api/v1/wallets/{wallet_id}/{path}", headers=op,
                                       json=body), 422, "validation_failed")
        assert fields <= set(err["fields"]), (path, body, err)
    assert tx_count(db) == 0


def test_bodies_that_are_not_json_objects_are_400(client, db, make, op):
    """Malformed JSON bodies are a 400 in the error shape; a body that is not JSON at all is
    a 415 (unsupported media type)."""
    wallet_id = make.wallet("20.00").id
    for kwargs in ({"data": "not json", "content_type": "application/json"},
                   {"data": "[1, 2]", "content_type": "application/json"}):
        assert_error(client.post(f"/api/v1/wallets/{wallet_id}/topups", headers=op, **kwargs),
                     400, "bad_json")
    assert_error(client.post(f"/api/v1/wallets/{wallet_id}/topups", headers=op,
                             data="amount=5", content_type="application/x-www-form-urlencoded"),
                 415, "unsupported_media_type")
    assert tx_count(db) == 0


def test_purchase_above_balance_is_409(client, db, make, op):
    """Spending more than the balance: 409 insufficient_funds with the most one can spend."""
    wallet_id = make.wallet("20.00").id
    err = assert_error(client.post(f"/api/v1/wallets/{wallet_id}/purchases", headers=op,
                                   json={"amount": "20.01", "utility": "water"}), 409,
                       "insufficient_funds")
    assert "R 20.00" in err["fields"]["amount"]
    assert balance(db, wallet_id) == Decimal("20.00") and tx_count(db) == 0


# -- creating transactions ----------------------------------------------------------------

def queued_headers(redis_url) -> list[dict]:
    """The headers of every message waiting on the private broker's queue, oldest first."""
    r = redis.Redis.from_url(private_broker_url(redis_url))
    # kombu LPUSHes: oldest last
    return [json.loads(raw)["headers"] for raw in reversed(r.lrange("notifications", 0, -1))]


def queued_tasks(redis_url):
    """(task name, kwargs) of every message waiting on the private broker's queue."""
    return [(h["task"], h["kwargsrepr"]) for h in queued_headers(redis_url)]


def test_top_up_is_201_and_queues_its_real_time_tasks(client, db, make, op, redis_url):
    """201 {transaction}; one task is queued for that transaction, asked to check the wallet
    too (the notice and the check), fire-and-forget (no result stored)."""
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    w = make.wallet("20.00")
    r = client.post(f"/api/v1/wallets/{w.id}/topups", headers=op,
                    json={"amount": "30.5", "method": "eft"})
    assert r.status_code == 201
    tx = r.get_json()["transaction"]
    assert {k: tx[k] for k in ("wallet_id", "type", "utility", "amount", "units",
                               "balance_before", "balance_after", "method", "status")} == {
        "wallet_id": w.id, "type": "topup", "utility": None, "amount": "30.50", "units": None,
        "balance_before": "20.00", "balance_after": "50.50", "method": "eft",
        "status": "completed"}
    assert isinstance(tx["id"], int) and tx["created_at"].endswith("+00:00")
    assert queued_tasks(redis_url) == [("send_topup_notification",
                                        f"{{'transaction_id': {tx['id']}}}")]
    (headers,) = queued_headers(redis_url)
    assert headers[dispatch.WALLET_CHECK_HEADER] is True and headers["ignore_result"] is True


def test_purchase_is_201_with_units(client, make, op):
    """A purchase answers with the units bought at the estate's tariff."""
    w = make.wallet("100.00")
    r = client.post(f"/api/v1/wallets/{w.id}/purchases", headers=op,
                    json={"amount": "25.00", "utility": "electricity"})
    assert r.status_code == 201
    tx = r.get_json()["transaction"]
    assert (tx["type"], tx["utility"], tx["units"], tx["balance_after"]) == \
        ("purchase", "electricity", "10.000", "75.00")
    body = client.get(f"/api/v1/wallets/{w.id}", headers=op).get_json()
    assert body["balances"]["electricity"] == "25.00" and body["balance"] == "75.00"


def test_idempotency_key_replay_is_200_with_the_same_body(client, db, make, op, redis_url):
    """A replay answers 200 with the first body and queues nothing; another body is 409."""
    w = make.wallet("100.00")
    url = f"/api/v1/wallets/{w.id}/purchases"
    headers = {**op, "Idempotency-Key": "order-77"}
    first = client.post(url, headers=headers, json={"amount": "7.00", "utility": "water"})
    redis.Redis.from_url(private_broker_url(redis_url)).delete("notifications")
    again = client.post(url, headers=headers, json={"amount": "7.00", "utility": "water"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert queued_tasks(redis_url) == []
    assert_error(client.post(url, headers=headers, json={"amount": "8.00", "utility": "water"}),
                 409, "idempotency_key_reused")
    assert_error(client.post(f"/api/v1/wallets/{w.id}/topups", headers=headers,
                             json={"amount": "7.00", "method": "cash"}), 409)
    assert tx_count(db) == 1 and balance(db, w.id) == Decimal("93.00")
    # The key is per wallet: the same key on another wallet is a new transaction.
    other = make.wallet("10.00")
    assert client.post(f"/api/v1/wallets/{other.id}/purchases", headers=headers,
                       json={"amount": "7.00", "utility": "water"}).status_code == 201


def test_bad_idempotency_keys_are_422(client, db, make, op):
    """Empty, over-long or unprintable keys are refused before any money moves."""
    wallet_id = make.wallet("100.00").id
    for key in ("", " ", "x" * 101, "tab\there"):
        assert_error(client.post(f"/api/v1/wallets/{wallet_id}/topups",
                                 headers={**op, "Idempotency-Key": key},
                                 json={"amount": "7.00", "method": "cash"}), 422)
    assert tx_count(db) == 0


def test_transactions_list_pages_newest_first(client, make, op):
    """GET /wallets/<id>/transactions pages newest first with next_cursor."""
    w = make.wallet("100.00")
    for amount in ("1.00", "2.00", "3.00"):
        client.post(f"/api/v1/wallets/{w.id}/purchases", headers=op,
                    json={"amount": amount, "utility": "water"})
    page1 = client.get(f"/api/v1/wallets/{w.id}/transactions?limit=2", headers=op).get_json()
    assert [t["amount"] for t in page1["items"]] == ["3.00", "2.00"]
    page2 = client.get(f"/api/v1/wallets/{w.id}/transactions?limit=2&cursor="
                       f"{page1['next_cursor']}", headers=op).get_json()
    assert [t["amount"] for t in page2["items"]] == ["1.00"] and page2["next_cursor"] is None


def test_transactions_pages_are_the_wallet_pages_ledger(client, db, make, op):
    """The API's ledger pages are ledger.transactions_page's, the wallet page's own, and the
    cursor is the last id seen."""
    from dashboard.services.payments.ledger import transactions_page

    w = make.wallet("100.00")
    for amount in ("1.00", "2.00", "3.00", "4.00", "5.00"):
        client.post(f"/api/v1/wallets/{w.id}/purchases", headers=op,
                    json={"amount": amount, "utility": "water"})
    expected, next_id = transactions_page(db, w.id, limit=2)
    body = client.get(f"/api/v1/wallets/{w.id}/transactions?limit=2", headers=op).get_json()
    assert [t["id"] for t in body["items"]] == [t.id for t in expected]
    assert body["next_cursor"] == str(next_id) == str(expected[-1].id)
    rest, _ = transactions_page(db, w.id, before_id=next_id, limit=2)
    body = client.get(f"/api/v1/wallets/{w.id}/transactions?limit=2&cursor={next_id}",
                      headers=op).get_json()
    assert [t["id"] for t in body["items"]] == [t.id for t in rest]


def test_wallet_cursors_are_plain_text_the_document_states(client, make, op):
    """next_cursor is the last wallet's id, with its balance first when sorted by balance:
    both match the documented pattern, and a cursor of another shape is 422."""
    import re

    from dashboard.services.wallets import CURSOR_PATTERN

    wallets = [make.wallet(b) for b in ("10.00", "20.00", "30.00")]
    by_id = client.get("/api/v1/wallets?limit=2", headers=op).get_json()["next_cursor"]
    assert by_id == str(wallets[1].id)
    by_balance = client.get("/api/v1/wallets?limit=2&sort=balance",
                            headers=op).get_json()["next_cursor"]
    assert by_balance == f"20.00_{wallets[1].id}"
    assert re.search(CURSOR_PATTERN, by_id) and re.search(CURSOR_PATTERN, by_balance)
    err = assert_error(client.get("/api/v1/wallets?cursor=20.0_1", headers=op), 422)
    assert err["fields"] == {"cursor": "Use the next_cursor of a previous page."}


# -- alert settings -------------------------------------------------------------------------

def test_patch_settings_recomputes_the_state(client, db, make, op):
    """Raising the threshold above the balance makes the wallet low at once."""
    w = make.wallet("60.00")
    r = client.patch(f"/api/v1/wallets/{w.id}", headers=op,
                     json={"low_balance_threshold": "100.00", "alert_frequency_hours": 6})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["low_balance_threshold"], body["alert_frequency_hours"], body["state"]) == \
        ("100.00", 6, "low")
    assert db.get(Wallet, w.id, populate_existing=True).state == "low"


def test_patch_bad_settings_are_422(client, db, make, op):
    """Bad settings (and attempts to set other fields) are refused and nothing changes."""
    wallet_id = make.wallet("60.00").id
    for body, field in [
        ({"low_balance_threshold": "-1"}, "low_balance_threshold"),
        ({"low_balance_threshold": "12,50"}, "low_balance_threshold"),
        ({"low_balance_threshold": None}, "low_balance_threshold"),
        ({"alert_mode": "weekly"}, "alert_mode"),
        ({"low_balance_days": 0}, "low_balance_days"),
        ({"low_balance_days": 2.5}, "low_balance_days"),
        ({"low_balance_days": True}, "low_balance_days"),
        ({"alert_frequency_hours": 100000}, "alert_frequency_hours"),
        ({"alert_frequency_hours": "often"}, "alert_frequency_hours"),
        ({"balance": "1000000.00"}, "balance"),
    ]:
        err = assert_error(client.patch(f"/api/v1/wallets/{wallet_id}", headers=op, json=body),
                           422)
        assert field in err["fields"], (body, err)
    after = db.get(Wallet, wallet_id, populate_existing=True)
    assert (after.balance, after.low_balance_threshold, after.alert_mode) == \
        (Decimal("60.00"), Decimal("50.00"), "amount")


def test_resident_threshold_stays_within_estate_bounds(client, db, make):
    """Residents choose within the estate's range, or 0 to turn alerts off."""
    e = make.estate(min_low_balance_threshold=Decimal("20.00"),
                    max_low_balance_threshold=Decimal("500.00"))
    w = make.wallet("30.00", estate_obj=e)
    make.resident(w, email="bounds@example.test")
    headers = token_for(client, "bounds@example.test")
    err = assert_error(client.patch(f"/api/v1/wallets/{w.id}", headers=headers,
                                    json={"low_balance_threshold": "600.00"}), 422)
    assert "R 500.00" in err["fields"]["low_balance_threshold"]
    r = client.patch(f"/api/v1/wallets/{w.id}", headers=headers,
                     json={"low_balance_threshold": "0"})
    assert r.status_code == 200 and r.get_json()["state"] == "ok"
