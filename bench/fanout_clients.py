"""The fan-out clients: N Socket.IO residents in one process under gevent, then one scan.

Run by bench.fanout as `python -m bench.fanout_clients URL SPEC_JSON`; each resident is a
bare websocket read by a greenlet (bench/wsclient.py), so ten thousand fit in one process
and cost it less CPU than the web they measure. Prints one JSON object.
"""
from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402

from bench import profiler  # noqa: E402
from bench.wsclient import Resident  # noqa: E402

CONNECT_AT_ONCE = 50


def connect_all(url: str, tokens: list[str], arrived: dict, kind: str,
                drops: list) -> tuple[list, int]:
    """Connect one resident per token, CONNECT_AT_ONCE at a time; (residents, failures).

    Each behaves as static/js/live.js does (bench/wsclient.py): it reconnects when dropped
    and then sends `sync`, so the server sends what it missed; a notification that arrives
    that way still counts (late). `drops` records when each drop happened, so the report can
    say how many were dropped and re-synced. The sync asks from id 0 (the resident's few
    notifications): the rounds delete notifications between them, and SQLite then reuses
    ids, so a remembered id could skip the new round's.
    """
    clients, failed = [], 0

    def one(i: int, token: str):
        """Connect resident i and read its socket in a greenlet of its own."""
        nonlocal failed

        def arrival(i=i):
            """First arrival of this round's notification for resident i."""
            arrived.setdefault(i, time.monotonic())

        resident = Resident(url, token, kind, arrival, lambda: drops.append(time.monotonic()))
        try:
            resident.connect()
        except (ConnectionError, OSError, websocket.WebSocketException):  # counted
            failed += 1
            return
        clients.append(resident)
        gevent.spawn(resident.run)

    pool = gevent.pool.Pool(CONNECT_AT_ONCE)
    for i, token in enumerate(tokens):
        pool.spawn(one, i, token)
    pool.join()
    return clients, failed


def cpu_now(spec: dict) -> dict:
    """CPU seconds so far of the web and worker process trees (spec["pids"]) and of this
    client process: what a round cost each, unlike its wall time, barely changed by the
    machine's other load."""
    import resource

    from bench.common import tree_cpu_seconds

    own = resource.getrusage(resource.RUSAGE_SELF)
    return {**{name: tree_cpu_seconds(pid) for name, pid in spec.get("pids", {}).items()},
            "clients": own.ru_utime + own.ru_stime}


def one_round(url: str, spec: dict, clients: list, arrived: dict, drops: list) -> dict:
    """Reset the alerts, press "Run now" as the operator, wait for every client or the
    timeout; the arrival times (seconds after the press) and when the task run finished."""
    from bench.common import reset_alerts

    reset_alerts(spec["db"])
    arrived.clear()
    for client in clients:
        client.got = False
    gevent.sleep(1.0)
    drops_before = len(drops)
    auth = {"Authorization": f"Bearer {spec['operator_token']}"}
    cpu0 = cpu_now(spec)
    t0 = time.monotonic()
    try:
        r = requests.post(f"{url}/api/v1/scans/{spec['scan']}/run", headers=auth,
                          timeout=spec["timeout"])
        status, run_id = r.status_code, (r.json()["task_run"]["id"] if r.status_code == 202
                                         else None)
    except requests.RequestException as exc:  # the server did not answer "Run now" at all
        return {"run_status": None, "run_error": f"{type(exc).__name__} after "
                f"{time.monotonic() - t0:.0f} s", "waited": round(time.monotonic() - t0, 2),
                "run_state": None, "notified": None,
                "latencies": sorted(arrived[i] - t0 for i in arrived)}
    deadline = t0 + spec["timeout"]
    while len(arrived) < len(clients) and time.monotonic() < deadline:
        gevent.sleep(0.02)
    waited = time.monotonic() - t0
    cpu = {name: round(spent - cpu0[name], 2) for name, spent in cpu_now(spec).items()}
    finished = None
    while run_id and time.monotonic() < deadline + 60:
        try:
            state = requests.get(f"{url}/api/v1/task-runs/{run_id}", headers=auth,
                                 timeout=30).json()
        except requests.RequestException:
            continue
        if state.get("state") in ("succeeded", "failed"):
            finished = state
            break
        gevent.sleep(0.2)
    return {"run_status": status, "waited": round(waited, 2), "drops": len(drops) - drops_before,
            "cpu_s": cpu,
            "run_state": finished and finished["state"],
            "notified": finished and (finished.get("result") or {}).get("notified"),
            "latencies": sorted(arrived[i] - t0 for i in arrived)}


def main() -> None:
    """Connect, run the scan `rounds` times with everyone connected, report each round."""
    with open(sys.argv[2]) as f:
        url, spec = sys.argv[1], json.load(f)
    arrived: dict[int, float] = {}
    drops: list[float] = []
    started = time.monotonic()
    clients, failed = connect_all(url, spec["tokens"], arrived, spec["kind"], drops)
    connect_seconds = time.monotonic() - started
    with contextlib.ExitStack() as sampling:
        for pid, out in spec.get("profile", {}).values():  # only the rounds, not connecting
            sampling.enter_context(profiler.recording(pid, Path(out)))
        rounds = [one_round(url, spec, clients, arrived, drops)
                  for _ in range(spec["rounds"])]
    pool = gevent.pool.Pool(500)
    for c in clients:
        pool.spawn(c.close)
    pool.join(timeout=30)
    print(json.dumps({"connected": len(clients), "connect_failed": failed,
                      "connect_seconds": round(connect_seconds, 1), "rounds": rounds}))


if __name__ == "__main__":
    main()
