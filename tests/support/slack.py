"""The Slack harness: the fake Web API, the real answer path, signed requests over real HTTP to the ASGI app.

Payloads start from the shapes recorded in ../shared/fixtures/slack (bolt-python's own test
payloads) and change only the fields a test is about. Answers come from the real ``AnswerService``
over the bundled sample knowledge base (``sample_runtime``); an LLM endpoint, where a test needs
one, is the local FakeOpenAI server.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from bot.answer.llm import OpenAIComposer
from bot.answer.service import AnswerService
from bot.models import Answer, Audience
from bot.serve import HttpServer, asgi_app
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.transport import slack_events_route
from bot.slack.webapi import build_client
from bot.state import StateStore
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack
from tests.support.executor import DrainableExecutor

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)

AGENT_CHANNEL = "C0AGENT1"  # an internal support channel
CUSTOMER_CHANNEL = "C0CUST01"  # listed in HELPDESK_SLACK_CUSTOMER_CHANNELS
CONNECT_CHANNEL = "C0CONN01"  # a Slack Connect channel (is_ext_shared)
DM_CHANNEL = "D0DM0001"
ASKER = "U0ASKER1"
ADMIN = "U0ADMIN1"

RESET_URL = "https://help.parcelly.example/articles/reset-your-password"
#: How the password article is cited: title and the section quoted from.
RESET_LINK = f"<{RESET_URL}|Reset your password › Reset a forgotten password>"

# Questions over the bundled sample knowledge base (bot/sample_kb/) that sample_runtime holds; the
# extractive composer answers them deterministically.
RESET_Q = "How do I reset my password?"  # cites "Reset your password" (RESET_URL)
WEBHOOK_Q = "How do I verify the signature of a Parcelly webhook?"
SHOPIFY_Q = "How can I connect my Shopify store?"
OFF_TOPIC_Q = "What is the boiling point of tungsten on Mars?"  # nothing relevant: abstains
# Answered from the internal runbook escalating-carrier-outages.md for agents only: customers never
# see "#carrier-escalations".
CARRIER_Q = "Which Slack channel do I post in to escalate a carrier outage?"
CARRIER_CANARY = "carrier-escalations"
#: bot/answer/service.py's words when retrieval finds nothing confident.
ABSTAIN_WORDS = "I found nothing in the knowledge base that answers this confidently"

_ids = itertools.count(1)


def fixture_json(shared: Path, name: str) -> dict[str, Any]:
    return json.loads((shared / "fixtures/slack/bolt_python_test_payloads" / name).read_text(encoding="utf-8"))


# --- answers ---------------------------------------------------------------------------------
@dataclass
class RecordingAnswers:
    """A spy around a real :class:`AnswerService`: records each call, then calls the real ``answer()``.

    ``calls`` holds ``(question, audience, history)``; ``outcomes`` pairs each call with what the
    real service returned (an :class:`Answer`) or raised.
    """

    real: AnswerService
    calls: list[tuple[str, Audience, list[str]]] = field(default_factory=list)
    outcomes: list[tuple[tuple[str, Audience, list[str]], Answer | Exception]] = field(default_factory=list)

    def answer(self, question: str, audience: Audience, history: Sequence[str] = ()) -> Answer:
        call = (question, audience, list(history))
        self.calls.append(call)
        try:
            result = self.real.answer(question, audience, history)
        except Exception as exc:
            self.outcomes.append((call, exc))
            raise
        self.outcomes.append((call, result))
        return result

    def answered(self, question: str) -> list[Answer]:
        """The real answers given to ``question`` (in the order they finished)."""
        return [r for (q, _, _), r in self.outcomes if q == question and isinstance(r, Answer)]


def llm_answers(sample_runtime: Any, fake: FakeOpenAI, *, timeout_s: float = 12.0) -> AnswerService:
    """The real answer service over the sample KB, composing with the real OpenAI composer against ``fake``."""
    real = sample_runtime.answers
    composer = OpenAIComposer(model="m", api_key="sk-test", base_url=f"{fake.url}/v1", timeout_s=timeout_s,
                              max_retries=0)
    return AnswerService(retriever=sample_runtime.retriever, composer=composer, min_confidence=real.min_confidence,
                         handoff=real.handoff)


# --- signing ----------------------------------------------------------------------------------
def sign(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers exactly as Slack signs a request: v0 HMAC-SHA256 over ``v0:{ts}:{raw body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


# --- payloads ---------------------------------------------------------------------------------
class Payloads:
    def __init__(self, shared: Path, slack: FakeSlack) -> None:
        self.shared = shared
        self.slack = slack
        self._mention = fixture_json(shared, "events_api/test_app__app_mention_event_body.json")
        self._message = fixture_json(shared, "events_api/test_message_bot__user_message_event_payload.json")
        self._bot_message = fixture_json(shared, "events_api/test_message_bot__bot_message_event_payload.json")
        self._changed = fixture_json(shared, "events_api/test_message_changed__event_payload.json")
        self._action = fixture_json(shared, "interactivity/test_block_actions__body.json")
        self._command = (shared / "fixtures/slack/bolt_python_test_payloads/slash_commands/"
                         "test_slash_command__slash_command_body.txt").read_text(encoding="utf-8").strip()

    @staticmethod
    def new_ts() -> str:
        return f"{1_759_300_000 + next(_ids)}.000200"

    def _envelope(self, base: dict[str, Any], event: dict[str, Any], event_id: str | None,
                  ext_shared: bool) -> dict[str, Any]:
        body = copy.deepcopy(base)
        body["event"].update(event)
        body["event"] = {k: v for k, v in body["event"].items() if v is not None}
        body.update(team_id="T111", api_app_id="A111", event_id=event_id or f"Ev{next(_ids):08d}",
                    is_ext_shared_channel=ext_shared)
        return body

    def mention(self, text: str, *, channel: str = AGENT_CHANNEL, user: str = ASKER, ts: str | None = None,
                thread_ts: str | None = None, event_id: str | None = None, ext_shared: bool = False) -> dict[str, Any]:
        ts = ts or self.new_ts()
        return self._envelope(self._mention, {"text": f"<@{BOT_USER_ID}> {text}", "user": user, "channel": channel,
                                              "ts": ts, "event_ts": ts, "thread_ts": thread_ts, "team": "T111"},
                              event_id, ext_shared)

    def message(self, text: str, *, channel: str = AGENT_CHANNEL, user: str = ASKER, ts: str | None = None,
                thread_ts: str | None = None, channel_type: str = "channel", event_id: str | None = None,
                ) -> dict[str, Any]:
        ts = ts or self.new_ts()
        body = self._envelope(self._message, {"text": text, "user": user, "channel": channel, "ts": ts,
                                              "event_ts": ts, "thread_ts": thread_ts, "channel_type": channel_type,
                                              "team": "T111"}, event_id, False)
        body["event"].pop("blocks", None)
        return body

    def bot_message(self, text: str, *, channel: str = AGENT_CHANNEL, thread_ts: str | None = None) -> dict[str, Any]:
        ts = self.new_ts()
        return self._envelope(self._bot_message, {"text": text, "channel": channel, "ts": ts, "event_ts": ts,
                                                  "thread_ts": thread_ts}, None, False)

    def message_changed(self, *, channel: str = AGENT_CHANNEL) -> dict[str, Any]:
        ts = self.new_ts()
        return self._envelope(self._changed, {"channel": channel, "ts": ts, "event_ts": ts}, None, False)

    def command(self, text: str, *, user: str = ASKER, channel: str = AGENT_CHANNEL,
                command: str = "/helpdesk") -> str:
        fields = dict(parse_qsl(self._command))
        fields.update(command=command, text=text, user_id=user, channel_id=channel, team_id="T111",
                      response_url=self.slack.response_url(f"commands/T111/{next(_ids)}/cmd"))
        return urlencode(fields)

    def action(self, action_id: str, value: str, *, user: str = ASKER, channel: str = AGENT_CHANNEL,
               message: dict[str, Any] | None = None, ephemeral: bool = False) -> str:
        body = copy.deepcopy(self._action)
        body["user"].update(id=user, team_id="T111")
        body["team"]["id"] = "T111"
        body["channel"]["id"] = channel
        body["container"].update(channel_id=channel, is_ephemeral=ephemeral,
                                 message_ts=(message or {}).get("ts", body["container"]["message_ts"]))
        body["actions"][0].update(action_id=action_id, value=value, block_id="helpdesk_feedback")
        body["response_url"] = self.slack.response_url(f"actions/T111/{next(_ids)}/act")
        if message is not None:
            body["message"] = message
        return urlencode({"payload": json.dumps(body)})


# --- the running app --------------------------------------------------------------------------
def slack_parts(answers: Any, state: StateStore, syncs: Any = None) -> dict[str, Any]:
    """The parts :func:`bot.slack.app.build_app` takes: a real answer service (or a :class:`RecordingAnswers`
    around one), this test's own state store's event claims and feedback log, and a sync service."""
    return {"answers": answers, "events": state.events, "feedback": state.feedback, "syncs": syncs}


class SlackHarness:
    """The Bolt app behind uvicorn on 127.0.0.1, with a client that signs like Slack.

    Its listeners run on :attr:`executor`; :meth:`drain` waits for all of them.
    """

    def __init__(self, parts: dict[str, Any], settings: Settings, slack: FakeSlack) -> None:
        self.slack = slack
        self.settings = settings
        self.executor = DrainableExecutor()
        client = build_client(settings, base_url=slack.api_url)  # the production client, pointed at the fake
        self.app = build_app(settings, **parts, client=client, now=lambda: NOW, listener_executor=self.executor)
        self.server = HttpServer(asgi_app([slack_events_route(self.app)]), host="127.0.0.1", port=0).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=15)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.executor.shutdown(wait=True)

    def drain(self) -> None:
        """Wait until every listener the requests sent so far started has finished."""
        self.executor.drain()

    def post(self, body: bytes, headers: dict[str, str], content_type: str) -> httpx.Response:
        return self.http.post("/slack/events", content=body, headers={**headers, "Content-Type": content_type})

    def send_event(self, payload: dict[str, Any], *, retry_num: int | None = None) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = sign(body)
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        return self.post(body, headers, "application/json")

    def send_form(self, form: str) -> httpx.Response:
        body = form.encode()
        return self.post(body, sign(body), "application/x-www-form-urlencoded")


def slack_settings(tmp_path: Path, slack: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp_path / "data", slack_bot_token=slack.token, slack_signing_secret=SIGNING_SECRET,
        slack_mode="http", slack_customer_channels=CUSTOMER_CHANNEL, slack_admin_users=ADMIN,
        slack_handoff="<!subteam^S0SUPPORT|support-leads>",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def strings_in(node: Any) -> list[str]:
    """Every string in a JSON-like tree (Block Kit blocks), depth first."""
    if isinstance(node, str):
        return [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return [text for child in children for text in strings_in(child)]


def all_text(call_args: dict[str, Any]) -> str:
    """Everything a person could read in a posted message: text and every string in its blocks."""
    return "\n".join([str(call_args.get("text", "")), *strings_in(call_args.get("blocks") or [])])
