"""The Celery application, configured from config.py.

Start a worker with `python run.py worker` (queue `notifications`) and the scheduler with
`python run.py beat` (RedBeat: the schedule and its lock live in Redis, so only one beat fires
each entry even if two are started).
"""
from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init

from config import get_config

QUEUE = "notifications"


def beat_schedule() -> dict:
    """The scans' schedule, in CELERY_TIMEZONE (Africa/Johannesburg by default)."""
    return {
        "check_low_credit_wallets": {
            "task": "check_low_credit_wallets",
            "schedule": crontab(hour=6, minute=0),
            "kwargs": {"trigger": "schedule"},
        },
        "check_critical_credit_wallets": {
            "task": "check_critical_credit_wallets",
            "schedule": crontab(minute=0, hour="*/4"),
            "kwargs": {"trigger": "schedule"},
        },
        "analyze_high_usage": {
            "task": "analyze_high_usage",
            "schedule": crontab(hour=7, minute=0),
            "kwargs": {"trigger": "schedule"},
        },
        "reap_stale_task_runs": {
            "task": "reap_stale_task_runs",
            "schedule": crontab(minute="*/5"),
        },
        "prune_old_data": {
            "task": "prune_old_data",
            "schedule": crontab(hour=3, minute=30),
        },
        "sweep_transaction_notifications": {
            "task": "sweep_transaction_notifications",
            "schedule": crontab(minute="*"),
        },
    }


def make_celery(config=None) -> Celery:
    """Build the Celery app from a config class (default: the one APP_ENV names)."""
    cfg = config or get_config()
    app = Celery("quantify", broker=cfg.CELERY_BROKER_URL, backend=cfg.CELERY_RESULT_BACKEND,
                 include=["worker.tasks", "worker.scan_tasks"])
    app.conf.update(
        timezone=cfg.CELERY_TIMEZONE,
        enable_utc=True,
        task_default_queue=QUEUE,
        task_acks_late=True,  # a task is only gone once it finished...
        task_reject_on_worker_lost=True,  # ...and goes back to the queue if its worker dies
        worker_prefetch_multiplier=1,
        task_soft_time_limit=1800,
        task_time_limit=1900,
        task_track_started=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 2 * 3600},
        redbeat_redis_url=cfg.REDIS_URL,
        redbeat_key_prefix=f"{cfg.SOCKETIO_CHANNEL}:redbeat:",
        redbeat_lock_timeout=60,
        beat_max_loop_interval=5,
        beat_scheduler="redbeat.RedBeatScheduler",
        beat_schedule=beat_schedule(),
        worker_hijack_root_logger=False,
    )
    app.conf.quantify_config = cfg
    return app


celery = make_celery()


@worker_process_init.connect
def _init_worker_process(**_kwargs):
    """Each forked worker process opens its own database connections and emitter."""
    from worker.context import init_worker_context

    init_worker_context(celery.conf.quantify_config)
