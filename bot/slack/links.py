"""Links to Slack conversations, for the questions log: the admin's way back to where a question was asked.

Built in the format ``chat.getPermalink`` returns (``https://<workspace>.slack.com/archives/<channel>/p<ts
without the dot>``, plus ``?thread_ts=<thread>&cid=<channel>`` for a reply in a thread) from the
workspace's URL, so that recording a link costs no Web API call per question. The URL comes from
the listener's context when Bolt put it there (installations with OAuth), else from one
``auth.test`` per process (Bolt's single-workspace authorization keeps its own start-up result's
URL to itself), retried after a failure at most every few minutes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import structlog

from bot.slack.webapi import SLACK_ERRORS, api_error

log = structlog.get_logger(__name__)

#: Seconds before a failed ``auth.test`` is tried again.
RETRY_S = 300.0

_CHANNEL = re.compile(r"^[A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")


def _https(url: object) -> str | None:
    if isinstance(url, str) and url.startswith("https://") and len(url) < 300:
        return url if url.endswith("/") else url + "/"
    return None


def workspace_url(context: Any) -> str | None:
    """The workspace's ``https://<name>.slack.com/`` from a Bolt listener's context, if Bolt put it there."""
    result = getattr(context, "authorize_result", None)
    return _https(getattr(result, "url", None)) if result is not None else None


class Workspace:
    """The workspace's URL: the listener's context's, else one ``auth.test`` per process.

    Args:
        client: the app's Web API client.
        clock: monotonic seconds (tests move it).
    """

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self._url: str | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def url(self, context: Any = None) -> str | None:
        found = workspace_url(context)
        if found:
            return found
        with self._lock:
            if self._url is None and self.clock() >= self._retry_at:
                try:
                    self._url = _https(self.client.auth_test().get("url"))
                except SLACK_ERRORS as exc:  # no link this time; the answer goes on
                    log.warning("slack_workspace_url_failed", error=api_error(exc))
                if self._url is None:
                    self._retry_at = self.clock() + RETRY_S
            return self._url


def channel_link(workspace: str | None, channel: str) -> str | None:
    """A link to a channel (a slash command's answer is ephemeral: there is no message to link to)."""
    if not workspace or not _CHANNEL.match(channel or ""):
        return None
    return f"{workspace}archives/{channel}"


def message_link(workspace: str | None, channel: str, ts: str, *, thread_ts: str | None = None) -> str | None:
    """A permalink to message ``ts`` of ``channel`` (in the thread ``thread_ts`` when it is a reply)."""
    base = channel_link(workspace, channel)
    if base is None or not _TS.match(ts or ""):
        return None
    link = f"{base}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts and _TS.match(thread_ts):
        link += "?" + urlencode({"thread_ts": thread_ts, "cid": channel})
    return link
