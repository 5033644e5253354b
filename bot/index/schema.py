"""What the index holds: collection names, vector names, point ids and the payload of a chunk.

The writer (:mod:`bot.index.indexer`) fills points this way and every reader (the retriever, the
fine-tuning export, the benchmarks) reads them this way; both take the layout from here, so a
reader never imports the writer.

One collection per :class:`~bot.models.Visibility` (``{prefix}_public``, ``{prefix}_internal``);
each point is one chunk: a named dense vector (:data:`DENSE`), a named sparse vector
(:data:`SPARSE`) and a :class:`ChunkPayload`.
"""

from __future__ import annotations

import uuid
from typing import TypedDict

from bot.models import Visibility

#: Names of the two vectors of every point.
DENSE = "dense"
SPARSE = "sparse"
#: Payload fields with an index (filters and deletes run on them).
KEYWORD_FIELDS = ("doc_id", "source", "audience", "kind")
INTEGER_FIELDS = ("chunk_no",)
#: The indexed fields searches filter on, each with a handful of values (the others serve the
#: sync: a document's chunks, a source's documents).
SEARCH_FILTER_FIELDS = ("audience", "kind")
#: uuid5 namespace of point ids: uuid5(namespace, f"{doc_id}#{chunk_no}").
POINT_NAMESPACE = uuid.UUID("5b0c3f8e-7d0e-4f58-9a51-4a1a3c2e8d11")


def collection_name(prefix: str, visibility: Visibility) -> str:
    """The collection that holds ``visibility``'s chunks (``kb_public``, ``kb_internal``)."""
    return f"{prefix}_{visibility.value}"


def point_id(doc_id: str, chunk_no: int) -> str:
    """Stable id of a chunk: re-running a sync overwrites instead of duplicating."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}#{chunk_no}"))


class ChunkPayload(TypedDict):
    """The payload of one chunk's point."""

    doc_id: str
    """The document's stable id (``zendesk:article:123``)."""
    chunk_no: int
    """Position of the chunk in its document, from 0; chunk 0 carries the document hash readers trust."""
    n_chunks: int
    source: str
    kind: str
    """A :class:`~bot.models.DocumentKind` value."""
    audience: str
    """A :class:`~bot.models.Visibility` value; readers filter on it as a second lock."""
    title: str
    url: str | None
    section: str
    context: str
    """The heading or label line in effect where the passage starts, when it starts mid-section
    ("RESOLVING THE PROBLEM" above a cut); "" otherwise. Not embedded: only read by composers."""
    starts_mid_sentence: bool
    """The passage starts inside a sentence (a long sentence split where a word ends); likewise
    ``ends_mid_sentence``: a reader marks the cut ("… ship with RHEL Server …") instead of quoting
    a fragment as a whole sentence. Absent (read as false) in stores written before chunking version 3."""
    ends_mid_sentence: bool
    text: str
    """The passage a reader quotes (section heading included)."""
    updated_at: str | None
    """ISO 8601, or None when the source does not say."""
    doc_hash: str
    """Hash of the document's content and of how it was indexed (chunker, model)."""
    chunk_hash: str
    """Hash of the chunk's text and the model, to reuse its vector when only other chunks changed."""
    instruction_spans: list[list[int]]
    """``[start, end)`` character spans of ``text`` that read as instructions to an assistant
    (:mod:`bot.index.instructions`): never quoted in an answer. Empty for almost every chunk; absent
    in indexes written before it existed (read it with ``.get``)."""
