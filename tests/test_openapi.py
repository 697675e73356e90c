"""The OpenAPI document covers the API, and schemathesis finds no server error in it."""
import re
import subprocess
import sys

import pytest

from dashboard.api.openapi import document
from tests import factories


def test_every_api_route_is_documented(app):
    documented = {("/api/v1" + path).replace("{", "<").replace("}", ">")
                  for path in document()["paths"]}
    routes = {re.sub(r"<int(\([^)]*\))?:", "<", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1") and not rule.rule.endswith("openapi.json")}
    assert routes == documented


def test_document_is_served(client):
    body = client.get("/api/v1/openapi.json").get_json()
    assert body["openapi"].startswith("3.") and "/wallets/{wallet_id}/purchases" in body["paths"]


@pytest.fixture
def fuzz_server(redis_url, tmp_path):
    """A web server of its own for fuzzing: its own database, its own broker database and
    channel, so no other test's worker or data is touched by random requests."""
    from dashboard.db import Session, init_engine
    from dashboard.migrate import upgrade
    from tests.stack import Stack

    db_url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    upgrade(db_url)
    init_engine(db_url)
    estate = factories.estate(Session)
    for balance in ("5.00", "40.00", "500.00"):
        w = factories.wallet(Session, balance, estate_obj=estate, meters=True)
    factories.resident(Session, w, email="fuzz-resident@example.test")
    factories.user(Session, "operator", email="fuzz-op@example.test")
    Session.commit()
    Session.remove()
    server = Stack(db_url, redis_url.rsplit("/", 1)[0] + "/7", tmp_path)
    server.start("web")
    yield server
    server.stop()


@pytest.mark.stack
def test_schemathesis_finds_no_server_error(fuzz_server):
    """Bounded fuzzing of every operation with schemathesis: 4xx is fine, 5xx never."""
    token = fuzz_server.token("fuzz-op@example.test")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run",
         f"{fuzz_server.url}/api/v1/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "30", "--seed", "1", "--phases", "examples,fuzzing",
         "-H", f"Authorization: Bearer {token}", "--request-timeout", "10"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
