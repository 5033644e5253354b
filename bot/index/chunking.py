"""Split documents into retrievable chunks with llama-index's sentence splitter and a local tokenizer.

Markdown is first cut at its headings (:func:`markdown_sections`: what llama-index's
``MarkdownNodeParser`` does, without building a node per section), small neighbouring sections are
packed together up to the token budget, long ones are split on sentence boundaries
(``SentenceSplitter``) with overlap. Token counts come from the embedding model's own
word-piece tokenizer (:class:`~bot.index.word_pieces.WordPieces`), so a chunk always fits
the model and tiktoken is never touched (it would download its encodings). Every chunk's text
starts with the document title and section path, so a passage read alone still says what it is
about.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from llama_index.core.node_parser import SentenceSplitter

from bot.index.embeddings import load_tokenizer
from bot.index.units import is_label
from bot.index.word_pieces import WordPieces
from bot.models import Chunk, Document

SECTION_SEPARATOR = " › "
#: Bump when the chunking logic changes: every document is then re-chunked on the next sync.
CHUNKING_VERSION = "3"
#: How a sentence too long for one chunk is cut: after a comma, full stop or semicolon that ends a
#: word (followed by white space or the end), never inside a token. llama-index's default
#: (``[^,.;。？！]+[,.;。？！]?``) also cuts inside "V9.0.0.8", "settings.json" and
#: "com.ibm.portal.WpsException", and the next chunk's overlap then starts with "0 and WebSphere ...".
#: The matches still cover the whole text.
LONG_SENTENCE_PIECE = r"(?:[^,.;。？！]|[,.;](?=\S))+[,.;。？！]?|[,.;。？！]"
#: A Markdown heading line, as llama-index's ``MarkdownNodeParser`` reads one.
_HEADING = re.compile(r"^(#+)\s(.*)")


def own_heading(section: str) -> str:
    """A section path's own heading, its last part: "Billing › Refunds" -> "Refunds"."""
    return section.split(SECTION_SEPARATOR)[-1].strip()


def markdown_sections(text: str) -> list[tuple[list[str], str]]:
    """``text`` cut at its Markdown headings: ``(parent headings, section text)`` per section, the
    section's text starting with its own heading line (none for text before the first heading).

    The same cut as llama-index's ``MarkdownNodeParser`` (lines starting a code fence toggle a
    code block, inside which ``#`` lines are not headings; a heading closes every open one of its
    level or deeper; empty sections are dropped), and the same parent list as reading its
    ``header_path`` metadata back (a heading containing "/" counts as several), so chunks do not
    change; without that parser's node objects, ids and callbacks, which cost a third of a ticket's
    preparation.
    """
    sections: list[tuple[list[str], str]] = []
    current: list[str] = []
    stack: list[tuple[int, str]] = []  # (level, heading text) of the open headings
    code_block = False

    def close() -> None:
        body = "\n".join(current).strip()
        if body:
            sections.append(([part for _, heading in stack[:-1] for part in heading.split("/") if part], body))

    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            code_block = not code_block
            current.append(line)
            continue
        heading = None if code_block else _HEADING.match(line)
        if heading is None:
            current.append(line)
            continue
        close()
        level, title = len(heading.group(1)), heading.group(2)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        current = [f"{'#' * level} {title}"]
    close()
    return sections


@dataclass(frozen=True)
class _Section:
    path: str
    text: str
    tokens: int


class Chunker:
    """Documents in, chunks out.

    Args:
        chunk_tokens: most word pieces of passage text per chunk (title and path come on top).
        overlap_tokens: overlap between consecutive pieces of one long section.
        count_tokens: token counter; defaults to the embedding model's tokenizer.
    """

    def __init__(
        self,
        *,
        chunk_tokens: int = 200,
        overlap_tokens: int = 40,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        if overlap_tokens >= chunk_tokens:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        self._custom_counter = count_tokens
        counter = count_tokens or WordPieces(load_tokenizer()).count

        def tokenize(text: str) -> list[int]:
            # The splitter only ever takes the length of what this returns.
            return [0] * counter(text)

        self.count_tokens = counter
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self._splitter = SentenceSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            tokenizer=tokenize,
            secondary_chunking_regex=LONG_SENTENCE_PIECE,
            include_metadata=False,
            include_prev_next_rel=False,
        )

    def __getstate__(self) -> dict[str, object]:
        # Sent to ingest workers as its configuration; each rebuilds its parsers and tokenizer.
        return {"chunk_tokens": self.chunk_tokens, "overlap_tokens": self.overlap_tokens,
                "count_tokens": self._custom_counter}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def chunk(self, doc: Document) -> list[Chunk]:
        sections = self._sections(doc)
        pieces: list[tuple[str, str, str, tuple[bool, bool]]] = []  # (path, passage, label at its start, cut)
        buffer: list[_Section] = []
        buffered_tokens = 0

        def flush() -> None:
            nonlocal buffer, buffered_tokens
            if buffer:
                # Sections packed after the first keep their own heading inline.
                parts = [buffer[0].text] + [f"## {s.path}\n{s.text}" if s.path else s.text for s in buffer[1:]]
                pieces.append((buffer[0].path, "\n\n".join(parts), "", (False, False)))
            buffer, buffered_tokens = [], 0

        for section in sections:
            if section.tokens > self.chunk_tokens:
                flush()
                for part in self._splitter.split_text(section.text):
                    pieces.append((section.path, part, _label_before(section.text, part), _cut(section.text, part)))
                continue
            if buffered_tokens + section.tokens > self.chunk_tokens:
                flush()
            buffer.append(section)
            buffered_tokens += section.tokens
        flush()

        chunks = []
        for n, (path, passage, context, (starts_cut, ends_cut)) in enumerate(pieces):
            header = doc.title if not path else f"{doc.title}{SECTION_SEPARATOR}{path}"
            passage = passage.strip()
            chunks.append(Chunk(doc_id=doc.id, chunk_no=n, text=f"{header}\n\n{passage}", passage=passage,
                                section=path, context=context, starts_mid_sentence=starts_cut,
                                ends_mid_sentence=ends_cut))
        return chunks

    def _sections(self, doc: Document) -> list[_Section]:
        sections: list[_Section] = []
        for parents, text in markdown_sections(doc.text):
            first_line, _, rest = text.partition("\n")
            own = first_line.lstrip("#").strip() if first_line.startswith("#") else ""
            if own and not rest.strip():
                continue  # a heading with nothing under it
            path_parts = parents + ([own] if own else [])
            # The document's own H1 repeats the title: keep it out of the path.
            if path_parts and path_parts[0].strip().lower() == doc.title.strip().lower():
                path_parts = path_parts[1:]
            body = rest.strip() if own else text
            path = SECTION_SEPARATOR.join(path_parts)
            # Counted with its path: a packed section carries it inline as a heading.
            tokens = self.count_tokens(body) + (self.count_tokens(path) if path else 0)
            sections.append(_Section(path, body, tokens))
        return sections


def _cut(section_text: str, piece: str) -> tuple[bool, bool]:
    """Whether ``piece`` of ``section_text`` starts and ends inside a sentence.

    A sentence too long for one chunk is split where a word ends ("... ship with Red Hat
    Enterprise Linux (RHEL) Server" | "6.2"): a reader quoting the piece's first or last line must
    not present it as a whole sentence. A piece ending at a line break, or after sentence
    punctuation, ends a sentence; one starting after either starts one.
    """
    text = piece.strip()
    at = section_text.find(text) if text else -1
    if at < 0:
        return False, False
    before = section_text[:at].rstrip(" \t")
    after = section_text[at + len(text) :].lstrip(" \t")
    starts = bool(before) and not before.endswith("\n") and not _ends_sentence(before)
    ends = bool(after) and not after.startswith("\n") and not _ends_sentence(text)
    return starts, ends


def _ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip("\"')]»”’").endswith((".", "!", "?", ":", ";"))


def _label_before(section_text: str, piece: str) -> str:
    """The last label line ("RESOLVING THE PROBLEM") of ``section_text`` before ``piece`` starts.

    Plain-text documents (technotes, exported tickets) mark their sections with such lines, not
    Markdown headings; a piece cut from the middle of a section would otherwise not know it.
    "" when the piece starts at the section's start or with a label of its own.
    """
    head = piece.strip()[:60]
    at = section_text.find(head) if head else -1
    if at <= 0 or is_label(head.splitlines()[0]):
        return ""
    label = ""
    for line in section_text[:at].splitlines():
        if line.strip() and is_label(line):
            label = line.strip().rstrip(":").strip()
    return label
