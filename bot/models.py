"""The data that flows through helpdesk-bot: documents in, chunks stored, answers out."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Visibility(StrEnum):
    """Who may see a document. Decided by the connector from the vendor's own flags."""

    PUBLIC = "public"
    INTERNAL = "internal"


class Audience(StrEnum):
    """Who is asking. Customers only ever see public knowledge; agents see both."""

    CUSTOMER = "customer"
    AGENT = "agent"

    @property
    def visibilities(self) -> tuple[Visibility, ...]:
        if self is Audience.CUSTOMER:
            return (Visibility.PUBLIC,)
        return (Visibility.PUBLIC, Visibility.INTERNAL)


class DocumentKind(StrEnum):
    ARTICLE = "article"
    TICKET = "ticket"
    PAGE = "page"
    FILE = "file"


#: The section heading every ticket connector gives the customer's own messages ("## Customer");
#: the reader never quotes them (they are the question, not its answer).
TICKET_CUSTOMER_SECTION = "Customer"


class Document(BaseModel):
    """One unit of knowledge from a source, as the connector produced it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id, e.g. 'zendesk:article:123'")
    source: str
    kind: DocumentKind
    audience: Visibility
    title: str
    url: str | None = None
    text: str = Field(description="Markdown")
    updated_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Hash of everything that ends up in the index; unchanged hash = nothing to do."""
        h = hashlib.sha256()
        for part in (self.title, self.url or "", self.audience.value, self.kind.value, self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


class Deleted(BaseModel):
    """A connector's report that a document no longer exists at the source."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str


class Chunk(BaseModel):
    """A retrievable piece of a document; the text embedded starts with title and section path."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    chunk_no: int
    text: str = Field(description="What is embedded: title, section path, then the passage")
    passage: str = Field(description="The passage alone, as shown to a reader")
    section: str = ""
    context: str = Field(default="", description="The label line in effect where a mid-section passage starts")
    starts_mid_sentence: bool = Field(default=False, description="The passage starts inside a sentence (a long one split)")
    ends_mid_sentence: bool = Field(default=False, description="The passage ends inside a sentence the next chunk goes on with")

    @property
    def heading(self) -> str:
        """The title and section path the embedded text starts with."""
        return self.text[: len(self.text) - len(self.passage)].strip()

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


class Citation(BaseModel):
    """A numbered source of an answer."""

    n: int
    doc_id: str
    title: str
    url: str | None = None
    source: str
    audience: Visibility
    section: str = ""
    snippet: str = ""
    updated_at: datetime | None = None
    score: float = 0.0


class AnswerReason(StrEnum):
    """Why an answer came out the way it did: recorded with every question (knowledge gaps)."""

    ANSWERED = "answered"
    #: Nothing in the audience's collections matched at all.
    NOTHING_RETRIEVED = "nothing_retrieved"
    #: Sources were found, but none answered confidently enough (``closest`` says which came nearest).
    BELOW_GATE = "below_gate"
    #: A customer-audience question that only internal knowledge answers: the wall held; a public
    #: article may be missing.
    ONLY_INTERNAL = "only_internal"
    #: The passages passed the gate, but the composer found nothing in them that answers.
    NO_ANSWERING_UNIT = "no_answering_unit"
    #: Answered, but by the extractive fallback because the configured (LLM) composer failed.
    COMPOSER_FALLBACK = "composer_fallback"


class Answer(BaseModel):
    """What every surface (Slack, helpdesk, CLI, eval) gets back from ``answer()``."""

    text: str
    citations: list[Citation] = Field(default_factory=list)
    confidence: float = 0.0
    abstained: bool = False
    composer: str = "extractive"
    reason: AnswerReason = AnswerReason.ANSWERED
    #: On an abstention, the source that came nearest (with its score), if any; never shown to a
    #: customer when it is internal, only recorded for the team.
    closest: Citation | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="milliseconds per stage")
