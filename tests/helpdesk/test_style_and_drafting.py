"""The style adapter hook (guard and fallback, both outcomes), signatures, the drafts table, drafting in-process."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from bot.answer.style import NoStyle, StyleAdapter, apply_style, guard_restyle, protected_tokens
from bot.helpdesk.errors import PayloadError, SignatureError
from bot.helpdesk.models import Provider, Ticket
from bot.helpdesk.service import DraftService
from bot.helpdesk.signatures import verify_intercom, verify_shared_secret, verify_zendesk
from bot.helpdesk.webhooks import parse_freshdesk, parse_zendesk
from bot.state import StateStore

DRAFT = ("Refunds are issued within **14 days** of the charge [1]. Void the label at "
         "https://help.parcelly.example/articles/void-a-label and run `parcelly labels void 123` [2]. "
         "Questions: support@parcelly.example [1].")


# -- guard_restyle -----------------------------------------------------------------------------

def test_guard_keeps_a_restyle_that_keeps_every_protected_token() -> None:
    restyled = ("Hi! You'll get your refund within 14 days of the charge [1]. To void the label, open "
                "https://help.parcelly.example/articles/void-a-label and run `parcelly labels void 123` [2]. "
                "Any questions? Write to support@parcelly.example [1].")
    text, reason = guard_restyle(DRAFT, restyled)
    assert (text, reason) == (restyled, "restyled")


@pytest.mark.parametrize(("restyled", "problem"), [
    (DRAFT.replace("14 days", "two weeks"), "missing numbers: 14"),
    (DRAFT.replace("14 days", "15 days"), "added numbers: 15"),
    (DRAFT.replace(" [2]", ""), "missing markers: [2]"),
    (DRAFT + " See also [3].", "added markers: [3]"),
    (DRAFT.replace("https://help.parcelly.example/articles/void-a-label", "the help center"), "missing urls"),
    (DRAFT + " Or https://evil.example/x", "added urls: https://evil.example/x"),
    (DRAFT.replace("support@parcelly.example", "admin@parcelly.example"), "added emails: admin@parcelly.example"),
    (DRAFT.replace("`parcelly labels void 123`", "`parcelly labels void 124`"), "missing code"),
    ("   ", "empty restyle"),
])
def test_guard_falls_back_to_the_draft(restyled: str, problem: str) -> None:
    text, reason = guard_restyle(DRAFT, restyled)
    assert text == DRAFT
    assert problem in reason


def test_protected_tokens_split_by_kind() -> None:
    tokens = protected_tokens(DRAFT)
    assert tokens["markers"] == {"[1]", "[2]"} and tokens["numbers"] == {"14"}
    assert tokens["urls"] == {"https://help.parcelly.example/articles/void-a-label"}
    assert tokens["emails"] == {"support@parcelly.example"} and tokens["code"] == {"`parcelly labels void 123`"}
    assert protected_tokens("see [1, 3]")["markers"] == {"[1]", "[3]"}


class Friendly:
    def restyle(self, draft: str) -> str:
        return "Hi there! " + draft.replace("Refunds are issued", "You'll get your refund") + " Cheers!"


class Sloppy:
    def restyle(self, draft: str) -> str:
        return draft.replace("14", "fourteen")


class Broken:
    def restyle(self, draft: str) -> str:
        raise TimeoutError("model server down")


def test_apply_style_outcomes() -> None:
    assert isinstance(Friendly(), StyleAdapter)
    assert apply_style(NoStyle(), DRAFT) == (DRAFT, "unchanged")
    text, reason = apply_style(Friendly(), DRAFT)
    assert reason == "restyled" and text.startswith("Hi there!") and "[2]" in text
    assert apply_style(Sloppy(), DRAFT)[0] == DRAFT
    assert apply_style(Broken(), DRAFT) == (DRAFT, "adapter failed (TimeoutError)")


# -- the call site: DraftService.compose ---------------------------------------------------------

def _service(sample_runtime, settings, tmp_path: Path, style: StyleAdapter | None) -> DraftService:  # type: ignore[no-untyped-def]
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    return DraftService(answers=sample_runtime.answers, retriever=sample_runtime.retriever,
                        events=state.events, drafts=state.drafts, desks={}, settings=settings, style=style)


TICKET = Ticket(provider=Provider.ZENDESK, id="5", subject="Refund", customer_waiting=True, message_id="1",
                message="How long does it take to get a refund for a voided USPS label?")


class Greeter:
    def restyle(self, draft: str) -> str:
        return f"Hello!\n{draft}\nBest regards"


class NumberChanger:
    def restyle(self, draft: str) -> str:
        return draft.replace("[1]", "[9]")


def test_compose_uses_the_adapter_when_the_guard_allows(sample_runtime, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = _service(sample_runtime, settings, tmp_path, None).compose(TICKET)
    styled = _service(sample_runtime, settings, tmp_path, Greeter()).compose(TICKET)
    assert not plain.abstained and plain.style == "unchanged" and plain.text == plain.answer.text
    assert styled.style == "restyled" and styled.text == f"Hello!\n{plain.text}\nBest regards"
    rejected = _service(sample_runtime, settings, tmp_path, NumberChanger()).compose(TICKET)
    assert rejected.text == plain.text and "missing markers" in rejected.style and "added markers: [9]" in rejected.style
    # Customer-facing text comes from public knowledge only; related tickets are internal tickets.
    assert all(c.audience.value == "public" for c in plain.answer.citations)
    assert plain.related and all(r.doc_id.startswith("sample-tickets:") for r in plain.related)


# -- signatures and parsing (pure functions, injected clock) -------------------------------------

SECRET = "s3cret"
NOW = 1_713_374_290.0  # 2024-04-17T17:18:10Z


def _zd_sig(body: bytes, ts: str) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()


def test_zendesk_signature_window() -> None:
    body, ts = b'{"ticket_id": 1}', "2024-04-17T17:18:10Z"
    verify_zendesk(body, signature=_zd_sig(body, ts), timestamp=ts, secret=SECRET, clock=lambda: NOW + 299)
    for now in (NOW + 301, NOW - 301):  # too old, and from the future
        with pytest.raises(SignatureError, match="stale"):
            verify_zendesk(body, signature=_zd_sig(body, ts), timestamp=ts, secret=SECRET, clock=lambda n=now: n)
    with pytest.raises(SignatureError, match="bad"):
        verify_zendesk(body + b" ", signature=_zd_sig(body, ts), timestamp=ts, secret=SECRET, clock=lambda: NOW)
    with pytest.raises(SignatureError, match="unreadable"):
        verify_zendesk(body, signature=_zd_sig(body, "yesterday"), timestamp="yesterday", secret=SECRET, clock=lambda: NOW)


def test_intercom_and_shared_secret() -> None:
    body = b'{"topic": "ping"}'
    verify_intercom(body, signature="sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest(), secret=SECRET)
    with pytest.raises(SignatureError):
        verify_intercom(body, signature="sha1=" + hmac.new(b"other", body, hashlib.sha1).hexdigest(), secret=SECRET)
    verify_shared_secret(SECRET, secret=SECRET)
    with pytest.raises(SignatureError):
        verify_shared_secret(SECRET + "x", secret=SECRET)


def test_parse_zendesk_trigger_body_and_invocation_id() -> None:
    body, ts = b'{"ticket_id": "#123"}', "2024-04-17T17:18:10Z"
    headers = {"X-Zendesk-Webhook-Signature": _zd_sig(body, ts), "X-Zendesk-Webhook-Signature-Timestamp": ts,
               "X-Zendesk-Webhook-Invocation-Id": "inv-77"}
    event = parse_zendesk(headers, body, secret=SECRET, clock=lambda: NOW)
    assert event is not None and (event.ticket_id, event.event_id, event.kind.value) == ("123", "inv-77", "wake_up")
    assert event.key == "helpdesk:zendesk:event:inv-77:ticket:123"


def test_parse_freshdesk_reads_only_a_numeric_ticket_id() -> None:
    event = parse_freshdesk({"X-Helpdesk-Webhook-Secret": SECRET}, b'{"freshdesk_webhook": {"ticket_id": "88"}}', {},
                            secret=SECRET)
    assert event.ticket_id == "88" and event.event_id is None and event.key is None
    with pytest.raises(PayloadError):
        parse_freshdesk({"X-Helpdesk-Webhook-Secret": SECRET}, b'{"ticket_id": "../../admin"}', {}, secret=SECRET)


# -- the drafts table ----------------------------------------------------------------------------

def test_drafts_are_recorded(tmp_path: Path) -> None:
    state = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    try:
        first = state.drafts.record_draft(provider="zendesk", ticket_id="7", source_event="helpdesk:zendesk:event:e1:ticket:7",
                                   note_id="9001", confidence=0.61, abstained=False)
        state.drafts.record_draft(provider="zendesk", ticket_id="7", source_event="cli", note_id=None, confidence=0.2,
                           abstained=True)
        state.drafts.record_draft(provider="intercom", ticket_id="7", source_event="x", note_id="1", confidence=0.5,
                           abstained=False)
        rows = state.drafts.drafts_for("zendesk", "7")
        assert [r.id for r in rows][0] == first and [(r.note_id, r.abstained) for r in rows] == [("9001", False), (None, True)]
        assert rows[0].confidence == pytest.approx(0.61) and rows[0].created_at is not None
        assert [r.provider for r in state.drafts.recent_drafts(2)] == ["intercom", "zendesk"]
    finally:
        state.close()
