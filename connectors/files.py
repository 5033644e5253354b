"""A folder of Markdown, HTML and text files as a source.

Markdown may start with YAML front matter (``title``, ``url``, ``audience``, ``kind``,
``updated_at``); HTML is converted to Markdown with markdownify, reading ``<title>`` and
``<meta name="audience|url|updated_at">``; a ``.txt`` file's first line is its title.
A file that cannot be read (not UTF-8, broken front matter) is reported (:class:`Skipped`) and left out.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import frontmatter
import structlog
from bs4 import BeautifulSoup
from pydantic import BaseModel, ConfigDict

from bot.models import Document, DocumentKind, Visibility
from connectors.base import Checkpoint, Connector, RecordError, Skipped, SyncEvents
from connectors.markdown import html_to_markdown

log = structlog.get_logger(__name__)

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
TEXT_SUFFIXES = frozenset({".txt"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES | TEXT_SUFFIXES
#: Files larger than this are skipped: a knowledge-base page is not a data dump.
MAX_FILE_BYTES = 5 * 1024 * 1024


class FilesConnectorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["files"] = "files"
    name: str = "files"
    path: Path
    default_audience: Visibility = Visibility.PUBLIC
    base_url: str | None = None


class FilesConnector(Connector):
    """Reads every supported file under a folder (recursively). Needs none of the injected parts."""

    settings: FilesConnectorSettings

    def _files(self) -> Iterator[Path]:
        root = self.settings.path
        if not root.is_dir():
            raise RecordError(f"files source {self.name!r}: {root} is not a folder")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                p = Path(dirpath) / filename
                if p.suffix.lower() in SUPPORTED_SUFFIXES and not filename.startswith("."):
                    yield p

    def _doc_id(self, path: Path) -> str:
        return f"{self.name}:file:{path.relative_to(self.settings.path).as_posix()}"

    def list_ids(self) -> list[str]:
        return [self._doc_id(p) for p in self._files()]

    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        started = datetime.now(UTC)
        for path in self._files():
            try:
                doc = self.read(path)
            except RecordError as exc:
                log.warning("file_skipped", source=self.name, path=str(path), reason=str(exc))
                yield Skipped(source=self.name, reason=str(exc))
                continue
            if doc is not None:
                yield doc
        return Checkpoint(updated_since=started)

    def read(self, path: Path) -> Document | None:
        """Turn one file into a Document (None for an empty file)."""
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise RecordError(f"{path.name}: larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
            raw = path.read_bytes()
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RecordError(f"{path.name}: not UTF-8 text (byte {exc.start}); convert it to UTF-8") from exc
        except OSError as exc:
            raise RecordError(f"{path.name}: cannot read ({exc.strerror})") from exc
        suffix = path.suffix.lower()
        if suffix in MARKDOWN_SUFFIXES:
            meta, body = _parse_markdown(path, text)
        elif suffix in HTML_SUFFIXES:
            meta, body = _parse_html(text)
        else:
            first, _, rest = text.strip().partition("\n")
            meta, body = {"title": first.strip()}, text_headings(rest.strip())
        if not body.strip():
            return None
        audience = _visibility(meta.get("audience"), self.settings.default_audience, path)
        kind = _kind(meta.get("kind"), suffix)
        title = str(meta.get("title") or _title_from(body) or path.stem.replace("-", " ").capitalize())
        url = meta.get("url") or (
            f"{self.settings.base_url.rstrip('/')}/{path.relative_to(self.settings.path).as_posix()}"
            if self.settings.base_url
            else None
        )
        updated = _datetime(meta.get("updated_at")) or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return Document(
            id=self._doc_id(path),
            source=self.name,
            kind=kind,
            audience=audience,
            title=title.strip(),
            url=str(url) if url else None,
            text=body.strip(),
            updated_at=updated,
            metadata={k: v for k, v in meta.items() if k == "status" and isinstance(v, str)},
        )


#: See :func:`text_headings`.
TEXT_HEADING_WORDS = 8
_TEXT_HEADING = re.compile(r"^(?![-*+•#>|]|\d+[.)]\s)[A-Z0-9][^\n]{0,78}(?<![.,;:!])$")


def text_headings(body: str) -> str:
    """A plain-text article's heading lines marked as Markdown headings (``## Support hours``).

    A heading in plain text is a paragraph of one short line (at most :data:`TEXT_HEADING_WORDS`
    words) that starts with a capital or a digit, is no list item, ends without a sentence's
    punctuation (a question mark is allowed: "Can I pay by invoice?") and has text after it.
    Marked, the chunker cuts the article at them and the reader knows which section a sentence
    sits under, as it does for Markdown and HTML articles."""
    paragraphs = re.split(r"\n[ \t]*\n", body)
    out = []
    for n, paragraph in enumerate(paragraphs):
        line = paragraph.strip()
        if (n + 1 < len(paragraphs) and "\n" not in line and _TEXT_HEADING.match(line)
                and len(line.split()) <= TEXT_HEADING_WORDS):
            paragraph = f"## {line}"
        out.append(paragraph)
    return "\n\n".join(out)


def _parse_markdown(path: Path, text: str) -> tuple[dict[str, Any], str]:
    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # yaml raises many types; all mean "broken front matter"
        raise RecordError(f"{path.name}: invalid front matter ({type(exc).__name__})") from exc
    return dict(post.metadata), post.content


def _parse_html(html: str) -> tuple[dict[str, Any], str]:
    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, Any] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for tag in soup.find_all("meta"):
        name, content = tag.get("name"), tag.get("content")
        if name in {"audience", "url", "updated_at", "kind"} and content:
            meta[str(name)] = str(content)
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript", "form"]):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.body or soup
    body = html_to_markdown(str(main))
    if "title" not in meta and (h1 := soup.find("h1")):
        meta["title"] = h1.get_text(" ", strip=True)
    return meta, body


def _title_from(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _visibility(value: Any, default: Visibility, path: Path) -> Visibility:
    if value is None:
        return default
    try:
        return Visibility(str(value).strip().lower())
    except ValueError as exc:
        raise RecordError(f"{path.name}: audience must be 'public' or 'internal', not {value!r}") from exc


def _kind(value: Any, suffix: str) -> DocumentKind:
    if value:
        try:
            return DocumentKind(str(value).strip().lower())
        except ValueError:
            pass
    return DocumentKind.ARTICLE if suffix in MARKDOWN_SUFFIXES | HTML_SUFFIXES else DocumentKind.FILE


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def sample_kb_path() -> Path:
    """The bundled sample knowledge base (a fictional product's help center and tickets)."""
    return Path(str(importlib.resources.files("bot") / "sample_kb"))
