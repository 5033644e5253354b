"""The Bolt app: Web API client, listeners, event de-duplication.

Every listener acknowledges at once and does its work afterwards (Bolt's ``ack`` + ``lazy``), so
Slack gets its answer well within 3 seconds however slow ``answer()`` is, in both transports.
Requests are verified with the signing secret (HTTP mode) before any middleware of ours runs; a
redelivered event (``X-Slack-Retry-Num``, or Socket Mode's ``retry_attempt``) carries the same
``event_id`` and is dropped by :func:`dedup_middleware`, which claims ``slack:{event_id}`` in the
state store: once, across threads and processes sharing that store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import structlog
from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack import render
from bot.slack.actions import Actions
from bot.slack.audience import AudienceResolver
from bot.slack.commands import AdminPolicy, HelpdeskCommand
from bot.slack.conversation import AnswerSource, Conversations, SlackAnswerer
from bot.slack.logfilter import slack_logger
from bot.slack.webapi import build_client

log = structlog.get_logger(__name__)

#: Events the app listens to. ``message`` arrives per channel type as message.channels / .groups /
#: .im / .mpim in the app manifest (deploy/slack-app-manifest.yml, checked by a test).
EVENTS = ("app_mention", "message")
ACTIONS = (render.ACTION_HELPFUL, render.ACTION_NOT_HELPFUL, render.ACTION_SHARE)


class RuntimeLike(Protocol):
    """What the Slack app needs of :class:`bot.runtime.Runtime`."""

    @property
    def answers(self) -> AnswerSource: ...

    @property
    def state(self) -> Any: ...

    @property
    def syncs(self) -> Any: ...


def handoff_markup(settings: Settings) -> str:
    """Who to ask when the bot abstains: the trusted Slack markup from settings, else the plain text."""
    return settings.slack_handoff.strip() or render.escape(settings.handoff_text)


def dedup_middleware(state: Any) -> Callable[..., BoltResponse | None]:
    """Bolt middleware: an Events API delivery whose ``event_id`` was seen before is acked and dropped."""

    def dedup(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not state.claim_event(f"slack:{event_id}"):
            log.info("slack_event_duplicate", event_id=str(event_id)[:40])
            return BoltResponse(status=200, body="")
        return next()

    return dedup


def _quiet_library_debug() -> None:
    # slack_bolt / slack_sdk dump payloads at DEBUG from loggers we do not create (webhook client,
    # adapters): keep those below INFO from ever being produced.
    for name in ("slack_bolt", "slack_sdk"):
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def build_app(
    runtime: RuntimeLike,
    settings: Settings,
    *,
    client: WebClient | None = None,
    now: Callable[[], datetime] | None = None,
) -> App:
    """Build the Bolt app and register its listeners.

    Args:
        runtime: answers, state store and sync service (a :class:`bot.runtime.Runtime`).
        settings: Slack settings (tokens, audiences, admins, command).
        client: a ready Web API client (tests point one at a local fake); default from settings.
        now: the clock for "updated N days ago".

    Raises:
        ConfigError: the bot token is missing, or HTTP mode has no signing secret.
    """
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    if settings.slack_mode == "http" and not secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request from Slack with it")
    client = client or build_client(settings)
    _quiet_library_debug()
    app = App(
        client=client,
        signing_secret=secret,
        # Without a secret there is no HTTP ingress (the server refuses to mount it); Socket Mode
        # requests are authenticated by the app-level token's connection instead.
        request_verification_enabled=bool(secret),
        logger=slack_logger(),
        process_before_response=False,
    )
    state = runtime.state
    audiences = AudienceResolver(client, customer_channels=settings.slack_customer_channel_set)
    answerer = SlackAnswerer(runtime.answers, handoff=handoff_markup(settings), now=now,
                             style=getattr(runtime, "style", None))
    conversations = Conversations(answerer=answerer, state=state, audiences=audiences,
                                  working_emoji=settings.slack_working_emoji)
    actions = Actions(state=state, answerer=answerer, audiences=audiences)
    command = HelpdeskCommand(
        command=settings.slack_command, answerer=answerer, audiences=audiences,
        admins=AdminPolicy(client, users=settings.slack_admin_user_set, usergroup=settings.slack_admin_usergroup),
        syncs=lambda: runtime.syncs,
    )

    app.use(dedup_middleware(state))
    app.event("app_mention")(ack=_ack, lazy=[conversations.on_mention])
    app.event("message")(ack=_ack, lazy=[conversations.on_message])
    app.action(render.ACTION_HELPFUL)(ack=_ack, lazy=[actions.on_feedback])
    app.action(render.ACTION_NOT_HELPFUL)(ack=_ack, lazy=[actions.on_feedback])
    app.action(render.ACTION_SHARE)(ack=_ack, lazy=[actions.on_share])
    app.command(settings.slack_command)(ack=command.ack, lazy=[command.run])
    app.error(_on_error)
    return app


def _ack(ack: Callable[..., Any]) -> None:
    ack()


def _on_error(error: Exception, body: dict[str, Any]) -> None:
    # The type and the payload's kind only: an error's message can quote an API response or text.
    log.error("slack_listener_failed", error=type(error).__name__, payload_type=str(body.get("type"))[:40])
