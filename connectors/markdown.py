"""HTML to Markdown, the one way every connector converts vendor HTML into document text.

Help-center bodies, ticket comments and files arrive as HTML; documents hold Markdown, so that
headings, lists, emphasis and tables survive into chunks and quotes. markdownify does the work
with ATX headings (``#``) and ``-`` bullets; images are dropped (their ``alt`` text says little
and their URLs say nothing), as are ``<script>`` and ``<style>`` contents. Trailing spaces and
runs of blank lines are squeezed so the same page always gives the same text (and hash).
"""

from __future__ import annotations

from markdownify import markdownify


def html_to_markdown(html: str, *, links: bool = True) -> str:
    """``html`` as Markdown ("" when it holds no text).

    Args:
        html: an HTML fragment or page.
        links: keep ``<a>`` as ``[text](href)``; False keeps only the text (a crawled page's
            navigation links are noise in its document).
    """
    strip = ["img"] if links else ["img", "a"]
    return squeeze_blank_lines(markdownify(html, heading_style="ATX", bullets="-", strip=strip))


def squeeze_blank_lines(text: str) -> str:
    """Trailing spaces off each line, at most one blank line in a row, none at either end."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
