"""Scans: the catalogue of scans, the credit and usage passes, and the life of a scan run.

- `catalogue`: every scan's name, schedule and description, in one table.
- `credit_alerts`, `high_usage`: the set-based passes over a chunk of wallets or meters.
- `passes`: a scan split into id chunks (`plan`, `scan_chunk`), or run whole (`run_scan`).
- `runs`: the task-run state machine (queued → running → succeeded / failed), chunk
  accounting and reaping; `history`: the filtered list of runs; `control`: Run now.
"""
from .control import ScanInfo, check_name, describe, request_run
from .passes import DEFAULT_CHUNK, SCANS, ScanResult, id_range, plan, run_scan, scan_chunk

__all__ = ["DEFAULT_CHUNK", "SCANS", "ScanInfo", "ScanResult", "check_name", "describe",
           "id_range", "plan", "request_run", "run_scan", "scan_chunk"]
