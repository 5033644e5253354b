"""HTML to Markdown, the one way every connector converts vendor HTML into document text.

Help-center bodies, ticket comments and files arrive as HTML; documents hold Markdown, so that
headings, lists, emphasis and tables survive into chunks and quotes. markdownify does the work
with ATX headings (``#``) and ``-`` bullets; images are dropped (their ``alt`` text says little
and their URLs say nothing), as are ``<script>`` and ``<style>`` contents. Trailing spaces and
runs of blank lines are squeezed so the same page always gives the same text (and hash).
"""

from __future__ import annotations

import re

from markdownify import markdownify

#: The shape most ticket comments arrive in (Zendesk's ``html_body`` of a plain comment): one
#: ``zd-comment`` div of plain paragraphs, nothing markdownify would escape, decode or format.
_PLAIN_COMMENT = re.compile(
    r'<div class="zd-comment" dir="auto">((?:[ \t\n]*<p dir="auto">[^<&*_\x00-\x08\x0b-\x1f\x7f]*</p>)+)[ \t\n]*</div>')
_PARAGRAPH = re.compile(r'<p dir="auto">([^<]*)</p>')
_NEWLINE_SPACE = re.compile(r"[\t \n]*\n[\t \n]*")
_SPACE = re.compile(r"[\t ]+")


def html_to_markdown(html: str, *, links: bool = True) -> str:
    """``html`` as Markdown ("" when it holds no text).

    Args:
        html: an HTML fragment or page.
        links: keep ``<a>`` as ``[text](href)``; False keeps only the text (a crawled page's
            navigation links are noise in its document).
    """
    plain = _plain_comment(html)
    if plain is not None:
        return plain
    strip = ["img"] if links else ["img", "a"]
    return squeeze_blank_lines(markdownify(html, heading_style="ATX", bullets="-", strip=strip))


def _plain_comment(html: str) -> str | None:
    """markdownify's own result for a comment of plain paragraphs, without parsing it (a sync
    converts one per ticket comment, and parsing cost more than the rest of a ticket's fetching);
    None for anything else. Paragraphs as markdownify writes them: whitespace around a line
    break becomes the break, other runs of spaces and tabs one space, the ends stripped."""
    match = _PLAIN_COMMENT.fullmatch(html)
    if match is None:
        return None
    paragraphs = (_SPACE.sub(" ", _NEWLINE_SPACE.sub("\n", p)).strip(" \t\n") for p in _PARAGRAPH.findall(match.group(1)))
    return squeeze_blank_lines("\n\n".join(p for p in paragraphs if p))


def squeeze_blank_lines(text: str) -> str:
    """Trailing spaces off each line, at most one blank line in a row, none at either end."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
