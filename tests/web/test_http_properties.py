"""Every HTTP endpoint answers a stranger with a 4xx, never a 5xx, and runs nothing for them (hypothesis).

One process's routes as ``serve --role web`` mounts them (``/slack/events``, the three webhooks,
``/admin/*``, ``/healthz``, ``/readyz``, ``/metrics``), served by uvicorn on 127.0.0.1 and driven
over real HTTP with generated methods, headers (timestamps with non-ASCII digits, signatures of
any shape, cookies, forwarded-for) and bodies (bytes, broken and deeply nested JSON, forms whose
``payload=`` is not JSON). Unsigned requests must never reach a listener: no Bolt listener
submitted, no answer computed, no draft submitted. Correctly signed bodies of any shape must not
cause a 5xx either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.process import FD_SECRET, IC_SECRET, SLACK_SECRET, ZD_SECRET, WebProcess, web_process

#: Examples per property (HELPDESK_FUZZ_EXAMPLES=5000 for a deeper hunt by hand).
EXAMPLES = int(os.environ.get("HELPDESK_FUZZ_EXAMPLES", "300"))
PATHS = ["/slack/events", "/webhooks/zendesk", "/webhooks/intercom", "/webhooks/freshdesk", "/admin", "/admin/",
         "/admin/login", "/admin/logout", "/admin/questions", "/admin/gaps", "/admin/health", "/admin/health/check",
         "/admin/drafts",
         "/admin/sources/docs/resync", "/healthz", "/readyz", "/metrics"]
HEADERS = ["X-Slack-Request-Timestamp", "X-Slack-Signature", "X-Slack-Retry-Num", "X-Zendesk-Webhook-Signature",
           "X-Zendesk-Webhook-Signature-Timestamp", "X-Zendesk-Webhook-Invocation-Id", "X-Hub-Signature",
           "X-Helpdesk-Webhook-Secret", "Content-Type", "Origin", "Cookie", "X-Forwarded-For", "X-Forwarded-Proto"]


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory, embedder: Any, sample_runtime: Any) -> Iterator[WebProcess]:
    with web_process(tmp_path_factory.mktemp("fuzz"), embedder=embedder, sample_runtime=sample_runtime) as p:
        yield p


# --- what strangers send -----------------------------------------------------------------------
def _wire(value: str) -> bytes:
    """A header value's bytes: latin-1 where it can be (the server reads "²" back as "²"), else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


#: Header values as bytes on the wire: anything HTTP lets through (no CR, LF, NUL), latin-1 included.
_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
_header_value = st.one_of(
    _header_text,
    st.sampled_from(["²", "١٢٣", "-1", "+5", "1e3", " 12 ", "9" * 40, "0", "NaN", "v0=", "sha1=",
                     "application/json", "application/x-www-form-urlencoded", "null", "http://[::1",
                     "http://evil.example", "helpdesk_admin=a.b", "helpdesk_admin=é.ü",
                     "2026-13-45T99:99:99Z", "9999-12-31T23:59:59+14:00"]),
    st.builds(lambda: str(int(time.time()))),
    st.builds(lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"v0={h}"),
).map(lambda v: _wire(v.strip()))

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_slackish = st.fixed_dictionaries({"type": st.sampled_from(["event_callback", "url_verification", "block_actions",
                                                            "shortcut", "view_submission", "x"])},
                                  optional={"event": _json_value, "event_id": _json_value, "challenge": _json_value,
                                            "ticket_id": _json_value, "topic": _json_value, "token": st.text(max_size=8),
                                            "actions": _json_value, "user": _json_value})
_body = st.one_of(
    st.binary(max_size=600),
    _json_value.map(lambda v: json.dumps(v).encode()),
    _slackish.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=50, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=50, max_value=5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.text(max_size=200).map(lambda t: ("payload=" + t).encode("utf-8", "surrogatepass")),
    st.sampled_from([b"payload=%7Bnot-json", b"payload=[1,2]", b"payload=%5B%5D", b"token=legacy&text=hi&command=/helpdesk",
                     b'{"type": "event_callback", "event": "not-an-object"}', b"\xff\xfe\x00{", b"{", b""]),
)
_request = st.fixed_dictionaries({
    "method": st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE"]),
    "path": st.sampled_from(PATHS),
    "query": st.sampled_from(["", "?ticket_id=42", "?ticket_id=²", "?requested=docs&id=²", "?started=²", "?%ff=%fe"]),
    "headers": st.dictionaries(st.sampled_from(HEADERS), _header_value, max_size=6),
    "body": _body,
})


def _send(p: WebProcess, req: dict[str, Any], extra: dict[str, str] | None = None) -> httpx.Response:
    headers = [(k.encode(), v) for k, v in req["headers"].items()] + [(k.encode(), v.encode()) for k, v in
                                                                      (extra or {}).items()]
    return p.http.request(req["method"], req["path"] + req["query"], content=req["body"], headers=headers)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(req=_request)
def test_strangers_get_a_4xx_never_a_5xx_and_nothing_runs(process: WebProcess, req: dict[str, Any]) -> None:
    resp = _send(process, req)
    assert resp.status_code < 500, (req, resp.status_code, resp.text[:300])
    process.executor.drain()
    assert process.executor.submitted == 0  # no Bolt ack or listener ran for an unsigned request ...
    assert process.answers.calls == []  # ... nothing was answered ...
    assert process.drafts.submitted == []  # ... and nothing was handed to the drafting desk
    assert process.slack.methods() == ["auth.test"]  # only the start-up token check ever reached Slack


def test_the_findings_of_the_issue_each_answer_a_4xx(process: WebProcess) -> None:
    """The requests that answered 500 before, one by one (the generated suite covers their neighbours)."""
    cases = [
        ("/slack/events", b'{"type": "event_callback", "event": {', {"Content-Type": "application/json"}),
        ("/slack/events", b"payload=%7Bnot-json", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("/slack/events", b"{}", {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}),
    ]
    for path, body, headers in cases:
        resp = process.http.post(path, content=body, headers=headers)
        assert resp.status_code == 401, (path, body, resp.status_code)  # refused before the body is read
    zd = process.http.post("/webhooks/zendesk", content=b"{}",
                           headers=[(b"X-Zendesk-Webhook-Signature", b"x"),
                                    (b"X-Zendesk-Webhook-Signature-Timestamp", "²".encode("latin-1"))])
    assert zd.status_code == 401
    deep = b'{"ticket_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = process.http.post("/webhooks/zendesk", content=deep, headers=_signed("/webhooks/zendesk", deep))
    assert resp.status_code == 400 and "nested deeper" in resp.json()["error"]
    resp = process.http.post("/slack/events", content=deep, headers={**_signed("/slack/events", deep),
                                                                        "Content-Type": "application/json"})
    assert resp.status_code == 400
    process.executor.drain()
    assert process.executor.submitted == 0 and process.drafts.submitted == []


def _signed(path: str, body: bytes) -> dict[str, str]:
    if path == "/slack/events":
        ts = str(int(time.time()))
        sig = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}"}
    if path == "/webhooks/zendesk":
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sig = base64.b64encode(hmac.new(ZD_SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
        return {"X-Zendesk-Webhook-Signature": sig, "X-Zendesk-Webhook-Signature-Timestamp": ts}
    if path == "/webhooks/intercom":
        return {"X-Hub-Signature": "sha1=" + hmac.new(IC_SECRET.encode(), body, hashlib.sha1).hexdigest()}
    return {"X-Helpdesk-Webhook-Secret": FD_SECRET}


@settings(max_examples=EXAMPLES * 2 // 3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(path=st.sampled_from(["/slack/events", "/webhooks/zendesk", "/webhooks/intercom", "/webhooks/freshdesk"]),
       body=_body, content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                                  "text/plain", ""]))
def test_correctly_signed_bodies_of_any_shape_never_cause_a_5xx(process: WebProcess, path: str, body: bytes,
                                                                  content_type: str) -> None:
    headers = {**_signed(path, body), "Content-Type": content_type}
    resp = process.http.post(path, content=body, headers=headers)
    assert resp.status_code < 500, (path, body[:200], resp.status_code, resp.text[:300])
    process.executor.drain()


def test_a_stranger_and_a_signed_request_side_by_side(process: WebProcess, shared_dir: Path) -> None:
    """The control: the same process does answer a correctly signed event (the suite above is not vacuous)."""
    from tests.support.slack import Payloads

    process.slack.add_channel("C0AGENT1", "support-team")
    body = json.dumps(Payloads(shared_dir, process.slack).mention("How do I reset my password?")).encode()
    resp = process.http.post("/slack/events", content=body,
                             headers={**_signed("/slack/events", body), "Content-Type": "application/json"})
    assert resp.status_code == 200
    process.executor.drain()
    assert process.executor.submitted > 0 and len(process.answers.calls) == 1
    process.slack.wait_for("chat.postMessage")
