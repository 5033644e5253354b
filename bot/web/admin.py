"""The admin page (``/admin``): sources and resync, recent questions, knowledge gaps, knowledge health, drafts.

Server-rendered HTML (Jinja2, autoescaped), no script. Access:

* ``HELPDESK_ADMIN_TOKEN`` unset: every ``/admin`` path answers 404 saying how to turn the page on.
* ``GET /admin/login`` shows a form; ``POST /admin/login`` compares the token in constant time
  (``hmac.compare_digest`` over SHA-256 digests, so neither content nor length leaks) and sets the
  session cookie ``helpdesk_admin``: ``base64(payload).base64(HMAC-SHA256)``, HttpOnly,
  SameSite=Strict, Path=/admin, Secure over HTTPS, expiring after ``HELPDESK_ADMIN_SESSION_HOURS``.
  The signing key is derived from the token, so sessions are valid on every replica (nothing is
  stored server-side) and changing the token logs everyone out. Failed logins are throttled per
  client address (10 per 5 minutes, per process).
* Every POST form carries a CSRF token: the login form a double-submit nonce (cookie + field),
  the others the session's own token (inside the signed cookie). Missing or wrong: 403. A POST
  whose ``Origin`` names another host is refused too.
* Without a valid session a page redirects to the login form (303) and a POST answers 401.

Never logged: the token, cookies, question text. Logged: logins (success/failure, client address),
resync requests (source, full).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import ConfigError, InputError
from bot.health.gaps import Gap, GapFinder
from bot.health.runs import HealthRuns
from bot.index.embeddings import Embedder
from bot.settings import Settings
from bot.state.drafts import DraftLog
from bot.state.questions import QuestionLog
from bot.state.sync_ledger import SyncLedger
from bot.sync.service import SyncService
from bot.web.templates import environment

log = structlog.get_logger(__name__)

PREFIX = "/admin"
SESSION_COOKIE = "helpdesk_admin"
LOGIN_COOKIE = "helpdesk_admin_login"
LOGIN_COOKIE_MAX_AGE_S = 30 * 60
MIN_TOKEN_CHARS = 16
#: Admin forms are a few fields; anything larger is not ours.
MAX_FORM_BYTES = 16_384
LOGIN_FAILURES_ALLOWED = 10
LOGIN_WINDOW_S = 300.0
QUESTIONS_SHOWN = 100
DRAFTS_SHOWN = 100
RESYNCS_SHOWN = 20
GAP_QUESTIONS_MAX = 500

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # No script at all; inline <style> only; forms post to this origin only.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class AdminSession:
    csrf: str
    expires: float


class AdminAuth:
    """Token check and the signed, stateless session cookie.

    Args:
        token: ``HELPDESK_ADMIN_TOKEN``.
        session_s: session lifetime.
        cookie_secure: ``auto`` (HTTPS or ``X-Forwarded-Proto: https``), ``always`` or ``never``.
        clock: wall clock (tests move it).
    """

    def __init__(self, token: str, *, session_s: float, cookie_secure: str = "auto",
                 clock: Callable[[], float] = time.time) -> None:
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"HELPDESK_ADMIN_TOKEN is too short ({len(token)} characters): use at least "
                              f"{MIN_TOKEN_CHARS} random ones, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        self._digest = hashlib.sha256(token.encode()).digest()
        self._key = hmac.new(token.encode(), b"helpdesk-bot admin session v1", hashlib.sha256).digest()
        self.session_s = session_s
        self.cookie_secure = cookie_secure
        self.clock = clock

    def check_token(self, candidate: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(candidate.encode()).digest(), self._digest)

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def issue(self) -> tuple[str, AdminSession]:
        session = AdminSession(csrf=secrets.token_urlsafe(24), expires=self.clock() + self.session_s)
        payload = json.dumps({"csrf": session.csrf, "exp": int(session.expires)}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._sign(payload)}", session

    def verify(self, cookie: str | None) -> AdminSession | None:
        if not cookie or cookie.count(".") != 1 or len(cookie) > 1024:
            return None
        body, signature = cookie.split(".")
        try:
            payload = _unb64(body)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            data = json.loads(payload)
            session = AdminSession(csrf=str(data["csrf"]), expires=float(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > self.clock() else None

    def secure(self, request: Request) -> bool:
        if self.cookie_secure != "auto":
            return self.cookie_secure == "always"
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return request.url.scheme == "https" or forwarded == "https"


class LoginThrottle:
    """At most ``allowed`` failed logins per client address in a sliding ``window_s`` (per process)."""

    def __init__(self, *, allowed: int = LOGIN_FAILURES_ALLOWED, window_s: float = LOGIN_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000) -> None:
        self.allowed, self.window_s, self.clock, self.max_clients = allowed, window_s, clock, max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str) -> deque[float]:
        q = self._failures.setdefault(client, deque())
        cutoff = self.clock() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client)) >= self.allowed

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) >= self.max_clients and client not in self._failures:
                self._failures.pop(next(iter(self._failures)))
            self._recent(client).append(self.clock())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form of a POST (first value per field), or None when it is too large."""
    declared = request.headers.get("content-length") or "0"
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        return None
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not every client sends one; the CSRF token is the check that always applies
    if origin == "null":
        return False  # a sandboxed frame or a privacy redirect: not our page
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class AdminPage:
    """The routes and their handlers; see the module docstring.

    Args:
        settings: admin token, cookie and retention settings.
        syncs: source status and resync requests.
        ledger: the resync requests listed under the sources.
        questions: the questions log (questions page, knowledge gaps).
        drafts: the helpdesk drafts page.
        embedder: gives the embedding model that groups knowledge gaps (loaded on first use).
        health: runs the knowledge-health finder and reads its latest report (None: the tab says it is off).
        clock: wall clock for the session cookie.
    """

    def __init__(self, settings: Settings, *, syncs: SyncService, ledger: SyncLedger, questions: QuestionLog,
                 drafts: DraftLog, embedder: Callable[[], Embedder], health: HealthRuns | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        token = settings.admin_token.get_secret_value() if settings.admin_token else ""
        self.syncs = syncs
        self.ledger = ledger
        self.questions_log = questions
        self.drafts_log = drafts
        self.settings = settings
        self.auth = AdminAuth(token, session_s=settings.admin_session_hours * 3600,
                              cookie_secure=settings.admin_cookie_secure, clock=clock)
        self.throttle = LoginThrottle()
        self.templates = environment()
        self.gaps = GapFinder(embedder, threshold=settings.gap_similarity)
        self.health_runs = health

    # --- plumbing -------------------------------------------------------------------------------------
    def render(self, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def message(self, title: str, message: str, *, status: int, session: AdminSession | None = None) -> HTMLResponse:
        return self.render("message.html", status=status, title=title, message=message,
                           csrf=session.csrf if session else None)

    def session(self, request: Request) -> AdminSession | None:
        return self.auth.verify(request.cookies.get(SESSION_COOKIE))

    def page(self, handler: Callable[[Request, AdminSession], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: a session or a redirect to the login form."""

        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return RedirectResponse(f"{PREFIX}/login", status_code=303, headers={"Cache-Control": "no-store"})
            return await handler(request, session)

        return endpoint

    def action(self, handler: Callable[[Request, AdminSession, dict[str, str]], Awaitable[Response]]
               ) -> Callable[[Request], Awaitable[Response]]:
        """A POST form: a session (401), same origin and a matching CSRF token (403)."""

        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return self.message("Not signed in", "Sign in at /admin/login first.", status=401)
            form = await _form(request)
            if form is None:
                return self.message("Too large", "That form is too large.", status=413, session=session)
            if not _same_origin(request) or not hmac.compare_digest(form.get("csrf", ""), session.csrf):
                log.warning("admin_csrf_rejected", path=request.url.path, client=_client(request))
                return self.message("Forbidden", "The form's security token is missing or stale: reload the page and "
                                    "try again.", status=403, session=session)
            return await handler(request, session, form)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/login", self.login_form, methods=["GET"]),
            Route(f"{PREFIX}/login", self.login, methods=["POST"]),
            Route(f"{PREFIX}/logout", self.action(self.logout), methods=["POST"]),
            Route(PREFIX, self.page(self.sources), methods=["GET"]),
            Route(f"{PREFIX}/", self.page(self.sources), methods=["GET"]),
            Route(f"{PREFIX}/sources/{{name}}/resync", self.action(self.resync), methods=["POST"]),
            Route(f"{PREFIX}/questions", self.page(self.questions), methods=["GET"]),
            Route(f"{PREFIX}/gaps", self.page(self.knowledge_gaps), methods=["GET"]),
            Route(f"{PREFIX}/health", self.page(self.health), methods=["GET"]),
            Route(f"{PREFIX}/health/check", self.action(self.health_check), methods=["POST"]),
            Route(f"{PREFIX}/drafts", self.page(self.drafts), methods=["GET"]),
        ]

    # --- login ----------------------------------------------------------------------------------------
    async def login_form(self, request: Request, *, error: str = "", status: int = 200) -> Response:
        if not error and self.session(request) is not None:
            return RedirectResponse(PREFIX, status_code=303)
        nonce = secrets.token_urlsafe(24)
        response = self.render("login.html", status=status, title="Sign in", login_csrf=nonce, error=error, csrf=None)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_COOKIE_MAX_AGE_S, path=PREFIX, httponly=True,
                            samesite="strict", secure=self.auth.secure(request))
        return response

    async def login(self, request: Request) -> Response:
        client = _client(request)
        form = await _form(request)
        if form is None:
            return self.message("Too large", "That form is too large.", status=413)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not _same_origin(request) or not nonce or not hmac.compare_digest(form.get("csrf", ""), nonce):
            log.warning("admin_csrf_rejected", path=request.url.path, client=client)
            return self.message("Forbidden", "The sign-in form's security token is missing or stale: reload the "
                                "sign-in page and try again.", status=403)
        if self.throttle.blocked(client):
            log.warning("admin_login_throttled", client=client)
            return await self.login_form(request, error="Too many failed attempts: wait a few minutes.", status=429)
        if not self.auth.check_token(form.get("token", "")):
            self.throttle.failed(client)
            log.warning("admin_login_failed", client=client)
            return await self.login_form(request, error="Wrong token.", status=401)
        self.throttle.succeeded(client)
        cookie, _ = self.auth.issue()
        response = RedirectResponse(PREFIX, status_code=303, headers={"Cache-Control": "no-store"})
        secure = self.auth.secure(request)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(self.auth.session_s), path=PREFIX, httponly=True,
                            samesite="strict", secure=secure)
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=secure)
        log.info("admin_login", client=client)
        return response

    async def logout(self, request: Request, session: AdminSession, form: dict[str, str]) -> Response:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict",
                               secure=self.auth.secure(request))
        return response

    # --- pages ----------------------------------------------------------------------------------------
    async def sources(self, request: Request, session: AdminSession) -> Response:
        status_error = ""
        try:
            rows = await run_in_threadpool(self.syncs.status)
        except Exception as exc:  # noqa: BLE001 - the page still shows the requests and the error
            log.warning("admin_status_failed", error=type(exc).__name__)
            rows, status_error = [], f"{type(exc).__name__}: {str(exc)[:200]}"
        requests = await run_in_threadpool(self.ledger.recent_resync_requests, RESYNCS_SHOWN)
        flash = ""
        requested = request.query_params.get("requested")
        req_id = request.query_params.get("id", "")
        # Only echo what this page itself redirected with: a configured source and a request number.
        if requested and req_id.isdigit() and requested in {r.name for r in rows}:
            full = request.query_params.get("full") == "1"
            flash = f"{'Full resync' if full else 'Resync'} of {requested} requested (#{req_id}): " \
                    "the scheduler picks it up within seconds."
        return self.render("sources.html", title="Sources", page="sources", csrf=session.csrf, sources=rows,
                           requests=requests, flash=flash, status_error=status_error)

    async def resync(self, request: Request, session: AdminSession, form: dict[str, str]) -> Response:
        name = request.path_params["name"]
        full = form.get("full") == "1"
        try:
            req_id = await run_in_threadpool(
                lambda: self.syncs.request_resync(name, full=full, requested_by="admin page"))
        except InputError as exc:
            return self.message("No such source", str(exc), status=404, session=session)
        log.info("admin_resync_requested", source=name, full=full, request_id=req_id)
        query = urlencode({"requested": name, "id": req_id, "full": "1" if full else "0"})
        return RedirectResponse(f"{PREFIX}?{query}", status_code=303)

    @property
    def _days(self) -> int:
        return self.settings.question_log_days

    async def questions(self, request: Request, session: AdminSession) -> Response:
        rows = await run_in_threadpool(self.questions_log.recent_questions, QUESTIONS_SHOWN)
        since = datetime.now(UTC) - timedelta(days=max(self._days, 1))
        totals = await run_in_threadpool(lambda: self.questions_log.question_totals(since=since))
        return self.render("questions.html", title="Questions", page="questions", csrf=session.csrf, questions=rows,
                           totals=totals, days=self._days, log_on=self._days > 0, limit=QUESTIONS_SHOWN)

    async def knowledge_gaps(self, request: Request, session: AdminSession) -> Response:
        since = datetime.now(UTC) - timedelta(days=max(self._days, 1))

        def compute() -> list[Gap]:
            return self.gaps.gaps(self.questions_log.gap_candidates(since=since, limit=GAP_QUESTIONS_MAX))

        error = ""
        try:
            gaps = await run_in_threadpool(compute)
        except Exception as exc:  # noqa: BLE001 - e.g. the embedding model is missing in this process
            log.warning("admin_gaps_failed", error=type(exc).__name__)
            gaps, error = [], f"Knowledge gaps are unavailable: {type(exc).__name__}: {str(exc)[:200]}"
        return self.render("gaps.html", title="Knowledge gaps", page="gaps", csrf=session.csrf, gaps=gaps,
                           days=self._days, threshold=self.settings.gap_similarity, error=error)

    async def health(self, request: Request, session: AdminSession) -> Response:
        runs = self.health_runs
        latest, error = None, ""
        if runs is not None:
            try:
                latest = await run_in_threadpool(runs.latest)
            except Exception as exc:  # noqa: BLE001 - the page says so instead of failing
                log.warning("admin_health_failed", error=type(exc).__name__)
                error = f"The latest report is unavailable: {type(exc).__name__}: {str(exc)[:200]}"
            error = error or (f"The last check failed: {runs.last_error}" if runs.last_error else "")
        started = request.query_params.get("started")
        flash = {"1": "Check started: it reads every public article and recent tickets; reload in a minute.",
                 "0": "A check is already running; reload in a minute."}.get(started or "", "")
        stored_at, trigger, report = latest if latest else (None, "", None)
        return self.render("health.html", title="Knowledge health", page="health", csrf=session.csrf, report=report,
                           stored_at=stored_at, trigger=trigger, running=bool(runs and runs.running), on=runs is not None,
                           error=error, flash=flash)

    async def health_check(self, request: Request, session: AdminSession, form: dict[str, str]) -> Response:
        if self.health_runs is None:
            return self.message("Not available", "Knowledge health is not available in this process.", status=404,
                                session=session)
        started = self.health_runs.start(trigger="admin page")
        log.info("admin_health_check", started=started)
        return RedirectResponse(f"{PREFIX}/health?started={1 if started else 0}", status_code=303)

    async def drafts(self, request: Request, session: AdminSession) -> Response:
        rows = await run_in_threadpool(self.drafts_log.recent_drafts, DRAFTS_SHOWN)
        return self.render("drafts.html", title="Drafts", page="drafts", csrf=session.csrf, drafts=rows)


def admin_routes(settings: Settings, *, syncs: SyncService, ledger: SyncLedger, questions: QuestionLog,
                 drafts: DraftLog, embedder: Callable[[], Embedder], health: HealthRuns | None = None,
                 clock: Callable[[], float] = time.time) -> list[BaseRoute]:
    """The admin page's routes (the parts as :class:`AdminPage` takes them), or (no ``HELPDESK_ADMIN_TOKEN``)
    routes that say it is off.

    Raises:
        ConfigError: the token is set but too short.
    """
    if settings.admin_token is None:
        async def off(request: Request) -> Response:
            return PlainTextResponse("The admin page is off: set HELPDESK_ADMIN_TOKEN to turn it on.\n", status_code=404)

        return [Route(PREFIX, off, methods=["GET", "POST"]), Route(f"{PREFIX}/{{rest:path}}", off, methods=["GET", "POST"])]
    return AdminPage(settings, syncs=syncs, ledger=ledger, questions=questions, drafts=drafts, embedder=embedder,
                     health=health, clock=clock).routes()
