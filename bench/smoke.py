"""Every benchmark at a toy size, to keep the code working (tests/test_bench_smoke.py;
`--gevent` adds the fan-out through gunicorn -k gevent, sampled with py-spy).

About a minute on a loaded machine, most of it starting Redis, web and worker; the figures
mean nothing at this size and nothing is asserted about them. One stack serves latency,
fan-out and pages.
"""
from __future__ import annotations

import os

from . import cli, deliveries, fanout, latency, live, pages, scans
from .common import OUT, emit, prepare_db

WALLETS = 120


def run(*, gevent: bool = False) -> None:
    """Scans (with baselines), latency, fan-out, pages, deliveries and the command line's
    start-up, each once, tiny."""
    os.environ["BENCH_SMOKE"] = "1"  # children inherit it
    path = prepare_db(WALLETS, path=OUT / "smoke.db")
    for scan in scans.SCANS:
        scans.measure(WALLETS, scan, repeats=1, baseline=True, baseline_repeats=1,
                      path=path)
    scans.run_publish([WALLETS], path=path)
    scans.run_publish([WALLETS], path=path, cli=True)
    people = live.bench_residents(path, 5)
    with live.running(path, chunk_size=100) as stack:
        emit({**latency.drive(stack, people[:3], 5, 1.0), "smoke": True})
        got = fanout.one_run(stack, path, people, timeout=20, rounds=1)
        emit({"bench": "fanout", "server": "werkzeug", "clients": len(people), "smoke": True,
              **{k: v for k, v in got.items() if k != "rounds"},
              **fanout._summary(got["connected"], got["rounds"][0])})
        queries = pages.page_queries(path)
        http = pages.over_http(stack, path, queries, 2)
        for name in queries:
            emit({"bench": "pages", "page": name, "wallets": WALLETS, "http": http[name],
                  "smoke": True})
    deliveries.scan_cost(WALLETS, repeats=1, path=path)
    deliveries.throughput(20, concurrency=4)
    cli.run(repeats=1, warmups=0, wallets=WALLETS)
    if gevent:
        fanout.run([3], server="gevent", timeout=20, rounds=1, db_wallets=WALLETS,
                   profile=True)
