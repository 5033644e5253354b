"""How Slack's requests reach the Bolt app: an HTTP route, or a Socket Mode connection.

HTTP mode (``HELPDESK_SLACK_MODE=http``): Slack posts events, commands and interactions to
``/slack/events``; the request is verified and acknowledged by Bolt in a worker thread (never on the
event loop), and the answer follows after the response. Socket Mode (the default): no public URL,
the app-level token opens a WebSocket to Slack.

Requests to ``/slack/events`` come from anyone. Before any byte is parsed, the signature is
checked on the raw body (:class:`SlackSignature`: ``v0`` HMAC-SHA256 over ``v0:{ts}:{body}``, a
timestamp of ASCII digits within five minutes); only then is the body read (UTF-8, JSON at most
:data:`~bot.inbound.MAX_JSON_DEPTH` deep, a form's ``payload=`` JSON) and handed to Bolt. A
rejection is one log line (why, and the body's length) and a 4xx, never a traceback or a 5xx.

Start-up: the Bolt app checks the bot token with ``auth.test`` when it is built. When Slack cannot
be reached (:class:`SlackStartup`), ``serve`` keeps running: the build is retried with backoff in
the background, ``/readyz`` says why Slack is not ready, and ``/slack/events`` answers 503 (Slack
retries) until it is. Either way the Slack surface hands the process
(:mod:`bot.serve`) a :class:`SlackIngress`: routes to mount, or a connection to open and close,
as Bolt's own adapters sit apart from its ``App``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import structlog
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.errors import ConfigError, NotReadyError
from bot.inbound import BadRequest, decode_utf8, header_int, loads_bounded
from bot.settings import Settings
from bot.slack.logfilter import slack_logger
from bot.slack.webapi import SLACK_ERRORS, api_error

log = structlog.get_logger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
#: Slack's payloads are a few KB; anything far larger is not from Slack.
MAX_BODY_BYTES = 1_000_000
#: Slack's own rule: a request signed more than five minutes ago (or ahead) is refused.
MAX_SIGNATURE_AGE_S = 5 * 60
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
#: Backoff between start-up attempts to reach Slack (seconds): doubling, capped.
STARTUP_RETRY_FIRST_S = 1.0
STARTUP_RETRY_MAX_S = 60.0


class SlackSignature:
    """Slack's request signing (``v0``), checked on the raw bytes before anything is parsed.

    Args:
        secret: the app's signing secret.
        clock: epoch seconds (tests move it).
    """

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._key = secret.encode("utf-8")
        self.clock = clock

    def sign(self, body: bytes, timestamp: str) -> str:
        digest = hmac.new(self._key, b"v0:" + timestamp.encode("ascii") + b":" + body, hashlib.sha256).hexdigest()
        return f"v0={digest}"

    def rejection(self, body: bytes, *, signature: str | None, timestamp: str | None) -> str | None:
        """Why the request is not Slack's (safe to log), or None when it is signed and recent."""
        if not signature or not timestamp:
            return "missing signature headers"
        try:
            when = header_int(timestamp)
        except BadRequest:
            return "unreadable timestamp"
        if when is None or abs(self.clock() - when) > MAX_SIGNATURE_AGE_S:
            return "stale or future timestamp"
        expected = self.sign(body, timestamp.strip()).encode("ascii")
        # Header values arrive as latin-1 text: compare bytes, so no character can make the comparison raise.
        if not hmac.compare_digest(expected, signature.strip().encode("latin-1", "replace")):
            return "bad signature"
        return None


def check_body(body: bytes, content_type: str) -> None:
    """The body as Bolt will read it: UTF-8; JSON (bounded depth) that is an object; or a form whose
    ``payload`` (when present) is such JSON.

    Raises:
        BadRequest: any of that does not hold.
    """
    text = decode_utf8(body)
    if not text:
        return
    if content_type.split(";")[0].strip().lower() == "application/json" or text.startswith("{"):
        parsed = loads_bounded(text)
    elif "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is None:
            return
        parsed = loads_bounded(payload)
    else:
        return
    if not isinstance(parsed, dict):
        raise BadRequest("body is not a JSON object")
    check_shape(parsed)


#: Fields Bolt reads before any listener runs, by the type Slack sends them as. A signed payload with
#: another type (only whoever holds the signing secret can send one) would fail inside Bolt: a 400 here.
_OBJECTS = ("event", "view", "container", "message", "previous_message", "item", "assistant_thread", "state")
_ID_OR_OBJECT = ("team", "user", "channel", "enterprise")
_LISTS_OF_OBJECTS = ("actions", "authorizations", "files", "blocks")
_STRINGS = ("type", "event_id", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id", "command",
            "callback_id", "trigger_id", "response_url", "thread_ts", "ts", "subtype", "user_team", "bot_id",
            "action_id", "block_id", "function_execution_id", "app_installed_team_id", "context_team_id",
            "context_enterprise_id", "token", "challenge")


def _check_level(obj: dict[str, object], where: str) -> None:
    for key in _OBJECTS:
        if key in obj and not isinstance(obj[key], dict):
            raise BadRequest(f"{where}{key} is not an object")
    for key in _ID_OR_OBJECT:
        value = obj.get(key)
        if value is not None and not isinstance(value, str) and not (
                isinstance(value, dict) and isinstance(value.get("id", ""), str | None)):
            raise BadRequest(f"{where}{key} is neither an id nor an object with one")
    for key in _LISTS_OF_OBJECTS:
        value = obj.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise BadRequest(f"{where}{key} is not a list of objects")
    for key in _STRINGS:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{where}{key} is not a string")


def check_shape(payload: dict[str, object]) -> None:
    """The fields of a Slack payload that Bolt reads before our listeners have Slack's types.

    Raises:
        BadRequest: one does not (its name is in the message; no value is).
    """
    _check_level(payload, "")
    for key in ("event", "message", "previous_message", "item", "assistant_thread", "view", "container"):
        inner = payload.get(key)
        if isinstance(inner, dict):
            _check_level(inner, f"{key}.")
    for key in ("authorizations", "actions"):
        for inner in payload.get(key) or ():  # type: ignore[attr-defined]
            _check_level(inner, f"{key}[].")
    if payload.get("type") == "block_actions" and not payload.get("actions"):
        raise BadRequest("block_actions without actions")


#: The Bolt app, or a callable giving it once it is built (None until then: Slack is not reachable yet).
AppSource = App | Callable[[], App | None]


def slack_events_route(bolt_app: AppSource, *, signing_secret: str, clock: Callable[[], float] = time.time) -> Route:
    """``POST /slack/events``: size, then signature on the raw bytes, then the body's shape, then Bolt's
    dispatch (its own verification again, our middleware, the ack) in a worker thread."""
    signature = SlackSignature(signing_secret, clock=clock)

    def reject(status: int, reason: str, size: int) -> Response:
        log.warning("slack_request_rejected", status=status, reason=reason, bytes=size)
        return Response(status_code=status)

    async def slack_events(request: Request) -> Response:
        try:
            declared = header_int(request.headers.get("content-length"))
        except BadRequest:
            return reject(400, "unreadable Content-Length", 0)
        if declared is not None and declared > MAX_BODY_BYTES:
            return reject(413, "body too large", declared)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return reject(413, "body too large", len(body))
        why = signature.rejection(body, signature=request.headers.get(SIGNATURE_HEADER),
                                  timestamp=request.headers.get(TIMESTAMP_HEADER))
        if why is not None:
            return reject(401, why, len(body))
        try:
            check_body(body, request.headers.get("content-type", ""))
            bolt_request = to_bolt_request(request, body)
        except (BadRequest, ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
            return reject(400, str(exc) if isinstance(exc, BadRequest) else f"unreadable body ({type(exc).__name__})",
                          len(body))
        app = bolt_app if isinstance(bolt_app, App) else bolt_app()
        if app is None:
            log.warning("slack_request_deferred", reason="Slack is not reachable yet", bytes=len(body))
            return Response(status_code=503, headers={"Retry-After": "5"})
        # Bolt's dispatch is synchronous (verification, our middleware, the ack): keep it off the loop.
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    return Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"])


def socket_mode_handler(bolt_app: App, settings: Settings) -> SocketModeHandler:
    """Socket Mode over slack_sdk's built-in WebSocket client (no extra package).

    Raises:
        ConfigError: ``SLACK_APP_TOKEN`` is not set.
    """
    return SocketModeHandler(bolt_app, app_token=_app_token(settings), logger=slack_logger())


def _app_token(settings: Settings) -> str:
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                          "with the connections:write scope, or set HELPDESK_SLACK_MODE=http")
    return token


class SlackNotReady(NotReadyError):
    """Slack has not been reached yet; the message says why (no secrets) and when the next try is."""


class SlackStartup:
    """Builds the Bolt app (which checks the bot token with ``auth.test``), retrying while Slack is unreachable.

    :meth:`first_attempt` runs in the caller: a refused token is a :class:`ConfigError` (waiting
    will not fix it); an unreachable Slack starts :meth:`start_retrying` 's background thread,
    which doubles its wait up to :data:`STARTUP_RETRY_MAX_S` and calls ``on_ready`` once built.

    Args:
        build: builds the Bolt app (raises what slack_sdk raises when Slack cannot be reached).
        api_url: shown in the not-ready reason.
    """

    def __init__(self, build: Callable[[], App], *, api_url: str,
                 on_ready: Callable[[App], None] = lambda app: None) -> None:
        self._build = build
        self.api_url = api_url
        self.on_ready = on_ready
        self.app: App | None = None
        self.reason = "not started"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _attempt(self) -> App | None:
        try:
            app = self._build()
        except BoltError as exc:  # Bolt wraps the API's refusal (invalid_auth, account_inactive ...)
            raise ConfigError(f"Slack refused the bot token ({_bolt_reason(exc)}): check SLACK_BOT_TOKEN") from exc
        except SlackApiError as exc:
            raise ConfigError(f"Slack refused the bot token ({api_error(exc)}): check SLACK_BOT_TOKEN") from exc
        except SLACK_ERRORS as exc:
            self.reason = f"cannot reach the Slack API at {self.api_url} ({type(exc).__name__})"
            return None
        self.app, self.reason = app, "ok"
        return app

    def first_attempt(self) -> App | None:
        """Build now; None (and :attr:`reason` set) when Slack cannot be reached.

        Raises:
            ConfigError: Slack refused the token.
        """
        app = self._attempt()
        if app is None:
            log.warning("slack_unreachable", reason=self.reason, retry_in_s=STARTUP_RETRY_FIRST_S)
        return app

    def start_retrying(self) -> None:
        """Retry in a daemon thread until built or :meth:`stop`; a refused token is logged and ends the retries."""

        def retry() -> None:
            wait = STARTUP_RETRY_FIRST_S
            while not self._stop.wait(wait):
                try:
                    app = self._attempt()
                except ConfigError as exc:
                    self.reason = str(exc)
                    log.error("slack_token_refused", reason=str(exc))
                    return
                if app is not None:
                    log.info("slack_reachable", api_url=self.api_url)
                    self.on_ready(app)
                    return
                wait = min(wait * 2, STARTUP_RETRY_MAX_S)
                log.warning("slack_unreachable", reason=self.reason, retry_in_s=wait)

        self._thread = threading.Thread(target=retry, name="slack-startup", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """``/readyz``'s Slack check.

        Raises:
            SlackNotReady: not built yet, with the reason.
        """
        if self.app is None:
            raise SlackNotReady(self.reason)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _bolt_reason(exc: BoltError) -> str:
    # Bolt's message quotes the API response; keep only the error code when there is one.
    text = str(exc)
    for code in ("invalid_auth", "account_inactive", "token_revoked", "not_authed", "token_expired"):
        if code in text:
            return code
    return "auth.test failed"


@dataclass
class SlackIngress:
    """What the Slack surface hands the process: routes to mount (HTTP mode) or a connection (Socket Mode),
    and a readiness check (``None``: always ready)."""

    routes: list[BaseRoute] = field(default_factory=list)
    connection: SocketModeHandler | None = None
    startup: SlackStartup | None = None
    _connect: Callable[[App], SocketModeHandler] | None = None
    _started: bool = False

    def start(self) -> None:
        self._started = True
        if self.connection is not None:
            self.connection.connect()
        if self.startup is not None and self.startup.app is None:
            self.startup.start_retrying()

    def ready(self, app: App) -> None:
        """Called once a deferred Bolt app exists: Socket Mode connects now."""
        if self._connect is not None and self.connection is None:
            self.connection = self._connect(app)
            if self._started:
                self.connection.connect()

    def check(self) -> None:
        if self.startup is not None:
            self.startup.check()

    def stop(self) -> None:
        if self.startup is not None:
            self.startup.stop()
        if self.connection is not None:
            self.connection.close()


def slack_ingress(bolt_app: App | Callable[[], App], settings: Settings) -> SlackIngress:
    """The ingress of ``settings.slack_mode`` (``http`` or ``socket``).

    ``bolt_app`` is the app, or a function building it; a function is tried once now and, while
    the Slack API cannot be reached, again in the background (see :class:`SlackStartup`).

    Raises:
        ConfigError: Socket Mode without an app-level token; the bot token refused by Slack.
    """
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    if isinstance(bolt_app, App):
        if settings.slack_mode == "http":
            return SlackIngress(routes=[slack_events_route(bolt_app, signing_secret=secret)])
        return SlackIngress(connection=socket_mode_handler(bolt_app, settings))
    ingress = SlackIngress()
    startup = SlackStartup(bolt_app, api_url=settings.slack_api_url, on_ready=lambda app: ingress.ready(app))
    ingress.startup = startup
    if settings.slack_mode == "http":
        ingress.routes.append(slack_events_route(lambda: startup.app, signing_secret=secret))
    else:
        ingress._connect = lambda app: socket_mode_handler(app, settings)
    app = startup.first_attempt()  # the bot token first (missing: ConfigError), then Slack
    if settings.slack_mode == "socket":
        _app_token(settings)  # a missing app token is a configuration error, whatever Slack said
    if app is not None:
        ingress.ready(app)
    return ingress
