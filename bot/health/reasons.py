"""Is the recorded reason of an abstention right? A counterfactual check, and planted causes to measure it.

:func:`check_reason` removes the obstacle a reason names and asks again, through the same answer
path; the reason is right when the outcome changes the way the reason says it would:

=====================  ==========================================================================
reason                 right when
=====================  ==========================================================================
``nothing_retrieved``  the audience's collections return nothing for the question at all
``below_gate``         something was retrieved, its confidence is under the gate, and with the
                       gate at 0 the same question is no longer stopped by the gate
``only_internal``      asked by a customer, and the same question asked as an agent is answered,
                       citing at least one internal source
``no_answering_unit``  the gate passed (confidence at least ``min_confidence``, a source was
                       retrieved) and still no cited answer came out
=====================  ==========================================================================

:func:`planted_reason_cases` measures the share of right reasons on questions whose cause is known
by construction (``benchmarks/knowledge_health.py``): questions over an empty store, off-topic
questions generated from a seed, and questions quoting internal-only knowledge (a runbook's or a
ticket's internal note's sentence) asked by a customer.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from bot.answer.service import AnswerService
from bot.models import Answer, AnswerReason, Audience, Visibility


def _ungated(service: AnswerService) -> AnswerService:
    """The same answer path with the confidence gate at 0."""
    return AnswerService(retriever=service.retriever, composer=service.composer, min_confidence=0.0,
                         handoff=service.handoff, max_question_chars=service.max_question_chars)


def check_reason(answer: Answer, question: str, audience: Audience, *, service: AnswerService) -> bool:
    """Whether ``answer``'s recorded reason is right (see the module docstring); True for an answer."""
    reason = answer.reason
    if not answer.abstained:
        return reason in (AnswerReason.ANSWERED, AnswerReason.COMPOSER_FALLBACK)
    if reason is AnswerReason.NOTHING_RETRIEVED:
        return not service.retriever.retrieve(question, audience).chunks
    if reason is AnswerReason.BELOW_GATE:
        if answer.closest is None or answer.confidence >= service.min_confidence:
            return False
        again = _ungated(service).answer(question, audience)
        return again.reason is not AnswerReason.BELOW_GATE
    if reason is AnswerReason.ONLY_INTERNAL:
        if audience is not Audience.CUSTOMER:
            return False
        as_agent = service.answer(question, Audience.AGENT)
        return not as_agent.abstained and any(c.audience is Visibility.INTERNAL for c in as_agent.citations)
    if reason is AnswerReason.NO_ANSWERING_UNIT:
        return answer.closest is not None and answer.confidence >= service.min_confidence
    return False


# --- planted causes ----------------------------------------------------------------------------------
OFF_TOPIC_SUBJECTS = ("a live penguin", "my grandmother's piano", "a bag of volcanic ash", "the Eiffel Tower",
                      "a racing pigeon", "fresh sushi", "a hot-air balloon", "the office dog", "a medieval sword",
                      "my fantasy football team", "a quantum computer", "the moon landing", "a jar of honey")
OFF_TOPIC_TEMPLATES = ("What is the best recipe for {s}?", "Who painted {s}?", "How tall is {s}?",
                       "Can you write a poem about {s}?", "What year was {s} invented?",
                       "Is {s} a good pet for children?", "What does {s} dream about?")
_INTERNAL_NOTE = re.compile(r"^## Internal note\s*\n(.+?)(?=^## |\Z)", re.M | re.S)


def internal_sentences(kb: Path) -> list[str]:
    """Sentences only internal knowledge holds: internal runbooks' and tickets' internal notes'."""
    texts: list[str] = []
    for path in sorted((kb / "articles").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^audience:\s*internal\s*$", text, re.M):
            texts.append(text.split("\n---\n", 1)[-1])
    for path in sorted((kb / "tickets").glob("*.md")):
        texts.extend(_INTERNAL_NOTE.findall(path.read_text(encoding="utf-8")))
    out = []
    for text in texts:
        for line in text.splitlines():
            line = re.sub(r"^(?:[-*+]|\d+\.)\s+", "", line.strip()).replace("**", "")
            if line and not line.startswith(("#", "|", ">")):
                out.extend(s for s in re.split(r"(?<=[.!?])\s+", line) if 8 <= len(s.split()) <= 40)
    return out


def planted_reason_cases(runtime: Any, empty: Any, kb: Path, *, seed: int, per_cause: int) -> dict[str, Any]:
    """Ask questions of known cause as a customer and score the recorded reasons.

    Args:
        runtime: a runtime over ``kb`` synced (public articles and internal knowledge).
        empty: a runtime over an empty store.
        kb: the knowledge base folder (``articles/``, ``tickets/``) the internal questions quote.
    """
    rng = random.Random(seed)
    off_topic = [rng.choice(OFF_TOPIC_TEMPLATES).format(s=rng.choice(OFF_TOPIC_SUBJECTS)) for _ in range(per_cause)]
    internal = [f"Is it true that {s[0].lower()}{s[1:].rstrip('.')}?"
                for s in rng.sample(internal_sentences(kb), min(per_cause, len(internal_sentences(kb))))]
    causes = {
        "empty_store": (empty.answers, off_topic[: per_cause // 2] + internal[: per_cause - per_cause // 2],
                        {AnswerReason.NOTHING_RETRIEVED}),
        "off_topic": (runtime.answers, off_topic, {AnswerReason.BELOW_GATE, AnswerReason.NOTHING_RETRIEVED}),
        "internal_only": (runtime.answers, internal, {AnswerReason.ONLY_INTERNAL}),
    }
    out: dict[str, Any] = {}
    total = right = checked = 0
    for cause, (service, questions, expected) in causes.items():
        reasons: Counter[str] = Counter()
        abstained = ok = counterfactual = 0
        for q in questions:
            answer = service.answer(q, Audience.CUSTOMER)
            reasons[answer.reason.value] += 1
            if not answer.abstained:
                continue
            abstained += 1
            ok += answer.reason in expected
            counterfactual += check_reason(answer, q, Audience.CUSTOMER, service=service)
        out[cause] = {"asked": len(questions), "abstained": abstained, "reason_right": ok,
                      "counterfactual_right": counterfactual, "reasons": dict(reasons)}
        total += abstained
        right += ok
        checked += counterfactual
    out["abstentions"] = total
    out["reason_right_share"] = round(right / total, 4) if total else None
    out["counterfactual_right_share"] = round(checked / total, 4) if total else None
    return out
