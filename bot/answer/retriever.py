"""Hybrid retrieval over the audience's collections only.

The audience decides which collections are queried, here in code, never in a prompt: a customer
question reaches ``kb_public`` alone, and the payload filter on ``audience`` repeats the rule
inside Qdrant as a second lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from bot.index.embeddings import Embedder
from bot.index.schema import collection_name
from bot.index.sparse import SparseEncoder
from bot.index.store import Hit, HybridQuery, VectorStore
from bot.models import Audience, DocumentKind, Visibility


@dataclass(frozen=True)
class RetrievedChunk:
    doc_id: str
    chunk_no: int
    title: str
    url: str | None
    source: str
    audience: Visibility
    section: str
    text: str
    updated_at: datetime | None
    score: float
    similarity: float
    #: ``[start, end)`` spans of ``text`` flagged at ingest as instructions to an assistant
    #: (:mod:`bot.index.instructions`); :mod:`bot.answer.safety` keeps them out of every answer.
    instruction_spans: tuple[tuple[int, int], ...] = ()


@dataclass
class Retrieval:
    chunks: list[RetrievedChunk]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrievalParams:
    limit: int = 10
    prefetch_limit: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0


class Retriever:
    def __init__(
        self,
        *,
        store: VectorStore,
        embedder: Embedder,
        sparse: SparseEncoder | None = None,
        params: RetrievalParams | None = None,
        collection_prefix: str = "kb",
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.sparse = sparse or SparseEncoder()
        self.params = params or RetrievalParams()
        self.prefix = collection_prefix

    def collections_for(self, audience: Audience) -> list[tuple[str, Visibility]]:
        """The only collections ``audience`` may read."""
        return [(collection_name(self.prefix, v), v) for v in audience.visibilities]

    def retrieve(self, question: str, audience: Audience, *, limit: int | None = None) -> Retrieval:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        dense = self.embedder.embed_one(question)
        sparse = self.sparse.encode_query(question)
        timings["embed_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        p = self.params
        allowed = [v.value for v in audience.visibilities]
        chunks: list[RetrievedChunk] = []
        for collection, _ in self.collections_for(audience):
            if not self.store.has_collection(collection):
                continue
            query = HybridQuery(
                dense=dense,
                sparse=sparse,
                limit=limit or p.limit,
                prefetch_limit=p.prefetch_limit,
                rrf_k=p.rrf_k,
                dense_weight=p.dense_weight,
                sparse_weight=p.sparse_weight,
                filter={"audience": allowed},
            )
            for hit in self.store.hybrid_query(collection, query):
                pl = hit.payload
                if pl.get("audience") not in allowed:  # belt and braces: never trust a stray point
                    continue
                similarity = float(np.dot(hit.dense, dense)) if hit.dense is not None else 0.0
                chunks.append(
                    RetrievedChunk(
                        doc_id=pl["doc_id"],
                        chunk_no=int(pl.get("chunk_no", 0)),
                        title=pl.get("title", ""),
                        url=pl.get("url"),
                        source=pl.get("source", ""),
                        audience=Visibility(pl["audience"]),
                        section=pl.get("section", ""),
                        text=pl.get("text", ""),
                        updated_at=_parse_dt(pl.get("updated_at")),
                        score=hit.score,
                        similarity=similarity,
                        instruction_spans=tuple((int(a), int(b)) for a, b in pl.get("instruction_spans") or ()),
                    )
                )
        chunks.sort(key=lambda c: c.score, reverse=True)
        timings["search_ms"] = (time.perf_counter() - t1) * 1000
        return Retrieval(chunks=chunks[: limit or p.limit], timings=timings)

    def related(self, question: str, audience: Audience, *, kind: DocumentKind = DocumentKind.TICKET,
                limit: int = 10) -> list[RetrievedChunk]:
        """Internal documents of ``kind`` like ``question`` (similar solved tickets), best first.

        Past tickets are agents' knowledge, so only the internal collection is searched, and only
        when ``audience`` may read it: a customer audience gets nothing. The result is chunks, not
        documents (a document may appear more than once); each carries its dense ``similarity``.
        """
        internal = Visibility.INTERNAL
        collection = collection_name(self.prefix, internal)
        if limit <= 0 or internal not in audience.visibilities or not self.store.has_collection(collection):
            return []
        dense = self.embedder.embed_one(question)
        p = self.params
        query = HybridQuery(
            dense=dense, sparse=self.sparse.encode_query(question), limit=limit, prefetch_limit=p.prefetch_limit,
            rrf_k=p.rrf_k, dense_weight=p.dense_weight, sparse_weight=p.sparse_weight,
            filter={"audience": [internal.value], "kind": [kind.value]},
        )
        hits = self.store.hybrid_query(collection, query)
        # Belt and braces, as in retrieve(): never trust a stray point.
        return [_retrieved(hit, dense) for hit in hits if hit.payload.get("doc_id")
                and hit.payload.get("audience") == internal.value and hit.payload.get("kind") == kind.value]


def _retrieved(hit: Hit, dense: np.ndarray) -> RetrievedChunk:
    """A store hit as a retrieved chunk; ``similarity`` is the cosine of its dense vector to ``dense``."""
    pl = hit.payload
    return RetrievedChunk(
        doc_id=pl["doc_id"], chunk_no=int(pl.get("chunk_no", 0)), title=pl.get("title", ""), url=pl.get("url"),
        source=pl.get("source", ""), audience=Visibility(pl["audience"]), section=pl.get("section", ""),
        text=pl.get("text", ""), updated_at=_parse_dt(pl.get("updated_at")), score=hit.score,
        similarity=float(np.dot(hit.dense, dense)) if hit.dense is not None else 0.0,
        instruction_spans=tuple((int(a), int(b)) for a, b in pl.get("instruction_spans") or ()),
    )


def _parse_dt(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
