"""Background work at a lower CPU priority (bot.sync.priority): real threads, real nice values."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.serve import background_scheduler
from bot.settings import Settings
from bot.sync.priority import built_at_priority, lower_thread_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def _nice(tid: int | None = None) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid if tid is not None else threading.get_native_id())


def _in_thread(fn: Callable[[], object]) -> object:
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def _tids() -> set[int]:
    return {int(t) for t in os.listdir("/proc/self/task")}


def test_a_lowered_thread_runs_nicer_and_its_children_inherit_it() -> None:
    main_before = _nice()

    def body() -> tuple[bool, int, int]:
        lowered = lower_thread_priority(10)
        child = _in_thread(_nice)
        return lowered, _nice(), child  # type: ignore[return-value]

    # Lowered, and a thread it starts (a model's worker) inherits the niceness ...
    assert _in_thread(body) == (True, max(10, main_before), max(10, main_before))
    assert _nice() == main_before  # ... while the other threads (the answers') keep theirs


def test_nice_zero_changes_nothing_and_a_nicer_thread_is_not_raised() -> None:
    assert _in_thread(lambda: (lower_thread_priority(0), _nice())) == (False, _nice())

    def twice() -> int:
        lower_thread_priority(15)
        lower_thread_priority(10)  # never back up: that would need privileges, and is not asked for
        return _nice()

    assert _in_thread(twice) == max(15, _nice())


def test_built_at_priority_gives_what_it_builds_its_priority_and_raises_its_errors() -> None:
    started: list[int] = []

    def build() -> str:
        worker = threading.Thread(target=lambda: started.append(_nice()))
        worker.start()
        worker.join()
        return "built"

    assert built_at_priority(10, build) == "built"
    assert started == [max(10, _nice())]
    assert built_at_priority(0, lambda: _nice()) == _nice()  # 0: built in the caller's thread

    def fail() -> None:
        raise ValueError("no model")

    with pytest.raises(ValueError, match="no model"):
        built_at_priority(10, fail)


def test_the_scheduler_runs_its_jobs_at_the_configured_niceness() -> None:
    scheduler = background_scheduler(nice=7)
    seen: list[int] = []
    done = threading.Event()
    scheduler.add_job(lambda: (seen.append(_nice()), done.set()), "interval", hours=1,
                      next_run_time=datetime.now(UTC))
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.shutdown(wait=True)
    assert seen == [max(7, _nice())]


@pytest.mark.parametrize(("query_precision", "nice"), [("int8", 10), ("fp32", 0)])
def test_the_documents_model_threads_take_the_sync_priority_unless_questions_share_it(
        tmp_path: Path, query_precision: str, nice: int) -> None:
    settings = Settings(data_dir=tmp_path, embed_precision="fp32", embed_query_precision=query_precision,
                        embed_threads=2, sync_nice=10)
    before = _tids()
    with Runtime(settings) as rt:
        rt.embedder  # noqa: B018 - building it is the point
        new = _tids() - before
        assert new, "the model session started no worker thread"
        # Its worker threads: nice 10 when only syncs use it, the answers' priority when questions share it.
        assert {_nice(t) for t in new} == {max(nice, _nice())}


def test_worker_processes_a_lowered_thread_starts_inherit_its_niceness() -> None:
    # As the sync's preparation workers (bot/index/preparation.py) are started from the sync's thread.
    def body() -> int:
        lower_thread_priority(10)
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            return pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=60)

    assert _in_thread(body) == max(10, _nice())
