"""A real local HTTP server speaking OpenAI's Files and Fine-tuning wire format, for tests.

    with FakeOpenAIFineTuning() as server:
        client = OpenAI(api_key="sk-test", base_url=f"{server.url}/v1")
        ...
        assert server.jobs[job_id]["status"] == "succeeded"

Endpoints (what ``openai`` calls): ``POST /v1/files`` (multipart: ``purpose``, ``file``; the file
must be chat-format JSONL), ``GET /v1/files/{id}``, ``POST /v1/fine_tuning/jobs``,
``GET /v1/fine_tuning/jobs/{id}``, ``POST /v1/fine_tuning/jobs/{id}/cancel``. Each retrieve of a
job moves it one step along ``transitions`` (``validating_files`` -> ``queued`` -> ``running`` ->
``succeeded``), the way a real job progresses between polls.

Scriptable attributes:

- ``transitions``: the statuses a job passes through, the last one final;
- ``fail_with``: ``(code, message)``: the job ends ``failed`` with that error instead;
- ``status``: answer every request with this HTTP status and an OpenAI-style error body;
- ``organization``: used in fine-tuned model names (``ft:{base}:{org}:{suffix}:{id}``).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalHTTPServer, send_json


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeOpenAIFineTuning(LocalHTTPServer):
    http_methods = ("POST", "GET")
    thread_name = "fake-openai-ft"

    transitions: list[str] = field(default_factory=lambda: ["validating_files", "queued", "running", "succeeded"])
    fail_with: tuple[str, str] | None = None
    status: int | None = None
    organization: str = "acme"
    requests: list[RecordedRequest] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[str, int] = {}

    # -- handling ----------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(RecordedRequest(method, h.path, {k.lower(): v for k, v in h.headers.items()}, raw))
        if not (h.headers.get("Authorization") or "").startswith("Bearer "):
            return self._error(h, 401, "You didn't provide an API key.", "invalid_request_error", None)
        if self.status is not None:
            return self._error(h, self.status, "Error.", "server_error" if self.status >= 500 else "invalid_request_error", None)
        path = h.path.split("?", 1)[0].rstrip("/")
        with self._lock:
            if method == "POST" and path == "/v1/files":
                return self._upload(h, raw)
            if m := re.fullmatch(r"/v1/files/([\w-]+)", path):
                obj = self.files.get(m.group(1))
                return send_json(h, 200, obj) if obj else self._error(h, 404, "No such File object", "invalid_request_error", None)
            if method == "POST" and path == "/v1/fine_tuning/jobs":
                return self._create_job(h, raw)
            if m := re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)", path):
                return self._retrieve_job(h, m.group(1)) if method == "GET" else self._unknown(h, method)
            if method == "POST" and (m := re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)/cancel", path)):
                job = self.jobs.get(m.group(1))
                if job is None:
                    return self._error(h, 404, "No such fine-tuning job", "invalid_request_error", None)
                job["status"] = "cancelled"
                return send_json(h, 200, job)
        return self._unknown(h, method)

    def _unknown(self, h: BaseHTTPRequestHandler, method: str) -> None:
        self._error(h, 404, f"Unknown request URL: {method} {h.path}", "invalid_request_error", "unknown_url")

    def _upload(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        content_type = h.headers.get("Content-Type") or ""
        if not content_type.startswith("multipart/form-data"):
            return self._error(h, 400, "Expected multipart/form-data", "invalid_request_error", None)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, Any] = {}
        filename = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                filename = part.get_filename()
            fields[str(name)] = part.get_payload(decode=True)
        if fields.get("purpose") != b"fine-tune":
            return self._error(h, 400, "Invalid purpose", "invalid_request_error", None)
        content = fields.get("file")
        if not content:
            return self._error(h, 400, "Missing file", "invalid_request_error", None)
        for n, line in enumerate(content.decode("utf-8").splitlines(), start=1):
            try:
                msgs = json.loads(line)["messages"]
                assert isinstance(msgs, list) and msgs and msgs[-1]["role"] == "assistant"
            except (ValueError, KeyError, TypeError, AssertionError):
                return self._error(h, 400, f"Invalid file format. Line {n}: missing 'messages'", "invalid_request_error",
                                   "invalid_file_format")
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        obj = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
               "filename": filename or "upload.jsonl", "purpose": "fine-tune", "status": "processed",
               "status_details": None}
        self.files[file_id] = obj
        self.file_contents[file_id] = content
        send_json(h, 200, obj)

    def _create_job(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(h, 400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        if not body.get("model"):
            return self._error(h, 400, "Missing required parameter: 'model'.", "invalid_request_error", None)
        for key in ("training_file", "validation_file"):
            if body.get(key) and body[key] not in self.files:
                return self._error(h, 400, f"invalid {key}: {body[key]}", "invalid_request_error", f"invalid_{key}")
        if not body.get("training_file"):
            return self._error(h, 400, "Missing required parameter: 'training_file'.", "invalid_request_error", None)
        job_id = f"ftjob-{uuid.uuid4().hex[:24]}"
        epochs = (((body.get("method") or {}).get("supervised") or {}).get("hyperparameters") or {}).get("n_epochs", "auto")
        job = {
            "id": job_id, "object": "fine_tuning.job", "created_at": int(time.time()), "error": None,
            "fine_tuned_model": None, "finished_at": None,
            "hyperparameters": {"n_epochs": epochs, "batch_size": "auto", "learning_rate_multiplier": "auto"},
            "model": body["model"], "organization_id": f"org-{self.organization}", "result_files": [],
            "seed": body.get("seed") or 42, "status": self.transitions[0], "trained_tokens": None,
            "training_file": body["training_file"], "validation_file": body.get("validation_file"),
            "suffix": body.get("suffix"), "method": body.get("method") or {"type": "supervised"},
            "integrations": [], "metadata": None, "estimated_finish": None,
        }
        self.jobs[job_id] = job
        self._steps[job_id] = 0
        send_json(h, 200, job)

    def _retrieve_job(self, h: BaseHTTPRequestHandler, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return self._error(h, 404, f"No such fine-tuning job: {job_id}", "invalid_request_error", None)
        if job["status"] not in ("succeeded", "failed", "cancelled"):
            # Each retrieve reports the next status: the first one still says what create said.
            step = min(self._steps[job_id], len(self.transitions) - 1)
            self._steps[job_id] = step + 1
            status = self.transitions[step]
            if status == "succeeded" and self.fail_with is not None:
                code, message = self.fail_with
                job.update(status="failed", error={"code": code, "message": message, "param": None},
                           finished_at=int(time.time()))
            elif status == "succeeded":
                suffix = job.get("suffix") or ""
                job.update(status="succeeded", finished_at=int(time.time()), trained_tokens=12345,
                           fine_tuned_model=f"ft:{job['model']}:{self.organization}:{suffix}:{job_id[-8:]}",
                           result_files=[f"file-result-{job_id[-8:]}"])
            else:
                job["status"] = status
        send_json(h, 200, job)

    def _error(self, h: BaseHTTPRequestHandler, status: int, message: str, type_: str, code: str | None) -> None:
        send_json(h, status, {"error": {"message": message, "type": type_, "param": None, "code": code}})

