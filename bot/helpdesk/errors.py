"""Errors of the helpdesk drafting package::

    HelpdeskError (a HelpdeskBotError: the CLI prints its one line)
    ├── WebhookRejected        a webhook we refuse; carries the HTTP status to answer
    │   ├── SignatureError     401: signature or shared secret missing or wrong, timestamp too old
    │   └── PayloadError       400: empty body, not JSON, no usable ticket id
    │       └── PayloadTooLarge  413: far larger than any real webhook
    ├── NotConfigured          a provider is not set up (no secret, no source, no admin id)
    └── TicketUnavailable      the ticket cannot be fetched (404, gone, not a ticket we can read)

Vendor HTTP failures stay :class:`connectors.base.ConnectorError` (``AuthError``, ``RateLimited``,
``TransientError`` ...): they are translated once, in :mod:`connectors.http`.
"""

from __future__ import annotations

from bot.errors import ConfigError, HelpdeskBotError


class HelpdeskError(HelpdeskBotError):
    """Root of the helpdesk drafting errors."""


class WebhookRejected(HelpdeskError):
    """A webhook request we refuse; ``status`` is what we answer."""

    status = 400


class SignatureError(WebhookRejected):
    """The request is not provably from the helpdesk (or is a replay)."""

    status = 401


class PayloadError(WebhookRejected):
    """The body is empty, not JSON, or carries no usable ticket id."""

    status = 400


class PayloadTooLarge(PayloadError):
    """The body is larger than any webhook we expect."""

    status = 413


class NotConfigured(HelpdeskError, ConfigError):
    """A helpdesk is not configured for drafting; the message names the setting to set."""


class TicketUnavailable(HelpdeskError):
    """The ticket does not exist (any more) or cannot be read."""
