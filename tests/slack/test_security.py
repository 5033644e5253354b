"""Ingress safety: Slack signatures, redelivered events, fast acks, and logs free of secrets and text."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
import structlog

from bot.logging import configure_logging
from bot.state import StateStore
from tests.fakes.slack_server import FakeSlack
from tests.slack.conftest import (
    SIGNING_SECRET,
    Payloads,
    SlackHarness,
    StubAnswers,
    sign,
    stub_runtime,
)


def _no_listener_ran(slack: FakeSlack, answers: StubAnswers) -> None:
    time.sleep(0.3)  # anything started would have reached the fake by now
    assert answers.calls == []
    assert slack.methods() == ["auth.test"]  # only the start-up token check
    assert slack.hooks == []


@pytest.mark.parametrize("case", ["forged", "reserialized", "no_headers", "no_signature", "no_timestamp", "stale",
                                  "future", "garbage_signature"])
def test_bad_requests_are_rejected_with_401_and_nothing_runs(
    case: str, harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: StubAnswers,
    state: StateStore,
) -> None:
    event = payloads.mention("How do I reset my password?")
    body = json.dumps(event).encode()
    headers = sign(body)
    if case == "forged":
        headers = sign(body, secret="not-the-signing-secret")
    elif case == "reserialized":
        body = json.dumps(event, indent=1, sort_keys=True).encode()  # same JSON, different bytes
    elif case == "no_headers":
        headers = {}
    elif case == "no_signature":
        del headers["X-Slack-Signature"]
    elif case == "no_timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif case == "stale":
        headers = sign(body, timestamp=int(time.time()) - 5 * 60 - 5)  # correctly signed, too old
    elif case == "future":
        headers = sign(body, timestamp=int(time.time()) + 5 * 60 + 5)
    elif case == "garbage_signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64

    resp = harness.post(body, headers, "application/json")

    assert resp.status_code == 401
    _no_listener_ran(slack, answers)
    assert state.claim_event(f"slack:{event['event_id']}")  # our middleware never saw it


def test_forged_command_and_action_are_rejected(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: StubAnswers
) -> None:
    for form in (payloads.command("ask How do I reset my password?"), payloads.action("helpdesk_share", '{"q":"x"}')):
        body = form.encode()
        resp = harness.post(body, sign(body, secret="wrong"), "application/x-www-form-urlencoded")
        assert resp.status_code == 401
    _no_listener_ran(slack, answers)


def test_a_correctly_signed_request_within_five_minutes_is_accepted(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads
) -> None:
    body = json.dumps(payloads.mention("How do I reset my password?")).encode()
    resp = harness.post(body, sign(body, timestamp=int(time.time()) - 4 * 60), "application/json")
    assert resp.status_code == 200
    slack.wait_for("chat.postMessage")


def test_url_verification_health_and_oversized_bodies(harness: SlackHarness) -> None:
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    resp = harness.post(body, sign(body), "application/json")
    assert resp.status_code == 200
    assert resp.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert harness.post(body, sign(body, secret="wrong"), "application/json").status_code == 401

    health = harness.http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    huge = b"x" * 1_000_001
    assert harness.post(huge, sign(huge), "application/json").status_code == 413


def test_the_same_event_delivered_three_times_is_answered_once(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: StubAnswers
) -> None:
    event = payloads.mention("How do I reset my password?")
    statuses = [harness.send_event(event, retry_num=n).status_code for n in (None, 1, 2)]
    assert statuses == [200, 200, 200]
    slack.wait_for("reactions.remove")
    time.sleep(0.3)
    assert len(answers.calls) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(slack.calls_to("reactions.add")) == 1


def test_redeliveries_across_two_instances_sharing_the_state_store_are_answered_once(
    harness_factory, slack: FakeSlack, payloads: Payloads, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = f"sqlite:///{tmp_path / 'shared-state.db'}"
    state_a, state_b = StateStore(url), StateStore(url)  # two processes' views of one database
    answers_a, answers_b = StubAnswers(), StubAnswers()
    a = harness_factory(stub_runtime(answers_a, state_a))
    b = harness_factory(stub_runtime(answers_b, state_b))
    event = payloads.mention("How do I reset my password?")
    results: list[int] = []

    def deliver(h: SlackHarness, retry: int | None) -> None:
        results.append(h.send_event(event, retry_num=retry).status_code)

    threads = [threading.Thread(target=deliver, args=(h, r)) for h, r in ((a, None), (b, 1), (a, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slack.wait_for("reactions.remove")
    time.sleep(0.3)
    try:
        assert results == [200, 200, 200]
        assert len(answers_a.calls) + len(answers_b.calls) == 1
        assert len(slack.calls_to("chat.postMessage")) == 1
    finally:
        state_a.close()
        state_b.close()


def test_a_slow_answer_still_acks_fast(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: StubAnswers
) -> None:
    answers.gate = threading.Event()  # answer() blocks (up to 10 s) until released: a slow composer
    try:
        t = time.monotonic()
        resp = harness.send_event(payloads.mention("How do I reset my password?"))
        mention_ack_s = time.monotonic() - t
        t = time.monotonic()
        cmd = harness.send_form(payloads.command("ask How do I reset my password?"))
        command_ack_s = time.monotonic() - t
        assert resp.status_code == 200 and cmd.status_code == 200
        assert mention_ack_s < 1.0 and command_ack_s < 1.0
        slack.wait_for("reactions.add")
        assert slack.calls_to("chat.postMessage") == []  # still answering, already acknowledged
    finally:
        answers.gate.set()
    slack.wait_for("chat.postMessage")
    slack.wait_for_hooks()


def test_logs_hold_no_tokens_secrets_or_message_text(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: StubAnswers,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.slack.conftest import RESET_ANSWER

    question = "Where is the zebra-unicorn-7731 refund form?"
    secret_answer = "The quokka-banana-4411 form lives under Settings [1]."
    answers.reply = lambda q, a, h: RESET_ANSWER.model_copy(update={"text": secret_answer})
    old = structlog.get_config()
    configure_logging("DEBUG", "json")
    caplog.set_level(logging.DEBUG)
    try:
        slack.rate_limit("chat.postMessage", times=1, retry_after=0)
        harness.send_event(payloads.mention(question))
        harness.send_form(payloads.command(f"ask {question}"))
        body = json.dumps(payloads.mention(question)).encode()
        harness.post(body, sign(body, secret="forged"), "application/json")  # logged as a failed verification
        slack.wait_for("reactions.remove")
        slack.wait_for_hooks()
        time.sleep(0.2)
    finally:
        structlog.configure(**old)
    captured = capsys.readouterr()
    logs = "\n".join([captured.out, captured.err, caplog.text, *(r.getMessage() for r in caplog.records)])
    assert "slack_answer" in logs  # the capture works: our own events are there
    for forbidden in (slack.token, SIGNING_SECRET, "zebra-unicorn-7731", "quokka-banana-4411"):
        assert forbidden not in logs
