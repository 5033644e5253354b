"""The slash command: usage, admin-only subcommands, ``ask`` with "share in channel"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.models import Audience
from bot.slack import render
from bot.state import StateStore
from bot.sync.service import SourceStatus, SyncService
from bot.sync.sources import Schedule, SourceConfig
from connectors.files import FilesConnectorSettings
from tests.fakes.slack_server import FakeSlack
from tests.support.slack import (
    ADMIN,
    AGENT_CHANNEL,
    ASKER,
    CUSTOMER_CHANNEL,
    RESET_LINK,
    RESET_Q,
    Payloads,
    RecordingAnswers,
    SlackHarness,
    all_text,
    slack_parts,
)


class Syncs(SyncService):
    """The real service (source validation, resync requests in the state store) with canned status rows."""

    rows: list[SourceStatus] = []

    def status(self) -> list[SourceStatus]:
        self.status_calls = getattr(self, "status_calls", 0) + 1
        return self.rows


def _no_indexer() -> Any:
    raise AssertionError("the admin commands never sync in this process: they only ask the scheduler")


@pytest.fixture
def syncs(state: StateStore, tmp_path: Path) -> Syncs:
    sources = [SourceConfig(name=n, type="files", schedule=Schedule(),
                            settings=FilesConnectorSettings(name=n, path=tmp_path)) for n in ("help-center", "tickets")]
    s = Syncs(sources, ledger=state.ledger, indexer=_no_indexer)
    s.rows = [
        SourceStatus(name="help-center", type="files", schedule="every 60 min",
                     last_run=datetime(2026, 10, 1, 11, 0, tzinfo=UTC), last_status="ok", docs=48, lag_s=7200.0,
                     last_error=None),
        SourceStatus(name="tickets", type="zendesk", schedule="every 15 min",
                     last_run=datetime(2026, 10, 1, 11, 50, tzinfo=UTC), last_status="failed", docs=0, lag_s=None,
                     last_error="AuthError: the <!channel> token was rejected"),
    ]
    return s


@pytest.fixture
def cmd_harness(harness_factory, answers: RecordingAnswers, state: StateStore, syncs: Syncs):  # type: ignore[no-untyped-def]
    def make(**overrides: Any) -> SlackHarness:
        return harness_factory(slack_parts(answers, state, syncs), **overrides)

    return make


def test_help_and_unknown_subcommands_are_answered_in_the_ack(
    cmd_harness, slack: FakeSlack, payloads: Payloads  # type: ignore[no-untyped-def]
) -> None:
    h = cmd_harness()
    for text in ("", "help"):
        resp = h.send_form(payloads.command(text))
        assert resp.status_code == 200
        assert "/helpdesk ask <question>" in resp.text
    resp = h.send_form(payloads.command("<!channel> now"))
    assert "I don't know the subcommand `&lt;!channel&gt;`" in resp.text
    assert "<!channel>" not in resp.text
    resp = h.send_form(payloads.command("ask"))
    assert "Ask a question after `ask`" in resp.text
    assert slack.hooks == []


@pytest.mark.parametrize("sub", ["status", "sources", "resync", "resync help-center"])
def test_non_admins_get_an_ephemeral_refusal(
    sub: str, cmd_harness, slack: FakeSlack, payloads: Payloads, syncs: Syncs, state: StateStore  # type: ignore[no-untyped-def]
) -> None:
    h = cmd_harness()
    resp = h.send_form(payloads.command(sub, user=ASKER))
    assert resp.status_code == 200 and resp.content == b""
    hook = slack.wait_for_hooks()[0]
    assert hook.json["response_type"] == "ephemeral"
    assert hook.json["text"].startswith(":no_entry: Only helpdesk admins can run `/helpdesk")
    assert getattr(syncs, "status_calls", 0) == 0
    assert state.ledger.take_resync_requests() == []


def test_admin_resync_one_source_and_all(
    cmd_harness, slack: FakeSlack, payloads: Payloads, state: StateStore  # type: ignore[no-untyped-def]
) -> None:
    h = cmd_harness()
    h.send_form(payloads.command("resync help-center", user=ADMIN))
    hook = slack.wait_for_hooks()[0]
    assert "Resync requested for `help-center`" in hook.json["text"]
    assert state.ledger.take_resync_requests() == [("help-center", False)]

    h.send_form(payloads.command("resync", user=ADMIN))
    assert "`help-center`, `tickets`" in slack.wait_for_hooks(2)[1].json["text"]
    assert sorted(state.ledger.take_resync_requests()) == [("help-center", False), ("tickets", False)]

    h.send_form(payloads.command("resync nope", user=ADMIN))
    assert "no source named 'nope'" in slack.wait_for_hooks(3)[2].json["text"]


def test_admin_status_and_sources(cmd_harness, slack: FakeSlack, payloads: Payloads) -> None:  # type: ignore[no-untyped-def]
    h = cmd_harness()
    h.send_form(payloads.command("status", user=ADMIN))
    text = slack.wait_for_hooks()[0].json["text"]
    assert "`help-center` (files, every 60 min): last sync 2026-10-01 11:00 UTC, ok, 48 docs, lag 2h" in text
    assert "`tickets` (zendesk, every 15 min): last sync 2026-10-01 11:50 UTC, failed, 0 docs, lag -" in text
    assert "AuthError: the &lt;!channel&gt; token was rejected" in text  # errors are escaped too

    h.send_form(payloads.command("sources", user=ADMIN))
    text = slack.wait_for_hooks(2)[1].json["text"]
    assert "*Sources* (2)" in text and "• `help-center`: files, every 60 min" in text


def test_admins_from_a_user_group(cmd_harness, slack: FakeSlack, payloads: Payloads) -> None:  # type: ignore[no-untyped-def]
    slack.usergroups["S0ADMINS"] = ["U0GROUPY"]
    h = cmd_harness(slack_admin_users="", slack_admin_usergroup="S0ADMINS")
    h.send_form(payloads.command("sources", user="U0GROUPY"))
    assert "*Sources*" in slack.wait_for_hooks()[0].json["text"]
    h.send_form(payloads.command("sources", user=ASKER))
    assert ":no_entry:" in slack.wait_for_hooks(2)[1].json["text"]
    lookups = slack.calls_to("usergroups.users.list")
    assert len(lookups) == 1 and lookups[0].args["usergroup"] == "S0ADMINS"  # cached between commands


def test_user_group_lookup_failure_denies(cmd_harness, slack: FakeSlack, payloads: Payloads) -> None:  # type: ignore[no-untyped-def]
    h = cmd_harness(slack_admin_users="", slack_admin_usergroup="S0MISSING")
    h.send_form(payloads.command("status", user="U0GROUPY"))
    assert ":no_entry:" in slack.wait_for_hooks()[0].json["text"]


def test_ask_answers_ephemerally_and_share_posts_in_the_channel(
    cmd_harness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers  # type: ignore[no-untyped-def]
) -> None:
    h = cmd_harness()
    resp = h.send_form(payloads.command(f"ask {RESET_Q}", channel=CUSTOMER_CHANNEL))
    assert resp.status_code == 200
    hook = slack.wait_for_hooks()[0].json
    assert hook["response_type"] == "ephemeral" and hook["replace_original"] is False
    assert answers.calls == [(RESET_Q, Audience.CUSTOMER, [])]
    ephemeral = all_text(hook)
    assert "Click *Forgot password?*" in ephemeral and "[1] " + RESET_LINK in ephemeral
    assert "Includes internal sources" not in ephemeral  # a customer channel: public articles only
    actions = next(b for b in hook["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [render.ACTION_SHARE, render.ACTION_HELPFUL,
                                                             render.ACTION_NOT_HELPFUL]
    share = actions["elements"][0]
    assert json.loads(share["value"]) == {"q": RESET_Q}
    assert slack.calls_to("chat.postMessage") == []  # nothing public yet

    h.send_form(payloads.action(render.ACTION_SHARE, share["value"], channel=CUSTOMER_CHANNEL, ephemeral=True))
    post = slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == CUSTOMER_CHANNEL and "thread_ts" not in post
    assert post["blocks"][0]["elements"][0]["text"] == f"<@{ASKER}> shared an answer from the knowledge base:"
    shared = all_text(post)
    assert "[1] " + RESET_LINK in shared and "Click *Forgot password?*" in shared
    assert answers.calls[1] == (RESET_Q, Audience.CUSTOMER, [])  # decided again, same audience
    first, again = answers.answered(RESET_Q)
    assert again.text == first.text  # the same real answer the asker saw, now in the channel
    assert slack.wait_for_hooks(2)[1].json["delete_original"] is True  # the ephemeral answer goes away


def test_share_where_the_bot_is_not_a_member_explains(
    cmd_harness, slack: FakeSlack, payloads: Payloads  # type: ignore[no-untyped-def]
) -> None:
    slack.channels[AGENT_CHANNEL]["is_member"] = False
    h = cmd_harness()
    h.send_form(payloads.action(render.ACTION_SHARE, json.dumps({"q": "reset password"}), ephemeral=True))
    hook = slack.wait_for_hooks()[0].json
    assert "invite me first" in hook["text"] and hook["response_type"] == "ephemeral"
