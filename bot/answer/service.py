"""``answer()``: the one path every surface (Slack, helpdesk, CLI, eval) goes through."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog

from bot.answer.citations import number_sources, renumber
from bot.answer.composer import Composer
from bot.answer.confidence import confidence as gate_confidence
from bot.answer.confidence import should_abstain
from bot.answer.extractive import ExtractiveComposer
from bot.answer.retriever import RetrievedChunk, Retriever
from bot.answer.safety import neutralise_answer, screen
from bot.errors import ComposerError, InputError
from bot.models import Answer, AnswerReason, Audience, Citation, Visibility

log = structlog.get_logger(__name__)

#: Chunks handed to the composer.
COMPOSE_CHUNKS = 5
#: Earlier turns of a thread used to make a follow-up question self-contained.
HISTORY_TURNS = 2


class AnswerService:
    """Retrieve, gate, compose, check.

    Args:
        retriever: hybrid retriever (enforces the audience's collections).
        composer: the configured composer; the extractive one is the fallback on failure.
        min_confidence: below this best dense similarity the service abstains.
        handoff: where to send the asker when it abstains.
    """

    def __init__(
        self,
        *,
        retriever: Retriever,
        composer: Composer | None = None,
        min_confidence: float = 0.42,
        handoff: str = "a human agent",
        max_question_chars: int = 4000,
    ) -> None:
        self.retriever = retriever
        self.extractive = ExtractiveComposer(sparse=retriever.sparse)
        self.composer: Composer = composer or self.extractive
        self.min_confidence = min_confidence
        self.handoff = handoff
        self.max_question_chars = max_question_chars

    def answer(self, question: str, audience: Audience, history: Sequence[str] = ()) -> Answer:
        """Answer ``question`` for ``audience`` with numbered citations, or abstain.

        Raises:
            InputError: the question is empty or longer than the configured maximum.
        """
        return self.answer_with_passages(question, audience, history)[0]

    def answer_with_passages(
        self, question: str, audience: Audience, history: Sequence[str] = ()
    ) -> tuple[Answer, list[RetrievedChunk]]:
        """:meth:`answer`, plus the passages it was composed from (or would have been, had it not abstained)."""
        started = time.perf_counter()
        question = (question or "").strip()
        if not question:
            raise InputError("the question is empty: ask something, e.g. 'How do I reset my password?'")
        if len(question) > self.max_question_chars:
            raise InputError(
                f"the question is {len(question):,} characters long; the limit is {self.max_question_chars:,}: "
                "shorten it to the actual question"
            )
        query = question
        if history:
            # Follow-ups ("and for Freshdesk?") need the thread's topic to retrieve well.
            context = " ".join(h.strip() for h in history[-HISTORY_TURNS:] if h.strip())
            query = f"{context[-1000:]} {question}".strip()
        retrieval = screen(self.retriever.retrieve(query, audience))  # content is data: flagged instructions cut out
        timings = dict(retrieval.timings)
        confidence = gate_confidence(retrieval)
        if should_abstain(retrieval, self.min_confidence):
            reason = AnswerReason.NOTHING_RETRIEVED if not retrieval.chunks else AnswerReason.BELOW_GATE
            if audience is Audience.CUSTOMER and self._internal_would_answer(query):
                reason = AnswerReason.ONLY_INTERNAL
            timings["total_ms"] = (time.perf_counter() - started) * 1000
            log.info("answer_abstained", audience=audience.value, confidence=round(confidence, 3), reason=reason.value)
            return _with(retrieval.chunks[:COMPOSE_CHUNKS], Answer(
                text=(
                    "I don't know: I found nothing in the knowledge base that answers this confidently. "
                    f"Please ask {self.handoff}."
                ),
                confidence=confidence,
                abstained=True,
                composer="none",
                reason=reason,
                closest=_closest(retrieval.chunks),
                timings=timings,
            ))
        chunks = retrieval.chunks[:COMPOSE_CHUNKS]
        citations = number_sources(chunks)
        t = time.perf_counter()
        composer_name = self.composer.name
        reason = AnswerReason.ANSWERED
        try:
            text = self.composer.compose(question, chunks, citations)
        except ComposerError as exc:
            log.warning("composer_fallback", composer=self.composer.name, reason=str(exc))
            text = self.extractive.compose(question, chunks, citations)
            composer_name = f"extractive (fallback from {self.composer.name})"
            reason = AnswerReason.COMPOSER_FALLBACK
        timings["compose_ms"] = (time.perf_counter() - t) * 1000
        text, cited = renumber(text, citations)
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        if not cited:
            return _with(chunks, Answer(
                text=f"I don't know: the best sources did not contain a clear answer. Please ask {self.handoff}.",
                confidence=confidence,
                abstained=True,
                composer=composer_name,
                reason=AnswerReason.NO_ANSWERING_UNIT,
                closest=_closest(chunks),
                timings=timings,
            ))
        log.info("answered", audience=audience.value, confidence=round(confidence, 3), sources=len(cited),
                 composer=composer_name, total_ms=round(timings["total_ms"], 1))
        return _with(chunks, Answer(text=text, citations=cited, confidence=confidence, abstained=False,
                                    composer=composer_name, reason=reason, timings=timings))

    def _internal_would_answer(self, query: str) -> bool:
        """Whether internal knowledge alone would pass the gate (only recorded, never shown to the customer)."""
        internal = self.retriever.retrieve(query, Audience.AGENT)
        internal.chunks[:] = [c for c in internal.chunks if c.audience is Visibility.INTERNAL]
        return not should_abstain(internal, self.min_confidence)


def _closest(chunks: list[RetrievedChunk]) -> Citation | None:
    """The nearest source of an abstention, numbered 0 (it is not cited in the text)."""
    if not chunks:
        return None
    best = max(chunks, key=lambda c: (c.similarity, c.score))
    return number_sources([best])[0].model_copy(update={"n": 0})


def _with(passages: list[RetrievedChunk], answer: Answer) -> tuple[Answer, list[RetrievedChunk]]:
    return neutralise_answer(answer), passages  # every answer leaves here: no source can ping a channel
