"""Benchmarks for Quantify Notify: `python -m bench {scan,latency,fanout,pages,all,smoke}`.

Each benchmark prints one JSON line per measurement on stdout (and appends it to
bench/out/results.jsonl); bench/RESULTS.md holds the figures, the machine and the commands.
Databases seeded for the benchmarks live under bench/out/ (gitignored) and are reused.
"""
