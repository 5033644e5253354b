"""The bounded fetch-ahead pipeline: same items, checkpoint and errors as direct iteration, bounded, stoppable."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import pytest

from bot.sync.pipeline import prefetch


def numbers(n: int, log: list[int] | None = None, *, fail_at: int | None = None) -> Generator[int, None, str]:
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"broken at {i}")
        if log is not None:
            log.append(i)
        yield i
    return f"checkpoint-{n}"


def drain(gen: Generator[int, None, str]) -> tuple[list[int], str]:
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            return out, stop.value


def test_items_and_return_value_arrive_as_if_iterated_directly() -> None:
    assert drain(prefetch(numbers(1000), size=7)) == drain(numbers(1000))
    assert drain(prefetch(numbers(0), size=1)) == ([], "checkpoint-0")


def test_an_error_arrives_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="broken at 5"):
        for item in prefetch(numbers(10, fail_at=5), size=3):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_the_producer_runs_at_most_size_ahead() -> None:
    produced: list[int] = []
    gen = prefetch(numbers(100, produced), size=4)
    assert next(gen) == 0
    time.sleep(0.3)  # give the fetcher every chance to run ahead
    # One handed out, four queued, and at most one more fetched and waiting to be queued.
    assert len(produced) <= 1 + 4 + 1
    gen.close()


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Generator[int, None, None]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = {t.name for t in threading.enumerate()}
    gen = prefetch(source(), size=2, name="fetch-test-early")
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert closed.wait(5)
    assert "fetch-test-early" not in {t.name for t in threading.enumerate()} - before


def test_fetching_goes_on_while_the_consumer_works() -> None:
    # The consumer holds item 0 and does not ask for more; the next fetch still happens meanwhile.
    fetched_second = threading.Event()

    def source() -> Generator[int, None, None]:
        yield 0
        fetched_second.set()
        yield 1

    gen = prefetch(source(), size=2)
    assert next(gen) == 0
    assert fetched_second.wait(5), "the fetcher waited for the consumer"
    assert list(gen) == [1]
