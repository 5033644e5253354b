"""Hybrid retrieval over the audience's collections only.

The audience decides which collections are queried, here in code, never in a prompt: a customer
question reaches ``kb_public`` alone, and the payload filter on ``audience`` repeats the rule
inside Qdrant as a second lock. Each signal (dense cosine, sparse BM25) is searched on its own and
the two are fused here (:mod:`bot.answer.fusion`); only the kept chunks' payloads are read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from bot.answer.fusion import fuse
from bot.index import vector_space
from bot.index.embeddings import TextEmbedder
from bot.index.schema import collection_name
from bot.index.sparse import SparseEncoder, SparseVector
from bot.index.store import Hit, SignalQuery, VectorStore
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
    kind: str = ""
    #: The heading or label in effect where the passage starts (a passage cut from the middle of a
    #: section does not show its heading); "" when the passage starts with its own.
    context: str = ""
    #: ``[start, end)`` spans of ``text`` flagged at ingest as instructions to an assistant
    #: (:mod:`bot.index.instructions`); :mod:`bot.answer.safety` keeps them out of every answer.
    instruction_spans: tuple[tuple[int, int], ...] = ()
    #: The text starts / ends inside a sentence split across chunks (see :class:`bot.index.schema.ChunkPayload`).
    starts_mid_sentence: bool = False
    ends_mid_sentence: bool = False


@dataclass
class Retrieval:
    chunks: list[RetrievedChunk]
    timings: dict[str, float] = field(default_factory=dict)
    #: The question's dense vector the search used (the reader compares headings with it).
    question_vector: np.ndarray | None = None
    #: The text searched for (``question_vector`` is its embedding).
    query: str = ""


@dataclass(frozen=True)
class RetrievalParams:
    """How many chunks come back, how deep each signal searches, and how the two are weighed."""

    limit: int = 10
    prefetch_limit: int = 100
    dense_weight: float = 0.4
    sparse_weight: float = 0.6


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
        """The chunks that best match ``question`` among those ``audience`` may read, best first.

        Ties in the fused score are broken by dense similarity, then document id and chunk number,
        so the same question on the same index always gets the same chunks in the same order.
        """
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        dense = self.embedder.embed_one(question)
        sparse = self.sparse.encode_query(question)
        timings["embed_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        allowed = [v.value for v in audience.visibilities]
        collections = [c for c, _ in self.collections_for(audience)]
        chunks = self._search(collections, dense, sparse, {"audience": allowed}, limit or self.params.limit)
        # Belt and braces: never trust a stray point.
        chunks = [c for c in chunks if c.audience.value in allowed]
        timings["search_ms"] = (time.perf_counter() - t1) * 1000
        return Retrieval(chunks=chunks, timings=timings, question_vector=dense, query=question)

    def related(self, question: str, audience: Audience, *, kind: DocumentKind = DocumentKind.TICKET,
                limit: int = 10) -> list[RetrievedChunk]:
        """Internal documents of ``kind`` like ``question`` (similar solved tickets), best first.

        Past tickets are agents' knowledge, so only the internal collection is searched, and only
        when ``audience`` may read it: a customer audience gets nothing. The result is chunks, not
        documents (a document may appear more than once); each carries its dense ``similarity``.
        """
        internal = Visibility.INTERNAL
        collection = collection_name(self.prefix, internal)
        if limit <= 0 or internal not in audience.visibilities:
            return []
        dense = self.embedder.embed_one(question)
        flt = {"audience": [internal.value], "kind": [kind.value]}
        chunks = self._search([collection], dense, self.sparse.encode_query(question), flt, limit)
        # Belt and braces, as in retrieve(): never trust a stray point.
        return [c for c in chunks if c.audience is internal and c.kind == kind.value]

    def _search(self, collections: list[str], dense: np.ndarray, sparse: SparseVector, flt: dict[str, list[str]],
                limit: int) -> list[RetrievedChunk]:
        """Both signals over ``collections``, fused (:mod:`bot.answer.fusion`); payloads read for the kept few."""
        p = self.params
        dense_hits: list[tuple[tuple[str, str], float]] = []
        sparse_hits: list[tuple[tuple[str, str], float]] = []
        for collection in collections:
            if not self.store.has_collection(collection):
                continue
            if collection not in self._checked:
                # A question embedded by another model than the stored vectors' is refused, once checked.
                vector_space.check(self.store, collection, self.embedder)
                self._checked.add(collection)
            by_dense, by_sparse = self.store.search(collection, [
                SignalQuery(dense=dense, limit=p.prefetch_limit, filter=flt),
                SignalQuery(sparse=sparse, limit=p.prefetch_limit, filter=flt),
            ])
            dense_hits += [((collection, h.id), h.score) for h in by_dense]
            sparse_hits += [((collection, h.id), h.score) for h in by_sparse]
        # One candidate list per signal across the collections (cosine and BM25 read the same in both).
        dense_hits = sorted(dense_hits, key=lambda kv: -kv[1])[: p.prefetch_limit]
        sparse_hits = sorted(sparse_hits, key=lambda kv: -kv[1])[: p.prefetch_limit]
        kept = fuse([(p.dense_weight, dense_hits), (p.sparse_weight, sparse_hits)])[:limit]
        scores = dict(kept)
        chunks: list[RetrievedChunk] = []
        for collection in collections:
            ids = [point for (c, point), _ in kept if c == collection]
            if not ids:
                continue
            for hit in self.store.retrieve(collection, ids):
                if hit.payload.get("doc_id") and hit.payload.get("audience") in flt["audience"]:
                    chunks.append(_retrieved(hit, dense, scores[(collection, hit.id)]))
        chunks.sort(key=lambda c: (-c.score, -c.similarity, c.doc_id, c.chunk_no))
        return chunks


def _retrieved(hit: Hit, dense: np.ndarray, score: float) -> RetrievedChunk:
    """A stored point as a retrieved chunk; ``similarity`` is the cosine of its dense vector to ``dense``."""
    pl = hit.payload
    return RetrievedChunk(
        doc_id=pl["doc_id"], chunk_no=int(pl.get("chunk_no", 0)), title=pl.get("title", ""), url=pl.get("url"),
        source=pl.get("source", ""), audience=Visibility(pl["audience"]), section=pl.get("section", ""),
        text=pl.get("text", ""), updated_at=_parse_dt(pl.get("updated_at")), score=score,
        similarity=float(np.dot(hit.dense, dense)) if hit.dense is not None else 0.0,
        kind=pl.get("kind", ""), context=pl.get("context", ""),
        instruction_spans=tuple((int(a), int(b)) for a, b in pl.get("instruction_spans") or ()),
        starts_mid_sentence=pl.get("starts_mid_sentence") is True, ends_mid_sentence=pl.get("ends_mid_sentence") is True,
    )


def _parse_dt(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
