"""Servers the tests start in threads: a free port, a health poll, and ``serve()`` itself."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
from apscheduler.schedulers.base import BaseScheduler

from bot.serve import background_scheduler, serve
from bot.settings import Settings


def wait_until_healthy(url: str, stop: threading.Event, errors: list[BaseException] | None = None) -> None:
    """Poll ``{url}/healthz`` until a server started in a thread answers (or report why it died)."""
    for _ in range(500):
        if errors:
            raise errors[0]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        stop.wait(0.01)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server the test starts itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``serve()`` in a thread on ``settings.http_port`` until :meth:`close`.

    ``schedulers`` holds every scheduler ``serve()`` built (through its ``scheduler_factory``);
    ``result`` its return value, ``error`` what it raised.
    """

    def __init__(self, runtime: Any, settings: Settings, **kw: Any) -> None:
        self.schedulers: list[BaseScheduler] = []
        self.stop = threading.Event()
        self.result: list[int] = []
        self.error: list[BaseException] = []
        self.url = f"http://127.0.0.1:{settings.http_port}"

        def recording_factory() -> BaseScheduler:
            scheduler = background_scheduler()
            self.schedulers.append(scheduler)
            return scheduler

        def run() -> None:
            try:
                self.result.append(serve(runtime, settings, stop=self.stop, scheduler_factory=recording_factory, **kw))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        wait_until_healthy(self.url, self.stop, self.error)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
