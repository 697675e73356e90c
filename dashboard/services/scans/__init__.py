"""Scans: the catalogue of scans, the credit and usage passes, and the life of a scan run.

- `catalogue`: every scan's name, kind, table walked, schedule, description and pass, in one
  table (SCANS, by name), with beat's housekeeping entries beside it.
- `credit_alerts`, `high_usage`: the set-based passes over a chunk of wallets or meters.
- `passes`: a scan split into id chunks (`plan`, `scan_chunk`), or run whole (`run_scan`).
- `runs`: the task-run state machine (queued → running → succeeded / failed, retrying),
  chunk accounting and reaping; `chunks`: one chunk of a run, exactly once, then published;
  `history`: the filtered list of runs; `control`: describing scans and Run now.
"""
from .catalogue import SCANS, Scan, beat_schedule, for_kind
from .control import ScanInfo, check_name, describe, request_run
from .passes import DEFAULT_CHUNK, ScanResult, id_range, plan, run_scan, scan_chunk

__all__ = ["DEFAULT_CHUNK", "SCANS", "Scan", "ScanInfo", "ScanResult", "beat_schedule",
           "check_name", "describe", "for_kind", "id_range", "plan", "request_run", "run_scan",
           "scan_chunk"]
