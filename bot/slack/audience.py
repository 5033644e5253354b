"""Which audience a Slack channel gets: customer-facing and Slack Connect channels see public knowledge only.

A channel is *customer* when it is listed in ``HELPDESK_SLACK_CUSTOMER_CHANNELS`` (by id or name),
or when Slack says it is shared outside the organisation (Slack Connect: ``is_ext_shared``, also while
``is_pending_ext_shared``; and ``is_shared`` without ``is_org_shared``, which we cannot tell apart
from an external share). Everything else is *agent*. When Slack cannot tell us (an API error, a
missing scope) the answer is *customer*: failing closed only ever hides internal knowledge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from slack_sdk import WebClient

from bot.models import Audience
from bot.slack.webapi import SLACK_ERRORS, api_error

log = structlog.get_logger(__name__)

#: How long a channel's sharing state is trusted. Short: a channel can become Slack Connect any time
#: (each event also carries ``is_ext_shared_channel``, which overrides the cache when true).
CHANNEL_TTL_S = 60.0
#: How long a failed look-up is remembered (fail closed, without hammering the API).
ERROR_TTL_S = 10.0


def is_external(channel: dict[str, Any]) -> bool:
    """True when a ``conversations.info`` channel object is (or is becoming) shared outside the org."""
    return bool(
        channel.get("is_ext_shared")
        or channel.get("is_pending_ext_shared")
        or (channel.get("is_shared") and not channel.get("is_org_shared"))
    )


class AudienceResolver:
    """Channel id → :class:`Audience`, cached per channel.

    Args:
        client: Web API client (``conversations.info``).
        customer_channels: channel ids or names (without ``#``) that are customer-facing.
        ttl_s: how long a looked-up channel is cached.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        client: WebClient,
        *,
        customer_channels: Iterable[str] = (),
        ttl_s: float = CHANNEL_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.customer_channels = frozenset(c.strip().lstrip("#") for c in customer_channels if c.strip())
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Audience]] = {}
        self._lock = threading.Lock()

    def for_channel(self, channel_id: str, *, ext_shared_hint: bool | None = None) -> Audience:
        """The audience of ``channel_id``; ``ext_shared_hint`` is the event's ``is_ext_shared_channel``."""
        if ext_shared_hint or channel_id in self.customer_channels:
            return Audience.CUSTOMER
        now = self.clock()
        with self._lock:
            hit = self._cache.get(channel_id)
            if hit is not None and hit[0] > now:
                return hit[1]
        audience, ttl = self._look_up(channel_id)
        with self._lock:
            self._cache[channel_id] = (now + ttl, audience)
        return audience

    def _look_up(self, channel_id: str) -> tuple[Audience, float]:
        try:
            channel = self.client.conversations_info(channel=channel_id).get("channel") or {}
        except SLACK_ERRORS as exc:
            log.warning("slack_channel_lookup_failed", channel=channel_id, error=api_error(exc))
            return Audience.CUSTOMER, ERROR_TTL_S
        if not channel:  # a response without the channel object: we cannot tell, so customer
            return Audience.CUSTOMER, ERROR_TTL_S
        if is_external(channel) or channel.get("name") in self.customer_channels:
            return Audience.CUSTOMER, self.ttl_s
        return Audience.AGENT, self.ttl_s
