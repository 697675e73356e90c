"""Running the Alembic migrations from code (run.py does it before every command).

web, worker and beat all migrate when they start, and systemd starts them together, so the
upgrade runs under a lock: a PostgreSQL advisory lock, or an exclusive lock on a file beside
the SQLite database. The first process migrates; the others wait, then find nothing to do.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

try:  # POSIX; on Windows concurrent starts are not supported (start one process first)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

ROOT = Path(__file__).resolve().parent.parent
ADVISORY_LOCK_ID = 7_263_401  # any constant shared by every process of the deployment


def alembic_config(url: str) -> Config:
    """Alembic's configuration pointed at `url`."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


@contextlib.contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold the deployment-wide migration lock for `url`'s database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:id)"),
                                 {"id": ADVISORY_LOCK_ID})
                    conn.commit()
        finally:
            engine.dispose()
        return
    database = parsed.database
    if fcntl is None or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`, one process at a time."""
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision`."""
    with migration_lock(url):
        command.downgrade(alembic_config(url), revision)
