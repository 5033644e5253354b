"""Load: signed Slack events and Zendesk webhooks at a rising rate against ``serve --role web``, loopback only.

The real process (``python -m bot.cli serve --role web --mode http`` in a subprocess, over the
bundled sample knowledge base in an embedded store, extractive composer) is driven over HTTP on
127.0.0.1 by an open-loop generator: each step sends ``rate`` Slack ``app_mention`` events per
second for ``--step-s`` seconds, plus a quarter as many signed Zendesk ``ticket.created`` webhooks,
and re-sends one event in ten as Slack's retry (``X-Slack-Retry-Num: 1``). Slack's Web API and
Zendesk's API are local fakes (``SLACK_API_URL`` points the process at the Slack one).

Per step: ack latency p50 / p99 (request sent -> HTTP response), answers posted and tickets drafted
(after a drain of up to ``--drain-s``), answer latency p50 / p99 (event sent -> ``chat.postMessage``
seen by the fake), duplicates (an event answered more than once, a ticket drafted more than once:
must be 0), errors (non-2xx acks, transport errors), the server's RSS. A warm-up of 5 s at 2/s
comes first and is not counted. Then a 429 storm: the fake
Slack answers ``chat.postMessage`` 429 (Retry-After 1 s) for a run of calls while events keep
coming. The result names the highest rate whose ack p99 stayed under 1 s and under Slack's 3 s.

Bounded: a few minutes in all (``--steps``, ``--step-s``); nothing leaves the machine. The numbers
are from whatever else the machine runs at the time: on a shared machine they are noisy.

Usage: ``python benchmarks/load.py [--steps 2,5,10,20,40] [--step-s 10] [--drain-s 30] [--embed-threads 0]
[--data-dir /tmp/load-data]`` (a data dir given is synced once and reused: the sync takes longer than the load).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import PROJECT_ROOT, emit, machine, note, percentile, setup_logging

from bot.runtime import Runtime
from bot.settings import Settings
from connectors.files import sample_kb_path
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack
from tests.fakes.zendesk_server import FakeZendesk, comment
from tests.support.helpdesk import (
    CUSTOMER,
    ENV,
    ZD_EMAIL,
    ZD_SECRET,
    ZD_TOKEN,
    zendesk_event,
    zendesk_headers,
)
from tests.support.servers import free_port

SIGNING_SECRET = "load-bench-signing-secret-0001"
CHANNEL = "C0LOAD001"
ASKER = "U0ASKER1"
TICKETS = 400
RETRY_SHARE = 0.1  # one event in ten is delivered again as Slack's retry


@dataclass
class Step:
    name: str
    rate: float
    acks: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent_events: dict[str, float] = field(default_factory=dict)  # event ts -> when it was sent
    tickets: list[int] = field(default_factory=list)
    late_starts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def sign(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


_ids = itertools.count(1)
#: This run's own: event ids, message timestamps and webhook ids never repeat an earlier run's (a reused
#: data directory keeps its processed-event keys, and would rightly drop a repeat as a duplicate).
RUN = int(time.time())


def mention(question: str) -> tuple[str, bytes]:
    n = next(_ids)
    ts = f"{RUN}.{n:06d}"
    body = {"token": "unused", "team_id": "T111", "api_app_id": "A111", "type": "event_callback",
            "event_id": f"EvL{RUN}{n:07d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": "T111", "user_id": BOT_USER_ID, "is_bot": True}],
            "event": {"type": "app_mention", "user": ASKER, "text": f"<@{BOT_USER_ID}> {question}", "ts": ts,
                      "channel": CHANNEL, "event_ts": ts, "team": "T111"}}
    return ts, json.dumps(body).encode()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def run_step(step: Step, *, url: str, duration_s: float, questions: list[str], pool: ThreadPoolExecutor,
             clients: threading.local, rng: random.Random) -> None:
    """Open loop: request i is due at start + i / rate, whatever the earlier ones are doing."""

    def client() -> httpx.Client:
        if not hasattr(clients, "c"):
            # Idle connections are dropped before uvicorn's own keep-alive timeout (5 s) would close them
            # under a request: a reused, half-closed connection is the client's artefact, not the server's.
            clients.c = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(keepalive_expiry=2.0))
        return clients.c

    def post(path: str, body: bytes, headers: dict[str, str], due: float) -> None:
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.05:
            with step.lock:
                step.late_starts += 1
        sent = time.monotonic()
        try:
            resp = client().post(path, content=body, headers=headers)
            status = resp.status_code
        except httpx.HTTPError as exc:
            with step.lock:
                step.errors[type(exc).__name__] += 1
            return
        with step.lock:
            step.acks.append(time.monotonic() - sent)
            if not 200 <= status < 300:
                step.errors[f"HTTP {status}"] += 1

    start = time.monotonic() + 0.2
    n_events = int(step.rate * duration_s)
    futures = []
    for i in range(n_events):
        due = start + i / step.rate
        ts, body = mention(rng.choice(questions))
        step.sent_events[ts] = due
        futures.append(pool.submit(post, "/slack/events", body, sign(body), due))
        if rng.random() < RETRY_SHARE:  # Slack's retry of the same delivery, a moment later
            futures.append(pool.submit(post, "/slack/events", body,
                                       {**sign(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
                                       due + 0.5))
        if i % 4 == 0:
            tid = rng.randint(1, TICKETS)
            step.tickets.append(tid)
            zd_body = zendesk_event(tid, event_id=f"01HL{RUN}{next(_ids):08d}")
            futures.append(pool.submit(post, "/webhooks/zendesk", zd_body, zendesk_headers(zd_body), due + 0.01))
    for f in futures:
        f.result()


def collect(step: Step, slack: FakeSlack, zd: FakeZendesk, *, drain_s: float, pid: int) -> dict[str, Any]:
    """Wait for the answers and drafts (up to ``drain_s``), then the step's figures.

    Every fake ticket holds one customer message, so each ticket is drafted once in a run however
    many webhooks name it (the draft service claims the message): a second note on a ticket is a
    duplicate.
    """
    deadline = time.monotonic() + drain_s
    expected = set(step.sent_events)
    tickets = set(step.tickets)
    while time.monotonic() < deadline:
        answered = {c.args.get("thread_ts") for c in slack.calls_to("chat.postMessage")} & expected
        if len(answered) == len(expected) and all(zd.notes(t) for t in tickets):
            break
        time.sleep(0.25)
    posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") in expected]
    per_event = Counter(c.args.get("thread_ts") for c in posts)
    answer_latency = [min(c.at for c in posts if c.args.get("thread_ts") == ts) - sent
                      for ts, sent in step.sent_events.items() if ts in per_event]
    notes = {t: len(zd.notes(t)) for t in tickets}
    return {
        "rate_per_s": step.rate,
        "slack_events": len(step.sent_events), "webhooks": len(step.tickets),
        "requests": len(step.acks) + sum(step.errors.values()),
        "ack_p50_ms": round(percentile(step.acks, 50) * 1000, 1), "ack_p99_ms": round(percentile(step.acks, 99) * 1000, 1),
        "ack_max_ms": round(max(step.acks, default=0) * 1000, 1),
        "answers_posted": len(per_event), "answers_missing": len(expected) - len(per_event),
        "answer_p50_s": round(percentile(answer_latency, 50), 2), "answer_p99_s": round(percentile(answer_latency, 99), 2),
        "tickets_drafted": sum(1 for n in notes.values() if n), "tickets_not_drafted": sum(1 for n in notes.values() if not n),
        "duplicates": sum(n - 1 for n in per_event.values() if n > 1) + sum(n - 1 for n in notes.values() if n > 1),
        "errors": dict(step.errors), "late_starts": step.late_starts, "server_rss_mb": rss_mb(pid),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="2,5,10,20,40", help="Slack events per second, one step each")
    parser.add_argument("--step-s", type=float, default=10.0, help="seconds per step")
    parser.add_argument("--drain-s", type=float, default=30.0, help="longest wait for a step's answers")
    parser.add_argument("--storm-rate", type=float, default=5.0, help="events per second during the 429 storm")
    parser.add_argument("--storm-429s", type=int, default=40, help="chat.postMessage calls answered 429 in a row")
    parser.add_argument("--embed-threads", type=int, default=0,
                        help="HELPDESK_EMBED_THREADS of the server (0, the default: all cores)")
    parser.add_argument("--data-dir", help="reuse this data directory (synced on the first run) instead of a new one")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    setup_logging()
    rng = random.Random(args.seed)
    questions = [q.strip() for q in (sample_kb_path() / "questions.txt").read_text(encoding="utf-8").splitlines()
                 if q.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="helpdesk-load-"))
    data = Path(args.data_dir) if args.data_dir else tmp / "data"
    for old in data.glob("state.db*"):  # a reused directory keeps its index, never an earlier run's event keys
        old.unlink()
    with FakeSlack() as slack, FakeZendesk(credentials=(f"{ZD_EMAIL}/token", ZD_TOKEN)) as zd:
        slack.add_channel(CHANNEL, "support-load")
        zd.add_user(CUSTOMER, "Customer", "end-user")
        zd.add_user(900, "Agent", "admin")
        for tid in range(1, TICKETS + 1):
            zd.add_ticket(tid, "Question", status="new", requester_id=CUSTOMER,
                          comments=[comment(rng.choice(questions), author_id=CUSTOMER)])
        sources = tmp / "sources.toml"
        sources.write_text(f'[[sources]]\nname = "zendesk"\ntype = "zendesk"\nbase_url = "{zd.url}"\n'
                           'email_env = "ZENDESK_EMAIL"\ntoken_env = "ZENDESK_API_TOKEN"\n', encoding="utf-8")
        note(f"syncing the sample knowledge base into {data} (unchanged documents are skipped) ...")
        with Runtime(Settings(data_dir=data, _env_file=None)) as rt:  # type: ignore[call-arg]
            for name in ("sample-articles", "sample-tickets"):
                rt.syncs.run(name)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "QDRANT_", "OPENAI_", "SLACK_"))}
        env.update(ENV)
        env.update(HELPDESK_DATA_DIR=str(data), HELPDESK_SOURCES_FILE=str(sources), HELPDESK_HTTP_PORT=str(port),
                   HELPDESK_LOG_FORMAT="json", HELPDESK_LOG_LEVEL="WARNING", SLACK_API_URL=slack.api_url,
                   SLACK_BOT_TOKEN=slack.token, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   HELPDESK_ZENDESK_WEBHOOK_SECRET=ZD_SECRET, HELPDESK_QUESTION_LOG_DAYS="30",
                   HELPDESK_EMBED_THREADS=str(args.embed_threads))
        log = open(tmp / "serve.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--role", "web", "--mode", "http"],
                                  env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, server)
            note(f"serve --role web is ready at {url} (pid {server.pid}, RSS {rss_mb(server.pid)} MB)")
            steps, clients = [], threading.local()
            with ThreadPoolExecutor(max_workers=64) as pool:
                # Warm-up, not measured: the first answers of each worker thread load what they lazily load.
                warm = Step(name="warm-up", rate=2.0)
                run_step(warm, url=url, duration_s=5, questions=questions, pool=pool, clients=clients, rng=rng)
                collect(warm, slack, zd, drain_s=args.drain_s, pid=server.pid)
                for rate in [float(r) for r in args.steps.split(",")]:
                    step = Step(name=f"{rate:g}/s", rate=rate)
                    note(f"step {step.name}: {args.step_s:.0f} s")
                    run_step(step, url=url, duration_s=args.step_s, questions=questions, pool=pool, clients=clients,
                             rng=rng)
                    figures = collect(step, slack, zd, drain_s=args.drain_s, pid=server.pid)
                    note(f"  {figures}")
                    steps.append(figures)
                # The 429 storm: chat.postMessage refuses a run of calls; answers must still arrive, once.
                slack.rate_limit("chat.postMessage", times=args.storm_429s, retry_after=1)
                storm = Step(name="429 storm", rate=args.storm_rate)
                note(f"429 storm: {args.storm_429s} x 429 on chat.postMessage at {args.storm_rate:g} events/s")
                run_step(storm, url=url, duration_s=args.step_s, questions=questions, pool=pool, clients=clients, rng=rng)
                storm_figures = collect(storm, slack, zd, drain_s=args.drain_s * 2, pid=server.pid)
                storm_figures["postmessage_429s"] = sum(1 for c in slack.calls if c.method == "chat.postMessage"
                                                        and c.status == 429)
                note(f"  {storm_figures}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    tracebacks = (tmp / "serve.log").read_text(encoding="utf-8", errors="replace").count("Traceback")
    ok_1s = [s["rate_per_s"] for s in steps if s["ack_p99_ms"] < 1000 and not s["errors"]]
    ok_3s = [s["rate_per_s"] for s in steps if s["ack_p99_ms"] < 3000 and not s["errors"]]
    emit({
        "benchmark": "load", "machine": machine(), "load_average": os.getloadavg(), "embed_threads": args.embed_threads,
        "step_s": args.step_s, "steps": steps, "storm": storm_figures,
        "highest_rate_ack_p99_under_1s": max(ok_1s, default=None),
        "highest_rate_ack_p99_under_3s": max(ok_3s, default=None),
        "duplicates_total": sum(s["duplicates"] for s in steps) + storm_figures["duplicates"],
        "server_exit_code": server.returncode, "server_log_tracebacks": tracebacks,
        "note": "loopback only, fakes for Slack and Zendesk; the load generator shares the machine with the server",
    })


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("serve was not ready in time")


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    main()
