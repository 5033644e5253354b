"""The composer seam: turn retrieved chunks into answer text with ``[n]`` citations."""

from __future__ import annotations

from typing import Protocol

from bot.answer.retriever import RetrievedChunk
from bot.models import Citation


class Composer(Protocol):
    name: str

    def compose(self, question: str, chunks: list[RetrievedChunk], citations: list[Citation]) -> str:
        """Answer ``question`` from ``chunks``; cite with the numbers of ``citations`` (by doc id).

        Raises:
            bot.errors.ComposerError: the composer could not produce a grounded answer.
        """
        ...
