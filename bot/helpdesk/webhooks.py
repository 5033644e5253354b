"""Webhook endpoints: ``POST /webhooks/zendesk``, ``/webhooks/intercom``, ``/webhooks/freshdesk``.

Each request is verified (see :mod:`bot.helpdesk.signatures`), reduced to ids (provider, ticket,
event), handed to :meth:`DraftService.submit` and answered ``202`` at once: drafting (API calls,
retrieval, the note) runs in the service's thread pool after the response, so no sender times out.

Answers: ``202 {"status": "accepted"}``; ``200 {"status": "ignored"}`` for a verified event that is
not ours to draft (other topics, Intercom's ``ping``, our own private note); ``401`` bad or missing
signature / secret, stale or unreadable timestamp (ASCII digits or ISO 8601 only); ``400`` empty
body, not UTF-8, not JSON, JSON nested too deeply, no ticket id; ``413`` too large; ``503`` provider
not configured (no secret set). Signatures are checked on the raw bytes before the body is parsed;
each rejection is one log line, never a traceback.

What each body is trusted for, after verification:

* Zendesk: the event type and the ticket id, plus the event id for once-only handling. Event
  webhooks (``zen:event-type:ticket.created``, ``...ticket.comment_added`` by a non-staff author,
  publicly) or a trigger/automation webhook whose JSON body carries ``ticket_id``.
* Intercom: ``topic`` (``conversation.user.created``, ``conversation.user.replied``), the
  conversation id in ``data.item.id``, the notification ``id``.
* Freshdesk: only a ticket id (``ticket_id``, ``freshdesk_webhook.ticket_id`` or ``?ticket_id=``);
  nothing else in the body is read: the ticket is re-fetched through the API.

Mount with ``build_webhook_app(service, settings)`` (a Starlette app) or pass
``webhook_routes(service, settings)`` to another Starlette app's routes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.helpdesk.errors import NotConfigured, PayloadError, PayloadTooLarge, WebhookRejected
from bot.helpdesk.models import EventKind, Provider, TicketEvent, body_digest
from bot.helpdesk.service import DraftService
from bot.helpdesk.signatures import (
    FRESHDESK_SECRET_HEADER,
    INTERCOM_SIGNATURE_HEADER,
    ZENDESK_INVOCATION_HEADER,
    ZENDESK_SIGNATURE_HEADER,
    ZENDESK_TIMESTAMP_HEADER,
    verify_intercom,
    verify_shared_secret,
    verify_zendesk,
)
from bot.inbound import BadRequest, header_int, loads_bounded
from bot.settings import Settings

log = structlog.get_logger(__name__)

WEBHOOK_PREFIX = "/webhooks"
#: Real webhook bodies are a few KB (Zendesk caps its payloads at 256 KB); refuse far larger ones.
MAX_BODY_BYTES = 1_000_000
ZENDESK_EVENT_PREFIX = "zen:event-type:"
INTERCOM_TOPICS = {"conversation.user.created": EventKind.CREATED,
                   "conversation.user.replied": EventKind.CUSTOMER_REPLY}
_TICKET_ID = re.compile(r"^#?(\d{1,20})$")
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,120}$")

Headers = Mapping[str, str]


def build_webhook_app(service: DraftService, settings: Settings, *, clock: Callable[[], float] = time.time) -> Starlette:
    """A Starlette app with the three webhook routes (mount it, or serve it alone)."""
    return Starlette(routes=webhook_routes(service, settings, clock=clock))


def webhook_routes(service: DraftService, settings: Settings, *, clock: Callable[[], float] = time.time,
                   prefix: str = WEBHOOK_PREFIX) -> list[Route]:
    """The three routes, to add to another Starlette app's ``routes``."""

    def zendesk(headers: Headers, body: bytes, query: Mapping[str, str]) -> TicketEvent | None:
        secret = _secret(settings.zendesk_webhook_secret, "HELPDESK_ZENDESK_WEBHOOK_SECRET", "Zendesk")
        return parse_zendesk(headers, body, secret=secret, max_age_s=settings.webhook_max_age_s, clock=clock,
                             on_customer_reply=settings.draft_on_customer_reply)

    def intercom(headers: Headers, body: bytes, query: Mapping[str, str]) -> TicketEvent | None:
        secret = _secret(settings.intercom_client_secret, "HELPDESK_INTERCOM_CLIENT_SECRET", "Intercom")
        return parse_intercom(headers, body, secret=secret, on_customer_reply=settings.draft_on_customer_reply)

    def freshdesk(headers: Headers, body: bytes, query: Mapping[str, str]) -> TicketEvent | None:
        secret = _secret(settings.freshdesk_webhook_secret, "HELPDESK_FRESHDESK_WEBHOOK_SECRET", "Freshdesk")
        return parse_freshdesk(headers, body, query, secret=secret)

    return [
        Route(f"{prefix}/zendesk", _endpoint(service, Provider.ZENDESK, zendesk), methods=["POST"]),
        Route(f"{prefix}/intercom", _endpoint(service, Provider.INTERCOM, intercom), methods=["POST"]),
        Route(f"{prefix}/freshdesk", _endpoint(service, Provider.FRESHDESK, freshdesk), methods=["POST"]),
    ]


def _endpoint(service: DraftService, provider: Provider,
              parse: Callable[[Headers, bytes, Mapping[str, str]], TicketEvent | None]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = b""
        try:
            body = await _read_body(request)
            # Verification and parsing are pure and fast (an HMAC, a JSON parse): fine on the loop.
            event = parse(request.headers, body, request.query_params)
        except WebhookRejected as exc:
            log.warning("helpdesk_webhook_rejected", provider=provider.value, status=exc.status, reason=str(exc),
                        bytes=len(body))
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except NotConfigured as exc:
            log.error("helpdesk_webhook_not_configured", provider=provider.value, reason=str(exc))
            return JSONResponse({"error": f"{provider.value} webhooks are not configured"}, status_code=503)
        if event is None:
            log.info("helpdesk_webhook_ignored", provider=provider.value, bytes=len(body))
            return JSONResponse({"status": "ignored"}, status_code=200)
        service.submit(event)
        log.info("helpdesk_webhook_accepted", provider=provider.value, ticket_id=event.ticket_id,
                 event_id=event.event_id, event_kind=event.kind.value)
        return JSONResponse({"status": "accepted"}, status_code=202)

    return endpoint


async def _read_body(request: Request) -> bytes:
    try:
        declared = header_int(request.headers.get("content-length")) or 0
    except BadRequest as exc:
        raise PayloadError("unreadable Content-Length") from exc
    if declared > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
    return body


def _secret(value: Any, setting: str, vendor: str) -> str:
    secret = value.get_secret_value() if value is not None else ""
    if not secret.strip():
        raise NotConfigured(f"{setting} is not set: {vendor} webhooks cannot be verified and are refused")
    return secret


# -- parsing (pure: headers and body in, an event or None out) --------------------------------


def parse_zendesk(headers: Headers, body: bytes, *, secret: str, max_age_s: float = 300,
                  clock: Callable[[], float] = time.time, on_customer_reply: bool = True) -> TicketEvent | None:
    verify_zendesk(body, signature=headers.get(ZENDESK_SIGNATURE_HEADER), timestamp=headers.get(ZENDESK_TIMESTAMP_HEADER),
                   secret=secret, max_age_s=max_age_s, clock=clock)
    payload = _json_object(body)
    event_type = payload.get("type")
    if isinstance(event_type, str) and event_type.startswith(ZENDESK_EVENT_PREFIX):
        name = event_type.removeprefix(ZENDESK_EVENT_PREFIX)
        if name == "ticket.created":
            kind = EventKind.CREATED
        elif name == "ticket.comment_added" and on_customer_reply:
            event = payload.get("event")
            found = event.get("comment") if isinstance(event, dict) else None
            comment: dict[str, Any] = found if isinstance(found, dict) else {}
            author: dict[str, Any] = comment["author"] if isinstance(comment.get("author"), dict) else {}
            if comment.get("is_public") is False or author.get("is_staff") is True:
                return None  # an agent's reply or a private note (ours included): nothing to draft
            kind = EventKind.CUSTOMER_REPLY
        else:
            return None
        detail: dict[str, Any] = payload["detail"] if isinstance(payload.get("detail"), dict) else {}
        ticket_id = _ticket_id(detail.get("id"))
        subject = payload.get("subject")
        if ticket_id is None and isinstance(subject, str) and subject.startswith("zen:ticket:"):
            ticket_id = _ticket_id(subject.removeprefix("zen:ticket:"))
        event_id = _event_id(payload.get("id")) or _event_id(headers.get(ZENDESK_INVOCATION_HEADER)) or body_digest(body)
    else:
        # A trigger or automation webhook: the admin wrote the JSON, e.g. {"ticket_id": "{{ticket.id}}"}.
        ticket = payload.get("ticket")
        raw_id = payload.get("ticket_id", ticket.get("id") if isinstance(ticket, dict) else None)
        ticket_id = _ticket_id(raw_id)
        declared = payload.get("event")
        if declared == "customer_reply" and not on_customer_reply:
            return None
        kind = {"created": EventKind.CREATED, "customer_reply": EventKind.CUSTOMER_REPLY}.get(
            declared if isinstance(declared, str) else "", EventKind.WAKE_UP)
        event_id = _event_id(headers.get(ZENDESK_INVOCATION_HEADER)) or body_digest(body)
    if ticket_id is None:
        raise PayloadError("no ticket id in the Zendesk webhook body")
    return TicketEvent(provider=Provider.ZENDESK, ticket_id=ticket_id, kind=kind, event_id=event_id)


def parse_intercom(headers: Headers, body: bytes, *, secret: str, on_customer_reply: bool = True) -> TicketEvent | None:
    verify_intercom(body, signature=headers.get(INTERCOM_SIGNATURE_HEADER), secret=secret)
    payload = _json_object(body)
    topic = payload.get("topic")
    kind = INTERCOM_TOPICS.get(topic) if isinstance(topic, str) else None
    if kind is None or (kind is EventKind.CUSTOMER_REPLY and not on_customer_reply):
        return None  # ping, admin topics, contacts ...
    data = payload.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    raw_id = item.get("id") if isinstance(item, dict) else None
    cid = str(raw_id).strip() if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
    if not _CONVERSATION_ID.match(cid):
        raise PayloadError("no conversation id in the Intercom notification")
    event_id = _event_id(payload.get("id")) or body_digest(body)
    return TicketEvent(provider=Provider.INTERCOM, ticket_id=cid, kind=kind, event_id=event_id)


def parse_freshdesk(headers: Headers, body: bytes, query: Mapping[str, str], *, secret: str) -> TicketEvent:
    """A wake-up call: only the ticket id is read; no event id exists (see DraftService's message claim)."""
    verify_shared_secret(headers.get(FRESHDESK_SECRET_HEADER), secret=secret)
    ticket_id = _ticket_id(query.get("ticket_id"))
    if ticket_id is None:
        payload = _json_object(body)
        nested = payload.get("freshdesk_webhook")
        ticket = payload.get("ticket")
        for candidate in (payload.get("ticket_id"), nested.get("ticket_id") if isinstance(nested, dict) else None,
                          ticket.get("id") if isinstance(ticket, dict) else None):
            ticket_id = _ticket_id(candidate)
            if ticket_id is not None:
                break
    if ticket_id is None:
        raise PayloadError("no ticket id in the Freshdesk webhook (ticket_id in the body or the query)")
    return TicketEvent(provider=Provider.FRESHDESK, ticket_id=ticket_id, kind=EventKind.WAKE_UP)


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise PayloadError("empty body")
    try:
        payload = loads_bounded(body)  # UTF-8, bounded nesting: a deep body is a 400, never a RecursionError
    except BadRequest as exc:
        raise PayloadError(str(exc)) from exc
    if not isinstance(payload, dict):
        raise PayloadError("body is not a JSON object")
    return payload


def _ticket_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and (m := _TICKET_ID.match(value.strip())):
        return m.group(1)
    return None


def _event_id(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and _EVENT_ID.match(str(value).strip()):
        return str(value).strip()
    return None
