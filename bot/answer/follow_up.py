"""A follow-up in a thread, made self-contained: what to retrieve with, and what to read for.

"and how long does it take?" means nothing alone; after "How do I void a label?" it does. So
retrieval searches for the earlier turns and the question together. The reader, which picks the
section that answers, reads for the new question alone, with only the names and codes of the
earlier turns ("SMS", "Canada", "PCL-4031"): "how do I change their role afterwards?" after "How do
I invite a team member?" asks for the role section of the article the thread is about, not for
the invitation steps again, which the earlier question's words, read too, pick. A follow-up of
fewer than :data:`MIN_OWN_TERMS` words of its own ("and why?") is read with the earlier turns, and
so is one whose own reading does not pass the gate: "how do I turn it back on?" after "My webhook
endpoint was disabled" says what "it" is only with the earlier turn.
But a follow-up that swaps what the thread was about
("what about WooCommerce?" after "How do I connect my Shopify store?", "and Pro?" after "What
does the Growth plan cost?") is about the new thing: the old one's name, kept in front, would
pull retrieval back to the Shopify article (three Shopify words against one WooCommerce). Such a
follow-up drops, from the earlier turns, the last name or identifier they mention that it does not
repeat, one for each it names: the thing it replaces, not the product both are about ("How do I
install Netcool on AIX?" then "and on Linux?" keeps Netcool).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.answer.windows import question_keys
from bot.index.sparse import SparseEncoder

#: Earlier turns of a thread used to make a follow-up question self-contained.
HISTORY_TURNS = 2
#: The earlier turns keep at most this many characters (the latest ones).
MAX_CONTEXT_CHARS = 1000
#: A follow-up that asks the same about something else: "what about X?", "and X?", "how about X",
#: "same for X", "and for X".
SWAP = re.compile(r"^\W*(?:and\s+(?:for\s+|what\s+about\s+)?|what\s+about\s+|how\s+about\s+|same\s+for\s+)", re.I)
#: A follow-up with at least this many terms of its own is a question of its own: the reader reads it
#: (with the thread's names) rather than the whole thread.
MIN_OWN_TERMS = 2
_WORD = re.compile(r"[\w][\w.'-]*")


@dataclass(frozen=True)
class FollowUp:
    #: What retrieval searches for: the earlier turns, then the question.
    retrieval: str
    #: What the reader looks for in the passages retrieved first: the question itself, after the
    #: earlier turns' names and codes (or the whole thread, for a follow-up with too few words of
    #: its own). When that reading does not pass the gate, the service reads for ``retrieval``.
    reading: str


def follow_up(question: str, history: Sequence[str], sparse: SparseEncoder) -> FollowUp:
    """``question`` in the thread of the last :data:`HISTORY_TURNS` of ``history``.

    Retrieval searches ``question`` after those turns; when it swaps the thread's subject
    (:data:`SWAP`, naming something of its own), without the earlier names it does not repeat,
    and the reader reads the same. Any other follow-up with :data:`MIN_OWN_TERMS` terms is read
    as itself after the earlier turns' names and codes. Without history, ``question`` alone."""
    context = " ".join(h.strip() for h in history[-HISTORY_TURNS:] if h.strip())[-MAX_CONTEXT_CHARS:]
    if not context:
        return FollowUp(question, question)
    new = set().union(*question_keys(question, sparse)) if SWAP.match(question) else set()
    if new:
        old = set().union(*question_keys(context, sparse)) - new
        context = _without(context, _last_named(context, old, len(new), sparse), sparse)
        query = f"{context} {question}".strip()
        return FollowUp(query, query)
    query = f"{context} {question}".strip()
    if len(sparse.term_set(question)) < MIN_OWN_TERMS:
        return FollowUp(query, query)
    names = _named_words(context, set().union(*question_keys(context, sparse)), sparse)
    return FollowUp(query, f"{' '.join(names)} {question}".strip())


def _named_words(text: str, keys: set[str], sparse: SparseEncoder) -> list[str]:
    """The words of ``text`` whose terms are all among ``keys``, once each, in order ("SMS", "Canada")."""
    if not keys:
        return []
    found: dict[str, None] = {}
    for word in _WORD.findall(text):
        terms = set(sparse.terms(word))
        if terms and terms <= keys:
            found.setdefault(word.strip(".'-"), None)
    return list(found)


def _last_named(text: str, keys: set[str], n: int, sparse: SparseEncoder) -> set[str]:
    """The last ``n`` distinct ``keys`` that words of ``text`` name, by position."""
    found: list[str] = []
    for word in reversed(_WORD.findall(text)):
        for term in sparse.terms(word):
            if term in keys and term not in found:
                found.append(term)
        if len(found) >= n:
            break
    return set(found[:n])


def _without(text: str, keys: set[str], sparse: SparseEncoder) -> str:
    """``text`` without the words whose terms are all among ``keys`` (spaces closed up)."""
    if not keys:
        return text

    def keep(match: re.Match[str]) -> str:
        terms = set(sparse.terms(match.group(0)))
        return "" if terms and terms <= keys else match.group(0)

    return re.sub(r"\s{2,}", " ", _WORD.sub(keep, text)).strip()
