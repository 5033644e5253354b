"""deploy/slack-app-manifest.yml asks for exactly the events and scopes the app uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import BoltRequest
from slack_sdk import WebClient

from bot.slack import app as slack_app
from bot.slack import render
from bot.slack.transport import SLACK_EVENTS_PATH
from tests.fakes.slack_server import FakeSlack
from tests.support.slack import ADMIN, AGENT_CHANNEL, Payloads, SlackHarness, sign

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "slack-app-manifest.yml"

#: Scopes per Web API method and per event, from Slack's method and event reference pages.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "reactions.add": {"reactions:write"},
    "reactions.remove": {"reactions:write"},
    "conversations.info": {"channels:read", "groups:read", "im:read", "mpim:read"},
    "conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "usergroups.users.list": {"usergroups:read"},
    "users.info": {"users:read"},
}
EVENT_SCOPES: dict[str, set[str]] = {
    "app_mention": {"app_mentions:read"},
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.im": {"im:history"},
    "message.mpim": {"mpim:history"},
}
#: Manifest event name → the channel_type of the ``message`` event Slack sends for it.
MESSAGE_CHANNEL_TYPES = {"message.channels": "channel", "message.groups": "group", "message.im": "im",
                         "message.mpim": "mpim"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def methods_in_code() -> set[str]:
    """Web API methods the Slack package calls: every ``client.<method>`` that is a WebClient method."""
    found = set()
    for path in (ROOT / "bot" / "slack").glob("*.py"):
        for name in re.findall(r"client\.([a-z]+_[A-Za-z_]+)\b", path.read_text(encoding="utf-8")):
            if callable(getattr(WebClient, name, None)):
                found.add(name.replace("_", "."))
    return found | {"auth.test"}  # Bolt's start-up token check


def test_scopes_are_exactly_those_of_the_methods_and_events_used(manifest: dict[str, Any]) -> None:
    used = methods_in_code()
    assert used == {"auth.test", "chat.postMessage", "chat.update", "reactions.add", "reactions.remove",
                    "conversations.info", "conversations.replies", "usergroups.users.list"}
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    needed = set().union(*(METHOD_SCOPES[m] for m in used), *(EVENT_SCOPES[e] for e in events), {"commands"})
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(needed)
    assert "user" not in manifest["oauth_config"]["scopes"]  # no user token, no user scopes


def test_calls_made_in_a_full_flow_are_covered_by_the_scan(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads
) -> None:
    first = payloads.mention("How do I reset my password?")
    slack.add_message(AGENT_CHANNEL, first["event"]["ts"], first["event"]["text"])
    harness.send_event(first)
    post = slack.wait_for("chat.postMessage")[0]
    follow = payloads.message("and then?", thread_ts=first["event"]["ts"])
    slack.add_message(AGENT_CHANNEL, follow["event"]["ts"], "and then?", thread_ts=first["event"]["ts"])
    harness.send_event(follow)
    answer_id = next(b for b in post.args["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    harness.send_form(payloads.action(render.ACTION_HELPFUL, answer_id,
                                      message=slack.thread(AGENT_CHANNEL, first["event"]["ts"])[1]))
    harness.send_form(payloads.command("status", user="U0NOBODY"))
    slack.wait_for("chat.update")
    slack.wait_for("chat.postMessage", 2)
    assert set(slack.methods()) <= methods_in_code()


def test_events_in_the_manifest_are_the_ones_the_app_listens_to(
    manifest: dict[str, Any], harness: SlackHarness, payloads: Payloads
) -> None:
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {e.split(".")[0] for e in events} == set(slack_app.EVENTS)
    assert set(events) == {"app_mention", *MESSAGE_CHANNEL_TYPES}

    def dispatch(body: dict[str, Any]) -> int:
        raw = json.dumps(body)
        headers = {k: [v] for k, v in sign(raw.encode()).items()} | {"content-type": ["application/json"]}
        return harness.app.dispatch(BoltRequest(body=raw, headers=headers)).status

    for event in events:
        if event == "app_mention":
            body = payloads.mention("hi")
        else:
            body = payloads.message("hi", channel_type=MESSAGE_CHANNEL_TYPES[event])
        assert dispatch(body) == 200, event
    unsubscribed = payloads.message("hi")
    unsubscribed["event"] = {"type": "reaction_added", "user": "U0ASKER1", "reaction": "thumbsup",
                             "item": {"type": "message", "channel": AGENT_CHANNEL, "ts": "1.2"}, "event_ts": "1.3"}
    assert dispatch(unsubscribed) == 404  # no listener: the manifest must not subscribe to it either


def test_command_interactivity_and_urls(manifest: dict[str, Any], harness: SlackHarness, payloads: Payloads) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == harness.settings.slack_command == "/helpdesk"
    assert harness.send_form(payloads.command("help", user=ADMIN)).status_code == 200
    assert harness.send_form(payloads.command("help", command="/other")).status_code == 404
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    for url in (command["url"], manifest["settings"]["event_subscriptions"]["request_url"],
                manifest["settings"]["interactivity"]["request_url"]):
        assert url.endswith(SLACK_EVENTS_PATH)
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True  # DMs reach the bot
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False
