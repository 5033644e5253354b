"""The confidence gate: abstain with a clear "I don't know" instead of guessing.

Confidence is the best cosine similarity between the question and the top retrieved chunks,
on the dense model's scale (RRF scores are ranks, not evidence). Answerable help-center
questions typically reach 0.5-0.8 on all-MiniLM-L6-v2; off-topic questions stay under ~0.35.
"""

from __future__ import annotations

from bot.answer.retriever import Retrieval

#: Chunks the gate looks at (the ones an answer would be built from).
GATE_TOP_CHUNKS = 5


def confidence(retrieval: Retrieval, *, top: int = GATE_TOP_CHUNKS) -> float:
    return max((c.similarity for c in retrieval.chunks[:top]), default=0.0)


def should_abstain(retrieval: Retrieval, min_confidence: float) -> bool:
    return not retrieval.chunks or confidence(retrieval) < min_confidence
