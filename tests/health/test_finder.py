"""The contradiction and staleness finder over a real index: what it flags, and what it leaves alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.health.finder import HealthFinder, HealthThresholds
from bot.health.report import HealthReport, report_text
from bot.runtime import Runtime
from tests.health.conftest import REFUND_URL


def _flags(report: HealthReport) -> set[tuple[str, str, str, str, tuple[str, ...]]]:
    return {(c.kind, c.article.title, c.article_value, c.reply_value,
             tuple(sorted(t.doc_id.rsplit(":", 1)[-1] for t in c.tickets))) for c in report.contradictions}


def test_flags_what_replies_state_otherwise_and_nothing_else(health_runtime: Runtime,
                                                             clock: Callable[[], datetime]) -> None:
    report = HealthFinder(retriever=health_runtime.retriever, clock=clock).report()
    assert _flags(report) == {
        ("quantity", "Request a subscription refund", "14 days", "30 days", ("t1.md",)),
        ("ui_path", "Request a subscription refund", "Settings > Billing > Invoices", "Settings > Payments > Invoices",
         ("t4.md",)),
        ("plan", "Plans and pricing", "Growth", "Business plan", ("t8.md",)),
    }
    # Left alone: "two weeks" (t2), the customer's wrong number (t3), a ticket older than the window (t5),
    # an internal note (t6), and the void window of another article (t7).
    refund = next(c for c in report.contradictions if c.kind == "quantity")
    assert refund.section == "" and "14 days" in refund.article_excerpt
    [evidence] = refund.tickets
    assert evidence.url == "https://acme.zendesk.com/agent/tickets/1" and "30 days" in evidence.excerpt
    assert evidence.similarity >= 0.6 and evidence.updated_at is not None
    assert report.articles == 3 and report.tickets >= 5
    assert report.not_helpful == []  # no questions log given


def test_a_longer_ticket_window_compares_the_old_ticket_too(health_runtime: Runtime,
                                                            clock: Callable[[], datetime]) -> None:
    finder = HealthFinder(retriever=health_runtime.retriever, clock=clock,
                          thresholds=HealthThresholds(ticket_days=1000))
    flagged = {(c.reply_value, t.doc_id.rsplit(":", 1)[-1]) for c in finder.report().contradictions for t in c.tickets}
    assert ("60 days", "t5.md") in flagged


def test_stale_and_not_helpful_articles(health_runtime: Runtime, clock: Callable[[], datetime]) -> None:
    questions = health_runtime.state.questions
    cite = [{"n": 1, "doc_id": "articles:file:refund.md", "title": "Request a subscription refund", "url": REFUND_URL}]
    for i, helpful in enumerate([False, False, False, True]):
        questions.record_question(surface="slack", audience="customer", question=f"refund question {i}",
                                  answer="Refunds within 14 days [1].", confidence=0.7, abstained=False,
                                  answer_id=f"ans-{i}", citations=cite, reason="answered",
                                  link=f"https://parcelly.slack.com/archives/C1/p170000000000000{i}")
        health_runtime.state.feedback.record_feedback(answer_id=f"ans-{i}", user="U1", helpful=helpful)
    report = HealthFinder(retriever=health_runtime.retriever, questions=questions, clock=clock).report()

    [bad] = report.not_helpful
    assert (bad.article.title, bad.not_helpful, bad.helpful) == ("Request a subscription refund", 3, 1)
    assert {q.link for q in bad.questions} == {f"https://parcelly.slack.com/archives/C1/p170000000000000{i}"
                                              for i in range(3)}
    [old] = report.stale  # updated 2025-01-15; three recent tickets link to it (t2, t3, t4)
    assert old.article.url == REFUND_URL and old.age_days > 600
    assert {t.url for t in old.tickets} == {f"https://acme.zendesk.com/agent/tickets/{n}" for n in (2, 3, 4)}
    assert {t.how for t in old.tickets} == {"linked in a reply"}

    text = report_text(report)
    assert "Request a subscription refund" in text and "https://acme.zendesk.com/agent/tickets/1" in text
    assert "3 answers voted not helpful" in text and "cited by 3 recent tickets" in text
    again = HealthReport.model_validate(report.model_dump(mode="json"))  # what the admin page reads back
    assert again == report


def test_strict_thresholds_flag_nothing(health_runtime: Runtime, clock: Callable[[], datetime]) -> None:
    finder = HealthFinder(retriever=health_runtime.retriever, clock=clock,
                          thresholds=HealthThresholds(claim_similarity=0.99, stale_min_tickets=99))
    report = finder.report()
    assert report.contradictions == [] and report.stale == []
    assert "Nothing to flag." in report_text(report)


def test_an_empty_index_reports_nothing(tmp_path: Any, embedder: Any, clock: Callable[[], datetime]) -> None:
    from bot.settings import Settings

    rt = Runtime(Settings(_env_file=None, data_dir=tmp_path / "data", sample_kb=False), embedder=embedder)  # type: ignore[call-arg]
    try:
        report = HealthFinder(retriever=rt.retriever, questions=rt.state.questions, clock=clock).report()
    finally:
        rt.close()
    assert (report.articles, report.tickets, report.findings) == (0, 0, 0)
