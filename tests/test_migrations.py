"""Alembic: upgrade head on an empty database gives the models' schema; downgrade undoes it."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from dashboard import models  # noqa: F401 - every table on the metadata
from dashboard.db import Base
from dashboard.migrate import downgrade, upgrade
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="migrations are checked on SQLite here")


def schema_diff(url: str) -> list:
    """What autogenerate would still change to reach the models (types and defaults too)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "render_as_batch": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    """Table names in the database."""
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models(tmp_path):
    """An empty SQLite file migrated to head has every table, column, index and constraint."""
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    assert tables(url) == set(Base.metadata.tables) | {"alembic_version"}
    assert schema_diff(url) == []


def test_the_check_can_fail(tmp_path):
    """The comparison notices a missing index (so the test above means something)."""
    url = f"sqlite:///{tmp_path / 'drifted.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_wallets_state_id")
    engine.dispose()
    diff = schema_diff(url)
    assert diff and diff[0][0] == "add_index" and diff[0][1].name == "ix_wallets_state_id"


def test_downgrade_to_base_and_up_again(tmp_path):
    """Downgrade to base leaves only alembic's table; upgrading again works."""
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    downgrade(url, "base")
    assert tables(url) <= {"alembic_version"}
    upgrade(url)
    assert schema_diff(url) == []


def test_upgrade_creates_the_search_expression_indexes(tmp_path):
    """Expression indexes escape autogenerate's comparison, so check them by name."""
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'").scalars())
    finally:
        engine.dispose()
    expected = {idx.name for table in Base.metadata.tables.values() for idx in table.indexes
                if idx.name and idx.name.endswith("_lower")}
    assert expected == {"ix_units_number_lower", "ix_people_first_lower",
                        "ix_people_last_lower", "ix_people_full_lower"}
    assert expected <= names


def test_concurrent_upgrades_wait_for_each_other(tmp_path):
    """web, worker and beat start together and all migrate: none may fail or half-apply."""
    import threading

    url = f"sqlite:///{tmp_path / 'raced.db'}"
    errors = []

    def migrate():
        try:
            upgrade(url)
        except Exception as exc:  # collected: any failure fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert tables(url) == set(Base.metadata.tables) | {"alembic_version"}
