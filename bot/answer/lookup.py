"""Direct lookups: a question that names what a table row, a table column or a section is about.

"How long does a USPS refund take?" is answered by the USPS row of the refund table; "How much
does the Growth plan cost?" by the Growth column of the price table; "What does error PCL-4031
mean?" by the section headed "Error PCL-4031". The window ranker learnt from prose help-center
articles and technotes, which have almost no tables and few code-named sections, so it weighs
such a row like any short sentence and prefers a longer paragraph that repeats the question's
words. A person looks the key up instead, and so does this module:

* **section**: a standalone heading of a passage names a code of the question (letters and digits
  in one identifier: "PCL-4031", "SQL0204N"; not a version or a year, which headings of release
  notes and bulletins are full of). The best window of that section leads.
* **row**: the first cell of a table row is named by the question (an identifier or a capitalised
  name: "USPS", "PCL-4031"), or quoted by it when it has two words or more ("Out for delivery").
  A row named by a name or an acronym alone ("Australia", "USPS") needs another of the question's
  words in the row, its header or heading (an SMS price table does not answer "Do you ship to
  Australia?", nor the carriers' weight table "Does USPS offer insurance?"); a code names its row. The row is
  quoted, cell by cell, under the header's names; a column the question also names narrows it,
  unless only the product's own name (in most passages read) names that column.
* **column**: a header cell is named by the question ("Growth"). Its cells are quoted for the rows
  the question asks about: rows whose label shares a question term, and the row whose label is
  closest in meaning (an embedding: "cost" asks for "Monthly price").
* **heading**: a section heading reads like the question ("How many people can I invite?" for
  "How many team members can I invite?", "Create a label without an order"): one heading's
  embedding is at cosine :data:`HEADING_SIMILARITY` or more to the question's, and no other heading
  comes within :data:`HEADING_MARGIN` of it (two close headings leave the choice to the ranker). A
  help center's headings are written to be found this way; the ranker, trained on articles with
  few headings, weighs the heading's words less than a longer section's (steps above all). A
  heading of two words or more whose every word the question asks for ("Extra seats" for "How
  much does an extra seat cost?") is looked up too, when no embedding does it: a short heading
  embeds far from a whole question. Failing both, a document whose title holds every term of the
  question ("Contact Parcelly support and support hours" for "How do I contact support?") leads.
* **kind of section**: the question's form asks for a kind of section its words do not name
  ("What do I need before turning on SSO?": "Before you start"; "Who do I page?": "Escalate";
  :mod:`bot.answer.section_kinds`): the first such section of the top article leads (a past
  ticket, ranked above it for an agent, has no sections of a kind).

Sections are looked for first (in retrieval order), then tables, then kinds of section, then
headings; the first lookup found wins. A
question asking for a procedure ("How do I ...") gets no table lookup, and a question naming
nothing, or nothing a heading or table keys, gets none at all: the ranker's best window leads.
The quoted text is the source's own cells and sentences: nothing is rephrased.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from bot.answer.passages import Passage
from bot.answer.section_kinds import SectionKind, asked_kinds
from bot.answer.windows import PROCEDURE_QUESTION
from bot.index.chunking import own_heading
from bot.index.sparse import SparseEncoder, named_terms
from bot.index.text_cache import TextCache
from bot.index.units import Unit, UnitKind
from bot.models import DocumentKind

#: An error code: letters and a number of three digits or more in one identifier ("PCL-4031",
#: "CVE-2017-3156", "SQL0204N"); not "V8", "TL3", "x86-64" or "win32".
_CODE = re.compile(r"(?<![\w.-])(?=[A-Za-z]*[-_]?\d{3})[A-Za-z]{2,}[-_]?\d+(?:[-_][A-Za-z0-9]+)*[A-Za-z]?(?![\w-])")

#: A lookup quotes at most this many rows. A column lookup's rows are those whose label shares a
#: question term, and those whose label's embedding is within LABEL_MARGIN of the closest to a part
#: of the question (when that closest is at least MIN_LABEL_SIMILARITY: a question about nothing in
#: the table quotes none).
MAX_ROWS = 4
#: A question naming one column and what its rows are ("What permissions does the Viewer role
#: have?") quotes the whole column, when the table has at most this many rows.
MAX_COLUMN_ROWS = 12
#: A column lookup compares the question with the labels of at most this many rows by embedding.
MAX_EMBEDDED_ROWS = 64
LABEL_MARGIN = 0.15
MIN_LABEL_SIMILARITY = 0.3
#: A heading lookup needs this cosine between the heading's embedding and the question's, and
#: this lead over every other heading compared: those of the best HEADING_PASSAGES passages
#: (retrieval picks the document, the heading the section in it), at most MAX_HEADINGS.
HEADING_SIMILARITY = 0.75
HEADING_MARGIN = 0.05
HEADING_PASSAGES = 2
MAX_HEADINGS = 24
#: A heading all of whose terms the question asks for needs at least this many of them (one word,
#: "Troubleshooting" or "Overview", names a kind of section, not what it is about).
MIN_NAMED_HEADING_TERMS = 2
#: Of those, only the HEADING_SHORTLIST closest by static word vectors are embedded (when a shortlist is given).
HEADING_SHORTLIST = 4
#: A question comparing what it names ("What's the difference between Viewer and Shipper?", "Growth
#: vs Pro"): a column lookup naming two columns or more quotes the rows where they differ.
COMPARISON = re.compile(r"\b(?:differen\w*|compar\w*|vs\.?|versus)(?!\w)", re.I)
#: A question asking what a column holds as a whole: "What's included in the Starter plan?", "What
#: does Growth include?", "What do I get with Pro?".
WHOLE_COLUMN = re.compile(r"\bwhat(?:'s|\s+is|\s+are)?\s+included\b|\bwhat\s+(?:does|do)\s+(?:[\w-]+\s+){1,3}include\b"
                          r"|\bwhat\s+do\s+(?:i|we|you)\s+get\b", re.I)
#: The parts of a question that asks two things ("... cost and how many shipments ..."); the first few.
MAX_CLAUSES = 4
_CLAUSE = re.compile(r"\s+and\s+|[;?]\s*", re.I)

#: Embeds a few short texts (unit-length rows), for the column lookup's choice of rows.
Embed = Callable[[Sequence[str]], np.ndarray]
#: Cosine of each of some texts to a question, cheaply (static word vectors): ``(question, texts) -> (len(texts),)``.
Shortlist = Callable[[str, Sequence[str]], np.ndarray]
#: Texts whose embedding :class:`CachedEmbed` keeps (a 384-dimension vector is 1.5 kB: 30 MB at most).
EMBED_CACHE_ENTRIES = 20_000


class CachedEmbed:
    """``embed`` with its vectors kept for the texts it saw last (least recently used dropped first).

    A knowledge base's headings and table labels are few and come back question after question;
    embedding them again would cost a few milliseconds each. Safe across threads."""

    def __init__(self, embed: Embed, *, max_entries: int = EMBED_CACHE_ENTRIES) -> None:
        self._embed = embed
        self._vectors: TextCache[np.ndarray] = TextCache(max_entries)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._vectors.get_many(texts, lambda missing: [row.copy() for row in self._embed(missing)])
        return np.stack(rows) if rows else np.zeros((0, 0))


class LookupKind(StrEnum):
    SECTION = "section"
    ROW = "row"
    COLUMN = "column"


@dataclass(frozen=True)
class Lookup:
    kind: LookupKind
    #: The passage looked up (an index into the reading's passages).
    passage: int
    #: Quotable units of that passage: the section's units, or the table rows quoted.
    units: tuple[int, ...]
    #: For a table: the cells quoted of each row (0 is the row's label), in order.
    columns: tuple[int, ...] = ()
    #: The heading the looked-up part sits under (the citation names it).
    section: str = ""


def cells(row: str) -> list[str]:
    """The cells of a Markdown table row: ``| a | b |`` -> ``["a", "b"]``."""
    text = row.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|"):
        text = text[:-1]
    return [c.strip() for c in text.split("|")]


def find_lookup(
    question: str,
    passages: Sequence[Passage],
    all_units: Sequence[Sequence[Unit]],
    units: Sequence[Sequence[Unit]],
    *,
    identifiers: set[str],
    names: set[str],
    sparse: SparseEncoder,
    common_names: AbstractSet[str] = frozenset(),
    embed: Embed | None = None,
    question_vector: np.ndarray | None = None,
    shortlist: Shortlist | None = None,
) -> Lookup | None:
    """The first lookup the question's keys find in ``passages`` (retrieval order), or None.

    ``identifiers`` and ``names`` are the question's stemmed keys (:func:`bot.answer.windows.question_keys`);
    ``units`` are the quotable units of each passage, ``all_units`` every unit (headings too);
    ``question_vector`` the question's embedding by ``embed``'s model, if already made;
    ``shortlist`` a cheap similarity that picks the few headings worth embedding;
    ``common_names`` the names found in most passages read (the product's own: "Parcelly"), which
    pick no column of a named row ("Does Parcelly support DHL Express?" asks for DHL Express's
    whole row, not its "Parcelly rates" cell).
    """
    keys = identifiers | names
    q_terms = set(sparse.terms(question))
    codes = {m.group(0).casefold() for m in _CODE.finditer(question)}
    order = sorted(range(len(passages)), key=lambda i: passages[i].rank)
    # A section about the code is the fullest answer; a table row about it comes second.
    for pi in order:
        found = _section_lookup(pi, all_units[pi], units[pi], codes)
        if found is not None:
            return found
    if not PROCEDURE_QUESTION.search(question):
        # "How do I connect Shopify?" asks for steps, not for Shopify's row of a table
        for pi in order:
            found = _table_lookup(question, pi, units[pi], keys, q_terms, sparse, embed, common_names, identifiers)
            if found is not None:
                return found
    kinds = asked_kinds(question)
    # A ticket has no sections of a kind ("Customer", "Agent reply"): the top article is looked in.
    articles = [pi for pi in order if passages[pi].first.kind != DocumentKind.TICKET.value]
    if kinds and articles:
        top = passages[articles[0]].doc_id
        found = _kind_lookup(kinds, [(pi, units[pi]) for pi in articles if passages[pi].doc_id == top])
        if found is not None:
            return found
    first = [(pi, units[pi]) for pi in order[:HEADING_PASSAGES]]
    return (_heading_lookup(question, first, embed, question_vector, shortlist)
            or _named_heading_lookup([(pi, quotable, passages[pi].title) for pi, quotable in first], q_terms, sparse)
            or _named_title_lookup([(pi, units[pi], passages[pi].title, passages[pi].doc_id) for pi in order], q_terms,
                                   sparse))


def _kind_lookup(kinds: Sequence[SectionKind], passages: Sequence[tuple[int, Sequence[Unit]]]) -> Lookup | None:
    """The first section of ``passages`` (the top document's, in retrieval order: index and
    quotable units) whose heading is of a kind the question asks for (:mod:`bot.answer.section_kinds`)."""
    for pi, quotable in passages:
        for section in dict.fromkeys(u.section for u in quotable):
            heading = own_heading(section)
            if heading and any(kind.heading.search(heading) for kind in kinds):
                return Lookup(LookupKind.SECTION, pi, _members(quotable, section), section=section)
    return None


def _heading_lookup(question: str, passages: Sequence[tuple[int, Sequence[Unit]]], embed: Embed | None,
                    question_vector: np.ndarray | None, shortlist: Shortlist | None) -> Lookup | None:
    """The section whose heading alone comes closest to the question, when it is close and no
    other heading is nearly as close (``passages``: index and quotable units, in retrieval order)."""
    if embed is None:
        return None
    # casefolded heading -> (passage index, its quotable units, section, heading)
    candidates: dict[str, tuple[int, Sequence[Unit], str, str]] = {}
    for pi, quotable in passages:
        for section in dict.fromkeys(u.section for u in quotable):
            heading = own_heading(section)
            if heading and len(candidates) < MAX_HEADINGS:
                candidates.setdefault(heading.casefold(), (pi, quotable, section, heading))
    if not candidates:
        return None
    chosen = list(candidates.values())
    if shortlist is not None and len(chosen) > HEADING_SHORTLIST:
        # The model costs a few milliseconds a heading the cache has not seen: embed only the
        # headings closest by static word vectors (microseconds each).
        cheap = shortlist(question, [heading for *_, heading in chosen])
        keep = sorted(np.argsort(-cheap, kind="stable")[:HEADING_SHORTLIST])
        chosen = [chosen[k] for k in keep]
    headings = embed([heading for *_, heading in chosen])
    if question_vector is None:
        question_vector = embed([question])[0]
    similarity = headings @ question_vector
    order = np.argsort(-similarity, kind="stable")
    best = int(order[0])
    runner_up = float(similarity[order[1]]) if len(order) > 1 else -1.0
    if similarity[best] < HEADING_SIMILARITY or similarity[best] - runner_up < HEADING_MARGIN:
        return None
    pi, quotable, section, _ = chosen[best]
    return Lookup(LookupKind.SECTION, pi, _members(quotable, section), section=section)


def _named_heading_lookup(passages: Sequence[tuple[int, Sequence[Unit], str]], q_terms: set[str],
                          sparse: SparseEncoder) -> Lookup | None:
    """The section whose heading's words are all the question's ("Extra seats" for "How much does
    an extra seat cost?", "Withdrawing your balance" for "Can I withdraw my postage balance?"),
    when one heading of at least MIN_NAMED_HEADING_TERMS terms is, and no other of as many terms,
    and the heading names at least half of what the question asks (a long
    question, a technote's pasted log above all, shares a heading's few words by chance).

    The words match after stemming, so the heading's embedding can sit well under
    HEADING_SIMILARITY (a two-word heading embeds far from a whole question) while every word of
    it was asked for."""
    need = max(MIN_NAMED_HEADING_TERMS, (len(q_terms) + 1) // 2)
    named: list[tuple[int, int, Sequence[Unit], str]] = []  # (terms, passage index, quotable units, section)
    for pi, quotable, title in passages:
        for section in dict.fromkeys(u.section for u in quotable):
            heading = own_heading(section)
            if heading.casefold() == title.strip().casefold():
                continue  # the title names the document, which retrieval chose, not a section of it
            terms = sparse.term_set(heading)
            if len(terms) >= need and named_terms(terms, q_terms) == terms:
                named.append((len(terms), pi, quotable, section))
    most = max((n for n, *_ in named), default=0)
    best = [found for found in named if found[0] == most]
    if len(best) != 1:
        return None
    _, pi, quotable, section = best[0]
    return Lookup(LookupKind.SECTION, pi, _members(quotable, section), section=section)


def _named_title_lookup(passages: Sequence[tuple[int, Sequence[Unit], str, str]], q_terms: set[str],
                        sparse: SparseEncoder) -> Lookup | None:
    """The document whose title names everything the question asks ("Contact Parcelly support and
    support hours" for "How do I contact support?"), when exactly one document's title does, with
    at most twice the question's terms (``passages``: index, quotable units, title and document
    id, in retrieval order). Its first passage leads; the ranker picks the window in it."""
    if len(q_terms) < MIN_NAMED_HEADING_TERMS:
        return None
    found: dict[str, tuple[int, int]] = {}  # document id -> (passage index, units)
    for pi, quotable, title, doc_id in passages:
        terms = sparse.term_set(title)
        if quotable and q_terms <= terms and len(terms) <= 2 * len(q_terms):
            found.setdefault(doc_id, (pi, len(quotable)))
    if len(found) != 1:
        return None
    [(pi, n)] = found.values()
    return Lookup(LookupKind.SECTION, pi, tuple(range(n)))


def _members(quotable: Sequence[Unit], section: str) -> tuple[int, ...]:
    """The indices of ``quotable``'s units under ``section``."""
    return tuple(i for i, u in enumerate(quotable) if u.section == section)


def _section_lookup(pi: int, everything: Sequence[Unit], quotable: Sequence[Unit], codes: set[str]) -> Lookup | None:
    if not codes:
        return None
    # A FAQ entry's bold question shares its line with the answer: it restates a case, it does not
    # name the section's topic ("**It's been more than 21 days for a USPS label.** Contact ...").
    faq = {u.text for k, u in enumerate(everything[:-1]) if u.kind is UnitKind.HEADING and everything[k + 1].line == u.line}
    for section in dict.fromkeys(u.section for u in quotable):  # the passage's sections, in order
        if not section or section in faq:
            continue
        if not codes & {m.group(0).casefold() for m in _CODE.finditer(section)}:
            continue
        return Lookup(LookupKind.SECTION, pi, _members(quotable, section), section=section)
    return None


def _tables(quotable: Sequence[Unit]) -> list[list[int]]:
    """Runs of consecutive table rows under one header (indices into ``quotable``)."""
    runs: list[list[int]] = []
    for i, u in enumerate(quotable):
        if u.kind is not UnitKind.ROW or not u.header:
            continue
        previous = quotable[i - 1] if i > 0 else None
        if runs and runs[-1][-1] == i - 1 and previous is not None and previous.header == u.header:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _names(cell: str, keys: set[str], q_terms: set[str], sparse: SparseEncoder) -> bool:
    """The question names ``cell``: it shares a key, and every code-like term of the cell is asked for
    ("PCL-4220" is not named by a question about PCL-4031, though both share "pcl")."""
    terms = sparse.term_set(cell)
    if not terms & keys:
        return False
    return all(t in q_terms for t in terms if any(ch.isdigit() for ch in t))


def _quotes(question: str, label: str) -> bool:
    """The question quotes a row's label of two words or more ("What does Out for delivery mean?",
    "the X-RateLimit-Remaining header"); a one-word label needs to be a key (too many questions
    say "support" or "email" in passing)."""
    text = plain(label)
    if len(re.findall(r"\w+", text)) < 2:
        return False
    return re.search(rf"(?<!\w){re.escape(text)}(?!\w)", question, re.I) is not None


def plain(cell: str) -> str:
    """A cell without its Markdown emphasis or code marks: ``**In transit**`` -> ``In transit``."""
    return cell.replace("**", "").replace("`", "").strip().strip("*_").strip()


def _about_the_question(row: Sequence[str], context: Sequence[str], keys: AbstractSet[str],
                        identifiers: AbstractSet[str], q_terms: set[str], sparse: SparseEncoder) -> bool:
    """A row whose label a key names is what the question asks about when that key is a code (it
    has digits: "PCL-4031"), or when another word of the question is in the row, its table's
    header or section. A name or an acronym alone is not enough: "Does USPS offer insurance?" is
    not answered by USPS's row of the carriers table (weights and sizes)."""
    named = sparse.term_set(row[0]) & keys
    if any(any(ch.isdigit() for ch in term) for term in named & identifiers):
        return True
    others = q_terms - named
    return any(others & sparse.term_set(text) for text in (*row, *context) if text)


def _table_lookup(question: str, pi: int, quotable: Sequence[Unit], keys: set[str], q_terms: set[str],
                  sparse: SparseEncoder, embed: Embed | None, common_names: AbstractSet[str],
                  identifiers: AbstractSet[str]) -> Lookup | None:
    """A row the question names (by a key, or by quoting its label), else a column it names with the
    rows it asks for. A row named by a name or an acronym alone ("Australia", "USPS") needs the
    table to be about what the question asks: one more of its words in the row, the header or the
    section heading ("Do you ship to Australia?" is not answered by the Australia row of an SMS
    price table); a code ("PCL-4031") names its row outright."""
    for run in _tables(quotable):
        header = cells(quotable[run[0]].header.splitlines()[0])
        if len(header) < 2:
            continue
        # A row cut at a chunk's edge is not quoted: it has fewer cells, or, cut inside its last
        # cell, lacks the closing "|" its header has ("| Returns portal | No | Yes | Yes,").
        closed = quotable[run[0]].header.splitlines()[0].rstrip().endswith("|")
        rows = [(i, cells(quotable[i].text)) for i in run
                if not closed or quotable[i].text.rstrip().endswith("|")]
        rows = [(i, c) for i, c in rows if len(c) == len(header)]
        if not rows:
            continue
        context = (quotable[run[0]].header, quotable[run[0]].section)
        named_rows = [i for i, c in rows if _quotes(question, c[0]) or (
            _names(c[0], keys, q_terms, sparse) and _about_the_question(c, context, keys, identifiers, q_terms, sparse))]
        named_rows = named_rows[:MAX_ROWS]
        named_columns = [j for j in range(1, len(header)) if _names(header[j], keys, q_terms, sparse)]
        if len(named_columns) == len(header) - 1:
            named_columns = []  # a question naming every column names none of them
        section = quotable[run[0]].section
        if named_rows:
            # The row is what the question asks about; a column narrows it only when named by more
            # than a name most passages read carry.
            row_keys = keys - common_names
            named_columns = [j for j in named_columns if _names(header[j], row_keys, q_terms, sparse)]
            columns = (0, *named_columns) if named_columns else tuple(range(len(header)))
            return Lookup(LookupKind.ROW, pi, tuple(named_rows), columns, section)
        if named_columns:
            chosen = _rows_that_differ(rows, named_columns) if len(named_columns) >= 2 and COMPARISON.search(question) \
                else ()
            every_row = tuple(i for i, _ in rows) if len(named_columns) == 1 and len(rows) <= MAX_COLUMN_ROWS else ()
            if not chosen and WHOLE_COLUMN.search(question):
                # "What's included in the Starter plan?": every row is, not only "Shipments included".
                chosen = every_row
            chosen = chosen or _rows_asked_for(question, rows, q_terms, sparse, embed)
            if not chosen and sparse.term_set(header[0]) & q_terms:
                # "What permissions does the Viewer role have?": the column, and the rows' own kind
                # ("Permission"), named together ask for every row of that column.
                chosen = every_row
            if chosen:
                return Lookup(LookupKind.COLUMN, pi, chosen, (0, *named_columns), section)
    return None


def _rows_that_differ(rows: list[tuple[int, list[str]]], columns: Sequence[int]) -> tuple[int, ...]:
    """The rows whose cells differ between ``columns`` (the difference a comparison asks for), at most
    :data:`MAX_COLUMN_ROWS` (a longer list is no answer to "what's the difference")."""
    differ = tuple(i for i, c in rows if len({plain(c[j]).casefold() for j in columns}) > 1)
    return differ if len(differ) <= MAX_COLUMN_ROWS else ()


def _rows_asked_for(question: str, rows: list[tuple[int, list[str]]], q_terms: set[str], sparse: SparseEncoder,
                    embed: Embed | None) -> tuple[int, ...]:
    """The rows of a column lookup: labels sharing a question term, and for each part of the question
    ("How much does it cost | and how many shipments does it include") the labels closest in meaning."""
    chosen = {i for i, c in rows if sparse.term_set(c[0]) & q_terms}
    if embed is not None:
        # A question of 4,000 characters of "x and x and ..." must not become a thousand embeddings.
        clauses = [c for c in _CLAUSE.split(question) if c.strip()][:MAX_CLAUSES]
        rows = rows[:MAX_EMBEDDED_ROWS]
        vectors = embed([*clauses, *(plain(c[0]) for _, c in rows)])
        similarity = vectors[len(clauses):] @ vectors[: len(clauses)].T  # (rows, clauses)
        for k in range(len(clauses)):
            best = float(similarity[:, k].max())
            if best >= MIN_LABEL_SIMILARITY:
                chosen.update(rows[r][0] for r in np.flatnonzero(similarity[:, k] >= best - LABEL_MARGIN))
    return tuple(sorted(chosen)[:MAX_ROWS])


def render_table_lookup(lookup: Lookup, quotable: Sequence[Unit]) -> str:
    """A table lookup as a short list: the key in bold, then ``name: value`` per quoted cell.

    Slack shows no Markdown tables; a row of cells under a bold key reads the same everywhere.
    """
    header = cells(quotable[lookup.units[0]].header.splitlines()[0])
    value_columns = [j for j in lookup.columns if j != 0]
    lines: list[str] = []
    if lookup.kind is LookupKind.ROW:
        for i in lookup.units:
            row = cells(quotable[i].text)
            lines.append(f"**{plain(row[0])}**")
            lines.extend(f"- {plain(header[j])}: {row[j]}" for j in value_columns)
    else:
        lines.append(" / ".join(f"**{plain(header[j])}**" for j in value_columns))
        for i in lookup.units:
            row = cells(quotable[i].text)
            values = "; ".join(row[j] if len(value_columns) == 1 else f"{plain(header[j])} {row[j]}"
                               for j in value_columns)
            lines.append(f"- {plain(row[0])}: {values}")
    return "\n".join(lines)
