"""Checkable facts: quantities with units (canonical, with bounds), menu paths and plan names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.health.facts import Quantity, plan_names, quantities, split_statements, statements, ui_paths


def _one(text: str) -> Quantity:
    [q] = quantities(text)
    return q


@pytest.mark.parametrize(("text", "family", "low", "high", "bound"), [
    ("You can request a full refund within **14 days** of the charge.", "duration", 14 * 1440, 14 * 1440, "upper"),
    ("That is fourteen days.", "duration", 14 * 1440, 14 * 1440, None),
    ("It takes two weeks.", "duration", 14 * 1440, 14 * 1440, None),
    ("Allow 48 hours.", "duration", 2 * 1440, 2 * 1440, None),
    ("Card refunds take **5–10 business days** to appear.", "business_days", 5, 10, None),
    ("Add funds (anything from $25 to $5,000).", "money:usd", 25, 5000, None),
    ("Growth is $49 a month.", "money:usd/month", 49, 49, None),
    ("The live API limit is **60 requests per minute**.", "rate:request", 60, 60, "upper"),
    ("Up to 3,600 requests per hour.", "rate:request", 60, 60, "upper"),
    ("You get 15% off.", "percent", 15, 15, None),
    ("You can void up to 250 labels at a time.", "count:label", 250, 250, "upper"),
    ("Top-ups of at least $25.", "money:usd", 25, 25, "lower"),
    ("Invoices older than 12 months are archived.", "months", 12, 12, None),
])
def test_quantities_are_canonical(text: str, family: str, low: float, high: float, bound: str | None) -> None:
    q = _one(text)
    assert (q.family, q.low, q.high, q.bound) == (family, low, high, bound)


@pytest.mark.parametrize("text", [
    "Error PCL-4031 on order #7712 at 10:30 on 2026-10-02, API v2.1.",  # identifiers, a clock time, a date
    "Your charge is from 20 days ago.",  # what happened in this case, not a policy
    "Turn on 2FA and print a 4x6 label.",  # names and sizes
    "Pick one label or two keys.",  # counted prose
])
def test_identifiers_case_details_and_prose_are_not_quantities(text: str) -> None:
    assert quantities(text) == []


def test_a_reply_value_agrees_within_a_bound_or_range_and_not_otherwise() -> None:
    window = _one("Refund within 14 days.")
    assert window.allows(_one("It was 10 days."))  # a plain value under the article's bound
    assert not window.allows(_one("Refund within 30 days."))  # another bound
    assert window.allows(_one("Refund within two weeks."))
    span = _one("It takes 5-10 business days.")
    assert span.allows(_one("It takes 7 business days.")) and not span.allows(_one("It takes 3 business days."))
    assert not span.allows(_one("It takes 5-12 business days."))  # two ranges: only the same range agrees
    assert not window.allows(_one("Refund within 14 business days."))  # another unit family
    card = _one("Refunded to your card within 10 business days.")
    assert card.allows(_one("You'll see it within 5-10 business days."))  # a range under the same bound
    assert not card.allows(_one("You'll see it within 7 business days."))  # a tighter promise is another policy


def test_ui_paths_as_written_in_sentences() -> None:
    assert [p.text for p in ui_paths("Go to **Settings > Billing > Invoices** and click **⋯ > Request refund**.")] == [
        "Settings > Billing > Invoices", "⋯ > Request refund"]
    assert [p.text for p in ui_paths("Check your address under Plan & usage > Locations — if it fails")] == [
        "Plan & usage > Locations"]
    assert [p.text for p in ui_paths("Head to Settings → Developers → API usage to see it.")] == [
        "Settings > Developers > API usage"]
    assert [p.text for p in ui_paths("Disconnect it under Settings > Integrations instead.")] == [
        "Settings > Integrations"]
    assert ui_paths("Compare 5 > 3 and x > y.") == []
    assert ui_paths("Open Settings › Team")[0].key == ("settings", "team")


def test_plan_names_come_from_the_help_center_itself() -> None:
    texts = ["Parcelly has three self-serve plans — Starter, Growth and Pro — plus more.",
             "The Enterprise plan is custom. Upgrade your plan any time."]
    assert plan_names(texts) == {"Starter", "Growth", "Pro", "Enterprise"}
    [s] = statements("On Growth, the limit is 120 requests per minute.", plans=plan_names(texts))
    assert s.plans == {"Growth"}
    [s] = statements("You are on the Business plan.")
    assert s.plan_mentions == {"Business"}


def test_statements_split_markdown_into_sentences_items_and_rows() -> None:
    text = "# Title\n\n**It expired.** Links last 7 days. More text here.\n\n- Item one is 5 days.\n\n| USPS | 21 days |\n|---|---|"
    assert split_statements(text) == ["**It expired.**", "Links last 7 days.", "More text here.",
                                      "Item one is 5 days.", "USPS 21 days"]
    assert [s.text for s in statements(text)] == ["Links last 7 days.", "Item one is 5 days.", "USPS 21 days"]
    assert statements("| USPS | 21 days |")[0].names == {"USPS"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_parsing_never_raises_and_every_value_agrees_with_itself(text: str) -> None:
    for s in statements(text):
        for q in s.quantities:
            assert q.low <= q.high and q.family
            assert q.allows(q)
        for p in s.paths:
            assert len(p.segments) >= 2 and all(p.segments)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=999), st.sampled_from(["days", "hours", "minutes", "business days",
                                                                 "labels", "seats"]))
def test_a_number_with_a_unit_is_read_back(n: int, unit: str) -> None:
    q = _one(f"It is {n} {unit} in total.")
    factor = {"days": 1440, "hours": 60, "minutes": 1}.get(unit, 1)
    assert q.low == q.high == n * factor
