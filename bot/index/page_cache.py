"""Read an embedded store's search files into the OS page cache after a restart, in the background.

The embedded store keeps its vectors, its int8 copy and its sparse index memory-mapped
(``HELPDESK_QDRANT_ON_DISK``): a restart opens a million chunks in about a second, and then the
first questions each read the pages they touch from disk, one page fault at a time (at 1M chunks
after a reboot, the first pass over 45 questions: p50 98 ms, p95 194 ms, against 44 / 49 ms once
the pages are cached). Reading those files once, sequentially, costs a few seconds of disk reads
and puts the pages where the faults find them.

:func:`search_files` lists, hottest first, the files a search touches (HNSW links and the payload
indexes it filters on, the int8 copy, the sparse index, then the original vectors that rescoring
reads); the write-ahead log, the stored payloads and sparse vectors are left to be read on demand.
:class:`PageCacheWarmer` reads them in a daemon thread, within a budget of half the memory the
machine (or the process's memory cgroup) has available, and stops when asked. The reads go
through ``read(2)``, not a mapping: the pages land in the kernel's cache, shared with the store's
mappings, and are not charged to this process's resident memory; the kernel drops them again
under memory pressure, like any cached file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

#: Bytes per read call.
READ_BLOCK = 1 << 20
#: Of the memory available when warming starts, at most this share is filled.
BUDGET_SHARE = 0.5


def _tier(relative: Path) -> int | None:
    """How soon a search needs the file at ``relative`` (inside a shard folder): 0 first; None never
    by a search (read on demand)."""
    parts = relative.parts
    if len(parts) < 3 or parts[0] != "segments":
        return None  # the write-ahead log, the shard's configuration, segments being built
    name, top = relative.name, parts[2]  # segments/<segment>/<part>/...
    if top == "vector_index-dense" or name.startswith("id_tracker"):
        return 0  # the HNSW graph; internal to external point ids for every result
    if top == "payload_index" and any(field in str(relative) for field in ("-audience-", "-kind-")):
        return 0  # the fields searches filter on
    if top.startswith("vector_storage-") and name.startswith("quantized"):
        return 1  # the int8 copy every dense search scores first
    if top == "vector_index-sparse":
        return 2  # the inverted index of the keyword search
    if top.startswith("vector_storage-") and "sparse" not in top:
        return 3  # the original vectors: rescoring and the read chunks' similarity
    return None


def search_files(root: Path) -> list[Path]:
    """The files under ``root`` (an embedded store: one folder per collection) a search reads,
    hottest first (by tier, then path, so the order is stable)."""
    found: list[tuple[int, str, Path]] = []
    if not root.is_dir():
        return []
    for shard in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in shard.rglob("*"):
            if not path.is_file():
                continue
            tier = _tier(path.relative_to(shard))
            if tier is not None:
                found.append((tier, str(path), path))
    return [p for *_, p in sorted(found)]


def memory_available() -> int | None:
    """Bytes of memory this process may still fill: the machine's ``MemAvailable``, capped by the
    headroom of its memory cgroup (v2 or v1) when it has a limit; None where neither is readable."""
    available: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    headroom = _cgroup_headroom()
    if headroom is not None:
        available = headroom if available is None else min(available, headroom)
    return available


def _cgroup_headroom() -> int | None:
    """Limit minus usage of this process's memory cgroup; None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit_file, usage_file = base / "memory.max", base / "memory.current"
        elif "memory" in controllers.split(","):  # cgroup v1
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            limit_file, usage_file = base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"
        else:
            continue
        try:
            limit_text = limit_file.read_text().strip()
            if limit_text == "max" or int(limit_text) >= 1 << 60:
                return None  # no limit
            return max(0, int(limit_text) - int(usage_file.read_text().strip()))
        except (OSError, ValueError):
            return None
    return None


@dataclass(frozen=True)
class WarmResult:
    """What one warming read: ``bytes_read`` of ``files`` files in ``seconds``; ``budget`` the most it
    would read; ``stopped`` when it was asked to stop before the end."""

    files: int
    bytes_read: int
    budget: int
    seconds: float
    stopped: bool


def warm(files: Sequence[Path], budget: int, stop: threading.Event | None = None) -> WarmResult:
    """Read ``files`` in order, whole, until ``budget`` bytes would be exceeded or ``stop`` is set.

    A file that would not fit in what is left of the budget is skipped (a smaller, later one may
    still fit); a file that vanished or cannot be read (a segment merged away meanwhile) is skipped.
    """
    started = time.perf_counter()
    buffer = bytearray(READ_BLOCK)
    done = read = 0

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    for path in files:
        if stopping():
            break
        try:
            if read + path.stat().st_size > budget:
                continue
            with path.open("rb", buffering=0) as f:
                while not stopping() and (n := f.readinto(buffer)):
                    read += n
        except OSError:
            continue
        done += 1
    return WarmResult(files=done, bytes_read=read, budget=budget, seconds=round(time.perf_counter() - started, 3),
                      stopped=stopping())


class PageCacheWarmer:
    """Warms ``root``'s search files (:func:`search_files`) in a daemon thread: ``start()``, then
    ``wait()`` for the :class:`WarmResult` or ``stop()``. The budget is :data:`BUDGET_SHARE` of
    :func:`memory_available` when it starts."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.result: WarmResult | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PageCacheWarmer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="page-cache-warmer", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        available = memory_available()
        budget = int(available * BUDGET_SHARE) if available is not None else 0
        files = search_files(self.root)
        self.result = warm(files, budget, self._stop)
        log.info("page_cache_warmed", files=self.result.files, of=len(files), mb=round(self.result.bytes_read / 1e6, 1),
                 budget_mb=round(budget / 1e6, 1), seconds=self.result.seconds, stopped=self.result.stopped)

    def wait(self, timeout_s: float | None = None) -> WarmResult | None:
        """The result once the warming ended (None if it has not, within ``timeout_s``, or never started)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.result

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading (at the next block) and wait up to ``timeout_s`` for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
