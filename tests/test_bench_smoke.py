"""The benchmarks still run: `python -m bench smoke` at a toy size (no timing is asserted)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.stack


def test_every_benchmark_runs_at_a_toy_size(tmp_path):
    """Scans (beside the baseline), latency, fan-out, pages and deliveries each run once,
    tiny."""
    env = {**os.environ, "BENCH_OUT": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bench", "smoke"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    kinds = {line["bench"] for line in lines}
    assert kinds == {"scan", "scan_publish", "scan_cli", "latency", "fanout", "pages",
                     "deliveries_scan", "deliveries", "cli"}, kinds

    scans = {line["scan"]: line for line in lines if line["bench"] == "scan"}
    assert set(scans) == {"low_credit", "critical_credit", "high_usage"}
    for line in scans.values():
        # The set-based scan and the old per-wallet loop find the same wallets.
        assert line["notifications"] == line["baseline_notifications"] > 0, line
        assert line["peak_mb"] > 0

    # The scan as the worker publishes it, and `run.py scan` (a recorded run) after start-up.
    for kind in ("scan_publish", "scan_cli"):
        line = next(line for line in lines if line["bench"] == kind)
        assert line["notifications"] == scans["low_credit"]["notifications"], line

    latency = next(line for line in lines if line["bench"] == "latency")
    assert latency["created"] > 0 and latency["received"] > 0, latency
    fanout = next(line for line in lines if line["bench"] == "fanout")
    assert fanout["connected"] == fanout["clients"] and fanout["received"] > 0, fanout
    scan_cost = next(line for line in lines if line["bench"] == "deliveries_scan")
    assert scan_cost["outside_rows_on"] == 2 * scan_cost["notifications"] > 0, scan_cost
    assert scan_cost["outside_rows_off"] == 0, scan_cost
    sent = {line["channel"]: line["sent"] for line in lines if line["bench"] == "deliveries"}
    assert sent == {"email": 20, "sms": 20}, sent
    cli = next(line for line in lines if line["bench"] == "cli")
    assert cli["startup_s"]["min"] > 0 and cli["scan_s"]["min"] >= 0, cli
    assert {line["page"] for line in lines if line["bench"] == "pages"} >= {
        "first", "filtered_low", "deep"}
