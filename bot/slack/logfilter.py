"""Keep tokens, secrets and message bodies out of the Slack libraries' (stdlib) logs.

slack_bolt and slack_sdk log request bodies and API arguments at DEBUG, and payload fragments at
INFO and WARNING (a rejected signature with the body, an unhandled request). Their loggers get
:class:`SlackLogFilter`: below INFO nothing passes (those records are payload dumps), and every
other record is cut where it starts quoting a payload, has token shapes, secrets and text-like
fields redacted, and is truncated. Bolt copies its base logger's filters onto each of its own
loggers, so passing :func:`slack_logger` to ``App``, ``WebClient`` and the Socket Mode client
covers them all. (HTTP-mode requests are verified before Bolt sees them, in
:mod:`bot.slack.transport`, so a rejected request never reaches Bolt's own logging at all.)
"""

from __future__ import annotations

import logging

from bot.logging import redact_text, strip_payload


class SlackLogFilter(logging.Filter):
    """Drops DEBUG records and redacts the rest (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return False
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep its template only
            message = str(record.msg)
        record.msg, record.args = redact_text(strip_payload(message)), ()
        if record.exc_info and record.exc_info[1] is not None:
            # Keep the exception's type, not its message (it may quote an API response).
            exc_type = record.exc_info[0]
            record.msg += f" ({exc_type.__name__ if exc_type else 'error'})"
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = SlackLogFilter()


def slack_logger(name: str = "bot.slack.lib") -> logging.Logger:
    """A stdlib logger for the Slack libraries, with :class:`SlackLogFilter` attached once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, SlackLogFilter) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger
