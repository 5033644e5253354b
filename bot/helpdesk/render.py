"""The private note an agent sees on the ticket: the draft, its numbered sources, confidence, tag.

Two renderings of the same content: plain text (the CLI's dry run) and HTML (what the helpdesks
receive). Every piece of text is HTML-escaped before the few formatting rules (bold, code,
line breaks, quoted Markdown tables as HTML tables, links to http(s) URLs of the sources) are
applied, so nothing from a ticket or the knowledge base can inject markup. Related tickets are
internal knowledge: they are listed under a heading that says so and are never part of the
suggested reply.
"""

from __future__ import annotations

import html
import re

from bot.answer.text_tables import TextTable, list_item, split_tables
from bot.helpdesk.models import Draft, Note, Provider

HEADER = "helpdesk-bot draft reply (internal note, not sent to the customer): review and edit before replying."
ABSTAIN_HEADER = "helpdesk-bot: no draft for this ticket (internal note)."
RELATED_HEADER = "Related solved tickets (INTERNAL, for the agent only, never share with the customer):"
#: Helpdesks whose notes flatten an HTML table into one run of its cells' text (Intercom's reply
#: API keeps tables only in an unreleased preview version): a table goes to them as a list.
FLATTENS_TABLES = frozenset({Provider.INTERCOM})
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`\n]+)`")


def render_note(draft: Draft, *, tag: str, min_confidence: float) -> Note:
    """The note for ``draft``: a cited draft, or (abstained) why there is none."""
    answer = draft.answer
    text_parts: list[str] = []
    html_parts: list[str] = []
    if draft.abstained:
        why = (f"No confident source: nothing in the public knowledge base answers this ticket confidently "
               f"(confidence {answer.confidence:.2f}, threshold {min_confidence:.2f}), so no reply was drafted. "
               "Please answer it by hand.")
        text_parts += [ABSTAIN_HEADER, why]
        html_parts += [f"<p><strong>{_esc(ABSTAIN_HEADER)}</strong></p>", f"<p>{_esc(why)}</p>"]
    else:
        text_parts += [HEADER, "Suggested reply:", draft.text]
        html_parts += [f"<p><strong>{_esc(HEADER)}</strong></p>", "<p><strong>Suggested reply:</strong></p>",
                       f"<blockquote>{_rich(draft.text, tables=draft.ticket.provider not in FLATTENS_TABLES)}</blockquote>"]
        source_lines = []
        html_sources = []
        for c in answer.citations:
            section = f" › {c.section}" if c.section else ""
            source_lines.append(f"[{c.n}] {c.title}{section}" + (f" - {c.url}" if c.url else ""))
            html_sources.append(f"[{c.n}] {_link(c.title + section, c.url)}")
        text_parts.append("Sources:\n" + "\n".join(source_lines))
        html_parts.append("<p><strong>Sources:</strong><br>" + "<br>".join(html_sources) + "</p>")
        meta = f"Confidence: {answer.confidence:.2f} (composer: {answer.composer}"
        meta += ")" if draft.style in ("unchanged", "") else f", style: {draft.style})"
        text_parts.append(meta)
        html_parts.append(f"<p>{_esc(meta)}</p>")
    if draft.related:
        lines = [f"- {r.title}" + (f" - {r.url}" if r.url else "") for r in draft.related]
        text_parts.append(RELATED_HEADER + "\n" + "\n".join(lines))
        html_parts.append(f"<p><strong>{_esc(RELATED_HEADER)}</strong><br>"
                          + "<br>".join(f"- {_link(r.title, r.url)}" for r in draft.related) + "</p>")
    text_parts.append(f"Tag: {tag}")
    html_parts.append(f"<p>Tag: {_esc(tag)}</p>")
    return Note(text="\n\n".join(text_parts), html="\n".join(html_parts))


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _rich(text: str, *, tables: bool = True) -> str:
    """Escaped text with **bold**, `code`, line breaks and tables kept (the KB's Markdown, minimally):
    a quoted Markdown table becomes an HTML table, its header row as ``<th>`` cells, or where
    ``tables`` is off (a helpdesk that flattens tables into one run of cell text) a list, a row per
    item led by its first cell, the other cells named by their column."""
    parts = []
    for piece in split_tables(text):
        if isinstance(piece, str):
            parts.append(_inline(piece).replace("\n", "<br>"))
        else:
            parts.append(_table(piece) if tables else _table_list(piece))
    return "".join(parts)


def _inline(text: str) -> str:
    out = _esc(text)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _CODE.sub(r"<code>\1</code>", out)


def _table(table: TextTable) -> str:
    def row(cells: list[str], marker: str, tag: str) -> str:
        shown = [*cells[:-1], f"{cells[-1]} {marker}".strip()] if marker and cells else cells
        return "<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in shown) + "</tr>"

    head = f"<thead>{row(table.header.cells, table.header.marker, 'th')}</thead>" if table.header else ""
    body = "".join(row(r.cells, r.marker, "td") for r in table.rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _table_list(table: TextTable) -> str:
    items = [_inline(row.line) if row.line is not None
             else list_item(row, lead=lambda t: f"<strong>{_inline(t)}</strong>", cell=_inline)
             for row in table.labelled_rows()]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _link(title: str, url: str | None) -> str:
    if url and re.match(r"^https?://", url, re.I):
        return f'<a href="{_esc(url)}">{_esc(title)}</a>'
    return _esc(title)
