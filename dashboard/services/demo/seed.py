"""Demo data: estates, units, residents, meters with 45 days of readings, wallets, ledgers.

Deterministic for a given seed and `now`, and fast: rows are generated as plain tuples and
written with one executemany per table (no ORM objects, no per-row type processing), so
100,000 wallets take seconds, not minutes. The purchases follow each unit's metered use at
its estate's tariff (demo/ledger.py); some wallets are at zero and some meters silent, and
the demo residents' credit runs out inside friendly hours (demo/showcase.py).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import column, func, select, table, text

from ...db import Base
from ...models import UTILITIES, Estate, User, Wallet
from ...models.user import hash_password
from ..forecast import sql as forecast_sql
from ..scans.credit_alerts import refresh_states
from . import showcase
from .ledger import daily_use, wallet_and_ledger

DEMO_LOGINS = {
    "operator@example.com": ("demo-operator", "operator"),
    "viewer@example.com": ("demo-viewer", "viewer"),
    "resident@example.com": ("demo-resident", "resident"),
    "resident2@example.com": ("demo-resident", "resident"),
}
ESTATES = [
    ("Sunset Ridge", {"electricity": "3.20", "water": "28.50", "solar": "2.10", "hot_water": "45.00"}),
    ("Fynbos Gardens", {"electricity": "3.05", "water": "31.20", "solar": "1.95", "hot_water": "42.00"}),
    ("Karoo Heights", {"electricity": "2.95", "water": "26.80", "solar": "1.80", "hot_water": "40.50"}),
    ("Umhlanga Villas", {"electricity": "3.40", "water": "33.10", "solar": "2.30", "hot_water": "47.80"}),
    ("Table View Terraces", {"electricity": "3.15", "water": "29.90", "solar": "2.05", "hot_water": "44.20"}),
]
FIRST = ["Thandi", "Sipho", "Anele", "Johan", "Priya", "Lerato", "Pieter", "Ayesha", "Bongani",
         "Chantel", "Mandla", "Fatima", "Kobus", "Nomvula", "Ravi", "Zanele", "Ethan", "Lindiwe",
         "Musa", "Naledi", "Riaan", "Sarah", "Tumelo", "Yusuf"]
LAST = ["Nkosi", "Dlamini", "van der Merwe", "Naidoo", "Mokoena", "Botha", "Khumalo", "Pillay",
        "Smith", "Mthembu", "Jacobs", "Ndlovu", "Pretorius", "Govender", "Zulu", "Adams",
        "Molefe", "Coetzee", "Sithole", "Maharaj"]
READING_UNITS = 2000  # units that get 45 days of readings (all of them in small seeds)
HISTORY_DAYS = 45


@dataclass
class SeedResult:
    """How much was made."""

    estates: int
    wallets: int
    people: int
    meters: int
    readings: int
    transactions: int


class _Writer:
    """Formats values for the dialect and bulk-inserts tuples."""

    def __init__(self, session):
        """Remember the connection and whether it is SQLite (timestamps as text)."""
        self.conn = session.connection()
        self.sqlite = self.conn.dialect.name == "sqlite"

    def ts(self, value: datetime):
        """A UTC timestamp as the UTCDateTime column stores it."""
        if self.sqlite:
            return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def day(self, value: date):
        """A date."""
        return value.isoformat() if self.sqlite else value

    def write(self, name: str, cols: tuple[str, ...], rows: list[tuple]) -> int:
        """One executemany of plain tuples straight to the driver (no per-row processing)."""
        if rows:
            mark = "?" if self.sqlite else "%s"
            sql = (f"INSERT INTO {name} ({', '.join(cols)}) "
                   f"VALUES ({', '.join([mark] * len(cols))})")
            self.conn.exec_driver_sql(sql, rows)
        return len(rows)


def reset(session) -> None:
    """Delete every row of every table (keeping the schema and its migration version)."""
    conn = session.connection()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))


def _next_id(session, name: str) -> int:
    """One more than the table's largest id."""
    return (session.scalar(select(func.max(column("id"))).select_from(table(name))) or 0) + 1


def seed(session, *, wallets: int = 2000, seed: int = 42, now: datetime | None = None,
         reset_first: bool = False, password_hasher=hash_password) -> SeedResult:
    """Create demo data for `wallets` units (and the demo logins if missing); caller commits."""
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    rng = random.Random(seed)
    if reset_first:
        reset(session)
    w = _Writer(session)
    estates = _estates(session)
    uid0, pid0, oid0 = (_next_id(session, n) for n in ("units", "people", "occupancies"))
    mid0, rid0, wid0, tid0 = (_next_id(session, n) for n in
                              ("meters", "meter_readings", "wallets", "transactions"))
    units, people, occ, meters, wallet_rows, txs, readings = [], [], [], [], [], [], []
    today = now.date()
    slots = reading_times(now, w)
    # The demo residents' units (the first two of a seed that makes the demo logins).
    showing = {0: showcase.balance_for(showcase.holiday_run(now), now),
               1: showcase.balance_for(showcase.next_run(now), now)} if uid0 == 1 else {}
    pid = pid0
    for i in range(wallets):
        unit_id, wallet_id = uid0 + i, wid0 + i
        n = unit_id - 1  # numbering continues across seeds, so unit numbers stay unique
        estate_id, tariffs = estates[n % len(estates)]
        block = "ABCDEFGH"[(n // len(estates)) % 8]
        units.append((unit_id, estate_id, f"{block}{(n // (len(estates) * 8)) + 1:03d}"))
        for k in range(2 if rng.random() < 0.3 else 1):
            people.append((pid, rng.choice(FIRST), rng.choice(LAST), None, None))
            role = "tenant" if (k == 0 and rng.random() < 0.6) else "owner"
            occ.append((oid0 + len(occ), unit_id, pid, role, k == 0,
                        w.day(today - timedelta(days=rng.randint(60, 2000))), None))
            pid += 1
        for utility in UTILITIES:
            meters.append((mid0 + len(meters), unit_id, utility,
                           f"{utility[:2].upper()}-{estate_id:02d}-{unit_id:08d}"))
        use = daily_use(rng)
        wallet, ledger = wallet_and_ledger(rng, wallet_id, unit_id, tariffs, use, now, w,
                                           tid0 + len(txs), balance_for=showing.get(i))
        wallet_rows.append(wallet)
        txs.extend(ledger)
        if i < READING_UNITS:
            # The second demo unit's water meter, and a few others' electricity, went silent.
            silent = "water" if i == 1 and showing else (
                "electricity" if rng.random() < showcase.SILENT_SHARE else None)
            for meter in meters[-4:]:
                if meter[2] in use:
                    stop = now - showcase.SILENT_FOR if meter[2] == silent else None
                    readings.extend(_readings(rng, rid0 + len(readings), meter[0], use[meter[2]],
                                              slots, heavy=rng.random() < 0.04, stop=stop))
    w.write("units", ("id", "estate_id", "number"), units)
    w.write("people", ("id", "first_name", "last_name", "email", "phone"), people)
    w.write("occupancies", ("id", "unit_id", "person_id", "role", "is_primary", "start_date",
                            "end_date"), occ)
    w.write("meters", ("id", "unit_id", "utility", "serial"), meters)
    w.write("meter_readings", ("id", "meter_id", "reading", "consumption", "taken_at",
                               "is_replacement", "created_at"), readings)
    w.write("wallets", WALLET_COLS, wallet_rows)
    w.write("transactions", TX_COLS, txs)
    _demo_users(session, w, uid0 if wallets else None, password_hasher, now)
    _fix_sequences(session)
    # Let the one rule decide every seeded state (days mode depends on the ledger), and make
    # the run-out sort keys from the ledger, as transactions would have.
    refresh_states(session, Wallet.__table__.c.id >= wid0, now)
    while forecast_sql.refresh_credit_seconds(session, now, limit=20_000) == 20_000:
        pass
    return SeedResult(len(estates), wallets, len(people), len(meters), len(readings), len(txs))


WALLET_COLS = ("id", "unit_id", "balance", "electricity_credit", "water_credit", "solar_credit",
               "hot_water_credit", "low_balance_threshold", "alert_mode", "low_balance_days",
               "alert_frequency_hours", "state", "low_alert_seq", "critical_alert_seq",
               "updated_at", "state_since")
TX_COLS = ("id", "wallet_id", "type", "utility", "amount", "units", "balance_before",
           "balance_after", "method", "status", "created_at")


def reading_times(now: datetime, w) -> list[tuple[str, float, bool, datetime]]:
    """(stored time, share of the day's use, is recent, time) of every reading slot: two a
    day (04:00 and 16:00 UTC, 06:00 and 18:00 in Johannesburg) for 45 days, weekends
    higher."""
    start = (now - timedelta(days=HISTORY_DAYS)).replace(hour=4, minute=0, second=0)
    slots = []
    for day in range(HISTORY_DAYS + 1):
        for hour, share in ((0, 0.35), (12, 0.65)):
            taken = start + timedelta(days=day, hours=hour)
            if taken <= now:
                weekend = 1.25 if taken.weekday() >= 5 else 1.0
                slots.append((w.ts(taken), share * weekend, now - taken < timedelta(hours=24),
                              taken))
    return slots


def _readings(rng, first_id, meter_id, base: float, slots, *, heavy: bool,
              stop: datetime | None = None):
    """A meter's readings at every slot (until `stop`, for a meter gone silent) for a base
    daily use; a heavy user's last day is 2.6 times the usual."""
    register, rows = int(rng.uniform(1000, 20000) * 1000), []
    for taken, share, recent, at in slots:
        if stop is not None and at > stop:
            break
        use = int(base * share * (2.6 if heavy and recent else 1.0) * rng.uniform(850, 1150))
        register += use
        rows.append((first_id + len(rows), meter_id, register, use, taken, False, taken))
    return rows


def _estates(session) -> list[tuple[int, dict]]:
    """The demo estates (made once), as (id, tariffs)."""
    existing = {e.name: e for e in session.scalars(select(Estate))}
    for name, tariffs in ESTATES:
        if name not in existing:
            estate = Estate(name=name, tariffs=tariffs, timezone=showcase.ZONE)
            session.add(estate)
            existing[name] = estate
    session.flush()
    return [(existing[name].id, existing[name].tariffs) for name, _ in ESTATES]


def _demo_users(session, w, first_unit: int | None, hasher, now) -> None:
    """The demo logins (operator, viewer, residents): residents are the first people of the
    first two units."""
    existing = set(session.scalars(select(User.email)))
    hashes: dict[str, str] = {}
    for email, (password, role) in DEMO_LOGINS.items():
        if email in existing:
            continue
        person_id = None
        if role == "resident":
            if first_unit is None:
                continue
            unit_id = first_unit + (0 if email == "resident@example.com" else 1)
            person_id = session.execute(text(
                "SELECT person_id FROM occupancies WHERE unit_id = :u ORDER BY is_primary DESC, "
                "id LIMIT 1"), {"u": unit_id}).scalar()
        hashes.setdefault(password, hasher(password))
        w.write("users", ("email", "password_hash", "role", "person_id", "active",
                          "token_version", "created_at"),
                [(email, hashes[password], role, person_id, True, 0, w.ts(now))])


def _fix_sequences(session) -> None:
    """PostgreSQL: move id sequences past the ids written explicitly."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return
    for t in Base.metadata.sorted_tables:
        if "id" in t.c:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                              f"COALESCE((SELECT MAX(id) FROM {t.name}), 0) + 1, false)"))
