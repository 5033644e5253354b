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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.runtime import Runtime

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


class MemoryWatch:
    """Peak memory of this process, sampled from a separate process.

    A thread of this process cannot do it: qdrant-edge-py holds the GIL through a whole index
    build, so no Python thread here runs while the memory peaks. A small child process reads
    ``/proc/<pid>/status`` every ``interval_s`` and appends ``t rss anon file`` (KiB) lines to a
    file; :meth:`peaks` gives the maxima between two marks. ``VmHWM`` (the kernel's own peak,
    what ``peak_rss_mb`` reads) counts file-backed pages too (memory-mapped vectors and graphs
    the kernel may evict); ``RssAnon`` is the memory the process cannot give back.
    """

    SCRIPT = (
        "import sys, time\n"
        "pid, out, step = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
        "f = open(out, 'a', buffering=1)\n"
        "while True:\n"
        "    try:\n"
        "        s = dict(l.split(':', 1) for l in open(f'/proc/{pid}/status') if ':' in l)\n"
        "    except OSError:\n"
        "        break\n"
        "    k = lambda n: int(s.get(n, '0 kB').split()[0])\n"
        "    f.write(f\"{time.time():.3f} {k('VmRSS')} {k('RssAnon')} {k('RssFile')}\\n\")\n"
        "    time.sleep(step)\n"
    )

    def __init__(self, path: Path, interval_s: float = 0.2) -> None:
        import subprocess

        self.path = path
        path.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(os.getpid()), str(path), str(interval_s)])

    def mark(self) -> float:
        return time.time()

    def peaks(self, start: float, end: float | None = None) -> dict[str, float]:
        """Largest RSS / anonymous / file-backed MiB sampled between ``start`` and ``end``."""
        best = {"rss_mb": 0.0, "anon_mb": 0.0, "file_mb": 0.0}
        if not self.path.exists():
            return best
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 4:
                continue
            t = float(parts[0])
            if t < start or (end is not None and t > end):
                continue
            for key, value in zip(best, parts[1:], strict=True):
                best[key] = max(best[key], round(int(value) / 1024, 1))
        return best

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


def dir_size_mb(path: Path) -> float:
    """Bytes on disk under ``path`` (allocated blocks, so sparse files count what they use)."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return round(total / 2**20, 1)


def cpu_s() -> float:
    """CPU seconds this process used so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def sample_kb_runtime(data_dir: Path) -> Iterator[Runtime]:
    """A runtime over ``data_dir`` holding the bundled sample knowledge base, synced there the first
    time (the directory does not exist yet) and kept for the next run."""
    from bot.runtime import Runtime
    from bot.settings import Settings
    from bot.sync.runner import sync_source

    fresh = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    with Runtime(Settings(data_dir=data_dir, _env_file=None)) as rt:  # type: ignore[call-arg]
        if fresh:
            note("syncing the sample knowledge base")
            for connector in rt.connectors():
                sync_source(connector, indexer=rt.indexer, state=rt.state.ledger)
        yield rt
