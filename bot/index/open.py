"""Open the store that settings choose: the one module that knows both backends.

As qdrant-client's front class picks its local or remote implementation, :func:`open_store` sits
above the :class:`~bot.index.store.VectorStore` interface and its two backends, so the interface
never imports an implementation (and no backend is imported until it is chosen).
"""

from __future__ import annotations

from bot.index.store import StoreTuning, VectorStore
from bot.settings import Settings


def store_tuning(settings: Settings) -> StoreTuning:
    """Qdrant's levers for new collections, as settings choose them (the same on both backends)."""
    return StoreTuning(quantize=settings.qdrant_quantization, quantized_on_disk=settings.qdrant_on_disk,
                       vectors_on_disk=settings.qdrant_on_disk,
                       sparse_on_disk=settings.qdrant_on_disk, payload_indexes_on_disk=settings.qdrant_on_disk,
                       build_every_points=settings.qdrant_build_every)


def open_store(settings: Settings) -> VectorStore:
    """The store chosen by settings: a Qdrant server if ``QDRANT_URL`` is set, else embedded."""
    if settings.qdrant_url:
        from bot.index.server_store import ServerStore

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ServerStore(settings.qdrant_url, api_key=key, timeout_s=settings.qdrant_timeout_s,
                           tuning=store_tuning(settings), shards=settings.qdrant_shards,
                           replication=settings.qdrant_replication,
                           write_consistency=settings.qdrant_write_consistency)
    from bot.index.edge_store import EdgeStore

    return EdgeStore(settings.store_dir, tuning=store_tuning(settings))
