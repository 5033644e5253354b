"""Leases that heal: a killed or stopped ``helpdesk-bot sync`` never blocks its source.

The process tests run the real command in a subprocess against a slow local website (the fake
answers each request after a delay, so the sync is mid-run when the signal arrives), then sync
again at once (in this process, through the same ``SyncService.run`` the command calls) and compare
the index with a clean sync of the same site.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.index.edge_store import EdgeStore
from bot.index.preparation import IN_PROCESS_FIRST
from bot.runtime import Runtime
from bot.settings import Settings
from bot.state import StateStore
from bot.state.sync_ledger import LeaseHolder
from bot.sync.leases import Heartbeat, holder_gone, process_start, this_holder
from bot.sync.runner import sync_source
from tests.fakes.web_server import FakeSite, help_page, urlset

ROOT = Path(__file__).resolve().parents[2]
PAGES = 30
#: Each request to the slow site waits this long: a full sync takes PAGES x this, at least.
SLOW_S = 0.15


def _site(pages: int = PAGES) -> FakeSite:
    site = FakeSite()
    site.text("/robots.txt", "User-agent: *\nAllow: /\n")
    for i in range(pages):
        site.page(f"/help/article-{i}", help_page(f"Article {i}", f"<p>Topic {i}: how to configure widget {i} "
                                                  f"for shipping rule {i * 7}. Open settings, choose rule {i}.</p>"))
    site.xml("/sitemap.xml", urlset([(f"{{base}}/help/article-{i}", "2026-05-01") for i in range(pages)]))
    return site


def _sources(tmp_path: Path, site: FakeSite) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f'[[sources]]\nname = "site"\ntype = "web"\nsitemap_url = "{site.url}/sitemap.xml"\n',
                    encoding="utf-8")
    return path


def _env(data: Path, sources: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "QDRANT_", "OPENAI_"))}
    env.update(HELPDESK_DATA_DIR=str(data), HELPDESK_SOURCES_FILE=str(sources), HELPDESK_SAMPLE_KB="false",
               HELPDESK_EMBED_THREADS="1", HELPDESK_LOG_FORMAT="json", HELPDESK_SYNC_LEASE_TTL_S="90")
    return env


def _sync(env: dict[str, str], cwd: Path, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "sync"], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _point_set(data: Path) -> set[tuple[str, str, int, str, str]]:
    """(collection, document, chunk, document hash, chunk hash) of every point under ``data``."""
    store = EdgeStore(data / "qdrant")
    try:
        return {(name, p["doc_id"], int(p["chunk_no"]), p["doc_hash"], p["chunk_hash"])
                for name in ("kb_public", "kb_internal") if store.has_collection(name)
                for p in store.scroll_payloads(name, fields=("doc_id", "chunk_no", "doc_hash", "chunk_hash"))}
    finally:
        store.close()


def _wait_for_pages(site: FakeSite, n: int, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(p.startswith("/help/") for p in site.paths_requested()) < n:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.05)


def _rerun(tmp: Path, site: FakeSite, embedder: Any) -> Any:
    """Sync the site again into ``tmp/data`` at once, in this process (the same ``SyncService.run`` the CLI calls)."""
    settings = Settings(data_dir=tmp / "data", sources_file=_sources(tmp, site), sample_kb=False,  # type: ignore[call-arg]
                        _env_file=None)
    with Runtime(settings, embedder=embedder) as rt:
        return rt.syncs.run("site")


def _clean_points(site: FakeSite, tmp: Path, embedder: Any, pages: int = PAGES) -> set[tuple[str, str, int, str, str]]:
    """The point set of one clean, uninterrupted sync of ``site`` (in this process, into its own data dir)."""
    settings = Settings(data_dir=tmp / "clean", sources_file=_sources(tmp, site), sample_kb=False,  # type: ignore[call-arg]
                        _env_file=None)
    with Runtime(settings, embedder=embedder) as rt:
        report = sync_source(rt.connectors()[0], indexer=rt.indexer, state=rt.state.ledger)
        assert report.stats.added == pages
    return _point_set(tmp / "clean")


@pytest.fixture
def slow_site() -> Iterator[FakeSite]:
    with _site() as site:
        site.delay_s = SLOW_S
        yield site


@pytest.mark.slow
def test_kill_9_mid_sync_then_rerun_at_once(tmp_path: Path, slow_site: FakeSite, embedder: Any) -> None:
    env = _env(tmp_path / "data", _sources(tmp_path, slow_site))
    first = _sync(env, tmp_path)
    _wait_for_pages(slow_site, PAGES // 3, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    ledger = StateStore(f"sqlite:///{tmp_path / 'data' / 'state.db'}").ledger
    held = ledger.current_lease("site")
    assert held is not None and held.holder.pid == first.pid  # the dead sync left its lease behind

    slow_site.delay_s = 0.0
    started = time.monotonic()
    report = _rerun(tmp_path, slow_site, embedder)
    assert report is not None  # it ran: not "already running" for the lease's TTL, let alone 6 hours
    assert time.monotonic() - started < 120
    assert report.stats.added + report.stats.unchanged + report.stats.updated == PAGES
    assert ledger.current_lease("site") is None  # released at the end of the rerun
    runs = ledger.last_runs("site")  # the dead sync's run is closed, saying why
    assert [r.status for r in runs] == ["ok", "failed"] and "abandoned: its sync stopped (its process is gone)" \
        in (runs[1].error or "")
    assert _point_set(tmp_path / "data") == _clean_points(slow_site, tmp_path, embedder)


@pytest.mark.slow
def test_sigterm_stops_at_a_document_boundary_and_releases_the_lease(
        tmp_path: Path, slow_site: FakeSite, embedder: Any) -> None:
    env = _env(tmp_path / "data", _sources(tmp_path, slow_site))
    first = _sync(env, tmp_path)
    _wait_for_pages(slow_site, PAGES // 3, first)
    signalled = time.monotonic()
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    stopped_after_s = time.monotonic() - signalled
    assert first.returncode != 0  # it could not do what it was asked to
    assert "Traceback" not in err
    assert "sync interrupted at a document boundary" in err and "rerun to resume" in err
    # It stopped well before the slow site was read to the end.
    assert sum(p.startswith("/help/") for p in slow_site.paths_requested()) < PAGES
    ledger = StateStore(f"sqlite:///{tmp_path / 'data' / 'state.db'}").ledger
    assert ledger.current_lease("site") is None  # released on the way out
    assert [r.status for r in ledger.last_runs("site")] == ["interrupted"]
    assert ledger.load_checkpoint("site") is None  # the checkpoint did not move past unfinished work
    print(f"SIGTERM to exit: {stopped_after_s:.1f}s")

    slow_site.delay_s = 0.0
    report = _rerun(tmp_path, slow_site, embedder)
    assert report is not None
    assert [r.status for r in ledger.last_runs("site")] == ["ok", "interrupted"]  # nothing abandoned: it was released
    assert _point_set(tmp_path / "data") == _clean_points(slow_site, tmp_path, embedder)


@pytest.mark.slow
def test_sigterm_to_the_process_group_with_ingest_workers(tmp_path: Path, embedder: Any) -> None:
    """As systemd and ``docker stop`` do it: every process of the sync gets SIGTERM, its preparation
    workers included. The sync still stops at a document boundary, its workers go with it, and a
    rerun converges on a clean sync's points."""
    pages = IN_PROCESS_FIRST + 60  # past the documents prepared in-process: the workers are busy
    with _site(pages) as site:
        site.delay_s = 0.05
        env = _env(tmp_path / "data", _sources(tmp_path, site))
        env["HELPDESK_INGEST_WORKERS"] = "2"
        first = _sync(env, tmp_path, start_new_session=True)
        _wait_for_pages(site, IN_PROCESS_FIRST + 30, first)
        workers = _group_members(first.pid) - {first.pid}
        assert workers, "no preparation workers were started"
        os.killpg(first.pid, signal.SIGTERM)
        out, err = first.communicate(timeout=60)
        assert first.returncode != 0 and "Traceback" not in err
        assert "sync interrupted at a document boundary" in err and "ingest_worker_lost" not in err
        deadline = time.monotonic() + 10
        while _group_members(first.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_members(first.pid), "preparation workers outlived the sync"
        ledger = StateStore(f"sqlite:///{tmp_path / 'data' / 'state.db'}").ledger
        assert [r.status for r in ledger.last_runs("site")] == ["interrupted"]

        site.delay_s = 0.0
        report = _rerun(tmp_path, site, embedder)
        assert report is not None and report.stats.added + report.stats.unchanged + report.stats.updated == pages
        assert _point_set(tmp_path / "data") == _clean_points(site, tmp_path, embedder, pages)


def _group_members(pgid: int) -> set[int]:
    """Live processes of process group ``pgid`` (zombies excluded)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                out.add(int(entry.name))
    return out


# --- the lease rules, in process -----------------------------------------------------------------
@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Any]:
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield state.ledger
    state.close()


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_live_holder_elsewhere_keeps_its_lease_and_is_named(ledger: Any) -> None:
    other = LeaseHolder(token="t-other", host="other-host", pid=4242)
    assert ledger.acquire_lease("docs", other, ttl_s=60)
    grant = ledger.acquire_lease("docs", this_holder(), ttl_s=60, holder_gone=holder_gone)
    assert not grant and grant.held_by is not None and grant.held_by.holder.pid == 4242
    assert grant.held_by.describe().startswith("host other-host, pid 4242, since ")


def test_a_dead_holder_on_this_host_is_taken_over_before_its_lease_expires(ledger: Any) -> None:
    dead = LeaseHolder(token="t-dead", host=socket.gethostname(), pid=_dead_pid(), process_started="1")
    assert ledger.acquire_lease("docs", dead, ttl_s=3600)
    me = this_holder()
    grant = ledger.acquire_lease("docs", me, ttl_s=60, holder_gone=holder_gone)
    assert grant and grant.taken_over is not None and grant.taken_over.holder.token == "t-dead"
    assert grant.reason == "its process is gone"
    assert ledger.current_lease("docs").holder.token == me.token


def test_a_reused_pid_is_not_mistaken_for_the_holder(ledger: Any) -> None:
    # Our own pid, but recorded with another start time: the holder was an earlier process with this pid.
    assert process_start(os.getpid())  # Linux: the start time is known
    ghost = LeaseHolder(token="t-ghost", host=socket.gethostname(), pid=os.getpid(), process_started="12345")
    assert ledger.acquire_lease("docs", ghost, ttl_s=3600)
    assert ledger.acquire_lease("docs", this_holder(), ttl_s=60, holder_gone=holder_gone)


def test_a_live_holder_on_this_host_is_not_taken_over(ledger: Any) -> None:
    alive = this_holder()  # this very process
    assert ledger.acquire_lease("docs", alive, ttl_s=3600)
    assert not ledger.acquire_lease("docs", this_holder(), ttl_s=60, holder_gone=holder_gone)


def test_the_heartbeat_keeps_a_short_lease_alive_and_its_end_frees_it(ledger: Any) -> None:
    ttl = 0.6
    me = this_holder()
    other = LeaseHolder(token="t-other", host="other-host", pid=1)
    assert ledger.acquire_lease("docs", me, ttl_s=ttl)
    lost = threading.Event()
    with Heartbeat(lambda: ledger.renew_lease("docs", me.token, ttl_s=ttl), ttl_s=ttl, on_lost=lost.set):
        time.sleep(ttl * 3)  # three TTLs: without renewals the lease would be long expired
        assert not ledger.acquire_lease("docs", other, ttl_s=60)
    deadline = time.monotonic() + 10
    while not ledger.acquire_lease("docs", other, ttl_s=60):  # the heartbeat stopped: free within one TTL
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not lost.is_set()


def test_a_heartbeat_that_finds_its_lease_taken_reports_it(ledger: Any) -> None:
    me, other = this_holder(), LeaseHolder(token="t-other", host="other-host", pid=1)
    assert ledger.acquire_lease("docs", me, ttl_s=-1)  # expired at once, as if our heartbeat had stalled
    assert ledger.acquire_lease("docs", other, ttl_s=60)
    lost = threading.Event()
    with Heartbeat(lambda: ledger.renew_lease("docs", me.token, ttl_s=60), ttl_s=0.3, on_lost=lost.set):
        assert lost.wait(10)


def test_the_cli_names_the_holder_and_exits_non_zero(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text("# Returns\n\nReturns are free within 30 days.\n", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    state = StateStore(f"sqlite:///{data / 'state.db'}")
    today = datetime.now(UTC)
    assert state.ledger.acquire_lease("files", LeaseHolder(token="t", host="sync-7f9c", pid=4242), ttl_s=60)
    state.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "QDRANT_", "OPENAI_"))}
    env.update(HELPDESK_DATA_DIR=str(data), HELPDESK_SAMPLE_KB="false", HELPDESK_FILES_DIR=str(folder))
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "sync"], env=env, cwd=tmp_path, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "files: not run: a sync of this source is already running (host sync-7f9c, pid 4242, since " \
           f"{today:%Y-%m-%d}" in proc.stderr
    assert "error: 1 of 1 sources are being synced by another process" in proc.stderr
