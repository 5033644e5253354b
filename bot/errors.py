"""Errors of the ``bot`` package.

Every error a user can cause or meet is a :class:`HelpdeskBotError` with a one-line message
that says what went wrong and what to do; the CLI prints that line instead of a traceback.

    HelpdeskBotError
    ├── ConfigError          settings or a sources file are invalid
    ├── InputError           a question or file we cannot use (empty, too long, not text)
    ├── ModelError           the embedding model or its tokenizer is missing or broken
    │   └── EmbeddingServiceError  an embeddings server (HELPDESK_EMBEDDINGS_URL) failed
    ├── StoreError           the vector store cannot be opened, read or written
    │   ├── StoreLockedError another process holds the embedded store
    │   ├── StoreUnavailableError  a Qdrant server cannot be reached
    │   └── EmbeddingMismatchError the index was built by another embedding model
    ├── ComposerError        an LLM endpoint failed (callers fall back to the extractive composer)
    └── NotReadyError        a dependency is not reachable yet (``/readyz`` shows the message)
"""

from __future__ import annotations


class HelpdeskBotError(Exception):
    """Root of every error raised on purpose by helpdesk-bot."""


class ConfigError(HelpdeskBotError):
    """Settings or a configuration file are invalid."""


class InputError(HelpdeskBotError):
    """A question or document cannot be used as given."""


class ModelError(HelpdeskBotError):
    """The local embedding model cannot be loaded."""


class EmbeddingServiceError(ModelError):
    """An embeddings server answered an error, garbage, or nothing, after the retries."""


class StoreError(HelpdeskBotError):
    """The vector store failed."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store."""


class StoreUnavailableError(StoreError):
    """A Qdrant server cannot be reached."""


class ComposerError(HelpdeskBotError):
    """An answer composer failed (timeout, bad response)."""


class NotReadyError(HelpdeskBotError):
    """A dependency has not been reached yet; the message says why and is safe to show (no secrets)."""


class EmbeddingMismatchError(StoreError):
    """The collection's vectors come from another embedding model (space or size) than configured."""
