"""``answer()``: the one path every surface (Slack, helpdesk, CLI, eval) goes through.

retrieve (audience's collections only) -> read (rank candidate answer windows) -> gate
(probability that these passages answer the question) -> compose (extractive by default, or an
LLM with the extractive answer as its fallback) -> check citations (every ``[n]`` points to a
retrieved source). Every outcome carries its :class:`~bot.models.AnswerReason`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from bot.answer.citations import number_sources, renumber
from bot.answer.composer import Composer
from bot.answer.confidence import AnswerabilityGate, missing_identifiers
from bot.answer.extractive import ExtractiveComposer
from bot.answer.follow_up import FollowUp, follow_up
from bot.answer.ranking import ANSWERABILITY, load_model, load_window_ranker
from bot.answer.reader import Reader, Reading
from bot.answer.retriever import Retrieval, RetrievedChunk, Retriever
from bot.answer.safety import neutralise_answer, screen
from bot.errors import ComposerError, InputError
from bot.index.word_vectors import WordVectors, shared_word_vectors
from bot.models import Answer, AnswerReason, Audience, Citation, Visibility

log = structlog.get_logger(__name__)

#: The answerability (0..1) below which the bot abstains, unless configured otherwise; chosen on
#: the dev halves by benchmarks/train_answer_models.py (see the model's meta.threshold).
DEFAULT_MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Assessment:
    """What the service found for a question before composing: retrieval, reading, answerability."""

    retrieval: Retrieval
    passages: list[RetrievedChunk]
    reading: Reading
    confidence: float


class AnswerService:
    """Retrieve, read, gate, compose, check.

    Args:
        retriever: hybrid retriever (enforces the audience's collections).
        composer: the configured composer; the extractive one is the fallback on failure.
        min_confidence: below this answerability (0..1) the service abstains.
        handoff: where to send the asker when it abstains.
        reader: ranks candidate answer windows (default: the shipped window ranker).
        word_vectors: the default reader's word vectors (default: those in the default model cache).
        gate: the answerability model (default: the shipped one).
    """

    def __init__(
        self,
        *,
        retriever: Retriever,
        composer: Composer | None = None,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        handoff: str = "a human agent",
        max_question_chars: int = 4000,
        reader: Reader | None = None,
        gate: AnswerabilityGate | None = None,
        word_vectors: WordVectors | None = None,
    ) -> None:
        self.retriever = retriever
        self.reader = reader or Reader(sparse=retriever.sparse, ranker=load_window_ranker(),
                                        word_vectors=word_vectors or shared_word_vectors(),
                                        embed=retriever.embedder.embed)
        self.gate = gate or AnswerabilityGate(load_model(ANSWERABILITY))
        self.extractive = ExtractiveComposer(reader=self.reader)
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

    def assess(self, question: str, audience: Audience, history: Sequence[str] = ()) -> Assessment:
        """Retrieve and read for ``question``; how likely the passages are to answer it.

        Raises:
            InputError: the question is empty or longer than the configured maximum.
        """
        thread = self._follow_up(question, history)
        retrieval = self.retriever.retrieve(thread.retrieval, audience)
        assessment = self.assess_retrieval(thread.reading, retrieval)
        if thread.reading != thread.retrieval and assessment.confidence < self.min_confidence:
            # A follow-up that does not stand alone ("how do I turn it back on?"): read the whole thread.
            assessment = self.assess_retrieval(thread.retrieval, retrieval)
        return assessment

    def assess_retrieval(self, query: str, retrieval: Retrieval) -> Assessment:
        """Read and gate an existing retrieval for ``query`` (the top chunks, as :meth:`answer` would)."""
        t = time.perf_counter()
        retrieval = screen(retrieval)  # content is data: flagged instructions cut out before anyone reads
        # The search's vector is the question's only when the reader reads what was searched for
        # (a thread's follow-up is searched with the earlier turns, read without them).
        vector = retrieval.question_vector if retrieval.query == query else None
        reading = self.reader.read(query, retrieval.chunks, question_vector=vector)
        passages = reading.chunks
        confidence = self.gate.confidence(reading) if passages else 0.0
        retrieval.timings["read_ms"] = (time.perf_counter() - t) * 1000
        return Assessment(retrieval=retrieval, passages=passages, reading=reading, confidence=confidence)

    def answer_with_passages(
        self, question: str, audience: Audience, history: Sequence[str] = ()
    ) -> tuple[Answer, list[RetrievedChunk]]:
        """:meth:`answer`, plus the passages it was composed from (or would have been, had it not abstained)."""
        started = time.perf_counter()
        assessment = self.assess(question, audience, history)
        passages, confidence = assessment.passages, assessment.confidence
        timings = dict(assessment.retrieval.timings)
        if not passages or confidence < self.min_confidence:
            reason = AnswerReason.NOTHING_RETRIEVED if not passages else AnswerReason.BELOW_GATE
            if audience is Audience.CUSTOMER and self._internal_would_answer(
                    assessment.retrieval.query or assessment.reading.question, assessment.reading.question):
                reason = AnswerReason.ONLY_INTERNAL
            timings["total_ms"] = (time.perf_counter() - started) * 1000
            log.info("answer_abstained", audience=audience.value, confidence=round(confidence, 3), reason=reason.value)
            missing = missing_identifiers(assessment.reading.question, passages)
            found = (f"nothing in the knowledge base mentions {', '.join(missing)}." if missing
                     else "I found nothing in the knowledge base that answers this confidently.")
            return _with(passages, Answer(
                text=f"I don't know: {found} Please ask {self.handoff}.",
                confidence=confidence,
                abstained=True,
                composer="none",
                reason=reason,
                closest=_closest(passages),
                timings=timings,
            ))
        citations = number_sources(passages)
        t = time.perf_counter()
        composer_name = self.composer.name
        reason = AnswerReason.ANSWERED
        try:
            if self.composer is self.extractive:
                text, citations = self._extractive(assessment.reading, citations)
            else:
                # A model composing a thread's follow-up needs the thread: what retrieval searched for.
                text = self.composer.compose(assessment.retrieval.query or question, passages, citations)
        except ComposerError as exc:
            log.warning("composer_fallback", composer=self.composer.name, reason=str(exc))
            text, citations = self._extractive(assessment.reading, citations)
            composer_name = f"extractive (fallback from {self.composer.name})"
            reason = AnswerReason.COMPOSER_FALLBACK
        timings["compose_ms"] = (time.perf_counter() - t) * 1000
        text, cited = renumber(text, citations)
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        if not cited:
            return _with(passages, Answer(
                text=f"I don't know: the best sources did not contain a clear answer. Please ask {self.handoff}.",
                confidence=confidence,
                abstained=True,
                composer=composer_name,
                reason=AnswerReason.NO_ANSWERING_UNIT,
                closest=_closest(passages),
                timings=timings,
            ))
        log.info("answered", audience=audience.value, confidence=round(confidence, 3), sources=len(cited),
                 composer=composer_name, total_ms=round(timings["total_ms"], 1))
        return _with(passages, Answer(text=text, citations=cited, confidence=confidence, abstained=False,
                                      composer=composer_name, reason=reason, timings=timings))

    def _extractive(self, reading: Reading, citations: list[Citation]) -> tuple[str, list[Citation]]:
        """The extractive answer, and the citations naming the section each source was quoted from."""
        composition = self.extractive.compose_reading(reading, citations)
        return composition.text, [
            c.model_copy(update={"section": composition.sections[c.doc_id]}) if composition.sections.get(c.doc_id) else c
            for c in citations
        ]

    def _follow_up(self, question: str, history: Sequence[str]) -> FollowUp:
        question = (question or "").strip()
        if not question:
            raise InputError("the question is empty: ask something, e.g. 'How do I reset my password?'")
        if len(question) > self.max_question_chars:
            raise InputError(
                f"the question is {len(question):,} characters long; the limit is {self.max_question_chars:,}: "
                "shorten it to the actual question"
            )
        # Follow-ups ("and for Freshdesk?") need the thread's topic to retrieve well.
        return follow_up(question, history, self.retriever.sparse)

    def _internal_would_answer(self, query: str, reading: str) -> bool:
        """Whether internal knowledge alone would pass the gate (only recorded, never shown to the
        customer): retrieved for ``query``, read for ``reading`` (see :class:`FollowUp`)."""
        retrieval = self.retriever.retrieve(query, Audience.AGENT)
        retrieval.chunks[:] = [c for c in retrieval.chunks if c.audience is Visibility.INTERNAL]
        assessment = self.assess_retrieval(reading, retrieval)
        return bool(assessment.passages) and assessment.confidence >= self.min_confidence


def _closest(chunks: list[RetrievedChunk]) -> Citation | None:
    """The nearest source of an abstention, numbered 0 (it is not cited in the text)."""
    if not chunks:
        return None
    best = max(chunks, key=lambda c: (c.similarity, c.score))
    return number_sources([best])[0].model_copy(update={"n": 0})


def _with(passages: list[RetrievedChunk], answer: Answer) -> tuple[Answer, list[RetrievedChunk]]:
    return neutralise_answer(answer), passages  # every answer leaves here: no source can ping a channel
