"""Passages cut into answer units: the messy text of real help centers and technotes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.index.units import UnitKind, is_label, split_units


def kinds_and_texts(text: str, **kw: str) -> list[tuple[str, str]]:
    return [(u.kind.value, u.text) for u in split_units(text, **kw)]


def test_glued_sentences_and_callouts_are_split() -> None:
    units = kinds_and_texts("Click Resubmit.Important:Whenever you make a change, Wix checks it.Step 2 | Use the editor.")
    assert units == [("sentence", "Click Resubmit."), ("sentence", "Whenever you make a change, Wix checks it."),
                     ("step", "Step 2 | Use the editor.")]
    assert [u.text for u in split_units("We support U.S.A. addresses. Node.js works.")] == [
        "We support U.S.A. addresses.", "Node.js works."]


def test_numbered_steps_keep_their_number_and_their_sentences() -> None:
    units = split_units("To void a label:\n1. Open the shipment. It shows the label.\n2. Click **Void**.")
    assert [(u.kind, u.text) for u in units] == [
        (UnitKind.SENTENCE, "To void a label:"), (UnitKind.STEP, "1. Open the shipment."),
        (UnitKind.SENTENCE, "It shows the label."), (UnitKind.STEP, "2. Click **Void**.")]
    assert units[1].line == units[2].line != units[3].line  # the step's second sentence stays with it


def test_labels_headings_and_bold_faq_questions_set_the_section() -> None:
    text = ("ABSTRACT\n Jobs fail.\nTitle: IBM thing\nRESOLVING THE PROBLEM\nSet the variable.\n"
            "## Troubleshooting\n**The refund was rejected.** The carrier scanned it. Check tracking.")
    units = split_units(text, section="Intro")
    quotable = [(u.section, u.text) for u in units if u.quotable]
    assert quotable == [("ABSTRACT", "Jobs fail."), ("RESOLVING THE PROBLEM", "Set the variable."),
                        ("The refund was rejected.", "The carrier scanned it."),
                        ("The refund was rejected.", "Check tracking.")]
    headings = [u.text for u in units if u.kind is UnitKind.HEADING]
    assert headings == ["ABSTRACT", "Title: IBM thing", "RESOLVING THE PROBLEM", "Troubleshooting", "The refund was rejected."]
    assert split_units("Just text.", section="Intro")[0].section == "Intro"


def test_label_lines_are_told_from_content() -> None:
    assert is_label("RESOLVING THE PROBLEM") and is_label("TECHNOTE (FAQ)") and is_label("Problem Solution")
    assert not is_label("To verify your identity:")  # introduces a list: content
    assert not is_label("Click Save.") and not is_label("will fail with message:")


def test_table_rows_carry_their_header_and_code_blocks_stay_whole() -> None:
    text = "| Carrier | Refund |\n|---|---|\n| USPS | 21 days |\n| UPS | 5 days |\n\n```\nPOST /v1/labels\n```"
    units = split_units(text)
    assert [(u.kind, u.text) for u in units] == [
        (UnitKind.ROW, "| USPS | 21 days |"), (UnitKind.ROW, "| UPS | 5 days |"), (UnitKind.CODE, "```\nPOST /v1/labels\n```")]
    assert units[0].header == "| Carrier | Refund |\n|---|---|" and units[0].block and units[2].block


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_any_text_splits_without_error(text: str) -> None:
    for u in split_units(text):
        assert u.text.strip()


def test_headings_glued_to_their_first_sentence_are_cut_off_but_product_names_stay_whole() -> None:
    units = split_units("Select the dates. Understanding payment statusesDepending on the transaction, it varies.")
    assert [(u.kind.value, u.section, u.text) for u in units] == [
        ("sentence", "", "Select the dates."),
        ("heading", "Understanding payment statuses", "Understanding payment statuses"),
        ("sentence", "Understanding payment statuses", "Depending on the transaction, it varies.")]
    for text in ("Connect QuickBooks to your site.", "Install WordPress and LinkedIn.", "Open SharePoint settings."):
        assert [u.text for u in split_units(text)] == [text]


def test_a_table_or_code_block_right_under_a_heading_is_not_on_the_heading_s_line() -> None:
    """A chunker packs sections as "## Heading\\n| a | b |...": the block must not share the
    heading's line number, or the heading reads as a FAQ question glued to its answer."""
    units = split_units("## Limits\n| Plan | Limit |\n|---|---|\n| Pro | 600 |\n## Example\n```\ncurl x\n```")
    heading, row, heading2, code = units
    assert (heading.kind, row.kind, heading2.kind, code.kind) == (UnitKind.HEADING, UnitKind.ROW, UnitKind.HEADING,
                                                                 UnitKind.CODE)
    assert row.line != heading.line and code.line != heading2.line
    assert heading.line < row.line < heading2.line < code.line
