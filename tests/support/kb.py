"""A knowledge base of two files sources on disk: help-center articles and past tickets."""

from __future__ import annotations

from pathlib import Path


def write_files_sources(root: Path) -> Path:
    """``root/sources.toml`` naming ``root/articles`` (public) and ``root/tickets`` (internal)."""
    sources = root / "sources.toml"
    sources.write_text(f'''
[[sources]]
name = "articles"
type = "files"
path = "{(root / 'articles').as_posix()}"

[[sources]]
name = "tickets"
type = "files"
path = "{(root / 'tickets').as_posix()}"
default_audience = "internal"
''', encoding="utf-8")
    return sources
