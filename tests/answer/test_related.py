"""Retriever.related(): similar internal tickets, behind the same audience wall as retrieve()."""

from __future__ import annotations

from bot.answer.retriever import Retriever
from bot.index.indexer import Indexer
from bot.index.store import VectorStore
from bot.models import Audience, Document, DocumentKind, Visibility

QUESTION = "I was charged twice for the same shipping label"


def test_related_returns_internal_tickets_only_and_nothing_to_customers(store: VectorStore, embedder, chunker) -> None:  # type: ignore[no-untyped-def]
    Indexer(store=store, embedder=embedder, chunker=chunker).index([
        Document(id="t:1", source="t", kind=DocumentKind.TICKET, audience=Visibility.INTERNAL,
                 title="Duplicate label charge", text="Customer was charged twice for one shipping label; refunded."),
        Document(id="r:1", source="r", kind=DocumentKind.ARTICLE, audience=Visibility.INTERNAL,
                 title="Runbook: duplicate label charges", text="Refund duplicate shipping label charges within 24 h."),
        Document(id="a:1", source="a", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
                 title="Label charges", text="Each shipping label is charged once when it is printed."),
    ])
    retriever = Retriever(store=store, embedder=embedder)

    agent = retriever.related(QUESTION, Audience.AGENT, limit=10)
    assert agent and {c.doc_id for c in agent} == {"t:1"}  # tickets only, internal only
    assert all(c.audience is Visibility.INTERNAL and 0 < c.similarity <= 1.0001 for c in agent)
    assert retriever.related(QUESTION, Audience.CUSTOMER, limit=10) == []
    assert retriever.related(QUESTION, Audience.AGENT, limit=0) == []
    assert {c.doc_id for c in retriever.related(QUESTION, Audience.AGENT, kind=DocumentKind.ARTICLE)} == {"r:1"}


def test_related_on_an_empty_store_is_empty(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    assert Retriever(store=store, embedder=embedder).related(QUESTION, Audience.AGENT) == []
