"""The sources file: every source in one TOML file, validated by pydantic with clear errors.

```toml
[[sources]]
name = "help-center"
type = "zendesk"                     # files | zendesk | freshdesk | intercom | web
base_url = "https://acme.zendesk.com"
email_env = "ZENDESK_EMAIL"          # credentials are named by environment variable, never inline
token_env = "ZENDESK_API_TOKEN"
schedule = { every_minutes = 30 }    # or { cron = "0 */2 * * *" }
```
Every other key belongs to the connector type's own settings model (see ``connectors/*.py``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import ConfigError
from connectors.registry import CONNECTOR_TYPES

DEFAULT_EVERY_MINUTES = 60


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    every_minutes: float | None = Field(default=None, gt=0)
    cron: str | None = None
    #: Prune on every scheduled sync (default: only for files, whose listing is free; API
    #: sources are pruned by the weekly prune job instead).
    prune: bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if self.every_minutes is not None and self.cron is not None:
            raise ValueError("give either every_minutes or cron, not both")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from exc
        return self

    def prune_every_sync(self, source_type: str) -> bool:
        return self.prune if self.prune is not None else source_type == "files"

    def describe(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        return f"every {self.every_minutes or DEFAULT_EVERY_MINUTES:g} min"


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    schedule: Schedule
    settings: BaseModel


def load_sources(path: Path) -> list[SourceConfig]:
    """Read and validate a sources file; raise ConfigError with the first problem on one line."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"sources file not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    entries = raw.get("sources", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'sources' must be an array of tables ([[sources]])")
    out: list[SourceConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, 1):
        out.append(_parse_entry(path, i, entry))
        if out[-1].name in seen:
            raise ConfigError(f"{path}: source #{i}: the name {out[-1].name!r} is used twice")
        seen.add(out[-1].name)
    return out


def _parse_entry(path: Path, i: int, entry: Any) -> SourceConfig:
    where = f"{path}: source #{i}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    entry = dict(entry)
    name = entry.get("name")
    if isinstance(name, str):
        where += f" ({name!r})"
    kind = entry.get("type")
    if kind not in CONNECTOR_TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(sorted(CONNECTOR_TYPES))}, not {kind!r}")
    try:
        schedule = Schedule.model_validate(entry.pop("schedule", {}) or {})
        settings_model, _ = CONNECTOR_TYPES[kind].load()
        settings = settings_model.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ())) or "schedule"
        raise ConfigError(f"{where}: {loc}: {first.get('msg')}") from exc
    return SourceConfig(name=str(settings.name), type=kind, schedule=schedule, settings=settings)
