"""The routes ``helpdesk-bot serve`` mounts beside Slack's, per role.

=========  ==========================================================================================
role       HTTP routes (``/healthz`` always, from :func:`bot.slack.server.create_asgi_app`)
=========  ==========================================================================================
all        ``/slack/events`` (HTTP mode), ``/webhooks/*``, ``/admin``, ``/readyz``, ``/metrics``
web        the same; no scheduler in the process
scheduler  ``/readyz`` and ``/metrics`` only (plus the sync scheduler)
=========  ==========================================================================================

``/readyz`` answers 200 when the vector store and the state database both answer within
``HELPDESK_READINESS_TIMEOUT_S``, else 503 with the failing check named (never its secrets).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.errors import ConfigError
from bot.settings import Settings
from bot.web.admin import admin_routes
from bot.web.metrics import Metrics, ServedRuntime
from bot.web.queries import ping

log = structlog.get_logger(__name__)

READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
ROLES = ("all", "web", "scheduler")


def ping_store(runtime: Any, prefix: str) -> None:
    """Raise unless the vector store answers: a round trip to a Qdrant server, or the embedded store open."""
    store = runtime.store
    client = getattr(store, "client", None)
    if client is not None and hasattr(client, "get_collections"):
        client.get_collections()
    else:
        store.has_collection(f"{prefix}_public")


class Readiness:
    """Runs the checks concurrently, each in a worker thread, at most one in flight per check.

    A check that hangs (a database that accepts the connection and never answers) is reported as a
    timeout and not started again until it returns, so probes cannot pile threads up.
    """

    def __init__(self, checks: dict[str, Callable[[], None]], *, timeout_s: float) -> None:
        self.checks = checks
        self.timeout_s = timeout_s
        self._inflight: dict[str, asyncio.Future[None]] = {}

    async def _one(self, name: str, check: Callable[[], None]) -> str:
        fut = self._inflight.get(name)
        if fut is None or fut.done():
            fut = asyncio.ensure_future(run_in_threadpool(check))
            self._inflight[name] = fut
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - reported by type: messages can carry URLs with passwords
            return f"error: {type(exc).__name__}"
        return "ok"

    async def endpoint(self, request: Request) -> Response:
        names = list(self.checks)
        results = await asyncio.gather(*(self._one(n, self.checks[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        ok = all(r == "ok" for r in results)
        if not ok:
            log.warning("not_ready", **{k: v for k, v in checks.items() if v != "ok"})
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503,
                            headers={"Cache-Control": "no-store"})


def ops_routes(runtime: Any, settings: Settings, metrics: Metrics) -> list[BaseRoute]:
    """``/readyz`` (store and state database reachable) and ``/metrics`` (Prometheus text format)."""
    readiness = Readiness({
        "state_db": lambda: ping(runtime.state),
        "store": lambda: ping_store(runtime, settings.collection_prefix),
    }, timeout_s=settings.readiness_timeout_s)

    async def scrape(request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)  # the state collector queries the database
        return Response(body, media_type=metrics.content_type, headers={"Cache-Control": "no-store"})

    return [Route(READY_PATH, readiness.endpoint, methods=["GET"]), Route(METRICS_PATH, scrape, methods=["GET"])]


class LazyDraftService:
    """Builds the helpdesk DraftService on the first webhook (opening the store and the helpdesk clients)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._service: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._service is None:
                self._service = self._factory()
            return self._service

    def submit(self, event: Any) -> Any:
        return self.get().submit(event)

    def close(self) -> None:
        with self._lock:
            service, self._service = self._service, None
        if service is not None:
            service.close()


def webhook_routes(runtime: Any, settings: Settings, *, closers: list[Callable[[], None]]) -> list[BaseRoute]:
    """The helpdesk webhook endpoints, when :mod:`bot.helpdesk.webhooks` is part of this install."""
    try:
        from bot.helpdesk import webhooks
        from bot.helpdesk.service import DraftService
    except ImportError as exc:  # an install without the helpdesk package: Slack and the admin page still work
        log.info("helpdesk_webhooks_not_mounted", reason=type(exc).__name__)
        return []
    service = LazyDraftService(lambda: DraftService.from_runtime(runtime, settings=settings))
    closers.append(service.close)
    routes_fn = getattr(webhooks, "webhook_routes", None)
    if routes_fn is not None:
        return list(routes_fn(service, settings))
    return [Mount("", app=webhooks.build_webhook_app(service, settings))]  # type: ignore[arg-type]


def build_routes(runtime: Any, settings: Settings, *, role: str, metrics: Metrics,
                 closers: list[Callable[[], None]]) -> list[BaseRoute]:
    """Every route of ``role`` except ``/healthz`` and ``/slack/events`` (see the module docstring).

    Args:
        runtime: the composition root; the webhooks get it wrapped as the ``helpdesk`` surface.
        closers: called at shutdown (the helpdesk draft workers are appended here).

    Raises:
        ConfigError: the role is unknown, or the admin token is set but too short.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    routes = ops_routes(runtime, settings, metrics)
    if role == "scheduler":
        return routes
    helpdesk = ServedRuntime(runtime, metrics=metrics, surface="helpdesk", log_questions=settings.question_log_days > 0)
    routes.extend(admin_routes(runtime, settings))
    routes.extend(webhook_routes(helpdesk, settings, closers=closers))
    return routes


def source_names(runtime: Any) -> list[str]:
    """Configured source names (for metrics of sources that never ran); [] when unknown."""
    syncs = getattr(runtime, "syncs", None)
    return list(getattr(syncs, "sources", None) or {})


def add_ops_jobs(scheduler: Any, runtime: Any, settings: Settings) -> None:
    """Scheduler jobs of the operations side: the questions log's retention (every 6 hours)."""
    from apscheduler.triggers.interval import IntervalTrigger

    def forget_questions() -> None:
        removed = runtime.state.forget_questions(older_than_s=settings.question_log_days * 86400)
        if removed:
            log.info("questions_forgotten", rows=removed, keep_days=settings.question_log_days)

    scheduler.add_job(forget_questions, IntervalTrigger(hours=6), id="forget-questions", name="questions log retention",
                      max_instances=1, coalesce=True, replace_existing=True)


def warn_about_split_roles(role: str, settings: Settings) -> None:
    """Split roles share only Qdrant and the state database: both must be servers."""
    if role == "all":
        return
    if not settings.qdrant_url:
        log.warning("split_role_with_embedded_store", role=role,
                    hint="the embedded store is one process per data directory: set QDRANT_URL for web/scheduler roles")
    if settings.state_url.startswith("sqlite"):
        log.warning("split_role_with_sqlite_state", role=role,
                    hint="set HELPDESK_STATE_DB_URL=postgresql+psycopg://... so every replica shares one state database")
