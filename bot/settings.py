"""Settings: the only place that reads the environment (and ``.env``).

Every field is documented in ``.env.example`` with its default; a test keeps the two in step.
Most variables carry the ``HELPDESK_`` prefix; the well-known vendor ones (``QDRANT_URL``,
``OPENAI_API_KEY`` ...) keep their usual names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
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
    # Qdrant's levers for large collections (bot/index/store.py StoreTuning; README "Scale").
    qdrant_quantization: bool = Field(default=True, description="int8 copy of the dense vectors searched first, the best candidates rescored with the originals")
    qdrant_on_disk: bool = Field(default=True, description="Original dense vectors, the sparse index, the int8 copy and new collections' payload indexes memory-mapped, not held in RAM")
    qdrant_warm_cache: bool = Field(default=True, description="Embedded store, when serving: after opening, read the files searches use into the OS page cache in the background (at most half the available memory), so the first answers after a restart do not wait on disk")
    qdrant_build_every: int = Field(default=100_000, ge=0, description="Embedded store: build indexes after this many new points (0 = after each sync only)")
    # A Qdrant cluster (QDRANT_URL): how a new collection is spread and how writes are acknowledged.
    qdrant_shards: int | None = Field(default=None, ge=1, le=1024, description="Shards per collection (empty = the server's default)")
    qdrant_replication: int | None = Field(default=None, ge=1, le=16, description="Copies of each shard (empty = 1)")
    qdrant_write_consistency: int | None = Field(default=None, ge=1, le=16, description="Replicas that acknowledge a write (empty = 1)")
    collection_prefix: str = "kb"
    state_db_url: str | None = None

    # --- embeddings --------------------------------------------------------------------------
    sync_nice: int = Field(default=10, ge=0, le=19, description="CPU niceness of the scheduler's threads (syncs, their model and workers; Linux): answers in the same process get the cores first. 0 = the same priority")
    embed_threads: int = Field(default=0, ge=0, description="ONNX Runtime intra-op threads; 0 = all cores")
    embed_batch_size: int = Field(default=32, ge=1, le=512)
    embed_max_tokens: int = Field(default=256, ge=16, le=512)
    embed_precision: Literal["int8", "fp32"] = Field(
        default="int8", description="int8: a quantized copy of the local model (made once, ~1.7x faster); fp32: as shipped")
    embed_query_precision: Literal["int8", "fp32"] = Field(
        default="fp32", description="Precision of the local model for questions (one short text each: fp32 costs ~1 ms more)")
    model_cache_dir: Path | None = Field(default=None, description="Where the int8 model copy and the reader's word vectors are kept, made once (empty = ~/.cache/helpdesk-bot)")
    # An OpenAI-compatible /v1/embeddings server instead of the local model (OpenAI, Azure, vLLM, TEI, Infinity).
    embeddings_url: str | None = Field(default=None, description="Base URL ending in /v1; empty = the local model")
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str = Field(default="text-embedding-3-small", min_length=1)
    embeddings_dimensions: int | None = Field(default=None, ge=1, le=65536, description="Ask for vectors of this size; empty = the model's own")
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048, description="Texts per request (OpenAI allows 2048)")
    embeddings_concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight at once")
    embeddings_timeout_s: float = Field(default=30.0, gt=0)
    embeddings_max_retries: int = Field(default=5, ge=0, le=20, description="Retries per request (429/5xx/network; Retry-After honoured)")
    embeddings_encoding: Literal["base64", "float"] = Field(default="base64", description="float for servers without base64")

    # --- chunking ----------------------------------------------------------------------------
    chunk_tokens: int = Field(default=200, ge=32, le=512)
    chunk_overlap_tokens: int = Field(default=40, ge=0, le=256)
    ingest_workers: int | None = Field(
        default=None, ge=0, le=64,
        description="Processes that mask, chunk and encode documents during large syncs; empty = automatic "
                    "(with HELPDESK_EMBEDDINGS_URL one per core but one, up to 8; none with the local model, which uses every core); 0 = none")

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(default=5, ge=1, le=50)
    prefetch_limit: int = Field(default=100, ge=5, le=1000)
    # z-score fusion of the two signals (bot/answer/fusion.py); only their ratio matters.
    dense_weight: float = Field(default=0.4, ge=0)
    sparse_weight: float = Field(default=0.6, ge=0)
    min_confidence: float = Field(default=0.5, ge=0, le=1)
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

    # --- Slack -------------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "HELPDESK_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "HELPDESK_SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "HELPDESK_SLACK_APP_TOKEN")
    )
    slack_mode: Literal["socket", "http"] = "socket"
    slack_customer_channels: str = Field(default="", description="Comma list of channel ids or names")
    slack_admin_users: str = Field(default="", description="Comma list of user ids allowed to run admin commands")
    slack_admin_usergroup: str = Field(default="", description="User group id whose members are admins")
    slack_working_emoji: str = "hourglass_flowing_sand"
    slack_command: str = Field(default="/helpdesk", pattern=r"^/[a-z0-9_-]{1,31}$")
    slack_handoff: str = Field(default="", description="Slack mention or channel link shown when the bot abstains")
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "HELPDESK_SLACK_API_URL"),
        description="Base URL of the Slack Web API (GovSlack, an egress proxy, a local fake)")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=3000, ge=0, le=65535)
    trusted_proxies: str = Field(default="", description="Comma list of proxy addresses / networks whose "
                                 "X-Forwarded-* headers are believed; empty = none, * = any")
    event_claim_lease_s: float = Field(default=120.0, ge=1, le=3600, description="Seconds a claimed Slack event "
                                       "may stay unfinished before Slack's retry may take it over")

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (e.g. https://slack.com/api/)")
        return value if value.endswith("/") else value + "/"

    @property
    def slack_customer_channel_set(self) -> frozenset[str]:
        """Channel ids and names (without '#') whose audience is the customer."""
        return frozenset(c.strip().lstrip("#") for c in self.slack_customer_channels.split(",") if c.strip())

    @property
    def slack_admin_user_set(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.slack_admin_users.split(",") if u.strip())

    # --- helpdesk drafting (webhooks -> cited draft as a private note) ------------------------
    zendesk_webhook_secret: SecretStr | None = Field(default=None, description="Zendesk webhook signing secret")
    intercom_client_secret: SecretStr | None = Field(default=None, description="Intercom app client secret (X-Hub-Signature)")
    freshdesk_webhook_secret: SecretStr | None = Field(default=None, description="Shared secret Freshdesk sends in a header")
    intercom_admin_id: str = Field(default="", description="Intercom admin the draft notes are posted as")
    webhook_max_age_s: int = Field(default=300, ge=1, le=3600, description="Oldest signed webhook timestamp accepted")
    draft_sources: str = Field(default="", description="Comma list of helpdesk source names to draft for (empty = all)")
    draft_on_abstain: Literal["note", "skip"] = "note"
    draft_on_customer_reply: bool = True
    draft_tag: str = Field(default="helpdesk_bot_drafted", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    draft_related_tickets: int = Field(default=3, ge=0, le=10)
    draft_workers: int = Field(default=2, ge=1, le=16)

    # --- style adapter (finetune: rewrite answers in the team's voice, guarded) -----------------
    style_helpdesk_drafts: Literal["none", "local", "openai"] = Field(default="none", description="Style backend for helpdesk drafts")
    style_slack_agent: Literal["none", "local", "openai"] = Field(default="none", description="Style backend for Slack answers to agents")
    style_slack_customer: Literal["none", "local", "openai"] = Field(default="none", description="Style backend for Slack answers to customers")
    style_local_adapter_dir: Path | None = Field(default=None, description="LoRA adapter of `finetune train` (empty = <data dir>/finetune/adapter)")
    style_openai_model: str = Field(default="", description="Fine-tuned model or vLLM LoRA name (empty = the one `finetune openai` recorded)")
    style_openai_base_url: str | None = Field(default=None, description="Endpoint of the style model (empty = OPENAI_BASE_URL)")
    style_openai_api_key: SecretStr | None = Field(default=None, description="Key of that endpoint (empty = OPENAI_API_KEY)")
    style_max_new_tokens: int = Field(default=160, ge=16, le=2048)
    style_timeout_s: float = Field(default=20.0, gt=0)
    style_threads: int = Field(default=0, ge=0, description="Torch threads of the local style model; 0 = all cores")

    # --- operations: admin page, questions log, readiness ------------------------------------
    admin_token: SecretStr | None = Field(default=None, description="Token of the admin page (/admin); empty = page off")
    admin_session_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="Admin session cookie lifetime")
    admin_cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto", description="Secure flag of the admin cookie: auto = when the request came over HTTPS")
    question_log_days: int = Field(default=30, ge=0, le=3650, description="Days questions are kept for the admin page; 0 = none")
    gap_similarity: float = Field(default=0.6, ge=0, le=1, description="Cosine above which knowledge-gap questions group")
    readiness_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Seconds /readyz waits for each dependency")
    sync_lease_ttl_s: float = Field(default=90.0, ge=5, le=3600, description="Seconds a sync's lease outlives its "
                                    "last heartbeat (a killed sync's source is free again after this)")

    # --- knowledge health: contradictions between articles and replies, stale articles, digest ---
    health_ticket_days: int = Field(default=90, ge=1, le=3650, description="Tickets and answers this recent are checked")
    health_topic_similarity: float = Field(default=0.4, ge=0, le=1, description="Cosine above which a ticket is on an article's topic")
    health_claim_similarity: float = Field(default=0.6, ge=0, le=1, description="Cosine above which two sentences state the same thing")
    health_stale_days: int = Field(default=180, ge=1, le=3650, description="An article not updated for this long is old")
    health_stale_min_tickets: int = Field(default=3, ge=1, description="Recent tickets citing an old article before it is flagged")
    health_min_not_helpful: int = Field(default=3, ge=1, description="Answers voted not helpful before their article is flagged")
    health_digest_channel: str = Field(default="", description="Slack channel id of the weekly digest; empty = no digest")
    health_digest_cron: str = Field(default="0 9 * * mon", description="When the digest is posted (crontab, UTC)")

    # --- logging -----------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "console", "json"] = "auto"

    @field_validator("*", mode="before")
    @classmethod
    def _blank_optional_is_none(cls, value: object, info: ValidationInfo) -> object:
        # An empty line in .env (``QDRANT_URL=``) means "not set", not "the empty URL": for every
        # optional setting (default None) a blank value is None.
        if isinstance(value, str) and not value.strip() and info.field_name is not None \
                and cls.model_fields[info.field_name].default is None:
            return None
        return value

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def state_url(self) -> str:
        return self.state_db_url or f"sqlite:///{(self.data_dir / 'state.db').as_posix()}"
