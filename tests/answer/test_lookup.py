"""Direct lookups: the table row, table column or code-named section a question names."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer.lookup import (
    HEADING_SHORTLIST,
    CachedEmbed,
    Lookup,
    LookupKind,
    cells,
    find_lookup,
    render_table_lookup,
)
from bot.answer.passages import merge_passages
from bot.answer.retriever import RetrievedChunk
from bot.answer.section_kinds import SECTION_KINDS, asked_kinds
from bot.answer.windows import question_keys, rare_terms
from bot.index.sparse import SparseEncoder
from bot.index.units import split_units
from bot.models import Visibility

SPARSE = SparseEncoder()

ERRORS = """## Error codes

| Code | Meaning | What to do |
|---|---|---|
| PCL-4020 | Account past due | Pay the invoice |
| PCL-4031 | Insufficient postage balance | Add funds |
| PCL-4220 | Address not valid | Fix the address |
"""

PLANS = """## Plan comparison

| Feature | Starter | Growth | Pro |
|---|---|---|---|
| Monthly price | $19 | $49 | $129 |
| Team seats | 2 | 5 | 15 |
| Shipments per month | 300 | 1,500 | 6,000 |
| Returns portal | No | Yes |
"""


def _lookup(question: str, *texts: str, embed=None, shortlist=None, titles=None,  # type: ignore[no-untyped-def]
            common_from_texts: bool = False, kinds=None) -> tuple[Lookup | None, list]:
    """``common_from_texts``: the names most of ``texts`` carry are common, as the reader finds them
    over the retrieved chunks (otherwise none is)."""
    titles = titles or [f"Doc {n}" for n in range(len(texts))]
    chunks = [RetrievedChunk(doc_id=f"d{n}", chunk_no=0, title=titles[n], url=None, source="s",
                             audience=Visibility.PUBLIC, section="", text=t, updated_at=None, score=1.0 - n / 10,
                             similarity=0.5, kind=(kinds or {}).get(n, "article")) for n, t in enumerate(texts)]
    passages = merge_passages(chunks)
    all_units = [split_units(p.text, section=p.section) for p in passages]
    units = [[u for u in us if u.quotable] for us in all_units]
    identifiers, names = question_keys(question, SPARSE)
    common = names - rare_terms((identifiers, names), SPARSE, [f"{c.title}\n{c.text}" for c in chunks]) \
        if common_from_texts else set()
    found = find_lookup(question, passages, all_units, units, identifiers=identifiers, names=names, sparse=SPARSE,
                        common_names=common, embed=embed, shortlist=shortlist)
    return found, units


def test_a_row_is_found_by_its_code_and_not_by_a_sibling_code() -> None:
    found, units = _lookup("What does PCL-4031 mean?", ERRORS)
    assert found is not None and found.kind is LookupKind.ROW
    assert render_table_lookup(found, units[found.passage]) == (
        "**PCL-4031**\n- Meaning: Insufficient postage balance\n- What to do: Add funds")
    assert found.section == "Error codes"
    # PCL-4220 shares "pcl" with the question but not its number: not named.
    assert _lookup("What does PCL-9999 mean?", ERRORS)[0] is None


def test_a_row_and_a_column_named_together_give_their_cells() -> None:
    found, units = _lookup("How many Team seats does the Growth plan have?", PLANS)
    assert found is not None and found.kind is LookupKind.ROW
    assert render_table_lookup(found, units[found.passage]) == "**Team seats**\n- Growth: 5"
    found, units = _lookup("Is the price of Growth the same as Pro?", PLANS)
    assert found is not None and found.kind is LookupKind.COLUMN
    assert render_table_lookup(found, units[found.passage]) == (
        "**Growth** / **Pro**\n- Monthly price: Growth $49; Pro $129")


CARRIERS = """## Carriers at a glance

| Carrier | Parcelly rates | Your own account | Max weight |
|---|---|---|---|
| USPS | Yes | No | 70 lb |
| DHL Express | No | Yes | 154 lb |
"""


def test_the_products_own_name_picks_no_column_of_a_named_row() -> None:
    # "Parcelly" is in every passage: the question asks for DHL Express, not for the cell under
    # "Parcelly rates" ("No" would read as "not supported"; it is, with your own account).
    question = "Does Parcelly support DHL Express?"
    found, units = _lookup(question, CARRIERS, "Parcelly ships with four carriers.", "Parcelly prints labels.",
                           common_from_texts=True)
    assert found is not None and found.kind is LookupKind.ROW
    assert render_table_lookup(found, units[found.passage]) == (
        "**DHL Express**\n- Parcelly rates: No\n- Your own account: Yes\n- Max weight: 154 lb")
    # Where the name is not everywhere it still names its column.
    found, units = _lookup(question, CARRIERS, "Labels are printed as PDF.", "Customs forms are filled in.",
                           common_from_texts=True)
    assert found is not None and render_table_lookup(found, units[found.passage]) == (
        "**DHL Express**\n- Parcelly rates: No")


PERMISSIONS = """## Roles

| Permission | Admin | Shipper | Viewer |
|---|---|---|---|
| View orders | Yes | Yes | Yes |
| Buy labels | Yes | Yes | No |
| Manage returns | Yes | Yes | No |
| Invite members | Yes | No | No |
"""


def test_a_comparison_of_columns_quotes_the_rows_where_they_differ() -> None:
    for question in ("What's the difference between Viewer and Shipper?", "Permissions of a Shipper vs a Viewer",
                     "Compare the Shipper and Viewer roles"):
        found, units = _lookup(question, PERMISSIONS)
        assert found is not None and found.kind is LookupKind.COLUMN, question
        assert render_table_lookup(found, units[found.passage]) == (
            "**Shipper** / **Viewer**\n- Buy labels: Shipper Yes; Viewer No\n- Manage returns: Shipper Yes; Viewer No")
    # Not a comparison: the rows asked for.
    found, units = _lookup("Can a Viewer buy labels?", PERMISSIONS)
    assert found is not None and "View orders" not in render_table_lookup(found, units[found.passage])


def test_a_row_cut_inside_its_last_cell_is_not_quoted() -> None:
    cut = PERMISSIONS.rstrip("\n").rsplit("\n", 1)[0] + "\n| Invite members | Yes | No | No, but"
    # The only row the question asks for is cut: no lookup, the ranker answers.
    assert _lookup("Can an Admin invite members?", cut)[0] is None
    found, units = _lookup("Can an Admin invite members?", PERMISSIONS)
    assert found is not None and render_table_lookup(found, units[found.passage]) == "**Invite members**\n- Admin: Yes"


SMS_PRICES = """## Pricing and countries

| Destination | Price per SMS segment |
|---|---|
| United States and Canada | $0.02 |
| United Kingdom and Australia | $0.07 |
"""


def test_a_row_named_by_a_name_or_acronym_alone_needs_the_table_to_be_about_the_question() -> None:
    found, units = _lookup("How much does an SMS to Australia cost?", SMS_PRICES)
    assert found is not None and render_table_lookup(found, units[found.passage]) == (
        "**United Kingdom and Australia**\n- Price per SMS segment: $0.07")
    # Shipping is not what an SMS price table is about, though its row names Australia.
    assert _lookup("Do you ship to Australia?", SMS_PRICES)[0] is None
    # A code names its row outright.
    found, units = _lookup("Is PCL-4220 about the address?", ERRORS)
    assert found is not None and found.kind is LookupKind.ROW
    # An acronym is a name here: the carriers table (weights) does not answer an insurance question.
    assert _lookup("Does DHL offer insurance?", CARRIERS)[0] is None
    found, units = _lookup("What is the max weight for DHL Express?", CARRIERS)
    assert found is not None and render_table_lookup(found, units[found.passage]).startswith("**DHL Express**")


def test_what_a_column_includes_is_the_whole_column() -> None:
    # "included" is the question's verb, not the row "Shipments included" it happens to share.
    for question in ("What's included in the Pro plan?", "What does the Pro plan include?", "What do I get with Pro?"):
        found, units = _lookup(question, PLANS)
        assert found is not None and render_table_lookup(found, units[found.passage]) == (
            "**Pro**\n- Monthly price: $129\n- Team seats: 15\n- Shipments per month: 6,000"), question
    found, units = _lookup("How many shipments does the Pro plan include?", PLANS)
    assert found is not None and render_table_lookup(found, units[found.passage]) == "**Pro**\n- Shipments per month: 6,000"


def test_a_column_quotes_the_rows_asked_for_by_words_and_by_meaning() -> None:
    found, units = _lookup("How many shipments does the Growth plan include?", PLANS)
    assert found is not None and render_table_lookup(found, units[found.passage]) == (
        "**Growth**\n- Shipments per month: 1,500")

    def embed(texts):  # type: ignore[no-untyped-def]
        # A stand-in embedding by topic: "cost" is close to "price" though they share no word.
        topics = (("cost", "price"), ("seat", "team"), ("shipment",), ("portal",))
        v = np.array([[float(any(w in t.lower() for w in topic)) for topic in topics] + [0.1] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    found, units = _lookup("What does Growth cost and how many shipments are included?", PLANS, embed=embed)
    assert found is not None
    assert render_table_lookup(found, units[found.passage]).splitlines()[1:] == [
        "- Monthly price: $49", "- Shipments per month: 1,500"]


STATUSES = """## Statuses

| Status | What it means |
|---|---|
| **In transit** | The carrier has the parcel. |
| **Out for delivery** | The parcel is on the vehicle today. |
| **Delivered** | The parcel was delivered. |
"""


def test_a_row_label_of_several_words_quoted_by_the_question_is_looked_up() -> None:
    found, units = _lookup("what does out for delivery mean", STATUSES)
    assert found is not None and render_table_lookup(found, units[found.passage]) == (
        "**Out for delivery**\n- What it means: The parcel is on the vehicle today.")
    # A one-word label is no key when it is merely said in passing.
    assert _lookup("when is my parcel delivered", STATUSES)[0] is None
    # "transit" alone does not quote the label "In transit".
    assert _lookup("how long is transit", STATUSES)[0] is None


def test_a_long_question_embeds_only_its_first_clauses() -> None:
    seen: list[int] = []

    def embed(texts):  # type: ignore[no-untyped-def]
        seen.append(len(texts))
        return np.ones((len(texts), 2)) / np.sqrt(2)

    _lookup("What does Growth cost" + " and price" * 900 + "?", PLANS, embed=embed)
    assert seen and seen[0] <= 4 + 3  # at most 4 clauses and the table's 3 whole rows


def test_a_row_cut_at_a_chunk_edge_is_never_quoted() -> None:
    found, units = _lookup("Does Growth have a returns portal?", PLANS)
    assert found is None or all("Returns portal" not in units[found.passage][i].text for i in found.units)


def test_a_question_naming_every_column_names_none() -> None:
    assert _lookup("Compare Starter, Growth and Pro on price", PLANS)[0] is None


def test_a_code_named_section_is_found_but_not_a_faq_question_naming_it() -> None:
    article = ("## Error PCL-4031: insufficient balance\n\nAdd funds and retry.\n\n## Troubleshooting\n\n"
               "**I still get PCL-5000 after a top-up.** Refresh the page.\n")
    found, units = _lookup("How do I fix PCL-4031?", article)
    assert found is not None and found.kind is LookupKind.SECTION
    assert found.section == "Error PCL-4031: insufficient balance"
    assert [units[0][i].text for i in found.units] == ["Add funds and retry."]
    assert _lookup("What about PCL-5000?", article)[0] is None  # only a FAQ entry's bold question names it


def test_how_do_i_questions_get_no_table_lookup_and_keyless_questions_none() -> None:
    assert _lookup("How do I pay a PCL-4031 error?", ERRORS)[0] is None
    assert _lookup("what does this error mean", ERRORS)[0] is None


_CELL = st.text(st.characters(blacklist_characters="|\n\r", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CELL, min_size=1, max_size=6))
def test_cells_reads_back_what_a_row_holds(row: list[str]) -> None:
    line = "| " + " | ".join(row) + " |"
    assert cells(line) == [c.strip() for c in row]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.from_regex(r"[A-Za-z0-9$ ,./-]{1,10}", fullmatch=True), min_size=3, max_size=3),
                min_size=1, max_size=6), st.integers(0, 5))
def test_a_row_lookup_quotes_only_the_sources_cells(body: list[list[str]], pick: int) -> None:
    key = f"XK-{1000 + pick}"
    rows = [[f"XK-{1000 + n}", *cells_[1:]] for n, cells_ in enumerate(body)]
    table = "| Code | A | B |\n|---|---|---|\n" + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    found, units = _lookup(f"What is {key}?", table)
    if pick >= len(rows):
        assert found is None
        return
    assert found is not None
    lines = render_table_lookup(found, units[found.passage]).splitlines()
    assert lines[0] == f"**{key}**"
    source = {c.strip() for r in rows for c in r}
    for line in lines[1:]:
        name, value = line[2:].split(": ", 1)
        assert name in {"A", "B"} and value in source


ROLES = """## Roles at a glance

| Permission | Owner | Admin | Viewer |
|---|---|---|---|
| View orders and tracking | Yes | Yes | Yes |
| Buy, print and void labels | Yes | Yes | No |
| Invite and remove members | Yes | Yes | No |
| Manage integrations | Yes | Yes | No |
| Export data | Yes | Yes | No |
"""


def test_a_column_and_the_kind_of_its_rows_named_together_quote_the_whole_column() -> None:
    found, units = _lookup("What permissions does the Viewer role have?", ROLES)
    assert found is not None and found.kind is LookupKind.COLUMN
    assert render_table_lookup(found, units[found.passage]) == (
        "**Viewer**\n- View orders and tracking: Yes\n- Buy, print and void labels: No\n"
        "- Invite and remove members: No\n- Manage integrations: No\n- Export data: No")
    # The column alone, without what its rows are, picks no rows: no lookup.
    assert _lookup("Tell me about the Viewer role", ROLES)[0] is None


LABELS = """## Create a label from an order

1. Go to **Orders** and click the order.
2. Click **Buy label**.

## Create a label without an order

Click **Create label** on the **Shipments** page and enter the recipient's address yourself.

## Use shipping presets

Presets fill in the package and service for matching orders.
"""

TEAM = """## Invite a team member

1. Go to **Settings > Team**.
2. Click **Invite member** and enter their email address.

## How many people can I invite?

Starter includes 2 seats, Growth 5 and Pro 15. Pending invitations use a seat.

## Remove a team member

Click the member and choose **Remove**.
"""


def test_a_heading_that_reads_like_the_question_is_looked_up(embedder) -> None:  # type: ignore[no-untyped-def]
    # Both headings share every content word of the question but "without" (a stop word): the
    # embedding still tells them apart; the steps under the other one do not answer.
    found, units = _lookup("How do I create a shipping label without an order?", LABELS, embed=embedder.embed)
    assert found is not None and found.kind is LookupKind.SECTION
    assert found.section == "Create a label without an order"
    assert [units[0][i].text for i in found.units] == [
        "Click **Create label** on the **Shipments** page and enter the recipient's address yourself."]
    # A question no heading reads like is left to the ranker.
    assert _lookup("Why is my label printing blank?", LABELS, embed=embedder.embed)[0] is None


def test_a_heading_lookup_needs_one_heading_clearly_closest() -> None:
    def embed(texts):  # type: ignore[no-untyped-def]
        # By topic: "invite" and "seats" questions, and headings about either.
        topics = (("invite",), ("many", "seat"), ("remove",), ("team",))
        v = np.array([[float(any(w in t.lower() for w in topic)) for topic in topics] + [0.05] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    found, _ = _lookup("remove a team member from my team", TEAM, embed=embed)
    assert found is not None and found.section == "Remove a team member"
    # As close to "Invite a team member" as to "How many people can I invite?": the ranker chooses.
    assert _lookup("many invite team", TEAM, embed=embed)[0] is None
    # Without an embedding there is no heading lookup by meaning (only by the heading's own words).
    assert _lookup("remove someone from my team", TEAM, embed=embed)[0] is not None
    assert _lookup("remove someone from my team", TEAM)[0] is None


BALANCE = """Your postage balance pays for labels.

## Turn on auto-reload

1. Go to **Settings > Billing > Postage balance**.
2. Turn on **Auto-reload**.

## Withdrawing your balance

Postage funds aren't withdrawn automatically. Email support to get them back.

## Balance history

Every top-up and label is listed.
"""


def test_a_heading_whose_words_are_all_asked_for_is_looked_up() -> None:
    # No embedding at all: the heading's stemmed words are the question's ("withdraw", "balanc").
    found, units = _lookup("Can I withdraw my postage balance?", BALANCE)
    assert found is not None and found.kind is LookupKind.SECTION and found.section == "Withdrawing your balance"
    assert [units[0][i].text for i in found.units][0].startswith("Postage funds aren't withdrawn")


def test_a_named_heading_must_be_one_and_name_half_the_question() -> None:
    assert _lookup("How do I turn on auto-reload?", BALANCE)[0].section == "Turn on auto-reload"  # type: ignore[union-attr]
    # One word ("Refunds", "Troubleshooting") names a kind of section, not what the question is about.
    assert _lookup("Refunds?", BALANCE + "\n## Refunds\n\nWithin 10 days.\n")[0] is None
    # Two headings of equally many asked-for words: the ranker chooses.
    assert _lookup("balance history or withdrawing balance?", BALANCE)[0] is None
    # A long question shares a heading's few words by chance (a technote's pasted log): not enough.
    long = "After the upgrade my balance history shows errors in the log, the service restarts and the agent hangs"
    assert _lookup(long, BALANCE)[0] is None
    assert _lookup("Show my balance history", BALANCE)[0].section == "Balance history"  # type: ignore[union-attr]
    # The title names the document retrieval chose, not a section of it.
    assert _lookup("Show my balance history", BALANCE, titles=["Balance history"])[0] is None


def test_a_document_whose_title_names_the_whole_question_leads() -> None:
    twofa = "## Option 3: Contact support\n\nEmail support with the subject 2FA reset."
    contact = "Our support team helps with everything.\n\n## How to reach us\n\nEmail support@parcelly.example."
    titles = ["Lost your two-factor device", "Contact Parcelly support and support hours"]
    found, units = _lookup("How do I contact support?", twofa, contact, titles=titles)
    assert found is not None and found.passage == 1 and len(found.units) == len(units[1])
    # Two documents' titles name it: the ranker chooses; so it does when a title names much more.
    assert _lookup("How do I contact support?", twofa, contact, titles=["Contact support", titles[1]])[0] is None
    assert _lookup("How do I contact support?", twofa, contact,
                   titles=[titles[0], "Contact support about carriers, labels, billing and returns"])[0] is None
    # A one-term question names too little to pick a document by.
    assert _lookup("Support?", twofa, contact, titles=titles)[0] is None


def test_the_embedding_cache_returns_what_the_model_would_and_stays_bounded() -> None:
    calls: list[list[str]] = []

    def embed(texts):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return np.array([[float(len(t)), float(t.count("a")), 1.0] for t in texts])

    cached = CachedEmbed(embed, max_entries=3)
    np.testing.assert_array_equal(cached(["ab", "a", "ab"]), embed(["ab", "a", "ab"]))
    assert calls[0] == ["ab", "a"]  # each distinct text once
    cached(["a", "abc"])
    assert calls[-1] == ["abc"]  # "a" came from the cache
    cached(["bbbb"])  # a fourth text: the least recently used ("ab") goes
    cached(["ab", "a"])
    assert calls[-1] == ["ab"]


def test_only_the_shortlisted_headings_are_embedded(embedder) -> None:  # type: ignore[no-untyped-def]
    embedded: list[str] = []

    def embed(texts):  # type: ignore[no-untyped-def]
        embedded.extend(texts)
        return embedder.embed(texts)

    def shortlist(question, texts):  # type: ignore[no-untyped-def]
        return np.array([float("without" in t) for t in texts])

    more = LABELS + "".join(f"\n## {h}\n\nText about it.\n" for h in ("Print a label", "Void a label", "Track a label"))
    found, _ = _lookup("How do I create a shipping label without an order?", more, embed=embed, shortlist=shortlist)
    assert found is not None and found.section == "Create a label without an order"
    assert len(embedded) == HEADING_SHORTLIST + 1  # the shortlist of six headings, and the question
    assert "Create a label without an order" in embedded


SSO = """Connect your identity provider so your team signs in with it.

## Before you start

- You need the Owner or Admin role and admin access to your IdP.

## Step 1: Verify your domain

1. Go to Settings > Security.
2. Add a TXT record.

## Step 4 (optional): Enforce SSO

Turn on Require SSO to stop team members from signing in with a password.
"""
OUTAGE = """## Recognise an outage

Three or more tickets about one carrier within 30 minutes.

## Escalate

1. Check #carrier-escalations for an open incident.
2. Page the on-call engineer if labels fail for more than 15 minutes.
"""


def test_a_question_asking_for_a_kind_of_section_gets_it_from_the_top_document() -> None:
    # "before" is a stop word and "page" is not "escalate": the question's form names the section.
    for question in ("What do I need before turning on SSO?", "Anything I should check before I enforce SSO?",
                     "What are the requirements for SSO?"):
        found, _ = _lookup(question, SSO)
        assert found is not None and found.section == "Before you start", question
    found, units = _lookup("Who do I page for a carrier outage?", OUTAGE)
    assert found is not None and found.section == "Escalate"
    assert units[0][found.units[0]].text.startswith("1. Check #carrier-escalations")
    # Only the top document: a later one's "Before you start" does not answer a question about the first.
    found, _ = _lookup("What do I need before turning on SSO?", OUTAGE, SSO)
    assert found is None
    # A past ticket ranked first (an agent's search) has no sections of a kind: the top article is looked in.
    ticket = "## Customer\n\nAll our UPS labels fail.\n\n## Agent reply\n\nWe are on it."
    found, _ = _lookup("Who do I page for a carrier outage?", ticket, OUTAGE, kinds={0: "ticket"})
    assert found is not None and found.passage == 1 and found.section == "Escalate"
    # A question not of that form, or asking for steps ("what do I need to do to ..."), gets no such lookup.
    assert _lookup("How do I enforce SSO for my team?", SSO)[0] is None
    assert _lookup("What do I need to do to verify my domain?", SSO)[0] is None


@pytest.mark.parametrize(("question", "kinds"), [
    ("what do I need before turning on SSO", {"prerequisites"}),
    ("What should I do before I close my account?", {"prerequisites"}),
    ("Where are the system requirements listed?", {"prerequisites"}),
    ("who do I page for a carrier outage?", {"escalation"}),
    ("UPS labels fail for everyone, who should I tell?", {"escalation"}),
    ("When do I escalate a webhook problem?", {"escalation"}),
    ("What should I tell a merchant hit by the duplicate charge bug?", {"reply"}),
    ("How do I void a label?", set()),
    ("What do I need to do to void a label?", set()),
    ("Can I ship before noon?", set()),
])
def test_the_kind_of_section_a_question_asks_for_is_read_from_its_form(question: str, kinds: set[str]) -> None:
    assert {k.name for k in asked_kinds(question)} == kinds


@given(st.text(max_size=200))
def test_any_question_asks_for_known_kinds_only(question: str) -> None:
    assert set(asked_kinds(question)) <= set(SECTION_KINDS)
