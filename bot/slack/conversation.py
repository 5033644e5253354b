"""Answering people: @mentions in channels, direct messages, and follow-ups in threads the bot is in.

Each answer: a working reaction on the asker's message, ``answer()`` for the channel's audience with
the thread so far as context, the rendered reply in the thread, the reaction removed. A message is
answered once whichever event delivers it (``app_mention`` and ``message`` can both carry one
message), claimed in the state store so that also holds across processes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from slack_sdk import WebClient

from bot.answer.context import answer_ref
from bot.answer.style import StyleRouter, Surface
from bot.errors import InputError
from bot.health.origin import asked_in
from bot.models import Answer, Audience
from bot.slack import render
from bot.slack.audience import AudienceResolver
from bot.slack.links import Workspace, message_link
from bot.slack.render import SlackMessage
from bot.slack.webapi import SLACK_ERRORS, api_error

log = structlog.get_logger(__name__)

#: Messages of a thread read for context (conversations.replies page size; Slack allows up to 1000).
THREAD_READ_LIMIT = 100
#: Message subtypes that are people talking; every other subtype (edits, joins, bots ...) is ignored.
ANSWERABLE_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})

_MENTION = re.compile(r"<[@!][^>]*>")
_CHANNEL_LINK = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


class AnswerSource(Protocol):
    def answer(self, question: str, audience: Audience, history: Sequence[str] = ()) -> Answer: ...


class EventClaimer(Protocol):
    """Claims an inbound event once (:class:`bot.state.events.EventClaims`)."""

    def claim_event(self, key: str) -> bool: ...


def plain_text(text: str) -> str:
    """Slack message markup → the plain question: mentions dropped, links to their labels, unescaped."""
    text = _CHANNEL_LINK.sub(lambda m: f"#{m.group(1)}" if m.group(1) else "", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MENTION.sub(" ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"\s+", " ", text).strip()


def _ts(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


class SlackAnswerer:
    """``answer()`` rendered for Slack: one place for error handling and logging of every surface."""

    def __init__(self, answers: AnswerSource, *, handoff: str, now: Callable[[], datetime] | None = None,
                 style: StyleRouter | None = None) -> None:
        self.answers = answers
        self.handoff = handoff
        self.now = now or (lambda: datetime.now(UTC))
        self.style = style

    def messages_for(
        self,
        question: str,
        audience: Audience,
        history: Sequence[str] = (),
        *,
        extra_buttons: Callable[[Answer], list[dict[str, Any]]] | None = None,
        surface: str = "thread",
        link: str | None = None,
    ) -> tuple[list[SlackMessage], Answer | None]:
        """The messages answering ``question`` (never raises: failures become a polite message).

        ``link`` (where it was asked: the message's permalink) is filed with the question in the log.
        """
        answer_id = uuid.uuid4().hex[:16]
        try:
            # The question log files it under the feedback buttons' id, with the link to the conversation.
            with answer_ref(answer_id), asked_in(link):
                answer = self.answers.answer(question, audience, history)
        except InputError as exc:
            return [render.notice_message(render.escape(str(exc)))], None
        except Exception as exc:  # the asker gets an apology, the log the error's type (never the text)
            log.error("slack_answer_failed", surface=surface, error=type(exc).__name__)
            return [render.failure_message(self.handoff)], None
        if self.style is not None:
            # The team's voice, if configured for this audience's surface; the guard keeps facts and citations.
            surface_kind = Surface.SLACK_CUSTOMER if audience is Audience.CUSTOMER else Surface.SLACK_AGENT
            answer = self.style.apply(surface_kind, answer)
        buttons = extra_buttons(answer) if extra_buttons and not answer.abstained else []
        messages = render.answer_messages(answer, answer_id=answer_id, now=self.now(), handoff=self.handoff,
                                          extra_buttons=buttons)
        log.info("slack_answer", surface=surface, answer_id=answer_id, audience=audience.value,
                 abstained=answer.abstained, reason=answer.reason.value, sources=len(answer.citations),
                 question_chars=len(question),
                 history_turns=len(history), messages=len(messages))
        return messages, answer


class Conversations:
    """The ``app_mention`` and ``message`` listeners' work (run after the ack, in Bolt's lazy runner).

    Args:
        answerer: answers rendered as Slack messages.
        events: claims each message once (``claim_event``).
        audiences: channel → audience.
        working_emoji: reaction shown while answering.
        workspace: the workspace's URL, for the link to each question's thread in the questions log.
    """

    def __init__(self, *, answerer: SlackAnswerer, events: EventClaimer, audiences: AudienceResolver,
                 working_emoji: str, workspace: Workspace | None = None) -> None:
        self.answerer = answerer
        self.events = events
        self.audiences = audiences
        self.working_emoji = working_emoji
        self.workspace = workspace

    def _workspace(self, context: Any) -> str | None:
        """The workspace URL the questions log's links are built on (None: no links)."""
        return self.workspace.url(context) if self.workspace is not None else None

    # -- listeners ------------------------------------------------------------------------------
    def on_mention(self, body: dict[str, Any], event: dict[str, Any], client: WebClient, context: Any) -> None:
        if event.get("bot_id") or not event.get("user") or event.get("user") == context.bot_user_id:
            return
        channel, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts")
        history: list[str] = []
        if thread_ts and thread_ts != ts:
            replies = self._thread(client, channel, thread_ts)
            history = self._history(replies or [], before=ts)
        self._answer(client, body=body, channel=channel, ts=ts, reply_in=thread_ts or ts,
                     question=plain_text(event.get("text") or ""), history=history, workspace=self._workspace(context))

    def on_message(self, body: dict[str, Any], event: dict[str, Any], client: WebClient, context: Any) -> None:
        if event.get("subtype") not in ANSWERABLE_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
            return  # edits, deletions, joins, and every bot's messages (ours included)
        user = event.get("user")
        if not user or user == context.bot_user_id:
            return
        channel, ts, text = event["channel"], event["ts"], event.get("text") or ""
        thread_ts = event.get("thread_ts")
        in_thread = bool(thread_ts and thread_ts != ts)
        if event.get("channel_type") == "im":
            replies = self._thread(client, channel, thread_ts) if in_thread else []
            history = self._history(replies or [], before=ts)
            self._answer(client, body=body, channel=channel, ts=ts, reply_in=thread_ts if in_thread else None,
                         question=plain_text(text), history=history, workspace=self._workspace(context))
            return
        bot = context.bot_user_id
        if not in_thread or (bot and f"<@{bot}>" in text):
            return  # top-level channel chatter is not for us; a mention is answered via app_mention
        replies = self._thread(client, channel, thread_ts)
        if not replies or not any(self._is_ours(m, context) for m in replies):
            return
        self._answer(client, body=body, channel=channel, ts=ts, reply_in=thread_ts,
                     question=plain_text(text), history=self._history(replies, before=ts), workspace=self._workspace(context))

    # -- helpers --------------------------------------------------------------------------------
    def _answer(self, client: WebClient, *, body: dict[str, Any], channel: str, ts: str, reply_in: str | None,
                question: str, history: list[str], workspace: str | None = None) -> None:
        if not self.events.claim_event(f"slack:msg:{channel}:{ts}"):
            log.info("slack_message_already_answered", channel=channel, ts=ts)
            return
        self._reaction(client.reactions_add, channel, ts)
        try:
            audience = self.audiences.for_channel(channel, ext_shared_hint=body.get("is_ext_shared_channel"))
            link = message_link(workspace, channel, ts, thread_ts=reply_in)
            messages, _ = self.answerer.messages_for(question, audience, history, link=link)
            for message in messages:  # thread_ts=None is dropped by slack_sdk: a top-level reply
                client.chat_postMessage(channel=channel, thread_ts=reply_in, **message.as_kwargs())
        except SLACK_ERRORS as exc:
            log.error("slack_post_failed", channel=channel, error=api_error(exc))
        finally:
            self._reaction(client.reactions_remove, channel, ts)

    def _reaction(self, method: Callable[..., Any], channel: str, ts: str) -> None:
        try:
            method(channel=channel, timestamp=ts, name=self.working_emoji)
        except SLACK_ERRORS as exc:  # cosmetic: never stops an answer
            log.warning("slack_reaction_failed", channel=channel, error=api_error(exc))

    @staticmethod
    def _thread(client: WebClient, channel: str, thread_ts: str | None) -> list[dict[str, Any]] | None:
        if not thread_ts:
            return None
        try:
            return list(client.conversations_replies(channel=channel, ts=thread_ts, limit=THREAD_READ_LIMIT)
                        .get("messages") or [])
        except SLACK_ERRORS as exc:
            log.warning("slack_thread_read_failed", channel=channel, error=api_error(exc))
            return None

    @staticmethod
    def _is_ours(message: dict[str, Any], context: Any) -> bool:
        return bool((context.bot_user_id and message.get("user") == context.bot_user_id)
                    or (context.bot_id and message.get("bot_id") == context.bot_id))

    @staticmethod
    def _history(messages: list[dict[str, Any]], *, before: str) -> list[str]:
        """What people said in the thread before this message (the bot's own long answers left out)."""
        cutoff = _ts(before)
        turns = []
        for m in messages:
            if _ts(m.get("ts")) >= cutoff or m.get("bot_id") or m.get("subtype") not in ANSWERABLE_SUBTYPES:
                continue
            text = plain_text(m.get("text") or "")
            if text:
                turns.append(text)
        return turns
