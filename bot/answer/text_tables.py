"""The Markdown tables of an answer's text, found once for every surface that shows them its own way.

An extractive answer quotes a table as the knowledge base has it (``| Plan | Price |``, a
``|---|---|`` rule, a row per line, a citation marker after a row). Slack's mrkdwn has no tables
and a helpdesk note is HTML, so each surface renders a :class:`TextTable` itself; the rest of the
text passes through unchanged. :func:`split_tables` cuts a text into plain runs and tables, and
nothing is lost: joined back (:meth:`TextTable.source`), the pieces are the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_ROW = re.compile(r"^[ \t]*\|(?P<cells>.*)\|[ \t]*(?P<marker>(?:\[\d+\][ \t]*)*)$")
_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class TableRow:
    cells: list[str]
    marker: str
    """Citation markers after the row ("[1]"), or ""."""
    line: str
    """The row's line as it was."""


@dataclass(frozen=True)
class TextTable:
    """A run of table lines: a header (when a rule line follows the first row and rows follow the
    rule) and the rows under it."""

    header: TableRow | None
    rows: list[TableRow]
    lines: list[str]
    """The lines as they were, rules included."""

    def source(self) -> str:
        return "\n".join(self.lines)

    def labelled_rows(self) -> list[LabelledRow]:
        """The rows as a list reads them where a table cannot be shown (Slack, some helpdesks):
        each led by its first cell, the other cells named by their column's header. The header's
        own first cell (the row labels' column) is implied by the leads; a header that names no
        row's cells (their counts differ) is a row of its own; a marker on the header goes with the
        first row; a row with no text at all is kept as its line."""
        header = self.header
        if header is not None and not any(len(row.cells) == len(header.cells) > 1 for row in self.rows):
            return TextTable(header=None, rows=[header, *self.rows], lines=self.lines).labelled_rows()
        carried = header.marker if header is not None else ""
        out = []
        for row in self.rows:
            if not any(row.cells):
                out.append(LabelledRow(lead="", cells=[], marker="", line=row.line))
                continue
            marker = " ".join(m for m in (carried, row.marker) if m)
            carried = ""
            if header is not None and len(header.cells) == len(row.cells):
                named = [(h, c) for h, c in zip(header.cells[1:], row.cells[1:], strict=True) if c]
                out.append(LabelledRow(lead=row.cells[0], cells=named, marker=marker))
            else:
                out.append(LabelledRow(lead="", cells=[("", c) for c in row.cells if c], marker=marker))
        if carried:  # a header over rows with no text
            out.append(LabelledRow(lead="", cells=[], marker=carried, line=carried))
        return out


@dataclass(frozen=True)
class LabelledRow:
    """One table row for a list: its lead (the first cell, "" without a header), its other cells
    with their column's name ("" when unnamed), the row's citation markers; ``line`` set only for a
    row with no text, to be shown as it was."""

    lead: str
    cells: list[tuple[str, str]]
    marker: str
    line: str | None = None


def list_item(row: LabelledRow, *, lead: Callable[[str], str], cell: Callable[[str], str]) -> str:
    """``row`` as one line of a list, in a surface's own markup: ``lead`` marks up the first cell
    (its Markdown bold dropped: the lead is emphasised anyway), ``cell`` every other piece of text;
    "lead — name: value · name: value [1]", or the cells joined by " — " without a lead."""
    named = [f"{cell(name)}: {cell(value)}" if name else cell(value) for name, value in row.cells]
    if row.lead:
        text = lead(row.lead.replace("**", "")) + (" — " + " · ".join(named) if named else "")
    else:
        text = " — ".join(named)
    return text + (f" {cell(row.marker)}" if row.marker else "")


def is_table_line(line: str) -> bool:
    """A table row (``| a | b |``, perhaps with a citation marker after it) or a rule (``|---|:--:|``)."""
    return bool(_ROW.match(line) or _RULE.match(line))


def split_tables(text: str) -> list[str | TextTable]:
    """``text`` as plain runs (strings, their line breaks kept) and tables, in order. A table starts
    at a row line (a lone rule line is plain text) and runs while lines are rows or rules."""
    lines = text.split("\n")
    pieces: list[str | TextTable] = []
    plain: list[str] = []
    i = 0
    while i < len(lines):
        if not _ROW.match(lines[i]) or _RULE.match(lines[i]):
            plain.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and is_table_line(lines[j]):
            j += 1
        if plain:
            pieces.append("\n".join(plain))
            plain = []
        pieces.append(_table(lines[i:j]))
        i = j
    if plain:
        pieces.append("\n".join(plain))
    return pieces


def _table(block: list[str]) -> TextTable:
    header = None
    body = block
    if len(block) >= 2 and _RULE.match(block[1]) and any(not _RULE.match(line) for line in block[2:]):
        header, body = _row(block[0]), block[2:]
    return TextTable(header=header, rows=[_row(line) for line in body if not _RULE.match(line)], lines=block)


def _row(line: str) -> TableRow:
    match = _ROW.match(line)
    if match is None:  # callers pass row lines only
        raise ValueError(f"not a table row: {line!r}")
    return TableRow(cells=[c.strip() for c in _CELL_SPLIT.split(match.group("cells"))],
                    marker=match.group("marker").strip(), line=line)
