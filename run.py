"""Quantify Notify command line. Every command migrates the database first.

    python run.py [all]         web + worker + beat (+ a private Redis if none), demo data
    python run.py web           the web app with Socket.IO (development server)
    python run.py worker [--queues Q,...]  a Celery worker (queues notifications,deliveries)
    python run.py beat          the Celery beat scheduler (RedBeat)
    python run.py seed [--wallets N] [--seed S] [--reset]
    python run.py scan NAME     run a scan now and print its result as JSON
    python run.py create-user --email E --role R [--password P] [--person-id N]
    python run.py user disable|enable|revoke-tokens|set-password --email E [--password P]
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time

from dashboard.services.errors import ServiceError

# Each command imports what it needs when it runs (the web, Celery, gevent, Alembic...), so
# `python run.py scan NAME` starts without loading the web app or the worker.


def _config():
    """The configuration class for APP_ENV (production refuses a development secret here)."""
    from config import get_config

    return get_config()


def migrate() -> None:
    """Bring the database schema up to date (a quick look when it already is)."""
    from dashboard.migrate import upgrade

    upgrade(_config().DATABASE_URL)


def cmd_web(args) -> None:
    """Serve the web app and Socket.IO on PORT (default 5000)."""
    from dashboard import create_app
    from dashboard.extensions import socketio

    app = create_app()
    port = int(os.environ.get("PORT", "5000"))
    host = os.environ.get("HOST", "127.0.0.1")
    # The development server; production uses gunicorn -k gevent (deploy/gunicorn.conf.py).
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False,
                 log_output=False)


def cmd_worker(args) -> None:
    """A Celery worker on the queues of --queues (default: notifications and deliveries)."""
    from worker.celery_app import DEFAULT_QUEUES, celery

    queues = getattr(args, "queues", None) or ",".join(DEFAULT_QUEUES)
    concurrency = os.environ.get("WORKER_CONCURRENCY", "2")
    celery.worker_main(["worker", "-Q", queues, "-l", "INFO", "-c", concurrency,
                        "--without-gossip", "--without-mingle"])


def cmd_beat(args) -> None:
    """The beat scheduler (RedBeat holds a lock in Redis: one beat fires each entry)."""
    from worker.celery_app import celery

    celery.start(["beat", "-l", "INFO", "-S", "worker.beat:ResilientRedBeatScheduler"])


def refuse_demo_data_in_production() -> None:
    """`seed` makes the demo logins (known passwords): never on a production database."""
    if _config().ENV_NAME == "production":
        raise RuntimeError("seed creates demo data and the demo logins, whose passwords are "
                           "public; it refuses to run when APP_ENV=production")


def cmd_seed(args) -> None:
    """Create demo data (never in production)."""
    from dashboard.db import Session, init_engine
    from dashboard.services.demo.seed import seed

    refuse_demo_data_in_production()
    init_engine(_config().DATABASE_URL)
    started = time.perf_counter()
    result = seed(Session(), wallets=args.wallets, seed=args.seed, reset_first=args.reset)
    Session.commit()
    print(json.dumps({**result.__dict__, "seconds": round(time.perf_counter() - started, 2)}))


def cmd_scan(args) -> None:
    """Run one scan in this process, recorded as a `cli` task run; print the result."""
    from dashboard.cli.scan import run_cli_scan

    print(json.dumps(run_cli_scan(_config(), args.name)))


def cmd_create_user(args) -> None:
    """Create a user (the password is asked for when not given)."""
    from dashboard.cli.users import create_user

    password = args.password or getpass.getpass("Password: ")
    user = create_user(_config(), args.email, args.role, password, args.person_id)
    print(json.dumps(user))


def cmd_user(args) -> None:
    """An action on one account; set-password asks for the password when not given."""
    from dashboard.cli.users import user_action

    password = args.password
    if args.action == "set-password" and not password:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise RuntimeError("the two passwords differ")
    print(json.dumps(user_action(_config(), args.action, args.email, password)))


def cmd_all(args) -> None:
    """Everything at once for development."""
    from dashboard.cli import supervisor

    supervisor.run_all(_config(), migrate)


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    from dashboard.services.scans import SCANS

    p = argparse.ArgumentParser(prog="run.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command")
    sub.add_parser("all", help="web, worker and beat together (the default)")
    sub.add_parser("web", help="the web app")
    s = sub.add_parser("worker", help="a Celery worker")
    s.add_argument("--queues", help="comma-separated queues to consume "
                                    "(default: notifications,deliveries)")
    sub.add_parser("beat", help="the Celery beat scheduler")
    s = sub.add_parser("seed", help="create demo data")
    s.add_argument("--wallets", type=int, default=2000)
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--reset", action="store_true", help="delete all data first")
    s = sub.add_parser("scan", help="run a scan now and print its result")
    s.add_argument("name", choices=list(SCANS))
    s = sub.add_parser("create-user", help="create a user")
    s.add_argument("--email", required=True)
    s.add_argument("--role", required=True, choices=["operator", "viewer", "resident"])
    s.add_argument("--password")
    s.add_argument("--person-id", type=int)
    s = sub.add_parser("user", help="disable, enable, revoke the tokens of, or set the "
                                    "password of a user")
    s.add_argument("action", choices=["disable", "enable", "revoke-tokens", "set-password"])
    s.add_argument("--email", required=True)
    s.add_argument("--password", help="set-password: the new password (asked for if not given)")
    return p


COMMANDS = {"all": cmd_all, "web": cmd_web, "worker": cmd_worker, "beat": cmd_beat,
            "seed": cmd_seed, "scan": cmd_scan, "create-user": cmd_create_user,
            "user": cmd_user}


def main(argv: list[str] | None = None) -> None:
    """Parse, migrate, run."""
    args = parser().parse_args(argv)
    command = args.command or "all"
    try:
        if command == "seed":  # before migrating: production is left exactly as it was
            refuse_demo_data_in_production()
        if command != "all":  # `all` migrates after it has Redis (and before the children)
            migrate()
        COMMANDS[command](args)
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
    except ServiceError as exc:
        # A refusal (e.g. `scan` while the same scan is running) is a message, not a traceback.
        sys.exit(f"error: {exc.message}")


if __name__ == "__main__":
    main()
