"""A private PostgreSQL cluster for the benchmarks (kept under bench/out/pg), and the bench
databases seeded in it: made once per size, reused while the code that seeds them is the same."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from .common import (
    FAST_HASH,
    OUT,
    PASSWORD,
    SEED_BATCH,
    log,
)

PG_PORT = int(os.environ.get("BENCH_PG_PORT", "54341"))
PG_DATA = OUT / "pg"
# A production-like server, not the test suite's fsync=off one: the scan commits once per chunk,
# so durability costs little here; more shared buffers than the 128 MB default, fewer
# checkpoints while seeding.
PG_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB", "max_connections": "100"}



def label(wallets: int) -> str:
    """1000000 → '1m', 100000 → '100k' (database names and logs)."""
    if wallets % 1_000_000 == 0:
        return f"{wallets // 1_000_000}m"
    if wallets % 1_000 == 0:
        return f"{wallets // 1_000}k"
    return str(wallets)


def _pg_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (scripts/install_system_deps.sh postgres)")
    return found[-1]


def _as_pg(*cmd) -> list[str]:
    """A command run as the postgres account when we are root (PostgreSQL refuses root)."""
    cmd = [str(c) for c in cmd]
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_url(database: str) -> str:
    """SQLAlchemy URL of a database of the bench cluster."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/{database}"


@contextmanager
def pg_cluster():
    """The bench cluster, initialised on first use and started unless already running; stopped
    afterwards only if started here (its data stays for the next run)."""
    pg = _pg_bin()
    if not (PG_DATA / "PG_VERSION").exists():
        PG_DATA.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(PG_DATA, "postgres")
        subprocess.run(_as_pg(pg / "initdb", "-D", PG_DATA, "-A", "trust", "-U", "postgres"),
                       check=True, stdout=subprocess.DEVNULL)
    running = subprocess.run(_as_pg(pg / "pg_ctl", "-D", PG_DATA, "status"),
                             capture_output=True, check=False).returncode == 0
    if not running:
        options = f"-p {PG_PORT} -k {PG_DATA} " + " ".join(f"-c {k}={v}" for k, v in PG_SETTINGS.items())
        subprocess.run(_as_pg(pg / "pg_ctl", "-D", PG_DATA, "-o", options, "-l",
                              PG_DATA / "server.log", "-w", "start"),
                       check=True, stdout=subprocess.DEVNULL)
        log(f"PostgreSQL started on port {PG_PORT} ({PG_DATA})")
    try:
        yield
    finally:
        if not running:
            subprocess.run(_as_pg(pg / "pg_ctl", "-D", PG_DATA, "-m", "fast", "stop"),
                           check=False, stdout=subprocess.DEVNULL)


def _pg_admin(sql: str) -> list[tuple]:
    """Run one statement on the cluster's `postgres` database, outside a transaction."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def _pg_autocommit(url: str, *statements: str) -> None:
    """Statements that cannot run in a transaction block (VACUUM, CHECKPOINT), in order."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def pg_meta_path(database: str) -> Path:
    """Where prepare_pg records what it seeded (written only once seeding finished)."""
    return OUT / f"pg-{database}.json"


def prepare_pg(wallets: int, *, fresh: bool = False, budget: float | None = None) -> tuple[str, dict]:
    """Migrate and seed database bench_<size> with `wallets` wallets, or reuse it; (url, meta).

    The same data as prepare_db: seed() in calls of SEED_BATCH wallets (so every size has the
    same mix), then a resident login for every unit's primary occupant, then VACUUM ANALYZE.
    An interrupted seeding is resumed (each call commits, and its seed and `now` are known).
    With `budget` (seconds of seeding in all), seeding stops at the last call that fits; the
    database is then renamed after the size it has, and the meta of the size asked for points to
    it, so re-runs reuse it instead of seeding again.
    """
    database = f"bench_{label(wallets)}"
    info = pg_meta_path(database)
    if info.exists() and not fresh:
        meta = json.loads(info.read_text())
        if _pg_admin(f"SELECT 1 FROM pg_database WHERE datname = '{meta['database']}'"):
            url = pg_url(meta["database"])
            from dashboard.migrate import upgrade

            upgrade(url)  # the workers would migrate anyway; a no-op when up to date
            return url, meta
    info.unlink(missing_ok=True)
    progress = OUT / f"pg-{database}.progress.json"
    exists = bool(_pg_admin(f"SELECT 1 FROM pg_database WHERE datname = '{database}'"))
    if exists and fresh:
        _pg_admin(f"DROP DATABASE {database}")
        exists = False
    if not exists:
        progress.unlink(missing_ok=True)
        _pg_admin(f"CREATE DATABASE {database}")
    url = pg_url(database)
    from werkzeug.security import generate_password_hash

    from dashboard.db import Session, get_engine, init_engine
    from dashboard.migrate import upgrade
    from dashboard.services.demo.seed import seed

    upgrade(url)
    init_engine(url)
    session = Session()
    done, now = _seeded(session)
    spent = json.loads(progress.read_text())["seconds"] if progress.exists() and done else 0.0
    if done:
        log(f"resuming the seeding of {database} at {done:,} wallets ({spent / 60:.1f} min so far)")
    now = now or datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter() - spent
    while done < wallets:
        elapsed = time.perf_counter() - started
        if budget is not None and done and elapsed + elapsed / done * SEED_BATCH > budget:
            log(f"seeding budget of {budget / 60:.0f} min reached: {done:,} wallets")
            break
        n = min(SEED_BATCH, wallets - done)
        seed(session, wallets=n, seed=42 + done, now=now,
             password_hasher=partial(generate_password_hash, method=FAST_HASH))
        session.commit()
        done += n
        spent = time.perf_counter() - started
        progress.write_text(json.dumps({"done": done, "seconds": round(spent, 1)}))
        if done % 100_000 == 0 or done == wallets:
            log(f"seeded {done:,} of {wallets:,} wallets in {spent / 60:.1f} min "
                f"(all {wallets:,}: ~{spent / done * wallets / 60:.0f} min at this rate)")
    Session.remove()
    get_engine().dispose()
    seeded = time.perf_counter() - started
    add_residents_pg(url)
    _pg_autocommit(url, "VACUUM ANALYZE")  # statistics and visibility map of the finished tables
    meta = {"database": database, "wallets": done, "asked": wallets, "now": now.isoformat(),
            "seed_seconds": round(seeded, 1),
            "total_seconds": round(time.perf_counter() - started, 1)}
    if done < wallets:
        meta["database"] = f"bench_{label(done)}"
        _pg_admin(f"ALTER DATABASE {database} RENAME TO {meta['database']}")
        pg_meta_path(meta["database"]).write_text(json.dumps(meta))
    info.write_text(json.dumps(meta))
    progress.unlink(missing_ok=True)
    return pg_url(meta["database"]), meta


def _seeded(session) -> tuple[int, datetime | None]:
    """Wallets already seeded into this database and the seed's `now` (the demo operator's
    creation time, which the first seed() call writes), for resuming; (0, None) when empty."""
    from sqlalchemy import text

    done = session.scalar(text("SELECT count(*) FROM wallets")) or 0
    now = session.scalar(text("SELECT created_at FROM users WHERE email = 'operator@example.com'"))
    session.rollback()
    if done % SEED_BATCH:
        raise RuntimeError(f"{done} wallets seeded: not whole calls of {SEED_BATCH}; use --fresh")
    return done, now


def add_residents_pg(url: str) -> int:
    """PostgreSQL's add_residents: a resident login for every unit's primary occupant
    (idempotent; the caller analyzes)."""
    from sqlalchemy import create_engine, text
    from werkzeug.security import generate_password_hash

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT 1 FROM users WHERE email LIKE '%@bench.test' LIMIT 1")).first():
                return 0
            return conn.execute(text(
                "INSERT INTO users (email, password_hash, role, person_id, active, token_version, "
                "created_at) SELECT 'unit' || o.unit_id || '@bench.test', :hash, 'resident', "
                "o.person_id, true, 0, :now FROM occupancies o WHERE o.is_primary AND NOT EXISTS "
                "(SELECT 1 FROM users u WHERE u.person_id = o.person_id) ORDER BY o.unit_id"),
                {"hash": generate_password_hash(PASSWORD, method=FAST_HASH),
                 "now": datetime.now(UTC)}).rowcount
    finally:
        engine.dispose()


def reset_alerts_pg(url: str) -> None:
    """PostgreSQL's reset_alerts: clear the alert windows, empty notifications, deliveries,
    chunks and runs, then VACUUM and CHECKPOINT so each run starts from the same clean table
    (as SQLite's reset ends with a WAL checkpoint).

    TRUNCATE rather than DELETE: it leaves no dead rows for the next run to step over. The four
    tables are every table that references notifications or task_runs, so no CASCADE is needed.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE wallets SET low_alerted_at = NULL, critical_alerted_at = NULL "
                              "WHERE low_alerted_at IS NOT NULL OR critical_alerted_at IS NOT NULL"))
            conn.execute(text("TRUNCATE notification_deliveries, notifications, task_run_chunks, "
                              "task_runs"))
    finally:
        engine.dispose()
    # Each run rewrites ~20% of wallet rows twice (claim, then this reset): without VACUUM the
    # later runs would walk more dead rows than the first.
    _pg_autocommit(url, "VACUUM ANALYZE wallets", "CHECKPOINT")


# --- SQLite: the shared seeded file ---------------------------------------------------------
