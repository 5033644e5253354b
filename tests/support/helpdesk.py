"""The helpdesk drafting harness: vendor signatures and webhook bodies, the fakes with a ticket, the harness.

Signatures are written out here exactly as the vendors compute them, independently of
:mod:`bot.helpdesk.signatures`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.helpdesk.service import DraftService
from bot.settings import Settings
from bot.state import StateStore
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


# -- signing, exactly as the vendors do ---------------------------------------------------------

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


def zendesk_with_ticket() -> FakeZendesk:
    """A fake Zendesk with a customer, an admin, and ticket 7 asking :data:`PASSWORD_QUESTION`."""
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
