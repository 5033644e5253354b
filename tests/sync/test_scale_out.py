"""N scheduler processes share the sources through the state database's leases.

Real processes, a real shared state database (SQLite on a file; PostgreSQL too when
``HELPDESK_TEST_POSTGRES_URL`` names one), real signals. Each worker has its own store (qdrant-client's
in-memory stand-in for the Qdrant server; no server binary runs here), and embeds through a local
server speaking OpenAI's embeddings wire format, slowed down so that syncs last long enough to collide.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state import StateStore
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("alpha", "beta", "gamma", "delta")
POSTGRES = os.environ.get("HELPDESK_TEST_POSTGRES_URL", "")


@pytest.fixture
def embeddings() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(embedding_dim=16, delay_s=0.05, record_embedding_requests=False) as server:
        yield server


def _setup(tmp_path: Path, embeddings: FakeOpenAI, state_url: str, *, ttl_s: float = 600) -> dict[str, str]:
    lines = []
    for name in SOURCES:
        folder = tmp_path / "sources" / name
        folder.mkdir(parents=True)
        for i in range(12):
            (folder / f"{name}-{i}.md").write_text(f"# {name} {i}\n\nHow to {name} the label number {i}.\n", encoding="utf-8")
        lines.append(f'[[sources]]\nname = "{name}"\ntype = "files"\npath = "{folder}"\n')
    (tmp_path / "sources.toml").write_text("\n".join(lines), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "QDRANT_", "OPENAI_"))}
    return {**base, "HELPDESK_SOURCES_FILE": str(tmp_path / "sources.toml"), "HELPDESK_SAMPLE_KB": "false",
            "HELPDESK_DATA_DIR": str(tmp_path / "data"), "HELPDESK_STATE_DB_URL": state_url, "QDRANT_URL": ":memory:",
            "HELPDESK_EMBEDDINGS_URL": f"{embeddings.url}/v1", "HELPDESK_EMBEDDINGS_MODEL": "fake",
            "HELPDESK_EMBEDDINGS_BATCH_SIZE": "2", "HELPDESK_EMBEDDINGS_CONCURRENCY": "1",
            "HELPDESK_SYNC_LEASE_TTL_S": str(ttl_s), "HELPDESK_LOG_LEVEL": "WARNING"}


def _worker(env: dict[str, str], out: Path, rounds: int, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.sync.scale_worker", str(out), str(rounds), str(seed)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _state_urls(tmp_path: Path) -> list[str]:
    return [f"sqlite:///{tmp_path / 'state.db'}"] + ([POSTGRES] if POSTGRES else [])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_three_workers_share_the_sources_and_never_sync_one_twice_at_once(tmp_path: Path, embeddings: FakeOpenAI,
                                                                          backend: str) -> None:
    if backend == "postgresql" and not POSTGRES:
        pytest.skip("HELPDESK_TEST_POSTGRES_URL is not set (no PostgreSQL to test on)")
    url = f"sqlite:///{tmp_path / 'state.db'}" if backend == "sqlite" else POSTGRES
    env = _setup(tmp_path, embeddings, url)
    StateStore(url).close()  # tables made once, before the workers race
    out = tmp_path / "attempts.jsonl"
    workers = [_worker(env, out, rounds=3, seed=seed) for seed in range(3)]
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-2000:]
    attempts = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(attempts) == 3 * 3 * len(SOURCES)
    ran = [a for a in attempts if a["ran"]]
    state = StateStore(url)
    for name in SOURCES:
        # The run history is written inside the lease: its intervals are the syncs themselves.
        runs = sorted((r.started_at, r.finished_at) for r in state.ledger.last_runs(name, limit=100))
        assert len(runs) == sum(a["source"] == name for a in ran) > 0
        assert all(r.status == "ok" for r in state.ledger.last_runs(name, limit=100))
        for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
            assert start >= end, f"{name}: two syncs overlapped"
    state.close()
    assert len({a["pid"] for a in ran}) == 3, "every worker took some of the work"
    assert any(not a["ran"] for a in attempts), "the workers never collided: the test proves nothing"


@pytest.mark.slow
def test_a_killed_workers_source_is_taken_over(tmp_path: Path, embeddings: FakeOpenAI) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    env = _setup(tmp_path, embeddings, url, ttl_s=10)
    StateStore(url).close()
    embeddings.delay_s = 0.5  # the first worker is surely mid-sync when it is killed
    victim = _worker(env, tmp_path / "victim.jsonl", rounds=1, seed=0)
    assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
    state = StateStore(url)
    deadline = time.time() + 60
    while not state.ledger.last_runs(limit=1) and time.time() < deadline:
        time.sleep(0.05)
    [held] = state.ledger.last_runs(limit=1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    killed_at = time.time()
    embeddings.delay_s = 0.0
    # The holder ran on this host and its process is gone: the next worker takes the lease over at
    # once (a holder on another host would be taken over when its heartbeat stops, after the TTL).
    survivor = _worker(env, tmp_path / "survivor.jsonl", rounds=1, seed=1)
    _, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err[-2000:]
    taken = {a["source"]: a for a in map(json.loads, (tmp_path / "survivor.jsonl").read_text().splitlines())}
    assert taken[held.source]["ran"] is True and taken[held.source]["start"] < killed_at + 10
    latest, killed = state.ledger.last_runs(held.source, limit=2)
    assert latest.status == "ok"
    assert killed.status == "failed" and "abandoned" in (killed.error or "")
    state.close()
