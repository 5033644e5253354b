"""The style adapter reaches the surfaces the settings name, and only those."""

from __future__ import annotations

from typing import Any

from bot.models import Audience
from bot.runtime import Runtime
from bot.slack.conversation import SlackAnswerer
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "How do I reset my password?"


def test_slack_customer_answers_are_restyled_agent_answers_are_not(sample_runtime: Any) -> None:
    plain = sample_runtime.answers.answer(QUESTION, Audience.CUSTOMER)
    # A rewrite that keeps every citation, number, URL and name of the draft passes the guard.
    with FakeOpenAI(reply=lambda body: "Happy to help! " + plain.text) as server:
        s = sample_runtime.settings.model_copy(update={
            "style_slack_customer": "openai", "style_openai_model": "team-voice",
            "style_openai_base_url": f"{server.url}/v1", "style_timeout_s": 5.0, "openai_max_retries": 0})
        rt = Runtime(s, store=sample_runtime.store, embedder=sample_runtime.embedder)
        answerer = SlackAnswerer(sample_runtime.answers, handoff="#support", style=rt.style)
        _, customer = answerer.messages_for(QUESTION, Audience.CUSTOMER)
        _, agent = answerer.messages_for(QUESTION, Audience.AGENT)
    assert customer is not None and customer.text == "Happy to help! " + plain.text
    assert "style_ms" in customer.timings
    assert agent is not None and not agent.text.startswith("Happy to help!")
    assert len(server.requests) == 1  # only the customer surface called the adapter


def test_draft_service_takes_the_helpdesk_style_from_the_runtime(sample_runtime: Any) -> None:
    from bot.finetune.adapters import OpenAIStyleAdapter
    from bot.helpdesk.service import DraftService

    s = sample_runtime.settings.model_copy(update={"style_helpdesk_drafts": "openai", "style_openai_model": "team-voice",
                                                   "style_openai_base_url": "http://127.0.0.1:9/v1"})
    rt = Runtime(s, store=sample_runtime.store, embedder=sample_runtime.embedder)
    rt.__dict__["state"] = sample_runtime.state
    service = DraftService.from_runtime(rt, environ={})
    try:
        assert isinstance(service.style, OpenAIStyleAdapter)
    finally:
        service.close()
