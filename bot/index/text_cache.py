"""Values that depend on a text alone, kept for the texts used last: one bounded, thread-safe LRU.

The reader works on the same passages, sections and table labels question after question: their
term sets (:meth:`bot.index.sparse.SparseEncoder.term_set`), static meaning vectors
(:class:`bot.index.word_vectors.WordVectors`) and model embeddings (the lookups' headings) are each
remembered here rather than computed again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class TextCache(Generic[V]):
    """``get_many(texts, make)``: each text's value, from the cache or made by ``make`` (called once,
    with the distinct missing texts in order); at most ``max_entries`` texts are kept, the least
    recently used dropped first. Safe across threads (``make`` runs outside the lock)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._values: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, texts: Sequence[str], make: Callable[[list[str]], Sequence[V]]) -> list[V]:
        with self._lock:
            found = {t: self._values[t] for t in texts if t in self._values}
            for t in found:
                self._values.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            made = make(missing)
            found.update(zip(missing, made, strict=True))
            with self._lock:
                for t in missing:
                    self._values[t] = found[t]
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
        return [found[t] for t in texts]

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        """The kept texts, least recently used first."""
        with self._lock:
            return iter(list(self._values))
