"""The default composer: no generative model; the best stretch of the best source, quoted and cited.

The reader (:mod:`bot.answer.reader`) ranks every window of consecutive units of the retrieved
passages; the best one leads the answer. It is then completed the way a person quoting an
article would: a list's lead-in sentence ("To void a label:") comes with the list, and a lead-in
that would end the quote brings what it introduces (the command after "type the following
command:"); numbered steps are kept whole (up to :data:`MAX_STEPS_WORDS` words), a FAQ entry's bold question stays in front
of its answer, and a table row is shown under its header. A how-to question whose best window
holds no steps (the article's introduction, a table row) gets the steps of the same article that
sit under a heading naming one of the question's words ("Verify a request" for "How do I verify
the signature ..."), or else its best-ranked window with steps if that scores close to the lead
("Step 3: Connect Parcelly to your IdP" for "How do I set up SSO with Okta?"), in the article's
order, or instead of the lead when both would be too long: the question asked for a procedure. Symmetrically, a
question asking for a number ("How many days ...", "What version ...", "How long ...") whose best
window states none (the article's steps) is led by a window of the same article, scoring close,
that states the kind of number asked for ("up to **30 days**", "WooCommerce **7.0**"). A second document adds its own best
window only when that window scores within :data:`SECOND_SOURCE_MARGIN` of the lead's and is
short once completed like the lead, and says something the answer does not already say (an
answer that needs two articles, without padding one article's answer with another's, nor quoting
the same sentence twice from two bulletins). The page's own lines ("Cross reference information
...", a copyright) are trimmed from either end of a quoted window, and a quote that starts or
ends where a chunk cut a long sentence says so with an ellipsis (:data:`ELLIPSIS`).
Each source's run of text ends with one citation marker, ``[n]``, after its last sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import takewhile

from bot.answer.lookup import LookupKind, render_table_lookup
from bot.answer.reader import Reader, Reading
from bot.answer.retriever import RetrievedChunk
from bot.answer.windows import (
    PROCEDURE_QUESTION,
    QUANTITY_QUESTION,
    Window,
    is_boilerplate,
    is_inline_procedure,
)
from bot.index.chunking import own_heading
from bot.index.sparse import SparseEncoder, named_terms
from bot.index.units import Unit, UnitKind
from bot.models import Citation, DocumentKind

#: A second source joins only when its best window scores within this margin of the lead's.
SECOND_SOURCE_MARGIN = 0.5
SECOND_SOURCE_WORDS = 80
#: ... and only when at least this share of its terms is not in the answer already.
#: (0.3 with the boilerplate trim in :func:`complete`, cross-validated composed F1: wixqa 0.438 unchanged,
#: techqa 0.462 -> 0.463; 0.5 cost wixqa 0.002.)
SECOND_SOURCE_NEW_TERMS = 0.3
#: Marks where a quote starts or ends inside a sentence that was split across chunks.
ELLIPSIS = "…"
#: Numbered steps are completed up to this many words in all.
MAX_STEPS_WORDS = 220
#: A lead-in ending a window brings the sentence or line it introduces up to this many words.
LEAD_IN_WORDS = 60
#: Windows scoring within this of the best one are a near tie: the passage retrieval ranked higher leads
#: (cross-validated composed F1 at 0.1: wixqa 0.434 -> 0.436, techqa 0.460 unchanged; 0.25 the same;
#: 0.5 and 1.0 traded one set against the other).
NEAR_TIE = 0.1
#: A window under a heading that names at least half of the question's words (and at least
#: MIN_NAMING_TERMS of them), more than the lead's heading does, leads when it scores within this of
#: the lead (cross-validated composed F1 wixqa / techqa / help center: none 0.434 / 0.450 / 0.725;
#: 0.3 and 0.5: 0.434 / 0.454 / 0.735; 0.75: 0.434 / 0.454 / 0.742, but two sample-KB answers went
#: to another section at 1.0).
HEADING_MARGIN = 0.5
MIN_NAMING_TERMS = 2
#: A how-to question's lead without steps is joined by the best window of its passage that has
#: steps when that window scores within this margin of the lead's.
PROCEDURE_MARGIN = 0.5
#: A question asking for a number (how many, how long, which version) whose lead states none
#: (the steps of the article, not its limits) is led instead by the best window of the same
#: passage that states one, when that window scores within this margin of the lead's.
QUANTITY_MARGIN = 0.5
#: A list item's own number ("1.", "Step 2:") is not a quantity the text states.
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|step\s+\d+\s*[:.|-]?|[-*+\u2022])\s*", re.I)
_NUMBER = (r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty"
           r"|forty|fifty|sixty|ninety|hundred|thousand)")
#: A number of time units, or a time in words: what "how long", "how often" and "when" ask for.
_DURATION = (rf"\b{_NUMBER}\W{{0,3}}(?:business\s+|working\s+|calendar\s+)?(?:second|minute|hour|day|week|month|year)s?\b"
             r"|\b\d{1,2}:\d\d\b|\b(?:immediately|instantly|right away|straight away|same day|next day|daily|weekly|monthly"
             r"|annually|hourly|every\s+\w+)\b")
_MONEY = r"[$\u20ac\u00a3]\s?\d|\b\d[\d,.]*\s?(?:usd|eur|gbp|dollars?|cents?)\b|\bfree\b|\bno (?:extra )?(?:cost|charge)\b"
_VERSION = r"\b\d+\.\d+|\bversion\s+\d"
_ANY_NUMBER = rf"\b{_NUMBER}\b|\bunlimited\b"


@dataclass(frozen=True)
class Composition:
    text: str
    #: The section each cited document was quoted from (the citation should name it).
    sections: dict[str, str] = field(default_factory=dict)


class ExtractiveComposer:
    name = "extractive"

    def __init__(self, *, reader: Reader | None = None) -> None:
        """``reader`` reads for :meth:`compose`; :meth:`compose_reading` needs none (it is given the reading)."""
        self.reader = reader
        self.sparse = reader.sparse if reader is not None else SparseEncoder()

    def compose(self, question: str, chunks: list[RetrievedChunk], citations: list[Citation]) -> str:
        if self.reader is None:
            raise TypeError("this composer was built without a reader: use compose_reading")
        return self.compose_reading(self.reader.read(question, chunks), citations).text

    def compose_reading(self, reading: Reading, citations: Sequence[Citation]) -> Composition:
        """The answer for ``reading``, cited with the numbers of ``citations`` (by document id)."""
        number = {c.doc_id: c.n for c in citations}
        ranked = reading.ranked()
        if not ranked:
            return Composition("")
        ranked = _choose_lead(reading, ranked, self.sparse)
        lookup = reading.lookup
        if lookup is not None and lookup.kind is not LookupKind.SECTION:
            # A table row or column the question names: its cells under their names, nothing else.
            doc_id = reading.passages[lookup.passage].doc_id
            text = render_table_lookup(lookup, reading.units[lookup.passage])
            return Composition(f"{text} [{number[doc_id]}]", {doc_id: lookup.section})
        if lookup is not None:
            # The section named by the question's code leads with its best window, alone.
            inside = set(lookup.units)
            best = next((i for i in ranked if reading.windows[i].passage == lookup.passage
                         and set(range(reading.windows[i].start, reading.windows[i].end)) <= inside), ranked[0])
            windows = [complete(reading, reading.windows[best])]
        else:
            asked_number = quantity(reading, ranked, self.sparse)
            if asked_number is not None:
                ranked = [asked_number, *(i for i in ranked if i != asked_number)]
            windows = [complete(reading, reading.windows[ranked[0]])]
            steps = procedure(reading, windows[0], self.sparse, ranked)
            if steps is not None:
                # The steps with the best window, in the article's order; the steps alone when both are too long.
                fits = steps.words + windows[0].words <= MAX_STEPS_WORDS and not _overlap(steps, windows[0])
                windows = sorted([windows[0], steps], key=lambda w: w.start) if fits else [steps]
            second = self._second_source(reading, ranked, windows)
            if second is not None:
                windows.append(second)
        parts, sections = [], {}
        for k, w in enumerate(windows):
            doc_id = reading.passages[w.passage].doc_id
            same_source_next = k + 1 < len(windows) and reading.passages[windows[k + 1].passage].doc_id == doc_id
            parts.append(_render(reading, w, None if same_source_next else number[doc_id], heading=same_source_next or k > 0))
            sections.setdefault(doc_id, _quoted_section(reading, w))
        return Composition("\n\n".join(parts), sections)

    def _second_source(self, reading: Reading, ranked: list[int], quoted: Sequence[Window]) -> Window | None:
        lead_doc = reading.passages[quoted[0].passage].doc_id
        said: set[str] | None = None  # the answer's terms, read only if a candidate gets that far
        for i in _close_to_lead(reading, ranked, SECOND_SOURCE_MARGIN):
            w = reading.windows[i]
            if reading.passages[w.passage].doc_id == lead_doc:
                continue
            w = complete(reading, w)  # whole steps and their lead-in, then short enough to add
            if w.words > SECOND_SOURCE_WORDS:
                continue
            said = self._terms(reading, quoted) if said is None else said
            terms = self._terms(reading, [w])
            if len(terms - said) < SECOND_SOURCE_NEW_TERMS * len(terms):
                continue  # the same sentence in another document (a bulletin copied across products) says nothing new
            return w
        return None

    def _terms(self, reading: Reading, windows: Sequence[Window]) -> set[str]:
        return {t for w in windows for u in reading.window_units(w) for t in self.sparse.term_set(u.text)}


def _close_to_lead(reading: Reading, ranked: Sequence[int], margin: float) -> Iterator[int]:
    """The windows after the lead in ``ranked`` order that score within ``margin`` of it."""
    floor = reading.scores[ranked[0]] - margin
    return takewhile(lambda i: reading.scores[i] >= floor, ranked[1:])


def _choose_lead(reading: Reading, ranked: list[int], sparse: SparseEncoder) -> list[int]:
    """``ranked`` with the lead moved to a window that scores within :data:`NEAR_TIE` of it (the
    ranker's own margin is noise there) from an article when the lead is from a ticket, else one
    under a heading that names more of the question's words, else from a passage retrieval ranked
    higher (the retriever's order weighs the whole passage).

    An article is the team's written answer; a solved ticket is one customer's case, with their
    order numbers and amounts in the reply: on a near tie, the article leads (the ticket can
    still follow as a second source). A heading is the writer's own name for what its section
    answers: "How do I verify the identity of someone asking for an ownership transfer?" is led by
    the section "Ownership transfer without the current Owner", not by the runbook's introduction
    that retrieval ranked first; and a heading naming most of the question (:data:`HEADING_MARGIN`)
    takes the lead from further behind."""
    asked = set(sparse.terms(reading.question))

    def precedence(i: int) -> tuple[bool, int, int]:
        window = reading.windows[i]
        passage = reading.passages[window.passage]
        heading = own_heading(reading.units[window.passage][window.start].section)
        return passage.first.kind == DocumentKind.TICKET.value, -len(named_terms(sparse.term_set(heading), asked)), passage.rank

    lead = precedence(ranked[0])
    for i in _close_to_lead(reading, ranked, NEAR_TIE):
        if precedence(i) < lead:
            return [i, *(j for j in ranked if j != i)]
    # Further behind, a section whose heading names most of the question still leads ("my label
    # printed blank": "The thermal printer prints blank labels." over "Change your label format").
    named = max(MIN_NAMING_TERMS, (len(asked) + 1) // 2)
    for i in _close_to_lead(reading, ranked, HEADING_MARGIN):
        ticket, minus_overlap, _ = precedence(i)
        if -minus_overlap >= named and minus_overlap < lead[1] and ticket <= lead[0]:
            return [i, *(j for j in ranked if j != i)]
    return ranked


def procedure(reading: Reading, lead: Window, sparse: SparseEncoder, ranked: Sequence[int]) -> Window | None:
    """For a how-to question whose ``lead`` holds no steps: the lead passage's first numbered steps
    under a heading that names a question term, else (when the lead holds no steps written as one
    sentence either, :func:`~bot.answer.windows.is_inline_procedure`) the
    best-ranked window of the lead passage that holds steps when it scores within
    :data:`PROCEDURE_MARGIN` of the lead (``ranked``: the
    reading's windows, best first, the lead's own first), whole; or None."""
    if not PROCEDURE_QUESTION.search(reading.question):
        return None
    units = reading.units[lead.passage]
    lead_units = units[lead.start : lead.end]
    if any(u.kind is UnitKind.STEP for u in lead_units):
        return None
    asked = set(sparse.terms(reading.question))
    for start, u in enumerate(units):
        if u.kind is UnitKind.STEP and (start == 0 or units[start - 1].kind is not UnitKind.STEP) \
                and asked & sparse.term_set(u.section):
            return complete(reading, Window(lead.passage, start, start + 1, len(u.text.split())))
    if any(is_inline_procedure(u) for u in lead_units):
        return None  # the lead's steps are a sentence ("Go to Settings > Team, click the member, ...")
    for i in _close_to_lead(reading, ranked, PROCEDURE_MARGIN):
        w = reading.windows[i]
        if w.passage == lead.passage and any(u.kind is UnitKind.STEP for u in units[w.start : w.end]):
            return complete(reading, w)
    return None


def asked_quantity(question: str) -> re.Pattern[str] | None:
    """What a unit of the answer must state when ``question`` asks for a number: so many of the
    thing named ("how many days": a number of days), a duration or time ("how long", "how often",
    "when will"), an amount of money ("how much does it cost", "what is the price"), a version, or
    any number ("what is the limit", "how much data"); None for any other question."""
    if not QUANTITY_QUESTION.search(question):
        return None
    lowered = question.lower()
    many = re.search(r"\bhow\s+many\s+([a-z]{3,})", lowered)
    if many:
        noun = many.group(1)[:-1] if many.group(1).endswith("s") else many.group(1)
        return re.compile(rf"\b{_NUMBER}\W{{1,3}}(?:[\w-]+\W{{1,3}}){{0,2}}?{re.escape(noun)}", re.I)
    if re.search(r"\bhow\s+(?:long|often|soon)\b|\bwhen\b", lowered):
        return re.compile(_DURATION, re.I)
    if re.search(r"\b(?:costs?|prices?|fees?|pay|charged?)\b", lowered):
        return re.compile(_MONEY, re.I)
    if re.search(r"\bversions?\b", lowered):
        return re.compile(_VERSION, re.I)
    return re.compile(_ANY_NUMBER, re.I)


def quantity(reading: Reading, ranked: Sequence[int], sparse: SparseEncoder) -> int | None:
    """For a question asking for a number (:func:`asked_quantity`) whose lead window (``ranked[0]``)
    states none: of the lead passage's windows that state one and score within
    :data:`QUANTITY_MARGIN` of the lead, the one whose stating units hold the most of the
    question's terms, the better ranked on a tie ("Labels can be voided up to **30 days** after
    purchase" rather than the void steps, or the USPS refund time, for "How many days do I have
    to void a label?"); or None."""
    asked = asked_quantity(reading.question)
    if asked is None:
        return None
    lead = reading.windows[ranked[0]]
    if states(asked, reading.window_units(lead)):
        return None
    question_terms = set(sparse.terms(reading.question))
    best, best_terms = None, 0
    for i in _close_to_lead(reading, ranked, QUANTITY_MARGIN):
        w = reading.windows[i]
        if w.passage != lead.passage:
            continue
        stating = [u for u in reading.window_units(w) if states(asked, [u])]
        if not stating:
            continue
        shared = len(question_terms & {t for u in stating for t in sparse.term_set(u.text)})
        if best is None or shared > best_terms:
            best, best_terms = i, shared
    return best


def states(asked: re.Pattern[str], units: Sequence[Unit]) -> bool:
    """Some unit states what ``asked`` looks for (a list item's own number does not count)."""
    return any(asked.search(_LIST_MARKER.sub("", u.text, count=1)) for u in units)


def _overlap(a: Window, b: Window) -> bool:
    return a.passage == b.passage and a.start < b.end and b.start < a.end


def complete(reading: Reading, window: Window) -> Window:
    """``window`` with its numbered steps whole (from step 1) and its list's lead-in."""
    units = reading.units[window.passage]
    start, end = window.start, window.end
    # A procedure quoted from its second step leaves the reader without the first: start at step 1.
    if units[start].kind is UnitKind.STEP:
        while start > 0 and units[start - 1].kind is UnitKind.STEP and units[start - 1].section == units[start].section:
            start -= 1
    # A list without the sentence that introduces it reads badly.
    if start > 0 and units[start].kind in (UnitKind.STEP, UnitKind.ITEM) and _introduces(units[start - 1], units[start]):
        start -= 1
    end = _keep_promise(units, end)
    # Numbered steps are kept whole: continue to the end of the list.
    if any(u.kind is UnitKind.STEP for u in units[start:end]):
        words = sum(len(u.text.split()) for u in units[start:end])
        while end < len(units) and _continues_list(units[end - 1], units[end]):
            words += len(units[end].text.split())
            if words > MAX_STEPS_WORDS:
                break
            end += 1
        end = _keep_promise(units, end)  # the last step may introduce a command
    # The page's own lines ("Cross reference information ...", a copyright) at either end are not the answer.
    while end - start > 1 and units[end - 1].kind is UnitKind.SENTENCE and is_boilerplate(units[end - 1]):
        end -= 1
    while end - start > 1 and units[start].kind is UnitKind.SENTENCE and is_boilerplate(units[start]):
        start += 1
    words = sum(len(u.text.split()) for u in units[start:end])
    return Window(window.passage, start, end, words)


def _keep_promise(units: Sequence[Unit], end: int) -> int:
    """A lead-in ending the window promises what follows ("To void a label:", "run this command:"):
    the end after the list's first entry, or after the line or sentence it introduces when that
    is short (:data:`LEAD_IN_WORDS`); ``end`` when there is nothing to bring."""
    if _is_lead_in(units[end - 1]) and end < len(units) and units[end].section == units[end - 1].section \
            and (units[end].kind in (UnitKind.STEP, UnitKind.ITEM) or len(units[end].text.split()) <= LEAD_IN_WORDS):
        return end + 1
    return end


def _is_lead_in(unit: Unit) -> bool:
    """A unit that introduces what follows it ("To void a label:")."""
    return unit.text.rstrip().endswith(":")


def _introduces(before: Unit, item: Unit) -> bool:
    return before.kind is UnitKind.SENTENCE and before.section == item.section and _is_lead_in(before)


def _continues_list(previous: Unit, unit: Unit) -> bool:
    if unit.section != previous.section:
        return False
    # The next step, or a further sentence of the same step (it shares the step's line).
    return unit.kind is UnitKind.STEP or (unit.kind is UnitKind.SENTENCE and unit.line == previous.line)


def _render(reading: Reading, window: Window, n: int | None, *, heading: bool = False) -> str:
    """The window's units as Markdown: one paragraph per source line, tables under their header,
    the heading of every section it runs into (a FAQ's bold question in front of its answer), and
    the citation marker ``[n]`` after the last of them (none when ``n`` is None: the source's run
    goes on in the next window). With ``heading``, the window's own section heading comes first."""
    units = reading.window_units(window)
    passage, everything = reading.passages[window.passage], reading.all_units[window.passage]
    # A long sentence split across chunks, quoted from the cut: say so ("… ship with RHEL Server …").
    cut_before = passage.first.starts_mid_sentence and units[0] is everything[0]
    cut_after = passage.chunks[-1].ends_mid_sentence and units[-1] is everything[-1]
    blocks: list[tuple[str, bool]] = []  # (text, is a table or code block)
    first_heading = _heading_before(reading, window.passage, units[0])
    if heading and first_heading is not None and first_heading.line != units[0].line:
        blocks.append((f"**{first_heading.text}**", False))
    line: int | None = None
    header: str | None = None
    for k, u in enumerate(units):
        heading = _heading_before(reading, window.passage, u)
        new_section = k > 0 and u.section != units[k - 1].section
        lead = ""
        if heading is not None and heading.line == u.line:
            lead = f"**{heading.text}** " if (k == 0 or new_section) else ""  # a FAQ entry's question
        elif heading is not None and new_section:
            blocks.append((f"**{heading.text}**", False))
            line = None
        if u.kind is UnitKind.ROW:
            if blocks and blocks[-1][1] and header == u.header and not new_section:
                blocks[-1] = (f"{blocks[-1][0]}\n{u.text}", True)
            else:
                blocks.append((f"{u.header}\n{u.text}" if u.header else u.text, True))
            header, line = u.header, None
            continue
        if u.kind is UnitKind.CODE:
            blocks.append((u.text, True))
            header, line = None, None
            continue
        text = f"{ELLIPSIS} {u.text}" if k == 0 and cut_before else u.text
        if line is not None and u.line == line and blocks and not blocks[-1][1] and not lead:
            blocks[-1] = (f"{blocks[-1][0]} {text}", False)
        else:
            blocks.append((lead + text, False))
        header, line = None, u.line
    if cut_after and not blocks[-1][1]:
        blocks[-1] = (f"{blocks[-1][0]} {ELLIPSIS}", False)
    if n is not None:
        text, is_block = blocks[-1]
        blocks[-1] = (f"{text}\n[{n}]", True) if is_block else (f"{text} [{n}]", False)
    return "\n".join(b for b, _ in blocks)


def _heading_before(reading: Reading, passage: int, unit: Unit) -> Unit | None:
    """The heading unit right before ``unit`` in its passage, if it is the heading of its section."""
    everything = reading.all_units[passage]
    at = next((i for i, u in enumerate(everything) if u is unit), -1)
    if at > 0:
        before = everything[at - 1]
        if before.kind is UnitKind.HEADING and before.text.rstrip(":") == unit.section:
            return before
    return None


def _quoted_section(reading: Reading, window: Window) -> str:
    """The heading (not a FAQ entry's bold question) the window sits under, for its citation."""
    everything = reading.all_units[window.passage]
    first = reading.units[window.passage][window.start]
    at = next((i for i, u in enumerate(everything) if u is first), 0)
    for i in range(at - 1, -1, -1):
        u = everything[i]
        if u.kind is UnitKind.HEADING and not (i + 1 < len(everything) and everything[i + 1].line == u.line):
            return u.text
    return reading.passages[window.passage].section
