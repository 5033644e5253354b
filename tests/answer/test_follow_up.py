"""A thread's follow-up made self-contained: earlier turns first, a swapped subject's old name out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer.follow_up import HISTORY_TURNS, MAX_CONTEXT_CHARS, follow_up_query
from bot.index.sparse import SparseEncoder

SPARSE = SparseEncoder()


def test_without_history_the_question_stands_alone() -> None:
    assert follow_up_query("How do I void a label?", [], SPARSE) == "How do I void a label?"
    assert follow_up_query("How do I void a label?", ["", "  "], SPARSE) == "How do I void a label?"


def test_a_follow_up_is_read_after_the_earlier_turns() -> None:
    query = follow_up_query("and how long is the link valid?", ["How do I reset my password?"], SPARSE)
    assert query == "How do I reset my password? and how long is the link valid?"
    # Only the last HISTORY_TURNS turns, and at most MAX_CONTEXT_CHARS of them.
    turns = [f"turn {n} about labels" for n in range(HISTORY_TURNS + 3)]
    assert follow_up_query("and?", turns, SPARSE) == " ".join(turns[-HISTORY_TURNS:]) + " and?"
    long = follow_up_query("and?", ["x" * (3 * MAX_CONTEXT_CHARS)], SPARSE)
    assert len(long) == MAX_CONTEXT_CHARS + len(" and?")


def test_a_swapped_subject_drops_the_name_it_replaces() -> None:
    assert follow_up_query("what about WooCommerce?", ["How do I connect my Shopify store?"], SPARSE) == (
        "How do I connect my store? what about WooCommerce?")
    assert follow_up_query("and Pro?", ["What does the Growth plan cost?"], SPARSE) == "What does the plan cost? and Pro?"
    # Only the last name before it, one per name it brings: the product both are about stays.
    assert follow_up_query("and on Linux?", ["How do I install Netcool on AIX?"], SPARSE) == (
        "How do I install Netcool on ? and on Linux?")


def test_a_follow_up_that_does_not_swap_keeps_every_name() -> None:
    # Not a swap ("does it work with ..."), and a swap naming nothing ("and for returns?").
    assert follow_up_query("does it work with Azure AD?", ["How do I set up SSO?"], SPARSE) == (
        "How do I set up SSO? does it work with Azure AD?")
    assert follow_up_query("and for returns?", ["How do I connect my Shopify store?"], SPARSE) == (
        "How do I connect my Shopify store? and for returns?")


@settings(max_examples=200, deadline=None)
@given(question=st.text(min_size=1, max_size=200).map(str.strip).filter(bool),
       history=st.lists(st.text(max_size=300), max_size=4))
def test_any_thread_gives_a_query_ending_with_the_question(question: str, history: list[str]) -> None:
    query = follow_up_query(question, history, SPARSE)
    assert query.endswith(question)
    assert len(query) <= MAX_CONTEXT_CHARS + 1 + len(question)
