"""The style guard: a rewrite is used only when it keeps every fact of the draft and adds none."""

from __future__ import annotations

import pytest
import structlog

from bot.answer.style import StyleRouter, Surface, apply_style, guard_restyle, protected_names
from bot.finetune import StyleError
from bot.models import Answer, Citation, Visibility

DRAFT = ("Refunds are paid within 14 days to the original card [1]. Open **Settings > Billing** on the "
         "Parcelly Pro plan, or run `parcelly refund --order 1042` [2]. Details: https://help.parcelly.example/refunds "
         "or billing@parcelly.example.")
GOOD = ("Hi there, thanks for asking! Refunds are paid within 14 days to the original card [1]. You can open "
        "**Settings > Billing** on the Parcelly Pro plan, or run `parcelly refund --order 1042` [2]. "
        "Details: https://help.parcelly.example/refunds or billing@parcelly.example. Let us know how it goes!")


def test_a_faithful_rewrite_is_used() -> None:
    assert guard_restyle(DRAFT, GOOD) == (GOOD, "restyled")


def test_identical_or_empty_rewrites_keep_the_draft() -> None:
    assert guard_restyle(DRAFT, DRAFT) == (DRAFT, "unchanged")
    assert guard_restyle(DRAFT, "  ") == (DRAFT, "empty restyle")


@pytest.mark.parametrize(("rewrite", "problem"), [
    (GOOD.replace("14 days", "two weeks"), "missing numbers: 14"),
    (GOOD.replace("14 days", "41 days"), "missing numbers: 14; added numbers: 41"),
    (GOOD.replace(" [2]", ""), "missing markers: [2]"),
    (GOOD.replace("[1]", "[1][3]"), "added markers: [3]"),
    (GOOD + " See also https://evil.example/phish", "added urls: https://evil.example/phish"),
    (GOOD.replace("https://help.parcelly.example/refunds ", ""), "missing urls"),
    (GOOD.replace("billing@parcelly.example", "support@parcelly.example"), "missing emails"),
    (GOOD.replace("--order 1042", "--order 1024"), "missing code"),
    (GOOD.replace("Parcelly Pro plan", "Pro plan"), "missing names: Parcelly"),
    (GOOD.replace("Hi there", "Hi Maya"), "added names: Maya"),
    (GOOD.replace("Settings > Billing", "Preferences > Billing"), "missing names: Settings; added names: Preferences"),
])
def test_adversarial_rewrites_keep_the_draft(rewrite: str, problem: str) -> None:
    text, reason = guard_restyle(DRAFT, rewrite)
    assert text == DRAFT
    assert problem in reason


def test_names_are_product_and_proper_names_not_sentence_starts() -> None:
    assert protected_names("Open the iPhone app. Then tap Settings, then SSO. Our Apple Watch app works.") == \
        {"iPhone", "Settings", "SSO", "Apple", "Watch"}
    # Moving a name to the start of a sentence still keeps it; greeting words are not names.
    assert guard_restyle("Open Settings to change it [1].", "Hello! Settings is where you change it [1]. Thanks!")[1] == \
        "restyled"


class Scripted:
    name = "scripted"

    def __init__(self, out: str | Exception) -> None:
        self.out = out

    def restyle(self, draft: str) -> str:
        if isinstance(self.out, Exception):
            raise self.out
        return self.out


def test_apply_style_falls_back_and_logs_only_the_kind_of_problem() -> None:
    with structlog.testing.capture_logs() as logs:
        text, reason = apply_style(Scripted(GOOD.replace("14", "15")), DRAFT)
    assert text == DRAFT and reason.startswith("missing numbers")
    (event,) = [e for e in logs if e["event"] == "style_restyle_rejected"]
    assert event["problems"] == ["missing numbers", "added numbers"]
    assert "14" not in str(event) and "billing@" not in str(event)  # never the text or its tokens
    assert apply_style(Scripted(StyleError("timed out")), DRAFT) == (DRAFT, "adapter failed (StyleError)")


def _answer(text: str, *, abstained: bool = False) -> Answer:
    cite = Citation(n=1, doc_id="a:refunds", title="Refunds", source="t", audience=Visibility.PUBLIC)
    return Answer(text=text, citations=[cite], confidence=0.8, abstained=abstained, timings={"total_ms": 5.0})


def test_router_applies_per_surface_and_keeps_citations() -> None:
    router = StyleRouter({Surface.SLACK_CUSTOMER: Scripted("Hi there! Refunds take 14 days [1]. Let us know!")})
    draft = _answer("Refunds take 14 days [1].")
    styled = router.apply(Surface.SLACK_CUSTOMER, draft)
    assert styled.text == "Hi there! Refunds take 14 days [1]. Let us know!"
    assert styled.citations == draft.citations and "style_ms" in styled.timings
    assert router.apply(Surface.SLACK_AGENT, draft) == draft  # this surface has no style adapter
    assert router.apply(Surface.SLACK_CUSTOMER, _answer("I don't know.", abstained=True)).text == "I don't know."
    outcome = StyleRouter({Surface.HELPDESK_DRAFTS: Scripted("Refunds take 7 days [1].")}).restyle(
        Surface.HELPDESK_DRAFTS, draft.text)
    assert (outcome.text, outcome.restyled, outcome.backend) == (draft.text, False, "scripted")
    assert outcome.reason == "missing numbers: 14; added numbers: 7"
