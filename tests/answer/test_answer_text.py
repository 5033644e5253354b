"""The answer text a user reads: the right passage leads, fixes come whole, one marker per run,
the same answer every time, a technote's fix rather than its symptom, and the shipped models'
contracts (features, threshold)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.answer.confidence import AnswerabilityGate
from bot.answer.ranking import ANSWERABILITY, LinearModel, WindowRanker, load_model, load_window_ranker
from bot.answer.reader import Reader
from bot.answer.service import DEFAULT_MIN_CONFIDENCE
from bot.errors import ModelError
from bot.index.edge_store import EdgeStore
from bot.index.sparse import _TERM_SETS, SparseEncoder
from bot.index.word_vectors import shared_word_vectors
from bot.models import AnswerReason, Audience, Document, DocumentKind, Visibility
from bot.settings import Settings
from connectors.files import sample_kb_path

MARKER = re.compile(r"\[(\d+)\]")


def _ask(rt, question: str):  # type: ignore[no-untyped-def]
    return rt.answers.answer(question, Audience.CUSTOMER)


def test_steps_come_whole_with_one_marker_at_the_end_of_the_run(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(sample_runtime, "How do I reset my password?")
    assert answer.reason is AnswerReason.ANSWERED
    assert answer.citations[0].title == "Reset your password"
    assert answer.citations[0].section == "Reset a forgotten password"
    lines = answer.text.splitlines()
    # All five steps, in order, not cut after step 1; no marker inside the run of one source.
    assert [line.split(".")[0] for line in lines[:5]] == ["1", "2", "3", "4", "5"]
    assert not any(MARKER.search(line) for line in lines[:-1])
    assert MARKER.findall(answer.text) == ["1"] and answer.text.endswith("[1]")


@pytest.mark.parametrize(("question", "title", "section", "must_say"), [
    # A how-to question gets the article's steps, whole, even when its introduction leads.
    ("How do I verify the signature of a Parcelly webhook?", "Verify webhook signatures", None,
     "**Verify a request**\n1. Read the **raw** request body"),
    # ... and when no heading names the question's words, the best-ranked steps of the same article.
    ("How do I set up SSO with Okta?", "Set up single sign-on (SAML)", "Step 3: Connect Parcelly to your IdP",
     "1. Back in **Settings > Security > Single sign-on**, click **Configure**."),
    # A table row the question names, quoted cell by cell under the header's names.
    ("What is the API rate limit on the Pro plan?", "API rate limits", "Limits by plan",
     "**Pro**\n- Live requests per minute: 600"),
    ("How long does it take to get a refund for a voided USPS label?", "Void a label and get a postage refund",
     "When will the refund arrive?", "- Refund credited to your postage balance: Up to **21 days**"),
    # The section headed by the error code, not the article that only mentions it.
    ("What does error PCL-4031 mean when I try to buy a label?", "Add funds to your postage balance",
     "Error PCL-4031: insufficient postage balance", "Click **Add funds** and retry the label."),
    # A column the question names: the rows it asks about ("cost" is the price rows, by meaning).
    ("How much does the Growth plan cost and how many shipments does it include?", "Plans and pricing",
     "Plan comparison", "**Growth**\n- Monthly price: $49 / month"),
    # A heading that reads like the question leads, though another heading (or the top passage)
    # shares as many of its words: "without" an order, "customs needs" among customs steps,
    # "Backup codes" of the 2FA set-up article rather than signing in with one.
    ("How do I create a shipping label without an order?", "Create a shipping label",
     "Create a label without an order", "Go to **Shipments > New shipment**"),
    ("What information does customs need?", "International shipments and customs", "What customs needs",
     "- **HS code**"),
    ("Where are my backup codes?", "Set up two-factor authentication", "Backup codes", "- Each backup code works once."),
    # A plain-text article's heading lines are headings too.
    ("What are your support hours?", "Contact Parcelly support and support hours", "Support hours",
     "Monday to Friday, 8:00 to 20:00 Eastern Time (ET)."),
    # The section the question asks about, not another section's numbered steps.
    ("How much do SMS notifications cost?", "SMS notifications", "Pricing and countries",
     "| United States and Canada | $0.02 |"),
    # A heading whose every word the question asks for, though its embedding is far from the question's.
    ("Can I withdraw my postage balance?", "Add funds to your postage balance", "Withdrawing your balance",
     "Balance refunds go to the original card within 10 business days."),
    ("How much does an extra seat cost?", "Plans and pricing", "Extra seats", "$8 per seat per month"),
    # A document whose title names the whole question, though another article has a section on it.
    ("How do I contact support?", "Contact Parcelly support and support hours", None, "support@parcelly.example"),
    # A table right under its heading (a packed chunk has no blank line between them) is cited
    # with that heading, not the article's next one.
    ("What happens if my card payment fails?", "Failed payments and past-due accounts",
     "What happens when a payment fails", "| Day 7 | Final automatic retry."),
    # A question asking for a number is answered by the part of the article that states it, not
    # by its steps (which state none): so many days, a version.
    ("How many days do I have to void a label?", "Void a label and get a postage refund", "Rules and limits",
     "Labels can be voided up to **30 days** after purchase"),
    ("What version of WooCommerce do I need?", "Connect your WooCommerce store", "Requirements",
     "WooCommerce **7.0** or later"),
    # A troubleshooting entry whose heading names the whole question leads the label-format steps
    # that the ranker scored a little higher.
    ("my label printed blank", "Label formats and printers", None, "Check the roll is loaded with the shiny side"),
    # The product's own name picks no column of the row the question names: the whole DHL Express
    # row, not its "Parcelly rates: No" cell alone (which would read as "not supported").
    ("Does Parcelly support DHL Express to Canada?", "Supported carriers and services", "Carriers at a glance",
     "- Your own account: Yes"),
])
def test_the_right_article_and_section_lead(sample_runtime, question: str, title: str, section: str | None,  # type: ignore[no-untyped-def]
                                            must_say: str) -> None:
    answer = _ask(sample_runtime, question)
    assert not answer.abstained
    assert answer.citations[0].title == title
    if section is not None:
        assert answer.citations[0].section == section
    assert must_say in answer.text
    assert MARKER.findall(answer.text) == ["1"]


def test_an_agent_gets_the_known_issue_article_before_a_past_tickets_reply(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    answer = sample_runtime.answers.answer("Customer was charged twice for the same label, what do I do?", Audience.AGENT)
    assert not answer.abstained
    assert answer.citations[0].title == "Known issue: duplicate label charges (internal)"
    # The answer opens with the article's own lines, not the ticket's reply. Which part of the
    # article opens it (its introduction or its "Escalate if" list) is a near tie for the ranker
    # (within the composer's NEAR_TIE), so it is not pinned here.
    article = (sample_kb_path() / "articles" / "known-issue-duplicate-label-charges.md").read_text(encoding="utf-8")
    first_run = answer.text.partition("[1]")[0].strip()
    assert first_run
    assert all(line.strip() in article for line in first_run.splitlines())
    assert "Thanks for spotting this" not in first_run


def test_an_agent_asking_who_to_tell_gets_the_runbooks_escalation_steps(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # The runbook's "Escalate" section is retrieved ninth and no word of the question names it.
    answer = sample_runtime.answers.answer("carrier outage at UPS, who do I tell?", Audience.AGENT)
    assert (answer.citations[0].title, answer.citations[0].section) == ("Escalating carrier outages (agents only)",
                                                                        "Escalate")
    assert answer.text.startswith("1. Check **#carrier-escalations**")


def test_a_column_lookup_quotes_only_the_rows_asked_for(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(sample_runtime, "How much does the Growth plan cost and how many shipments does it include?")
    assert "- Shipments included per month: 1,500" in answer.text
    assert "$19" not in answer.text and "$129" not in answer.text  # other plans' cells are not quoted
    assert "Team seats" not in answer.text  # nor rows nobody asked about


def test_a_short_question_named_by_a_heading_is_answered(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # Four words embed far from any passage (cosine under the off-topic floor), but a section is
    # headed with the question's very words: the gate weighs it instead of flooring it.
    answer = _ask(sample_runtime, "Is there a free trial?")
    assert not answer.abstained
    assert "**14 days**" in answer.text
    # Off-topic questions stay declined.
    assert _ask(sample_runtime, "What is the boiling point of mercury?").abstained


def test_a_short_question_whose_words_head_the_best_section_is_not_floored(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # "is auto-reload on by default?" embeds at 0.31 (under the floor), but the best window sits
    # under "Turn on auto-reload", which holds two of its three words: the gate weighs it (0.79).
    answer = _ask(sample_runtime, "is auto-reload on by default?")
    assert not answer.abstained
    assert answer.citations[0].section == "Turn on auto-reload"
    assert "(default $25)" in answer.text
    assert _ask(sample_runtime, "Who won the world cup in 2018?").abstained


def test_a_comparison_of_two_plans_gets_the_rows_where_they_differ(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # The question embeds at 0.33 against the pricing article (under the off-topic floor), but it
    # names two columns of its price table: the gate weighs it instead of flooring it, and the
    # answer is the rows where Growth and Pro differ, in their two columns only.
    answer = _ask(sample_runtime, "What is the difference between the Growth and Pro plans?")
    assert not answer.abstained
    assert answer.text.startswith("**Growth** / **Pro**\n- Monthly price: Growth $49 / month; Pro $129 / month")
    assert "$19" not in answer.text  # Starter's cells are not quoted
    # A row the chunk cut inside its last cell ("| Returns portal | No | Yes | Yes,") is not quoted.
    assert "Returns portal" not in answer.text
    # Off-topic questions stay declined.
    assert _ask(sample_runtime, "What is the difference between a crocodile and an alligator?").abstained


def test_a_table_answer_reads_as_a_list_in_slack(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from bot.slack import render

    answer = _ask(sample_runtime, "What is error PCL-4410?")
    body = render.answer_messages(answer, answer_id="0" * 16, now=datetime.now(UTC), handoff="#support")[0]
    text = body.blocks[0]["text"]["text"]
    # A bold key and one "name: value" line per cell: no Markdown table, no stray Markdown bold.
    assert text.startswith("*PCL-4410*\n- HTTP: 410\n- Meaning: Void window expired")
    assert "|" not in text and "**" not in text


def test_a_procedure_question_is_not_answered_from_a_table_row(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # "How do I ..." asks for steps: the numbered procedure leads even when a table names a key of the question.
    answer = _ask(sample_runtime, "How do I void a USPS label?")
    assert answer.citations[0].title == "Void a label and get a postage refund"
    assert "1. Go to **Shipments**" in answer.text


def test_the_same_question_gets_the_same_answer(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    for question in ("How do I invite a team member?", "carrier labels refund", "What does error PCL-4031 mean?"):
        first, second = _ask(sample_runtime, question), _ask(sample_runtime, question)
        assert (first.text, [c.doc_id for c in first.citations]) == (second.text, [c.doc_id for c in second.citations])
        r1 = sample_runtime.retriever.retrieve(question, Audience.CUSTOMER)
        r2 = sample_runtime.retriever.retrieve(question, Audience.CUSTOMER)
        assert [(c.doc_id, c.chunk_no, c.score) for c in r1.chunks] == [(c.doc_id, c.chunk_no, c.score) for c in r2.chunks]


def test_the_readers_caches_change_no_answer(sample_runtime) -> None:  # type: ignore[no-untyped-def]
    # Passages' and units' terms and meaning vectors are remembered by text (bot.index.sparse,
    # bot.index.word_vectors): computed afresh or read back, the answers are the same.
    questions = ("How do I reset my password?", "How much does the Growth plan cost?",
                 "Can I get a refund for a label I didn't use?", "Which carriers do you support?",
                 "What does error PCL-4031 mean?")

    def answers() -> list[tuple[str, list[str], float]]:
        return [(a.text, [c.doc_id for c in a.citations], a.confidence) for a in (_ask(sample_runtime, q) for q in questions)]

    vectors = sample_runtime.answers.reader.word_vectors
    _TERM_SETS.clear()
    vectors._cache.clear()
    cold = answers()
    assert len(_TERM_SETS) > 0 and len(vectors._cache) > 0
    assert answers() == cold


TECHNOTE = """TECHNOTE (TROUBLESHOOTING)

PROBLEM(ABSTRACT)
The Orbix gateway fails to start and logs error ORB-5512: the keystore password is invalid.

SYMPTOM
At start-up the gateway stops with ORB-5512 and the message "keystore password is invalid".

CAUSE
The keystore password was changed but the gateway configuration still holds the old one.

RESOLVING THE PROBLEM
1. Stop the gateway service.
2. Run orbixctl keystore --set-password and enter the new keystore password.
3. Start the gateway service again and check that ORB-5512 no longer appears in the log.
"""


def test_a_technote_is_answered_with_its_fix_not_its_symptom(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime

    settings = Settings(data_dir=tmp_path / "data", sample_kb=False, _env_file=None)  # type: ignore[call-arg]
    with Runtime(settings, store=EdgeStore(tmp_path / "q"), embedder=embedder) as rt:
        rt.indexer.index([
            Document(id="tn:1", source="tn", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
                     title="Orbix gateway does not start: ORB-5512 keystore password is invalid", text=TECHNOTE),
            Document(id="tn:2", source="tn", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
                     title="Rotate the Orbix TLS certificate",
                     text="To rotate the certificate, import the new certificate into the keystore with "
                          "orbixctl keystore --import and restart the gateway."),
        ])
        answer = rt.answers.answer("Orbix gateway will not start, error ORB-5512 keystore password is invalid. "
                                   "How do I fix it?", Audience.CUSTOMER)
    assert not answer.abstained and answer.citations[0].doc_id == "tn:1"
    assert "orbixctl keystore --set-password" in answer.text
    for label in ("TECHNOTE", "PROBLEM(ABSTRACT)", "SYMPTOM", "Title:"):
        assert label not in answer.text


BULLETIN = """Security Bulletin: a vulnerability in the Orbix gateway's TLS library affects Orbix 4.2.

VULNERABILITY DETAILS
CVEID: {cve}
DESCRIPTION: A remote attacker could cause a denial of service with a crafted handshake.

REMEDIATION/FIXES
Upgrade to Orbix 4.2.7 or later. Until then, turn off TLS renegotiation with orbixctl tls --no-renegotiation.
"""


def test_a_question_about_a_cve_no_source_mentions_is_declined_by_name(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime

    settings = Settings(data_dir=tmp_path / "data", sample_kb=False, _env_file=None)  # type: ignore[call-arg]
    with Runtime(settings, store=EdgeStore(tmp_path / "q"), embedder=embedder) as rt:
        rt.indexer.index([
            Document(id=f"sb:{cve}", source="psirt", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
                     title=f"Security Bulletin: vulnerability in the Orbix gateway TLS library ({cve})",
                     text=BULLETIN.format(cve=cve))
            for cve in ("CVE-2017-3156", "CVE-2018-0732")])
        question = "Is the Orbix gateway TLS library affected by {}? Which fix do I need?"
        known = rt.answers.answer(question.format("CVE-2018-0732"), Audience.CUSTOMER)
        unknown = rt.answers.answer(question.format("CVE-2021-44228"), Audience.CUSTOMER)
    # The bulletin about the CVE asked about answers; one about another CVE of the same product does not.
    assert not known.abstained and known.citations[0].doc_id == "sb:CVE-2018-0732"
    assert unknown.abstained and unknown.confidence == 0.0 and unknown.reason is AnswerReason.BELOW_GATE
    assert unknown.text.startswith("I don't know: nothing in the knowledge base mentions CVE-2021-44228.")


def test_missing_identifiers_are_the_question_cves_when_no_chunk_names_one() -> None:
    from bot.answer.confidence import missing_identifiers
    from bot.answer.retriever import RetrievedChunk

    def chunk(title: str, text: str) -> RetrievedChunk:
        return RetrievedChunk(doc_id="d", chunk_no=0, title=title, url=None, source="s", audience=Visibility.PUBLIC,
                              section="", text=text, updated_at=None, score=1.0, similarity=0.5)

    chunks = [chunk("Bulletin (cve-2017-3156)", "Upgrade."), chunk("Other", "See CVE-2018-0732 for details.")]
    assert missing_identifiers("What about CVE-2019-1010?", chunks) == ("CVE-2019-1010",)
    assert missing_identifiers("CVE-2019-1010 and CVE-2017-3156?", chunks) == ()  # one is mentioned (a title's too)
    assert missing_identifiers("cve-2018-0732 fix?", chunks) == ()
    assert missing_identifiers("How do I upgrade?", chunks) == ()  # names none: nothing to miss
    assert missing_identifiers("What about XCVE-2019-1010 or CVE-2019-10100?", chunks) == ("CVE-2019-10100",)


def test_the_shipped_threshold_is_the_default() -> None:
    model = load_model(ANSWERABILITY)
    threshold = model.meta["threshold"]
    assert Settings(_env_file=None).min_confidence == threshold == DEFAULT_MIN_CONFIDENCE  # type: ignore[call-arg]


def test_models_from_another_version_are_refused_with_a_clear_error() -> None:
    linear = load_window_ranker().linear
    # The previous version's ranker: its score feature was a ratio, now it is a gap.
    renamed = tuple("score_rel" if f == "score_gap" else f for f in linear.features)
    stale = LinearModel(features=renamed, mean=linear.mean, scale=linear.scale, weights=linear.weights,
                        heading_terms=linear.heading_terms)
    with pytest.raises(ModelError, match="retrain"):
        Reader(sparse=SparseEncoder(), ranker=WindowRanker(linear=stale), word_vectors=shared_word_vectors())
    unknown = LinearModel(features=("tomorrows_feature",), mean=np.zeros(1), scale=np.ones(1), weights=np.ones(1))
    with pytest.raises(ModelError, match="tomorrows_feature"):
        AnswerabilityGate(unknown)
    with pytest.raises(ModelError, match="malformed"):
        LinearModel.from_json({"features": ["a"], "mean": [0.0]})
    with pytest.raises(ModelError, match="features but"):
        LinearModel(features=("a", "b"), mean=np.zeros(1), scale=np.ones(1), weights=np.ones(1))


_TEXT = st.lists(st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", blacklist_categories=("Cs",)), max_size=120),
    st.sampled_from(["1. Click **Save**.", "- an item", "| a | b |", "|---|---|", "## Heading", "Title: x",
                     "```", "Step 2 | Use the menu.", "TECHNOTE (FAQ)", "", "ANSWER", "Text:"]),
), min_size=1, max_size=12).map("\n".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.text(max_size=30)), min_size=1, max_size=4), st.text(min_size=1, max_size=80))
def test_any_passages_give_a_composition_drawn_from_them_or_nothing(passages, question: str) -> None:
    """Whatever retrieved text looks like, the reader and composer neither crash nor invent: every
    line of the answer is (markers and markup aside) taken from a passage, every marker is a source."""
    from bot.answer.citations import number_sources
    from bot.answer.extractive import ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    chunks = [RetrievedChunk(doc_id=f"d{i}", chunk_no=0, title=f"Doc {i}", url=None, source="s",
                             audience=Visibility.PUBLIC, section=section, text=text, updated_at=None,
                             score=1.0 - i / 10, similarity=0.5 - i / 10) for i, (text, section) in enumerate(passages)]
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read(question, chunks)
    citations = number_sources(reading.chunks)
    composition = ExtractiveComposer(reader=reader).compose_reading(reading, citations)
    assert {int(n) for n in MARKER.findall(composition.text)} <= {c.n for c in citations}
    source = "\n".join(c.text for c in chunks)
    squashed = re.sub(r"[\s*|`#>-]+", "", source)
    for line in composition.text.splitlines():
        words = re.sub(r"[\s*|`#>-]+", "", MARKER.sub("", line))
        assert words in squashed or not words, line


def test_a_tickets_customer_messages_are_never_quoted() -> None:
    """The customer's words restate the problem (and shared the most words with the question);
    the agent's reply is the answer. Also when a chunk starts inside the customer's section."""
    from bot.answer.citations import number_sources
    from bot.answer.extractive import ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    def ticket(doc_id: str, text: str, section: str = "") -> RetrievedChunk:
        return RetrievedChunk(doc_id=doc_id, chunk_no=0, title="UPS labels failing with PCL-5030", url=None,
                              source="zendesk", audience=Visibility.INTERNAL, section=section, text=text,
                              updated_at=None, score=1.0, similarity=0.6, kind="ticket")

    question = "UPS labels fail with PCL-5030, how do I fix the failing labels?"
    chunks = [
        ticket("t1", "## Customer\n\nAll my UPS labels fail with PCL-5030. How do I fix the failing labels?\n\n"
                     "## Agent reply\n\nUPS is down for everyone. Once it is back, open Shipments > Batches and click Retry failed."),
        ticket("t2", "Every UPS label fails with PCL-5030, what do I do about the failing labels?", section="Customer"),
    ]
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read(question, chunks)
    quoted = {u.text for units in reading.units for u in units}
    assert not any("fail" in t and "PCL-5030" in t for t in quoted)  # neither customer message is quotable
    text = ExtractiveComposer(reader=reader).compose_reading(reading, number_sources(reading.chunks)).text
    assert "Retry failed" in text and "All my UPS labels" not in text and "Every UPS label" not in text


_READ_AND_HASH = """
import hashlib, sys
from bot.answer.ranking import load_window_ranker
from bot.answer.reader import Reader
from bot.answer.retriever import RetrievedChunk
from bot.index.sparse import SparseEncoder
from bot.index.word_vectors import shared_word_vectors
from bot.models import Visibility
texts = [
    "## Void a single label\\n1. Go to Shipments and open the shipment.\\n2. Click Void label.\\n3. Confirm.\\n"
    "## When will the refund arrive?\\nUSPS refunds take up to 21 days. UPS refunds take 5 business days.",
    "## Refunds\\nA voided label is refunded to your postage balance. Refund times depend on the carrier and the label.",
]
chunks = [RetrievedChunk(doc_id=f"d{i}", chunk_no=0, title=f"Labels {i}", url=None, source="s",
                         audience=Visibility.PUBLIC, section="", text=t, updated_at=None, score=1.0 - i / 10,
                         similarity=0.6 - i / 10) for i, t in enumerate(texts)]
reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
reading = reader.read(sys.argv[1], chunks)
print(hashlib.sha256(reading.features.tobytes() + reading.scores.tobytes()).hexdigest(), reading.ranked()[:3])
"""


def test_one_question_gets_one_reading_whatever_the_process_hash_seed() -> None:
    """Features sum over sets, whose order follows the process's hash seed: the sums are exact, so
    two processes score every window bit for bit alike (and the trees split the same way)."""
    import os
    import subprocess
    import sys

    question = "How long does the refund take after I void a USPS label and what are the refund times?"
    outputs = {subprocess.run([sys.executable, "-c", _READ_AND_HASH, question], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=True, timeout=120).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1, outputs


def test_a_lead_in_ending_the_quote_brings_what_it_introduces() -> None:
    """"... run the following command:" must not end an answer: the command (a short line or
    sentence of the same section) comes with it, also after the last of a run of steps; a long
    paragraph or another section does not."""
    from bot.answer.extractive import LEAD_IN_WORDS, complete
    from bot.answer.retriever import RetrievedChunk
    from bot.answer.windows import Window

    long_tail = " ".join(["word"] * (LEAD_IN_WORDS + 5)) + "."
    text = ("## Reset the cache\n\nStop the service first. Then open a terminal and type the following command:\n\n"
            "rm -rf /var/cache/app\n\n"
            "## Upgrade\n\n1. Download the fix pack.\n2. Run the installer with this option:\n\n--accept-license\n\n"
            "## Logs\n\nThe log settings are described here:\n\n" + long_tail + "\n\n"
            "## Other\n\nSee the section below:\n\n## Below\n\nSomething else.")
    chunk = RetrievedChunk(doc_id="d", chunk_no=0, title="Cache", url=None, source="s", audience=Visibility.PUBLIC,
                           section="", text=text, updated_at=None, score=1.0, similarity=0.6)
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read("How do I reset the cache?", [chunk])
    units = reading.units[0]
    at = {u.text: n for n, u in enumerate(units)}

    def quoted(first: str) -> list[str]:
        n = at[first]
        w = complete(reading, Window(0, n, n + 1, len(units[n].text.split())))
        return [u.text for u in units[w.start : w.end]]

    assert quoted("Then open a terminal and type the following command:")[-1] == "rm -rf /var/cache/app"
    assert quoted("2. Run the installer with this option:") == [
        "1. Download the fix pack.", "2. Run the installer with this option:", "--accept-license"]
    assert quoted("The log settings are described here:") == ["The log settings are described here:"]
    assert quoted("See the section below:") == ["See the section below:"]


@pytest.mark.parametrize(("question", "asks_for_steps"), [
    ("How do I add a team member?", True),
    ("What are the steps to connect Shopify?", True),
    ("A customer was charged twice for the same label, what do we do?", True),
    ("Customer wants their data deleted, what's the process?", True),
    ("What should I do when a webhook fails?", True),
    ("What does error PCL-4031 mean?", False),
    ("How much does the Growth plan cost?", False),
    ("What do you support for DHL?", False),
    ("How do refunds work?", False),
    ("UPS labels fail for everyone, how do we escalate?", True),
])
def test_procedure_questions_are_recognised(question: str, asks_for_steps: bool) -> None:
    from bot.answer.windows import PROCEDURE_QUESTION

    assert bool(PROCEDURE_QUESTION.search(question)) is asks_for_steps


@pytest.mark.parametrize(("question", "states", "does_not_state"), [
    # So many of the thing named, not just any number.
    ("How many days do I have to void a label?", "Labels can be voided up to **30 days** after purchase.",
     "You can void up to 250 labels at a time."),
    ("How many team members can I invite?", "Growth includes 5 team members.", "Invitations expire after 7 days."),
    # A duration or a time for how long / how often / when.
    ("How long does a USPS refund take?", "Up to **21 days**.", "Refunds go to your postage balance."),
    ("When will the refund arrive?", "Within 5 business days.", "Refunds go back to the original card."),
    ("How often does tracking update?", "Every **60 minutes**.", "Tracking updates come from the carrier."),
    # Money for a price, a version for a version, any number for a limit.
    ("How much does an extra seat cost?", "Extra seats cost $8 per seat per month.", "Growth includes 5 seats."),
    ("What version of WooCommerce do I need?", "WooCommerce **7.0** or later", "Install the plugin from step 1."),
    ("What is the API rate limit?", "Growth: 120 requests per minute.", "The limit applies to the whole account."),
])
def test_a_question_asking_for_a_number_knows_what_states_it(question: str, states: str, does_not_state: str) -> None:
    from bot.answer.extractive import asked_quantity
    from bot.answer.extractive import states as states_it
    from bot.index.units import split_units

    asked = asked_quantity(question)
    assert asked is not None
    assert states_it(asked, split_units(states))
    assert not states_it(asked, split_units(does_not_state))


@pytest.mark.parametrize("question", ["How do I void a label?", "Why was I charged a carrier adjustment?",
                                      "What does error PCL-4031 mean?", "Can I pay by bank transfer?"])
def test_other_questions_ask_for_no_number(question: str) -> None:
    from bot.answer.extractive import asked_quantity

    assert asked_quantity(question) is None


@settings(max_examples=200, deadline=None)
@given(number=st.integers(min_value=1, max_value=999), text=st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs")), max_size=60))
def test_a_list_items_own_number_is_not_a_quantity(number: int, text: str) -> None:
    from bot.answer.extractive import asked_quantity
    from bot.answer.extractive import states as states_it
    from bot.index.units import Unit, UnitKind

    asked = asked_quantity("What is the limit?")
    assert asked is not None
    assume(not asked.search(text))  # the item's own words state no number
    step = Unit(text=f"{number}. {text}", kind=UnitKind.STEP, section="", line=0)
    assert not states_it(asked, [step])
    assert states_it(asked, [Unit(text=f"{text} {number} labels", kind=UnitKind.SENTENCE, section="", line=0)])


def test_a_ticket_reply_is_quoted_without_its_greeting_courtesy_lines_and_signature() -> None:
    from bot.answer.passages import merge_passages
    from bot.answer.reader import quotable_units
    from bot.answer.retriever import RetrievedChunk
    from bot.index.units import split_units

    text = ("## Customer\n\nMy labels fail. Can you help?\n\n## Agent reply\n\nHi Tom,\n\nThanks for the details. "
            "Open Shipments > Batches and click Retry failed.\n\nThanks!\n\nBest regards,\nJonas — Parcelly Support\n\n"
            "## Agent reply\n\nHello there!\n\nSorry to see you go, and thanks for letting us know in advance. "
            "It is fixed now.\n\nCheers,\nAmir\n\n"
            "## Agent reply\n\nThanks!\n\nThanks for the photo — the browser adds its own footer. Sorry, but we can't refund it. "
            "Thanks to the fix it works now\n\nThanks,\nOpen the billing page")
    ticket = RetrievedChunk(doc_id="t", chunk_no=0, title="Labels fail", url=None, source="zendesk",
                            audience=Visibility.INTERNAL, section="", text=text, updated_at=None, score=1.0,
                            similarity=0.6, kind="ticket")
    article = RetrievedChunk(doc_id="a", chunk_no=0, title="Letters", url=None, source="files",
                             audience=Visibility.PUBLIC, section="", text="Hi Tom,\n\nBest,\nit was good.", updated_at=None,
                             score=1.0, similarity=0.6, kind="article")
    ticket_passage, article_passage = merge_passages([ticket, article])
    quoted = [u.text for u in quotable_units(ticket_passage, split_units(ticket_passage.text))]
    # Courtesy lines go too, unless they go on to say something or turn ("Sorry, but ...").
    assert quoted == ["Open Shipments > Batches and click Retry failed.", "It is fixed now.",
                      "Thanks for the photo — the browser adds its own footer.", "Sorry, but we can't refund it.",
                      "Thanks to the fix it works now",
                      "Open the billing page"]  # a closing's next line is a signature only if it reads as a name
    # Only a ticket's replies are letters: an article's text is quoted as it is.
    assert [u.text for u in quotable_units(article_passage, split_units(article_passage.text))] == [
        "Hi Tom,", "Best,", "it was good."]


def test_on_a_near_tie_the_passage_retrieval_ranked_higher_leads() -> None:
    """Two windows a hair apart (less than NEAR_TIE): the one from the passage retrieval ranked
    higher leads; clearly apart, the ranker's choice stands."""
    import dataclasses

    from bot.answer.citations import number_sources
    from bot.answer.extractive import NEAR_TIE, ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    def chunk(doc_id: str, text: str, score: float) -> RetrievedChunk:
        return RetrievedChunk(doc_id=doc_id, chunk_no=0, title=doc_id, url=None, source="s", audience=Visibility.PUBLIC,
                              section="", text=text, updated_at=None, score=score, similarity=0.6)

    chunks = [chunk("runbook", "Goodwill credits follow the normal approval limits.", 3.0),
              chunk("returns", "By default every return request needs your approval.", 1.8)]
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read("Can we give a customer a credit for a late delivery?", chunks)
    by_doc = {reading.passages[w.passage].doc_id: n for n, w in enumerate(reading.windows)}
    assert set(by_doc) == {"runbook", "returns"}

    def lead(gap: float) -> str:
        scores = np.zeros(len(reading.windows))
        scores[by_doc["returns"]], scores[by_doc["runbook"]] = 1.0, 1.0 - gap
        r = dataclasses.replace(reading, scores=scores)
        text = ExtractiveComposer().compose_reading(r, number_sources(r.chunks)).text
        return text.split("\n\n")[0]

    assert "Goodwill credits" in lead(NEAR_TIE / 2)
    assert "By default every return request" in lead(NEAR_TIE * 3)

    # A solved ticket ranked first by retrieval does not take a near tie from an article: the
    # article is the team's answer, the ticket one customer's case.
    chunks = [dataclasses.replace(chunks[0], kind="ticket"), dataclasses.replace(chunks[1], kind="article")]
    reading = reader.read("Can we give a customer a credit for a late delivery?", chunks)
    by_doc = {reading.passages[w.passage].doc_id: n for n, w in enumerate(reading.windows)}

    def lead_with(returns: float, runbook: float) -> str:
        scores = np.zeros(len(reading.windows))
        scores[by_doc["returns"]], scores[by_doc["runbook"]] = returns, runbook
        r = dataclasses.replace(reading, scores=scores)
        return ExtractiveComposer().compose_reading(r, number_sources(r.chunks)).text.split("\n\n")[0]

    assert "By default every return request" in lead_with(1.0, 1.0 - NEAR_TIE / 2)  # the article keeps the lead
    assert "By default every return request" in lead_with(1.0 - NEAR_TIE / 2, 1.0)  # and takes it on a near tie
    assert "Goodwill credits" in lead_with(1.0 - NEAR_TIE * 3, 1.0)  # clearly better, the ticket leads


def test_on_a_near_tie_the_section_whose_heading_names_the_question_leads() -> None:
    """A runbook's introduction (retrieval's first) and the section headed with the question's words:
    the section leads on a near tie, and from further behind (HEADING_MARGIN) when its heading names
    half of the question; clearly apart, the ranker's choice stands."""
    import dataclasses

    from bot.answer.citations import number_sources
    from bot.answer.extractive import HEADING_MARGIN, NEAR_TIE, ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    def chunk(n: int, section: str, text: str, score: float) -> RetrievedChunk:
        return RetrievedChunk(doc_id="runbook", chunk_no=n, title="Identity checks", url=None, source="s",
                              audience=Visibility.INTERNAL, section=section, text=text, updated_at=None, score=score,
                              similarity=0.6)

    chunks = [chunk(0, "", "Follow this runbook exactly for any request that gives someone access.", 3.0),
              chunk(4, "Ownership transfer without the current Owner",
                    "The request must come from an existing Admin on the account.", 2.5)]
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read("How do I check who is asking for an ownership transfer?", chunks)
    by_text = {reading.window_units(w)[0].text[:10]: n for n, w in enumerate(reading.windows) if w.end - w.start == 1}

    def lead(gap: float) -> str:
        scores = np.full(len(reading.windows), -9.0)
        scores[by_text["Follow thi"]], scores[by_text["The reques"]] = 1.0, 1.0 - gap
        r = dataclasses.replace(reading, scores=scores)
        return ExtractiveComposer().compose_reading(r, number_sources(r.chunks)).text

    assert lead(NEAR_TIE / 2).startswith("The request must come from an existing Admin")
    # The heading names two of the question's four words (half): it leads from further behind too,
    assert lead(HEADING_MARGIN * 0.8).startswith("The request must come from an existing Admin")
    # but not when the ranker is sure.
    assert lead(HEADING_MARGIN * 1.5).startswith("Follow this runbook")
    # A heading naming less than half of the question takes only a near tie.
    reading = reader.read("How do I check who is asking for an ownership transfer of a Parcelly store account?", chunks)
    by_text = {reading.window_units(w)[0].text[:10]: n for n, w in enumerate(reading.windows) if w.end - w.start == 1}
    assert lead(NEAR_TIE / 2).startswith("The request must come from an existing Admin")
    assert lead(HEADING_MARGIN * 0.8).startswith("Follow this runbook")


def test_a_heading_naming_the_question_in_other_word_forms_takes_the_lead() -> None:
    """"extend" and "extensions" stem apart ("extend" / "extens"): the heading "Past-due extensions"
    names all of "extend a past-due account" but "account" only as one word family, and must
    not lose the lead to a troubleshooting entry headed "Your account is past due." that names
    three words exactly (it did: a wrong article led the agent's answer)."""
    import dataclasses

    from bot.answer.citations import number_sources
    from bot.answer.extractive import HEADING_MARGIN, ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    def chunk(doc: str, title: str, section: str, text: str, score: float) -> RetrievedChunk:
        return RetrievedChunk(doc_id=doc, chunk_no=1, title=title, url=None, source="s", audience=Visibility.INTERNAL,
                              section=section, text=text, updated_at=None, score=score, similarity=0.6)

    chunks = [chunk("billing", "Failed payments", "What happens when a payment fails",
                    "On day 14 the account becomes past due and label buying stops.", 3.0),
              chunk("limits", "Refund approval limits", "Past-due extensions",
                    "Tier 1 can grant one 7-day grace extension per account per 12 months.", 2.5),
              chunk("plans", "Change your plan", "Troubleshooting \u203a \"Your account is past due.\"",
                    "You need to pay the outstanding invoice before changing plans.", 2.0)]
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read("How long can I extend a past-due account?", chunks)
    by_text = {reading.window_units(w)[0].text[:10]: n for n, w in enumerate(reading.windows) if w.end - w.start == 1}
    scores = np.full(len(reading.windows), -9.0)
    # The payment-failure timeline first; the extension and the troubleshooting entry both within HEADING_MARGIN.
    scores[by_text["On day 14 "]], scores[by_text["Tier 1 can"]], scores[by_text["You need t"]] = 1.0, 0.8, 0.75
    assert 1.0 - 0.75 < HEADING_MARGIN
    r = dataclasses.replace(reading, scores=scores)
    text = ExtractiveComposer().compose_reading(r, number_sources(r.chunks)).text
    assert text.startswith("Tier 1 can grant one 7-day grace extension")


def test_a_how_to_lead_whose_steps_are_one_sentence_gets_no_other_sections_steps() -> None:
    """"How do I change someone from Admin to Viewer?" led by the steps written as one sentence
    under "Change someone's role" is answered: the invitation steps above it in the article are
    not added (they were, and then led the answer); a lead that only describes, or gives one
    instruction, still gets the steps."""
    import dataclasses

    from bot.answer.citations import number_sources
    from bot.answer.extractive import ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    text = ("## Invite a team member\n\n1. Go to Settings > Team.\n2. Click Invite member.\n3. Choose a role.\n\n"
            "## Change someone's role\n\nGo to Settings > Team, click the member, choose the new role and click Save.\n\n"
            "## Roles\n\nEach member has one role at a time.\n\n"
            "## Approvals\n\nTurn on Role approvals to stop Admins from changing roles alone.\n")
    chunks = [RetrievedChunk(doc_id="team", chunk_no=0, title="Invite and remove team members", url=None, source="s",
                             audience=Visibility.PUBLIC, section="", text=text, updated_at=None, score=3.0, similarity=0.5)]
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read("How do I change someone from Admin to Viewer?", chunks)
    by_text = {reading.window_units(w)[0].text[:10]: n for n, w in enumerate(reading.windows) if w.end - w.start == 1}

    def answer(lead: str) -> str:
        scores = np.full(len(reading.windows), -9.0)
        scores[by_text[lead]] = 1.0
        scores[by_text["1. Go to S"]] = 0.95
        r = dataclasses.replace(reading, scores=scores)
        return ExtractiveComposer().compose_reading(r, number_sources(r.chunks)).text

    instructed = answer("Go to Sett")
    assert instructed.startswith("Go to Settings > Team, click the member") and "Invite member" not in instructed
    described = answer("Each membe")
    assert "Invite member" in described
    # One action is an instruction, not steps written as a sentence: the steps still come.
    assert "Invite member" in answer("Turn on Ro")


def test_a_second_source_that_repeats_the_answer_is_left_out() -> None:
    """A bulletin's remediation copied word for word into another product's bulletin is not quoted
    twice; a second document that adds something still joins."""
    import dataclasses

    from bot.answer.citations import number_sources
    from bot.answer.extractive import ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk

    fix = "IBM strongly recommends that you contact Red Hat to obtain and install fixes for RHEL Server 6.2."

    def chunk(doc_id: str, text: str, score: float) -> RetrievedChunk:
        return RetrievedChunk(doc_id=doc_id, chunk_no=0, title=doc_id, url=None, source="s", audience=Visibility.PUBLIC,
                              section="", text=text, updated_at=None, score=score, similarity=0.6)

    def answer(second: str) -> str:
        chunks = [chunk("bulletin-a", fix, 3.0), chunk("bulletin-b", second, 2.9)]
        reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
        reading = reader.read("How do I fix the RHEL vulnerability in the Hypervisor Edition?", chunks)
        scores = np.array([1.0 if reading.passages[w.passage].doc_id == "bulletin-a" else 0.9 for w in reading.windows])
        r = dataclasses.replace(reading, scores=scores)
        return ExtractiveComposer().compose_reading(r, number_sources(r.chunks)).text

    assert answer(fix.replace("6.2.", "6.2, as applicable.")) == f"{fix} [1]"
    added = "Apply fix pack 9.0.0.11 to the Hypervisor Edition image and restart the node."
    assert answer(added) == f"{fix} [1]\n\n{added} [2]"


def test_an_answer_does_not_end_on_the_pages_own_lines() -> None:
    """"Cross reference information ..." and a copyright at the edge of the best window are not quoted."""
    from bot.answer.extractive import complete
    from bot.answer.retriever import RetrievedChunk
    from bot.answer.windows import Window

    text = ("Copyright IBM Corporation 2017. All rights reserved.\n\n"
            "The use of the Client Channel Definition Table (CCDT) with XA connections is not supported.\n\n"
            "Cross reference information Segment Product Component Platform Version Edition Application Servers")
    chunk = RetrievedChunk(doc_id="d", chunk_no=0, title="CCDT and XA", url=None, source="s",
                           audience=Visibility.PUBLIC, section="", text=text, updated_at=None, score=1.0, similarity=0.6)
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())
    reading = reader.read("Can I use a CCDT with XA connections?", [chunk])
    units = reading.units[0]
    every = complete(reading, Window(0, 0, len(units), sum(len(u.text.split()) for u in units)))
    assert [u.text for u in units[every.start : every.end]] == [
        "The use of the Client Channel Definition Table (CCDT) with XA connections is not supported."]
    alone = complete(reading, Window(0, len(units) - 1, len(units), 12))  # nothing else to quote: kept
    assert (alone.start, alone.end) == (len(units) - 1, len(units))


def test_a_quote_from_a_sentence_split_across_chunks_is_marked_where_it_was_cut(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """"... ship with Red Hat Enterprise Linux (RHEL) Server" is not the whole sentence (the next chunk
    goes on "6.2"): the quote says "…" where the chunk cut it, from the chunker's mark through the
    store to the composer; a chunk that was not cut is quoted as it is."""
    import dataclasses

    from bot.answer.citations import number_sources
    from bot.answer.extractive import ELLIPSIS, ExtractiveComposer
    from bot.answer.retriever import RetrievedChunk
    from bot.runtime import Runtime

    versions = " ".join(f"fix pack 9.0.0.{i} for component{i}" for i in range(120))
    settings = Settings(data_dir=tmp_path / "data", sample_kb=False, _env_file=None)  # type: ignore[call-arg]
    with Runtime(settings, store=EdgeStore(tmp_path / "q"), embedder=embedder) as rt:
        rt.indexer.index([Document(id="fp:1", source="fp", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
                                   title="Fix packs", text=f"## Fixes\n\nThe fixes are: {versions}\n\nRestart after.")])
        got = rt.retriever.retrieve("fix pack 9.0.0.3 component3", Audience.CUSTOMER, limit=20).chunks
    assert any(c.ends_mid_sentence for c in got) and any(c.starts_mid_sentence for c in got)

    text = "IBM Integration Bus V9.0 ships with Red Hat Enterprise Linux (RHEL) Server"
    chunk = RetrievedChunk(doc_id="b", chunk_no=0, title="Bulletin", url=None, source="s", audience=Visibility.PUBLIC,
                           section="", text=text, updated_at=None, score=1.0, similarity=0.6)
    reader = Reader(sparse=SparseEncoder(), ranker=load_window_ranker(), word_vectors=shared_word_vectors())

    def quoted(c: RetrievedChunk) -> str:
        reading = reader.read("Which RHEL version does IBM Integration Bus ship with?", [c])
        return ExtractiveComposer().compose_reading(reading, number_sources(reading.chunks)).text

    assert quoted(chunk) == f"{text} [1]"
    assert quoted(dataclasses.replace(chunk, ends_mid_sentence=True)) == f"{text} {ELLIPSIS} [1]"
    assert quoted(dataclasses.replace(chunk, starts_mid_sentence=True)) == f"{ELLIPSIS} {text} [1]"


def test_the_top_documents_part_naming_the_questions_code_is_read_though_ranked_low() -> None:
    """Below the chunks always read, a chunk is read when its heading names one of the question's
    rare terms, or when it belongs to the top document and names one in its text; a chunk of
    another document that merely mentions the code is not."""
    from bot.answer.reader import READ_CHUNKS, select_chunks
    from bot.answer.retriever import RetrievedChunk

    def chunk(doc_id: str, n: int, text: str, section: str = "") -> RetrievedChunk:
        return RetrievedChunk(doc_id=doc_id, chunk_no=n, title=f"Guide {doc_id}", url=None, source="s",
                              audience=Visibility.PUBLIC, section=section, text=text, updated_at=None,
                              score=1.0 - n / 100, similarity=0.5)

    sparse = SparseEncoder()
    top = [chunk("top", 0, "Installing the agent on Linux.")] + [chunk(f"o{i}", i, "Other text.") for i in range(1, READ_CHUNKS)]
    lower = [chunk("o9", 10, "Unrelated mention of PCL-7734 in a changelog."),
             chunk("top", 11, "If the agent stops with PCL-7734, delete the lock file and restart it."),
             chunk("top", 12, "Uninstalling the agent.")]
    read = select_chunks(top + lower, {"7734"}, sparse)  # the rare terms as the reader finds them
    assert [(c.doc_id, c.chunk_no) for c in read[READ_CHUNKS:]] == [("top", 11)]
    assert select_chunks(top + lower, set(), sparse) == top  # no rare term: the top chunks only
    assert select_chunks([], {"7734"}, sparse) == []


def test_the_top_articles_section_of_the_kind_asked_for_is_read_though_ranked_low() -> None:
    """"who do I tell?" asks for an escalation section: the top article's one is read from below the
    chunks always read; another document's, or a section of another kind, is not; a past ticket
    ranked first is no article."""
    from bot.answer.reader import READ_CHUNKS, select_chunks
    from bot.answer.retriever import RetrievedChunk
    from bot.answer.section_kinds import asked_kinds

    def chunk(doc_id: str, n: int, section: str, kind: str = "article") -> RetrievedChunk:
        return RetrievedChunk(doc_id=doc_id, chunk_no=n, title=doc_id, url=None, source="s", audience=Visibility.INTERNAL,
                              section=section, text="Some text.", updated_at=None, score=1.0 - n / 100,
                              similarity=0.5, kind=kind)

    sparse = SparseEncoder()
    top = [chunk("ticket", 0, "Agent reply", "ticket")] + [chunk("runbook", i, f"Part {i}") for i in range(1, READ_CHUNKS)]
    lower = [chunk("other", 10, "Escalate"), chunk("runbook", 11, "Money questions"), chunk("runbook", 12, "Escalate")]
    kinds = asked_kinds("carrier outage at UPS, who do I tell?")
    read = select_chunks(top + lower, set(), sparse, kinds)
    assert [(c.doc_id, c.chunk_no) for c in read[READ_CHUNKS:]] == [("runbook", 12)]
    assert select_chunks(top + lower, set(), sparse, asked_kinds("How do I void a label?")) == top


def test_a_window_knows_how_close_in_meaning_the_chunk_it_came_from_is() -> None:
    """A merged article is one passage, but each of its chunks was embedded on its own: a window
    carries its own chunk's dense similarity below the best chunk's, and whether a how-to
    question meets numbered steps."""
    from bot.answer.passages import merge_passages
    from bot.answer.retriever import RetrievedChunk
    from bot.answer.windows import FEATURES, candidate_windows
    from bot.index.units import split_units

    def chunk(n: int, text: str, section: str, similarity: float) -> RetrievedChunk:
        return RetrievedChunk(doc_id="seats", chunk_no=n, title="Team seats", url=None, source="s",
                              audience=Visibility.PUBLIC, section=section, text=text, updated_at=None, score=1.0,
                              similarity=similarity)

    chunks = [chunk(1, "Starter includes 2 seats and Pro 15.", "How many people can I invite?", 0.8),
              chunk(0, "1. Go to Settings > Team.\n2. Click Invite.", "Invite a team member", 0.5)]
    passages = merge_passages(chunks)
    assert len(passages) == 1
    units = [[u for u in split_units(p.text, section=p.section) if u.quotable] for p in passages]
    f = {name: n for n, name in enumerate(FEATURES)}
    for question, procedure in (("How many people can I invite?", 0.0), ("How do I invite someone?", 1.0)):
        windows, features = candidate_windows(question, passages, units, sparse=SparseEncoder(), rare=set(),
                                              word_vectors=shared_word_vectors())
        by_text = {units[0][w.start].text: row for w, row in zip(windows, features, strict=True) if w.end - w.start == 1}
        assert by_text["Starter includes 2 seats and Pro 15."][f["chunk_similarity_rel"]] == 0.0
        assert by_text["1. Go to Settings > Team."][f["chunk_similarity_rel"]] == pytest.approx(-0.3)
        assert by_text["1. Go to Settings > Team."][f["procedure_steps"]] == procedure
        assert by_text["Starter includes 2 seats and Pro 15."][f["procedure_steps"]] == 0.0
