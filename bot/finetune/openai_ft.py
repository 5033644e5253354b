"""``finetune openai``: the exported chat JSONL to an OpenAI-compatible fine-tuning API.

Wire flow (the ``openai`` package): ``POST /files`` (multipart, ``purpose=fine-tune``) for the
training and validation files, ``POST /fine_tuning/jobs``, then ``GET /fine_tuning/jobs/{id}``
every ``poll_s`` seconds until the job is ``succeeded``, ``failed`` or ``cancelled`` (it passes
through ``validating_files``, ``queued`` and ``running``). The fine-tuned model's name is written
to ``<data dir>/finetune/openai_model.json``, which the ``openai`` style backend reads when
``HELPDESK_STYLE_OPENAI_MODEL`` is empty. A job that outlives ``timeout_s`` is left running:
``finetune openai --job ID`` resumes polling it.

Clock and sleep are injectable, so tests run the whole flow against a local fake server in
milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bot.finetune import DatasetError, FineTuneJobError
from bot.finetune.adapters import OPENAI_MODEL_RECORD
from bot.finetune.dataset import read_chat_jsonl

log = structlog.get_logger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
#: OpenAI's minimum number of training examples for a fine-tuning job.
OPENAI_MIN_EXAMPLES = 10


@dataclass
class FineTuneResult:
    job_id: str
    status: str
    base_model: str
    model: str | None
    training_file: str
    validation_file: str | None
    trained_tokens: int | None
    elapsed_s: float
    finished_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _api_call(what: str, fn: Callable[[], Any]) -> Any:
    import openai

    try:
        return fn()
    except openai.APIStatusError as exc:
        body = getattr(exc, "body", None)
        err = body.get("error", body) if isinstance(body, dict) else None  # the SDK may unwrap "error" already
        message = str(err.get("message") or "")[:200] if isinstance(err, dict) else ""
        raise FineTuneJobError(f"{what}: HTTP {exc.status_code}{': ' + message if message else ''}") from exc
    except openai.APIError as exc:
        raise FineTuneJobError(f"{what}: {type(exc).__name__}") from exc


def upload(client: Any, path: Path) -> str:
    """Upload one chat JSONL file (validated first) for fine-tuning; returns its file id."""
    examples = read_chat_jsonl(path)
    if not examples:
        raise DatasetError(f"{path} has no examples")
    with path.open("rb") as fh:
        obj = _api_call(f"uploading {path.name}", lambda: client.files.create(file=(path.name, fh), purpose="fine-tune"))
    return str(obj.id)


def submit(
    client: Any,
    *,
    train_path: Path,
    validation_path: Path | None,
    base_model: str,
    suffix: str | None = None,
    n_epochs: int | None = None,
    seed: int | None = None,
) -> tuple[str, str, str | None]:
    """Upload the files and create the job; returns ``(job_id, training_file_id, validation_file_id)``."""
    n = len(read_chat_jsonl(train_path))
    if n < OPENAI_MIN_EXAMPLES:
        log.warning("finetune_few_examples", examples=n, minimum=OPENAI_MIN_EXAMPLES)
    training_file = upload(client, train_path)
    validation_file = upload(client, validation_path) if validation_path and validation_path.is_file() \
        and validation_path.stat().st_size else None
    kwargs: dict[str, Any] = {"model": base_model, "training_file": training_file}
    if validation_file:
        kwargs["validation_file"] = validation_file
    if suffix:
        kwargs["suffix"] = suffix
    if seed is not None:
        kwargs["seed"] = seed
    if n_epochs:
        kwargs["method"] = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}}
    job = _api_call("creating the fine-tuning job", lambda: client.fine_tuning.jobs.create(**kwargs))
    log.info("finetune_job_created", job=job.id, base=base_model, status=job.status)
    return str(job.id), training_file, validation_file


def wait(
    client: Any,
    job_id: str,
    *,
    poll_s: float = 15.0,
    timeout_s: float = 4 * 3600,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_status: Callable[[str], None] | None = None,
) -> Any:
    """Poll the job until it ends; returns the final job object.

    Raises:
        FineTuneJobError: the job failed or was cancelled (with the API's error message), or
            ``timeout_s`` passed (the job keeps running; poll it again later with its id).
    """
    started = clock()
    last = None
    while True:
        job = _api_call(f"reading job {job_id}", lambda: client.fine_tuning.jobs.retrieve(job_id))
        if job.status != last:
            last = job.status
            log.info("finetune_job_status", job=job_id, status=job.status)
            if on_status:
                on_status(str(job.status))
        if job.status in TERMINAL:
            break
        if clock() - started >= timeout_s:
            raise FineTuneJobError(
                f"job {job_id} is still {job.status} after {timeout_s:.0f} s; it keeps running: "
                f"resume with `helpdesk-bot finetune openai --job {job_id}`")
        sleep(poll_s)
    if job.status != "succeeded":
        error = getattr(job, "error", None)
        detail = getattr(error, "message", None) if error else None
        raise FineTuneJobError(f"job {job_id} {job.status}" + (f": {detail}" if detail else ""))
    if not job.fine_tuned_model:
        raise FineTuneJobError(f"job {job_id} succeeded without a fine-tuned model name")
    return job


def record(data_dir: Path, result: FineTuneResult) -> Path:
    """Write the result where the ``openai`` style backend looks for it; returns the path."""
    path = data_dir / OPENAI_MODEL_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**result.as_dict(), "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def fine_tune(
    client: Any,
    *,
    data_dir: Path,
    train_path: Path | None = None,
    validation_path: Path | None = None,
    base_model: str = "gpt-4o-mini-2024-07-18",
    suffix: str | None = "helpdesk-style",
    n_epochs: int | None = None,
    job_id: str | None = None,
    poll_s: float = 15.0,
    timeout_s: float = 4 * 3600,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_status: Callable[[str], None] | None = None,
) -> FineTuneResult:
    """Submit (or resume, with ``job_id``), wait, and record the fine-tuned model under ``data_dir``."""
    started = clock()
    if job_id is None:
        if train_path is None:
            raise DatasetError("no training file given")
        job_id, _, _ = submit(client, train_path=train_path, validation_path=validation_path,
                              base_model=base_model, suffix=suffix, n_epochs=n_epochs)
        if on_status:
            on_status(f"submitted {job_id}")
    job = wait(client, job_id, poll_s=poll_s, timeout_s=timeout_s, sleep=sleep, clock=clock, on_status=on_status)
    finished = datetime.fromtimestamp(job.finished_at, UTC).isoformat() if getattr(job, "finished_at", None) else None
    result = FineTuneResult(
        job_id=job_id, status=str(job.status), base_model=str(job.model), model=str(job.fine_tuned_model),
        training_file=str(job.training_file), validation_file=job.validation_file,
        trained_tokens=getattr(job, "trained_tokens", None), elapsed_s=round(clock() - started, 1),
        finished_at=finished,
    )
    record(data_dir, result)
    return result
