"""The log pipeline (:mod:`bot.logging`): one JSON object per line for our events and the libraries'
records alike, redacted after exceptions are formatted, credentials in URLs masked."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from bot.logging import mask_url_credentials, redact_text, strip_payload
from tests.support.logs import configured_logging


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_our_events_and_library_records_are_one_json_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    with configured_logging("INFO", "json"):
        structlog.get_logger("bot.x").info("hello", text="what a person wrote", url="postgresql://app:pw-1x@db/h",
                                          token="anything", count=3)
        try:
            raise ValueError("refused xoxb-1234567890-abcdef for https://svc:pw-2y@qdrant:6333")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
            structlog.get_logger("bot.x").exception("failed")
        logging.getLogger("slack_bolt.App").warning(
            "Invalid request signature detected (signature: v0=abc, timestamp: 1, body: token=legacy-9&text=hi+there)")
        logging.getLogger("apscheduler.scheduler").warning("Run time of job %r was missed by %s", "sync:docs", "0:01:00")
        logging.getLogger("httpx").info("HTTP Request: POST https://slack.com/api/chat.postMessage")  # below WARNING
    err = capsys.readouterr().err
    records = _lines(err)  # each line parses: no plain-text line, no bare traceback line
    assert [r["event"] for r in records] == ["hello", "Exception in ASGI application", "failed",
                                              "Invalid request signature detected [payload not logged]",
                                              "Run time of job 'sync:docs' was missed by 0:01:00"]
    hello = records[0]
    assert hello["text"] == "[19 chars]" and hello["url"] == "postgresql://[redacted]@db/h"
    assert hello["token"] == "[redacted]" and hello["count"] == 3
    for r in records[1:3]:
        assert "Traceback" in str(r["exception"]) and "ValueError" in str(r["exception"])
    for secret in ("what a person wrote", "pw-1x", "pw-2y", "xoxb-1234567890", "legacy-9", "hi+there", "chat.postMessage"):
        assert secret not in err


def test_the_pieces() -> None:
    assert mask_url_credentials("see mongodb+srv://u:p@c0.example/x and https://tok3n-abcdef-ghij@github.com/x") == \
        "see mongodb+srv://[redacted]@c0.example/x and https://[redacted]@github.com/x"
    assert mask_url_credentials("mailto:ops@example.com, https://example.com/@user") == \
        "mailto:ops@example.com, https://example.com/@user"
    assert strip_payload("Unhandled request ({'type': 'event_callback', 'token': 'x'})") == \
        "Unhandled request ( [payload not logged]"
    assert strip_payload("first line\nsecond line") == "first line"
    assert redact_text('{"text": "hello", "password": "pw"} token=abc&text=hi') == \
        '{"text": "[redacted]", "password": "[redacted]"} token=[redacted]&text=[redacted]'
