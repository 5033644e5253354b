"""Fixtures of the helpdesk drafting tests: fake Zendesk / Freshdesk / Intercom over real HTTP, a DraftService on
the sample knowledge base, and the webhook app served by uvicorn in a thread (real HTTP both ways); the
harness itself is :mod:`tests.support.helpdesk`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from bot.helpdesk.desks import FreshdeskDesk, IntercomDesk, ZendeskDesk
from bot.helpdesk.models import Provider
from bot.helpdesk.service import DraftService
from bot.helpdesk.webhooks import build_webhook_app
from bot.serve import HttpServer
from bot.settings import Settings
from bot.state import StateStore
from connectors.freshdesk import FreshdeskSettings
from connectors.intercom import IntercomSettings
from connectors.zendesk import ZendeskSettings
from tests.fakes.freshdesk_server import FakeFreshdesk
from tests.fakes.intercom_server import FakeIntercom
from tests.support.helpdesk import (
    ADMIN_ID,
    ENV,
    FD_KEY,
    FD_SECRET,
    IC_SECRET,
    IC_TOKEN,
    ZD_SECRET,
    Dispatch,
    Harness,
    zendesk_with_ticket,
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``bot.cli.main`` configures structlog to print to the (captured) stderr of the test: undo it."""
    old = structlog.get_config()
    yield
    structlog.configure(**old)


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[tuple[HttpServer, Dispatch]]:
    dispatch = Dispatch()
    server = HttpServer(dispatch, host="127.0.0.1", port=0).start()
    yield server, dispatch
    server.stop()


@pytest.fixture(scope="session")
def state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty state database, created once: creating the schema costs ~0.3 s of fsyncs each time."""
    path = tmp_path_factory.mktemp("state") / "template.db"
    template = StateStore(f"sqlite:///{path}")
    template.db.ping()  # the schema is created on first use
    template.close()
    return path


@pytest.fixture
def make_harness(sample_runtime: Any, settings: Settings, tmp_path: Path, state_template: Path,
                 webhook_server: tuple[HttpServer, Dispatch]) -> Iterator[Callable[..., Harness]]:
    """``make_harness(**settings_overrides)``: fakes, service, webhook app; all closed after the test."""
    stack: list[Callable[[], None]] = []
    server, dispatch = webhook_server

    def make(**overrides: Any) -> Harness:
        s = settings.model_copy(update={
            "zendesk_webhook_secret": SecretStr(ZD_SECRET), "intercom_client_secret": SecretStr(IC_SECRET),
            "freshdesk_webhook_secret": SecretStr(FD_SECRET), "intercom_admin_id": ADMIN_ID, **overrides})
        zd = zendesk_with_ticket().start()
        fd = FakeFreshdesk(api_key=FD_KEY).start()
        ic = FakeIntercom(token=IC_TOKEN).start()
        stack.extend([zd.stop, fd.stop, ic.stop])
        sleeps: list[float] = []
        clients = [httpx.Client(timeout=5), httpx.Client(timeout=5), httpx.Client(base_url=ic.url, timeout=5)]
        stack.extend(c.close for c in clients)
        desks = {
            Provider.ZENDESK: ZendeskDesk(ZendeskSettings(name="zd", base_url=zd.url), client=clients[0], environ=ENV,
                                          sleep=sleeps.append),
            Provider.FRESHDESK: FreshdeskDesk(FreshdeskSettings(name="fd", base_url=fd.url), client=clients[1],
                                              environ=ENV, sleep=sleeps.append),
            Provider.INTERCOM: IntercomDesk(IntercomSettings(name="ic", base_url=ic.url), admin_id=ADMIN_ID,
                                            client=clients[2], environ=ENV, sleep=sleeps.append),
        }
        db = tmp_path / f"state-{len(stack)}.db"
        shutil.copyfile(state_template, db)
        state = StateStore(f"sqlite:///{db}")
        stack.append(state.close)
        service = DraftService(answers=sample_runtime.answers, retriever=sample_runtime.retriever, events=state.events,
                               drafts=state.drafts, desks=desks, settings=s)
        stack.append(service.close)
        dispatch.app = build_webhook_app(service, s)
        return Harness(zd=zd, fd=fd, ic=ic, service=service, state=state, settings=s, url=server.url, sleeps=sleeps)

    yield make
    dispatch.app = None
    for close in reversed(stack):
        close()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
