"""The log stream in JSON mode is pure JSON and holds no secret and no message text.

Rejected and accepted requests of each kind (Slack events, commands, interactions; each webhook;
the admin login) carrying known secrets and known text go to one web process over real HTTP,
with logging configured as ``helpdesk-bot`` configures it (JSON, DEBUG); a warm-up failure and an
exception with a credential in its message are logged too. Every line written to stderr must
parse as one JSON object, and none of the planted values may appear in it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog

from bot.runtime import Runtime
from bot.serve import _warm
from tests.support.logs import configured_logging
from tests.support.process import FD_SECRET, IC_SECRET, SLACK_SECRET, ZD_SECRET, WebProcess, web_process
from tests.support.slack import AGENT_CHANNEL, Payloads, fixture_json
from tests.support.web import ADMIN_TOKEN, CSRF_FIELD, web_settings

TEXT = "zebra-unicorn-7731"  # what a person wrote
LEGACY_TOKEN = "LegacyVerif-5c1d9e"  # Slack's legacy verification token, in forms and payloads
FILE_TITLE = "Quarterly-Payroll-9911.xlsx"
FILE_PREVIEW = "preview-secret-4410"
TICKET_SUBJECT = "Kiwi-Lemon-3321"
WRONG_ADMIN_TOKEN = "Admin-Guess-8812-xyz"
WRONG_FD_SECRET = "fd-guess-7766"
QDRANT_PASSWORD = "Qd-pass-4242"
EXCEPTION_SECRET = "xoxb-99999999-exception-token"


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory, embedder: Any, sample_runtime: Any) -> Iterator[WebProcess]:
    with web_process(tmp_path_factory.mktemp("logs"), embedder=embedder, sample_runtime=sample_runtime) as p:
        p.slack.add_channel(AGENT_CHANNEL, "support-team")
        yield p


def _slack_headers(body: bytes, *, secret: str = SLACK_SECRET, content_type: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}", "Content-Type": content_type}


def _drive_every_kind(p: WebProcess, shared: Path) -> None:
    payloads = Payloads(shared, p.slack)
    # Events: a mention and a message with a shared file, each forged and genuine.
    mention = payloads.mention(f"How do I reset my password? {TEXT}")
    mention["token"] = LEGACY_TOKEN
    with_file = payloads.message(f"see attached {TEXT}")
    with_file["token"] = LEGACY_TOKEN
    with_file["event"].update(subtype="file_share", files=[{"id": "F1", "title": FILE_TITLE, "preview": FILE_PREVIEW,
                                                            "name": FILE_TITLE}])
    for event in (mention, with_file):
        body = json.dumps(event).encode()
        for secret in ("forged-secret", SLACK_SECRET):
            p.http.post("/slack/events", content=body, headers=_slack_headers(body, secret=secret,
                                                                               content_type="application/json"))
    # A slash command and an interaction (payload=), with the legacy token, forged and genuine.
    command = payloads.command(f"ask {TEXT}").replace("token=", f"token={LEGACY_TOKEN}&old=", 1)
    action = fixture_json(shared, "interactivity/test_block_actions__body.json")
    action = copy.deepcopy(action)
    action["token"] = LEGACY_TOKEN
    action["actions"][0].update(action_id="helpdesk_feedback_helpful", value=TEXT)
    interaction = urlencode({"payload": json.dumps(action)})
    for form in (command, interaction):
        body = form.encode()
        for secret in ("forged-secret", SLACK_SECRET):
            p.http.post("/slack/events", content=body,
                        headers=_slack_headers(body, secret=secret, content_type="application/x-www-form-urlencoded"))
    # Webhooks: each forged and genuine, carrying text.
    zd_body = json.dumps({"ticket_id": 42, "subject": TICKET_SUBJECT, "comment": TEXT}).encode()
    for secret in ("wrong-zd-secret", ZD_SECRET):
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sig = base64.b64encode(hmac.new(secret.encode(), ts.encode() + zd_body, hashlib.sha256).digest()).decode()
        p.http.post("/webhooks/zendesk", content=zd_body, headers={"X-Zendesk-Webhook-Signature": sig,
                                                                   "X-Zendesk-Webhook-Signature-Timestamp": ts,
                                                                   "Content-Type": "application/json"})
    ic_body = json.dumps({"topic": "conversation.user.created", "id": "notif_1", "data": {"item": {
        "id": "123", "source": {"body": TEXT}}}}).encode()
    for secret in ("wrong-ic-secret", IC_SECRET):
        sig = "sha1=" + hmac.new(secret.encode(), ic_body, hashlib.sha1).hexdigest()
        p.http.post("/webhooks/intercom", content=ic_body, headers={"X-Hub-Signature": sig})
    for secret in (WRONG_FD_SECRET, FD_SECRET):
        p.http.post("/webhooks/freshdesk", content=json.dumps({"ticket_id": 7, "description": TEXT}).encode(),
                    headers={"X-Helpdesk-Webhook-Secret": secret})
    # The admin login: a wrong token, then the right one.
    for token in (WRONG_ADMIN_TOKEN, ADMIN_TOKEN):
        nonce = CSRF_FIELD.search(p.http.get("/admin/login").text)
        assert nonce
        p.http.post("/admin/login", data={"csrf": nonce.group(1), "token": token})
    p.executor.drain()
    p.slack.wait_for("chat.postMessage")  # the genuine mention was answered


def test_the_json_log_stream_is_pure_json_without_secrets_or_text(
        process: WebProcess, shared_dir: Path, tmp_path: Path, embedder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with configured_logging("DEBUG", "json"):
        _drive_every_kind(process, shared_dir)
        # A warm-up that cannot reach a Qdrant server whose URL carries a password.
        qdrant_url = f"http://svc:{QDRANT_PASSWORD}@127.0.0.1:9"
        with Runtime(web_settings(tmp_path, qdrant_url=qdrant_url, qdrant_timeout_s=1), embedder=embedder) as rt:
            _warm(rt, answers=True)
        # An exception whose message quotes a token and a URL password, logged with its traceback.
        try:
            raise RuntimeError(f"upstream said {EXCEPTION_SECRET} for http://u:{QDRANT_PASSWORD}@db/x")
        except RuntimeError:
            structlog.get_logger("bot.test").exception("something_failed")
        process.drafts.wait(timeout=30)
    stream = capsys.readouterr().err
    lines = [line for line in stream.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object: nothing else is mixed in
    assert all(isinstance(r, dict) and "event" in r and "level" in r for r in records)
    events = {r["event"] for r in records}
    # The capture is real: each kind of request was logged ...
    assert {"slack_request_rejected", "slack_answer", "helpdesk_webhook_rejected", "helpdesk_webhook_accepted",
            "admin_login_failed", "admin_login", "warm_up_failed", "something_failed"} <= events, events
    assert any("Traceback" in r.get("exception", "") for r in records)  # ... tracebacks inside a field
    # ... and none of the planted values is in it.
    for planted in (TEXT, LEGACY_TOKEN, FILE_TITLE, FILE_PREVIEW, TICKET_SUBJECT, WRONG_ADMIN_TOKEN, ADMIN_TOKEN,
                    WRONG_FD_SECRET, FD_SECRET, ZD_SECRET, IC_SECRET, SLACK_SECRET, process.slack.token,
                    QDRANT_PASSWORD, EXCEPTION_SECRET, "How do I reset my password"):
        assert planted not in stream, planted
