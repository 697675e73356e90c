"""Database engine and sessions, shared by the web app, the worker, the CLI and the benchmarks.

One engine per process (`init_engine`), one scoped session per thread (`Session`). SQLite gets
WAL mode and a busy timeout so readers never block the writer and writers wait their turn;
`write_transaction` starts SQLite transactions with BEGIN IMMEDIATE so a read-then-write never
fails on a stale snapshot.
"""
from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker

T = TypeVar("T")


class Base(DeclarativeBase):
    """Declarative base of every model."""


SessionFactory = sessionmaker(expire_on_commit=False)
Session = scoped_session(SessionFactory)

_engine: Engine | None = None
# Set while a write transaction is being opened, so the SQLite begin hook takes the write lock.
_immediate = contextvars.ContextVar("sqlite_begin_immediate", default=False)


def init_engine(url: str, **kwargs) -> Engine:
    """Create (or replace) the process-wide engine for `url` and bind the session factory."""
    global _engine
    if _engine is not None:
        _engine.dispose()
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
    SessionFactory.configure(bind=engine)
    Session.remove()
    _engine = engine
    return engine


def get_engine() -> Engine:
    """Return the engine made by `init_engine`."""
    if _engine is None:
        raise RuntimeError("init_engine() has not been called in this process")
    return _engine


def is_sqlite(engine_or_session) -> bool:
    """True when the engine (or the session's bind) is SQLite."""
    bind = getattr(engine_or_session, "bind", None) or engine_or_session
    return bind.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    """Take transaction control from pysqlite so BEGIN is ours, and set WAL and pragmas."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        """WAL lets readers run beside the one writer; foreign keys are off by default."""
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        """BEGIN IMMEDIATE inside write_transaction, a plain deferred BEGIN otherwise."""
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


@contextmanager
def write_transaction(session) -> Iterator:
    """Run a block as one write transaction: commit on success, roll back on error.

    Any read transaction the session has open (the signed-in user, say) is ended first, so on
    SQLite the write lock is taken up front and the block sees the latest committed data.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        session.commit()
    token = _immediate.set(True)
    try:
        session.connection()  # begins now, under the write lock on SQLite
    finally:
        _immediate.reset(token)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def is_transient(exc: BaseException) -> bool:
    """True for database errors that a retry can cure: locks, busy files, dropped connections."""
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(
        hint in text
        for hint in ("database is locked", "database is busy", "deadlock", "could not serialize",
                     "connection", "server closed", "terminating")
    )


def retry_transient(fn: Callable[[], T], *, attempts: int = 5, delay: float = 0.05) -> T:
    """Call `fn`, retrying with backoff while it fails with a transient database error."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            Session.rollback()
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            time.sleep(delay * 2**attempt)
    raise AssertionError("unreachable")
