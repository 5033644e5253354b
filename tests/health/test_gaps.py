"""Knowledge gaps: grouped by topic, then by the reason recorded with each question; closest source and links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.health.gaps import GapFinder, gaps_text, group, split_by_reason
from bot.state.questions import QuestionView

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def view(i: int, question: str, *, reason: str | None = "below_gate", abstained: bool = True,
         closest: dict[str, Any] | None = None, link: str | None = None, surface: str = "slack",
         not_helpful: int = 0) -> QuestionView:
    return QuestionView(id=i, created_at=NOW - timedelta(minutes=i), surface=surface, audience="customer",
                        question=question, answer="", confidence=0.3, abstained=abstained, composer="none",
                        latency_ms=1.0, answer_id=None, reason=reason, closest=closest, link=link,
                        not_helpful=not_helpful)


def test_a_topic_splits_by_reason_and_names_its_closest_source_and_links() -> None:
    shipping = {"doc_id": "kb:ship", "title": "International shipping", "url": "https://help.example/ship",
                "score": 0.38}
    customs = {"doc_id": "kb:customs", "title": "Customs", "url": None, "score": 0.41}
    questions = [
        view(0, "ship to antarctica?", closest=shipping, link="https://ws.slack.com/archives/C1/p1"),
        view(1, "antarctica shipping", closest=customs, link="https://ws.slack.com/archives/C1/p1"),
        view(2, "parcels to antarctica", closest=shipping, link="https://acme.zendesk.com/agent/tickets/9",
             surface="helpdesk"),
        view(3, "antarctica delivery", reason="only_internal"),
        view(4, "what is sap", reason=None),  # written before reasons were recorded
    ]
    topics = [questions[:4], questions[4:]]
    gaps = split_by_reason(topics)
    assert [(g.reason, g.count, g.topic_size) for g in gaps] == [
        ("below_gate", 3, 4), ("only_internal", 1, 4), ("unrecorded", 1, 1)]
    below = gaps[0]
    assert below.representative == "ship to antarctica?"  # the newest wording
    assert below.closest is not None and below.closest["title"] == "International shipping"  # 2 of its 3 questions
    assert below.closest["questions"] == 2 and below.closest["score"] == 0.38
    assert below.links == [("slack", "https://ws.slack.com/archives/C1/p1"),
                           ("helpdesk", "https://acme.zendesk.com/agent/tickets/9")]  # one per link
    assert below.label == "No source close enough to answer" and "closest source" in below.hint
    assert gaps[2].label == "Abstained (reason not recorded)"
    data = below.as_dict()
    assert data["reason"] == "below_gate" and data["links"][1]["url"].endswith("/9") and data["count"] == 3


def test_answers_voted_down_are_gaps_of_their_own_reason() -> None:
    down = view(0, "how do refunds work", reason="answered", abstained=False, not_helpful=2)
    fallback = view(1, "refund timing", reason="composer_fallback", abstained=False, not_helpful=1)
    assert (down.is_gap, down.gap_reason) == (True, "not_helpful")
    assert (fallback.is_gap, fallback.gap_reason) == (True, "composer_fallback")
    assert [g.reason for g in split_by_reason([[down, fallback]])] == ["not_helpful", "composer_fallback"]


def test_single_linkage_topics() -> None:
    questions = [view(i, f"q{i}") for i in range(4)]
    vectors = np.array([[1, 0], [0.9, 0.436], [0, 1], [0.6, 0.8]], dtype=np.float32)
    assert [[q.id for q in t] for t in group(questions, vectors, threshold=0.8)] == [[0, 1, 3], [2]]


def test_finding_gaps_in_the_log_with_the_real_model(state: Any, embedder: Any) -> None:
    for q, reason in (("Do you ship to Antarctica?", "below_gate"), ("Can I send parcels to Antarctica?", "below_gate"),
                      ("Is shipping to Antarctica supported?", "only_internal"), ("How do I void a label?", "answered")):
        state.questions.record_question(surface="slack", audience="customer", question=q, answer="", confidence=0.3,
                                        abstained=reason != "answered", reason=reason)
    gaps = GapFinder(lambda: embedder, threshold=0.6).find(state.questions, days=30)
    assert [(g.reason, g.count, g.topic_size) for g in gaps] == [("below_gate", 2, 3), ("only_internal", 1, 3)]
    text = gaps_text(gaps)
    assert text.splitlines()[0] == "  2  Can I send parcels to Antarctica?"  # the newest wording
    assert "why: No source close enough to answer" in text
    assert gaps_text([]).startswith("No knowledge gaps")
