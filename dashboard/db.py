"""Database engine and sessions, shared by the web app, the worker, the CLI and the benchmarks.

One engine per process (`init_engine`), one scoped session per thread (`Session`). SQLite gets
WAL mode and a busy timeout so readers never block the writer and writers wait their turn;
`write_transaction` starts SQLite transactions with BEGIN IMMEDIATE so a read-then-write never
fails on a stale snapshot.
"""
from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every model."""


SessionFactory = sessionmaker(expire_on_commit=False)
Session = scoped_session(SessionFactory)

_engine: Engine | None = None
_writers: WriterQueue | None = None
# Set while a write transaction is being opened, so the SQLite begin hook takes the write lock.
_immediate = contextvars.ContextVar("sqlite_begin_immediate", default=False)


def init_engine(url: str, **kwargs) -> Engine:
    """Create (or replace) the process-wide engine for `url` and bind the session factory."""
    global _engine, _writers
    if _engine is not None:
        _engine.dispose()
    _writers = None
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        path = engine.url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            _writers = WriterQueue(f"{path}-writers.lock", timeout=30)
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
    queue = _writers if _writers is not None and is_sqlite(session.get_bind()) else None
    with queue.turn() if queue is not None else contextlib.nullcontext():
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


class WriterQueue:
    """Hands SQLite's one write lock from writer to writer at once, across threads and processes.

    SQLite makes a writer that finds the lock taken sleep in its busy handler, in growing steps
    of up to 100 ms, whatever happens meanwhile. Under a stream of short writes (top-ups in the
    web, notification tasks in the worker) the sleepers keep missing their turn: at 50 top-ups
    a second a 3 ms task waited 380 ms (bench/RESULTS.md). Writers of this deployment therefore
    queue here first: threads of a process on a lock, processes on an flock of a file beside
    the database. A released lock wakes the next waiter now, not at its next busy-handler step.

    Only an ordering aid: SQLite's own lock still guards the data, so a writer that waits here
    longer than `timeout` (or a process that does not use the queue, like the sqlite3 shell)
    simply falls back to SQLite's busy handler.
    """

    POLL = 0.0005  # seconds between flock attempts; flock has no timeout of its own

    def __init__(self, path: str, timeout: float):
        """`path` is the lock file (made on first use); `timeout` bounds the wait in seconds."""
        self.path, self.timeout = path, timeout
        self._threads = threading.Lock()
        self._held = threading.local()  # a nested write_transaction already has the turn
        self._fd: int | None = None
        self._pid: int | None = None

    def _file(self) -> int | None:
        """This process's descriptor of the lock file (reopened after a fork: a descriptor
        inherited from the parent shares its flock, so it would not exclude the parent)."""
        if self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only directory: SQLite's lock alone then
                self._fd = None
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this writer's turn (at most `timeout`), hold it for the block."""
        deadline = time.monotonic() + self.timeout
        if getattr(self._held, "turn", False) or not self._threads.acquire(timeout=self.timeout):
            yield
            return
        fd, locked = None, False
        self._held.turn = True
        try:
            fd = self._file()
            while fd is not None and not locked:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(self.POLL)
            yield
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._held.turn = False
            self._threads.release()


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
