"""structlog set-up: console output in a terminal, JSON lines otherwise; secrets redacted.

Never log message bodies, document text or secrets: log ids, counts and lengths. The redaction
processor below is the safety net for the cases where a value slips through anyway.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

#: Keys whose values are never written, whatever they hold.
SECRET_KEYS = re.compile(r"(token|secret|password|api_key|apikey|authorization|signature|cookie)", re.I)
#: Keys that would carry user or document text: logged as their length only.
TEXT_KEYS = frozenset({"text", "question", "body", "message", "answer", "draft", "prompt", "content"})
#: Token shapes redacted wherever they appear in a logged string.
TOKEN_PATTERNS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}|sk-[A-Za-z0-9_-]{16,}|Bearer\s+[A-Za-z0-9._~+/-]{8,})"
)
MAX_VALUE_CHARS = 300


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secrets, replace text fields by their length, truncate."""
    for key in list(event_dict):
        value = event_dict[key]
        if key == "event":
            continue
        if SECRET_KEYS.search(key):
            event_dict[key] = "[redacted]"
        elif key in TEXT_KEYS and isinstance(value, str):
            event_dict[key] = f"[{len(value)} chars]"
        elif isinstance(value, str):
            value = TOKEN_PATTERNS.sub("[redacted]", value)
            event_dict[key] = value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"
    if isinstance(event_dict.get("event"), str):
        event_dict["event"] = TOKEN_PATTERNS.sub("[redacted]", event_dict["event"])
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog (and the stdlib root logger it renders through) once per process."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False) if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=_current_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # Libraries log through the stdlib: keep their noise out of a user's terminal.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _current_stderr_logger(*args: Any) -> structlog.PrintLogger:
    # Resolve sys.stderr at each use, not once at configuration: it may be replaced later
    # (daemonised processes, test capture), and a closed stream must never break logging.
    return structlog.PrintLogger(file=sys.stderr)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
