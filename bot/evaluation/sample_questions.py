"""Question sets about the bundled sample knowledge base, and the sections they name.

A set (``benchmarks/sample_kb_questions/*.tsv``) is one question per line as ``question<TAB>article
title<TAB>section heading``; an empty section means any section of that article. A thread set
(``benchmarks/sample_kb_threads/*.tsv``) puts the thread's earlier turn first: ``earlier turn<TAB>
follow-up<TAB>article title<TAB>section heading``. The benchmarks
score answers against them and train the window ranker on some; a test checks that every article
and section they name exists, read the same way.
"""

from __future__ import annotations

from pathlib import Path

from bot.index.chunking import markdown_sections
from bot.models import Document
from connectors.files import FilesConnector, FilesConnectorSettings, sample_kb_path


def question_rows(path: Path) -> list[tuple[str, str, str]]:
    """``(question, article title, section heading)`` per non-empty line of ``path``; a missing
    section is "" (any section)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            question, title, section = (line.split("\t") + ["", ""])[:3]
            rows.append((question, title, section))
    return rows


def thread_rows(path: Path) -> list[tuple[tuple[str, ...], str, str, str]]:
    """``(earlier turns, follow-up, article title, section heading)`` per non-empty line of a thread set."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            earlier, question, title, section = (line.split("\t") + ["", "", ""])[:4]
            rows.append(((earlier,), question, title, section))
    return rows


def article_sections(*, markdown_only: bool = False) -> dict[str, dict[str, str]]:
    """Each sample-KB article's title -> its ``##`` sections' heading -> text, as the files
    connector reads the articles and the chunker cuts them (a ``#`` line in a code block is no
    heading). ``markdown_only``: the Markdown articles only, not the HTML and plain-text ones."""
    out: dict[str, dict[str, str]] = {}
    for doc in FilesConnector(FilesConnectorSettings(path=sample_kb_path() / "articles")).sync(None):
        if not isinstance(doc, Document) or (markdown_only and not doc.id.endswith(".md")):
            continue
        sections = out.setdefault(doc.title, {})
        for _, section in markdown_sections(doc.text):
            heading, _, body = section.partition("\n")
            if heading.startswith("## "):
                sections[heading[3:].strip()] = body.strip()
    return out
