"""The operations routes every role serves: ``/readyz`` and ``/metrics``.

``/readyz`` answers 200 when every dependency check passes within ``HELPDESK_READINESS_TIMEOUT_S``
(the vector store and the state database, as :mod:`bot.serve` wires them), else 503 with the failing
check named (never its secrets). ``/metrics`` is the Prometheus text format of one
:class:`~bot.web.metrics.Metrics` registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.index.store import VectorStore
from bot.web.metrics import Metrics

log = structlog.get_logger(__name__)

READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


def ping_store(store: VectorStore, prefix: str) -> None:
    """Raise unless the vector store answers: a round trip to a Qdrant server, or the embedded store open."""
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

    def __init__(self, checks: Mapping[str, Callable[[], None]], *, timeout_s: float) -> None:
        self.checks = dict(checks)
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


def ops_routes(checks: Mapping[str, Callable[[], None]], metrics: Metrics, *, timeout_s: float) -> list[BaseRoute]:
    """``/readyz`` (each of ``checks`` passes, see :class:`Readiness`) and ``/metrics`` (``metrics`` rendered)."""
    readiness = Readiness(checks, timeout_s=timeout_s)

    async def scrape(request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)  # the state collector queries the database
        return Response(body, media_type=metrics.content_type, headers={"Cache-Control": "no-store"})

    return [Route(READY_PATH, readiness.endpoint, methods=["GET"]), Route(METRICS_PATH, scrape, methods=["GET"])]
