"""``helpdesk-bot draft`` (by hand, --dry-run) and ``simulate`` / the draft-quality measurement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.helpdesk.simulate import clean_draft, read_conversations, run_simulation, token_f1
from bot.sync.sources import Schedule, SourceConfig
from connectors.zendesk import ZendeskSettings
from tests.fakes.zendesk_server import FakeZendesk
from tests.support.helpdesk import ENV, KB_PASSWORD_URL, zendesk_with_ticket


class _Borrowed:
    """The session's sample runtime, with a Zendesk source, that the CLI may not close."""

    def __init__(self, runtime: Any, zd: FakeZendesk) -> None:
        self._rt = runtime
        self.sources = [SourceConfig(name="zd", type="zendesk", schedule=Schedule(),
                                     settings=ZendeskSettings(name="zd", base_url=zd.url))]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rt, name)

    def __enter__(self) -> _Borrowed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def zd_cli(sample_runtime, settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with zendesk_with_ticket() as zd:
        monkeypatch.setattr(cli, "_runtime", lambda s: _Borrowed(sample_runtime, zd))
        yield zd


def test_draft_dry_run_prints_the_note_and_posts_nothing(zd_cli: FakeZendesk, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["draft", "--provider", "zendesk", "--ticket", "7", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Suggested reply:" in out and "[1]" in out and KB_PASSWORD_URL in out and "Tag: helpdesk_bot_drafted" in out
    assert zd_cli.requests_to("/api/v2/tickets/7.json", "GET") and not zd_cli.requests_to("/api/v2/tickets/7.json", "PUT")
    assert zd_cli.notes(7) == []


def test_draft_by_hand_posts_a_note(zd_cli: FakeZendesk, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["draft", "--provider", "zendesk", "--ticket", "7"]) == 0
    [note] = zd_cli.notes(7)
    assert f"note {note['id']}" in capsys.readouterr().out
    [put] = zd_cli.requests_to("/api/v2/tickets/7.json", "PUT")
    assert put.json["ticket"]["comment"]["public"] is False and put.json["ticket"]["additional_tags"] == ["helpdesk_bot_drafted"]


def test_draft_errors_are_one_line(zd_cli: FakeZendesk, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["draft", "--provider", "zendesk", "--ticket", "999"]) == 1
    assert capsys.readouterr().err.strip() == "error: zendesk ticket 999 was not found (HTTP 404)"
    assert cli.main(["draft", "--provider", "intercom", "--ticket", "1", "--dry-run"]) == 1
    assert "no intercom source is configured" in capsys.readouterr().err


def test_simulate_skips_cleanly_without_data(settings, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["simulate", "--conversations", str(tmp_path / "absent.jsonl")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["benchmark"] == "draft_quality" and "not found" in result["skipped"]


def _conv(cid: str, company: str, question: str, reply: str, *more: str) -> str:
    turns = [{"role": "customer", "text": question}, {"role": "agent", "text": reply}]
    turns += [{"role": "agent", "text": t} for t in more]
    return json.dumps({"source": "test", "id": cid, "company": company, "turns": turns})


def test_simulation_is_leave_one_out_and_reports_the_metrics(settings, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    refund = "To request a refund, open Billing, choose the invoice and click Request refund; refunds take 5 days."
    rows = [
        _conv("a", "Acme", "How do I get a refund for my last invoice?", refund),
        _conv("b", "Acme", "I want a refund for the invoice from last month, how?", refund),
        _conv("c", "Acme", "How can I change my delivery address for an order?",
              "Open the order, click Edit address and save; changes are possible until the label is printed."),
        _conv("d", "Bolt", "My scooter battery will not charge at all.",
              "Please hold the power button for 10 seconds to reset the battery controller, then charge again."),
        _conv("e", "Bolt", "The scooter app keeps crashing on Android.",
              "Please update the app to version 4.2 and clear its cache in the Android settings."),
        json.dumps({"source": "test", "id": "z", "company": "Acme", "turns": [{"role": "agent", "text": "Hi!"}]}),
    ]
    path = tmp_path / "conversations.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert [c.id for c in read_conversations(path)] == ["a", "b", "c", "d", "e"]  # "z" has no customer turn

    result = run_simulation(settings, conversations=path, limit=5, seed=1, embedder=embedder, per_conversation=True)
    assert result["benchmark"] == "draft_quality" and result["conversations"] == 5 and result["kb_documents"] == 5
    for key in ("cite_rate", "abstain_rate", "draft_cosine", "random_reply_cosine", "draft_token_f1",
                "random_reply_token_f1", "same_company_reply_cosine"):
        assert key in result
    assert 0 <= result["cite_rate"] <= 1 and result["cite_rate"] + result["abstain_rate"] == pytest.approx(1)
    per = {r["id"]: r for r in result["per_conversation"]}
    for cid, row in per.items():
        assert f"conversations:ticket:{cid}" not in row["cited"]  # never its own conversation
    # "a" and "b" share the answer: each one's draft comes from the other.
    assert per["a"]["cited"][:1] == ["conversations:ticket:b"] and per["b"]["cited"][:1] == ["conversations:ticket:a"]
    assert token_f1(per["a"]["draft"], refund) > 0.5


def test_metric_helpers() -> None:
    assert token_f1("The refund takes 5 days!", "refund takes 5 days") == 1.0
    assert token_f1("@123 hello https://t.co/x", "hello") == 1.0  # handles and links are not content
    assert token_f1("", "something") == 0.0
    assert clean_draft("> **Reset** it [1].\nDone [1, 2].") == "Reset it .\nDone ."
