"""What every benchmark shares: the machine's load, JSON lines, statistics, seeded databases."""
from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_OUT moves every database and result (the smoke test uses a temporary folder).
OUT = Path(os.environ.get("BENCH_OUT") or ROOT / "bench" / "out")
SEED_BATCH = 10_000  # wallets per seed() call: every size gets the same mix (see prepare_db)
FAST_HASH = "pbkdf2:sha256:1000"  # bench users only; the real default is exercised by tests
PASSWORD = "bench-password"


def load() -> dict:
    """The machine's load right now: 1/5/15-minute load averages and the busiest processes."""
    one, five, fifteen = os.getloadavg()
    return {"load1": round(one, 2), "load5": round(five, 2), "load15": round(fifteen, 2)}


def machine() -> dict:
    """CPU count, memory, Python and SQLite versions."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


MEASURED = ("dashboard/services/scans/catalogue.py", "dashboard/services/scans/passes.py",
            "dashboard/services/scans/chunks.py", "dashboard/services/scans/runs.py",
            "dashboard/services/scans/credit_alerts.py", "dashboard/services/scans/high_usage.py",
            "dashboard/services/scans/usage_filter.py",
            "dashboard/services/notifications/store.py", "dashboard/services/wallets/state.py",
            "dashboard/services/wallets/search.py", "dashboard/events/publish.py",
            "dashboard/events/queue.py", "dashboard/events/wire.py", "dashboard/sockets.py",
            "dashboard/events/scans.py", "dashboard/events/fanout.py",
            "dashboard/events/presence.py", "dashboard/events/replies.py",
            "dashboard/api/wallets.py", "worker/tasks.py", "worker/scan_tasks.py",
            "worker/celery_app.py")


def code_state() -> dict:
    """The commit measured, and a digest of the measured files as they are on disk (the
    work tree is shared with other engineers, so uncommitted edits are measured too)."""
    import hashlib
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=False,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *MEASURED], cwd=ROOT, check=False,
                           capture_output=True, text=True).stdout.split("\n")
    digest = hashlib.sha1(b"".join((ROOT / f).read_bytes() for f in MEASURED
                                   if (ROOT / f).exists())).hexdigest()[:10]
    return {"commit": head, "dirty": len([d for d in dirty if d.strip()]), "code": digest}


def emit(record: dict, *, quiet: bool = False) -> dict:
    """Print one measurement as a JSON line and append it to bench/out/results.jsonl."""
    if os.environ.get("BENCH_SMOKE"):
        record = {**record, "smoke": True}  # toy sizes: kept out of the report's tables
    record = {**record, **code_state(),
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    line = json.dumps(record)
    if not quiet:
        print(line, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.jsonl", "a") as f:
        f.write(line + "\n")
    return record


def log(message: str) -> None:
    """Progress for people, on stderr (stdout carries only JSON lines)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values) -> float | None:
    """The median, or None for no values."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, p: float) -> float | None:
    """The p-th percentile (nearest rank) of `values`, or None for none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def peak_mb() -> float:
    """This process's peak resident memory (ru_maxrss) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def db_path(wallets: int) -> Path:
    """The reusable seeded database for a size."""
    return OUT / f"wallets-{wallets}.db"


def db_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def meta(path: Path) -> dict:
    """What prepare_db recorded about a seeded database (its seed time `now`, size)."""
    data = json.loads(path.with_suffix(".json").read_text())
    data["now"] = datetime.fromisoformat(data["now"])
    return data


def prepare_db(wallets: int, *, path: Path | None = None, fresh: bool = False) -> Path:
    """Migrate and seed a SQLite database with `wallets` wallets, or reuse the one there.

    Seeds in calls of SEED_BATCH wallets, so every size has the same mix (70% ok / 20% low /
    10% critical wallets) and seeding memory stays flat; then every meter gets readings
    (bench/readings.py: twice a day for 31 days, once a day from 1M wallets). A database whose
    readings were seeded otherwise (its meta says how) gets new ones, the rest kept.
    """
    from . import readings

    path = path or db_path(wallets)
    info = path.with_suffix(".json")
    if path.exists() and info.exists() and not fresh and \
            json.loads(info.read_text()).get("wallets") == wallets:
        data = json.loads(info.read_text())
        if data.get("readings") != readings.plan(wallets):
            reseed_readings(path, wallets)
        else:
            from dashboard.migrate import upgrade

            upgrade(db_url(path))
        add_residents(path)
        return path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    info.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    from werkzeug.security import generate_password_hash

    from dashboard.db import Session, init_engine
    from dashboard.migrate import upgrade
    from dashboard.services.demo.seed import seed

    url = db_url(path)
    upgrade(url)
    init_engine(url)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    session = Session()
    done = 0
    while done < wallets:
        n = min(SEED_BATCH, wallets - done)
        seed(session, wallets=n, seed=42 + done, now=now, reading_units=0,
             password_hasher=partial(generate_password_hash, method=FAST_HASH))
        session.commit()
        done += n
        if done % 100_000 == 0:
            log(f"seeded {done:,} of {wallets:,} wallets")
    Session.remove()
    # Hold no connection in this process afterwards: closing any other descriptor of the file
    # here (reading it, say) would drop SQLite's POSIX locks and can corrupt it.
    from dashboard.db import get_engine

    get_engine().dispose()
    info.write_text(json.dumps({"wallets": wallets, "now": now.isoformat(),
                                "seed_seconds": round(time.perf_counter() - started, 1)}))
    reseed_readings(path, wallets)
    add_residents(path)
    return path


def reseed_readings(path: Path, wallets: int) -> None:
    """Replace the database's meter readings and usage rows by the benchmarks' own
    (bench/readings.py), migrating it first, and record them in its meta."""
    from sqlalchemy import create_engine

    from dashboard.migrate import upgrade

    from . import readings

    info = path.with_suffix(".json")
    data = json.loads(info.read_text())
    now = datetime.fromisoformat(data["now"])
    started = time.perf_counter()
    url = db_url(path)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            # Before migrating: 0011's backfill of readings about to go would be wasted work.
            conn.exec_driver_sql("DELETE FROM meter_readings")
            if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = "
                                    "'meter_usage'").first():
                conn.exec_driver_sql("DELETE FROM meter_usage")
        upgrade(url)
        with engine.connect() as conn:
            # A rollback journal, not the WAL, while writing gigabytes: the WAL would hold a
            # second copy of every page until the checkpoint.
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        made = readings.seed_readings(engine, now, wallets, ts=sqlite_time)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()
    log(f"{made:,} readings and the meters' usage rows in {time.perf_counter() - started:.0f} s")
    data.update(readings=readings.plan(wallets), readings_seconds=round(
        time.perf_counter() - started, 1))
    info.write_text(json.dumps(data))
    analyze(path)


def sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLite columns of UTCDateTime store it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def ready_for_scans(path: Path) -> None:
    """Bring a reused database to the current schema and make what migration 0010 leaves
    to beat: every wallet's run-out sort key and the estates' calendars, at the scans'
    `now` (a database seeded before it would otherwise have its alerts sum every wallet's
    purchases, a path production leaves within minutes). A no-op when already done."""
    from dashboard.db import Session, get_engine, init_engine
    from dashboard.migrate import upgrade
    from dashboard.services.forecast import sql as forecast_sql

    url = db_url(path)
    upgrade(url)
    init_engine(url)
    session = Session()
    now = scan_now(path)
    forecast_sql.refresh_forecasts(session, now, batch=50_000, batches=1000)
    forecast_sql.ensure_calendars(session, now, "Africa/Johannesburg")
    session.commit()
    Session.remove()
    get_engine().dispose()


def add_residents(path: Path) -> int:
    """Give the primary occupant of every unit a resident login, as a live estate would have.

    The demo seed makes only two resident logins; without the rest the scans would write
    almost no deliveries and fan-out would have no one to reach. Idempotent. Ends with
    ANALYZE, so the planner's statistics describe the finished tables (statistics taken
    before these logins existed made the deliveries INSERT…SELECT scan every user once per
    chunk: see RESULTS.md).
    """
    from werkzeug.security import generate_password_hash

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path, timeout=60) as conn:
        if conn.execute("SELECT 1 FROM users WHERE email LIKE '%@bench.test' LIMIT 1").fetchone():
            if _users_stats_stale(conn):
                analyze(path)  # prepared before the statistics were taken last
            return 0
        made = conn.execute(
            "INSERT INTO users (email, password_hash, role, person_id, active, token_version, "
            "created_at) SELECT 'unit' || o.unit_id || '@bench.test', ?, 'resident', "
            "o.person_id, 1, 0, ? FROM occupancies o WHERE o.is_primary = 1 AND NOT EXISTS "
            "(SELECT 1 FROM users u WHERE u.person_id = o.person_id) ORDER BY o.unit_id",
            (generate_password_hash(PASSWORD, method=FAST_HASH), stamp)).rowcount
    analyze(path)
    return made


def _users_stats_stale(conn) -> bool:
    """True when the planner's row count for `users` is missing or under half the real one."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        return True
    row = conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'users' LIMIT 1").fetchone()
    users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    return row is None or int(row[0].split()[0]) * 2 < users


def analyze(path: Path) -> None:
    """Fresh planner statistics for every table, then a WAL checkpoint."""
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("ANALYZE")
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def reset_alerts(path: Path) -> None:
    """Undo every alert so the next scan notifies again: clear the alert windows, delete
    notifications and deliveries, and checkpoint the WAL so the next run starts clean."""
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("UPDATE wallets SET low_alerted_at = NULL, critical_alerted_at = NULL "
                     "WHERE low_alerted_at IS NOT NULL OR critical_alerted_at IS NOT NULL")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(wallets)")}
        if "depleted_at" in columns:  # migration 0010: credit_depleted's claim
            conn.execute("UPDATE wallets SET depleted_at = NULL WHERE depleted_at IS NOT NULL")
        conn.execute("DELETE FROM notification_deliveries")
        conn.execute("DELETE FROM notifications")
        # Runs and their chunk records go together: the worker skips a chunk already recorded
        # for a run id, and ids of deleted runs are reused.
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "task_run_chunks" in tables:
            conn.execute("DELETE FROM task_run_chunks")
        conn.execute("DELETE FROM task_runs")
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def warm_cache(path: Path) -> None:
    """Read the database file once so every repeat starts with it in the page cache.

    In another process (cat): opening and closing the file here, beside a SQLite connection of
    this process, would release that connection's POSIX locks (a known way to corrupt it).
    """
    import subprocess

    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=False)


def scan_now(path: Path) -> datetime:
    """The `now` every scan of a seeded database uses: its seed time plus a minute, so the
    30-day windows see the same ledger and readings whenever the benchmark runs."""
    return meta(path)["now"] + timedelta(minutes=1)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants (from /proc), so a
    benchmark can say what one operation costs the web server or the worker pool."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return total


def _family(pid: int) -> set[int]:
    """`pid` and all its descendants (our workers and their pool processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo.extend(children.get(p, []))
    return found


def others_using(path: Path) -> list[str]:
    """Processes outside this bench that have the database file open ('pid command')."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    mine = _family(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            if any(os.readlink(fd) in names for fd in (entry / "fd").iterdir()):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                found.append(f"{entry.name} {cmd.strip()}")
        except OSError:
            continue
    return found


def wait_until_free(path: Path, patience: float) -> None:
    """Wait while another benchmark uses the shared file: resetting its alerts under it would
    spoil both measurements. Gives up after `patience` seconds."""
    deadline = time.monotonic() + patience
    while users := others_using(path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name} still in use by: {'; '.join(users)}")
        log(f"{path.name} is in use by {'; '.join(users)}: waiting")
        time.sleep(30)


# --- one database, either kind --------------------------------------------------------------
