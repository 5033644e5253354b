"""How Slack's requests reach the Bolt app: an HTTP route, or a Socket Mode connection.

HTTP mode (``HELPDESK_SLACK_MODE=http``): Slack posts events, commands and interactions to
``/slack/events``; the request is verified and acknowledged by Bolt in a worker thread (never on the
event loop), and the answer follows after the response. Socket Mode (the default): no public URL,
the app-level token opens a WebSocket to Slack. Either way the Slack surface hands the process
(:mod:`bot.serve`) a :class:`SlackIngress`: routes to mount, or a connection to open and close,
as Bolt's own adapters sit apart from its ``App``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack.logfilter import slack_logger

SLACK_EVENTS_PATH = "/slack/events"
#: Slack's payloads are a few KB; anything far larger is not from Slack.
MAX_BODY_BYTES = 1_000_000


def slack_events_route(bolt_app: App) -> Route:
    """``POST /slack/events``: the body size-checked, then Bolt's dispatch (verification first) in a worker thread."""

    async def slack_events(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return Response(status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return Response(status_code=413)
        # Bolt's dispatch is synchronous (verification, our middleware, the ack): keep it off the loop.
        bolt_response = await run_in_threadpool(bolt_app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    return Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"])


def socket_mode_handler(bolt_app: App, settings: Settings) -> SocketModeHandler:
    """Socket Mode over slack_sdk's built-in WebSocket client (no extra package).

    Raises:
        ConfigError: ``SLACK_APP_TOKEN`` is not set.
    """
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                          "with the connections:write scope, or set HELPDESK_SLACK_MODE=http")
    return SocketModeHandler(bolt_app, app_token=token, logger=slack_logger())


@dataclass
class SlackIngress:
    """What the Slack surface hands the process: routes to mount (HTTP mode) or a connection (Socket Mode)."""

    routes: list[BaseRoute] = field(default_factory=list)
    connection: SocketModeHandler | None = None

    def start(self) -> None:
        if self.connection is not None:
            self.connection.connect()

    def stop(self) -> None:
        if self.connection is not None:
            self.connection.close()


def slack_ingress(bolt_app: App, settings: Settings) -> SlackIngress:
    """The ingress of ``settings.slack_mode`` (``http`` or ``socket``).

    Raises:
        ConfigError: Socket Mode without an app-level token.
    """
    if settings.slack_mode == "http":
        return SlackIngress(routes=[slack_events_route(bolt_app)])
    return SlackIngress(connection=socket_mode_handler(bolt_app, settings))
