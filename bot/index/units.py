"""Passages cut into answer units: sentences, list items, numbered steps, table rows, code blocks.

Help-center and ticket text is messier than prose: sentences glued without a space
("...to select it.Step 2 | Use the..."), label lines ("ABSTRACT", "RESOLVING THE PROBLEM",
"Title: ...", "Important:"), Markdown headings, bold lead-ins ("**The refund was rejected.** The
carrier..."), tables and code. Each unit knows the heading or label it sits under (its
``section``), so a composer can tell a resolution from a restated symptom, and whether it is a
heading (context only, never quoted), a step of a numbered list (kept with its siblings) or a
block (a table row is rendered with its header; a code block stays whole).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class UnitKind(StrEnum):
    SENTENCE = "sentence"
    ITEM = "item"  # a bullet
    STEP = "step"  # a numbered item or "Step N" line
    ROW = "row"  # a table row (rendered under its header)
    CODE = "code"  # a fenced code block, whole
    HEADING = "heading"  # a heading or label line: context, never quoted


@dataclass(frozen=True)
class Unit:
    text: str
    kind: UnitKind
    section: str = ""  # the heading or label it sits under ("" before any)
    header: str = ""  # for a table row: the header and separator lines
    line: int = 0  # the source line (paragraph) it came from: units of one line render as one paragraph

    @property
    def quotable(self) -> bool:
        return self.kind is not UnitKind.HEADING

    @property
    def block(self) -> bool:
        """Tables and code: cited after the block, never inside it."""
        return self.kind in (UnitKind.ROW, UnitKind.CODE)


#: A sentence ends at . ! ? followed by space and a capital, digit, quote, bracket or emphasis.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*“‘\[])")
#: Glued sentences: "select it.Step 2" / "Resubmit.Important:" (a lower-case letter or digit, the
#: stop, then a capital starting a word of two or more letters; "U.S.A" and "e.g.X" stay whole).
_GLUED = re.compile(r"(?<=[a-z0-9)\]][.!?])(?=[A-Z][a-z])")
#: "Step 2 | Use the ..." / "Step 3:" inside a line starts a new step.
#: "statusesDepending": five lower-case letters, then a word that starts with a capital (fewer
#: would split product names: "QuickBooks", "SharePoint", "WordPress").
_GLUED_HEADING = re.compile(r"(?<=[a-z][a-z][a-z][a-z][a-z])(?=[A-Z][a-z]{2,})")
_STEP_MARK = re.compile(r"(?<=\S)\s*(?=\bStep \d+\s*[|:.-])")
_BULLET = re.compile(r"^\s*[-*+•]\s+")
_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|Step \d+\s*[|:.-])\s*")
#: Call-out labels glued to their sentence ("Important:Whenever you ..."): a label, not content.
_CALLOUT = re.compile(r"^(?:Important|Note|Notes|Tip|Tips|Warning|Caution|Attention|Reminder)\s*:\s*", re.I)
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_BOLD_LEAD = re.compile(r"^\*\*([^*]{3,160}?)\*\*\s*(.*)$")
_LABEL_VALUE = re.compile(r"^([A-Z][A-Za-z ()/&-]{1,30}):\s*(.*)$")
_WORDS = re.compile(r"[A-Za-z]+")


def is_label(line: str) -> bool:
    """A label line: a short ALL-CAPS line ("RESOLVING THE PROBLEM", "TECHNOTE (FAQ)") or a short Title Case one."""
    s = line.strip().rstrip(":").strip()
    words = _WORDS.findall(s)
    if not words or len(words) > 8 or len(s) > 80:
        return False
    letters = "".join(words)
    if letters.isupper() and len(letters) >= 3:
        return True
    if re.search(r"[.!?,;]$", s) or len(words) > 6:
        return False
    # "Problem Solution", "Related Information:": short, every longer word capitalised, no full stop.
    # ("To verify your identity:" introduces a list: it is content, not a label.)
    return all(w[0].isupper() for w in words if len(w) > 3) and any(len(w) > 3 for w in words)


def split_units(passage: str, *, section: str = "") -> list[Unit]:
    """The units of ``passage`` in order; ``section`` is the heading the passage starts under."""
    units: list[Unit] = []
    lines = passage.splitlines()
    current = section
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            # Lines are numbered from 1 (the loop below counts a line once past it): a block must not
            # share its number with the heading right above it (a FAQ's question shares its answer's).
            units.append(Unit("\n".join(lines[i : j + 1]).strip(), UnitKind.CODE, current, line=(i + 1) * 100))
            i = j + 1
            continue
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            units.extend(_table_rows([x.strip() for x in lines[i:j]], current, i + 1))
            i = j
            continue
        i += 1
        if not line or set(line) <= set("*-_=#•| "):
            continue
        if _MD_HEADING.match(line):
            current = _MD_HEADING.sub("", line).strip().strip("#").strip()
            units.append(Unit(current, UnitKind.HEADING, current, line=i * 100))
            continue
        label = _LABEL_VALUE.match(line)
        if is_label(line) and not _NUMBERED.match(line) and not _BULLET.match(line):
            current = line.rstrip(":").strip()
            units.append(Unit(current, UnitKind.HEADING, current, line=i * 100))
            continue
        if label and label.group(1).strip().lower() in _META_LABELS:
            # "Title: ...", "Text: ..." - metadata of an exported record, not an answer.
            units.append(Unit(line, UnitKind.HEADING, current, line=i * 100))
            continue
        bold = _BOLD_LEAD.match(line)
        if bold and bold.group(2):
            # "**The refund was rejected.** The carrier ...": a FAQ's question and its answer.
            lead = bold.group(1).strip()
            units.append(Unit(lead, UnitKind.HEADING, lead, line=i * 100))
            units.extend(_line_units(bold.group(2), lead, i)[0])
            continue
        if bold and not bold.group(2):
            current = bold.group(1).strip().rstrip(":")
            units.append(Unit(current, UnitKind.HEADING, current, line=i * 100))
            continue
        line_units, current = _line_units(line, current, i)
        units.extend(line_units)
    return units


#: Labels of exported records whose line is metadata rather than content.
_META_LABELS = frozenset({"title", "text", "subject", "product", "component", "version", "document information",
                          "modified date", "created", "updated", "keywords", "tags"})


def _line_units(text: str, section: str, line: int) -> tuple[list[Unit], str]:
    """The units of one line, and the section in effect after it (a glued heading changes it)."""
    out: list[Unit] = []
    for n, piece in enumerate(_STEP_MARK.split(text)):
        piece = piece.strip()
        if not piece:
            continue
        kind = UnitKind.SENTENCE
        if _NUMBERED.match(piece):
            kind = UnitKind.STEP
        elif _BULLET.match(piece):
            kind = UnitKind.ITEM
            piece = _BULLET.sub("- ", piece, count=1)
        # Each "Step N" of a glued line starts a paragraph of its own.
        paragraph = line * 100 + n
        marker = _NUMBERED.match(piece) if kind is UnitKind.STEP else None
        prefix, rest = (piece[: marker.end()], piece[marker.end() :]) if marker else ("", piece)
        parts = [s.strip() for part in _SENTENCE_END.split(rest) for s in _GLUED.split(part)]
        if prefix and parts:
            parts[0] = prefix + parts[0]
        m = 0
        for part in parts:
            for fragment, is_heading in _unglue_headings(part):
                callout = _CALLOUT.match(fragment)
                if callout:
                    fragment = fragment[callout.end() :].strip()
                if not fragment:
                    continue
                if is_heading and not (m == 0 and kind is UnitKind.STEP):
                    section = fragment
                    out.append(Unit(fragment, UnitKind.HEADING, section, line=paragraph))
                    continue
                # A list item's later sentences continue the item (same paragraph), as sentences.
                out.append(Unit(fragment, kind if m == 0 else UnitKind.SENTENCE, section, line=paragraph))
                m += 1
    return out, section


def _unglue_headings(sentence: str) -> list[tuple[str, bool]]:
    """Split headings glued to the next sentence by a lossy HTML-to-text conversion:
    "Understanding payment statusesDepending on the nature..." is a heading, then a sentence.

    A split needs a run of five lower-case letters, then a capital and lower-case letters, and
    a heading-like fragment before it (2 to 8 words, no punctuation): product names such as
    "WordPress", "QuickBooks" or "LinkedIn" stay whole.
    """
    out: list[tuple[str, bool]] = []
    start = 0
    for match in _GLUED_HEADING.finditer(sentence):
        fragment = sentence[start : match.start()].strip()
        words = fragment.split()
        if 2 <= len(words) <= 8 and not re.search(r"[.!?:;,()]", fragment):
            out.append((fragment, True))
            start = match.start()
    out.append((sentence[start:].strip(), False))
    return out


def _table_rows(lines: list[str], section: str, line: int) -> list[Unit]:
    """Rows of a Markdown table, each carrying the header (a row alone does not say what its cells are)."""
    if len(lines) >= 2 and set(lines[1].replace("|", "").strip()) <= set("-: "):
        header = "\n".join(lines[:2])
        body = lines[2:]
    else:
        header, body = "", lines
    return [Unit(row, UnitKind.ROW, section, header, line=(line + n) * 100) for n, row in enumerate(body) if row.strip("| ")]
