"""Knowledge health in Slack: every question logged with its reason and a link to its thread; ``/helpdesk gaps``."""

from __future__ import annotations

from typing import Any

from bot.health.gaps import GapFinder
from bot.state import StateStore
from bot.web.metrics import MeteredAnswerService, Metrics
from tests.fakes.slack_server import FakeSlack
from tests.support.slack import ADMIN, AGENT_CHANNEL, ASKER, OFF_TOPIC_Q, RESET_Q, Payloads, slack_parts

WORKSPACE = "https://parcelly.slack.com/"  # what the fake's auth.test answers, as Slack's does


def _logged(sample_runtime: Any, state: StateStore) -> MeteredAnswerService:
    """The answer service as ``serve`` hands it to Slack: real answers, written to this test's questions log."""
    return MeteredAnswerService(lambda: sample_runtime.answers, metrics=Metrics(process=False), surface="slack",
                                questions=state.questions)


def test_questions_are_logged_with_their_reason_and_a_link_to_the_thread(
    harness_factory, slack: FakeSlack, payloads: Payloads, state: StateStore, sample_runtime: Any  # type: ignore[no-untyped-def]
) -> None:
    h = harness_factory(slack_parts(_logged(sample_runtime, state), state))
    top = payloads.mention(RESET_Q)
    h.send_event(top)
    h.drain()
    off = payloads.mention(OFF_TOPIC_Q)
    h.send_event(off)
    h.drain()
    thread = top["event"]["ts"]
    slack.add_message(AGENT_CHANNEL, thread, RESET_Q, user=ASKER)
    reply = payloads.mention("and if the reset email never arrives?", thread_ts=thread)
    h.send_event(reply)
    h.drain()
    in_thread, abstained, answered = state.questions.recent_questions()
    p = lambda ts: ts.replace(".", "")  # noqa: E731
    assert answered.question == RESET_Q and answered.reason == "answered" and not answered.abstained
    assert answered.closest and answered.closest["title"] == "Reset your password"  # the first cited source
    assert answered.link == f"{WORKSPACE}archives/{AGENT_CHANNEL}/p{p(thread)}"
    assert abstained.question == OFF_TOPIC_Q and abstained.abstained
    assert abstained.reason == "below_gate" and abstained.closest and abstained.closest["score"] < 0.42
    assert abstained.link == f"{WORKSPACE}archives/{AGENT_CHANNEL}/p{p(off['event']['ts'])}"
    ts = reply["event"]["ts"]
    assert in_thread.link == f"{WORKSPACE}archives/{AGENT_CHANNEL}/p{p(ts)}?thread_ts={thread}&cid={AGENT_CHANNEL}"
    assert in_thread.reason == ("answered" if not in_thread.abstained else in_thread.reason) and in_thread.reason
    # Bolt's start-up check and one look-up of the workspace URL: a link costs no Web API call per question.
    assert slack.methods().count("auth.test") == 2

    h.send_form(payloads.command(f"ask {OFF_TOPIC_Q}"))  # ephemeral: the log links to the channel
    slack.wait_for_hooks()
    h.drain()
    assert state.questions.recent_questions()[0].link == f"{WORKSPACE}archives/{AGENT_CHANNEL}"


def test_gaps_subcommand_is_for_admins_and_lists_groups_by_reason(
    harness_factory, slack: FakeSlack, payloads: Payloads, state: StateStore, embedder: Any  # type: ignore[no-untyped-def]
) -> None:
    closest = {"doc_id": "kb:ship", "title": "International <shipping>", "url": "https://help.example/ship", "score": 0.38}
    for q, link in (("Can I send parcels to Antarctica?", "javascript:alert(1)"),
                    ("Do you ship to Antarctica? <!channel>", "https://parcelly.slack.com/archives/C1/p1")):
        state.questions.record_question(surface="slack", audience="customer", question=q, answer="", confidence=0.3,
                                        abstained=True, reason="below_gate", closest=closest, link=link)
    finder = GapFinder(lambda: embedder, threshold=0.6)
    asked: list[int] = []

    def gaps(days: int) -> Any:
        asked.append(days)
        return finder.find(state.questions, days=days)

    h = harness_factory({**slack_parts(None, state), "gaps": gaps})
    h.send_form(payloads.command("gaps", user=ASKER))
    assert ":no_entry:" in slack.wait_for_hooks()[0].json["text"] and asked == []

    h.send_form(payloads.command("gaps", user=ADMIN))
    text = slack.wait_for_hooks(2)[1].json["text"]
    assert asked == [7] and "*Knowledge gaps* (last 7 days" in text
    assert "*2×*" in text and "No source close enough to answer" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # questions are escaped
    assert "<https://help.example/ship|International &lt;shipping&gt;>" in text and "(0.38)" in text
    assert "<https://parcelly.slack.com/archives/C1/p1|thread 1>" in text and "javascript" not in text

    h.send_form(payloads.command("gaps 30", user=ADMIN))
    slack.wait_for_hooks(3)
    h.send_form(payloads.command("gaps soon", user=ADMIN))
    assert "takes a number of days" in slack.wait_for_hooks(4)[3].json["text"] and asked == [7, 30]
