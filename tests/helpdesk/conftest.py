"""Helpdesk drafting harness: fake Zendesk / Freshdesk / Intercom over real HTTP, a DraftService on the
sample knowledge base, and the webhook app served by uvicorn in a thread (real HTTP both ways)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from pydantic import SecretStr

from bot.helpdesk.desks import FreshdeskDesk, IntercomDesk, ZendeskDesk
from bot.helpdesk.models import Provider
from bot.helpdesk.service import DraftService
from bot.helpdesk.webhooks import build_webhook_app
from bot.settings import Settings
from bot.state import StateStore
from connectors.freshdesk import FreshdeskSettings
from connectors.intercom import IntercomSettings
from connectors.zendesk import ZendeskSettings
from tests.fakes.freshdesk_server import FakeFreshdesk
from tests.fakes.intercom_server import FakeIntercom
from tests.fakes.zendesk_server import FakeZendesk, comment

ZD_EMAIL, ZD_TOKEN = "bot@acme.test", "zd-token-5e1f"
FD_KEY = "fd-key-77aa"
IC_TOKEN = "ic-token-91b0"
ENV = {"ZENDESK_EMAIL": ZD_EMAIL, "ZENDESK_API_TOKEN": ZD_TOKEN, "FRESHDESK_API_KEY": FD_KEY,
       "INTERCOM_ACCESS_TOKEN": IC_TOKEN}
ZD_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
IC_SECRET = "ic-client-secret-3c9d"
FD_SECRET = "fd-shared-secret-0b4e"
ADMIN_ID = "991267696"
CUSTOMER, AGENT = 500, 900
PASSWORD_QUESTION = "How do I reset my password? I am locked out of my account."
KB_PASSWORD_URL = "https://help.parcelly.example/articles/reset-your-password"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``bot.cli.main`` configures structlog to print to the (captured) stderr of the test: undo it."""
    old = structlog.get_config()
    yield
    structlog.configure(**old)


# -- signing, exactly as the vendors do (written out here, independent of bot.helpdesk) --------

def zendesk_headers(body: bytes, *, secret: str = ZD_SECRET, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": sig,
            "X-Zendesk-Webhook-Signature-Timestamp": ts, "X-Zendesk-Webhook-Id": "01GK8E6BKWMJZD2T8Y5AXJQMG5"}


def intercom_headers(body: bytes, *, secret: str = IC_SECRET) -> dict[str, str]:
    sig = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature": sig,
            "User-Agent": "intercom-parrot-service-client/1.0"}


def zendesk_event(ticket_id: int, *, event_id: str = "01HNXXXX-CTEXAMPLE", kind: str = "ticket.created",
                  event: dict[str, Any] | None = None) -> bytes:
    """An event-webhook body shaped like Zendesk's (``zen:event-type:...``)."""
    return json.dumps({
        "type": f"zen:event-type:{kind}", "account_id": 88888888, "id": event_id,
        "time": "2024-04-17T17:18:10Z", "zendesk_event_version": "2022-11-06", "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": str(ticket_id), "status": "NEW", "via": {"channel": "web"},
                   "created_at": "2024-04-17T17:18:10Z", "updated_at": "2024-04-17T17:18:10Z",
                   "requester_id": str(CUSTOMER), "subject": "(not trusted)"},
        "event": event if event is not None else {"current": {"status": "NEW"}},
    }).encode()


def intercom_notification(conversation_id: str, *, topic: str = "conversation.user.created",
                          notif_id: str = "notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3") -> bytes:
    return json.dumps({
        "type": "notification_event", "app_id": "fakeapp1", "id": notif_id, "topic": topic,
        "data": {"type": "notification_event_data",
                 "item": {"type": "conversation", "id": conversation_id, "created_at": 1_700_000_000,
                          "source": {"body": "<p>(not trusted)</p>"}}},
        "links": {}, "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0,
        "first_sent_at": 1_700_000_000, "created_at": 1_700_000_000, "self": None,
    }).encode()


# -- the ASGI app over real HTTP ----------------------------------------------------------------

class AsgiThread:
    """uvicorn serving an ASGI app on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> AsgiThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Harness:
    zd: FakeZendesk
    fd: FakeFreshdesk
    ic: FakeIntercom
    service: DraftService
    state: StateStore
    settings: Settings
    url: str
    sleeps: list[float] = field(default_factory=list)

    def post(self, provider: str, body: bytes, headers: dict[str, str], *, params: dict[str, str] | None = None,
             wait: bool = True) -> httpx.Response:
        response = httpx.post(f"{self.url}/webhooks/{provider}", content=body, headers=headers, params=params,
                              timeout=10)
        if wait:
            assert self.service.wait(timeout=30), "drafting did not finish"
        return response


def _zendesk() -> FakeZendesk:
    zd = FakeZendesk(credentials=(f"{ZD_EMAIL}/token", ZD_TOKEN))
    zd.add_user(CUSTOMER, "Carla Customer", "end-user")
    zd.add_user(AGENT, "Ada Admin", "admin")
    zd.add_ticket(7, "Locked out", status="new", requester_id=CUSTOMER, tags=("web",),
                  comments=[comment(PASSWORD_QUESTION, author_id=CUSTOMER)])
    return zd


class Dispatch:
    """An ASGI app that forwards to whichever app the current test installed (one server per session)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "no webhook app installed"
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[tuple[AsgiThread, Dispatch]]:
    dispatch = Dispatch()
    with AsgiThread(dispatch) as server:
        yield server, dispatch


@pytest.fixture(scope="session")
def state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty state database, created once: creating the schema costs ~0.3 s of fsyncs each time."""
    path = tmp_path_factory.mktemp("state") / "template.db"
    StateStore(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def make_harness(sample_runtime: Any, settings: Settings, tmp_path: Path, state_template: Path,
                 webhook_server: tuple[AsgiThread, Dispatch]) -> Iterator[Callable[..., Harness]]:
    """``make_harness(**settings_overrides)``: fakes, service, webhook app; all closed after the test."""
    stack: list[Callable[[], None]] = []
    server, dispatch = webhook_server

    def make(**overrides: Any) -> Harness:
        s = settings.model_copy(update={
            "zendesk_webhook_secret": SecretStr(ZD_SECRET), "intercom_client_secret": SecretStr(IC_SECRET),
            "freshdesk_webhook_secret": SecretStr(FD_SECRET), "intercom_admin_id": ADMIN_ID, **overrides})
        zd = _zendesk().start()
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
        service = DraftService(answers=sample_runtime.answers, retriever=sample_runtime.retriever, state=state,
                               desks=desks, settings=s)
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
