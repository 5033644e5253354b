"""One web process's routes as ``serve --role web`` mounts them, over real HTTP, its listeners recorded.

``/slack/events`` (the Bolt app, its listeners on a drainable executor, answering with the real
service over the sample knowledge base), the three webhooks (the real draft service, no helpdesk
configured, its submissions recorded), ``/admin/*``, ``/healthz``, ``/readyz`` and ``/metrics``,
served by uvicorn on 127.0.0.1. The HTTP property tests and the log tests drive it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bot.helpdesk.service import DraftService
from bot.helpdesk.webhooks import webhook_routes
from bot.runtime import Runtime
from bot.serve import HttpServer, asgi_app
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.transport import slack_events_route
from bot.slack.webapi import build_client
from bot.web.admin import admin_routes
from bot.web.metrics import Metrics
from bot.web.ops import ops_routes
from tests.fakes.slack_server import FakeSlack
from tests.support.executor import DrainableExecutor
from tests.support.slack import RecordingAnswers
from tests.support.web import web_settings

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ZD_SECRET, IC_SECRET, FD_SECRET = "zd-webhook-secret-41", "ic-client-secret-52", "fd-shared-secret-63"


class RecordingDrafts(DraftService):
    """The real draft service, counting what the webhooks hand it."""

    submitted: list[Any]

    def submit(self, event: Any) -> Any:
        self.submitted.append(event)
        return super().submit(event)


@dataclass
class WebProcess:
    http: httpx.Client
    url: str
    settings: Settings
    executor: DrainableExecutor
    answers: RecordingAnswers
    drafts: RecordingDrafts
    slack: FakeSlack
    runtime: Runtime


@contextmanager
def web_process(tmp: Path, *, embedder: Any, sample_runtime: Any) -> Iterator[WebProcess]:
    with FakeSlack() as slack:
        s = web_settings(tmp, slack_bot_token=slack.token, slack_signing_secret=SLACK_SECRET, slack_mode="http",
                         zendesk_webhook_secret=SecretStr(ZD_SECRET), intercom_client_secret=SecretStr(IC_SECRET),
                         freshdesk_webhook_secret=SecretStr(FD_SECRET))
        rt = Runtime(s, embedder=embedder)
        state = rt.state
        executor = DrainableExecutor()
        answers = RecordingAnswers(sample_runtime.answers)
        bolt = build_app(s, answers=answers, events=state.events, feedback=state.feedback, syncs=rt.syncs,
                         client=build_client(s, base_url=slack.api_url), listener_executor=executor)
        drafts = RecordingDrafts(answers=sample_runtime.answers, retriever=sample_runtime.retriever,
                                 events=state.events, drafts=state.drafts, desks={}, settings=s)
        drafts.submitted = []
        routes = [*ops_routes({"state_db": state.db.ping}, Metrics(process=False), timeout_s=2),
                  *admin_routes(s, syncs=rt.syncs, ledger=state.ledger, questions=state.questions, drafts=state.drafts,
                                embedder=lambda: embedder),
                  *webhook_routes(drafts, s), slack_events_route(bolt, signing_secret=SLACK_SECRET)]
        server = HttpServer(asgi_app(routes), host="127.0.0.1", port=0).start()
        http = httpx.Client(base_url=server.url, timeout=30)
        try:
            yield WebProcess(http=http, url=server.url, settings=s, executor=executor, answers=answers, drafts=drafts,
                             slack=slack, runtime=rt)
        finally:
            http.close()
            server.stop()
            drafts.close()
            executor.shutdown(wait=True)
            rt.close()
