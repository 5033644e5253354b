"""Webhook authenticity: Zendesk's and Intercom's HMAC signatures, Freshdesk's shared secret.

* Zendesk signs ``timestamp + raw body`` with the webhook's signing secret (HMAC-SHA256, base64)
  in ``X-Zendesk-Webhook-Signature``; the timestamp (``X-Zendesk-Webhook-Signature-Timestamp``,
  ISO 8601 UTC) must be within ``max_age_s`` of now, both ways, so a captured request cannot be
  replayed later.
* Intercom signs the raw body with the app's client secret (HMAC-SHA1, hex) in ``X-Hub-Signature``
  as ``sha1=<hex>``. There is no timestamp: replays are stopped by the once-only event claim.
* Freshdesk has no signing scheme: its automation sends a shared secret in a header of our
  choosing; the body is never trusted (it only wakes us up, the ticket is re-fetched).

All comparisons are constant-time; the clock is injectable (slack_sdk's ``SignatureVerifier`` style).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bot.helpdesk.errors import SignatureError
from bot.inbound import BadRequest, header_int

ZENDESK_SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
ZENDESK_INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
INTERCOM_SIGNATURE_HEADER = "X-Hub-Signature"
#: Freshdesk automations can add custom headers; this is the one we ask admins to add.
FRESHDESK_SECRET_HEADER = "X-Helpdesk-Webhook-Secret"
#: Zendesk's documented replay window is the caller's choice; 5 minutes is the common one.
DEFAULT_MAX_AGE_S = 300


def zendesk_signature(body: bytes, timestamp: str, secret: str) -> str:
    """``base64(HMAC-SHA256(secret, timestamp + body))``, as Zendesk computes it."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_zendesk(
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Raise :class:`SignatureError` unless the request is signed with ``secret`` and recent."""
    if not signature or not timestamp:
        raise SignatureError("missing Zendesk signature headers")
    when = _parse_timestamp(timestamp)
    if when is None:
        raise SignatureError("unreadable Zendesk signature timestamp")
    if abs(clock() - when) > max_age_s:
        raise SignatureError("stale Zendesk signature timestamp (possible replay)")
    expected = zendesk_signature(body, timestamp, secret)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        raise SignatureError("bad Zendesk signature")


def intercom_signature(body: bytes, secret: str) -> str:
    """``sha1=`` + hex HMAC-SHA1 of the raw body with the app's client secret."""
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def verify_intercom(body: bytes, *, signature: str | None, secret: str) -> None:
    if not signature:
        raise SignatureError("missing Intercom X-Hub-Signature")
    expected = intercom_signature(body, secret)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8", "replace")):
        raise SignatureError("bad Intercom signature")


def verify_shared_secret(presented: str | None, *, secret: str) -> None:
    if not presented:
        raise SignatureError(f"missing {FRESHDESK_SECRET_HEADER} header")
    if not hmac.compare_digest(presented.strip().encode("utf-8", "replace"), secret.encode("utf-8")):
        raise SignatureError("wrong shared secret")


def _parse_timestamp(value: str) -> float | None:
    """ISO 8601 (Zendesk's form) or epoch seconds in ASCII digits; None for anything else ("²" included)."""
    value = value.strip()
    try:
        epoch = header_int(value)  # tolerate epoch seconds; str.isdigit() would let "²" through to float()
    except BadRequest:
        epoch = None
    if epoch is not None:
        return float(epoch)
    if not value.isascii():
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        return None
