"""Which embedding model wrote a collection's vectors, and what follows when the model changes.

Every collection records in its metadata (:meth:`VectorStore.update_metadata`):

* ``embedding_model``: the vector space (an embedder's ``space``: ``all-MiniLM-L6-v2`` for the
  local model at either precision, the model name for an embeddings server);
* ``embedding_dim``: the dense vector size;
* ``built:<source>``: the exact embedder build (its ``name``) of the last *full* sync of that
  source into this collection.

What a change of model does:

* **Another space or size** (e.g. from the local model to ``text-embedding-3-small``): the
  vectors cannot be compared, so nothing may query or write the collection with the new model:
  :class:`~bot.errors.EmbeddingMismatchError`, one line, for the sync and for every question
  alike. Never mixed. ``helpdesk-bot sync --rebuild`` drops such collections
  (:func:`drop_mismatched`) and syncs every source in full into new ones.
* **Same space, another build** (fp32 to int8 of the same model): queries keep working (the
  vectors are comparable) while the documents are re-embedded: a source whose last full sync was
  made by another build syncs in full once (its checkpoint ignored, so incremental sources send
  every document again; the stored hashes include the build, so every chunk is re-embedded),
  then is marked as built by the new one.

Collections made before this record existed hold all-MiniLM-L6-v2 fp32 vectors, the only model
there was: that is what a collection without the record is taken to hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from bot.errors import EmbeddingMismatchError
from bot.index.store import CollectionInfo, VectorStore

MODEL_KEY = "embedding_model"
DIM_KEY = "embedding_dim"
BUILT_PREFIX = "built:"
#: Build of every source not named by a ``built:<source>`` key (set when a legacy collection is
#: first marked, so its other sources keep counting as built by the legacy model).
BUILT_DEFAULT_KEY = "built_default"
#: What a collection without the record holds (every collection helpdesk-bot made before it).
LEGACY_SPACE = "all-MiniLM-L6-v2"
LEGACY_BUILD = "all-MiniLM-L6-v2"


class EmbeddingIdentity(Protocol):
    """What a collection records of an embedder."""

    @property
    def name(self) -> str: ...

    @property
    def space(self) -> str: ...

    @property
    def dim(self) -> int: ...


def space_of(embedder: Any) -> str:
    """An embedder's vector space; one that names none is a space of its own (its ``name``)."""
    return str(getattr(embedder, "space", None) or embedder.name)


def initial_metadata(embedder: EmbeddingIdentity) -> dict[str, Any]:
    """Metadata a new collection is created with (no source built yet)."""
    return {MODEL_KEY: space_of(embedder), DIM_KEY: int(embedder.dim)}


def recorded_space(info: CollectionInfo) -> tuple[str, int]:
    """(space, dim) the collection's vectors belong to."""
    return str(info.metadata.get(MODEL_KEY, LEGACY_SPACE)), info.dim


def mismatch(collection: str, info: CollectionInfo, embedder: EmbeddingIdentity) -> str | None:
    """The one-line reason ``embedder`` may not use ``collection``, or None if it may."""
    space, dim = recorded_space(info)
    if space == space_of(embedder) and dim == int(embedder.dim):
        return None
    return (f"collection {collection!r} holds vectors of {space!r} ({dim} dims) but the configured embeddings are "
            f"{space_of(embedder)!r} ({embedder.dim} dims); vectors of two models are never mixed: restore the embedding "
            "settings, or rebuild the index with 'helpdesk-bot sync --rebuild'")


def check(store: VectorStore, collection: str, embedder: EmbeddingIdentity) -> None:
    """Raise :class:`EmbeddingMismatchError` unless ``embedder`` writes ``collection``'s space."""
    reason = mismatch(collection, store.collection_info(collection), embedder)
    if reason is not None:
        raise EmbeddingMismatchError(reason)


def built_by(info: CollectionInfo, source: str) -> str | None:
    """The embedder build of ``source``'s last full sync into the collection (None: never)."""
    value = info.metadata.get(BUILT_PREFIX + source, info.metadata.get(BUILT_DEFAULT_KEY))
    if value is None and MODEL_KEY not in info.metadata:
        return LEGACY_BUILD
    return str(value) if value is not None else None


def mark_built(store: VectorStore, collection: str, source: str, embedder: EmbeddingIdentity) -> None:
    """Record that a full sync of ``source`` into ``collection`` was made by ``embedder``."""
    # One top-level key per source: two workers marking different sources never overwrite each other.
    values: dict[str, Any] = {BUILT_PREFIX + source: embedder.name}
    if MODEL_KEY not in store.collection_info(collection).metadata:
        values.update({MODEL_KEY: space_of(embedder), DIM_KEY: int(embedder.dim), BUILT_DEFAULT_KEY: LEGACY_BUILD})
    store.update_metadata(collection, values)


def drop_mismatched(store: VectorStore, collections: Iterable[str], embedder: EmbeddingIdentity) -> list[str]:
    """Drop the collections whose vectors ``embedder`` cannot use; returns their names."""
    dropped = []
    for name in collections:
        if store.has_collection(name) and mismatch(name, store.collection_info(name), embedder) is not None:
            store.drop_collection(name)
            dropped.append(name)
    return dropped
