"""Recorded abstention reasons, checked by asking again without the obstacle each names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.health.reasons import check_reason, internal_sentences, planted_reason_cases
from bot.models import AnswerReason, Audience
from bot.runtime import Runtime
from bot.settings import Settings
from connectors.files import sample_kb_path

OFF_TOPIC = "What is the best recipe for a jar of volcanic honey?"


def test_the_reason_of_each_kind_of_abstention_checks_out(sample_runtime: Any) -> None:
    service = sample_runtime.answers
    off = service.answer(OFF_TOPIC, Audience.CUSTOMER)
    assert off.abstained and off.reason is AnswerReason.BELOW_GATE and off.closest is not None
    assert check_reason(off, OFF_TOPIC, Audience.CUSTOMER, service=service)
    # The same abstention with a wrong reason recorded does not check out.
    for wrong in (AnswerReason.NOTHING_RETRIEVED, AnswerReason.ONLY_INTERNAL, AnswerReason.NO_ANSWERING_UNIT):
        assert not check_reason(off.model_copy(update={"reason": wrong}), OFF_TOPIC, Audience.CUSTOMER, service=service)

    internal = [f"Is it true that {s[0].lower()}{s[1:]}" for s in internal_sentences(sample_kb_path())[:12]]
    only_internal = [(q, a) for q in internal if (a := service.answer(q, Audience.CUSTOMER)).reason
                     is AnswerReason.ONLY_INTERNAL]
    assert only_internal, "no internal-only question abstained as only_internal"
    for q, a in only_internal:
        assert a.abstained and a.citations == []  # the wall held: nothing internal shown to the customer
        assert check_reason(a, q, Audience.CUSTOMER, service=service)
        assert not check_reason(a, q, Audience.AGENT, service=service)  # an agent is never "only internal"


def test_an_empty_store_retrieves_nothing(tmp_path: Path, embedder: Any) -> None:
    rt = Runtime(Settings(_env_file=None, data_dir=tmp_path / "data", sample_kb=False), embedder=embedder)  # type: ignore[call-arg]
    try:
        answer = rt.answers.answer("How do I void a label?", Audience.CUSTOMER)
        assert answer.reason is AnswerReason.NOTHING_RETRIEVED and answer.closest is None
        assert check_reason(answer, "How do I void a label?", Audience.CUSTOMER, service=rt.answers)
    finally:
        rt.close()


def test_planted_causes_are_scored(sample_runtime: Any, tmp_path: Path, embedder: Any) -> None:
    empty = Runtime(Settings(_env_file=None, data_dir=tmp_path / "data", sample_kb=False), embedder=embedder)  # type: ignore[call-arg]
    try:
        result = planted_reason_cases(sample_runtime, empty, sample_kb_path(), seed=1, per_cause=4)
    finally:
        empty.close()
    assert result["empty_store"]["reasons"] == {"nothing_retrieved": 4}
    assert result["empty_store"]["reason_right"] == result["empty_store"]["counterfactual_right"] == 4
    assert sum(result["off_topic"]["reasons"].values()) == 4 and result["abstentions"] >= 8
    assert 0.0 <= result["reason_right_share"] <= 1.0
