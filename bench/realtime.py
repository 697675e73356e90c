"""CPU and SQL statements per top-up, in one process, split between the web and the worker.

The live benchmark (`latency`) measures the whole system, Celery, gevent and the loopback
included, and on a shared machine its CPU figures move with the load. This one runs the
same resident top-up (the payment started, the provider's webhook) through the Flask test
client, then the task the web queued (read off the broker, run with its arguments and
headers as the worker runs it, without Celery's pool), and reports the CPU time
(time.process_time) and the statements of each side per top-up: the application's own
cost, without the servers around it.
"""
from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from .common import OUT, emit, load, log, prepare_db


@contextmanager
def _counting(counts: dict, side: list):
    """Count the statements every engine sends, by the side (web, worker) running."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(conn, cursor, statement, parameters, context, executemany):
        """One statement, transaction control left out."""
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            counts[side[0]] = counts.get(side[0], 0) + 1

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def _queued(broker) -> list[dict]:
    """The messages waiting on the broker's `notifications` queue, taken off it."""
    raw = broker.lrange("notifications", 0, -1)
    broker.delete("notifications")
    out = []
    for message in map(json.loads, reversed(raw)):
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args, kwargs, message["headers"]))
    return out


def run(topups: int = 500, wallets: int = 2000) -> dict:
    """Measure `topups` resident top-ups after a warm-up; one JSON line."""
    import redis

    from config import DEV_PAYMENT_WEBHOOK_SECRET
    from dashboard import create_app, events
    from dashboard.cli import redis_server
    from dashboard.models import utcnow
    from dashboard.services import payments

    from . import live

    work = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    db = work / "live.db"
    shutil.copy(prepare_db(wallets, path=OUT / f"live-{wallets}.db"), db)
    port = redis_server.free_port()
    redis_proc = redis_server.start(port, str(work))
    url, broker_url = f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/9"
    try:
        app = create_app("testing", DATABASE_URL=f"sqlite:///{db}", REDIS_URL=url,
                         CELERY_BROKER_URL=broker_url, CELERY_RESULT_BACKEND=url,
                         SOCKETIO_MESSAGE_QUEUE=url, SOCKETIO_CHANNEL="bench-realtime",
                         SECRET_KEY=live.SECRET)
        client, broker = app.test_client(), redis.Redis.from_url(broker_url)
        people = live.bench_residents(db, 50)

        def top_up(user_id: int, wallet_id: int) -> None:
            """The resident's payment and the provider's webhook, as the live bench sends."""
            r = client.post(f"/api/v1/wallets/{wallet_id}/topups",
                            json={"amount": "10.00", "method": "card"},
                            headers={"Authorization": f"Bearer {live.mint_token(user_id)}"})
            payment = r.get_json()["payment"]
            now = utcnow()
            body = payments.event_body("payment.succeeded", payment["id"], payment["amount"],
                                       f"b_{payment['id']}", now)
            headers = payments.sign(DEV_PAYMENT_WEBHOOK_SECRET, body,
                                    msg_id=f"m_{payment['id']}", timestamp=now)
            assert client.post("/api/v1/payments/webhook", data=body, headers={
                **headers, "Content-Type": "application/json"}).status_code == 200

        import worker.common
        import worker.delivery_tasks  # noqa: F401 - the deliveries queue's hook, as in the worker
        import worker.tasks  # noqa: F401 - the real-time tasks
        from worker.celery_app import celery

        config = SimpleNamespace(DATABASE_URL=f"sqlite:///{db}", SOCKETIO_MESSAGE_QUEUE=url,
                                 SOCKETIO_CHANNEL="bench-realtime")
        worker.common.cfg = lambda: config  # this process only: the worker's context here

        def run_tasks() -> None:
            """Every queued task, as the worker runs it (arguments and headers)."""
            for name, args, kwargs, headers in _queued(broker):
                celery.tasks[name].apply(args=args, kwargs=kwargs, headers=headers)

        for user_id, wallet_id, _ in people[:10]:  # warm-up: compiled SQL, connections
            top_up(user_id, wallet_id)
        run_tasks()
        events.init(app.extensions["socketio"])  # the web's own publisher again
        counts: dict = {}
        side = ["web"]
        load_before = load()
        with _counting(counts, side):
            started = time.process_time()
            for i in range(topups):
                user_id, wallet_id, _ = people[i % len(people)]
                top_up(user_id, wallet_id)
            web = time.process_time() - started
            side[0] = "worker"
            started = time.process_time()
            run_tasks()
            worker_cpu = time.process_time() - started
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    record = {"bench": "realtime", "topups": topups, "wallets": wallets,
              "cpu_ms_per_topup_web": round(web * 1000 / topups, 2),
              "cpu_ms_per_topup_worker": round(worker_cpu * 1000 / topups, 2),
              "statements_web": round(counts.get("web", 0) / topups, 1),
              "statements_worker": round(counts.get("worker", 0) / topups, 1),
              "load_before": load_before, "load_after": load()}
    log(f"web {record['cpu_ms_per_topup_web']} ms, worker {record['cpu_ms_per_topup_worker']} "
        f"ms of CPU per top-up (in-process)")
    return emit(record)
