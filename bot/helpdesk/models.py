"""What flows through drafting: an event (from a webhook or the CLI), a ticket, a draft, an outcome."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from bot.models import Answer


class Provider(StrEnum):
    ZENDESK = "zendesk"
    FRESHDESK = "freshdesk"
    INTERCOM = "intercom"


class EventKind(StrEnum):
    CREATED = "created"  # a new ticket / conversation
    CUSTOMER_REPLY = "customer_reply"  # the customer wrote again
    WAKE_UP = "wake_up"  # "something happened" (Freshdesk): re-fetch and decide
    MANUAL = "manual"  # ``helpdesk-bot draft``


@dataclass(frozen=True)
class TicketEvent:
    """One delivery worth drafting for: which ticket, and the provider's id of the event.

    ``event_id`` is the provider's own delivery or event id (Zendesk event ``id`` or invocation id,
    Intercom notification ``id``); None when the provider sends none (Freshdesk), in which case
    only the per-message claim (see :meth:`message_key`) keeps drafts unique.
    """

    provider: Provider
    ticket_id: str
    kind: EventKind
    event_id: str | None = None

    @property
    def key(self) -> str | None:
        """The once-only key of this delivery: provider, event id AND ticket id."""
        if not self.event_id:
            return None
        return f"helpdesk:{self.provider.value}:event:{self.event_id}:ticket:{self.ticket_id}"

    @property
    def source(self) -> str:
        """What ``drafts.source_event`` records."""
        return self.key or f"helpdesk:{self.provider.value}:{self.kind.value}:ticket:{self.ticket_id}"


def message_key(provider: Provider, ticket_id: str, message_id: str) -> str:
    """The once-only key of one customer message: one draft per message, whichever events fire."""
    return f"helpdesk:{provider.value}:message:{ticket_id}:{message_id}"


def body_digest(body: bytes) -> str:
    """A stable stand-in event id for a delivery that carries none (redeliveries repeat the body)."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]


@dataclass(frozen=True)
class Ticket:
    """The parts of a ticket drafting uses, as fetched through the helpdesk's API (never the webhook).

    Attributes:
        subject: plain-text subject ('' when none).
        message: the latest public message written by the customer, as plain text.
        message_id: the provider's id of that message (a comment, conversation or part id).
        customer_waiting: the latest public message on the ticket is the customer's (nobody
            has answered it yet): only then does a webhook lead to a draft.
        tags: the ticket's tags (Freshdesk replaces the whole list on update).
        doc_ids: document ids this ticket would have in the index (excluded from related tickets).
    """

    provider: Provider
    id: str
    subject: str
    message: str
    message_id: str
    customer_waiting: bool
    url: str | None = None
    tags: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()

    @property
    def question(self) -> str:
        """The customer's own words: subject, then the message (the subject alone when they repeat)."""
        subject, message = self.subject.strip(), self.message.strip()
        if not subject or subject.lower() in message.lower()[: len(subject) + 20]:
            return message or subject
        return f"{subject}\n\n{message}" if message else subject


@dataclass(frozen=True)
class RelatedTicket:
    """A similar solved ticket, listed for the agent only (internal)."""

    doc_id: str
    title: str
    url: str | None
    similarity: float


@dataclass(frozen=True)
class Note:
    """The rendered private note: plain text (CLI, logs of lengths) and HTML (the helpdesks)."""

    text: str
    html: str


@dataclass(frozen=True)
class Draft:
    """A draft reply: the customer-facing text (after the style guard) and what backs it."""

    ticket: Ticket
    answer: Answer
    text: str
    style: str = "unchanged"
    related: tuple[RelatedTicket, ...] = ()

    @property
    def abstained(self) -> bool:
        return self.answer.abstained

    @property
    def confidence(self) -> float:
        return self.answer.confidence


class Status(StrEnum):
    POSTED = "posted"  # a note with a draft (or the abstention note) is on the ticket
    DRY_RUN = "dry_run"  # rendered, not posted
    DUPLICATE = "duplicate"  # this delivery or this customer message was drafted already
    SKIPPED = "skipped"  # nothing to draft (no customer message waiting, abstained with skip)
    NOT_FOUND = "not_found"  # the API says the ticket does not exist
    FAILED = "failed"  # the helpdesk API failed (logged)


@dataclass(frozen=True)
class DraftOutcome:
    status: Status
    provider: Provider
    ticket_id: str
    reason: str = ""
    note_id: str | None = None
    draft: Draft | None = None
    note: Note | None = None
    timings: dict[str, float] = field(default_factory=dict)
