"""``finetune export``: neutral drafts, filters, PII, internal notes, split, chat-JSONL shape, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.answer.style import guard_restyle
from bot.cli import main
from bot.finetune import REWRITE_INSTRUCTION, DatasetError
from bot.finetune.dataset import (
    REPLY_INSTRUCTION,
    Conversation,
    Turn,
    conversations_from_jsonl,
    export,
    is_validation,
    read_chat_jsonl,
    tickets_from_store,
    turns_from_ticket_text,
)
from bot.finetune.neutral import clean_reply, neutral_draft
from bot.index.chunking import Chunker
from bot.models import Document, DocumentKind, Visibility

CANARY = "CANARY-9d2e internal escalation code"


# --- neutral drafts ---------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "target", "draft"), [
    ("@135060 Hi Maya, sorry to hear that! You can reset it from Settings > Security. Let us know how it goes! ^SM",
     "Hi, sorry to hear that! You can reset it from Settings > Security. Let us know how it goes!",
     "You can reset it from Settings > Security."),
    ("Hey there! We're on it 😊 Please restart the app and try again, it'll sync within 24 hours. /DV",
     "Hey there! We're on it 😊 Please restart the app and try again, it'll sync within 24 hours.",
     "Restart the app and try again, it will sync within 24 hours."),
    ("Hello, Hamish! I can offer both passengers a $100 voucher. Thanks for tweeting us today. *TCC 2/2",
     "Hello! I can offer both passengers a $100 voucher. Thanks for tweeting us today.",
     "I can offer both passengers a $100 voucher."),
    ("Hi Iain, we're aware of some issues with our website. Thanks - Emma",
     "Hi, we're aware of some issues with our website. Thanks",
     "We are aware of some issues with our website."),
])
def test_clean_reply_and_neutral_draft(reply: str, target: str, draft: str) -> None:
    assert clean_reply(reply) == target
    assert neutral_draft(reply) == draft
    # The pair is consistent with the run-time guard: the target adds no fact to the draft.
    assert guard_restyle(draft, target)[1] == "restyled"


def test_email_style_reply_keeps_layout_and_facts_drops_signature() -> None:
    reply = ("Hi Maya,\n\nThanks for reaching out, and sorry for the stress!\n\n"
             "1. Go to **Settings > Billing** and click **Add funds** ($25 to $5,000).\n"
             "2. Retry your 40 orders.\n\nLet me know if anything still fails!\n\nBest,\nPriya — Parcelly Support")
    target = clean_reply(reply)
    assert "Priya" not in target and "Maya" not in target and target.startswith("Hi,")
    draft = neutral_draft(reply)
    assert draft == ("1. Go to **Settings > Billing** and click **Add funds** ($25 to $5,000).\n"
                     "2. Retry your 40 orders.")
    assert guard_restyle(draft, target)[1] == "restyled"


def test_a_pleasantry_that_carries_a_fact_is_kept() -> None:
    # "let us know" is the team's voice, but the sentence holds a number: the draft keeps it.
    assert neutral_draft("Let us know if the 3 refunds have not arrived by Friday!") == \
        "Let us know if the 3 refunds have not arrived by Friday."


# --- export from conversations ------------------------------------------------------------------
def _conv(conv_id: str, *turns: tuple[str, str]) -> dict[str, Any]:
    return {"id": conv_id, "company": "Acme", "turns": [{"role": r, "text": t} for r, t in turns]}


CONVERSATIONS = [
    _conv("c1",
          ("customer", "My invoice is wrong, write me at jane.doe@example.com or +1 415 555 0134"),
          ("agent", "Hi Jane, sorry about that! The invoice is fixed and a copy went to jane.doe@example.com."),
          ("customer", "thanks!"),
          ("agent", "thanks!")),  # trivial
    _conv("c2",
          ("customer", "How do I export my data?"),
          ("agent", "Hey! Go to Settings > Export and pick CSV. It takes up to 10 minutes. Let us know!"),
          ("internal", CANARY),
          ("customer", "Where do I find the file?"),
          ("agent", "It lands in your Downloads folder."),
          ("agent", "Happy to help!")),  # joined to the previous agent turn
    _conv("c3",
          ("customer", "Export?"),
          ("agent", "Hey! Go to Settings > Export and pick CSV. It takes up to 10 minutes. Let us know!")),  # duplicate
    _conv("c4", ("agent", "We are down for maintenance tonight."), ("customer", "ok")),  # no customer message first
    _conv("c5", ("customer", "Is there an API?"), ("agent", "You're welcome! 😊")),  # nothing left once neutral
] + [
    _conv(f"bulk{i}", ("customer", f"Question {i} about plan limits?"),
          ("agent", f"Hi there! The Team plan allows {i + 2} seats. Hope this helps!"))
    for i in range(40)
]


@pytest.fixture
def conversations_file(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CONVERSATIONS) + "\n", encoding="utf-8")
    return path


def test_export_filters_masks_and_reports(conversations_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    report = export(conversations_from_jsonl(conversations_file), out, validation_fraction=0.25)
    assert report.conversations == len(CONVERSATIONS)
    assert report.dropped == {"trivial": 2, "duplicate": 1, "no customer message before it": 1}
    assert report.internal_notes_excluded == 1
    assert report.pairs == 43 == report.train + report.validation
    assert report.pii_masked == {"email": 2, "phone": 1}
    files = (out / "train.jsonl").read_text(encoding="utf-8") + (out / "validation.jsonl").read_text(encoding="utf-8")
    assert "jane.doe@example.com" not in files and "555 0134" not in files and "[email]" in files
    assert CANARY not in files  # an "internal" turn is never exported
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pairs"] == 43 and manifest["dropped"]["duplicate"] == 1 and manifest["task"] == "rewrite"


def test_export_jsonl_shape_is_chat_format(conversations_file: Path, tmp_path: Path) -> None:
    export(conversations_from_jsonl(conversations_file), tmp_path / "d", validation_fraction=0.25)
    for name in ("train.jsonl", "validation.jsonl"):
        for line in (tmp_path / "d" / name).read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            assert list(obj) == ["messages"]  # OpenAI's fine-tuning format: nothing else on the line
            roles = [m["role"] for m in obj["messages"]]
            assert roles == ["system", "user", "assistant"]
            assert all(isinstance(m["content"], str) and m["content"] for m in obj["messages"])
            assert obj["messages"][0]["content"] == REWRITE_INSTRUCTION
            # Rewrite task: the user turn is the neutral draft of the assistant's reply.
            assert obj["messages"][1]["content"] == neutral_draft(obj["messages"][2]["content"])
    assert len(read_chat_jsonl(tmp_path / "d" / "train.jsonl")) > 20


def test_joined_agent_turns_and_reply_task(conversations_file: Path, tmp_path: Path) -> None:
    export(conversations_from_jsonl(conversations_file), tmp_path / "r", task="reply", validation_fraction=0.0)
    rows = [json.loads(line)["messages"] for line in (tmp_path / "r" / "train.jsonl").read_text().splitlines()]
    by_user = {m[1]["content"]: m for m in rows}
    m = by_user["Where do I find the file?"]
    assert m[0]["content"] == REPLY_INSTRUCTION
    assert m[2]["content"] == "It lands in your Downloads folder.\n\nHappy to help!"


def test_split_is_by_conversation_and_deterministic(conversations_file: Path, tmp_path: Path) -> None:
    a = export(conversations_from_jsonl(conversations_file), tmp_path / "a", validation_fraction=0.3, seed=1)
    b = export(conversations_from_jsonl(conversations_file), tmp_path / "b", validation_fraction=0.3, seed=1)
    assert (tmp_path / "a" / "validation.jsonl").read_bytes() == (tmp_path / "b" / "validation.jsonl").read_bytes()
    assert a.validation == b.validation and 0 < a.validation < a.pairs
    assert is_validation("c2", 0.3, 1) == is_validation("c2", 0.3, 1)
    assert not is_validation("anything", 0.0) and is_validation("anything", 0.999999)


def test_export_without_usable_pairs_and_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no usable reply pairs"):
        export([Conversation("x", (Turn("customer", "hi"), Turn("agent", "Thanks!")))], tmp_path / "e")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "no turns"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="bad.jsonl:1"):
        list(conversations_from_jsonl(bad))
    with pytest.raises(DatasetError, match="no such file"):
        list(conversations_from_jsonl(tmp_path / "missing.jsonl"))


# --- export from tickets in the store -----------------------------------------------------------
TICKET = f"""# Label purchase fails

## Customer

Every label fails with "PCL-4031: Insufficient postage balance". I'm maya.chen@example.com.

## Internal note

{CANARY}: card on file expired.

## Agent reply

Hi Maya,

Thanks for reaching out! {" ".join(f"Step {i}: open **Settings > Billing** and check line {i} of the balance." for i in range(1, 16))}

Best,
Priya
"""


class PayloadStore:
    """Just what ``tickets_from_store`` reads: the chunk payloads the indexer writes."""

    def __init__(self, payloads: list[dict[str, Any]]) -> None:
        self.payloads = payloads

    def scroll_payloads(self, collection: str, *, filter: Any = None, fields: Any = ()) -> list[dict[str, Any]]:
        assert filter == {"kind": "ticket"}
        return list(reversed(self.payloads))  # stores return points in no particular order


def test_tickets_rebuilt_from_overlapping_chunks_without_internal_notes(tmp_path: Path) -> None:
    doc = Document(id="zd:ticket:1", source="zd", kind=DocumentKind.TICKET, audience=Visibility.INTERNAL,
                   title="Label purchase fails", text=TICKET)
    chunks = Chunker(chunk_tokens=80, overlap_tokens=20).chunk(doc)
    assert sum(c.section == "Agent reply" for c in chunks) >= 3  # the long reply was split with overlap
    store = PayloadStore([{"doc_id": c.doc_id, "chunk_no": c.chunk_no, "section": c.section, "text": c.passage}
                          for c in chunks])
    (conv,) = tickets_from_store(store, "kb_internal")
    assert [t.role for t in conv.turns] == ["customer", "internal", "agent"]
    expected = turns_from_ticket_text(TICKET)
    assert conv.turns[2].text == expected[2].text  # overlaps removed exactly
    report = export([conv], tmp_path / "t", validation_fraction=0.0)
    assert report.internal_notes_excluded == 1 and report.pairs == 1
    text = (tmp_path / "t" / "train.jsonl").read_text(encoding="utf-8")
    assert CANARY not in text and "maya.chen@example.com" not in text and "Priya" not in text
    assert "Step 15: open **Settings > Billing**" in text


def test_cli_export_from_conversations(conversations_file: Path, tmp_path: Path, settings: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli-out"
    assert main(["finetune", "export", "--conversations", str(conversations_file), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 43 and (out / "train.jsonl").is_file()
    assert main(["finetune", "export", "--conversations", str(tmp_path / "nope.jsonl")]) == 1
    assert "error: no such file" in capsys.readouterr().err


def test_cli_export_from_an_empty_store_says_what_to_do(settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["finetune", "export"]) == 1
    err = capsys.readouterr().err
    assert "error: no ticket documents in kb_internal: sync a helpdesk source first" in err


class HashEmbedder:
    """Deterministic stand-in for the ONNX model (the store needs vectors, this test needs no semantics)."""

    name = "hash-embedder"
    dim = 8

    def embed(self, texts: Any) -> Any:
        import numpy as np

        out = np.array([[((hash(t) >> i) & 0xFF) + 1.0 for i in range(0, 64, 8)] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if len(texts) else np.zeros((0, 8), np.float32)


def test_export_from_a_real_store_with_the_sample_tickets(tmp_path: Path) -> None:
    """Sample tickets through the real connector, PII masker, chunker and store, then exported."""
    from bot.index.indexer import Indexer
    from bot.index.pii import PiiMasker
    from bot.index.server_store import ServerStore
    from connectors.files import FilesConnector, FilesConnectorSettings, sample_kb_path

    connector = FilesConnector(FilesConnectorSettings(name="sample-tickets", path=sample_kb_path() / "tickets",
                                                      default_audience=Visibility.INTERNAL))
    docs = [d for d in connector.sync(None) if isinstance(d, Document)][:8]
    notes = [t.text for d in docs for t in turns_from_ticket_text(d.text) if t.role == "internal"]
    assert notes  # the sample tickets carry internal notes
    store = ServerStore(":memory:")
    try:
        indexer = Indexer(store=store, embedder=HashEmbedder(), chunker=Chunker(chunk_tokens=120, overlap_tokens=30),
                          masker=PiiMasker())  # type: ignore[arg-type]
        indexer.index(docs)
        convs = list(tickets_from_store(store, "kb_internal"))
    finally:
        store.close()
    assert sorted(c.id for c in convs) == sorted(d.id for d in docs)
    report = export(convs, tmp_path / "s", validation_fraction=0.0)
    assert report.internal_notes_excluded == len(notes) and report.pairs >= len(docs) - 1
    text = (tmp_path / "s" / "train.jsonl").read_text(encoding="utf-8")
    assert not any(note[:60] in text for note in notes)
    assert "@example.com" not in text  # masked at indexing time already
