"""The SQLite writer queue: one writer at a time across threads and processes, handed on at
release, never a deadlock, and SQLite's own lock as the fallback."""
import fcntl
import multiprocessing
import os
import threading
import time
from contextlib import contextmanager

from dashboard.db import WriterQueue

# Spawned, not forked: the test process has threads (Redis clients, servers), and a fork
# of a threaded process can hang in its child.
SPAWN = multiprocessing.get_context("spawn")


def _hold(path, held, release, released):
    """In another process: take the turn, say so, keep it until told, then say it let go."""
    queue = WriterQueue(path, timeout=30)
    with queue.turn():
        held.set()
        release.wait(30)
        released.set()


@contextmanager
def held_elsewhere(path):
    """Another process holds the turn; yields (release, released) events."""
    held, release, released = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    other = SPAWN.Process(target=_hold, args=(path, held, release, released))
    other.start()
    try:
        assert held.wait(30)
        yield release, released
    finally:
        release.set()
        other.join(30)


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path):
    """The second process gets its turn only after the first has let go."""
    path = str(tmp_path / "db-writers.lock")
    with held_elsewhere(path) as (release, released):
        threading.Timer(0.2, release.set).start()
        with WriterQueue(path, timeout=30).turn():
            assert released.is_set(), "got the turn while the other process held it"


def test_threads_of_one_process_take_turns(tmp_path):
    """Threads exclude each other too (an flock alone would not: it belongs to the file)."""
    queue = WriterQueue(str(tmp_path / "db-writers.lock"), timeout=30)
    inside, overlaps = [0], []
    lock = threading.Lock()

    def write():
        for _ in range(50):
            with queue.turn():
                with lock:
                    inside[0] += 1
                    overlaps.append(inside[0])
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(overlaps) == 200 and max(overlaps) == 1


def test_a_forked_worker_does_not_inherit_the_turn(tmp_path):
    """Celery's prefork children are forks of a process that may have used the queue: the
    child's descriptor must be its own, so its flock does not pass while the parent holds
    the turn. (A bare fork whose child only opens and locks a file, then _exits.)"""
    queue = WriterQueue(str(tmp_path / "db-writers.lock"), timeout=30)
    with queue.turn():
        pid = os.fork()
        if pid == 0:
            try:
                fcntl.flock(queue._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                os._exit(1)  # locked beside the parent: the turn was inherited
            except BlockingIOError:
                os._exit(0)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def flock_is_free(path) -> bool:
    """Whether a fresh descriptor of the lock file can take its flock right now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_nested_turns_do_not_deadlock(tmp_path):
    """A write transaction opened inside another on the same thread passes through, keeps
    the turn until the outer one ends, and then gives it back."""
    path = str(tmp_path / "db-writers.lock")
    queue = WriterQueue(path, timeout=30)
    started = time.monotonic()
    with queue.turn():
        with queue.turn():
            assert not flock_is_free(path)
        assert not flock_is_free(path), "the inner turn let go of the outer one's lock"
    assert time.monotonic() - started < 5, "the inner turn waited for the outer one"
    assert flock_is_free(path) and not queue._threads.locked()


def test_a_stuck_holder_only_delays_until_the_timeout(tmp_path):
    """Past the timeout the writer goes on to SQLite's own lock instead of waiting forever."""
    path = str(tmp_path / "db-writers.lock")
    with held_elsewhere(path) as (_, released), WriterQueue(path, timeout=0.2).turn():
        assert not released.is_set()


def test_an_unwritable_lock_file_falls_back_to_sqlite(tmp_path):
    """No lock file can be made (read-only directory): writes still go ahead."""
    if os.geteuid() == 0:
        path = "/proc/quantify-no-such-dir/db-writers.lock"  # root may write anywhere else
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        path = str(ro / "db-writers.lock")
    queue = WriterQueue(path, timeout=1)
    entered = False
    with queue.turn():
        entered = True
    assert entered and queue._file() is None
