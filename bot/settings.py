"""Settings: the only place that reads the environment (and ``.env``).

Every field is documented in ``.env.example`` with its default; a test keeps the two in step.
Most variables carry the ``HELPDESK_`` prefix; the well-known vendor ones (``QDRANT_URL``,
``OPENAI_API_KEY`` ...) keep their usual names.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All of helpdesk-bot's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="HELPDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- storage -----------------------------------------------------------------------------
    data_dir: Path = Field(default=Path("data"), description="Embedded store and state database")
    qdrant_url: str | None = Field(
        default=None, validation_alias=AliasChoices("QDRANT_URL", "HELPDESK_QDRANT_URL")
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QDRANT_API_KEY", "HELPDESK_QDRANT_API_KEY")
    )
    qdrant_timeout_s: float = 10.0
    collection_prefix: str = "kb"
    state_db_url: str | None = None

    # --- embeddings --------------------------------------------------------------------------
    embed_threads: int = Field(default=0, ge=0, description="ONNX Runtime intra-op threads; 0 = all cores")
    embed_batch_size: int = Field(default=32, ge=1, le=512)
    embed_max_tokens: int = Field(default=256, ge=16, le=512)

    # --- chunking ----------------------------------------------------------------------------
    chunk_tokens: int = Field(default=200, ge=32, le=512)
    chunk_overlap_tokens: int = Field(default=40, ge=0, le=256)

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(default=5, ge=1, le=50)
    prefetch_limit: int = Field(default=100, ge=5, le=1000)
    rrf_k: int = Field(default=10, ge=1)
    dense_weight: float = Field(default=1.0, ge=0)
    sparse_weight: float = Field(default=1.0, ge=0)
    min_confidence: float = Field(default=0.42, ge=0, le=1)
    max_question_chars: int = Field(default=4000, ge=100)

    # --- answering ---------------------------------------------------------------------------
    composer: Literal["extractive", "openai"] = "extractive"
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "HELPDESK_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "HELPDESK_OPENAI_BASE_URL")
    )
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=20.0, gt=0)
    openai_max_retries: int = Field(default=1, ge=0, le=5)
    handoff_text: str = "a human agent in #support"

    # --- sources -----------------------------------------------------------------------------
    sources_file: Path | None = Field(default=None, description="TOML file listing the sources (see README)")
    sample_kb: bool = Field(default=True, description="Sync the bundled sample knowledge base")
    files_dir: Path | None = None
    files_audience: Literal["public", "internal"] = "public"

    # --- logging -----------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "console", "json"] = "auto"

    @field_validator("qdrant_url", "state_db_url", "openai_base_url", "qdrant_api_key", "openai_api_key", "files_dir", "sources_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # An empty line in .env (``QDRANT_URL=``) means "not set", not "the empty URL".
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def state_url(self) -> str:
        return self.state_db_url or f"sqlite:///{(self.data_dir / 'state.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
