"""Button clicks: "Helpful / Not helpful" (stored, thanked, tallied on the message) and "Share in channel"."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from slack_sdk import WebClient

from bot.slack import render
from bot.slack.audience import AudienceResolver
from bot.slack.conversation import SlackAnswerer
from bot.slack.webapi import SLACK_ERRORS, api_error

log = structlog.get_logger(__name__)

_ANSWER_ID = re.compile(r"^[0-9a-f]{8,64}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class FeedbackStore(Protocol):
    """Stores and reads votes (:class:`bot.state.feedback.FeedbackLog`)."""

    def record_feedback(self, *, answer_id: str, user: str, helpful: bool, surface: str = "slack") -> None: ...

    def feedback_for(self, answer_id: str) -> list[Any]: ...


def _channel_of(body: dict[str, Any]) -> str:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""


class Actions:
    def __init__(self, *, feedback: FeedbackStore, answerer: SlackAnswerer, audiences: AudienceResolver) -> None:
        self.feedback = feedback
        self.answerer = answerer
        self.audiences = audiences

    def on_feedback(self, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                    client: WebClient) -> None:
        answer_id = str(action.get("value") or "")
        user = (body.get("user") or {}).get("id") or ""
        if not _ANSWER_ID.match(answer_id) or not user:
            log.warning("slack_feedback_malformed", action_id=action.get("action_id"))
            return
        helpful = action.get("action_id") == render.ACTION_HELPFUL
        self.feedback.record_feedback(answer_id=answer_id, user=user, helpful=helpful, surface="slack")
        log.info("slack_feedback", answer_id=answer_id, user=user, helpful=helpful)
        respond(text="Thanks for the feedback!" if helpful else "Thanks: I'll let the team know this didn't help.",
                response_type="ephemeral", replace_original=False)
        message = body.get("message")
        if message and not (body.get("container") or {}).get("is_ephemeral"):
            self._update_tally(client, _channel_of(body), message, answer_id)

    def _update_tally(self, client: WebClient, channel: str, message: dict[str, Any], answer_id: str) -> None:
        latest: dict[str, bool] = {}
        for row in self.feedback.feedback_for(answer_id):  # oldest first: a user's last vote counts
            latest[row.user] = row.helpful
        up = sum(latest.values())
        tally = render.tally_block(up, len(latest) - up)
        blocks: list[dict[str, Any]] = []
        for block in message.get("blocks") or []:
            if block.get("block_id") == render.TALLY_BLOCK_ID:
                continue
            blocks.append(block)
            if block.get("block_id") == render.FEEDBACK_BLOCK_ID:
                blocks.append(tally)
        if not channel or not message.get("ts"):
            return
        try:
            client.chat_update(channel=channel, ts=message["ts"], text=message.get("text") or "", blocks=blocks)
        except SLACK_ERRORS as exc:
            log.warning("slack_tally_update_failed", channel=channel, error=api_error(exc))

    def on_share(self, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                 client: WebClient) -> None:
        try:
            question = str(json.loads(action.get("value") or "{}")["q"])
        except (ValueError, KeyError, TypeError):
            log.warning("slack_share_malformed")
            return
        channel = _channel_of(body)
        user = (body.get("user") or {}).get("id") or ""
        # The channel decides again: what is shared must suit everyone who reads it there.
        audience = self.audiences.for_channel(channel)
        messages, answer = self.answerer.messages_for(question, audience, surface="share")
        if _USER_ID.match(user):
            messages[0].blocks.insert(0, render.context(f"<@{user}> shared an answer from the knowledge base:"))
        try:
            for message in messages:
                client.chat_postMessage(channel=channel, **message.as_kwargs())
        except SLACK_ERRORS as exc:
            log.warning("slack_share_failed", channel=channel, error=api_error(exc))
            respond(text=":warning: I can't post in this channel: invite me first (`/invite @helpdesk`).",
                    response_type="ephemeral", replace_original=False)
            return
        respond(delete_original=True)
