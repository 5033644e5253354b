"""How close an answer's text is to a reference answer: token F1, reference recall, sentences.

Tokens are lower-cased word tokens with punctuation, English stop words, citation markers
(``[1]``) and URLs removed, counted as a bag (SQuAD-style F1, no stemming): the score asks
whether the answer says the reference's words, not whether it shares the question's.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from bot.answer.citations import MARKER
from bot.index.sparse import STOP_WORDS

_URL = re.compile(r"https?://\S+|www\.\S+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: A sentence ends at . ! or ? followed by white space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def plain_text(text: str) -> str:
    """``text`` without citation markers and URLs (what the scores and the word count see)."""
    return _URL.sub(" ", MARKER.sub(" ", text))


def tokens(text: str) -> list[str]:
    """Scored tokens of ``text``: lower-cased words, no stop words, markers or URLs."""
    return [w for w in _WORD.findall(plain_text(text).lower()) if w not in STOP_WORDS]


def word_count(text: str) -> int:
    """Words a reader sees (markers and URLs not counted)."""
    return len(plain_text(text).split())


@dataclass(frozen=True)
class Overlap:
    f1: float
    precision: float
    recall: float


def overlap(answer: str, reference: str) -> Overlap:
    """Bag-of-tokens precision, recall and F1 of ``answer`` against ``reference``."""
    a, r = Counter(tokens(answer)), Counter(tokens(reference))
    common = sum((a & r).values())
    if not common:
        return Overlap(0.0, 0.0, 0.0)
    precision = common / sum(a.values())
    recall = common / sum(r.values())
    return Overlap(2 * precision * recall / (precision + recall), precision, recall)


def sentences(passage: str) -> list[str]:
    """A passage cut into sentences the plain way (line breaks and sentence punctuation).

    Deliberately naive and independent of the composer's own unit splitter: the LEAD and ORACLE
    baselines built on it must not move when the composer's splitting changes.
    """
    return [s.strip() for s in _SENTENCE_END.split(passage) if s and s.strip()]
