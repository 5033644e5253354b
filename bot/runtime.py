"""The composition root: build the store, models, indexer, answer service, style router and state from settings.

Everything above it (the CLI, ``serve`` and the surfaces it hosts) takes its parts from here;
everything below takes the parts it needs, typed, and never the runtime itself.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from bot.answer.composer import Composer
from bot.answer.retriever import RetrievalParams, Retriever
from bot.answer.service import AnswerService
from bot.answer.style import StyleAdapter, StyleRouter, surface_backends
from bot.health.finder import HealthFinder, HealthThresholds
from bot.index.chunking import Chunker
from bot.index.embeddings import Embedder, TextEmbedder
from bot.index.indexer import Indexer
from bot.index.open import open_store
from bot.index.pii import PiiMasker
from bot.index.preparation import automatic_workers
from bot.index.schema import collection_name
from bot.index.sparse import SparseEncoder
from bot.index.store import VectorStore
from bot.index.word_vectors import shared_word_vectors
from bot.models import Visibility
from bot.settings import Settings
from bot.state import StateStore
from bot.sync.priority import built_at_priority
from bot.sync.service import SyncService
from bot.sync.sources import Schedule, SourceConfig, load_sources
from connectors.base import Connector
from connectors.files import FilesConnectorSettings, sample_kb_path
from connectors.registry import build_connector


class Runtime:
    """Lazily built parts of a running helpdesk-bot; close it to release the store."""

    def __init__(self, settings: Settings, *, store: VectorStore | None = None, embedder: TextEmbedder | None = None,
                 query_embedder: TextEmbedder | None = None) -> None:
        self.settings = settings
        self._store = store
        self._shared_embedder = embedder is not None
        if embedder is not None:
            self.__dict__["embedder"] = embedder  # share one loaded model (tests, benchmarks)
        if query_embedder is not None:
            self.__dict__["query_embedder"] = query_embedder

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @cached_property
    def embedder(self) -> TextEmbedder:
        s = self.settings
        if s.embeddings_url:
            from bot.index.remote_embeddings import RemoteEmbedder

            return RemoteEmbedder(
                base_url=s.embeddings_url, model=s.embeddings_model, dimensions=s.embeddings_dimensions,
                api_key=s.embeddings_api_key.get_secret_value() if s.embeddings_api_key else None,
                batch_size=s.embeddings_batch_size, concurrency=s.embeddings_concurrency,
                timeout_s=s.embeddings_timeout_s, max_retries=s.embeddings_max_retries, encoding=s.embeddings_encoding,
            )
        def documents() -> Embedder:
            return Embedder(threads=s.embed_threads, batch_size=s.embed_batch_size, max_tokens=s.embed_max_tokens,
                            precision=s.embed_precision, cache_dir=s.model_cache_dir)

        if s.embed_precision == s.embed_query_precision:
            return documents()  # questions share this model: its threads keep the answers' priority
        # Only syncs embed documents with it: its worker threads take the scheduler's lower priority.
        return built_at_priority(s.sync_nice, documents)

    @cached_property
    def query_embedder(self) -> TextEmbedder:
        """The model questions are embedded with: the documents' model, or the same local model at
        ``HELPDESK_EMBED_QUERY_PRECISION`` (same vector space; documents are many, questions one at a time)."""
        s = self.settings
        documents = self.__dict__.get("embedder")
        if s.embeddings_url or (documents is not None and self._shared_embedder):
            return self.embedder
        if documents is not None and getattr(documents, "precision", None) == s.embed_query_precision:
            return documents
        return Embedder(threads=s.embed_threads, max_tokens=s.embed_max_tokens, precision=s.embed_query_precision,
                        cache_dir=s.model_cache_dir)

    @property
    def collection_names(self) -> list[str]:
        """The collections this runtime's indexer and retriever use."""
        return [collection_name(self.settings.collection_prefix, v) for v in Visibility]

    @cached_property
    def sparse(self) -> SparseEncoder:
        return SparseEncoder()

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(chunk_tokens=self.settings.chunk_tokens, overlap_tokens=self.settings.chunk_overlap_tokens)

    @cached_property
    def indexer(self) -> Indexer:
        return Indexer(
            store=self.store, embedder=self.embedder, chunker=self.chunker, sparse=self.sparse,
            masker=PiiMasker(), collection_prefix=self.settings.collection_prefix, workers=self.ingest_workers,
        )

    @property
    def ingest_workers(self) -> int:
        """Preparation processes for large syncs: as configured, else :func:`automatic_workers`."""
        if self.settings.ingest_workers is not None:
            return self.settings.ingest_workers
        return automatic_workers(remote_embeddings=bool(self.settings.embeddings_url))

    @cached_property
    def retriever(self) -> Retriever:
        s = self.settings
        params = RetrievalParams(limit=max(s.top_k, 10), prefetch_limit=s.prefetch_limit,
                                 dense_weight=s.dense_weight, sparse_weight=s.sparse_weight)
        return Retriever(store=self.store, embedder=self.query_embedder, sparse=self.sparse, params=params,
                         collection_prefix=s.collection_prefix)

    @cached_property
    def composer(self) -> Composer | None:
        s = self.settings
        if s.composer == "openai":
            from bot.answer.llm import OpenAIComposer

            return OpenAIComposer(
                model=s.openai_model,
                api_key=s.openai_api_key.get_secret_value() if s.openai_api_key else None,
                base_url=s.openai_base_url, timeout_s=s.openai_timeout_s, max_retries=s.openai_max_retries,
            )
        return None

    @cached_property
    def answers(self) -> AnswerService:
        s = self.settings
        return AnswerService(retriever=self.retriever, composer=self.composer, min_confidence=s.min_confidence,
                             handoff=s.handoff_text, max_question_chars=s.max_question_chars,
                             word_vectors=shared_word_vectors(s.model_cache_dir))

    @cached_property
    def style(self) -> StyleRouter:
        """The style adapter of each surface (``none`` unless HELPDESK_STYLE_* says otherwise)."""
        return StyleRouter.from_backends(surface_backends(self.settings), build=self._style_backend)

    def _style_backend(self, backend: str) -> StyleAdapter:
        # Imported only when a surface asks for a backend: the default (none) never loads bot.finetune.
        from bot.finetune.adapters import build_backend

        return build_backend(backend, self.settings)

    @cached_property
    def state(self) -> StateStore:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return StateStore(self.settings.state_url)

    @cached_property
    def health(self) -> HealthFinder:
        """The knowledge-health finder (contradictions, not-helpful and stale articles) over the index and state."""
        s = self.settings
        thresholds = HealthThresholds(
            ticket_days=s.health_ticket_days, topic_similarity=s.health_topic_similarity,
            claim_similarity=s.health_claim_similarity, stale_days=s.health_stale_days,
            stale_min_tickets=s.health_stale_min_tickets, min_not_helpful=s.health_min_not_helpful)
        return HealthFinder(retriever=self.retriever, questions=self.state.questions, thresholds=thresholds)

    @cached_property
    def sources(self) -> list[SourceConfig]:
        """Configured sources: the sources file, the bundled sample knowledge base, a files folder."""
        s = self.settings
        out: list[SourceConfig] = []
        if s.sources_file:
            out.extend(load_sources(Path(s.sources_file)))
        builtin: list[FilesConnectorSettings] = []
        if s.sample_kb:
            root = sample_kb_path()
            builtin.append(FilesConnectorSettings(name="sample-articles", path=root / "articles"))
            builtin.append(FilesConnectorSettings(name="sample-tickets", path=root / "tickets",
                                                  default_audience=Visibility.INTERNAL))
        if s.files_dir:
            builtin.append(FilesConnectorSettings(name="files", path=Path(s.files_dir),
                                                  default_audience=Visibility(s.files_audience)))
        taken = {src.name for src in out}
        out.extend(SourceConfig(name=b.name, type="files", schedule=Schedule(), settings=b) for b in builtin if b.name not in taken)
        return out

    def connectors(self) -> list[Connector]:
        return [build_connector(src.settings) for src in self.sources]

    @cached_property
    def syncs(self) -> SyncService:
        return SyncService(self.sources, ledger=self.state.ledger, indexer=lambda: self.indexer,
                           lease_ttl_s=self.settings.sync_lease_ttl_s)

    def close(self) -> None:
        if "indexer" in self.__dict__:
            self.indexer.close()  # its preparation workers, if a large sync started them
        closer = getattr(self.__dict__.get("embedder"), "close", None)
        if closer is not None and not self._shared_embedder:
            closer()  # a remote embedder's connection pool and request threads
        if self._store is not None:
            self._store.close()
            self._store = None
        if "state" in self.__dict__:
            self.state.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
