"""Markdown tables from bench/out/results.jsonl (the latest line of each measurement wins):
`python -m bench report` prints what bench/RESULTS.md's tables are made from."""
from __future__ import annotations

import json

from .common import OUT


def latest(lines: list[dict]) -> dict:
    """The last record of each (bench, what, size, server) key."""
    out = {}
    for r in lines:
        if r.get("smoke") or (r["bench"] == "scan" and r["wallets"] < 1000):
            continue  # toy sizes (smoke runs made before they were flagged)
        key = (r["bench"], r.get("scan") or r.get("page") or r.get("rate"),
               r.get("wallets") or r.get("clients"), r.get("server") if r["bench"] != "pages"
               else None)
        out[key] = r
    return out


def _f(value, digits: int = 2) -> str:
    """A number for a table cell."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def scan_table(rows) -> list[str]:
    """Scans beside the baseline."""
    out = [("| scan | wallets | seconds (median) | runs | CPU s | µs/wallet | notifications "
            "| peak MB | baseline s | speed-up | load1 |"), "|" + "---|" * 11]
    for r in sorted(rows, key=lambda r: (r["scan"], r["wallets"])):
        out.append(f"| {r['scan']} | {r['wallets']:,} | {_f(r['seconds'], 3)} | "
                   f"{', '.join(_f(x, 2) for x in r['runs'])} | {_f(r.get('cpu_seconds'))} | "
                   f"{_f(r['us_per_wallet'])} | "
                   f"{r['notifications']:,} | {_f(r['peak_mb'], 0)} | "
                   f"{_f(r.get('baseline_seconds'), 1)} | "
                   f"{_f(r.get('speedup'), 1) + '×' if r.get('speedup') else '—'} | "
                   f"{', '.join(_f(x, 1) for x in r['load1'])} |")
    return out


def latency_table(rows) -> list[str]:
    """Top-up → notification latency per rate."""
    out = [("| rate /s | top-ups | p50 ms | p95 ms | p99 ms | max ms | lost | HTTP p50 / p99 ms "
            "| load1 before → after |"), "|" + "---|" * 9]
    for r in sorted(rows, key=lambda r: r["rate"]):
        out.append(f"| {r['rate']:g} | {r['created']:,} | {_f(r['p50_ms'], 1)} | "
                   f"{_f(r['p95_ms'], 1)} | {_f(r['p99_ms'], 1)} | {_f(r['max_ms'], 1)} | "
                   f"{r['lost']} | {_f(r['http_p50_ms'], 1)} / {_f(r['http_p99_ms'], 1)} | "
                   f"{r['load_before']['load1']} → {r['load_after']['load1']} |")
    return out


def fanout_table(rows) -> list[str]:
    """Fan-out per server and client count."""
    out = [("| server | clients | connected | p50 ms | p99 ms | last ms | lost (worst round) "
            "| rounds | load1 |"), "|" + "---|" * 9]
    for r in sorted(rows, key=lambda r: (r["server"], r["clients"])):
        out.append(f"| {r['server']} | {r['clients']:,} | {r['connected']:,} | "
                   f"{_f(r['p50_ms'], 0)} | {_f(r['p99_ms'], 0)} | {_f(r['last_ms'], 0)} | "
                   f"{r['lost']} | {r['rounds']} | {r['load_before']['load1']} |")
    return out


def pages_table(rows) -> list[str]:
    """Wallet pages: server time in-process and over HTTP, API and HTML."""
    out = [("| page | API in-process p50 / p95 ms | API HTTP p50 / p95 ms | HTML in-process "
            "p50 / p95 ms | HTML HTTP p50 / p95 ms |"), "|" + "---|" * 5]

    def cell(d):
        """p50 / p95 of one measurement, or a dash."""
        return f"{_f(d['p50_ms'], 1)} / {_f(d['p95_ms'], 1)}" if d else "—"

    for r in rows:
        s, h = r["server"], r["http"]
        out.append(f"| {r['page']} | {cell(s.get('api'))} | {cell(h.get('api'))} | "
                   f"{cell(s.get('html'))} | {cell(h.get('html'))} |")
    return out


def run() -> None:
    """Print every table."""
    path = OUT / "results.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    rows = latest(lines)
    by = {}
    for (bench, *_), r in rows.items():
        by.setdefault(bench, []).append(r)
    for title, fn, key in (("Scans", scan_table, "scan"), ("Latency", latency_table, "latency"),
                           ("Fan-out", fanout_table, "fanout"), ("Pages", pages_table, "pages")):
        if by.get(key):
            print(f"\n### {title}\n")
            print("\n".join(fn(by[key])))
    for r in by.get("scan_publish", []):
        print(f"\nscan_publish {r['wallets']:,}: {r['seconds']} s total, "
              f"{r['publish_seconds']} s publishing {r['notifications']:,} notifications")
