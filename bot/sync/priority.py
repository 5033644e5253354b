"""Background work yields the CPU to answers: the scheduler's threads run at a lower CPU priority.

In the embedded default one process answers questions and runs the syncs, and a sync's
embedding takes every core it is given: at 100k chunks, answers timed while a sync wrote into the
same store had p95 126-147 ms against 58-66 ms quiet. With the sync's threads at nice 10
(``HELPDESK_SYNC_NICE``) the kernel gives an answer's threads the cores first, and the same
answers had p95 53-56 ms. A sync loses nothing while nobody asks (nice only weighs threads that
compete), and gets about a tenth of the CPU while answers run back to back.

On Linux nice is a property of each thread, inherited by the threads and processes it starts:
the model's worker threads, created with the session, and the sync's preparation workers. Elsewhere
it would apply to the whole process (or to another process with that id), so nothing is changed there.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


def lower_thread_priority(nice: int) -> bool:
    """Raise the calling thread's nice value to at least ``nice`` (0-19): its CPU time then goes to
    normal threads first. Returns whether the thread runs at that niceness now; False where it
    cannot (not Linux, ``nice`` 0, or the system refused)."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, min(nice, 19))
        return True
    except OSError as exc:
        log.warning("thread_priority_unchanged", nice=nice, error=type(exc).__name__)
        return False


def built_at_priority(nice: int, build: Callable[[], T]) -> T:
    """``build()`` run in a short-lived thread at ``nice``, so the threads it starts (a model
    session's workers) inherit that priority; its exception is raised here."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return build()
    out: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        lower_thread_priority(nice)
        try:
            out.append(build())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=run, name="build-at-priority", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return out[0]
