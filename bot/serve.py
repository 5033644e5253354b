"""``helpdesk-bot serve``: the process owner. It hosts the surfaces, serves HTTP and runs the scheduler.

The surfaces are peers under it, each handing it routes or a listener; none of them runs the process:

==================  ==============================================================================
surface             what it hands the process
==================  ==============================================================================
``bot.slack``       the Bolt app's ingress: ``POST /slack/events`` (HTTP mode) or a Socket Mode
                    connection to open and close (:func:`bot.slack.transport.slack_ingress`)
``bot.helpdesk``    ``POST /webhooks/{zendesk,intercom,freshdesk}`` (:mod:`bot.helpdesk.webhooks`)
``bot.web``         ``/admin`` (:mod:`bot.web.admin`); ``/readyz`` and ``/metrics`` (:mod:`bot.web.ops`)
==================  ==============================================================================

The process adds ``GET /healthz``, serves everything with uvicorn, and gives each surface its parts
from the runtime, the answer service counted per surface (:class:`bot.web.metrics.MeteredAnswerService`).

Roles (``serve --role``):

=========  ==========================================================================================
role       runs
=========  ==========================================================================================
all        every surface and the scheduler, in one process (the embedded default)
web        every surface, no scheduler: stateless, scale it to N replicas behind a load balancer,
           sharing a Qdrant server and a PostgreSQL state database
scheduler  the scheduler, with ``/healthz``, ``/readyz`` and ``/metrics`` only (run exactly one)
=========  ==========================================================================================

The scheduler (:func:`build_scheduler`, also what ``helpdesk-bot schedule`` runs) carries the sync
jobs of :mod:`bot.sync.scheduler` and the operations jobs: trimming processed-event keys, the
questions log's retention, and (``HELPDESK_HEALTH_DIGEST_CHANNEL``) the knowledge-health digest:
the finder's report and the week's top knowledge gaps posted to an admin channel on
``HELPDESK_HEALTH_DIGEST_CRON``.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_bolt import App
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import ConfigError, StoreError, StoreUnavailableError
from bot.health.gaps import Gap, GapFinder
from bot.health.runs import HealthRuns
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.digest import health_digest
from bot.slack.transport import SlackIngress, slack_ingress
from bot.slack.webapi import SLACK_ERRORS, api_error, build_client
from bot.state import StateStore
from bot.sync.priority import lower_thread_priority
from bot.sync.scheduler import JOB_DEFAULTS, add_sync_jobs
from bot.web.admin import admin_routes
from bot.web.metrics import MeteredAnswerService, MeteredDrafts, MeteredFeedback, Metrics
from bot.web.ops import ops_routes, ping_store

log = structlog.get_logger(__name__)

ROLES = ("all", "web", "scheduler")
HEALTH_PATH = "/healthz"
#: Event de-duplication keys are kept a week: far beyond any sender's redelivery window.
EVENT_KEYS_KEEP_S = 7 * 24 * 3600
#: How often the operations jobs (event keys, questions log retention) run.
OPS_JOBS_EVERY_H = 6
#: Days of knowledge gaps in the weekly digest.
DIGEST_GAP_DAYS = 7

#: Builds the (not yet started) scheduler of a process; tests pass one that records what it built.
SchedulerFactory = Callable[[], BaseScheduler]


def background_scheduler(nice: int = 0) -> BaseScheduler:
    """The default scheduler: APScheduler's background threads, in UTC, each at CPU niceness ``nice``
    (``HELPDESK_SYNC_NICE``, :mod:`bot.sync.priority`), so answers in the same process come first."""
    pool = ThreadPoolExecutor(pool_kwargs={"initializer": lower_thread_priority, "initargs": (nice,)})
    return BackgroundScheduler(timezone="UTC", executors={"default": pool})


# --- the scheduler -------------------------------------------------------------------------------
def add_ops_jobs(scheduler: BaseScheduler, state: StateStore, settings: Settings) -> None:
    """The operations jobs: forget old event keys (``forget-events``), the questions log's retention (``forget-questions``)."""

    def forget_questions() -> None:
        removed = state.questions.forget_questions(older_than_s=settings.question_log_days * 86400)
        if removed:
            log.info("questions_forgotten", rows=removed, keep_days=settings.question_log_days)

    every = IntervalTrigger(hours=OPS_JOBS_EVERY_H)
    scheduler.add_job(state.events.forget_events, every, kwargs={"older_than_s": EVENT_KEYS_KEEP_S},
                      id="forget-events", name="forget old event keys", **JOB_DEFAULTS)
    scheduler.add_job(forget_questions, every, id="forget-questions", name="questions log retention", **JOB_DEFAULTS)


def add_health_digest(scheduler: BaseScheduler, runtime: Runtime, settings: Settings, *,
                      health: HealthRuns | None = None, client: WebClient | None = None) -> None:
    """The weekly knowledge-health digest (``health-digest``), when ``HELPDESK_HEALTH_DIGEST_CHANNEL`` is set.

    Raises:
        ConfigError: the cron line is not valid, or there is no Slack bot token to post with.
    """
    channel = settings.health_digest_channel.strip()
    if not channel:
        return
    try:
        trigger = CronTrigger.from_crontab(settings.health_digest_cron, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(f"HELPDESK_HEALTH_DIGEST_CRON={settings.health_digest_cron!r} is not a crontab line "
                          f"(minute hour day month weekday, e.g. '0 9 * * mon'): {exc}") from exc
    slack = client or build_client(settings)  # a missing bot token stops start-up, not the first digest
    runs = health or HealthRuns(lambda: runtime.health, lambda: runtime.state.health)
    gaps = GapFinder(lambda: runtime.query_embedder, threshold=settings.gap_similarity)

    def digest() -> None:
        report = runs.run(trigger="weekly digest")
        found = gaps.find(runtime.state.questions, days=DIGEST_GAP_DAYS) if settings.question_log_days > 0 else []
        message = health_digest(report, found, days=DIGEST_GAP_DAYS)
        try:
            slack.chat_postMessage(channel=channel, **message.as_kwargs())
        except SLACK_ERRORS as exc:
            log.error("health_digest_post_failed", channel=channel, error=api_error(exc))
            return
        log.info("health_digest_posted", channel=channel, contradictions=len(report.contradictions),
                 not_helpful=len(report.not_helpful), stale=len(report.stale), gaps=len(found))

    scheduler.add_job(digest, trigger, id="health-digest", name="knowledge-health digest", **JOB_DEFAULTS)


def build_scheduler(runtime: Runtime, settings: Settings, *, factory: SchedulerFactory | None = None,
                    health: HealthRuns | None = None, client: WebClient | None = None) -> BaseScheduler:
    """The scheduler of a process with the scheduler role: every sync job and every operations job (not started).

    Args:
        health: the process's finder runs (shared with its admin page); default: a new one.
        client: the Slack Web API client the digest posts with (default: from settings).
    """
    scheduler = factory() if factory is not None else background_scheduler(settings.sync_nice)
    add_sync_jobs(scheduler, runtime.syncs)
    add_ops_jobs(scheduler, runtime.state, settings)
    add_health_digest(scheduler, runtime, settings, health=health, client=client)
    return scheduler


# --- HTTP ----------------------------------------------------------------------------------------
def asgi_app(routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The process's ASGI app: ``GET /healthz`` (the process is up) and the surfaces' ``routes``."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route(HEALTH_PATH, health, methods=["GET"]), *routes])


class HttpServer:
    """uvicorn serving an ASGI app in a thread (``start``/``stop``), or in the foreground (``run``).

    ``trusted_proxies`` (``HELPDESK_TRUSTED_PROXIES``: addresses or networks, ``*`` for any; empty
    for none) are the only peers whose ``X-Forwarded-For`` / ``-Proto`` uvicorn believes; by
    default nobody's are, so a client address (the admin login throttle's key) cannot be forged.
    uvicorn's own logging configuration is not installed: its records go through ours.
    """

    def __init__(self, asgi: Any, *, host: str, port: int, trusted_proxies: str = "") -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        trusted = [p.strip() for p in trusted_proxies.split(",") if p.strip()]
        config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off", log_config=None,
                                proxy_headers=bool(trusted), forwarded_allow_ips=trusted or [])
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


# --- the surfaces --------------------------------------------------------------------------------
def metered_answers(runtime: Runtime, settings: Settings, metrics: Metrics, surface: str) -> MeteredAnswerService:
    """The runtime's answer service as ``surface`` gets it: counted, and logged for the admin page when the log is on."""
    questions = runtime.state.questions if settings.question_log_days > 0 else None
    return MeteredAnswerService(lambda: runtime.answers, metrics=metrics, surface=surface, questions=questions)


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


def helpdesk_routes(runtime: Runtime, settings: Settings, metrics: Metrics, *,
                    closers: list[Callable[[], None]]) -> list[BaseRoute]:
    """The helpdesk webhook endpoints, when :mod:`bot.helpdesk` is part of this install."""
    try:
        from bot.helpdesk.service import DraftService
        from bot.helpdesk.webhooks import webhook_routes
    except ImportError as exc:  # an install without the helpdesk package: Slack and the admin page still work
        log.info("helpdesk_webhooks_not_mounted", reason=type(exc).__name__)
        return []

    def build() -> DraftService:
        return DraftService.from_runtime(runtime, settings=settings,
                                         answers=metered_answers(runtime, settings, metrics, "helpdesk"),  # type: ignore[arg-type]
                                         drafts=MeteredDrafts(runtime.state.db, metrics=metrics))

    service = LazyDraftService(build)
    closers.append(service.close)
    return list(webhook_routes(service, settings))  # type: ignore[arg-type]


def build_routes(runtime: Runtime, settings: Settings, *, role: str, metrics: Metrics,
                 closers: list[Callable[[], None]], health: HealthRuns | None = None,
                 checks: dict[str, Callable[[], None]] | None = None) -> list[BaseRoute]:
    """The routes of ``role`` besides ``/healthz`` and Slack's: ``/readyz`` and ``/metrics`` in every role;
    ``/admin`` and ``/webhooks/*`` in ``all`` and ``web``.

    Args:
        closers: called at shutdown (the helpdesk draft workers are appended here).
        health: the process's knowledge-health runs for the admin page's tab (default: a new one).
        checks: readiness checks besides the state database and the store (Slack's, in a web role).

    Raises:
        ConfigError: the role is unknown, or the admin token is set but too short.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    checks = {
        "state_db": lambda: runtime.state.db.ping(),
        "store": lambda: ping_store(runtime.store, settings.collection_prefix),
        **(checks or {}),
    }
    routes = ops_routes(checks, metrics, timeout_s=settings.readiness_timeout_s)
    if role == "scheduler":
        return routes
    state = runtime.state
    health = health or HealthRuns(lambda: runtime.health, lambda: state.health)
    routes.extend(admin_routes(settings, syncs=runtime.syncs, ledger=state.ledger, questions=state.questions,
                               drafts=state.drafts, embedder=lambda: runtime.query_embedder, health=health))
    routes.extend(helpdesk_routes(runtime, settings, metrics, closers=closers))
    return routes


def build_slack(runtime: Runtime, settings: Settings, metrics: Metrics, *,
                client: WebClient | None = None) -> SlackIngress:
    """The Slack surface over the runtime's parts, as its ingress (routes, or a Socket Mode connection).

    The Bolt app checks the bot token with ``auth.test`` when built; when the Slack API cannot be
    reached that is retried in the background (the ingress's readiness check says why).

    Raises:
        ConfigError: a token or the signing secret the mode needs is missing, or Slack refused the token.
    """
    gaps: Callable[[int], list[Gap]] | None = None
    if settings.question_log_days > 0:  # /helpdesk gaps reads the questions log
        finder = GapFinder(lambda: runtime.query_embedder, threshold=settings.gap_similarity)

        def find_gaps(days: int) -> list[Gap]:
            return finder.find(runtime.state.questions, days=days)

        gaps = find_gaps

    def build() -> App:
        return build_app(settings, answers=metered_answers(runtime, settings, metrics, "slack"),
                         events=runtime.state.events, feedback=MeteredFeedback(runtime.state.db, metrics=metrics),
                         syncs=runtime.syncs, style=runtime.style, client=client, gaps=gaps)

    return slack_ingress(build, settings)  # checks the app token (Socket Mode), then tries Slack once


# --- serve ---------------------------------------------------------------------------------------
def serve(runtime: Runtime, settings: Settings, *, mode: str | None = None, scheduler: bool = True,
          role: str = "all", stop: threading.Event | None = None, client: WebClient | None = None,
          scheduler_factory: SchedulerFactory | None = None) -> int:
    """Run the process of ``role`` until stopped: the surfaces' HTTP routes and Slack, and/or the scheduler.

    Args:
        runtime: the composition root; each surface gets the parts it uses.
        settings: settings; ``mode`` overrides ``slack_mode``.
        scheduler: False turns role ``all`` into ``web`` (``--no-scheduler``: another process runs it).
        role: ``all``, ``web`` or ``scheduler`` (see the module docstring).
        stop: set it to stop (SIGTERM and Ctrl-C do too).
        client: the Slack Web API client (tests point one at a local fake).
        scheduler_factory: builds the scheduler the jobs are added to.

    Raises:
        ConfigError: a token or the signing secret the mode needs is missing, or the role is unknown.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "all" and not scheduler:
        role = "web"
    web, run_scheduler = role != "scheduler", role != "web"
    mode = mode or settings.slack_mode
    settings = settings.model_copy(update={"slack_mode": mode})
    metrics = Metrics()
    metrics.watch_state(lambda: runtime.state.ledger, lambda: [s.name for s in runtime.sources])
    closers: list[Callable[[], None]] = []
    health = HealthRuns(lambda: runtime.health, lambda: runtime.state.health)  # one finder run at a time in this process
    slack: SlackIngress | None = None

    def slack_ready() -> None:
        if slack is not None:
            slack.check()  # raises while the Slack API has not been reached, saying why

    routes = build_routes(runtime, settings, role=role, metrics=metrics, closers=closers, health=health,
                          checks={"slack": slack_ready} if web else None)  # checks the admin token
    if web:
        slack = build_slack(runtime, settings, metrics, client=client)  # checks the Slack tokens, tries Slack
        routes.extend(slack.routes)
    warn_about_split_roles(role, settings)
    _warm(runtime, answers=web)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    http = HttpServer(asgi_app(routes), host=settings.http_host, port=settings.http_port,
                      trusted_proxies=settings.trusted_proxies)
    jobs = None
    try:
        if run_scheduler:
            jobs = build_scheduler(runtime, settings, factory=scheduler_factory, health=health, client=client)
            jobs.start()
        http.start()
        if slack is not None:
            slack.start()
        log.info("serving", role=role, mode=mode if web else None, url=http.url, scheduler=run_scheduler)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    finally:
        if slack is not None:
            slack.stop()
        http.stop()
        if jobs is not None:
            runtime.syncs.interrupt()  # a running sync stops at its next document boundary, lease released
            jobs.shutdown(wait=True)
        for close in closers:
            close()
    return 0


def run_scheduler(runtime: Runtime, settings: Settings, *, run_now: bool = False, seconds: float = 0,
                  factory: SchedulerFactory | None = None, stop: threading.Event | None = None) -> int:
    """``helpdesk-bot schedule``: the scheduler of ``serve --role scheduler`` in the foreground, without HTTP.

    Args:
        run_now: sync every source once at start.
        seconds: stop after this long (0: until SIGTERM or Ctrl-C).
    """
    jobs = build_scheduler(runtime, settings, factory=factory)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    jobs.start()
    for job in jobs.get_jobs():
        print(f"scheduled: {job.name}: next run {job.next_run_time:%Y-%m-%d %H:%M:%S %Z}")
    try:
        if run_now:
            for name in runtime.syncs.sources:
                runtime.syncs.run_scheduled(name)
        stop.wait(seconds) if seconds else stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.syncs.interrupt()
        jobs.shutdown(wait=True)
    return 0


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


def _warm(runtime: Runtime, *, answers: bool) -> None:
    """Create the state database's schema, and (``answers``) open the store and load the model, before the first request.

    A state database or Qdrant server that is not up yet is only logged (``/readyz`` reports it, the
    first use retries); anything that waiting will not fix (a locked embedded store, a missing model)
    stops ``serve``.
    """
    try:
        runtime.state.db.ping()
    except StoreError as exc:
        log.warning("warm_up_failed", part="state_db", error=type(exc).__name__, reason=str(exc)[:200])
    if not answers:
        return
    try:
        runtime.answers  # noqa: B018 - a cached property: building it is the point
    except StoreUnavailableError as exc:
        log.warning("warm_up_failed", part="store", error=type(exc).__name__, reason=str(exc)[:200])
        return
    if runtime.settings.qdrant_warm_cache:
        runtime.store.warm_caches()

