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
from bot.models import Audience
from bot.state import StateStore
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.support.slack import (
    RESET_Q,
    RESET_URL,
    SIGNING_SECRET,
    Payloads,
    RecordingAnswers,
    SlackHarness,
    all_text,
    llm_answers,
    sign,
    slack_parts,
)


def _no_listener_ran(harness: SlackHarness, slack: FakeSlack, answers: RecordingAnswers) -> None:
    harness.drain()  # anything a request started has finished by now
    assert harness.executor.submitted == 0  # ... and nothing was started at all
    assert answers.calls == []
    assert slack.methods() == ["auth.test"]  # only the start-up token check
    assert slack.hooks == []


@pytest.mark.parametrize("case", ["forged", "reserialized", "no_headers", "no_signature", "no_timestamp", "stale",
                                  "future", "garbage_signature"])
def test_bad_requests_are_rejected_with_401_and_nothing_runs(
    case: str, harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers,
    state: StateStore,
) -> None:
    event = payloads.mention(RESET_Q)
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
    _no_listener_ran(harness, slack, answers)
    assert state.events.claim_event(f"slack:{event['event_id']}")  # our middleware never saw it


def test_forged_command_and_action_are_rejected(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    for form in (payloads.command(f"ask {RESET_Q}"), payloads.action("helpdesk_share", '{"q":"x"}')):
        body = form.encode()
        resp = harness.post(body, sign(body, secret="wrong"), "application/x-www-form-urlencoded")
        assert resp.status_code == 401
    _no_listener_ran(harness, slack, answers)


def test_a_correctly_signed_request_within_five_minutes_is_accepted(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads
) -> None:
    body = json.dumps(payloads.mention(RESET_Q)).encode()
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
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    event = payloads.mention(RESET_Q)
    statuses = [harness.send_event(event, retry_num=n).status_code for n in (None, 1, 2)]
    assert statuses == [200, 200, 200]
    slack.wait_for("reactions.remove")
    harness.drain()
    assert len(answers.calls) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(slack.calls_to("reactions.add")) == 1


def test_redeliveries_across_two_instances_sharing_the_state_store_are_answered_once(
    harness_factory, sample_runtime, slack: FakeSlack, payloads: Payloads, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = f"sqlite:///{tmp_path / 'shared-state.db'}"
    state_a, state_b = StateStore(url), StateStore(url)  # two processes' views of one database
    answers_a, answers_b = RecordingAnswers(sample_runtime.answers), RecordingAnswers(sample_runtime.answers)
    a = harness_factory(slack_parts(answers_a, state_a))
    b = harness_factory(slack_parts(answers_b, state_b))
    event = payloads.mention(RESET_Q)
    results: list[int] = []

    def deliver(h: SlackHarness, retry: int | None) -> None:
        results.append(h.send_event(event, retry_num=retry).status_code)

    threads = [threading.Thread(target=deliver, args=(h, r)) for h, r in ((a, None), (b, 1), (a, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slack.wait_for("reactions.remove")
    a.drain()
    b.drain()
    try:
        assert results == [200, 200, 200]
        assert len(answers_a.calls) + len(answers_b.calls) == 1
        assert len(slack.calls_to("chat.postMessage")) == 1
        assert "Reset your password" in all_text(slack.calls_to("chat.postMessage")[0].args)
    finally:
        state_a.close()
        state_b.close()


#: How long the LLM endpoint holds each request. The acks must not wait for it: each is checked
#: to come back in under a second, and to be back while the endpoint still holds the request.
SLOW_COMPOSER_S = 4.0


def test_a_slow_answer_still_acks_fast(
    harness_factory, sample_runtime, state: StateStore, slack: FakeSlack, payloads: Payloads,  # type: ignore[no-untyped-def]
    openai_fake: FakeOpenAI,
) -> None:
    # Real parts end to end: the real service and OpenAI composer, an LLM endpoint that is slow.
    openai_fake.delay_s = SLOW_COMPOSER_S
    openai_fake.reply = lambda body: "Click **Forgot password?** on the sign-in page [1]."
    answers = RecordingAnswers(llm_answers(sample_runtime, openai_fake, timeout_s=12))
    harness = harness_factory(slack_parts(answers, state))

    started = t = time.monotonic()
    resp = harness.send_event(payloads.mention(RESET_Q))
    mention_ack_s = time.monotonic() - t
    t = time.monotonic()
    cmd = harness.send_form(payloads.command(f"ask {RESET_Q}"))
    command_ack_s = time.monotonic() - t
    assert resp.status_code == 200 and cmd.status_code == 200
    assert mention_ack_s < 1.0 and command_ack_s < 1.0
    slack.wait_for("reactions.add")
    for _ in range(200):  # both answers are now waiting on the LLM endpoint
        if len(openai_fake.requests) == 2:
            break
        time.sleep(0.02)
    assert len(openai_fake.requests) == 2
    assert time.monotonic() - started < SLOW_COMPOSER_S  # the endpoint still holds the first request
    assert slack.calls_to("chat.postMessage") == [] and slack.hooks == []  # still answering, already acknowledged

    post = slack.wait_for("chat.postMessage", timeout_s=15)[0].args
    hook = slack.wait_for_hooks(timeout_s=15)[0].json
    assert time.monotonic() - started >= SLOW_COMPOSER_S  # the answers did wait for the slow composer
    for message in (post, hook):
        text = all_text(message)
        assert "Click *Forgot password?* on the sign-in page [1]" in text
        assert f"<{RESET_URL}|Reset your password" in text
    assert {a.composer for a in answers.answered(RESET_Q)} == {"openai"}
    assert [a for _, a, _ in answers.calls] == [Audience.AGENT, Audience.AGENT]
    prompts = [r.json["messages"][-1]["content"] for r in openai_fake.requests]
    assert all(f"<question>\n{RESET_Q}\n</question>" in p and 'title="Reset your password"' in p for p in prompts)


def test_logs_hold_no_tokens_secrets_or_message_text(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    question = "zebra-unicorn-7731: I can't sign in, how do I request a refund by email?"
    # The real answer quotes the article "Request a subscription refund", whose example invoice
    # number is as unmistakable in a log as the question's marker.
    secret_answer = "PCI-2026-004512"
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
        harness.drain()
    finally:
        structlog.configure(**old)
    captured = capsys.readouterr()
    logs = "\n".join([captured.out, captured.err, caplog.text, *(r.getMessage() for r in caplog.records)])
    assert "slack_answer" in logs  # the capture works: our own events are there
    assert "answered" in logs  # ... and the answer service's, which really ran
    posted = [all_text(c.args) for c in slack.calls_to("chat.postMessage")] + [all_text(h.json) for h in slack.hooks]
    assert len(posted) == 2 and all(secret_answer in text for text in posted)  # it was answered, and shown
    for forbidden in (slack.token, SIGNING_SECRET, "zebra-unicorn-7731", secret_answer):
        assert forbidden not in logs
