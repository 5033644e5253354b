"""Transports and ``helpdesk-bot serve``: the Bolt app over HTTP (an ASGI app) or Socket Mode.

HTTP mode (``HELPDESK_SLACK_MODE=http``): Slack posts events, commands and interactions to
``/slack/events``; the request is verified and acknowledged by Bolt in a worker thread (never on the
event loop), and the answer follows after the response. Socket Mode (the default): no public URL,
the app-level token opens a WebSocket to Slack. Either way the same ASGI app serves ``/healthz``,
``/readyz``, ``/metrics``, the admin page and the helpdesk webhooks (:mod:`bot.web.app`).

Roles (``serve --role``): ``all`` runs everything in one process, with the sync scheduler (the
embedded default); ``web`` everything but the scheduler (stateless: scale it to N replicas behind a
load balancer, sharing a Qdrant server and a PostgreSQL state database); ``scheduler`` only the
sync scheduler, with ``/healthz``, ``/readyz`` and ``/metrics`` (run exactly one).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import structlog
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack.logfilter import slack_logger

log = structlog.get_logger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
#: Slack's payloads are a few KB; anything far larger is not from Slack.
MAX_BODY_BYTES = 1_000_000


def create_asgi_app(bolt_app: App | None, *, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app: ``POST /slack/events`` (when ``bolt_app`` is given), ``GET /healthz``, ``routes``."""

    async def slack_events(request: Request) -> Response:
        assert bolt_app is not None
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return Response(status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return Response(status_code=413)
        # Bolt's dispatch is synchronous (verification, our middleware, the ack): keep it off the loop.
        bolt_response = await run_in_threadpool(bolt_app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    all_routes: list[BaseRoute] = [Route(HEALTH_PATH, health, methods=["GET"])]
    if bolt_app is not None:
        all_routes.append(Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]))
    all_routes.extend(routes)
    return Starlette(routes=all_routes)


def socket_mode_handler(bolt_app: App, settings: Settings) -> SocketModeHandler:
    """Socket Mode over slack_sdk's built-in WebSocket client (no extra package)."""
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                          "with the connections:write scope, or set HELPDESK_SLACK_MODE=http")
    return SocketModeHandler(bolt_app, app_token=token, logger=slack_logger())


class HttpServer:
    """uvicorn serving an ASGI app in a thread (``start``/``stop``), or in the foreground (``run``)."""

    def __init__(self, asgi: Any, *, host: str, port: int) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout_s: float = 10.0) -> HttpServer:
        self._thread = threading.Thread(target=self.run, name="helpdesk-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.sock.close()


def serve(runtime: Any, settings: Settings, *, mode: str | None = None, scheduler: bool = True,
          role: str = "all", stop: threading.Event | None = None, client: WebClient | None = None) -> int:
    """Run the process of ``role`` until stopped: Slack (Socket Mode or HTTP), the HTTP routes, the scheduler.

    Args:
        runtime: the composition root (answers, state, syncs).
        settings: settings; ``mode`` overrides ``slack_mode``.
        scheduler: False turns role ``all`` into ``web`` (``--no-scheduler``: another process runs it).
        role: ``all``, ``web`` or ``scheduler`` (see the module docstring).
        stop: set it to stop (SIGTERM and Ctrl-C do too).
        client: the Web API client (tests point one at a local fake).

    Raises:
        ConfigError: a token or the signing secret the mode needs is missing, or the role is unknown.
    """
    from bot.web.app import ROLES, add_ops_jobs, build_routes, source_names, warn_about_split_roles
    from bot.web.metrics import Metrics, ServedRuntime

    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "all" and not scheduler:
        role = "web"
    web, run_scheduler = role != "scheduler", role != "web"
    mode = mode or settings.slack_mode
    settings = settings.model_copy(update={"slack_mode": mode})
    metrics = Metrics()
    metrics.watch_state(lambda: runtime.state, lambda: source_names(runtime))
    closers: list[Any] = []
    routes = build_routes(runtime, settings, role=role, metrics=metrics, closers=closers)  # checks the admin token
    bolt_app, handler = None, None
    if web:
        from bot.slack.app import build_app

        # The Slack surface sees the runtime with its answers counted (and logged for the admin page).
        slack_runtime = ServedRuntime(runtime, metrics=metrics, surface="slack",
                                      log_questions=settings.question_log_days > 0)
        bolt_app = build_app(slack_runtime, settings, client=client)
        handler = socket_mode_handler(bolt_app, settings) if mode == "socket" else None  # checks the app token
    warn_about_split_roles(role, settings)
    if web:
        _warm(runtime)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    http = HttpServer(create_asgi_app(bolt_app if web and mode == "http" else None, routes=routes),
                      host=settings.http_host, port=settings.http_port)
    jobs = None
    try:
        if run_scheduler:
            from bot.sync.scheduler import build_background_scheduler

            jobs = build_background_scheduler(runtime.syncs)
            add_ops_jobs(jobs, runtime, settings)
            jobs.start()
        http.start()
        if handler is not None:
            handler.connect()
        log.info("serving", role=role, mode=mode if web else None, url=http.url, scheduler=run_scheduler)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    finally:
        if handler is not None:
            handler.close()
        http.stop()
        if jobs is not None:
            jobs.shutdown(wait=True)
        for close in closers:
            close()
    return 0


def _warm(runtime: Any) -> None:
    """Open the store and load the model before the first question.

    A Qdrant server that is not up yet is only logged (``/readyz`` reports it, answers retry on first
    use); anything that waiting will not fix (a locked embedded store, a missing model) stops ``serve``.
    """
    from bot.errors import StoreUnavailableError

    try:
        runtime.answers  # noqa: B018 - a cached property: building it is the point
    except StoreUnavailableError as exc:
        log.warning("warm_up_failed", error=type(exc).__name__, reason=str(exc)[:200])
