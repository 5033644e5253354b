"""structlog set-up: console output in a terminal, JSON lines otherwise; secrets redacted everywhere.

Never log message bodies, document text or secrets: log ids, counts and lengths. The redaction
below is the safety net for the cases where a value slips through anyway.

One pipeline for every log line: our own structlog events and the standard-library records of
the libraries (uvicorn, Bolt, slack_sdk, httpx, APScheduler, SQLAlchemy ...) both end in
structlog's ``ProcessorFormatter`` on the root logger, so JSON mode is pure JSON (one object per
line, a traceback inside its ``exception`` field) and the same redaction applies to both, after
exceptions are formatted (their text can quote URLs, tokens or payloads too).
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
#: ``scheme://user:password@host`` or ``scheme://token@host``: the part before ``@`` is a credential.
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")
#: ``'text': '...'`` / ``"text": "..."`` as they appear in a logged dict or JSON body.
_TEXT_FIELDS = re.compile(
    r"""(['"](?:text|question|body|message|blocks|value|user_text|title|preview|name|plain_text)['"]\s*:\s*)"""
    r"""(['"])(?:\\.|(?!\2).)*\2""",
    re.S,
)
#: ``token=...``, ``"secret": "..."``, ``password: ...`` (quoted or not).
_SECRET_VALUES = re.compile(
    r"(?i)((?:token|secret|signature|authorization|password|passwd|api[_-]?key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+")
#: A URL-encoded form field that carries text or a whole payload (``text=...``, ``payload=%7B...``).
_FORM_FIELDS = re.compile(r"(?i)(\b(?:text|payload|user_text|value|message|body)=)[^&\s'\"]*")
#: The first sign of a payload dumped into a library's message: from there on nothing is logged.
_PAYLOAD_START = re.compile(r"(?i)(\bbody\s*[:=]|\brequest body\b|\(\s*signature\s*:|[{\[])")
MAX_VALUE_CHARS = 300
#: A formatted traceback is kept longer than other values (its last lines say what failed).
MAX_EXCEPTION_CHARS = 4000

#: Our own loggers: they log at the configured level. Every other logger (the libraries': uvicorn,
#: Bolt, slack_sdk, httpx, APScheduler, SQLAlchemy ...) logs at WARNING and above only: below that
#: they log requests, payloads and chatter.
OWN_LOGGERS = ("bot", "connectors", "benchmarks", "__main__")
#: The Slack libraries log through this one (see :mod:`bot.slack.logfilter`): a library's, though under ``bot``.
LIBRARY_LOGGERS_UNDER_OURS = ("bot.slack.lib",)


def mask_url_credentials(text: str) -> str:
    """``http://user:pass@host`` -> ``http://[redacted]@host``, anywhere in ``text``."""
    return URL_CREDENTIALS.sub(r"\1[redacted]@", text)


def redact_value(value: str, *, limit: int = MAX_VALUE_CHARS) -> str:
    """Token shapes and URL credentials masked, then truncated to ``limit`` characters."""
    value = mask_url_credentials(TOKEN_PATTERNS.sub("[redacted]", value))
    return value if len(value) <= limit else value[:limit] + "…"


def redact_text(message: str, *, limit: int = MAX_VALUE_CHARS) -> str:
    """A free-form message (a library's log line): secrets, text fields and form fields masked, truncated."""
    message = TOKEN_PATTERNS.sub("[redacted]", message)
    message = mask_url_credentials(message)
    message = _TEXT_FIELDS.sub(r"\1\2[redacted]\2", message)
    message = _SECRET_VALUES.sub(r"\1[redacted]", message)
    message = _FORM_FIELDS.sub(r"\1[redacted]", message)
    return message if len(message) <= limit else message[:limit] + "…"


def strip_payload(message: str) -> str:
    """A library's message up to where it starts quoting a request or payload, on one line."""
    message = message.splitlines()[0] if message else message
    found = _PAYLOAD_START.search(message)
    if found is not None:
        message = message[: found.start()].rstrip() + " [payload not logged]"
    return message


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secrets, replace text fields by their length, mask token shapes and URL credentials.

    Runs after ``format_exc_info``, so a formatted traceback (``exception``) is redacted too.
    """
    foreign = event_dict.get("_from_structlog") is False
    for key in list(event_dict):
        value = event_dict[key]
        if key == "event" or key.startswith("_"):
            continue
        if key == "exception" and isinstance(value, str):
            event_dict[key] = redact_text(value, limit=MAX_EXCEPTION_CHARS)
        elif SECRET_KEYS.search(key):
            event_dict[key] = "[redacted]"
        elif key in TEXT_KEYS and isinstance(value, str):
            event_dict[key] = f"[{len(value)} chars]"
        elif isinstance(value, str):
            event_dict[key] = redact_value(value)
    event = event_dict.get("event")
    if isinstance(event, str):
        # A library's message is free text that may quote a request: keep it to its first line, up to
        # any payload, with secrets and text fields masked. Ours are event names.
        event_dict["event"] = redact_text(strip_payload(event)) if foreign else redact_value(event)
    return event_dict


def _redact_foreign(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Ours were redacted in structlog's chain already (redacting twice would re-measure "[12 chars]").
    return redact(logger, name, event_dict) if event_dict.get("_from_structlog") is False else event_dict


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each record (daemonised processes, test capture)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it; we always look it up
        pass

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass  # a closed stream must never break the program that logs


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and the standard-library root logger it renders through, once per process.

    Calling it again replaces the previous configuration (tests switch formats).
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False) if use_console else structlog.processors.JSONRenderer()
    numeric = getattr(logging, level)
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        # Our events are redacted before they become log records: every handler (a test's capture, an
        # operator's extra handler) gets them redacted, tracebacks included.
        processors=[structlog.contextvars.merge_contextvars, *shared, structlog.processors.format_exc_info, redact,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            # The libraries' records: exceptions become text first (one ``exception`` field, never
            # lines of their own), then everything, that text included, is redacted.
            structlog.processors.format_exc_info,
            _redact_foreign,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CurrentStderrHandler)]:
        root.removeHandler(handler)
    handler = _CurrentStderrHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    # Libraries log requests and payloads below WARNING: never let those records be produced.
    root.setLevel(max(numeric, logging.WARNING))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(numeric)
    for name in LIBRARY_LOGGERS_UNDER_OURS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
