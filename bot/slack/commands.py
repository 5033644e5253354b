"""The slash command (``/helpdesk`` by default) and its subcommands.

- ``ask <question>``: anyone; the answer comes back ephemerally with a "Share in channel" button.
- ``resync [source]``, ``status``, ``sources``, ``gaps [days]``: admins only (user ids, or members of a
  user group, from settings); anyone else gets a clear ephemeral refusal. ``gaps`` lists the top
  knowledge gaps (unanswered or "not helpful" questions by topic and reason, with the closest
  source and links to the threads and tickets).
- ``help`` (or nothing): the usage, ephemerally.

The command is acknowledged at once (usage and unknown subcommands are answered in the ack
itself); the work happens afterwards in Bolt's lazy runner and replies through ``response_url``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import structlog
from slack_sdk import WebClient

from bot.errors import InputError
from bot.health.gaps import Gap
from bot.models import Answer
from bot.slack import digest, render
from bot.slack.audience import AudienceResolver
from bot.slack.conversation import SlackAnswerer, plain_text
from bot.slack.links import Workspace, channel_link
from bot.slack.webapi import SLACK_ERRORS, api_error

log = structlog.get_logger(__name__)

ADMIN_SUBCOMMANDS = ("resync", "status", "sources", "gaps")
SUBCOMMANDS = ("ask", "help", *ADMIN_SUBCOMMANDS)
#: How long a user group's member list is trusted.
USERGROUP_TTL_S = 60.0


class SyncsLike(Protocol):
    sources: dict[str, Any]

    def status(self) -> list[Any]: ...

    def request_resync(self, name: str, *, full: bool = False, requested_by: str = "") -> int: ...


class AdminPolicy:
    """Who may run the admin subcommands: listed user ids, or members of one user group.

    A failed user-group look-up denies (fail closed) and is not cached.
    """

    def __init__(self, client: WebClient, *, users: Iterable[str] = (), usergroup: str = "",
                 ttl_s: float = USERGROUP_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.users = frozenset(users)
        self.usergroup = usergroup.strip()
        self.ttl_s = ttl_s
        self.clock = clock
        self._members: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def is_admin(self, user_id: str) -> bool:
        if user_id in self.users:
            return True
        if not self.usergroup:
            return False
        return user_id in self._group_members()

    def _group_members(self) -> frozenset[str]:
        now = self.clock()
        with self._lock:
            if self._members is not None and self._members[0] > now:
                return self._members[1]
        try:
            members = frozenset(self.client.usergroups_users_list(usergroup=self.usergroup).get("users") or [])
        except SLACK_ERRORS as exc:
            log.warning("slack_usergroup_lookup_failed", usergroup=self.usergroup, error=api_error(exc))
            return frozenset()
        with self._lock:
            self._members = (now + self.ttl_s, members)
        return members


def usage(command: str) -> str:
    return "\n".join([
        f"*{command}* — the helpdesk knowledge base",
        f"• `{command} ask <question>`: answer just for you, with a button to share it in the channel",
        f"• `{command} status`: sources, last sync, lag, documents, errors (admins)",
        f"• `{command} sources`: the configured sources (admins)",
        f"• `{command} resync [source]`: sync one source, or all, now (admins)",
        f"• `{command} gaps [days]`: the top knowledge gaps, by topic and why they went unanswered (admins)",
    ])


def _split(text: str | None) -> tuple[str, str]:
    sub, _, rest = (text or "").strip().partition(" ")
    return sub.lower(), rest.strip()


#: Knowledge gaps of the last ``days`` days (:meth:`bot.health.gaps.GapFinder.find` over the questions log).
GapsSource = Callable[[int], Sequence[Gap]]
#: Days ``/helpdesk gaps`` looks back by default, and at most.
GAPS_DAYS = 7
GAPS_MAX_DAYS = 365


class HelpdeskCommand:
    """Handlers of the slash command: :meth:`ack` (within Slack's 3 s) and :meth:`run` (lazy)."""

    def __init__(self, *, command: str, answerer: SlackAnswerer, audiences: AudienceResolver,
                 admins: AdminPolicy, syncs: Callable[[], SyncsLike], gaps: GapsSource | None = None,
                 workspace: Workspace | None = None) -> None:
        self.command = command
        self.answerer = answerer
        self.audiences = audiences
        self.admins = admins
        self.syncs = syncs  # a callable: the sync service is built on first use, not at start-up
        self.gaps = gaps
        self.workspace = workspace

    def ack(self, ack: Callable[..., Any], command: dict[str, Any]) -> None:
        sub, rest = _split(command.get("text"))
        if sub in ("", "help"):
            ack(text=usage(self.command))
        elif sub not in SUBCOMMANDS:
            ack(text=f"I don't know the subcommand `{render.escape(sub[:40])}`.\n{usage(self.command)}")
        elif sub == "ask" and not rest:
            ack(text=f"Ask a question after `ask`, e.g. `{self.command} ask How do I reset my password?`")
        else:
            ack()

    def run(self, command: dict[str, Any], respond: Callable[..., Any], context: Any = None) -> None:
        sub, rest = _split(command.get("text"))
        user = command.get("user_id") or ""
        if sub == "ask" and rest:
            self._ask(command, rest, respond, workspace=self.workspace.url(context) if self.workspace else None)
            return
        if sub not in ADMIN_SUBCOMMANDS:
            return  # answered in the ack
        if not self.admins.is_admin(user):
            log.info("slack_admin_refused", user=user, subcommand=sub)
            respond(text=f":no_entry: Only helpdesk admins can run `{self.command} {sub}`. "
                         "Ask an admin if you need it.", response_type="ephemeral")
            return
        log.info("slack_admin_command", user=user, subcommand=sub)
        try:
            text = getattr(self, f"_{sub}")(rest, user)
        except InputError as exc:
            text = f":warning: {render.escape(str(exc))}"
        except Exception as exc:
            log.error("slack_admin_command_failed", subcommand=sub, error=type(exc).__name__)
            text = ":warning: That failed; the server log has the details."
        respond(text=text, response_type="ephemeral")

    # -- subcommands -------------------------------------------------------------------------
    def _ask(self, command: dict[str, Any], question: str, respond: Callable[..., Any], *,
             workspace: str | None = None) -> None:
        channel = command.get("channel_id") or ""
        question = plain_text(question)
        audience = self.audiences.for_channel(channel)

        def share(answer: Answer) -> list[dict[str, Any]]:
            value = json.dumps({"q": question})
            if len(value) > render.BUTTON_VALUE_MAX:
                return []  # too long to carry in the button: no share
            return [render.button(":mega: Share in channel", render.ACTION_SHARE, value, style="primary")]

        # The answer is ephemeral (no message to link to): the log links to the channel it was asked in.
        messages, _ = self.answerer.messages_for(question, audience, extra_buttons=share, surface="command",
                                                 link=channel_link(workspace, channel))
        for message in messages:
            respond(response_type="ephemeral", replace_original=False, **message.as_kwargs())

    def _resync(self, rest: str, user: str) -> str:
        syncs = self.syncs()
        names = [rest] if rest else list(syncs.sources)
        if not names:
            return "No sources are configured."
        for name in names:
            syncs.request_resync(name, requested_by=f"slack:{user}")
        listed = ", ".join(f"`{render.escape(n)}`" for n in names)
        return f":arrows_counterclockwise: Resync requested for {listed}; the scheduler picks it up within seconds."

    def _status(self, rest: str, user: str) -> str:
        rows = self.syncs().status()
        if not rows:
            return "No sources are configured."
        lines = [f"*Sources* ({len(rows)})"]
        for r in rows:
            last = r.last_run.strftime("%Y-%m-%d %H:%M UTC") if r.last_run else "never"
            line = (f"• `{render.escape(r.name)}` ({render.escape(r.type)}, {render.escape(r.schedule)}): "
                    f"last sync {last}, {render.escape(r.last_status or 'not run')}, {r.docs} docs, "
                    f"lag {r.lag}")
            if r.last_error:
                line += f"\n    :warning: {render.mrkdwn(r.last_error[:200])}"
            lines.append(line)
        return "\n".join(lines)

    def _gaps(self, rest: str, user: str) -> str:
        if self.gaps is None:
            return "Knowledge gaps need the questions log (HELPDESK_QUESTION_LOG_DAYS > 0)."
        if rest and (not rest.isdigit() or not 1 <= int(rest) <= GAPS_MAX_DAYS):
            raise InputError(f"`{self.command} gaps` takes a number of days from 1 to {GAPS_MAX_DAYS}, e.g. "
                             f"`{self.command} gaps 30`")
        days = int(rest) if rest else GAPS_DAYS
        return digest.gaps_text(self.gaps(days), days=days)

    def _sources(self, rest: str, user: str) -> str:
        sources = self.syncs().sources
        if not sources:
            return "No sources are configured."
        lines = [f"*Sources* ({len(sources)})"]
        for name, src in sources.items():
            schedule = src.schedule.describe() if hasattr(src, "schedule") else ""
            lines.append(f"• `{render.escape(name)}`: {render.escape(getattr(src, 'type', ''))}, "
                         f"{render.escape(schedule)}")
        return "\n".join(lines)

