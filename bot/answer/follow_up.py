"""A follow-up in a thread, made self-contained for retrieval: the earlier turns, then the question.

"and how long does it take?" means nothing alone; after "How do I void a label?" it does. So the
earlier turns go in front of the question. But a follow-up that swaps what the thread was about
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

from bot.answer.windows import question_keys
from bot.index.sparse import SparseEncoder

#: Earlier turns of a thread used to make a follow-up question self-contained.
HISTORY_TURNS = 2
#: The earlier turns keep at most this many characters (the latest ones).
MAX_CONTEXT_CHARS = 1000
#: A follow-up that asks the same about something else: "what about X?", "and X?", "how about X",
#: "same for X", "and for X".
SWAP = re.compile(r"^\W*(?:and\s+(?:for\s+|what\s+about\s+)?|what\s+about\s+|how\s+about\s+|same\s+for\s+)", re.I)
_WORD = re.compile(r"[\w][\w.'-]*")


def follow_up_query(question: str, history: Sequence[str], sparse: SparseEncoder) -> str:
    """``question`` after the last :data:`HISTORY_TURNS` of ``history``; when it swaps the thread's
    subject (:data:`SWAP`, naming something of its own), without the earlier names it does not
    repeat. ``question`` alone without history."""
    context = " ".join(h.strip() for h in history[-HISTORY_TURNS:] if h.strip())[-MAX_CONTEXT_CHARS:]
    if not context:
        return question
    if SWAP.match(question):
        new = set().union(*question_keys(question, sparse))
        if new:
            old = set().union(*question_keys(context, sparse)) - new
            context = _without(context, _last_named(context, old, len(new), sparse), sparse)
    return f"{context} {question}".strip()


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
