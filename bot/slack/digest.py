"""Knowledge health in Slack: ``/helpdesk gaps`` (admins) and the weekly digest to an admin channel.

Everything shown is untrusted text (questions people asked, article and ticket text): it goes
through :func:`bot.slack.render.escape`, and a link is made only from an http(s) URL
(:func:`bot.slack.render.is_safe_url`), so nothing in a question or a ticket can mention, broadcast
or link anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.health.gaps import Gap
from bot.health.report import HealthReport
from bot.slack import render
from bot.slack.render import SlackMessage

#: Groups and findings listed per message (the admin page and the CLI list them all).
GAPS_SHOWN = 5
FINDINGS_SHOWN = 5
QUOTE_CHARS = 160


def _link(url: str | None, label: str) -> str:
    text = render.escape(label.replace("|", "¦"))
    return f"<{url}|{text}>" if url and render.is_safe_url(url) else text


def _cut(text: str, limit: int = QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def gap_lines(gaps: Sequence[Gap], *, limit: int = GAPS_SHOWN) -> list[str]:
    """One bullet per (topic, reason) group: count, wording, reason, closest source, links."""
    lines = []
    for g in gaps[:limit]:
        line = f"• *{g.count}×* “{render.escape(_cut(g.representative))}” — _{render.escape(g.label)}_"
        c = g.closest
        if c:
            line += f"\n    closest: {_link(c.get('url'), str(c.get('title') or c.get('doc_id') or '?'))}"
            line += f" ({float(c.get('score') or 0):.2f})"
        links = [_link(url, f"{'thread' if surface == 'slack' else 'ticket'} {i}")
                 for i, (surface, url) in enumerate(g.links[:3], start=1)]
        if links:
            line += "  ·  " + ", ".join(links)
        lines.append(line)
    return lines


def gaps_text(gaps: Sequence[Gap], *, days: int, limit: int = GAPS_SHOWN) -> str:
    """The reply to ``/helpdesk gaps``."""
    if not gaps:
        return f"No knowledge gaps in the last {days} days: every logged question was answered without complaint."
    head = f"*Knowledge gaps* (last {days} days, top {min(limit, len(gaps))} of {len(gaps)} groups by topic and reason)"
    return "\n".join([head, *gap_lines(gaps, limit=limit)])


def _section(lines: list[str]) -> dict[str, object]:
    """A section of whole lines within Slack's section text limit."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > render.SECTION_TEXT_MAX - 20:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return render.section("\n".join(kept))


def health_digest(report: HealthReport, gaps: Sequence[Gap], *, days: int) -> SlackMessage:
    """The weekly digest: contradictions, not-helpful and stale articles, and the top knowledge gaps."""
    blocks = [render.section(
        f"*Knowledge health* — {len(report.contradictions)} contradictions, {len(report.not_helpful)} articles "
        f"voted not helpful, {len(report.stale)} stale articles, {len(gaps)} knowledge gaps "
        f"({report.articles} articles and {report.tickets} recent tickets checked)")]
    if report.contradictions:
        lines = ["*The article says one thing, recent replies another*"]
        for c in report.contradictions[:FINDINGS_SHOWN]:
            tickets = ", ".join(_link(t.url, _cut(t.title, 60)) for t in c.tickets[:3])
            lines.append(f"• {_link(c.article.url, c.article.title)}: says *{render.escape(c.article_value)}*, "
                         f"{len(c.tickets)} ticket{'s' if len(c.tickets) != 1 else ''} replied "
                         f"*{render.escape(c.reply_value)}* ({tickets})\n    > {render.escape(_cut(c.article_excerpt))}")
        blocks.append(_section(lines))
    if report.not_helpful:
        lines = ["*Cited in answers voted not helpful*"]
        lines += [f"• {_link(n.article.url, n.article.title)}: {n.not_helpful} not helpful, {n.helpful} helpful"
                  for n in report.not_helpful[:FINDINGS_SHOWN]]
        blocks.append(_section(lines))
    if report.stale:
        lines = ["*Old articles recent tickets keep citing*"]
        lines += [f"• {_link(s.article.url, s.article.title)}: last updated {s.age_days} days ago, "
                  f"cited by {len(s.tickets)} recent tickets" for s in report.stale[:FINDINGS_SHOWN]]
        blocks.append(_section(lines))
    if gaps:
        blocks.append(_section([f"*Top knowledge gaps* (last {days} days)", *gap_lines(gaps)]))
    blocks.append(render.context("Every finding with its evidence: the admin page's Knowledge health and Knowledge "
                                 "gaps tabs, or `helpdesk-bot health` and `helpdesk-bot gaps`."))
    text = (f"Knowledge health: {len(report.contradictions)} contradictions, {len(report.not_helpful)} not helpful, "
            f"{len(report.stale)} stale, {len(gaps)} gaps")
    return SlackMessage(text=text, blocks=blocks[: render.MESSAGE_BLOCKS_MAX])
