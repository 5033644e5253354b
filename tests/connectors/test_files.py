"""The files connector: Markdown with front matter, HTML through markdownify, text; bad files skipped."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import DocumentKind, Visibility
from connectors.base import Checkpoint, Skipped, drain
from connectors.files import FilesConnector, FilesConnectorSettings, sample_kb_path, text_headings


def _collect(connector: FilesConnector, skipped: list[str] | None = None):  # type: ignore[no-untyped-def]
    """Documents and the checkpoint; skip reasons go to ``skipped``."""
    events, checkpoint = drain(connector.sync(None))
    if skipped is not None:
        skipped.extend(e.reason for e in events if isinstance(e, Skipped))
    return [e for e in events if not isinstance(e, Skipped)], checkpoint


def test_markdown_html_and_text(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: Reset\nurl: https://x.example/a\naudience: internal\n"
                                   "updated_at: 2026-09-14\n---\n# Reset\n\nBody text.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.html").write_text(
        "<html><head><title>Plans</title><meta name='audience' content='public'></head><body>"
        "<nav>menu</nav><h1>Plans</h1><p>Growth is <b>$49</b>.</p><table><tr><th>Plan</th><th>Price</th></tr>"
        "<tr><td>Pro</td><td>$129</td></tr></table><script>alert(1)</script></body></html>", encoding="utf-8")
    (tmp_path / "c.txt").write_text("Contact support\nWrite to us any time.\n", encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    connector = FilesConnector(FilesConnectorSettings(name="kb", path=tmp_path))
    docs, checkpoint = _collect(connector)
    by_id = {d.id: d for d in docs}
    assert set(by_id) == {"kb:file:a.md", "kb:file:sub/b.html", "kb:file:c.txt"}
    a = by_id["kb:file:a.md"]
    assert (a.title, a.url, a.audience, a.kind) == ("Reset", "https://x.example/a", Visibility.INTERNAL, DocumentKind.ARTICLE)
    assert a.updated_at is not None and a.updated_at.year == 2026
    b = by_id["kb:file:sub/b.html"]
    assert b.title == "Plans" and "**$49**" in b.text and "| Pro | $129 |" in b.text
    assert "alert(1)" not in b.text and "menu" not in b.text
    c = by_id["kb:file:c.txt"]
    assert c.title == "Contact support" and c.kind is DocumentKind.FILE and c.text == "Write to us any time."
    assert isinstance(checkpoint, Checkpoint) and checkpoint.updated_since is not None
    assert sorted(connector.list_ids()) == sorted(by_id)


def test_bad_files_are_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "bad-front.md").write_text("---\ntitle: [unclosed\n---\nBody\n", encoding="utf-8")
    (tmp_path / "bad-audience.md").write_text("---\naudience: everyone\n---\nBody\n", encoding="utf-8")
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "good.md").write_text("# Good\n\nFine.\n", encoding="utf-8")
    connector = FilesConnector(FilesConnectorSettings(name="kb", path=tmp_path))
    skipped: list[str] = []
    docs, _ = _collect(connector, skipped)
    assert [d.id for d in docs] == ["kb:file:good.md"]
    reasons = " | ".join(skipped)
    assert "latin1.md: not UTF-8" in reasons
    assert "bad-front.md: invalid front matter" in reasons
    assert "bad-audience.md: audience must be" in reasons


def test_sample_kb_is_shipped_and_complete() -> None:
    root = sample_kb_path()
    articles, _ = _collect(FilesConnector(FilesConnectorSettings(name="a", path=root / "articles")))
    tickets, _ = _collect(FilesConnector(FilesConnectorSettings(name="t", path=root / "tickets",
                                                                default_audience=Visibility.INTERNAL)))
    assert len(articles) >= 40 and len(tickets) >= 30
    assert {d.audience for d in articles} == {Visibility.PUBLIC, Visibility.INTERNAL}
    assert all(d.audience is Visibility.INTERNAL and d.kind is DocumentKind.TICKET for d in tickets)
    assert all("## Internal note" in d.text for d in tickets)


def test_a_plain_text_articles_heading_lines_become_headings(tmp_path: Path) -> None:
    (tmp_path / "support.txt").write_text(
        "Contact support\n\nWe help with everything.\n\nSupport hours\n\nMonday to Friday, 8:00 to 20:00 ET.\n"
        "Closed on holidays.\n\nCan I call you?\n\nEnterprise customers can.\n\nNote: this is not a heading.\n\n"
        "1. A step\n\n- an item\n\nthe end without a capital\n\nLast line with no text after it\n", encoding="utf-8")
    docs, _ = _collect(FilesConnector(FilesConnectorSettings(name="kb", path=tmp_path)))
    (doc,) = docs
    assert doc.text.split("\n\n") == [
        "We help with everything.", "## Support hours", "Monday to Friday, 8:00 to 20:00 ET.\nClosed on holidays.",
        "## Can I call you?", "Enterprise customers can.", "Note: this is not a heading.", "1. A step", "- an item",
        "the end without a capital", "Last line with no text after it"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=8))
def test_marking_text_headings_changes_nothing_but_the_marks(paragraphs: list[str]) -> None:
    # The words, in order, and the paragraphs stay; only "## " marks (and the white space around
    # a heading line) change.
    body = "\n\n".join(paragraphs)
    marked = text_headings(body)
    assert marked.replace("## ", "").split() == body.replace("## ", "").split()
    paragraph_break = re.compile(r"\n[ \t]*\n")
    assert len(paragraph_break.split(marked)) == len(paragraph_break.split(body))
