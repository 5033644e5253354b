"""A thread's follow-up made self-contained: retrieved with the earlier turns, read as itself
with their names; a swapped subject's old name out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer.follow_up import HISTORY_TURNS, MAX_CONTEXT_CHARS, FollowUp, follow_up
from bot.index.sparse import SparseEncoder

SPARSE = SparseEncoder()


def _query(question: str, history: list[str]) -> str:
    return follow_up(question, history, SPARSE).retrieval


def test_without_history_the_question_stands_alone() -> None:
    assert follow_up("How do I void a label?", [], SPARSE) == FollowUp("How do I void a label?", "How do I void a label?")
    assert follow_up("How do I void a label?", ["", "  "], SPARSE).reading == "How do I void a label?"


def test_a_follow_up_is_retrieved_after_the_earlier_turns() -> None:
    query = _query("and how long is the link valid?", ["How do I reset my password?"])
    assert query == "How do I reset my password? and how long is the link valid?"
    # Only the last HISTORY_TURNS turns, and at most MAX_CONTEXT_CHARS of them.
    turns = [f"turn {n} about labels" for n in range(HISTORY_TURNS + 3)]
    assert _query("and?", turns) == " ".join(turns[-HISTORY_TURNS:]) + " and?"
    long = _query("and?", ["x" * (3 * MAX_CONTEXT_CHARS)])
    assert len(long) == MAX_CONTEXT_CHARS + len(" and?")


def test_a_follow_up_of_its_own_is_read_as_itself_with_the_threads_names() -> None:
    thread = follow_up("how do I change their role afterwards?", ["How do I invite a team member?"], SPARSE)
    assert thread == FollowUp("How do I invite a team member? how do I change their role afterwards?",
                              "how do I change their role afterwards?")
    # The earlier turns' names and codes come along: they say what "it" is about.
    assert follow_up("how much does it cost?", ["Is SMS available in Canada?"], SPARSE).reading == (
        "SMS Canada how much does it cost?")
    assert follow_up("what does that error mean exactly?", ["I get PCL-4031 when buying a label"], SPARSE).reading == (
        "PCL-4031 what does that error mean exactly?")
    # "and ..." naming nothing new is not a swap: read as itself.
    assert follow_up("and how long does the refund take?", ["How do I void a label?"], SPARSE).reading == (
        "and how long does the refund take?")
    # Too few words of its own: read with the thread.
    thread = follow_up("and why?", ["How do I void a label?"], SPARSE)
    assert thread.reading == thread.retrieval == "How do I void a label? and why?"
    assert follow_up("how do I fix it?", ["I get PCL-4031"], SPARSE).reading == "I get PCL-4031 how do I fix it?"


def test_a_swapped_subject_drops_the_name_it_replaces() -> None:
    assert _query("what about WooCommerce?", ["How do I connect my Shopify store?"]) == (
        "How do I connect my store? what about WooCommerce?")
    assert _query("and Pro?", ["What does the Growth plan cost?"]) == "What does the plan cost? and Pro?"
    # Only the last name before it, one per name it brings: the product both are about stays.
    assert _query("and on Linux?", ["How do I install Netcool on AIX?"]) == "How do I install Netcool on ? and on Linux?"
    # A swap is read as it is retrieved.
    thread = follow_up("what about WooCommerce?", ["How do I connect my Shopify store?"], SPARSE)
    assert thread.reading == thread.retrieval


def test_a_follow_up_that_does_not_swap_keeps_every_name() -> None:
    # Not a swap ("does it work with ..."), and a swap naming nothing ("and for returns?").
    assert _query("does it work with Azure AD?", ["How do I set up SSO?"]) == (
        "How do I set up SSO? does it work with Azure AD?")
    assert _query("and for returns?", ["How do I connect my Shopify store?"]) == (
        "How do I connect my Shopify store? and for returns?")


@settings(max_examples=200, deadline=None)
@given(question=st.text(min_size=1, max_size=200).map(str.strip).filter(bool),
       history=st.lists(st.text(max_size=300), max_size=4))
def test_any_thread_gives_queries_ending_with_the_question(question: str, history: list[str]) -> None:
    thread = follow_up(question, history, SPARSE)
    assert thread.retrieval.endswith(question) and thread.reading.endswith(question)
    assert len(thread.retrieval) <= MAX_CONTEXT_CHARS + 1 + len(question)
    assert len(thread.reading) <= len(thread.retrieval) or thread.reading == thread.retrieval

