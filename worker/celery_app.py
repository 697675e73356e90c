"""The Celery application, configured from config.py when it is first used, not at import.

Start a worker with `python run.py worker` (queues `notifications` and `deliveries`; `--queues`
picks others) and the scheduler with
`python run.py beat` (RedBeat: the schedule and its lock live in Redis, so only one beat fires
each entry even if two are started). `celery -A worker.celery_app worker` works too: the
module-level `celery` reads the configuration (the class APP_ENV names, from the environment
at that moment) the first time its settings are needed, that is when the worker is made.
The schedule is the scan catalogue's (dashboard/services/scans/catalogue.py).
"""
from __future__ import annotations

from datetime import timedelta

from celery import Celery
from celery.signals import worker_process_init

from config import get_config
from dashboard.services.scans.catalogue import beat_schedule

QUEUE = "notifications"
DELIVERIES_QUEUE = "deliveries"  # email, SMS (and webhooks): slow providers wait there
#: What `python run.py worker` consumes unless --queues says otherwise.
DEFAULT_QUEUES = (QUEUE, DELIVERIES_QUEUE)
#: Tasks that run on `deliveries` whoever sends them (beat, the web, another task).
ROUTES = {name: {"queue": DELIVERIES_QUEUE}
          for name in ("sweep_webhooks", "send_webhooks", "prune_webhooks")}


def transport_options(visibility_timeout: int) -> dict:
    """Redis broker options: a task taken by a worker that died unacknowledged is put back on
    the queue `visibility_timeout` seconds after it was taken (CELERY_VISIBILITY_TIMEOUT).

    kombu looks for such tasks only every 10 x 10 s by default (and when a worker starts), so
    with a short timeout (tests, or a deployment wanting fast recovery) it looks more often.
    """
    options: dict = {"visibility_timeout": visibility_timeout}
    if visibility_timeout < 200:
        options.update(unacked_restore_interval=max(1, visibility_timeout // 4),
                       unacked_restore_throttle=1)
    return options


def _survive_broker_loss_with_unacked_tasks() -> None:
    """Keep the worker alive when Redis goes away while a task is unacknowledged.

    kombu 5.7 (Redis transport): after a lost broker connection Celery's consumer first
    `collect()`s the connection, which detaches the transport (`transport.client = None`),
    then closes it; closing the channel tries to requeue the unacknowledged task, needs a
    Redis client for that, and fails with AttributeError ('NoneType' object has no attribute
    'hostname') instead of a connection error. Celery treats that as unrecoverable and the
    worker exits instead of reconnecting (tests/test_faults.py::
    test_redis_down_10s_during_top_ups_loses_and_doubles_nothing). Raising the connection
    error it really is lets kombu ignore it as it ignores every other error of a dead
    connection; the task stays in Redis's unacked set and comes back after
    CELERY_VISIBILITY_TIMEOUT (or is gone with Redis, which the sweeps cover).
    """
    import redis
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "quantify_patched", False):
        return

    def _connparams(self, asynchronous=False):
        """The channel's connection parameters; a connection error once it is detached."""
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        return original(self, asynchronous=asynchronous)

    _connparams.quantify_patched = True
    kombu_redis.Channel._connparams = _connparams


_survive_broker_loss_with_unacked_tasks()


def delivery_schedule(seconds: float) -> dict:
    """Beat's entry for the deliveries queue's sweep (worker/delivery_tasks.py)."""
    return {"sweep_deliveries": {"task": "sweep_deliveries",
                                 "schedule": timedelta(seconds=seconds),
                                 "options": {"queue": DELIVERIES_QUEUE}}}


def settings(cfg) -> dict:
    """The Celery settings of a configuration class."""
    return {
        "broker_url": cfg.CELERY_BROKER_URL,
        "result_backend": cfg.CELERY_RESULT_BACKEND,
        "timezone": cfg.CELERY_TIMEZONE,
        "enable_utc": True,
        "task_default_queue": QUEUE,
        "task_routes": ROUTES,
        "task_acks_late": True,  # a task is only gone once it finished...
        "task_reject_on_worker_lost": True,  # ...and goes back to the queue if its worker dies
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": 1800,
        "task_time_limit": 1900,
        "task_track_started": True,
        "result_expires": 3600,
        # Task events (received, started, succeeded, ...) for Flower and `celery events`;
        # task-sent too, for the tasks the worker itself sends (chunks, the scan's finish).
        "worker_send_task_events": cfg.CELERY_TASK_EVENTS,
        "task_send_sent_event": cfg.CELERY_TASK_EVENTS,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport_options(cfg.CELERY_VISIBILITY_TIMEOUT),
        "redbeat_redis_url": cfg.REDIS_URL,
        "redbeat_key_prefix": f"{cfg.SOCKETIO_CHANNEL}:redbeat:",
        "redbeat_lock_timeout": 60,
        "beat_max_loop_interval": 5,
        "beat_scheduler": "worker.beat:ResilientRedBeatScheduler",  # survives Redis restarts
        "beat_schedule": {**beat_schedule(cfg.BEAT_PROBE_SECONDS),
                          **delivery_schedule(cfg.DELIVERY_SWEEP_SECONDS)},
        "worker_hijack_root_logger": False,
        "quantify_config": cfg,
    }


def make_celery(config=None) -> Celery:
    """The Celery app, configured from `config` (default: get_config() at the moment the
    app's settings are first read, so importing this module reads nothing)."""
    app = Celery("quantify", include=["worker.tasks", "worker.scan_tasks",
                                      "worker.delivery_tasks", "worker.payment_tasks",
                                      "worker.webhook_tasks"])
    app.add_defaults(lambda: settings(config or get_config()))
    return app


celery = make_celery()


@worker_process_init.connect
def _init_worker_process(**_kwargs):
    """Each forked worker process opens its own database connections and emitter."""
    from worker.context import init_worker_context

    init_worker_context(celery.conf.quantify_config)
