"""Shared plumbing of the benchmark scripts: quiet logging, stderr progress, one JSON line out.

Every benchmark prints exactly one JSON line on stdout (its result) and everything else on
stderr, so ``python benchmarks/X.py | tail -1 | jq`` always works.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The project root (benchmarks/ lives directly under it).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # run as `python benchmarks/X.py` without an install
    sys.path.insert(0, str(PROJECT_ROOT))


def setup_logging(level: str = "WARNING") -> None:
    """Route the product's structlog output to stderr (never stdout) and keep it terse."""
    from bot.logging import configure_logging

    configure_logging(level=level, fmt="json")


def note(message: str) -> None:
    """Progress for the human watching: stderr only."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["s"]`` holds the elapsed wall-clock seconds."""
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - start


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), ``q`` in 0..100."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else 0.0


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc), else the peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}


def emit(result: dict[str, Any]) -> None:
    """The benchmark's one line of stdout."""
    sys.stdout.write(json.dumps(result, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
