"""``finetune openai`` and the ``openai`` style backend, over real HTTP against local fakes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from bot.answer.style import Surface
from bot.cli import main
from bot.finetune import REWRITE_INSTRUCTION, FineTuneJobError, StyleError
from bot.finetune.adapters import OpenAIStyleAdapter, read_openai_record, style_router
from bot.finetune.dataset import Conversation, Turn, export
from bot.finetune.openai_ft import fine_tune
from bot.models import Answer
from tests.fakes.openai_finetune_server import FakeOpenAIFineTuning
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-ft-77"


@pytest.fixture
def ft_server() -> Iterator[FakeOpenAIFineTuning]:
    with FakeOpenAIFineTuning() as s:
        yield s


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    convs = [Conversation(f"c{i}", (Turn("customer", f"How many seats on plan {i}?"),
                                    Turn("agent", f"Hi there! Plan {i} has {i + 3} seats. Hope this helps!")))
             for i in range(30)]
    export(convs, tmp_path / "dataset", validation_fraction=0.2)
    return tmp_path / "dataset"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def _client(server: FakeOpenAIFineTuning) -> OpenAI:
    return OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=5)


def test_fine_tune_flow_uploads_creates_polls_and_records(ft_server: FakeOpenAIFineTuning, dataset: Path,
                                                          tmp_path: Path) -> None:
    clock, statuses = FakeClock(), []
    result = fine_tune(_client(ft_server), data_dir=tmp_path / "data", train_path=dataset / "train.jsonl",
                       validation_path=dataset / "validation.jsonl", base_model="gpt-4o-mini-2024-07-18",
                       suffix="team-voice", n_epochs=2, poll_s=30, sleep=clock.sleep, clock=clock,
                       on_status=statuses.append)
    # Both files went up as multipart uploads, byte for byte.
    uploads = [r for r in ft_server.requests if r.path == "/v1/files"]
    assert len(uploads) == 2 and all(r.headers["content-type"].startswith("multipart/form-data") for r in uploads)
    assert sorted(ft_server.file_contents.values()) == sorted(
        [(dataset / "train.jsonl").read_bytes(), (dataset / "validation.jsonl").read_bytes()])
    (create,) = [json.loads(r.body) for r in ft_server.requests if r.path == "/v1/fine_tuning/jobs"]
    assert create["model"] == "gpt-4o-mini-2024-07-18" and create["suffix"] == "team-voice"
    assert create["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
    assert ft_server.files[create["training_file"]]["filename"] == "train.jsonl"
    # Polled through every status, sleeping between polls.
    assert statuses[1:] == ["validating_files", "queued", "running", "succeeded"]
    assert clock.sleeps == [30, 30, 30]
    assert result.status == "succeeded" and result.model == f"ft:gpt-4o-mini-2024-07-18:acme:team-voice:{result.job_id[-8:]}"
    record = read_openai_record(tmp_path / "data")
    assert record is not None and record["model"] == result.model and record["job_id"] == result.job_id


def test_failed_job_raises_with_the_api_message(ft_server: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    ft_server.fail_with = ("invalid_training_file", "The file has too few examples.")
    clock = FakeClock()
    with pytest.raises(FineTuneJobError, match="failed: The file has too few examples"):
        fine_tune(_client(ft_server), data_dir=tmp_path, train_path=dataset / "train.jsonl",
                  sleep=clock.sleep, clock=clock)
    assert read_openai_record(tmp_path) is None


def test_timeout_leaves_the_job_running_and_resume_finishes_it(ft_server: FakeOpenAIFineTuning, dataset: Path,
                                                               tmp_path: Path) -> None:
    ft_server.transitions = ["validating_files", "queued", "running", "running", "running", "running", "succeeded"]
    clock = FakeClock()
    with pytest.raises(FineTuneJobError, match=r"still running after 40 s.*--job ftjob-") as info:
        fine_tune(_client(ft_server), data_dir=tmp_path, train_path=dataset / "train.jsonl", poll_s=20, timeout_s=40,
                  sleep=clock.sleep, clock=clock)
    job_id = str(info.value).split("--job ")[1].rstrip("`")
    result = fine_tune(_client(ft_server), data_dir=tmp_path, job_id=job_id, poll_s=20, sleep=clock.sleep, clock=clock)
    assert result.status == "succeeded" and read_openai_record(tmp_path)["job_id"] == job_id  # type: ignore[index]
    assert len([r for r in ft_server.requests if r.path == "/v1/fine_tuning/jobs"]) == 1  # not submitted twice


def test_http_errors_become_one_line_errors(ft_server: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    ft_server.status = 429
    with pytest.raises(FineTuneJobError, match="uploading train.jsonl: HTTP 429"):
        fine_tune(_client(ft_server), data_dir=tmp_path, train_path=dataset / "train.jsonl")


def test_cli_prints_the_setting_line(ft_server: FakeOpenAIFineTuning, dataset: Path, settings: Any,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("HELPDESK_STYLE_OPENAI_BASE_URL", f"{ft_server.url}/v1")
    assert main(["finetune", "openai", "--data", str(dataset), "--poll-s", "0.01", "--suffix", "cli"]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("HELPDESK_STYLE_OPENAI_MODEL=")]
    assert line.startswith("HELPDESK_STYLE_OPENAI_MODEL=ft:gpt-4o-mini-2024-07-18:acme:cli:")
    assert read_openai_record(settings.data_dir)["model"] == line.split("=", 1)[1]  # type: ignore[index]


# --- the openai style backend (chat completions) -----------------------------------------------
def test_openai_style_adapter_sends_the_training_prompt() -> None:
    with FakeOpenAI(reply=lambda body: "Hi there! Plan 3 has 6 seats [1]. Hope this helps!") as server:
        adapter = OpenAIStyleAdapter(model="ft:gpt-4o-mini:acme:voice:abc", api_key=KEY,
                                     base_url=f"{server.url}/v1", timeout_s=2, max_retries=0)
        assert adapter.restyle("Plan 3 has 6 seats [1].") == "Hi there! Plan 3 has 6 seats [1]. Hope this helps!"
        (request,) = server.requests
    assert request.json["model"] == "ft:gpt-4o-mini:acme:voice:abc" and request.json["temperature"] == 0.0
    assert request.json["messages"] == [{"role": "system", "content": REWRITE_INSTRUCTION},
                                        {"role": "user", "content": "Plan 3 has 6 seats [1]."}]
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_openai_backend_through_the_router_both_outcomes(settings: Any, tmp_path: Path) -> None:
    rewrites = iter(["Hi there! Plan 3 has 6 seats [1]. Hope this helps!",
                     "Hi there! Plan 3 has 8 seats [1], see https://upsell.example!"])
    with FakeOpenAI(reply=lambda body: next(rewrites)) as server:
        s = settings.model_copy(update={"style_slack_customer": "openai", "style_helpdesk_drafts": "openai",
                                        "style_openai_model": "team-voice", "style_openai_base_url": f"{server.url}/v1",
                                        "style_timeout_s": 0.3, "openai_max_retries": 0})
        router = style_router(s)
        assert router.adapter(Surface.SLACK_CUSTOMER) is router.adapter(Surface.HELPDESK_DRAFTS)  # built once
        draft = Answer(text="Plan 3 has 6 seats [1].", confidence=0.9)
        assert router.apply(Surface.SLACK_CUSTOMER, draft).text == "Hi there! Plan 3 has 6 seats [1]. Hope this helps!"
        outcome = router.restyle(Surface.HELPDESK_DRAFTS, draft.text)
        assert outcome.text == draft.text and "added numbers: 8" in outcome.reason and "added urls" in outcome.reason
        server.status = 500
        outcome = router.restyle(Surface.HELPDESK_DRAFTS, draft.text)
        assert (outcome.text, outcome.reason) == (draft.text, "adapter failed (StyleError)")
        server.status, server.delay_s = None, 0.8
        assert router.restyle(Surface.HELPDESK_DRAFTS, draft.text).reason == "adapter failed (StyleError)"  # timeout
        time.sleep(0.6)  # let the fake finish the abandoned request before it stops


def test_openai_backend_uses_the_recorded_model(settings: Any) -> None:
    record = settings.data_dir / "finetune" / "openai_model.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"model": "ft:recorded:acme::1"}), encoding="utf-8")
    router = style_router(settings.model_copy(update={"style_slack_agent": "openai"}))
    adapter = router.adapter(Surface.SLACK_AGENT)
    assert isinstance(adapter, OpenAIStyleAdapter) and adapter.model == "ft:recorded:acme::1"
    record.unlink()
    with pytest.raises(StyleError, match="no style model configured"):
        style_router(settings.model_copy(update={"style_slack_agent": "openai"}))
