"""A real local HTTP server speaking the Slack Web API (and response_url hooks), for tests.

    with FakeSlack() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        ...
        post = slack.wait_for("chat.postMessage")[0]
        assert post.args["thread_ts"] == "1595926230.009600"

Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, reactions.add,
reactions.remove, conversations.info, conversations.replies, users.info, usergroups.users.list,
apps.connections.open. Arguments are read as Slack reads them (form-encoded or JSON; ``blocks``
given as a JSON string is decoded) and recorded per call in arrival order. Responses follow the
real shapes (``ok``, ``error``, HTTP 200 for API errors); a bad token answers ``invalid_auth``.

Scriptable:
- ``channels`` (id → conversations.info channel object; :meth:`add_channel`);
- ``messages`` (channel → messages; :meth:`add_message`), which conversations.replies reads and
  chat.postMessage appends to, so a thread holds the bot's replies like in Slack;
- ``usergroups`` (id → user ids), ``users`` (id → user object);
- :meth:`rate_limit`: answer a method 429 with ``Retry-After`` the next ``times`` calls;
- ``delay_s`` (method → seconds to sleep before answering);
- ``response_url(name)``: a URL that records what Bolt's ``respond()`` posts (see ``hooks``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.local_server import LocalHTTPServer

TEAM_ID = "T111"
BOT_USER_ID = "UBOT111"
BOT_ID = "BBOT111"
APP_ID = "A111"


@dataclass(frozen=True)
class ApiCall:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic() on arrival
    status: int = 200  # the HTTP status answered


@dataclass(frozen=True)
class HookCall:
    path: str
    json: Any
    at: float


@dataclass
class FakeSlack(LocalHTTPServer):
    http_methods = ("POST", "GET")  # slack_sdk sends some methods as GET with params
    thread_name = "fake-slack"

    token: str = "xoxb-111-222-fakebottokenvalue"
    app_token: str = "xapp-1-A111-333-fakeapptokenvalue"
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    delay_s: dict[str, float] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    hooks: list[HookCall] = field(default_factory=list)
    socket_url: str = "wss://wss-primary.slack.com/link/?ticket=fake"

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._rate_limits: dict[str, list[int]] = {}
        self._ts = itertools.count(1)
        self._reactions: set[tuple[str, str, str]] = set()

    # -- lifecycle: LocalHTTPServer (start, stop, context manager, url) -------------------------
    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "commands/T111/1/abc") -> str:
        return f"{self.url}/hooks/{name}"

    # -- scripting ---------------------------------------------------------------------------
    def add_channel(self, channel_id: str, name: str, **flags: Any) -> dict[str, Any]:
        is_im = channel_id.startswith("D")
        channel = {
            "id": channel_id, "name": name, "is_channel": not is_im and not channel_id.startswith("G"),
            "is_group": channel_id.startswith("G"), "is_im": is_im, "is_mpim": False, "is_private": channel_id.startswith("G"),
            "created": 1_600_000_000, "is_archived": False, "is_general": False, "name_normalized": name,
            "is_shared": False, "is_org_shared": False, "is_ext_shared": False, "is_pending_ext_shared": False,
            "pending_shared": [], "shared_team_ids": [TEAM_ID], "context_team_id": TEAM_ID,
            "is_member": True, "num_members": 12, "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": [],
        }
        if is_im:
            channel.pop("name")
            channel["user"] = flags.pop("user", "U222")
        channel.update(flags)
        self.channels[channel_id] = channel
        return channel

    def add_message(self, channel: str, ts: str, text: str, *, user: str = "U222", thread_ts: str | None = None,
                    bot_id: str | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts, "team": TEAM_ID}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        if bot_id:
            msg["bot_id"] = bot_id
        with self._cond:
            self.messages.setdefault(channel, []).append(msg)
        return msg

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        with self._cond:
            self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    # -- inspection --------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[ApiCall]:
        with self._cond:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def methods(self) -> list[str]:
        """Methods called (answered 200), in order."""
        with self._cond:
            return [c.method for c in self.calls if c.status == 200]

    def wait_for(self, method: str, count: int = 1, timeout_s: float = 10.0) -> list[ApiCall]:
        """Block until ``method`` was answered ``count`` times; returns those calls."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                got = [c for c in self.calls if c.method == method and c.status == 200]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{method} called {len(got)} times, expected {count}; calls: "
                                         f"{[c.method for c in self.calls]}")
                self._cond.wait(left)

    def wait_for_hooks(self, count: int = 1, timeout_s: float = 10.0) -> list[HookCall]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.hooks) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.hooks)} response_url posts, expected {count}")
                self._cond.wait(left)
            return list(self.hooks)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts]

    # -- handling ----------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        now = time.monotonic()
        if parts.path.startswith("/hooks/"):
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            with self._cond:
                self.hooks.append(HookCall(path=parts.path, json=body, at=now))
                self._cond.notify_all()
            self._send(h, 200, b"ok", "text/html")
            return
        if not parts.path.startswith("/api/"):
            self._send(h, 404, b"Not found", "text/plain")
            return
        method = parts.path.removeprefix("/api/")
        args = self._args(raw, headers.get("content-type", ""), parts.query)
        if self.delay_s.get(method):
            time.sleep(self.delay_s[method])
        with self._cond:
            limits = self._rate_limits.get(method)
            retry_after = limits.pop(0) if limits else None
        if retry_after is not None:
            self._record(ApiCall(method, args, headers, now, status=429))
            self._send(h, 429, json.dumps({"ok": False, "error": "ratelimited"}).encode(), "application/json",
                       extra={"Retry-After": str(retry_after)})
            return
        body = self._dispatch(method, args, headers)
        self._record(ApiCall(method, args, headers, now))
        self._send(h, 200, json.dumps(body).encode(), "application/json; charset=utf-8")

    def _record(self, call: ApiCall) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    @staticmethod
    def _args(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
        args: dict[str, Any] = dict(parse_qsl(query))
        if raw:
            if "json" in content_type:
                args.update(json.loads(raw))
            else:
                args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        for key in ("blocks", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def _token_of(self, args: dict[str, Any], headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(args.get("token", ""))

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _dispatch(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        token = self._token_of(args, headers)
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token != expected:
            return {"ok": False, "error": "not_authed" if not token else "invalid_auth"}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        return handler(args)

    # -- methods -----------------------------------------------------------------------------
    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://parcelly.slack.com/", "team": "Parcelly", "user": "helpdesk",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _bot_message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "user": BOT_USER_ID, "type": "message", "ts": ts, "bot_id": BOT_ID, "app_id": APP_ID,
            "text": args.get("text", ""), "team": TEAM_ID,
            "bot_profile": {"id": BOT_ID, "deleted": False, "name": "helpdesk", "app_id": APP_ID, "team_id": TEAM_ID},
        }
        if args.get("blocks"):
            msg["blocks"] = args["blocks"]
        if args.get("thread_ts"):
            msg["thread_ts"] = args["thread_ts"]
        return msg

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if channel in self.channels and not self.channels[channel].get("is_member", True):
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        msg = self._bot_message(args, ts)
        with self._cond:
            self.messages.setdefault(channel, []).append(msg)
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        with self._cond:
            for msg in self.messages.get(channel or "", []):
                if msg["ts"] == ts:
                    msg.update({k: v for k, v in args.items() if k in ("text", "blocks")})
                    return {"ok": True, "channel": channel, "ts": ts, "text": msg.get("text", ""), "message": dict(msg)}
        return {"ok": False, "error": "message_not_found"}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found" if not args.get("channel") else "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("timestamp")), str(args.get("name")))
        with self._cond:
            if key in self._reactions:
                return {"ok": False, "error": "already_reacted"}
            self._reactions.add(key)
        return {"ok": True}

    def _m_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("timestamp")), str(args.get("name")))
        with self._cond:
            if key not in self._reactions:
                return {"ok": False, "error": "no_reaction"}
            self._reactions.discard(key)
        return {"ok": True}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": channel}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("ts"))
        thread = self.thread(str(args.get("channel")), ts)
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        limit = int(args.get("limit") or 1000)
        return {"ok": True, "messages": thread[:limit], "has_more": len(thread) > limit,
                "response_metadata": {"next_cursor": ""}}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(str(args.get("usergroup")))
        return {"ok": True, "users": users} if users is not None else {"ok": False, "error": "no_such_subteam"}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url}

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            for k, v in (extra or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeSocketMode:
    """Slack's Socket Mode endpoint: a minimal WebSocket server (RFC 6455 text, ping and close frames).

    Start it with a :class:`FakeSlack`; ``apps.connections.open`` then hands out its ``ws://`` URL.
    :meth:`send_envelope` pushes an envelope as Slack does; the app's acknowledgements (the
    ``{"envelope_id": ...}`` messages it sends back) are collected in ``acks``.
    """

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, slack: FakeSlack) -> None:
        import socket

        self.slack = slack
        self.acks: list[dict[str, Any]] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self._conn: Any = None
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._accept, name="fake-slack-socket", daemon=True)

    def start(self) -> FakeSocketMode:
        port = self._listener.getsockname()[1]
        self.slack.socket_url = f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket&app_id=A111"
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closed = True
        for sock in (self._conn, self._listener):
            try:
                if sock is not None:
                    sock.close()
            except OSError:
                pass

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._conn is not None, timeout_s):
                raise AssertionError("the app did not open a Socket Mode connection")

    def send_envelope(self, payload: dict[str, Any], *, type: str = "events_api",  # noqa: A002 - Slack's field
                      retry_attempt: int = 0, accepts_response_payload: bool = False) -> str:
        envelope_id = f"{next(self._ids):08d}-fake-envelope"
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "payload": payload, "type": type,
                                    "accepts_response_payload": accepts_response_payload}
        if type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "")
        self._send_frame(0x1, json.dumps(envelope).encode())
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
        with self._cond:
            found: list[dict[str, Any]] = []

            def acked() -> bool:
                found[:] = [a for a in self.acks if a.get("envelope_id") == envelope_id]
                return bool(found)

            if not self._cond.wait_for(acked, timeout_s):
                raise AssertionError(f"envelope {envelope_id} was not acknowledged")
            return found[0]

    # -- the wire ----------------------------------------------------------------------------
    def _accept(self) -> None:
        import base64
        import hashlib

        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            headers = {}
            for line in request.decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            accept = base64.b64encode(hashlib.sha1((headers.get("sec-websocket-key", "") + self.GUID).encode())
                                      .digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            with self._cond:
                self._conn = conn
                self._cond.notify_all()
            self._send_frame(0x1, json.dumps({"type": "hello", "num_connections": 1,
                                              "debug_info": {"host": "fake"}}).encode())
            self._read_frames(conn)

    def _read_exact(self, conn: Any, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _read_frames(self, conn: Any) -> None:
        try:
            while not self._closed:
                b0, b1 = self._read_exact(conn, 2)
                opcode, length = b0 & 0x0F, b1 & 0x7F
                if length == 126:
                    length = int.from_bytes(self._read_exact(conn, 2), "big")
                elif length == 127:
                    length = int.from_bytes(self._read_exact(conn, 8), "big")
                mask = self._read_exact(conn, 4) if b1 & 0x80 else b"\x00\x00\x00\x00"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read_exact(conn, length)))
                if opcode == 0x1:
                    with self._cond:
                        self.acks.append(json.loads(data))
                        self._cond.notify_all()
                elif opcode == 0x9:
                    self._send_frame(0xA, data)
                elif opcode == 0x8:
                    self._send_frame(0x8, data[:2])
                    return
        except (ConnectionError, OSError, ValueError):
            return

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 1 << 16:
            header += bytes([126]) + n.to_bytes(2, "big")
        else:
            header += bytes([127]) + n.to_bytes(8, "big")
        with self._send_lock:
            if self._conn is not None:
                try:
                    self._conn.sendall(header + payload)
                except OSError:
                    pass
