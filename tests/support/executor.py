"""An executor the tests can wait on, so that "nothing happened" is checked after everything ran."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class DrainableExecutor(ThreadPoolExecutor):
    """A thread pool that counts what it was given and can be drained.

    Bolt runs every ack and lazy listener on its ``listener_executor``, and submits them all while
    it dispatches the request, before the response goes back. So once a request's HTTP response is
    back, :meth:`drain` returns only when every listener it started has finished: a test asserting
    that nothing was posted cannot pass just because a listener was slow to run.
    """

    def __init__(self, max_workers: int = 5) -> None:  # Bolt's own default pool size
        super().__init__(max_workers=max_workers, thread_name_prefix="bolt-listener")
        self.submitted = 0
        self._pending: set[Future[Any]] = set()
        self._cond = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._cond:
            self.submitted += 1
            self._pending.add(future)
        future.add_done_callback(self._done)  # runs at once if it is done already
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._cond:
            self._pending.discard(future)
            self._cond.notify_all()

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until nothing submitted is still queued or running; fail the test after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self._pending)} listener task(s) still running after {timeout_s} s")
                self._cond.wait(left)
