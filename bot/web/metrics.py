"""Prometheus metrics, fed at two depths so that no surface is edited to report them.

* Per-request events (questions, abstentions, answer latency, answer errors, feedback, drafts) are
  counted in this process by the parts ``serve`` hands the surfaces it hosts (the Slack app, the
  helpdesk webhooks): :class:`MeteredAnswerService`, an explicit wrapper of the answer service
  labelled with its surface (and optionally writing the questions log), and the feedback and
  draft logs that count what they record (:class:`MeteredFeedback`, :class:`MeteredDrafts`).
  Across web replicas, sum them.
* Sync health (runs per source and status, lag since the last successful run, whether the latest
  run failed, pending resync requests) is read from the state store at scrape time
  (:class:`StateCollector`): it is right in every role, survives restarts, and needs no hook in the
  sync runner. Every replica reports the same values: aggregate with ``max by (source)``.

Each app has its own :class:`Metrics` registry (no process-global state: tests build many apps).
Question text never becomes a label or a log field; labels are low-cardinality names.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.answer.context import current_answer_ref
from bot.answer.service import AnswerService
from bot.health.origin import current_link
from bot.models import Answer, Audience, Citation
from bot.state.drafts import DraftLog
from bot.state.engine import StateDatabase
from bot.state.feedback import FeedbackLog
from bot.state.questions import QuestionLog
from bot.state.sync_ledger import SyncLedger

log = structlog.get_logger(__name__)

#: Answer latency buckets (seconds): the extractive path answers in ~5-10 ms, an LLM in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
#: Longest question / answer text kept in the questions log.
QUESTION_LOG_MAX_CHARS = 8000


class Metrics:
    """The metrics of one served app, in their own registry."""

    def __init__(self, *, registry: CollectorRegistry | None = None, process: bool = True) -> None:
        r = self.registry = registry or CollectorRegistry()
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.questions = Counter("helpdesk_questions", "Questions answered or abstained on.",
                                 ["surface", "audience"], registry=r)
        self.abstentions = Counter("helpdesk_abstentions", "Questions the bot abstained on (said it does not know).",
                                   ["surface", "audience"], registry=r)
        self.answer_reasons = Counter("helpdesk_answer_reasons", "Answers by why they came out so: answered, "
                                      "composer_fallback, or the reason of an abstention (nothing_retrieved, "
                                      "below_gate, only_internal, no_answering_unit).", ["surface", "reason"], registry=r)
        self.answer_errors = Counter("helpdesk_answer_errors", "answer() calls that raised, by error type.",
                                     ["surface", "error"], registry=r)
        self.answer_latency = Histogram("helpdesk_answer_latency_seconds", "Time answer() took (retrieve, gate, compose).",
                                        ["surface"], buckets=LATENCY_BUCKETS, registry=r)
        self.feedback = Counter("helpdesk_feedback", "Helpful / not helpful votes on answers.",
                                ["surface", "helpful"], registry=r)
        self.drafts = Counter("helpdesk_drafts", "Helpdesk drafts: posted (an answer), abstain_note (a 'no confident "
                              "source' note) or skipped (nothing posted).", ["provider", "outcome"], registry=r)

    def watch_state(self, ledger: Callable[[], SyncLedger], sources: Callable[[], Iterable[str]] = tuple,
                    *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Report sync health read from the sync ledger at every scrape (``sources``: the configured names)."""
        self.registry.register(StateCollector(ledger, sources, clock=clock))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST


class StateCollector(Collector):
    """Sync runs, lag and errors per source, from the sync ledger (see the module docstring)."""

    def __init__(self, ledger: Callable[[], SyncLedger], sources: Callable[[], Iterable[str]],
                 *, clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.sources = sources
        self.clock = clock

    def describe(self) -> Iterable[Any]:
        return []  # collected live; nothing to check at registration

    def collect(self) -> Iterable[Any]:
        up = GaugeMetricFamily("helpdesk_state_db_up", "1 when the state database answered this scrape.")
        try:
            stats = self.ledger().stats()
        except Exception as exc:  # noqa: BLE001 - a scrape must never fail because the database did
            log.warning("metrics_state_unavailable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        try:
            configured = list(self.sources())
        except Exception:  # noqa: BLE001
            configured = []
        names = sorted(set(configured) | {src for src, _ in stats.runs} | set(stats.pending_resyncs))
        runs = CounterMetricFamily("helpdesk_sync_runs", "Sync runs recorded in the state store, by source and status "
                                   "(ok, failed, running).", labels=["source", "status"])
        for (src, status), n in sorted(stats.runs.items()):
            runs.add_metric([src, status], n)
        lag = GaugeMetricFamily("helpdesk_sync_lag_seconds", "Seconds since the source's last successful sync "
                                "finished (+Inf: never).", labels=["source"])
        last_ok = GaugeMetricFamily("helpdesk_sync_last_success_timestamp_seconds",
                                    "Unix time the source's last successful sync finished.", labels=["source"])
        failed = GaugeMetricFamily("helpdesk_sync_last_run_failed", "1 when the source's latest sync run failed.",
                                   labels=["source"])
        pending = GaugeMetricFamily("helpdesk_resync_requests_pending", "Resync requests not yet taken by a scheduler.",
                                    labels=["source"])
        now = self.clock()
        for name in names:
            finished = stats.last_success.get(name)
            lag.add_metric([name], max(0.0, (now - finished).total_seconds()) if finished else math.inf)
            if finished:
                last_ok.add_metric([name], finished.timestamp())
            failed.add_metric([name], 1 if stats.last_status.get(name) == "failed" else 0)
            pending.add_metric([name], stats.pending_resyncs.get(name, 0))
        yield from (runs, lag, last_ok, failed, pending)


# --- the metered parts --------------------------------------------------------------------------------
class MeteredAnswerService:
    """One surface's answer service: ``answer()`` counted, timed and (optionally) written to the questions log.

    The service itself is built on the first question (the runtime builds it lazily, opening the
    store and loading the model): ``serve`` starts even while a Qdrant server is still coming up.

    Args:
        answers: gives the answer service (called once, on first use).
        metrics: where the counts go.
        surface: the label of this surface (``slack``, ``helpdesk``).
        questions: the questions log to write each answered question to; None: not logged.
        clock: the latency clock.
    """

    def __init__(self, answers: Callable[[], AnswerService], *, metrics: Metrics, surface: str,
                 questions: QuestionLog | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self._answers = answers
        self._service: AnswerService | None = None
        self._lock = threading.Lock()
        self._metrics = metrics
        self._surface = surface
        self._questions = questions
        self._clock = clock

    @property
    def service(self) -> AnswerService:
        """The answer service (built on first use)."""
        if self._service is None:
            with self._lock:
                if self._service is None:
                    self._service = self._answers()
        return self._service

    @property
    def min_confidence(self) -> float:
        return self.service.min_confidence

    @property
    def max_question_chars(self) -> int:
        return self.service.max_question_chars

    def answer(self, question: str, audience: Audience, history: Sequence[str] = ()) -> Answer:
        started = self._clock()
        try:
            answer = self.service.answer(question, audience, history)
        except Exception as exc:
            self._metrics.answer_errors.labels(self._surface, type(exc).__name__).inc()
            raise
        elapsed = self._clock() - started
        aud = getattr(audience, "value", str(audience))
        self._metrics.questions.labels(self._surface, aud).inc()
        if answer.abstained:
            self._metrics.abstentions.labels(self._surface, aud).inc()
        self._metrics.answer_reasons.labels(self._surface, answer.reason.value).inc()
        self._metrics.answer_latency.labels(self._surface).observe(elapsed)
        if self._questions is not None:
            self._log(self._questions, question, aud, answer, elapsed)
        return answer

    def _log(self, questions: QuestionLog, question: str, audience: str, answer: Answer, elapsed_s: float) -> None:
        try:
            questions.record_question(
                surface=self._surface, audience=audience, question=(question or "").strip(), answer=answer.text,
                confidence=answer.confidence, abstained=answer.abstained, composer=answer.composer,
                latency_ms=elapsed_s * 1000, answer_id=current_answer_ref(), max_chars=QUESTION_LOG_MAX_CHARS,
                citations=[{"n": c.n, "doc_id": c.doc_id, "title": c.title, "url": c.url, "source": c.source}
                           for c in answer.citations],
                reason=answer.reason.value, closest=closest_source(answer), link=current_link(),
            )
        except Exception as exc:  # noqa: BLE001 - the asker gets the answer even if the log write fails
            log.warning("question_log_failed", surface=self._surface, error=type(exc).__name__)


def closest_source(answer: Answer) -> dict[str, Any] | None:
    """The source recorded beside a question: the nearest one of an abstention, else the first cited."""
    c: Citation | None = answer.closest if answer.abstained else (answer.citations[0] if answer.citations else None)
    if c is None:
        return None
    return {"doc_id": c.doc_id, "title": c.title, "url": c.url, "section": c.section, "source": c.source,
            "audience": c.audience.value, "score": round(float(c.score), 4)}


class MeteredFeedback(FeedbackLog):
    """The feedback log, with each vote counted (``helpdesk_feedback``)."""

    def __init__(self, db: StateDatabase, *, metrics: Metrics) -> None:
        super().__init__(db)
        self._metrics = metrics

    def record_feedback(self, *, answer_id: str, user: str, helpful: bool, surface: str = "slack") -> None:
        super().record_feedback(answer_id=answer_id, user=user, helpful=helpful, surface=surface)
        self._metrics.feedback.labels(surface, "true" if helpful else "false").inc()


class MeteredDrafts(DraftLog):
    """The draft log, with each draft counted by outcome (``helpdesk_drafts``)."""

    def __init__(self, db: StateDatabase, *, metrics: Metrics) -> None:
        super().__init__(db)
        self._metrics = metrics

    def record_draft(self, *, provider: str, ticket_id: str, source_event: str, note_id: str | None,
                     confidence: float, abstained: bool, reason: str | None = None) -> int:
        row = super().record_draft(provider=provider, ticket_id=ticket_id, source_event=source_event,
                                   note_id=note_id, confidence=confidence, abstained=abstained, reason=reason)
        outcome = "skipped" if not note_id else "abstain_note" if abstained else "posted"
        self._metrics.drafts.labels(provider, outcome).inc()
        return row
