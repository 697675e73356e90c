"""`python run.py all`: Redis if needed, migrations, demo data, local email and SMS sinks in
development, then web, worker and beat."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import redis_server

CHILDREN = ("web", "worker", "beat")
OUTBOX = Path(__file__).resolve().parents[2] / "instance" / "outbox"


def ensure_sinks(config) -> subprocess.Popen | None:
    """Development without EMAIL_URL / SMS_URL: start the local SMTP server and SMS sink
    (dashboard/cli/sinks.py) and point the unset channels at them, so every email and SMS
    lands in the Outbox page. Production and configured channels start nothing."""
    if config.ENV_NAME != "development" or (os.environ.get("EMAIL_URL")
                                            and os.environ.get("SMS_URL")):
        return None
    from . import sinks

    smtp_port, sms_port = redis_server.free_port(), redis_server.free_port()
    folder = os.environ.setdefault("OUTBOX_DIR", str(OUTBOX))
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli.sinks", "--outbox", folder,
                             "--smtp-port", str(smtp_port), "--sms-port", str(sms_port)])
    if not redis_server.wait_port("127.0.0.1", smtp_port) or \
            not redis_server.wait_port("127.0.0.1", sms_port):
        proc.kill()
        raise RuntimeError("the local SMTP server and SMS sink did not start")
    os.environ.setdefault("EMAIL_URL", sinks.email_url(smtp_port))
    os.environ.setdefault("SMS_URL", sinks.sms_url(sms_port))
    print(f"Email and SMS go to local sinks (the Outbox page); {folder}", flush=True)
    return proc


def ensure_redis() -> subprocess.Popen | None:
    """Use REDIS_URL if set, else localhost:6379 if it answers, else start a private Redis."""
    if os.environ.get("REDIS_URL"):
        return None
    if redis_server.answers("127.0.0.1", 6379):
        os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        return None
    port = 6379
    proc = redis_server.start(port)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    print(f"Started a private Redis on 127.0.0.1:{port} (data is not kept).", flush=True)
    return proc


def seed_if_empty(config) -> None:
    """Demo data on first start (development only: never in production, whatever else the
    configuration says, since the demo logins have public passwords)."""
    from sqlalchemy import func, select

    from dashboard.db import Session, init_engine
    from dashboard.models import User

    from ..services.demo.seed import seed

    if not config.SEED_DEMO_DATA or config.ENV_NAME == "production":
        return
    init_engine(config.DATABASE_URL)
    if Session.scalar(select(func.count()).select_from(User)):
        return
    print("First start: creating demo data…", flush=True)
    result = seed(Session(), wallets=int(os.environ.get("DEMO_WALLETS", "2000")))
    Session.commit()
    Session.remove()
    print(f"  {result.wallets} wallets on {result.estates} estates.", flush=True)
    first_scans(config)


#: Run once on the demo data, so the first look shows alerts (with their run-out times), the
#: silent meters and the morning digest without waiting for the schedule.
FIRST_SCANS = ("check_critical_credit_wallets", "check_low_credit_wallets",
               "check_silent_meters", "send_operator_digests")


def first_scans(config) -> None:
    """Run FIRST_SCANS in this process, as `run.py scan` does (their runs are in the
    history, triggered `cli`)."""
    from .scan import run_cli_scan

    for name in FIRST_SCANS:
        run = run_cli_scan(config, name)
        print(f"  {name}: {run['result']['notified']:,} notified.", flush=True)


def banner(config) -> None:
    """Where to go and how to sign in."""
    port = os.environ.get("PORT", "5000")
    print(f"\nQuantify Notify is starting on http://127.0.0.1:{port}", flush=True)
    if config.SEED_DEMO_DATA and config.ENV_NAME != "production":
        print("  operator: operator@example.com / demo-operator\n"
              "  resident: resident@example.com / demo-resident\n"
              "  viewer:   viewer@example.com / demo-viewer\nPress Ctrl-C to stop.\n", flush=True)


def run_all(config, migrate) -> None:
    """Start everything; stop everything on Ctrl-C/SIGTERM or when a child dies.

    The children inherit REDIS_URL from ensure_redis through the environment.
    """
    redis_proc = ensure_redis()
    migrate()
    seed_if_empty(config)
    sinks_proc = ensure_sinks(config)
    banner(config)
    children = {name: subprocess.Popen([sys.executable, "run.py", name]) for name in CHILDREN}
    if sinks_proc is not None:
        children["sinks"] = sinks_proc
    stopping = False

    def stop(signum, _frame):
        """Forward the stop to every child."""
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(f"\n{name} exited with code {proc.returncode}; stopping the rest.",
                          file=sys.stderr, flush=True)
                    stopping, code = True, 1
                    break
            time.sleep(0.5)
    finally:
        shutdown(list(children.values()) + ([redis_proc] if redis_proc else []))
    sys.exit(code)


def shutdown(procs: list[subprocess.Popen], grace: float = 10) -> None:
    """SIGTERM every process, then SIGKILL whatever is left after `grace` seconds."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("Stopped.", flush=True)
