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
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

import structlog
from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.answer.style import StyleRouter
from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack import render
from bot.slack.actions import Actions, FeedbackStore
from bot.slack.audience import AudienceResolver
from bot.slack.commands import AdminPolicy, GapsSource, HelpdeskCommand, SyncsLike
from bot.slack.conversation import AnswerSource, Conversations, EventClaimer, SlackAnswerer
from bot.slack.links import Workspace
from bot.slack.logfilter import slack_logger
from bot.slack.webapi import build_client

log = structlog.get_logger(__name__)

#: Events the app listens to. ``message`` arrives per channel type as message.channels / .groups /
#: .im / .mpim in the app manifest (deploy/slack-app-manifest.yml, checked by a test).
EVENTS = ("app_mention", "message")
ACTIONS = (render.ACTION_HELPFUL, render.ACTION_NOT_HELPFUL, render.ACTION_SHARE)


def handoff_markup(settings: Settings) -> str:
    """Who to ask when the bot abstains: the trusted Slack markup from settings, else the plain text."""
    return settings.slack_handoff.strip() or render.escape(settings.handoff_text)


def dedup_middleware(events: EventClaimer) -> Callable[..., BoltResponse | None]:
    """Bolt middleware: an Events API delivery whose ``event_id`` was seen before is acked and dropped."""

    def dedup(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not events.claim_event(f"slack:{event_id}"):
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
    settings: Settings,
    *,
    answers: AnswerSource,
    events: EventClaimer,
    feedback: FeedbackStore,
    syncs: SyncsLike | None,
    style: StyleRouter | None = None,
    client: WebClient | None = None,
    now: Callable[[], datetime] | None = None,
    listener_executor: Executor | None = None,
    gaps: GapsSource | None = None,
) -> App:
    """Build the Bolt app and register its listeners.

    Args:
        settings: Slack settings (tokens, audiences, admins, command).
        answers: the answer service (``serve`` hands it one that counts and logs the questions).
        events: claims each event and message once (de-duplication across processes).
        feedback: stores and reads the Helpful / Not helpful votes.
        syncs: source status and resync requests for the admin subcommands (None: not offered here).
        style: the style router (Slack answers to agents and to customers each have a setting).
        client: a ready Web API client (tests point one at a local fake); default from settings.
        now: the clock for "updated N days ago".
        listener_executor: where Bolt runs acks and listeners (default: its own thread pool; tests
            pass one they can wait on).
        gaps: the knowledge gaps of the last N days, for ``/helpdesk gaps`` (None: not offered here).

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
        **({"listener_executor": listener_executor} if listener_executor is not None else {}),
    )
    audiences = AudienceResolver(client, customer_channels=settings.slack_customer_channel_set)
    answerer = SlackAnswerer(answers, handoff=handoff_markup(settings), now=now, style=style)
    workspace = Workspace(client)  # for links to each question's thread in the questions log
    conversations = Conversations(answerer=answerer, events=events, audiences=audiences,
                                  working_emoji=settings.slack_working_emoji, workspace=workspace)
    actions = Actions(feedback=feedback, answerer=answerer, audiences=audiences)
    command = HelpdeskCommand(
        command=settings.slack_command, answerer=answerer, audiences=audiences,
        admins=AdminPolicy(client, users=settings.slack_admin_user_set, usergroup=settings.slack_admin_usergroup),
        syncs=lambda: syncs, gaps=gaps, workspace=workspace,
    )

    app.use(dedup_middleware(events))
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
