"""Kinds of section a question asks for by its form, not by its topic's words.

Help centers and runbooks name some sections by the role they play rather than by their topic:
"Before you start" and "Requirements" say what is needed first, "Escalate" and "When to escalate"
who to hand a problem to, "What to tell the merchant" what to reply. A question asks for such a
section by its form ("What do I need before turning on SSO?", "Who do I page for a carrier
outage?"), with none of the heading's words ("before" is a stop word; "page" is not
"escalate"), so neither the stemmed-word lookups nor the window ranker find it.

Each :class:`SectionKind` pairs the question's form with the headings of that kind. The lookup
(:func:`bot.answer.lookup.find_lookup`) asks only within the document retrieval ranked first:
retrieval picks what the question is about, the kind picks the section of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SectionKind:
    name: str
    #: A question of this form asks for a section of this kind.
    question: re.Pattern[str]
    #: A section heading of this kind (its own heading, not the path above it).
    heading: re.Pattern[str]


SECTION_KINDS: tuple[SectionKind, ...] = (
    SectionKind(
        "prerequisites",
        # "What do I need before turning on SSO?", "What should I do before I close my account?",
        # "What are the requirements for WooCommerce?"; not "What do I need to do to void a label?"
        re.compile(r"\bbefore\s+(?:i|we|you|they|turning|setting|connecting|closing|starting|using|enabling|"
                   r"switching|installing|adding|creating|buying|moving|deleting)\b"
                   r"|\bwhat\s+(?:do|does|will|would|should)\s+(?:i|we|you|they)\s+need\b(?!\s+to\s+do\b)"
                   r"|\b(?:requirements?|prerequisites?)\b", re.I),
        re.compile(r"^\s*(?:before\s+you\b|(?:system\s+)?requirements\b|prerequisites\b|what\s+you(?:'ll|\s+will)?\s+need\b)",
                   re.I),
    ),
    SectionKind(
        "escalation",
        # "Who do I page for a carrier outage?", "who should we tell?", "when do I escalate?"
        re.compile(r"\bwho\s+(?:do|should|can|must|to)\s+(?:i\s+|we\s+)?(?:page|tell|contact|notify|ping|call|alert|"
                   r"inform|loop\s+in|escalate\s+to|hand\s+(?:it|this)\s+to)\b|\bescalat", re.I),
        re.compile(r"\bescalat", re.I),
    ),
    SectionKind(
        "reply",
        # "What should I tell the merchant?", "what do we say to customers?"
        re.compile(r"\bwhat\s+(?:do|should|can|must)\s+(?:i|we)\s+(?:tell|say\s+to|write\s+to|reply\s+to|answer)\b"
                   r"|\bhow\s+(?:do|should)\s+(?:i|we)\s+(?:reply|respond)\s+to\b", re.I),
        re.compile(r"^\s*what\s+to\s+(?:tell|say|write|reply)\b|\breply\s+template\b|\bmacro\b", re.I),
    ),
)


def asked_kinds(question: str) -> tuple[SectionKind, ...]:
    """The kinds of section ``question``'s form asks for (most often none)."""
    return tuple(kind for kind in SECTION_KINDS if kind.question.search(question))
