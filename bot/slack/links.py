"""Links to Slack conversations, for the questions log: the admin's way back to where a question was asked.

Built in the format ``chat.getPermalink`` returns (``https://<workspace>.slack.com/archives/<channel>/p<ts
without the dot>``, plus ``?thread_ts=<thread>&cid=<channel>`` for a reply in a thread) from the
workspace URL Bolt already holds (its start-up ``auth.test``, ``context.authorize_result.url``), so
that recording a link costs no Web API call per question.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

_CHANNEL = re.compile(r"^[A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")


def workspace_url(context: Any) -> str | None:
    """The workspace's ``https://<name>.slack.com/`` from a Bolt listener's context, if Bolt knows it."""
    result = getattr(context, "authorize_result", None)
    url = getattr(result, "url", None) if result is not None else None
    if isinstance(url, str) and url.startswith("https://"):
        return url if url.endswith("/") else url + "/"
    return None


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
