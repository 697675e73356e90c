"""Scans: set-based (statements do not grow with wallets), chunked, race-safe; task runs."""
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select, text

from dashboard.db import SessionFactory, get_engine
from dashboard.errors import http_status
from dashboard.models import Meter, MeterReading, Notification, TaskRun, Unit, Wallet
from dashboard.services.errors import Conflict, NotFound
from dashboard.services.scans import control as scan_control
from dashboard.services.scans import run_scan
from dashboard.services.scans import runs as task_runs
from tests import factories
from tests.conftest import fast_database

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)




@contextmanager
def count_statements():
    """Count the statements sent to the database (executemany counts once)."""
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def bulk_meters(db, n: int) -> None:
    """A meter for each of the first `n` units, three readings each; every 10th spikes."""
    units = list(db.scalars(select(Unit.id).order_by(Unit.id).limit(n)))
    first = (db.scalar(select(func.max(Meter.id))) or 0) + 1
    db.execute(insert(Meter.__table__), [
        {"id": first + i, "unit_id": u, "utility": "electricity", "serial": f"BULK-{first + i}"}
        for i, u in enumerate(units)])
    rows = []
    for i in range(len(units)):
        spike = Decimal(40 if i % 10 == 0 else 5)  # kWh in the last day; the average is ~8.9
        for taken, reading, used in ((NOW - timedelta(days=10), Decimal(1000), Decimal(0)),
                                     (NOW - timedelta(days=2), Decimal(1080), Decimal(80)),
                                     (NOW - timedelta(hours=1), 1080 + spike, spike)):
            rows.append({"meter_id": first + i, "reading": reading, "consumption": used,
                         "taken_at": taken, "is_replacement": False, "created_at": taken})
    db.execute(insert(MeterReading.__table__), rows)
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT setval(pg_get_serial_sequence('meters', 'id'), "
                        "(SELECT max(id) FROM meters))"))


def scan_statements(db, n: int, name: str) -> tuple[int, object]:
    """Seed `n` wallets (and meters), run scan `name` in one chunk; (statements, result)."""
    factories.bulk_wallets(db, n)
    if name == "analyze_high_usage":
        bulk_meters(db, n)
    db.commit()
    with count_statements() as seen:
        result = run_scan(db, name, now=NOW, chunk_size=50_000)
    return len(seen), result


@pytest.mark.parametrize("name, expected", [
    ("check_low_credit_wallets", lambda n: (n + 2) // 3),  # balances cycle low, critical, ok
    ("check_critical_credit_wallets", lambda n: (n + 1) // 3),
    ("analyze_high_usage", lambda n: (n + 9) // 10),  # every tenth meter spikes
])
def test_statement_count_does_not_grow_with_wallets(tmp_path, name, expected):
    """1,000 and 10,000 wallets: the same number of statements, and every alert made."""
    from dashboard.db import Session, init_engine

    counts = []
    for n in (1_000, 10_000):
        (tmp_path / str(n)).mkdir()
        init_engine(fast_database(tmp_path / str(n)))
        statements, result = scan_statements(Session, n, name)
        assert result.chunks == 1
        assert result.notified == expected(n)
        counts.append(statements)
        Session.remove()
    assert counts[0] == counts[1], counts
    assert counts[0] <= 15, counts


def test_scan_works_in_chunks_and_reports_progress(db, make):
    """5 wallets in chunks of 2: three committed chunks, progress 2/5, 4/5, 5/5."""
    e = make.estate()
    for amount in ("30.00", "80.00", "30.00", "30.00", "5.00"):
        make.wallet(amount, estate_obj=e)
    calls = []
    result = run_scan(db, "check_low_credit_wallets", now=NOW, chunk_size=2,
                      progress=lambda done, total, r: calls.append((done, total, r.notified)))
    assert result.chunks == 3 and result.counts() == {"scanned": 5, "notified": 3, "skipped": 0}
    assert calls == [(2, 5, 1), (4, 5, 3), (5, 5, 3)]


def test_scan_of_an_empty_database(db):
    """No wallets: no chunks, zero counts, no error."""
    result = run_scan(db, "check_low_credit_wallets", now=NOW)
    assert (result.chunks, result.counts()) == (0, {"scanned": 0, "notified": 0, "skipped": 0})


def run_together(names_and_times, chunk_size=40):
    """Run scans at once, each in its own thread with its own session; their results."""
    barrier = threading.Barrier(len(names_and_times))
    results, errors = [None] * len(names_and_times), []

    def work(i, name, now):
        session = SessionFactory()
        try:
            barrier.wait()
            results[i] = run_scan(session, name, now=now, chunk_size=chunk_size)
        except Exception as exc:  # noqa: BLE001 - reported below; a thread's is otherwise lost
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=work, args=(i, n, t))
               for i, (n, t) in enumerate(names_and_times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("name, state", [("check_low_credit_wallets", "low"),
                                         ("check_critical_credit_wallets", "critical")])
def test_two_scans_at_once_store_no_duplicate(db, name, state):
    """Two beats fire the same scan together (two threads, two sessions, one SQLite file):
    each eligible wallet gets exactly one alert, and the two runs' counts add up to that."""
    factories.bulk_wallets(db, 300)
    db.commit()
    eligible = db.scalar(select(func.count()).select_from(Wallet).where(Wallet.state == state))
    a, b = run_together([(name, NOW), (name, NOW + timedelta(milliseconds=3))])
    db.commit()  # end the read snapshot taken before the threads wrote
    stored = db.scalar(select(func.count()).select_from(Notification))
    per_wallet = db.execute(select(Notification.wallet_id, func.count())
                            .group_by(Notification.wallet_id)).all()
    assert eligible == 100
    assert stored == eligible and a.notified + b.notified == eligible
    assert {n for _, n in per_wallet} == {1}


def test_two_scans_at_the_same_instant_report_no_double(db):
    """Even with identical clock readings, the runs' counts add up to what was stored."""
    factories.bulk_wallets(db, 90)
    db.commit()
    a, b = run_together([("check_low_credit_wallets", NOW)] * 2, chunk_size=10)
    db.commit()
    assert db.scalar(select(func.count()).select_from(Notification)) == 30
    assert a.notified + b.notified == 30
    assert sorted(a.notification_ids + b.notification_ids) == \
        list(db.scalars(select(Notification.id).order_by(Notification.id)))


def test_two_high_usage_scans_at_once_store_one_per_meter(db):
    """Racing high-usage scans store one alert per spiking meter."""
    factories.bulk_wallets(db, 200)
    bulk_meters(db, 200)
    db.commit()
    a, b = run_together([("analyze_high_usage", NOW),
                         ("analyze_high_usage", NOW + timedelta(seconds=1))])
    db.commit()
    stored = db.scalar(select(func.count()).select_from(Notification))
    assert stored == 20 and a.notified + b.notified == 20
    assert db.scalar(select(func.count(func.distinct(Notification.meter_id)))) == 20


def test_scan_beside_a_transaction_check_stores_no_duplicate(db):
    """A scan and check_wallet_after_transaction racing over the same wallet alert once."""
    factories.bulk_wallets(db, 60)
    db.commit()
    from dashboard.services.scans import credit_alerts

    barrier = threading.Barrier(2)

    def check_each():
        session = SessionFactory()
        barrier.wait()
        for wid in range(1, 61):
            credit_alerts.check_wallets(session, Wallet.__table__.c.id == wid,
                                        NOW + timedelta(milliseconds=wid))
            session.commit()
        session.close()

    t = threading.Thread(target=check_each)
    t.start()
    session = SessionFactory()
    barrier.wait()
    run_scan(session, "check_low_credit_wallets", now=NOW, chunk_size=7)
    session.close()
    t.join(60)
    db.commit()
    kinds = db.execute(select(Notification.type, func.count()).group_by(Notification.type)).all()
    assert dict(kinds) == {"low_credit": 20, "critical_credit": 20}


# -- task runs ----------------------------------------------------------------------------

def test_second_run_while_one_is_active_is_409(db):
    """A scan already queued, running or retrying refuses another run; once done, allows it."""
    run = task_runs.create_run(db, "check_low_credit_wallets", "manual")
    db.commit()
    for state in ("queued", "running", "retrying"):
        run.state = state
        run.heartbeat_at = datetime.now(timezone.utc)
        db.commit()
        with pytest.raises(Conflict) as err:
            task_runs.create_run(db, "check_low_credit_wallets", "manual")
        assert http_status(err.value) == 409 and err.value.code == "scan_running"
        db.rollback()
    # Another scan is not blocked by this one.
    task_runs.create_run(db, "analyze_high_usage", "manual")
    run.state = "succeeded"
    db.commit()
    assert task_runs.create_run(db, "check_low_credit_wallets", "manual").id != run.id


STALE_AFTER = timedelta(minutes=10)  # TASK_RUN_STALE_SECONDS' default


def test_runs_of_dead_workers_are_marked_failed(db):
    """Running with a heartbeat over 10 minutes old, or queued an hour with none: failed."""
    now = datetime.now(timezone.utc)
    stale = TaskRun(task="check_low_credit_wallets", trigger="schedule", state="running",
                    queued_at=now - timedelta(minutes=30),
                    heartbeat_at=now - STALE_AFTER - timedelta(seconds=1))
    slow = TaskRun(task="analyze_high_usage", trigger="schedule", state="running",
                   queued_at=now - timedelta(minutes=30),
                   heartbeat_at=now - STALE_AFTER + timedelta(seconds=30))
    lost = TaskRun(task="check_critical_credit_wallets", trigger="manual", state="queued",
                   queued_at=now - timedelta(hours=1, seconds=1))
    done = TaskRun(task="check_critical_credit_wallets", trigger="manual", state="succeeded",
                   queued_at=now - timedelta(days=2), heartbeat_at=now - timedelta(days=2))
    db.add_all([stale, slow, lost, done])
    db.commit()
    assert sorted(task_runs.reap_stale(db, now, stale_after=STALE_AFTER)) == \
        sorted([stale.id, lost.id])
    db.commit()
    for run in (stale, lost):
        db.refresh(run)
        assert run.state == "failed" and run.finished_at == now and "worker" in run.error
    db.refresh(slow)
    assert slow.state == "running"
    # A dead run no longer blocks Run now.
    assert task_runs.create_run(db, "check_low_credit_wallets", "manual").state == "queued"


def test_run_lifecycle_counts(db):
    """start → chunk recorded → last chunk published records times, progress and counts."""
    run = task_runs.create_run(db, "analyze_high_usage", "cli")
    run = task_runs.start(db, run.id, chunks=[(1, 4), (5, 10)], scan_now=NOW)
    assert (run.state, run.attempts, run.started_at is not None) == ("running", 1, True)
    first = task_runs.claim_chunk(db, run.id, 1, 4)
    task_runs.record_chunk(db, first, scanned=4, notified=1, skipped=0)
    run = task_runs.fresh(db, run.id)
    assert (run.progress_done, run.scanned, run.notified) == (4, 4, 1)
    task_runs.chunk_published(db, first.id)
    last = task_runs.claim_chunk(db, run.id, 5, 10)
    task_runs.record_chunk(db, last, scanned=0, notified=0, skipped=0)
    run = task_runs.chunk_published(db, last.id)
    assert run.state == "succeeded" and run.progress_done == 10 and run.finished_at


def test_next_run_times_are_local(db):
    """05:59 in Johannesburg: low credit at 06:00, critical at 08:00, high usage at 07:00,
    the digests at 07:30, silent meters at 08:00."""
    now = datetime(2026, 3, 10, 3, 59, tzinfo=timezone.utc)
    infos = {i.name: i for i in scan_control.describe(db, now, "Africa/Johannesburg")}
    got = {name: info.next_run_at.isoformat() for name, info in infos.items()}
    assert got == {"check_low_credit_wallets": "2026-03-10T06:00:00+02:00",
                   "check_critical_credit_wallets": "2026-03-10T08:00:00+02:00",
                   "analyze_high_usage": "2026-03-10T07:00:00+02:00",
                   "send_operator_digests": "2026-03-10T07:30:00+02:00",
                   "check_silent_meters": "2026-03-10T08:00:00+02:00"}
    late = datetime(2026, 3, 10, 22, 30, tzinfo=timezone.utc)  # 00:30 on the 11th, local
    infos = {i.name: i for i in scan_control.describe(db, late, "Africa/Johannesburg")}
    assert infos["check_low_credit_wallets"].next_run_at.isoformat() == \
        "2026-03-11T06:00:00+02:00"
    assert infos["check_critical_credit_wallets"].next_run_at.isoformat() == \
        "2026-03-11T04:00:00+02:00"


def test_unknown_scan_name_is_not_found():
    """Only the three scans exist."""
    with pytest.raises(NotFound):
        scan_control.check_name("drop_tables")


def test_cli_scan_prints_the_run_as_json(tmp_path, redis_url):
    """`python run.py scan NAME` migrates, scans, records a `cli` run and prints it as JSON."""
    import json
    import os
    import subprocess
    import sys
    import uuid

    from dashboard.db import Session, init_engine
    from dashboard.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    init_engine(url)
    factories.bulk_wallets(Session, 9)
    Session.commit()
    Session.remove()
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": redis_url,
           "SOCKETIO_MESSAGE_QUEUE": redis_url, "SOCKETIO_CHANNEL": f"cli-{uuid.uuid4().hex[:8]}",
           "SECRET_KEY": "cli-test-secret"}

    def scan():
        done = subprocess.run([sys.executable, "run.py", "scan", "check_low_credit_wallets"],
                              cwd=Path(__file__).resolve().parent.parent, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    run = scan()
    assert (run["task"], run["trigger"], run["state"]) == \
        ("check_low_credit_wallets", "cli", "succeeded")
    assert run["result"] == {"scanned": 9, "notified": 3, "skipped": 0}
    init_engine(url)
    assert Session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.task_run_id == run["id"])) == 3
    Session.remove()
