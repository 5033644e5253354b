"""Citation markers ``[n]``: number the sources, and check every marker points to one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answer.retriever import RetrievedChunk
from bot.models import Citation

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def number_sources(chunks: list[RetrievedChunk]) -> list[Citation]:
    """One citation per document, numbered from 1 in the order given (best first)."""
    citations: list[Citation] = []
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.doc_id in seen:
            continue
        seen.add(chunk.doc_id)
        citations.append(
            Citation(
                n=len(citations) + 1,
                doc_id=chunk.doc_id,
                title=chunk.title,
                url=chunk.url,
                source=chunk.source,
                audience=chunk.audience,
                section=chunk.section,
                snippet=chunk.text[:280],
                updated_at=chunk.updated_at,
                score=chunk.similarity,
            )
        )
    return citations


@dataclass(frozen=True)
class CheckedText:
    text: str
    cited: list[int]
    removed: list[int]


def check_citations(text: str, valid: set[int]) -> CheckedText:
    """Keep the markers that point to a real source, drop the others.

    ``[2, 9]`` with only 2 valid becomes ``[2]``; ``[9]`` alone disappears.
    """
    cited: list[int] = []
    removed: list[int] = []

    def fix(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        kept = [n for n in numbers if n in valid]
        removed.extend(n for n in numbers if n not in valid)
        for n in kept:
            if n not in cited:
                cited.append(n)
        return "".join(f"[{n}]" for n in kept)

    fixed = MARKER.sub(fix, text)
    fixed = re.sub(r"[ \t]+([.,;:!?])", r"\1", fixed)
    fixed = re.sub(r"[ \t]{2,}", " ", fixed)
    return CheckedText(fixed.strip(), cited, removed)


def renumber(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """Keep only the cited sources and renumber them 1..k in order of first use."""
    checked = check_citations(text, {c.n for c in citations})
    mapping = {old: new for new, old in enumerate(checked.cited, start=1)}
    by_n = {c.n: c for c in citations}
    text = MARKER.sub(lambda m: "".join(f"[{mapping[int(n)]}]" for n in re.split(r"\s*,\s*", m.group(1))), checked.text)
    kept = [by_n[old].model_copy(update={"n": new}) for old, new in mapping.items()]
    return text, kept
