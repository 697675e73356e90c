"""What every task module shares: the configuration, a session per task, transient errors."""
from __future__ import annotations

from contextlib import contextmanager

import redis
from sqlalchemy.exc import OperationalError

from dashboard.db import Session
from worker.celery_app import celery
from worker.context import init_worker_context

#: Errors a retry can cure: a busy database, an unreachable Redis.
TRANSIENT = (OperationalError, redis.ConnectionError, redis.TimeoutError)


def cfg():
    """The configuration the Celery app was built with."""
    return celery.conf.quantify_config


@contextmanager
def task_session():
    """A session for one task run, always closed afterwards."""
    init_worker_context(cfg())
    session = Session()
    try:
        yield session
    finally:
        Session.remove()
