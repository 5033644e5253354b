"""answer() over the bundled sample knowledge base: cited answers, audience walls, abstention, bad input."""

from __future__ import annotations

import re

import pytest

from bot.answer.citations import check_citations, renumber
from bot.errors import InputError
from bot.index.edge_store import EdgeStore
from bot.index.indexer import Indexer
from bot.models import Audience, Citation, Document, DocumentKind, Visibility


@pytest.mark.parametrize(
    ("question", "expected_title"),
    [
        ("How do I reset my password?", "Reset your password"),
        ("How do I verify the signature of a Parcelly webhook?", "Verify webhook signatures"),
        ("How can I connect my Shopify store?", "Connect your Shopify store"),
    ],
)
def test_answers_cite_the_right_article(sample_runtime, question: str, expected_title: str) -> None:  # type: ignore[no-untyped-def]
    answer = sample_runtime.answers.answer(question, Audience.CUSTOMER)
    assert not answer.abstained
    assert expected_title in [c.title for c in answer.citations]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert cited == {c.n for c in answer.citations}  # every marker has a source and vice versa
    # One marker per run of lines from one source, at its end: the answer closes with a marker.
    assert answer.text.rstrip().endswith("]")
    assert answer.timings["total_ms"] > 0


def test_customer_never_sees_internal_knowledge(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # Questions aimed squarely at the internal runbooks and tickets.
    for q in ("What are the refund approval limits for Tier 1 and Tier 2 agents?",
              "Where do agents escalate carrier outages?", "duplicate label charges known issue internal credit"):
        answer = sample_runtime.answers.answer(q, Audience.CUSTOMER)
        assert all(c.audience is Visibility.PUBLIC for c in answer.citations), q
        assert "#carrier-escalations" not in answer.text and "DUP-LABEL" not in answer.text
        retrieval = sample_runtime.retriever.retrieve(q, Audience.CUSTOMER, limit=50)
        assert retrieval.chunks and all(c.audience is Visibility.PUBLIC for c in retrieval.chunks)


def test_agent_sees_internal_knowledge(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    answer = sample_runtime.answers.answer("What are the refund approval limits for Tier 1 and Tier 2 agents?", Audience.AGENT)
    assert not answer.abstained
    assert any(c.audience is Visibility.INTERNAL for c in answer.citations)


def test_canary_in_internal_collection_is_unreachable_for_customers(tmp_path, embedder, chunker) -> None:  # type: ignore[no-untyped-def]
    from bot.answer.retriever import Retriever

    store = EdgeStore(tmp_path / "q")
    try:
        Indexer(store=store, embedder=embedder, chunker=chunker).index([
            Document(id="t:1", source="t", kind=DocumentKind.TICKET, audience=Visibility.INTERNAL, title="Note",
                     text="Internal note: CANARY-7f3a escalation code for the carrier desk."),
            Document(id="a:1", source="a", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC, title="Carriers",
                     text="We support UPS, USPS, DHL and FedEx."),
        ])
        retriever = Retriever(store=store, embedder=embedder)
        customer = retriever.retrieve("CANARY-7f3a escalation code", Audience.CUSTOMER, limit=50)
        agent = retriever.retrieve("CANARY-7f3a escalation code", Audience.AGENT, limit=50)
        assert [c.doc_id for c in customer.chunks] == ["a:1"]
        assert agent.chunks[0].doc_id == "t:1"
        assert [name for name, _ in retriever.collections_for(Audience.CUSTOMER)] == ["kb_public"]
    finally:
        store.close()


def test_off_topic_question_abstains_with_a_handoff(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    answer = sample_runtime.answers.answer("What is the boiling point of tungsten on Mars?", Audience.CUSTOMER)
    assert answer.abstained and answer.citations == []
    assert "I don't know" in answer.text and sample_runtime.settings.handoff_text in answer.text


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_empty_question_is_rejected(sample_runtime, question: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="empty"):
        sample_runtime.answers.answer(question, Audience.CUSTOMER)


def test_huge_question_is_rejected(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="limit is 4,000"):
        sample_runtime.answers.answer("why " * 12_800, Audience.CUSTOMER)  # ~50 kB


def test_thread_history_helps_a_follow_up(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    answer = sample_runtime.answers.answer("and how long is the link valid?", Audience.CUSTOMER,
                                           history=["How do I reset my password?"])
    assert "Reset your password" in [c.title for c in answer.citations]


def test_a_follow_up_that_swaps_the_subject_is_answered_about_the_new_one(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # The Shopify question's own words would pull retrieval back to the Shopify article.
    answer = sample_runtime.answers.answer("what about WooCommerce?", Audience.CUSTOMER,
                                           history=["How do I connect my Shopify store?"])
    assert not answer.abstained
    assert answer.citations[0].title != "Connect your Shopify store"
    assert "WooCommerce" in answer.text.partition("[1]")[0]
    # "and Pro?" after the Growth plan's price: Pro's price, not Growth's.
    answer = sample_runtime.answers.answer("and Pro?", Audience.CUSTOMER, history=["What does the Growth plan cost?"])
    assert "$129" in answer.text and "$49" not in answer.text


def test_a_follow_up_of_its_own_is_answered_not_the_earlier_question_again(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # Read with the earlier question's words, these were answered with the invitation steps and
    # the void steps again.
    answer = sample_runtime.answers.answer("how do I change their role afterwards?", Audience.CUSTOMER,
                                           history=["How do I invite a team member?"])
    assert (answer.citations[0].title, answer.citations[0].section) == ("Invite and remove team members",
                                                                        "Change someone's role")
    assert "Invite member" not in answer.text
    answer = sample_runtime.answers.answer("and how long does the refund take?", Audience.CUSTOMER,
                                           history=["How do I void a label?"])
    assert (answer.citations[0].title, answer.citations[0].section) == ("Void a label and get a postage refund",
                                                                        "When will the refund arrive?")
    # A follow-up that says what it is about only with the earlier turn is read with it.
    answer = sample_runtime.answers.answer("how do I turn it back on?", Audience.CUSTOMER,
                                           history=["My webhook endpoint was disabled"])
    assert not answer.abstained
    assert answer.citations[0].section == "Re-enable an endpoint and resend events"


def test_citation_check_drops_unknown_markers_and_renumbers() -> None:
    checked = check_citations("A [1]. B [4]. C [2, 9].", {1, 2})
    assert checked.text == "A [1]. B. C [2]." and checked.cited == [1, 2] and checked.removed == [4, 9]
    cits = [Citation(n=i, doc_id=f"d{i}", title=f"T{i}", source="s", audience=Visibility.PUBLIC) for i in (1, 2, 3)]
    text, kept = renumber("X [3]. Y [1].", cits)
    assert text == "X [1]. Y [2]." and [(c.n, c.doc_id) for c in kept] == [(1, "d3"), (2, "d1")]
