"""A bounded two-stage pipeline: a connector fetches ahead while the indexer embeds.

Without it a sync alternates: the connector fetches a page (HTTP, parsing), then the indexer
embeds a batch (the model, or an embeddings server), and each waits for the other. With
:func:`prefetch` the connector's generator runs in its own thread, at most ``size`` events ahead
of the indexer: HTTP never waits on the model and the model never waits on HTTP, and memory stays
bounded (a slow model makes the fetcher wait, it never makes a source pile up in memory).

Both sides release the GIL where it matters (sockets; ONNX Runtime; an embeddings server's
requests), so the two stages do overlap in one Python process. The generator is only ever
touched by its thread: its items, its return value (the connector's next checkpoint) and its
exception arrive in the consumer in order, as if it had been iterated directly. If the consumer
stops early (an indexing error), the generator is closed in its own thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Events a connector may run ahead of the indexer by default.
DEFAULT_AHEAD = 256
_POLL_S = 0.1


class _Done:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Generator[T, None, R], *, size: int = DEFAULT_AHEAD, name: str = "prefetch") -> Generator[T, None, R]:
    """Iterate ``source`` in a thread, up to ``size`` items ahead; same items, return value and errors."""
    if size < 1:
        raise ValueError("size must be at least 1")
    items: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            while True:
                try:
                    item = next(source)
                except StopIteration as done:
                    put(_Done(done.value))
                    return
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            if stop.is_set():
                source.close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                return item.value  # type: ignore[return-value]
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
