"""Sampling a running process with py-spy (requirements-dev.txt) while a benchmark drives it,
and saying where its time went.

py-spy reads the target's stacks from outside (ptrace), so the web process runs unchanged,
gevent and all. `--idle` is left off: a greenlet hub waiting in epoll is not sampled, so the
samples are the process's busy time. The summary counts, per function, the samples in which
it was running (self) and those in which it was on the stack (inclusive), over the
collapsed stacks py-spy writes (`--format raw`).
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

RATE = 250  # samples a second


def py_spy() -> str | None:
    """The py-spy executable beside this Python (the venv's), or on PATH."""
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


@contextmanager
def recording(pid: int, out: Path):
    """Sample `pid` and its children into `out` (collapsed stacks) while the block runs."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install -r requirements-dev.txt)")
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--subprocesses", "--rate",
                             str(RATE), "--format", "raw", "--nonblocking", "--output",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def summary(path: Path, top: int = 15) -> dict:
    """{samples, self, self_by_module, inclusive}, each a list of [name, share of the
    samples], of a collapsed-stack file: the functions (and modules) taking most of the
    sampled (busy) time."""
    own, anywhere, total = Counter(), Counter(), 0
    if not path.exists():
        return {"samples": 0, "self": [], "self_by_module": [], "inclusive": []}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_name(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            anywhere[frame] += n

    def share(counter: Counter, at_most: float = 1.0) -> list:
        """The `top` commonest under `at_most` of all samples, as fractions of them."""
        shares = [[name, round(c / total, 3)] for name, c in counter.most_common()
                  if c / total <= at_most]
        return shares[:top]

    modules = Counter()
    for name, n in own.items():
        modules[name.rsplit(" (", 1)[-1].rstrip(")")] += n
    if not total:
        return {"samples": 0, "self": [], "self_by_module": [], "inclusive": []}
    # Frames on (nearly) every stack (the process, the hub, the worker loop) say nothing.
    return {"samples": total, "self": share(own), "self_by_module": share(modules),
            "inclusive": share(anywhere, at_most=0.9)}


def _name(frame: str) -> str:
    """`function (path/to/module.py:123)` → `function (module.py)`: lines merged."""
    function, _, where = frame.partition(" (")
    module = where.rsplit(":", 1)[0].rsplit("/", 1)[-1].rstrip(")")
    return f"{function} ({module})" if module else function
