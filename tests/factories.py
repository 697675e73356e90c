"""Small factories for tests: an estate, a unit with its wallet and residents, users."""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from dashboard.models import (
    Estate,
    Meter,
    Occupancy,
    Person,
    Transaction,
    Unit,
    User,
    Wallet,
    utcnow,
)

_seq = itertools.count(1)
TARIFFS = {"electricity": "2.50", "water": "25.00", "solar": "2.00", "hot_water": "40.00"}
# Cheap hashing for tests; the real default (scrypt) is exercised by the sign-in tests.
FAST_HASH = "pbkdf2:sha256:1000"


def estate(session, **kw) -> Estate:
    """An estate with round tariffs."""
    e = Estate(name=kw.pop("name", f"Estate {next(_seq)}"), tariffs=kw.pop("tariffs", TARIFFS),
               **kw)
    session.add(e)
    session.flush()
    return e


def wallet(session, balance="100.00", *, threshold="50.00", mode="amount", days=3,
           frequency=24, state=None, estate_obj=None, meters=False) -> Wallet:
    """A unit with a wallet (state computed from the rules unless given)."""
    from dashboard.services.wallets.state import compute_state

    e = estate_obj or estate(session)
    unit = Unit(estate_id=e.id, number=f"U{next(_seq)}")
    session.add(unit)
    session.flush()
    w = Wallet(unit_id=unit.id, balance=Decimal(balance), low_balance_threshold=Decimal(threshold),
               alert_mode=mode, low_balance_days=days, alert_frequency_hours=frequency)
    w.state = state or compute_state(w.balance, w.low_balance_threshold, mode, days, Decimal(0))
    session.add(w)
    if meters:
        for utility in ("electricity", "water"):
            session.add(Meter(unit_id=unit.id, utility=utility,
                              serial=f"{utility[:2].upper()}-{next(_seq)}"))
    session.flush()
    return w


def user(session, role="operator", *, email=None, password="correct-horse-battery",
         person_id=None) -> User:
    """A user with a known password."""
    from werkzeug.security import generate_password_hash

    u = User(email=email or f"{role}{next(_seq)}@example.test", role=role, person_id=person_id,
             password_hash=generate_password_hash(password, method=FAST_HASH))
    session.add(u)
    session.flush()
    return u


def resident(session, w: Wallet, *, email=None, password="correct-horse-battery",
             name=("Test", "Resident"), role="tenant", primary=True) -> User:
    """A person living in the wallet's unit, with a resident login."""
    p = Person(first_name=name[0], last_name=name[1])
    session.add(p)
    session.flush()
    session.add(Occupancy(unit_id=w.unit_id, person_id=p.id, role=role, is_primary=primary,
                          start_date=date.today() - timedelta(days=30)))
    return user(session, "resident", email=email, password=password, person_id=p.id)


def purchase_history(session, w: Wallet, amounts, days_ago=5) -> None:
    """Past purchases (for days mode: average daily spend = sum ÷ 30)."""
    for amount in amounts:
        session.add(Transaction(wallet_id=w.id, type="purchase", utility="electricity",
                                amount=Decimal(amount), units=Decimal("1"),
                                balance_before=Decimal(0), balance_after=Decimal(0),
                                created_at=utcnow() - timedelta(days=days_ago)))
    session.flush()


def meter(session, w: Wallet, utility="electricity") -> Meter:
    """A meter in the wallet's unit."""
    m = Meter(unit_id=w.unit_id, utility=utility, serial=f"{utility[:2].upper()}-M{next(_seq)}")
    session.add(m)
    session.flush()
    return m


def readings(session, m: Meter, points, *, now) -> list:
    """Record (taken_at, reading[, is_replacement]) points through the readings service."""
    from dashboard.services.wallets.readings import record_reading

    rows = []
    for point in points:
        taken, value, *flag = point
        rows.append(record_reading(session, m.id, str(value), taken.isoformat(), now=now,
                                   is_replacement=bool(flag and flag[0])))
    return rows


def operator_and_token(session, client, role="operator") -> dict:
    """A staff user and bearer headers for it (through POST /auth/token)."""
    u = user(session, role)
    session.commit()
    r = client.post("/api/v1/auth/token",
                    json={"email": u.email, "password": "correct-horse-battery"})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def bulk_wallets(session, n: int, *, balances=(2000, 800, 9000), threshold=5000) -> int:
    """`n` units and wallets in one estate, written with two executemany calls.

    Balances (in cents) cycle through `balances`, so a known share is low, critical and ok.
    Returns the estate id.
    """
    from sqlalchemy import func, insert, select

    from dashboard.services.wallets.state import compute_state

    e = estate(session)
    first_unit = (session.scalar(select(func.max(Unit.id))) or 0) + 1
    first_wallet = (session.scalar(select(func.max(Wallet.id))) or 0) + 1
    session.execute(insert(Unit.__table__), [
        {"id": first_unit + i, "estate_id": e.id, "number": f"B{i:07d}"} for i in range(n)])
    limit, now, rows = Decimal(threshold) / 100, utcnow(), []
    for i in range(n):
        balance = Decimal(balances[i % len(balances)]) / 100
        rows.append({"id": first_wallet + i, "unit_id": first_unit + i, "balance": balance,
                     "electricity_credit": 0, "water_credit": 0, "solar_credit": 0,
                     "hot_water_credit": 0, "low_balance_threshold": limit,
                     "alert_mode": "amount", "low_balance_days": 3, "alert_frequency_hours": 24,
                     "state": compute_state(balance, limit, "amount", 3, Decimal(0)),
                     "low_alert_seq": 0, "critical_alert_seq": 0, "updated_at": now})
    session.execute(insert(Wallet.__table__), rows)
    _fix_sequences(session)
    return e.id


def _fix_sequences(session) -> None:
    """PostgreSQL: move the id sequences past ids written explicitly (SQLite needs nothing)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        for name in ("units", "wallets"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                 f"(SELECT max(id) FROM {name}))"))
