"""BEIR-layout evaluation sets: ``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv`` and reference answers.

Every reader fails with :class:`~bot.errors.InputError` (a one-line message naming the file and
line) instead of a traceback: these files come from users.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.index.indexer import Indexer, IndexStats
from bot.models import Document, DocumentKind, Visibility


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {path}") from exc


def corpus_documents(path: Path) -> Iterator[Document]:
    for row in read_jsonl(path):
        if "_id" not in row:
            raise InputError(f"{path}: every corpus line needs an '_id'")
        title = str(row.get("title") or "").strip()
        text = str(row.get("text") or "").strip()
        yield Document(
            id=str(row["_id"]), source="eval", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
            title=title or text[:80], url=row.get("url"), text=text or title,
        )


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    qrels: dict[str, dict[str, float]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {path}") from exc
    for line in lines:
        parts = line.strip().split("\t")
        if len(parts) < 3 or parts[0] == "query-id":
            continue
        try:
            score = float(parts[2])
        except ValueError:
            continue
        if score > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = score
    return qrels


def read_reference_answers(path: Path | None) -> dict[str, str]:
    """``{query id: reference answer}`` from a JSONL of ``_id`` and ``reference_answer``; {} without a file.

    An empty file is allowed: the questions are still answered, only the scores need references.
    """
    if path is None:
        return {}
    out: dict[str, str] = {}
    for row in read_jsonl(path):
        if "_id" not in row or not isinstance(row.get("reference_answer"), str):
            raise InputError(f"{path}: every line needs an '_id' and a 'reference_answer' string")
        out[str(row["_id"])] = row["reference_answer"]
    return out


def index_corpus(indexer: Indexer, corpus: Path, *, on_progress: Callable[[int], None] | None = None) -> IndexStats:
    """Bring an evaluation index in step with ``corpus``: new and changed documents written, others removed.

    Unchanged documents cost a hash look-up, so a second run over a cached index is quick.
    """
    docs = list(corpus_documents(corpus))
    stats = indexer.index(docs, on_progress=on_progress)
    ids = {d.id for d in docs}
    stats.deleted += indexer.delete([d for v in indexer.stored_hashes().values() for d in v if d not in ids])
    indexer.store.flush()
    if stats.chunks_embedded or stats.updated or stats.deleted:
        indexer.optimize()
    return stats
