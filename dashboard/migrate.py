"""Running the Alembic migrations from code (run.py does it before every command).

web, worker and beat all migrate when they start, and systemd starts them together, so the
upgrade runs under a lock: a PostgreSQL advisory lock, or an exclusive lock on a file beside
the SQLite database. The first process migrates; the others wait, then find nothing to do.

Most starts find the database already at the head revision: `upgrade` checks that first,
cheaply (the database's alembic_version against the revisions the scripts in
migrations/versions declare, read as text), and loads Alembic only when there is something to
do. Alembic's own start (its package, the environment, every script) took longer than the
`python run.py scan` it came before.
"""
from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from alembic.config import Config

try:  # POSIX; on Windows concurrent starts are not supported (start one process first)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

ROOT = Path(__file__).resolve().parent.parent
ADVISORY_LOCK_ID = 7_263_401  # any constant shared by every process of the deployment


VERSIONS = ROOT / "migrations" / "versions"
# `revision = '0009_webhooks'`, `down_revision: str | None = '0008_…'`: a script's own lines.
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$",
                         re.MULTILINE)


def head_revisions(folder: Path = VERSIONS) -> frozenset[str]:
    """The head revisions of the migration scripts in `folder`: those no script names as its
    down_revision, from each file's `revision = …` and `down_revision = …` lines, the ones
    Alembic reads (without importing Alembic or running a script)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in folder.glob("*.py"):
        found = dict(m.groups() for m in _ASSIGNMENT.finditer(path.read_text()))
        if "revision" not in found:
            continue
        revisions.add(ast.literal_eval(found["revision"]))
        down = ast.literal_eval(found.get("down_revision", "None"))
        parents.update(down if isinstance(down, (tuple, list)) else [down] if down else [])
    return frozenset(revisions - parents)


def current_revisions(url: str) -> frozenset[str] | None:
    """The revisions the database at `url` is at (its alembic_version rows); None when it has
    none yet (a new database)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return frozenset(conn.scalars(text("SELECT version_num FROM alembic_version")))
    except DBAPIError:  # no alembic_version table: never migrated
        return None
    finally:
        engine.dispose()


def at_head(url: str) -> bool:
    """Whether the database at `url` is at the head of migrations/versions already."""
    heads = head_revisions()
    return bool(heads) and current_revisions(url) == heads


def alembic_config(url: str) -> Config:
    """Alembic's configuration pointed at `url`."""
    from alembic.config import Config

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
    """Bring the database at `url` up to `revision`, one process at a time (nothing at all,
    not even the lock, for a database already at the head)."""
    if revision == "head" and at_head(url):
        return
    from alembic import command

    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision`."""
    from alembic import command

    with migration_lock(url):
        command.downgrade(alembic_config(url), revision)
