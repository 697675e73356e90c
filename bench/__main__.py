"""`python -m bench SUBCOMMAND`: scan, latency, realtime, fanout, pages, workers, writers,
deliveries, cli, all, smoke, report.

Every subcommand prints one JSON line per measurement (also appended to
bench/out/results.jsonl) and progress on stderr. See bench/RESULTS.md.
"""
from __future__ import annotations

import argparse

from .common import emit, load, machine


def _sizes(text: str) -> list[int]:
    """'10k,100k,1m' → [10000, 100000, 1000000]."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        out.append(int(float(part.rstrip("km")) * mult))
    return out


def cmd_scan(a) -> None:
    """Scan throughput and memory against the per-wallet baseline."""
    from . import scans

    if a.publish:
        scans.run_publish(_sizes(a.sizes), repeats=a.repeats, cli=a.cli)
        return
    scans.run(_sizes(a.sizes), a.scans.split(","), repeats=a.repeats,
              baseline_upto=a.baseline_upto, usage_baseline_upto=a.usage_baseline_upto,
              baseline_repeats=a.baseline_repeats, big_repeats=a.big_repeats, sql=a.sql,
              db=a.db)


def cmd_latency(a) -> None:
    """Top-up → resident's `notification` latency at fixed rates."""
    from . import latency

    latency.run([float(r) for r in a.rates.split(",")], duration=a.duration,
                wallets=a.wallets, residents=a.residents, server=a.server)


def cmd_realtime(a) -> None:
    """CPU and statements per top-up in one process, web and worker apart."""
    from . import realtime

    realtime.run(topups=a.topups, wallets=a.wallets)


def cmd_cli(a) -> None:
    """`python run.py scan NAME` start-up on a migrated database, many runs."""
    from . import cli

    cli.run(repeats=a.repeats, warmups=a.warmups, scan=a.scan, wallets=a.wallets)


def cmd_fanout(a) -> None:
    """One scan notifying N connected residents."""
    from . import fanout

    fanout.run(_sizes(a.clients), server=a.server, timeout=a.timeout, rounds=a.rounds,
               profile=a.profile)


def cmd_deliveries(a) -> None:
    """Email and SMS: their cost to a 100k low-credit scan, one process's send rate."""
    from . import deliveries

    if not a.no_scan:
        deliveries.scan_cost(_sizes(a.wallets)[0], repeats=a.repeats)
    deliveries.throughput(a.sends, concurrency=a.concurrency)


def cmd_workers(a) -> None:
    """One low-credit scan shared by 1, 2, ... worker processes (one slot each, as hosts)."""
    from . import workers

    workers.run(a.db, _sizes(a.wallets), [int(n) for n in a.workers.split(",")],
                repeats=a.repeats, chunk_size=a.chunk_size, timeout=a.timeout,
                warmup=not a.no_warmup, patience=a.patience)


def cmd_pages(a) -> None:
    """Wallet list pages at a size."""
    from . import pages

    pages.run(_sizes(a.wallets)[0], repeats=a.repeats)


def cmd_all(a) -> None:
    """Everything at the issue's sizes (about an hour and a half on two loaded cores)."""
    from . import bounds, deliveries, fanout, latency, pages, scans

    emit({"bench": "machine", **machine(), **load()})
    scans.run([10_000, 100_000, 1_000_000], big_repeats=a.big_repeats, sql=True)
    scans.run_publish([10_000, 100_000, 1_000_000], repeats=3)
    scans.run_publish([100_000, 1_000_000], repeats=3, cli=True)
    bounds.run(1_000_000)
    deliveries.run(100_000)
    pages.run(1_000_000, repeats=200)
    latency.run([10, 20, 30, 50, 200], duration=a.duration)
    fanout.run([500, 1000, 2000, 5000], server="werkzeug")
    fanout.run([500, 1000, 2000, 5000, 10_000], server="gevent", profile=True)


def cmd_smoke(a) -> None:
    """Every benchmark at a toy size in under a minute (what tests/test_bench_smoke.py runs)."""
    from . import smoke

    smoke.run(gevent=a.gevent)


def cmd_bounds(a) -> None:
    """Floors: reading every wallet row, writing the notifications in one executemany."""
    from . import bounds

    bounds.run(_sizes(a.wallets)[0])


def cmd_writers(a) -> None:
    """SQLite write latency under contention, with and without the writer queue."""
    from . import writers

    writers.run(repeats=a.repeats, seconds=a.seconds)


def cmd_report(a) -> None:
    """Markdown tables from bench/out/results.jsonl."""
    from . import report

    report.run()


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan", help=cmd_scan.__doc__)
    s.add_argument("--sizes", default="10k,100k,1m")
    s.add_argument("--scans", default="low_credit,critical_credit,high_usage")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--big-repeats", type=int, help="repeats at 1M (default: --repeats)")
    s.add_argument("--baseline-upto", type=int, default=100_000)
    s.add_argument("--usage-baseline-upto", type=int, default=10_000,
                   help="the high-usage baseline makes one query per meter: ~11 min at 100k")
    s.add_argument("--baseline-repeats", type=int, default=3)
    s.add_argument("--sql", action="store_true", help="time each SQL statement (first repeat)")
    s.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite",
                   help="postgresql: a copy of the SQLite database in the bench cluster")
    s.add_argument("--publish", action="store_true",
                   help="instead: the low-credit scan publishing every chunk (worker)")
    s.add_argument("--cli", action="store_true",
                   help="with --publish: `run.py scan` (a recorded run) after its start-up")
    s = sub.add_parser("latency", help=cmd_latency.__doc__)
    s.add_argument("--rates", default="10,50,200")
    s.add_argument("--duration", type=float, default=60.0)
    s.add_argument("--wallets", type=int, default=2000)
    s.add_argument("--residents", type=int, default=50)
    s.add_argument("--server", choices=["werkzeug", "gevent"], default="werkzeug")
    s = sub.add_parser("realtime", help=cmd_realtime.__doc__)
    s.add_argument("--topups", type=int, default=500)
    s.add_argument("--wallets", type=int, default=2000)
    s = sub.add_parser("cli", help=cmd_cli.__doc__)
    s.add_argument("--repeats", type=int, default=20)
    s.add_argument("--warmups", type=int, default=3)
    s.add_argument("--scan", default="check_low_credit_wallets")
    s.add_argument("--wallets", type=int, default=200)
    s = sub.add_parser("fanout", help=cmd_fanout.__doc__)
    s.add_argument("--clients", default="500,1000,2000,5000")
    s.add_argument("--server", choices=["werkzeug", "gevent"], default="werkzeug")
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--profile", action="store_true",
                   help="sample the web and worker with py-spy; say where their time went")
    s = sub.add_parser("workers", help=cmd_workers.__doc__)
    s.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    s.add_argument("--wallets", default="1m")
    s.add_argument("--workers", default="1,2", help="worker process counts, e.g. 1,2")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--chunk-size", type=int, help="SCAN_CHUNK_SIZE (default: the app's, 20,000)")
    s.add_argument("--timeout", type=float, default=3600.0, help="seconds one run may take")
    s.add_argument("--no-warmup", action="store_true", help="skip the untimed first run")
    s.add_argument("--patience", type=float, default=1800.0,
                   help="SQLite: seconds to wait while another process has the file open")
    s = sub.add_parser("deliveries", help=cmd_deliveries.__doc__)
    s.add_argument("--wallets", default="100k")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--sends", type=int, default=5000, help="emails and SMS to send, each")
    s.add_argument("--concurrency", type=int, default=8)
    s.add_argument("--no-scan", action="store_true", help="only the send rate")
    s = sub.add_parser("pages", help=cmd_pages.__doc__)
    s.add_argument("--wallets", default="1m")
    s.add_argument("--repeats", type=int, default=200)
    s = sub.add_parser("all", help=cmd_all.__doc__)
    s.add_argument("--duration", type=float, default=60.0)
    s.add_argument("--big-repeats", type=int, default=3)
    sub.add_parser("report", help=cmd_report.__doc__)
    s = sub.add_parser("writers", help=cmd_writers.__doc__)
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--seconds", type=float, default=10.0)
    s = sub.add_parser("bounds", help=cmd_bounds.__doc__)
    s.add_argument("--wallets", default="1m")
    s = sub.add_parser("smoke", help=cmd_smoke.__doc__)
    s.add_argument("--gevent", action="store_true", help="also fan out through gunicorn gevent")
    return p


COMMANDS = {"cli": cmd_cli, "realtime": cmd_realtime, "deliveries": cmd_deliveries,
            "scan": cmd_scan,
            "latency": cmd_latency, "fanout": cmd_fanout,
            "pages": cmd_pages, "workers": cmd_workers, "writers": cmd_writers, "all": cmd_all,
            "smoke": cmd_smoke, "report": cmd_report, "bounds": cmd_bounds}


def main(argv=None) -> None:
    """Parse and run."""
    args = parser().parse_args(argv)
    COMMANDS[args.command](args)


if __name__ == "__main__":
    main()
