"""DraftService: one cited draft per customer message, posted as a private note.

Once-only, in two steps, both with the state store's atomic ``claim_event``:

1. the delivery: ``helpdesk:<provider>:event:<event id>:ticket:<ticket id>``, so a webhook the
   sender retries (or delivers three times) is handled once, before any API call;
2. the customer message: ``helpdesk:<provider>:message:<ticket id>:<message id>``, taken after the
   ticket is fetched, so two *different* events about the same message (Zendesk's ``ticket.created``
   and an "updated by customer" trigger; Freshdesk, which sends no event id at all; our own note
   firing a comment event) still lead to one draft.

A claim is never released: a draft that failed (the helpdesk API down after VendorHttp's retries)
is logged and can be redone by hand with ``helpdesk-bot draft``. Never logged: ticket text, the
draft, secrets; logged: provider, ticket id, event id, outcome, confidence, lengths, timings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

import httpx
import structlog

from bot.answer.confidence import DEFAULT_SIMILARITY_FLOOR
from bot.answer.retriever import Retriever
from bot.answer.service import AnswerService
from bot.answer.style import StyleAdapter, Surface, apply_style
from bot.health.origin import asked_in
from bot.helpdesk.desks import Desk, desks_from_sources
from bot.helpdesk.errors import NotConfigured, TicketUnavailable
from bot.helpdesk.models import (
    Draft,
    DraftOutcome,
    EventKind,
    Provider,
    RelatedTicket,
    Status,
    Ticket,
    TicketEvent,
    message_key,
)
from bot.helpdesk.render import render_note
from bot.models import Audience, DocumentKind
from bot.settings import Settings
from bot.state.drafts import DraftLog
from bot.state.events import EventClaims
from connectors.base import ConnectorError, NotFound

log = structlog.get_logger(__name__)

#: Candidates fetched per related ticket listed (chunks of one ticket collapse into one entry).
RELATED_OVERFETCH = 4


class DraftService:
    """Drafts replies for helpdesk tickets; see the module docstring.

    Args:
        answers: the one answer path (retrieve, gate, compose, check citations).
        retriever: for related tickets (the internal collection, tickets only).
        events: claims of deliveries and customer messages.
        drafts: the record of each draft.
        desks: one client per configured helpdesk.
        settings: drafting settings (``draft_*``, ``min_confidence``).
        style: optional style adapter; its output goes through :func:`bot.answer.style.guard_restyle`.
    """

    def __init__(self, *, answers: AnswerService, retriever: Retriever, events: EventClaims, drafts: DraftLog,
                 desks: Mapping[Provider, Desk], settings: Settings, style: StyleAdapter | None = None) -> None:
        self.answers = answers
        self.retriever = retriever
        self.events = events
        self.drafts = drafts
        self.desks = dict(desks)
        self.settings = settings
        self.style = style
        self._executor = ThreadPoolExecutor(max_workers=settings.draft_workers, thread_name_prefix="helpdesk-draft")
        self._futures: set[Future[DraftOutcome]] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_runtime(cls, runtime: Any, *, settings: Settings | None = None, style: StyleAdapter | None = None,
                     answers: AnswerService | None = None, drafts: DraftLog | None = None,
                     clients: Mapping[Provider, httpx.Client] | None = None, environ: Mapping[str, str] | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> DraftService:
        """Build on a :class:`bot.runtime.Runtime`: its answer service, retriever, state, style and sources
        (``answers`` and ``drafts`` replace the runtime's own: ``serve`` passes counted ones)."""
        s = settings or runtime.settings
        desks = desks_from_sources(runtime.sources, only=s.draft_sources.split(","), intercom_admin_id=s.intercom_admin_id,
                                   clients=clients, environ=environ, sleep=sleep)
        if style is None:
            style = runtime.style.adapter(Surface.HELPDESK_DRAFTS)
        return cls(answers=answers or runtime.answers, retriever=runtime.retriever, events=runtime.state.events,
                   drafts=drafts or runtime.state.drafts, desks=desks, settings=s, style=style)

    def desk(self, provider: Provider) -> Desk:
        desk = self.desks.get(provider)
        if desk is None:
            raise NotConfigured(f"no {provider.value} source is configured for drafting: add one to the sources "
                                "file (HELPDESK_SOURCES_FILE) with its base_url and credentials")
        return desk

    # -- drafting ------------------------------------------------------------------------------

    def compose(self, ticket: Ticket) -> Draft:
        """The draft for ``ticket``: public knowledge only, in the customer's own words."""
        question = ticket.question[: self.answers.max_question_chars]
        # Customer-facing text: Audience.CUSTOMER, so only kb_public can be quoted or cited. The questions
        # log files it with a link to the ticket (the knowledge-gap view links there).
        with asked_in(ticket.url):
            answer = self.answers.answer(question, Audience.CUSTOMER)
        text, style = answer.text, "unchanged"
        if not answer.abstained:
            text, style = apply_style(self.style, answer.text)
        related = self.related_tickets(question, exclude=ticket.doc_ids, exclude_url=ticket.url)
        return Draft(ticket=ticket, answer=answer, text=text, style=style, related=tuple(related))

    def related_tickets(self, question: str, *, exclude: tuple[str, ...] = (), exclude_url: str | None = None,
                        limit: int | None = None) -> list[RelatedTicket]:
        """Similar solved tickets (the retriever's internal tickets, for the agents-only note), one entry per ticket."""
        limit = self.settings.draft_related_tickets if limit is None else limit
        if limit <= 0:
            return []
        candidates = self.retriever.related(question, Audience.AGENT, kind=DocumentKind.TICKET,
                                            limit=limit * RELATED_OVERFETCH)
        out: list[RelatedTicket] = []
        seen = set(exclude)
        for chunk in candidates:
            if chunk.doc_id in seen or (exclude_url and chunk.url == exclude_url):
                continue
            if chunk.similarity < DEFAULT_SIMILARITY_FLOOR:  # not about the question at all
                continue
            seen.add(chunk.doc_id)
            out.append(RelatedTicket(doc_id=chunk.doc_id, title=chunk.title or chunk.doc_id, url=chunk.url,
                                     similarity=chunk.similarity))
            if len(out) >= limit:
                break
        return out

    def handle(self, event: TicketEvent) -> DraftOutcome:
        """Everything after a verified webhook: claim, fetch, draft, post, record. Never raises."""
        started = time.perf_counter()
        provider, tid = event.provider, event.ticket_id
        bound = log.bind(provider=provider.value, ticket_id=tid, event_id=event.event_id, event_kind=event.kind.value)

        def outcome(status: Status, reason: str = "", **kw: Any) -> DraftOutcome:
            ms = (time.perf_counter() - started) * 1000
            return DraftOutcome(status=status, provider=provider, ticket_id=tid, reason=reason,
                                timings={"total_ms": ms}, **kw)

        if event.key and not self.events.claim_event(event.key):
            bound.info("helpdesk_duplicate_delivery")
            return outcome(Status.DUPLICATE, "this delivery was handled already")
        try:
            desk = self.desk(provider)
            ticket = desk.fetch_ticket(tid)
        except (NotFound, TicketUnavailable) as exc:
            bound.warning("helpdesk_ticket_not_found", reason=str(exc))
            return outcome(Status.NOT_FOUND, str(exc))
        except (ConnectorError, NotConfigured) as exc:
            bound.error("helpdesk_fetch_failed", error=type(exc).__name__, reason=str(exc))
            return outcome(Status.FAILED, str(exc))
        if event.kind is EventKind.CUSTOMER_REPLY and not self.settings.draft_on_customer_reply:
            return outcome(Status.SKIPPED, "drafting on customer replies is off")
        if not ticket.customer_waiting:
            bound.info("helpdesk_nothing_to_draft", reason="latest public message is not the customer's")
            return outcome(Status.SKIPPED, "the latest public message is not the customer's")
        if not ticket.question.strip():
            bound.info("helpdesk_nothing_to_draft", reason="no customer text")
            return outcome(Status.SKIPPED, "the ticket has no customer text")
        if not self.events.claim_event(message_key(provider, ticket.id, ticket.message_id)):
            bound.info("helpdesk_duplicate_message", message_id=ticket.message_id)
            return outcome(Status.DUPLICATE, "this customer message was drafted already")
        try:
            draft = self.compose(ticket)
            return self._deliver(event.source, draft, dry_run=False, started=started, raise_errors=False)
        except Exception as exc:  # noqa: BLE001 - a background job must log, never die silently
            bound.error("helpdesk_draft_failed", error=type(exc).__name__, exc_info=True)
            return outcome(Status.FAILED, type(exc).__name__)

    def draft_ticket(self, provider: Provider, ticket_id: str, *, dry_run: bool = False) -> DraftOutcome:
        """Draft for one ticket by hand (the CLI). Errors raise; no claim is taken (a person asked)."""
        started = time.perf_counter()
        desk = self.desk(provider)
        try:
            ticket = desk.fetch_ticket(ticket_id)
        except NotFound as exc:
            raise TicketUnavailable(f"{provider.value} ticket {ticket_id} was not found (HTTP 404)") from exc
        if not ticket.question.strip():
            raise TicketUnavailable(f"{provider.value} ticket {ticket_id} has no customer message to draft from")
        draft = self.compose(ticket)
        event = TicketEvent(provider=provider, ticket_id=ticket.id, kind=EventKind.MANUAL)
        return self._deliver(f"cli:{event.source}", draft, dry_run=dry_run, started=started, raise_errors=True)

    def _deliver(self, source_event: str, draft: Draft, *, dry_run: bool, started: float,
                 raise_errors: bool) -> DraftOutcome:
        ticket, s = draft.ticket, self.settings
        bound = log.bind(provider=ticket.provider.value, ticket_id=ticket.id)

        def outcome(status: Status, reason: str = "", **kw: Any) -> DraftOutcome:
            ms = (time.perf_counter() - started) * 1000
            return DraftOutcome(status=status, provider=ticket.provider, ticket_id=ticket.id, reason=reason,
                                draft=draft, timings={"total_ms": ms}, **kw)

        if draft.abstained and s.draft_on_abstain == "skip":
            if not dry_run:
                self.drafts.record_draft(provider=ticket.provider.value, ticket_id=ticket.id, source_event=source_event,
                                         note_id=None, confidence=draft.confidence, abstained=True,
                                         reason=draft.answer.reason.value)
            bound.info("helpdesk_draft_abstained", posted=False, confidence=round(draft.confidence, 3),
                       reason=draft.answer.reason.value)
            return outcome(Status.SKIPPED, "no confident source (HELPDESK_DRAFT_ON_ABSTAIN=skip)")
        note = render_note(draft, tag=s.draft_tag, min_confidence=self.answers.min_confidence)
        if dry_run:
            return outcome(Status.DRY_RUN, note=note)
        try:
            note_id = self.desk(ticket.provider).post_note(ticket, note, tag=s.draft_tag)
        except (ConnectorError, NotConfigured) as exc:
            if raise_errors:
                raise
            bound.error("helpdesk_note_failed", error=type(exc).__name__, reason=str(exc))
            return outcome(Status.FAILED, str(exc), note=note)
        self.drafts.record_draft(provider=ticket.provider.value, ticket_id=ticket.id, source_event=source_event,
                                 note_id=note_id or None, confidence=draft.confidence, abstained=draft.abstained,
                                 reason=draft.answer.reason.value)
        result = outcome(Status.POSTED, note=note, note_id=note_id or None)
        bound.info("helpdesk_note_posted", note_id=note_id, abstained=draft.abstained, reason=draft.answer.reason.value,
                   confidence=round(draft.confidence, 3), sources=len(draft.answer.citations),
                   related=len(draft.related), style=draft.style, note_chars=len(note.text),
                   total_ms=round(result.timings["total_ms"], 1))
        return result

    # -- background ----------------------------------------------------------------------------

    def submit(self, event: TicketEvent) -> Future[DraftOutcome]:
        """Handle ``event`` in the worker pool (the webhook has answered already)."""
        future = self._executor.submit(self.handle, event)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[DraftOutcome]) -> None:
        with self._lock:
            self._futures.discard(future)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every submitted draft is done; False if ``timeout`` passed first."""
        with self._lock:
            pending = set(self._futures)
        done, not_done = wait_futures(pending, timeout=timeout)
        return not not_done

    def close(self, *, wait: bool = True) -> None:
        """Finish (or, ``wait=False``, abandon queued) drafts and close the helpdesk clients."""
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
        for desk in self.desks.values():
            desk.close()

    def __enter__(self) -> DraftService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
