"""Candidate answers: every run of consecutive units in the top passages, and what each looks like.

A support answer is usually one contiguous stretch of the right article: the steps under "To fix
this", the row of the price table, the paragraph under "RESOLVING THE PROBLEM". So the
candidates are windows of consecutive units (:mod:`bot.index.units`) of one section of a
passage, up to :data:`MAX_WINDOW_UNITS` units and :data:`MAX_WINDOW_WORDS` words, and each is described by
features a linear ranker (:mod:`bot.answer.ranking`) weighs:

* the passage: retrieval rank, fused score below the best, dense similarity and its distance to the best, how much
  of the question (and of its rare terms: error codes, versions, product names) it covers, the
  title's overlap with the question;
* the window: coverage of the question's terms and rare terms, how much of it merely restates
  the question (a symptom repeated back is not an answer), length, where it starts and ends
  relative to its section, whether it is steps, list items, table rows;
* its section: the heading words (the ranker learns that "resolving" and "answer" headings hold
  answers and "symptom" ones do not), a few cue classes, and the heading's overlap with the question;
* where the retriever put it: the dense similarity of the chunk it was read from, below the best
  chunk's (a merged article is one passage, but its sections were embedded one by one: the section
  closest in meaning should not lose to steps the question is not about). The chunk's fused score
  was tried too: it follows the keyword match, and measured worse;
* its meaning: the best cosine of one of its units to the question, with static word-piece
  vectors of the embedding model (:mod:`bot.index.word_vectors`; shared words miss "refund" for
  "money back");
* the question: whether it asks how to do something (numbered steps answer "How do I...", rarely
  "How much..." or "Why...");
* its text: instructions ("Click", "Go to"), boilerplate and legal lines, keyword lists, URLs,
  symbols (log lines and stack traces).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.answer.passages import Passage
from bot.index.sparse import SparseEncoder
from bot.index.units import Unit, UnitKind
from bot.index.word_vectors import WordVectors

MAX_WINDOW_UNITS = 10
MAX_WINDOW_WORDS = 160

_ANSWER_HEADING = re.compile(
    r"\b(answer|resol|solution|solv|fix|workaround|work around|steps?|how to|instructions?|procedure|"
    r"to do this|what to do|remed|mitigat)", re.I)
_PROBLEM_HEADING = re.compile(
    r"\b(problem|symptom|error|issue|question|abstract|description|environment|affected|summary)", re.I)
_CAUSE_HEADING = re.compile(r"\bcause", re.I)
_BOILERPLATE = re.compile(
    r"(copyright|©|all rights reserved|was this (article )?helpful|related information|cross reference|"
    r"document information|disclaimer|trademark|privacy policy|terms of use|subscribe|feedback)", re.I)
_INSTRUCTION = re.compile(
    r"^(- |\d+[.)] |Step \d+\s*[|:.-]\s*)?(click|go|select|open|enter|run|set|use|choose|add|install|apply|"
    r"type|navigate|tap|remove|delete|edit|check|make sure|ensure|restart|update|upgrade|download|configure|"
    r"change|create|contact|copy|verify|follow|log in|sign in|turn|enable|disable)\b", re.I)
#: Identifier-like words: error codes (PCL-4031), versions (8.5.5.4), CamelCase and ACRONYMS.
_RARE_WORD = re.compile(r"^(?=.*\d)[\w.-]+$|^[A-Z][A-Z0-9_-]{1,}$|^[a-z]+[A-Z]\w*$|^[A-Z][a-z]+[A-Z]\w*$")
_WORD = re.compile(r"\w[\w.\-/]*\w|\w")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

#: The features of a window, in order (the ranker's heading terms are appended after them).
FEATURES: tuple[str, ...] = (
    "rank", "merged_chunks", "score_gap", "similarity", "similarity_rel", "passage_coverage", "passage_rare",
    "first_chunk", "coverage", "rare", "restates", "units", "log_words", "over_80_words", "under_15_words",
    "starts_section", "ends_section", "at_passage_start", "position",
    "answer_heading", "problem_heading", "cause_heading", "heading_overlap", "no_heading",
    "steps", "items", "rows", "instructions", "boilerplate", "keyword_list", "symbols", "urls",
    "title_overlap", "question_terms", "heading_rare", "meaning", "chunk_similarity_rel",
    "asks_procedure", "procedure_steps",
)


@dataclass(frozen=True)
class Window:
    """Units ``start:end`` of passage number ``passage``."""

    passage: int
    start: int
    end: int
    words: int


#: A question asking for a procedure: "How do I ...", "How can we ...", "How to ...", "What are the
#: steps to ...", "What do we do ...", "What's the process ...". (Not "How do refunds work?".)
PROCEDURE_QUESTION = re.compile(
    r"\bhow\s+(?:(?:do|can|could|should|would|may)\s+(?:i|we|you|one)\b|to\b)|\bsteps?\s+(?:to|for)\b|\bway\s+to\b"
    r"|\bwhat\s+(?:do|should|can|must)\s+(?:i|we|you|they)\s+do\b|\bwhat(?:'s|\s+is)\s+the\s+(?:process|procedure)\b", re.I)
#: A question asking for an amount, a duration, a limit, a price, a version or a time ("How many
#: days do I have to void a label?", "What version of WooCommerce do I need?", "When will the
#: refund arrive?"): its answer states a number.
QUANTITY_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|long|often|soon|far|old|big|large)\b"
    r"|\b(?:what|which)(?:'s|\s+is|\s+are)?\s+(?:the\s+)?(?:[\w-]+\s+){0,2}?(?:versions?|limits?|maximum|minimum|prices?|costs?|fees?|size)\b"
    r"|\bwhen\s+(?:will|does|do|is|are|can|should)\b", re.I)


def question_keys(question: str, sparse: SparseEncoder) -> tuple[set[str], set[str]]:
    """The question's identifier-like terms (error codes, versions, ACRONYMS, CamelCase) and the
    capitalised words inside a sentence (plan and product names: "the Growth plan"), stemmed."""
    identifiers: set[str] = set()
    names: set[str] = set()
    for sentence in _SENTENCE.split(question):
        for n, word in enumerate(_WORD.findall(sentence)):
            if (_RARE_WORD.match(word) and not word.isdigit()) or (word.isdigit() and len(word) >= 3):
                identifiers.update(sparse.terms(word))
            elif n > 0 and word[:1].isupper() and word[1:].islower() and len(word) > 1 and word != "I":
                names.update(sparse.terms(word))
    return identifiers, names - identifiers


def rare_terms(keys: tuple[set[str], set[str]], sparse: SparseEncoder, texts: Sequence[str] = ()) -> set[str]:
    """The question's keys (:func:`question_keys`: identifiers, names), less the names that say little here.

    Given the retrieved ``texts``, a name found in more than half of them is dropped: the
    product's own name ("Wix", "IBM") tells one passage from another no more than "the" does.
    Identifiers are kept however often they occur: an error code mentioned in five passages is
    still what the one passage about it must name.
    """
    identifiers, names = keys
    if texts and names:
        seen = [sparse.term_set(t) for t in texts]
        names = {t for t in names if sum(t in s for s in seen) * 2 <= len(seen)}
    return identifiers | names


def candidate_windows(
    question: str,
    passages: Sequence[Passage],
    units: Sequence[Sequence[Unit]],
    *,
    sparse: SparseEncoder,
    rare: set[str],
    word_vectors: WordVectors,
    heading_terms: Sequence[str] = (),
) -> tuple[list[Window], np.ndarray]:
    """Every candidate window of the quotable ``units`` of each passage, and its feature row.

    ``rare`` is :func:`rare_terms` of the question; ``word_vectors`` compares each unit's meaning
    with the question's.

    Returns:
        (windows, features of shape (len(windows), len(FEATURES) + len(heading_terms))).
    """
    q_terms = set(sparse.terms(question))
    asks_procedure = float(bool(PROCEDURE_QUESTION.search(question)))
    passage_terms = [sparse.term_set(p.text) for p in passages]
    # Within the retrieved passages a question term that occurs in fewer of them says more.
    weight = {t: 1.0 + math.log((1 + len(passages)) / (1 + sum(t in pt for pt in passage_terms))) for t in q_terms}
    total_weight = math.fsum(weight.values()) or 1.0
    # Fused scores are z-scores (often negative): a passage's distance below the best is a difference.
    top_score = max((p.score for p in passages), default=0.0)
    top_similarity = max((p.similarity for p in passages), default=0.0)
    heading_index = {t: n for n, t in enumerate(heading_terms)}
    windows: list[Window] = []
    rows: list[list[float]] = []
    quotables = [[u for u in passage_units if u.quotable] for passage_units in units]
    meaning = word_vectors.similarities(question, [unit_text(u) for q in quotables for u in q])
    offsets = np.cumsum([0, *(len(q) for q in quotables)])

    def covered(terms: set[str]) -> float:
        return math.fsum(weight[t] for t in terms & q_terms) / total_weight  # exact: the same whatever the set order

    def rare_share(terms: set[str]) -> float:
        return len(terms & rare) / len(rare) if rare else 0.0

    for pi, (passage, quotable) in enumerate(zip(passages, quotables, strict=True)):
        if not quotable:
            continue
        unit_terms = [sparse.term_set(unit_text(u)) for u in quotable]
        unit_meaning = meaning[offsets[pi] : offsets[pi + 1]]
        unit_words = [len(u.text.split()) for u in quotable]
        line_chunks = passage.line_chunks()
        unit_chunks = [line_chunks[min(max(u.line // 100 - 1, 0), len(line_chunks) - 1)] for u in quotable]
        unit_similarity = [c.similarity - top_similarity for c in unit_chunks]
        flags = [_unit_flags(u) for u in quotable]
        title_terms = sparse.term_set(passage.title)
        title_overlap = len(title_terms & q_terms) / max(len(q_terms), 1)
        passage_row = [
            float(passage.rank), float(len(passage.chunks)), passage.score - top_score, passage.similarity,
            passage.similarity - top_similarity, covered(passage_terms[pi]), rare_share(passage_terms[pi]),
            float(passage.first.chunk_no == 0),
        ]
        for a in range(len(quotable)):
            terms: set[str] = set()
            words = 0
            section = quotable[a].section
            section_terms = sparse.term_set(section)
            heading_rare = rare_share(title_terms | section_terms)
            heading = [
                float(bool(_ANSWER_HEADING.search(section))), float(bool(_PROBLEM_HEADING.search(section))),
                float(bool(_CAUSE_HEADING.search(section))),
                len(section_terms & q_terms) / len(section_terms) if section_terms else 0.0, float(not section),
            ]
            heading_row = [0.0] * len(heading_terms)
            for t in section_terms:
                if t in heading_index:
                    heading_row[heading_index[t]] = 1.0
            best_meaning = -1.0
            chunk_similarity = -math.inf
            flag_sums = [0.0] * len(_FLAG_NAMES)  # summed in the units' order, as the window grows
            for b in range(a, min(len(quotable), a + MAX_WINDOW_UNITS)):
                words += unit_words[b]
                if words > MAX_WINDOW_WORDS and b > a:
                    break
                if b > a and quotable[b].section != quotable[b - 1].section:
                    break  # one answer, one section (crossing measured worse on the dev sets)
                terms |= unit_terms[b]
                best_meaning = max(best_meaning, float(unit_meaning[b]))
                chunk_similarity = max(chunk_similarity, unit_similarity[b])
                n = b - a + 1
                for k, flag in enumerate(flags[b]):
                    flag_sums[k] += flag
                windows.append(Window(pi, a, b + 1, words))
                rows.append(passage_row + [
                    covered(terms), rare_share(terms), len(terms & q_terms) / max(len(terms), 1),
                    float(n), math.log1p(words), float(words > 80), float(words < 15),
                    float(a == 0 or quotable[a - 1].section != section),
                    float(b == len(quotable) - 1 or quotable[b + 1].section != quotable[b].section),
                    float(a == 0), a / len(quotable),
                    *heading,
                    *(total / n for total in flag_sums),
                    title_overlap, math.log1p(len(q_terms)), heading_rare, best_meaning, chunk_similarity,
                    asks_procedure, asks_procedure * flag_sums[0] / n,
                ] + heading_row)
    width = len(FEATURES) + len(heading_terms)
    return windows, np.asarray(rows, dtype=np.float64).reshape(len(rows), width)


def unit_text(unit: Unit) -> str:
    # A table row says what its cells are only with its header ("Growth" is a column name).
    return f"{unit.header}\n{unit.text}" if unit.header else unit.text


def is_instruction(unit: Unit) -> bool:
    """A unit that tells the reader what to do ("Go to **Settings > Team**, click the member, ...", "1. Click ...")."""
    return bool(_INSTRUCTION.match(unit.text))


#: The actions of a procedure written as one sentence.
_ACTION = re.compile(r"\b(?:click|choose|select|go to|open|enter|tap|turn (?:on|off)|type|save|paste|press|tick|copy)\b", re.I)


def is_inline_procedure(unit: Unit) -> bool:
    """Steps written as one sentence: an instruction of two actions or more ("Go to **Settings >
    Team**, click the member, choose the new role and click **Save**."), not one ("Turn on
    **Require SSO** to stop team members from signing in with a password.")."""
    return is_instruction(unit) and len(_ACTION.findall(unit.text)) >= 2


def is_boilerplate(unit: Unit) -> bool:
    """A line about the page rather than the answer: copyright, "Cross reference information", a feedback prompt."""
    return bool(_BOILERPLATE.search(unit.text))


_FLAG_NAMES = ("steps", "items", "rows", "instructions", "boilerplate", "keyword_list", "symbols", "urls")


def _unit_flags(unit: Unit) -> tuple[float, ...]:
    text = unit.text
    # Neither a letter nor white space (no character is both).
    symbols = (len(text) - sum(map(str.isalpha, text)) - sum(map(str.isspace, text))) / max(len(text), 1)
    return (
        float(unit.kind is UnitKind.STEP), float(unit.kind is UnitKind.ITEM), float(unit.kind is UnitKind.ROW),
        float(is_instruction(unit)), float(is_boilerplate(unit)),
        float(text.count(";") >= 4 and text.count(";") * 6 > len(text.split())),  # "netcool; impact; ipl; ..."
        symbols, float("http" in text or "www." in text),
    )
