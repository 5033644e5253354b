"""Sources file validation, the scheduler's jobs, overlap protection and resync requests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.serve import build_scheduler
from bot.settings import Settings
from bot.state import StateStore
from bot.sync.sources import load_sources


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_sources_file_parses(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    p = _write(tmp_path, f"""
[[sources]]
name = "docs"
type = "files"
path = "{tmp_path / 'docs'}"
schedule = {{ every_minutes = 15 }}

[[sources]]
name = "internal-docs"
type = "files"
path = "{tmp_path / 'docs'}"
default_audience = "internal"
schedule = {{ cron = "0 */2 * * *" }}
""")
    sources = load_sources(p)
    assert [(s.name, s.type, s.schedule.describe()) for s in sources] == [
        ("docs", "files", "every 15 min"), ("internal-docs", "files", "cron 0 */2 * * *")]
    assert sources[1].settings.default_audience.value == "internal"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("body", "message"), [
    ('[[sources]]\nname = "x"\ntype = "ftp"\n', "type must be one of"),
    ('[[sources]]\nname = "x"\ntype = "files"\n', "source #1 ('x'): path: Field required"),
    ('[[sources]]\nname = "x"\ntype = "files"\npath = "/tmp"\nschedule = { cron = "every day" }\n', "invalid cron"),
    ('[[sources]]\nname = "x"\ntype = "files"\npath = "/tmp"\nschedule = { every_minutes = 5, cron = "* * * * *" }\n', "either"),
    ('[[sources]]\nname = "x"\ntype = "files"\npath = "/tmp"\ntoken = "s3cret"\n', "token: Extra inputs are not permitted"),
    ('[[sources]]\nname = "x"\ntype = "files"\npath = "/tmp"\n[[sources]]\nname = "x"\ntype = "files"\npath = "/tmp"\n', "used twice"),
    ("sources = [", "not valid TOML"),
])
def test_sources_file_errors_are_clear(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        load_sources(_write(tmp_path, body))


def test_missing_sources_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "nope.toml")


@pytest.fixture
def runtime(tmp_path: Path, embedder, settings: Settings):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Returns\n\nReturns are free within 30 days.\n", encoding="utf-8")
    p = _write(tmp_path, f'[[sources]]\nname = "docs"\ntype = "files"\npath = "{docs}"\nschedule = {{ cron = "15 * * * *" }}\n')
    s = settings.model_copy(update={"sources_file": p, "sample_kb": False})
    rt = Runtime(s, embedder=embedder)
    yield rt
    rt.close()


def test_scheduler_jobs(runtime: Runtime) -> None:
    scheduler = build_scheduler(runtime, runtime.settings, factory=lambda: BackgroundScheduler(timezone="UTC"))
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {"sync:docs", "prune", "resync-requests", "forget-events", "forget-questions"}
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time == 900
    assert isinstance(jobs["sync:docs"].trigger, CronTrigger)
    assert isinstance(jobs["resync-requests"].trigger, IntervalTrigger)


def test_overlapping_sync_is_skipped(runtime: Runtime) -> None:
    other = StateStore(runtime.settings.state_url).ledger  # a second process's view of the state DB
    assert other.acquire_lease("docs", "other-host:1", ttl_s=60)
    assert runtime.syncs.run("docs") is None
    assert runtime.state.ledger.last_runs("docs") == []
    other.release_lease("docs", "other-host:1")
    report = runtime.syncs.run("docs")
    assert report is not None and report.stats.added == 1


def test_expired_lease_is_taken_over(runtime: Runtime) -> None:
    other = StateStore(runtime.settings.state_url).ledger
    assert other.acquire_lease("docs", "crashed:1", ttl_s=-1)  # already expired: its holder died
    assert runtime.syncs.run("docs") is not None


def test_concurrent_resync_runs_once(runtime: Runtime) -> None:
    results: list[object] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        results.append(runtime.syncs.run("docs"))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and len(runtime.state.ledger.last_runs("docs")) == 1


def test_resync_requests_are_picked_up_once(runtime: Runtime) -> None:
    runtime.syncs.request_resync("docs", requested_by="U123")
    runtime.syncs.request_resync("docs")
    assert runtime.syncs.process_resync_requests() == ["docs"]
    assert runtime.syncs.process_resync_requests() == []
    status = runtime.syncs.status()
    assert [(s.name, s.last_status, s.docs) for s in status] == [("docs", "ok", 1)]
    assert status[0].lag_s is not None and status[0].lag_s >= 0
