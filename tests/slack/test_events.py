"""Mentions, DMs, thread follow-ups, rendering on the wire, feedback and 429 retries, over real HTTP.

Every answer comes from the real answer service over the bundled sample knowledge base; an LLM
endpoint, where one is needed, is the local FakeOpenAI server.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bot.answer.retriever import Retriever
from bot.answer.service import AnswerService
from bot.errors import StoreError
from bot.index.server_store import ServerStore
from bot.models import Answer, AnswerReason, Audience
from bot.slack import render
from bot.state import StateStore
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.qdrant_server import FakeQdrant
from tests.fakes.slack_server import BOT_ID, BOT_USER_ID, FakeSlack
from tests.support.slack import (
    ABSTAIN_WORDS,
    AGENT_CHANNEL,
    ASKER,
    CARRIER_CANARY,
    CARRIER_Q,
    CONNECT_CHANNEL,
    CUSTOMER_CHANNEL,
    DM_CHANNEL,
    OFF_TOPIC_Q,
    RESET_LINK,
    RESET_Q,
    RESET_URL,
    WEBHOOK_Q,
    Payloads,
    RecordingAnswers,
    SlackHarness,
    all_text,
    llm_answers,
    slack_parts,
)


def _sources(post: dict[str, Any]) -> str:
    return next(b["text"]["text"] for b in post["blocks"] if b["type"] == "section" and "*Sources*" in b["text"]["text"])


def test_mention_reacts_answers_in_thread_with_sources_and_buttons(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    event = payloads.mention(RESET_Q)
    ts = event["event"]["ts"]

    resp = harness.send_event(event)
    assert resp.status_code == 200

    slack.wait_for("reactions.remove")
    assert [m for m in slack.methods() if m not in ("conversations.info", "auth.test")] == [
        "reactions.add", "chat.postMessage", "reactions.remove"]
    # Bolt's start-up token check, and once for the workspace URL the questions log's links are built on.
    assert slack.methods().count("auth.test") == 2 and slack.methods()[0] == "auth.test"
    added, removed = slack.calls_to("reactions.add")[0], slack.calls_to("reactions.remove")[0]
    assert {k: added.args[k] for k in ("channel", "timestamp", "name")} == {
        "channel": AGENT_CHANNEL, "timestamp": ts, "name": "hourglass_flowing_sand"}
    assert removed.args == added.args
    assert answers.calls == [(RESET_Q, Audience.AGENT, [])]
    [answer] = answers.answered(RESET_Q)
    assert not answer.abstained and answer.citations[0].title == "Reset your password"

    post = slack.calls_to("chat.postMessage")[0].args
    assert post["channel"] == AGENT_CHANNEL
    assert post["thread_ts"] == ts
    assert post["unfurl_links"] is False
    blocks = post["blocks"]
    assert blocks[0]["type"] == "section" and blocks[0]["text"]["verbatim"] is True
    # The article's own steps, Markdown bold turned into Slack's, each sentence cited.
    assert "Click *Forgot password?*" in blocks[0]["text"]["text"] and "[1]" in blocks[0]["text"]["text"]
    assert "**" not in blocks[0]["text"]["text"]
    # reset-your-password.md is dated 2026-09-14; the harness clock says 2026-10-01 12:00 UTC.
    assert f"[1] {RESET_LINK} · sample-articles · updated 17 days ago" in _sources(post)
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [render.ACTION_HELPFUL, render.ACTION_NOT_HELPFUL]
    assert actions["elements"][0]["value"] == actions["elements"][1]["value"]
    assert post["text"].startswith("1. Go to the sign-in page")  # the notification preview


def test_mention_in_a_thread_uses_the_thread_as_context(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    parent = slack.add_message(AGENT_CHANNEL, "1759200000.000100", "Merchant can't log in to Parcelly, forgot the password")
    slack.add_message(AGENT_CHANNEL, "1759200001.000100", "they use <https://shop.example|their shop> login",
                      thread_ts=parent["ts"])
    event = payloads.mention("what should they do?", thread_ts=parent["ts"], ts="1759200002.000100")
    slack.add_message(AGENT_CHANNEL, "1759200002.000100", event["event"]["text"], thread_ts=parent["ts"])

    harness.send_event(event)

    post = slack.wait_for("chat.postMessage")[0].args
    assert post["thread_ts"] == parent["ts"]
    assert answers.calls == [("what should they do?", Audience.AGENT,
                              ["Merchant can't log in to Parcelly, forgot the password", "they use their shop login"])]
    replies = slack.calls_to("conversations.replies")[0].args
    assert replies["channel"] == AGENT_CHANNEL and replies["ts"] == parent["ts"]
    # On its own "what should they do?" finds nothing; with the thread it is about signing in.
    assert answers.real.answer("what should they do?", Audience.AGENT).abstained
    [answer] = answers.answered("what should they do?")
    assert not answer.abstained and "password" in answer.text.lower()
    assert "[1]" in all_text(post) and "password" in _sources(post).lower()


def test_thread_follow_up_without_a_tag_is_answered_where_the_bot_answered(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    first = payloads.mention(RESET_Q)
    thread_ts = first["event"]["ts"]
    slack.add_message(AGENT_CHANNEL, thread_ts, first["event"]["text"])
    harness.send_event(first)
    slack.wait_for("reactions.remove")  # the bot's reply is now in the fake's thread

    follow_up = payloads.message("and how long is the link valid?", thread_ts=thread_ts)
    slack.add_message(AGENT_CHANNEL, follow_up["event"]["ts"], "and how long is the link valid?", thread_ts=thread_ts)
    assert harness.send_event(follow_up).status_code == 200

    posts = slack.wait_for("chat.postMessage", 2)
    assert posts[1].args["thread_ts"] == thread_ts
    assert answers.calls[1] == ("and how long is the link valid?", Audience.AGENT, [RESET_Q])
    follow_up_text = all_text(posts[1].args)
    assert "valid for *60 minutes*" in follow_up_text and "Reset your password" in follow_up_text
    slack.wait_for("reactions.remove", 2)


def test_thread_messages_where_the_bot_did_not_answer_and_channel_chatter_are_ignored(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    parent = slack.add_message(AGENT_CHANNEL, "1759200100.000100", "lunch?")
    reply = payloads.message("sure", thread_ts=parent["ts"])
    slack.add_message(AGENT_CHANNEL, reply["event"]["ts"], "sure", thread_ts=parent["ts"])
    top_level = payloads.message(RESET_Q)

    assert harness.send_event(reply).status_code == 200
    assert harness.send_event(top_level).status_code == 200
    slack.wait_for("conversations.replies")
    harness.drain()  # every listener these two events started has finished
    assert answers.calls == []
    assert slack.calls_to("chat.postMessage") == []


def test_direct_message_is_answered_once_even_if_it_also_mentions_the_bot(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    dm = payloads.message(WEBHOOK_Q, channel=DM_CHANNEL, channel_type="im")
    harness.send_event(dm)
    post = slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == DM_CHANNEL
    assert "thread_ts" not in post  # a DM is answered in the conversation itself
    assert answers.calls == [(WEBHOOK_Q, Audience.AGENT, [])]
    [answer] = answers.answered(WEBHOOK_Q)
    assert answer.citations and all("webhook" in c.title.lower() for c in answer.citations)
    assert "[1]" in all_text(post) and "signature" in all_text(post).lower()
    assert f"|{answer.citations[0].title}" in _sources(post)

    # The same message delivered as an app_mention too (another event id): still one answer.
    again = payloads.mention(WEBHOOK_Q, channel=DM_CHANNEL, ts=dm["event"]["ts"])
    harness.send_event(again)
    harness.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(answers.calls) == 1


def test_own_other_bots_and_edited_messages_are_ignored(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    other_bot = payloads.bot_message("@helpdesk ping")
    own = payloads.message("I am the bot", user=BOT_USER_ID, channel=DM_CHANNEL, channel_type="im")
    own["event"]["bot_id"] = BOT_ID
    bot_mention = payloads.mention("hello from a bot")
    bot_mention["event"]["bot_id"] = "B999"
    edited = payloads.message_changed(channel=DM_CHANNEL)

    for event in (other_bot, own, bot_mention, edited):
        assert harness.send_event(event).status_code == 200
    harness.drain()
    assert answers.calls == []
    assert [m for m in slack.methods() if m != "auth.test"] == []


def test_audience_per_channel(harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers) -> None:
    for i, channel in enumerate((CUSTOMER_CHANNEL, CONNECT_CHANNEL, AGENT_CHANNEL), start=1):
        harness.send_event(payloads.mention(CARRIER_Q, channel=channel))
        slack.wait_for("reactions.remove", i)
    assert {c[1] for c in answers.calls} == {Audience.CUSTOMER, Audience.AGENT}
    by_channel = {p.args["channel"]: p.args for p in slack.calls_to("chat.postMessage")}
    assert set(by_channel) == {CUSTOMER_CHANNEL, CONNECT_CHANNEL, AGENT_CHANNEL}
    audiences = [a for _, a, _ in answers.calls]
    assert audiences.count(Audience.CUSTOMER) == 2 and audiences.count(Audience.AGENT) == 1
    # Real retrieval decides what each audience can read: the internal runbook reaches agents only.
    for channel in (CUSTOMER_CHANNEL, CONNECT_CHANNEL):
        text = all_text(by_channel[channel])
        assert CARRIER_CANARY not in text and "Includes internal sources" not in text
    # Only the internal runbook answers it: customers are told so, not given a public near-miss.
    customer = [r for (_, aud, _), r in answers.outcomes if aud is Audience.CUSTOMER]
    assert len(customer) == 2
    for answer in customer:
        assert isinstance(answer, Answer) and answer.abstained and answer.reason is AnswerReason.ONLY_INTERNAL and not answer.citations
    agent = all_text(by_channel[AGENT_CHANNEL])
    assert f"#{CARRIER_CANARY}" in agent and "Escalating carrier outages (agents only)" in agent
    assert "Includes internal sources" in agent
    # The listed channel is known without asking Slack; the others were looked up once each.
    looked_up = [c.args["channel"] for c in slack.calls_to("conversations.info")]
    assert sorted(looked_up) == sorted([CONNECT_CHANNEL, AGENT_CHANNEL])


def test_event_flag_for_slack_connect_wins_over_a_stale_cache(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    harness.send_event(payloads.mention(CARRIER_Q))
    slack.wait_for("reactions.remove")
    harness.send_event(payloads.mention(CARRIER_Q, ext_shared=True))
    slack.wait_for("reactions.remove", 2)
    assert [a for _, a, _ in answers.calls] == [Audience.AGENT, Audience.CUSTOMER]
    first, second = (all_text(p.args) for p in slack.calls_to("chat.postMessage"))
    assert f"#{CARRIER_CANARY}" in first  # the channel was internal, the runbook may be quoted
    assert CARRIER_CANARY not in second and "[1]" not in second  # now Slack Connect: public articles only,
    # and they do not answer it: the customer is told to ask a person.


def test_abstention_says_so_and_points_to_a_human(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, answers: RecordingAnswers
) -> None:
    harness.send_event(payloads.mention(OFF_TOPIC_Q))
    post = slack.wait_for("chat.postMessage")[0].args
    [answer] = answers.answered(OFF_TOPIC_Q)
    assert answer.abstained and not answer.citations and ABSTAIN_WORDS in answer.text
    text = all_text(post)
    assert "I don't know" in text and "[1]" not in text and "*Sources*" not in text
    assert "<!subteam^S0SUPPORT|support-leads>" in text  # the configured hand-off (trusted markup)
    assert not any(b["type"] == "actions" for b in post["blocks"])


def test_empty_question_and_a_failing_answer_get_a_reply_and_the_reaction_is_removed(
    harness_factory, sample_runtime, state: StateStore, slack: FakeSlack, payloads: Payloads  # type: ignore[no-untyped-def]
) -> None:
    real = sample_runtime.retriever
    with FakeQdrant(collections=[name for name, _ in real.collections_for(Audience.AGENT)]) as qdrant:
        # The real service over a Qdrant server that is up but fails every query (HTTP 500).
        store = ServerStore(qdrant.url, timeout_s=5)
        try:
            retriever = Retriever(store=store, embedder=real.embedder, sparse=real.sparse, params=real.params,
                                  collection_prefix=real.prefix)
            answers = RecordingAnswers(AnswerService(retriever=retriever, handoff=sample_runtime.answers.handoff))
            harness = harness_factory(slack_parts(answers, state))
            harness.send_event(payloads.mention(""))
            harness.send_event(payloads.mention(RESET_Q))
            posts = slack.wait_for("chat.postMessage", 2)
            slack.wait_for("reactions.remove", 2)
        finally:
            store.close()
        qdrant_url = qdrant.url
    texts = sorted(all_text(p.args) for p in posts)
    assert any("the question is empty" in t for t in texts)  # the real service's InputError, as a notice
    assert any("couldn't answer this just now" in t for t in texts)
    outcomes = dict((q, r) for (q, _, _), r in answers.outcomes)
    assert isinstance(outcomes[RESET_Q], StoreError) and qdrant.error in str(outcomes[RESET_Q])
    for t in texts:  # what went wrong inside stays inside
        assert qdrant.error not in t and "corrupted" not in t and qdrant_url not in t and "500" not in t
    # It really asked the server (the collection's recorded embedding model first, then the searches).
    assert any(r.path.startswith(f"/collections/{real.prefix}_") for r in qdrant.requests)


def test_a_failing_llm_endpoint_falls_back_to_the_extractive_answer(
    harness_factory, sample_runtime, state: StateStore, slack: FakeSlack, payloads: Payloads,  # type: ignore[no-untyped-def]
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.status = 500
    answers = RecordingAnswers(llm_answers(sample_runtime, openai_fake))
    harness = harness_factory(slack_parts(answers, state))
    harness.send_event(payloads.mention(RESET_Q))
    post = slack.wait_for("chat.postMessage")[0].args
    assert len(openai_fake.requests) == 1  # the composer was asked, and failed
    [answer] = answers.answered(RESET_Q)
    assert answer.composer == "extractive (fallback from openai)" and not answer.abstained
    text = all_text(post)
    assert "Click *Forgot password?*" in text and RESET_LINK in text
    assert any(b["type"] == "actions" for b in post["blocks"])


def test_feedback_click_is_stored_acknowledged_and_tallied(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads, state  # type: ignore[no-untyped-def]
) -> None:
    harness.send_event(payloads.mention(RESET_Q))
    post = slack.wait_for("chat.postMessage")[0]
    answer_id = next(b for b in post.args["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    posted = slack.thread(AGENT_CHANNEL, post.args["thread_ts"])[-1]

    t = time.monotonic()
    resp = harness.send_form(payloads.action(render.ACTION_HELPFUL, answer_id, message=posted))
    assert resp.status_code == 200 and time.monotonic() - t < 1.0
    hook = slack.wait_for_hooks()[0]
    assert hook.json["response_type"] == "ephemeral" and hook.json["replace_original"] is False
    assert "Thanks" in hook.json["text"]
    update = slack.wait_for("chat.update")[0].args
    assert update["channel"] == AGENT_CHANNEL and update["ts"] == posted["ts"]
    tally = next(b for b in update["blocks"] if b.get("block_id") == render.TALLY_BLOCK_ID)
    assert tally["elements"][0]["text"] == ":thumbsup: 1  :thumbsdown: 0"

    harness.send_form(payloads.action(render.ACTION_NOT_HELPFUL, answer_id, user="U0OTHER1", message=posted))
    slack.wait_for("chat.update", 2)
    rows = state.feedback.feedback_for(answer_id)
    assert [(r.user, r.helpful, r.surface) for r in rows] == [(ASKER, True, "slack"), ("U0OTHER1", False, "slack")]


def test_post_message_rate_limited_is_retried_after_retry_after(
    harness: SlackHarness, slack: FakeSlack, payloads: Payloads
) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    harness.send_event(payloads.mention(RESET_Q))
    posts = slack.wait_for("chat.postMessage", timeout_s=15)
    attempts = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # waited Retry-After
    assert posts[0].args["thread_ts"]


def test_chat_update_rate_limited_is_retried(harness: SlackHarness, slack: FakeSlack, payloads: Payloads) -> None:
    harness.send_event(payloads.mention(RESET_Q))
    post = slack.wait_for("chat.postMessage")[0]
    answer_id = next(b for b in post.args["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    posted = slack.thread(AGENT_CHANNEL, post.args["thread_ts"])[-1]
    slack.rate_limit("chat.update", times=1, retry_after=0)
    harness.send_form(payloads.action(render.ACTION_HELPFUL, answer_id, message=posted))
    slack.wait_for("chat.update", timeout_s=15)
    assert [c.status for c in slack.calls if c.method == "chat.update"] == [429, 200]


def test_long_answers_are_split_at_slack_limits(
    harness_factory, sample_runtime, state: StateStore, slack: FakeSlack, payloads: Payloads,  # type: ignore[no-untyped-def]
    openai_fake: FakeOpenAI,
) -> None:
    long_text = "\n\n".join(f"Step {i}: " + "open the settings page and check the value " * 12 + "[1]."
                            for i in range(400))
    openai_fake.reply = lambda body: long_text  # a very long-winded LLM; retrieval and checks are real
    answers = RecordingAnswers(llm_answers(sample_runtime, openai_fake))
    harness = harness_factory(slack_parts(answers, state))
    harness.send_event(payloads.mention(RESET_Q))
    slack.wait_for("reactions.remove", timeout_s=15)
    [answer] = answers.answered(RESET_Q)
    assert answer.composer == "openai" and [c.title for c in answer.citations] == ["Reset your password"]
    posts = [c.args for c in slack.calls_to("chat.postMessage")]
    assert len(posts) >= 2
    for p in posts:
        assert len(p["blocks"]) <= render.MESSAGE_BLOCKS_MAX
        for b in p["blocks"]:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= render.SECTION_TEXT_MAX
    assert all(p["thread_ts"] == posts[0]["thread_ts"] for p in posts)
    assert any(b["type"] == "actions" for b in posts[-1]["blocks"])
    assert not any(b["type"] == "actions" for p in posts[:-1] for b in p["blocks"])
    assert f"<{RESET_URL}|Reset your password" in _sources(posts[-1])
    body = json.dumps(posts)
    assert "Step 0:" in body and "Step 399:" in body
