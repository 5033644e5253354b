"""The knowledge-health report: what the finder flags, with the evidence a support lead needs to act.

Three kinds of finding, each about one public article:

* :class:`Contradiction`: recent solved tickets' public replies state something checkable (a number
  with a unit, a menu path, a plan name) that the article states differently; with the article's
  sentence, each ticket's sentence and a link to the ticket.
* :class:`NotHelpful`: answers citing the article were voted "not helpful" more often than "helpful".
* :class:`Stale`: the article has not been updated for a long time while recent tickets keep citing it.

The report is a pydantic model, so that it goes to JSON (``helpdesk-bot health --json``, the state
database the admin page reads it from) and back unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ContradictionKind = Literal["quantity", "ui_path", "plan"]


class ArticleRef(BaseModel):
    """The article a finding is about."""

    doc_id: str
    title: str
    url: str | None = None
    updated_at: datetime | None = None


class TicketEvidence(BaseModel):
    """One ticket that says otherwise: its link and the sentence of its reply."""

    doc_id: str
    title: str
    url: str | None = None
    updated_at: datetime | None = None
    excerpt: str
    value: str = Field(description="What the reply says (the quantity or path as written)")
    similarity: float = Field(description="How alike the two sentences are (cosine, all-MiniLM-L6-v2)")


class Contradiction(BaseModel):
    article: ArticleRef
    kind: ContradictionKind
    section: str = ""
    article_excerpt: str
    article_value: str
    reply_value: str
    tickets: list[TicketEvidence] = Field(default_factory=list)

    @property
    def evidence(self) -> str:
        n = len(self.tickets)
        return (f"{n} recent ticket{'s' if n != 1 else ''} replied {self.reply_value!r} where the article says "
                f"{self.article_value!r}")


class QuestionEvidence(BaseModel):
    question: str
    surface: str
    link: str | None = None
    asked_at: datetime


class NotHelpful(BaseModel):
    article: ArticleRef
    not_helpful: int = Field(description="Answers citing the article that more people voted down than up")
    helpful: int = Field(description="Answers citing it voted helpful (net)")
    questions: list[QuestionEvidence] = Field(default_factory=list)


class CitingTicket(BaseModel):
    doc_id: str
    title: str
    url: str | None = None
    updated_at: datetime | None = None
    how: Literal["linked in a reply", "cited in a draft"]


class Stale(BaseModel):
    article: ArticleRef
    age_days: int
    tickets: list[CitingTicket] = Field(default_factory=list)


class HealthReport(BaseModel):
    """Everything the finder found in one run."""

    generated_at: datetime
    articles: int = Field(description="Public articles checked")
    tickets: int = Field(description="Recent tickets whose replies were compared")
    contradictions: list[Contradiction] = Field(default_factory=list)
    not_helpful: list[NotHelpful] = Field(default_factory=list)
    stale: list[Stale] = Field(default_factory=list)
    settings: dict[str, float] = Field(default_factory=dict, description="The thresholds it ran with")

    @property
    def findings(self) -> int:
        return len(self.contradictions) + len(self.not_helpful) + len(self.stale)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "unknown"


def report_text(report: HealthReport, *, limit: int = 20) -> str:
    """The report as plain text (``helpdesk-bot health``): each finding with its evidence and links."""
    lines = [f"Knowledge health {report.generated_at:%Y-%m-%d %H:%M} UTC: {report.articles} public articles, "
             f"{report.tickets} recent tickets compared; {len(report.contradictions)} contradictions, "
             f"{len(report.not_helpful)} not-helpful articles, {len(report.stale)} stale articles."]
    if report.contradictions:
        lines += ["", "Contradictions (the article says one thing, recent replies another):"]
    for c in report.contradictions[:limit]:
        where = f" › {c.section}" if c.section else ""
        lines.append(f"- {c.article.title}{where} ({c.article.url or c.article.doc_id})")
        lines.append(f"    article: {c.article_excerpt}")
        lines.append(f"    {c.evidence}:")
        for t in c.tickets[:5]:
            lines.append(f"      {t.title} ({t.url or t.doc_id}, {_when(t.updated_at)}): {t.excerpt}")
    if report.not_helpful:
        lines += ["", "Cited in answers voted not helpful:"]
    for n in report.not_helpful[:limit]:
        lines.append(f"- {n.article.title} ({n.article.url or n.article.doc_id}): {n.not_helpful} answers voted "
                     f"not helpful, {n.helpful} helpful")
        for q in n.questions:
            lines.append(f"    {q.question[:120]}" + (f" ({q.link})" if q.link else ""))
    if report.stale:
        lines += ["", "Old articles recent tickets keep citing:"]
    for st in report.stale[:limit]:
        lines.append(f"- {st.article.title} ({st.article.url or st.article.doc_id}): last updated "
                     f"{_when(st.article.updated_at)} ({st.age_days} days ago), cited by {len(st.tickets)} recent tickets")
        for t in st.tickets[:5]:
            lines.append(f"    {t.how}: {t.title[:100]} ({t.url or t.doc_id}, {_when(t.updated_at)})")
    if not report.findings:
        lines += ["", "Nothing to flag."]
    return "\n".join(lines)
