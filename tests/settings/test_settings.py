"""Settings: .env.example documents every setting, and only real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _env_names() -> set[str]:
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is not None:
            names.add(alias.choices[0])  # type: ignore[union-attr]
        else:
            names.add(f"HELPDESK_{field_name.upper()}")
    return names


def test_env_example_lists_exactly_the_settings() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    assert documented == _env_names()


def test_env_example_defaults_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    s = Settings()
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.model_dump() == default.model_dump()


def test_invalid_setting_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_COMPOSER", "gpt5-magic")
    with pytest.raises(ValueError, match="composer"):
        Settings(_env_file=None)  # type: ignore[call-arg]
