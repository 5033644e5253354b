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

from bot.index import vector_space
from bot.index.embeddings import TextEmbedder
from bot.index.indexer import collection_name
from bot.index.sparse import SparseEncoder
from bot.index.store import HybridQuery, VectorStore
from bot.models import Audience, Visibility


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
        embedder: TextEmbedder,
        sparse: SparseEncoder | None = None,
        params: RetrievalParams | None = None,
        collection_prefix: str = "kb",
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.sparse = sparse or SparseEncoder()
        self.params = params or RetrievalParams()
        self.prefix = collection_prefix
        self._checked: set[str] = set()  # collections whose embedding model matches ours

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
            if collection not in self._checked:
                # A question embedded by another model than the stored vectors' is refused, once checked.
                vector_space.check(self.store, collection, self.embedder)
                self._checked.add(collection)
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
                    )
                )
        chunks.sort(key=lambda c: c.score, reverse=True)
        timings["search_ms"] = (time.perf_counter() - t1) * 1000
        return Retrieval(chunks=chunks[: limit or p.limit], timings=timings)


def _parse_dt(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
