"""Reading what strangers send over HTTP: header integers and JSON bodies, strictly and bounded.

Every HTTP surface (Slack, the helpdesk webhooks, the admin page) reads bytes anyone can send.
Python's ``int()`` and ``str.isdigit()`` accept non-ASCII digits ("²", "٣"), ``json.loads``
recurses once per nesting level and bytes need not be UTF-8: each of those would turn a
stranger's request into a 500. These helpers raise :class:`BadRequest` instead, which the
surfaces answer with a 4xx.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Real payloads (Slack events, Block Kit interactions, helpdesk webhooks) nest a dozen levels at most.
MAX_JSON_DEPTH = 64
#: An HTTP integer header (a timestamp, a length) never needs more digits than this.
MAX_HEADER_DIGITS = 18

_ASCII_INT = re.compile(rf"[0-9]{{1,{MAX_HEADER_DIGITS}}}")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class BadRequest(ValueError):
    """A request that cannot be read as it claims to be; the message is safe to log (no content)."""


def header_int(value: str | None) -> int | None:
    """An integer header made of ASCII digits only (surrounding spaces allowed); None when absent.

    Raises:
        BadRequest: anything else: a sign, a decimal point, non-ASCII digits, too many digits.
    """
    if value is None:
        return None
    value = value.strip()
    if not _ASCII_INT.fullmatch(value):
        raise BadRequest("not a plain decimal number")
    return int(value)


def json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def decode_utf8(body: bytes) -> str:
    """The body as text.

    Raises:
        BadRequest: it is not UTF-8.
    """
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not UTF-8") from exc


def loads_bounded(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted input: UTF-8, at most ``max_depth`` levels deep.

    Raises:
        BadRequest: not UTF-8, not JSON, or nested deeper than ``max_depth``.
    """
    text = decode_utf8(body) if isinstance(body, bytes) else body
    if json_depth(text) > max_depth:
        raise BadRequest(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces, the depth check comes first
        raise BadRequest("body is not valid JSON") from exc
