"""A private PostgreSQL cluster for the benchmarks (kept under bench/out/pg), and the bench
databases in it: copies of the SQLite ones, made once per size, reused while their readings
are seeded the same way."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .common import FAST_HASH, OUT, PASSWORD, log, prepare_db, ready_for_scans
from .common import meta as sqlite_meta

PG_PORT = int(os.environ.get("BENCH_PG_PORT", "54341"))
PG_DATA = OUT / "pg"
# A production-like server, not the test suite's fsync=off one: the scan commits once per chunk,
# so durability costs little here; more shared buffers than the 128 MB default, fewer
# checkpoints while seeding.
PG_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB", "max_connections": "100",
               "maintenance_work_mem": "1GB"}



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


def prepare_pg(wallets: int, *, fresh: bool = False) -> tuple[str, dict]:
    """Database bench_<size> with the data of the SQLite bench database of `wallets` wallets
    (prepare_db), or the one made before; (url, meta).

    Every table but the readings is copied from the SQLite file by COPY (minutes at 1M, where
    the demo seed's inserts took 45); the readings and the meters' usage rows are written by the
    same statements as on SQLite (bench/readings.py), so both databases hold the same data.
    Then VACUUM ANALYZE.
    """
    from . import readings

    database = f"bench_{label(wallets)}"
    info = pg_meta_path(database)
    if info.exists() and not fresh:
        meta = json.loads(info.read_text())
        if meta.get("readings") == readings.plan(wallets) and _pg_admin(
                f"SELECT 1 FROM pg_database WHERE datname = '{database}'"):
            url = pg_url(database)
            from dashboard.migrate import upgrade

            upgrade(url)  # the workers would migrate anyway; a no-op when up to date
            return url, meta
    info.unlink(missing_ok=True)
    source = prepare_db(wallets)
    ready_for_scans(source)  # the run-out sort keys and calendars, copied with the rest
    source_meta = sqlite_meta(source)
    started = time.perf_counter()
    _pg_admin(f"DROP DATABASE IF EXISTS {database}")
    _pg_admin(f"CREATE DATABASE {database}")
    url = pg_url(database)
    from sqlalchemy import create_engine

    from dashboard.migrate import upgrade

    upgrade(url)
    rows = copy_tables(source, url, skip={"meter_readings", "meter_usage"})
    log(f"{rows:,} rows copied from {source.name} in {time.perf_counter() - started:.0f} s")
    engine = create_engine(url)
    try:
        made = readings.seed_readings(engine, source_meta["now"], wallets)
    finally:
        engine.dispose()
    seeded = time.perf_counter() - started
    log(f"{made:,} readings and the meters' usage rows; {seeded / 60:.1f} min so far")
    _pg_autocommit(url, "VACUUM ANALYZE")  # statistics and visibility map of the finished tables
    meta = {"database": database, "wallets": wallets, "asked": wallets,
            "now": source_meta["now"].isoformat(), "copied_from": source.name,
            "readings": readings.plan(wallets), "seed_seconds": round(seeded, 1),
            "total_seconds": round(time.perf_counter() - started, 1)}
    info.write_text(json.dumps(meta))
    return url, meta


def copy_tables(source: Path, url: str, *, skip: set[str]) -> int:
    """Copy every table of the SQLite file `source` but `skip` into the PostgreSQL database at
    `url` (same schema, empty) with COPY, foreign keys unchecked while copying (the source
    satisfied them); then move each id sequence past the ids copied. Returns the rows."""
    import sqlite3

    import psycopg

    from dashboard.db import Base

    total = 0
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as dst:
            dst.execute("SET TIME ZONE 'UTC'")  # SQLite's times are UTC text without a zone
            dst.execute("SET session_replication_role = replica")  # no FK triggers
            for table in Base.metadata.sorted_tables:
                if table.name in skip:
                    continue
                cols = ", ".join(c.name for c in table.columns)
                with dst.cursor().copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                    for row in src.execute(f"SELECT {cols} FROM {table.name}"):
                        copy.write_row(row)
                        total += 1
                if "id" in table.c:
                    dst.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)")
    finally:
        src.close()
    return total


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
